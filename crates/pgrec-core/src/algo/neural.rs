//! `two_tower` and `ncf`: networks over id embeddings and features (the numeric work is in
//! [`crate::towers`]).

use rayon::ThreadPool;
use serde::Serialize;
use serde_json::json;

use super::params::parse_params;
use super::{Configured, FeatureRequest, Fitted, Scorer, Target, Training, TrainingData};
use crate::error::Result;
use crate::parallel::CancelFlag;
use crate::towers::{
    default_id_dropout, Arch, Loss, NcfParams, TwoTowerParams, TwoTowerTrainer, ValidTwoTowerParams,
};
use crate::train::{EpochReport, IterativeTrainer};
use crate::Rating;

struct Neural {
    stored: serde_json::Value,
    valid: ValidTwoTowerParams,
}

/// Parses and checks the params of `two_tower`.
pub fn configure_two_tower(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    let raw: TwoTowerParams = parse_params(params)?;
    let valid = raw.check()?;
    Ok(Box::new(Neural::new(&raw, valid)))
}

/// Parses and checks the params of `ncf`.
pub fn configure_ncf(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    let raw: NcfParams = parse_params(params)?;
    let valid = raw.check()?;
    Ok(Box::new(Neural::new(&raw, valid)))
}

impl Neural {
    /// The stored params carry the defaults that depend on other params (`average_epochs` on
    /// `epochs`, `id_dropout` on `loss`) as they were used.
    fn new(raw: &impl Serialize, valid: ValidTwoTowerParams) -> Self {
        let mut stored = serde_json::to_value(raw).unwrap_or_else(|_| json!({}));
        stored["average_epochs"] = json!(valid.average_epochs);
        if stored["id_dropout"].is_null() {
            stored["id_dropout"] = json!(default_id_dropout(valid.loss));
        }
        Self { stored, valid }
    }
}

impl Configured for Neural {
    fn stored_params(&self) -> serde_json::Value {
        self.stored.clone()
    }

    fn threads(&self) -> Option<usize> {
        self.valid.threads
    }

    fn needs_ratings(&self) -> bool {
        false
    }

    fn features(&self) -> Option<FeatureRequest<'_>> {
        Some(FeatureRequest {
            user_columns: self.valid.columns.user.as_deref(),
            item_columns: self.valid.columns.item.as_deref(),
            exclude: &self.valid.columns.exclude,
            min_count: self.valid.min_count,
        })
    }

    fn start(self: Box<Self>, data: TrainingData, _pool: &ThreadPool) -> Result<Box<dyn Training>> {
        let squared = self.valid.loss == Loss::Mse;
        let loss = self.stored["loss"].clone();
        let scorer = if matches!(self.valid.arch, Arch::Ncf { .. }) {
            Scorer::Network
        } else {
            Scorer::Dot
        };
        let trainer = TwoTowerTrainer::new(
            data.ratings.clone(),
            data.users,
            data.items,
            data.explicit,
            self.valid,
        )?;
        Ok(Box::new(NeuralTraining {
            trainer,
            ratings: data.ratings,
            squared,
            loss,
            scorer,
        }))
    }
}

struct NeuralTraining {
    trainer: TwoTowerTrainer,
    /// The training pairs, handed back with the model.
    ratings: Vec<Rating>,
    squared: bool,
    loss: serde_json::Value,
    scorer: Scorer,
}

impl Training for NeuralTraining {
    fn max_steps(&self) -> usize {
        self.trainer.max_epochs()
    }

    fn n_validation(&self) -> usize {
        self.trainer.n_validation()
    }

    fn squared_loss(&self) -> bool {
        self.squared
    }

    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<EpochReport> {
        self.trainer.step(pool, cancel)
    }

    fn finish(self: Box<Self>, pool: &ThreadPool) -> Fitted {
        let metrics = json!({
            "loss": self.loss,
            "n_dense_parameters": self.trainer.n_dense_parameters(),
            "n_embedding_parameters": self.trainer.n_embedding_parameters(),
        });
        let model = self.trainer.finish_on(pool);
        Fitted {
            scorer: self.scorer,
            // Models trained on binary relevance (bce, softmax) do not predict ratings.
            target: if self.squared {
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
