//! Approximate catalog search with an inverted file (IVF): spherical k-means splits the items
//! into lists; a query scores the lists' centroids and scans only the items of its best
//! `probes` lists. A model asks for it (`"ann": "ivf"`); exact scans stay the default.
//!
//! The index is built from the item vectors and a seed alone, the same whatever the thread
//! count: items are assigned one by one, and the centroids' sums are reduced chunk by chunk in
//! a fixed order. Building runs in steps ([`IvfBuilder::step`]) so that the caller can check
//! for cancellation between them on its own thread.

use rayon::prelude::*;

use crate::kernels::gemm;
use crate::kernels::{norm, Kernels};
use crate::model::ModelView;
use crate::parallel::CancelFlag;
use crate::quant::{i4_bytes, quantize4, shortlist_i4, I4Rows, ScanRows};
use crate::rng::stream;
use crate::similarity::{cosine_of, shrink, Shrinkage, DEFAULT_SHRINKAGE};
use crate::topk::{top_k, Scored, Skip, TopK};

/// Random stream purpose of the sample and the initial centroids.
const IVF_STREAM: u64 = 0x1F_0001;

/// Lists for a catalog of `n_items` when the model does not say: about sqrt(n).
pub fn default_lists(n_items: usize) -> usize {
    ((n_items as f64).sqrt().round() as usize).clamp(1, n_items.max(1))
}

/// Lists a query scans when the model does not say: about 1 in 16 of them, at least 8 (or
/// every list of a small index). Measured in BENCHMARKS.md ("Approximate search").
pub fn default_probes(lists: usize) -> usize {
    (lists / 16).max(8).min(lists.max(1))
}

/// How to build an index.
#[derive(Debug, Clone, Copy)]
pub struct IvfParams {
    pub lists: usize,
    /// k-means rounds over the training sample.
    pub iterations: usize,
    /// Training sample size per list (every item when the catalog is smaller).
    pub sample_per_list: usize,
    pub seed: u64,
}

impl IvfParams {
    pub fn for_items(n_items: usize, lists: Option<usize>) -> Self {
        IvfParams {
            lists: lists.unwrap_or_else(|| default_lists(n_items)),
            iterations: 10,
            sample_per_list: 128,
            seed: 42,
        }
    }
}

/// An index: the items of each list and each list's centroid.
#[derive(Debug, Clone, PartialEq)]
pub struct Ivf {
    pub factors: usize,
    /// lists x factors: the mean of each list's item vectors (zero for an empty list).
    pub centroids: Vec<f32>,
    /// The mean item bias of each list.
    pub list_bias: Vec<f32>,
    /// lists x factors: the mean of each list's unit item vectors, each weighted by its
    /// shrinkage n / (n + DEFAULT_SHRINKAGE) (n its support): what a query scores the lists by
    /// when similar_items shrinks (well-supported items lead the shrunk ranking, so the lists
    /// that hold them and point the query's way come first).
    pub shrunk_centroids: Vec<f32>,
    /// lists + 1 offsets into `items`.
    pub offsets: Vec<u32>,
    /// Item indices grouped by list, ascending within a list.
    pub items: Vec<u32>,
    /// The item vectors in the order of `items` (n x factors): a list's vectors are one
    /// contiguous run, so probing a list reads it sequentially instead of gathering rows from
    /// all over the catalog.
    pub rows: Vec<f32>,
    /// 4-bit codes of the item vectors in item order, and their scales ([`quantize4`]): what
    /// the approximate scan of the whole catalog reads when no few lists reach the recall
    /// asked for (noisy vectors: see [`measure_shortlist_recall`]).
    pub codes: Vec<u8>,
    pub scales: Vec<f32>,
    /// The scales divided by the vectors' norms ([`crate::quant::unit_scales`]).
    pub unit_scales: Vec<f32>,
}

impl Ivf {
    pub fn as_ref(&self) -> IvfRef<'_> {
        self.with_rows(ListRows::F32(&self.rows))
    }

    /// The index with its rows stored elsewhere (as f16, in a serving file).
    pub fn with_rows<'a>(&'a self, rows: ListRows<'a>) -> IvfRef<'a> {
        IvfRef {
            factors: self.factors,
            centroids: &self.centroids,
            list_bias: &self.list_bias,
            shrunk_centroids: &self.shrunk_centroids,
            offsets: &self.offsets,
            items: &self.items,
            rows,
            codes: I4Rows {
                codes: &self.codes,
                scales: &self.scales,
                unit_scales: &self.unit_scales,
            },
        }
    }
}

/// The item vectors of an index in list order, as f32 or as f16 bits.
#[derive(Debug, Clone, Copy)]
pub enum ListRows<'a> {
    F32(&'a [f32]),
    F16(&'a [u16]),
}

impl ListRows<'_> {
    fn len(&self) -> usize {
        match self {
            ListRows::F32(r) => r.len(),
            ListRows::F16(r) => r.len(),
        }
    }
}

/// An index borrowed (from an [`Ivf`] or read in place from a serving file).
#[derive(Debug, Clone, Copy)]
pub struct IvfRef<'a> {
    pub factors: usize,
    pub centroids: &'a [f32],
    pub list_bias: &'a [f32],
    pub shrunk_centroids: &'a [f32],
    pub offsets: &'a [u32],
    pub items: &'a [u32],
    pub rows: ListRows<'a>,
    pub codes: I4Rows<'a>,
}

impl<'a> IvfRef<'a> {
    pub fn n_lists(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether the parts agree with each other and with a catalog of `n_items` x `factors`.
    pub fn is_consistent(&self, n_items: usize, factors: usize) -> bool {
        let l = self.n_lists();
        // checked: the counts may come from a damaged file, and a wrapped product could agree
        let (Some(list_values), Some(item_values)) =
            (l.checked_mul(factors), n_items.checked_mul(factors))
        else {
            return false;
        };
        self.factors == factors
            && self.centroids.len() == list_values
            && self.list_bias.len() == l
            && self.shrunk_centroids.len() == list_values
            && self.items.len() == n_items
            && self.rows.len() == item_values
            && Some(self.codes.codes.len()) == n_items.checked_mul(i4_bytes(factors))
            && self.codes.scales.len() == n_items
            && self.codes.unit_scales.len() == n_items
            && self.offsets.first() == Some(&0)
            && self.offsets.last().map(|&o| o as usize) == Some(n_items)
            && self.offsets.windows(2).all(|w| w[0] <= w[1])
            && self.items.iter().all(|&i| (i as usize) < n_items)
    }

    fn list(&self, l: usize) -> &'a [u32] {
        &self.items[self.offsets[l] as usize..self.offsets[l + 1] as usize]
    }

    /// The `probes` lists whose `scores` are best (ties to the smaller list, NaN never).
    fn best_lists(scores: &[f32], probes: usize) -> Vec<usize> {
        top_k(scores, probes, &[])
            .into_iter()
            .map(|s| s.index as usize)
            .collect()
    }
}

/// Rows of one assignment chunk: a fixed function of the list count (never of the thread
/// count), so that the scores buffer stays near 4 MB.
fn chunk_rows(lists: usize) -> usize {
    ((1usize << 20) / lists.max(1)).clamp(64, 4096)
}

/// `v` scaled to unit length (a zero vector stays zero).
fn unit(kern: Kernels, v: &[f32], out: &mut [f32]) {
    let n = norm(kern, v);
    let s = if n > 0.0 { 1.0 / n } else { 0.0 };
    for (o, x) in out.iter_mut().zip(v) {
        *o = x * s;
    }
}

/// For each row of `rows` (unit vectors, f values each), the index of the centroid with the
/// largest dot product (ties to the smaller index).
fn assign_rows(rows: &[f32], f: usize, centroids: &[f32], lists: usize, out: &mut [u32]) {
    let m = out.len();
    let mut scores = vec![0f32; m * lists];
    gemm(m, f, lists, rows, false, centroids, true, 0.0, &mut scores);
    for (o, row) in out.iter_mut().zip(scores.chunks_exact(lists)) {
        let mut best = 0;
        for (l, &s) in row.iter().enumerate() {
            if s > row[best] {
                best = l;
            }
        }
        *o = best as u32;
    }
}

/// k-means++ seeding on (a prefix of) the sample: the first centroid a random row with a
/// direction, each next one a row drawn with probability proportional to its cosine distance
/// to the nearest centroid so far. Spreads the centroids over the clusters where uniform
/// picks put two in one cluster and none in another.
fn seed_centroids(
    sample: &[f32],
    f: usize,
    lists: usize,
    rng: &mut crate::rng::Rng,
    cancel: &CancelFlag,
) -> Vec<f32> {
    use rand::Rng;
    if f == 0 || lists == 0 {
        return Vec::new();
    }
    let kern = Kernels::detect();
    let rows = (sample.len() / f).min(lists.saturating_mul(16));
    let pool = &sample[..rows * f];
    let has_direction: Vec<bool> = pool
        .chunks_exact(f)
        .map(|r| r.iter().any(|&x| x != 0.0))
        .collect();
    let candidates: Vec<usize> = (0..rows).filter(|&r| has_direction[r]).collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    let mut centroids: Vec<f32> = Vec::with_capacity(lists * f);
    let first = candidates[rng.gen_range(0..candidates.len())];
    centroids.extend_from_slice(&pool[first * f..(first + 1) * f]);
    // distance of each row to its nearest centroid (rows without direction: never drawn)
    let mut dist: Vec<f64> = vec![0.0; rows];
    let update = |dist: &mut [f64], c: &[f32], first: bool| {
        dist.par_iter_mut()
            .zip(pool.par_chunks_exact(f))
            .zip(has_direction.par_iter())
            .for_each(|((d, r), &has)| {
                let e = if has {
                    (1.0 - kern.dot(r, c) as f64).max(0.0)
                } else {
                    0.0
                };
                *d = if first { e } else { d.min(e) };
            })
    };
    update(&mut dist, &centroids[..f], true);
    while centroids.len() < lists * f && !cancel.is_cancelled() {
        let total: f64 = dist.iter().sum();
        if total <= 0.0 {
            break; // every row is on a centroid already: fewer distinct directions than lists
        }
        let mut at = rng.gen_range(0.0..total);
        let mut pick = rows - 1;
        for (r, &d) in dist.iter().enumerate() {
            if at < d {
                pick = r;
                break;
            }
            at -= d;
        }
        let start = centroids.len();
        centroids.extend_from_slice(&pool[pick * f..(pick + 1) * f]);
        let c = centroids[start..].to_vec();
        update(&mut dist, &c, false);
    }
    centroids
}

/// The items k-means trains on (ascending): the first `sample_per_list x lists` of a shuffle of
/// 0..n drawn from `rng` (a partial Fisher-Yates).
fn training_sample(n: usize, params: &IvfParams, rng: &mut crate::rng::Rng) -> Vec<u32> {
    let take = params.sample_per_list.max(1) * params.lists.max(1);
    draw(&(0..n as u32).collect::<Vec<_>>(), take, rng)
}

/// Builds an [`Ivf`] step by step: `new`, then `step` `params.iterations` times, then
/// `finish`. Each call runs its parallel parts on the current rayon pool.
pub struct IvfBuilder<'a> {
    vectors: &'a [f32],
    f: usize,
    lists: usize,
    kern: Kernels,
    /// The training sample as unit vectors (rows x f).
    sample: Vec<f32>,
    /// Current centroids, unit length (lists x f).
    centroids: Vec<f32>,
    cancel: &'a CancelFlag,
}

impl<'a> IvfBuilder<'a> {
    /// Draws the sample and the initial centroids (distinct sampled items with a direction).
    pub fn new(vectors: &'a [f32], f: usize, params: &IvfParams, cancel: &'a CancelFlag) -> Self {
        let kern = Kernels::detect();
        let n = vectors.len().checked_div(f).unwrap_or(0);
        let mut rng = stream(params.seed, &[IVF_STREAM]);
        let picked = training_sample(n, params, &mut rng);
        let take = picked.len();
        let mut sample = vec![0f32; take * f];
        sample
            .par_chunks_mut(f.max(1))
            .zip(picked.par_iter())
            .for_each(|(out, &i)| unit(kern, &vectors[i as usize * f..(i as usize + 1) * f], out));
        let centroids = seed_centroids(&sample, f, params.lists, &mut rng, cancel);
        let lists = centroids.len().checked_div(f).unwrap_or(0);
        IvfBuilder {
            vectors,
            f,
            lists,
            kern,
            sample,
            centroids,
            cancel,
        }
    }

    /// One k-means round over the sample: assign (in parallel), then move each centroid to
    /// the normalised sum of its rows (an empty list keeps its centroid). Does nothing once
    /// `cancel` is set.
    pub fn step(&mut self) {
        let (f, lists) = (self.f, self.lists);
        if lists == 0 || self.cancel.is_cancelled() {
            return;
        }
        let rows = chunk_rows(lists);
        let mut who = vec![0u32; self.sample.len() / f];
        let (centroids, cancel) = (&self.centroids, self.cancel);
        who.par_chunks_mut(rows)
            .zip(self.sample.par_chunks(rows * f))
            .for_each(|(out, chunk)| {
                if !cancel.is_cancelled() {
                    assign_rows(chunk, f, centroids, lists, out);
                }
            });
        if cancel.is_cancelled() {
            return;
        }
        let mut total = vec![0f32; lists * f];
        let mut count = vec![0u32; lists];
        for (row, &l) in self.sample.chunks_exact(f).zip(&who) {
            let l = l as usize;
            count[l] += 1;
            for (t, x) in total[l * f..(l + 1) * f].iter_mut().zip(row) {
                *t += x;
            }
        }
        for l in 0..lists {
            let s = &total[l * f..(l + 1) * f];
            if count[l] > 0 && norm(self.kern, s) > 0.0 {
                unit(self.kern, s, &mut self.centroids[l * f..(l + 1) * f]);
            }
        }
    }

    /// Assigns every item and computes each list's centroid (the mean of its raw vectors),
    /// mean bias and shrunk centroid (`support`: training interactions per item).
    /// None once `cancel` is set.
    pub fn finish(self, item_bias: &[f32], support: &[f32]) -> Option<Ivf> {
        if self.cancel.is_cancelled() {
            return None;
        }
        let (f, lists) = (self.f, self.lists);
        let n = self.vectors.len().checked_div(f).unwrap_or(0);
        let (codes, scales) = quantize4(&self.vectors[..n * f], f);
        let norms: Vec<f32> = self.vectors[..n * f]
            .chunks_exact(f.max(1))
            .map(|v| norm(self.kern, v))
            .collect();
        let unit_scales = crate::quant::unit_scales(&scales, &norms);
        if lists == 0 {
            // No item has a direction: one list of every item.
            let mean = item_bias.iter().map(|&b| b as f64).sum::<f64>() / n.max(1) as f64;
            return Some(Ivf {
                factors: f,
                centroids: vec![0.0; f],
                list_bias: vec![mean as f32],
                shrunk_centroids: vec![0.0; f],
                offsets: vec![0, n as u32],
                items: (0..n as u32).collect(),
                rows: self.vectors[..n * f].to_vec(),
                codes,
                scales,
                unit_scales,
            });
        }
        let rows = chunk_rows(lists);
        let mut who = vec![0u32; n];
        let kern = self.kern;
        let centroids = &self.centroids;
        let cancel = self.cancel;
        who.par_chunks_mut(rows)
            .zip(self.vectors.par_chunks(rows * f))
            .for_each(|(out, chunk)| {
                if cancel.is_cancelled() {
                    return;
                }
                let mut units = vec![0f32; chunk.len()];
                for (u, v) in units.chunks_exact_mut(f).zip(chunk.chunks_exact(f)) {
                    unit(kern, v, u);
                }
                assign_rows(&units, f, centroids, lists, out);
            });
        if cancel.is_cancelled() {
            return None;
        }
        // Counting sort: items ascending within each list.
        let mut offsets = vec![0u32; lists + 1];
        for &l in &who {
            offsets[l as usize + 1] += 1;
        }
        for l in 0..lists {
            offsets[l + 1] += offsets[l];
        }
        let mut next: Vec<u32> = offsets[..lists].to_vec();
        let mut items = vec![0u32; n];
        for (i, &l) in who.iter().enumerate() {
            items[next[l as usize] as usize] = i as u32;
            next[l as usize] += 1;
        }
        let means: Vec<(Vec<f32>, f32, Vec<f32>)> = (0..lists)
            .into_par_iter()
            .map(|l| {
                let members = &items[offsets[l] as usize..offsets[l + 1] as usize];
                let mut c = vec![0f32; f];
                let mut shrunk = vec![0f32; f];
                let mut u = vec![0f32; f];
                let mut b = 0f64;
                for &i in members {
                    let v = &self.vectors[i as usize * f..(i as usize + 1) * f];
                    for (c, x) in c.iter_mut().zip(v) {
                        *c += x;
                    }
                    unit(kern, v, &mut u);
                    let w = shrink(
                        1.0,
                        support.get(i as usize).copied().unwrap_or(0.0),
                        DEFAULT_SHRINKAGE,
                    );
                    for (s, x) in shrunk.iter_mut().zip(&u) {
                        *s += w * x;
                    }
                    b += item_bias.get(i as usize).copied().unwrap_or(0.0) as f64;
                }
                let inv = 1.0 / members.len().max(1) as f32;
                c.iter_mut().for_each(|x| *x *= inv);
                shrunk.iter_mut().for_each(|x| *x *= inv);
                (c, (b / members.len().max(1) as f64) as f32, shrunk)
            })
            .collect();
        Some(Ivf {
            factors: f,
            centroids: means
                .iter()
                .flat_map(|(c, _, _)| c.iter().copied())
                .collect(),
            list_bias: means.iter().map(|(_, b, _)| *b).collect(),
            shrunk_centroids: means
                .iter()
                .flat_map(|(_, _, s)| s.iter().copied())
                .collect(),
            rows: items
                .iter()
                .flat_map(|&i| &self.vectors[i as usize * f..(i as usize + 1) * f])
                .copied()
                .collect(),
            offsets,
            items,
            codes,
            scales,
            unit_scales,
        })
    }
}

/// Scores the items of `lists` (in list order) from the index's contiguous rows, passes each
/// dot product through `finish(item, dot)`, and keeps the k best, skipping `exclude` and NaN.
fn scan_lists(
    ivf: IvfRef<'_>,
    lists: &[usize],
    kern: Kernels,
    q: &[f32],
    k: usize,
    exclude: Skip<'_>,
    finish: impl Fn(u32, f32) -> f32,
) -> Vec<Scored> {
    let f = ivf.factors;
    let mut top = TopK::new(k);
    let mut dots: Vec<f32> = Vec::new();
    for &l in lists {
        let (lo, hi) = (ivf.offsets[l] as usize, ivf.offsets[l + 1] as usize);
        dots.clear();
        dots.resize(hi - lo, 0.0);
        match ivf.rows {
            _ if f == 0 => {}
            ListRows::F16(h) => kern.dots_f16(q, &h[lo * f..hi * f], &mut dots),
            ListRows::F32(r) => kern.dots(q, &r[lo * f..hi * f], &mut dots),
        }
        for (&i, &d) in ivf.list(l).iter().zip(&dots) {
            let s = finish(i, d);
            if top.admits(s) && !exclude.contains(i) {
                top.push(i, s);
            }
        }
    }
    top.into_sorted()
}

/// The k best items for user `u` of a dot-product model among the items of the `probes` lists
/// whose centroids score best for the user (centroid dot product plus the list's mean item
/// bias); scores as [`crate::serving::recommend_scan`] computes them. With every list probed,
/// the same answer as the exact scan.
#[allow(clippy::too_many_arguments)]
pub fn recommend_ivf<'a>(
    view: &ModelView<'_>,
    kern: Kernels,
    ivf: IvfRef<'_>,
    u: u32,
    k: usize,
    exclude: impl Into<Skip<'a>>,
    probes: usize,
) -> Vec<Scored> {
    let base = view.global_mean + view.user_bias[u as usize];
    let p = view.user(u);
    let list_scores = user_list_scores(view, kern, ivf, u);
    let exclude = exclude.into();
    widening(ivf.n_lists(), probes, k, |probes| {
        let lists = IvfRef::best_lists(&list_scores, probes);
        scan_lists(ivf, &lists, kern, p, k, exclude, |i, d| {
            d + (base + view.item_bias[i as usize])
        })
    })
}

/// What user `u` scores the lists by: the centroid's dot product plus the list's mean item bias.
fn user_list_scores(view: &ModelView<'_>, kern: Kernels, ivf: IvfRef<'_>, u: u32) -> Vec<f32> {
    let mut list_scores = vec![0f32; ivf.n_lists()];
    if view.factors > 0 {
        kern.dots(view.user(u), ivf.centroids, &mut list_scores);
    }
    for (s, b) in list_scores.iter_mut().zip(ivf.list_bias) {
        *s += b;
    }
    list_scores
}

/// What item vector `q` scores the lists by in a similar-items search: with shrinkage, the
/// lists whose weighted unit vectors point its way; plain cosine, the lists whose centroids
/// are closest in angle (NaN, never probed, for a list without a direction).
fn item_list_scores(
    kern: Kernels,
    ivf: IvfRef<'_>,
    q: &[f32],
    shrinkage: Option<Shrinkage<'_>>,
) -> Vec<f32> {
    let f = ivf.factors;
    let mut list_scores = vec![0f32; ivf.n_lists()];
    match shrinkage {
        Some(sh) if sh.shrinkage > 0.0 => kern.dots(q, ivf.shrunk_centroids, &mut list_scores),
        _ => {
            kern.dots(q, ivf.centroids, &mut list_scores);
            // (f.max(1): a model without factors has no centroids, and chunks_exact(0) panics)
            for (s, c) in list_scores
                .iter_mut()
                .zip(ivf.centroids.chunks_exact(f.max(1)))
            {
                let nc = norm(kern, c);
                *s = if nc > 0.0 { *s / nc } else { f32::NAN };
            }
        }
    }
    list_scores
}

/// Runs `scan(probes)`, doubling the probes while it returns fewer than k items and lists are
/// left: when exclusions or hidden items empty the nearest lists, an approximate search still
/// returns k items as long as the catalog has them (with every list probed, what the exact scan
/// returns).
fn widening(
    n_lists: usize,
    probes: usize,
    k: usize,
    scan: impl Fn(usize) -> Vec<Scored>,
) -> Vec<Scored> {
    let mut probes = probes.clamp(1, n_lists.max(1));
    loop {
        let got = scan(probes);
        if got.len() >= k || probes >= n_lists {
            return got;
        }
        probes = (probes * 2).min(n_lists);
    }
}

/// The k items most similar to `item` (cosine, shrunk as given) among the items of the
/// `probes` lists whose centroids are closest in angle, skipping `exclude` (the item itself is
/// always left out; more lists are probed while fewer than k are found); scores as
/// [`crate::similarity::embedding_neighbours_scan`] computes them.
#[allow(clippy::too_many_arguments)]
pub fn similar_ivf(
    view: &ModelView<'_>,
    kern: Kernels,
    ivf: IvfRef<'_>,
    norms: &[f32],
    shrinkage: Option<Shrinkage<'_>>,
    item: u32,
    k: usize,
    exclude: Skip<'_>,
    probes: usize,
) -> Vec<Scored> {
    let nq = norms[item as usize];
    if nq == 0.0 {
        return Vec::new();
    }
    let q = view.item(item);
    let list_scores = item_list_scores(kern, ivf, q, shrinkage);
    let itself = [item];
    let exclude = exclude.and(&itself);
    widening(ivf.n_lists(), probes, k, |probes| {
        let lists = IvfRef::best_lists(&list_scores, probes);
        scan_lists(ivf, &lists, kern, q, k, exclude, |j, d| {
            let c = cosine_of(d, nq, norms[j as usize]);
            match shrinkage {
                Some(sh) => shrink(c, sh.support[j as usize], sh.shrinkage),
                None => c,
            }
        })
    })
}

/// Queries of each kind (users for recommend, items for similar items) that an index's recall
/// is measured on when it is built.
pub const RECALL_QUERIES: usize = 128;

/// The k of the recall an index measures: recall@10.
pub const RECALL_K: usize = 10;

/// Random stream purpose of the measurement's queries.
const RECALL_STREAM: u64 = 0x1F_0002;

/// `count` distinct values drawn from `pool` (all of them when it is no larger): the first
/// `count` of a seeded partial Fisher-Yates shuffle, ascending.
fn draw(pool: &[u32], count: usize, rng: &mut crate::rng::Rng) -> Vec<u32> {
    let mut order = pool.to_vec();
    let take = count.min(order.len());
    for i in 0..take {
        let j = rand::Rng::gen_range(rng, i..order.len());
        order.swap(i, j);
    }
    order.truncate(take);
    order.sort_unstable();
    order
}

/// The queries an index of `n_items` built with `params` measures its recall on: up to
/// [`RECALL_QUERIES`] users of `n_users`, and as many items held out of the k-means training
/// sample (drawn from every item when the sample holds them all, as in a small catalog).
pub fn recall_queries(n_users: usize, n_items: usize, params: &IvfParams) -> (Vec<u32>, Vec<u32>) {
    let mut rng = stream(params.seed, &[RECALL_STREAM]);
    let users = draw(
        &(0..n_users as u32).collect::<Vec<_>>(),
        RECALL_QUERIES,
        &mut rng,
    );
    let trained = training_sample(n_items, params, &mut stream(params.seed, &[IVF_STREAM]));
    let mut held_out = Vec::with_capacity(n_items - trained.len());
    let mut t = trained.iter().peekable();
    for i in 0..n_items as u32 {
        if t.peek() == Some(&&i) {
            t.next();
        } else {
            held_out.push(i);
        }
    }
    if held_out.is_empty() {
        held_out = trained;
    }
    let items = draw(&held_out, RECALL_QUERIES, &mut rng);
    (users, items)
}

/// The recall@10 of an index against the exact scan for every number of probes: entry p - 1 is
/// the share of the exact top 10s (`exact`: recommend for its users, embedding neighbours shrunk
/// by `shrinkage` for its items) that lies in the query's p best lists, the lower of the two
/// kinds. A search with p probes scores every item of its lists exactly, so this is the recall it
/// reaches (at least: it probes more lists when its lists hold fewer than k items). Measured
/// once, when the index is built, the queries spread over the current rayon pool; the same curve
/// whatever the thread count. None once `cancel` is set.
pub fn measure_recall(
    view: &ModelView<'_>,
    kern: Kernels,
    ivf: IvfRef<'_>,
    shrinkage: Option<Shrinkage<'_>>,
    exact: &ExactTops,
    cancel: &CancelFlag,
) -> Option<Vec<f32>> {
    let lists = ivf.n_lists();
    let mut list_of = vec![0u32; view.n_items()];
    for l in 0..lists {
        for &i in ivf.list(l) {
            list_of[i as usize] = l as u32;
        }
    }
    // For one query: the probes each of its exact neighbours needs (its list's rank + 1; lists
    // a search never probes, with a NaN score, count past the end).
    let needs = |exact: &[Scored], list_scores: Vec<f32>| -> Vec<u32> {
        let mut rank = vec![u32::MAX; lists];
        for (r, l) in top_k(&list_scores, lists, &[]).iter().enumerate() {
            rank[l.index as usize] = r as u32;
        }
        exact
            .iter()
            .map(|e| rank[list_of[e.index as usize] as usize].saturating_add(1))
            .collect()
    };
    let by_user: Vec<Option<Vec<u32>>> = exact
        .users
        .par_iter()
        .map(|(u, top)| {
            if cancel.is_cancelled() {
                return None;
            }
            Some(needs(top, user_list_scores(view, kern, ivf, *u)))
        })
        .collect();
    let by_item: Vec<Option<Vec<u32>>> = exact
        .items
        .par_iter()
        .map(|(i, top)| {
            if cancel.is_cancelled() {
                return None;
            }
            Some(needs(
                top,
                item_list_scores(kern, ivf, view.item(*i), shrinkage),
            ))
        })
        .collect();
    if cancel.is_cancelled() {
        return None;
    }
    let curve = |needs: Vec<Option<Vec<u32>>>| -> Option<Vec<f32>> {
        let mut at = vec![0u64; lists + 1];
        let mut total = 0u64;
        for n in needs {
            for p in n? {
                total += 1;
                if (p as usize) <= lists {
                    at[p as usize] += 1;
                }
            }
        }
        let mut found = 0u64;
        Some(
            (1..=lists)
                .map(|p| {
                    found += at[p];
                    if total == 0 {
                        1.0
                    } else {
                        (found as f64 / total as f64) as f32
                    }
                })
                .collect(),
        )
    };
    let (a, b) = (curve(by_user)?, curve(by_item)?);
    Some(a.iter().zip(&b).map(|(x, y)| x.min(*y)).collect())
}

/// The exact top 10s the recall measurements compare the searches with: recommend for each
/// user, embedding neighbours shrunk by the given shrinkage for each item (computed once, for
/// both [`measure_recall`] and [`measure_shortlist_recall`]).
pub struct ExactTops {
    pub users: Vec<(u32, Vec<Scored>)>,
    pub items: Vec<(u32, Vec<Scored>)>,
}

/// The exact top 10s of `users` and `items` ([`ExactTops`]), the queries spread over the current
/// rayon pool; None once `cancel` is set.
pub fn exact_tops(
    view: &ModelView<'_>,
    kern: Kernels,
    norms: &[f32],
    shrinkage: Option<Shrinkage<'_>>,
    users: &[u32],
    items: &[u32],
    cancel: &CancelFlag,
) -> Option<ExactTops> {
    let users: Option<Vec<(u32, Vec<Scored>)>> = users
        .par_iter()
        .map(|&u| {
            (!cancel.is_cancelled()).then(|| {
                let top = crate::serving::recommend_scan(
                    view,
                    kern,
                    u,
                    RECALL_K,
                    Skip::NONE,
                    false,
                    ScanRows::F32,
                );
                (u, top)
            })
        })
        .collect();
    let items: Option<Vec<(u32, Vec<Scored>)>> = items
        .par_iter()
        .map(|&i| {
            (!cancel.is_cancelled()).then(|| {
                let top = crate::similarity::embedding_neighbours_scan(
                    view,
                    kern,
                    norms,
                    shrinkage,
                    i,
                    RECALL_K,
                    Skip::NONE,
                    false,
                    ScanRows::F32,
                );
                (i, top)
            })
        })
        .collect();
    Some(ExactTops {
        users: users?,
        items: items?,
    })
}

/// The fewest probes whose measured recall (`curve`, from [`measure_recall`]) reaches `target`;
/// every list when none does. None without a curve.
pub fn probes_for(curve: &[f32], target: f64) -> Option<usize> {
    if curve.is_empty() {
        return None;
    }
    Some(
        curve
            .iter()
            // in f32, as stored: a recall of 0.95 reaches a target of 0.95
            .position(|&r| r >= target as f32)
            .map_or(curve.len(), |p| p + 1),
    )
}

/// Short lists whose recall@10 [`measure_shortlist_recall`] measures: 10 x 2^i items.
pub const SHORTLISTS: [usize; 11] = [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240];

/// The shortest of [`SHORTLISTS`] whose measured recall (`curve`, from
/// [`measure_shortlist_recall`]) reaches `target`; None when none does (or nothing was
/// measured).
pub fn shortlist_for(curve: &[f32], target: f64) -> Option<usize> {
    curve
        .iter()
        // in f32, as stored (see probes_for)
        .position(|&r| r >= target as f32)
        .map(|i| SHORTLISTS[i])
}

/// The recall@10 of the approximate scan over the index's 4-bit codes against the exact scan,
/// for each short list of [`SHORTLISTS`]: on the same exact top 10s as [`measure_recall`] (the lower
/// of the two kinds), the share of each exact top 10 whose approximate score ranks within the
/// short list. The scan re-scores its short list exactly, so that is the recall it reaches.
/// None once `cancel` is set.
#[allow(clippy::too_many_arguments)]
pub fn measure_shortlist_recall(
    view: &ModelView<'_>,
    kern: Kernels,
    ivf: IvfRef<'_>,
    norms: &[f32],
    shrinkage: Option<Shrinkage<'_>>,
    exact: &ExactTops,
    cancel: &CancelFlag,
) -> Option<Vec<f32>> {
    let longest = SHORTLISTS[SHORTLISTS.len() - 1];
    // For one query: the rank in the approximate order of each exact neighbour (longest past
    // the longest list; 0 for a query the scan answers exactly).
    let ranks = |exact: &[Scored], short: Option<Vec<Scored>>| -> Vec<usize> {
        match short {
            None => vec![0; exact.len()],
            Some(short) => exact
                .iter()
                .map(|e| {
                    short
                        .iter()
                        .position(|s| s.index == e.index)
                        .unwrap_or(longest)
                })
                .collect(),
        }
    };
    let by_user: Vec<Option<Vec<usize>>> = exact
        .users
        .par_iter()
        .map(|&(u, ref top)| {
            if cancel.is_cancelled() {
                return None;
            }
            let finish = crate::serving::recommend_finish(view, u);
            let short = shortlist_i4(
                kern,
                view.user(u),
                ivf.codes,
                longest,
                Skip::NONE,
                false,
                finish,
            );
            Some(ranks(top, short))
        })
        .collect();
    let by_item: Vec<Option<Vec<usize>>> = exact
        .items
        .par_iter()
        .map(|&(i, ref top)| {
            if cancel.is_cancelled() {
                return None;
            }
            let nq = norms[i as usize];
            // as the scan: approximate cosines from the unit vectors' scales
            let finish = crate::similarity::approx_neighbour_finish(nq, shrinkage);
            let unit = I4Rows {
                scales: ivf.codes.unit_scales,
                ..ivf.codes
            };
            let itself = [i];
            let short = (nq != 0.0)
                .then(|| shortlist_i4(kern, view.item(i), unit, longest, &itself, false, finish))
                .flatten();
            Some(ranks(top, short))
        })
        .collect();
    if cancel.is_cancelled() {
        return None;
    }
    let curve = |ranks: Vec<Option<Vec<usize>>>| -> Option<Vec<f32>> {
        let ranks: Vec<usize> = ranks.into_iter().collect::<Option<Vec<_>>>()?.concat();
        Some(
            SHORTLISTS
                .iter()
                .map(|&s| {
                    if ranks.is_empty() {
                        1.0
                    } else {
                        let found = ranks.iter().filter(|&&r| r < s).count();
                        (found as f64 / ranks.len() as f64) as f32
                    }
                })
                .collect(),
        )
    };
    let (a, b) = (curve(by_user)?, curve(by_item)?);
    Some(a.iter().zip(&b).map(|(x, y)| x.min(*y)).collect())
}

/// Share of `exact`'s items that `approx` found (recall@k of an approximate answer).
pub fn recall(exact: &[Scored], approx: &[Scored]) -> f64 {
    if exact.is_empty() {
        return 1.0;
    }
    let found = exact
        .iter()
        .filter(|e| approx.iter().any(|a| a.index == e.index))
        .count();
    found as f64 / exact.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::f16_bits;
    use crate::model::FactorModel;
    use crate::serving::recommend_scan;
    use crate::similarity::embedding_neighbours_scan;
    use rand::{Rng, SeedableRng};

    /// Builds an index in one call (on the current rayon pool), never cancelled.
    fn build(
        vectors: &[f32],
        item_bias: &[f32],
        support: &[f32],
        f: usize,
        params: &IvfParams,
    ) -> Ivf {
        let cancel = CancelFlag::new();
        let mut b = IvfBuilder::new(vectors, f, params, &cancel);
        for _ in 0..params.iterations {
            b.step();
        }
        b.finish(item_bias, support).expect("never cancelled")
    }

    /// k-means++ seeding draws each next seed in proportion to the distance to the nearest
    /// seed so far: on four orthogonal clusters of unit rows (interleaved), four seeds land in
    /// four different clusters, for every random stream. A draw that always takes the last
    /// row, or one uniform over the rows, fails it.
    #[test]
    fn seeding_spreads_the_seeds_over_the_clusters() {
        let (f, per) = (8, 16);
        let mut noise = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let mut sample = Vec::new();
        for r in 0..4 * per {
            let mut row: Vec<f32> = (0..f).map(|_| noise.gen_range(-0.05..0.05)).collect();
            row[r % 4] = 1.0;
            let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            sample.extend(row.iter().map(|x| x / n));
        }
        let cancel = CancelFlag::new();
        for seed in 0..10 {
            let mut rng = crate::rng::stream(seed, &[]);
            let seeds = seed_centroids(&sample, f, 4, &mut rng, &cancel);
            assert_eq!(seeds.len(), 4 * f);
            let mut clusters: Vec<usize> = seeds
                .chunks_exact(f)
                .map(|c| (0..4).max_by(|&a, &b| c[a].total_cmp(&c[b])).unwrap_or(0))
                .collect();
            clusters.sort_unstable();
            assert_eq!(clusters, vec![0, 1, 2, 3], "seed {seed}");
        }
        // No dimensions or no lists: no seeds (and no division by zero).
        let mut rng = crate::rng::stream(0, &[]);
        assert!(seed_centroids(&[], 0, 4, &mut rng, &cancel).is_empty());
        assert!(seed_centroids(&sample, f, 0, &mut rng, &cancel).is_empty());
    }

    /// Each list's summaries are what their definitions say, recomputed from its members in
    /// f64: the centroid the mean vector, the bias the mean item bias, the shrunk centroid the
    /// mean of the unit vectors weighted by n / (n + DEFAULT_SHRINKAGE). A user scores a list
    /// by its centroid's dot product plus that bias; an item query with shrinkage by the shrunk
    /// centroid, and with shrinkage 0 as without (cosine to the centroid).
    #[test]
    fn list_summaries_and_list_scores_follow_their_definitions() {
        let f = 8;
        let m = clustered(600, 6, f, 0.2);
        let params = IvfParams {
            lists: 6,
            iterations: 5,
            sample_per_list: 64,
            seed: 5,
        };
        let support: Vec<f32> = (0..600).map(|i| (i * 7 % 40) as f32).collect();
        let ivf = build(&m.item_factors, &m.item_bias, &support, f, &params);
        let close = |a: f64, b: f32, what: &str| {
            assert!(
                (a - b as f64).abs() <= 1e-5 * (1.0 + a.abs()),
                "{what}: {a} vs {b}"
            );
        };
        for l in 0..6 {
            let members = ivf.as_ref().list(l);
            assert!(!members.is_empty());
            let n = members.len() as f64;
            for d in 0..f {
                let mean: f64 = members
                    .iter()
                    .map(|&i| m.item_factors[i as usize * f + d] as f64)
                    .sum::<f64>()
                    / n;
                close(mean, ivf.centroids[l * f + d], "centroid");
                let shrunk: f64 = members
                    .iter()
                    .map(|&i| {
                        let v = &m.item_factors[i as usize * f..(i as usize + 1) * f];
                        let len = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
                        let s = support[i as usize] as f64;
                        let w = s / (s + DEFAULT_SHRINKAGE as f64);
                        w * v[d] as f64 / len
                    })
                    .sum::<f64>()
                    / n;
                close(shrunk, ivf.shrunk_centroids[l * f + d], "shrunk centroid");
            }
            let bias: f64 = members
                .iter()
                .map(|&i| m.item_bias[i as usize] as f64)
                .sum::<f64>()
                / n;
            close(bias, ivf.list_bias[l], "list bias");
        }
        let kern = Kernels::detect();
        let view = m.view();
        for u in 0..3u32 {
            let scores = user_list_scores(&view, kern, ivf.as_ref(), u);
            for (l, &got) in scores.iter().enumerate() {
                let dot: f64 = (0..f)
                    .map(|d| view.user(u)[d] as f64 * ivf.centroids[l * f + d] as f64)
                    .sum();
                close(dot + ivf.list_bias[l] as f64, got, "user list score");
            }
        }
        let q = &m.item_factors[..f];
        let by =
            |shrinkage: Option<Shrinkage<'_>>| item_list_scores(kern, ivf.as_ref(), q, shrinkage);
        let shrunk = by(Some(Shrinkage {
            support: &support,
            shrinkage: DEFAULT_SHRINKAGE,
        }));
        let plain = by(None);
        for l in 0..6 {
            let c = &ivf.centroids[l * f..(l + 1) * f];
            let dot = |a: &[f32]| -> f64 { (0..f).map(|d| q[d] as f64 * a[d] as f64).sum() };
            let len = c.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
            close(dot(c) / len, plain[l], "cosine to the centroid");
            close(
                dot(&ivf.shrunk_centroids[l * f..(l + 1) * f]),
                shrunk[l],
                "shrunk list score",
            );
        }
        let zero = by(Some(Shrinkage {
            support: &support,
            shrinkage: 0.0,
        }));
        assert_eq!(zero, plain, "shrinkage 0 scores the lists as plain cosine");
    }

    /// Items around `clusters` random directions (plus small noise), users random.
    fn clustered(n_items: usize, clusters: usize, f: usize, noise: f32) -> FactorModel {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let dirs: Vec<f32> = (0..clusters * f)
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect();
        let mut items = Vec::with_capacity(n_items * f);
        for i in 0..n_items {
            let c = i % clusters;
            let scale = rng.gen_range(0.5..2.0);
            for j in 0..f {
                items.push(scale * dirs[c * f + j] + noise * rng.gen_range(-1.0..1.0));
            }
        }
        let n_users = 20;
        FactorModel {
            factors: f,
            global_mean: 3.0,
            rating_range: None,
            user_bias: (0..n_users).map(|_| rng.gen_range(-0.1..0.1)).collect(),
            item_bias: (0..n_items).map(|_| rng.gen_range(-0.1..0.1)).collect(),
            user_factors: (0..n_users * f).map(|_| rng.gen_range(-1.0..1.0)).collect(),
            item_factors: items,
            head: None,
        }
    }

    /// Recall@10 of a similar-items search with `probes` lists against the exact scan.
    fn similar_recall(
        view: &ModelView<'_>,
        ivf: IvfRef<'_>,
        norms: &[f32],
        sh: Option<Shrinkage<'_>>,
        item: u32,
        probes: usize,
    ) -> f64 {
        let kern = Kernels::detect();
        let exact = embedding_neighbours_scan(
            view,
            kern,
            norms,
            sh,
            item,
            10,
            Skip::NONE,
            false,
            ScanRows::F32,
        );
        let approx = similar_ivf(view, kern, ivf, norms, sh, item, 10, Skip::NONE, probes);
        recall(&exact, &approx)
    }

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
    }

    #[test]
    fn every_item_in_exactly_one_list_and_the_same_index_for_any_thread_count() {
        let m = clustered(3000, 12, 16, 0.05);
        let params = IvfParams {
            lists: 12,
            iterations: 8,
            sample_per_list: 64,
            seed: 3,
        };
        let support: Vec<f32> = (0..3000).map(|i| (i % 50) as f32).collect();
        let one = pool(1).install(|| build(&m.item_factors, &m.item_bias, &support, 16, &params));
        let three = pool(3).install(|| build(&m.item_factors, &m.item_bias, &support, 16, &params));
        assert_eq!(one, three);
        assert!(one.as_ref().is_consistent(3000, 16));
        // The rows are the item vectors in list order.
        for (p, &i) in one.items.iter().enumerate() {
            let i = i as usize;
            assert_eq!(
                one.rows[p * 16..(p + 1) * 16],
                m.item_factors[i * 16..(i + 1) * 16]
            );
        }
        let mut all = one.items.clone();
        all.sort_unstable();
        assert_eq!(all, (0..3000u32).collect::<Vec<_>>());
        // Planted clusters are found: each list holds items of one cluster (i % 12) only.
        for l in 0..12 {
            let members = one.as_ref().list(l);
            assert!(!members.is_empty(), "list {l} is empty");
            let c = members[0] % 12;
            assert!(
                members.iter().all(|&i| i % 12 == c),
                "list {l} mixes clusters"
            );
        }
        // Centroids are the members' means, list_bias their mean bias.
        let l0 = one.as_ref().list(0);
        let mean0: f32 = l0
            .iter()
            .map(|&i| m.item_factors[i as usize * 16])
            .sum::<f32>()
            / l0.len() as f32;
        assert!((one.centroids[0] - mean0).abs() < 1e-4);
        let bias0: f32 = l0.iter().map(|&i| m.item_bias[i as usize]).sum::<f32>() / l0.len() as f32;
        assert!((one.list_bias[0] - bias0).abs() < 1e-5);
        // Another seed gives another (equally valid) index.
        let other = build(
            &m.item_factors,
            &m.item_bias,
            &support,
            16,
            &IvfParams { seed: 4, ..params },
        );
        assert!(other.as_ref().is_consistent(3000, 16));
    }

    #[test]
    fn probing_every_list_is_the_exact_scan() {
        let m = clustered(2500, 10, 8, 0.5);
        let support: Vec<f32> = (0..2500).map(|i| (i % 31) as f32).collect();
        let ivf = build(
            &m.item_factors,
            &m.item_bias,
            &support,
            8,
            &IvfParams::for_items(2500, Some(9)),
        );
        let view = m.view();
        let kern = Kernels::detect();
        let norms = m.item_norms(kern);
        let sh = Shrinkage {
            support: &support,
            shrinkage: 25.0,
        };
        let lists = ivf.as_ref().n_lists();
        for u in 0..5u32 {
            let exclude = [3u32, 17, 400];
            let exact = recommend_scan(&view, kern, u, 10, &exclude, false, ScanRows::F32);
            let approx = recommend_ivf(&view, kern, ivf.as_ref(), u, 10, &exclude, lists);
            assert_eq!(exact, approx, "user {u}");
            assert!(approx.iter().all(|s| !exclude.contains(&s.index)));
        }
        for item in [0u32, 5, 77, 1999] {
            let exact = embedding_neighbours_scan(
                &view,
                kern,
                &norms,
                Some(sh),
                item,
                10,
                Skip::NONE,
                false,
                ScanRows::F32,
            );
            let approx = similar_ivf(
                &view,
                kern,
                ivf.as_ref(),
                &norms,
                Some(sh),
                item,
                10,
                Skip::NONE,
                lists,
            );
            assert_eq!(exact, approx, "item {item}");
        }
    }

    #[test]
    fn a_kmeans_step_moves_each_centroid_to_the_unit_mean_of_its_rows() {
        let m = clustered(600, 5, 6, 0.4);
        let params = IvfParams::for_items(600, Some(5));
        let cancel = CancelFlag::new();
        let mut b = IvfBuilder::new(&m.item_factors, 6, &params, &cancel);
        let kern = Kernels::detect();
        for _ in 0..2 {
            let before = b.centroids.clone();
            let mut who = vec![0u32; b.sample.len() / 6];
            assign_rows(&b.sample, 6, &before, b.lists, &mut who);
            b.step();
            for l in 0..b.lists {
                let mut sum = vec![0f32; 6];
                let mut n = 0;
                for (row, &w) in b.sample.chunks_exact(6).zip(&who) {
                    if w as usize == l {
                        n += 1;
                        for (s, x) in sum.iter_mut().zip(row) {
                            *s += x;
                        }
                    }
                }
                let got = &b.centroids[l * 6..(l + 1) * 6];
                if n == 0 {
                    assert_eq!(
                        got,
                        &before[l * 6..(l + 1) * 6],
                        "an empty list keeps its centroid"
                    );
                    continue;
                }
                let norm_sum = norm(kern, &sum);
                for (g, s) in got.iter().zip(&sum) {
                    assert!(
                        (g - s / norm_sum).abs() < 1e-4,
                        "list {l}: {got:?} vs {sum:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn without_directions_one_list_holds_every_item_with_the_mean_bias() {
        let vectors = vec![0f32; 4 * 3];
        let bias = [1.0f32, 2.0, 3.0, 6.0];
        let ivf = build(
            &vectors,
            &bias,
            &[1.0; 4],
            3,
            &IvfParams::for_items(4, Some(2)),
        );
        assert_eq!(ivf.list_bias, vec![3.0]);
        assert_eq!(ivf.items, vec![0, 1, 2, 3]);
    }

    #[test]
    fn every_part_that_disagrees_makes_the_index_inconsistent() {
        let m = clustered(300, 6, 4, 0.2);
        let support = vec![1.0f32; 300];
        let good = build(
            &m.item_factors,
            &m.item_bias,
            &support,
            4,
            &IvfParams::for_items(300, Some(6)),
        );
        assert!(good.as_ref().is_consistent(300, 4));
        assert!(!good.as_ref().is_consistent(301, 4), "item count");
        assert!(!good.as_ref().is_consistent(300, 5), "factors");
        type Damage = fn(&mut Ivf);
        let damages: [(&str, Damage); 9] = [
            ("centroids", |x| {
                x.centroids.pop();
            }),
            ("list bias", |x| {
                x.list_bias.pop();
            }),
            ("shrunk centroids", |x| {
                x.shrunk_centroids.pop();
            }),
            ("items", |x| {
                x.items.pop();
            }),
            ("rows", |x| {
                x.rows.pop();
            }),
            ("first offset", |x| x.offsets[0] = 1),
            ("last offset", |x| {
                if let Some(o) = x.offsets.last_mut() {
                    *o -= 1;
                }
            }),
            ("offset order", |x| x.offsets.swap(1, 2)),
            ("item index", |x| x.items[0] = 300),
        ];
        for (what, damage) in damages {
            let mut bad = good.clone();
            damage(&mut bad);
            assert!(!bad.as_ref().is_consistent(300, 4), "{what}");
        }
    }

    #[test]
    fn hidden_items_never_come_back_and_k_rows_do_while_the_catalog_has_them() {
        let m = clustered(3000, 12, 8, 0.2);
        let support: Vec<f32> = (0..3000).map(|i| (i % 17) as f32).collect();
        let ivf = build(
            &m.item_factors,
            &m.item_bias,
            &support,
            8,
            &IvfParams::for_items(3000, Some(12)),
        );
        let view = m.view();
        let kern = Kernels::detect();
        let norms = m.item_norms(kern);
        for u in 0..4u32 {
            // Hide every item of the lists one probe would scan, and a few more.
            let first = IvfRef::best_lists(
                &{
                    let mut s = vec![0f32; ivf.as_ref().n_lists()];
                    kern.dots(view.user(u), ivf.as_ref().centroids, &mut s);
                    for (s, b) in s.iter_mut().zip(ivf.as_ref().list_bias) {
                        *s += b;
                    }
                    s
                },
                1,
            )[0];
            let mut hidden: Vec<u32> = ivf.as_ref().list(first).to_vec();
            hidden.extend((0..3000u32).filter(|i| i % 97 == 0));
            hidden.sort();
            hidden.dedup();
            let seen = [1u32, 2, 3];
            let skip = Skip::sorted(&hidden).and(&seen);
            let approx = recommend_ivf(&view, kern, ivf.as_ref(), u, 10, skip, 1);
            assert_eq!(
                approx.len(),
                10,
                "user {u}: one probe of hidden items widened"
            );
            assert!(approx.iter().all(|s| !skip.contains(s.index)));
            // All but 5 hidden: exactly the 5 visible ones, from any number of probes.
            let visible: Vec<u32> = vec![10, 500, 1500, 2222, 2999];
            let all_but: Vec<u32> = (0..3000u32).filter(|i| !visible.contains(i)).collect();
            let few = recommend_ivf(&view, kern, ivf.as_ref(), u, 10, &all_but, 1);
            let mut got: Vec<u32> = few.iter().map(|s| s.index).collect();
            got.sort();
            assert_eq!(got, visible);
        }
        for item in [4u32, 900, 2500] {
            let hidden: Vec<u32> = (0..3000u32).filter(|i| i % 3 == 0 && *i != item).collect();
            let skip = Skip::sorted(&hidden);
            let exact = embedding_neighbours_scan(
                &view,
                kern,
                &norms,
                None,
                item,
                10,
                skip,
                false,
                ScanRows::F32,
            );
            assert!(exact.iter().all(|s| s.index % 3 != 0 && s.index != item));
            let approx = similar_ivf(&view, kern, ivf.as_ref(), &norms, None, item, 10, skip, 1);
            assert_eq!(approx.len(), 10);
            assert!(approx
                .iter()
                .all(|s| !skip.contains(s.index) && s.index != item));
            let every = similar_ivf(&view, kern, ivf.as_ref(), &norms, None, item, 10, skip, 12);
            assert_eq!(every, exact);
        }
    }

    #[test]
    fn few_probes_find_the_neighbours_of_clustered_items() {
        // 40 clusters, 40 lists: the cosine neighbours of an item are in its own cluster, so
        // probing 2 lists finds nearly all of them while scanning about 5% of the catalog.
        let m = clustered(8000, 40, 16, 0.1);
        let support: Vec<f32> = (0..8000).map(|i| ((i * 7) % 200) as f32).collect();
        let ivf = build(
            &m.item_factors,
            &m.item_bias,
            &support,
            16,
            &IvfParams::for_items(8000, Some(40)),
        );
        let view = m.view();
        let kern = Kernels::detect();
        let norms = m.item_norms(kern);
        let half = f16_bits(&m.item_factors);
        let half_rows = f16_bits(&ivf.rows);
        let ivf_full = &ivf;
        let (mut total, mut total16) = (0.0, 0.0);
        let queries = 50;
        for q in 0..queries {
            let item = q * 157;
            let exact = embedding_neighbours_scan(
                &view,
                kern,
                &norms,
                None,
                item,
                10,
                Skip::NONE,
                false,
                ScanRows::F32,
            );
            let ivf = ivf.as_ref();
            let approx = similar_ivf(&view, kern, ivf, &norms, None, item, 10, Skip::NONE, 2);
            total += recall(&exact, &approx);
            // f16 against the exact f16 scan (f16 itself reorders near-ties of the f32 one)
            let h = ScanRows::F16(&half[..]);
            let exact16 = embedding_neighbours_scan(
                &view,
                kern,
                &norms,
                None,
                item,
                10,
                Skip::NONE,
                false,
                h,
            );
            let ivf16 = ivf_full.with_rows(ListRows::F16(&half_rows));
            let approx16 = similar_ivf(&view, kern, ivf16, &norms, None, item, 10, Skip::NONE, 2);
            total16 += recall(&exact16, &approx16);
        }
        let (r, r16) = (total / queries as f64, total16 / queries as f64);
        assert!(r >= 0.99 && r16 >= 0.97, "recall@10 {r}, in f16 {r16}");
        // Shrunk by support: the lists are then ordered by their shrunk centroids (all zero,
        // or unweighted, would order them by chance or by angle alone).
        let sh = Some(Shrinkage {
            support: &support,
            shrinkage: 25.0,
        });
        let mut shrunk = 0.0;
        for q in 0..queries {
            shrunk += similar_recall(&view, ivf.as_ref(), &norms, sh, q * 157 + 1, 2);
        }
        assert!(
            shrunk / queries as f64 >= 0.99,
            "shrunk recall@10 {}",
            shrunk / queries as f64
        );
        // One probe of random lists would miss: a wrong list order shows here.
        let exact = embedding_neighbours_scan(
            &view,
            kern,
            &norms,
            None,
            3,
            10,
            Skip::NONE,
            false,
            ScanRows::F32,
        );
        let one = similar_ivf(
            &view,
            kern,
            ivf.as_ref(),
            &norms,
            None,
            3,
            10,
            Skip::NONE,
            1,
        );
        assert!(recall(&exact, &one) >= 0.9);
    }

    /// A noisy catalog (neighbours spread over many lists), its index of `lists` lists, and the
    /// support that shrinks similar items.
    fn noisy_index(lists: usize) -> (FactorModel, Ivf, Vec<f32>, IvfParams) {
        let m = clustered(4000, 25, 12, 0.9);
        let support: Vec<f32> = (0..4000).map(|i| ((i * 13) % 90) as f32).collect();
        let params = IvfParams {
            lists,
            iterations: 6,
            sample_per_list: 32,
            seed: 5,
        };
        let ivf = build(&m.item_factors, &m.item_bias, &support, 12, &params);
        (m, ivf, support, params)
    }

    #[test]
    fn the_measured_recall_is_what_the_search_reaches_at_every_probe_count() {
        let (m, ivf, support, params) = noisy_index(30);
        let view = m.view();
        let kern = Kernels::detect();
        let norms = m.item_norms(kern);
        let sh = Some(Shrinkage {
            support: &support,
            shrinkage: DEFAULT_SHRINKAGE,
        });
        let (users, items) = recall_queries(view.n_users(), view.n_items(), &params);
        assert_eq!((users.len(), items.len()), (20, RECALL_QUERIES));
        let measure = |cancel: &CancelFlag| {
            let exact = exact_tops(&view, kern, &norms, sh, &users, &items, cancel)?;
            measure_recall(&view, kern, ivf.as_ref(), sh, &exact, cancel)
        };
        let cancel = CancelFlag::new();
        let curve = measure(&cancel).expect("never cancelled");
        assert_eq!(curve.len(), 30);
        assert!(curve.windows(2).all(|w| w[0] <= w[1]), "{curve:?}");
        // noisy enough that the probes matter, and every list finds every neighbour
        assert!(curve[0] < 0.8 && curve[29] == 1.0, "{curve:?}");
        for p in [1, 2, 4, 9, 17, 30] {
            let mean = |r: Vec<f64>| r.iter().sum::<f64>() / r.len() as f64;
            let by_user = mean(
                users
                    .iter()
                    .map(|&u| {
                        let exact =
                            recommend_scan(&view, kern, u, 10, Skip::NONE, false, ScanRows::F32);
                        let approx = recommend_ivf(&view, kern, ivf.as_ref(), u, 10, Skip::NONE, p);
                        recall(&exact, &approx)
                    })
                    .collect(),
            );
            let by_item = mean(
                items
                    .iter()
                    .map(|&i| similar_recall(&view, ivf.as_ref(), &norms, sh, i, p))
                    .collect(),
            );
            let reached = by_user.min(by_item);
            assert!(
                (reached - curve[p - 1] as f64).abs() < 1e-6,
                "{p} probes: searches reach {by_user} (recommend) and {by_item} (similar items), the curve says {}",
                curve[p - 1]
            );
        }
        // The same curve whatever the thread count.
        for threads in [1, 3] {
            let again = pool(threads).install(|| measure(&cancel));
            assert_eq!(again.as_ref(), Some(&curve));
        }
        cancel.cancel();
        assert!(measure(&cancel).is_none());
    }

    #[test]
    fn the_measured_shortlist_recall_is_what_the_code_scan_reaches() {
        // 64 factors (the codes' vectorised kernel) of noise: no list structure to use
        let m = clustered(6000, 6000, 64, 0.0);
        let support: Vec<f32> = (0..6000).map(|i| ((i * 13) % 90) as f32).collect();
        let params = IvfParams::for_items(6000, Some(20));
        let ivf = build(&m.item_factors, &m.item_bias, &support, 64, &params);
        let view = m.view();
        let kern = Kernels::detect();
        let norms = m.item_norms(kern);
        let sh = Some(Shrinkage {
            support: &support,
            shrinkage: DEFAULT_SHRINKAGE,
        });
        let (users, items) = recall_queries(view.n_users(), view.n_items(), &params);
        let measure = |cancel: &CancelFlag| {
            let exact = exact_tops(&view, kern, &norms, sh, &users, &items, cancel)?;
            measure_shortlist_recall(&view, kern, ivf.as_ref(), &norms, sh, &exact, cancel)
        };
        let cancel = CancelFlag::new();
        let curve = measure(&cancel).expect("never cancelled");
        assert_eq!(curve.len(), SHORTLISTS.len());
        assert!(curve.windows(2).all(|w| w[0] <= w[1]), "{curve:?}");
        // the shortest list misses neighbours; one past the catalog finds them all
        assert!(curve[0] < 0.95 && curve[10] == 1.0, "{curve:?}");
        let mean = |r: Vec<f64>| r.iter().sum::<f64>() / r.len() as f64;
        for (at, &s) in SHORTLISTS.iter().enumerate().take(6) {
            let rows = ScanRows::I4 {
                rows: ivf.as_ref().codes,
                shortlist: s,
            };
            let by_user = mean(
                users
                    .iter()
                    .map(|&u| {
                        let exact =
                            recommend_scan(&view, kern, u, 10, Skip::NONE, false, ScanRows::F32);
                        let approx = recommend_scan(&view, kern, u, 10, Skip::NONE, false, rows);
                        // every score returned is the exact scan's score of that item
                        let all =
                            recommend_scan(&view, kern, u, 6000, Skip::NONE, false, ScanRows::F32);
                        for a in &approx {
                            let e = all.iter().find(|e| e.index == a.index).expect("an item");
                            assert_eq!(a.score.to_bits(), e.score.to_bits());
                        }
                        recall(&exact, &approx)
                    })
                    .collect(),
            );
            let by_item = mean(
                items
                    .iter()
                    .map(|&i| {
                        let scan = |rows| {
                            embedding_neighbours_scan(
                                &view,
                                kern,
                                &norms,
                                sh,
                                i,
                                10,
                                Skip::NONE,
                                false,
                                rows,
                            )
                        };
                        recall(&scan(ScanRows::F32), &scan(rows))
                    })
                    .collect(),
            );
            let reached = by_user.min(by_item);
            assert!(
                (reached - curve[at] as f64).abs() < 1e-6,
                "short list {s}: searches reach {by_user} (recommend) and {by_item} (similar items), the curve says {}",
                curve[at]
            );
        }
        assert_eq!(
            shortlist_for(&curve, 1.0),
            Some(SHORTLISTS[curve.iter().position(|&r| r == 1.0).unwrap_or(10)])
        );
        assert_eq!(shortlist_for(&curve, 0.0), Some(10));
        assert_eq!(shortlist_for(&[0.5; 11], 0.95), None);
        assert_eq!(shortlist_for(&[], 0.95), None);
        // The same curve whatever the thread count.
        for threads in [1, 3] {
            let again = pool(threads).install(|| measure(&cancel));
            assert_eq!(again.as_ref(), Some(&curve));
        }
        cancel.cancel();
        assert!(measure(&cancel).is_none());
    }

    #[test]
    fn the_fewest_probes_that_reach_the_target() {
        let curve = [0.5, 0.8, 0.95, 0.97, 1.0];
        assert_eq!(probes_for(&curve, 0.95), Some(3));
        assert_eq!(probes_for(&curve, 0.951), Some(4));
        assert_eq!(probes_for(&curve, 0.0), Some(1));
        assert_eq!(probes_for(&curve, 1.0), Some(5));
        // unreachable (lists that are never probed): every list
        assert_eq!(probes_for(&[0.5, 0.9], 0.95), Some(2));
        assert_eq!(probes_for(&[], 0.95), None);
    }

    #[test]
    fn recall_queries_hold_items_out_of_the_kmeans_sample() {
        let (_, _, _, params) = noisy_index(30);
        // 30 lists x 32 = 960 of 4000 items train k-means; the queries are among the others
        let trained = training_sample(4000, &params, &mut stream(params.seed, &[IVF_STREAM]));
        assert_eq!(trained.len(), 960);
        let (users, items) = recall_queries(500, 4000, &params);
        assert_eq!((users.len(), items.len()), (RECALL_QUERIES, RECALL_QUERIES));
        assert!(items.iter().all(|i| trained.binary_search(i).is_err()));
        assert!(items.windows(2).all(|w| w[0] < w[1]) && users.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(recall_queries(500, 4000, &params), (users, items));
        // a catalog the sample covers: queries drawn from every item; few users: all of them
        let (users, items) = recall_queries(7, 500, &params);
        assert_eq!(users, (0..7).collect::<Vec<u32>>());
        assert_eq!(items.len(), RECALL_QUERIES);
    }

    #[test]
    fn a_cancelled_build_gives_no_index() {
        let m = clustered(2000, 8, 8, 0.1);
        let params = IvfParams::for_items(2000, None);
        let cancel = CancelFlag::new();
        let mut b = IvfBuilder::new(&m.item_factors, 8, &params, &cancel);
        b.step();
        cancel.cancel();
        b.step();
        assert!(b.finish(&m.item_bias, &[]).is_none());
        // cancelled before seeding: no centroids drawn beyond the first
        let b = IvfBuilder::new(&m.item_factors, 8, &params, &cancel);
        assert_eq!(b.lists, 1);
    }

    #[test]
    fn items_without_direction_and_empty_models() {
        // Every vector zero: one list of every item; recommend ranks by bias alone.
        let mut m = clustered(100, 2, 4, 0.0);
        m.item_factors.iter_mut().for_each(|x| *x = 0.0);
        let support = vec![1.0; 100];
        let ivf = build(
            &m.item_factors,
            &m.item_bias,
            &support,
            4,
            &IvfParams::for_items(100, None),
        );
        assert_eq!(ivf.as_ref().n_lists(), 1);
        assert!(ivf.as_ref().is_consistent(100, 4));
        let view = m.view();
        let kern = Kernels::detect();
        let exact = recommend_scan(&view, kern, 0, 5, &[], false, ScanRows::F32);
        assert_eq!(
            recommend_ivf(&view, kern, ivf.as_ref(), 0, 5, &[], 1),
            exact
        );
        let norms = m.item_norms(kern);
        assert!(
            similar_ivf(&view, kern, ivf.as_ref(), &norms, None, 0, 5, Skip::NONE, 1).is_empty()
        );
        assert_eq!(default_lists(0), 1);
        assert_eq!(default_lists(1682), 41);
        assert_eq!(default_lists(531_560), 729);
        assert_eq!(default_probes(1), 1);
        assert_eq!(default_probes(729), 45);
    }
}
