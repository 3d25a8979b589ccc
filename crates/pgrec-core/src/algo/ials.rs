//! `ials`: implicit-feedback alternating least squares (Hu, Koren and Volinsky 2008). Every
//! (user, item) pair is a preference p = 1 when observed and 0 otherwise, weighted by the
//! confidence c = 1 + alpha * value; the loss over all pairs is handled through the Gram matrix
//! of the fixed side, so a sweep costs O(interactions * k + rows * k^2). Rows are solved by
//! warm-started conjugate gradient (see [`crate::algo::linear::solve`]); an epoch is a user sweep followed by
//! an item sweep. Scores are <x_u, y_i>; they rank items and do not estimate ratings.

use rand_distr::{Distribution, Normal};
use rayon::ThreadPool;
use serde::{Deserialize, Serialize};

use super::contract::{Configured, TrainingData};
use super::fold::{self, Explanation, FoldTarget, FoldedUser, History};
use super::implicit::ImplicitData;
use super::params::{float_in, int_in, Checked, Knob, LoopParams, Params};
use crate::algo::implicit::validate::Scores;
use crate::algo::linear::solve::{gram, Solver, Sweep, SEEN_NOT_POSITIVE};
use crate::algo::linear::sparse::Csr;
use crate::error::Result;
use crate::model::FactorModel;
use crate::parallel::CancelFlag;
use crate::rng::stream;
use crate::train::{EarlyStopping, Fitted, Scorer, Snapshot, Step, StepReport, Target};

/// The parameters of `ials` (see [`super::params`]: the fields are the JSON keys, `Default`
/// holds the defaults).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IalsParams {
    pub factors: i64,
    /// L2 penalty on every factor vector, scaled by (its number of positives)^exponent.
    pub regularization: f64,
    /// 0: the same penalty for every row (as in Hu et al.); 1: proportional to the row's
    /// positives (weighted-lambda); the default 0.55 sits between, as the frequency-scaled
    /// penalty of Rendle et al. 2021 does.
    pub regularization_exponent: f64,
    /// Confidence of an observed pair: 1 + alpha * value.
    pub alpha: f64,
    pub solver: Solver,
    /// Conjugate-gradient steps per row and sweep (solver "cg").
    pub cg_steps: i64,
    /// Standard deviation of the initial factors.
    pub init_std: f64,
    /// Rows with a value below this are seen but not positive (sources with ratings).
    pub positive_threshold: Option<f64>,
    /// What a row below `positive_threshold` means to the loss: "ignore" (default) takes the
    /// pair out of it (the user saw the item and did not like it: no evidence either way about
    /// the preference the model learns); "negative" counts it as an unobserved pair
    /// (preference 0, confidence 1, as in Hu et al.).
    pub below_threshold: BelowThreshold,
    /// epochs (alternations: a user sweep and an item sweep each), seed, threads,
    /// validation_fraction (share of the positives held out to measure ndcg@10), patience.
    #[serde(flatten)]
    pub run: LoopParams,
}

/// See [`IalsParams::below_threshold`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BelowThreshold {
    Ignore,
    Negative,
}

impl Default for IalsParams {
    fn default() -> Self {
        Self {
            factors: 64,
            regularization: 3.5,
            regularization_exponent: 0.55,
            alpha: 1.0,
            solver: Solver::Cg,
            cg_steps: 3,
            init_std: 0.01,
            positive_threshold: None,
            below_threshold: BelowThreshold::Ignore,
            run: LoopParams {
                epochs: 15,
                seed: 42,
                threads: None,
                validation_fraction: 0.0,
                patience: 2,
            },
        }
    }
}

impl Params for IalsParams {
    /// What `"tune": true` searches.
    const KNOBS: &'static [Knob] = &[
        Knob::Choice("factors", &[32, 64, 128]),
        Knob::Log("regularization", 0.5, 20.0),
        Knob::Log("alpha", 0.3, 10.0),
    ];

    const CHOICES: &'static [(&'static str, &'static str)] = &[
        ("solver", "Use \"cg\" or \"cholesky\"."),
        ("below_threshold", "Use \"ignore\" or \"negative\"."),
    ];

    fn check(&mut self) -> Result<()> {
        self.run.check()?;
        int_in("factors", self.factors, 1, 1024)?;
        float_in("regularization", self.regularization, 0.0, 1e6, false)?;
        float_in(
            "regularization_exponent",
            self.regularization_exponent,
            0.0,
            2.0,
            false,
        )?;
        float_in("alpha", self.alpha, 0.0, 1e6, false)?;
        int_in("cg_steps", self.cg_steps, 1, 1024)?;
        float_in("init_std", self.init_std, 0.0, 10.0, false)?;
        if let Some(t) = self.positive_threshold {
            float_in("positive_threshold", t, -1e30, 1e30, false)?;
        }
        Ok(())
    }

    fn run(&self) -> &LoopParams {
        &self.run
    }
}

impl IalsParams {
    fn k(&self) -> usize {
        self.factors as usize
    }

    fn threshold(&self) -> Option<f32> {
        self.positive_threshold.map(|t| t as f32)
    }

    /// Whether rows below the threshold stay among the training rows, marked to leave the loss.
    fn keeps_seen(&self) -> bool {
        self.positive_threshold.is_some() && self.below_threshold == BelowThreshold::Ignore
    }

    /// The penalty of a row with `n` interactions.
    fn reg(&self, n: usize) -> f32 {
        reg_for(
            self.regularization as f32,
            self.regularization_exponent as f32,
            n,
        )
    }
}

/// Parses and checks the params of `ials`.
pub fn configure(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    Ok(Box::new(Checked::<IalsParams>::from_json(params)?))
}

impl Checked<IalsParams> {
    /// A user's row of the user sweep from its history: the positives with the values they
    /// train with, the rows below the threshold marked or left out as in training, and the
    /// row's penalty.
    fn user_system(&self, history: History<'_>) -> (Vec<u32>, Vec<f32>, f32) {
        let t = self.threshold();
        let (mut items, mut values) = (Vec::new(), Vec::new());
        for (n, (&i, &v)) in history.items.iter().zip(history.values).enumerate() {
            if t.is_none_or(|t| v >= t) {
                items.push(i);
                values.push(history.weighted.map_or(v, |w| w[n]));
            } else if self.keeps_seen() {
                items.push(i);
                values.push(SEEN_NOT_POSITIVE);
            }
        }
        let reg = self.reg(count_positives(&values));
        (items, values, reg)
    }
}

impl Configured for Checked<IalsParams> {
    fn sums_duplicates(&self) -> bool {
        true
    }

    fn row_weights(&self) -> bool {
        true
    }

    fn positive_threshold(&self) -> Option<f32> {
        self.positive_threshold.map(|t| t as f32)
    }

    /// The user's row of an ials user sweep, solved exactly: rows below the threshold are
    /// marked or left out as in training.
    fn fold_in(&self, target: &FoldTarget<'_>, history: History<'_>) -> Option<FoldedUser> {
        let (items, values, reg) = self.user_system(history);
        let history = History {
            items: &items,
            values: &values,
            weighted: None,
        };
        Some(fold::implicit_user(target, history, reg, self.alpha as f32))
    }

    /// Exact: the shares of the user system that `fold_in` solves.
    fn explain(
        &self,
        target: &FoldTarget<'_>,
        history: History<'_>,
        item: u32,
    ) -> Option<Explanation> {
        let (items, values, reg) = self.user_system(history);
        let history = History {
            items: &items,
            values: &values,
            weighted: None,
        };
        fold::explain_implicit(target, history, reg, self.alpha as f32, item, true)
    }

    fn prepare(self: Box<Self>, data: TrainingData, _pool: &ThreadPool) -> Result<Box<dyn Step>> {
        Ok(Box::new(IalsTraining::new(data, *self)?))
    }
}

/// Random factors with standard deviation `std`, one stream per side.
pub(crate) fn init_factors(seed: u64, side: u64, n: usize, k: usize, std: f32) -> Vec<f32> {
    let normal = Normal::new(0.0f32, std.max(0.0))
        .unwrap_or_else(|_| Normal::new(0.0, 0.0).expect("zero std is valid"));
    let mut rng = stream(seed, &[0x1a15, side]);
    (0..n * k).map(|_| normal.sample(&mut rng)).collect()
}

/// Users whose loss is measured each epoch (a fixed sample keeps the report cheap).
const LOSS_USERS: usize = 4096;

pub struct IalsTraining {
    p: Checked<IalsParams>,
    /// The training positives by item (by user they are `data.positives`).
    by_item: Csr,
    data: ImplicitData,
    users: Vec<f32>,
    items: Vec<f32>,
    epoch: usize,
    /// Y^T Y of the current item factors (computed for the loss, reused by the next sweep).
    item_gram: Option<Vec<f32>>,
}

impl IalsTraining {
    pub fn new(data: TrainingData, p: Checked<IalsParams>) -> Result<Self> {
        let implicit = ImplicitData::prepare(
            data.ratings,
            data.weighted,
            data.n_users,
            p.threshold(),
            p.keeps_seen(),
            p.run.validation_fraction(),
            p.run.seed(),
        )?;
        let by_item = implicit.positives.transpose(data.n_items);
        let k = p.k();
        Ok(Self {
            users: init_factors(p.run.seed(), 1, data.n_users, k, p.init_std as f32),
            items: init_factors(p.run.seed(), 2, data.n_items, k, p.init_std as f32),
            p,
            by_item,
            data: implicit,
            epoch: 0,
            item_gram: None,
        })
    }

    /// The weighted squared error of the users in the loss sample, per interaction, plus their
    /// share of the penalty: sum_u [x^T G x + sum_i (c (1 - d)^2 - d^2) + reg_u |x|^2] with
    /// d = <x_u, y_i> and G = Y^T Y.
    fn sampled_loss(&self, g: &[f32]) -> f64 {
        let k = self.p.k();
        let n_users = self.data.positives.n_rows();
        let step = n_users.div_ceil(LOSS_USERS).max(1);
        let (mut loss, mut count) = (0f64, 0usize);
        for u in (0..n_users).step_by(step) {
            let x = &self.users[u * k..(u + 1) * k];
            let (cols, values) = self.data.positives.row(u);
            let mut xgx = 0f64;
            for f in 0..k {
                let gx: f64 = (0..k).map(|e| g[f * k + e] as f64 * x[e] as f64).sum();
                xgx += x[f] as f64 * gx;
            }
            loss += xgx;
            for (&i, &v) in cols.iter().zip(values) {
                let y = &self.items[i as usize * k..(i as usize + 1) * k];
                let d: f64 = x.iter().zip(y).map(|(a, b)| *a as f64 * *b as f64).sum();
                if v == SEEN_NOT_POSITIVE {
                    // Out of the loss: take back its share of x^T G x.
                    loss -= d * d;
                } else {
                    let c = 1.0 + self.p.alpha * v as f64;
                    loss += c * (1.0 - d).powi(2) - d * d;
                }
            }
            let norm: f64 = x.iter().map(|a| (*a as f64).powi(2)).sum();
            loss += self.p.reg(count_positives(values)) as f64 * norm;
            count += cols.len();
        }
        if count == 0 {
            0.0
        } else {
            loss / count as f64
        }
    }
}

/// Positives among a row's values (the marked seen-but-not-positive pairs are out of the loss,
/// so they do not scale its penalty).
fn count_positives(values: &[f32]) -> usize {
    values.iter().filter(|&&v| v != SEEN_NOT_POSITIVE).count()
}

fn reg_for(regularization: f32, exponent: f32, n: usize) -> f32 {
    if exponent == 0.0 {
        regularization
    } else {
        regularization * (n.max(1) as f32).powf(exponent)
    }
}

impl Step for IalsTraining {
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
        let k = self.p.k();
        let p = &self.p;
        let diag = |v: &[f32]| p.reg(count_positives(v));
        let (alpha, solver, cg_steps) = (p.alpha as f32, p.solver, p.cg_steps as usize);
        let item_gram = match self.item_gram.take() {
            Some(g) => g,
            None => gram(pool, &self.items, k),
        };
        Sweep {
            y: &self.items,
            k,
            gram: Some(&item_gram),
            diag: &diag,
            alpha: Some(alpha),
            solver,
            cg_steps,
        }
        .run(pool, &self.data.positives, &mut self.users, cancel)?;
        let user_gram = gram(pool, &self.users, k);
        Sweep {
            y: &self.users,
            k,
            gram: Some(&user_gram),
            diag: &diag,
            alpha: Some(alpha),
            solver,
            cg_steps,
        }
        .run(pool, &self.by_item, &mut self.items, cancel)?;
        self.epoch += 1;
        // Loss with the new item factors; their Gram matrix serves the next user sweep too.
        let item_gram = gram(pool, &self.items, k);
        let train_loss = self.sampled_loss(&item_gram);
        self.item_gram = Some(item_gram);
        let validation = self.data.validate(
            pool,
            &Scores {
                user_factors: &self.users,
                item_factors: &self.items,
                item_bias: None,
                factors: k,
            },
        );
        Ok(StepReport::new(train_loss, validation))
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::new((self.users.clone(), self.items.clone()))
    }

    /// Puts the best factors back; the cached Gram matrix belongs to the replaced items.
    fn restore(&mut self, snapshot: Snapshot) {
        (self.users, self.items) = snapshot.into_inner();
        self.item_gram = None;
    }

    fn finish(self: Box<Self>, _pool: &ThreadPool) -> Fitted {
        let this = *self;
        let (users, items) = (this.users, this.items);
        let n_users = this.data.positives.n_rows();
        let n_items = this.by_item.n_rows();
        let n_positives = this.data.n_positives();
        drop(this.by_item);
        Fitted {
            scorer: Scorer::Dot,
            target: Target::Relevance,
            model: FactorModel {
                factors: this.p.k(),
                global_mean: 0.0,
                rating_range: None,
                user_bias: vec![0.0; n_users],
                item_bias: vec![0.0; n_items],
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
    use serde_json::json;

    /// With a positive threshold, fold-in treats the rows at or above it as the positives: a
    /// user who rated item 0 highly and item 1 low is folded towards item 0, and the other way
    /// round when the ratings swap.
    #[test]
    fn fold_in_takes_the_rows_at_or_above_the_threshold_as_positives() {
        use crate::algo::fold::{FoldTarget, History};
        let m = crate::model::FactorModel {
            factors: 2,
            global_mean: 0.0,
            rating_range: None,
            user_bias: vec![],
            item_bias: vec![0.0; 3],
            user_factors: vec![],
            item_factors: vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5],
            head: None,
        };
        let c = configure(&json!({"positive_threshold": 4})).unwrap();
        let cell = std::sync::OnceLock::new();
        let t = FoldTarget {
            model: m.view(),
            item_gram: &cell,
            learned: &[],
        };
        for (values, towards) in [([4.0f32, 2.0], 0usize), ([1.0, 5.0], 1)] {
            let h = History {
                items: &[0, 1],
                values: &values,
                weighted: None,
            };
            let x = c.fold_in(&t, h).unwrap().factors;
            assert!(
                x[towards] > 0.1 && x[towards] > x[1 - towards] + 0.1,
                "{values:?}: {x:?}"
            );
        }
    }
}
