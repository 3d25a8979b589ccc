//! Fold-in without retraining: `pgrec.recommend_for_items` embeds an anonymous basket and
//! recommends for it (nothing is stored); `pgrec.fold_in` embeds the users of a source from their
//! histories against the active version's item factors and adds them to (or replaces them in)
//! that version. Both configure the version's algorithm from its stored params and call its
//! `fold_in` (closed form for als, ials and mf; seeded SGD for bpr). `pgrec.fold_in_items` folds
//! items in the same way with the sides swapped, or for ncf and two_tower encodes them from
//! their features through the stored item tower.

use pgrec_core::algo::contract::{Configured, ToEncode};
use pgrec_core::algo::fold::{FoldTarget, FoldedUser, History, TrainedRows};
use pgrec_core::algo::registry;
use pgrec_core::data::{find_duplicate, merge_sorted_duplicates};
use pgrec_core::features::FeatureSpec;
use pgrec_core::topk::{top_k, Scored};
use pgrec_core::train::Target;
use pgrx::prelude::*;

use crate::access::{require_existing_owner, OWNER_ONLY};
use crate::cache::{active, ServingModel};
use crate::catalog::recipe_of;
use crate::errors::{raise, required, Code, OrRaise};
use crate::features::Selection;
use crate::keys::map_keys;
use crate::keys::{int_keys, text_keys, KeyArg, KeyKind};
use crate::serve::{check_k, diversify, ranked_for, Ask, LeftOut};
use crate::source::{load, SourceSpec};
use crate::spi::require_current_catalog;

/// The version's algorithm configured from its stored params, and its name.
pub(crate) fn configured(m: &ServingModel) -> (String, Box<dyn Configured>) {
    let (algorithm, params) = recipe_of(&m.info);
    let entry = registry::find(&algorithm).and_then(|e| e.configure);
    match entry {
        Some(configure) => (algorithm, configure(&params).or_raise()),
        None => raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("algorithm \"{algorithm}\" is not available in this version of pgrec"),
            None,
        ),
    }
}

fn fold_one(
    model: &str,
    algorithm: &str,
    c: &dyn Configured,
    m: &ServingModel,
    h: History<'_>,
) -> FoldedUser {
    let target = FoldTarget {
        model: m.view(),
        item_gram: &m.item_gram,
        learned: m.learned(),
    };
    match c.fold_in(&target, h) {
        Some(u) => u,
        None => raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("model \"{model}\" (algorithm {algorithm}) cannot fold in users"),
            Some(&registry::fold_in_hint()),
        ),
    }
}

/// Recommendations for a basket of item keys: the basket is folded in as one user (with value 1,
/// or the positive_threshold when higher, for ranking models, the top rating for rating models)
/// and its items are excluded, with the hidden items and the call's `exclude`.
pub(crate) fn basket(
    model: &str,
    keys: Vec<KeyArg<'_>>,
    k: i32,
    ask: &Ask<'_>,
    m: &ServingModel,
) -> Vec<Scored> {
    let k = check_k(k);
    let mut items: Vec<u32> = keys.iter().filter_map(|key| m.items.find(*key)).collect();
    items.sort_unstable();
    items.dedup();
    let unknown = keys.len()
        - keys
            .iter()
            .filter(|key| m.items.find(**key).is_some())
            .count();
    if unknown > 0 {
        pgrx::notice!(
            "pgrec: {unknown} of the {} basket items are not in model \"{model}\"",
            keys.len()
        );
    }
    if items.is_empty() {
        return Vec::new();
    }
    let (algorithm, c) = configured(m);
    // A basket item counts as a positive: at least the model's positive_threshold.
    let value = match m.info.target {
        Target::Rating => m
            .view()
            .rating_range
            .map(|r| r.1)
            .unwrap_or(m.view().global_mean + 1.0),
        Target::Relevance => c.positive_threshold().map_or(1.0, |t| t.max(1.0)),
    };
    let values = vec![value; items.len()];
    let user = fold_one(
        model,
        &algorithm,
        &*c,
        m,
        History {
            items: &items,
            values: &values,
            weighted: None,
        },
    );
    let view = m.view();
    let base = view.global_mean + user.bias;
    let scores: Vec<f32> = (0..view.n_items() as u32)
        .map(|i| base + view.item_bias[i as usize] + m.kernels.dot(&user.factors, view.item(i)))
        .collect();
    let left = LeftOut::new(m, &ask.exclude);
    let ranked = top_k(
        &scores,
        ranked_for(k, ask.diversity),
        left.skip().and(&items),
    );
    diversify(m, ranked, k, ask.diversity)
}

#[pg_extern(stable, parallel_safe, name = "recommend_for_items")]
pub(crate) fn recommend_for_items_v3_int(
    model: &str,
    item_ids: Vec<Option<i64>>,
    k: default!(i32, 10),
    exclude: default!(Option<Vec<Option<i64>>>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<'static, (name!(item_id, i64), name!(score, f32))> {
    let ask = Ask::new(int_keys(&exclude), None, diversity);
    let m = active(model);
    if m.items.kind() != KeyKind::Int {
        raise(
            Code::ERRCODE_DATATYPE_MISMATCH,
            format!("model \"{model}\" has text item keys, so item_ids must be text[]"),
            Some("Pass the ids as text: pgrec.recommend_for_items(model, item_ids::text[], k)."),
        );
    }
    let keys: Vec<KeyArg<'_>> = item_ids.iter().flatten().map(|&i| KeyArg::Int(i)).collect();
    let rows: Vec<(i64, f32)> = basket(model, keys, k, &ask, &m)
        .into_iter()
        .filter_map(|s| m.items.int_key(s.index).map(|key| (key, s.score)))
        .collect();
    TableIterator::new(rows)
}

#[pg_extern(stable, parallel_safe, name = "recommend_for_items")]
pub(crate) fn recommend_for_items_v3_text(
    model: &str,
    item_ids: Vec<Option<String>>,
    k: default!(i32, 10),
    exclude: default!(Option<Vec<Option<String>>>, "NULL"),
    diversity: default!(Option<f32>, 0),
) -> TableIterator<'static, (name!(item_id, String), name!(score, f32))> {
    let ask = Ask::new(text_keys(&exclude), None, diversity);
    let m = active(model);
    let keys: Vec<KeyArg<'_>> = item_ids.iter().flatten().map(|s| KeyArg::Text(s)).collect();
    let rows: Vec<(String, f32)> = basket(model, keys, k, &ask, &m)
        .into_iter()
        .map(|s| (m.items.text_key(s.index), s.score))
        .collect();
    TableIterator::new(rows)
}

/// The interactions of `source` for a fold-in into `m`: its keys of the model's kinds,
/// sorted by (user, item), duplicates summed or refused as the algorithm's training does; with
/// the version's row weights, each row's weight x value in `weighted`.
pub(crate) fn read_history(
    model: &str,
    algorithm: &str,
    c: &dyn Configured,
    m: &ServingModel,
    spec: &SourceSpec<'_>,
) -> crate::source::Loaded {
    if c.needs_ratings() && spec.rating_col.is_none() {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "model \"{model}\" (algorithm {algorithm}) needs ratings, but rating_col is NULL"
            ),
            Some("Name the rating column with rating_col."),
        );
    }
    // A version trained with row weights weighs the folded rows the same way, with its own
    // time anchor.
    let stored = crate::cache::serving_params(&m.info).weights;
    let spec = SourceSpec {
        weights: stored.is_some().then_some(&stored),
        ..spec.clone()
    };
    let mut data = load(&spec, &crate::memory_guard::check_rows_read);
    for (side, got, want) in [
        ("user", data.users.kind(), m.users.kind()),
        ("item", data.items.kind(), m.items.kind()),
    ] {
        if got != want {
            raise(
                Code::ERRCODE_DATATYPE_MISMATCH,
                format!(
                    "the source's {side} keys are {}, the model's are {}",
                    got.sql_name(),
                    want.sql_name()
                ),
                Some(&format!(
                    "Cast the key column to {} in a query: SELECT {side}_col::{} AS ..., ...",
                    want.sql_name(),
                    want.sql_name()
                )),
            );
        }
    }
    let mut weighted = None;
    if stored.is_some() {
        let w = pgrec_core::data::row_weights(
            data.ratings.len(),
            &data.event_weights,
            &data.times,
            stored.anchor.zip(stored.half_life_seconds()),
        );
        let mut wv = if c.weighs_loss() {
            // Scaled as the training scaled its rows (by their mean weight).
            let mean = crate::spi::select_one::<f64>(
                "SELECT (metrics->>$2)::float8 FROM pgrec.model_versions WHERE id = $1",
                &[m.info.id.into(), pgrec_core::data::LOSS_WEIGHT_MEAN.into()],
            )
            .filter(|x| x.is_finite() && *x > 0.0)
            .unwrap_or(1.0);
            w.iter().map(|&x| (x as f64 / mean) as f32).collect()
        } else {
            pgrec_core::data::weighted_values(&data.ratings, &w)
        };
        pgrec_core::data::sort_weighted(None, &mut data.ratings, &mut wv, c.sums_duplicates());
        weighted = Some(wv);
    } else {
        data.ratings.sort_unstable_by_key(|r| (r.user, r.item));
        if c.sums_duplicates() {
            merge_sorted_duplicates(&mut data.ratings);
        }
    }
    if let Some((u, i)) = find_duplicate(&data.ratings).filter(|_| !c.sums_duplicates()) {
        raise(
            Code::ERRCODE_CARDINALITY_VIOLATION,
            format!(
                "source has more than one rating for user {} and item {}",
                data.users.text_key(u),
                data.items.text_key(i)
            ),
            Some("Aggregate duplicates first."),
        );
    }
    data.weighted = weighted;
    data
}

/// One user row to write: its index in the version, key, bias, vector and seen items.
struct UserRow {
    idx: i32,
    id: Option<i64>,
    key: Option<String>,
    bias: f32,
    factors: Vec<f32>,
    seen: Vec<i32>,
}

/// After a fold-in wrote to version `info`: a version row changed again in the transaction that
/// last changed it keeps its stamp (its xmin), so a serving file this transaction built before
/// the change (e.g. pgrec.train then fold_in in one transaction) would be served stale, here
/// and, after commit, everywhere. Such a file is removed; the next call builds it again from
/// the tables. (A stamp that moved names a new file anyway.)
fn drop_stale_file(info: &crate::version::VersionInfo) {
    let stamp = crate::spi::select_one::<i64>(
        "SELECT xmin::text::int8 FROM pgrec.model_versions WHERE id = $1",
        &[info.id.into()],
    );
    if stamp == Some(info.stamp) {
        crate::store_file::remove_stamp(info.id, info.stamp);
    }
}

/// Rows written per statement.
const WRITE_BATCH: usize = 10_000;

#[pg_extern(volatile, parallel_unsafe, name = "fold_in")]
fn fold_in(
    model: Option<&str>,
    source: Option<&str>,
    user_col: default!(Option<&str>, "'user_id'"),
    item_col: default!(Option<&str>, "'item_id'"),
    rating_col: default!(Option<&str>, "'rating'"),
) -> i64 {
    crate::errors::require_primary("fold_in");
    let model = required(model, "model");
    let source = required(source, "source");
    let user_col = required(user_col, "user_col");
    let item_col = required(item_col, "item_col");
    require_existing_owner(model, "fold users into", Some(OWNER_ONLY));
    require_current_catalog();
    // One writer per model at a time (the same lock as training): new users get fresh indices.
    crate::catalog::lock_model(model);
    let m = active(model);
    let (algorithm, c) = configured(&m);
    let data = read_history(
        model,
        &algorithm,
        &*c,
        &m,
        &SourceSpec {
            source,
            user_col,
            item_col,
            rating_col,
            weights: None,
        },
    );
    let item_map = map_keys(&data.items, &m.items);
    let user_map = map_keys(&data.users, &m.users);
    let k = m.view().factors;
    let n_model_users = m.view().n_users();
    // Per source user: (model index, key, bias, vector, seen items).
    let mut out: Vec<UserRow> = Vec::new();
    let mut unknown_items = 0usize;
    let mut start = 0;
    while start < data.ratings.len() {
        let u = data.ratings[start].user;
        let end = start + data.ratings[start..].partition_point(|r| r.user == u);
        let mut rows: Vec<(u32, f32, f32)> = Vec::new();
        for (n, r) in data.ratings[start..end].iter().enumerate() {
            let w = data.weighted.as_ref().map_or(r.value, |w| w[start + n]);
            match item_map[r.item as usize] {
                Some(i) => rows.push((i, r.value, w)),
                None => unknown_items += 1,
            }
        }
        start = end;
        if rows.is_empty() {
            continue;
        }
        rows.sort_unstable_by_key(|p| p.0);
        let seen: Vec<i32> = rows.iter().map(|p| p.0 as i32).collect();
        // Every row goes to the algorithm, which treats rows below its positive_threshold
        // as its training did.
        let items: Vec<u32> = rows.iter().map(|p| p.0).collect();
        let values: Vec<f32> = rows.iter().map(|p| p.1).collect();
        let weighted: Vec<f32> = rows.iter().map(|p| p.2).collect();
        let user = fold_one(
            model,
            &algorithm,
            &*c,
            &m,
            History {
                items: &items,
                values: &values,
                weighted: data.weighted.as_ref().map(|_| &weighted[..]),
            },
        );
        let idx = match user_map[u as usize] {
            Some(existing) => existing as usize,
            None => {
                n_model_users
                    + out
                        .iter()
                        .filter(|o| o.idx as usize >= n_model_users)
                        .count()
            }
        };
        out.push(UserRow {
            idx: idx as i32,
            id: data.users.int_key(u),
            key: (data.users.kind() == KeyKind::Text).then(|| data.users.text_key(u)),
            bias: user.bias,
            factors: user.factors,
            seen,
        });
    }
    if unknown_items > 0 {
        pgrx::notice!("pgrec: {unknown_items} rows name items that model \"{model}\" does not know; they were skipped");
    }
    let new_users = out
        .iter()
        .filter(|o| o.idx as usize >= n_model_users)
        .count();
    write_users(m.info.id, k, &out);
    Spi::connect_mut(|c| {
        c.update(
            "UPDATE pgrec.model_versions SET n_users = n_users + $2, \
                    metrics = metrics || jsonb_build_object('n_folded_in', \
                        COALESCE((metrics->>'n_folded_in')::int8, 0) + $3) \
             WHERE id = $1",
            None,
            &[
                m.info.id.into(),
                (new_users as i64).into(),
                (out.len() as i64).into(),
            ],
        )
        .map(|_| ())
        .or_raise()
    });
    drop_stale_file(&m.info);
    crate::changed::model_changed(model);
    out.len() as i64
}

/// One item row to write: its index in the version, key, bias and vector.
struct ItemRow {
    idx: i32,
    id: Option<i64>,
    key: Option<String>,
    bias: f32,
    factors: Vec<f32>,
}

/// pgrec.fold_in_items: new (or changed) items from their interactions against the active
/// version's user factors, added to that version: the fit that folds users in, with the sides
/// swapped (`ModelView::transposed`). Their users' seen lists gain them, so `exclude_seen`
/// keeps them out of those users' recommendations. Servable by the next call (the version's
/// stamp moves, so every backend rebuilds its serving file, IVF index included).
#[pg_extern(volatile, parallel_unsafe, name = "fold_in_items")]
fn fold_in_items(
    model: Option<&str>,
    source: Option<&str>,
    user_col: default!(Option<&str>, "'user_id'"),
    item_col: default!(Option<&str>, "'item_id'"),
    rating_col: default!(Option<&str>, "'rating'"),
) -> i64 {
    crate::errors::require_primary("fold_in_items");
    let model = required(model, "model");
    let source = required(source, "source");
    let user_col = required(user_col, "user_col");
    let item_col = required(item_col, "item_col");
    require_existing_owner(model, "fold items into", Some(OWNER_ONLY));
    require_current_catalog();
    crate::catalog::lock_model(model);
    let m = active(model);
    let (algorithm, c) = configured(&m);
    let spec = SourceSpec {
        source,
        user_col,
        item_col,
        rating_col,
        weights: None,
    };
    if registry::encodes_items_from_features(&algorithm) {
        return fold_in_feature_items(model, &m, &algorithm, &*c, &spec);
    }
    let view = m.view();
    let swapped = match view.transposed() {
        Some(t) if registry::can_fold_in_items(&algorithm) => t,
        _ => raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("model \"{model}\" (algorithm {algorithm}) cannot fold in items"),
            Some(&registry::fold_in_items_hint()),
        ),
    };
    let mut data = read_history(model, &algorithm, &*c, &m, &spec);
    // By item: the weighted values travel with their rows.
    let weights = data.weighted.is_some();
    let mut rows: Vec<(pgrec_core::Rating, f32)> = match data.weighted.take() {
        Some(w) => data.ratings.iter().copied().zip(w).collect(),
        None => data.ratings.iter().map(|r| (*r, r.value)).collect(),
    };
    rows.sort_unstable_by_key(|(r, _)| (r.item, r.user));
    data.ratings = rows.iter().map(|p| p.0).collect();
    let by_item_weighted: Vec<f32> = rows.into_iter().map(|p| p.1).collect();
    let item_map = map_keys(&data.items, &m.items);
    let user_map = map_keys(&data.users, &m.users);
    let target = FoldTarget {
        model: swapped,
        item_gram: &m.user_gram,
        learned: m.learned(),
    };
    let n_model_items = view.n_items();
    let trained = TrainedRows {
        seen: m.seen(),
        positives: crate::spi::select_one::<i64>(
            "SELECT (metrics->>'n_positives')::int8 FROM pgrec.model_versions WHERE id = $1",
            &[m.info.id.into()],
        )
        .map(|p| p.max(0) as u64),
    };
    let mut out: Vec<ItemRow> = Vec::new();
    // (user index, item index) of every folded interaction: the users' seen lists gain them.
    let mut seen_pairs: Vec<(i32, i32)> = Vec::new();
    let mut unknown_users = 0usize;
    let mut start = 0;
    while start < data.ratings.len() {
        pgrx::check_for_interrupts!();
        let i = data.ratings[start].item;
        let end = start + data.ratings[start..].partition_point(|r| r.item == i);
        let mut rows: Vec<(u32, f32, f32)> = Vec::new();
        for (n, r) in data.ratings[start..end].iter().enumerate() {
            match user_map[r.user as usize] {
                Some(u) => rows.push((u, r.value, by_item_weighted[start + n])),
                None => unknown_users += 1,
            }
        }
        start = end;
        if rows.is_empty() {
            continue;
        }
        rows.sort_unstable_by_key(|p| p.0);
        let users: Vec<u32> = rows.iter().map(|p| p.0).collect();
        let values: Vec<f32> = rows.iter().map(|p| p.1).collect();
        let weighted: Vec<f32> = rows.iter().map(|p| p.2).collect();
        let Some(item) = c.fold_in_item(
            &target,
            History {
                items: &users,
                values: &values,
                weighted: weights.then_some(&weighted[..]),
            },
            &trained,
        ) else {
            raise(
                Code::ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("model \"{model}\" (algorithm {algorithm}) cannot fold in items"),
                Some(&registry::fold_in_items_hint()),
            )
        };
        let idx = match item_map[i as usize] {
            Some(existing) => existing as usize,
            None => {
                n_model_items
                    + out
                        .iter()
                        .filter(|o| o.idx as usize >= n_model_items)
                        .count()
            }
        };
        seen_pairs.extend(users.iter().map(|&u| (u as i32, idx as i32)));
        out.push(ItemRow {
            idx: idx as i32,
            id: data.items.int_key(i),
            key: (data.items.kind() == KeyKind::Text).then(|| data.items.text_key(i)),
            bias: item.bias,
            factors: item.factors,
        });
    }
    if unknown_users > 0 {
        pgrx::notice!("pgrec: {unknown_users} rows name users that model \"{model}\" does not know; they were skipped");
    }
    store_items(model, &m, &out, &seen_pairs)
}

/// Writes folded-in item rows (and their users' seen lists) into the active version `m` of
/// `model`, counts them in the version, and makes every serving path see them. Returns how
/// many rows were written.
fn store_items(model: &str, m: &ServingModel, out: &[ItemRow], seen_pairs: &[(i32, i32)]) -> i64 {
    let view = m.view();
    let n_model_items = view.n_items();
    let new_items = out
        .iter()
        .filter(|o| o.idx as usize >= n_model_items)
        .count();
    write_items(m.info.id, view.factors, out);
    add_seen(m.info.id, seen_pairs);
    Spi::connect_mut(|c| {
        c.update(
            "UPDATE pgrec.model_versions SET n_items = n_items + $2, \
                    metrics = metrics || jsonb_build_object('n_items_folded_in', \
                        COALESCE((metrics->>'n_items_folded_in')::int8, 0) + $3) \
             WHERE id = $1",
            None,
            &[
                m.info.id.into(),
                (new_items as i64).into(),
                (out.len() as i64).into(),
            ],
        )
        .map(|_| ())
        .or_raise()
    });
    drop_stale_file(&m.info);
    crate::changed::model_changed(model);
    out.len() as i64
}

/// pgrec.fold_in_items of a model whose items come from features (ncf, two_tower): the items
/// named by the interactions source (which may be empty) and every item of the version's
/// recorded item_features that the version does not have are encoded by the trained item
/// tower from their features, as training encoded items it had no rows for (a trained item
/// keeps its id embedding). New items are numbered in key order. Known users' seen lists gain
/// the items they interacted with.
fn fold_in_feature_items(
    model: &str,
    m: &ServingModel,
    algorithm: &str,
    c: &dyn Configured,
    spec: &SourceSpec<'_>,
) -> i64 {
    let recipe = crate::catalog::training_recipe(m.info.id);
    let specs: Option<Vec<FeatureSpec>> = crate::spi::select_one::<pgrx::JsonB>(
        "SELECT features->'item' FROM pgrec.model_versions WHERE id = $1",
        &[m.info.id.into()],
    )
    .and_then(|j| serde_json::from_value(j.0).ok())
    .filter(|s: &Vec<FeatureSpec>| !s.is_empty());
    let (Some(item_features), Some(specs)) = (recipe.item_features, specs) else {
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("model \"{model}\" (algorithm {algorithm}) was trained without item_features, so it cannot encode new items"),
            Some("Retrain it with item_features (new items are then encoded from their features), or retrain with the new items."),
        )
    };
    let mut data = read_history(model, algorithm, c, m, spec);
    let named = data.items.len();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let mut builder = crate::features::load_features(
        &item_features,
        &recipe.item_col,
        &mut data.items,
        &Selection {
            arg: "item_features",
            include_param: "the version's feature list",
            include: Some(&names),
            exclude: &[],
        },
    );
    // Items in key order, whatever order the sources return them in.
    let order = data.items.sort_keys();
    builder.renumber(&order);
    let n = data.items.len();
    let features = builder.encode_with(&specs, n).or_raise();
    let mut named_item = vec![false; n];
    for &o in &order[..named] {
        named_item[o as usize] = true;
    }
    let identity: Vec<u32> = (0..data.users.len() as u32).collect();
    pgrec_core::data::renumber(&mut data.ratings, &identity, &order);
    let item_map = map_keys(&data.items, &m.items);
    let user_map = map_keys(&data.users, &m.users);
    let n_model_items = m.view().n_items();
    let mut chosen: Vec<ToEncode> = Vec::new();
    let mut idx_of = vec![None; n];
    for e in 0..n {
        if !named_item[e] && item_map[e].is_some() {
            continue;
        }
        let idx = item_map[e].unwrap_or_else(|| {
            (n_model_items + chosen.iter().filter(|t| t.id_row.is_none()).count()) as u32
        });
        idx_of[e] = Some(idx);
        chosen.push(ToEncode {
            feature_row: e as u32,
            id_row: item_map[e],
        });
    }
    pgrx::check_for_interrupts!();
    let tensors = crate::cache::read_tensors(m.info.id, "item.%");
    let Some(encoded) = c.encode_items(&tensors, &features, &chosen) else {
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("model \"{model}\" (algorithm {algorithm}) cannot fold in items"),
            Some(&registry::fold_in_items_hint()),
        )
    };
    let (vecs, bias) = encoded.unwrap_or_else(|e| {
        raise(
            Code::ERRCODE_DATA_CORRUPTED,
            format!("pgrec: model \"{model}\" cannot encode items: {e}"),
            e.hint(),
        )
    });
    let k = m.view().factors;
    let out: Vec<ItemRow> = chosen
        .iter()
        .zip(vecs.chunks_exact(k).zip(bias))
        .map(|(t, (v, b))| {
            let e = t.feature_row;
            ItemRow {
                idx: idx_of[e as usize].unwrap_or_default() as i32,
                id: data.items.int_key(e),
                key: (data.items.kind() == KeyKind::Text).then(|| data.items.text_key(e)),
                bias: b,
                factors: v.to_vec(),
            }
        })
        .collect();
    let mut seen_pairs: Vec<(i32, i32)> = data
        .ratings
        .iter()
        .filter_map(|r| {
            let u = user_map[r.user as usize]?;
            Some((u as i32, idx_of[r.item as usize]? as i32))
        })
        .collect();
    seen_pairs.sort_unstable();
    store_items(model, m, &out, &seen_pairs)
}

/// Replaces (or adds) the given item rows of a version.
fn write_items(version_id: i64, k: usize, rows: &[ItemRow]) {
    for batch in rows.chunks(WRITE_BATCH) {
        let idx: Vec<i32> = batch.iter().map(|r| r.idx).collect();
        let ids: Vec<Option<i64>> = batch.iter().map(|r| r.id).collect();
        let keys: Vec<Option<String>> = batch.iter().map(|r| r.key.clone()).collect();
        let bias: Vec<f32> = batch.iter().map(|r| r.bias).collect();
        let emb: Vec<f32> = batch
            .iter()
            .flat_map(|r| r.factors.iter().copied())
            .collect();
        Spi::connect_mut(|c| {
            c.update(
                "DELETE FROM pgrec.item_factors WHERE version_id = $1 AND idx = ANY($2)",
                None,
                &[version_id.into(), idx.clone().into()],
            )
            .or_raise();
            c.update(
                "INSERT INTO pgrec.item_factors (version_id, idx, item_id, item_key, bias, embedding) \
                 SELECT $1, t.idx, t.id, t.key, t.bias, $6[(t.o::int - 1) * $7 + 1 : t.o::int * $7] \
                 FROM unnest($2::int4[], $3::int8[], $4::text[], $5::float4[]) \
                      WITH ORDINALITY AS t(idx, id, key, bias, o)",
                None,
                &[
                    version_id.into(),
                    idx.into(),
                    ids.into(),
                    keys.into(),
                    bias.into(),
                    emb.into(),
                    (k as i32).into(),
                ],
            )
            .map(|_| ())
            .or_raise()
        });
    }
}

/// Adds items to users' seen lists (sorted, each once), for (user index, item index) pairs.
fn add_seen(version_id: i64, pairs: &[(i32, i32)]) {
    for batch in pairs.chunks(WRITE_BATCH * 10) {
        let users: Vec<i32> = batch.iter().map(|p| p.0).collect();
        let items: Vec<i32> = batch.iter().map(|p| p.1).collect();
        Spi::connect_mut(|c| {
            c.update(
                "UPDATE pgrec.user_factors f \
                 SET seen_items = ARRAY(SELECT DISTINCT x FROM unnest(f.seen_items || n.items) x ORDER BY x) \
                 FROM (SELECT u, array_agg(i) AS items FROM unnest($2::int4[], $3::int4[]) p(u, i) GROUP BY u) n \
                 WHERE f.version_id = $1 AND f.idx = n.u",
                None,
                &[version_id.into(), users.into(), items.into()],
            )
            .map(|_| ())
            .or_raise()
        });
    }
}

/// Replaces (or adds) the given user rows of a version.
fn write_users(version_id: i64, k: usize, rows: &[UserRow]) {
    for batch in rows.chunks(WRITE_BATCH) {
        let idx: Vec<i32> = batch.iter().map(|r| r.idx).collect();
        let ids: Vec<Option<i64>> = batch.iter().map(|r| r.id).collect();
        let keys: Vec<Option<String>> = batch.iter().map(|r| r.key.clone()).collect();
        let bias: Vec<f32> = batch.iter().map(|r| r.bias).collect();
        let emb: Vec<f32> = batch
            .iter()
            .flat_map(|r| r.factors.iter().copied())
            .collect();
        let mut offsets = vec![0i32];
        let mut seen = Vec::new();
        for r in batch {
            seen.extend_from_slice(&r.seen);
            offsets.push(seen.len() as i32);
        }
        Spi::connect_mut(|c| {
            c.update(
                "DELETE FROM pgrec.user_factors WHERE version_id = $1 AND idx = ANY($2)",
                None,
                &[version_id.into(), idx.clone().into()],
            )
            .or_raise();
            c.update(
                "INSERT INTO pgrec.user_factors (version_id, idx, user_id, user_key, bias, embedding, seen_items) \
                 SELECT $1, t.idx, t.id, t.key, t.bias, \
                        $6[(t.o::int - 1) * $7 + 1 : t.o::int * $7], \
                        COALESCE($8[$9[t.o] + 1 : $9[t.o + 1]], '{}') \
                 FROM unnest($2::int4[], $3::int8[], $4::text[], $5::float4[]) \
                      WITH ORDINALITY AS t(idx, id, key, bias, o)",
                None,
                &[
                    version_id.into(),
                    idx.into(),
                    ids.into(),
                    keys.into(),
                    bias.into(),
                    emb.into(),
                    (k as i32).into(),
                    seen.into(),
                    offsets.into(),
                ],
            )
            .or_raise();
        });
    }
}
