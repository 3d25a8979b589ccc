//! Biased matrix factorisation trained by parallel SGD that is deterministic for a seed.
//!
//! Users and items are dealt into `blocks` groups each, giving a fixed grid of rating blocks.
//! Blocks on one (wrapped) diagonal share no user and no item, so they run in parallel without
//! locks, and the result does not depend on how many threads run them (LIBMF's idea, with a
//! fixed schedule instead of a dynamic one). Each block is processed in an order drawn from
//! (seed, epoch, block), and per-block sums are reduced in block order.

use rand::seq::SliceRandom;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use rayon::ThreadPool;

use super::params::{MfParams, Optimizer};
use crate::algo::params::Checked;
use crate::data::{
    loss_weights, rating_stats, split_validation_weighted, Rating, UserItems, LOSS_WEIGHT_MEAN,
};
use crate::error::{CoreError, Result};
use crate::kernels::{self, Kernels, PairStep};
use crate::model::FactorModel;
use crate::parallel::{CancelFlag, SharedMut};
use crate::rng::stream;
use crate::train::{
    EarlyStopping, EpochReport, Fitted, Measurement, Scorer, Snapshot, Step, StepReport, Target,
    Training, DATA_DEFAULTS,
};

/// Training ratings bucketed into a blocks x blocks grid, stored contiguously.
struct Grid {
    blocks: usize,
    ratings: Vec<Rating>,
    /// With row weights: each rating's share of the loss (mean 1), in the order of `ratings`;
    /// empty without.
    weights: Vec<f32>,
    /// Start of each cell in `ratings`; cell (ub, ib) is index ub * blocks + ib.
    offsets: Vec<usize>,
    /// Within a cell, ratings are grouped by user ("runs"), so that a user's vector stays in
    /// cache while their ratings are processed; every epoch visits the runs in a new seeded
    /// order. `run_starts[run_offsets[c]..run_offsets[c + 1]]` are cell c's run starts
    /// (relative to the cell). Empty until `arrange` has run.
    run_starts: Vec<u32>,
    run_offsets: Vec<usize>,
}

impl Grid {
    /// Buckets `ratings` in place (American flag sort on the cell index): no second copy.
    fn build(
        mut ratings: Vec<Rating>,
        mut weights: Vec<f32>,
        n_users: usize,
        n_items: usize,
        blocks: usize,
        seed: u64,
    ) -> Self {
        let (mut user_counts, mut item_counts) = (vec![0u32; n_users], vec![0u32; n_items]);
        for r in &ratings {
            user_counts[r.user as usize] += 1;
            item_counts[r.item as usize] += 1;
        }
        let user_block = deal(&user_counts, blocks, seed, 1);
        let item_block = deal(&item_counts, blocks, seed, 2);
        drop((user_counts, item_counts));
        let cell = |r: &Rating| {
            user_block[r.user as usize] as usize * blocks + item_block[r.item as usize] as usize
        };
        let n_cells = blocks * blocks;
        let mut offsets = vec![0usize; n_cells + 1];
        for r in &ratings {
            offsets[cell(r) + 1] += 1;
        }
        for c in 0..n_cells {
            offsets[c + 1] += offsets[c];
        }
        let mut next = offsets[..n_cells].to_vec();
        for c in 0..n_cells {
            while next[c] < offsets[c + 1] {
                let target = cell(&ratings[next[c]]);
                if target == c {
                    next[c] += 1;
                } else {
                    ratings.swap(next[c], next[target]);
                    if !weights.is_empty() {
                        weights.swap(next[c], next[target]);
                    }
                    next[target] += 1;
                }
            }
        }
        Grid {
            blocks,
            ratings,
            weights,
            offsets,
            run_starts: Vec::new(),
            run_offsets: Vec::new(),
        }
    }

    fn is_arranged(&self) -> bool {
        !self.run_offsets.is_empty()
    }

    /// Sorts every cell by user (items of a user in a seeded order) and records the runs.
    /// Parallel over cells; stops early (leaving the grid unarranged) when cancelled.
    fn arrange(&mut self, pool: &ThreadPool, seed: u64, cancel: &CancelFlag) -> Result<()> {
        let n_cells = self.blocks * self.blocks;
        let mut cells: Vec<(&mut [Rating], &mut [f32])> = Vec::with_capacity(n_cells);
        let mut rest: &mut [Rating] = &mut self.ratings;
        let mut rest_w: &mut [f32] = &mut self.weights;
        for c in 0..n_cells {
            let len = self.offsets[c + 1] - self.offsets[c];
            let (head, tail) = rest.split_at_mut(len);
            let (head_w, tail_w) = rest_w.split_at_mut(len.min(rest_w.len()));
            cells.push((head, head_w));
            rest = tail;
            rest_w = tail_w;
        }
        let runs: Vec<Vec<u32>> = pool.install(|| {
            cells
                .into_par_iter()
                .map(|(cell, weights)| {
                    if cancel.is_cancelled() {
                        return Vec::new();
                    }
                    let key = |r: &Rating| ((r.user as u64) << 32) | r.item as u64;
                    // With weights, each rating's weight travels with it.
                    let mut paired: Vec<(Rating, f32)> = Vec::new();
                    if weights.is_empty() {
                        cell.sort_unstable_by_key(key);
                    } else {
                        paired = cell.iter().copied().zip(weights.iter().copied()).collect();
                        paired.sort_unstable_by_key(|p| key(&p.0));
                        for (r, p) in cell.iter_mut().zip(&paired) {
                            *r = p.0;
                        }
                    }
                    let mut starts = Vec::new();
                    for (i, r) in cell.iter().enumerate() {
                        if i == 0 || cell[i - 1].user != r.user {
                            starts.push(i as u32);
                        }
                    }
                    // A seeded order of each user's items, fixed for the whole training.
                    let mut rng =
                        stream(seed, &[0x0DE7, cell.first().map_or(0, |r| r.user as u64)]);
                    for (w, &s) in starts.iter().enumerate() {
                        let e = starts.get(w + 1).map_or(cell.len(), |&x| x as usize);
                        if weights.is_empty() {
                            cell[s as usize..e].shuffle(&mut rng);
                        } else {
                            paired[s as usize..e].shuffle(&mut rng);
                        }
                    }
                    for (n, p) in paired.into_iter().enumerate() {
                        cell[n] = p.0;
                        weights[n] = p.1;
                    }
                    starts
                })
                .collect()
        });
        cancel.check()?;
        self.run_offsets = Vec::with_capacity(n_cells + 1);
        self.run_offsets.push(0);
        for r in &runs {
            self.run_starts.extend_from_slice(r);
            self.run_offsets.push(self.run_starts.len());
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.ratings.len()
    }
}

/// Deals indices into `blocks` groups holding similar numbers of ratings, so that the blocks of
/// a diagonal take similar times: heaviest first, in serpentine order (0, 1, .., b-1, b-1, .., 0),
/// ties broken by a seeded shuffle.
fn deal(counts: &[u32], blocks: usize, seed: u64, salt: u64) -> Vec<u16> {
    let mut order: Vec<u32> = (0..counts.len() as u32).collect();
    order.shuffle(&mut stream(seed, &[0xB10C, salt]));
    order.sort_by_key(|&i| std::cmp::Reverse(counts[i as usize]));
    let mut out = vec![0u16; counts.len()];
    for (pos, idx) in order.into_iter().enumerate() {
        let (round, r) = (pos / blocks, pos % blocks);
        let group = if round % 2 == 0 { r } else { blocks - 1 - r };
        out[idx as usize] = group as u16;
    }
    out
}

/// Per-entity factor penalty: regularization * (mean count / count)^exponent; None when the
/// exponent is 0 and every entity has the same penalty.
fn penalties(indices: impl Iterator<Item = u32>, n: usize, p: &MfParams) -> Option<Vec<f32>> {
    let (reg, exponent) = (p.regularization as f32, p.regularization_exponent as f32);
    if exponent == 0.0 {
        return None;
    }
    let mut counts = vec![0u32; n];
    let mut total = 0usize;
    for i in indices {
        counts[i as usize] += 1;
        total += 1;
    }
    let seen = counts.iter().filter(|&&c| c > 0).count().max(1);
    let mean = total as f64 / seen as f64;
    counts
        .into_iter()
        .map(|c| {
            let ratio = mean / c.max(1) as f64;
            (reg as f64 * ratio.powf(exponent as f64)) as f32
        })
        .collect::<Vec<f32>>()
        .into()
}

/// Random initial model: normal factors, zero biases.
fn init_model(
    p: &MfParams,
    n_users: usize,
    n_items: usize,
    mean: f32,
    range: (f32, f32),
) -> FactorModel {
    let k = p.factors as usize;
    let normal = Normal::new(0.0f32, (p.init_std as f32).max(0.0))
        .unwrap_or_else(|_| Normal::new(0.0, 0.0).expect("zero std is valid"));
    let mut rng_u = stream(p.run.seed(), &[0x1417, 1]);
    let mut rng_i = stream(p.run.seed(), &[0x1417, 2]);
    FactorModel {
        factors: k,
        global_mean: mean,
        rating_range: Some(range),
        user_bias: vec![0.0; n_users],
        item_bias: vec![0.0; n_items],
        user_factors: (0..n_users * k)
            .map(|_| normal.sample(&mut rng_u))
            .collect(),
        item_factors: (0..n_items * k)
            .map(|_| normal.sample(&mut rng_i))
            .collect(),
        head: None,
    }
}

/// One per-epoch update of an implicit term.
struct FoldStep<'a> {
    /// Step size of the y update, and L2 penalty on y.
    step: f32,
    reg_y: f32,
    /// The epoch's learning rate and the factor penalty it applied (per entity, or one value).
    lr: f32,
    penalties: Option<&'a [f32]>,
    penalty: f32,
    /// Share of the penalty's pull on the folded part that is given back.
    decouple: f32,
    /// AdaGrad-normalised steps for y.
    adaptive: bool,
}

/// State of the SVD++-style implicit term (see `MfParams::implicit`).
struct Implicit {
    /// |N(u)|^-implicit_size_exponent (0 for users without training ratings).
    user_norm: Vec<f32>,
    /// Per-item scale of the summed gradient: |N(j)|^-exponent.
    item_scale: Vec<f32>,
    /// Implicit item vectors y_j.
    y: Vec<f32>,
    /// s_u = |N(u)|^-1/2 sum y_j, as currently folded into the user factors.
    s: Vec<f32>,
    /// Per-user sum of err * q_i over the current epoch.
    g: Vec<f32>,
    /// AdaGrad accumulator of each y_j's mean squared update direction (when adaptive).
    y_g2: Vec<f32>,
}

/// The training pairs listed both ways, shared by the two implicit terms.
struct PairLists {
    items_of_user: UserItems,
    users_of_item: UserItems,
}

impl Implicit {
    /// The implicit term of one side. Written for the user side: `own[u]` lists the items of
    /// user u and `other[j]` the users of item j. The item side passes the lists swapped.
    fn new(own: &UserItems, other: &UserItems, p: &MfParams, size_exponent: f32) -> Self {
        let k = p.factors as usize;
        let (n_users, n_items) = (own.n_users(), other.n_users());
        let user_norm = (0..n_users)
            .map(|u| {
                let n = own.of(u as u32).len();
                if n == 0 {
                    0.0
                } else {
                    (n as f32).powf(-size_exponent)
                }
            })
            .collect();
        let item_scale = (0..n_items)
            .map(|i| {
                let n = other.of(i as u32).len().max(1);
                (n as f64).powf(-(p.implicit_norm_exponent as f32 as f64)) as f32
            })
            .collect();
        Implicit {
            user_norm,
            item_scale,
            y: vec![0.0; n_items * k],
            s: vec![0.0; n_users * k],
            g: vec![0.0; n_users * k],
            y_g2: vec![1.0; n_items],
        }
    }

    /// The end-of-epoch update of one side: `side` is (step multiple, per-entity penalties) and
    /// `lists` is (own lists, other side's lists), as in `new`.
    #[allow(clippy::too_many_arguments)]
    fn fold(
        &mut self,
        pool: &ThreadPool,
        kern: Kernels,
        factors: &mut [f32],
        p: &MfParams,
        lr: f32,
        side: (f32, Option<&[f32]>),
        lists: (&UserItems, &UserItems),
    ) {
        let step = FoldStep {
            step: lr * side.0,
            reg_y: p.implicit_regularization as f32,
            lr,
            penalties: side.1,
            penalty: p.regularization as f32,
            decouple: p.implicit_decouple as f32,
            adaptive: p.implicit_adaptive,
        };
        self.update(pool, kern, factors, p.factors as usize, &step, lists);
    }

    /// Updates every y_j from the epoch's gradient sums, recomputes s_u and moves the folded
    /// user vectors by the change in s_u. Parallel over items, then users; every sum runs in a
    /// fixed order, so the result does not depend on the thread count.
    fn update(
        &mut self,
        pool: &ThreadPool,
        kern: Kernels,
        user_factors: &mut [f32],
        k: usize,
        f: &FoldStep<'_>,
        (user_items, item_users): (&UserItems, &UserItems),
    ) {
        let (g, user_norm, item_scale) = (&self.g, &self.user_norm, &self.item_scale);
        let (step, lr, decouple) = (f.step, f.lr, f.decouple);
        let shrink = 1.0 - step * f.reg_y;
        let adaptive = f.adaptive;
        pool.install(|| {
            self.y
                .par_chunks_mut(k)
                .zip(self.y_g2.par_iter_mut())
                .enumerate()
                .for_each_init(
                    || vec![0f32; k],
                    |acc, (j, (yj, g2))| {
                        acc.fill(0.0);
                        for &u in item_users.of(j as u32) {
                            let u = u as usize;
                            kern.axpy(user_norm[u], &g[u * k..(u + 1) * k], acc);
                        }
                        yj.iter_mut().for_each(|x| *x *= shrink);
                        let scale = if adaptive {
                            // AdaGrad on the summed direction: the step no longer grows with how
                            // many ratings feed y_j, which keeps dense or popular data stable.
                            *g2 += kern.dot(acc, acc) / k as f32;
                            if *g2 > 0.0 {
                                step / g2.sqrt()
                            } else {
                                0.0
                            }
                        } else {
                            step * item_scale[j]
                        };
                        kern.axpy(scale, acc, yj);
                    },
                );
        });
        let y = &self.y;
        pool.install(|| {
            self.s
                .par_chunks_mut(k)
                .zip(user_factors.par_chunks_mut(k))
                .zip(self.g.par_chunks_mut(k))
                .enumerate()
                .for_each_init(
                    || vec![0f32; k],
                    |acc, (u, ((su, zu), gu))| {
                        acc.fill(0.0);
                        for &j in user_items.of(u as u32) {
                            let j = j as usize;
                            kern.axpy(1.0, &y[j * k..(j + 1) * k], acc);
                        }
                        let nrm = user_norm[u];
                        // The epoch's per-rating penalty shrank the folded vector, s_u included, by
                        // (1 - lr * reg)^n; give back `decouple` of what it took from s_u.
                        let n = user_items.of(u as u32).len() as i32;
                        let back = decouple
                            * (1.0 - (1.0 - lr * f.penalties.map_or(f.penalty, |r| r[u])).powi(n));
                        for t in 0..k {
                            let new = nrm * acc[t];
                            zu[t] += new - su[t] + back * su[t];
                            su[t] = new;
                        }
                        gu.iter_mut().for_each(|x| *x = 0.0);
                    },
                );
        });
    }
}

pub struct MfTrainer {
    params: Checked<MfParams>,
    kernels: Kernels,
    grid: Grid,
    validation: Vec<Rating>,
    model: FactorModel,
    /// Factor penalty of each user and item (see `regularization_exponent`).
    /// None when every vector has the same penalty (regularization_exponent = 0).
    user_reg: Option<Vec<f32>>,
    item_reg: Option<Vec<f32>>,
    /// AdaGrad accumulators: running sum of mean squared gradients per user and item vector.
    user_g2: Vec<f32>,
    item_g2: Vec<f32>,
    epoch: usize,
    learning_rate: f32,
    /// The defaults the training chose from its data (reported in the fitted metrics).
    data_defaults: serde_json::Map<String, serde_json::Value>,
    implicit: Option<Implicit>,
    implicit_items: Option<Implicit>,
    lists: Option<PairLists>,
    /// With row weights: the mean weight they were divided by (reported in the metrics).
    weight_mean: Option<f64>,
}

impl MfTrainer {
    /// Takes ownership of the ratings (indices must be < n_users / n_items, values finite,
    /// no duplicate pairs), holds out a validation share and prepares the grid.
    pub fn new(
        ratings: Vec<Rating>,
        n_users: usize,
        n_items: usize,
        params: Checked<MfParams>,
    ) -> Result<Self> {
        Self::new_weighted(ratings, None, n_users, n_items, params)
    }

    /// [`MfTrainer::new`] with row weights: `weights[n]` is rating n's share of the loss
    /// (scaled to mean 1 here; the validation RMSE counts every held-out rating once).
    pub fn new_weighted(
        mut ratings: Vec<Rating>,
        weights: Option<Vec<f32>>,
        n_users: usize,
        n_items: usize,
        params: Checked<MfParams>,
    ) -> Result<Self> {
        let (fraction, seed) = (params.run.validation_fraction(), params.run.seed());
        let mut weight_mean = None;
        let (train_len, weights) =
            split_validation_weighted(&mut ratings, weights, fraction, seed)?;
        let mut weights = match weights {
            None => Vec::new(),
            Some(w) => {
                let (w, mean) = loss_weights(&w)?;
                weight_mean = Some(mean);
                w
            }
        };
        if train_len == 0 {
            return Err(CoreError::data(
                "no ratings left for training after holding out the validation set",
                Some("Lower validation_fraction or add data.".into()),
            ));
        }
        let validation = ratings.split_off(train_len);
        ratings.shrink_to_fit();
        weights.shrink_to_fit();
        let stats = rating_stats(&ratings).ok_or_else(|| CoreError::data("no ratings", None))?;
        // The global mean under the weighted loss is the weighted mean.
        let mean = if weights.is_empty() {
            stats.mean
        } else {
            let sum: f64 = ratings
                .iter()
                .zip(&weights)
                .map(|(r, &w)| r.value as f64 * w as f64)
                .sum();
            sum / ratings.len() as f64
        };
        let model = init_model(
            &params,
            n_users,
            n_items,
            mean as f32,
            (stats.min, stats.max),
        );
        let user_reg = penalties(ratings.iter().map(|r| r.user), n_users, &params);
        let item_reg = penalties(ratings.iter().map(|r| r.item), n_items, &params);
        let lists = (params.implicit || params.implicit_items).then(|| PairLists {
            items_of_user: UserItems::build(n_users, &ratings),
            users_of_item: UserItems::build_by_item(n_items, &ratings),
        });
        let implicit = lists.as_ref().filter(|_| params.implicit).map(|l| {
            Implicit::new(
                &l.items_of_user,
                &l.users_of_item,
                &params,
                params.implicit_size_exponent as f32,
            )
        });
        let implicit_items = lists.as_ref().filter(|_| params.implicit_items).map(|l| {
            Implicit::new(
                &l.users_of_item,
                &l.items_of_user,
                &params,
                params.implicit_items_size_exponent as f32,
            )
        });
        let grid = Grid::build(
            ratings,
            weights,
            n_users,
            n_items,
            params.blocks as usize,
            params.run.seed(),
        );
        Ok(Self {
            user_g2: vec![1.0; n_users],
            item_g2: vec![1.0; n_items],
            user_reg,
            item_reg,
            learning_rate: params.learning_rate as f32,
            params,
            kernels: Kernels::detect(),
            grid,
            validation,
            model,
            epoch: 0,
            data_defaults: serde_json::Map::new(),
            implicit,
            implicit_items,
            lists,
            weight_mean,
        })
    }

    pub fn n_train(&self) -> usize {
        self.grid.len()
    }

    /// Records the defaults the training chose from its data (see [`MfParams::adapt_to`]),
    /// reported in the fitted metrics under [`DATA_DEFAULTS`].
    pub fn with_data_defaults(
        mut self,
        chosen: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        self.data_defaults = chosen;
        self
    }

    /// The model as it stands now.
    pub fn model(&self) -> &FactorModel {
        &self.model
    }

    /// One pass of SGD over one block; returns the sum of squared errors seen.
    #[inline(never)]
    fn run_block(&self, cell: usize, ratings: SharedMut<Rating>, m: &ModelBuffers, lr: f32) -> f64 {
        let weighted = !self.grid.weights.is_empty();
        #[cfg(target_arch = "x86_64")]
        if self.kernels.avx2() {
            // SAFETY: avx2 and fma were detected at run time.
            return unsafe {
                if weighted {
                    self.run_block_avx2::<true>(cell, ratings, m, lr)
                } else {
                    self.run_block_avx2::<false>(cell, ratings, m, lr)
                }
            };
        }
        if weighted {
            self.run_block_body::<true>(cell, ratings, m, lr)
        } else {
            self.run_block_body::<false>(cell, ratings, m, lr)
        }
    }

    /// `run_block_body` compiled for AVX2 + FMA: the vector kernels inline into the loop.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_block_avx2<const WEIGHTED: bool>(
        &self,
        cell: usize,
        ratings: SharedMut<Rating>,
        m: &ModelBuffers,
        lr: f32,
    ) -> f64 {
        self.run_block_body::<WEIGHTED>(cell, ratings, m, lr)
    }

    /// The body of `run_block`, inlined into a portable and an AVX2 build. It calls the kernel
    /// bodies directly (the same arithmetic as `Kernels`' methods, without a call per rating).
    /// `WEIGHTED`: each rating's error is scaled by its weight (its share of the loss).
    #[inline(always)]
    fn run_block_body<const WEIGHTED: bool>(
        &self,
        cell: usize,
        ratings: SharedMut<Rating>,
        m: &ModelBuffers,
        lr: f32,
    ) -> f64 {
        let (start, end) = (self.grid.offsets[cell], self.grid.offsets[cell + 1]);
        if start == end {
            return 0.0;
        }
        // SAFETY: this cell is visited by exactly one task in this diagonal.
        let block: &[Rating] = unsafe { ratings.slice(start, end - start) };
        let block_weights: &[f32] = if WEIGHTED {
            &self.grid.weights[start..end]
        } else {
            &[]
        };
        let starts =
            &self.grid.run_starts[self.grid.run_offsets[cell]..self.grid.run_offsets[cell + 1]];
        let mut order: Vec<u32> = (0..starts.len() as u32).collect();
        order.shuffle(&mut stream(
            self.params.run.seed(),
            &[0x5EED, self.epoch as u64, cell as u64],
        ));
        let run = |o: u32| {
            let s = starts[o as usize] as usize;
            let e = starts
                .get(o as usize + 1)
                .map_or(block.len(), |&x| x as usize);
            &block[s..e]
        };
        let k = self.params.factors as usize;
        let reg_b = self.params.bias_regularization as f32;
        let adagrad = self.params.optimizer == Optimizer::Adagrad;
        let reg = self.params.regularization as f32;
        let mean = self.model.global_mean;
        let mut sse = 0f64;
        // Runs are visited in a shuffled order, so their first ratings and their users' rows
        // are scattered: start loading the ratings RATINGS_AHEAD runs ahead and the user rows
        // USER_AHEAD runs ahead (whose ratings were asked for earlier).
        let run_start = |o: u32| block.as_ptr().wrapping_add(starts[o as usize] as usize);
        for &o in order.iter().take(RATINGS_AHEAD) {
            kernels::prefetch_bytes(run_start(o) as *const u8, 1);
        }
        // The ratings in visiting order, ITEM_AHEAD ratings ahead of the loop: their item rows
        // are asked for early.
        let mut ahead = order.iter().flat_map(|&o| run(o).iter());
        for nx in ahead.by_ref().take(ITEM_AHEAD) {
            kernels::prefetch(m.item_factors.ptr(nx.item as usize * k), k);
            kernels::prefetch(m.item_bias.ptr(nx.item as usize), 1);
        }
        for (pos, &o) in order.iter().enumerate() {
            let user_ratings = run(o);
            let run_at = starts[o as usize] as usize;
            if let Some(&far) = order.get(pos + RATINGS_AHEAD) {
                kernels::prefetch_bytes(run_start(far) as *const u8, 1);
            }
            if let Some(&next) = order.get(pos + USER_AHEAD) {
                let nu = run(next)[0].user as usize;
                kernels::prefetch(m.user_factors.ptr(nu * k), k);
                kernels::prefetch(m.user_bias.ptr(nu), 1);
            }
            let u = user_ratings[0].user as usize;
            // SAFETY: blocks of one diagonal touch disjoint users and items, so this task is
            // the only one touching user u and the items of this cell.
            let (p, bu, gu) = unsafe {
                (
                    m.user_factors.slice(u * k, k),
                    m.user_bias.at(u),
                    m.user_g2.at(u),
                )
            };
            // SAFETY: as above (the implicit-term gradient of user u).
            let mut g_user = m.user_grad.as_ref().map(|g| unsafe { g.slice(u * k, k) });
            let reg_p = self.user_reg.as_ref().map_or(reg, |r| r[u]);
            // AdaGrad: the user's step is fixed for the run and its statistics are added at the
            // end of it, which keeps a square root off the chain from one rating to the next.
            let lr_p = if adagrad { lr / gu.sqrt() } else { lr };
            let mut gu_run = 0f32;
            for (n, r) in user_ratings.iter().enumerate() {
                if let Some(nx) = ahead.next() {
                    kernels::prefetch(m.item_factors.ptr(nx.item as usize * k), k);
                    kernels::prefetch(m.item_bias.ptr(nx.item as usize), 1);
                }
                let i = r.item as usize;
                // SAFETY: as above.
                let (q, bi, gi) = unsafe {
                    (
                        m.item_factors.slice(i * k, k),
                        m.item_bias.at(i),
                        m.item_g2.at(i),
                    )
                };
                let mut err = r.value - (mean + *bu + *bi + kernels::dot_short_body(p, q));
                if WEIGHTED {
                    let w = block_weights[run_at + n];
                    sse += (w * err * err) as f64;
                    err *= w;
                } else {
                    sse += (err * err) as f64;
                }
                if let Some(g) = g_user.as_deref_mut() {
                    kernels::axpy_body(err, q, g);
                }
                if let Some(h) = m.item_grad {
                    // SAFETY: as above.
                    kernels::axpy_body(err, p, unsafe { h.slice(i * k, k) });
                }
                let lr_q = if adagrad { lr / gi.sqrt() } else { lr };
                *bu += lr_p * (err - reg_b * *bu);
                *bi += lr_q * (err - reg_b * *bi);
                let step = PairStep {
                    err,
                    lr_p,
                    lr_q,
                    reg_p,
                    reg_q: self.item_reg.as_ref().map_or(reg, |r| r[i]),
                };
                if adagrad {
                    let (gp2, gq2) = kernels::sgd_body::<true>(p, q, step);
                    gu_run += gp2;
                    *gi += gq2;
                } else {
                    kernels::sgd_body::<false>(p, q, step);
                }
            }
            *gu += gu_run;
        }
        sse
    }

    /// Validation RMSE of the current model, reduced in a fixed order.
    fn validation_rmse(&self, pool: &ThreadPool) -> Option<f64> {
        if self.validation.is_empty() {
            return None;
        }
        let kern = self.kernels;
        let sums: Vec<f64> = pool.install(|| {
            self.validation
                .par_chunks(16 * 1024)
                .map(|chunk| {
                    chunk
                        .iter()
                        .map(|r| {
                            let e = r.value - self.model.predict(kern, r.user, r.item);
                            (e * e) as f64
                        })
                        .sum::<f64>()
                })
                .collect()
        });
        Some((sums.iter().sum::<f64>() / self.validation.len() as f64).sqrt())
    }
}

/// How many runs ahead `run_block` asks for a run's first ratings, and for its user's row.
const RATINGS_AHEAD: usize = 8;
const USER_AHEAD: usize = 3;
/// How many ratings ahead `run_block` asks for an item's row.
const ITEM_AHEAD: usize = 3;

/// Raw views of the model's buffers for lock-free updates by disjoint blocks.
struct ModelBuffers {
    user_factors: SharedMut<f32>,
    item_factors: SharedMut<f32>,
    user_bias: SharedMut<f32>,
    item_bias: SharedMut<f32>,
    user_g2: SharedMut<f32>,
    item_g2: SharedMut<f32>,
    /// Per-user gradient sums of the implicit term, when enabled.
    user_grad: Option<SharedMut<f32>>,
    item_grad: Option<SharedMut<f32>>,
}

impl Step for MfTrainer {
    fn max_steps(&self) -> usize {
        self.params.run.epochs()
    }

    fn n_validation(&self) -> usize {
        self.validation.len()
    }

    fn squared_loss(&self) -> bool {
        true
    }

    fn early_stopping(&self) -> Option<EarlyStopping> {
        EarlyStopping::on_rmse(self.params.run.patience(), self.validation.len())
    }

    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<StepReport> {
        cancel.check()?;
        if !self.grid.is_arranged() {
            self.grid.arrange(pool, self.params.run.seed(), cancel)?;
        }
        let nb = self.grid.blocks;
        let mut diagonals: Vec<usize> = (0..nb).collect();
        diagonals.shuffle(&mut stream(
            self.params.run.seed(),
            &[0xD1A6, self.epoch as u64],
        ));
        let lr = self.learning_rate;
        let ratings = SharedMut::new(&mut self.grid.ratings);
        let bufs = ModelBuffers {
            user_factors: SharedMut::new(&mut self.model.user_factors),
            item_factors: SharedMut::new(&mut self.model.item_factors),
            user_bias: SharedMut::new(&mut self.model.user_bias),
            item_bias: SharedMut::new(&mut self.model.item_bias),
            user_g2: SharedMut::new(&mut self.user_g2),
            item_g2: SharedMut::new(&mut self.item_g2),
            user_grad: self.implicit.as_mut().map(|im| SharedMut::new(&mut im.g)),
            item_grad: self
                .implicit_items
                .as_mut()
                .map(|im| SharedMut::new(&mut im.g)),
        };
        let mut sse = 0f64;
        for d in diagonals {
            cancel.check()?;
            let this = &*self;
            let per_block: Vec<f64> = pool.install(|| {
                (0..nb)
                    .into_par_iter()
                    .map(|ub| {
                        if cancel.is_cancelled() {
                            return 0.0;
                        }
                        this.run_block(ub * nb + (ub + d) % nb, ratings, &bufs, lr)
                    })
                    .collect()
            });
            sse += per_block.iter().sum::<f64>();
        }
        cancel.check()?;
        let train_loss = sse / self.grid.len().max(1) as f64;
        if !train_loss.is_finite() {
            return Err(CoreError::param_hint(
                "learning_rate",
                format!(
                    "training diverged at epoch {} (loss is {train_loss})",
                    self.epoch + 1
                ),
                "Lower learning_rate or raise regularization.",
            ));
        }
        self.epoch += 1;
        self.learning_rate *= self.params.learning_rate_decay as f32;
        if let (Some(l), Some(im)) = (self.lists.as_ref(), self.implicit.as_mut()) {
            let side = (
                self.params.implicit_learning_rate as f32,
                self.user_reg.as_deref(),
            );
            let lists = (&l.items_of_user, &l.users_of_item);
            im.fold(
                pool,
                self.kernels,
                &mut self.model.user_factors,
                &self.params,
                lr,
                side,
                lists,
            );
        }
        if let (Some(l), Some(im)) = (self.lists.as_ref(), self.implicit_items.as_mut()) {
            let side = (
                self.params.implicit_items_learning_rate as f32,
                self.item_reg.as_deref(),
            );
            let lists = (&l.users_of_item, &l.items_of_user);
            im.fold(
                pool,
                self.kernels,
                &mut self.model.item_factors,
                &self.params,
                lr,
                side,
                lists,
            );
        }
        let weight_decay = self.params.weight_decay as f32;
        if weight_decay > 0.0 {
            let f = 1.0 - weight_decay * lr / self.params.learning_rate as f32;
            self.model.user_factors.iter_mut().for_each(|x| *x *= f);
            self.model.item_factors.iter_mut().for_each(|x| *x *= f);
            for im in [self.implicit.as_mut(), self.implicit_items.as_mut()]
                .into_iter()
                .flatten()
            {
                im.y.iter_mut().for_each(|x| *x *= f);
                im.s.iter_mut().for_each(|x| *x *= f);
            }
        }
        let validation = self.validation_rmse(pool).map(Measurement::rmse);
        Ok(StepReport::new(train_loss, validation))
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.model.clone())
    }

    fn restore(&mut self, snapshot: Snapshot) {
        self.model = snapshot.into_inner();
    }

    /// The model, and the training and validation ratings in no particular order (the
    /// caller stores per-user lists from them without a second copy).
    fn finish(mut self: Box<Self>, _pool: &ThreadPool) -> Fitted {
        let mut ratings = std::mem::take(&mut self.grid.ratings);
        ratings.append(&mut self.validation);
        Fitted {
            scorer: Scorer::Dot,
            target: Target::Rating,
            model: self.model,
            ratings,
            tensors: Vec::new(),
            metrics: match self.weight_mean {
                None => serde_json::json!({ DATA_DEFAULTS: self.data_defaults }),
                Some(mean) => serde_json::json!({
                    DATA_DEFAULTS: self.data_defaults,
                    LOSS_WEIGHT_MEAN: mean,
                }),
            },
            params: serde_json::Value::Null,
        }
    }
}

/// Trains to the end on the calling thread's pool; for tests, benches and tools.
pub fn fit(
    ratings: Vec<Rating>,
    n_users: usize,
    n_items: usize,
    params: Checked<MfParams>,
    pool: &ThreadPool,
) -> Result<(FactorModel, Vec<EpochReport>)> {
    let trainer = MfTrainer::new(ratings, n_users, n_items, params)?;
    let mut t = Training::new(Box::new(trainer), serde_json::Value::Null);
    let cancel = CancelFlag::new();
    let mut history = Vec::new();
    for _ in 0..t.max_steps() {
        let r = t.step(pool, &cancel)?;
        history.push(r);
        if r.stop {
            break;
        }
    }
    Ok((t.finish(pool).model, history))
}

#[cfg(test)]
mod tests {
    use super::super::params::{
        DataShape, IMPLICIT_MAX_RATINGS, IMPLICIT_MIN_MEAN, REGULARIZATION_FLOOR,
        REGULARIZATION_FULL_RATINGS,
    };
    use super::*;
    use crate::parallel::build_pool;
    use crate::synth::{generate, SynthSpec};

    fn params(json: serde_json::Value) -> Checked<MfParams> {
        Checked::from_json(&json).unwrap()
    }

    /// Heaviest first in serpentine order: counts 8..1 over two groups give 8 + 5 + 4 + 1 and
    /// 7 + 6 + 3 + 2, equal loads of four members each; over three groups (8, 3, 2), (7, 4, 1),
    /// (6, 5). Ties are broken by the seed only.
    #[test]
    fn deal_balances_the_groups_in_serpentine_order() {
        let counts = [3u32, 8, 1, 6, 4, 7, 2, 5];
        let sums = |groups: &[u16], blocks: usize| {
            let mut s = vec![(0u32, 0usize); blocks];
            for (g, c) in groups.iter().zip(&counts) {
                s[*g as usize].0 += c;
                s[*g as usize].1 += 1;
            }
            s
        };
        for seed in [1u64, 2] {
            let two = deal(&counts, 2, seed, 1);
            let mut got = sums(&two, 2);
            got.sort_unstable();
            assert_eq!(got, vec![(18, 4), (18, 4)]);
            let three = deal(&counts, 3, seed, 1);
            let mut got = sums(&three, 3);
            got.sort_unstable();
            assert_eq!(got, vec![(11, 2), (12, 3), (13, 3)]);
            // The heaviest index goes to group 0, the next ones to groups 1 and 2.
            assert_eq!((three[1], three[5], three[3]), (0, 1, 2));
        }
        // With ties only, the seed decides.
        let flat = [1u32; 16];
        assert_ne!(deal(&flat, 4, 1, 1), deal(&flat, 4, 2, 1));
    }

    /// regularization * (mean count / count)^exponent, the mean over entities with ratings,
    /// an entity without ratings counted as one. Counts 1, 3, 0, 4: mean 8 / 3.
    #[test]
    fn data_defaults_follow_the_shape_and_keep_given_keys() {
        let shape = |ratings, users, items| DataShape {
            ratings,
            users,
            items,
        };
        let adapt = |s: DataShape, given: &[&str]| {
            let mut p = MfParams::default();
            let set = p.adapt_to(&s, |k| given.contains(&k));
            (p, set)
        };
        let fixed = MfParams::default().regularization;
        // MovieLens-100K's training rows: the fixed penalty, both implicit terms.
        let ml = shape(80_000, 943, 1_650);
        let (p, set) = adapt(ml, &[]);
        assert_eq!(p.regularization, fixed);
        assert!(!set.contains_key("regularization"));
        assert!(p.implicit && !set.contains_key("implicit"));
        assert!(p.implicit_items && set["implicit_items"] == serde_json::json!(true));
        // Up to the limit nothing changes the penalty; past it, 1 / sqrt(ratings).
        let at = |n| shape(n, n / 100, n / 500);
        let (p, set) = adapt(at(REGULARIZATION_FULL_RATINGS), &[]);
        assert_eq!(p.regularization, fixed);
        assert!(!set.contains_key("regularization"));
        let (p, set) = adapt(shape(19_600_000, 138_493, 26_744), &[]);
        assert_eq!(p.regularization, 0.0208);
        assert_eq!(set["regularization"], serde_json::json!(0.0208));
        assert!(!p.implicit && set["implicit"] == serde_json::json!(false));
        assert!(!p.implicit_items && !set.contains_key("implicit_items"));
        let quad = adapt(at(4 * REGULARIZATION_FULL_RATINGS), &[]).0;
        assert_eq!(quad.regularization, fixed / 2.0);
        assert_eq!(
            adapt(at(1 << 40), &[]).0.regularization,
            REGULARIZATION_FLOOR
        );
        // The implicit terms: at most IMPLICIT_MAX_RATINGS ratings, and IMPLICIT_MIN_MEAN per
        // user and per item.
        let m = IMPLICIT_MIN_MEAN;
        assert!(adapt(at(IMPLICIT_MAX_RATINGS), &[]).0.implicit_items);
        assert!(!adapt(at(IMPLICIT_MAX_RATINGS + 500), &[]).0.implicit);
        assert!(adapt(shape(100 * m, 100, 100), &[]).0.implicit_items);
        let sparse_users = adapt(shape(100 * m, 101, 10), &[]);
        assert!(!sparse_users.0.implicit && sparse_users.1["implicit"] == false);
        assert!(!sparse_users.0.implicit_items && !sparse_users.1.contains_key("implicit_items"));
        assert!(!adapt(shape(100 * m, 10, 101), &[]).0.implicit);
        // Keys the caller gave are left alone.
        let (p, set) = adapt(
            shape(19_600_000, 138_493, 26_744),
            &["regularization", "implicit"],
        );
        assert_eq!(p.regularization, fixed);
        assert!(p.implicit && set.is_empty());
        let (p, set) = adapt(ml, &["implicit_items"]);
        assert!(!p.implicit_items && set.is_empty());
        // The shape of some ratings.
        let r = |user, item| Rating {
            user,
            item,
            value: 1.0,
        };
        assert_eq!(
            DataShape::of(&[r(0, 1), r(2, 1), r(2, 0)], 4, 3),
            shape(3, 2, 2)
        );
    }

    #[test]
    fn penalties_follow_the_rating_counts() {
        let seen = [0u32, 1, 1, 1, 3, 3, 3, 3];
        let mean = 8.0f64 / 3.0;
        for exponent in [1.0f64, 0.5] {
            let p = params(serde_json::json!({
                "regularization": 0.1, "regularization_exponent": exponent
            }));
            let got = penalties(seen.iter().copied(), 4, &p).unwrap();
            let want: Vec<f64> = [1.0, 3.0, 1.0, 4.0]
                .iter()
                .map(|c| 0.1 * (mean / c).powf(exponent))
                .collect();
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (*g as f64 - w).abs() < 1e-6,
                    "{exponent}: {got:?} vs {want:?}"
                );
            }
        }
        let flat = params(serde_json::json!({ "regularization_exponent": 0.0 }));
        assert_eq!(penalties(seen.iter().copied(), 4, &flat), None);
    }

    /// One end-of-epoch update of the implicit term against the same update written out
    /// naively in f64 from its definition (see `Implicit::update`): for every item j,
    /// y_j <- (1 - step reg_y) y_j + scale_j a_j with a_j = sum over j's users of
    /// norm_u g_u, scale_j = step / sqrt(g2_j + |a_j|^2 / k) (adaptive) or step n_j^-e; then
    /// for every user s_u' = norm_u sum over u's items of y_j and the folded vector moves by
    /// s_u' - s_u + back_u s_u, back_u = decouple (1 - (1 - lr pen_u)^n_u); g is cleared.
    #[test]
    fn implicit_update_matches_its_definition() {
        let pairs = [(0u32, 0u32), (0, 1), (0, 3), (1, 1), (1, 2), (3, 2)];
        let ratings: Vec<Rating> = pairs
            .iter()
            .map(|&(user, item)| Rating {
                user,
                item,
                value: 1.0,
            })
            .collect();
        let (n_users, n_items, k) = (4usize, 4usize, 2usize);
        let items_of_user = UserItems::build(n_users, &ratings);
        let users_of_item = UserItems::build_by_item(n_items, &ratings);
        let pool = build_pool(2).unwrap();
        let kern = Kernels::detect();
        let value = |i: usize, salt: f64| ((i as f64 * 0.37 + salt).sin()) as f32;
        for (adaptive, per_user) in [(true, false), (false, true), (false, false)] {
            let p = params(serde_json::json!({
                "factors": 2, "implicit_norm_exponent": 0.5, "implicit_adaptive": adaptive,
                "implicit_regularization": 0.3, "implicit_decouple": 0.4, "regularization": 0.07
            }));
            let size_exponent = 0.5f32;
            let mut im = Implicit::new(&items_of_user, &users_of_item, &p, size_exponent);
            for (i, x) in im.y.iter_mut().enumerate() {
                *x = value(i, 0.1);
            }
            for (i, x) in im.s.iter_mut().enumerate() {
                *x = value(i, 0.7);
            }
            for (i, x) in im.g.iter_mut().enumerate() {
                *x = value(i, 1.9);
            }
            im.y_g2 = vec![1.0, 2.0, 0.5, 1.5];
            let mut z: Vec<f32> = (0..n_users * k).map(|i| value(i, 2.3)).collect();
            let user_pen = [0.1f32, 0.2, 0.3, 0.4];
            // The reference, in f64.
            let to64 = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
            let (mut y, g, s_old, mut zr) = (to64(&im.y), to64(&im.g), to64(&im.s), to64(&z));
            let n_of = |u: usize| pairs.iter().filter(|p| p.0 as usize == u).count();
            let norm = |u: usize| match n_of(u) {
                0 => 0.0,
                n => (n as f64).powf(-(size_exponent as f64)),
            };
            for j in 0..n_items {
                let users: Vec<usize> = pairs
                    .iter()
                    .filter(|p| p.1 as usize == j)
                    .map(|p| p.0 as usize)
                    .collect();
                let mut a = [0.0f64; 2];
                for &u in &users {
                    for (d, ad) in a.iter_mut().enumerate() {
                        *ad += norm(u) * g[u * k + d];
                    }
                }
                let scale = if adaptive {
                    let g2 = [1.0, 2.0, 0.5, 1.5][j] + (a[0] * a[0] + a[1] * a[1]) / k as f64;
                    0.2 / g2.sqrt()
                } else {
                    0.2 * (users.len().max(1) as f64).powf(-0.5)
                };
                for (d, ad) in a.iter().enumerate() {
                    y[j * k + d] = (1.0 - 0.2 * 0.3) * y[j * k + d] + scale * ad;
                }
            }
            for (u, &own_pen) in user_pen.iter().enumerate() {
                let pen = if per_user { own_pen as f64 } else { 0.07 };
                let back = 0.4 * (1.0 - (1.0 - 0.05 * pen).powi(n_of(u) as i32));
                for d in 0..k {
                    let sum: f64 = pairs
                        .iter()
                        .filter(|p| p.0 as usize == u)
                        .map(|p| y[p.1 as usize * k + d])
                        .sum();
                    let new = norm(u) * sum;
                    let old = s_old[u * k + d];
                    zr[u * k + d] += new - old + back * old;
                }
            }
            // The epoch's learning rate 0.05 and a step multiple of 4: step 0.2.
            let side = (4.0, per_user.then_some(&user_pen[..]));
            let lists = (&items_of_user, &users_of_item);
            im.fold(&pool, kern, &mut z, &p, 0.05, side, lists);
            let label = format!("adaptive {adaptive}, per-user penalties {per_user}");
            for (i, (a, b)) in im.y.iter().zip(&y).enumerate() {
                assert!((*a as f64 - b).abs() < 1e-5, "{label}: y[{i}] {a} vs {b}");
            }
            for (i, (a, b)) in z.iter().zip(&zr).enumerate() {
                assert!((*a as f64 - b).abs() < 1e-5, "{label}: z[{i}] {a} vs {b}");
            }
            assert!(im.g.iter().all(|&x| x == 0.0), "{label}: g not cleared");
            // s now holds the new implicit part, norm_u * sum of the updated y_j.
            let s_new = im.s.clone();
            for u in 0..n_users {
                for d in 0..k {
                    let sum: f64 = pairs
                        .iter()
                        .filter(|p| p.0 as usize == u)
                        .map(|p| y[p.1 as usize * k + d])
                        .sum();
                    let want = norm(u) * sum;
                    let got = s_new[u * k + d] as f64;
                    assert!(
                        (got - want).abs() < 1e-5,
                        "{label}: s[{u}][{d}] {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn implicit_model_is_identical_for_any_thread_count() {
        let spec = SynthSpec::small(7);
        let (ratings, _) = generate(&spec);
        let p = params(serde_json::json!({
            "optimizer": "sgd", "factors": 16, "epochs": 8, "learning_rate": 0.02,
            "implicit": true, "implicit_items": true, "implicit_learning_rate": 0.1, "implicit_decouple": 0.5,
            "weight_decay": 0.05, "blocks": 8
        }));
        let (m1, h1) = fit(
            ratings.clone(),
            spec.n_users,
            spec.n_items,
            p.clone(),
            &build_pool(1).unwrap(),
        )
        .unwrap();
        let (m3, h3) = fit(
            ratings.clone(),
            spec.n_users,
            spec.n_items,
            p.clone(),
            &build_pool(3).unwrap(),
        )
        .unwrap();
        assert_eq!(m1, m3);
        assert_eq!(h1, h3);
        assert!(h1.last().unwrap().train_loss.is_finite());
    }
}
