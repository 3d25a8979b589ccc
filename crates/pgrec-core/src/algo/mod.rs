//! The algorithms. Each is one module (or folder, for a family) that turns its JSON params into
//! a [`contract::Configured`] (checked parameters and what the training needs), which starts a
//! [`crate::train::Training`]: the driver of the algorithm's steps ([`crate::train::Step`]), which the caller
//! runs one step at a time and finally turns into a [`crate::train::Fitted`] model.
//!
//! The layers inside: `params` (parameter parsing and checks, tuning knobs), `fold` (fold-in),
//! `contract` (what the pipeline asks of an algorithm), the families (`mf/`, `als`, `ials`,
//! `bpr`, `ease`, `neural/`, with the code they share in `linear/` and `implicit/`), then
//! `registry` (one line per algorithm) and `tune` (a search over any registered algorithm) on
//! top. Lower modules never import higher ones; this file only declares them.

pub mod als;
pub mod auto;
pub mod bpr;
pub mod contract;
pub mod ease;
pub mod fold;
pub mod ials;
pub mod implicit;
pub mod linear;
pub mod mf;
pub mod neural;
pub mod params;
pub mod registry;
pub mod tune;
pub mod vbmf;

#[cfg(test)]
mod tests {
    use super::registry::{available, find};

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
