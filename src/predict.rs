//! pgrec.predict (the score of one user-item pair) and pgrec.score (re-ranks a caller's list of
//! items for a user), for integer and text keys.

use pgrx::prelude::*;

use crate::cache::active;
use crate::keys::KeyArg;
use crate::serve::{predict_keys, require_int_items, score_indices};

#[pg_extern(stable, parallel_safe, name = "predict")]
fn predict_int_int(model: &str, user_id: i64, item_id: i64) -> Option<f32> {
    predict_keys(model, KeyArg::Int(user_id), KeyArg::Int(item_id))
}

#[pg_extern(stable, parallel_safe, name = "predict")]
fn predict_text_text(model: &str, user_id: &str, item_id: &str) -> Option<f32> {
    predict_keys(model, KeyArg::Text(user_id), KeyArg::Text(item_id))
}

#[pg_extern(stable, parallel_safe, name = "predict")]
fn predict_int_text(model: &str, user_id: i64, item_id: &str) -> Option<f32> {
    predict_keys(model, KeyArg::Int(user_id), KeyArg::Text(item_id))
}

#[pg_extern(stable, parallel_safe, name = "predict")]
fn predict_text_int(model: &str, user_id: &str, item_id: i64) -> Option<f32> {
    predict_keys(model, KeyArg::Text(user_id), KeyArg::Int(item_id))
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
