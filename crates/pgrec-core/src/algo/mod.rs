//! The algorithm interface and its registry. Every algorithm is one module here that turns its
//! JSON params into a [`Configured`] (checked parameters and what the training needs), which
//! starts a [`Training`] that the caller drives one step at a time and finally turns into a
//! [`Fitted`] model. The PostgreSQL glue runs the same pipeline for every algorithm: look the name
//! up in [`REGISTRY`], configure, load the data (and features when asked for), drive the steps
//! with interrupts and progress, store what `finish` returns.
//!
//! Adding an algorithm: write a module with its parameters (one serde struct implementing
//! [`params::Params`], with [`params::LoopParams`] flattened in when it iterates) and a
//! `configure` function, and add one line to [`REGISTRY`].

use rayon::ThreadPool;

use crate::error::Result;
use crate::features::SideFeatures;
use crate::model::FactorModel;
use crate::parallel::CancelFlag;
use crate::train::EpochReport;
use crate::Rating;

pub mod als;
pub mod bpr;
pub mod ease;
pub mod fold;
pub mod ials;
pub mod implicit;
pub mod mf;
pub mod neural;
pub mod params;
pub mod tune;

/// Parses and checks an algorithm's JSON params.
pub type Configure = fn(&serde_json::Value) -> Result<Box<dyn Configured>>;

/// One registered algorithm: its SQL name and how to configure it (None: part of the SQL
/// contract, not available in this version).
pub struct Entry {
    pub name: &'static str,
    pub configure: Option<Configure>,
}

/// Every algorithm `pgrec.train` knows, in the order error messages list them.
pub const REGISTRY: &[Entry] = &[
    Entry::new("mf", mf::configure),
    Entry::new("als", als::configure),
    Entry::new("ials", ials::configure),
    Entry::new("bpr", bpr::configure),
    Entry::new("ncf", neural::ncf::configure),
    Entry::new("two_tower", neural::two_tower::configure),
    Entry::new("ease", ease::configure),
];

impl Entry {
    /// An algorithm this version trains.
    pub const fn new(name: &'static str, configure: Configure) -> Self {
        Self {
            name,
            configure: Some(configure),
        }
    }

    /// A name of the SQL contract that this version cannot train yet.
    pub const fn planned(name: &'static str) -> Self {
        Self {
            name,
            configure: None,
        }
    }
}

/// The registry entry called `name`.
pub fn find(name: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.name == name)
}

/// The names of the algorithms that can be trained in this version.
pub fn available() -> impl Iterator<Item = &'static str> {
    REGISTRY
        .iter()
        .filter(|e| e.configure.is_some())
        .map(|e| e.name)
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
    pub users: SideFeatures,
    pub items: SideFeatures,
}

/// What every checked parameter set answers the same way (implemented once, for
/// [`params::Checked`]).
pub trait Recorded {
    /// The parameters as the version records them: every parameter, defaults included.
    fn stored_params(&self) -> serde_json::Value;
    /// Worker threads asked for (None: the server's default).
    fn threads(&self) -> Option<usize>;
}

impl<P: params::Params> Recorded for params::Checked<P> {
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
    /// The feature columns wanted, or None when the algorithm uses no features.
    fn features(&self) -> Option<FeatureRequest<'_>> {
        None
    }
    /// Embeds a user from its history against a trained model of this algorithm (fold-in);
    /// None when the algorithm cannot.
    fn fold_in(
        &self,
        _target: &fold::FoldTarget<'_>,
        _history: fold::History<'_>,
    ) -> Option<fold::FoldedUser> {
        None
    }
    /// Prepares the training (on `pool`, which the caller installs).
    fn start(self: Box<Self>, data: TrainingData, pool: &ThreadPool) -> Result<Box<dyn Training>>;
}

/// A training in progress, driven one step (epoch or iteration) at a time by the caller.
pub trait Training: Send {
    fn max_steps(&self) -> usize;
    /// Rows held out for validation.
    fn n_validation(&self) -> usize;
    /// Whether the step loss is a squared rating error (reported as RMSE).
    fn squared_loss(&self) -> bool;
    /// Runs one step. Must return `CoreError::Cancelled` soon after `cancel` is set.
    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<EpochReport>;
    /// The model to store (the best one seen when early stopping was active).
    fn finish(self: Box<Self>, pool: &ThreadPool) -> Fitted;
}

/// How serving scores a (user, item) pair of a stored model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scorer {
    /// global mean + user bias + item bias + <user vector, item vector>
    Dot,
    /// the biases plus the stored scoring network over [user vector, item vector]
    Network,
}

/// What the score estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A rating on the source's scale (evaluate reports RMSE and MAE).
    Rating,
    /// Relevance for ranking only (evaluate reports AUC instead).
    Relevance,
}

impl Scorer {
    /// The catalog spelling (model_versions.scorer).
    pub fn name(self) -> &'static str {
        match self {
            Scorer::Dot => "dot",
            Scorer::Network => "network",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Scorer::Dot, Scorer::Network]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

impl Target {
    /// The catalog spelling (model_versions.target).
    pub fn name(self) -> &'static str {
        match self {
            Target::Rating => "rating",
            Target::Relevance => "relevance",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Target::Rating, Target::Relevance]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

/// The key of a [`Fitted`]'s metrics that lists the defaults a training chose from its data
/// (key -> value); the caller stores them with the version's params.
pub const DATA_DEFAULTS: &str = "data_defaults";

/// What a finished training hands back for storage.
pub struct Fitted {
    /// How serving scores pairs, and what the scores estimate.
    pub scorer: Scorer,
    pub target: Target,
    pub model: FactorModel,
    /// The training pairs, sorted by (user, item): the items each user has seen.
    pub ratings: Vec<Rating>,
    /// Named parameter blocks beyond the factors: (name, rows, cols, values).
    pub tensors: Vec<(String, usize, usize, Vec<f32>)>,
    /// Algorithm-specific figures for the version's metrics.
    pub metrics: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_spellings_round_trip() {
        for s in [Scorer::Dot, Scorer::Network] {
            assert_eq!(Scorer::from_name(s.name()), Some(s));
        }
        for t in [Target::Rating, Target::Relevance] {
            assert_eq!(Target::from_name(t.name()), Some(t));
        }
        assert_eq!(Scorer::from_name("ncf"), None);
        assert_eq!(Target::from_name("bce"), None);
    }

    #[test]
    fn registry_names_are_unique_and_found() {
        for (i, e) in REGISTRY.iter().enumerate() {
            assert!(
                REGISTRY[..i].iter().all(|o| o.name != e.name),
                "{} twice",
                e.name
            );
            assert_eq!(find(e.name).map(|f| f.name), Some(e.name));
        }
        assert!(find("nope").is_none());
        assert_eq!(
            available().collect::<Vec<_>>(),
            ["mf", "als", "ials", "bpr", "ncf", "two_tower", "ease"]
        );
    }

    #[test]
    fn every_available_algorithm_configures_from_empty_params() {
        for name in available() {
            let entry = find(name).unwrap();
            let configured = (entry.configure.unwrap())(&serde_json::json!({})).unwrap();
            let stored = configured.stored_params();
            assert!(
                stored.is_object() && !stored.as_object().unwrap().is_empty(),
                "{name}"
            );
            // The stored params configure the same algorithm again (a training can be replayed).
            let again = (entry.configure.unwrap())(&stored).unwrap();
            assert_eq!(again.stored_params(), stored, "{name}");
        }
    }

    fn configure_err(name: &str, params: serde_json::Value) -> crate::CoreError {
        match (find(name).unwrap().configure.unwrap())(&params) {
            Ok(_) => panic!("{name} accepted {params}"),
            Err(e) => e,
        }
    }

    /// The parameter names and the messages the SQL golden tests show (and the names existing
    /// catalogs store) stay as they were.
    #[test]
    fn parameter_names_and_messages_are_stable() {
        use serde_json::json;
        let valid = |name: &str| {
            configure_err(name, json!({"no_such": 1}))
                .hint()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            valid("mf"),
            "Valid parameters: bias_regularization, blocks, epochs, factors, implicit, \
             implicit_adaptive, implicit_decouple, implicit_items, implicit_items_learning_rate, \
             implicit_items_size_exponent, implicit_learning_rate, implicit_norm_exponent, \
             implicit_regularization, implicit_size_exponent, init_std, learning_rate, \
             learning_rate_decay, optimizer, patience, regularization, regularization_exponent, \
             seed, threads, validation_fraction, weight_decay."
        );
        assert_eq!(
            valid("ncf"),
            "Valid parameters: average_epochs, batch_size, dropout, epochs, \
             exclude_feature_columns, factors, feature_dim, id_dropout, init_std, \
             item_feature_columns, layers, learning_rate, loss, min_count, negatives, patience, \
             positive_threshold, regularization, seed, threads, user_feature_columns, \
             validation_fraction, weight_decay."
        );
        assert_eq!(
            valid("two_tower"),
            "Valid parameters: average_epochs, batch_size, dropout, epochs, \
             exclude_feature_columns, factors, feature_dim, id_dim, id_dropout, init_std, \
             item_feature_columns, learning_rate, logq_correction, loss, min_count, negatives, \
             patience, positive_threshold, regularization, seed, temperature, threads, \
             tower_layers, user_feature_columns, validation_fraction, weight_decay."
        );
        let message = |name: &str, params| {
            let e = configure_err(name, params);
            (e.to_string(), e.hint().map(str::to_string))
        };
        assert_eq!(
            message("mf", json!({"optimizer": "adam"})),
            (
                "unknown optimizer \"adam\"".into(),
                Some("Use \"sgd\" or \"adagrad\".".into())
            )
        );
        assert_eq!(
            message("mf", json!({"factors": "eight"})).0,
            "invalid value for parameter \"factors\": invalid type: string \"eight\", expected an integer"
        );
        assert_eq!(
            message("mf", json!({"epochs": -3})).0,
            "parameter \"epochs\" must be between 1 and 10000, got -3"
        );
        assert_eq!(
            message("two_tower", json!({"loss": "hinge"})),
            (
                "unknown loss \"hinge\"".into(),
                Some(
                    "Use \"mse\" (explicit ratings), \"bce\" (sampled negatives) or \"softmax\" \
                     (in-batch negatives)."
                        .into()
                )
            )
        );
        assert_eq!(
            message("ncf", json!({"loss": "hinge"})),
            (
                "unknown loss \"hinge\"".into(),
                Some("Use \"mse\" (explicit ratings) or \"bce\" (sampled negatives).".into())
            )
        );
        assert_eq!(
            message("ncf", json!({"loss": "softmax"})).0,
            "algorithm \"ncf\" cannot use loss \"softmax\""
        );
        assert_eq!(
            message("two_tower", json!({"epochs": 4, "average_epochs": 6})).0,
            "parameter \"average_epochs\" must be between 1 and epochs (4), got 6"
        );
    }

    /// Stored params spell every value as the user would (enums as their JSON names), with the
    /// defaults that depend on other params filled in.
    #[test]
    fn stored_params_resolve_dependent_defaults() {
        use serde_json::json;
        let stored = |name: &str, params| {
            (find(name).unwrap().configure.unwrap())(&params)
                .unwrap()
                .stored_params()
        };
        let mf = stored("mf", json!({}));
        assert_eq!(
            (&mf["optimizer"], &mf["threads"]),
            (&json!("sgd"), &json!(null))
        );
        let tt = stored(
            "two_tower",
            json!({"epochs": 5, "threads": 1, "loss": "softmax"}),
        );
        assert_eq!(tt["loss"], json!("softmax"));
        assert_eq!(tt["average_epochs"], json!(3));
        assert_eq!(tt["id_dropout"], json!(0.0));
        assert_eq!(tt["threads"], json!(1));
        assert_eq!(tt["user_feature_columns"], json!(null));
        let ncf = stored("ncf", json!({"id_dropout": 0.25, "average_epochs": 1}));
        assert_eq!(
            (&ncf["id_dropout"], &ncf["average_epochs"], &ncf["epochs"]),
            (&json!(0.25), &json!(1), &json!(20))
        );
    }

    #[test]
    fn unknown_params_are_refused_by_every_algorithm() {
        for name in available() {
            let entry = find(name).unwrap();
            let err = (entry.configure.unwrap())(&serde_json::json!({"no_such": 1}));
            assert!(err.is_err(), "{name} accepted an unknown parameter");
        }
    }
}
