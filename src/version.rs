//! What serving and evaluation know about a model version (`VersionInfo`), and how it is read
//! from a row of pgrec.model_versions or of pgrec.distributed_models (a Citus worker's copy).

use std::cell::RefCell;

use crate::errors::{raise, Code, OrRaise};
use crate::keys::KeyKind;
use crate::spi::catalog_version;
use pgrec_core::train::{Scorer, Target};

/// What serving and evaluation need to know about a version.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    pub id: i64,
    pub user_kind: KeyKind,
    pub item_kind: KeyKind,
    pub factors: usize,
    pub global_mean: f32,
    pub rating_range: Option<(f32, f32)>,
    pub user_col: String,
    pub item_col: String,
    pub rating_col: Option<String>,
    /// How serving scores a pair, and what the score estimates.
    pub scorer: Scorer,
    pub target: Target,
    /// Changes whenever the version row is updated (its xmin), e.g. by a fold-in that adds
    /// users: serving caches compare it with what they loaded.
    pub stamp: i64,
    /// How many times the model's hidden items changed (model_owners.hidden_changes): serving
    /// caches reload the hidden list when it moves.
    pub hidden_changes: i64,
    /// Served from pgrec.distributed_models (a Citus worker serving a model trained on the
    /// coordinator): its serving data and params come from that row, not the version tables.
    pub distributed: bool,
}

const VERSION_COLUMNS: &str =
    "id, user_key_type, item_key_type, factors, global_mean, rating_min, \
     rating_max, user_col, item_col, rating_col, scorer, target, xmin::text::int8, \
     (SELECT o.hidden_changes FROM pgrec.model_owners o \
      WHERE o.model OPERATOR(pg_catalog.=) model_versions.model)";

/// VERSION_COLUMNS from a catalog at 0.2.0, before hidden items.
const VERSION_COLUMNS_0_2: &str =
    "id, user_key_type, item_key_type, factors, global_mean, rating_min, \
     rating_max, user_col, item_col, rating_col, scorer, target, xmin::text::int8, 0::int8";

/// The same columns from a catalog still at release 0.1.0 (a new library installed, `ALTER
/// EXTENSION pgrec UPDATE` not yet run), which had no scorer and target columns: serving keeps
/// working in between. The expressions are what the upgrade script stores.
const VERSION_COLUMNS_0_1: &str = "id, user_key_type, item_key_type, factors, global_mean, \
     rating_min, rating_max, user_col, item_col, rating_col, \
     CASE WHEN algorithm = 'ncf' THEN 'network' ELSE 'dot' END, \
     CASE WHEN params->>'loss' IN ('bce', 'softmax') THEN 'relevance' ELSE 'rating' END, \
     xmin::text::int8, 0::int8";

thread_local! {
    /// The version columns for this backend's catalog, chosen once.
    static COLUMNS: RefCell<Option<&'static str>> = const { RefCell::new(None) };
}

pub fn version_columns() -> &'static str {
    COLUMNS.with(|cell| {
        *cell
            .borrow_mut()
            .get_or_insert_with(|| match catalog_version().as_str() {
                "0.1.0" => VERSION_COLUMNS_0_1,
                "0.2.0" => VERSION_COLUMNS_0_2,
                _ => VERSION_COLUMNS,
            })
    })
}

fn damaged(id: i64, column: &str) -> ! {
    raise(
        Code::ERRCODE_DATA_CORRUPTED,
        format!("pgrec: model version {id} has an unknown {column}"),
        Some("Train the model again, or update pgrec (ALTER EXTENSION pgrec UPDATE)."),
    )
}

pub fn version_from_row(row: &pgrx::spi::SpiHeapTupleData<'_>) -> VersionInfo {
    let s = |i: usize| -> Option<String> { row.get::<String>(i).or_raise() };
    let id = row.get::<i64>(1).or_raise().unwrap_or_default();
    let rmin: Option<f32> = row.get(6).or_raise();
    let rmax: Option<f32> = row.get(7).or_raise();
    VersionInfo {
        id,
        user_kind: KeyKind::from_sql_name(&s(2).unwrap_or_default()),
        item_kind: KeyKind::from_sql_name(&s(3).unwrap_or_default()),
        factors: row.get::<i32>(4).or_raise().unwrap_or_default().max(0) as usize,
        global_mean: row.get::<f32>(5).or_raise().unwrap_or_default(),
        rating_range: rmin.zip(rmax),
        user_col: s(8).unwrap_or_default(),
        item_col: s(9).unwrap_or_default(),
        rating_col: s(10),
        scorer: s(11)
            .and_then(|n| Scorer::from_name(&n))
            .unwrap_or_else(|| damaged(id, "scorer")),
        target: s(12)
            .and_then(|n| Target::from_name(&n))
            .unwrap_or_else(|| damaged(id, "target")),
        stamp: row.get::<i64>(13).or_raise().unwrap_or_default(),
        hidden_changes: row.get::<i64>(14).or_raise().unwrap_or_default(),
        distributed: false,
    }
}

/// The columns of VERSION_COLUMNS from a row of pgrec.distributed_models (see
/// `crate::distributed`), in the same order.
pub const DISTRIBUTED_COLUMNS: &str = "version_id, info->>'user_key_type', \
     info->>'item_key_type', (info->>'factors')::int4, (info->>'global_mean')::float4, \
     (info->>'rating_min')::float4, (info->>'rating_max')::float4, info->>'user_col', \
     info->>'item_col', info->>'rating_col', info->>'scorer', info->>'target', xmin::text::int8, \
     coalesce((info->>'hidden_changes')::int8, 0)";

/// A version described by a row of pgrec.distributed_models selected with DISTRIBUTED_COLUMNS.
pub fn distributed_version_from_row(row: &pgrx::spi::SpiHeapTupleData<'_>) -> VersionInfo {
    VersionInfo {
        distributed: true,
        ..version_from_row(row)
    }
}
