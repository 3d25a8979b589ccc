//! The parameters `two_tower` and `ncf` share ([`NeuralParams`], flattened into each one's
//! params), the losses they train with, and the checks of layer widths.

use serde::{Deserialize, Serialize};

use crate::algo::contract::FeatureRequest;
use crate::algo::params::{float_in, int_in, Knob, LoopParams};
use crate::error::{CoreError, Result};

/// What `"tune": true` searches for both networks.
pub const NETWORK_KNOBS: &[Knob] = &[
    Knob::Choice("factors", &[16, 32, 64]),
    Knob::Log("learning_rate", 0.0005, 0.01),
    Knob::Log("weight_decay", 0.001, 0.05),
];

/// The parameters every network of this module trains with, flattened into the params of
/// `two_tower` and `ncf`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NeuralParams {
    /// Size of the stored user and item vectors: each tower's output (two_tower), the id
    /// embeddings (ncf).
    pub factors: i64,
    /// Size of each feature column's embedding.
    pub feature_dim: i64,
    pub loss: Loss,
    pub batch_size: i64,
    pub learning_rate: f64,
    /// Decoupled (AdamW) weight decay of the MLP weights.
    pub weight_decay: f64,
    /// L2 penalty on the embedding rows and id biases a rating uses, per rating (as in matrix
    /// factorisation): frequent users and items are held back more.
    pub regularization: f64,
    /// Dropout after each hidden layer while training.
    pub dropout: f64,
    /// While training, the share of rows whose user (and, independently, item) id embedding and
    /// id bias are hidden, so the towers learn to score from features alone, as for cold
    /// entities (DropoutNet, Volkovs et al. 2017). Only used on a side with features. Absent:
    /// [`default_id_dropout`] of the loss (check fills it in).
    pub id_dropout: Option<f64>,
    /// Sampled negatives per positive (bce).
    pub negatives: i64,
    /// Explicit ratings at or above this are positives for bce and softmax.
    pub positive_threshold: f64,
    /// Standard deviation of the initial embeddings.
    pub init_std: f64,
    /// Feature values seen fewer times go to the unseen bucket.
    pub min_count: i64,
    /// The model is the mean of the parameters at the ends of the last `average_epochs` epochs
    /// (tail / stochastic weight averaging); 1 keeps the last epoch's parameters. Absent: the
    /// last half of the epochs (check fills it in).
    pub average_epochs: Option<i64>,
    /// Only these columns of user_features are used (all when absent).
    pub user_feature_columns: Option<Vec<String>>,
    /// Only these columns of item_features are used (all when absent).
    pub item_feature_columns: Option<Vec<String>>,
    /// Columns of either feature source that are left out.
    pub exclude_feature_columns: Vec<String>,
}

/// What a network is trained to predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Explicit ratings (squared error).
    Mse,
    /// Binary relevance with sampled negatives.
    Bce,
    /// In-batch softmax (two_tower only).
    Softmax,
}

impl Loss {
    /// The JSON spelling.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Bce => "bce",
            Loss::Softmax => "softmax",
        }
    }
}

impl NeuralParams {
    /// Checks the shared parameters and fills in `average_epochs` and `id_dropout`.
    pub fn check(&mut self, run: &LoopParams) -> Result<()> {
        int_in("batch_size", self.batch_size, 1, 1 << 16)?;
        let epochs = run.epochs;
        match self.average_epochs {
            None => self.average_epochs = Some(run.epochs().div_ceil(2) as i64),
            Some(n) if n >= 1 && n <= epochs => {}
            Some(n) => {
                return Err(CoreError::param_hint(
                    "average_epochs",
                    format!(
                        "parameter \"average_epochs\" must be between 1 and epochs ({epochs}), got {n}"
                    ),
                    "It is how many of the last epochs are averaged into the model; 1 turns averaging off.",
                ))
            }
        }
        int_in("factors", self.factors, 1, 1024)?;
        int_in("feature_dim", self.feature_dim, 1, 1024)?;
        float_in("learning_rate", self.learning_rate, 0.0, 1.0, true)?;
        float_in("weight_decay", self.weight_decay, 0.0, 10.0, false)?;
        float_in("regularization", self.regularization, 0.0, 100.0, false)?;
        float_in("dropout", self.dropout, 0.0, 0.9, false)?;
        let id_dropout = *self.id_dropout.get_or_insert(default_id_dropout(self.loss));
        // At 1 the id embeddings would never train, yet serving would read them.
        float_in("id_dropout", id_dropout, 0.0, 0.9, false)?;
        int_in("negatives", self.negatives, 1, 1000)?;
        float_in(
            "positive_threshold",
            self.positive_threshold,
            -1e30,
            1e30,
            false,
        )?;
        float_in("init_std", self.init_std, 0.0, 10.0, false)?;
        int_in("min_count", self.min_count, 1, 1 << 30)?;
        if run.validation_fraction > 0.0 && self.loss != Loss::Mse {
            return Err(CoreError::param_hint(
                "validation_fraction",
                "validation_fraction is only used with loss \"mse\"",
                "Leave validation_fraction out, and measure ranking quality with pgrec.evaluate.",
            ));
        }
        Ok(())
    }

    /// The share of rows that hide an id while training.
    pub fn id_dropout(&self) -> f32 {
        self.id_dropout
            .unwrap_or_else(|| default_id_dropout(self.loss)) as f32
    }

    /// How many of the last epochs are averaged into the model.
    pub fn average_epochs(&self, run: &LoopParams) -> usize {
        self.average_epochs
            .map_or(run.epochs().div_ceil(2), |n| n as usize)
    }

    /// The feature columns to load.
    pub fn feature_request(&self) -> FeatureRequest<'_> {
        FeatureRequest {
            user_columns: self.user_feature_columns.as_deref(),
            item_columns: self.item_feature_columns.as_deref(),
            exclude: &self.exclude_feature_columns,
            min_count: self.min_count as usize,
        }
    }
}

/// The share of training rows that hide an id when `id_dropout` is not given. Tuned on
/// MovieLens-100K with 10% of the movies cold (3 shuffles): 0.1 took their RMSE from 1.0341 to
/// 1.0102 (ncf: 1.0435 to 1.0192) for a warm test RMSE of 0.9066 instead of 0.9070 (ncf: 0.9183
/// instead of 0.9167); bce precision@10 stayed at 0.2131 on the core shuffles (0.2161 -> 0.2117
/// in SQL). Softmax lost precision@10 with it (0.2374 -> 0.2268), so it is off there.
pub fn default_id_dropout(loss: Loss) -> f64 {
    match loss {
        Loss::Softmax => 0.0,
        Loss::Mse | Loss::Bce => 0.1,
    }
}

/// Hidden layer widths: at most 8 layers of 1 to 4096.
pub(super) fn check_layers(name: &str, widths: &[i64], hint: &str) -> Result<()> {
    if widths.len() > 8 {
        return Err(CoreError::param(
            name,
            format!(
                "parameter \"{name}\" may list at most 8 layers, got {}",
                widths.len()
            ),
        ));
    }
    match widths.iter().find(|&&w| w <= 0 || w > 4096) {
        Some(w) => Err(CoreError::param_hint(
            name,
            format!("every layer width in \"{name}\" must be between 1 and 4096, got {w}"),
            hint,
        )),
        None => Ok(()),
    }
}

/// The widths of checked layers.
pub(super) fn widths(layers: &[i64]) -> Vec<usize> {
    layers.iter().map(|&w| w as usize).collect()
}
