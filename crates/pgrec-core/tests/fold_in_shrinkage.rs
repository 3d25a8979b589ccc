//! Explicit fold-in with a shrunk bias against its closed form (issue 29, bug 3: the bias
//! computed without its shrinkage; the unit test folds in with shrinkage 0).
//!
//! For a history of n ratings r_i: b_u = sum(r_i - mu - b_i) / (shrink + n), then the ridge
//! regression of the residuals e_i = r_i - mu - b_i - b_u:
//! (sum y_i y_i^T + lambda n I) x = sum e_i y_i, solved here as a 2x2 system by hand.

use std::sync::OnceLock;

use pgrec_core::algo::fold::{explicit_user, FoldTarget, FoldedUser, History};
use pgrec_core::algo::registry::find;
use pgrec_core::model::FactorModel;

fn model() -> FactorModel {
    FactorModel {
        factors: 2,
        global_mean: 3.0,
        rating_range: Some((1.0, 5.0)),
        user_bias: vec![],
        item_bias: vec![0.5, 0.0, 0.25, -0.5, 0.1],
        user_factors: vec![],
        item_factors: vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9, -0.4, 0.6],
        head: None,
    }
}

/// The closed form in f64: (bias, factors).
fn reference(
    m: &FactorModel,
    items: &[u32],
    values: &[f32],
    lambda: f64,
    shrink: f64,
) -> (f64, [f64; 2]) {
    let n = items.len() as f64;
    let base = |i: u32| m.global_mean as f64 + m.item_bias[i as usize] as f64;
    let sum: f64 = items
        .iter()
        .zip(values)
        .map(|(&i, &r)| r as f64 - base(i))
        .sum();
    let bias = sum / (shrink + n);
    let (mut a, mut b) = ([[0f64; 2]; 2], [0f64; 2]);
    for (&i, &r) in items.iter().zip(values) {
        let y = [m.item(i)[0] as f64, m.item(i)[1] as f64];
        let e = r as f64 - base(i) - bias;
        for p in 0..2 {
            b[p] += e * y[p];
            for q in 0..2 {
                a[p][q] += y[p] * y[q];
            }
        }
    }
    a[0][0] += lambda * n;
    a[1][1] += lambda * n;
    let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
    let x = [
        (b[0] * a[1][1] - a[0][1] * b[1]) / det,
        (a[0][0] * b[1] - a[1][0] * b[0]) / det,
    ];
    (bias, x)
}

fn assert_matches(got: &FoldedUser, want: (f64, [f64; 2]), what: &str) {
    assert!(
        (got.bias as f64 - want.0).abs() < 1e-5,
        "{what}: bias {} vs {}",
        got.bias,
        want.0
    );
    for f in 0..2 {
        assert!(
            (got.factors[f] as f64 - want.1[f]).abs() < 1e-4,
            "{what}: factors {:?} vs {:?}",
            got.factors,
            want.1
        );
    }
}

const ITEMS: [u32; 4] = [0, 1, 2, 4];
const VALUES: [f32; 4] = [5.0, 4.5, 2.0, 4.0];

#[test]
fn explicit_fold_in_shrinks_the_bias_as_its_closed_form() {
    let m = model();
    let cell = OnceLock::new();
    let target = FoldTarget {
        model: m.view(),
        item_gram: &cell,
        learned: &[],
    };
    let h = History {
        items: &ITEMS,
        values: &VALUES,
        weighted: None,
    };
    for (lambda, shrink) in [(0.1f32, 0.0f32), (0.1, 2.0), (0.05, 10.0), (0.5, 25.0)] {
        let got = explicit_user(&target, h, lambda, shrink);
        let want = reference(&m, &ITEMS, &VALUES, lambda as f64, shrink as f64);
        assert_matches(&got, want, &format!("lambda {lambda}, shrink {shrink}"));
    }
    // A larger shrinkage pulls the bias towards zero.
    let b = |s: f32| explicit_user(&target, h, 0.1, s).bias.abs();
    assert!(
        b(0.0) > b(2.0) && b(2.0) > b(10.0),
        "{} {} {}",
        b(0.0),
        b(2.0),
        b(10.0)
    );
}

/// `als` folds in with its regularization and its bias_regularization as the shrinkage.
#[test]
fn als_fold_in_uses_its_bias_regularization_as_the_shrinkage() {
    let m = model();
    let cell = OnceLock::new();
    let target = FoldTarget {
        model: m.view(),
        item_gram: &cell,
        learned: &[],
    };
    let h = History {
        items: &ITEMS,
        values: &VALUES,
        weighted: None,
    };
    let als = (find("als").unwrap().configure.unwrap())(
        &serde_json::json!({"regularization": 0.2, "bias_regularization": 3.0}),
    )
    .unwrap();
    let got = als.fold_in(&target, h).expect("als folds in");
    assert_matches(&got, reference(&m, &ITEMS, &VALUES, 0.2, 3.0), "als");
}
