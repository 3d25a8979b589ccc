//! `auto`: the explicit-rating algorithm chosen per data set, on a validation split.
//!
//! No one setting of one algorithm is best on every data set: on generated data of known rank
//! `vbmf`'s learned priors beat `mf`'s fixed penalty in almost every cell, while on MovieLens
//! `mf` (with its implicit terms: which movies a user rated) is 0.02-0.03 RMSE ahead
//! (BENCHMARKS.md, issue 32). `auto` measures instead of guessing. Each candidate whose params
//! accept the caller's ([`CANDIDATES`], in order) runs as a [`Search`] held before its final
//! training: without `"tune"` one trial at the caller's settings on 90% of the rows (every
//! epoch, the best epoch kept), with `"tune"` its whole tuning search. The candidate with the
//! lowest validation RMSE (ties to the earlier one) then trains its final model on every row;
//! the others' final models are never trained. The version stores the winner's algorithm and
//! settings, so retrain replays the winner without choosing again, and every fold-in, explain
//! and serving path sees an ordinary `mf` or `vbmf` model.
//!
//! One step is one epoch of one candidate's trial (or of the final training), so the caller
//! keeps checking for interrupts; the same seed gives the same choice and the same model for
//! any thread count (each candidate's search is reproducible, and the choice compares their
//! results in a fixed order).

use rayon::ThreadPool;
use serde_json::{json, Value};

use super::contract::{Configured, MemoryShape, Recorded, TrainingData};
use super::registry;
use super::tune::{self, copy_data, Search, Tuned};
use crate::error::{CoreError, Result};
use crate::parallel::CancelFlag;
use crate::train::{EarlyStopping, Fitted, Snapshot, Step, StepReport};

/// The algorithm name `pgrec.train` takes for this choice.
pub const NAME: &str = "auto";

/// The algorithms `auto` chooses among, in the order they run (and win ties).
pub const CANDIDATES: &[&str] = &["mf", "vbmf"];

/// The key of a fitted model's metrics that records the choice.
pub const METRICS_KEY: &str = "auto";

/// The algorithm an `auto` training chose, from the fitted model's metrics (None: the model
/// was not trained by `auto`).
pub fn chosen(metrics: &Value) -> Option<&str> {
    metrics[METRICS_KEY]["algorithm"].as_str()
}

/// The configured choice: one search per candidate that accepts the caller's params.
pub struct Auto {
    searches: Vec<Tuned>,
    /// Candidates that refused the params, with why.
    skipped: Vec<(&'static str, String)>,
    /// The caller's params (without the tune keys).
    given: Value,
    tuned: bool,
}

/// Configures `auto` from `params` (tune keys already taken out; `tune` is the number of
/// trials when tuning was asked for). A candidate that refuses the params is left out (its
/// reason is in the version's metrics); when every candidate refuses them, the first one's
/// error is the error.
pub fn configure(params: &Value, tune: Option<usize>) -> Result<Box<dyn Configured>> {
    let mut searches = Vec::new();
    let mut skipped = Vec::new();
    let mut first_error = None;
    for &name in CANDIDATES {
        let Some(configure) = registry::find(name).and_then(|e| e.configure) else {
            continue;
        };
        match tune::configure_search(name, configure, params, tune.unwrap_or(1)) {
            Ok(search) => searches.push(search),
            Err(e) => {
                skipped.push((name, e.to_string()));
                first_error.get_or_insert(e);
            }
        }
    }
    if searches.is_empty() {
        return Err(first_error.unwrap_or_else(|| {
            CoreError::param(NAME, "no algorithm to choose from in this version")
        }));
    }
    Ok(Box::new(Auto {
        searches,
        skipped,
        given: params.clone(),
        tuned: tune.is_some(),
    }))
}

impl Recorded for Auto {
    /// The caller's params: the winner's settings are added after training (as a tuning
    /// search's are), and only params every candidate accepted are here.
    fn stored_params(&self) -> Value {
        match &self.given {
            Value::Object(_) => self.given.clone(),
            _ => json!({}),
        }
    }

    fn threads(&self) -> Option<usize> {
        self.searches.first().and_then(|s| s.threads())
    }
}

impl Configured for Auto {
    /// Every candidate's search may be alive at once (the best so far holds its rows and its
    /// last trial while the next one runs): their sum.
    fn memory_bytes(&self, shape: MemoryShape) -> u64 {
        self.searches
            .iter()
            .map(|s| s.memory_bytes(shape))
            .fold(0, u64::saturating_add)
    }

    fn memory_hint(&self) -> Option<&'static str> {
        Some("auto trains each candidate algorithm on a copy of the rows; name the algorithm (mf or vbmf) to train one.")
    }

    fn needs_ratings(&self) -> bool {
        self.searches.iter().any(|s| s.needs_ratings())
    }

    /// Row weights only when every candidate takes them (they share the rows).
    fn row_weights(&self) -> bool {
        self.searches.iter().all(|s| s.row_weights())
    }

    fn sums_duplicates(&self) -> bool {
        self.searches.iter().all(|s| s.sums_duplicates())
    }

    fn prepare(self: Box<Self>, data: TrainingData, pool: &ThreadPool) -> Result<Box<dyn Step>> {
        let Auto {
            searches,
            skipped,
            tuned,
            ..
        } = *self;
        let max_steps = searches.iter().map(Tuned::max_steps).sum();
        let mut pending = searches;
        pending.reverse();
        let log = skipped
            .into_iter()
            .map(|(name, why)| json!({"algorithm": name, "skipped": why}))
            .collect();
        let first = pending
            .pop()
            .ok_or_else(|| CoreError::param(NAME, "no algorithm to choose from"))?;
        let (current, data) = start(first, data, !pending.is_empty(), pool)?;
        Ok(Box::new(Choice {
            pending,
            data,
            current,
            best: None,
            log,
            released: false,
            max_steps,
            tuned,
        }))
    }
}

/// Starts `tuned`'s search held before its final training, on a copy of `data` when `copy`
/// (more searches follow), else on `data` itself; gives back the rows left for the next ones.
fn start(
    tuned: Tuned,
    data: TrainingData,
    copy: bool,
    pool: &ThreadPool,
) -> Result<(Candidate, Option<TrainingData>)> {
    let algorithm = tuned.algorithm();
    let (rows, left) = if copy {
        (copy_data(&data), Some(data))
    } else {
        (data, None)
    };
    let search = tuned.search(rows, pool, true)?;
    Ok((Candidate { algorithm, search }, left))
}

/// A candidate's search and the algorithm it runs.
struct Candidate {
    algorithm: &'static str,
    search: Search,
}

impl Candidate {
    /// Its winner's validation RMSE (lower is better; a higher-is-better metric ranks by its
    /// negation), None when every trial failed.
    fn score(&self) -> Option<f64> {
        self.search
            .winner_validation()
            .map(|(v, higher)| if higher { -v } else { v })
    }
}

/// The running choice: the candidates' searches one after the other, then the winner's final
/// training.
struct Choice {
    /// Searches not started yet, last first.
    pending: Vec<Tuned>,
    /// The rows the pending searches start from (the last one takes them).
    data: Option<TrainingData>,
    /// The search being stepped: a candidate's trials, or, once released, the winner's final
    /// training.
    current: Candidate,
    /// The best held candidate before the current one.
    best: Option<Candidate>,
    /// One entry per candidate: its validation, or why it was left out.
    log: Vec<Value>,
    /// The winner's final training has started.
    released: bool,
    max_steps: usize,
    tuned: bool,
}

impl Choice {
    /// The current search holds: records its validation, then starts the next pending search
    /// (keeping the better of the held ones), or, when none is left, releases the best
    /// candidate's final training (ties go to the earlier candidate).
    fn on_hold(&mut self, pool: &ThreadPool) -> Result<()> {
        self.log.push(json!({
            "algorithm": self.current.algorithm,
            "validation": self.current.search.winner_validation().map(|v| v.0),
        }));
        if let Some(next) = self.pending.pop() {
            let data = self
                .data
                .take()
                .ok_or_else(|| CoreError::data("auto: no rows left to train", None))?;
            let (next, left) = start(next, data, !self.pending.is_empty(), pool)?;
            self.data = left;
            let held = std::mem::replace(&mut self.current, next);
            self.keep_better(held);
        } else {
            if let Some(best) = self.best.take() {
                if !beats(&self.current, &best) {
                    self.current = best;
                }
            }
            self.current.search.release(pool)?;
            self.released = true;
        }
        Ok(())
    }

    /// Keeps `held` as the best so far if it beats the best before it.
    fn keep_better(&mut self, held: Candidate) {
        if self.best.as_ref().is_none_or(|best| beats(&held, best)) {
            self.best = Some(held);
        }
    }
}

/// Whether `later` beats `earlier` (strictly: a tie stays with the earlier; a candidate whose
/// trials all failed beats none).
fn beats(later: &Candidate, earlier: &Candidate) -> bool {
    match (later.score(), earlier.score()) {
        (Some(l), Some(e)) => l < e,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

impl Step for Choice {
    fn max_steps(&self) -> usize {
        self.max_steps
    }

    fn n_validation(&self) -> usize {
        self.current.search.n_validation()
    }

    fn squared_loss(&self) -> bool {
        self.current.search.squared_loss()
    }

    /// The searches stop early under drivers of their own.
    fn early_stopping(&self) -> Option<EarlyStopping> {
        None
    }

    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<StepReport> {
        loop {
            if self.released {
                return self.current.search.step(pool, cancel);
            }
            let report = self.current.search.step_search(pool, cancel)?;
            if self.current.search.is_held() {
                self.on_hold(pool)?;
            }
            // A step that put the search on hold after a failed last trial took no step: the
            // next search's first step is this one.
            if let Some(report) = report {
                return Ok(StepReport {
                    done: false,
                    ..report
                });
            }
        }
    }

    /// Never called (no early stopping of the choice itself).
    fn snapshot(&self) -> Snapshot {
        Snapshot::new(())
    }

    fn restore(&mut self, _snapshot: Snapshot) {}

    fn finish(self: Box<Self>, pool: &ThreadPool) -> Fitted {
        let Choice {
            current: winner,
            log,
            tuned,
            ..
        } = *self;
        let mut fitted = Box::new(winner.search).finish(pool);
        let record = json!({
            "algorithm": winner.algorithm,
            "candidates": log,
            "tuned": tuned,
        });
        match fitted.metrics.as_object_mut() {
            Some(m) => {
                m.insert(METRICS_KEY.into(), record);
            }
            None => fitted.metrics = json!({ METRICS_KEY: record }),
        }
        fitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::build_pool;
    use crate::synth::{generate, SynthSpec};
    use crate::train::Training;
    use crate::Rating;

    fn data(ratings: &[Rating], spec: &SynthSpec) -> TrainingData {
        let mut ratings = ratings.to_vec();
        ratings.sort_unstable_by_key(|r| (r.user, r.item));
        TrainingData {
            ratings,
            n_users: spec.n_users,
            n_items: spec.n_items,
            explicit: true,
            weighted: None,
            users: Default::default(),
            items: Default::default(),
        }
    }

    /// Drives a training as the extension does; the steps it took and what it fitted.
    fn drive(mut t: Training, pool: &ThreadPool) -> (usize, usize, Fitted) {
        let cancel = CancelFlag::new();
        let max = t.max_steps();
        let mut steps = 0;
        for _ in 0..max {
            steps += 1;
            if t.step(pool, &cancel).expect("step").stop {
                break;
            }
        }
        (steps, max, t.finish(pool))
    }

    /// Rank 4, noise 0.4, 12 ratings per user on average: where vbmf's learned priors beat
    /// mf's fixed penalty (BENCHMARKS.md, issue 32).
    fn known_rank() -> (Vec<Rating>, SynthSpec) {
        let spec = SynthSpec {
            n_users: 1_500,
            n_items: 600,
            n_ratings: 18_000,
            rank: 4,
            noise_std: 0.4,
            ..SynthSpec::small(5)
        };
        (generate(&spec).0, spec)
    }

    fn auto(
        params: Value,
        tune: Option<usize>,
        d: TrainingData,
        threads: usize,
    ) -> (usize, usize, Fitted) {
        let pool = build_pool(threads).expect("pool");
        let t = configure(&params, tune)
            .expect("configure")
            .start(d, &pool)
            .expect("start");
        drive(t, &pool)
    }

    #[test]
    fn chooses_the_candidate_with_the_lower_validation_and_trains_only_its_final_model() {
        let (ratings, spec) = known_rank();
        let params = json!({"factors": 8, "seed": 3});
        let (steps, max, fitted) = auto(params.clone(), None, data(&ratings, &spec), 2);
        assert!(steps <= max, "{steps} steps of at most {max}");
        let record = &fitted.metrics[METRICS_KEY];
        let log = record["candidates"].as_array().cloned().unwrap_or_default();
        let validation = |name: &str| {
            log.iter()
                .find(|c| c["algorithm"] == name)
                .and_then(|c| c["validation"].as_f64())
                .unwrap_or(f64::NAN)
        };
        let (mf, vb) = (validation("mf"), validation("vbmf"));
        // both measured, on the same held-out rows; the lower one won
        assert!(mf.is_finite() && vb.is_finite(), "{log:?}");
        assert!(
            vb < mf,
            "vbmf {vb} vs mf {mf}: the known-rank data should favour vbmf"
        );
        assert_eq!(chosen(&fitted.metrics), Some("vbmf"));
        assert_eq!(record["tuned"], json!(false));
        // The model is exactly vbmf's own held-out-then-final training (one trial): the choice
        // adds nothing to the winner's training but the comparison.
        let pool = build_pool(2).expect("pool");
        let vbmf = registry::find("vbmf")
            .and_then(|e| e.configure)
            .expect("vbmf");
        let alone = tune::configure("vbmf", vbmf, &params, 1)
            .expect("configure")
            .start(data(&ratings, &spec), &pool)
            .expect("start");
        let (_, _, alone) = drive(alone, &pool);
        assert_eq!(fitted.model.item_factors, alone.model.item_factors);
        assert_eq!(fitted.model.user_bias, alone.model.user_bias);
        // The stored params are vbmf's (the caller's, the winner's settings): they configure
        // vbmf again, and mf's own knobs are absent.
        assert!(vbmf(&fitted.params).is_ok(), "{}", fitted.params);
        assert!(
            fitted.params.get("learning_rate").is_none(),
            "{}",
            fitted.params
        );
        assert_eq!(fitted.params["factors"], json!(8));
        // Each candidate's held-out-then-final training ran (on 90% of the rows, at its best
        // epoch) and the winner's validation is the one reported.
        assert_eq!(fitted.metrics["tune"]["trials"], json!(1));
    }

    #[test]
    fn the_same_seed_gives_the_same_choice_and_model_for_any_thread_count() {
        let (ratings, spec) = known_rank();
        let params = json!({"factors": 4, "epochs": 12, "seed": 9});
        let (_, _, one) = auto(params.clone(), None, data(&ratings, &spec), 1);
        let (_, _, two) = auto(params, None, data(&ratings, &spec), 2);
        assert_eq!(one.metrics[METRICS_KEY], two.metrics[METRICS_KEY]);
        assert_eq!(one.model.item_factors, two.model.item_factors);
        assert_eq!(one.model.user_factors, two.model.user_factors);
    }

    #[test]
    fn a_candidate_that_refuses_the_params_is_left_out() {
        let (ratings, spec) = known_rank();
        // learning_rate is mf's alone: vbmf is skipped, mf is the model
        let (_, _, fitted) = auto(
            json!({"learning_rate": 0.01, "epochs": 5}),
            None,
            data(&ratings, &spec),
            2,
        );
        assert_eq!(chosen(&fitted.metrics), Some("mf"));
        let log = fitted.metrics[METRICS_KEY]["candidates"].clone();
        assert_eq!(log[0]["algorithm"], json!("vbmf"));
        assert!(
            log[0]["skipped"]
                .as_str()
                .is_some_and(|s| s.contains("learning_rate")),
            "{log}"
        );
        assert_eq!(log[1]["algorithm"], json!("mf"));
        assert_eq!(fitted.params["learning_rate"], json!(0.01));
        // params no candidate takes: the first candidate's error
        let err = configure(&json!({"no_such": 1}), None)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("no_such")));
        let err = configure(&json!({"epochs": -1}), None)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("epochs")));
    }

    #[test]
    fn with_tune_each_candidate_runs_its_search_and_the_better_winner_trains() {
        let (ratings, spec) = known_rank();
        let (steps, max, fitted) = auto(
            json!({"epochs": 6, "seed": 2}),
            Some(3),
            data(&ratings, &spec),
            2,
        );
        assert!(steps <= max, "{steps} steps of at most {max}");
        let record = &fitted.metrics[METRICS_KEY];
        assert_eq!(record["tuned"], json!(true));
        let log = record["candidates"].as_array().cloned().unwrap_or_default();
        let best = log
            .iter()
            .filter_map(|c| {
                c["validation"]
                    .as_f64()
                    .map(|v| (v, c["algorithm"].clone()))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|b| b.1);
        assert_eq!(log.len(), 2, "{log:?}");
        assert_eq!(
            best.as_ref().and_then(Value::as_str),
            chosen(&fitted.metrics)
        );
        // the winner's tuning search is the one recorded: 3 trials
        assert_eq!(fitted.metrics["tune"]["trials"], json!(3));
    }

    #[test]
    fn a_tie_stays_with_the_earlier_candidate() {
        let (ratings, spec) = known_rank();
        let pool = build_pool(1).expect("pool");
        let held = |name: &'static str| {
            let c = registry::find(name)
                .and_then(|e| e.configure)
                .expect("algo");
            let t = tune::configure_search(name, c, &json!({"epochs": 1}), 1).expect("search");
            let mut search = t
                .search(data(&ratings, &spec), &pool, true)
                .expect("search");
            let cancel = CancelFlag::new();
            while !search.is_held() {
                search.step_search(&pool, &cancel).expect("step");
            }
            Candidate {
                algorithm: name,
                search,
            }
        };
        let (mf, vb) = (held("mf"), held("vbmf"));
        assert!(!beats(&mf, &mf), "a tie goes to the earlier");
        assert_eq!(beats(&vb, &mf), vb.score() < mf.score());
        assert_eq!(beats(&mf, &vb), mf.score() < vb.score());
    }
}
