//! uuid overloads of the serving functions, for models whose keys are uuid (stored as their
//! canonical text, lowercase and hyphenated, which is what a uuid column reads as). Arguments
//! arrive as uuid, results leave as uuid, so they join to the application's uuid columns
//! without casts; psycopg and JDBC bind their UUID objects as uuid and find these at once.
//! A model whose keys on the returned side are not uuid gets an error with a hint to call the
//! text version.

use pgrx::prelude::*;
use pgrx::Uuid;

use crate::cache::{active, ServingModel};
use crate::errors::{raise, Code};
use crate::keys::{KeyArg, Keys};
use crate::serve::{Ask, BatchUser};

/// The canonical text of a uuid, as the catalog stores uuid keys.
fn text(u: &Uuid) -> String {
    u.to_string()
}

/// A stored key read back as a uuid: 32 hex digits, hyphens anywhere (PostgreSQL's own input
/// rules are wider, but stored keys are always canonical).
fn parse(s: &str) -> Option<Uuid> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|&b| b != b'-')
        .map(|b| (b as char).to_digit(16).map(|d| d as u8))
        .collect::<Option<Vec<u8>>>()?;
    if digits.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (b, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *b = pair[0] << 4 | pair[1];
    }
    Some(Uuid::from_bytes(bytes))
}

/// Key `idx` of `keys` as a uuid, or an ERROR naming the key and the text version to call.
fn key(model: &str, keys: &Keys, side: &str, function: &str, idx: u32) -> Uuid {
    let k = keys.text_key(idx);
    parse(&k).unwrap_or_else(|| {
        raise(
            Code::ERRCODE_INVALID_TEXT_REPRESENTATION,
            format!("model \"{model}\" has {side} key \"{k}\", which is not a uuid"),
            Some(&format!(
                "The uuid version of pgrec.{function} returns uuid {side} keys; for other keys call the text version (pass the ids as text)."
            )),
        )
    })
}

/// The canonical texts of a uuid array argument (NULL: none), NULL elements dropped.
fn texts(ids: &Option<Vec<Option<Uuid>>>) -> Vec<String> {
    ids.iter().flatten().flatten().map(text).collect()
}

fn args(texts: &[String]) -> Vec<KeyArg<'_>> {
    texts.iter().map(|s| KeyArg::Text(s)).collect()
}

pub(crate) fn item_key(model: &str, m: &ServingModel, function: &str, idx: u32) -> Uuid {
    key(model, &m.items, "item", function, idx)
}

#[pg_extern(stable, parallel_safe, name = "predict")]
fn predict_uuid(model: &str, user_id: Uuid, item_id: Uuid) -> Option<f32> {
    crate::serve::predict_keys(
        model,
        KeyArg::Text(&text(&user_id)),
        KeyArg::Text(&text(&item_id)),
    )
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, parallel_safe, name = "recommend")]
pub(crate) fn recommend_v3_uuid(
    model: Option<&str>,
    user_id: Option<Uuid>,
    k: default!(Option<i32>, 10),
    exclude_seen: default!(Option<bool>, true),
    candidates: default!(Option<Vec<Option<Uuid>>>, "NULL"),
    exclude: default!(Option<Vec<Option<Uuid>>>, "NULL"),
    fallback: default!(Option<&str>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<'static, (name!(item_id, Uuid), name!(score, f32))> {
    // NULL model, user, k or exclude_seen: no rows, as a STRICT function gives (candidates may
    // be NULL, so the function cannot be STRICT).
    let (Some(model), Some(user_id), Some(k), Some(exclude_seen)) =
        (model, user_id, k, exclude_seen)
    else {
        return TableIterator::new(Vec::new());
    };
    let excluded = texts(&exclude);
    let ask = Ask::new(args(&excluded), fallback, diversity);
    let m = active(model);
    let user = text(&user_id);
    let given = candidates.is_some().then(|| texts(&candidates));
    let keys: Option<Vec<KeyArg<'_>>> = given.as_deref().map(args);
    let rows: Vec<(Uuid, f32)> = crate::serve::recommend_indices(
        model,
        KeyArg::Text(&user),
        k,
        exclude_seen,
        keys.as_deref(),
        &ask,
        &m,
    )
    .into_iter()
    .map(|s| (item_key(model, &m, "recommend", s.index), s.score))
    .collect();
    TableIterator::new(rows)
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, parallel_safe, name = "similar_items")]
pub(crate) fn similar_items_v3_uuid(
    model: &str,
    item_id: Uuid,
    k: default!(i32, 10),
    method: default!(&str, "'embedding'"),
    shrinkage: default!(Option<f32>, "NULL"),
    exclude: default!(Option<Vec<Option<Uuid>>>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<'static, (name!(item_id, Uuid), name!(similarity, f32))> {
    let excluded = texts(&exclude);
    let ask = Ask::new(args(&excluded), None, diversity);
    let m = active(model);
    let item = text(&item_id);
    let rows: Vec<(Uuid, f32)> =
        crate::serve::similar_indices(model, KeyArg::Text(&item), k, method, shrinkage, &ask, &m)
            .into_iter()
            .map(|s| (item_key(model, &m, "similar_items", s.index), s.score))
            .collect();
    TableIterator::new(rows)
}

#[pg_extern(stable, parallel_safe, name = "recommend_for_items")]
pub(crate) fn recommend_for_items_v3_uuid(
    model: &str,
    item_ids: Vec<Option<Uuid>>,
    k: default!(i32, 10),
    exclude: default!(Option<Vec<Option<Uuid>>>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<'static, (name!(item_id, Uuid), name!(score, f32))> {
    let excluded = texts(&exclude);
    let ask = Ask::new(args(&excluded), None, diversity);
    let m = active(model);
    let texts: Vec<String> = item_ids.iter().flatten().map(text).collect();
    let keys: Vec<KeyArg<'_>> = texts.iter().map(|s| KeyArg::Text(s)).collect();
    let rows: Vec<(Uuid, f32)> = crate::fold_in::basket(model, keys, k, &ask, &m)
        .into_iter()
        .map(|s| (item_key(model, &m, "recommend_for_items", s.index), s.score))
        .collect();
    TableIterator::new(rows)
}

#[pg_extern(stable, parallel_safe, name = "score")]
fn score_uuid(
    model: &str,
    user_id: Uuid,
    item_ids: Vec<Option<Uuid>>,
) -> TableIterator<'static, (name!(item_id, Uuid), name!(score, f32))> {
    let m = active(model);
    let user = text(&user_id);
    let texts: Vec<String> = item_ids.iter().flatten().map(text).collect();
    let keys: Vec<KeyArg<'_>> = texts.iter().map(|s| KeyArg::Text(s)).collect();
    let rows: Vec<(Uuid, f32)> = crate::serve::score_indices(model, KeyArg::Text(&user), &keys, &m)
        .into_iter()
        .map(|s| (item_key(model, &m, "score", s.index), s.score))
        .collect();
    TableIterator::new(rows)
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, parallel_safe, name = "recommend_batch")]
pub(crate) fn recommend_batch_v3_uuid(
    model: &str,
    user_ids: Vec<Option<Uuid>>,
    k: default!(i32, 10),
    exclude_seen: default!(bool, true),
    exclude: default!(Option<Vec<Option<Uuid>>>, "NULL"),
    fallback: default!(Option<&str>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<
    'static,
    (
        name!(user_id, Uuid),
        name!(rank, i32),
        name!(item_id, Uuid),
        name!(score, f32),
    ),
> {
    let excluded = texts(&exclude);
    let ask = Ask::new(args(&excluded), fallback, diversity);
    let m = active(model);
    let given: Vec<Uuid> = user_ids.iter().flatten().copied().collect();
    let texts: Vec<String> = given.iter().map(text).collect();
    let keys: Vec<KeyArg<'_>> = texts.iter().map(|s| KeyArg::Text(s)).collect();
    let rows: Vec<(Uuid, i32, Uuid, f32)> =
        crate::serve::batch_rows(model, &keys, k, exclude_seen, &ask, &m)
            .into_iter()
            .map(|(who, rank, s)| {
                let user = match who {
                    BatchUser::Known(u) => key(model, &m.users, "user", "recommend_batch", u),
                    BatchUser::Unknown(pos) => given[pos],
                };
                (
                    user,
                    rank,
                    item_key(model, &m, "recommend_batch", s.index),
                    s.score,
                )
            })
            .collect();
    TableIterator::new(rows)
}

#[pg_extern(stable, parallel_safe, name = "similar_users")]
fn similar_users_uuid(
    model: &str,
    user_id: Uuid,
    k: default!(i32, 10),
) -> TableIterator<'static, (name!(user_id, Uuid), name!(similarity, f32))> {
    let m = active(model);
    let user = text(&user_id);
    let rows: Vec<(Uuid, f32)> =
        crate::serve::similar_user_indices(model, KeyArg::Text(&user), k, &m)
            .into_iter()
            .map(|s| {
                (
                    key(model, &m.users, "user", "similar_users", s.index),
                    s.score,
                )
            })
            .collect();
    TableIterator::new(rows)
}

/// pgrec.popular for uuid keys; user_id has no default (see `popular_int`): pass `NULL::uuid`
/// for uuid keys without a user.
#[pg_extern(stable, parallel_safe, name = "popular")]
fn popular_uuid(
    model: &str,
    k: i32,
    user_id: Option<Uuid>,
    exclude: default!(Option<Vec<Option<Uuid>>>, "NULL"),
) -> TableIterator<'static, (name!(item_id, Uuid), name!(score, f32))> {
    let m = active(model);
    let user = user_id.as_ref().map(text);
    let excluded = texts(&exclude);
    let rows: Vec<(Uuid, f32)> =
        crate::serve::popular_for(k, user.as_deref().map(KeyArg::Text), &args(&excluded), &m)
            .into_iter()
            .map(|s| (item_key(model, &m, "popular", s.index), s.score))
            .collect();
    TableIterator::new(rows)
}

#[pg_extern(volatile, parallel_unsafe, name = "hide_items")]
fn hide_items_uuid(model: &str, item_ids: Vec<Option<Uuid>>) -> i64 {
    let keys: Vec<String> = item_ids.iter().flatten().map(text).collect();
    crate::hidden::hide(model, &keys)
}

#[pg_extern(volatile, parallel_unsafe, name = "unhide_items")]
fn unhide_items_uuid(model: &str, item_ids: Vec<Option<Uuid>>) -> i64 {
    let keys: Vec<String> = item_ids.iter().flatten().map(text).collect();
    crate::hidden::unhide(model, &keys)
}
