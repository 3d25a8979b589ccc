//! What an algorithm offers the training pipeline: its checked parameters ([`Configured`]),
//! what they ask of the pipeline (ratings, features, memory), fold-in, and how its training
//! starts. The PostgreSQL glue runs the same pipeline for every algorithm: look the name up in
//! the [`registry`](super::registry), configure, load the data (and features when asked for),
//! drive the steps of the [`Training`] with interrupts and progress, store what `finish`
//! returns.

use rayon::ThreadPool;

use super::fold::{
    explain_approximately, Explanation, FoldTarget, FoldedUser, History, TrainedRows,
};
use super::params::{Checked, Params};
use crate::error::Result;
use crate::features::SideFeatures;
use crate::train::{Step, Training};
use crate::Rating;

pub use crate::model::Tensor;

/// One entity to encode from its features ([`Configured::encode_items`]): its row in the
/// features, and its row in the trained id embedding and id bias (None: an entity the training
/// never saw, encoded as training encodes entities without rows: a zero id embedding and a
/// zero id bias).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToEncode {
    pub feature_row: u32,
    pub id_row: Option<u32>,
}

/// Which feature columns an algorithm wants from the feature sources.
#[derive(Debug, Clone, Copy)]
pub struct FeatureRequest<'a> {
    /// Only these user feature columns (None: all that have a supported type).
    pub user_columns: Option<&'a [String]>,
    pub item_columns: Option<&'a [String]>,
    /// Columns never used as features on either side.
    pub exclude: &'a [String],
    /// Categories seen fewer times than this share one "other" embedding.
    pub min_count: usize,
}

/// The training data handed to an algorithm. `users` / `items` are empty when the algorithm
/// asked for no features.
pub struct TrainingData {
    /// (user, item, value) with indices below `n_users` / `n_items`, sorted by (user, item).
    pub ratings: Vec<Rating>,
    pub n_users: usize,
    pub n_items: usize,
    /// Whether the values are ratings (false: every row is one interaction).
    pub explicit: bool,
    /// Row weights (event_weights, half_life), per row of `ratings`: for algorithms whose
    /// weight scales a confidence or an entry (ials, bpr, ease), the sum over its source rows
    /// of weight x value (value 1 per row with rating_col NULL); for those whose weight is the
    /// row's share of the loss ([`Configured::weighs_loss`]: mf, ncf, two_tower), the weight.
    /// Only given to algorithms whose [`Configured::row_weights`] is true.
    pub weighted: Option<Vec<f32>>,
    pub users: SideFeatures,
    pub items: SideFeatures,
}

/// What every checked parameter set answers the same way (implemented once, for
/// [`Checked`]).
pub trait Recorded {
    /// The parameters as the version records them: every parameter, defaults included.
    fn stored_params(&self) -> serde_json::Value;
    /// Worker threads asked for (None: the server's default).
    fn threads(&self) -> Option<usize>;
}

impl<P: Params> Recorded for Checked<P> {
    fn stored_params(&self) -> serde_json::Value {
        self.stored()
    }

    fn threads(&self) -> Option<usize> {
        self.run().threads()
    }
}

/// What a training's memory estimate is made for: source rows, distinct users and items.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryShape {
    pub rows: u64,
    pub users: u64,
    pub items: u64,
}

/// Bytes per source row while it is read: the (user, item, value) row, the key maps' share, and
/// the sort that checks duplicates.
pub const LOAD_BYTES_PER_ROW: u64 = 24;
/// Bytes per row while training, on top of loading: the copies an algorithm keeps (CSR
/// orientations, shuffled or held-out copies, the seen items written with the version).
pub const TRAIN_BYTES_PER_ROW: u64 = 8;
/// Bytes per user or item beyond its factors: key, bias, index entries.
pub const ENTITY_BYTES: u64 = 96;
/// Copies of the factor matrices alive at the peak (the factors, optimiser state or a
/// best-epoch snapshot, the copy being written).
pub const FACTOR_COPIES: u64 = 3;
/// What a training adds whatever its size: the pool's threads, SPI and plan caches.
pub const FIXED_BYTES: u64 = 64 << 20;

/// Checked parameters: what the version stores, and what the pipeline must provide.
pub trait Configured: Recorded + Send {
    /// Estimated peak memory of a training on data of this shape, in bytes (the memory guard
    /// refuses trainings above pgrec.max_training_memory with it). The default counts rows,
    /// entities and the `factors` parameter; see the constants above, calibrated against
    /// measured peaks (README, "Memory guard").
    fn memory_bytes(&self, shape: MemoryShape) -> u64 {
        let k = self
            .stored_params()
            .get("factors")
            .and_then(|f| f.as_u64())
            .unwrap_or(64);
        FIXED_BYTES
            .saturating_add(
                shape
                    .rows
                    .saturating_mul(LOAD_BYTES_PER_ROW + TRAIN_BYTES_PER_ROW),
            )
            .saturating_add(
                (shape.users + shape.items)
                    .saturating_mul(ENTITY_BYTES + k.saturating_mul(4 * FACTOR_COPIES)),
            )
    }

    /// The hint of the memory guard's refusal, when this algorithm has a better one than
    /// "fewer rows or fewer factors".
    fn memory_hint(&self) -> Option<&'static str> {
        None
    }

    /// Whether the source must have a rating column.
    fn needs_ratings(&self) -> bool {
        false
    }
    /// Rows below this value are seen but not positive (ranking models given ratings).
    fn positive_threshold(&self) -> Option<f32> {
        None
    }
    /// Whether repeated (user, item) rows add up (implicit feedback) instead of being an error.
    fn sums_duplicates(&self) -> bool {
        false
    }
    /// Whether the algorithm uses row weights (event_weights, half_life; TrainingData's
    /// `weighted`). The pipeline refuses those params for an algorithm that does not.
    fn row_weights(&self) -> bool {
        false
    }
    /// Whether a row weight is the row's share of the loss (mf, ncf, two_tower), so that
    /// `TrainingData::weighted` and a fold-in's `History::weighted` hold the weight itself
    /// rather than weight x value.
    fn weighs_loss(&self) -> bool {
        false
    }
    /// The feature columns wanted, or None when the algorithm uses no features.
    fn features(&self) -> Option<FeatureRequest<'_>> {
        None
    }
    /// Embeds a user from its history against a trained model of this algorithm (fold-in);
    /// None when the algorithm cannot.
    fn fold_in(&self, _target: &FoldTarget<'_>, _history: History<'_>) -> Option<FoldedUser> {
        None
    }
    /// Embeds an item from its interactions against a trained model (pgrec.fold_in_items):
    /// `target` is the model with its sides swapped ([`crate::model::ModelView::transposed`]:
    /// its "users" are the items, its "items" the users), `history` the item's users. The
    /// default is the user fold-in with the sides swapped; algorithms whose item update
    /// differs from their user update override it.
    fn fold_in_item(
        &self,
        target: &FoldTarget<'_>,
        history: History<'_>,
        _trained: &TrainedRows<'_>,
    ) -> Option<FoldedUser> {
        self.fold_in(target, history)
    }
    /// Why `item` scores as it does for a user with this history (pgrec.explain): exact where
    /// the algorithm's fold-in has a closed form that is linear in the history (ials, als, mf,
    /// ease override this); otherwise a stand-in ([`explain_approximately`]) over the history's
    /// positives. None when the system cannot be solved.
    fn explain(
        &self,
        target: &FoldTarget<'_>,
        history: History<'_>,
        item: u32,
    ) -> Option<Explanation> {
        let (items, _) = history.positives(self.positive_threshold());
        explain_approximately(target, &items, item)
    }
    /// Encodes items from their features through the item tower a version stored
    /// (`tensors`), as training encoded its own items (pgrec.fold_in_items of a model whose
    /// items come from features: two_tower, ncf). `features` are encoded with the version's
    /// recorded specs. Returns (vectors, biases); None when the algorithm has no item tower.
    fn encode_items(
        &self,
        _tensors: &[Tensor],
        _features: &SideFeatures,
        _items: &[ToEncode],
    ) -> Option<Result<(Vec<f32>, Vec<f32>)>> {
        None
    }
    /// Prepares the algorithm's training (on `pool`, which the caller installs).
    fn prepare(self: Box<Self>, data: TrainingData, pool: &ThreadPool) -> Result<Box<dyn Step>>;

    /// Starts the training: the algorithm prepared by [`Configured::prepare`] under the driver
    /// that runs its steps, stops it early and keeps its best model.
    fn start(self: Box<Self>, data: TrainingData, pool: &ThreadPool) -> Result<Training> {
        let params = self.stored_params();
        Ok(Training::new(self.prepare(data, pool)?, params))
    }
}
