//! What every registered algorithm reports per step, on the same small rated set: a training
//! loss that is a finite positive mean (not a sum, not a constant), and with a validation
//! share a finite measurement in its metric's range. The progress, the metrics and early
//! stopping read these reports.

mod common;

use pgrec_core::algo::registry::REGISTRY;
use pgrec_core::synth::{generate, SynthSpec};
use pgrec_core::train::Metric;
use serde_json::json;

/// The rated set most tests here train on: rank 4, noise 0.3.
fn rated_set() -> (SynthSpec, Vec<pgrec_core::Rating>) {
    let spec = SynthSpec {
        n_users: 300,
        n_items: 120,
        n_ratings: 9_000,
        rank: 4,
        noise_std: 0.3,
        ..SynthSpec::small(3)
    };
    let (ratings, _) = generate(&spec);
    (spec, ratings)
}

#[test]
fn every_algorithm_reports_a_mean_loss_and_a_measurement_in_range() {
    let (spec, ratings) = rated_set();
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

/// ials reports, per interaction, its weighted squared error over every (user, item) pair plus
/// the users' penalties: sum_u [sum_i c_ui (p_ui - x_u . y_i)^2 + reg n_u^e |x_u|^2] / rows,
/// with p = 1 and c = 1 + alpha r for the positives, p = 0 and c = 1 for the pairs never seen,
/// and the rows below the threshold out of it. Computed here pair by pair from the model of
/// the last epoch (few users, so every user is in the loss sample).
#[test]
fn ials_reports_its_loss_by_its_definition() {
    let spec = SynthSpec {
        n_users: 60,
        n_items: 40,
        n_ratings: 900,
        rank: 3,
        noise_std: 0.3,
        ..SynthSpec::small(5)
    };
    let (ratings, _) = generate(&spec);
    let (alpha, reg, exponent, threshold) = (2.0f64, 0.5f64, 0.5f64, 3.0f32);
    let params = json!({"factors": 4, "epochs": 2, "alpha": alpha, "regularization": reg,
                        "regularization_exponent": exponent, "positive_threshold": threshold});
    let data = common::data(ratings.clone(), spec.n_users, spec.n_items, true);
    let (reports, fitted) = common::train("ials", params, data);
    let m = fitted.model.view();
    let mut rows: Vec<Vec<(u32, f32)>> = vec![Vec::new(); spec.n_users];
    for r in &ratings {
        rows[r.user as usize].push((r.item, r.value));
    }
    let (mut loss, mut count) = (0f64, 0usize);
    for (u, own) in rows.iter().enumerate() {
        let x = m.user(u as u32);
        let positives = own.iter().filter(|p| p.1 >= threshold).count();
        for i in 0..spec.n_items as u32 {
            let d: f64 = x.iter().zip(m.item(i)).map(|(a, b)| (a * b) as f64).sum();
            match own.iter().find(|p| p.0 == i) {
                Some(&(_, r)) if r >= threshold => {
                    loss += (1.0 + alpha * r as f64) * (1.0 - d).powi(2);
                }
                Some(_) => {}
                None => loss += d * d,
            }
        }
        let norm: f64 = x.iter().map(|a| (*a as f64).powi(2)).sum();
        loss += reg * (positives.max(1) as f64).powf(exponent) * norm;
        count += own.len();
    }
    let want = loss / count as f64;
    let got = reports[reports.len() - 1].train_loss;
    assert!(
        (got - want).abs() < 1e-3 * want,
        "reported {got}, by definition {want}"
    );
}

/// Each iterating algorithm holds out its validation share (of its rows; ials and bpr of their
/// positives, here every row), and nothing without one.
#[test]
fn every_algorithm_holds_out_its_validation_share() {
    use pgrec_core::parallel::build_pool;
    let (spec, ratings) = rated_set();
    let pool = build_pool(2).unwrap();
    for e in REGISTRY
        .iter()
        .filter(|e| e.configure.is_some() && e.name != "ease")
    {
        let configure = e.configure.unwrap();
        for (share, low, high) in [(0.2, 0.15, 0.25), (0.0, 0.0, 0.0)] {
            let data = common::data(ratings.clone(), spec.n_users, spec.n_items, true);
            let n = data.ratings.len() as f64;
            let c = configure(&json!({"epochs": 1, "validation_fraction": share})).unwrap();
            let training = c.start(data, &pool).unwrap();
            // On ratings every model reports its loss as a squared error (shown as RMSE)
            // but the ranking ones (ncf and two_tower fit the ratings by default).
            assert_eq!(
                training.squared_loss(),
                !["ials", "bpr"].contains(&e.name),
                "{}",
                e.name
            );
            let held = training.n_validation() as f64;
            assert!(
                held >= low * n && held <= high * n,
                "{}: {held} of {n} rows held out for {share}",
                e.name
            );
        }
    }
}

/// The smaller rated set of the mf tests below.
fn mf_set() -> (SynthSpec, Vec<pgrec_core::Rating>) {
    let spec = SynthSpec {
        n_users: 200,
        n_items: 100,
        n_ratings: 4_000,
        ..SynthSpec::small(9)
    };
    let (ratings, _) = generate(&spec);
    (spec, ratings)
}

/// Under row weights (each row's share of the loss, scaled to mean 1) mf's global mean is the
/// weighted mean of the ratings.
#[test]
fn mf_weighs_its_global_mean() {
    let (spec, ratings) = mf_set();
    let mut data = common::data(ratings, spec.n_users, spec.n_items, true);
    let weights: Vec<f32> = (0..data.ratings.len())
        .map(|n| if n % 2 == 0 { 0.5 } else { 1.5 })
        .collect();
    let want = data
        .ratings
        .iter()
        .zip(&weights)
        .map(|(r, &w)| r.value as f64 * w as f64)
        .sum::<f64>()
        / weights.iter().map(|&w| w as f64).sum::<f64>();
    data.weighted = Some(weights);
    let (_, fitted) = common::train("mf", json!({"epochs": 1}), data);
    let got = fitted.model.global_mean as f64;
    assert!(
        (got - want).abs() < 1e-4,
        "global mean {got}, weighted mean {want}"
    );
}

/// Row weights of 1 everywhere are no weights: mf trains the same model and reports the same
/// losses as without them (the weighted step and the weighted squared error reduce to the
/// plain ones).
#[test]
fn mf_with_unit_weights_is_mf_without_weights() {
    let (spec, ratings) = mf_set();
    let plain = common::data(ratings.clone(), spec.n_users, spec.n_items, true);
    let mut unit = common::data(ratings, spec.n_users, spec.n_items, true);
    unit.weighted = Some(vec![1.0; unit.ratings.len()]);
    let params = json!({"epochs": 3, "factors": 8});
    let (r1, a) = common::train("mf", params.clone(), plain);
    let (r2, b) = common::train("mf", params, unit);
    for (x, y) in r1.iter().zip(&r2) {
        assert!(
            (x.train_loss - y.train_loss).abs() < 1e-6 * x.train_loss,
            "{} vs {}",
            x.train_loss,
            y.train_loss
        );
    }
    let close = a
        .model
        .item_factors
        .iter()
        .zip(&b.model.item_factors)
        .all(|(x, y)| (x - y).abs() < 1e-4);
    assert!(close, "unit weights changed the factors");
}
