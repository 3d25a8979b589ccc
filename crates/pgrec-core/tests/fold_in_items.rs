//! Items fold in as users do, with the sides swapped (`ModelView::transposed`): for ials and als
//! the last half-step of training solved each item's system against the final user factors, so
//! folding a trained item back in from its own interactions gives its trained vector again.

mod common;

use std::sync::OnceLock;

use pgrec_core::algo::fold::{FoldTarget, History};
use pgrec_core::algo::registry;
use pgrec_core::synth::{generate, SynthSpec};
use pgrec_core::Rating;

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn refold(name: &str, params: serde_json::Value, explicit: bool) -> (f32, f32) {
    let spec = SynthSpec {
        n_users: 300,
        n_items: 120,
        n_ratings: 9_000,
        rank: 4,
        noise_std: 0.3,
        user_exponent: 0.3,
        item_exponent: 0.5,
        seed: 11,
    };
    let (ratings, _) = generate(&spec);
    let ratings: Vec<Rating> = ratings
        .into_iter()
        .map(|r| Rating {
            value: if explicit { r.value } else { 1.0 },
            ..r
        })
        .collect();
    let data = common::data(ratings.clone(), 300, 120, explicit);
    let (_, fitted) = common::train(name, params.clone(), data);
    let configured = (registry::find(name).unwrap().configure.unwrap())(&params).unwrap();
    let view = fitted.model.view();
    let gram = OnceLock::new();
    let target = FoldTarget {
        model: view.transposed().expect("a dot-product model swaps"),
        item_gram: &gram,
        learned: &[],
    };
    let (mut worst_cos, mut worst_bias) = (1.0f32, 0.0f32);
    for item in [0u32, 7, 33, 90, 119] {
        let mut users: Vec<(u32, f32)> = ratings
            .iter()
            .filter(|r| r.item == item)
            .map(|r| (r.user, r.value))
            .collect();
        users.sort_by_key(|p| p.0);
        users.dedup_by_key(|p| p.0);
        let (u, v): (Vec<u32>, Vec<f32>) = users.into_iter().unzip();
        let folded = configured
            .fold_in(
                &target,
                History {
                    items: &u,
                    values: &v,
                    weighted: None,
                },
            )
            .expect("folds in");
        worst_cos = worst_cos.min(cosine(&folded.factors, view.item(item)));
        worst_bias = worst_bias.max((folded.bias - view.item_bias[item as usize]).abs());
    }
    (worst_cos, worst_bias)
}

#[test]
fn an_ials_item_folded_back_in_is_its_trained_vector() {
    let (cos, bias) = refold(
        "ials",
        serde_json::json!({"factors": 8, "epochs": 6, "seed": 3}),
        false,
    );
    assert!(cos > 0.999, "cosine {cos}");
    assert!(bias < 1e-4, "bias off by {bias}");
}

#[test]
fn an_als_item_folded_back_in_is_its_trained_vector() {
    let (cos, bias) = refold(
        "als",
        serde_json::json!({"factors": 8, "epochs": 6, "seed": 3}),
        true,
    );
    assert!(cos > 0.99, "cosine {cos}");
    assert!(bias < 0.05, "bias off by {bias}");
}

#[test]
fn only_models_that_fit_a_vector_fold_in_items() {
    for name in ["mf", "als", "ials", "bpr"] {
        assert!(registry::can_fold_in_items(name), "{name}");
    }
    for name in ["ease", "ncf", "two_tower", "nope"] {
        assert!(!registry::can_fold_in_items(name), "{name}");
    }
    assert!(registry::fold_in_items_hint().contains("ials"));
}
