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
use serde::{Deserialize, Serialize};

use crate::data::{rating_stats, split_validation, Rating};
use crate::error::{CoreError, Result};
use crate::kernels::{Kernels, PairStep};
use crate::model::FactorModel;
use crate::parallel::{CancelFlag, SharedMut};
use crate::rng::stream;
use crate::train::{EpochReport, IterativeTrainer};

/// Hyper-parameters as the user writes them (JSON). Unknown keys are an error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MfParams {
    pub factors: i64,
    pub epochs: i64,
    pub learning_rate: f64,
    /// L2 penalty on the factor vectors.
    pub regularization: f64,
    /// L2 penalty on the biases.
    pub bias_regularization: f64,
    /// How the factor penalty scales with a user's or item's number of ratings n: each update
    /// applies regularization * (mean n / n)^exponent. 0 is the classic per-rating penalty; 1
    /// penalises every vector by the same total per epoch, like weight decay.
    pub regularization_exponent: f64,
    /// "sgd" (plain steps) or "adagrad" (per-vector adaptive steps, as in LIBMF).
    pub optimizer: String,
    /// Multiplier applied to the learning rate after every epoch.
    pub learning_rate_decay: f64,
    /// Standard deviation of the initial factors.
    pub init_std: f64,
    /// Decoupled weight decay: after every epoch all factor vectors are multiplied by
    /// 1 - weight_decay * (that epoch's learning rate / learning_rate). 0 disables it.
    pub weight_decay: f64,
    pub seed: i64,
    /// Worker threads; `None` means the caller's default.
    pub threads: Option<i64>,
    /// Share of the ratings held out for early stopping and reported metrics.
    pub validation_fraction: f64,
    /// Epochs without validation improvement before stopping.
    pub patience: i64,
    /// Users and items are dealt into this many groups; the grid has blocks x blocks cells.
    /// Fixed so that the model does not depend on the thread count.
    pub blocks: i64,
}

impl Default for MfParams {
    /// Tuned on MovieLens-100K (see BENCHMARKS.md); good general-purpose starting points.
    fn default() -> Self {
        Self {
            factors: 128,
            epochs: 60,
            learning_rate: 0.02,
            regularization: 0.065,
            bias_regularization: 0.05,
            regularization_exponent: 0.0,
            optimizer: "sgd".into(),
            learning_rate_decay: 0.97,
            init_std: 0.01,
            weight_decay: 0.05,
            seed: 42,
            threads: None,
            validation_fraction: 0.0,
            patience: 3,
            blocks: 16,
        }
    }
}

/// Checked hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidMfParams {
    pub factors: usize,
    pub epochs: usize,
    pub learning_rate: f32,
    pub regularization: f32,
    pub bias_regularization: f32,
    pub regularization_exponent: f32,
    pub adagrad: bool,
    pub learning_rate_decay: f32,
    pub init_std: f32,
    pub weight_decay: f32,
    pub seed: u64,
    pub threads: Option<usize>,
    pub validation_fraction: f64,
    pub patience: usize,
    pub blocks: usize,
}

fn int_in(name: &str, v: i64, lo: i64, hi: i64) -> Result<usize> {
    if v < lo || v > hi {
        return Err(CoreError::param_hint(
            name,
            format!("parameter \"{name}\" must be between {lo} and {hi}, got {v}"),
            format!(
                "Pass a value between {lo} and {hi}, or leave \"{name}\" out to use its default."
            ),
        ));
    }
    Ok(v as usize)
}

fn float_in(name: &str, v: f64, lo: f64, hi: f64, lo_open: bool) -> Result<f32> {
    let below = if lo_open { v <= lo } else { v < lo };
    if !v.is_finite() || below || v > hi {
        let range = if lo_open {
            format!("greater than {lo} and at most {hi}")
        } else {
            format!("between {lo} and {hi}")
        };
        return Err(CoreError::param(
            name,
            format!("parameter \"{name}\" must be {range}, got {v}"),
        ));
    }
    Ok(v as f32)
}

/// Parses a JSON object of hyper-parameters, naming the offending key on error.
pub fn parse_params<T: serde::de::DeserializeOwned>(json: &serde_json::Value) -> Result<T> {
    if !json.is_object() {
        return Err(CoreError::param_hint(
            "params",
            format!("params must be a JSON object, got {json}"),
            "Pass params as '{\"factors\": 64}'::jsonb.",
        ));
    }
    serde_path_to_error::deserialize(json).map_err(|e| {
        let path = e.path().to_string();
        let inner = e
            .into_inner()
            .to_string()
            .replace("expected i64", "expected an integer")
            .replace("expected f64", "expected a number")
            .replace("expected struct MfParams", "expected a JSON object");
        if inner.starts_with("unknown field") {
            CoreError::param_hint(
                &path,
                format!("unknown parameter: {inner}"),
                "Remove the key or check its spelling; the reference lists every parameter.",
            )
        } else {
            CoreError::param(
                &path,
                format!("invalid value for parameter \"{path}\": {inner}"),
            )
        }
    })
}

impl MfParams {
    pub fn check(&self) -> Result<ValidMfParams> {
        Ok(ValidMfParams {
            factors: int_in("factors", self.factors, 1, 1024)?,
            epochs: int_in("epochs", self.epochs, 1, 10_000)?,
            learning_rate: float_in("learning_rate", self.learning_rate, 0.0, 10.0, true)?,
            regularization: float_in("regularization", self.regularization, 0.0, 100.0, false)?,
            bias_regularization: float_in(
                "bias_regularization",
                self.bias_regularization,
                0.0,
                100.0,
                false,
            )?,
            regularization_exponent: float_in(
                "regularization_exponent",
                self.regularization_exponent,
                0.0,
                2.0,
                false,
            )?,
            adagrad: match self.optimizer.as_str() {
                "sgd" => false,
                "adagrad" => true,
                other => {
                    return Err(CoreError::param_hint(
                        "optimizer",
                        format!("unknown optimizer \"{other}\""),
                        "Use \"sgd\" or \"adagrad\".",
                    ))
                }
            },
            learning_rate_decay: float_in(
                "learning_rate_decay",
                self.learning_rate_decay,
                0.0,
                1.0,
                true,
            )?,
            init_std: float_in("init_std", self.init_std, 0.0, 10.0, false)?,
            weight_decay: float_in("weight_decay", self.weight_decay, 0.0, 0.5, false)?,
            seed: self.seed as u64,
            threads: match self.threads {
                Some(t) => Some(int_in("threads", t, 1, 256)?),
                None => None,
            },
            validation_fraction: float_in(
                "validation_fraction",
                self.validation_fraction,
                0.0,
                0.5,
                false,
            )? as f64,
            patience: int_in("patience", self.patience, 1, 10_000)?,
            blocks: int_in("blocks", self.blocks, 1, 256)?,
        })
    }
}

/// Training ratings bucketed into a blocks x blocks grid, stored contiguously.
struct Grid {
    blocks: usize,
    ratings: Vec<Rating>,
    /// Start of each cell in `ratings`; cell (ub, ib) is index ub * blocks + ib.
    offsets: Vec<usize>,
}

impl Grid {
    /// Buckets `ratings` in place (American flag sort on the cell index): no second copy.
    fn build(
        mut ratings: Vec<Rating>,
        n_users: usize,
        n_items: usize,
        blocks: usize,
        seed: u64,
    ) -> Self {
        let user_block = deal(n_users, blocks, seed, 1);
        let item_block = deal(n_items, blocks, seed, 2);
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
                    next[target] += 1;
                }
            }
        }
        Grid {
            blocks,
            ratings,
            offsets,
        }
    }

    fn len(&self) -> usize {
        self.ratings.len()
    }
}

/// Deals `n` indices into `blocks` groups of (nearly) equal size, in a seeded random order.
fn deal(n: usize, blocks: usize, seed: u64, salt: u64) -> Vec<u16> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut stream(seed, &[0xB10C, salt]));
    let mut out = vec![0u16; n];
    for (pos, idx) in order.into_iter().enumerate() {
        out[idx as usize] = (pos % blocks) as u16;
    }
    out
}

/// Per-entity factor penalty: regularization * (mean count / count)^exponent.
fn penalties(indices: impl Iterator<Item = u32>, n: usize, p: &ValidMfParams) -> Vec<f32> {
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
            (p.regularization as f64 * ratio.powf(p.regularization_exponent as f64)) as f32
        })
        .collect()
}

/// Random initial model: normal factors, zero biases.
fn init_model(
    p: &ValidMfParams,
    n_users: usize,
    n_items: usize,
    mean: f32,
    range: (f32, f32),
) -> FactorModel {
    let k = p.factors;
    let normal = Normal::new(0.0f32, p.init_std.max(0.0))
        .unwrap_or_else(|_| Normal::new(0.0, 0.0).expect("zero std is valid"));
    let mut rng_u = stream(p.seed, &[0x1417, 1]);
    let mut rng_i = stream(p.seed, &[0x1417, 2]);
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
    }
}

pub struct MfTrainer {
    params: ValidMfParams,
    kernels: Kernels,
    grid: Grid,
    validation: Vec<Rating>,
    model: FactorModel,
    /// Factor penalty of each user and item (see `regularization_exponent`).
    user_reg: Vec<f32>,
    item_reg: Vec<f32>,
    /// AdaGrad accumulators: running sum of mean squared gradients per user and item vector.
    user_g2: Vec<f32>,
    item_g2: Vec<f32>,
    epoch: usize,
    learning_rate: f32,
    best: Option<(f64, FactorModel)>,
    since_best: usize,
}

impl MfTrainer {
    /// Takes ownership of the ratings (indices must be < n_users / n_items, values finite,
    /// no duplicate pairs), holds out a validation share and prepares the grid.
    pub fn new(
        mut ratings: Vec<Rating>,
        n_users: usize,
        n_items: usize,
        params: ValidMfParams,
    ) -> Result<Self> {
        let train_len = split_validation(&mut ratings, params.validation_fraction, params.seed);
        if train_len == 0 {
            return Err(CoreError::data(
                "no ratings left for training after holding out the validation set",
                Some("Lower validation_fraction or add data.".into()),
            ));
        }
        let validation = ratings.split_off(train_len);
        ratings.shrink_to_fit();
        let stats = rating_stats(&ratings).ok_or_else(|| CoreError::data("no ratings", None))?;
        let model = init_model(
            &params,
            n_users,
            n_items,
            stats.mean as f32,
            (stats.min, stats.max),
        );
        let user_reg = penalties(ratings.iter().map(|r| r.user), n_users, &params);
        let item_reg = penalties(ratings.iter().map(|r| r.item), n_items, &params);
        let grid = Grid::build(ratings, n_users, n_items, params.blocks, params.seed);
        Ok(Self {
            user_g2: vec![1.0; n_users],
            item_g2: vec![1.0; n_items],
            user_reg,
            item_reg,
            learning_rate: params.learning_rate,
            params,
            kernels: Kernels::detect(),
            grid,
            validation,
            model,
            epoch: 0,
            best: None,
            since_best: 0,
        })
    }

    pub fn n_train(&self) -> usize {
        self.grid.len()
    }

    pub fn n_validation(&self) -> usize {
        self.validation.len()
    }

    /// The model as it stands now.
    pub fn model(&self) -> &FactorModel {
        &self.model
    }

    /// One pass of SGD over one block; returns the sum of squared errors seen.
    fn run_block(&self, cell: usize, ratings: SharedMut<Rating>, m: &ModelBuffers, lr: f32) -> f64 {
        let (start, end) = (self.grid.offsets[cell], self.grid.offsets[cell + 1]);
        if start == end {
            return 0.0;
        }
        // SAFETY: this cell is visited by exactly one task in this diagonal.
        let block = unsafe { ratings.slice(start, end - start) };
        block.shuffle(&mut stream(
            self.params.seed,
            &[0x5EED, self.epoch as u64, cell as u64],
        ));
        let k = self.params.factors;
        let reg_b = self.params.bias_regularization;
        let adagrad = self.params.adagrad;
        let mean = self.model.global_mean;
        let kern = self.kernels;
        let mut sse = 0f64;
        for r in block.iter() {
            let (u, i) = (r.user as usize, r.item as usize);
            // SAFETY: blocks of one diagonal touch disjoint users and items.
            let (p, q, bu, bi, gu, gi) = unsafe {
                (
                    m.user_factors.slice(u * k, k),
                    m.item_factors.slice(i * k, k),
                    m.user_bias.at(u),
                    m.item_bias.at(i),
                    m.user_g2.at(u),
                    m.item_g2.at(i),
                )
            };
            let err = r.value - (mean + *bu + *bi + kern.dot(p, q));
            sse += (err * err) as f64;
            let (lr_p, lr_q) = if adagrad {
                (lr / gu.sqrt(), lr / gi.sqrt())
            } else {
                (lr, lr)
            };
            *bu += lr_p * (err - reg_b * *bu);
            *bi += lr_q * (err - reg_b * *bi);
            let step = PairStep {
                err,
                lr_p,
                lr_q,
                reg_p: self.user_reg[u],
                reg_q: self.item_reg[i],
            };
            let (gp2, gq2) = kern.sgd(p, q, step);
            if adagrad {
                *gu += gp2;
                *gi += gq2;
            }
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

/// Raw views of the model's buffers for lock-free updates by disjoint blocks.
struct ModelBuffers {
    user_factors: SharedMut<f32>,
    item_factors: SharedMut<f32>,
    user_bias: SharedMut<f32>,
    item_bias: SharedMut<f32>,
    user_g2: SharedMut<f32>,
    item_g2: SharedMut<f32>,
}

impl IterativeTrainer for MfTrainer {
    type Model = FactorModel;

    fn max_epochs(&self) -> usize {
        self.params.epochs
    }

    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<EpochReport> {
        cancel.check()?;
        let nb = self.grid.blocks;
        let mut diagonals: Vec<usize> = (0..nb).collect();
        diagonals.shuffle(&mut stream(self.params.seed, &[0xD1A6, self.epoch as u64]));
        let lr = self.learning_rate;
        let ratings = SharedMut::new(&mut self.grid.ratings);
        let bufs = ModelBuffers {
            user_factors: SharedMut::new(&mut self.model.user_factors),
            item_factors: SharedMut::new(&mut self.model.item_factors),
            user_bias: SharedMut::new(&mut self.model.user_bias),
            item_bias: SharedMut::new(&mut self.model.item_bias),
            user_g2: SharedMut::new(&mut self.user_g2),
            item_g2: SharedMut::new(&mut self.item_g2),
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
        if self.params.weight_decay > 0.0 {
            let shrink = 1.0 - self.params.weight_decay * lr / self.params.learning_rate;
            self.model
                .user_factors
                .iter_mut()
                .for_each(|x| *x *= shrink);
            self.model
                .item_factors
                .iter_mut()
                .for_each(|x| *x *= shrink);
        }
        self.learning_rate *= self.params.learning_rate_decay;
        let validation_rmse = self.validation_rmse(pool);
        let mut stop = false;
        if let Some(v) = validation_rmse {
            let improved = self.best.as_ref().is_none_or(|(b, _)| v < *b - 1e-6);
            if improved {
                self.best = Some((v, self.model.clone()));
                self.since_best = 0;
            } else {
                self.since_best += 1;
                stop = self.since_best >= self.params.patience;
            }
        }
        Ok(EpochReport {
            epoch: self.epoch,
            train_loss,
            validation_rmse,
            stop,
        })
    }

    fn finish(self) -> FactorModel {
        match self.best {
            Some((_, best)) => best,
            None => self.model,
        }
    }
}

/// Trains to the end on the calling thread's pool; for tests, benches and tools.
pub fn fit(
    ratings: Vec<Rating>,
    n_users: usize,
    n_items: usize,
    params: ValidMfParams,
    pool: &ThreadPool,
) -> Result<(FactorModel, Vec<EpochReport>)> {
    let mut t = MfTrainer::new(ratings, n_users, n_items, params)?;
    let cancel = CancelFlag::new();
    let mut history = Vec::new();
    for _ in 0..t.max_epochs() {
        let r = t.step(pool, &cancel)?;
        history.push(r);
        if r.stop {
            break;
        }
    }
    Ok((t.finish(), history))
}
