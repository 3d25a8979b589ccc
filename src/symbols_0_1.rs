//! Symbols the previous release's SQL calls. Between installing this library and running
//! `ALTER EXTENSION pgrec UPDATE`, a database still has 0.1.0's function definitions, and they
//! call these symbols by name with their old argument lists; a symbol whose arguments changed
//! would fail ("unboxing argument failed"). Each one here keeps its 0.1.0 name and arguments
//! (no SQL is generated for it) and answers as the current function does with the new
//! arguments at their defaults, so serving keeps working, with the same answers, across the
//! upgrade (tests/upgrade/run.sh).

use pgrx::prelude::*;

use crate::cache::active;
use crate::keys::KeyArg;
use crate::serve::{recommend_indices, require_int_items, similar_indices, Ask};

#[pg_extern(sql = false)]
fn recommend_int(
    model: &str,
    user_id: i64,
    k: i32,
    exclude_seen: bool,
) -> TableIterator<'static, (name!(item_id, i64), name!(score, f32))> {
    let m = active(model);
    require_int_items(model, &m, "recommend", "user_id::text");
    let rows: Vec<(i64, f32)> = recommend_indices(
        model,
        KeyArg::Int(user_id),
        k,
        exclude_seen,
        None,
        &Ask::default(),
        &m,
    )
    .into_iter()
    .filter_map(|s| m.items.int_key(s.index).map(|key| (key, s.score)))
    .collect();
    TableIterator::new(rows)
}

#[pg_extern(sql = false)]
fn recommend_text(
    model: &str,
    user_id: &str,
    k: i32,
    exclude_seen: bool,
) -> TableIterator<'static, (name!(item_id, String), name!(score, f32))> {
    let m = active(model);
    let rows: Vec<(String, f32)> = recommend_indices(
        model,
        KeyArg::Text(user_id),
        k,
        exclude_seen,
        None,
        &Ask::default(),
        &m,
    )
    .into_iter()
    .map(|s| (m.items.text_key(s.index), s.score))
    .collect();
    TableIterator::new(rows)
}

#[pg_extern(sql = false)]
fn similar_items_int(
    model: &str,
    item_id: i64,
    k: i32,
) -> TableIterator<'static, (name!(item_id, i64), name!(similarity, f32))> {
    let m = active(model);
    require_int_items(model, &m, "similar_items", "item_id::text");
    let rows: Vec<(i64, f32)> = similar_indices(
        model,
        KeyArg::Int(item_id),
        k,
        "embedding",
        None,
        &Ask::default(),
        &m,
    )
    .into_iter()
    .filter_map(|s| m.items.int_key(s.index).map(|key| (key, s.score)))
    .collect();
    TableIterator::new(rows)
}

#[pg_extern(sql = false)]
fn similar_items_text(
    model: &str,
    item_id: &str,
    k: i32,
) -> TableIterator<'static, (name!(item_id, String), name!(similarity, f32))> {
    let m = active(model);
    let rows: Vec<(String, f32)> = similar_indices(
        model,
        KeyArg::Text(item_id),
        k,
        "embedding",
        None,
        &Ask::default(),
        &m,
    )
    .into_iter()
    .map(|s| (m.items.text_key(s.index), s.score))
    .collect();
    TableIterator::new(rows)
}
