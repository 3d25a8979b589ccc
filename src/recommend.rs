//! pgrec.recommend (top-k items for a user, optionally among candidates) and
//! pgrec.recommend_batch (many users in one call, one matrix product per chunk of users on the
//! backend's pool), for integer and text keys.

use pgrx::prelude::*;

use crate::cache::active;
use crate::keys::KeyArg;
use crate::serve::{batch_rows, recommend_indices, require_int_items, require_int_keys};

#[pg_extern(stable, parallel_safe, name = "recommend")]
fn recommend_candidates_int(
    model: Option<&str>,
    user_id: Option<i64>,
    k: default!(Option<i32>, 10),
    exclude_seen: default!(Option<bool>, true),
    candidates: default!(Option<Vec<Option<i64>>>, "NULL"),
) -> TableIterator<'static, (name!(item_id, i64), name!(score, f32))> {
    // NULL model, user, k or exclude_seen: no rows, as a STRICT function gives (candidates may
    // be NULL, so the function cannot be STRICT).
    let (Some(model), Some(user_id), Some(k), Some(exclude_seen)) =
        (model, user_id, k, exclude_seen)
    else {
        return TableIterator::new(Vec::new());
    };
    let m = active(model);
    require_int_items(model, &m, "recommend", "user_id::text");
    let candidates: Option<Vec<KeyArg<'_>>> = candidates
        .as_ref()
        .map(|c| c.iter().flatten().map(|&i| KeyArg::Int(i)).collect());
    let rows: Vec<(i64, f32)> = recommend_indices(
        model,
        KeyArg::Int(user_id),
        k,
        exclude_seen,
        candidates.as_deref(),
        &m,
    )
    .into_iter()
    .filter_map(|s| m.items.int_key(s.index).map(|key| (key, s.score)))
    .collect();
    TableIterator::new(rows)
}

#[pg_extern(stable, parallel_safe, name = "recommend")]
fn recommend_candidates_text(
    model: Option<&str>,
    user_id: Option<&str>,
    k: default!(Option<i32>, 10),
    exclude_seen: default!(Option<bool>, true),
    candidates: default!(Option<Vec<Option<String>>>, "NULL"),
) -> TableIterator<'static, (name!(item_id, String), name!(score, f32))> {
    // NULL model, user, k or exclude_seen: no rows, as a STRICT function gives (candidates may
    // be NULL, so the function cannot be STRICT).
    let (Some(model), Some(user_id), Some(k), Some(exclude_seen)) =
        (model, user_id, k, exclude_seen)
    else {
        return TableIterator::new(Vec::new());
    };
    let m = active(model);
    let candidates: Option<Vec<KeyArg<'_>>> = candidates
        .as_ref()
        .map(|c| c.iter().flatten().map(|s| KeyArg::Text(s)).collect());
    let rows: Vec<(String, f32)> = recommend_indices(
        model,
        KeyArg::Text(user_id),
        k,
        exclude_seen,
        candidates.as_deref(),
        &m,
    )
    .into_iter()
    .map(|s| (m.items.text_key(s.index), s.score))
    .collect();
    TableIterator::new(rows)
}

#[pg_extern(stable, parallel_safe, name = "recommend_batch")]
fn recommend_batch_int(
    model: &str,
    user_ids: Vec<Option<i64>>,
    k: default!(i32, 10),
    exclude_seen: default!(bool, true),
) -> TableIterator<
    'static,
    (
        name!(user_id, i64),
        name!(rank, i32),
        name!(item_id, i64),
        name!(score, f32),
    ),
> {
    let m = active(model);
    require_int_keys(
        model,
        &m.users,
        "user",
        "recommend_batch",
        "user_ids::text[]",
    );
    require_int_items(model, &m, "recommend_batch", "user_ids::text[]");
    let keys: Vec<KeyArg<'_>> = user_ids.iter().flatten().map(|&u| KeyArg::Int(u)).collect();
    let rows: Vec<(i64, i32, i64, f32)> = batch_rows(model, &keys, k, exclude_seen, &m)
        .into_iter()
        .filter_map(|(u, rank, s)| {
            Some((
                m.users.int_key(u)?,
                rank,
                m.items.int_key(s.index)?,
                s.score,
            ))
        })
        .collect();
    TableIterator::new(rows)
}

#[pg_extern(stable, parallel_safe, name = "recommend_batch")]
fn recommend_batch_text(
    model: &str,
    user_ids: Vec<Option<String>>,
    k: default!(i32, 10),
    exclude_seen: default!(bool, true),
) -> TableIterator<
    'static,
    (
        name!(user_id, String),
        name!(rank, i32),
        name!(item_id, String),
        name!(score, f32),
    ),
> {
    let m = active(model);
    let keys: Vec<KeyArg<'_>> = user_ids.iter().flatten().map(|s| KeyArg::Text(s)).collect();
    let rows: Vec<(String, i32, String, f32)> = batch_rows(model, &keys, k, exclude_seen, &m)
        .into_iter()
        .map(|(u, rank, s)| {
            (
                m.users.text_key(u),
                rank,
                m.items.text_key(s.index),
                s.score,
            )
        })
        .collect();
    TableIterator::new(rows)
}
