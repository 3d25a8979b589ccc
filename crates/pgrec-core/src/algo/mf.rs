//! `mf`: biased matrix factorization by parallel SGD (the numeric work is in [`crate::mf`]).

use rayon::ThreadPool;

use super::fold::{self, FoldTarget, FoldedUser, History};
use super::params::Checked;
use super::{Configured, Fitted, Scorer, Target, Training, TrainingData};
use crate::error::Result;
use crate::mf::{MfParams, MfTrainer};
use crate::parallel::CancelFlag;
use crate::train::{EpochReport, IterativeTrainer};

/// Shrinkage of a folded-in user's bias (ratings' worth of zero residual added to its mean).
const MF_FOLD_IN_BIAS_SHRINK: f32 = 5.0;

/// Parses and checks the params of `mf`.
pub fn configure(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    Ok(Box::new(Checked::<MfParams>::from_json(params)?))
}

impl Configured for Checked<MfParams> {
    fn needs_ratings(&self) -> bool {
        true
    }

    /// The least-squares optimum of the user's terms with the model's penalty (what SGD on the
    /// user alone converges to), with a bias shrunk like a baseline's.
    fn fold_in(&self, target: &FoldTarget<'_>, history: History<'_>) -> Option<FoldedUser> {
        Some(fold::explicit_user(
            target,
            history,
            self.regularization as f32,
            MF_FOLD_IN_BIAS_SHRINK,
        ))
    }

    fn start(self: Box<Self>, data: TrainingData, _pool: &ThreadPool) -> Result<Box<dyn Training>> {
        let trainer = MfTrainer::new(data.ratings, data.n_users, data.n_items, *self)?;
        Ok(Box::new(trainer))
    }
}

impl Training for MfTrainer {
    fn max_steps(&self) -> usize {
        self.max_epochs()
    }

    fn n_validation(&self) -> usize {
        MfTrainer::n_validation(self)
    }

    fn squared_loss(&self) -> bool {
        true
    }

    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<EpochReport> {
        IterativeTrainer::step(self, pool, cancel)
    }

    fn finish(self: Box<Self>, _pool: &ThreadPool) -> Fitted {
        let (model, ratings) = self.finish_with_ratings();
        Fitted {
            scorer: Scorer::Dot,
            target: Target::Rating,
            model,
            ratings,
            tensors: Vec::new(),
            metrics: serde_json::json!({}),
        }
    }
}
