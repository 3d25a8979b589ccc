//! Serving for applications: `pgrec.score` (re-rank a caller's list), `pgrec.recommend_batch`
//! (many users in one call, one matrix product per chunk of users on the backend's pool) and
//! `pgrec.similar_users`. recommend's `candidates` argument lives in serve.rs and uses
//! [`candidate_indices`]. The numeric work is in `pgrec_core::serving`.

use pgrec_core::serving;
use pgrec_core::topk::Scored;
use pgrx::prelude::*;

use crate::keys::KeyArg;
use crate::serve::{active, check_k, require_int_items, require_int_keys, ServingModel};

/// The model's indices of `keys` (NULL elements already dropped), in the order given, repeats
/// removed; a NOTICE counts the keys the model does not know.
pub(crate) fn candidate_indices(
    model: &str,
    m: &ServingModel,
    side: &str,
    keys: &[KeyArg<'_>],
) -> Vec<u32> {
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    let mut out = Vec::with_capacity(keys.len());
    let mut unknown = 0usize;
    let index = if side == "user" { &m.users } else { &m.items };
    for &key in keys {
        match index.find(key) {
            Some(i) => {
                if seen.insert(i) {
                    out.push(i)
                }
            }
            None => unknown += 1,
        }
    }
    if unknown > 0 {
        pgrx::notice!(
            "pgrec: {unknown} of the {} {side}s given are not in model \"{model}\"; they are skipped",
            keys.len()
        );
    }
    out
}

pub(crate) fn score_indices(
    model: &str,
    user: KeyArg<'_>,
    items: &[KeyArg<'_>],
    m: &ServingModel,
) -> Vec<Scored> {
    let Some(u) = m.users.find(user) else {
        pgrx::notice!("pgrec: user {user} is not in model \"{model}\"; no rows returned");
        return Vec::new();
    };
    let items = candidate_indices(model, m, "item", items);
    let view = m.view();
    serving::recommend_among(&view, m.kernels, u, &items, items.len(), &[])
}

#[pg_extern(stable, parallel_safe, name = "score")]
fn score_int(
    model: &str,
    user_id: i64,
    item_ids: Vec<Option<i64>>,
) -> TableIterator<'static, (name!(item_id, i64), name!(score, f32))> {
    let m = active(model);
    require_int_items(model, &m, "score", "user_id::text, item_ids::text[]");
    let keys: Vec<KeyArg<'_>> = item_ids.iter().flatten().map(|&i| KeyArg::Int(i)).collect();
    let rows: Vec<(i64, f32)> = score_indices(model, KeyArg::Int(user_id), &keys, &m)
        .into_iter()
        .filter_map(|s| m.items.int_key(s.index).map(|key| (key, s.score)))
        .collect();
    TableIterator::new(rows)
}

#[pg_extern(stable, parallel_safe, name = "score")]
fn score_text(
    model: &str,
    user_id: &str,
    item_ids: Vec<Option<String>>,
) -> TableIterator<'static, (name!(item_id, String), name!(score, f32))> {
    let m = active(model);
    let keys: Vec<KeyArg<'_>> = item_ids.iter().flatten().map(|s| KeyArg::Text(s)).collect();
    let rows: Vec<(String, f32)> = score_indices(model, KeyArg::Text(user_id), &keys, &m)
        .into_iter()
        .map(|s| (m.items.text_key(s.index), s.score))
        .collect();
    TableIterator::new(rows)
}

/// Users per call to the pool: a multiple of the core's chunk, so results do not depend on it;
/// interrupts are checked between calls and while each runs.
const USERS_PER_ROUND: usize = 4096;

/// (user index, rank from 1, item index, score) for every known user.
pub(crate) fn batch_rows(
    model: &str,
    users: &[KeyArg<'_>],
    k: i32,
    exclude_seen: bool,
    m: &ServingModel,
) -> Vec<(u32, i32, Scored)> {
    let k = check_k(k);
    let users = candidate_indices(model, m, "user", users);
    let pool = crate::runner::pool(crate::runner::default_threads());
    let seen = exclude_seen.then_some(m.seen());
    let view = m.view();
    let kernels = m.kernels;
    let mut rows = Vec::new();
    for round in users.chunks(USERS_PER_ROUND) {
        pgrx::check_for_interrupts!();
        let tops = crate::runner::run(&pool, |cancel| {
            serving::recommend_batch(&view, kernels, round, k, seen, cancel)
        });
        for (&u, top) in round.iter().zip(tops) {
            for (rank, s) in top.into_iter().enumerate() {
                rows.push((u, rank as i32 + 1, s));
            }
        }
    }
    rows
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

pub(crate) fn similar_user_indices(
    model: &str,
    user: KeyArg<'_>,
    k: i32,
    m: &ServingModel,
) -> Vec<Scored> {
    let k = check_k(k);
    let Some(u) = m.users.find(user) else {
        pgrx::notice!("pgrec: user {user} is not in model \"{model}\"; no rows returned");
        return Vec::new();
    };
    let view = m.view();
    let norms = m
        .user_norms
        .get_or_init(|| serving::user_norms(&view, m.kernels));
    serving::similar_users(&view, m.kernels, norms, u, k)
}

#[pg_extern(stable, parallel_safe, name = "similar_users")]
fn similar_users_int(
    model: &str,
    user_id: i64,
    k: default!(i32, 10),
) -> TableIterator<'static, (name!(user_id, i64), name!(similarity, f32))> {
    let m = active(model);
    require_int_keys(model, &m.users, "user", "similar_users", "user_id::text");
    let rows: Vec<(i64, f32)> = similar_user_indices(model, KeyArg::Int(user_id), k, &m)
        .into_iter()
        .filter_map(|s| m.users.int_key(s.index).map(|key| (key, s.score)))
        .collect();
    TableIterator::new(rows)
}

#[pg_extern(stable, parallel_safe, name = "similar_users")]
fn similar_users_text(
    model: &str,
    user_id: &str,
    k: default!(i32, 10),
) -> TableIterator<'static, (name!(user_id, String), name!(similarity, f32))> {
    let m = active(model);
    let rows: Vec<(String, f32)> = similar_user_indices(model, KeyArg::Text(user_id), k, &m)
        .into_iter()
        .map(|s| (m.users.text_key(s.index), s.score))
        .collect();
    TableIterator::new(rows)
}
