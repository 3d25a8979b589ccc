//! One place that turns failures into PostgreSQL errors: SQLSTATE, message, hint.

use pgrec_core::CoreError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

pub use pgrx::PgSqlErrorCode as Code;

/// Raises an ERROR; never returns.
#[track_caller]
pub fn raise(code: PgSqlErrorCode, message: impl Into<String>, hint: Option<&str>) -> ! {
    let mut report = ErrorReport::new(code, message.into(), "pgrec");
    if let Some(h) = hint {
        report = report.set_hint(h.to_string());
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ereport(ERROR) returned")
}

/// Raises an ERROR with a detail line.
#[track_caller]
pub fn raise_detail(
    code: PgSqlErrorCode,
    message: impl Into<String>,
    detail: impl Into<String>,
    hint: Option<&str>,
) -> ! {
    let mut report = ErrorReport::new(code, message.into(), "pgrec").set_detail(detail.into());
    if let Some(h) = hint {
        report = report.set_hint(h.to_string());
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ereport(ERROR) returned")
}

/// Maps a core error to its SQLSTATE.
#[track_caller]
pub fn raise_core(e: CoreError) -> ! {
    let code = match &e {
        CoreError::InvalidParameter { .. } => Code::ERRCODE_INVALID_PARAMETER_VALUE,
        CoreError::InvalidData { .. } => Code::ERRCODE_DATA_EXCEPTION,
        CoreError::Cancelled => Code::ERRCODE_QUERY_CANCELED,
    };
    let hint = e.hint().map(str::to_string);
    raise(code, e.to_string(), hint.as_deref())
}

/// Unwraps a core result or raises its error.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, CoreError> {
    #[track_caller]
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => raise_core(e),
        }
    }
}

/// Unwraps an SPI result; SPI failures that are not already ERRORs are internal errors.
impl<T> OrRaise<T> for Result<T, pgrx::spi::SpiError> {
    #[track_caller]
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => raise(
                Code::ERRCODE_INTERNAL_ERROR,
                format!("pgrec: SPI failed: {e}"),
                None,
            ),
        }
    }
}

/// Requires a non-NULL argument.
#[track_caller]
pub fn required<T>(value: Option<T>, name: &str) -> T {
    match value {
        Some(v) => v,
        None => raise(
            Code::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            format!("argument \"{name}\" must not be NULL"),
            None,
        ),
    }
}

/// Refuses a function that writes a model when this server is a hot standby (25006), before it
/// reads or locks anything: replication brings the primary's models here.
pub fn require_primary(function: &str) {
    // SAFETY: RecoveryInProgress reads shared memory state; safe on any backend.
    if unsafe { pgrx::pg_sys::RecoveryInProgress() } {
        raise(
            Code::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            format!("pgrec.{function} cannot run on a hot standby: it writes to the model catalog"),
            Some("Run it on the primary; its models reach this standby through replication and can be served here."),
        )
    }
}
