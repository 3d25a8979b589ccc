//! `"tune": true`: budgeted hyper-parameter search for any iterative algorithm, by successive
//! halving on a validation split.
//!
//! `tune_trials` candidate settings (the given params first, then seeded random draws of the
//! algorithm's main knobs, leaving alone every knob the caller set) each train for a third of
//! the epochs on the training rows minus a held-out share; the best third of them (by the
//! algorithm's own validation metric: RMSE for rating models, ndcg@10 for ranking models)
//! train again for all the epochs. The final model is then trained on every row with the
//! winner's settings, for the epochs at which the winner's validation was best. Should that
//! final training fail (settings that held on 90% of the rows can diverge on all of them), the
//! last rung's runner-up is trained instead (once; the failure is in the log). Survivors train
//! again from the start (one training alive at a time, so tuning needs the memory of one
//! training plus a copy of the rows).
//!
//! The whole search is one [`Step`] algorithm under the [`Training`] driver: each step is one
//! epoch of one trial (or of the final model), so the caller's loop keeps checking for
//! interrupts and reporting progress, and the same seed gives the same trials, the same winner
//! and the same model for any thread count. Each trial and the final model run under a driver
//! of their own (their early stopping and best epoch). What is tuned is what each algorithm's
//! params declare ([`super::params::Params::KNOBS`]), read through the registry.

use rayon::ThreadPool;
use serde_json::{json, Map, Value};

use super::contract::{Configured, FeatureRequest, MemoryShape, Recorded, TrainingData};
use super::fold;
pub use super::params::Knob;
use super::registry::{self, join_names, Configure};
use crate::error::{CoreError, Result};
use crate::parallel::CancelFlag;
use crate::rng::stream;
use crate::train::{
    EarlyStopping, Fitted, Measurement, Metric, Snapshot, Step, StepReport, Training,
};

/// Halving rate: each rung keeps the best 1/ETA of its trials and gives them ETA times the
/// epochs.
const ETA: usize = 3;
/// Random stream purpose of the candidate draws.
const TUNE_STREAM: u64 = 0x7_0AE;
/// Held-out share of the trials when the caller's params hold out nothing.
pub const DEFAULT_TUNE_VALIDATION: f64 = 0.1;
/// Trials when `tune_trials` is not given.
pub const DEFAULT_TRIALS: usize = 9;
/// Most trials.
pub const MAX_TRIALS: usize = 100;

/// The knobs tuned for `algorithm` (None: tuning does not apply to it), as its params declare
/// them in the registry.
pub fn knobs(algorithm: &str) -> Option<&'static [Knob]> {
    registry::knobs(algorithm)
}

/// The rungs for `trials` candidates and `max_epochs`: (trials, epochs) per rung. Two rungs:
/// every trial at a third of the epochs, then the best third at all of them (9 trials, 27
/// epochs: (9, 9), (3, 27)); one trial trains once at the full epochs. Shorter first rungs
/// (a ninth of the epochs, as plain successive halving would give 9 trials) were tried and
/// picked the wrong settings: matrix factorisation's validation curves can stay flat for the
/// first epochs and separate only later (the known-answer test below).
pub fn rungs(trials: usize, max_epochs: usize) -> Vec<(usize, usize)> {
    let max_epochs = max_epochs.max(1);
    if trials <= 1 {
        return vec![(1, max_epochs)];
    }
    vec![
        (trials, max_epochs.div_ceil(ETA)),
        (trials.div_ceil(ETA), max_epochs),
    ]
}

/// Candidate settings: the caller's first (no overrides), then seeded draws of the knobs the
/// caller did not set.
pub fn candidates(
    knobs: &[Knob],
    given: &Map<String, Value>,
    trials: usize,
    seed: u64,
) -> Vec<Map<String, Value>> {
    use rand::Rng;
    let mut rng = stream(seed, &[TUNE_STREAM]);
    let free: Vec<&Knob> = knobs
        .iter()
        .filter(|k| !given.contains_key(k.key()))
        .collect();
    let mut out = vec![Map::new()];
    // Only choices left, and fewer combinations than draws: every combination once, in order
    // (random draws from a small grid repeat themselves).
    let grid: Option<Vec<&'static [i64]>> = free
        .iter()
        .map(|k| match k {
            Knob::Choice(_, options) => Some(*options),
            Knob::Log(..) => None,
        })
        .collect();
    if let Some(grid) = grid.filter(|g| !g.is_empty()) {
        let size: usize = grid.iter().map(|o| o.len()).product();
        if size < trials {
            for n in 0..size {
                let mut c = Map::new();
                let mut rest = n;
                for (k, options) in free.iter().zip(&grid) {
                    c.insert(k.key().to_string(), json!(options[rest % options.len()]));
                    rest /= options.len();
                }
                out.push(c);
            }
            return out;
        }
    }
    while out.len() < trials.max(1) {
        let mut c = Map::new();
        for k in &free {
            let v = match k {
                Knob::Log(key, lo, hi) => {
                    let x = (lo.ln() + rng.gen_range(0.0..1.0) * (hi.ln() - lo.ln())).exp();
                    // 3 significant digits: settings that read as they are stored
                    let digits = 2 - x.log10().floor() as i32;
                    let scale = 10f64.powi(digits);
                    (key, json!((x * scale).round() / scale))
                }
                Knob::Choice(key, options) => {
                    (key, json!(options[rng.gen_range(0..options.len())]))
                }
            };
            c.insert(v.0.to_string(), v.1);
        }
        if free.is_empty() {
            break; // nothing to tune: the caller's settings are the only candidate
        }
        out.push(c);
    }
    out
}

/// Takes `tune` and `tune_trials` out of `params`: Some(trials) when tuning was asked for.
pub fn take_tune(params: &mut Value) -> Result<Option<usize>> {
    let Some(o) = params.as_object_mut() else {
        return Ok(None);
    };
    let tune = o.remove("tune");
    let trials = o.remove("tune_trials");
    let on = match &tune {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(v) => {
            return Err(CoreError::param_hint(
                "tune",
                format!("tune must be true or false, got {v}"),
                "\"tune\": true searches factors, regularization and learning rate on a validation split before training.",
            ))
        }
    };
    let trials = match trials {
        None | Some(Value::Null) => DEFAULT_TRIALS,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_TRIALS as u64).contains(&n) && on => n as usize,
            Some(n) if (1..=MAX_TRIALS as u64).contains(&n) => {
                return Err(CoreError::param_hint(
                    "tune_trials",
                    format!("tune_trials ({n}) is only used with \"tune\": true"),
                    "Add \"tune\": true, or leave tune_trials out.",
                ))
            }
            _ => {
                return Err(CoreError::param_hint(
                    "tune_trials",
                    format!("tune_trials must be an integer from 1 to {MAX_TRIALS}, got {v}"),
                    "Each trial is one candidate setting; the default is 9.",
                ))
            }
        },
    };
    Ok(on.then_some(trials))
}

/// The configured search: the algorithm's configuration with the caller's params, and what
/// tuning needs to configure its trials.
pub struct Tuned {
    algorithm: &'static str,
    configure: Configure,
    /// The caller's params (without the tune keys).
    given: Map<String, Value>,
    base: Box<dyn Configured>,
    trials: usize,
}

/// Configures a tuned training of `algorithm` from `params` (tune keys already taken out).
pub fn configure(
    algorithm: &'static str,
    configure: Configure,
    params: &Value,
    trials: usize,
) -> Result<Box<dyn Configured>> {
    Ok(Box::new(configure_search(
        algorithm, configure, params, trials,
    )?))
}

/// [`configure`], as the search itself (to start with [`Tuned::search`]).
pub fn configure_search(
    algorithm: &'static str,
    configure: Configure,
    params: &Value,
    trials: usize,
) -> Result<Tuned> {
    if knobs(algorithm).is_none() {
        return Err(CoreError::param_hint(
            "tune",
            format!("algorithm \"{algorithm}\" cannot be tuned"),
            format!(
                "tune works for {} (iterative algorithms with a validation metric).",
                join_names(&registry::tunable_names().collect::<Vec<_>>())
            ),
        ));
    }
    let base = configure(params)?;
    let given = params.as_object().cloned().unwrap_or_default();
    Ok(Tuned {
        algorithm,
        configure,
        given,
        base,
        trials,
    })
}

impl Tuned {
    fn epochs(&self) -> usize {
        self.base
            .stored_params()
            .get("epochs")
            .and_then(Value::as_u64)
            .unwrap_or(20)
            .max(1) as usize
    }

    fn seed(&self) -> u64 {
        self.base
            .stored_params()
            .get("seed")
            .and_then(Value::as_i64)
            .unwrap_or(42) as u64
    }
}

impl Recorded for Tuned {
    /// The caller's settings with the defaults (the winner's are stored after training).
    fn stored_params(&self) -> Value {
        self.base.stored_params()
    }

    fn threads(&self) -> Option<usize> {
        self.base.threads()
    }
}

impl Configured for Tuned {
    /// One training at a time, plus the copy of the rows every trial starts from; the largest
    /// candidate's factors.
    fn memory_bytes(&self, shape: MemoryShape) -> u64 {
        let widest = knobs(self.algorithm)
            .into_iter()
            .flatten()
            .filter_map(|k| match k {
                Knob::Choice("factors", o) if !self.given.contains_key("factors") => o.iter().max(),
                _ => None,
            })
            .max()
            .copied();
        let mut params = Value::Object(self.given.clone());
        if let Some(f) = widest {
            params["factors"] = json!(f);
        }
        let widest = (self.configure)(&params)
            .map(|c| c.memory_bytes(shape))
            .unwrap_or_else(|_| self.base.memory_bytes(shape));
        widest.saturating_add(shape.rows.saturating_mul(16))
    }

    fn memory_hint(&self) -> Option<&'static str> {
        self.base.memory_hint()
    }
    fn needs_ratings(&self) -> bool {
        self.base.needs_ratings()
    }
    fn positive_threshold(&self) -> Option<f32> {
        self.base.positive_threshold()
    }
    fn sums_duplicates(&self) -> bool {
        self.base.sums_duplicates()
    }
    fn row_weights(&self) -> bool {
        self.base.row_weights()
    }
    fn explain(
        &self,
        target: &crate::algo::fold::FoldTarget<'_>,
        history: crate::algo::fold::History<'_>,
        item: u32,
    ) -> Option<crate::algo::fold::Explanation> {
        self.base.explain(target, history, item)
    }
    fn features(&self) -> Option<FeatureRequest<'_>> {
        self.base.features()
    }
    fn fold_in(
        &self,
        target: &fold::FoldTarget<'_>,
        history: fold::History<'_>,
    ) -> Option<fold::FoldedUser> {
        self.base.fold_in(target, history)
    }
    fn fold_in_item(
        &self,
        target: &fold::FoldTarget<'_>,
        history: fold::History<'_>,
        trained: &fold::TrainedRows<'_>,
    ) -> Option<fold::FoldedUser> {
        self.base.fold_in_item(target, history, trained)
    }

    fn prepare(self: Box<Self>, data: TrainingData, pool: &ThreadPool) -> Result<Box<dyn Step>> {
        Ok(Box::new(self.search(data, pool, false)?))
    }
}

impl Tuned {
    /// Starts the search on `data`. With `hold_final`, the search pauses once its winner is
    /// known ([`Search::is_held`]) and starts the final training only when released
    /// ([`Search::release`]): a choice between searches (`algo::auto`) trains only its
    /// winner's final model.
    pub fn search(self, data: TrainingData, pool: &ThreadPool, hold_final: bool) -> Result<Search> {
        let knobs = knobs(self.algorithm).unwrap_or(&[]);
        let candidates = candidates(knobs, &self.given, self.trials, self.seed());
        let rungs = rungs(candidates.len(), self.epochs());
        let holdout = self
            .given
            .get("validation_fraction")
            .and_then(Value::as_f64)
            .filter(|&v| v > 0.0)
            .unwrap_or(DEFAULT_TUNE_VALIDATION);
        let first = {
            let mut p = self.given.clone();
            p.insert("epochs".into(), json!(rungs[0].1));
            p.insert("validation_fraction".into(), json!(holdout));
            if !self.given.contains_key("patience") {
                p.insert("patience".into(), json!(rungs[0].1));
            }
            (self.configure)(&Value::Object(p))?.start(copy_data(&data), pool)?
        };
        let queue = (1..candidates.len()).rev().collect();
        Ok(Search {
            tuned: self,
            data,
            candidates,
            rungs,
            holdout,
            rung: 0,
            queue,
            results: Vec::new(),
            current: running(first, 0),
            final_epochs: 0,
            winner: None,
            runner_up: None,
            final_params: Value::Null,
            trials_log: Vec::new(),
            hold_final,
            held: false,
            winner_best: None,
        })
    }

    /// The algorithm searched.
    pub fn algorithm(&self) -> &'static str {
        self.algorithm
    }

    /// The most steps the search can take ([`Step::max_steps`] of its [`Search`]).
    pub fn max_steps(&self) -> usize {
        let knobs = knobs(self.algorithm).unwrap_or(&[]);
        let n = candidates(knobs, &self.given, self.trials, self.seed()).len();
        steps_of(&rungs(n, self.epochs()))
    }
}

/// Every trial's epochs and the final training's, twice (room for the runner-up's).
fn steps_of(rungs: &[(usize, usize)]) -> usize {
    let trials: usize = rungs.iter().map(|(n, e)| n * e).sum();
    trials + 2 * rungs.last().map_or(1, |r| r.1)
}

/// Whether a trial's `value` of `metric` beats its best so far (any value beats none).
fn beats(metric: Metric, value: f64, best: Option<f64>) -> bool {
    match best {
        None => true,
        Some(b) if metric.higher_is_better() => value > b,
        Some(b) => value < b,
    }
}

/// A trial's outcome at one rung.
#[derive(Debug, Clone)]
struct Outcome {
    candidate: usize,
    /// The best validation value and the epoch it was seen at.
    best: Option<(f64, usize)>,
    higher_is_better: bool,
    /// Why the trial stopped early with an error (it diverged): it ranks last.
    failed: Option<String>,
}

impl Outcome {
    /// Orders outcomes best first (missing values last, ties to the earlier candidate).
    fn rank_key(&self) -> (bool, f64, usize) {
        match self.best {
            Some((v, _)) => (
                false,
                if self.higher_is_better { -v } else { v },
                self.candidate,
            ),
            None => (true, 0.0, self.candidate),
        }
    }
}

struct Running {
    training: Training,
    outcome: Outcome,
}

/// A running search ([`Tuned::search`]): its trials, then its winner's final training.
pub struct Search {
    tuned: Tuned,
    data: TrainingData,
    candidates: Vec<Map<String, Value>>,
    /// (trials, epochs) per rung.
    rungs: Vec<(usize, usize)>,
    holdout: f64,
    rung: usize,
    /// Candidates still to run at this rung, last first.
    queue: Vec<usize>,
    results: Vec<Outcome>,
    /// The trial (or, once `winner` is set, the final training) being stepped.
    current: Running,
    final_epochs: usize,
    /// The winning candidate, once the search is over.
    winner: Option<usize>,
    /// The last rung's runner-up, if it did not fail, as (candidate, final epochs): the final
    /// training falls back to it if the winner's fails.
    runner_up: Option<(usize, usize)>,
    /// The final training's params, as a version stores them.
    final_params: Value,
    trials_log: Vec<Value>,
    /// Pause when the winner is known, before its final training.
    hold_final: bool,
    /// Paused: the winner is known and its final training waits for [`Search::release`].
    held: bool,
    /// The winner's best validation value at the last rung, and whether higher is better.
    winner_best: Option<(f64, bool)>,
}

fn empty_data() -> TrainingData {
    TrainingData {
        ratings: Vec::new(),
        n_users: 0,
        n_items: 0,
        explicit: true,
        weighted: None,
        users: Default::default(),
        items: Default::default(),
    }
}

/// A copy of the training rows (and everything else the data holds).
pub fn copy_data(d: &TrainingData) -> TrainingData {
    TrainingData {
        ratings: d.ratings.clone(),
        n_users: d.n_users,
        n_items: d.n_items,
        explicit: d.explicit,
        weighted: d.weighted.clone(),
        users: d.users.clone(),
        items: d.items.clone(),
    }
}

fn running(training: Training, candidate: usize) -> Running {
    Running {
        training,
        outcome: Outcome {
            candidate,
            best: None,
            higher_is_better: false,
            failed: None,
        },
    }
}

impl Search {
    fn params_of(&self, candidate: usize, epochs: usize, holdout: Option<f64>) -> Value {
        let mut p = self.tuned.given.clone();
        for (k, v) in &self.candidates[candidate] {
            p.insert(k.clone(), v.clone());
        }
        p.insert("epochs".into(), json!(epochs));
        if let Some(h) = holdout {
            p.insert("validation_fraction".into(), json!(h));
            // Trials run their whole budget: validation curves can plateau for a few epochs
            // before the factors start to pay, and the best epoch is taken afterwards.
            if !self.tuned.given.contains_key("patience") {
                p.insert("patience".into(), json!(epochs.max(1)));
            }
        }
        Value::Object(p)
    }

    /// The next training: the next trial of this rung (moving to the next rung when this one
    /// is done), or, once the last rung is ranked, the final training on every row (None: the
    /// search holds before it).
    fn next_training(&mut self, pool: &ThreadPool) -> Result<Option<Running>> {
        if self.queue.is_empty() {
            self.close_rung();
        }
        if let Some(candidate) = self.queue.pop() {
            let epochs = self.rungs[self.rung].1;
            let params = self.params_of(candidate, epochs, Some(self.holdout));
            let training = (self.tuned.configure)(&params)?.start(copy_data(&self.data), pool)?;
            return Ok(Some(running(training, candidate)));
        }
        if self.hold_final {
            self.held = true;
            return Ok(None);
        }
        self.final_training(pool).map(Some)
    }

    /// Moves on from the current trial: to the next one, to the final training, or to the hold
    /// (the finished trial stays as the current training, never stepped again).
    fn advance(&mut self, pool: &ThreadPool) -> Result<()> {
        if let Some(next) = self.next_training(pool)? {
            self.current = next;
        }
        Ok(())
    }

    /// Whether the search holds before its final training (its winner is known).
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// The winner's best validation value (None before the search is over, or when every
    /// trial failed) and whether higher is better.
    pub fn winner_validation(&self) -> Option<(f64, bool)> {
        self.winner_best
    }

    /// Starts the final training of a held search.
    pub fn release(&mut self, pool: &ThreadPool) -> Result<()> {
        if self.held {
            self.held = false;
            self.current = self.final_training(pool)?;
        }
        Ok(())
    }

    /// The winner's final training on every row.
    fn final_training(&mut self, pool: &ThreadPool) -> Result<Running> {
        let w = self.winner.unwrap_or(0);
        // The caller's own validation share (if any) applies to the final model.
        let params = self.params_of(w, self.final_epochs, None);
        let configured = (self.tuned.configure)(&params)?;
        self.final_params = configured.stored_params();
        // The rows stay for a runner-up's final training (the trials held a copy too).
        let data = if self.runner_up.is_none() {
            std::mem::replace(&mut self.data, empty_data())
        } else {
            copy_data(&self.data)
        };
        Ok(running(configured.start(data, pool)?, w))
    }

    /// The winner's final training failed with `error`: logs it and starts the runner-up's,
    /// or gives the error back when there is none (or the runner-up's failed too).
    fn fall_back(&mut self, error: CoreError, pool: &ThreadPool) -> Result<()> {
        let Some((next, epochs)) = self.runner_up.take() else {
            return Err(error);
        };
        if let Some(w) = self.winner {
            self.trials_log.push(json!({
                "final": true,
                "epochs": self.final_epochs,
                "params": Value::Object(self.candidates[w].clone()),
                "failed": error.to_string(),
            }));
        }
        self.winner = Some(next);
        self.final_epochs = epochs;
        self.current = self.final_training(pool)?;
        Ok(())
    }

    /// Ranks the rung's results: the survivors form the next rung's queue, or the best one
    /// becomes the winner.
    fn close_rung(&mut self) {
        let mut ranked = std::mem::take(&mut self.results);
        ranked.sort_by(|a, b| {
            let (x, y) = (a.rank_key(), b.rank_key());
            x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)).then(x.2.cmp(&y.2))
        });
        for (rank, o) in ranked.iter().enumerate() {
            self.trials_log.push(json!({
                "rung": self.rung + 1,
                "epochs": self.rungs[self.rung].1,
                "rank": rank + 1,
                "params": Value::Object(self.candidates[o.candidate].clone()),
                "best_validation": o.best.map(|b| b.0),
                "best_epoch": o.best.map(|b| b.1),
                "failed": o.failed,
            }));
        }
        if self.rung + 1 < self.rungs.len() {
            self.rung += 1;
            let keep = self.rungs[self.rung].0;
            self.queue = ranked
                .iter()
                .take(keep)
                .map(|o| o.candidate)
                .rev()
                .collect();
        } else if let Some(best) = ranked.first() {
            let epochs = |o: &Outcome| o.best.map_or(self.rungs[self.rung].1, |b| b.1).max(1);
            self.winner = Some(best.candidate);
            self.winner_best = best.best.map(|b| (b.0, best.higher_is_better));
            self.final_epochs = epochs(best);
            self.runner_up = ranked
                .get(1)
                .filter(|o| o.failed.is_none())
                .map(|o| (o.candidate, epochs(o)));
        }
    }

    /// One step of the current trial or of the final training; None when a failed last trial
    /// put the search on hold (no step was taken).
    pub fn step_search(
        &mut self,
        pool: &ThreadPool,
        cancel: &CancelFlag,
    ) -> Result<Option<StepReport>> {
        let run = &mut self.current;
        let report = match run.training.step(pool, cancel) {
            Ok(report) => report,
            // A trial that fails (its settings diverge) ranks last and the search goes on with
            // the next one; interrupts and the final training's errors end the training.
            Err(e) if self.winner.is_none() && !matches!(e, CoreError::Cancelled) => {
                run.outcome.best = None;
                run.outcome.failed = Some(e.to_string());
                self.results.push(self.current.outcome.clone());
                self.advance(pool)?;
                if self.held {
                    return Ok(None);
                }
                return self.step_search(pool, cancel);
            }
            // The final training failed: the runner-up's is next, if there is one.
            Err(e) if !matches!(e, CoreError::Cancelled) => {
                self.fall_back(e, pool)?;
                return self.step_search(pool, cancel);
            }
            Err(e) => return Err(e),
        };
        if let Some(Measurement { metric, value }) = report.validation {
            run.outcome.higher_is_better = metric.higher_is_better();
            if beats(metric, value, run.outcome.best.map(|b| b.0)) {
                run.outcome.best = Some((value, report.epoch));
            }
        }
        let done = report.stop || report.epoch >= run.training.max_steps();
        let out = StepReport {
            train_loss: report.train_loss,
            validation: report.validation,
            done: done && self.winner.is_some(),
        };
        if done && self.winner.is_none() {
            self.results.push(self.current.outcome.clone());
            self.advance(pool)?;
        }
        Ok(Some(out))
    }
}

impl Step for Search {
    /// Every trial's epochs and the final training's, twice (room for the runner-up's).
    fn max_steps(&self) -> usize {
        steps_of(&self.rungs)
    }

    fn n_validation(&self) -> usize {
        self.current.training.n_validation()
    }

    fn squared_loss(&self) -> bool {
        self.current.training.squared_loss()
    }

    /// The trials and the final training stop early under drivers of their own.
    fn early_stopping(&self) -> Option<EarlyStopping> {
        None
    }

    /// Stepping a held search releases it.
    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<StepReport> {
        loop {
            self.release(pool)?;
            if let Some(report) = self.step_search(pool, cancel)? {
                return Ok(report);
            }
        }
    }

    /// Never called (no early stopping of the search itself).
    fn snapshot(&self) -> Snapshot {
        Snapshot::new(())
    }

    fn restore(&mut self, _snapshot: Snapshot) {}

    fn finish(self: Box<Self>, pool: &ThreadPool) -> Fitted {
        let Search {
            current,
            winner,
            trials_log,
            candidates,
            final_epochs,
            final_params,
            rungs,
            holdout,
            ..
        } = *self;
        let mut fitted = current.training.finish(pool);
        let tune = json!({
            "trials": candidates.len(),
            "rungs": rungs.iter().map(|(n, e)| json!({"trials": n, "epochs": e})).collect::<Vec<_>>(),
            "validation_fraction": holdout,
            "winner": winner.map(|w| Value::Object(candidates[w].clone())),
            "final_epochs": final_epochs,
            "params": final_params,
            "results": trials_log,
        });
        match fitted.metrics.as_object_mut() {
            Some(m) => {
                m.insert("tune".into(), tune);
            }
            None => fitted.metrics = json!({ "tune": tune }),
        }
        fitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Kernels;
    use crate::synth::{generate, SynthSpec};
    use crate::Rating;

    #[test]
    fn rungs_halve_the_trials_and_triple_the_epochs() {
        assert_eq!(rungs(9, 27), [(9, 9), (3, 27)]);
        assert_eq!(rungs(4, 20), [(4, 7), (2, 20)]);
        assert_eq!(rungs(1, 10), [(1, 10)]);
        assert_eq!(rungs(9, 1), [(9, 1), (3, 1)]);
    }

    #[test]
    fn a_small_grid_of_choices_is_enumerated_once() {
        let knobs = [Knob::Choice("factors", &[8, 16, 32])];
        let c = candidates(&knobs, &Map::new(), 9, 1);
        let values: Vec<Value> = c[1..].iter().map(|m| m["factors"].clone()).collect();
        assert_eq!(c.len(), 4);
        assert!(c[0].is_empty());
        assert_eq!(values, vec![json!(8), json!(16), json!(32)]);
        // as many draws as combinations or fewer: drawn at random as before
        assert_eq!(candidates(&knobs, &Map::new(), 3, 1).len(), 3);
        // two knobs: every pair once
        let knobs = [Knob::Choice("a", &[1, 2]), Knob::Choice("b", &[10, 20])];
        let mut pairs: Vec<(i64, i64)> = candidates(&knobs, &Map::new(), 9, 1)[1..]
            .iter()
            .map(|m| (m["a"].as_i64().unwrap(), m["b"].as_i64().unwrap()))
            .collect();
        pairs.sort_unstable();
        assert_eq!(pairs, vec![(1, 10), (1, 20), (2, 10), (2, 20)]);
    }

    #[test]
    fn candidates_start_with_the_callers_and_leave_its_knobs_alone() {
        let knobs = knobs("mf").unwrap_or(&[]);
        let given: Map<String, Value> = [("factors".to_string(), json!(16))].into_iter().collect();
        let c = candidates(knobs, &given, 7, 1);
        assert_eq!(c.len(), 7);
        assert!(c[0].is_empty());
        for x in &c[1..] {
            assert!(!x.contains_key("factors"));
            let reg = x["regularization"].as_f64().unwrap_or(-1.0);
            let lr = x["learning_rate"].as_f64().unwrap_or(-1.0);
            assert!(
                (0.01..=0.2).contains(&reg) && (0.005..=0.04).contains(&lr),
                "{x:?}"
            );
        }
        assert_eq!(c, candidates(knobs, &given, 7, 1));
        assert_ne!(c, candidates(knobs, &given, 7, 2));
        // every knob given: one candidate, the caller's
        let all: Map<String, Value> = ["factors", "regularization", "learning_rate"]
            .iter()
            .map(|k| (k.to_string(), json!(1)))
            .collect();
        assert_eq!(candidates(knobs, &all, 9, 1).len(), 1);
    }

    #[test]
    fn tune_params_are_checked() {
        let mut p = json!({"tune": true, "tune_trials": 4, "factors": 8});
        assert_eq!(take_tune(&mut p).ok(), Some(Some(4)));
        assert_eq!(p, json!({"factors": 8}));
        assert_eq!(
            take_tune(&mut json!({"tune": true})).ok(),
            Some(Some(DEFAULT_TRIALS))
        );
        assert_eq!(take_tune(&mut json!({"factors": 8})).ok(), Some(None));
        assert!(take_tune(&mut json!({"tune": "yes"})).is_err());
        assert!(take_tune(&mut json!({"tune": true, "tune_trials": 0})).is_err());
        assert!(take_tune(&mut json!({"tune_trials": 3})).is_err());
        assert!(configure("ease", crate::algo::ease::configure, &json!({}), 3).is_err());
    }

    fn data(ratings: &[Rating], n_users: usize, n_items: usize) -> TrainingData {
        TrainingData {
            ratings: ratings.to_vec(),
            n_users,
            n_items,
            explicit: true,
            weighted: None,
            users: Default::default(),
            items: Default::default(),
        }
    }

    /// Drives a training to its end as the extension does.
    fn drive(mut t: Training, pool: &ThreadPool) -> (Fitted, usize) {
        let cancel = CancelFlag::new();
        let mut steps = 0;
        for _ in 0..t.max_steps() {
            steps += 1;
            if t.step(pool, &cancel).expect("step").stop {
                break;
            }
        }
        (t.finish(pool), steps)
    }

    #[test]
    fn tuning_mf_closes_the_gap_to_the_noise_floor_and_is_reproducible() {
        // Known answer: rank-4 data with noise 0.3 (the best possible RMSE); the caller fixes
        // the factors and epochs and leaves the penalty and learning rate to tune. The
        // defaults (tuned on MovieLens) are candidate 0; one seed gives one model whatever
        // the thread count.
        let spec = SynthSpec {
            n_users: 400,
            n_items: 300,
            n_ratings: 30_000,
            rank: 4,
            noise_std: 0.3,
            user_exponent: 0.5,
            item_exponent: 0.5,
            seed: 11,
        };
        let (ratings, _) = generate(&spec);
        let (test, train): (Vec<Rating>, Vec<Rating>) = ratings
            .iter()
            .partition(|r| (r.user * 7 + r.item) % 10 == 0);
        let mut sorted = train.clone();
        sorted.sort_by_key(|r| (r.user, r.item));
        let pool = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .expect("pool")
        };
        let given = json!({"factors": 8, "epochs": 27, "implicit": false});
        let test_rmse = |f: &Fitted| {
            let k = Kernels::detect();
            let pairs: Vec<(f32, f32)> = test
                .iter()
                .map(|r| (f.model.predict(k, r.user, r.item), r.value))
                .collect();
            crate::metrics::rmse(&pairs)
        };
        let plain = crate::algo::mf::configure(&given).expect("configure");
        let p1 = pool(1);
        let (base, _) = drive(
            plain.start(data(&sorted, 400, 300), &p1).expect("start"),
            &p1,
        );
        let tuned = || configure("mf", crate::algo::mf::configure, &given, 6).expect("tune");
        let t = tuned();
        let max = t
            .start(data(&sorted, 400, 300), &p1)
            .expect("start")
            .max_steps();
        let (one, steps) = drive(tuned().start(data(&sorted, 400, 300), &p1).expect("s"), &p1);
        let p2 = pool(2);
        let (two, _) = drive(tuned().start(data(&sorted, 400, 300), &p2).expect("s"), &p2);
        assert_eq!(
            one.model.item_factors, two.model.item_factors,
            "thread count changed the model"
        );
        let tune = &one.metrics["tune"];
        // 6 trials: rungs (6, 9), (2, 27), then the final model
        assert_eq!(
            tune["rungs"],
            json!([{"trials": 6, "epochs": 9}, {"trials": 2, "epochs": 27}])
        );
        assert_eq!(tune["results"].as_array().map(Vec::len), Some(8));
        assert!(
            steps <= max && steps > 6 * 9 + 2 * 27,
            "steps {steps} of {max}"
        );
        // Room for the worst case: the winner's final training fails on its last epoch and
        // the runner-up's runs all of its epochs.
        assert!(max >= 6 * 9 + 2 * 27 + 2 * 27, "max_steps {max}");
        // Each rung is ranked by validation RMSE, lowest first; the second rung runs the first
        // rung's best two; the winner is the second rung's first.
        let results = tune["results"].as_array().cloned().unwrap_or_default();
        let rung =
            |r: u64| -> Vec<&Value> { results.iter().filter(|x| x["rung"] == json!(r)).collect() };
        for r in [1, 2] {
            let v: Vec<f64> = rung(r)
                .iter()
                .map(|x| x["best_validation"].as_f64().unwrap_or(f64::NAN))
                .collect();
            assert!(
                v.windows(2).all(|w| w[0] <= w[1]),
                "rung {r} not ranked: {v:?}"
            );
        }
        let first_two: Vec<&Value> = rung(1).iter().take(2).map(|x| &x["params"]).collect();
        let mut second: Vec<&Value> = rung(2).iter().map(|x| &x["params"]).collect();
        second.sort_by_key(|p| first_two.iter().position(|q| q == p));
        assert_eq!(
            first_two, second,
            "the survivors are not the first rung's best"
        );
        assert_eq!(rung(2)[0]["params"], tune["winner"]);
        // the final model is the winner's: its stored params carry the winning penalty
        let winner = &tune["winner"];
        if let Some(reg) = winner.get("regularization") {
            assert_eq!(&tune["params"]["regularization"], reg);
        }
        assert_eq!(tune["params"]["factors"], json!(8));
        // The fitted params are what the version stores: the caller's settings, the winner's
        // (threads aside), then the defaults the final training chose from its data.
        let mut want = tuned().stored_params();
        for (k, v) in tune["params"].as_object().into_iter().flatten() {
            if k != "threads" {
                want[k] = v.clone();
            }
        }
        for (k, v) in one.metrics[crate::train::DATA_DEFAULTS]
            .as_object()
            .into_iter()
            .flatten()
        {
            want[k] = v.clone();
        }
        assert_eq!(one.params, want);
        assert_eq!(
            one.params["regularization"],
            tune["params"]["regularization"]
        );
        // Noise floor 0.3: the caller's settings reach 0.542 in 27 epochs, the tuned model
        // 0.378 when written; tuning must close at least a third of that gap.
        let (b, t) = (test_rmse(&base), test_rmse(&one));
        assert!(
            b - t >= (b - 0.3) / 3.0,
            "tuned test RMSE {t} vs the caller's settings {b}"
        );
    }

    /// `mf`, except that a training whose penalty is above 0.05 fails at its second step (as a
    /// diverging trial does).
    fn flaky(params: &Value) -> Result<Box<dyn Configured>> {
        let fails = params["regularization"].as_f64().is_some_and(|r| r > 0.05);
        failing_at_step_2(params, fails, false)
    }

    /// `mf`, whose training fails at its second step if `fails`, or if `first_final` and it
    /// is the first final training started ([`FINALS`]).
    fn failing_at_step_2(
        params: &Value,
        fails: bool,
        first_final: bool,
    ) -> Result<Box<dyn Configured>> {
        struct Flaky(Box<dyn Configured>, bool, bool);
        struct FlakyRun(Box<dyn Step>, bool, usize);
        impl Recorded for Flaky {
            fn stored_params(&self) -> Value {
                self.0.stored_params()
            }
            fn threads(&self) -> Option<usize> {
                self.0.threads()
            }
        }
        impl Configured for Flaky {
            fn prepare(
                self: Box<Self>,
                d: TrainingData,
                pool: &ThreadPool,
            ) -> Result<Box<dyn Step>> {
                let fails = self.1
                    || (self.2 && FINALS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0);
                Ok(Box::new(FlakyRun(self.0.prepare(d, pool)?, fails, 0)))
            }
        }
        impl Step for FlakyRun {
            fn max_steps(&self) -> usize {
                self.0.max_steps()
            }
            fn n_validation(&self) -> usize {
                self.0.n_validation()
            }
            fn squared_loss(&self) -> bool {
                true
            }
            fn early_stopping(&self) -> Option<EarlyStopping> {
                self.0.early_stopping()
            }
            fn snapshot(&self) -> Snapshot {
                self.0.snapshot()
            }
            fn restore(&mut self, snapshot: Snapshot) {
                self.0.restore(snapshot)
            }
            fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<StepReport> {
                self.2 += 1;
                if self.1 && self.2 == 2 {
                    return Err(CoreError::param_hint(
                        "learning_rate",
                        "diverged",
                        "lower it",
                    ));
                }
                self.0.step(pool, cancel)
            }
            fn finish(self: Box<Self>, pool: &ThreadPool) -> Fitted {
                self.0.finish(pool)
            }
        }
        Ok(Box::new(Flaky(
            crate::algo::mf::configure(params)?,
            fails,
            first_final,
        )))
    }

    /// 3,000 synthetic ratings of 100 users x 80 items, sorted, and a one-thread pool.
    fn small_set() -> (Vec<Rating>, ThreadPool) {
        let spec = SynthSpec {
            n_users: 100,
            n_items: 80,
            n_ratings: 3_000,
            ..SynthSpec::small(4)
        };
        let mut ratings = generate(&spec).0;
        ratings.sort_by_key(|r| (r.user, r.item));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        (ratings, pool)
    }

    /// Final trainings (no validation share) started so far by `first_final_fails`.
    static FINALS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// `mf`, except that the first final training fails (as a winner that held on 90% of the
    /// rows and diverged on all of them). Only the test below uses it.
    fn first_final_fails(params: &Value) -> Result<Box<dyn Configured>> {
        let is_final = params.get("validation_fraction").is_none();
        failing_at_step_2(params, false, is_final)
    }

    #[test]
    fn a_failing_final_training_falls_back_to_the_runner_up() {
        let (ratings, pool) = small_set();
        let given = json!({"factors": 4, "epochs": 6});
        let t = configure("mf", first_final_fails, &given, 9).expect("configure");
        let training = t.start(data(&ratings, 100, 80), &pool).expect("start");
        let max = training.max_steps();
        let (fitted, steps) = drive(training, &pool);
        assert!(steps <= max, "{steps} steps of at most {max}");
        let tune = &fitted.metrics["tune"];
        let log = tune["results"].as_array().cloned().unwrap_or_default();
        let last_rung: Vec<&Value> = log.iter().filter(|r| r["rung"] == 2).collect();
        assert_eq!(last_rung.len(), 3, "{log:?}");
        // The winner's final training failed and is logged; the runner-up is the model.
        let failed: Vec<&Value> = log.iter().filter(|r| r["final"] == true).collect();
        assert_eq!(failed.len(), 1, "{log:?}");
        assert_eq!(failed[0]["params"], last_rung[0]["params"]);
        assert!(failed[0]["failed"]
            .as_str()
            .is_some_and(|m| m.contains("diverged")));
        assert_eq!(tune["winner"], last_rung[1]["params"]);
        assert_eq!(
            tune["final_epochs"].as_u64(),
            last_rung[1]["best_epoch"].as_u64().map(|e| e.max(1))
        );
        assert_eq!(FINALS.load(std::sync::atomic::Ordering::SeqCst), 2);
        // The stored model is a whole training of the runner-up: training it alone with its
        // settings and epochs gives the same factors.
        let mut p = given.as_object().cloned().unwrap_or_default();
        for (k, v) in tune["winner"].as_object().into_iter().flatten() {
            p.insert(k.clone(), v.clone());
        }
        p.insert("epochs".into(), tune["final_epochs"].clone());
        let alone = crate::algo::mf::configure(&Value::Object(p)).expect("configure");
        let (alone, _) = drive(
            alone.start(data(&ratings, 100, 80), &pool).expect("start"),
            &pool,
        );
        assert_eq!(alone.model.item_factors, fitted.model.item_factors);
    }

    /// The tuning wrapper answers the pipeline as the algorithm it tunes does, and its memory
    /// estimate is the widest candidate's (factors 32 of vbmf's choices unless the caller set
    /// them) plus the copy of the rows every trial starts from.
    #[test]
    fn the_wrapper_answers_as_the_algorithm() {
        for e in registry::REGISTRY.iter().filter(|e| e.tunable()) {
            let c = e.configure.unwrap();
            let params = json!({"threads": 3});
            let (base, tuned) = (
                c(&params).unwrap(),
                configure(e.name, c, &params, 3).unwrap(),
            );
            assert_eq!(tuned.threads(), Some(3), "{}", e.name);
            assert_eq!(tuned.needs_ratings(), base.needs_ratings(), "{}", e.name);
            assert_eq!(
                tuned.sums_duplicates(),
                base.sums_duplicates(),
                "{}",
                e.name
            );
            assert_eq!(tuned.row_weights(), base.row_weights(), "{}", e.name);
        }
        // Items fold in as the algorithm folds them (vbmf: with its item prior, not the user's).
        let model = crate::model::FactorModel {
            factors: 4,
            global_mean: 3.5,
            rating_range: Some((1.0, 5.0)),
            user_bias: vec![0.1, -0.2],
            item_bias: vec![],
            user_factors: vec![1.0, 0.2, 0.0, 0.1, 0.8, 0.1, 0.3, 0.0],
            item_factors: vec![],
            head: None,
        };
        let learned = crate::algo::vbmf::test_fold_tensors(4);
        let gram = std::sync::OnceLock::new();
        let target = fold::FoldTarget {
            model: model.view().transposed().unwrap(),
            item_gram: &gram,
            learned: &learned,
        };
        let history = fold::History {
            items: &[0, 1],
            values: &[5.0, 2.0],
            weighted: None,
        };
        let seen = crate::data::UserItems::from_lists(Vec::new());
        let trained = fold::TrainedRows {
            seen: &seen,
            positives: None,
        };
        let c = crate::algo::vbmf::configure;
        let direct = c(&json!({}))
            .unwrap()
            .fold_in_item(&target, history, &trained);
        let wrapped = configure("vbmf", c, &json!({}), 3)
            .unwrap()
            .fold_in_item(&target, history, &trained);
        assert!(direct.is_some());
        assert_eq!(direct, wrapped);
        assert_ne!(wrapped, c(&json!({})).unwrap().fold_in(&target, history));
        let shape = MemoryShape {
            rows: 100_000,
            users: 1_000,
            items: 500,
        };
        let vbmf = crate::algo::vbmf::configure;
        let memory = |p: Value| vbmf(&p).unwrap().memory_bytes(shape);
        let tuned = |p: Value| configure("vbmf", vbmf, &p, 4).unwrap().memory_bytes(shape);
        assert_eq!(
            tuned(json!({})),
            memory(json!({"factors": 32})) + 100_000 * 16
        );
        assert_eq!(
            tuned(json!({"factors": 8})),
            memory(json!({"factors": 8})) + 100_000 * 16
        );
    }

    /// A trial's best is its lowest RMSE, or its highest ndcg.
    #[test]
    fn a_trial_keeps_its_best_in_the_metrics_direction() {
        assert!(beats(Metric::Rmse, 0.9, None));
        assert!(beats(Metric::Rmse, 0.8, Some(0.9)));
        assert!(!beats(Metric::Rmse, 0.95, Some(0.9)));
        assert!(beats(Metric::NdcgAt(10), 0.3, Some(0.2)));
        assert!(!beats(Metric::NdcgAt(10), 0.1, Some(0.2)));
        assert!(!beats(Metric::NdcgAt(10), 0.2, Some(0.2)));
    }

    /// A caller's validation_fraction of 0 (none) does not leave the trials unmeasured: they
    /// hold out tune's default share.
    #[test]
    fn trials_are_measured_when_the_caller_holds_out_nothing() {
        let (ratings, pool) = small_set();
        let given = json!({"factors": 4, "epochs": 3, "validation_fraction": 0.0});
        let t = configure("mf", crate::algo::mf::configure, &given, 3).expect("configure");
        let (fitted, _) = drive(
            t.start(data(&ratings, 100, 80), &pool).expect("start"),
            &pool,
        );
        let log = fitted.metrics["tune"]["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let trials: Vec<&Value> = log.iter().filter(|r| r.get("rung").is_some()).collect();
        assert!(!trials.is_empty(), "{log:?}");
        for r in trials {
            assert!(r["best_validation"].as_f64().is_some(), "{r}");
        }
    }

    #[test]
    fn a_failing_trial_ranks_last_and_the_search_goes_on() {
        let (ratings, pool) = small_set();
        // The first rung's log rows and the winner of a search with `given`.
        let search = |given: Value| {
            let t = configure("mf", flaky, &given, 9).expect("configure");
            let (fitted, _) = drive(t.start(data(&ratings, 100, 80), &pool).expect("s"), &pool);
            let tune = &fitted.metrics["tune"];
            let log = tune["results"].as_array().cloned().unwrap_or_default();
            let first: Vec<Value> = log.into_iter().filter(|r| r["rung"] == 1).collect();
            (first, tune["winner"].clone())
        };
        let (first, _) = search(json!({"factors": 4, "epochs": 6, "regularization": 0.02}));
        assert_eq!(first.len(), 9);
        // Every candidate draws its learning rate; none fails (the penalty is given).
        assert!(first.iter().all(|r| r["failed"].is_null()), "{first:?}");
        // Now the penalty is free: the draws above 0.05 fail and rank after every other one.
        let (first, won) = search(json!({"factors": 4, "epochs": 6}));
        let failed: Vec<bool> = first.iter().map(|r| !r["failed"].is_null()).collect();
        assert!(
            failed.iter().any(|&f| f) && failed.iter().any(|&f| !f),
            "{failed:?}"
        );
        let first_failed = failed.iter().position(|&f| f).unwrap_or(0);
        assert!(failed[first_failed..].iter().all(|&f| f), "{failed:?}");
        assert!(
            won["regularization"].as_f64().unwrap_or(0.0) <= 0.05,
            "{won}"
        );
    }
}
