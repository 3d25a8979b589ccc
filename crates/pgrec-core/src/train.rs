//! The step API every iterative algorithm implements. The caller owns the loop: it runs one
//! step at a time (on a pool of its choice), checks for interrupts, reports progress and decides
//! when to stop; the algorithm only supplies the step.

use rayon::ThreadPool;

use crate::error::Result;
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

pub trait IterativeTrainer: Send {
    type Model;

    /// The maximum number of epochs.
    fn max_epochs(&self) -> usize;

    /// Runs one epoch. Must return `CoreError::Cancelled` soon after `cancel` is set.
    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<EpochReport>;

    /// The final model (the best one seen when early stopping was active).
    fn finish(self) -> Self::Model;
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
}
