//! Small networks and data for the unit tests of this module.

use super::gradients::Batch;
use super::ncf::{Ncf, NcfParams};
use super::params::NeuralParams;
use super::trainer::{Head, NeuralTrainer};
use super::two_tower::{TwoTower, TwoTowerParams};
use crate::algo::params::{Checked, LoopParams};
use crate::data::Rating;
use crate::features::{FeatureBuilder, FeatureKind, RawValue, SideFeatures};

/// Users 0..nu, items 0..ni; items have one categorical feature "g" (a genre), a numeric
/// "x", and users a categorical "a".
pub(super) fn toy(nu: usize, ni: usize) -> (SideFeatures, SideFeatures) {
    let mut ub = FeatureBuilder::new(vec![("a".into(), FeatureKind::Categorical)]);
    for u in 0..nu {
        ub.set(u as u32, vec![RawValue::Text(format!("a{}", u % 3))])
            .unwrap();
    }
    let mut ib = FeatureBuilder::new(vec![
        ("g".into(), FeatureKind::Multi),
        ("x".into(), FeatureKind::Numeric),
    ]);
    for i in 0..ni {
        ib.set(
            i as u32,
            vec![
                RawValue::List(vec![Some(format!("g{}", i % 2)), Some("all".into())]),
                RawValue::Number(i as f64),
            ],
        )
        .unwrap();
    }
    (ub.build(nu, 1).unwrap(), ib.build(ni, 1).unwrap())
}

pub(super) fn ratings(nu: usize, ni: usize) -> Vec<Rating> {
    let mut out = Vec::new();
    for u in 0..nu as u32 {
        for i in 0..ni as u32 {
            if (u + i) % 3 != 0 {
                out.push(Rating {
                    user: u,
                    item: i,
                    value: 1.0 + ((u * 7 + i * 3) % 5) as f32,
                });
            }
        }
    }
    out
}

/// Small shared params: 3 factors, feature embeddings of 2.
fn small(net: NeuralParams, loss: &str) -> NeuralParams {
    NeuralParams {
        factors: 3,
        feature_dim: 2,
        loss: serde_json::from_value(serde_json::json!(loss)).unwrap(),
        init_std: 0.3,
        regularization: 0.1,
        ..net
    }
}

/// A small `two_tower` with `loss` ("mse", "bce", "softmax"); `tweak` changes the shared params
/// before they are checked.
pub(super) fn two_tower_with(
    loss: &str,
    rows: Vec<Rating>,
    (uf, itf): (SideFeatures, SideFeatures),
    tweak: impl FnOnce(&mut NeuralParams, &mut LoopParams),
) -> NeuralTrainer<TwoTower> {
    NeuralTrainer::new(rows, uf, itf, true, &two_tower_params(loss, tweak)).unwrap()
}

/// The params of `two_tower_with`.
pub(super) fn two_tower_params(
    loss: &str,
    tweak: impl FnOnce(&mut NeuralParams, &mut LoopParams),
) -> Checked<TwoTowerParams> {
    let mut p = TwoTowerParams {
        tower_layers: vec![5],
        id_dim: 2,
        temperature: 0.5,
        ..Default::default()
    };
    p.net = small(p.net, loss);
    tweak(&mut p.net, &mut p.run);
    Checked::new(p).unwrap()
}

/// A small `ncf` with `loss` ("mse", "bce"), as `two_tower_with`.
pub(super) fn ncf_with(
    loss: &str,
    rows: Vec<Rating>,
    (uf, itf): (SideFeatures, SideFeatures),
    tweak: impl FnOnce(&mut NeuralParams, &mut LoopParams),
) -> NeuralTrainer<Ncf> {
    NeuralTrainer::new(rows, uf, itf, true, &ncf_params(loss, tweak)).unwrap()
}

/// The params of `ncf_with`.
pub(super) fn ncf_params(
    loss: &str,
    tweak: impl FnOnce(&mut NeuralParams, &mut LoopParams),
) -> Checked<NcfParams> {
    let mut p = NcfParams {
        layers: vec![5, 4],
        ..Default::default()
    };
    p.net = small(p.net, loss);
    tweak(&mut p.net, &mut p.run);
    Checked::new(p).unwrap()
}

/// Binds `$t` to the small trainer of `$case` ("mse", "bce", "softmax": two_tower; "ncf-mse",
/// "ncf-bce": ncf) and evaluates `$body`, so one test body covers both heads.
macro_rules! with_trainer {
    ($case:expr, $rows:expr, $features:expr, $tweak:expr, |$t:ident| $body:expr) => {
        match $case.strip_prefix("ncf-") {
            Some(loss) => {
                #[allow(unused_mut)]
                let mut $t =
                    $crate::algo::neural::fixtures::ncf_with(loss, $rows, $features, $tweak);
                $body
            }
            None => {
                #[allow(unused_mut)]
                let mut $t =
                    $crate::algo::neural::fixtures::two_tower_with($case, $rows, $features, $tweak);
                $body
            }
        }
    };
}
pub(super) use with_trainer;

/// Mean loss of a batch, recomputed from scratch (no dropout).
pub(super) fn batch_loss<H: Head>(t: &NeuralTrainer<H>, batch: &Batch) -> f64 {
    batch_loss_with(t, batch, None)
}

/// Mean loss of a batch with the dropout masks of (epoch, batch) when given: the masks are
/// drawn from the seed alone, so every call sees the same ones.
pub(super) fn batch_loss_with<H: Head>(
    t: &NeuralTrainer<H>,
    batch: &Batch,
    dropout: Option<(usize, usize)>,
) -> f64 {
    let g = t.gradients(batch, dropout);
    (g.loss_sum + g.penalty_sum) / batch.users.len() as f64
}

/// One coordinate of the embedding store (`emb`) or of the dense store.
pub(super) fn slot<H: Head>(t: &mut NeuralTrainer<H>, emb: bool, j: usize) -> &mut f32 {
    if emb {
        &mut t.emb[j]
    } else {
        &mut t.dense[j]
    }
}
