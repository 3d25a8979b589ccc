//! `two_tower` and `ncf`: networks over id embeddings and features, trained by one trainer.
//!
//! Each side (user, item) has a tower that turns an entity into a vector: an optional id
//! embedding and one embedding per feature column (mean-pooled for arrays, the standardized
//! value for numeric columns) are concatenated and pushed through the tower's layers. What
//! tells the algorithms apart is their [`Head`]: how each side's tower is laid out and how a
//! (user, item) pair is scored from the two tower outputs.
//! - [`two_tower`]: MLP towers that meet in a dot product, so serving is the top-k scan of
//!   matrix factorisation.
//! - [`ncf`]: the id embeddings (mixed with the features by one linear map) go through a
//!   network over [user vector, item vector], stored with the model for serving.
//!
//! Losses ([`Loss`]):
//! - `mse`: rating = global mean + b_u + b_i + the head's score, where each bias is a per-id
//!   bias (plus, for two_tower, one output of the tower, so cold entities get a bias from their
//!   features). The biases absorb the rating level, so the vectors model deviations instead of
//!   one shared direction.
//! - `bce`: binary relevance with `negatives` uniformly sampled items per positive.
//! - `softmax` (two_tower only): in-batch negatives, L2-normalised outputs, a temperature, and
//!   logQ correction.
//!
//! Training is mini-batch Adam. A batch is cut into fixed chunks of rows that run in parallel;
//! their gradients are summed in chunk order, dropout masks are drawn from (seed, epoch, batch,
//! chunk, tower or head) and id-dropout masks from (seed, epoch, batch, side), so one seed
//! gives the same model whatever the number of threads.
//!
//! Two regularisers beyond dropout and L2: id dropout (a row hides its user's or item's id
//! embedding and id bias, so the towers learn to score cold entities from their features;
//! Volkovs et al. 2017, "DropoutNet") and weight averaging (the stored model is the mean of the
//! parameters at the ends of the last `average_epochs` epochs).
//!
//! The files: `params` (the parameters both share), `tower` (one side's tower), `gradients`
//! (one batch: forward, loss, backward and the reduction), `trainer` (the shared trainer and
//! the [`Head`] trait), then one file per algorithm: its params, its head, its `configure`.

mod gradients;
pub mod losses;
pub mod nn;
mod params;
mod tower;
mod trainer;

pub mod ncf;
pub mod two_tower;

#[cfg(test)]
mod fixtures;

pub use ncf::{Ncf, NcfParams};
pub use params::{default_id_dropout, Loss, NeuralParams};
pub use tower::{BySide, Side};
pub use trainer::{Head, NetworkParams, NeuralModel, NeuralTrainer, Softmax};
pub use two_tower::{TwoTower, TwoTowerParams};

/// Coordinates of the random streams: every draw comes from (seed, tag, ...).
const TAG_INIT: u64 = 1;
const TAG_SHUFFLE: u64 = 2;
const TAG_DROPOUT: u64 = 3;
const TAG_NEGATIVES: u64 = 4;
const TAG_ID_DROPOUT: u64 = 5;
