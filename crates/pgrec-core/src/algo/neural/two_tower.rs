//! `two_tower`: two towers whose outputs meet in a dot product. The towers never interact, so
//! every entity is encoded once after training and served by the same top-k scan as matrix
//! factorisation. With mse and bce each tower has one more output, a bias term (so cold
//! entities get a bias from their features); with softmax the outputs are L2-normalised.

use serde::{Deserialize, Serialize};

use super::nn::{Layout, Linear, Mlp, MlpCache};
use super::params::{check_layers, widths, NeuralParams, NETWORK_KNOBS};
use super::tower::{BySide, Side};
use super::trainer::{Head, NetworkParams, Softmax};
use super::Loss;
use crate::algo::contract::Configured;
use crate::algo::params::Knob;
use crate::algo::params::{float_in, int_in, Checked, LoopParams, Params};
use crate::error::{CoreError, Result};
use crate::train::Scorer;

/// Parameters of `two_tower`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TwoTowerParams {
    /// Hidden layer widths of each tower's MLP.
    pub tower_layers: Vec<i64>,
    /// Size of the per-id embedding fed to each tower; 0 uses features only.
    pub id_dim: i64,
    /// Softmax temperature.
    pub temperature: f64,
    /// Subtract log of each item's in-batch sampling probability from the softmax logits.
    pub logq_correction: bool,
    #[serde(flatten)]
    pub net: NeuralParams,
    #[serde(flatten)]
    pub run: LoopParams,
}

impl Default for TwoTowerParams {
    fn default() -> Self {
        Self {
            tower_layers: vec![64],
            id_dim: 64,
            temperature: 0.1,
            logq_correction: true,
            net: NeuralParams {
                factors: 32,
                feature_dim: 8,
                loss: Loss::Mse,
                batch_size: 256,
                learning_rate: 0.002,
                weight_decay: 0.01,
                regularization: 0.05,
                dropout: 0.5,
                id_dropout: None,
                negatives: 4,
                positive_threshold: 4.0,
                init_std: 0.05,
                min_count: 1,
                average_epochs: None,
                user_feature_columns: None,
                item_feature_columns: None,
                exclude_feature_columns: Vec::new(),
            },
            run: LoopParams {
                // Tuned on MovieLens-100K (3 random 80/20 splits): 20 epochs of which the last
                // 10 averaged gave a test RMSE of 0.9091 (0.9122 without averaging), 30 and 15
                // 0.9070.
                epochs: 30,
                seed: 42,
                threads: None,
                validation_fraction: 0.0,
                patience: 3,
            },
        }
    }
}

impl Params for TwoTowerParams {
    const KNOBS: &'static [Knob] = NETWORK_KNOBS;

    const CHOICES: &'static [(&'static str, &'static str)] = &[(
        "loss",
        "Use \"mse\" (explicit ratings), \"bce\" (sampled negatives) or \"softmax\" (in-batch negatives).",
    )];

    fn check(&mut self) -> Result<()> {
        check_layers(
            "tower_layers",
            &self.tower_layers,
            "Pass hidden layer widths such as [128, 64], or [] for a linear tower.",
        )?;
        int_in("batch_size", self.net.batch_size, 1, 1 << 16)?;
        if self.net.loss == Loss::Softmax && self.net.batch_size < 2 {
            return Err(CoreError::param_hint(
                "batch_size",
                format!(
                    "loss \"softmax\" needs a batch_size of at least 2, got {}",
                    self.net.batch_size
                ),
                "The other rows of a batch are the negatives of in-batch softmax; use 256 or more.",
            ));
        }
        let temperature = self.temperature;
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(CoreError::param_hint(
                "temperature",
                format!("parameter \"temperature\" must be greater than 0, got {temperature}"),
                "Typical values are 0.05 to 1.",
            ));
        }
        self.run.check()?;
        self.net.check(&self.run)?;
        int_in("id_dim", self.id_dim, 0, 1024)?;
        float_in("temperature", temperature, 0.0, 100.0, true)
    }

    fn run(&self) -> &LoopParams {
        &self.run
    }
}

impl NetworkParams for TwoTowerParams {
    type Head = TwoTower;

    fn net(&self) -> &NeuralParams {
        &self.net
    }

    fn head(&self) -> TwoTower {
        let factors = self.net.factors as usize;
        TwoTower {
            factors,
            id_dim: self.id_dim as usize,
            layers: widths(&self.tower_layers),
            // A bias term next to the vector, except for softmax.
            out_dim: factors + usize::from(self.net.loss != Loss::Softmax),
            softmax: Softmax {
                temperature: self.temperature as f32,
                logq_correction: self.logq_correction,
            },
        }
    }
}

/// The head of `two_tower`: MLP towers, scored by the dot product of their outputs.
#[derive(Debug, Clone)]
pub struct TwoTower {
    factors: usize,
    id_dim: usize,
    /// Hidden widths of each tower.
    layers: Vec<usize>,
    /// Width of each tower's output: the vector, and for mse and bce a bias term.
    out_dim: usize,
    softmax: Softmax,
}

impl Head for TwoTower {
    const NAME: &'static str = "two_tower";
    const SCORER: Scorer = Scorer::Dot;

    fn id_dim(&self) -> usize {
        self.id_dim
    }

    fn tower_layers(
        &self,
        dense: &mut Layout,
        side: Side,
        in_dim: usize,
        _features: bool,
    ) -> Vec<Linear> {
        Mlp::layout(dense, side.name(), in_dim, &self.layers, self.out_dim)
    }

    fn softmax(&self) -> Option<Softmax> {
        Some(self.softmax)
    }

    /// The two bias terms, then the dot product of the vectors.
    fn add_score(&self, mut s: f32, u: &[f32], v: &[f32], _out: &[f32]) -> f32 {
        let k = self.factors;
        s += u[k];
        s += v[k];
        s += dot(&u[..k], &v[..k]);
        s
    }

    fn backward(
        &self,
        _dense: &[f32],
        _head: &MlpCache,
        towers: &BySide<MlpCache>,
        d_score: &[f32],
        _grads: &mut [f32],
    ) -> BySide<Vec<f32>> {
        let (k, out) = (self.factors, self.out_dim);
        let (ou, ov) = (towers.user.output(), towers.item.output());
        let mut du = vec![0.0f32; d_score.len() * out];
        let mut dv = vec![0.0f32; d_score.len() * out];
        for (r, &g) in d_score.iter().enumerate() {
            let rows = r * out..(r + 1) * out;
            let (u, v) = (&ou[rows.clone()], &ov[rows.clone()]);
            let (du, dv) = (&mut du[rows.clone()], &mut dv[rows]);
            for j in 0..k {
                du[j] = g * v[j];
                dv[j] = g * u[j];
            }
            du[k] = g;
            dv[k] = g;
        }
        BySide { user: du, item: dv }
    }
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Parses and checks the params of `two_tower`.
pub fn configure(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    Ok(Box::new(Checked::<TwoTowerParams>::from_json(params)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_errors_name_the_value() {
        let bad = |json: serde_json::Value| {
            Checked::<TwoTowerParams>::from_json(&json)
                .unwrap_err()
                .to_string()
        };
        assert!(bad(serde_json::json!({"loss": "hinge"})).contains("\"hinge\""));
        assert!(bad(serde_json::json!({"loss": "softmax", "batch_size": 1})).contains("batch_size"));
        assert!(bad(serde_json::json!({"temperature": 0})).contains("temperature"));
        assert!(bad(serde_json::json!({"temperature": -1.5})).contains("-1.5"));
        assert!(bad(serde_json::json!({"tower_layers": [64, 0]})).contains("got 0"));
        assert!(bad(serde_json::json!({"epochs": 4, "average_epochs": 5})).contains("got 5"));
        assert!(bad(serde_json::json!({"average_epochs": 0})).contains("average_epochs"));
        assert!(bad(serde_json::json!({"id_dropout": 1.5})).contains("1.5"));
        // a validation split measures RMSE: only with loss mse
        for loss in ["bce", "softmax"] {
            let e = bad(serde_json::json!({"loss": loss, "validation_fraction": 0.1}));
            assert!(e.contains("validation_fraction"), "{e}");
            assert!(Checked::<TwoTowerParams>::from_json(
                &serde_json::json!({"loss": loss, "validation_fraction": 0})
            )
            .is_ok());
        }
        assert!(Checked::<TwoTowerParams>::from_json(
            &serde_json::json!({"loss": "mse", "validation_fraction": 0.1})
        )
        .is_ok());
        // at most 8 hidden layers
        assert!(bad(serde_json::json!({"tower_layers": vec![8; 9]})).contains("at most 8 layers"));
        assert!(Checked::<TwoTowerParams>::from_json(
            &serde_json::json!({"tower_layers": vec![8; 8]})
        )
        .is_ok());
        // each loss's name is its JSON spelling
        for loss in [Loss::Mse, Loss::Bce, Loss::Softmax] {
            assert_eq!(serde_json::to_value(loss).unwrap(), loss.name());
        }
        // id dropout defaults to 0.1, except for softmax where it cost precision.
        let id_dropout = |loss: &str| {
            Checked::<TwoTowerParams>::from_json(&serde_json::json!({ "loss": loss }))
                .unwrap()
                .net
                .id_dropout
        };
        assert_eq!(
            (id_dropout("mse"), id_dropout("bce"), id_dropout("softmax")),
            (Some(0.1), Some(0.1), Some(0.0))
        );
    }
}
