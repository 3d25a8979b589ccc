//! bpr's fold-ins draw their negatives (users) and pushes down (items) from a stream seeded by
//! the version's seed and the history: the same seed and history give the same vector, and
//! each of five seeds gives its own.

use std::sync::OnceLock;

use pgrec_core::algo::fold::{bpr_item, bpr_user, BprItem, FoldTarget, History, TrainedRows};
use pgrec_core::data::UserItems;
use pgrec_core::model::FactorModel;

/// 12 users and 12 items on a circle, each user having seen the three items nearest to it.
fn model() -> (FactorModel, UserItems) {
    let n = 12usize;
    let circle = |i: usize, r: f32| {
        let a = i as f32 * std::f32::consts::TAU / n as f32;
        [r * a.cos(), r * a.sin()]
    };
    let m = FactorModel {
        factors: 2,
        global_mean: 0.0,
        rating_range: None,
        user_bias: vec![0.0; n],
        item_bias: (0..n).map(|i| 0.05 * (i % 3) as f32).collect(),
        user_factors: (0..n).flat_map(|u| circle(u, 1.0)).collect(),
        item_factors: (0..n).flat_map(|i| circle(i, 0.8)).collect(),
        head: None,
    };
    let seen = UserItems::from_lists(
        (0..n)
            .map(|u| vec![u as u32, ((u + 1) % n) as u32, ((u + 2) % n) as u32])
            .map(|mut v| {
                v.sort_unstable();
                v
            })
            .collect(),
    );
    (m, seen)
}

fn distinct(vectors: &[Vec<f32>]) -> bool {
    (0..vectors.len()).all(|a| (0..a).all(|b| vectors[a] != vectors[b]))
}

#[test]
fn a_bpr_user_fold_in_follows_its_seed() {
    let (m, _) = model();
    let cell = OnceLock::new();
    let t = FoldTarget {
        model: m.view(),
        item_gram: &cell,
        learned: &[],
    };
    let h = History {
        items: &[0, 1, 2],
        values: &[1.0; 3],
        weighted: None,
    };
    let fold = |seed| bpr_user(&t, h, 0.05, 0.01, 3, seed).factors;
    let by_seed: Vec<Vec<f32>> = (1..=5).map(fold).collect();
    assert!(distinct(&by_seed), "{by_seed:?}");
    assert_eq!(fold(3), by_seed[2]);
}

#[test]
fn a_bpr_item_fold_in_follows_its_seed() {
    let (m, seen) = model();
    let cell = OnceLock::new();
    let t = FoldTarget {
        model: m.view().transposed().unwrap(),
        item_gram: &cell,
        learned: &[],
    };
    let trained = TrainedRows {
        seen: &seen,
        positives: None,
    };
    let fold = |seed| {
        let p = BprItem {
            regularization: 0.01,
            item_bias: true,
            seed,
        };
        let f = bpr_item(&t, &[0, 1, 2], &trained, &p);
        [f.factors, vec![f.bias]].concat()
    };
    let by_seed: Vec<Vec<f32>> = (1..=5).map(fold).collect();
    assert!(distinct(&by_seed), "{by_seed:?}");
    assert_eq!(fold(3), by_seed[2]);
}
