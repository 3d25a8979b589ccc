//! What every serving SQL function shares: argument checks, and the top-k, similarity and
//! scoring calls on a cached version (cache.rs) that the SQL functions in recommend.rs,
//! similar.rs, predict.rs, fold_in.rs and uuid_keys.rs wrap for each key type. The numeric
//! work is in `pgrec_core::serving` and `pgrec_core::similarity`.

use crate::cache::{active, ServingModel};
use crate::errors::{raise, Code};
use crate::keys::{KeyArg, KeyKind, Keys};
use pgrec_core::serving;
use pgrec_core::similarity::{
    embedding_neighbours_scan, ItemInteractions, Shrinkage, DEFAULT_SHRINKAGE,
};
use pgrec_core::topk::{top_k, Scored};

/// A positive k, or an ERROR naming the bad value.
pub(crate) fn check_k(k: i32) -> usize {
    if k <= 0 {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("k must be greater than zero, got {k}"),
            Some("k is the number of results to return."),
        );
    }
    k as usize
}

/// Items as bigint: only for models whose item keys are integers.
pub(crate) fn require_int_items(model: &str, m: &ServingModel, function: &str, arg: &str) {
    require_int_keys(model, &m.items, "item", function, arg);
}

/// Keys of one side ("user" or "item") as bigint: only for models whose keys there are
/// integers; otherwise an ERROR naming the text version to call.
pub(crate) fn require_int_keys(model: &str, keys: &Keys, side: &str, function: &str, arg: &str) {
    if keys.kind() != KeyKind::Int {
        raise(
            Code::ERRCODE_DATATYPE_MISMATCH,
            format!("model \"{model}\" has text {side} keys, so this {function} cannot return them as bigint"),
            Some(&format!(
                "Call the text version: pgrec.{function}(model, {arg}, ...)."
            )),
        );
    }
}

fn notice_unknown(side: &str, key: KeyArg<'_>, model: &str) {
    pgrx::notice!("pgrec: {side} {key} is not in model \"{model}\"; no rows returned");
}

/// Top-k items for a user, as (item index, score): over the whole catalog, or only over
/// `candidates` when given (NULL elements dropped; unknown ones skipped with a NOTICE).
pub(crate) fn recommend_indices(
    model: &str,
    user: KeyArg<'_>,
    k: i32,
    exclude_seen: bool,
    candidates: Option<&[KeyArg<'_>]>,
    m: &ServingModel,
) -> Vec<Scored> {
    let k = check_k(k);
    let Some(u) = m.users.find(user) else {
        notice_unknown("user", user, model);
        return Vec::new();
    };
    let view = m.view();
    let exclude = if exclude_seen { m.seen().of(u) } else { &[] };
    if let Some(keys) = candidates {
        let items = candidate_indices(model, m, "item", keys);
        return pgrec_core::serving::recommend_among(&view, m.kernels, u, &items, k, exclude);
    }
    if view.head.is_some() {
        // ncf: every item goes through the network, in chunks spread over the pool.
        let mut scores = Vec::with_capacity(view.n_items());
        let pool = crate::pool::pool(crate::pool::default_threads());
        pool.install(|| view.score_items_parallel(m.kernels, u, &mut scores));
        return top_k(&scores, k, exclude);
    }
    if let (Some(ivf), Some(probes)) = (m.ivf(), m.probes()) {
        return pgrec_core::ivf::recommend_ivf(&view, m.kernels, ivf, u, k, exclude, probes);
    }
    on_scan_pool(view.n_items(), |parallel| {
        pgrec_core::serving::recommend_scan(
            &view,
            m.kernels,
            u,
            k,
            exclude,
            parallel,
            m.f16_items(),
        )
    })
}

/// Runs a catalog scan: on the backend's pool when the catalog is large enough and the pool
/// has more than one thread, on this thread otherwise (same answer either way).
fn on_scan_pool<R: Send>(n_items: usize, scan: impl FnOnce(bool) -> R + Send) -> R {
    let threads = crate::pool::default_threads();
    if n_items >= pgrec_core::serving::PARALLEL_SCAN_ITEMS && threads > 1 {
        crate::pool::pool(threads).install(|| scan(true))
    } else {
        scan(false)
    }
}

/// How similar_items measures similarity.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Embedding,
    Cooccurrence,
}

fn parse_method(method: &str) -> Method {
    match method {
        "embedding" => Method::Embedding,
        "cooccurrence" => Method::Cooccurrence,
        other => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("unknown similar_items method \"{other}\""),
            Some("Use \"embedding\" (cosine of the model's item vectors) or \"cooccurrence\" (cosine of who interacted with what)."),
        ),
    }
}

/// The shrinkage to use: the caller's (finite, >= 0) or the method's default.
fn check_shrinkage(shrinkage: Option<f32>, method: Method) -> f32 {
    match shrinkage {
        Some(s) if !s.is_finite() || s < 0.0 => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("shrinkage must be zero or greater, got {s}"),
            Some("Similarities are multiplied by n / (n + shrinkage), n being the neighbour's training interactions; 0 turns shrinking off."),
        ),
        Some(s) => s,
        None if method == Method::Embedding => DEFAULT_SHRINKAGE,
        None => 0.0,
    }
}

pub(crate) fn similar_indices(
    model: &str,
    item: KeyArg<'_>,
    k: i32,
    method: &str,
    shrinkage: Option<f32>,
    m: &ServingModel,
) -> Vec<Scored> {
    let k = check_k(k);
    let method = parse_method(method);
    let shrinkage = check_shrinkage(shrinkage, method);
    let Some(i) = m.items.find(item) else {
        notice_unknown("item", item, model);
        return Vec::new();
    };
    match method {
        Method::Embedding => {
            let by_support = Shrinkage {
                support: m.item_support(),
                shrinkage,
            };
            let view = m.view();
            if let (Some(ivf), Some(probes)) = (m.ivf(), m.probes()) {
                return pgrec_core::ivf::similar_ivf(
                    &view,
                    m.kernels,
                    ivf,
                    m.item_norms(),
                    Some(by_support),
                    i,
                    k,
                    probes,
                );
            }
            on_scan_pool(view.n_items(), |parallel| {
                embedding_neighbours_scan(
                    &view,
                    m.kernels,
                    m.item_norms(),
                    Some(by_support),
                    i,
                    k,
                    parallel,
                    m.f16_items(),
                )
            })
        }
        Method::Cooccurrence => m
            .item_interactions
            .get_or_init(|| ItemInteractions::new(m.seen(), m.view().n_items()))
            .similar(m.seen(), i, k, shrinkage),
    }
}

pub(crate) fn predict_keys(model: &str, user: KeyArg<'_>, item: KeyArg<'_>) -> Option<f32> {
    let m = active(model);
    let u = m.users.find(user)?;
    let i = m.items.find(item)?;
    Some(m.view().predict(m.kernels, u, i))
}

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
    let pool = crate::pool::pool(crate::pool::default_threads());
    let seen = exclude_seen.then_some(m.seen());
    let view = m.view();
    let kernels = m.kernels;
    let mut rows = Vec::new();
    for round in users.chunks(USERS_PER_ROUND) {
        pgrx::check_for_interrupts!();
        let tops = crate::pool::run(&pool, |cancel| {
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
