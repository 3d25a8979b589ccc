//! `mf`: biased matrix factorization by parallel SGD: its params and data-dependent defaults
//! (`params`), the trainer (`trainer`), and here how the pipeline configures it.

use rayon::ThreadPool;

mod params;
mod trainer;

pub use params::{
    DataShape, MfParams, Optimizer, IMPLICIT_MAX_RATINGS, IMPLICIT_MIN_MEAN, REGULARIZATION_FLOOR,
    REGULARIZATION_FULL_RATINGS,
};
pub use trainer::{fit, MfTrainer};

use super::contract::{Configured, Recorded, TrainingData};
use super::fold::{self, FoldTarget, FoldedUser, History};
use super::params::Checked;
use crate::error::Result;
use crate::train::Step;

/// Shrinkage of a folded-in user's bias (ratings' worth of zero residual added to its mean).
const MF_FOLD_IN_BIAS_SHRINK: f32 = 5.0;

/// Parses and checks the params of `mf`.
pub fn configure(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    Ok(Box::new(MfConfigured {
        params: Checked::<MfParams>::from_json(params)?,
        given: params
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
    }))
}

/// The checked params and the keys the caller gave: the others may take data-dependent
/// defaults when the training starts ([`MfParams::adapt_to`]).
pub struct MfConfigured {
    params: Checked<MfParams>,
    given: Vec<String>,
}

impl Recorded for MfConfigured {
    /// The caller's settings with the fixed defaults (the data-dependent ones are reported in
    /// the fitted metrics under DATA_DEFAULTS and in the fitted params).
    fn stored_params(&self) -> serde_json::Value {
        self.params.stored_params()
    }

    fn threads(&self) -> Option<usize> {
        self.params.threads()
    }
}

impl Configured for MfConfigured {
    fn needs_ratings(&self) -> bool {
        true
    }

    /// A row's weight is its share of the squared loss.
    fn row_weights(&self) -> bool {
        true
    }

    fn weighs_loss(&self) -> bool {
        true
    }

    /// The least-squares optimum of the user's terms with the model's penalty (what SGD on the
    /// user alone converges to), with a bias shrunk like a baseline's.
    fn fold_in(&self, target: &FoldTarget<'_>, history: History<'_>) -> Option<FoldedUser> {
        Some(fold::explicit_user(
            target,
            history,
            self.params.regularization as f32,
            MF_FOLD_IN_BIAS_SHRINK,
        ))
    }

    /// Exact for the fold-in's vector (the ridge regression `fold_in` solves), which is not the
    /// vector SGD learned for a trained user: pgrec.explain reports both scores.
    fn explain(
        &self,
        target: &FoldTarget<'_>,
        history: History<'_>,
        item: u32,
    ) -> Option<fold::Explanation> {
        fold::explain_explicit(
            target,
            history,
            self.params.regularization as f32,
            MF_FOLD_IN_BIAS_SHRINK,
            item,
        )
    }

    fn prepare(self: Box<Self>, data: TrainingData, _pool: &ThreadPool) -> Result<Box<dyn Step>> {
        let MfConfigured { params, given } = *self;
        let mut params = params.into_inner();
        let shape = DataShape::of(&data.ratings, data.n_users, data.n_items);
        let adapted = params.adapt_to(&shape, |k| given.iter().any(|g| g == k));
        let params = Checked::new(params)?;
        let trainer = MfTrainer::new_weighted(
            data.ratings,
            data.weighted,
            data.n_users,
            data.n_items,
            params,
        )?;
        Ok(Box::new(trainer.with_data_defaults(adapted)))
    }
}
