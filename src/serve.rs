//! What every serving SQL function shares: argument checks, and the top-k, similarity and
//! scoring calls on a cached version (cache.rs) that the SQL functions in recommend.rs,
//! similar.rs, predict.rs, fold_in.rs and uuid_keys.rs wrap for each key type. The numeric
//! work is in `pgrec_core::serving` and `pgrec_core::similarity`.

use crate::cache::{active, ServingModel};
use crate::errors::{raise, Code};
use crate::keys::{KeyArg, KeyKind, Keys};
use pgrec_core::quant::ScanRows;
use pgrec_core::serving;
use pgrec_core::similarity::{
    embedding_neighbours_scan, ItemInteractions, Shrinkage, DEFAULT_SHRINKAGE,
};
use pgrec_core::topk::{top_k, Scored, Skip};

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

/// What a serving call was asked beyond its key and k (API v3): items never to return, what
/// unknown users get, and how much to trade relevance for variety.
#[derive(Default)]
pub(crate) struct Ask<'a> {
    /// Item keys never to return (NULL elements dropped; keys the model does not know are
    /// simply never returned).
    pub exclude: Vec<KeyArg<'a>>,
    pub fallback: Fallback,
    /// 0..1; 0 is plain relevance order.
    pub diversity: f32,
}

/// What a user the model does not know gets.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// No rows, and a NOTICE.
    #[default]
    Nothing,
    /// pgrec.popular's items, and a NOTICE.
    Popular,
}

impl<'a> Ask<'a> {
    /// The checked arguments of a serving call (an ERROR names a bad fallback or diversity).
    pub fn new(exclude: Vec<KeyArg<'a>>, fallback: Option<&str>, diversity: Option<f32>) -> Self {
        Ask {
            exclude,
            fallback: parse_fallback(fallback),
            diversity: check_diversity(diversity.unwrap_or(0.0)),
        }
    }
}

fn parse_fallback(fallback: Option<&str>) -> Fallback {
    match fallback {
        None => Fallback::Nothing,
        Some("popular") => Fallback::Popular,
        Some(other) => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("unknown fallback \"{other}\""),
            Some("Use fallback => 'popular' (unknown users get pgrec.popular's items), or leave it NULL (they get no rows)."),
        ),
    }
}

fn check_diversity(d: f32) -> f32 {
    if !(0.0..=1.0).contains(&d) {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("diversity must be between 0 and 1, got {d}"),
            Some("0 ranks by relevance alone; higher values trade relevance for items unlike those already chosen (maximal marginal relevance on the item vectors)."),
        );
    }
    d
}

/// Item indices a call leaves out for everyone: the model's hidden items and the call's
/// `exclude`.
pub(crate) struct LeftOut {
    hidden: std::sync::Arc<[u32]>,
    exclude: Vec<u32>,
}

impl LeftOut {
    pub fn new(m: &ServingModel, exclude: &[KeyArg<'_>]) -> Self {
        let mut ex: Vec<u32> = exclude
            .iter()
            .filter_map(|&key| m.items.find(key))
            .collect();
        ex.sort_unstable();
        ex.dedup();
        LeftOut {
            hidden: m.hidden(),
            exclude: ex,
        }
    }

    pub fn skip(&self) -> Skip<'_> {
        Skip::sorted(&self.hidden).and(&self.exclude)
    }
}

/// Longest list diversity re-ranks: its picks cost k x max(5k, 50) cosines on the backend
/// thread, 0.25 s at this size.
const MAX_DIVERSE_K: usize = 1000;

/// How many items to rank before `diversify` picks k of them.
pub(crate) fn ranked_for(k: usize, diversity: f32) -> usize {
    if diversity <= 0.0 {
        return k;
    }
    if k > MAX_DIVERSE_K {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("diversity re-ranks at most {MAX_DIVERSE_K} items, and k is {k}"),
            Some("Ask for fewer items, or diversity => 0 for a plain ranking of any length."),
        );
    }
    serving::diversity_pool(k)
}

/// `ranked` cut to k, re-ordered for `diversity` (see `pgrec_core::serving::diversify`).
pub(crate) fn diversify(
    m: &ServingModel,
    ranked: Vec<Scored>,
    k: usize,
    diversity: f32,
) -> Vec<Scored> {
    if diversity > 0.0 {
        serving::diversify(&m.view(), m.kernels, m.item_norms(), &ranked, k, diversity)
    } else {
        ranked
    }
}

/// The k most popular items (training interactions, weighted as trained), among `candidates`
/// when given, skipping `skip`.
pub(crate) fn popular_indices(
    m: &ServingModel,
    k: usize,
    skip: Skip<'_>,
    candidates: Option<&[u32]>,
) -> Vec<Scored> {
    let support = m.item_popularity();
    match candidates {
        None => serving::popular(support, k, skip),
        Some(items) => {
            let mut top = pgrec_core::topk::TopK::new(k);
            for &i in items {
                if !skip.contains(i) {
                    top.push(i, support[i as usize]);
                }
            }
            top.into_sorted()
        }
    }
}

/// pgrec.popular: the k most popular items, without the hidden and `exclude`d ones, and
/// without `user`'s training items when the model knows the user.
pub(crate) fn popular_for(
    k: i32,
    user: Option<KeyArg<'_>>,
    exclude: &[KeyArg<'_>],
    m: &ServingModel,
) -> Vec<Scored> {
    let k = check_k(k);
    let left = LeftOut::new(m, exclude);
    let seen = user
        .and_then(|u| m.users.find(u))
        .map_or(&[][..], |u| m.seen().of(u));
    popular_indices(m, k, left.skip().and(seen), None)
}

/// Top-k items for a user, as (item index, score): over the whole catalog, or only over
/// `candidates` when given (NULL elements dropped; unknown ones skipped with a NOTICE); never
/// a hidden or excluded item; re-ordered for diversity when asked; the popular items for a user
/// the model does not know when asked.
pub(crate) fn recommend_indices(
    model: &str,
    user: KeyArg<'_>,
    k: i32,
    exclude_seen: bool,
    candidates: Option<&[KeyArg<'_>]>,
    ask: &Ask<'_>,
    m: &ServingModel,
) -> Vec<Scored> {
    let k = check_k(k);
    let left = LeftOut::new(m, &ask.exclude);
    let candidates = candidates.map(|keys| candidate_indices(model, m, "item", keys));
    let Some(u) = m.users.find(user) else {
        if ask.fallback == Fallback::Popular {
            pgrx::notice!(
                "pgrec: user {user} is not in model \"{model}\"; the popular items returned"
            );
            return popular_indices(m, k, left.skip(), candidates.as_deref());
        }
        notice_unknown("user", user, model);
        return Vec::new();
    };
    let n = ranked_for(k, ask.diversity);
    let view = m.view();
    let seen = if exclude_seen { m.seen().of(u) } else { &[] };
    let skip = left.skip().and(seen);
    let ranked = if let Some(items) = &candidates {
        serving::recommend_among(&view, m.kernels, u, items, n, skip)
    } else if view.head.is_some() {
        // ncf: every item goes through the network, in chunks spread over the pool.
        let mut scores = Vec::with_capacity(view.n_items());
        let pool = crate::pool::pool(crate::pool::default_threads());
        pool.install(|| view.score_items_parallel(m.kernels, u, &mut scores));
        top_k(&scores, n, skip)
    } else if let (Some(ivf), Some(probes)) = (m.ivf(), m.probes()) {
        pgrec_core::ivf::recommend_ivf(&view, m.kernels, ivf, u, n, skip, probes)
    } else {
        // (read here, on the backend thread: it looks up the session's settings)
        let rows = m.scan_rows();
        on_scan_pool(view.n_items(), |parallel| {
            serving::recommend_scan(&view, m.kernels, u, n, skip, parallel, rows)
        })
    };
    diversify(m, ranked, k, ask.diversity)
}

/// Runs a catalog scan: on the backend's pool when the catalog is large enough, the pool has
/// more than one thread and the machine has a core to spare (`pool::core_to_spare`: not under
/// a busy connection pool), on this thread otherwise (same answer either way).
fn on_scan_pool<R: Send>(n_items: usize, scan: impl FnOnce(bool) -> R + Send) -> R {
    let threads = crate::pool::default_threads();
    if n_items >= pgrec_core::serving::PARALLEL_SCAN_ITEMS
        && threads > 1
        && crate::pool::core_to_spare()
    {
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

/// The k items most similar to `item`, never a hidden or excluded one, re-ordered for
/// diversity when asked (the similarity to the query item is the relevance).
pub(crate) fn similar_indices(
    model: &str,
    item: KeyArg<'_>,
    k: i32,
    method: &str,
    shrinkage: Option<f32>,
    ask: &Ask<'_>,
    m: &ServingModel,
) -> Vec<Scored> {
    let k = check_k(k);
    let method = parse_method(method);
    let shrinkage = check_shrinkage(shrinkage, method);
    let Some(i) = m.items.find(item) else {
        notice_unknown("item", item, model);
        return Vec::new();
    };
    let left = LeftOut::new(m, &ask.exclude);
    let ranked = similar_ranked(
        m,
        i,
        ranked_for(k, ask.diversity),
        method,
        shrinkage,
        left.skip(),
    );
    diversify(m, ranked, k, ask.diversity)
}

fn similar_ranked(
    m: &ServingModel,
    i: u32,
    k: usize,
    method: Method,
    shrinkage: f32,
    skip: Skip<'_>,
) -> Vec<Scored> {
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
                    skip,
                    probes,
                );
            }
            // (read here, on the backend thread: it looks up the session's settings)
            let rows = m.scan_rows();
            on_scan_pool(view.n_items(), |parallel| {
                embedding_neighbours_scan(
                    &view,
                    m.kernels,
                    m.item_norms(),
                    Some(by_support),
                    i,
                    k,
                    skip,
                    parallel,
                    rows,
                )
            })
        }
        Method::Cooccurrence => m
            .item_interactions
            .get_or_init(|| ItemInteractions::new(m.seen(), m.view().n_items()))
            .similar(m.seen(), i, k, shrinkage, skip),
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
    let (out, unknown) = known_indices(m, side, keys);
    if unknown > 0 {
        pgrx::notice!(
            "pgrec: {unknown} of the {} {side}s given are not in model \"{model}\"; they are skipped",
            keys.len()
        );
    }
    out
}

/// The model's indices of `keys` (as `candidate_indices`), and how many keys it does not know.
fn known_indices(m: &ServingModel, side: &str, keys: &[KeyArg<'_>]) -> (Vec<u32>, usize) {
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
    (out, unknown)
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
    let hidden = m.hidden();
    serving::recommend_among(&view, m.kernels, u, &items, items.len(), &hidden[..])
}

/// Users per call to the pool: a multiple of the core's chunk, so results do not depend on it;
/// interrupts are checked between calls and while each runs.
const USERS_PER_ROUND: usize = 4096;

/// Whom a row of recommend_batch is for.
#[derive(Clone, Copy)]
pub(crate) enum BatchUser {
    /// A user of the model (its index).
    Known(u32),
    /// A key the model does not know (its position in the call's keys), served the popular
    /// items by `fallback => 'popular'`.
    Unknown(usize),
}

/// (user, rank from 1, item index, score) for every known user, and for unknown users when
/// the fallback is popular; hidden and excluded items left out, diversity applied per user.
pub(crate) fn batch_rows(
    model: &str,
    keys: &[KeyArg<'_>],
    k: i32,
    exclude_seen: bool,
    ask: &Ask<'_>,
    m: &ServingModel,
) -> Vec<(BatchUser, i32, Scored)> {
    let k = check_k(k);
    let left = LeftOut::new(m, &ask.exclude);
    let users = if ask.fallback == Fallback::Popular {
        let (users, unknown) = known_indices(m, "user", keys);
        if unknown > 0 {
            pgrx::notice!(
                "pgrec: {unknown} of the {} users given are not in model \"{model}\"; they get the popular items",
                keys.len()
            );
        }
        users
    } else {
        candidate_indices(model, m, "user", keys)
    };
    let pool = crate::pool::pool(crate::pool::default_threads());
    let seen = exclude_seen.then_some(m.seen());
    let view = m.view();
    let kernels = m.kernels;
    let n = ranked_for(k, ask.diversity);
    let skip = left.skip();
    // An IVF index or f16 or int8 item vectors: one search per user, the one `recommend` runs
    // (same answers); exact f32: chunks of users as one matrix product.
    let ivf = m.ivf().zip(m.probes());
    let scan = m.scan_rows();
    let one_by_one = view.head.is_none() && (ivf.is_some() || !matches!(scan, ScanRows::F32));
    let mut rows = Vec::new();
    for round in users.chunks(USERS_PER_ROUND) {
        pgrx::check_for_interrupts!();
        let tops = crate::pool::run(&pool, |cancel| {
            if one_by_one {
                serving::recommend_each(round, seen, skip, cancel, |u, exclude| match ivf {
                    Some((index, probes)) => {
                        pgrec_core::ivf::recommend_ivf(&view, kernels, index, u, n, exclude, probes)
                    }
                    None => serving::recommend_scan(&view, kernels, u, n, exclude, false, scan),
                })
            } else {
                serving::recommend_batch(&view, kernels, round, n, seen, skip, cancel)
            }
        });
        for (&u, top) in round.iter().zip(tops) {
            let top = diversify(m, top, k, ask.diversity);
            for (rank, s) in top.into_iter().enumerate() {
                rows.push((BatchUser::Known(u), rank as i32 + 1, s));
            }
        }
    }
    if ask.fallback == Fallback::Popular {
        let popular = popular_indices(m, k, skip, None);
        let mut given = std::collections::HashSet::new();
        for (pos, &key) in keys.iter().enumerate() {
            if m.users.find(key).is_none() && given.insert(key.to_string()) {
                for (rank, s) in popular.iter().enumerate() {
                    rows.push((BatchUser::Unknown(pos), rank as i32 + 1, *s));
                }
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
