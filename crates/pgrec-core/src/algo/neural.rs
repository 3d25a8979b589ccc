//! `two_tower` and `ncf`: networks over id embeddings and features (the numeric work is in
//! [`crate::towers`]).

use rayon::ThreadPool;
use serde_json::json;

use super::params::Checked;
use super::{Configured, FeatureRequest, Fitted, Scorer, Target, Training, TrainingData};
use crate::error::Result;
use crate::parallel::CancelFlag;
use crate::towers::{Loss, NcfParams, TwoTowerParams, TwoTowerTrainer};
use crate::train::{EpochReport, IterativeTrainer};
use crate::Rating;

/// Parses and checks the params of `two_tower`.
pub fn configure_two_tower(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    Ok(Box::new(Checked::<TwoTowerParams>::from_json(params)?))
}

/// Parses and checks the params of `ncf`.
pub fn configure_ncf(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    Ok(Box::new(Checked::<NcfParams>::from_json(params)?))
}

impl Configured for Checked<TwoTowerParams> {
    fn stored_params(&self) -> serde_json::Value {
        self.stored()
    }

    fn threads(&self) -> Option<usize> {
        self.run.threads()
    }

    fn needs_ratings(&self) -> bool {
        false
    }

    fn features(&self) -> Option<FeatureRequest<'_>> {
        Some(self.net.feature_request())
    }

    fn start(self: Box<Self>, data: TrainingData, _pool: &ThreadPool) -> Result<Box<dyn Training>> {
        let trainer = TwoTowerTrainer::two_tower(
            data.ratings.clone(),
            data.users,
            data.items,
            data.explicit,
            &self,
        )?;
        Ok(Box::new(NeuralTraining::new(
            trainer,
            data.ratings,
            self.net.loss,
            Scorer::Dot,
        )))
    }
}

impl Configured for Checked<NcfParams> {
    fn stored_params(&self) -> serde_json::Value {
        self.stored()
    }

    fn threads(&self) -> Option<usize> {
        self.run.threads()
    }

    fn needs_ratings(&self) -> bool {
        false
    }

    fn features(&self) -> Option<FeatureRequest<'_>> {
        Some(self.net.feature_request())
    }

    fn start(self: Box<Self>, data: TrainingData, _pool: &ThreadPool) -> Result<Box<dyn Training>> {
        let trainer = TwoTowerTrainer::ncf(
            data.ratings.clone(),
            data.users,
            data.items,
            data.explicit,
            &self,
        )?;
        Ok(Box::new(NeuralTraining::new(
            trainer,
            data.ratings,
            self.net.loss,
            Scorer::Network,
        )))
    }
}

struct NeuralTraining {
    trainer: TwoTowerTrainer,
    /// The training pairs, handed back with the model.
    ratings: Vec<Rating>,
    loss: Loss,
    scorer: Scorer,
}

impl NeuralTraining {
    fn new(trainer: TwoTowerTrainer, ratings: Vec<Rating>, loss: Loss, scorer: Scorer) -> Self {
        Self {
            trainer,
            ratings,
            loss,
            scorer,
        }
    }
}

impl Training for NeuralTraining {
    fn max_steps(&self) -> usize {
        self.trainer.max_epochs()
    }

    fn n_validation(&self) -> usize {
        self.trainer.n_validation()
    }

    fn squared_loss(&self) -> bool {
        self.loss == Loss::Mse
    }

    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<EpochReport> {
        self.trainer.step(pool, cancel)
    }

    fn finish(self: Box<Self>, pool: &ThreadPool) -> Fitted {
        let metrics = json!({
            "loss": self.loss.name(),
            "n_dense_parameters": self.trainer.n_dense_parameters(),
            "n_embedding_parameters": self.trainer.n_embedding_parameters(),
        });
        let model = self.trainer.finish_on(pool);
        Fitted {
            scorer: self.scorer,
            // Models trained on binary relevance (bce, softmax) do not predict ratings.
            target: if self.loss == Loss::Mse {
                Target::Rating
            } else {
                Target::Relevance
            },
            model: model.factors,
            ratings: self.ratings,
            tensors: model.tensors,
            metrics,
        }
    }
}
