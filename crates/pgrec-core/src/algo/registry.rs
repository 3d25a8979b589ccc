//! Every algorithm `pgrec.train` knows, one line each: its SQL name, how to configure it, the
//! knobs tuning searches (declared by its params, [`Params::KNOBS`]) and how it folds in new
//! users. The glue and [`super::tune`] ask the registry, never match algorithm names.
//!
//! Adding an algorithm: write a module with its parameters (one serde struct implementing
//! [`Params`], with [`super::params::LoopParams`] flattened in when it iterates, and its
//! `KNOBS` when it can be tuned) and a `configure` function, and add one line to [`REGISTRY`].

use super::als::AlsParams;
use super::bpr::BprParams;
use super::contract::Configured;
use super::ease::EaseParams;
use super::ials::IalsParams;
use super::mf::MfParams;
use super::neural::{NcfParams, TwoTowerParams};
use super::params::{Knob, Params};
use super::vbmf::VbmfParams;
use super::{als, bpr, ease, ials, mf, neural, vbmf};
use crate::error::Result;

/// Parses and checks an algorithm's JSON params.
pub type Configure = fn(&serde_json::Value) -> Result<Box<dyn Configured>>;

/// How an algorithm's models take in a user unseen in training ([`Configured::fold_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoldIn {
    /// The user's vector is fitted against the trained item side (mf, als, ials, bpr).
    Learned,
    /// The user's vector is its history, as in training (ease): nothing to fit.
    Exact,
    /// The model cannot place a new user: retrain with it.
    No,
}

/// One registered algorithm: its SQL name and how to configure it (None: part of the SQL
/// contract, not available in this version), the knobs tuning searches (empty: not tunable)
/// and how it folds in users.
pub struct Entry {
    pub name: &'static str,
    pub configure: Option<Configure>,
    pub knobs: &'static [Knob],
    pub fold_in: FoldIn,
    /// Whether new items are encoded from their features by the trained item tower
    /// ([`Configured::encode_items`]), as training encoded items it had no rows for.
    pub feature_items: bool,
}

/// Every algorithm `pgrec.train` knows, in the order error messages list them.
pub const REGISTRY: &[Entry] = &[
    Entry::new::<MfParams>("mf", mf::configure, FoldIn::Learned),
    Entry::new::<AlsParams>("als", als::configure, FoldIn::Learned),
    Entry::new::<IalsParams>("ials", ials::configure, FoldIn::Learned),
    Entry::new::<BprParams>("bpr", bpr::configure, FoldIn::Learned),
    Entry::new::<NcfParams>("ncf", neural::ncf::configure, FoldIn::No).with_feature_items(),
    Entry::new::<TwoTowerParams>("two_tower", neural::two_tower::configure, FoldIn::No)
        .with_feature_items(),
    Entry::new::<EaseParams>("ease", ease::configure, FoldIn::Exact),
    Entry::new::<VbmfParams>("vbmf", vbmf::configure, FoldIn::Learned),
];

impl Entry {
    /// An algorithm this version trains, with params `P`.
    pub const fn new<P: Params>(name: &'static str, configure: Configure, fold_in: FoldIn) -> Self {
        Self {
            name,
            configure: Some(configure),
            knobs: P::KNOBS,
            fold_in,
            feature_items: false,
        }
    }

    /// An algorithm whose new items are encoded from their features.
    pub const fn with_feature_items(mut self) -> Self {
        self.feature_items = true;
        self
    }

    /// A name of the SQL contract that this version cannot train yet.
    pub const fn planned(name: &'static str) -> Self {
        Self {
            name,
            configure: None,
            knobs: &[],
            fold_in: FoldIn::No,
            feature_items: false,
        }
    }

    /// Whether `"tune": true` applies to it.
    pub fn tunable(&self) -> bool {
        self.configure.is_some() && !self.knobs.is_empty()
    }

    /// Whether its models fold in new users.
    pub fn folds_in(&self) -> bool {
        self.configure.is_some() && self.fold_in != FoldIn::No
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

/// The knobs tuning searches for `algorithm` (None: it cannot be tuned, or is unknown).
pub fn knobs(algorithm: &str) -> Option<&'static [Knob]> {
    find(algorithm).filter(|e| e.tunable()).map(|e| e.knobs)
}

/// Whether models of `algorithm` fold in new users.
pub fn can_fold_in(algorithm: &str) -> bool {
    find(algorithm).is_some_and(Entry::folds_in)
}

/// Whether models of `algorithm` fold in new items (pgrec.fold_in_items) from their
/// interactions: those whose fold-in fits a vector against the other side
/// ([`FoldIn::Learned`]: a user against the items, and with the sides swapped, an item against
/// the users).
pub fn can_fold_in_items(algorithm: &str) -> bool {
    find(algorithm).is_some_and(|e| e.configure.is_some() && e.fold_in == FoldIn::Learned)
}

/// Whether models of `algorithm` encode new items from their features (pgrec.fold_in_items
/// of a version trained with item_features).
pub fn encodes_items_from_features(algorithm: &str) -> bool {
    find(algorithm).is_some_and(|e| e.configure.is_some() && e.feature_items)
}

/// The hint for a model that cannot fold in items.
pub fn fold_in_items_hint() -> String {
    let learned: Vec<&str> = learned_fold_in_names().collect();
    let featured: Vec<&str> = REGISTRY
        .iter()
        .filter(|e| e.configure.is_some() && e.feature_items)
        .map(|e| e.name)
        .collect();
    format!(
        "New items fold in for {} models from their interactions, and for {} models trained with item_features from their features; retrain other models with the new items.",
        join_names(&learned),
        join_names(&featured)
    )
}

/// The algorithms whose models fold in new users, in registry order.
pub fn fold_in_names() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().filter(|e| e.folds_in()).map(|e| e.name)
}

/// The algorithms whose fold-in fits the user's vector ([`FoldIn::Learned`]), in registry
/// order: the list recommend_for_items' documentation gives.
pub fn learned_fold_in_names() -> impl Iterator<Item = &'static str> {
    REGISTRY
        .iter()
        .filter(|e| e.configure.is_some() && e.fold_in == FoldIn::Learned)
        .map(|e| e.name)
}

/// The algorithms `"tune": true` applies to, in registry order.
pub fn tunable_names() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().filter(|e| e.tunable()).map(|e| e.name)
}

/// "a", "a and b", "a, b and c".
pub fn join_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The hint of the refusal to fold a user into a model that cannot: the algorithms whose
/// fold-in fits a vector (registry order), and those to retrain (latest registered first, as
/// the hint has always read).
pub fn fold_in_hint() -> String {
    let learned: Vec<&str> = learned_fold_in_names().collect();
    let retrain: Vec<&str> = REGISTRY
        .iter()
        .rev()
        .filter(|e| e.configure.is_some() && e.fold_in == FoldIn::No)
        .map(|e| e.name)
        .collect();
    format!(
        "Fold-in works for {} models; retrain {} models with the new users.",
        join_names(&learned),
        join_names(&retrain)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // (The SQL suite pins the full list: pgrec.algorithms() in contract.out.)
        let names: Vec<&str> = available().collect();
        for name in ["mf", "als", "ials", "bpr", "ncf", "two_tower", "ease"] {
            assert!(names.contains(&name), "{name} is not available");
        }
    }

    /// What each shipped algorithm answers the pipeline with its default params (the SQL suite
    /// relies on each): (name, needs explicit ratings, sums duplicates (implicit feedback), uses
    /// row weights, weighs the loss by them). Row weights are refused by als and vbmf, used as a
    /// confidence or an entry by ials, bpr and ease, as a share of the loss by mf, ncf and
    /// two_tower. A new algorithm needs no line here: its own tests say what it answers.
    const ANSWERS: &[(&str, bool, bool, bool, bool)] = &[
        ("mf", true, false, true, true),
        ("als", true, false, false, false),
        ("vbmf", true, false, false, false),
        ("ials", false, true, true, false),
        ("bpr", false, true, true, false),
        ("ease", false, true, true, false),
        ("ncf", false, false, true, true),
        ("two_tower", false, false, true, true),
    ];

    #[test]
    fn each_shipped_algorithm_answers_the_pipeline_as_before() {
        use serde_json::json;
        for &(name, ratings, duplicates, weights, loss_share) in ANSWERS {
            let configure = find(name).and_then(|e| e.configure).expect(name);
            let c = configure(&json!({})).unwrap();
            assert_eq!(c.needs_ratings(), ratings, "{name}");
            assert_eq!(c.sums_duplicates(), duplicates, "{name}");
            assert_eq!(c.row_weights(), weights, "{name}");
            assert_eq!(c.weighs_loss(), loss_share, "{name}");
            // implicit-feedback algorithms take a positive threshold when given one
            if duplicates {
                let t = configure(&json!({"positive_threshold": 4})).unwrap();
                assert_eq!(t.positive_threshold(), Some(4.0), "{name}");
            }
        }
    }

    /// What every registered algorithm answers alike: no positive threshold unless given,
    /// worker threads only when given, no item encoder without an item tower.
    #[test]
    fn every_algorithm_takes_threads_and_thresholds_only_when_given() {
        use serde_json::json;
        for e in REGISTRY.iter() {
            let Some(configure) = e.configure else {
                continue;
            };
            let c = configure(&json!({})).unwrap();
            let name = e.name;
            assert_eq!(c.positive_threshold(), None, "{name}");
            assert_eq!(c.threads(), None, "{name}");
            let three = configure(&json!({"threads": 3})).unwrap();
            assert_eq!(three.threads(), Some(3), "{name}");
            if !e.feature_items {
                let none = crate::features::SideFeatures::none(0);
                assert!(c.encode_items(&[], &none, &[]).is_none(), "{name}");
            }
        }
    }

    /// The memory estimates by their formulas (README, "Memory guard"): the default one (rows,
    /// entities and three copies of the factors), and ease's item x item matrices.
    #[test]
    fn memory_estimates_follow_their_formulas() {
        use super::super::contract::{
            MemoryShape, ENTITY_BYTES, FACTOR_COPIES, FIXED_BYTES, LOAD_BYTES_PER_ROW,
            TRAIN_BYTES_PER_ROW,
        };
        let shape = MemoryShape {
            rows: 1_000_000,
            users: 10_000,
            items: 5_000,
        };
        let per_row = LOAD_BYTES_PER_ROW + TRAIN_BYTES_PER_ROW;
        let als =
            (find("als").unwrap().configure.unwrap())(&serde_json::json!({"factors": 10})).unwrap();
        assert_eq!(
            als.memory_bytes(shape),
            FIXED_BYTES + 1_000_000 * per_row + 15_000 * (ENTITY_BYTES + 10 * 4 * FACTOR_COPIES)
        );
        let ease = (find("ease").unwrap().configure.unwrap())(&serde_json::json!({})).unwrap();
        assert_eq!(
            ease.memory_bytes(shape),
            FIXED_BYTES
                + 1_000_000 * per_row
                + 5_000 * 5_000 * (8 + 4 * 2)
                + 10_000 * 5_000 * 4 * 2
                + 15_000 * ENTITY_BYTES
        );
    }

    /// Every algorithm explains a score: rows that add up to the explanation's score, from the
    /// history's items only; exact for ials, als, mf and ease.
    #[test]
    fn every_algorithm_explains_a_score() {
        let model = crate::model::FactorModel {
            factors: 4,
            global_mean: 3.5,
            rating_range: Some((1.0, 5.0)),
            user_bias: vec![],
            item_bias: vec![0.1, -0.2, 0.3, 0.0],
            user_factors: vec![],
            item_factors: vec![
                1.0, 0.2, 0.0, 0.1, 0.8, 0.1, 0.3, 0.0, 0.9, 0.0, 0.2, 0.4, 0.0, 1.0, 0.5, 0.2,
            ],
            head: None,
        };
        let gram = std::sync::OnceLock::new();
        let learned = crate::algo::vbmf::test_fold_tensors(4);
        let target = crate::algo::fold::FoldTarget {
            model: model.view(),
            item_gram: &gram,
            learned: &learned,
        };
        let h = crate::algo::fold::History {
            items: &[0, 1, 3],
            values: &[5.0, 4.0, 5.0],
            weighted: None,
        };
        for e in REGISTRY.iter() {
            let Some(configure) = e.configure else {
                continue;
            };
            let c = configure(&serde_json::json!({})).unwrap();
            let x = c
                .explain(&target, h, 2)
                .unwrap_or_else(|| panic!("{}", e.name));
            let sum: f32 = x.contributions.iter().sum::<f32>() + x.rest;
            assert!(
                (sum - x.score).abs() < 1e-4,
                "{}: {sum} vs {}",
                e.name,
                x.score
            );
            assert!(x.items.iter().all(|i| h.items.contains(i)), "{}", e.name);
            assert!(!x.items.is_empty(), "{}", e.name);
            assert_eq!(
                x.exact,
                ["ials", "als", "mf", "ease", "vbmf"].contains(&e.name),
                "{}",
                e.name
            );
            // Without a threshold every row is a positive: the exact ones share among all.
            if x.exact {
                assert_eq!(x.items, h.items, "{}", e.name);
            }
        }
    }

    /// Tunable means "declares knobs"; what could be tuned and folded in before the registry
    /// declared it still can (checked by name, so a new algorithm needs no change here).
    #[test]
    fn tunable_and_foldable_follow_the_entries() {
        let tunable: Vec<&str> = tunable_names().collect();
        for e in REGISTRY.iter().filter(|e| e.configure.is_some()) {
            assert_eq!(tunable.contains(&e.name), !e.knobs.is_empty(), "{}", e.name);
            assert_eq!(knobs(e.name).is_some(), !e.knobs.is_empty(), "{}", e.name);
        }
        for name in ["mf", "als", "ials", "bpr", "ncf", "two_tower"] {
            assert!(tunable.contains(&name), "{name} is no longer tunable");
        }
        let folds: Vec<&str> = fold_in_names().collect();
        let learned: Vec<&str> = learned_fold_in_names().collect();
        for name in ["mf", "als", "ials", "bpr"] {
            assert!(learned.contains(&name) && folds.contains(&name), "{name}");
        }
        assert!(folds.contains(&"ease") && !learned.contains(&"ease"));
        assert!(!tunable.contains(&"ease"));
        assert!(can_fold_in("ease") && !can_fold_in("ncf") && !can_fold_in("nope"));
        // Items from features: the algorithms with an item tower only.
        for name in ["ncf", "two_tower"] {
            assert!(encodes_items_from_features(name), "{name}");
        }
        for name in ["mf", "als", "ials", "bpr", "ease", "vbmf", "nope"] {
            assert!(!encodes_items_from_features(name), "{name}");
        }
        assert!(!can_fold_in("two_tower"));
        assert!(knobs("ease").is_none() && knobs("nope").is_none());
        assert_eq!(knobs("ncf"), knobs("two_tower"));
    }

    /// The registry's fold-in column agrees with what each algorithm's `fold_in` does.
    #[test]
    fn fold_in_column_matches_the_algorithms() {
        use crate::algo::fold::{FoldTarget, History};
        use crate::model::FactorModel;
        let k = 2;
        let model = FactorModel {
            factors: k,
            global_mean: 3.0,
            rating_range: Some((1.0, 5.0)),
            user_bias: vec![0.0; 1],
            item_bias: vec![0.0; 3],
            user_factors: vec![0.1; k],
            item_factors: vec![0.2, 0.1, -0.1, 0.3, 0.05, 0.2],
            head: None,
        };
        for e in REGISTRY.iter().filter(|e| e.configure.is_some()) {
            let configured = (e.configure.unwrap())(&serde_json::json!({})).unwrap();
            // ease's user vectors have one entry per item.
            let ease_model;
            let view = if e.name == "ease" {
                ease_model = FactorModel {
                    factors: 3,
                    user_factors: vec![0.0; 3],
                    item_factors: vec![0.0; 9],
                    ..model.clone()
                };
                ease_model.view()
            } else {
                model.view()
            };
            let gram = std::sync::OnceLock::new();
            let learned = crate::algo::vbmf::test_fold_tensors(k);
            let target = FoldTarget {
                model: view,
                item_gram: &gram,
                learned: &learned,
            };
            let history = History {
                items: &[0, 2],
                values: &[5.0, 4.0],
                weighted: None,
            };
            let folded = configured.fold_in(&target, history);
            assert_eq!(folded.is_some(), e.folds_in(), "{}", e.name);
        }
    }

    /// The hint lists the registry: the algorithms whose fold-in fits a vector, in registry
    /// order, and those to retrain, latest registered first (the SQL suite pins today's text:
    /// tests/pg_regress/expected/fold_in.out).
    #[test]
    fn fold_in_hint_is_built_from_the_registry() {
        let hint = fold_in_hint();
        assert!(
            hint.starts_with("Fold-in works for mf, als, ials and bpr")
                || hint.starts_with("Fold-in works for mf, als, ials, bpr"),
            "{hint}"
        );
        assert!(hint.contains("retrain two_tower and ncf"), "{hint}");
        assert!(hint.ends_with(" models with the new users."), "{hint}");
        assert!(!hint.contains("ease"), "{hint}");
        assert_eq!(join_names(&["a"]), "a");
        assert_eq!(join_names(&["a", "b"]), "a and b");
        assert_eq!(join_names(&["a", "b", "c"]), "a, b and c");
    }

    /// recommend_for_items' comments in sql/finalize.sql name only algorithms that fold in.
    #[test]
    fn sql_comments_list_the_registrys_fold_in_algorithms() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql/finalize.sql");
        let sql = std::fs::read_to_string(path).expect("sql/finalize.sql");
        // Every algorithm the comments name folds in (a comment never promises more than the
        // registry does).
        let learned: Vec<&str> = learned_fold_in_names().collect();
        let lines: Vec<&str> = sql
            .lines()
            .filter(|l| l.contains("folded in as one user"))
            .collect();
        assert!(!lines.is_empty(), "no recommend_for_items comment found");
        for line in lines {
            let listed = line
                .split_once("active version (")
                .and_then(|(_, rest)| rest.split_once(')'))
                .map(|(list, _)| list)
                .unwrap_or_else(|| panic!("no algorithm list in {line}"));
            let names: Vec<&str> = listed.split(", ").collect();
            assert!(names.len() >= 4, "{line}");
            for name in names {
                assert!(learned.contains(&name), "{line} names {name}");
            }
        }
    }
}
