//! `bpr`: Bayesian personalised ranking (Rendle et al. 2009). For each training positive (u, i)
//! an item j the user has not interacted with is sampled, and one SGD step raises
//! ln sigmoid(s(u, i) - s(u, j)) with s(u, i) = <x_u, y_i> + b_i, under an L2 penalty.
//!
//! Determinism on any number of threads: users and items are dealt into `blocks` groups; an
//! epoch runs the blocks x blocks cells diagonal by diagonal, the cells of one diagonal in
//! parallel (they touch disjoint users and items), and a cell samples its negatives from its own
//! item group, with a random stream per (seed, epoch, cell). Over the diagonals of an epoch
//! every positive is visited once and its negative is uniform over the items.

use rand::seq::SliceRandom;
use rand::Rng as _;
use rayon::prelude::*;
use rayon::ThreadPool;
use serde::{Deserialize, Serialize};

use super::contract::{Configured, TrainingData};
use super::fold::{self, FoldTarget, FoldedUser, History, TrainedRows};
use super::ials::init_factors;
use super::implicit::ImplicitData;
use super::params::{float_in, int_in, Checked, Knob, LoopParams, Params};
use crate::algo::implicit::validate::Scores;
use crate::error::Result;
use crate::model::FactorModel;
use crate::parallel::{CancelFlag, SharedMut};
use crate::rng::{stream, unit_hash};
use crate::train::{EarlyStopping, Fitted, Scorer, Snapshot, Step, StepReport, Target};

/// The parameters of `bpr` (see [`super::params`]: the fields are the JSON keys, `Default`
/// holds the defaults).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BprParams {
    pub factors: i64,
    pub learning_rate: f64,
    /// L2 penalty on the vectors and biases touched by a step.
    pub regularization: f64,
    /// Learn a per-item bias (popularity) besides the vectors.
    pub item_bias: bool,
    pub init_std: f64,
    /// Users and items are dealt into this many groups (fixed: the model depends on it, not
    /// on the thread count).
    pub blocks: i64,
    pub positive_threshold: Option<f64>,
    /// epochs, seed, threads, validation_fraction (share of the positives held out to measure
    /// ndcg@10), patience.
    #[serde(flatten)]
    pub run: LoopParams,
}

impl Default for BprParams {
    fn default() -> Self {
        Self {
            factors: 64,
            learning_rate: 0.05,
            regularization: 0.01,
            item_bias: true,
            init_std: 0.1,
            blocks: 8,
            positive_threshold: None,
            run: LoopParams {
                epochs: 40,
                seed: 42,
                threads: None,
                validation_fraction: 0.0,
                patience: 3,
            },
        }
    }
}

impl Params for BprParams {
    /// What `"tune": true` searches.
    const KNOBS: &'static [Knob] = &[
        Knob::Choice("factors", &[32, 64, 128]),
        Knob::Log("learning_rate", 0.01, 0.2),
        Knob::Log("regularization", 0.001, 0.05),
    ];

    fn check(&mut self) -> Result<()> {
        self.run.check()?;
        int_in("factors", self.factors, 1, 1024)?;
        float_in("learning_rate", self.learning_rate, 0.0, 10.0, true)?;
        float_in("regularization", self.regularization, 0.0, 100.0, false)?;
        float_in("init_std", self.init_std, 0.0, 10.0, false)?;
        int_in("blocks", self.blocks, 1, 256)?;
        if let Some(t) = self.positive_threshold {
            float_in("positive_threshold", t, -1e30, 1e30, false)?;
        }
        Ok(())
    }

    fn run(&self) -> &LoopParams {
        &self.run
    }
}

/// Parses and checks the params of `bpr`.
pub fn configure(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    Ok(Box::new(Checked::<BprParams>::from_json(params)?))
}

impl Configured for Checked<BprParams> {
    fn sums_duplicates(&self) -> bool {
        true
    }

    fn row_weights(&self) -> bool {
        true
    }

    fn positive_threshold(&self) -> Option<f32> {
        self.positive_threshold.map(|t| t as f32)
    }

    /// BPR steps on the user alone over the positives of its history.
    fn fold_in(&self, target: &FoldTarget<'_>, history: History<'_>) -> Option<FoldedUser> {
        let (items, values) = history.positives(self.positive_threshold.map(|t| t as f32));
        Some(fold::bpr_user(
            target,
            History {
                items: &items,
                values: &values,
                weighted: None,
            },
            self.learning_rate as f32,
            self.regularization as f32,
            FOLD_IN_PASSES,
            self.run.seed(),
        ))
    }

    /// The item's own share of BPR's objective, maximised ([`fold::bpr_item`]).
    fn fold_in_item(
        &self,
        target: &FoldTarget<'_>,
        history: History<'_>,
        trained: &TrainedRows<'_>,
    ) -> Option<FoldedUser> {
        let (fans, _) = history.positives(self.positive_threshold.map(|t| t as f32));
        Some(fold::bpr_item(
            target,
            &fans,
            trained,
            &fold::BprItem {
                regularization: self.regularization as f32,
                item_bias: self.item_bias,
                seed: self.run.seed(),
            },
        ))
    }

    fn prepare(self: Box<Self>, data: TrainingData, _pool: &ThreadPool) -> Result<Box<dyn Step>> {
        Ok(Box::new(BprTraining::new(data, *self)?))
    }
}

const TAG_SHUFFLE: u64 = 0xb9;
/// Passes over a history when folding a user in.
const FOLD_IN_PASSES: usize = 30;
/// Draws of a negative before the cell gives up on this positive (a user who interacted with
/// almost every item of the group).
const NEGATIVE_TRIES: usize = 8;

pub struct BprTraining {
    p: Checked<BprParams>,
    /// factors, blocks, seed, learning rate and penalty, as the steps use them.
    k: usize,
    blocks: usize,
    seed: u64,
    lr: f32,
    reg: f32,
    data: ImplicitData,
    n_users: usize,
    /// Training positives per cell (user group * blocks + item group).
    cells: Vec<Vec<(u32, u32)>>,
    /// With row weights: per cell, each positive's expected draws per epoch (its weight over
    /// the mean weight); empty without.
    cell_draws: Vec<Vec<f32>>,
    /// Items of each group.
    group_items: Vec<Vec<u32>>,
    users: Vec<f32>,
    items: Vec<f32>,
    bias: Vec<f32>,
    epoch: usize,
}

fn group(seed: u64, salt: u64, index: u32, blocks: usize) -> usize {
    block_of(unit_hash(seed, salt, index as u64), blocks)
}

/// The block of a uniform draw `u` in [0, 1): floor(u x blocks), below `blocks` without a
/// clamp, since u is at most 1 - 2^-53 and that times any count below 2^53 rounds to below the
/// count (the test checks the largest draw).
fn block_of(u: f64, blocks: usize) -> usize {
    (u * blocks as f64) as usize
}

impl BprTraining {
    pub fn new(data: TrainingData, p: Checked<BprParams>) -> Result<Self> {
        let weighted = data.weighted.is_some();
        let implicit = ImplicitData::prepare(
            data.ratings,
            data.weighted,
            data.n_users,
            p.positive_threshold.map(|t| t as f32),
            false,
            p.run.validation_fraction(),
            p.run.seed(),
        )?;
        let (b, seed, k) = (p.blocks as usize, p.run.seed(), p.factors as usize);
        let mut cells = vec![Vec::new(); b * b];
        // With row weights, each positive's draws per epoch, on average: its weight over the
        // mean weight (so an epoch keeps its length).
        let mean = implicit
            .positives
            .values
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>()
            / implicit.positives.nnz().max(1) as f64;
        let mut cell_draws = vec![Vec::new(); if weighted { b * b } else { 0 }];
        for u in 0..implicit.positives.n_rows() {
            let (items, values) = implicit.positives.row(u);
            for (&i, &v) in items.iter().zip(values) {
                let u = u as u32;
                let cell = group(seed, 1, u, b) * b + group(seed, 2, i, b);
                cells[cell].push((u, i));
                if weighted {
                    cell_draws[cell].push((v as f64 / mean) as f32);
                }
            }
        }
        let mut group_items = vec![Vec::new(); b];
        for i in 0..data.n_items as u32 {
            group_items[group(seed, 2, i, b)].push(i);
        }
        Ok(Self {
            users: init_factors(seed, 3, data.n_users, k, p.init_std as f32),
            items: init_factors(seed, 4, data.n_items, k, p.init_std as f32),
            bias: vec![0.0; data.n_items],
            k,
            blocks: b,
            seed,
            lr: p.learning_rate as f32,
            reg: p.regularization as f32,
            n_users: data.n_users,
            p,
            data: implicit,
            cells,
            cell_draws,
            group_items,
            epoch: 0,
        })
    }

    /// One cell's pass: returns (sum of -ln sigmoid, steps).
    ///
    /// # Safety
    /// No other thread may touch the users of this cell's user group or the items of its item
    /// group while it runs.
    unsafe fn run_cell(
        &self,
        cell: usize,
        users: SharedMut<f32>,
        items: SharedMut<f32>,
        bias: SharedMut<f32>,
        order: &mut Vec<u32>,
    ) -> (f64, usize) {
        let k = self.k;
        let pairs = &self.cells[cell];
        let negatives = &self.group_items[cell % self.blocks];
        if pairs.is_empty() || negatives.is_empty() {
            return (0.0, 0);
        }
        let mut rng = stream(self.seed, &[TAG_SHUFFLE, self.epoch as u64, cell as u64]);
        order.clear();
        match self.cell_draws.get(cell) {
            // Sampling as a positive in proportion to the row weight: floor(d) draws, and one
            // more with probability frac(d).
            Some(draws) => {
                for (o, &d) in draws.iter().enumerate() {
                    let extra = rng.gen::<f32>() < d.fract();
                    for _ in 0..d.trunc() as usize + extra as usize {
                        order.push(o as u32);
                    }
                }
            }
            None => order.extend(0..pairs.len() as u32),
        }
        order.shuffle(&mut rng);
        let (lr, reg) = (self.lr, self.reg);
        let (mut loss, mut steps) = (0f64, 0usize);
        for &o in order.iter() {
            let (u, i) = pairs[o as usize];
            let seen = self.data.seen().row(u as usize).0;
            let mut j = None;
            for _ in 0..NEGATIVE_TRIES {
                let c = negatives[rng.gen_range(0..negatives.len())];
                if seen.binary_search(&c).is_err() {
                    j = Some(c);
                    break;
                }
            }
            let Some(j) = j else { continue };
            // SAFETY: u is in this cell's user group and i, j in its item group (the caller's
            // contract); i != j because j is not seen and i is.
            let (x, yi, yj) = unsafe {
                (
                    users.slice(u as usize * k, k),
                    items.slice(i as usize * k, k),
                    items.slice(j as usize * k, k),
                )
            };
            // SAFETY: as above, for the item biases.
            let (bi, bj) = unsafe { (bias.at(i as usize), bias.at(j as usize)) };
            let mut diff = *bi - *bj;
            for f in 0..k {
                diff += x[f] * (yi[f] - yj[f]);
            }
            // d/d(diff) of ln sigmoid(diff) = sigmoid(-diff).
            let g = 1.0 / (1.0 + diff.exp());
            loss += (1.0 + (-diff as f64).exp()).ln();
            steps += 1;
            for f in 0..k {
                let (xf, yif, yjf) = (x[f], yi[f], yj[f]);
                x[f] += lr * (g * (yif - yjf) - reg * xf);
                yi[f] += lr * (g * xf - reg * yif);
                yj[f] += lr * (-g * xf - reg * yjf);
            }
            if self.p.item_bias {
                *bi += lr * (g - reg * *bi);
                *bj += lr * (-g - reg * *bj);
            }
        }
        (loss, steps)
    }
}

impl Step for BprTraining {
    fn max_steps(&self) -> usize {
        self.p.run.epochs()
    }

    fn n_validation(&self) -> usize {
        self.data.n_held_out()
    }

    fn squared_loss(&self) -> bool {
        false
    }

    /// ndcg@10 of the held-out positives: higher is better, any gain counts.
    fn early_stopping(&self) -> Option<EarlyStopping> {
        self.data
            .validation
            .is_some()
            .then(|| EarlyStopping::new(self.p.run.patience(), 0.0, true))
    }

    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<StepReport> {
        let b = self.blocks;
        let users = SharedMut::new(&mut self.users);
        let items = SharedMut::new(&mut self.items);
        let bias = SharedMut::new(&mut self.bias);
        let this = &*self;
        let (mut loss, mut steps) = (0f64, 0usize);
        for diagonal in 0..b {
            let per_cell: Vec<(f64, usize)> = pool.install(|| {
                (0..b)
                    .into_par_iter()
                    .map_init(Vec::new, |order, ub| {
                        if cancel.is_cancelled() {
                            return (0.0, 0);
                        }
                        let cell = ub * b + (ub + diagonal) % b;
                        // SAFETY: the cells of one diagonal have distinct user groups and
                        // distinct item groups, so they touch disjoint rows.
                        unsafe { this.run_cell(cell, users, items, bias, order) }
                    })
                    .collect()
            });
            cancel.check()?;
            for (l, s) in per_cell {
                loss += l;
                steps += s;
            }
        }
        self.epoch += 1;
        let validation = self.data.validate(
            pool,
            &Scores {
                user_factors: &self.users,
                item_factors: &self.items,
                item_bias: Some(&self.bias),
                factors: self.k,
            },
        );
        let train_loss = if steps == 0 { 0.0 } else { loss / steps as f64 };
        Ok(StepReport::new(train_loss, validation))
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::new((self.users.clone(), self.items.clone(), self.bias.clone()))
    }

    fn restore(&mut self, snapshot: Snapshot) {
        (self.users, self.items, self.bias) = snapshot.into_inner();
    }

    fn finish(self: Box<Self>, _pool: &ThreadPool) -> Fitted {
        let this = *self;
        let n_positives = this.data.positives.nnz();
        let (users, items, bias) = (this.users, this.items, this.bias);
        Fitted {
            scorer: Scorer::Dot,
            target: Target::Relevance,
            model: FactorModel {
                factors: this.k,
                global_mean: 0.0,
                rating_range: None,
                user_bias: vec![0.0; this.n_users],
                item_bias: bias,
                user_factors: users,
                item_factors: items,
                head: None,
            },
            ratings: this.data.into_all(),
            tensors: Vec::new(),
            params: serde_json::Value::Null,
            metrics: serde_json::json!({ "n_positives": n_positives }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws spread over the blocks in order, and the largest draw unit_hash gives stays in
    /// the last block for every count of blocks (a clamp would never act).
    #[test]
    fn draws_fall_into_their_blocks() {
        let largest = ((1u64 << 53) - 1) as f64 / (1u64 << 53) as f64;
        for blocks in (1..=4096).chain([1 << 20, (1 << 31) - 1, 1 << 40]) {
            assert_eq!(block_of(largest, blocks), blocks - 1, "{blocks}");
            assert_eq!(block_of(0.0, blocks), 0);
        }
        assert_eq!(
            [0.0, 0.24, 0.25, 0.5, 0.74, 0.75, 0.99].map(|u| block_of(u, 4)),
            [0, 0, 1, 2, 2, 3, 3]
        );
    }
}
