//! Symbols release 0.2.0's SQL calls, for the serving functions whose argument lists grew in
//! 0.3.0 (exclude, fallback, diversity). Between installing this library and running `ALTER
//! EXTENSION pgrec UPDATE`, a database still has 0.2.0's definitions, which call these names
//! with their old argument lists; each keeps its 0.2.0 name and arguments (no SQL is generated
//! for it) and answers as the current function does with the new arguments at their defaults
//! (see symbols_0_1.rs for 0.1.0's).

use pgrx::prelude::*;
use pgrx::Uuid;

#[pg_extern(sql = false)]
fn recommend_candidates_int(
    model: Option<&str>,
    user_id: Option<i64>,
    k: Option<i32>,
    exclude_seen: Option<bool>,
    candidates: Option<Vec<Option<i64>>>,
) -> TableIterator<'static, (name!(item_id, i64), name!(score, f32))> {
    crate::recommend::recommend_v3_int(
        model,
        user_id,
        k,
        exclude_seen,
        candidates,
        None,
        None,
        None,
    )
}

#[pg_extern(sql = false)]
fn recommend_candidates_text(
    model: Option<&str>,
    user_id: Option<&str>,
    k: Option<i32>,
    exclude_seen: Option<bool>,
    candidates: Option<Vec<Option<String>>>,
) -> TableIterator<'static, (name!(item_id, String), name!(score, f32))> {
    crate::recommend::recommend_v3_text(
        model,
        user_id,
        k,
        exclude_seen,
        candidates,
        None,
        None,
        None,
    )
}

#[pg_extern(sql = false)]
fn recommend_uuid(
    model: Option<&str>,
    user_id: Option<Uuid>,
    k: Option<i32>,
    exclude_seen: Option<bool>,
    candidates: Option<Vec<Option<Uuid>>>,
) -> TableIterator<'static, (name!(item_id, Uuid), name!(score, f32))> {
    crate::uuid_keys::recommend_v3_uuid(
        model,
        user_id,
        k,
        exclude_seen,
        candidates,
        None,
        None,
        None,
    )
}

#[pg_extern(sql = false)]
fn recommend_batch_int(
    model: &str,
    user_ids: Vec<Option<i64>>,
    k: i32,
    exclude_seen: bool,
) -> TableIterator<
    'static,
    (
        name!(user_id, i64),
        name!(rank, i32),
        name!(item_id, i64),
        name!(score, f32),
    ),
> {
    crate::recommend::recommend_batch_v3_int(model, user_ids, k, exclude_seen, None, None, None)
}

#[pg_extern(sql = false)]
fn recommend_batch_text(
    model: &str,
    user_ids: Vec<Option<String>>,
    k: i32,
    exclude_seen: bool,
) -> TableIterator<
    'static,
    (
        name!(user_id, String),
        name!(rank, i32),
        name!(item_id, String),
        name!(score, f32),
    ),
> {
    crate::recommend::recommend_batch_v3_text(model, user_ids, k, exclude_seen, None, None, None)
}

#[pg_extern(sql = false)]
fn recommend_batch_uuid(
    model: &str,
    user_ids: Vec<Option<Uuid>>,
    k: i32,
    exclude_seen: bool,
) -> TableIterator<
    'static,
    (
        name!(user_id, Uuid),
        name!(rank, i32),
        name!(item_id, Uuid),
        name!(score, f32),
    ),
> {
    crate::uuid_keys::recommend_batch_v3_uuid(model, user_ids, k, exclude_seen, None, None, None)
}

#[pg_extern(sql = false)]
fn recommend_for_items_int(
    model: &str,
    item_ids: Vec<Option<i64>>,
    k: i32,
) -> TableIterator<'static, (name!(item_id, i64), name!(score, f32))> {
    crate::fold_in::recommend_for_items_v3_int(model, item_ids, k, None, None)
}

#[pg_extern(sql = false)]
fn recommend_for_items_text(
    model: &str,
    item_ids: Vec<Option<String>>,
    k: i32,
) -> TableIterator<'static, (name!(item_id, String), name!(score, f32))> {
    crate::fold_in::recommend_for_items_v3_text(model, item_ids, k, None, None)
}

#[pg_extern(sql = false)]
fn recommend_for_items_uuid(
    model: &str,
    item_ids: Vec<Option<Uuid>>,
    k: i32,
) -> TableIterator<'static, (name!(item_id, Uuid), name!(score, f32))> {
    crate::uuid_keys::recommend_for_items_v3_uuid(model, item_ids, k, None, None)
}

#[pg_extern(sql = false)]
fn similar_items_method_int(
    model: &str,
    item_id: i64,
    k: i32,
    method: &str,
    shrinkage: Option<f32>,
) -> TableIterator<'static, (name!(item_id, i64), name!(similarity, f32))> {
    crate::similar::similar_items_v3_int(model, item_id, k, method, shrinkage, None, None)
}

#[pg_extern(sql = false)]
fn similar_items_method_text(
    model: &str,
    item_id: &str,
    k: i32,
    method: &str,
    shrinkage: Option<f32>,
) -> TableIterator<'static, (name!(item_id, String), name!(similarity, f32))> {
    crate::similar::similar_items_v3_text(model, item_id, k, method, shrinkage, None, None)
}

#[pg_extern(sql = false)]
fn similar_items_uuid(
    model: &str,
    item_id: Uuid,
    k: i32,
    method: &str,
    shrinkage: Option<f32>,
) -> TableIterator<'static, (name!(item_id, Uuid), name!(similarity, f32))> {
    crate::uuid_keys::similar_items_v3_uuid(model, item_id, k, method, shrinkage, None, None)
}
