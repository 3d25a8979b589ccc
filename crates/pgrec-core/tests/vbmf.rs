//! `vbmf` on data with a known answer: the rank, the noise and the priors of the generator are
//! known, and vbmf is told none of them.

mod common;

use pgrec_core::kernels::Kernels;
use pgrec_core::metrics::rmse;
use pgrec_core::synth::{generate, SynthSpec};
use pgrec_core::Rating;
use serde_json::json;

/// Every tenth rating is a test rating.
fn holdout(all: Vec<Rating>) -> (Vec<Rating>, Vec<Rating>) {
    let (test, train): (Vec<_>, Vec<_>) =
        all.into_iter().enumerate().partition(|(n, _)| n % 10 == 0);
    (
        train.into_iter().map(|(_, r)| r).collect(),
        test.into_iter().map(|(_, r)| r).collect(),
    )
}

fn test_rmse(fitted: &pgrec_core::train::Fitted, test: &[Rating]) -> f64 {
    let k = Kernels::detect();
    let pairs: Vec<(f32, f32)> = test
        .iter()
        .map(|r| (fitted.model.predict(k, r.user, r.item), r.value))
        .collect();
    rmse(&pairs)
}

/// Rank 4, noise 0.5, sparse enough (30 ratings per user on average) that a fixed penalty
/// must trade fit for shrinkage. vbmf, given 16 dimensions, learns the noise within 10% and
/// predicts better than als and mf with their defaults and than als with the best of a grid of
/// penalties.
#[test]
fn learns_the_noise_and_beats_fixed_penalties_on_data_of_known_rank() {
    let spec = SynthSpec {
        n_users: 2_000,
        n_items: 1_000,
        n_ratings: 60_000,
        rank: 4,
        noise_std: 0.5,
        ..SynthSpec::small(11)
    };
    let (all, _) = generate(&spec);
    let (train, test) = holdout(all);
    let data = || common::data(train.clone(), spec.n_users, spec.n_items, true);
    let (_, vb) = common::train("vbmf", json!({"factors": 16}), data());
    let vb_rmse = test_rmse(&vb, &test);
    let noise = vb.metrics["noise_std"].as_f64().unwrap();
    let mut others = Vec::new();
    for (name, params) in [
        ("mf", json!({})),
        ("als", json!({})),
        ("als", json!({"regularization": 0.03})),
        ("als", json!({"regularization": 0.3})),
        ("als", json!({"regularization": 1.0})),
    ] {
        let (_, fitted) = common::train(name, params.clone(), data());
        others.push((name, params, test_rmse(&fitted, &test)));
    }
    eprintln!(
        "vbmf {vb_rmse:.4} (noise {noise:.3}, metrics {}), others {others:?}",
        vb.metrics
    );
    assert!(
        (noise - 0.5).abs() < 0.05,
        "learned noise std {noise}, generated with 0.5"
    );
    for (name, params, e) in &others {
        assert!(vb_rmse < *e, "vbmf {vb_rmse} vs {name} {params}: {e}");
    }
}

/// A dimension the data does not support is shrunk: on rank-2 data with little noise, of 8
/// dimensions the learned item prior keeps at least the 2 true ones and not all 8 (4 here), and the
/// learned bias spreads match the generator's.
#[test]
fn unsupported_dimensions_are_shrunk() {
    let spec = SynthSpec {
        n_users: 1_000,
        n_items: 500,
        n_ratings: 50_000,
        rank: 2,
        noise_std: 0.2,
        ..SynthSpec::small(5)
    };
    let (all, _) = generate(&spec);
    let data = common::data(all, spec.n_users, spec.n_items, true);
    let (_, vb) = common::train("vbmf", json!({"factors": 8}), data);
    eprintln!("metrics {}", vb.metrics);
    let active = vb.metrics["active_factors"].as_u64().unwrap();
    assert!((2..8).contains(&active), "{}", vb.metrics);
    // the generator draws both sides' biases with std 0.3
    for side in ["user_bias_std", "item_bias_std"] {
        let std = vb.metrics[side].as_f64().unwrap();
        assert!((std - 0.3).abs() < 0.03, "{side} {std}");
    }
}
