//! int8 codes of the item vectors (`"serving_precision": "int8"`), and catalog scans over them
//! that return exactly what the exact f32 scan returns, reading a quarter of the bytes.
//!
//! Each item vector v is stored as 8-bit codes c and one scale s = max |v_i| / 127, so that
//! every |v_i - s c_i| <= s / 2. A query q is quantised the same way, to codes of up to 15
//! bits (scale sq), and the integer dot product of the two, exact, gives a = sq s (cq . c),
//! which is within a bound the rounding allows of the exact q . v (see [`Query`]). A scan
//! computes a and the bound for every item, turns [a - e, a + e] into bounds of the item's
//! final score (the score is a monotone function of the dot product: plus a bias, a cosine, a
//! shrinkage), and keeps as candidates the items whose upper bound reaches the k-th best lower
//! bound. Every item of the exact top k is among them, so scoring only the candidates exactly,
//! from the f32 vectors, gives the exact scan's answer: the same items with the same scores,
//! ties broken the same way. How many candidates there are depends on how close the scores
//! crowd near the k-th: tens to a few hundred of a 767,000-item catalog.
//!
//! Also 4-bit codes (one scale per item, s = max |v_i| / 7), which an IVF index keeps for
//! catalogs its lists cannot prune: a scan takes approximate scores of every item from them
//! (integer dot products with an int8 query, `Kernels::dots_u4_i8`), keeps a short list of the
//! best, and scores those exactly from the f32 vectors ([`scan_top_k_i4`]). That answer is
//! approximate: an item of the exact top k whose approximate score misses the short list is
//! missed; the index measures how often when it is built ([`crate::ivf::measure_shortlist_recall`]).

use rayon::prelude::*;

use crate::kernels::Kernels;
use crate::topk::{Scored, Skip, TopK, SCAN_CHUNK};

/// Largest |code| of a quantised query over `f` factors: codes of at most 127, so that no
/// integer dot product leaves i32 (16,383 up to 1,032 factors, fewer bits past that).
fn query_code(f: usize) -> f32 {
    (i32::MAX as usize / (127 * f.max(1))).min(16383) as f32
}

/// A query quantised as the rows are (q_i within sq / 2 of sq x cq_i): exact integer dot
/// products with the codes give a = w d with w = sq s, within w x `bound` of q . v.
struct Query {
    codes: Vec<i16>,
    sq: f32,
    bound: f32,
}

impl Query {
    /// None for a query without bounds to compute (not finite, zero, or too small for its
    /// scale to divide by): the caller then scans exactly.
    fn new(q: &[f32]) -> Option<Self> {
        let f = q.len();
        let qmax = q.iter().fold(0f32, |m, &x| m.max(x.abs()));
        if !qmax.is_finite() || qmax < TINY {
            return None;
        }
        let code = query_code(f);
        let sq = qmax / code;
        let codes: Vec<i16> = q
            .iter()
            .map(|&x| (x / sq).round().clamp(-code, code) as i16)
            .collect();
        let l1 = codes.iter().map(|&c| (c as i32).abs() as f32).sum::<f32>();
        let f = f as f32;
        // q . v - sq s (cq . c) = sq s (cq . dv + dq . c + dq . dv) with every |dq_i|, |dv_i|
        // <= 1/2 and |c_i| <= 127: at most sq s (l1 / 2 + 63.5 f + f / 4); then the exact
        // dot product's own rounding (f x 2^-24 of at most sq s 127.5 (l1 + f / 2)), and a
        // thousandth for the rounding of a, w and the bounds themselves.
        let bound = (l1 / 2.0 + 63.75 * f) * 1.001 + (l1 + f) * 128.0 * f * f32::EPSILON;
        Some(Query { codes, sq, bound })
    }
}

/// The smallest scale of a dot product whose rounding stays relative: below it, an item's
/// bounds are unknown and the item is scored exactly.
const MIN_SCALE: f32 = f32::MIN_POSITIVE;

/// Below this largest |value|, a row is stored as zeros (a scale that small loses precision
/// in the division); its scale then bounds the row's values themselves.
const TINY: f32 = 1e-30;

/// What a catalog scan reads the item vectors from.
#[derive(Clone, Copy, Debug)]
pub enum ScanRows<'a> {
    /// The f32 vectors themselves.
    F32,
    /// f16 bits of the vectors: half the bytes, scores within f16 rounding.
    F16(&'a [u16]),
    /// int8 codes: a quarter of the bytes, then the candidates re-scored from the f32 vectors
    /// (the exact answer).
    I8(I8Rows<'a>),
    /// 4-bit codes (with a scale, and a scale over the norm for cosines: about a sixth of
    /// f32's bytes), then a short list (`shortlist` items for a top 10,
    /// scaled with k) re-scored from the f32 vectors (approximate: [`scan_top_k_i4`]).
    I4 { rows: I4Rows<'a>, shortlist: usize },
}

/// The int8 codes of item vectors (rows of `factors` codes) and one scale per row.
#[derive(Clone, Copy, Debug)]
pub struct I8Rows<'a> {
    pub codes: &'a [i8],
    pub scales: &'a [f32],
}

/// Codes and scales of `values` (rows of `factors` values). A row that is not finite gets an
/// infinite scale: its bounds are then unknown, and it is always scored exactly.
pub fn quantize(values: &[f32], factors: usize) -> (Vec<i8>, Vec<f32>) {
    let f = factors.max(1);
    let rows = if factors == 0 { 0 } else { values.len() / f };
    let mut codes = vec![0i8; rows * factors];
    let mut scales = vec![0f32; rows];
    for (r, (row, out)) in values
        .chunks_exact(f)
        .zip(codes.chunks_exact_mut(f))
        .enumerate()
        .take(rows)
    {
        let m = row.iter().fold(0f32, |m, &x| m.max(x.abs()));
        scales[r] = if !row.iter().all(|x| x.is_finite()) {
            f32::INFINITY
        } else if m < TINY {
            // codes stay 0; |v_i| <= m <= (2 m) / 2 as the bound needs
            2.0 * m
        } else {
            let s = m / 127.0;
            for (c, &x) in out.iter_mut().zip(row) {
                *c = (x / s).round().clamp(-127.0, 127.0) as i8;
            }
            s
        };
    }
    (codes, scales)
}

/// The k best items 0..n by `finish(q . v)` over the item vectors `items` (rows of q.len()
/// values, with `rows` their codes), as [`crate::topk::scan_top_k`] over the exact dot
/// products gives them, skipping `exclude` and NaN scores, ties to the smaller index.
///
/// `finish(lo, out)` turns the dot products of items lo..lo + out.len() into their scores in
/// place, element by element, and must be monotone in each dot product (increasing or
/// decreasing). With `parallel` the units run on the current rayon pool.
#[allow(clippy::too_many_arguments)]
pub fn scan_top_k_i8<'a>(
    kern: Kernels,
    q: &[f32],
    items: &[f32],
    rows: I8Rows<'_>,
    k: usize,
    exclude: impl Into<Skip<'a>>,
    parallel: bool,
    finish: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<Scored> {
    let exclude = exclude.into();
    let n = rows.scales.len();
    let f = q.len();
    // An item's score as the exact scan computes it.
    let exact = |lo: usize, out: &mut [f32]| {
        kern.dots(q, &items[lo * f..(lo + out.len()) * f], out);
        finish(lo, out);
    };
    let Some(query) = Query::new(q) else {
        return crate::topk::scan_top_k(n, k, exclude, parallel, exact);
    };
    if k == 0 || n == 0 {
        return Vec::new();
    }
    // One unit: its candidates (index, lower bound, upper bound).
    let unit = |c: usize| -> Vec<(u32, f32, f32)> {
        let lo = c * SCAN_CHUNK;
        let hi = (lo + SCAN_CHUNK).min(n);
        let mut low = vec![0f32; hi - lo];
        let mut high = vec![0f32; hi - lo];
        let codes = &rows.codes[lo * f..hi * f];
        let scales = &rows.scales[lo..hi];
        // Straight loops over slices, without branches, so that they vectorise. A zero row
        // (s = 0) gets the bounds [0, 0] of its exact dot product; a row that is not finite
        // (s = inf) NaN bounds, which keep it a candidate.
        let mut dots = vec![0i32; hi - lo];
        kern.dots_i8_i16(&query.codes, codes, &mut dots);
        // (locals, not fields behind a reference: the loop then vectorises)
        let (sq, bound) = (query.sq, query.bound);
        for (((l, h), &s), &d) in low.iter_mut().zip(high.iter_mut()).zip(scales).zip(&dots) {
            let w = sq * s;
            // below the normal range w loses the precision the bound relies on
            let e = if w < MIN_SCALE && s != 0.0 {
                f32::INFINITY
            } else {
                w * bound
            };
            let a = w * d as f32;
            (*l, *h) = (a - e, a + e);
        }
        finish(lo, &mut low);
        finish(lo, &mut high);
        // a decreasing finish swaps the bounds (NaN stays NaN)
        for (l, h) in low.iter_mut().zip(high.iter_mut()) {
            let (a, b) = (*l, *h);
            let swap = a > b;
            *l = if swap { b } else { a };
            *h = if swap { a } else { b };
        }
        let skip = exclude.from_index(lo as u32);
        let floor = unit_floor(&low, k, skip, lo);
        let mut found = Vec::new();
        for (b, chunk) in high.chunks(BLOCK).enumerate() {
            // most blocks hold no candidate: one vectorised test each (NaN is a candidate)
            if !chunk.iter().fold(false, |any, &h| any | reaches(h, floor)) {
                continue;
            }
            for (j, &h) in chunk.iter().enumerate() {
                let at = b * BLOCK + j;
                let i = (lo + at) as u32;
                if reaches(h, floor) && !skip.contains(i) {
                    found.push((i, low[at], h));
                }
            }
        }
        found
    };
    let units = n.div_ceil(SCAN_CHUNK);
    let candidates: Vec<(u32, f32, f32)> = if parallel {
        (0..units).into_par_iter().map(unit).flatten().collect()
    } else {
        (0..units).flat_map(unit).collect()
    };
    // The k-th best lower bound of the whole catalog: each unit's k best lower bounds are among
    // its candidates (a lower bound is at most its upper bound).
    let mut lows = TopK::new(k);
    for &(i, l, _) in &candidates {
        lows.push(i, l);
    }
    let floor = kth(lows, k);
    let mut top = TopK::new(k);
    for &(i, _, h) in &candidates {
        if reaches(h, floor) {
            let mut score = [0f32];
            exact(i as usize, &mut score);
            top.push(i, score[0]);
        }
    }
    top.into_sorted()
}

/// The k-th best of a unit's lower bounds (its items lo..), or -inf with fewer than k.
fn unit_floor(low: &[f32], k: usize, skip: Skip<'_>, lo: usize) -> f32 {
    let mut top = TopK::new(k);
    for (b, chunk) in low.chunks(BLOCK).enumerate() {
        // a block whose largest bound cannot enter is passed over (max ignores NaN, which
        // never enters)
        if !top.admits(chunk.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x))) {
            continue;
        }
        for (j, &x) in chunk.iter().enumerate() {
            let i = (lo + b * BLOCK + j) as u32;
            if top.admits(x) && !skip.contains(i) {
                top.push(i, x);
            }
        }
    }
    kth(top, k)
}

/// The k-th best score `top` kept, or -inf when it kept fewer than k.
fn kth(top: TopK, k: usize) -> f32 {
    let best = top.into_sorted();
    if k > 0 && best.len() == k {
        best[k - 1].score
    } else {
        f32::NEG_INFINITY
    }
}

/// Whether an upper bound reaches the floor (a NaN bound is unknown: it does).
#[inline(always)]
fn reaches(high: f32, floor: f32) -> bool {
    high >= floor || high.is_nan()
}

/// Items a scan tests together before looking at them one by one.
const BLOCK: usize = 16;

// 4-bit codes and a short list re-scored exactly: the approximate scan of an IVF index over a
// catalog its lists cannot prune (noisy vectors, where every query must read every item).

/// 4-bit codes of item vectors and one scale per row. A row of f values takes
/// [`i4_bytes`]`(f)` bytes: value j sits in the low nibble of byte j / 2 when j is even, in the
/// high nibble when odd, and code c stands for (c - 8) x the row's scale (codes 1..=15; an odd
/// row's last high nibble is 8, a zero).
#[derive(Clone, Copy, Debug)]
pub struct I4Rows<'a> {
    pub codes: &'a [u8],
    pub scales: &'a [f32],
    /// Each row's scale divided by its norm (0 for a zero row): the scales of the codes of the
    /// unit vectors, which approximate cosines read (no division per item).
    pub unit_scales: &'a [f32],
}

/// Each row's scale divided by its norm (`norms`; 0 where the norm is 0).
pub fn unit_scales(scales: &[f32], norms: &[f32]) -> Vec<f32> {
    scales
        .iter()
        .zip(norms)
        .map(|(&s, &n)| if n > 0.0 { s / n } else { 0.0 })
        .collect()
}

/// Bytes of one row of 4-bit codes over `factors` values.
pub fn i4_bytes(factors: usize) -> usize {
    factors.div_ceil(2)
}

/// 4-bit codes and scales of `values` (rows of `factors` values): s = max |v_i| / 7, so every
/// |v_i - s (c_i - 8)| <= s / 2. A zero row gets scale 0; a row that is not finite scale NaN
/// (its approximate scores are NaN, so a short list never holds it).
pub fn quantize4(values: &[f32], factors: usize) -> (Vec<u8>, Vec<f32>) {
    let f = factors.max(1);
    let rows = if factors == 0 { 0 } else { values.len() / f };
    let b = i4_bytes(factors);
    let mut codes = vec![0x88u8; rows * b];
    let mut scales = vec![0f32; rows];
    for (r, (row, out)) in values
        .chunks_exact(f)
        .zip(codes.chunks_exact_mut(b.max(1)))
        .enumerate()
        .take(rows)
    {
        let m = row.iter().fold(0f32, |m, &x| m.max(x.abs()));
        if !row.iter().all(|x| x.is_finite()) {
            scales[r] = f32::NAN;
            continue;
        }
        if m == 0.0 {
            continue;
        }
        let s = m / 7.0;
        for (j, &x) in row.iter().enumerate() {
            let c = ((x / s).round().clamp(-7.0, 7.0) as i32 + 8) as u8;
            let byte = &mut out[j / 2];
            *byte = if j % 2 == 0 {
                (*byte & 0xF0) | c
            } else {
                (*byte & 0x0F) | (c << 4)
            };
        }
        scales[r] = s;
    }
    (codes, scales)
}

/// A query for the 4-bit codes: int8 codes of it split into its even and odd values (the low
/// and high nibbles they meet), its scale, and 8 x the sum of its codes (the codes' offset).
struct Query4 {
    even: Vec<i8>,
    odd: Vec<i8>,
    sq: f32,
    offset: i32,
}

impl Query4 {
    /// None for a query that is not finite, zero or tiny (the caller scans exactly).
    fn new(q: &[f32]) -> Option<Self> {
        let f = q.len();
        let qmax = q.iter().fold(0f32, |m, &x| m.max(x.abs()));
        // codes of at most 127, fewer past 735,000 factors, so that no sum leaves i32
        // (|sum of c (code - 8)| <= 23 x code x f)
        let code = (i32::MAX as usize / (23 * f.max(1))).min(127) as f32;
        if !qmax.is_finite() || qmax < TINY || code < 1.0 {
            return None;
        }
        let sq = qmax / code;
        let b = i4_bytes(f);
        let (mut even, mut odd) = (vec![0i8; b], vec![0i8; b]);
        let mut sum = 0i32;
        for (j, &x) in q.iter().enumerate() {
            let c = (x / sq).round().clamp(-code, code) as i8;
            sum += c as i32;
            if j % 2 == 0 {
                even[j / 2] = c;
            } else {
                odd[j / 2] = c;
            }
        }
        Some(Query4 {
            even,
            odd,
            sq,
            offset: 8 * sum,
        })
    }
}

/// The `s` best items 0..n by `finish` of their approximate dot products with `q` read from
/// the 4-bit codes (ties to the smaller index, skipping `exclude` and NaN), best first; None
/// for a query without codes (not finite, zero or tiny). The list for s is the first s of the
/// list for any larger s.
pub fn shortlist_i4<'a>(
    kern: Kernels,
    q: &[f32],
    rows: I4Rows<'_>,
    s: usize,
    exclude: impl Into<Skip<'a>>,
    parallel: bool,
    finish: impl Fn(usize, &mut [f32]) + Sync,
) -> Option<Vec<Scored>> {
    let query = Query4::new(q)?;
    let b = i4_bytes(q.len());
    let n = rows.scales.len();
    Some(crate::topk::scan_top_k(
        n,
        s,
        exclude,
        parallel,
        |lo, out| {
            // (locals, not fields behind a reference: the loop then vectorises)
            let (sq, offset) = (query.sq, query.offset);
            // in pieces whose dot products stay in L1 between the passes
            let mut dots = [0i32; PIECE];
            for (p, out) in out.chunks_mut(PIECE).enumerate() {
                let at = lo + p * PIECE;
                let dots = &mut dots[..out.len()];
                let codes = &rows.codes[at * b..(at + out.len()) * b];
                kern.dots_u4_i8(&query.even, &query.odd, codes, dots);
                for ((o, &d), &sc) in out.iter_mut().zip(dots.iter()).zip(&rows.scales[at..]) {
                    *o = (sq * sc) * (d - offset) as f32;
                }
                finish(at, out);
            }
        },
    ))
}

/// Items whose approximate scores a scan over the 4-bit codes computes in one pass.
const PIECE: usize = 512;

/// The items a scan over the 4-bit codes re-scores for a top k, given the short list chosen for
/// a top 10 (the k its recall is measured at): scaled with k, never below the chosen list.
pub fn shortlist_size(for_top10: usize, k: usize) -> usize {
    for_top10.saturating_mul(k.max(10)) / 10
}

/// The k best items by `finish(q . v)` among the [`shortlist_size`]`(shortlist, k)` best by
/// their approximate scores (`approx` of the approximate dot products with `rows`: see
/// [`shortlist_i4`]), each scored exactly from the f32 vectors `items`:
/// approximate (an item of the exact top k whose approximate score falls outside the short
/// list is missed), but every score returned is the exact scan's, ties to the smaller index.
/// A query without codes runs the exact scan. See [`scan_top_k_i8`] for `finish` and
/// `parallel`.
#[allow(clippy::too_many_arguments)]
pub fn scan_top_k_i4<'a>(
    kern: Kernels,
    q: &[f32],
    items: &[f32],
    rows: I4Rows<'_>,
    approx: impl Fn(usize, &mut [f32]) + Sync,
    k: usize,
    shortlist: usize,
    exclude: impl Into<Skip<'a>>,
    parallel: bool,
    finish: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<Scored> {
    let exclude = exclude.into();
    let f = q.len();
    let exact = |lo: usize, out: &mut [f32]| {
        kern.dots(q, &items[lo * f..(lo + out.len()) * f], out);
        finish(lo, out);
    };
    let s = shortlist_size(shortlist, k);
    let Some(short) = shortlist_i4(kern, q, rows, s, exclude, parallel, approx) else {
        return crate::topk::scan_top_k(rows.scales.len(), k, exclude, parallel, exact);
    };
    let mut top = TopK::new(k);
    for c in short {
        let mut score = [0f32];
        exact(c.index as usize, &mut score);
        top.push(c.index, score[0]);
    }
    top.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topk::scan_top_k;
    use rand::{Rng, SeedableRng};

    #[test]
    fn codes_are_within_half_a_step_of_the_values() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
        let f = 13;
        let mut values: Vec<f32> = (0..f * 50)
            .map(|_| rng.gen_range(-3.0..3.0f32).powi(3))
            .collect();
        values[f..2 * f].fill(0.0); // a zero row
        values[2 * f..3 * f].fill(1e-35); // a row too small to divide by its scale
        values[3 * f + 4] = f32::NAN; // a row that is not finite
        let (codes, scales) = quantize(&values, f);
        assert_eq!((codes.len(), scales.len()), (values.len(), 50));
        assert_eq!(scales[1], 0.0);
        assert!(scales[3].is_infinite());
        for r in (0..50).filter(|&r| r != 3) {
            let s = scales[r];
            for j in 0..f {
                let (v, c) = (values[r * f + j], codes[r * f + j]);
                assert!(c != -128, "row {r}: -128 is never a code");
                assert!(
                    (v - s * c as f32).abs() <= s * 0.5 * (1.0 + 1e-5),
                    "row {r} value {j}: {v} against {s} x {c}"
                );
            }
        }
        // the largest |value| of a row is code +-127 exactly
        let r0 = &values[..f];
        let m = r0.iter().fold(0f32, |m, &x| m.max(x.abs()));
        let at = r0.iter().position(|&x| x.abs() == m).unwrap();
        assert_eq!(codes[at].unsigned_abs(), 127);
    }

    type Finish<'a> = &'a (dyn Fn(usize, &mut [f32]) + Sync);

    /// The exact scan of `finish(dot)` that `scan_top_k_i8` must reproduce.
    fn exact_scan(
        kern: Kernels,
        q: &[f32],
        values: &[f32],
        k: usize,
        exclude: Skip<'_>,
        finish: Finish<'_>,
    ) -> Vec<Scored> {
        let f = q.len();
        scan_top_k(values.len() / f, k, exclude, false, |lo, out| {
            kern.dots(q, &values[lo * f..(lo + out.len()) * f], out);
            finish(lo, out);
        })
    }

    #[test]
    fn answers_are_the_exact_scans_bit_for_bit() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(2);
        for kern in [Kernels::detect(), Kernels::portable()] {
            for (trial, &(n, f)) in [
                (20_000usize, 64usize),
                (9_000, 12),
                (300, 8),
                (17_000, 33),
                (400, 1100),
            ]
            .iter()
            .enumerate()
            {
                // (1,100 factors: a query of fewer bits, so that no integer sum leaves i32)
                // items of very different norms, some of them duplicates (exact ties) and near
                // duplicates, one zero vector
                let mut values: Vec<f32> = (0..n * f)
                    .map(|i| rng.gen_range(-1.0..1.0f32) * (1 + (i / f) % 7) as f32)
                    .collect();
                for d in 0..40 {
                    let (a, b) = (rng.gen_range(0..n), rng.gen_range(0..n));
                    let src: Vec<f32> = values[a * f..(a + 1) * f].to_vec();
                    values[b * f..(b + 1) * f].copy_from_slice(&src);
                    if d % 2 == 0 {
                        values[b * f] += 1e-6;
                    }
                }
                values[5 * f..6 * f].fill(0.0);
                if trial == 2 {
                    // magnitudes where sq x s leaves the normal range (1e-20 x 1e-20 / 2e6)
                    for v in values.iter_mut() {
                        *v *= 1e-20;
                    }
                }
                let (codes, scales) = quantize(&values, f);
                let rows = I8Rows {
                    codes: &codes,
                    scales: &scales,
                };
                let bias: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.5..0.5)).collect();
                let norms: Vec<f32> = values.chunks(f).map(|r| kern.dot(r, r).sqrt()).collect();
                let support: Vec<f32> = (0..n).map(|i| (i % 50) as f32).collect();
                let mut excluded: Vec<u32> = (0..200).map(|_| rng.gen_range(0..n as u32)).collect();
                excluded.sort_unstable();
                excluded.dedup();
                for query in 0..6 {
                    let qi = rng.gen_range(0..n);
                    let mut q: Vec<f32> = values[qi * f..(qi + 1) * f].to_vec();
                    if query == 5 {
                        // a query near the bottom of the float range (1e-35 in trial 2)
                        q.iter_mut().for_each(|x| *x *= 1e-15);
                    }
                    let nq = norms[qi];
                    // recommend (dot plus bias), a cosine shrunk by support, and a decreasing
                    // transform
                    let plus_bias = |lo: usize, out: &mut [f32]| {
                        for (s, b) in out.iter_mut().zip(&bias[lo..]) {
                            *s += 0.25 + b;
                        }
                    };
                    let cosine = |lo: usize, out: &mut [f32]| {
                        // as serving's shrunk cosine computes it
                        for (s, &nj) in out.iter_mut().zip(&norms[lo..]) {
                            *s = (*s / (nq * nj)).clamp(-1.0, 1.0);
                        }
                        for (s, &m) in out.iter_mut().zip(&support[lo..]) {
                            *s = *s * m / (m + 5.0);
                        }
                    };
                    let negated = |_: usize, out: &mut [f32]| {
                        for s in out.iter_mut() {
                            *s = -*s;
                        }
                    };
                    let finishes: [Finish<'_>; 3] = [&plus_bias, &cosine, &negated];
                    for (which, finish) in finishes.into_iter().enumerate() {
                        for k in [1usize, 10, 100, n + 5] {
                            let skip = if query % 2 == 0 {
                                Skip::sorted(&excluded)
                            } else {
                                Skip::NONE
                            };
                            let want = exact_scan(kern, &q, &values, k, skip, finish);
                            let got = scan_top_k_i8(
                                kern,
                                &q,
                                &values,
                                rows,
                                k,
                                skip,
                                query % 3 == 0,
                                finish,
                            );
                            let bits = |v: &[Scored]| -> Vec<(u32, u32)> {
                                v.iter().map(|s| (s.index, s.score.to_bits())).collect()
                            };
                            assert_eq!(
                                bits(&got),
                                bits(&want),
                                "trial {trial} query {query} finish {which} k {k}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The k best of plain dot products with `q`, through the codes of `values`.
    fn top_of(values: &[f32], f: usize, q: &[f32], k: usize) -> Vec<Scored> {
        let (codes, scales) = quantize(values, f);
        let rows = I8Rows {
            codes: &codes,
            scales: &scales,
        };
        scan_top_k_i8(
            Kernels::detect(),
            q,
            values,
            rows,
            k,
            Skip::NONE,
            false,
            |_, _| {},
        )
    }

    /// Rounding at its worst: item 0's values all round down by almost half a step, item 1's
    /// (a slightly smaller scale) all round up, so that item 1 leads on the codes by far more
    /// than item 0 leads on the exact scores. Only a bound as wide as the rounding allows keeps
    /// item 0, the exact best, among the candidates (1,040 factors: a query of fewer bits).
    #[test]
    fn a_bound_as_wide_as_the_rounding_keeps_the_exact_best() {
        for f in [16usize, 64, 1040] {
            let mut values = vec![0f32; 2 * f];
            values[0] = 127.0; // scale 1
            values[1..f].fill(10.49); // codes 10, exact 10.49
            values[f] = 126.0; // scale 126 / 127
            values[f + 1..].fill(10.45); // codes 11 (10.53 steps), exact 10.45
            let (codes, _) = quantize(&values, f);
            assert_eq!((codes[1], codes[f + 1]), (10, 11));
            let q = vec![1f32; f];
            let kern = Kernels::detect();
            let exact = |i: u32| kern.dot(&q, &values[i as usize * f..][..f]);
            assert!(exact(0) > exact(1));
            assert_eq!(top_of(&values, f, &q, 1)[0].index, 0, "{f} factors");
        }
    }

    #[test]
    fn four_bit_codes_are_within_half_a_step_in_their_nibbles() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        for f in [1usize, 7, 64] {
            let mut values: Vec<f32> = (0..f * 30).map(|_| rng.gen_range(-2.0..2.0f32)).collect();
            values[f..2 * f].fill(0.0); // a zero row
            values[2 * f] = f32::NAN; // a row that is not finite
            let (codes, scales) = quantize4(&values, f);
            let b = i4_bytes(f);
            assert_eq!((codes.len(), scales.len()), (30 * b, 30));
            assert_eq!(scales[1], 0.0);
            assert!(scales[2].is_nan());
            for r in (0..30).filter(|&r| r != 2) {
                let s = scales[r];
                for j in 0..b * 2 {
                    let byte = codes[r * b + j / 2];
                    let c = if j % 2 == 0 { byte & 15 } else { byte >> 4 };
                    if j >= f {
                        assert_eq!(c, 8, "row {r}: the padding nibble is a zero");
                        continue;
                    }
                    assert!((1..=15).contains(&c), "row {r} value {j}: code {c}");
                    let v = values[r * f + j];
                    assert!(
                        (v - s * (c as f32 - 8.0)).abs() <= s * 0.5 * (1.0 + 1e-5),
                        "row {r} value {j}: {v} against {s} x ({c} - 8)"
                    );
                }
            }
        }
    }

    #[test]
    fn a_short_list_as_long_as_the_catalog_is_the_exact_scan_and_lists_nest() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(4);
        for kern in [Kernels::detect(), Kernels::portable()] {
            for &(n, f) in &[(20_000usize, 64usize), (3_000, 13), (500, 128)] {
                let values: Vec<f32> = (0..n * f)
                    .map(|i| rng.gen_range(-1.0..1.0f32) * (1 + (i / f) % 5) as f32)
                    .collect();
                let (codes, scales) = quantize4(&values, f);
                let rows = I4Rows {
                    codes: &codes,
                    scales: &scales,
                    unit_scales: &scales,
                };
                let bias: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.5..0.5)).collect();
                let mut excluded: Vec<u32> = (0..100).map(|_| rng.gen_range(0..n as u32)).collect();
                excluded.sort_unstable();
                excluded.dedup();
                let plus_bias = |lo: usize, out: &mut [f32]| {
                    for (s, b) in out.iter_mut().zip(&bias[lo..]) {
                        *s += b;
                    }
                };
                for query in 0..4 {
                    let q: Vec<f32> = (0..f).map(|_| rng.gen_range(-1.0..1.0)).collect();
                    let skip = if query % 2 == 0 {
                        Skip::sorted(&excluded)
                    } else {
                        Skip::NONE
                    };
                    let parallel = query % 3 == 0;
                    for k in [1usize, 10, 100] {
                        let want = exact_scan(kern, &q, &values, k, skip, &plus_bias);
                        let got = scan_top_k_i4(
                            kern, &q, &values, rows, plus_bias, k, n, skip, parallel, plus_bias,
                        );
                        let bits = |v: &[Scored]| -> Vec<(u32, u32)> {
                            v.iter().map(|s| (s.index, s.score.to_bits())).collect()
                        };
                        assert_eq!(bits(&got), bits(&want), "n {n} f {f} query {query} k {k}");
                        // a short list of 40 already finds most of a top 10 of noise
                        if k == 10 {
                            let short = scan_top_k_i4(
                                kern, &q, &values, rows, plus_bias, k, 40, skip, parallel,
                                plus_bias,
                            );
                            let found = short
                                .iter()
                                .filter(|s| want.iter().any(|w| w.index == s.index))
                                .count();
                            assert!(
                                found >= 8,
                                "n {n} f {f}: {found} of 10 with a short list of 40"
                            );
                        }
                    }
                    // the list for s is the first s of the list for 4s
                    let long = shortlist_i4(kern, &q, rows, 400, skip, parallel, plus_bias)
                        .expect("codes");
                    let short = shortlist_i4(kern, &q, rows, 100, skip, !parallel, plus_bias)
                        .expect("codes");
                    assert_eq!(&long[..100], &short[..]);
                }
            }
        }
        assert_eq!(
            (
                shortlist_size(40, 1),
                shortlist_size(40, 10),
                shortlist_size(40, 25)
            ),
            (40, 40, 100)
        );
    }

    #[test]
    fn approximate_dot_products_are_within_the_rounding_of_both_sides() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        for kern in [Kernels::detect(), Kernels::portable()] {
            for &(n, f) in &[(2_000usize, 64usize), (700, 13), (300, 128)] {
                let values: Vec<f32> = (0..n * f).map(|_| rng.gen_range(-1.0..2.0f32)).collect();
                let (codes, scales) = quantize4(&values, f);
                let rows = I4Rows {
                    codes: &codes,
                    scales: &scales,
                    unit_scales: &scales,
                };
                // queries with a mean away from zero, so that the codes' offset matters
                let q: Vec<f32> = (0..f).map(|_| rng.gen_range(-0.5..1.5f32)).collect();
                let qmax = q.iter().fold(0f32, |m, &x| m.max(x.abs()));
                let sq = qmax / 127.0;
                let q_l1: f32 = q.iter().map(|x| x.abs()).sum();
                let all =
                    shortlist_i4(kern, &q, rows, n, Skip::NONE, false, |_, _| {}).expect("codes");
                assert_eq!(all.len(), n);
                for a in all {
                    let i = a.index as usize;
                    let v = &values[i * f..(i + 1) * f];
                    let exact: f32 = q.iter().zip(v).map(|(x, y)| x * y).sum();
                    let v_l1: f32 = v.iter().map(|x| x.abs()).sum();
                    let s = scales[i];
                    // q . v - sq s (cq . c) with |dq_i| <= sq / 2 and |dv_i| <= s / 2
                    let bound = s / 2.0 * (q_l1 + sq * f as f32 / 2.0) + sq / 2.0 * v_l1;
                    assert!(
                        (a.score - exact).abs() <= bound * 1.001 + 1e-4,
                        "n {n} f {f} item {i}: {} against {exact}, bound {bound}",
                        a.score
                    );
                }
            }
        }
    }

    #[test]
    fn a_query_without_codes_runs_the_exact_scan() {
        let f = 8;
        let values: Vec<f32> = (0..f * 300).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let (codes, scales) = quantize4(&values, f);
        let rows = I4Rows {
            codes: &codes,
            scales: &scales,
            unit_scales: &scales,
        };
        let kern = Kernels::detect();
        for q in [vec![0f32; f], vec![f32::NAN; f], vec![1e-35f32; f]] {
            assert!(shortlist_i4(kern, &q, rows, 10, Skip::NONE, false, |_, _| {}).is_none());
            let got = scan_top_k_i4(
                kern,
                &q,
                &values,
                rows,
                |_, _| {},
                5,
                10,
                Skip::NONE,
                false,
                |_, _| {},
            );
            let want = exact_scan(kern, &q, &values, 5, Skip::NONE, &|_, _| {});
            let bits = |v: &[Scored]| -> Vec<(u32, u32)> {
                v.iter().map(|s| (s.index, s.score.to_bits())).collect()
            };
            assert_eq!(bits(&got), bits(&want));
        }
    }

    #[test]
    fn a_row_that_is_not_finite_is_scored_exactly() {
        let f = 8;
        let mut values: Vec<f32> = (0..f * 100).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        values[7 * f + 3] = f32::INFINITY;
        let q = vec![1.0f32; f];
        let got = top_of(&values, f, &q, 3);
        assert_eq!(got[0].index, 7);
        assert_eq!(got[0].score, f32::INFINITY);
    }
}
