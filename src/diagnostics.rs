//! Embedding diagnostics: `pgrec.pca` (coordinates of one side's vectors on their top principal
//! components, for maps of the item space) and `pgrec.embedding_stats` (norms, spread and
//! explained variance per side, to spot collapsed embeddings). Both read the cached active
//! version, so they follow the same access rules as serving.

use pgrec_core::metrics::{embedding_health, norm_stats};
use pgrec_core::pca::{Pca, MAX_FACTORS};
use pgrx::prelude::*;
use serde_json::{json, Value};

use crate::cache::{active, Search, ServingModel};
use crate::errors::{raise, Code, OrRaise};
use crate::keys::Keys;

/// Rows sampled for the mean cosine (all pairs of them).
const COSINE_SAMPLE: usize = 2000;

/// Principal components reported by embedding_stats.
const STATS_COMPONENTS: usize = 5;

/// One side's keys and vectors.
fn side<'a>(m: &'a ServingModel, side: &str) -> (&'a Keys, &'a [f32]) {
    match side {
        "item" => (&m.items, m.view().item_factors),
        "user" => (&m.users, m.view().user_factors),
        other => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("side must be \"item\" or \"user\", got \"{other}\""),
            None,
        ),
    }
}

#[pg_extern(stable, parallel_safe)]
fn pca(
    model: &str,
    side: default!(&str, "'item'"),
    components: default!(i32, 2),
) -> TableIterator<
    'static,
    (
        name!(id, Option<i64>),
        name!(key, Option<String>),
        name!(coords, Vec<f32>),
    ),
> {
    let m = active(model);
    let (keys, vectors) = self::side(&m, side);
    let k = m.view().factors;
    if components < 1 {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("components must be at least 1, got {components}"),
            Some("The number of principal components to return, e.g. 2 for a map."),
        );
    }
    let p = Pca::fit(vectors, k, components as usize).or_raise();
    let ints = keys.int_column();
    let texts = keys.text_column();
    let rows: Vec<(Option<i64>, Option<String>, Vec<f32>)> = vectors
        .chunks_exact(k.max(1))
        .zip(ints.into_iter().zip(texts))
        .map(|(v, (id, key))| (id, key, p.project(v)))
        .collect();
    TableIterator::new(rows)
}

/// The statistics of one side's vectors.
fn side_stats(vectors: &[f32], k: usize) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(n) = norm_stats(vectors, k) {
        out.insert("rows".into(), json!(n.rows));
        out.insert(
            "norm".into(),
            json!({"mean": n.mean, "min": n.min, "median": n.median, "max": n.max}),
        );
        out.insert("zero_vectors".into(), json!(n.zero_rows));
    }
    if let Some(h) = embedding_health(vectors, k, COSINE_SAMPLE) {
        out.insert("mean_cosine".into(), json!(h.mean_cosine));
        out.insert(
            "first_direction_share".into(),
            json!(h.first_direction_share),
        );
        out.insert("rows_sampled".into(), json!(h.rows_sampled));
        out.insert("collapsed".into(), json!(h.mean_cosine > 0.9));
    }
    if (1..=MAX_FACTORS).contains(&k) && vectors.len() >= 2 * k {
        if let Ok(p) = Pca::fit(vectors, k, STATS_COMPONENTS.min(k)) {
            out.insert("explained_variance".into(), json!(p.explained));
        }
    }
    Value::Object(out)
}

#[pg_extern(stable, parallel_safe)]
fn embedding_stats(model: &str) -> pgrx::JsonB {
    let m = active(model);
    let k = m.view().factors;
    let search = m.search();
    let probes = m.probes();
    let shortlist = match search {
        Search::Codes(s) => Some(s),
        _ => None,
    };
    pgrx::JsonB(json!({
        "model": model,
        "version_id": m.info.id,
        "factors": k,
        "served_from": if m.is_mapped() { "shared file" } else { "backend memory" },
        "serving_precision": m.serving_precision(),
        "ann": m.ivf().map(|ivf| json!({
            "index": "ivf",
            "lists": ivf.n_lists(),
            "probes": probes,
            "shortlist": shortlist,
        })),
        // how this session's searches run, and the recall@10 the index measured for that when
        // it was built: the probes of its lists, or a short list over its 4-bit codes (null
        // probes and shortlist, recall 1: exact scans)
        "ann_probes": probes,
        "ann_shortlist": shortlist,
        "ann_recall": m.ivf().and_then(|_| m.recall_of(search)),
        "users": side_stats(m.view().user_factors, k),
        "items": side_stats(m.view().item_factors, k),
    }))
}
