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

/// Held-out users (or items) folded in, on rank-4 data with noise 0.5: a tenth of the users
/// is left out of training and folded in afterwards from 90% of its ratings; their other 10%
/// are predicted by the folded vectors, by a model trained with the same 90%, and by the
/// folded bias alone. Returns those three RMSEs.
fn fold_in_against_training(items: bool) -> (f64, f64, f64) {
    use pgrec_core::algo::fold::{FoldTarget, History, TrainedRows};
    use pgrec_core::algo::registry;
    use std::sync::OnceLock;
    let spec = SynthSpec {
        n_users: 2_000,
        n_items: 1_000,
        n_ratings: 60_000,
        rank: 4,
        noise_std: 0.5,
        ..SynthSpec::small(11)
    };
    let (all, _) = generate(&spec);
    // On the items' side, the model is read with its sides swapped.
    let (n_own, n_other) = if items {
        (spec.n_items, spec.n_users)
    } else {
        (spec.n_users, spec.n_items)
    };
    let own = |r: &Rating| if items { r.item } else { r.user };
    let other = |r: &Rating| if items { r.user } else { r.item };
    let is_new = |e: u32| e % 10 == 3;
    let (mut test, mut seen, mut trained) = (Vec::new(), Vec::new(), Vec::new());
    for (n, r) in all.into_iter().enumerate() {
        if !is_new(own(&r)) {
            trained.push(r);
        } else if n % 10 == 0 {
            test.push(r);
        } else {
            seen.push(r);
        }
    }
    let params = json!({"factors": 16});
    let data = |rows: Vec<Rating>| common::data(rows, spec.n_users, spec.n_items, true);
    let (_, with) = common::train("vbmf", params.clone(), data([&trained[..], &seen].concat()));
    let (_, without) = common::train("vbmf", params.clone(), data(trained));
    let configured = (registry::find("vbmf").unwrap().configure.unwrap())(&params).unwrap();
    let view = without.model.view();
    let gram = OnceLock::new();
    let target = FoldTarget {
        model: if items {
            view.transposed().unwrap()
        } else {
            view
        },
        item_gram: &gram,
        learned: &without.tensors,
    };
    let no_rows = pgrec_core::data::UserItems::from_lists(Vec::new());
    let rows = TrainedRows {
        seen: &no_rows,
        positives: None,
    };
    let mut folded = vec![None; n_own];
    for e in (0..n_own as u32).filter(|&e| is_new(e)) {
        let mut h: Vec<(u32, f32)> = seen
            .iter()
            .filter(|r| own(r) == e)
            .map(|r| (other(r), r.value))
            .collect();
        h.sort_unstable_by_key(|p| p.0);
        let (ids, values): (Vec<u32>, Vec<f32>) = h.into_iter().unzip();
        let history = History {
            items: &ids,
            values: &values,
            weighted: None,
        };
        folded[e as usize] = Some(if items {
            configured.fold_in_item(&target, history, &rows)
        } else {
            configured.fold_in(&target, history)
        });
    }
    let (lo, hi) = without.model.rating_range.unwrap();
    let m = target.model;
    let mut pairs = (Vec::new(), Vec::new(), Vec::new());
    let k = Kernels::detect();
    for r in &test {
        let f = folded[own(r) as usize]
            .clone()
            .flatten()
            .expect("folded in");
        let o = other(r);
        let base = m.global_mean + m.item_bias[o as usize] + f.bias;
        let dot: f32 = f.factors.iter().zip(m.item(o)).map(|(a, b)| a * b).sum();
        pairs.0.push(((base + dot).clamp(lo, hi), r.value));
        pairs
            .1
            .push((with.model.predict(k, r.user, r.item), r.value));
        pairs.2.push((base.clamp(lo, hi), r.value));
    }
    assert!(
        n_other > 0 && test.len() > 500,
        "{} test ratings",
        test.len()
    );
    (rmse(&pairs.0), rmse(&pairs.1), rmse(&pairs.2))
}

/// A new user folded in predicts within 3% of the RMSE of the same user trained, and its
/// factors (not only its bias) carry that: the bias alone is clearly worse.
#[test]
fn folded_in_users_predict_as_trained_ones() {
    let (folded, trained, bias) = fold_in_against_training(false);
    eprintln!("users: folded {folded:.4}, trained {trained:.4}, bias alone {bias:.4}");
    assert!(
        folded < 1.03 * trained,
        "folded {folded} vs trained {trained}"
    );
    assert!(
        folded < 0.95 * bias,
        "folded {folded} vs its bias alone {bias}"
    );
}

/// The same for new items, folded in with the item side's learned prior.
#[test]
fn folded_in_items_predict_as_trained_ones() {
    let (folded, trained, bias) = fold_in_against_training(true);
    eprintln!("items: folded {folded:.4}, trained {trained:.4}, bias alone {bias:.4}");
    assert!(
        folded < 1.03 * trained,
        "folded {folded} vs trained {trained}"
    );
    assert!(
        folded < 0.95 * bias,
        "folded {folded} vs its bias alone {bias}"
    );
}
