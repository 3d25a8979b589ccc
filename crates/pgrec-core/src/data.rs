//! Interaction data in compact form: dense u32 user and item indices, f32 values, and the
//! maps between external keys and those indices.

use rustc_hash::FxHashMap as HashMap;
use std::hash::Hash;

use crate::error::{CoreError, Result};
use crate::rng::unit_hash;

/// One observed (user, item, value) triple: 12 bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct Rating {
    pub user: u32,
    pub item: u32,
    pub value: f32,
}

/// Keys that may sit in a plain array instead of the hash map: small non-negative integers.
/// Reading 100M rows over 2M integer user keys spent a third of its time hashing them
/// (BENCHMARKS.md, "100M interactions"); an array slot is one load.
pub trait DenseKey {
    /// The array slot of this key, when it may have one.
    fn slot(&self) -> Option<usize> {
        None
    }
}

/// Largest key (exclusive) that may have an array slot.
const DENSE_LIMIT: usize = 1 << 31;

/// The array grows to cover a new key only while it stays within this many slots per key
/// held, plus [`DENSE_SLACK`]: sparse ids (hashes, timestamps) go to the map instead of making
/// the array huge.
const DENSE_SLOTS_PER_KEY: usize = 4;
const DENSE_SLACK: usize = 1 << 20;

/// How many keys ahead [`KeyIndex::intern_all`] prefetches: enough loads in flight to cover a
/// miss to memory, few enough that the lines are still cached when their key comes.
pub const INTERN_AHEAD: usize = 16;

impl DenseKey for i64 {
    #[inline]
    fn slot(&self) -> Option<usize> {
        (0..DENSE_LIMIT as i64)
            .contains(self)
            .then_some(*self as usize)
    }
}
impl DenseKey for String {}
impl DenseKey for str {}

/// Assigns dense indices to external keys in order of first appearance (`sort_keys` renumbers
/// them in key order). Small non-negative integer keys are found through an array, others
/// through a hash map; which one holds a key never changes what index it has.
#[derive(Debug, Clone)]
pub struct KeyIndex<K: Eq + Hash + Clone + DenseKey> {
    map: HashMap<K, u32>,
    keys: Vec<K>,
    /// dense[slot] = index + 1 of the key in that slot, 0 for a key not held. Every key whose
    /// slot the array covers is here, never in `map` (the array takes them over as it grows).
    dense: Vec<u32>,
}

impl<K: Eq + Hash + Clone + DenseKey> Default for KeyIndex<K> {
    fn default() -> Self {
        Self {
            map: HashMap::default(),
            keys: Vec::new(),
            dense: Vec::new(),
        }
    }
}

impl<K: Eq + Hash + Clone + DenseKey> KeyIndex<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Build from keys listed in index order (as stored in the catalog).
    pub fn from_keys(keys: Vec<K>) -> Self {
        let mut index = Self {
            keys: Vec::with_capacity(keys.len()),
            ..Self::default()
        };
        for k in keys {
            let i = index.keys.len() as u32;
            index.keys.push(k.clone());
            index.place(k, i);
        }
        index
    }

    /// Records that `key` has index `i`: in its array slot when the array covers it or may grow
    /// to, in the map otherwise.
    #[inline]
    fn place(&mut self, key: K, i: u32) {
        if let Some(s) = key.slot() {
            let bound = DENSE_SLOTS_PER_KEY * (self.keys.len() + 1) + DENSE_SLACK;
            if s >= self.dense.len() && s < bound {
                self.grow_dense((s + 1).next_power_of_two().max(1024).min(bound));
            }
            if s < self.dense.len() {
                self.dense[s] = i + 1;
                return;
            }
        }
        self.map.insert(key, i);
    }

    /// Widens the array to `len` slots and moves the map's keys that it now covers into it
    /// (the array doubles, so each key moves at most once per doubling).
    #[cold]
    fn grow_dense(&mut self, len: usize) {
        self.dense.resize(len, 0);
        let dense = &mut self.dense;
        self.map.retain(|k, &mut i| match k.slot() {
            Some(s) if s < dense.len() => {
                dense[s] = i + 1;
                false
            }
            _ => true,
        });
    }

    /// The index of `key`, inserting it when new.
    #[inline]
    pub fn intern(&mut self, key: K) -> Result<u32> {
        if let Some(i) = self.get(&key) {
            return Ok(i);
        }
        let i = u32::try_from(self.keys.len())
            .map_err(|_| CoreError::data("more than 4294967295 distinct keys", None))?;
        self.keys.push(key.clone());
        self.place(key, i);
        Ok(i)
    }

    /// Interns `keys` in order, as `intern` would one at a time, handing each position and
    /// index to `set`. Looking up a key is one load from the array, a cache miss for every row
    /// when millions of keys come in random order; this asks for the slot of the key
    /// [`INTERN_AHEAD`] positions on before interning each one, so the misses overlap.
    pub fn intern_all(&mut self, keys: &[K], mut set: impl FnMut(usize, u32)) -> Result<()> {
        for (n, key) in keys.iter().enumerate() {
            if let Some(ahead) = keys.get(n + INTERN_AHEAD) {
                self.prefetch(ahead);
            }
            set(n, self.intern(key.clone())?);
        }
        Ok(())
    }

    /// Starts loading the array slot of `key` into cache, when it has one (a hint: no effect
    /// on any result).
    #[inline(always)]
    fn prefetch(&self, key: &K) {
        if let Some(s) = key.slot().filter(|&s| s < self.dense.len()) {
            crate::kernels::prefetch_bytes(self.dense.as_ptr().wrapping_add(s).cast(), 4);
        }
    }

    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<u32>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + DenseKey + ?Sized,
    {
        // a key the array covers is there or nowhere
        if let Some(&v) = key.slot().and_then(|s| self.dense.get(s)) {
            return v.checked_sub(1);
        }
        self.map.get(key).copied()
    }

    pub fn key(&self, index: u32) -> &K {
        &self.keys[index as usize]
    }

    pub fn keys(&self) -> &[K] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl<K: Eq + Hash + Clone + Ord + DenseKey> KeyIndex<K> {
    /// Renumbers the keys in sorted order and returns each old index's new index, so that the
    /// numbering depends on the set of keys, not on the order they were first seen in.
    pub fn sort_keys(&mut self) -> Vec<u32> {
        self.sort_keys_from(0)
    }

    /// Like `sort_keys` for the keys from index `start` on; those before keep their indices.
    pub fn sort_keys_from(&mut self, start: usize) -> Vec<u32> {
        let mut keys = std::mem::take(&mut self.keys);
        let start = start.min(keys.len());
        let mut tail: Vec<(K, u32)> = keys
            .split_off(start)
            .into_iter()
            .zip(start as u32..)
            .collect();
        tail.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut new_of_old: Vec<u32> = (0..(start + tail.len()) as u32).collect();
        for (new, (_, old)) in tail.iter().enumerate() {
            new_of_old[*old as usize] = (start + new) as u32;
        }
        keys.extend(tail.into_iter().map(|(k, _)| k));
        *self = Self::from_keys(keys);
        new_of_old
    }
}

/// Applies new user and item numberings (as returned by `KeyIndex::sort_keys`) to ratings.
pub fn renumber(ratings: &mut [Rating], users: &[u32], items: &[u32]) {
    for r in ratings {
        r.user = users[r.user as usize];
        r.item = items[r.item as usize];
    }
}

/// Summary statistics of a set of ratings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatingStats {
    pub count: usize,
    pub mean: f64,
    pub min: f32,
    pub max: f32,
}

pub fn rating_stats(ratings: &[Rating]) -> Option<RatingStats> {
    if ratings.is_empty() {
        return None;
    }
    let mut sum = 0f64;
    let mut min = f32::INFINITY;
    let mut max = f32::NEG_INFINITY;
    for r in ratings {
        sum += r.value as f64;
        min = min.min(r.value);
        max = max.max(r.value);
    }
    Some(RatingStats {
        count: ratings.len(),
        mean: sum / ratings.len() as f64,
        min,
        max,
    })
}

/// Moves the ratings chosen for validation to the end of `ratings` and returns how many remain
/// for training. A rating is held out when the hash of (seed, user, item) falls below
/// `fraction` and its user and item both keep a training rating (validation measures known
/// users and items, as `evaluate` does). The choice depends only on the seed and the set of
/// ratings, never on row order or threads.
pub fn split_validation(ratings: &mut [Rating], fraction: f64, seed: u64) -> usize {
    split_validation_by(ratings, |r| (r.user, r.item), fraction, seed)
}

/// [`split_validation`] with each rating's weight carried along (None: no weights). Returns
/// the number of training ratings (first in `ratings`, as `split_validation` leaves them) and
/// the training ratings' weights.
pub fn split_validation_weighted(
    ratings: &mut Vec<Rating>,
    weights: Option<Vec<f32>>,
    fraction: f64,
    seed: u64,
) -> crate::error::Result<(usize, Option<Vec<f32>>)> {
    let Some(w) = weights else {
        return Ok((split_validation(ratings, fraction, seed), None));
    };
    if w.len() != ratings.len() {
        return Err(crate::error::CoreError::data(
            "one row weight per rating is needed",
            None,
        ));
    }
    let mut rows: Vec<(Rating, f32)> = ratings.iter().copied().zip(w).collect();
    let n = split_validation_by(&mut rows, |p| (p.0.user, p.0.item), fraction, seed);
    *ratings = rows.iter().map(|p| p.0).collect();
    Ok((n, Some(rows[..n].iter().map(|p| p.1).collect())))
}

/// Sets `set[k]`, growing the set as needed.
fn mark(set: &mut Vec<bool>, k: u32) {
    let k = k as usize;
    if set.len() <= k {
        set.resize(k + 1, false);
    }
    set[k] = true;
}

/// [`split_validation`] for rows that carry a rating and more (a row weight): `pair` gives a
/// row's (user, item).
fn split_validation_by<T>(
    rows: &mut [T],
    pair: impl Fn(&T) -> (u32, u32),
    fraction: f64,
    seed: u64,
) -> usize {
    if fraction <= 0.0 {
        return rows.len();
    }
    let held = |u: u32, it: u32| unit_hash(seed, u as u64, it as u64) < fraction;
    // Users and items with a training row. A held-out row of a user or item that has none
    // stays in training: a model has nothing to say about an entity it never saw, and
    // evaluate() leaves such rows out, so validation measures the rows it would measure.
    let (mut users, mut items) = (Vec::new(), Vec::new());
    for r in rows.iter() {
        let (u, it) = pair(r);
        if !held(u, it) {
            mark(&mut users, u);
            mark(&mut items, it);
        }
    }
    let warm = |set: &[bool], k: u32| set.get(k as usize).copied().unwrap_or(false);
    let mut train_end = 0;
    for i in 0..rows.len() {
        let (u, it) = pair(&rows[i]);
        if !held(u, it) || !warm(&users, u) || !warm(&items, it) {
            rows.swap(train_end, i);
            train_end += 1;
        }
    }
    train_end
}

/// Row weights as a share of a loss (mf, ncf, two_tower): checked positive and finite, and
/// scaled to mean 1, so that the learning rate and the penalties keep their meaning (a
/// training with every weight equal is the unweighted one). Returns them and the mean they
/// were divided by (recorded with the version as [`LOSS_WEIGHT_MEAN`], so that fold-ins scale
/// their rows the same way).
pub fn loss_weights(weights: &[f32]) -> crate::error::Result<(Vec<f32>, f64)> {
    if let Some((n, &bad)) = weights
        .iter()
        .enumerate()
        .find(|(_, &w)| !(w.is_finite() && w > 0.0))
    {
        return Err(crate::error::CoreError::data(
            format!("row weight {bad} of row {n} is not a positive number"),
            Some("event_weights must be positive.".into()),
        ));
    }
    let mean = weights.iter().map(|&w| w as f64).sum::<f64>() / weights.len().max(1) as f64;
    Ok((
        weights.iter().map(|&w| (w as f64 / mean) as f32).collect(),
        mean,
    ))
}

/// The metrics key of the mean row weight a loss-weighted training divided by.
pub const LOSS_WEIGHT_MEAN: &str = "loss_weight_mean";

#[inline]
fn pair_key(r: &Rating) -> u64 {
    ((r.user as u64) << 32) | r.item as u64
}

/// Sorts by (user, item) on `pool`.
pub fn sort_pairs(pool: &rayon::ThreadPool, ratings: &mut [Rating]) {
    use rayon::slice::ParallelSliceMut;
    pool.install(|| ratings.par_sort_unstable_by_key(pair_key));
}

/// Sorts by (user, item), then value: repeated pairs in one order whatever the input's, so
/// that adding them up (`merge_sorted_duplicates`) rounds the same way every time.
pub fn sort_pairs_and_values(pool: &rayon::ThreadPool, ratings: &mut [Rating]) {
    use rayon::slice::ParallelSliceMut;
    pool.install(|| {
        ratings.par_sort_unstable_by(|a, b| {
            pair_key(a)
                .cmp(&pair_key(b))
                .then(a.value.total_cmp(&b.value))
        })
    });
}

/// The first duplicated (user, item) pair of ratings sorted by (user, item), if any.
pub fn find_duplicate(sorted: &[Rating]) -> Option<(u32, u32)> {
    sorted
        .windows(2)
        .find(|w| w[0].user == w[1].user && w[0].item == w[1].item)
        .map(|w| (w[0].user, w[0].item))
}

/// Adds up the values of repeated (user, item) pairs in `sorted` (sorted by (user, item)),
/// keeping one row per pair.
pub fn merge_sorted_duplicates(sorted: &mut Vec<Rating>) {
    sorted.dedup_by(|next, kept| {
        let same = next.user == kept.user && next.item == kept.item;
        if same {
            kept.value += next.value;
        }
        same
    });
}

/// Each row's weight x value: what a row trains with under row weights.
pub fn weighted_values(ratings: &[Rating], weights: &[f32]) -> Vec<f32> {
    ratings
        .iter()
        .zip(weights)
        .map(|(r, &w)| w * r.value)
        .collect()
}

/// Sorts `ratings` by (user, item), then value, then weight, carrying each row's weight in
/// `weights` (the same length) along; with `merge`, repeated (user, item) pairs are then added
/// up, values and weights each (in that fixed order, so the sums round the same way whatever
/// the input's order).
///
/// Sorts on `pool`, or on this thread without one.
pub fn sort_weighted(
    pool: Option<&rayon::ThreadPool>,
    ratings: &mut Vec<Rating>,
    weights: &mut Vec<f32>,
    merge: bool,
) {
    use rayon::slice::ParallelSliceMut;
    assert_eq!(ratings.len(), weights.len(), "one weight per row");
    let mut rows: Vec<(Rating, f32)> = ratings
        .iter()
        .copied()
        .zip(weights.iter().copied())
        .collect();
    let order = |(a, wa): &(Rating, f32), (b, wb): &(Rating, f32)| {
        pair_key(a)
            .cmp(&pair_key(b))
            .then(a.value.total_cmp(&b.value))
            .then(wa.total_cmp(wb))
    };
    match pool {
        Some(pool) => pool.install(|| rows.par_sort_unstable_by(order)),
        None => rows.sort_unstable_by(order),
    }
    if merge {
        rows.dedup_by(|next, kept| {
            let same = next.0.user == kept.0.user && next.0.item == kept.0.item;
            if same {
                kept.0.value += next.0.value;
                kept.1 += next.1;
            }
            same
        });
    }
    ratings.clear();
    weights.clear();
    for (r, w) in rows {
        ratings.push(r);
        weights.push(w);
    }
}

/// Smallest and largest row weight: decay never rounds a row's weight to 0 (it would stop
/// being an interaction), nor a row newer than the anchor to infinity.
pub const MIN_ROW_WEIGHT: f32 = 1e-30;
pub const MAX_ROW_WEIGHT: f32 = 1e30;

/// The weight of each row: its event weight (`event`, empty for 1 each) times, with `decay`
/// = (anchor, half_life) in the unit of `times`, 0.5^((anchor - time) / half_life): a row's
/// weight halves per half-life of age counted back from the anchor. Each row's weight depends
/// on that row alone, so the same rows give the same weights in any order.
pub fn row_weights(n: usize, event: &[f32], times: &[f64], decay: Option<(f64, f64)>) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let e = event.get(i).copied().unwrap_or(1.0) as f64;
            let d = match (decay, times.get(i)) {
                (Some((anchor, half_life)), Some(&t)) => 0.5f64.powf((anchor - t) / half_life),
                _ => 1.0,
            };
            ((e * d) as f32).clamp(MIN_ROW_WEIGHT, MAX_ROW_WEIGHT)
        })
        .collect()
}

pub fn sort_and_find_duplicate(ratings: &mut [Rating]) -> Option<(u32, u32)> {
    ratings.sort_unstable_by_key(pair_key);
    find_duplicate(ratings)
}

/// Items each user interacted with, as a compressed sparse row structure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserItems {
    pub offsets: Vec<usize>,
    pub items: Vec<u32>,
}

impl UserItems {
    /// Items of each user.
    pub fn build(n_users: usize, ratings: &[Rating]) -> Self {
        Self::build_with(n_users, ratings, |r| (r.user, r.item))
    }

    /// The transpose: users of each item (no copy of the ratings).
    pub fn build_by_item(n_items: usize, ratings: &[Rating]) -> Self {
        Self::build_with(n_items, ratings, |r| (r.item, r.user))
    }

    fn build_with(n: usize, ratings: &[Rating], pair: impl Fn(&Rating) -> (u32, u32)) -> Self {
        let mut offsets = vec![0usize; n + 1];
        for r in ratings {
            offsets[pair(r).0 as usize + 1] += 1;
        }
        for u in 0..n {
            offsets[u + 1] += offsets[u];
        }
        let mut fill = offsets.clone();
        let mut items = vec![0u32; ratings.len()];
        for r in ratings {
            let (row, col) = pair(r);
            let slot = &mut fill[row as usize];
            items[*slot] = col;
            *slot += 1;
        }
        for u in 0..n {
            items[offsets[u]..offsets[u + 1]].sort_unstable();
        }
        Self { offsets, items }
    }

    pub fn from_lists(lists: Vec<Vec<u32>>) -> Self {
        let mut offsets = Vec::with_capacity(lists.len() + 1);
        offsets.push(0);
        let mut items = Vec::new();
        for mut l in lists {
            l.sort_unstable();
            items.extend_from_slice(&l);
            offsets.push(items.len());
        }
        Self { offsets, items }
    }

    pub fn n_users(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Sorted item indices of `user`.
    pub fn of(&self, user: u32) -> &[u32] {
        let u = user as usize;
        if u + 1 >= self.offsets.len() {
            return &[];
        }
        &self.items[self.offsets[u]..self.offsets[u + 1]]
    }
}

/// Per-user sorted item lists, wherever they are stored (a [`UserItems`], or a serving file
/// read in place): what serving asks of the users' seen items.
pub trait ItemLists: Sync {
    fn n_users(&self) -> usize;
    /// Sorted item indices of `user` (empty for an unknown user).
    fn of(&self, user: u32) -> &[u32];
}

impl ItemLists for UserItems {
    fn n_users(&self) -> usize {
        UserItems::n_users(self)
    }

    fn of(&self, user: u32) -> &[u32] {
        UserItems::of(self, user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_sum_the_same_whatever_the_input_order() {
        // Repeated pairs with values whose float sum depends on the order of addition.
        let base = vec![
            Rating {
                user: 2,
                item: 1,
                value: 1e8,
            },
            Rating {
                user: 0,
                item: 3,
                value: 0.5,
            },
            Rating {
                user: 2,
                item: 1,
                value: 1.0,
            },
            Rating {
                user: 2,
                item: 1,
                value: -1e8,
            },
            Rating {
                user: 0,
                item: 3,
                value: 0.25,
            },
            Rating {
                user: 1,
                item: 0,
                value: 7.0,
            },
        ];
        let pool = crate::parallel::build_pool(2).expect("pool");
        let mut want = base.clone();
        want.sort_by(|a, b| {
            (a.user, a.item)
                .cmp(&(b.user, b.item))
                .then(a.value.total_cmp(&b.value))
        });
        let mut sums = Vec::new();
        for rotation in 0..base.len() {
            let mut r = base.clone();
            r.rotate_left(rotation);
            r.reverse();
            sort_pairs_and_values(&pool, &mut r);
            assert_eq!(r, want, "rotation {rotation}");
            merge_sorted_duplicates(&mut r);
            sums.push(r.iter().map(|x| x.value.to_bits()).collect::<Vec<_>>());
        }
        assert!(sums.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(sums[0].len(), 3);
    }

    #[test]
    fn key_index_is_dense_and_stable() {
        let mut k = KeyIndex::new();
        assert_eq!(k.intern(42i64).unwrap(), 0);
        assert_eq!(k.intern(7).unwrap(), 1);
        assert_eq!(k.intern(42).unwrap(), 0);
        assert_eq!(k.get(&7), Some(1));
        assert_eq!(k.get(&8), None);
        assert_eq!(*k.key(1), 7);
        let again = KeyIndex::from_keys(k.keys().to_vec());
        assert_eq!(again.get(&42), Some(0));
    }

    /// Small non-negative integer keys live in the array (up to DENSE_SLOTS_PER_KEY slots per
    /// key held, plus DENSE_SLACK), sparse or negative ones in the map: a key that falls just
    /// inside the bound grows the array, one just outside stays in the map.
    #[test]
    fn loss_weights_are_scaled_to_mean_one_and_must_be_positive() {
        let (w, mean) = loss_weights(&[2.0, 4.0, 6.0, 8.0]).expect("valid");
        assert_eq!(mean, 5.0);
        assert_eq!(w, vec![0.4, 0.8, 1.2, 1.6]);
        let (w, mean) = loss_weights(&[0.25; 3]).expect("valid");
        assert_eq!((w, mean), (vec![1.0; 3], 0.25));
        for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let e = loss_weights(&[1.0, bad, 2.0]).expect_err("refused");
            let text = e.to_string();
            assert!(text.contains("row 1"), "{text}");
        }
    }

    #[test]
    fn weighted_values_multiply_each_row_by_its_weight() {
        let rows = [
            Rating {
                user: 0,
                item: 1,
                value: 2.0,
            },
            Rating {
                user: 1,
                item: 0,
                value: -3.0,
            },
        ];
        assert_eq!(weighted_values(&rows, &[0.5, 4.0]), vec![1.0, -12.0]);
    }

    #[test]
    fn key_index_puts_dense_keys_in_the_array_and_sparse_ones_in_the_map() {
        let mut k = KeyIndex::new();
        for key in (0..5000i64).rev() {
            k.intern(key).unwrap();
        }
        assert!(k.map.is_empty() && k.dense.len() >= 5000, "{}", k.map.len());
        let bound = DENSE_SLOTS_PER_KEY * (k.keys.len() + 1) + DENSE_SLACK;
        let inside = (bound - 1) as i64;
        k.intern(inside).unwrap();
        assert!(
            k.map.is_empty() && k.dense.len() >= bound,
            "{}",
            k.dense.len()
        );
        let far = 1i64 << 40;
        k.intern(far).unwrap();
        k.intern(-3).unwrap();
        assert_eq!(k.map.len(), 2);
        assert!(k.dense.len() < 4 * bound);
        assert_eq!(
            (k.get(&inside), k.get(&far), k.get(&-3)),
            (Some(5000), Some(5001), Some(5002))
        );
    }

    /// Interning a batch gives every key the index interning them one at a time gives, for
    /// keys in the array, keys the array grows to take over part-way through the batch, keys
    /// in the map, and repeats (including repeats within INTERN_AHEAD of each other).
    #[test]
    fn interning_a_batch_is_interning_one_at_a_time() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        let keys: Vec<i64> = (0..20_000)
            .map(|n| match n % 7 {
                0 => -(rng.gen_range(0..50i64)),
                1 => rng.gen_range(0..1i64 << 40),
                2 => 5,
                _ => rng.gen_range(0..3_000_000i64),
            })
            .collect();
        let mut one = KeyIndex::new();
        let expected: Vec<u32> = keys.iter().map(|&k| one.intern(k).unwrap()).collect();
        // in uneven batches, into an index that already holds some keys
        let mut batch = KeyIndex::new();
        batch.intern(5).unwrap();
        let mut one_more = KeyIndex::new();
        one_more.intern(5).unwrap();
        let expected_after: Vec<u32> = keys.iter().map(|&k| one_more.intern(k).unwrap()).collect();
        let mut got = vec![u32::MAX; keys.len()];
        let mut start = 0;
        for len in [1usize, 3, 17, 1000, 4096].into_iter().cycle() {
            let end = (start + len).min(keys.len());
            batch
                .intern_all(&keys[start..end], |n, i| got[start + n] = i)
                .unwrap();
            start = end;
            if start == keys.len() {
                break;
            }
        }
        assert_eq!(got, expected_after);
        assert_eq!(batch.keys(), one_more.keys());
        assert!(!batch.map.is_empty() && !batch.dense.is_empty());
        // and in one batch from empty
        let mut whole = KeyIndex::new();
        let mut got = vec![u32::MAX; keys.len()];
        whole.intern_all(&keys, |n, i| got[n] = i).unwrap();
        assert_eq!(got, expected);
        assert_eq!(whole.keys(), one.keys());
    }

    #[test]
    fn sorted_numbering_depends_on_the_keys_not_their_order() {
        // The same (user, item) rows in two orders: after sort_keys and renumber, the same
        // numbered rows, and each key keeps its rows.
        let rows = [(30i64, "b"), (10, "c"), (20, "a"), (10, "a"), (30, "c")];
        let load = |order: &[usize]| {
            let (mut users, mut items) = (KeyIndex::new(), KeyIndex::<String>::new());
            let mut ratings: Vec<Rating> = order
                .iter()
                .map(|&i| Rating {
                    user: users.intern(rows[i].0).unwrap(),
                    item: items.intern(rows[i].1.to_string()).unwrap(),
                    value: i as f32,
                })
                .collect();
            let (u, it) = (users.sort_keys(), items.sort_keys());
            renumber(&mut ratings, &u, &it);
            ratings.sort_by_key(|r| (r.user, r.item));
            (users, items, ratings)
        };
        let (ua, ia, ra) = load(&[0, 1, 2, 3, 4]);
        let (ub, ib, rb) = load(&[4, 3, 2, 1, 0]);
        assert_eq!(ua.keys(), &[10, 20, 30]);
        assert_eq!(ia.keys(), &["a", "b", "c"]);
        assert_eq!(ub.keys(), ua.keys());
        assert_eq!(ib.keys(), ia.keys());
        assert_eq!(ra, rb);
        for r in &ra {
            let row = rows[r.value as usize];
            assert_eq!((*ua.key(r.user), ia.key(r.item).as_str()), row);
            assert_eq!(ua.get(&row.0), Some(r.user));
        }
    }

    #[test]
    fn sorting_from_an_index_keeps_the_keys_before_it() {
        let mut k = KeyIndex::from_keys(vec![9i64, 3, 8, 1, 5]);
        let order = k.sort_keys_from(2);
        assert_eq!(k.keys(), &[9, 3, 1, 5, 8]);
        assert_eq!(order, vec![0, 1, 4, 2, 3]);
        assert_eq!(k.get(&8), Some(4));
        assert_eq!(k.sort_keys_from(7), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn text_keys_are_looked_up_by_str() {
        let mut k: KeyIndex<String> = KeyIndex::new();
        k.intern("a".to_string()).unwrap();
        k.intern("b".to_string()).unwrap();
        assert_eq!(k.get("b"), Some(1));
    }

    #[test]
    fn validation_split_depends_on_pairs_not_order() {
        // 1,000 distinct pairs of 37 users and 101 items, and 50 users and 50 items with one
        // rating each
        let mut a: Vec<Rating> = (0..1000)
            .map(|i| Rating {
                user: i % 37,
                item: i % 101,
                value: 1.0,
            })
            .chain((0..50).map(|i| Rating {
                user: 100 + i,
                item: 200 + i,
                value: 1.0,
            }))
            .collect();
        let mut b = a.clone();
        b.reverse();
        let na = split_validation(&mut a, 0.2, 9);
        let nb = split_validation(&mut b, 0.2, 9);
        assert_eq!(na, nb);
        let pairs = |v: &[Rating]| {
            let mut p: Vec<(u32, u32)> = v.iter().map(|r| (r.user, r.item)).collect();
            p.sort();
            p
        };
        assert_eq!(pairs(&a[na..]), pairs(&b[nb..]));
        let held = a.len() - na;
        assert!((150..250).contains(&held), "held out {held}");
        // Every held-out rating's user and item keep a training rating: the users and items
        // with one rating are never held out.
        for r in &a[na..] {
            assert!(a[..na].iter().any(|t| t.user == r.user), "{r:?}");
            assert!(a[..na].iter().any(|t| t.item == r.item), "{r:?}");
            assert!(r.user < 100, "{r:?}");
        }
        // ... which the hash alone would have held out (about a fifth of them)
        let hashed = (0..50u64)
            .filter(|&i| unit_hash(9, 100 + i, 200 + i) < 0.2)
            .count();
        assert!(hashed > 0);
    }

    #[test]
    fn duplicates_are_found() {
        let mut r = vec![
            Rating {
                user: 1,
                item: 2,
                value: 1.0,
            },
            Rating {
                user: 0,
                item: 2,
                value: 1.0,
            },
            Rating {
                user: 1,
                item: 2,
                value: 3.0,
            },
        ];
        assert_eq!(sort_and_find_duplicate(&mut r), Some((1, 2)));
        let mut merged = r.clone();
        merge_sorted_duplicates(&mut merged);
        assert_eq!(merged.len(), r.len() - 1);
        assert!(find_duplicate(&merged).is_none());
        let total = |v: &[Rating]| v.iter().map(|x| x.value as f64).sum::<f64>();
        assert_eq!(total(&merged), total(&r));
        r.pop();
        r[1].item = 3;
        assert_eq!(sort_and_find_duplicate(&mut r), None);
    }

    #[test]
    fn user_items_csr() {
        let r = vec![
            Rating {
                user: 1,
                item: 5,
                value: 1.0,
            },
            Rating {
                user: 1,
                item: 2,
                value: 1.0,
            },
            Rating {
                user: 2,
                item: 0,
                value: 1.0,
            },
        ];
        let ui = UserItems::build(3, &r);
        let iu = UserItems::build_by_item(6, &r);
        assert_eq!(iu.of(2), &[1]);
        assert_eq!(iu.of(0), &[2]);
        assert_eq!(iu.of(1), &[] as &[u32]);
        assert_eq!(ui.of(0), &[] as &[u32]);
        assert_eq!(ui.of(1), &[2, 5]);
        assert_eq!(ui.of(2), &[0]);
        assert_eq!(ui.of(9), &[] as &[u32]);
    }

    #[test]
    fn row_weights_halve_per_half_life_and_keep_the_event_weight() {
        let w = row_weights(
            4,
            &[1.0, 2.0, 3.0, 1.0],
            &[100.0, 90.0, 80.0, 110.0],
            Some((100.0, 10.0)),
        );
        assert_eq!(w, [1.0, 1.0, 0.75, 2.0]);
        // No decay: the event weights; neither: ones.
        assert_eq!(row_weights(2, &[4.0, 0.5], &[], None), [4.0, 0.5]);
        assert_eq!(row_weights(2, &[], &[], None), [1.0, 1.0]);
        // Very old rows keep a tiny positive weight; rows far newer than the anchor a finite one.
        let far = row_weights(2, &[], &[-1e12, 1e12], Some((0.0, 1.0)));
        assert_eq!(far, [MIN_ROW_WEIGHT, MAX_ROW_WEIGHT]);
    }

    #[test]
    fn weighted_rows_sort_and_add_up_the_same_in_any_order() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        // User 0 has two items and item 2 two users: only equal (user, item) pairs merge.
        let rows = [
            (1, 2, 1.0, 0.5),
            (0, 1, 1.0, 2.0),
            (0, 2, 5.0, 1.0),
            (1, 2, 1.0, 0.25),
            (0, 1, 3.0, 1.0),
        ];
        let mut ratings: Vec<Rating> = rows
            .iter()
            .map(|&(user, item, value, _)| Rating { user, item, value })
            .collect();
        let mut weights: Vec<f32> = rows.iter().map(|r| r.3).collect();
        let (mut r2, mut w2) = (ratings.clone(), weights.clone());
        r2.reverse();
        w2.reverse();
        sort_weighted(Some(&pool), &mut ratings, &mut weights, true);
        sort_weighted(None, &mut r2, &mut w2, true);
        assert_eq!(ratings, r2);
        assert_eq!(weights, w2);
        assert_eq!(
            ratings,
            [
                Rating {
                    user: 0,
                    item: 1,
                    value: 4.0
                },
                Rating {
                    user: 0,
                    item: 2,
                    value: 5.0
                },
                Rating {
                    user: 1,
                    item: 2,
                    value: 2.0
                }
            ]
        );
        assert_eq!(weights, [3.0, 1.0, 0.75]);
    }
}
