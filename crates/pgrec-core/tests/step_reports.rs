//! What every registered algorithm reports per step, on the same small rated set: a training
//! loss that is a finite positive mean (not a sum, not a constant), and with a validation
//! share a finite measurement in its metric's range. The progress, the metrics and early
//! stopping read these reports.

mod common;

use pgrec_core::algo::registry::REGISTRY;
use pgrec_core::synth::{generate, SynthSpec};
use pgrec_core::train::Metric;
use serde_json::json;

#[test]
fn every_algorithm_reports_a_mean_loss_and_a_measurement_in_range() {
    let spec = SynthSpec {
        n_users: 300,
        n_items: 120,
        n_ratings: 9_000,
        rank: 4,
        noise_std: 0.3,
        ..SynthSpec::small(3)
    };
    let (ratings, _) = generate(&spec);
    for e in REGISTRY.iter().filter(|e| e.configure.is_some()) {
        let name = e.name;
        // Three epochs with a fifth held out where the algorithm iterates; ease takes one step.
        let params = if name == "ease" {
            json!({})
        } else {
            json!({"epochs": 3, "validation_fraction": 0.2, "seed": 1})
        };
        let data = common::data(ratings.clone(), spec.n_users, spec.n_items, true);
        let (reports, _) = common::train(name, params, data);
        assert!(!reports.is_empty(), "{name}");
        for r in &reports {
            assert!(
                r.train_loss.is_finite() && r.train_loss > 0.0,
                "{name}: epoch {} loss {}",
                r.epoch,
                r.train_loss
            );
            if let Some(m) = r.validation {
                let top = match m.metric {
                    Metric::Rmse => 3.0,
                    _ => 1.0,
                };
                assert!(
                    m.value.is_finite() && m.value > 0.0 && m.value <= top,
                    "{name}: epoch {} {:?}",
                    r.epoch,
                    m
                );
            } else {
                assert_eq!(
                    name, "ease",
                    "{name} measured nothing on its validation share"
                );
            }
        }
        let (first, last) = (reports[0].train_loss, reports[reports.len() - 1].train_loss);
        match name {
            // The squared error of the factors on the residuals falls sweep by sweep.
            "als" | "mf" => assert!(last < first, "{name}: {first} -> {last}"),
            // The mean of -ln sigmoid(x_uij) over the epoch's steps starts at ln 2 (small
            // starting factors, x near 0) and can only be below it on average.
            "bpr" => assert!(first < 0.7, "bpr: first epoch's mean loss {first}"),
            _ => {}
        }
    }
}
