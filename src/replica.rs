//! A Citus worker's read side of distributed models: on a node whose catalog does not hold a
//! model, `catalog::find_version` looks in pgrec.distributed_models (see distributed.rs, which
//! writes it on the coordinator), with the caller's privileges: the table's row-level security
//! lets the owner role's members and the granted roles (by name, as Citus creates roles on every
//! node) see the row. Serving then reads the version's serving data, scoring network and params
//! from the same row.

use pgrx::prelude::*;

use crate::errors::OrRaise;
use crate::version::{distributed_version_from_row, VersionInfo, DISTRIBUTED_COLUMNS};

/// Whether Citus is installed in this database.
pub fn citus_present() -> bool {
    crate::spi::select_one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')",
        &[],
    )
    .unwrap_or(false)
}

/// Whether pgrec.distributed_models is a Citus reference table yet.
pub fn is_reference_table() -> bool {
    crate::spi::select_one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition \
         WHERE logicalrelid = 'pgrec.distributed_models'::regclass)",
        &[],
    )
    .unwrap_or(false)
}

/// The relation this node reads distributed models from: the reference table's local copy (its
/// shard), when this node holds one. Serving calls run inside queries that Citus pushed to the
/// workers, where a query of the reference table itself would be a nested distributed query
/// (refused); the shard is a plain local table with the same rows and the same policies.
fn local_copy() -> String {
    // Cached per backend once found: a reference table keeps its shard.
    if let Some(name) = LOCAL_COPY.with(|c| c.borrow().clone()) {
        return name;
    }
    let found = crate::spi::select_one::<String>(
        "SELECT n FROM (SELECT shard_name('pgrec.distributed_models'::regclass, shardid) AS n \
                        FROM pg_catalog.pg_dist_shard \
                        WHERE logicalrelid = 'pgrec.distributed_models'::regclass) s \
         WHERE to_regclass(n) IS NOT NULL",
        &[],
    );
    match found {
        Some(name) => {
            LOCAL_COPY.with(|c| *c.borrow_mut() = Some(name.clone()));
            name
        }
        None => "pgrec.distributed_models".to_string(),
    }
}

thread_local! {
    /// The local copy's name, once this backend has found one (see `local_copy`).
    static LOCAL_COPY: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    /// The lookup of a distributed model in the local copy, planned once per backend (as
    /// `catalog::find_version` plans its own; the plan cache re-plans it for another role).
    /// Kept with the table it reads.
    static LOOKUP: std::cell::RefCell<Option<(String, pgrx::spi::OwnedPreparedStatement)>> =
        const { std::cell::RefCell::new(None) };
}

/// The distributed model `model` as this node serves it (None: not distributed, or not
/// readable by the current role, or Citus not installed).
pub fn find(model: &str) -> Option<VersionInfo> {
    let cached = LOCAL_COPY.with(|c| c.borrow().is_some());
    if !cached && (!citus_present() || !is_reference_table()) {
        return None;
    }
    let table = local_copy();
    Spi::connect(|c| {
        LOOKUP
            .with(|cell| {
                let mut cell = cell.borrow_mut();
                if cell.as_ref().is_none_or(|(name, _)| *name != table) {
                    let stmt = c
                        .prepare(
                            format!("SELECT {DISTRIBUTED_COLUMNS} FROM {table} WHERE model = $1")
                                .as_str(),
                            &[pgrx::PgOid::BuiltIn(pgrx::PgBuiltInOids::TEXTOID)],
                        )
                        .or_raise();
                    *cell = Some((table.clone(), stmt.keep()));
                }
                match cell.as_ref() {
                    Some((_, stmt)) => c.select(stmt, Some(1), &[model.into()]),
                    None => unreachable!("prepared above"),
                }
            })
            .or_raise()
            .next()
            .map(|row| distributed_version_from_row(&row))
    })
}

/// The serving data of a distributed version.
pub fn serving_bytes(version_id: i64) -> Vec<u8> {
    crate::spi::select_one::<Vec<u8>>(
        &format!("SELECT serving FROM {} WHERE version_id = $1", local_copy()),
        &[version_id.into()],
    )
    .unwrap_or_default()
}

/// The query that reads the tensors a distributed version carries under `key` of its info
/// (`head`: ncf's scoring network; `fold`: what its fold-in reads), as the cache reads
/// pgrec.model_tensors: name, rows, cols, data of each tensor, for version $1. The values went
/// through jsonb as numeric from float8 (15 significant digits whatever extra_float_digits
/// says, where a float4 needs 9), so they read back bit for bit. A version without such tensors
/// has no key, or a JSON null under it (`jsonb_agg` of no rows): no rows.
pub fn tensors_query(key: &'static str) -> String {
    format!(
        "SELECT e->>'name', (e->>'rows')::int4, (e->>'cols')::int4, \
                ARRAY(SELECT x::float4 FROM jsonb_array_elements_text(e->'data') x) \
         FROM {} d, jsonb_array_elements(CASE jsonb_typeof(d.info->'{key}') \
                                         WHEN 'array' THEN d.info->'{key}' ELSE '[]' END) e \
         WHERE d.version_id = $1 ORDER BY 1",
        local_copy()
    )
}

/// The algorithm and stored params of a distributed version (see `catalog::recipe_of`).
pub fn recipe(version_id: i64) -> (String, serde_json::Value) {
    Spi::connect(|c| {
        let row = c
            .select(
                &format!(
                    "SELECT info->>'algorithm', params FROM {} WHERE version_id = $1",
                    local_copy()
                ),
                Some(1),
                &[version_id.into()],
            )
            .or_raise()
            .next();
        let algorithm = row.as_ref().and_then(|r| r.get::<String>(1).or_raise());
        let params = row
            .as_ref()
            .and_then(|r| r.get::<pgrx::JsonB>(2).or_raise());
        (
            algorithm.unwrap_or_default(),
            params.map(|j| j.0).unwrap_or_default(),
        )
    })
}

/// The hidden items of a distributed version's model, as the coordinator wrote them into its
/// row (see distributed.rs).
pub fn hidden_keys(version_id: i64) -> Vec<String> {
    Spi::connect(|c| {
        c.select(
            &format!(
                "SELECT jsonb_array_elements_text(coalesce(info->'hidden', '[]')) FROM {} \
                 WHERE version_id = $1",
                local_copy()
            ),
            None,
            &[version_id.into()],
        )
        .or_raise()
        .filter_map(|row| row.get::<String>(1).or_raise())
        .collect()
    })
}

/// The stored params of a distributed version.
pub fn params(version_id: i64) -> serde_json::Value {
    crate::spi::select_one::<pgrx::JsonB>(
        &format!("SELECT params FROM {} WHERE version_id = $1", local_copy()),
        &[version_id.into()],
    )
    .map(|j| j.0)
    .unwrap_or_default()
}
