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

/// Indices a top-k leaves out: the union of up to four sorted lists, e.g. a user's seen items,
/// the model's hidden items, the caller's exclusions and the query item itself. Nothing is
/// merged or copied; a test looks each list up.
#[derive(Debug, Clone, Copy, Default)]
pub struct Skip<'a> {
    lists: [&'a [u32]; SKIP_LISTS],
}

const SKIP_LISTS: usize = 4;

impl<'a> Skip<'a> {
    /// Leaves nothing out.
    pub const NONE: Skip<'static> = Skip {
        lists: [&[]; SKIP_LISTS],
    };

    /// Leaves out the indices of `sorted` (ascending).
    pub fn sorted(sorted: &'a [u32]) -> Self {
        Skip::NONE.and(sorted)
    }

    /// Also leaves out the indices of `sorted` (ascending). At most four non-empty lists: a
    /// fifth is a bug of the caller, and panics.
    pub fn and(mut self, sorted: &'a [u32]) -> Self {
        debug_assert!(
            sorted.windows(2).all(|w| w[0] <= w[1]),
            "skip list not sorted"
        );
        if sorted.is_empty() {
            return self;
        }
        match self.lists.iter().position(|l| l.is_empty()) {
            Some(slot) => self.lists[slot] = sorted,
            None => panic!("Skip holds at most {SKIP_LISTS} lists"),
        }
        self
    }

    /// Whether index `i` is left out.
    #[inline]
    pub fn contains(&self, i: u32) -> bool {
        self.lists.iter().any(|l| l.binary_search(&i).is_ok())
    }

    /// The same lists without their indices below `lo` (for a unit of a scan that starts there).
    pub fn from_index(mut self, lo: u32) -> Self {
        for l in &mut self.lists {
            *l = &l[l.partition_point(|&e| e < lo)..];
        }
        self
    }

    /// An upper bound of how many indices are left out (lists may overlap).
    pub fn len_bound(&self) -> usize {
        self.lists.iter().map(|l| l.len()).sum()
    }
}

impl<'a> From<&'a [u32]> for Skip<'a> {
    fn from(sorted: &'a [u32]) -> Self {
        Skip::sorted(sorted)
    }
}

impl<'a> From<&'a Vec<u32>> for Skip<'a> {
    fn from(sorted: &'a Vec<u32>) -> Self {
        Skip::sorted(sorted)
    }
}

impl<'a, const N: usize> From<&'a [u32; N]> for Skip<'a> {
    fn from(sorted: &'a [u32; N]) -> Self {
        Skip::sorted(sorted)
    }
}

/// The k best of `scores`, skipping the indices in `exclude` (a sorted slice, or a [`Skip`]).
pub fn top_k<'a>(scores: &[f32], k: usize, exclude: impl Into<Skip<'a>>) -> Vec<Scored> {
    top_k_from(scores, k, exclude, 0)
}

/// [`top_k`] of scores that belong to indices `offset..` (one unit of a longer scan); `exclude`
/// holds indices (those below `offset` are passed over).
pub fn top_k_from<'a>(
    scores: &[f32],
    k: usize,
    exclude: impl Into<Skip<'a>>,
    offset: u32,
) -> Vec<Scored> {
    let mut top = TopK::new(k);
    top.push_all(scores, exclude.into(), offset);
    top.into_sorted()
}

/// Scores a top-k scan tests together (one vectorised maximum) before looking at them one by
/// one.
const BLOCK: usize = 16;

impl TopK {
    /// Pushes `scores`, those of indices `offset..`, skipping `exclude` and NaN.
    fn push_all(&mut self, scores: &[f32], exclude: Skip<'_>, offset: u32) {
        for (b, block) in scores.chunks(BLOCK).enumerate() {
            // Most scores of a long scan fall below the floor: a block whose largest score
            // cannot enter is passed over (max ignores NaN, which never enters).
            if !self.admits(block.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x))) {
                continue;
            }
            for (j, &s) in block.iter().enumerate() {
                if !self.admits(s) {
                    continue;
                }
                let i = offset + (b * BLOCK + j) as u32;
                if exclude.contains(i) {
                    continue;
                }
                self.push(i, s);
            }
        }
    }
}

/// Items per unit of a catalog scan (the scores of one unit are held at a time per thread).
pub const SCAN_CHUNK: usize = 8192;

/// The k best of the scores of items 0..n, skipping the indices in `exclude`
/// and NaN scores, ties to the smaller index. `score_unit(lo, out)` writes the scores of items
/// lo..lo + out.len(). With `parallel` the units run on the current rayon pool (call inside
/// `pool.install`); without, one after the other on this thread. Same result either way.
pub fn scan_top_k<'a, F>(
    n: usize,
    k: usize,
    exclude: impl Into<Skip<'a>>,
    parallel: bool,
    score_unit: F,
) -> Vec<Scored>
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let exclude = exclude.into();
    // One top k per thread, carried from unit to unit so that its floor prunes from the start
    // (the k best by score, ties to the smaller index, are the same whatever the order the
    // scores arrive in, so the answer does not depend on the threads).
    let unit = |top: &mut TopK, scores: &mut Vec<f32>, c: usize| {
        let lo = c * SCAN_CHUNK;
        let hi = (lo + SCAN_CHUNK).min(n);
        scores.clear();
        scores.resize(hi - lo, 0.0);
        score_unit(lo, scores);
        top.push_all(scores, exclude.from_index(lo as u32), lo as u32);
    };
    let units = n.div_ceil(SCAN_CHUNK);
    let top = if parallel {
        (0..units)
            .into_par_iter()
            .fold(
                || (TopK::new(k), Vec::new()),
                |(mut top, mut scores), c| {
                    unit(&mut top, &mut scores, c);
                    (top, scores)
                },
            )
            .map(|(top, _)| top)
            .reduce(
                || TopK::new(k),
                |mut a, b| {
                    for s in b.into_sorted() {
                        a.push(s.index, s.score);
                    }
                    a
                },
            )
    } else {
        let (mut top, mut scores) = (TopK::new(k), Vec::new());
        for c in 0..units {
            unit(&mut top, &mut scores, c);
        }
        top
    };
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
    fn a_skip_leaves_out_the_union_of_its_lists_in_every_unit_of_a_scan() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        for trial in 0..40 {
            let n = rng.gen_range(1..3 * SCAN_CHUNK);
            let scores: Vec<f32> = (0..n).map(|_| rng.gen_range(0..50) as f32).collect();
            let lists: Vec<Vec<u32>> = (0..4)
                .map(|l| {
                    let p = [0.3, 0.01, 0.5, 0.0][l];
                    (0..n as u32).filter(|_| rng.gen_bool(p)).collect()
                })
                .collect();
            let skip = lists.iter().fold(Skip::NONE, |s, l| s.and(l));
            let mut union: Vec<u32> = lists.concat();
            union.sort();
            union.dedup();
            let k = rng.gen_range(1..200);
            let want = naive(&scores, k, &union);
            let got: Vec<u32> = top_k(&scores, k, skip).iter().map(|s| s.index).collect();
            assert_eq!(got, want, "trial {trial}");
            let scanned: Vec<u32> = scan_top_k(n, k, skip, false, |lo, out| {
                out.copy_from_slice(&scores[lo..lo + out.len()])
            })
            .iter()
            .map(|s| s.index)
            .collect();
            assert_eq!(scanned, want, "trial {trial} (scan)");
            assert!(skip.len_bound() >= union.len());
            assert!(union.iter().all(|&i| skip.contains(i)));
            assert!(!(0..n as u32).any(|i| skip.contains(i) && union.binary_search(&i).is_err()));
        }
    }

    #[test]
    #[should_panic(expected = "at most 4 lists")]
    fn a_fifth_skip_list_is_refused() {
        let l = [1u32];
        let _ = Skip::NONE.and(&l).and(&l).and(&l).and(&l).and(&l);
    }

    #[test]
    fn nan_scores_are_never_returned() {
        let got = top_k(&[f32::NAN, 1.0, f32::NAN], 3, &[]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].index, 1);
    }
}
