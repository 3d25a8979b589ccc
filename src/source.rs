//! Reading a ratings source (table, view or SELECT) through SPI, each row where the executor
//! produces it, on the backend thread, straight into compact arrays. The source runs read-only with the caller's
//! privileges; identifiers are quoted, never pasted.

use std::ffi::CString;

use pgrec_core::Rating;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;

use crate::errors::{raise, raise_detail, Code};
use crate::keys::{KeyKind, Keys};
use crate::params::RowWeights;

/// Rows read between two resets of the read's memory context.
const BATCH_ROWS: i64 = 10_000;

/// Where the ratings come from and which columns hold what.
#[derive(Debug, Clone)]
pub struct SourceSpec<'a> {
    pub source: &'a str,
    pub user_col: &'a str,
    pub item_col: &'a str,
    /// None: implicit feedback, every row is one interaction of value 1.
    pub rating_col: Option<&'a str>,
    /// Row weights to read (event type and time columns), when the training has them.
    pub weights: Option<&'a RowWeights>,
}

pub struct Loaded {
    pub ratings: Vec<Rating>,
    /// With row weights: each row's weight by its event type (1 without event weights).
    pub event_weights: Vec<f32>,
    /// With time decay: each row's time in epoch seconds.
    pub times: Vec<f64>,
    /// With row weights, once computed (fold-ins): each row's weight x value.
    pub weighted: Option<Vec<f32>>,
    pub users: Keys,
    pub items: Keys,
    pub rows_read: u64,
    pub rows_skipped_null: u64,
}

/// Quotes an identifier the way quote_ident does (always quoted, quotes doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn is_query(source: &str) -> bool {
    let s = source
        .trim_start()
        .trim_start_matches('(')
        .trim_start()
        .to_ascii_lowercase();
    ["select", "with", "values", "table"].iter().any(|kw| {
        s.starts_with(kw) && s[kw.len()..].starts_with(|c: char| c.is_whitespace() || c == '(')
    })
}

/// A FROM item for the source: a parenthesised query, or a resolved, quoted relation name.
pub fn from_item(source: &str) -> String {
    if source.trim().is_empty() {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            "source must name a table or view, or be a SELECT query",
            None,
        );
    }
    if is_query(source) {
        let body = source.trim().trim_end_matches(';');
        // The newline keeps a trailing "-- comment" in the query from swallowing the alias.
        return format!("({body}\n) AS pgrec_source");
    }
    let resolved: Option<String> =
        // Read-only SPI (Spi::get_one would assign a transaction id, refused on a standby).
        Spi::connect(|c| {
            c.select("SELECT to_regclass($1)::text", Some(1), &[source.into()])?
                .first()
                .get_one::<String>()
        })
        .unwrap_or_else(
            |e| {
                raise(
                    Code::ERRCODE_INVALID_NAME,
                    format!("invalid source name \"{source}\": {e}"),
                    Some("Pass a table or view name, or a SELECT query."),
                )
            },
        );
    match resolved {
        // regclass output is already quoted and schema-qualified where needed.
        Some(name) => format!("{name} AS pgrec_source"),
        None => raise(
            Code::ERRCODE_UNDEFINED_TABLE,
            format!("relation \"{source}\" does not exist"),
            Some("Pass an existing table or view (schema-qualified if it is not on the search_path), or a SELECT query."),
        ),
    }
}

/// Column names and type OIDs of a FROM item, read from a zero-row query.
pub(crate) fn probe_columns(from: &str) -> Vec<(String, pg_sys::Oid)> {
    let sql = CString::new(format!("SELECT * FROM {from} LIMIT 0")).unwrap_or_else(|_| {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            "source must not contain NUL bytes",
            None,
        )
    });
    // SAFETY: inside an SPI connection; SPI_tuptable belongs to the query just run and its tuple
    // descriptor is read before the connection ends.
    Spi::connect(|_| unsafe {
        let rc = pg_sys::SPI_execute(sql.as_ptr(), true, 0);
        if rc != pg_sys::SPI_OK_SELECT as i32 {
            raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                "source must be a table, a view or a single SELECT query",
                Some("Data-modifying statements are not allowed as a source."),
            );
        }
        let tt = pg_sys::SPI_tuptable;
        let desc = pgrx::PgTupleDesc::from_pg_unchecked((*tt).tupdesc);
        desc.iter()
            .filter(|a| !a.is_dropped())
            .map(|a| (a.name().to_string(), a.type_oid().value()))
            .collect()
    })
}

pub(crate) fn type_name(oid: pg_sys::Oid) -> String {
    // SAFETY: format_type_be returns a palloc'd NUL-terminated string for any type OID (or
    // raises an ERROR); it is copied before the memory context can go away.
    unsafe {
        let p = pg_sys::format_type_be(oid);
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

fn find_column<'c>(
    cols: &'c [(String, pg_sys::Oid)],
    name: &str,
    role: &str,
    source: &str,
) -> &'c pg_sys::Oid {
    match cols.iter().find(|(n, _)| n == name) {
        Some((_, oid)) => oid,
        None => {
            let available: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
            raise_detail(
                Code::ERRCODE_UNDEFINED_COLUMN,
                format!("column \"{name}\" does not exist in source \"{source}\""),
                format!("The source has columns: {}.", available.join(", ")),
                Some(&format!("Pass the {role} column's name as {role}_col.")),
            )
        }
    }
}

/// The key kind of a column type, or an error naming the column and its type.
pub fn key_kind_of(oid: pg_sys::Oid, column: &str) -> KeyKind {
    match oid {
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => KeyKind::Int,
        pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::BPCHAROID | pg_sys::UUIDOID | pg_sys::NAMEOID => KeyKind::Text,
        other => raise(
            Code::ERRCODE_DATATYPE_MISMATCH,
            format!("key column \"{column}\" has type {}, which pgrec cannot use as a key", type_name(other)),
            Some("Keys must be smallint, integer, bigint, text, varchar or uuid; cast the column in a SELECT source."),
        ),
    }
}

/// The time column as epoch seconds: extract(epoch ...) of a timestamp, timestamptz or date,
/// the number itself for a numeric column (taken as seconds).
fn time_expr_of(oid: pg_sys::Oid, column: &str) -> String {
    let c = quote_ident(column);
    match oid {
        pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID | pg_sys::DATEOID => {
            format!("extract(epoch FROM {c})::float8")
        }
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID | pg_sys::FLOAT4OID
        | pg_sys::FLOAT8OID | pg_sys::NUMERICOID => format!("{c}::float8"),
        other => raise(
            Code::ERRCODE_DATATYPE_MISMATCH,
            format!(
                "time column \"{column}\" is of type {}, not a timestamp, date or number",
                type_name(other)
            ),
            Some("Use a timestamptz, timestamp or date column, or a number of seconds (e.g. a Unix time); cast in a query if needed."),
        ),
    }
}

fn check_rating_type(oid: pg_sys::Oid, column: &str) {
    match oid {
        pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID | pg_sys::FLOAT4OID | pg_sys::FLOAT8OID | pg_sys::NUMERICOID => {}
        other => raise(
            Code::ERRCODE_DATATYPE_MISMATCH,
            format!("rating column \"{column}\" has type {}, which is not numeric", type_name(other)),
            Some("Ratings must be smallint, integer, bigint, real, double precision or numeric; pass rating_col => NULL for implicit feedback."),
        ),
    }
}

/// Key kinds of the user and item columns, checked.
pub struct SourceShape {
    /// The time column as epoch seconds (float8), with time decay.
    pub time_expr: Option<String>,
    pub from: String,
    pub user_kind: KeyKind,
    pub item_kind: KeyKind,
}

pub fn describe(spec: &SourceSpec<'_>) -> SourceShape {
    let from = from_item(spec.source);
    let cols = probe_columns(&from);
    let u = *find_column(&cols, spec.user_col, "user", spec.source);
    let i = *find_column(&cols, spec.item_col, "item", spec.source);
    if let Some(r) = spec.rating_col {
        check_rating_type(*find_column(&cols, r, "rating", spec.source), r);
    }
    let mut time_expr = None;
    if let Some(w) = spec.weights {
        if let Some(e) = &w.event {
            find_column(&cols, &e.column, "event", spec.source);
        }
        if let Some(t) = &w.time {
            let oid = *find_column(&cols, &t.column, "time", spec.source);
            time_expr = Some(time_expr_of(oid, &t.column));
        }
    }
    SourceShape {
        time_expr,
        user_kind: key_kind_of(u, spec.user_col),
        item_kind: key_kind_of(i, spec.item_col),
        from,
    }
}

/// `sql` as a C string for SPI; `what` names the query if it holds a NUL byte.
fn query_text(sql: String, what: &str) -> CString {
    CString::new(sql).unwrap_or_else(|_| {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("{what} must not contain NUL bytes"),
            None,
        )
    })
}

/// One result row of [`for_each_slot`], its columns deformed in the executor's slot.
#[derive(Clone, Copy)]
pub(crate) struct SlotRow {
    values: *const pg_sys::Datum,
    nulls: *const bool,
    columns: usize,
}

impl SlotRow {
    /// Column `n` (1-based), None when NULL. A column the query does not have is an internal
    /// error, never a read out of bounds.
    #[inline]
    pub(crate) fn get(&self, n: usize) -> Option<pg_sys::Datum> {
        if n == 0 || n > self.columns {
            raise(
                Code::ERRCODE_INTERNAL_ERROR,
                format!(
                    "pgrec: source row has {} columns, column {n} asked for",
                    self.columns
                ),
                None,
            );
        }
        // SAFETY: the slot's first `columns` values and null flags are deformed and live while
        // the row is handed over (for_each_slot), and n - 1 is within them.
        unsafe { (!*self.nulls.add(n - 1)).then(|| *self.values.add(n - 1)) }
    }
}

/// The DestReceiver of [`for_each_slot`]: the executor's receiver, then the closure it calls.
#[repr(C)]
struct SlotReceiver<'a> {
    /// First, so that the executor's `*mut DestReceiver` points at the whole struct.
    dest: pg_sys::DestReceiver,
    row: &'a mut dyn FnMut(*mut pg_sys::TupleTableSlot),
}

#[pg_guard]
unsafe extern "C-unwind" fn receive_slot(
    slot: *mut pg_sys::TupleTableSlot,
    dest: *mut pg_sys::DestReceiver,
) -> bool {
    // SAFETY: `dest` is the first field of the SlotReceiver that for_each_slot keeps alive
    // while the query runs.
    let receiver = unsafe { &mut *dest.cast::<SlotReceiver<'_>>() };
    (receiver.row)(slot);
    true
}

unsafe extern "C-unwind" fn receiver_startup(
    _: *mut pg_sys::DestReceiver,
    _: std::ffi::c_int,
    _: pg_sys::TupleDesc,
) {
}

unsafe extern "C-unwind" fn receiver_done(_: *mut pg_sys::DestReceiver) {}

/// Runs `sql` (read-only) and calls `row` on every result row where the executor produced it:
/// the row is not copied (an SPI cursor copies each one into its tuple table, about a fifth of
/// the time of reading 30M rows). `row` runs in a memory context reset every BATCH_ROWS rows;
/// the executor services interrupts between rows. `what` names the query in errors.
pub(crate) fn for_each_slot(sql: String, what: &str, mut row: impl FnMut(SlotRow)) {
    let csql = query_text(sql, what);
    let mut batch_cx = PgMemoryContexts::new("pgrec read batch");
    let mut seen = 0i64;
    let mut on_slot = |slot: *mut pg_sys::TupleTableSlot| {
        // SAFETY: the executor hands over a live slot of the query's result; deforming all its
        // columns makes tts_values / tts_isnull valid for every one of them.
        let row_now = unsafe {
            pg_sys::slot_getallattrs(slot);
            SlotRow {
                values: (*slot).tts_values,
                nulls: (*slot).tts_isnull,
                columns: (*(*slot).tts_tupleDescriptor).natts.max(0) as usize,
            }
        };
        // SAFETY: the batch context is ours; nothing allocated in it outlives the reset below
        // (the closure keeps only Rust-owned data).
        unsafe { batch_cx.switch_to(|_| row(row_now)) };
        seen += 1;
        if seen % BATCH_ROWS == 0 {
            // SAFETY: as above.
            unsafe { batch_cx.reset() };
        }
    };
    let mut receiver = SlotReceiver {
        dest: pg_sys::DestReceiver {
            receiveSlot: Some(receive_slot),
            rStartup: Some(receiver_startup),
            rShutdown: Some(receiver_done),
            rDestroy: Some(receiver_done),
            mydest: pg_sys::CommandDest::DestNone,
        },
        row: &mut on_slot,
    };
    // SAFETY: the receiver outlives the query; SPI_execute_extended runs it to completion (or
    // raises) inside this SPI connection.
    let rc = Spi::connect(|_| unsafe {
        let options = pg_sys::SPIExecuteOptions {
            read_only: true,
            dest: &mut receiver.dest,
            ..Default::default()
        };
        pg_sys::SPI_execute_extended(csql.as_ptr(), &options)
    });
    if rc < 0 {
        raise(
            Code::ERRCODE_INTERNAL_ERROR,
            format!("pgrec: reading {what} failed (SPI code {rc})"),
            None,
        );
    }
}

/// Rows read between two calls of `load`'s progress check.
const CHECK_EVERY: usize = 1 << 20;

/// The planner's estimate of the rows `load` would read (0 when it gives none).
pub fn planned_rows(spec: &SourceSpec<'_>) -> u64 {
    let sql = format!("EXPLAIN (FORMAT JSON) {}", load_query(spec));
    let plan: Option<pgrx::Json> = crate::spi::select_one(&sql, &[]);
    plan.and_then(|p| p.0.get(0)?.get("Plan")?.get("Plan Rows")?.as_f64())
        .map_or(0, |r| r.max(0.0) as u64)
}

/// The query that reads the source's (user, item, value) rows.
fn load_query(spec: &SourceSpec<'_>) -> String {
    let shape = describe(spec);
    let rating_expr = match spec.rating_col {
        Some(r) => format!("{}::float8", quote_ident(r)),
        None => "1::float8".to_string(),
    };
    let mut extra = String::new();
    if let Some(e) = spec.weights.and_then(|w| w.event.as_ref()) {
        extra.push_str(&format!(", {}::text", quote_ident(&e.column)));
    }
    if let Some(t) = &shape.time_expr {
        extra.push_str(&format!(", {t}"));
    }
    format!(
        "SELECT {}{}, {}{}, {}{} FROM {}",
        quote_ident(spec.user_col),
        shape.user_kind.cast(),
        quote_ident(spec.item_col),
        shape.item_kind.cast(),
        rating_expr,
        extra,
        shape.from
    )
}

/// Streams the source into compact arrays; `progress` sees the number of rows kept every 2^20
/// rows (the memory guard raises from it). NULL keys or ratings skip the row (counted); NaN or
/// infinite ratings are an error.
pub fn load(spec: &SourceSpec<'_>, progress: &dyn Fn(u64)) -> Loaded {
    let shape = describe(spec);
    let sql = load_query(spec);
    let mut out = Loaded {
        ratings: Vec::new(),
        event_weights: Vec::new(),
        times: Vec::new(),
        weighted: None,
        users: Keys::new(shape.user_kind),
        items: Keys::new(shape.item_kind),
        rows_read: 0,
        rows_skipped_null: 0,
    };
    let mut pending = PendingKeys {
        first: 0,
        users: Vec::with_capacity(INTERN_BATCH),
        items: Vec::with_capacity(INTERN_BATCH),
    };
    for_each_slot(sql, "source", |row| {
        // SAFETY: for_each_slot hands over rows of the query load_query built for `spec`.
        unsafe { read_row(row, &mut out, &mut pending, spec) };
        if out.ratings.len() - pending.first >= INTERN_BATCH {
            pending.intern(&mut out);
        }
        if out.rows_read.is_multiple_of(CHECK_EVERY as u64) {
            progress(out.ratings.len() as u64);
        }
    });
    pending.intern(&mut out);
    if out.rows_skipped_null > 0 {
        let columns = if spec.weights.is_some() {
            "user, item, rating, event type or time"
        } else {
            "user, item or rating"
        };
        pgrx::notice!(
            "pgrec: skipped {} of {} source rows with a NULL {columns}",
            out.rows_skipped_null,
            out.rows_read
        );
    }
    out
}

// float8 datums are read by value: PostgreSQL 15 on the 64-bit platforms pgrx supports passes
// float8 by value, and a build against a server configured otherwise stops here instead of
// reading pointers as numbers.
const _: () = assert!(
    pg_sys::FLOAT8PASSBYVAL == 1,
    "pgrec needs float8 passed by value"
);

/// A non-NULL float8 datum.
#[inline]
pub(crate) fn read_float8(datum: pg_sys::Datum) -> f64 {
    // SAFETY: the datum is a non-NULL float8 (the callers' queries cast to float8), which the
    // assertion above guarantees is passed by value.
    unsafe { f64::from_datum(datum, false) }.unwrap_or(f64::NAN)
}

/// Rows read between two rounds of interning their integer keys.
const INTERN_BATCH: usize = 4096;

/// The integer keys of the rows read since the last round of interning. Interning them a batch
/// at a time lets `KeyIndex::intern_all` prefetch their array slots (millions of users in
/// random order cost a cache miss per row otherwise); until then `ratings[first..]` hold
/// `u32::MAX` on an integer-keyed side. Text keys are interned as they are read.
struct PendingKeys {
    first: usize,
    users: Vec<i64>,
    items: Vec<i64>,
}

impl PendingKeys {
    /// Whether the rows' keys of `side` wait here (integer keys) or are interned as read.
    fn defers(side: &Keys) -> bool {
        matches!(side, Keys::Int(_))
    }

    /// Interns the waiting keys into `out`'s key maps and fills in their rows.
    fn intern(&mut self, out: &mut Loaded) {
        let rows = &mut out.ratings[self.first..];
        let limit = |e: pgrec_core::CoreError| -> ! {
            raise(Code::ERRCODE_PROGRAM_LIMIT_EXCEEDED, e.to_string(), None)
        };
        if let Keys::Int(k) = &mut out.users {
            k.intern_all(&self.users, |n, i| rows[n].user = i)
                .unwrap_or_else(|e| limit(e));
        }
        if let Keys::Int(k) = &mut out.items {
            k.intern_all(&self.items, |n, i| rows[n].item = i)
                .unwrap_or_else(|e| limit(e));
        }
        self.users.clear();
        self.items.clear();
        self.first = out.ratings.len();
    }
}

/// A non-NULL key datum as text, for messages.
///
/// # Safety
/// As for [`read_key`].
unsafe fn key_text(datum: pg_sys::Datum, kind: &Keys) -> String {
    match kind {
        Keys::Text(_) => {
            // SAFETY: per the contract, a live text datum.
            unsafe { String::from_datum(datum, false) }.unwrap_or_default()
        }
        _ => (datum.value() as i64).to_string(),
    }
}

/// Interns a non-NULL key datum of the query's key type (int8 for integer keys, text otherwise).
///
/// # Safety
/// `datum` must be a non-NULL datum of type int8 for `Keys::Int` and of type text for
/// `Keys::Text`, valid for the duration of the call.
#[inline]
pub(crate) unsafe fn read_key(datum: pg_sys::Datum, kind: &mut Keys) -> u32 {
    let r = match kind {
        Keys::Int(m) => m.intern(datum.value() as i64),
        Keys::Text(m) => {
            // SAFETY: per the contract above the datum is a live text varlena; detoasting
            // returns a pointer valid in the current memory context.
            let v = unsafe { pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr()) };
            // SAFETY: v is a detoasted text varlena.
            let s = unsafe { pgrx::varlena::text_to_rust_str(v) }.unwrap_or_else(|_| {
                raise(
                    Code::ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
                    "key is not valid UTF-8",
                    None,
                )
            });
            match m.get(s) {
                Some(i) => Ok(i),
                None => m.intern(s.to_string()),
            }
        }
        // Keys read from a serving file are never loaded into.
        Keys::Mapped(_) => raise(
            Code::ERRCODE_INTERNAL_ERROR,
            "pgrec: keys of a served model cannot take new entries",
            None,
        ),
    };
    r.unwrap_or_else(|e| raise(Code::ERRCODE_PROGRAM_LIMIT_EXCEEDED, e.to_string(), None))
}

/// Adds one source row (user key, item key, float8 rating; then, with row weights, the event
/// type as text when there are event weights and the time as float8 when there is decay) to
/// `out`.
///
/// # Safety
/// `row` must be a live row of the query `load_query` builds for `spec`: three columns, the
/// user key and the item key (of the kinds of `out.users` and `out.items`) and a float8,
/// followed by the row weights' columns of `spec`.
#[inline]
unsafe fn read_row(
    row: SlotRow,
    out: &mut Loaded,
    pending: &mut PendingKeys,
    spec: &SourceSpec<'_>,
) {
    out.rows_read += 1;
    let (Some(ud), Some(id), Some(rd)) = (row.get(1), row.get(2), row.get(3)) else {
        out.rows_skipped_null += 1;
        return;
    };
    // The row weights' columns follow: the event type as text, then the time as float8.
    let mut next = 4;
    let mut event_weight = 1.0f32;
    let weights = spec.weights;
    if let Some(e) = weights.and_then(|w| w.event.as_ref()) {
        // Column `next` is the event type, cast to text by the query.
        let Some(d) = row.get(next) else {
            out.rows_skipped_null += 1;
            return;
        };
        next += 1;
        // SAFETY: a non-NULL text datum.
        let t = unsafe { String::from_datum(d, false) }.unwrap_or_default();
        event_weight = e.of(&t).unwrap_or_else(|| {
            raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("event type \"{t}\" of column \"{}\" has no weight in event_weights", e.column),
                Some("Add the type to event_weights, add a \"*\" entry for every other type, or filter the type out of the source."),
            )
        });
    }
    let mut time = None;
    if weights.is_some_and(|w| w.time.is_some()) {
        // Column `next` is the time as float8.
        let Some(d) = row.get(next) else {
            out.rows_skipped_null += 1;
            return;
        };
        let t = read_float8(d);
        if !t.is_finite() {
            raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("time {t} of a source row is not finite"),
                Some("Filter rows with an infinite time out of the source."),
            );
        }
        time = Some(t);
    }
    let value = read_float8(rd);
    if !value.is_finite() || value.abs() > f32::MAX as f64 {
        let shown = if value.is_nan() {
            "NaN".to_string()
        } else if value.is_infinite() {
            if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
        } else {
            value.to_string()
        };
        raise(
            Code::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            format!(
                "rating {shown} for user {} and item {} is not a finite real number",
                // SAFETY: non-NULL key datums of the kinds the query cast them to.
                unsafe { key_text(ud, &out.users) },
                // SAFETY: as above.
                unsafe { key_text(id, &out.items) },
            ),
            Some(&format!(
                "Filter such rows out of the source, e.g. WHERE {} NOT IN ('NaN', 'Infinity', '-Infinity').",
                quote_ident(spec.rating_col.unwrap_or("rating"))
            )),
        );
    }
    // Integer keys wait for the next round of interning (PendingKeys); text keys are interned
    // now.
    let user = if PendingKeys::defers(&out.users) {
        pending.users.push(ud.value() as i64);
        u32::MAX
    } else {
        // SAFETY: a non-NULL key datum of the kind the query cast it to.
        unsafe { read_key(ud, &mut out.users) }
    };
    let item = if PendingKeys::defers(&out.items) {
        pending.items.push(id.value() as i64);
        u32::MAX
    } else {
        // SAFETY: as above.
        unsafe { read_key(id, &mut out.items) }
    };
    out.ratings.push(Rating {
        user,
        item,
        value: value as f32,
    });
    if weights.is_some() {
        out.event_weights.push(event_weight);
    }
    if let Some(t) = time {
        out.times.push(t);
    }
}

/// The FROM item for a source (a resolved relation or a parenthesised query), after checking
/// that it is a single read-only SELECT the caller may run. Used by SQL-language functions
/// that read a source (pgrec.split).
#[pg_extern(stable, parallel_safe, name = "_source_from")]
fn source_from(source: &str) -> String {
    let from = from_item(source);
    probe_columns(&from);
    from
}
