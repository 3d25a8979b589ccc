//! pgrec.explain: which of a user's own items make an item's score. The user's training rows
//! are read again from the version's recorded source (with the caller's privileges, weighed as
//! the version was trained), the user's vector is solved from them in the algorithm's closed
//! form (`Configured::explain`), and each item's share of the item's score comes back with the
//! rest (biases and the items not shown), the explanation's score and the served score.

use pgrec_core::algo::fold::{FoldTarget, History};
use pgrec_core::train::Scorer;
use pgrx::prelude::*;
use pgrx::Uuid;
use std::rc::Rc;

use crate::cache::{active, ServingModel};
use crate::errors::{raise, Code};
use crate::fold_in::{configured, read_history};
use crate::keys::{map_keys, KeyArg, KeyKind};
use crate::serve::check_k;
use crate::source::{from_item, quote_ident, SourceSpec};

/// One row of pgrec.explain: the history item (None for the rest), its share, the score of
/// the explanation's vector, the served score (None for a user the model does not know) and
/// whether the shares are exact.
type Row = (Option<u32>, f32, f32, Option<f32>, bool);

/// The explanation of `item` for `user`: the k largest shares, largest first, then the rest.
fn explain_rows(
    model: &str,
    user: KeyArg<'_>,
    item: KeyArg<'_>,
    k: i32,
) -> (Rc<ServingModel>, Vec<Row>) {
    let k = check_k(k);
    let m = active(model);
    let (algorithm, c) = configured(&m);
    if m.info.scorer != Scorer::Dot {
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("model \"{model}\" (algorithm {algorithm}) scores a pair with a network, so its scores have no per-item shares"),
            Some("Explanations need a model scored by a dot product (mf, als, ials, bpr, ease, two_tower)."),
        );
    }
    if m.info.distributed {
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("model \"{model}\" is served here from the coordinator's copy; explain it on the coordinator"),
            None,
        );
    }
    let Some(i) = m.items.find(item) else {
        pgrx::notice!("pgrec: the item is not in model \"{model}\"");
        return (m, Vec::new());
    };
    let view = m.view();
    let served = m.users.find(user).map(|u| view.predict(m.kernels, u, i));
    // The user's rows of the version's source.
    let recipe = crate::catalog::training_recipe(m.info.id);
    // The key as a quoted literal, which PostgreSQL reads as the column's own type.
    let key = match user {
        KeyArg::Int(n) => n.to_string(),
        KeyArg::Text(s) => s.to_string(),
    };
    let literal =
        crate::spi::select_one::<String>("SELECT quote_literal($1)", &[key.as_str().into()])
            .unwrap_or_else(|| "NULL".into());
    let query = format!(
        "SELECT * FROM {} WHERE pgrec_source.{} = {literal}",
        from_item(&recipe.source),
        quote_ident(&recipe.user_col)
    );
    let data = read_history(
        model,
        &algorithm,
        &*c,
        &m,
        &SourceSpec {
            source: &query,
            user_col: &recipe.user_col,
            item_col: &recipe.item_col,
            rating_col: recipe.rating_col.as_deref(),
            weights: None,
        },
    );
    let item_map = map_keys(&data.items, &m.items);
    let mut rows: Vec<(u32, f32, f32)> = data
        .ratings
        .iter()
        .enumerate()
        .filter_map(|(n, r)| {
            let w = data.weighted.as_ref().map_or(r.value, |w| w[n]);
            item_map[r.item as usize].map(|j| (j, r.value, w))
        })
        .collect();
    rows.sort_unstable_by_key(|p| p.0);
    if rows.is_empty() {
        pgrx::notice!(
            "pgrec: the user has no rows of known items in the source of model \"{model}\""
        );
    }
    let items: Vec<u32> = rows.iter().map(|p| p.0).collect();
    let values: Vec<f32> = rows.iter().map(|p| p.1).collect();
    let weighted: Vec<f32> = rows.iter().map(|p| p.2).collect();
    let target = FoldTarget {
        model: view,
        item_gram: &m.item_gram,
        learned: m.learned(),
    };
    let history = History {
        items: &items,
        values: &values,
        weighted: data.weighted.as_ref().map(|_| &weighted[..]),
    };
    let Some(e) = c.explain(&target, history, i) else {
        raise(
            Code::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            format!("the user's system of model \"{model}\" cannot be solved, so it cannot be explained"),
            None,
        )
    };
    let mut shares: Vec<(u32, f32)> = e
        .items
        .iter()
        .copied()
        .zip(e.contributions.iter().copied())
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    shares.truncate(k);
    let shown: f32 = shares.iter().map(|s| s.1).sum();
    let mut out: Vec<Row> = shares
        .into_iter()
        .map(|(j, c)| (Some(j), c, e.score, served, e.exact))
        .collect();
    out.push((None, e.score - shown, e.score, served, e.exact));
    (m, out)
}

#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_safe, name = "explain")]
fn explain_int(
    model: &str,
    user_id: i64,
    item_id: i64,
    k: default!(i32, 5),
) -> TableIterator<
    'static,
    (
        name!(item_id, Option<i64>),
        name!(contribution, f32),
        name!(score, f32),
        name!(served_score, Option<f32>),
        name!(exact, bool),
    ),
> {
    if active(model).items.kind() != KeyKind::Int {
        raise(
            Code::ERRCODE_DATATYPE_MISMATCH,
            format!("model \"{model}\" has text item keys, so item_id must be text"),
            Some("Pass the ids as text: pgrec.explain(model, user_id::text, item_id::text)."),
        );
    }
    let (m, rows) = explain_rows(model, KeyArg::Int(user_id), KeyArg::Int(item_id), k);
    TableIterator::new(
        rows.into_iter()
            .map(|(j, c, s, v, x)| (j.and_then(|j| m.items.int_key(j)), c, s, v, x))
            .collect::<Vec<_>>(),
    )
}

#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_safe, name = "explain")]
fn explain_text(
    model: &str,
    user_id: &str,
    item_id: &str,
    k: default!(i32, 5),
) -> TableIterator<
    'static,
    (
        name!(item_id, Option<String>),
        name!(contribution, f32),
        name!(score, f32),
        name!(served_score, Option<f32>),
        name!(exact, bool),
    ),
> {
    let (m, rows) = explain_rows(model, KeyArg::Text(user_id), KeyArg::Text(item_id), k);
    TableIterator::new(
        rows.into_iter()
            .map(|(j, c, s, v, x)| (j.map(|j| m.items.text_key(j)), c, s, v, x))
            .collect::<Vec<_>>(),
    )
}

#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_safe, name = "explain")]
fn explain_uuid(
    model: &str,
    user_id: Uuid,
    item_id: Uuid,
    k: default!(i32, 5),
) -> TableIterator<
    'static,
    (
        name!(item_id, Option<Uuid>),
        name!(contribution, f32),
        name!(score, f32),
        name!(served_score, Option<f32>),
        name!(exact, bool),
    ),
> {
    let (user, item) = (user_id.to_string(), item_id.to_string());
    let (m, rows) = explain_rows(model, KeyArg::Text(&user), KeyArg::Text(&item), k);
    TableIterator::new(
        rows.into_iter()
            .map(|(j, c, s, v, x)| {
                (
                    j.map(|j| crate::uuid_keys::item_key(model, &m, "explain", j)),
                    c,
                    s,
                    v,
                    x,
                )
            })
            .collect::<Vec<_>>(),
    )
}
