//! pgrec.hide_items / pgrec.unhide_items: items a model never returns (out of stock,
//! withdrawn), per model name, kept across versions and retrains, in pgrec.hidden_items. The
//! owner writes them in its own transaction; a trigger counts every change in
//! model_owners.hidden_changes, which the version lookup of every serving call reads, so each
//! backend's cache (cache.rs) reads the list again once the change is visible to it.

use pgrx::prelude::*;

use crate::access::{require_existing_owner, OWNER_ONLY};
use crate::errors::{require_primary, OrRaise};
use crate::spi::require_current_catalog;

fn check(model: &str, function: &str, action: &str) {
    require_primary(function);
    require_current_catalog();
    require_existing_owner(model, action, Some(OWNER_ONLY));
}

/// Hides `keys` (text forms) for `model`; returns how many were not hidden before.
pub(crate) fn hide(model: &str, keys: &[String]) -> i64 {
    check(model, "hide_items", "hide items of");
    let added = Spi::get_one_with_args::<i64>(
        "WITH added AS (INSERT INTO pgrec.hidden_items (model, item) \
                        SELECT $1, k FROM unnest($2::text[]) k ON CONFLICT DO NOTHING RETURNING 1) \
         SELECT count(*) FROM added",
        &[model.into(), keys.to_vec().into()],
    )
    .or_raise()
    .unwrap_or(0);
    crate::changed::model_changed(model);
    added
}

/// Shows `keys` (text forms) again for `model`; returns how many were hidden.
pub(crate) fn unhide(model: &str, keys: &[String]) -> i64 {
    check(model, "unhide_items", "unhide items of");
    let removed = Spi::get_one_with_args::<i64>(
        "WITH removed AS (DELETE FROM pgrec.hidden_items \
                          WHERE model OPERATOR(pg_catalog.=) $1 \
                            AND item OPERATOR(pg_catalog.=) ANY ($2::text[]) RETURNING 1) \
         SELECT count(*) FROM removed",
        &[model.into(), keys.to_vec().into()],
    )
    .or_raise()
    .unwrap_or(0);
    crate::changed::model_changed(model);
    removed
}

#[pg_extern(volatile, parallel_unsafe, name = "hide_items")]
fn hide_items_int(model: &str, item_ids: Vec<Option<i64>>) -> i64 {
    let keys: Vec<String> = item_ids.iter().flatten().map(|i| i.to_string()).collect();
    hide(model, &keys)
}

#[pg_extern(volatile, parallel_unsafe, name = "hide_items")]
fn hide_items_text(model: &str, item_ids: Vec<Option<String>>) -> i64 {
    let keys: Vec<String> = item_ids.into_iter().flatten().collect();
    hide(model, &keys)
}

#[pg_extern(volatile, parallel_unsafe, name = "unhide_items")]
fn unhide_items_int(model: &str, item_ids: Vec<Option<i64>>) -> i64 {
    let keys: Vec<String> = item_ids.iter().flatten().map(|i| i.to_string()).collect();
    unhide(model, &keys)
}

#[pg_extern(volatile, parallel_unsafe, name = "unhide_items")]
fn unhide_items_text(model: &str, item_ids: Vec<Option<String>>) -> i64 {
    let keys: Vec<String> = item_ids.into_iter().flatten().collect();
    unhide(model, &keys)
}
