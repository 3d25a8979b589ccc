//! Small SPI helpers every layer uses, and the check that the database's catalog matches this
//! library.

use pgrx::prelude::*;

use crate::errors::{raise, Code, OrRaise};

/// The first column of the first row of a read-only query (None for no row or NULL). Read-only
/// SPI: unlike `Spi::get_one`, it never assigns a transaction id, so it works on a hot standby.
pub fn select_one<T: pgrx::datum::FromDatum + pgrx::datum::IntoDatum>(
    query: &str,
    args: &[pgrx::datum::DatumWithOid<'_>],
) -> Option<T> {
    Spi::connect(|c| {
        c.select(query, Some(1), args)
            .or_raise()
            .next()
            .and_then(|row| row.get::<T>(1).or_raise())
    })
}

/// The version of pgrec's SQL objects in this database (`pg_extension.extversion`).
pub fn catalog_version() -> String {
    select_one::<String>(
        "SELECT extversion::text FROM pg_catalog.pg_extension WHERE extname = 'pgrec'",
        &[],
    )
    .unwrap_or_default()
}

/// Refuses to write with a library newer than the database's catalog.
pub fn require_current_catalog() {
    let installed = catalog_version();
    let library = env!("CARGO_PKG_VERSION");
    if installed != library {
        raise(
            Code::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("pgrec's catalog in this database is at version {installed}, its library at {library}"),
            Some("Run ALTER EXTENSION pgrec UPDATE; models are kept. Serving works until then, training does not."),
        );
    }
}
