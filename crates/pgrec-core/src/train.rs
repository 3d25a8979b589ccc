//! The training contract: the step API every algorithm implements ([`Step`]) and the driver
//! that runs it ([`Training`]). The caller owns the loop: it runs one step at a time (on a pool
//! of its choice), checks for interrupts and reports progress; the driver applies early
//! stopping and keeps the best step's model; the algorithm only supplies the step.

use std::any::Any;

use rayon::ThreadPool;

use crate::data::Rating;
use crate::error::Result;
use crate::model::FactorModel;
use crate::parallel::CancelFlag;

/// What one epoch measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    pub epoch: usize,
    /// Mean training loss of the epoch (squared error for explicit ratings).
    pub train_loss: f64,
    /// The validation measurement after the epoch, when a validation set exists, of the model
    /// training would return if it stopped here (for two_tower and ncf inside the averaging
    /// window, the running mean of the epoch ends).
    pub validation: Option<Measurement>,
    /// True when early stopping decided that training should end after this epoch.
    pub stop: bool,
}

impl EpochReport {
    /// The validation RMSE, when that is what was measured.
    pub fn validation_rmse(&self) -> Option<f64> {
        self.validation
            .filter(|m| m.metric == Metric::Rmse)
            .map(|m| m.value)
    }
}

/// What early stopping watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Root mean squared rating error (lower is better).
    Rmse,
    /// ndcg@k of held-out positives (higher is better).
    NdcgAt(usize),
}

impl Metric {
    /// The name in NOTICEs and in training_history.metrics.
    pub fn name(self) -> String {
        match self {
            Metric::Rmse => "rmse".into(),
            Metric::NdcgAt(k) => format!("ndcg_at_{k}"),
        }
    }

    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::NdcgAt(_))
    }
}

/// One validation measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    pub metric: Metric,
    pub value: f64,
}

impl Measurement {
    pub fn rmse(value: f64) -> Self {
        Self {
            metric: Metric::Rmse,
            value,
        }
    }
}

/// What one step of an algorithm measured (the driver numbers the steps and decides when to
/// stop).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Mean training loss of the step (squared error for explicit ratings).
    pub train_loss: f64,
    /// The validation measurement after the step, when a validation set exists, of the model
    /// the algorithm would return if it stopped here (see [`Step::snapshot`]).
    pub validation: Option<Measurement>,
    /// The algorithm has nothing left to do: a tuning search whose final training stopped.
    /// Ordinary algorithms leave it false; early stopping is the driver's.
    pub done: bool,
}

impl StepReport {
    pub fn new(train_loss: f64, validation: Option<Measurement>) -> Self {
        Self {
            train_loss,
            validation,
            done: false,
        }
    }
}

/// A copy of an algorithm's trained state, taken by the driver when validation improved and
/// handed back before the algorithm finishes. Only the algorithm that took it reads it.
pub struct Snapshot(Box<dyn Any + Send>);

impl Snapshot {
    pub fn new<T: Any + Send>(state: T) -> Self {
        Snapshot(Box::new(state))
    }

    /// The state as the algorithm stored it.
    ///
    /// # Panics
    /// When `T` is not the type of the stored state (a snapshot restored into another
    /// algorithm than the one that took it).
    pub fn into_inner<T: Any>(self) -> T {
        match self.0.downcast::<T>() {
            Ok(state) => *state,
            Err(_) => panic!("snapshot restored into an algorithm that did not take it"),
        }
    }
}

/// The one step API every algorithm implements: it runs one step (an epoch or an iteration) and
/// measures it. It neither decides when to stop nor keeps the best step's model: the
/// [`Training`] driver does, from the rule the algorithm declares ([`Step::early_stopping`]),
/// with [`Step::snapshot`] and [`Step::restore`].
pub trait Step: Send {
    /// The most steps the training runs.
    fn max_steps(&self) -> usize;
    /// Rows held out for validation.
    fn n_validation(&self) -> usize;
    /// Whether the step loss is a squared rating error (reported as RMSE).
    fn squared_loss(&self) -> bool;
    /// The rule that decides from the validation measurements when training stops and which
    /// step's model is kept; None when nothing is measured (or the algorithm stops itself).
    fn early_stopping(&self) -> Option<EarlyStopping>;
    /// Runs one step. Must return `CoreError::Cancelled` soon after `cancel` is set.
    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<StepReport>;
    /// A copy of the model the last step measured (the driver keeps it when it was the best).
    /// Called only when [`Step::early_stopping`] gave a rule.
    fn snapshot(&self) -> Snapshot;
    /// Puts back a snapshot this algorithm took: the model `finish` returns.
    fn restore(&mut self, snapshot: Snapshot);
    /// The model to store (runs on `pool`, which the caller installs).
    fn finish(self: Box<Self>, pool: &ThreadPool) -> Fitted;
}

/// A training in progress, driven one step at a time by the caller: the algorithm's steps, and
/// around them early stopping and the best step's snapshot, written once for every algorithm.
pub struct Training<A: Step + ?Sized = dyn Step> {
    algorithm: Box<A>,
    /// The params the version stores (the algorithm's data-dependent choices are added by
    /// `finish`).
    params: serde_json::Value,
    stopping: Option<EarlyStopping>,
    best: Option<Snapshot>,
    steps: usize,
}

impl<A: Step + ?Sized> Training<A> {
    /// Drives `algorithm`; `params` are its stored params before training.
    pub fn new(algorithm: Box<A>, params: serde_json::Value) -> Self {
        let stopping = algorithm.early_stopping();
        Self {
            algorithm,
            params,
            stopping,
            best: None,
            steps: 0,
        }
    }

    /// The algorithm being driven.
    pub fn algorithm(&self) -> &A {
        &self.algorithm
    }

    pub fn max_steps(&self) -> usize {
        self.algorithm.max_steps()
    }

    /// Rows held out for validation.
    pub fn n_validation(&self) -> usize {
        self.algorithm.n_validation()
    }

    /// Whether the step loss is a squared rating error (reported as RMSE).
    pub fn squared_loss(&self) -> bool {
        self.algorithm.squared_loss()
    }

    /// Runs one step, keeps a snapshot when validation improved and says whether to stop.
    /// Returns `CoreError::Cancelled` soon after `cancel` is set.
    pub fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<EpochReport> {
        let report = self.algorithm.step(pool, cancel)?;
        self.steps += 1;
        let mut stop = report.done;
        if let (Some(m), Some(rule)) = (report.validation, self.stopping.as_mut()) {
            let verdict = rule.observe(m.value);
            if verdict.improved {
                self.best = Some(self.algorithm.snapshot());
            }
            stop |= verdict.stop;
        }
        Ok(EpochReport {
            epoch: self.steps,
            train_loss: report.train_loss,
            validation: report.validation,
            stop,
        })
    }

    /// The model to store: the best step's when early stopping kept one, with the params the
    /// version stores ([`Fitted::params`]).
    pub fn finish(self, pool: &ThreadPool) -> Fitted {
        let Training {
            mut algorithm,
            params,
            best,
            ..
        } = self;
        if let Some(best) = best {
            algorithm.restore(best);
        }
        let mut fitted = algorithm.finish(pool);
        fitted.params = final_params(params, &fitted.metrics);
        fitted
    }
}

/// The stored params after training: `params`, then the settings a tuning search chose
/// (metrics.tune.params) and the defaults the training chose from its data
/// (metrics[DATA_DEFAULTS]), except `threads` (a property of the run, not of the model).
fn final_params(mut params: serde_json::Value, metrics: &serde_json::Value) -> serde_json::Value {
    let winner = metrics["tune"]["params"].as_object();
    let data_defaults = metrics[DATA_DEFAULTS].as_object();
    if let Some(stored) = params.as_object_mut() {
        for (k, v) in winner.into_iter().chain(data_defaults).flatten() {
            if k.as_str() != "threads" {
                stored.insert(k.clone(), v.clone());
            }
        }
    }
    params
}

/// How serving scores a (user, item) pair of a stored model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scorer {
    /// global mean + user bias + item bias + <user vector, item vector>
    Dot,
    /// the biases plus the stored scoring network over [user vector, item vector]
    Network,
}

/// What the score estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A rating on the source's scale (evaluate reports RMSE and MAE).
    Rating,
    /// Relevance for ranking only (evaluate reports AUC instead).
    Relevance,
}

impl Scorer {
    /// The catalog spelling (model_versions.scorer).
    pub fn name(self) -> &'static str {
        match self {
            Scorer::Dot => "dot",
            Scorer::Network => "network",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Scorer::Dot, Scorer::Network]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

impl Target {
    /// The catalog spelling (model_versions.target).
    pub fn name(self) -> &'static str {
        match self {
            Target::Rating => "rating",
            Target::Relevance => "relevance",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Target::Rating, Target::Relevance]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

/// The key of a [`Fitted`]'s metrics that lists the defaults a training chose from its data
/// (key -> value); they are part of [`Fitted::params`] too.
pub const DATA_DEFAULTS: &str = "data_defaults";

/// What a finished training hands back for storage.
pub struct Fitted {
    /// How serving scores pairs, and what the scores estimate.
    pub scorer: Scorer,
    pub target: Target,
    pub model: FactorModel,
    /// The training pairs, sorted by (user, item): the items each user has seen.
    pub ratings: Vec<Rating>,
    /// Named parameter blocks beyond the factors: (name, rows, cols, values).
    pub tensors: Vec<(String, usize, usize, Vec<f32>)>,
    /// Algorithm-specific figures for the version's metrics.
    pub metrics: serde_json::Value,
    /// The params the version stores: the configured ones with the settings the training chose
    /// (a tuning search's winner, data-dependent defaults). Algorithms leave it Null; the
    /// [`Training`] driver fills it in.
    pub params: serde_json::Value,
}

/// Early stopping on a validation metric, one rule for every algorithm: a measurement improves
/// on the best so far when it beats it by more than `min_delta` in the metric's direction;
/// training stops after `patience` measurements in a row without improvement.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyStopping {
    patience: usize,
    min_delta: f64,
    higher_is_better: bool,
    best: Option<f64>,
    since_best: usize,
}

/// What one measurement means for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The best so far: keep this model.
    pub improved: bool,
    /// Patience is used up: stop after this step.
    pub stop: bool,
}

impl EarlyStopping {
    /// Early stopping on validation RMSE (lower is better; gains under 1e-6 are noise), for a
    /// rating model with `n_validation` held-out ratings (None without any).
    pub fn on_rmse(patience: usize, n_validation: usize) -> Option<Self> {
        (n_validation > 0).then(|| Self::new(patience, 1e-6, false))
    }

    pub fn new(patience: usize, min_delta: f64, higher_is_better: bool) -> Self {
        Self {
            patience,
            min_delta,
            higher_is_better,
            best: None,
            since_best: 0,
        }
    }

    /// Records one measurement of the metric.
    pub fn observe(&mut self, value: f64) -> Verdict {
        let improved = match self.best {
            None => true,
            Some(b) if self.higher_is_better => value > b + self.min_delta,
            Some(b) => value < b - self.min_delta,
        };
        if improved {
            self.best = Some(value);
            self.since_best = 0;
        } else {
            self.since_best += 1;
        }
        Verdict {
            improved,
            stop: !improved && self.since_best >= self.patience,
        }
    }

    /// The best value seen.
    pub fn best(&self) -> Option<f64> {
        self.best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stopping: &mut EarlyStopping, values: &[f64]) -> Vec<(bool, bool)> {
        values
            .iter()
            .map(|&v| {
                let d = stopping.observe(v);
                (d.improved, d.stop)
            })
            .collect()
    }

    #[test]
    fn lower_is_better_with_patience() {
        let mut s = EarlyStopping::new(2, 0.0, false);
        let got = run(&mut s, &[1.0, 0.9, 0.95, 0.8, 0.85, 0.85]);
        let want = [
            (true, false),
            (true, false),
            (false, false),
            (true, false),
            (false, false),
            (false, true),
        ];
        assert_eq!(got, want);
        assert_eq!(s.best(), Some(0.8));
    }

    #[test]
    fn higher_is_better_for_ranking_metrics() {
        let mut s = EarlyStopping::new(1, 0.0, true);
        assert_eq!(
            run(&mut s, &[0.1, 0.2, 0.15]),
            [(true, false), (true, false), (false, true)]
        );
        assert_eq!(s.best(), Some(0.2));
    }

    #[test]
    fn min_delta_ignores_tiny_gains() {
        let mut s = EarlyStopping::new(3, 1e-3, false);
        assert_eq!(
            run(&mut s, &[1.0, 0.9995, 0.998]),
            [(true, false), (false, false), (true, false)]
        );
        let mut up = EarlyStopping::new(3, 1e-3, true);
        assert_eq!(
            run(&mut up, &[0.5, 0.5005, 0.502]),
            [(true, false), (false, false), (true, false)]
        );
    }

    #[test]
    fn metrics_know_their_direction_and_name() {
        assert!(!Metric::Rmse.higher_is_better());
        assert!(Metric::NdcgAt(10).higher_is_better());
        assert_eq!(Metric::NdcgAt(10).name(), "ndcg_at_10");
        let r = EpochReport {
            epoch: 1,
            train_loss: 0.5,
            validation: Some(Measurement {
                metric: Metric::NdcgAt(10),
                value: 0.3,
            }),
            stop: false,
        };
        assert_eq!(r.validation_rmse(), None);
        let r = EpochReport {
            validation: Some(Measurement::rmse(0.9)),
            ..r
        };
        assert_eq!(r.validation_rmse(), Some(0.9));
    }

    #[test]
    fn a_tie_is_not_an_improvement() {
        let mut s = EarlyStopping::new(1, 0.0, false);
        assert_eq!(run(&mut s, &[0.7, 0.7]), [(true, false), (false, true)]);
    }

    #[test]
    fn catalog_spellings_round_trip() {
        for s in [Scorer::Dot, Scorer::Network] {
            assert_eq!(Scorer::from_name(s.name()), Some(s));
        }
        for t in [Target::Rating, Target::Relevance] {
            assert_eq!(Target::from_name(t.name()), Some(t));
        }
        assert_eq!(Scorer::from_name("ncf"), None);
        assert_eq!(Target::from_name("bce"), None);
    }

    /// An algorithm whose "model" is its step count and whose validation values are given.
    struct Scripted {
        values: Vec<f64>,
        state: usize,
        rule: Option<EarlyStopping>,
        snapshots: usize,
    }

    impl Step for Scripted {
        fn max_steps(&self) -> usize {
            self.values.len()
        }
        fn n_validation(&self) -> usize {
            1
        }
        fn squared_loss(&self) -> bool {
            true
        }
        fn early_stopping(&self) -> Option<EarlyStopping> {
            self.rule.clone()
        }
        fn step(&mut self, _: &ThreadPool, cancel: &CancelFlag) -> Result<StepReport> {
            cancel.check()?;
            self.state += 1;
            let v = self.values[self.state - 1];
            Ok(StepReport::new(v * 2.0, Some(Measurement::rmse(v))))
        }
        fn snapshot(&self) -> Snapshot {
            Snapshot::new(self.state)
        }
        fn restore(&mut self, snapshot: Snapshot) {
            self.snapshots += 1;
            self.state = snapshot.into_inner();
        }
        fn finish(self: Box<Self>, _: &ThreadPool) -> Fitted {
            Fitted {
                scorer: Scorer::Dot,
                target: Target::Rating,
                model: FactorModel {
                    factors: 0,
                    global_mean: self.state as f32,
                    rating_range: None,
                    user_bias: Vec::new(),
                    item_bias: Vec::new(),
                    user_factors: Vec::new(),
                    item_factors: Vec::new(),
                    head: None,
                },
                ratings: Vec::new(),
                tensors: Vec::new(),
                metrics: serde_json::json!({
                    "tune": {"params": {"factors": 8, "threads": 3}},
                    DATA_DEFAULTS: {"implicit": false},
                }),
                params: serde_json::Value::Null,
            }
        }
    }

    fn drive(values: &[f64], rule: Option<EarlyStopping>) -> (Vec<EpochReport>, Fitted) {
        let pool = crate::parallel::build_pool(1).unwrap();
        let algorithm = Scripted {
            values: values.to_vec(),
            state: 0,
            rule,
            snapshots: 0,
        };
        let params = serde_json::json!({"factors": 4, "threads": 1, "seed": 2});
        let mut t = Training::new(Box::new(algorithm), params);
        let cancel = CancelFlag::new();
        let mut reports = Vec::new();
        for _ in 0..t.max_steps() {
            let r = t.step(&pool, &cancel).unwrap();
            reports.push(r);
            if r.stop {
                break;
            }
        }
        (reports, t.finish(&pool))
    }

    /// The driver numbers the steps, stops when patience runs out, and hands back the model of
    /// the best step with the params the version stores.
    #[test]
    fn the_driver_stops_early_and_restores_the_best_step() {
        let (reports, fitted) = drive(
            &[1.0, 0.8, 0.9, 0.95, 0.7],
            Some(EarlyStopping::new(2, 0.0, false)),
        );
        let epochs: Vec<(usize, bool)> = reports.iter().map(|r| (r.epoch, r.stop)).collect();
        assert_eq!(epochs, [(1, false), (2, false), (3, false), (4, true)]);
        assert_eq!(reports[1].train_loss, 1.6);
        assert_eq!(fitted.model.global_mean, 2.0, "the best step's model");
        assert_eq!(
            fitted.params,
            serde_json::json!({"factors": 8, "threads": 1, "seed": 2, "implicit": false})
        );
        // Without a rule: every step runs and the last model is returned.
        let (reports, fitted) = drive(&[1.0, 0.8, 0.9], None);
        assert!(reports.iter().all(|r| !r.stop) && reports.len() == 3);
        assert_eq!(fitted.model.global_mean, 3.0);
    }
}
