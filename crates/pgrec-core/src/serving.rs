//! Serving for applications, over a [`ModelView`]: scoring a caller's candidate list,
//! recommending only among candidates, recommending for many users at once (one matrix product
//! per chunk of users instead of one scan per user), and the users most similar to a user.
//!
//! Every score is the one `recommend` ranks by: global mean + user bias + item bias + the
//! interaction (dot product, or the network of `ncf`), unclipped.

use rayon::prelude::*;

use crate::data::ItemLists;
#[cfg(test)]
use crate::data::UserItems;
use crate::kernels::gemm;
use crate::kernels::{norm, Kernels};
use crate::model::ModelView;
use crate::parallel::CancelFlag;
use crate::quant::{scan_top_k_i4, scan_top_k_i8, ScanRows};
use crate::topk::{scan_top_k, top_k, Scored, Skip, TopK};

/// Largest score buffer of one chunk of a batch (values, 32 MB): the chunk has
/// `min(MAX_BATCH_USERS, BATCH_BUFFER / n_items)` users, at least one, whatever the thread
/// count, so batches give the same results with any pool.
pub const BATCH_BUFFER: usize = 1 << 23;

/// Users per chunk of a batch at most.
pub const MAX_BATCH_USERS: usize = 64;

/// Scores of user `u` for `items` (indices into the model), in the order given.
pub fn score_among(view: &ModelView<'_>, kern: Kernels, u: u32, items: &[u32]) -> Vec<f32> {
    let base = view.global_mean + view.user_bias[u as usize];
    let k = view.factors;
    let p = view.user(u);
    match view.head {
        None => items
            .iter()
            .map(|&i| base + view.item_bias[i as usize] + kern.dot(p, view.item(i)))
            .collect(),
        Some(head) => {
            // The network scores contiguous item rows: gather the candidates' rows.
            let mut rows = Vec::with_capacity(items.len() * k);
            for &i in items {
                rows.extend_from_slice(view.item(i));
            }
            let mut out = vec![0.0; items.len()];
            head.score(p, &rows, k, &mut out);
            for (s, &i) in out.iter_mut().zip(items) {
                *s += base + view.item_bias[i as usize];
            }
            out
        }
    }
}

/// The k best of `candidates` for user `u`, skipping the indices in `exclude` (a sorted slice
/// or a [`Skip`]). Repeated candidates count once.
pub fn recommend_among<'a>(
    view: &ModelView<'_>,
    kern: Kernels,
    u: u32,
    candidates: &[u32],
    k: usize,
    exclude: impl Into<Skip<'a>>,
) -> Vec<Scored> {
    let exclude = exclude.into();
    let mut items: Vec<u32> = candidates
        .iter()
        .copied()
        .filter(|&i| !exclude.contains(i))
        .collect();
    items.sort_unstable();
    items.dedup();
    let scores = score_among(view, kern, u, &items);
    let mut top = TopK::new(k);
    for (&i, &s) in items.iter().zip(&scores) {
        top.push(i, s);
    }
    top.into_sorted()
}

/// Catalogs from this size up are worth spreading over the pool (below it, handing units to
/// workers costs more than it saves).
pub const PARALLEL_SCAN_ITEMS: usize = 32_768;

/// The k best items for user `u` of a dot-product model, as `top_k` over
/// [`ModelView::score_items`] gives them, computed unit by unit (see [`scan_top_k`]) without
/// a buffer of every score. `rows` says what the dot products read: the f32 vectors, their f16
/// bits (half the bytes, scores within f16 rounding), or int8 codes (a quarter of the bytes,
/// the same answer as from the f32 vectors: [`crate::quant`]).
pub fn recommend_scan<'a>(
    view: &ModelView<'_>,
    kern: Kernels,
    u: u32,
    k: usize,
    exclude: impl Into<Skip<'a>>,
    parallel: bool,
    rows: ScanRows<'_>,
) -> Vec<Scored> {
    let p = view.user(u);
    let f = view.factors;
    let finish = recommend_finish(view, u);
    match rows {
        ScanRows::I8(codes) if f > 0 && codes.scales.len() == view.n_items() => {
            let items = view.item_factors;
            scan_top_k_i8(kern, p, items, codes, k, exclude, parallel, finish)
        }
        ScanRows::I4 { rows, shortlist } if f > 0 && rows.scales.len() == view.n_items() => {
            let items = view.item_factors;
            scan_top_k_i4(
                kern, p, items, rows, &finish, k, shortlist, exclude, parallel, &finish,
            )
        }
        _ => scan_top_k(view.n_items(), k, exclude, parallel, |lo, out| {
            let (a, b) = (lo * f, (lo + out.len()) * f);
            match rows {
                _ if f == 0 => out.fill(0.0),
                ScanRows::F16(h) => kern.dots_f16(p, &h[a..b], out),
                _ => kern.dots(p, &view.item_factors[a..b], out),
            }
            finish(lo, out);
        }),
    }
}

/// What a recommend scan adds to user `u`'s dot products with items lo..lo + out.len(): the
/// global mean, the user's bias and each item's.
pub(crate) fn recommend_finish<'a>(
    view: &'a ModelView<'_>,
    u: u32,
) -> impl Fn(usize, &mut [f32]) + Sync + 'a {
    let base = view.global_mean + view.user_bias[u as usize];
    move |lo: usize, out: &mut [f32]| {
        for (s, b) in out.iter_mut().zip(&view.item_bias[lo..]) {
            *s += base + b;
        }
    }
}

/// Users per chunk of a batch for a catalog of `n_items`.
pub fn batch_chunk(n_items: usize) -> usize {
    (BATCH_BUFFER / n_items.max(1)).clamp(1, MAX_BATCH_USERS)
}

/// The k best items for each of `users`, in the order given, skipping each user's `seen` items
/// when given, and the items of `also` for every user (hidden items, the caller's exclusions).
/// Dot-product models score a chunk of users with one matrix product (users x factors times
/// factors x items); `ncf` scores user by user. Chunks run in parallel on the
/// current rayon pool (call inside `pool.install`); their shape does not depend on it. Scores
/// equal [`ModelView::score_items`]'s up to float rounding (the product sums in another order).
/// Once `cancel` is set, the chunks not yet started are skipped (their users get no rows) and
/// the caller raises the cancel.
pub fn recommend_batch(
    view: &ModelView<'_>,
    kern: Kernels,
    users: &[u32],
    k: usize,
    seen: Option<&dyn ItemLists>,
    also: Skip<'_>,
    cancel: &CancelFlag,
) -> Vec<Vec<Scored>> {
    let n = view.n_items();
    if n == 0 {
        return vec![Vec::new(); users.len()];
    }
    let chunk = batch_chunk(n);
    let exclude = |u: u32| also.and(seen.map_or(&[][..], |s| s.of(u)));
    users
        .par_chunks(chunk)
        .flat_map_iter(|group| {
            if cancel.is_cancelled() {
                return vec![Vec::new(); group.len()];
            }
            let mut scores = vec![0.0f32; group.len() * n];
            if view.head.is_some() {
                let mut row = Vec::with_capacity(n);
                for (&u, out) in group.iter().zip(scores.chunks_exact_mut(n)) {
                    view.score_items(kern, u, &mut row);
                    out.copy_from_slice(&row);
                }
            } else {
                let f = view.factors;
                let mut a = Vec::with_capacity(group.len() * f);
                for &u in group {
                    a.extend_from_slice(view.user(u));
                }
                gemm(
                    group.len(),
                    f,
                    n,
                    &a,
                    false,
                    view.item_factors,
                    true,
                    0.0,
                    &mut scores,
                );
                for (&u, out) in group.iter().zip(scores.chunks_exact_mut(n)) {
                    let base = view.global_mean + view.user_bias[u as usize];
                    for (s, b) in out.iter_mut().zip(view.item_bias) {
                        *s += base + b;
                    }
                }
            }
            group
                .iter()
                .zip(scores.chunks_exact(n))
                .map(|(&u, out)| top_k(out, k, exclude(u)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// recommend_batch for a model served one user at a time (an IVF index, f16 item vectors):
/// `one(u, exclude)` is the search `recommend` runs for user u, here with its seen items (when
/// `seen` is given) and `also` left out. Users are spread over the current rayon pool; each
/// answer is the one `recommend` gives.
pub fn recommend_each(
    users: &[u32],
    seen: Option<&dyn ItemLists>,
    also: Skip<'_>,
    cancel: &CancelFlag,
    one: impl Fn(u32, Skip<'_>) -> Vec<Scored> + Sync,
) -> Vec<Vec<Scored>> {
    users
        .par_iter()
        .map(|&u| {
            if cancel.is_cancelled() {
                return Vec::new();
            }
            one(u, also.and(seen.map_or(&[][..], |s| s.of(u))))
        })
        .collect()
}

/// Euclidean norm of every user's vector.
pub fn user_norms(view: &ModelView<'_>, kern: Kernels) -> Vec<f32> {
    (0..view.n_users() as u32)
        .map(|u| norm(kern, view.user(u)))
        .collect()
}

/// The k users most similar to `user` by cosine of their vectors, the user itself excluded;
/// users with a zero vector have no defined cosine and are skipped.
pub fn similar_users(
    view: &ModelView<'_>,
    kern: Kernels,
    norms: &[f32],
    user: u32,
    k: usize,
) -> Vec<Scored> {
    let nq = norms[user as usize];
    if nq == 0.0 {
        return Vec::new();
    }
    let q = view.user(user);
    let mut top = TopK::new(k);
    for v in 0..view.n_users() as u32 {
        let nv = norms[v as usize];
        if v == user || nv == 0.0 {
            continue;
        }
        top.push(v, (kern.dot(q, view.user(v)) / (nq * nv)).clamp(-1.0, 1.0));
    }
    top.into_sorted()
}

/// The k items with the most training interactions (`support`, weighted as trained), ties to
/// the smaller index, skipping `exclude`: what `pgrec.popular` and the `popular` fallback serve.
pub fn popular(support: &[f32], k: usize, exclude: Skip<'_>) -> Vec<Scored> {
    top_k(support, k, exclude)
}

/// How many of the most relevant items [`diversify`] chooses from, for k results.
pub fn diversity_pool(k: usize) -> usize {
    k.saturating_mul(5).max(50)
}

/// Maximal marginal relevance (Carbonell and Goldstein, 1998) over `ranked` (the most relevant
/// items, best first; see [`diversity_pool`]): picks k of them one at a time, each time the item
/// that maximises
///
/// ```text
/// (1 - diversity) * relevance - diversity * (largest cosine to an item already picked)
/// ```
///
/// with relevance min-max scaled to 0..1 over `ranked`, and cosines of the item vectors (`norms`
/// from [`ModelView::item_norms`]; a zero vector has cosine 0 to everything). Ties go to the more
/// relevant item. `diversity` 0 returns the first k of `ranked` unchanged; 1 ignores relevance
/// after the first pick. Each item keeps its own score (its relevance), in pick order.
pub fn diversify(
    view: &ModelView<'_>,
    kern: Kernels,
    norms: &[f32],
    ranked: &[Scored],
    k: usize,
    diversity: f32,
) -> Vec<Scored> {
    let k = k.min(ranked.len());
    if diversity <= 0.0 || k == 0 {
        return ranked[..k].to_vec();
    }
    let (lo, hi) = ranked
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), s| {
            (lo.min(s.score), hi.max(s.score))
        });
    let spread = hi - lo;
    let relevance = |s: &Scored| {
        if spread > 0.0 && spread.is_finite() {
            (s.score - lo) / spread
        } else {
            1.0
        }
    };
    let cosine = |a: u32, b: u32| {
        let (na, nb) = (norms[a as usize], norms[b as usize]);
        if na == 0.0 || nb == 0.0 {
            0.0
        } else {
            (kern.dot(view.item(a), view.item(b)) / (na * nb)).clamp(-1.0, 1.0)
        }
    };
    let mut left: Vec<(Scored, f32)> = ranked.iter().map(|s| (*s, f32::NEG_INFINITY)).collect();
    let mut picked = Vec::with_capacity(k);
    while picked.len() < k {
        let mut best: Option<(usize, f32)> = None;
        for (j, (s, nearest)) in left.iter().enumerate() {
            let redundancy = if nearest.is_finite() { *nearest } else { 0.0 };
            let value = (1.0 - diversity) * relevance(s) - diversity * redundancy;
            if best.is_none_or(|(_, b)| value > b) {
                best = Some((j, value));
            }
        }
        let Some((j, _)) = best else { break };
        let (chosen, _) = left.remove(j);
        for (s, nearest) in &mut left {
            *nearest = nearest.max(cosine(s.index, chosen.index));
        }
        picked.push(chosen);
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::f16_bits;
    use crate::model::{FactorModel, HeadLayer, ScoreHead};
    use crate::topk::SCAN_CHUNK;
    use rand::{Rng, SeedableRng};

    fn random_model(users: usize, items: usize, k: usize, seed: u64) -> FactorModel {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut v = |n: usize| {
            (0..n)
                .map(|_| rng.gen_range(-1.0f32..1.0))
                .collect::<Vec<_>>()
        };
        FactorModel {
            factors: k,
            global_mean: 3.5,
            rating_range: Some((1.0, 5.0)),
            user_bias: v(users),
            item_bias: v(items),
            user_factors: v(users * k),
            item_factors: v(items * k),
            head: None,
        }
    }

    fn with_head(mut m: FactorModel) -> FactorModel {
        let k = m.factors;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
        let mut v = |n: usize| {
            (0..n)
                .map(|_| rng.gen_range(-0.5f32..0.5))
                .collect::<Vec<_>>()
        };
        m.head = Some(ScoreHead {
            layers: vec![
                HeadLayer {
                    n_in: 2 * k,
                    n_out: 4,
                    weight: v(2 * k * 4),
                    bias: v(4),
                },
                HeadLayer {
                    n_in: 4,
                    n_out: 1,
                    weight: v(4),
                    bias: v(1),
                },
            ],
        });
        m
    }

    #[test]
    fn score_among_equals_the_full_scan_for_both_scorers() {
        let kern = Kernels::detect();
        for m in [
            random_model(5, 40, 6, 1),
            with_head(random_model(5, 40, 6, 1)),
        ] {
            let view = m.view();
            let mut all = Vec::new();
            view.score_items(kern, 3, &mut all);
            let items = [39, 0, 17, 17, 5];
            let got = score_among(&view, kern, 3, &items);
            for (s, &i) in got.iter().zip(&items) {
                assert!(
                    (s - all[i as usize]).abs() < 1e-5,
                    "item {i}: {s} vs {}",
                    all[i as usize]
                );
            }
        }
    }

    #[test]
    fn recommend_among_ranks_only_the_candidates_and_skips_seen() {
        let kern = Kernels::detect();
        let m = random_model(4, 50, 8, 2);
        let view = m.view();
        let mut all = Vec::new();
        view.score_items(kern, 1, &mut all);
        let candidates = [3, 7, 11, 7, 40, 22];
        let exclude = [11];
        let got = recommend_among(&view, kern, 1, &candidates, 10, &exclude);
        let mut want: Vec<u32> = vec![3, 7, 22, 40];
        want.sort_by(|&a, &b| all[b as usize].total_cmp(&all[a as usize]).then(a.cmp(&b)));
        assert_eq!(got.iter().map(|s| s.index).collect::<Vec<_>>(), want);
        let top2 = recommend_among(&view, kern, 1, &candidates, 2, &exclude);
        assert_eq!(top2.len(), 2);
        assert_eq!(top2[0].index, want[0]);
    }

    #[test]
    fn popular_ranks_by_support_and_skips() {
        let support = [3.0, 9.0, 9.0, 1.0, 7.0];
        let got: Vec<u32> = popular(&support, 3, Skip::NONE)
            .iter()
            .map(|s| s.index)
            .collect();
        assert_eq!(got, [1, 2, 4]);
        let skip = [2u32];
        let got: Vec<u32> = popular(&support, 3, Skip::sorted(&skip))
            .iter()
            .map(|s| s.index)
            .collect();
        assert_eq!(got, [1, 4, 0]);
    }

    /// Items in two tight groups: 0-4 point one way, 5-9 another (orthogonal), and the first
    /// group is a little more relevant.
    fn two_groups() -> (FactorModel, Vec<Scored>) {
        let mut item_factors = Vec::new();
        for i in 0..10 {
            let e = 0.01 * i as f32;
            item_factors.extend(if i < 5 { [1.0, e] } else { [e, 1.0] });
        }
        let m = FactorModel {
            factors: 2,
            global_mean: 0.0,
            rating_range: None,
            user_bias: vec![],
            item_bias: vec![0.0; 10],
            user_factors: vec![],
            item_factors,
            head: None,
        };
        let ranked = (0..10u32)
            .map(|i| Scored {
                index: i,
                score: 5.0 - 0.1 * i as f32,
            })
            .collect();
        (m, ranked)
    }

    /// The pool diversification chooses from: five candidates a result, at least 50, so
    /// that a short list still has room to move away from the top items.
    #[test]
    fn the_diversity_pool_is_five_per_result_and_at_least_fifty() {
        assert_eq!(diversity_pool(1), 50);
        assert_eq!(diversity_pool(10), 50);
        assert_eq!(diversity_pool(11), 55);
        assert_eq!(diversity_pool(100), 500);
        assert_eq!(diversity_pool(usize::MAX), usize::MAX);
    }

    #[test]
    fn diversity_zero_keeps_the_ranking_and_more_diversity_mixes_the_groups() {
        let kern = Kernels::detect();
        let (m, ranked) = two_groups();
        let norms = m.view().item_norms(kern);
        let pick = |d: f32| -> Vec<u32> {
            diversify(&m.view(), kern, &norms, &ranked, 4, d)
                .iter()
                .map(|s| s.index)
                .collect()
        };
        assert_eq!(pick(0.0), [0, 1, 2, 3]);
        // Relevance still decides at a little diversity (the groups' relevance differs by 0.5
        // of the scaled range, the redundancy by 1).
        assert_eq!(pick(0.1), [0, 1, 2, 3]);
        // At 0.5 the second pick is the best of the other group; once both groups are in,
        // every item is as redundant as the next and relevance decides again.
        assert_eq!(pick(0.5), [0, 5, 1, 2]);
        // Scores are the items' own relevance.
        let got = diversify(&m.view(), kern, &norms, &ranked, 4, 0.5);
        assert!(got
            .iter()
            .all(|s| s.score == ranked[s.index as usize].score));
        // Never more than given, never a repeat.
        let all = diversify(&m.view(), kern, &norms, &ranked[..3], 10, 0.9);
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn batch_equals_one_call_per_user_across_chunks_and_pools() {
        let kern = Kernels::detect();
        // 150 users over 3 chunks of 64 (the last partial), a catalog of 300 items.
        let m = random_model(150, 300, 16, 3);
        let view = m.view();
        let seen = UserItems::from_lists(
            (0..150u32)
                .map(|u| (0..300u32).filter(|i| (i + u) % 7 == 0).collect())
                .collect(),
        );
        let users: Vec<u32> = (0..150u32).rev().chain([5, 5]).collect();
        // Hidden for everyone (on top of each user's seen items).
        let hidden: Vec<u32> = (0..300u32).filter(|i| i % 5 == 1).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                recommend_batch(
                    &view,
                    kern,
                    &users,
                    10,
                    Some(&seen as &dyn ItemLists),
                    Skip::sorted(&hidden),
                    &CancelFlag::new(),
                )
            })
        };
        let one = run(1);
        assert_eq!(one, run(3), "the thread count changed the batch");
        assert_eq!(one.len(), users.len());
        let mut scores = Vec::new();
        for (&u, got) in users.iter().zip(&one) {
            view.score_items(kern, u, &mut scores);
            let want = top_k(&scores, 10, Skip::sorted(seen.of(u)).and(&hidden));
            assert_eq!(got.len(), 10);
            for (g, w) in got.iter().zip(&want) {
                assert!((g.score - w.score).abs() < 1e-4, "user {u}: {g:?} vs {w:?}");
                assert!(seen.of(u).binary_search(&g.index).is_err());
                assert!(hidden.binary_search(&g.index).is_err());
            }
            let (gi, wi): (Vec<u32>, Vec<u32>) = (
                got.iter().map(|s| s.index).collect(),
                want.iter().map(|s| s.index).collect(),
            );
            assert_eq!(gi, wi, "user {u}");
        }
    }

    #[test]
    fn batch_of_a_network_model_equals_its_scan() {
        let kern = Kernels::detect();
        let m = with_head(random_model(10, 30, 4, 4));
        let view = m.view();
        let users = [0u32, 9, 4];
        let got = recommend_batch(&view, kern, &users, 5, None, Skip::NONE, &CancelFlag::new());
        let mut scores = Vec::new();
        for (&u, g) in users.iter().zip(&got) {
            view.score_items(kern, u, &mut scores);
            assert_eq!(*g, top_k(&scores, 5, &[]));
        }
    }

    #[test]
    fn a_cancelled_batch_does_no_work() {
        let m = random_model(200, 50, 4, 6);
        let cancel = CancelFlag::new();
        cancel.cancel();
        let users: Vec<u32> = (0..200).collect();
        let got = recommend_batch(
            &m.view(),
            Kernels::detect(),
            &users,
            3,
            None,
            Skip::NONE,
            &cancel,
        );
        assert_eq!(got.len(), 200);
        assert!(got.iter().all(|r| r.is_empty()));
    }

    #[test]
    fn scan_equals_the_full_sort_in_parallel_or_not() {
        let kern = Kernels::detect();
        // three and a half units, seen items in several units, ties broken by index
        let n = 3 * SCAN_CHUNK + SCAN_CHUNK / 2;
        let mut m = random_model(3, n, 8, 7);
        let (a, b) = (5 * 8, 20_000 * 8);
        let row: Vec<f32> = m.item_factors[a..a + 8].to_vec();
        m.item_factors[b..b + 8].copy_from_slice(&row);
        m.item_bias[20_000] = m.item_bias[5];
        let view = m.view();
        let exclude: Vec<u32> = (0..n as u32).filter(|i| i % 997 == 3).collect();
        let mut scores = Vec::new();
        view.score_items(kern, 2, &mut scores);
        let want = top_k(&scores, 50, &exclude);
        assert_eq!(
            recommend_scan(&view, kern, 2, 50, &exclude, false, ScanRows::F32),
            want
        );
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got =
                pool.install(|| recommend_scan(&view, kern, 2, 50, &exclude, true, ScanRows::F32));
            assert_eq!(got, want, "{threads} threads");
        }
        // the tie: item 5 and item 20,000 score the same, the smaller index first
        let all = recommend_scan(&view, kern, 2, n, &[], false, ScanRows::F32);
        let pos = |i: u32| all.iter().position(|s| s.index == i).unwrap();
        assert_eq!(pos(20_000), pos(5) + 1);
    }

    #[test]
    fn f16_scans_keep_the_f32_top_ten() {
        let kern = Kernels::detect();
        let n = 2 * SCAN_CHUNK + 77;
        let m = random_model(40, n, 32, 8);
        let view = m.view();
        let half = f16_bits(&m.item_factors);
        let (mut found, mut worst) = (0usize, 0f32);
        for u in 0..40u32 {
            let exact = recommend_scan(&view, kern, u, 10, &[], false, ScanRows::F32);
            let approx = recommend_scan(&view, kern, u, 10, &[], false, ScanRows::F16(&half));
            found += approx
                .iter()
                .filter(|a| exact.iter().any(|e| e.index == a.index))
                .count();
            for (a, e) in approx.iter().zip(&exact) {
                worst = worst.max((a.score - e.score).abs());
            }
        }
        // 400 neighbours: f16 rounding (relative 2^-11 per value) may swap near-ties only
        assert!(found >= 390, "recall {found}/400");
        assert!(worst < 0.01, "largest score difference {worst}");
    }

    #[test]
    fn chunk_size_shrinks_for_large_catalogs() {
        assert_eq!(batch_chunk(1000), MAX_BATCH_USERS);
        assert_eq!(batch_chunk(1 << 20), 8);
        assert_eq!(batch_chunk(20 << 20), 1);
        assert_eq!(batch_chunk(0), MAX_BATCH_USERS);
    }

    #[test]
    fn similar_users_by_cosine_skip_self_and_zero_vectors() {
        let kern = Kernels::detect();
        let mut m = random_model(4, 2, 2, 5);
        m.user_factors = vec![1.0, 0.0, 2.0, 0.1, 0.0, 0.0, -1.0, 0.0];
        let view = m.view();
        let norms = user_norms(&view, kern);
        let got = similar_users(&view, kern, &norms, 0, 10);
        assert_eq!(got.iter().map(|s| s.index).collect::<Vec<_>>(), vec![1, 3]);
        assert!((got[0].score - 2.0 / (4.01f32).sqrt()).abs() < 1e-6);
        assert!((got[1].score + 1.0).abs() < 1e-6);
        assert!(similar_users(&view, kern, &norms, 2, 3).is_empty());
    }
}
