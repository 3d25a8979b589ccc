//! The algorithm interface and its registry. Every algorithm is one module here that turns its
//! JSON params into a [`Configured`] (checked parameters and what the training needs), which
//! starts a [`Training`] that the caller drives one step at a time and finally turns into a
//! [`Fitted`] model. The PostgreSQL glue runs the same pipeline for every algorithm: look the name
//! up in [`REGISTRY`], configure, load the data (and features when asked for), drive the steps
//! with interrupts and progress, store what `finish` returns.
//!
//! Adding an algorithm: write a module with a `configure` function and add one line to
//! [`REGISTRY`].

use rayon::ThreadPool;

use crate::error::Result;
use crate::features::SideFeatures;
use crate::model::FactorModel;
use crate::parallel::CancelFlag;
use crate::train::EpochReport;
use crate::Rating;

pub mod mf;
pub mod neural;
pub mod params;

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
    Entry::planned("als"),
    Entry::planned("ials"),
    Entry::planned("bpr"),
    Entry::new("ncf", neural::configure_ncf),
    Entry::new("two_tower", neural::configure_two_tower),
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

/// Checked parameters: what the version stores, and what the pipeline must provide.
pub trait Configured: Send {
    /// The parameters as the version records them: every parameter, defaults included.
    fn stored_params(&self) -> serde_json::Value;
    /// Worker threads asked for (None: the server's default).
    fn threads(&self) -> Option<usize>;
    /// Whether the source must have a rating column.
    fn needs_ratings(&self) -> bool;
    /// The feature columns wanted, or None when the algorithm uses no features.
    fn features(&self) -> Option<FeatureRequest<'_>>;
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
        assert_eq!(available().collect::<Vec<_>>(), ["mf", "ncf", "two_tower"]);
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

    #[test]
    fn unknown_params_are_refused_by_every_algorithm() {
        for name in available() {
            let entry = find(name).unwrap();
            let err = (entry.configure.unwrap())(&serde_json::json!({"no_such": 1}));
            assert!(err.is_err(), "{name} accepted an unknown parameter");
        }
    }
}
