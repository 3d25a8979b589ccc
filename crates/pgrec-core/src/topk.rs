//! Bounded top-k selection. Ties are broken by the smaller index so results are deterministic.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

/// A scored candidate; ordered so that the *worst* candidate is the heap's maximum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub index: u32,
    pub score: f32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        // "Greater" means worse: lower score, or equal score and larger index.
        other
            .score
            .total_cmp(&self.score)
            .then(self.index.cmp(&other.index))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keeps the k best candidates seen so far.
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Scored>,
    /// The worst kept score once k are kept (-inf before): a score below it cannot enter, and
    /// testing that first keeps a long scan's common case to one comparison.
    floor: f32,
}

impl TopK {
    /// `k` may be far larger than the number of candidates (a caller's k = 2^31 - 1): the heap
    /// grows as needed instead of reserving k slots.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k.min(1024) + 1),
            floor: f32::NEG_INFINITY,
        }
    }

    /// Whether `score` could enter (false for NaN and for scores below the current floor;
    /// a score equal to the floor may still enter on a smaller index).
    #[inline(always)]
    pub fn admits(&self, score: f32) -> bool {
        score >= self.floor
    }

    #[inline]
    pub fn push(&mut self, index: u32, score: f32) {
        if self.k == 0 || !self.admits(score) {
            return;
        }
        let c = Scored { index, score };
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if let Some(worst) = self.heap.peek() {
            if c < *worst {
                self.heap.pop();
                self.heap.push(c);
            }
        }
        if self.heap.len() == self.k {
            if let Some(worst) = self.heap.peek() {
                self.floor = worst.score;
            }
        }
    }

    /// Best first.
    pub fn into_sorted(self) -> Vec<Scored> {
        let mut v = self.heap.into_vec();
        v.sort();
        v
    }
}

/// The k best of `scores`, skipping indices in the sorted slice `exclude`.
pub fn top_k(scores: &[f32], k: usize, exclude: &[u32]) -> Vec<Scored> {
    top_k_from(scores, k, exclude, 0)
}

/// [`top_k`] of scores that belong to indices `offset..` (one unit of a longer scan); `exclude`
/// holds indices, sorted (those below `offset` are passed over).
pub fn top_k_from(scores: &[f32], k: usize, exclude: &[u32], offset: u32) -> Vec<Scored> {
    let mut top = TopK::new(k);
    for (j, &s) in scores.iter().enumerate() {
        // Most scores of a long scan fall below the floor: test that before the exclusions.
        if !top.admits(s) {
            continue;
        }
        let i = offset + j as u32;
        if exclude.binary_search(&i).is_ok() {
            continue;
        }
        top.push(i, s);
    }
    top.into_sorted()
}

/// Items per unit of a catalog scan. Each unit keeps its own top k; the units' lists are merged
/// by (score, index), so the answer does not depend on how many threads ran the units.
pub const SCAN_CHUNK: usize = 8192;

/// The k best of the scores of items 0..n, skipping the indices in the sorted slice `exclude`
/// and NaN scores, ties to the smaller index. `score_unit(lo, out)` writes the scores of items
/// lo..lo + out.len(). With `parallel` the units run on the current rayon pool (call inside
/// `pool.install`); without, one after the other on this thread. Same result either way.
pub fn scan_top_k<F>(
    n: usize,
    k: usize,
    exclude: &[u32],
    parallel: bool,
    score_unit: F,
) -> Vec<Scored>
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let unit = |c: usize| {
        let lo = c * SCAN_CHUNK;
        let hi = (lo + SCAN_CHUNK).min(n);
        let mut scores = vec![0f32; hi - lo];
        score_unit(lo, &mut scores);
        let start = exclude.partition_point(|&e| (e as usize) < lo);
        top_k_from(&scores, k, &exclude[start..], lo as u32)
    };
    let units = n.div_ceil(SCAN_CHUNK);
    let lists: Vec<Vec<Scored>> = if parallel {
        (0..units).into_par_iter().map(unit).collect()
    } else {
        (0..units).map(unit).collect()
    };
    let mut top = TopK::new(k);
    for s in lists.into_iter().flatten() {
        top.push(s.index, s.score);
    }
    top.into_sorted()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn naive(scores: &[f32], k: usize, exclude: &[u32]) -> Vec<u32> {
        let mut idx: Vec<u32> = (0..scores.len() as u32)
            .filter(|i| !exclude.contains(i) && !scores[*i as usize].is_nan())
            .collect();
        idx.sort_by(|&a, &b| {
            scores[b as usize]
                .total_cmp(&scores[a as usize])
                .then(a.cmp(&b))
        });
        idx.truncate(k);
        idx
    }

    #[test]
    fn matches_full_sort_on_random_data() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        for trial in 0..300 {
            let n = rng.gen_range(0..400);
            // Few distinct values so that ties are common.
            let levels = if trial % 2 == 0 { 5 } else { 1000 };
            let scores: Vec<f32> = (0..n)
                .map(|_| rng.gen_range(0..levels) as f32 / levels as f32)
                .collect();
            let mut exclude: Vec<u32> = (0..n as u32).filter(|_| rng.gen_bool(0.2)).collect();
            exclude.sort();
            let k = rng.gen_range(0..30);
            let got: Vec<u32> = top_k(&scores, k, &exclude)
                .iter()
                .map(|s| s.index)
                .collect();
            assert_eq!(got, naive(&scores, k, &exclude), "trial {trial}");
        }
    }

    #[test]
    fn nan_scores_are_never_returned() {
        let got = top_k(&[f32::NAN, 1.0, f32::NAN], 3, &[]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].index, 1);
    }
}
