//! pgrec.recommend (top-k items for a user, optionally among candidates), pgrec.recommend_batch
//! (many users in one call, one matrix product per chunk of users on the backend's pool) and
//! pgrec.popular, for integer and text keys. Every one leaves out the model's hidden items and
//! the call's `exclude`.

use pgrx::prelude::*;

use crate::cache::active;
use crate::keys::{int_keys, text_keys, KeyArg};
use crate::serve::{
    batch_rows, popular_for, recommend_indices, require_int_items, require_int_keys, Ask, BatchUser,
};

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, parallel_safe, name = "recommend")]
pub(crate) fn recommend_v3_int(
    model: Option<&str>,
    user_id: Option<i64>,
    k: default!(Option<i32>, 10),
    exclude_seen: default!(Option<bool>, true),
    candidates: default!(Option<Vec<Option<i64>>>, "NULL"),
    exclude: default!(Option<Vec<Option<i64>>>, "NULL"),
    fallback: default!(Option<&str>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<'static, (name!(item_id, i64), name!(score, f32))> {
    // NULL model, user, k or exclude_seen: no rows, as a STRICT function gives (candidates,
    // exclude and fallback may be NULL, so the function cannot be STRICT).
    let (Some(model), Some(user_id), Some(k), Some(exclude_seen)) =
        (model, user_id, k, exclude_seen)
    else {
        return TableIterator::new(Vec::new());
    };
    let ask = Ask::new(int_keys(&exclude), fallback, diversity);
    let m = active(model);
    require_int_items(model, &m, "recommend", "user_id::text");
    let candidates = candidates.is_some().then(|| int_keys(&candidates));
    let rows: Vec<(i64, f32)> = recommend_indices(
        model,
        KeyArg::Int(user_id),
        k,
        exclude_seen,
        candidates.as_deref(),
        &ask,
        &m,
    )
    .into_iter()
    .filter_map(|s| m.items.int_key(s.index).map(|key| (key, s.score)))
    .collect();
    TableIterator::new(rows)
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, parallel_safe, name = "recommend")]
pub(crate) fn recommend_v3_text(
    model: Option<&str>,
    user_id: Option<&str>,
    k: default!(Option<i32>, 10),
    exclude_seen: default!(Option<bool>, true),
    candidates: default!(Option<Vec<Option<String>>>, "NULL"),
    exclude: default!(Option<Vec<Option<String>>>, "NULL"),
    fallback: default!(Option<&str>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<'static, (name!(item_id, String), name!(score, f32))> {
    // NULL model, user, k or exclude_seen: no rows, as a STRICT function gives (candidates,
    // exclude and fallback may be NULL, so the function cannot be STRICT).
    let (Some(model), Some(user_id), Some(k), Some(exclude_seen)) =
        (model, user_id, k, exclude_seen)
    else {
        return TableIterator::new(Vec::new());
    };
    let ask = Ask::new(text_keys(&exclude), fallback, diversity);
    let m = active(model);
    let candidates = candidates.is_some().then(|| text_keys(&candidates));
    let rows: Vec<(String, f32)> = recommend_indices(
        model,
        KeyArg::Text(user_id),
        k,
        exclude_seen,
        candidates.as_deref(),
        &ask,
        &m,
    )
    .into_iter()
    .map(|s| (m.items.text_key(s.index), s.score))
    .collect();
    TableIterator::new(rows)
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, parallel_safe, name = "recommend_batch")]
pub(crate) fn recommend_batch_v3_int(
    model: &str,
    user_ids: Vec<Option<i64>>,
    k: default!(i32, 10),
    exclude_seen: default!(bool, true),
    exclude: default!(Option<Vec<Option<i64>>>, "NULL"),
    fallback: default!(Option<&str>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<
    'static,
    (
        name!(user_id, i64),
        name!(rank, i32),
        name!(item_id, i64),
        name!(score, f32),
    ),
> {
    let ask = Ask::new(int_keys(&exclude), fallback, diversity);
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
    let rows: Vec<(i64, i32, i64, f32)> = batch_rows(model, &keys, k, exclude_seen, &ask, &m)
        .into_iter()
        .filter_map(|(who, rank, s)| {
            let user = match who {
                BatchUser::Known(u) => m.users.int_key(u)?,
                BatchUser::Unknown(pos) => match keys[pos] {
                    KeyArg::Int(i) => i,
                    KeyArg::Text(_) => return None,
                },
            };
            Some((user, rank, m.items.int_key(s.index)?, s.score))
        })
        .collect();
    TableIterator::new(rows)
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, parallel_safe, name = "recommend_batch")]
pub(crate) fn recommend_batch_v3_text(
    model: &str,
    user_ids: Vec<Option<String>>,
    k: default!(i32, 10),
    exclude_seen: default!(bool, true),
    exclude: default!(Option<Vec<Option<String>>>, "NULL"),
    fallback: default!(Option<&str>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<
    'static,
    (
        name!(user_id, String),
        name!(rank, i32),
        name!(item_id, String),
        name!(score, f32),
    ),
> {
    let ask = Ask::new(text_keys(&exclude), fallback, diversity);
    let m = active(model);
    let keys: Vec<KeyArg<'_>> = user_ids.iter().flatten().map(|s| KeyArg::Text(s)).collect();
    let rows: Vec<(String, i32, String, f32)> = batch_rows(model, &keys, k, exclude_seen, &ask, &m)
        .into_iter()
        .map(|(who, rank, s)| {
            let user = match who {
                BatchUser::Known(u) => m.users.text_key(u),
                BatchUser::Unknown(pos) => keys[pos].to_string(),
            };
            (user, rank, m.items.text_key(s.index), s.score)
        })
        .collect();
    TableIterator::new(rows)
}

/// pgrec.popular for integer keys. user_id has no default here (the text version has one), so
/// that `pgrec.popular(model)` is not ambiguous: pass `NULL::bigint` for bigint keys without a
/// user.
#[pg_extern(stable, parallel_safe, name = "popular")]
fn popular_int(
    model: &str,
    k: i32,
    user_id: Option<i64>,
    exclude: default!(Option<Vec<Option<i64>>>, "NULL"),
) -> TableIterator<'static, (name!(item_id, i64), name!(score, f32))> {
    let m = active(model);
    require_int_items(model, &m, "popular", "NULL::text");
    let rows: Vec<(i64, f32)> = popular_for(k, user_id.map(KeyArg::Int), &int_keys(&exclude), &m)
        .into_iter()
        .filter_map(|s| m.items.int_key(s.index).map(|key| (key, s.score)))
        .collect();
    TableIterator::new(rows)
}

#[pg_extern(stable, parallel_safe, name = "popular")]
fn popular_text(
    model: &str,
    k: default!(i32, 10),
    user_id: default!(Option<&str>, "NULL"),
    exclude: default!(Option<Vec<Option<String>>>, "NULL"),
) -> TableIterator<'static, (name!(item_id, String), name!(score, f32))> {
    let m = active(model);
    let rows: Vec<(String, f32)> =
        popular_for(k, user_id.map(KeyArg::Text), &text_keys(&exclude), &m)
            .into_iter()
            .map(|s| (m.items.text_key(s.index), s.score))
            .collect();
    TableIterator::new(rows)
}
