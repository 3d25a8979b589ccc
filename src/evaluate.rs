//! pgrec.evaluate: rating error and top-k ranking quality of a model on held-out rows.

use pgrec_core::metrics::{auc, mae, ranking_scores, rmse, RankingSummary};
use pgrec_core::topk::top_k;
use pgrec_core::train::Target;
use pgrx::prelude::*;
use pgrx::JsonB;
use rayon::prelude::*;
use serde_json::json;

use crate::cache::{active, ServingModel};
use crate::errors::{raise, required, Code};
use crate::keys::map_keys;
use crate::pool;
use crate::serve::check_k;
use crate::source::{load, SourceSpec};

/// Ratings at or above this are relevant when neither the caller nor the model says otherwise.
const DEFAULT_RELEVANCE: f32 = 4.0;

#[pg_extern(stable, parallel_restricted, name = "evaluate")]
fn evaluate(
    model: Option<&str>,
    source: Option<&str>,
    k: default!(Option<i32>, 10),
    relevance_threshold: default!(Option<f32>, "NULL"),
) -> JsonB {
    let model = required(model, "model");
    let source = required(source, "source");
    let kk = check_k(required(k, "k"));
    let m = active(model);
    let sm: &ServingModel = &m;
    let spec = SourceSpec {
        source,
        user_col: &sm.info.user_col,
        item_col: &sm.info.item_col,
        rating_col: sm.info.rating_col.as_deref(),
        weights: None,
    };
    let data = load(&spec, &crate::memory_guard::check_rows_read);
    if data.ratings.is_empty() {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("evaluation source \"{}\" has no usable rows", source.trim()),
            None,
        );
    }
    let user_map = map_keys(&data.users, &sm.users);
    let item_map = map_keys(&data.items, &sm.items);
    let kern = sm.kernels;
    let explicit = sm.info.rating_col.is_some();

    let mut out = json!({ "k": kk, "n_rows": data.ratings.len() });
    // Models trained on binary relevance (bce, softmax) do not predict ratings.
    if explicit && sm.info.target == Target::Rating {
        let pairs: Vec<(f32, f32)> = data
            .ratings
            .iter()
            .map(|r| {
                let p = sm.view().predict_partial(
                    kern,
                    user_map[r.user as usize],
                    item_map[r.item as usize],
                );
                (p, r.value)
            })
            .collect();
        let unknown = data
            .ratings
            .iter()
            .filter(|r| user_map[r.user as usize].is_none() || item_map[r.item as usize].is_none())
            .count();
        out["rmse"] = json!(rmse(&pairs));
        out["mae"] = json!(mae(&pairs));
        out["n_rows_unknown_user_or_item"] = json!(unknown);
    }

    // Relevant items per known user; items the model does not know get indices past the end,
    // so they count as relevant but can never be recommended.
    // The caller's threshold, else the model's positive_threshold (what it trained as
    // positive), else 4 (on a 1-5 scale, "liked").
    let threshold = if explicit {
        relevance_threshold.or_else(|| {
            let (_, params) = crate::catalog::recipe_of(&sm.info);
            Some(
                params["positive_threshold"]
                    .as_f64()
                    .map_or(DEFAULT_RELEVANCE, |t| t as f32),
            )
        })
    } else {
        None
    };
    let n_model_users = sm.view().n_users();
    let mut relevant: Vec<Vec<u32>> = vec![Vec::new(); n_model_users];
    let mut skipped_users = std::collections::BTreeSet::new();
    for r in &data.ratings {
        if threshold.is_some_and(|t| r.value < t) {
            continue;
        }
        match user_map[r.user as usize] {
            None => {
                skipped_users.insert(r.user);
            }
            Some(u) => {
                let item = item_map[r.item as usize].unwrap_or(u32::MAX - r.item);
                relevant[u as usize].push(item);
            }
        }
    }
    let users: Vec<u32> = (0..n_model_users as u32)
        .filter(|&u| !relevant[u as usize].is_empty())
        .collect();
    for u in &users {
        relevant[*u as usize].sort_unstable();
    }
    let with_auc = sm.info.target == Target::Relevance;
    let pool_rc = pool::pool(pool::default_threads());
    let pool: &rayon::ThreadPool = &pool_rc;
    let per_user = pool::run(pool, |cancel| {
        pool.install(|| {
            users
                .par_iter()
                .map_init(Vec::new, |scores, &u| {
                    if cancel.is_cancelled() {
                        return None;
                    }
                    sm.view().score_items(kern, u, scores);
                    let seen = sm.seen().of(u);
                    let top: Vec<u32> = top_k(scores, kk, seen).iter().map(|s| s.index).collect();
                    let a = if with_auc {
                        auc(scores, &relevant[u as usize], seen)
                    } else {
                        None
                    };
                    Some((ranking_scores(&top, &relevant[u as usize], kk), a))
                })
                .collect::<Vec<_>>()
        })
    });
    let mut summary = RankingSummary::default();
    let (mut auc_sum, mut auc_users) = (0.0f64, 0usize);
    for (s, a) in per_user.into_iter().flatten() {
        summary.add(s);
        if let Some(a) = a {
            auc_sum += a;
            auc_users += 1;
        }
    }
    if with_auc && auc_users > 0 {
        out["auc"] = json!(auc_sum / auc_users as f64);
    }
    let s = summary.finish();
    out["precision_at_k"] = json!(s.precision);
    out["recall_at_k"] = json!(s.recall);
    out["ndcg_at_k"] = json!(s.ndcg);
    out["hit_rate_at_k"] = json!(s.hit_rate);
    if with_auc {
        out["map_at_k"] = json!(s.map);
    }
    out["n_users_ranked"] = json!(s.users);
    out["n_users_unknown"] = json!(skipped_users.len());
    if let Some(t) = threshold {
        out["relevance_threshold"] = json!(t);
    }
    JsonB(out)
}
