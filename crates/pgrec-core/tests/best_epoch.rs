//! Every algorithm that stops early returns the model of its best validation epoch, not the
//! last one (issue 29, bug 1: ials' `finish` ignoring its best-epoch snapshot).
//!
//! The check needs no access to the training's internals: training is deterministic in its
//! seed and an epoch does not depend on how many epochs were asked for, so the model of epoch
//! B is what a training of exactly B epochs returns. For each algorithm: train with early
//! stopping until it stops, take the epoch B with the best reported validation measure (the
//! first of equals: a tie is no improvement), train again with `epochs` = B, and require the
//! same reports for the first B epochs and the same model (factors, biases, tensors).

mod common;

use common::{data, train};
use pgrec_core::synth::{generate, SynthSpec};
use pgrec_core::Rating;
use serde_json::{json, Value};

fn ratings(seed: u64) -> Vec<Rating> {
    generate(&SynthSpec {
        n_users: 300,
        n_items: 200,
        n_ratings: 12_000,
        ..SynthSpec::small(seed)
    })
    .0
}

/// The index of the best validation measure (the first of equal ones).
fn best_epoch(values: &[f64], higher_is_better: bool) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        let better = if higher_is_better {
            v > values[best]
        } else {
            v < values[best]
        };
        if better {
            best = i;
        }
    }
    best
}

fn with_epochs(params: &Value, epochs: usize) -> Value {
    let mut p = params.clone();
    p["epochs"] = json!(epochs);
    p
}

fn returns_the_best_epoch(name: &str, params: Value, explicit: bool) {
    let (n_users, n_items) = (300, 200);
    let rows = ratings(5);
    let (reports, fitted) = train(
        name,
        params.clone(),
        data(rows.clone(), n_users, n_items, explicit),
    );
    let measured: Vec<_> = reports
        .iter()
        .map(|r| {
            r.validation
                .unwrap_or_else(|| panic!("{name}: no validation"))
        })
        .collect();
    let values: Vec<f64> = measured.iter().map(|m| m.value).collect();
    if std::env::var_os("PGREC_SHOW").is_some() {
        eprintln!("{name}: {values:?} stop={}", reports.last().unwrap().stop);
    }
    let best = best_epoch(&values, measured[0].metric.higher_is_better());
    assert!(
        best + 1 < reports.len(),
        "{name}: the last epoch is the best one, the case shows nothing: {values:?}"
    );
    assert!(
        reports.last().unwrap().stop,
        "{name}: early stopping never fired: {values:?}"
    );
    let (again, at_best) = train(
        name,
        with_epochs(&params, best + 1),
        data(rows, n_users, n_items, explicit),
    );
    assert_eq!(
        again,
        reports[..best + 1],
        "{name}: the first epochs depend on the number of epochs asked for"
    );
    assert!(
        fitted.model == at_best.model,
        "{name}: finish did not return the model of the best epoch ({} of {}: {values:?})",
        best + 1,
        reports.len()
    );
    assert_eq!(fitted.tensors, at_best.tensors, "{name}: tensors");
}

#[test]
fn mf_returns_its_best_epoch() {
    returns_the_best_epoch(
        "mf",
        json!({"factors": 32, "epochs": 60, "learning_rate": 0.05, "regularization": 0.0,
               "validation_fraction": 0.2, "patience": 2, "learning_rate_decay": 1.0,
               "optimizer": "sgd", "seed": 3}),
        true,
    );
}

#[test]
fn als_returns_its_best_epoch() {
    returns_the_best_epoch(
        "als",
        json!({"factors": 32, "epochs": 40, "regularization": 0.001,
               "validation_fraction": 0.2, "patience": 2, "seed": 3}),
        true,
    );
}

#[test]
fn ials_returns_its_best_epoch() {
    returns_the_best_epoch(
        "ials",
        json!({"factors": 48, "epochs": 40, "regularization": 0.001, "alpha": 10.0,
               "validation_fraction": 0.2, "patience": 2, "seed": 3}),
        false,
    );
}

#[test]
fn bpr_returns_its_best_epoch() {
    returns_the_best_epoch(
        "bpr",
        json!({"factors": 32, "epochs": 60, "learning_rate": 0.1, "regularization": 0.0,
               "validation_fraction": 0.2, "patience": 2, "seed": 3}),
        false,
    );
}

#[test]
fn ncf_returns_its_best_epoch() {
    returns_the_best_epoch(
        "ncf",
        json!({"factors": 16, "epochs": 40, "average_epochs": 1, "regularization": 0.0,
               "learning_rate": 0.01, "validation_fraction": 0.2, "patience": 2, "seed": 3}),
        true,
    );
}

#[test]
fn two_tower_returns_its_best_epoch() {
    returns_the_best_epoch(
        "two_tower",
        json!({"factors": 16, "epochs": 40, "average_epochs": 1, "regularization": 0.0,
               "learning_rate": 0.01, "validation_fraction": 0.2, "patience": 2, "seed": 3}),
        true,
    );
}
