//! One BPR step against its definition (issue 29, bug 2: the sampled negative item's update
//! with its sign flipped).
//!
//! One user with one positive (item 0) among five items and one block: every epoch is exactly
//! one SGD step on (u, 0, j) for a sampled j. Training is deterministic in its seed, so the
//! model after two epochs is the model after one plus one step; the step is recomputed here
//! from the BPR-Opt update (Rendle et al. 2009) with x_uij = s(u, i) - s(u, j),
//! g = sigmoid(-x_uij):
//!   x_u += lr (g (y_i - y_j) - reg x_u)
//!   y_i += lr (g x_u - reg y_i),   b_i += lr (g - reg b_i)
//!   y_j += lr (-g x_u - reg y_j),  b_j += lr (-g - reg b_j)
//! with every right-hand side taken before the step. j is the one other item that moved.

mod common;

use common::{data, train};
use pgrec_core::model::FactorModel;
use pgrec_core::Rating;
use serde_json::json;

const K: usize = 3;
const N_ITEMS: usize = 5;
const LR: f64 = 0.1;
const REG: f64 = 0.05;

fn model_after(epochs: usize, seed: u64) -> (FactorModel, f64) {
    let rows = vec![Rating {
        user: 0,
        item: 0,
        value: 1.0,
    }];
    let params = json!({"factors": K, "epochs": epochs, "learning_rate": LR,
        "regularization": REG, "item_bias": true, "init_std": 0.5, "blocks": 1, "seed": seed});
    let (reports, fitted) = train("bpr", params, data(rows, 1, N_ITEMS, false));
    assert_eq!(reports.len(), epochs);
    (fitted.model, reports.last().unwrap().train_loss)
}

fn item(m: &FactorModel, i: usize) -> Vec<f64> {
    m.item_factors[i * K..(i + 1) * K]
        .iter()
        .map(|&v| v as f64)
        .collect()
}

fn close(got: f32, want: f64, what: &str) {
    assert!(
        (got as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
        "{what}: got {got}, the BPR update gives {want}"
    );
}

#[test]
fn a_bpr_step_is_the_bpr_opt_update() {
    for seed in [1u64, 2, 3, 4] {
        let (before, _) = model_after(1, seed);
        let (after, loss) = model_after(2, seed);
        let moved: Vec<usize> = (0..N_ITEMS)
            .filter(|&i| {
                item(&before, i) != item(&after, i) || before.item_bias[i] != after.item_bias[i]
            })
            .collect();
        assert_eq!(moved.len(), 2, "seed {seed}: items moved: {moved:?}");
        assert_eq!(moved[0], 0, "seed {seed}: the positive did not move");
        let j = moved[1];
        let x: Vec<f64> = before.user_factors.iter().map(|&v| v as f64).collect();
        let (yi, yj) = (item(&before, 0), item(&before, j));
        let (bi, bj) = (before.item_bias[0] as f64, before.item_bias[j] as f64);
        let x_uij = bi - bj + (0..K).map(|f| x[f] * (yi[f] - yj[f])).sum::<f64>();
        let g = 1.0 / (1.0 + x_uij.exp());
        // The epoch's reported loss is -ln sigmoid(x_uij) of its one step.
        assert!(
            (loss - (1.0 + (-x_uij).exp()).ln()).abs() < 1e-5,
            "seed {seed}: loss {loss}"
        );
        for f in 0..K {
            close(
                after.user_factors[f],
                x[f] + LR * (g * (yi[f] - yj[f]) - REG * x[f]),
                &format!("seed {seed}: user factor {f}"),
            );
            close(
                after.item_factors[f],
                yi[f] + LR * (g * x[f] - REG * yi[f]),
                &format!("seed {seed}: positive item factor {f}"),
            );
            close(
                after.item_factors[j * K + f],
                yj[f] + LR * (-g * x[f] - REG * yj[f]),
                &format!("seed {seed}: negative item {j} factor {f}"),
            );
        }
        close(
            after.item_bias[0],
            bi + LR * (g - REG * bi),
            "positive bias",
        );
        close(
            after.item_bias[j],
            bj + LR * (-g - REG * bj),
            "negative bias",
        );
        // So the step raises the positive's score over the negative's.
        let score = |m: &FactorModel, i: usize| {
            m.item_bias[i] as f64
                + (0..K)
                    .map(|f| m.user_factors[f] as f64 * m.item_factors[i * K + f] as f64)
                    .sum::<f64>()
        };
        assert!(score(&after, 0) - score(&after, j) > x_uij, "seed {seed}");
    }
}
