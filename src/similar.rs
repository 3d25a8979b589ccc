//! pgrec.similar_items (items near an item, by embedding cosine or co-occurrence; hidden and
//! excluded items left out, diversity on request) and pgrec.similar_users, for integer and
//! text keys.

use pgrx::prelude::*;

use crate::cache::active;
use crate::keys::{int_keys, text_keys, KeyArg};
use crate::serve::{
    require_int_items, require_int_keys, similar_indices, similar_user_indices, Ask,
};

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, parallel_safe, name = "similar_items")]
pub(crate) fn similar_items_v3_int(
    model: &str,
    item_id: i64,
    k: default!(i32, 10),
    method: default!(&str, "'embedding'"),
    shrinkage: default!(Option<f32>, "NULL"),
    exclude: default!(Option<Vec<Option<i64>>>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<'static, (name!(item_id, i64), name!(similarity, f32))> {
    let ask = Ask::new(int_keys(&exclude), None, diversity);
    let m = active(model);
    require_int_items(model, &m, "similar_items", "item_id::text");
    let rows: Vec<(i64, f32)> =
        similar_indices(model, KeyArg::Int(item_id), k, method, shrinkage, &ask, &m)
            .into_iter()
            .filter_map(|s| m.items.int_key(s.index).map(|key| (key, s.score)))
            .collect();
    TableIterator::new(rows)
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(stable, parallel_safe, name = "similar_items")]
pub(crate) fn similar_items_v3_text(
    model: &str,
    item_id: &str,
    k: default!(i32, 10),
    method: default!(&str, "'embedding'"),
    shrinkage: default!(Option<f32>, "NULL"),
    exclude: default!(Option<Vec<Option<String>>>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<'static, (name!(item_id, String), name!(similarity, f32))> {
    let ask = Ask::new(text_keys(&exclude), None, diversity);
    let m = active(model);
    let rows: Vec<(String, f32)> =
        similar_indices(model, KeyArg::Text(item_id), k, method, shrinkage, &ask, &m)
            .into_iter()
            .map(|s| (m.items.text_key(s.index), s.score))
            .collect();
    TableIterator::new(rows)
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
