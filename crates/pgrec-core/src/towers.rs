//! The two-tower model. Each tower turns an entity (user or item) into a vector: an optional id
//! embedding and one embedding per feature column (mean-pooled for arrays, the standardized
//! value for numeric columns) are concatenated and pushed through an MLP. The towers never
//! interact, so every entity is encoded once after training and served by the same top-k scan
//! as matrix factorisation.
//!
//! Losses:
//! - `mse`: rating = global mean + b_u + b_i + <u, v>, where each bias is a per-id bias plus one
//!   output of the tower (so cold entities get a bias from their features). The biases absorb
//!   the rating level, so the vectors model deviations instead of one shared direction.
//! - `bce`: binary relevance with `negatives` uniformly sampled items per positive.
//! - `softmax`: in-batch negatives, L2-normalised outputs, a temperature, and logQ correction.
//!
//! The same trainer runs neural collaborative filtering (`ncf`, He et al. 2017, the MLP part):
//! each side's vector is its id embedding (mixed with its feature embeddings by one linear map
//! when it has features), and a network over the concatenated user and item vectors gives the
//! score, plus the global mean and the id biases. Serving cannot use a dot product for it: the
//! network is stored with the model as a `ScoreHead` and scores every item.
//!
//! Training is mini-batch Adam. A batch is cut into fixed chunks of rows that run in parallel;
//! their gradients are summed in chunk order, dropout masks are drawn from (seed, epoch, batch,
//! chunk) and id-dropout masks from (seed, epoch, batch, side), so one seed gives the same model
//! whatever the number of threads.
//!
//! Two regularisers beyond dropout and L2: id dropout (a row hides its user's or item's id
//! embedding and id bias, so the towers learn to score cold entities from their features;
//! Volkovs et al. 2017, "DropoutNet") and weight averaging (the stored model is the mean of the
//! parameters at the ends of the last `average_epochs` epochs).

use std::ops::Range;

use rand::seq::SliceRandom;
use rand::Rng as _;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use rayon::ThreadPool;
use serde::{Deserialize, Serialize};

use crate::algo::params::{float_in, int_in, Checked, LoopParams, Params};
use crate::algo::FeatureRequest;
use crate::data::{rating_stats, split_validation, Rating};
use crate::error::{CoreError, Result};
use crate::features::{FeatureKind, SideFeatures};
use crate::losses::{
    binary_cross_entropy, in_batch_softmax, normalize_rows, normalize_rows_backward, squared_error,
};
use crate::model::{FactorModel, HeadLayer, ScoreHead};
use crate::nn::{Adam, Block, Layout, Mlp, MlpCache, SparseGrads};
use crate::parallel::CancelFlag;
use crate::rng::stream;
use crate::train::{EarlyStopping, EpochReport, IterativeTrainer};

/// Rows per parallel work unit. Fixed: it decides the reduction order.
const CHUNK: usize = 64;

const TAG_INIT: u64 = 1;
const TAG_SHUFFLE: u64 = 2;
const TAG_DROPOUT: u64 = 3;
const TAG_NEGATIVES: u64 = 4;
const TAG_ID_DROPOUT: u64 = 5;

/// The parameters every network of this module trains with, flattened into the params of
/// `two_tower` and `ncf`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NeuralParams {
    /// Size of the stored user and item vectors: each tower's output (two_tower), the id
    /// embeddings (ncf).
    pub factors: i64,
    /// Size of each feature column's embedding.
    pub feature_dim: i64,
    pub loss: Loss,
    pub batch_size: i64,
    pub learning_rate: f64,
    /// Decoupled (AdamW) weight decay of the MLP weights.
    pub weight_decay: f64,
    /// L2 penalty on the embedding rows and id biases a rating uses, per rating (as in matrix
    /// factorisation): frequent users and items are held back more.
    pub regularization: f64,
    /// Dropout after each hidden layer while training.
    pub dropout: f64,
    /// While training, the share of rows whose user (and, independently, item) id embedding and
    /// id bias are hidden, so the towers learn to score from features alone, as for cold
    /// entities (DropoutNet, Volkovs et al. 2017). Only used on a side with features. Absent:
    /// [`default_id_dropout`] of the loss (check fills it in).
    pub id_dropout: Option<f64>,
    /// Sampled negatives per positive (bce).
    pub negatives: i64,
    /// Explicit ratings at or above this are positives for bce and softmax.
    pub positive_threshold: f64,
    /// Standard deviation of the initial embeddings.
    pub init_std: f64,
    /// Feature values seen fewer times go to the unseen bucket.
    pub min_count: i64,
    /// The model is the mean of the parameters at the ends of the last `average_epochs` epochs
    /// (tail / stochastic weight averaging); 1 keeps the last epoch's parameters. Absent: the
    /// last half of the epochs (check fills it in).
    pub average_epochs: Option<i64>,
    /// Only these columns of user_features are used (all when absent).
    pub user_feature_columns: Option<Vec<String>>,
    /// Only these columns of item_features are used (all when absent).
    pub item_feature_columns: Option<Vec<String>>,
    /// Columns of either feature source that are left out.
    pub exclude_feature_columns: Vec<String>,
}

/// What a network is trained to predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Explicit ratings (squared error).
    Mse,
    /// Binary relevance with sampled negatives.
    Bce,
    /// In-batch softmax (two_tower only).
    Softmax,
}

impl Loss {
    /// The JSON spelling.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::Bce => "bce",
            Loss::Softmax => "softmax",
        }
    }
}

impl NeuralParams {
    /// Checks the shared parameters and fills in `average_epochs` and `id_dropout`.
    pub fn check(&mut self, run: &LoopParams) -> Result<()> {
        int_in("batch_size", self.batch_size, 1, 1 << 16)?;
        let epochs = run.epochs;
        match self.average_epochs {
            None => self.average_epochs = Some(run.epochs().div_ceil(2) as i64),
            Some(n) if n >= 1 && n <= epochs => {}
            Some(n) => {
                return Err(CoreError::param_hint(
                    "average_epochs",
                    format!(
                        "parameter \"average_epochs\" must be between 1 and epochs ({epochs}), got {n}"
                    ),
                    "It is how many of the last epochs are averaged into the model; 1 turns averaging off.",
                ))
            }
        }
        int_in("factors", self.factors, 1, 1024)?;
        int_in("feature_dim", self.feature_dim, 1, 1024)?;
        float_in("learning_rate", self.learning_rate, 0.0, 1.0, true)?;
        float_in("weight_decay", self.weight_decay, 0.0, 10.0, false)?;
        float_in("regularization", self.regularization, 0.0, 100.0, false)?;
        float_in("dropout", self.dropout, 0.0, 0.9, false)?;
        let id_dropout = *self.id_dropout.get_or_insert(default_id_dropout(self.loss));
        // At 1 the id embeddings would never train, yet serving would read them.
        float_in("id_dropout", id_dropout, 0.0, 0.9, false)?;
        int_in("negatives", self.negatives, 1, 1000)?;
        float_in(
            "positive_threshold",
            self.positive_threshold,
            -1e30,
            1e30,
            false,
        )?;
        float_in("init_std", self.init_std, 0.0, 10.0, false)?;
        int_in("min_count", self.min_count, 1, 1 << 30)?;
        if run.validation_fraction > 0.0 && self.loss != Loss::Mse {
            return Err(CoreError::param_hint(
                "validation_fraction",
                "validation_fraction is only used with loss \"mse\"",
                "Leave validation_fraction out, and measure ranking quality with pgrec.evaluate.",
            ));
        }
        Ok(())
    }

    /// The share of rows that hide an id while training.
    pub fn id_dropout(&self) -> f32 {
        self.id_dropout
            .unwrap_or_else(|| default_id_dropout(self.loss)) as f32
    }

    /// How many of the last epochs are averaged into the model.
    pub fn average_epochs(&self, run: &LoopParams) -> usize {
        self.average_epochs
            .map_or(run.epochs().div_ceil(2), |n| n as usize)
    }

    /// The feature columns to load.
    pub fn feature_request(&self) -> FeatureRequest<'_> {
        FeatureRequest {
            user_columns: self.user_feature_columns.as_deref(),
            item_columns: self.item_feature_columns.as_deref(),
            exclude: &self.exclude_feature_columns,
            min_count: self.min_count as usize,
        }
    }
}

/// The share of training rows that hide an id when `id_dropout` is not given. Tuned on
/// MovieLens-100K with 10% of the movies cold (3 shuffles): 0.1 took their RMSE from 1.0341 to
/// 1.0102 (ncf: 1.0435 to 1.0192) for a warm test RMSE of 0.9066 instead of 0.9070 (ncf: 0.9183
/// instead of 0.9167); bce precision@10 stayed at 0.2131 on the core shuffles (0.2161 -> 0.2117
/// in SQL). Softmax lost precision@10 with it (0.2374 -> 0.2268), so it is off there.
pub fn default_id_dropout(loss: Loss) -> f64 {
    match loss {
        Loss::Softmax => 0.0,
        Loss::Mse | Loss::Bce => 0.1,
    }
}

/// Hidden layer widths: at most 8 layers of 1 to 4096.
fn check_layers(name: &str, widths: &[i64], hint: &str) -> Result<()> {
    if widths.len() > 8 {
        return Err(CoreError::param(
            name,
            format!(
                "parameter \"{name}\" may list at most 8 layers, got {}",
                widths.len()
            ),
        ));
    }
    match widths.iter().find(|&&w| w <= 0 || w > 4096) {
        Some(w) => Err(CoreError::param_hint(
            name,
            format!("every layer width in \"{name}\" must be between 1 and 4096, got {w}"),
            hint,
        )),
        None => Ok(()),
    }
}

/// The widths of checked layers.
fn widths(layers: &[i64]) -> Vec<usize> {
    layers.iter().map(|&w| w as usize).collect()
}

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
}

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
        let two_tower = TwoTowerParams::default();
        Self {
            layers: vec![64, 32, 16],
            // Tuned on MovieLens-100K (3 random 80/20 splits): dropout 0.2 -> 0.5 took the test
            // RMSE from 0.938 to 0.922, 15 epochs instead of 20 to 0.9185; 20 epochs with the
            // last 10 averaged to 0.9167.
            net: NeuralParams {
                dropout: 0.5,
                ..two_tower.net
            },
            run: LoopParams {
                epochs: 20,
                ..two_tower.run
            },
        }
    }
}

impl Params for NcfParams {
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
}

/// Which network the trainer builds.
#[derive(Debug, Clone, PartialEq)]
pub enum Arch {
    /// Two towers whose outputs meet in a dot product.
    TwoTower {
        tower_layers: Vec<usize>,
        id_dim: usize,
        temperature: f32,
        logq_correction: bool,
    },
    /// One network over the concatenated user and item vectors; `layers` are its hidden widths.
    Ncf { layers: Vec<usize> },
}

/// One tower's parameters: where its embeddings sit in the embedding store and its MLP.
#[derive(Debug, Clone)]
struct Tower {
    id: Option<Block>,
    /// Per-id bias (mse and bce), a `n x 1` block of the embedding store.
    bias: Option<Block>,
    /// One table per feature column; None for numeric columns.
    feats: Vec<Option<Block>>,
    mlp: Mlp,
    in_dim: usize,
}

impl Tower {
    /// The tower input of entity `e` into `x`; `hide_id` zeroes the id embedding (id dropout).
    fn input(&self, emb: &[f32], f: &SideFeatures, e: usize, hide_id: bool, x: &mut [f32]) {
        let mut o = 0;
        if let Some(b) = self.id {
            let d = b.cols;
            if hide_id {
                x[..d].fill(0.0);
            } else {
                x[..d].copy_from_slice(&emb[b.row_offset(e)..b.row_offset(e) + d]);
            }
            o = d;
        }
        for (c, table) in self.feats.iter().enumerate() {
            match table {
                Some(b) => {
                    let d = b.cols;
                    let ids = f.ids(c, e);
                    let s = 1.0 / ids.len() as f32;
                    let out = &mut x[o..o + d];
                    out.fill(0.0);
                    for &id in ids {
                        let row = &emb[b.row_offset(id as usize)..b.row_offset(id as usize) + d];
                        for (a, v) in out.iter_mut().zip(row) {
                            *a += v * s;
                        }
                    }
                    o += d;
                }
                None => {
                    x[o] = f.number(c, e);
                    o += 1;
                }
            }
        }
    }

    /// Sends the gradient of entity `e`'s input back to the embedding rows it came from, plus
    /// the gradient of the L2 penalty `reg * |row|^2` (weighted like the row's input share).
    /// Returns that penalty.
    #[allow(clippy::too_many_arguments)]
    fn scatter(
        &self,
        emb: &[f32],
        f: &SideFeatures,
        e: usize,
        hide_id: bool,
        dx: &[f32],
        reg: f32,
        g: &mut SparseGrads,
    ) -> f64 {
        let mut penalty = 0.0f64;
        let mut push = |off: usize, d: &[f32], s: f32, g: &mut SparseGrads| {
            let row = &emb[off..off + d.len()];
            let grad: Vec<f32> = d
                .iter()
                .zip(row)
                .map(|(dv, w)| dv * s + 2.0 * reg * s * w)
                .collect();
            penalty += (reg * s) as f64 * row.iter().map(|w| (w * w) as f64).sum::<f64>();
            g.push(off, &grad, 1.0);
        };
        let mut o = 0;
        if let Some(b) = self.id {
            if !hide_id {
                push(b.row_offset(e), &dx[..b.cols], 1.0, g);
            }
            o = b.cols;
        }
        for (c, table) in self.feats.iter().enumerate() {
            match table {
                Some(b) => {
                    let ids = f.ids(c, e);
                    let s = 1.0 / ids.len() as f32;
                    for &id in ids {
                        push(b.row_offset(id as usize), &dx[o..o + b.cols], s, g);
                    }
                    o += b.cols;
                }
                None => o += 1,
            }
        }
        penalty
    }

    /// Inputs of `entities` as one row-major matrix; `hidden[j]` hides entity j's id.
    fn inputs(&self, emb: &[f32], f: &SideFeatures, entities: &[u32], hidden: &[bool]) -> Vec<f32> {
        let mut x = vec![0.0f32; entities.len() * self.in_dim];
        for (j, (row, &e)) in x.chunks_exact_mut(self.in_dim).zip(entities).enumerate() {
            self.input(
                emb,
                f,
                e as usize,
                hidden.get(j).copied().unwrap_or(false),
                row,
            );
        }
        x
    }
}

#[allow(clippy::too_many_arguments)]
fn build_tower(
    dense: &mut Layout,
    emb: &mut Layout,
    side: &str,
    n: usize,
    f: &SideFeatures,
    net: &NeuralParams,
    arch: &Arch,
    out_dim: usize,
) -> Result<Tower> {
    let id_dim = match arch {
        Arch::TwoTower { id_dim, .. } => *id_dim,
        Arch::Ncf { .. } => net.factors as usize,
    };
    let feature_dim = net.feature_dim as usize;
    let id = (id_dim > 0).then(|| emb.add(format!("{side}.id_embedding"), n, id_dim));
    let bias = (net.loss != Loss::Softmax).then(|| emb.add(format!("{side}.id_bias"), n, 1));
    let mut in_dim = id_dim;
    let mut feats = Vec::with_capacity(f.specs.len());
    for spec in &f.specs {
        match spec.kind {
            FeatureKind::Numeric => {
                feats.push(None);
                in_dim += 1;
            }
            _ => {
                feats.push(Some(emb.add(
                    format!("{side}.feature.{}", spec.name),
                    spec.table_rows(),
                    feature_dim,
                )));
                in_dim += feature_dim;
            }
        }
    }
    if in_dim == 0 {
        return Err(CoreError::param_hint(
            "id_dim",
            format!("the {side} tower has no input: id_dim is 0 and there are no {side} features"),
            format!("Give {side}_features, or an id_dim greater than 0."),
        ));
    }
    let layers = match arch {
        Arch::TwoTower { tower_layers, .. } => {
            Mlp::layout(dense, side, in_dim, tower_layers, out_dim)
        }
        // ncf: the id embedding is the side's vector; features are mixed in by one linear map.
        Arch::Ncf { .. } if f.specs.is_empty() => Vec::new(),
        Arch::Ncf { .. } => Mlp::layout(dense, side, in_dim, &[], out_dim),
    };
    Ok(Tower {
        id,
        bias,
        feats,
        mlp: Mlp {
            layers,
            dropout: net.dropout as f32,
        },
        in_dim,
    })
}

/// One batch as rows of (user, item, target).
#[derive(Debug, Clone, Default)]
struct Batch {
    users: Vec<u32>,
    items: Vec<u32>,
    targets: Vec<f32>,
    /// Per side, the rows whose id embedding and id bias are hidden (id dropout); empty when
    /// none are.
    hidden: [Vec<bool>; 2],
}

/// The result of a forward and backward pass over a batch.
struct Gradients {
    loss_sum: f64,
    /// Sum of the embedding penalties (the objective is (loss_sum + penalty_sum) / rows); the
    /// gradient check reads it, training reports the loss alone.
    #[cfg_attr(not(test), allow(dead_code))]
    penalty_sum: f64,
    dense: Vec<f32>,
    sparse: SparseGrads,
}

/// A trained two-tower model: the encoded entities plus what is persisted with the version.
#[derive(Debug, Clone)]
pub struct TwoTowerModel {
    pub factors: FactorModel,
    /// Named parameter blocks: (name, rows, cols, values).
    pub tensors: Vec<(String, usize, usize, Vec<f32>)>,
}

pub struct TwoTowerTrainer {
    net: NeuralParams,
    run: LoopParams,
    arch: Arch,
    users: SideFeatures,
    items: SideFeatures,
    user_tower: Tower,
    item_tower: Tower,
    /// ncf: the network over [user vector, item vector], one output.
    joint: Option<Mlp>,
    /// bce: a trained global logit offset in the dense store.
    global_bias: Option<Block>,
    dense_layout: Layout,
    emb_layout: Layout,
    dense: Vec<f32>,
    emb: Vec<f32>,
    adam_dense: Adam,
    adam_emb: Adam,
    train: Vec<Rating>,
    validation: Vec<Rating>,
    log_q: Option<Vec<f32>>,
    mean: f32,
    rating_range: Option<(f32, f32)>,
    epoch: usize,
    best: Option<(f64, usize, Vec<f32>, Vec<f32>)>,
    /// Decides `best` from the validation RMSE (lower is better, any gain counts).
    stopping: EarlyStopping,
    /// Sums of the end-of-epoch parameters over the averaging window, and how many.
    average: Option<(usize, Vec<f32>, Vec<f32>)>,
}

impl TwoTowerTrainer {
    /// A `two_tower` training. `ratings` index users in `0..users.n` and items in `0..items.n`.
    /// `explicit` says whether the values are ratings (else every row is a positive
    /// interaction).
    pub fn two_tower(
        ratings: Vec<Rating>,
        users: SideFeatures,
        items: SideFeatures,
        explicit: bool,
        p: &Checked<TwoTowerParams>,
    ) -> Result<Self> {
        let arch = Arch::TwoTower {
            tower_layers: widths(&p.tower_layers),
            id_dim: p.id_dim as usize,
            temperature: p.temperature as f32,
            logq_correction: p.logq_correction,
        };
        Self::new(ratings, users, items, explicit, &p.net, &p.run, arch)
    }

    /// An `ncf` training (see `two_tower`).
    pub fn ncf(
        ratings: Vec<Rating>,
        users: SideFeatures,
        items: SideFeatures,
        explicit: bool,
        p: &Checked<NcfParams>,
    ) -> Result<Self> {
        let arch = Arch::Ncf {
            layers: widths(&p.layers),
        };
        Self::new(ratings, users, items, explicit, &p.net, &p.run, arch)
    }

    fn new(
        mut ratings: Vec<Rating>,
        users: SideFeatures,
        items: SideFeatures,
        explicit: bool,
        net: &NeuralParams,
        run: &LoopParams,
        arch: Arch,
    ) -> Result<Self> {
        let ncf_layers = match &arch {
            Arch::Ncf { layers } => Some(layers.clone()),
            Arch::TwoTower { .. } => None,
        };
        let logq_correction = matches!(
            arch,
            Arch::TwoTower {
                logq_correction: true,
                ..
            }
        );
        if ncf_layers.is_some() && net.loss == Loss::Softmax {
            return Err(CoreError::param("loss", "ncf cannot use loss \"softmax\""));
        }
        if net.loss == Loss::Mse && !explicit {
            return Err(CoreError::param_hint(
                "loss",
                "loss \"mse\" needs explicit ratings, but rating_col is NULL",
                "Use loss \"bce\" (or \"softmax\" with two_tower) for implicit feedback, or name the rating column.",
            ));
        }
        let (n_users, n_items) = (users.n, items.n);
        let n_train = split_validation(&mut ratings, run.validation_fraction(), run.seed());
        let validation = ratings.split_off(n_train);
        let stats = rating_stats(&ratings);
        let rating_range = if explicit {
            stats.as_ref().map(|s| (s.min, s.max))
        } else {
            None
        };
        let mean = stats.as_ref().map(|s| s.mean as f32).unwrap_or(0.0);
        let positive_threshold = net.positive_threshold as f32;
        let train: Vec<Rating> = match net.loss {
            Loss::Mse => ratings,
            _ => ratings
                .into_iter()
                .filter(|r| !explicit || r.value >= positive_threshold)
                .map(|r| Rating { value: 1.0, ..r })
                .collect(),
        };
        if train.is_empty() {
            return Err(CoreError::data(
                format!(
                    "no positive interactions to train on: no rating is at least positive_threshold {}",
                    positive_threshold
                ),
                Some("Lower positive_threshold, or check the rating column.".into()),
            ));
        }
        let log_q = (net.loss == Loss::Softmax && logq_correction).then(|| {
            let mut counts = vec![0u64; n_items];
            for r in &train {
                counts[r.item as usize] += 1;
            }
            let total = train.len() as f64;
            counts
                .iter()
                // Items never seen as positives never appear in a batch; any finite value works.
                .map(|&c| ((c.max(1) as f64) / total).ln() as f32)
                .collect()
        });

        // Two towers give a bias term next to the vector, except for softmax; ncf's biases are
        // the id biases, its network sees the features.
        let factors = net.factors as usize;
        let out_dim = factors + usize::from(net.loss != Loss::Softmax && ncf_layers.is_none());
        let mut dense_layout = Layout::default();
        let mut emb_layout = Layout::default();
        let user_tower = build_tower(
            &mut dense_layout,
            &mut emb_layout,
            "user",
            n_users,
            &users,
            net,
            &arch,
            out_dim,
        )?;
        let item_tower = build_tower(
            &mut dense_layout,
            &mut emb_layout,
            "item",
            n_items,
            &items,
            net,
            &arch,
            out_dim,
        )?;
        let joint = ncf_layers.map(|layers| Mlp {
            layers: Mlp::layout(&mut dense_layout, "joint", 2 * factors, &layers, 1),
            dropout: net.dropout as f32,
        });
        let global_bias = (net.loss == Loss::Bce).then(|| dense_layout.add("global_bias", 1, 1));

        let mut rng = stream(run.seed(), &[TAG_INIT]);
        let mut dense = vec![0.0f32; dense_layout.len];
        user_tower.mlp.init(&mut dense, &mut rng);
        item_tower.mlp.init(&mut dense, &mut rng);
        if let Some(j) = &joint {
            j.init(&mut dense, &mut rng);
        }
        let normal = Normal::new(0.0, net.init_std as f32 as f64)
            .map_err(|e| CoreError::param("init_std", e.to_string()))?;
        let mut emb = vec![0.0f32; emb_layout.len];
        for (name, b) in &emb_layout.names {
            if name.ends_with(".id_bias") {
                continue;
            }
            for v in &mut emb[b.offset..b.offset + b.len()] {
                *v = normal.sample(&mut rng) as f32;
            }
        }
        // Entities without training rows (cold ones) keep an all-zero id embedding, the centre
        // of the trained ones, instead of random noise that the towers never learned to read.
        let mut seen = [vec![false; n_users], vec![false; n_items]];
        for r in &train {
            seen[0][r.user as usize] = true;
            seen[1][r.item as usize] = true;
        }
        for (tower, seen) in [&user_tower, &item_tower].into_iter().zip(&seen) {
            if let Some(b) = tower.id {
                for (e, _) in seen.iter().enumerate().filter(|(_, s)| !**s) {
                    emb[b.row_offset(e)..b.row_offset(e) + b.cols].fill(0.0);
                }
            }
        }
        let learning_rate = net.learning_rate as f32;
        let adam_dense = Adam::new(dense.len(), learning_rate, net.weight_decay as f32);
        // No weight decay on the embedding rows of Adam: lazy updates would decay frequent
        // rows more than rare ones; they are bounded by their own gradients.
        let adam_emb = Adam::new(emb.len(), learning_rate, 0.0);
        Ok(Self {
            users,
            items,
            user_tower,
            item_tower,
            joint,
            global_bias,
            dense_layout,
            emb_layout,
            dense,
            emb,
            adam_dense,
            adam_emb,
            train,
            validation,
            log_q,
            mean,
            rating_range,
            epoch: 0,
            best: None,
            stopping: EarlyStopping::new(run.patience(), 0.0, false),
            average: None,
            net: net.clone(),
            run: run.clone(),
            arch,
        })
    }

    pub fn n_validation(&self) -> usize {
        self.validation.len()
    }

    pub fn n_dense_parameters(&self) -> usize {
        self.dense.len()
    }

    pub fn n_embedding_parameters(&self) -> usize {
        self.emb.len()
    }

    /// The rows of one batch: the chosen training rows, plus sampled negatives for bce.
    fn batch_rows(&self, order: &[u32], epoch: usize, b: usize) -> Batch {
        let mut out = Batch::default();
        let negs = if self.net.loss == Loss::Bce {
            self.net.negatives as usize
        } else {
            0
        };
        let mut rng = stream(self.run.seed(), &[TAG_NEGATIVES, epoch as u64, b as u64]);
        let n_items = self.items.n as u32;
        for &r in order {
            let r = self.train[r as usize];
            out.users.push(r.user);
            out.items.push(r.item);
            out.targets.push(r.value);
            for _ in 0..negs {
                out.users.push(r.user);
                out.items.push(rng.gen_range(0..n_items));
                out.targets.push(0.0);
            }
        }
        let sides = [&self.users, &self.items];
        let id_dropout = self.net.id_dropout();
        if id_dropout > 0.0 {
            for (t, hidden) in out.hidden.iter_mut().enumerate() {
                // Only a side with features can score without its ids.
                if sides[t].specs.is_empty() {
                    continue;
                }
                let mut rng = stream(
                    self.run.seed(),
                    &[TAG_ID_DROPOUT, epoch as u64, b as u64, t as u64],
                );
                *hidden = (0..out.users.len())
                    .map(|_| rng.gen::<f32>() < id_dropout)
                    .collect();
            }
        }
        out
    }

    fn base(&self) -> f32 {
        match (self.net.loss, self.global_bias) {
            (Loss::Mse, _) => self.mean,
            (Loss::Bce, Some(b)) => self.dense[b.offset],
            _ => 0.0,
        }
    }

    /// Mean loss gradient of one batch. `dropout` gives (epoch, batch) while training.
    fn gradients(&self, batch: &Batch, dropout: Option<(usize, usize)>) -> Gradients {
        let n = batch.users.len();
        let chunks: Vec<Range<usize>> = (0..n)
            .step_by(CHUNK)
            .map(|s| s..(s + CHUNK).min(n))
            .collect();
        let towers = [&self.user_tower, &self.item_tower];
        let sides = [&self.users, &self.items];
        let ids = [&batch.users, &batch.items];
        let out_dim = self.user_tower.mlp.n_out(self.user_tower.in_dim);
        let dropout_rng = |c: usize, t: usize| {
            dropout.map(|(e, b)| {
                stream(
                    self.run.seed(),
                    &[TAG_DROPOUT, e as u64, b as u64, c as u64, t as u64],
                )
            })
        };
        // Forward both towers (and ncf's network over their outputs), chunk by chunk.
        let caches: Vec<[MlpCache; 3]> = chunks
            .par_iter()
            .enumerate()
            .map(|(c, range)| {
                let [u, i] = [0usize, 1].map(|t| {
                    let mut cache = MlpCache {
                        acts: vec![towers[t].inputs(
                            &self.emb,
                            sides[t],
                            &ids[t][range.clone()],
                            batch.hidden[t].get(range.clone()).unwrap_or(&[]),
                        )],
                        masks: Vec::new(),
                        rows: range.len(),
                    };
                    towers[t]
                        .mlp
                        .forward(&self.dense, &mut cache, dropout_rng(c, t).as_mut());
                    cache
                });
                let mut joint = MlpCache::default();
                if let Some(net) = &self.joint {
                    let mut x = Vec::with_capacity(range.len() * 2 * out_dim);
                    for (a, b) in u
                        .output()
                        .chunks_exact(out_dim)
                        .zip(i.output().chunks_exact(out_dim))
                    {
                        x.extend_from_slice(a);
                        x.extend_from_slice(b);
                    }
                    joint = MlpCache {
                        acts: vec![x],
                        masks: Vec::new(),
                        rows: range.len(),
                    };
                    net.forward(&self.dense, &mut joint, dropout_rng(c, 2).as_mut());
                }
                [u, i, joint]
            })
            .collect();
        let gather = |t: usize| -> Vec<f32> {
            let mut o = Vec::with_capacity(n * out_dim);
            for c in &caches {
                o.extend_from_slice(c[t].output());
            }
            o
        };
        let (ou, oi) = (gather(0), gather(1));
        let mut d_out = [vec![0.0f32; n * out_dim], vec![0.0f32; n * out_dim]];
        // d loss / d (per-id bias) per row, and d loss / d global bias.
        let mut d_bias = vec![0.0f32; n];
        let mut d_global = 0.0f32;
        let mut loss_sum = 0.0f64;
        let k = self.net.factors as usize;
        // ncf: d loss / d network output per row.
        let mut d_score = vec![0.0f32; if self.joint.is_some() { n } else { 0 }];
        match self.net.loss {
            Loss::Mse | Loss::Bce => {
                let base = self.base();
                let inv_n = 1.0 / n as f32;
                // ncf: the network's output per row.
                let net: Vec<f32> = match self.joint {
                    Some(_) => caches.iter().flat_map(|c| c[2].output().to_vec()).collect(),
                    None => Vec::new(),
                };
                for r in 0..n {
                    let mut s = base;
                    for (t, e) in [batch.users[r], batch.items[r]].into_iter().enumerate() {
                        if !hides(batch, t, r) {
                            s += self.id_bias(t, e);
                        }
                    }
                    let (u, v) = (
                        &ou[r * out_dim..(r + 1) * out_dim],
                        &oi[r * out_dim..(r + 1) * out_dim],
                    );
                    if self.joint.is_some() {
                        s += net[r];
                    } else {
                        s += u[k];
                        s += v[k];
                        s += dot(&u[..k], &v[..k]);
                    }
                    let (l, g) = if self.net.loss == Loss::Mse {
                        squared_error(s, batch.targets[r])
                    } else {
                        binary_cross_entropy(s, batch.targets[r])
                    };
                    loss_sum += l as f64;
                    let g = g * inv_n;
                    if self.joint.is_some() {
                        d_score[r] = g;
                    } else {
                        let [du, dv] = &mut d_out;
                        let du = &mut du[r * out_dim..(r + 1) * out_dim];
                        let dv = &mut dv[r * out_dim..(r + 1) * out_dim];
                        for j in 0..k {
                            du[j] = g * v[j];
                            dv[j] = g * u[j];
                        }
                        du[k] = g;
                        dv[k] = g;
                    }
                    d_bias[r] = g;
                    d_global += g;
                }
            }
            Loss::Softmax => {
                let temperature = match self.arch {
                    Arch::TwoTower { temperature, .. } => temperature,
                    Arch::Ncf { .. } => 1.0,
                };
                let mut uh = vec![0.0f32; n * k];
                let mut vh = vec![0.0f32; n * k];
                let nu = normalize_rows(&ou, k, &mut uh);
                let nv = normalize_rows(&oi, k, &mut vh);
                let [du, dv] = &mut d_out;
                let l = in_batch_softmax(
                    &uh,
                    &vh,
                    &batch.items,
                    self.log_q.as_deref(),
                    temperature,
                    k,
                    du,
                    dv,
                );
                normalize_rows_backward(&uh, &nu, k, du);
                normalize_rows_backward(&vh, &nv, k, dv);
                loss_sum = l as f64 * n as f64;
            }
        }
        // Backward both towers, chunk by chunk; each chunk has its own gradient buffers.
        let inv_n = 1.0 / n as f32;
        let reg = self.net.regularization as f32 * inv_n;
        let parts: Vec<(Vec<f32>, SparseGrads, f64)> = chunks
            .par_iter()
            .zip(caches.par_iter())
            .map(|(range, cache)| {
                let mut dense = vec![0.0f32; self.dense.len()];
                let mut sparse = SparseGrads::default();
                let mut penalty = 0.0f64;
                let mut d_towers =
                    [0, 1].map(|t| d_out[t][range.start * out_dim..range.end * out_dim].to_vec());
                if let Some(net) = &self.joint {
                    let d = d_score[range.clone()].to_vec();
                    let dx = net.backward(&self.dense, &cache[2], d, &mut dense);
                    for (t, d_tower) in d_towers.iter_mut().enumerate() {
                        for (row, dst) in dx
                            .chunks_exact(2 * out_dim)
                            .zip(d_tower.chunks_exact_mut(out_dim))
                        {
                            dst.copy_from_slice(&row[t * out_dim..(t + 1) * out_dim]);
                        }
                    }
                }
                for (t, d) in d_towers.into_iter().enumerate() {
                    let dx = towers[t]
                        .mlp
                        .backward(&self.dense, &cache[t], d, &mut dense);
                    let in_dim = towers[t].in_dim;
                    for (j, r) in range.clone().enumerate() {
                        let e = ids[t][r] as usize;
                        let hidden = hides(batch, t, r);
                        penalty += towers[t].scatter(
                            &self.emb,
                            sides[t],
                            e,
                            hidden,
                            &dx[j * in_dim..(j + 1) * in_dim],
                            reg,
                            &mut sparse,
                        );
                        if let Some(b) = towers[t].bias.filter(|_| !hidden) {
                            let w = self.emb[b.row_offset(e)];
                            sparse.push(b.row_offset(e), &[d_bias[r] + 2.0 * reg * w], 1.0);
                            penalty += (reg * w * w) as f64;
                        }
                    }
                }
                (dense, sparse, penalty)
            })
            .collect();
        let mut dense = vec![0.0f32; self.dense.len()];
        let mut penalty_sum = 0.0f64;
        for (d, _, p) in &parts {
            penalty_sum += p * n as f64;
            for (a, b) in dense.iter_mut().zip(d) {
                *a += b;
            }
        }
        if let Some(b) = self.global_bias {
            dense[b.offset] += d_global;
        }
        let sparse = SparseGrads::merge(parts.iter().map(|(_, s, _)| s));
        Gradients {
            loss_sum,
            penalty_sum,
            dense,
            sparse,
        }
    }

    #[inline]
    fn id_bias(&self, side: usize, e: u32) -> f32 {
        let t = if side == 0 {
            &self.user_tower
        } else {
            &self.item_tower
        };
        t.bias
            .map(|b| self.emb[b.row_offset(e as usize)])
            .unwrap_or(0.0)
    }

    /// Encodes every entity of one side: (vectors `n x factors`, biases).
    fn encode_side(&self, side: usize) -> (Vec<f32>, Vec<f32>) {
        let (tower, f) = if side == 0 {
            (&self.user_tower, &self.users)
        } else {
            (&self.item_tower, &self.items)
        };
        let n = f.n;
        let k = self.net.factors as usize;
        let out_dim = tower.mlp.n_out(tower.in_dim);
        let entities: Vec<u32> = (0..n as u32).collect();
        let outs: Vec<(Vec<f32>, Vec<f32>)> = entities
            .par_chunks(1024)
            .map(|chunk| {
                let mut cache = MlpCache {
                    acts: vec![tower.inputs(&self.emb, f, chunk, &[])],
                    masks: Vec::new(),
                    rows: chunk.len(),
                };
                tower.mlp.forward(&self.dense, &mut cache, None);
                let o = cache.output();
                let mut vecs = Vec::with_capacity(chunk.len() * k);
                let mut bias = Vec::with_capacity(chunk.len());
                for (row, &e) in o.chunks_exact(out_dim).zip(chunk) {
                    if self.net.loss == Loss::Softmax {
                        let nrm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                        vecs.extend(row.iter().map(|v| v / nrm));
                        bias.push(0.0);
                    } else if out_dim == k {
                        vecs.extend_from_slice(row);
                        bias.push(self.id_bias(side, e));
                    } else {
                        vecs.extend_from_slice(&row[..k]);
                        bias.push(row[k] + self.id_bias(side, e));
                    }
                }
                (vecs, bias)
            })
            .collect();
        let mut vecs = Vec::with_capacity(n * k);
        let mut bias = Vec::with_capacity(n);
        for (v, b) in outs {
            vecs.extend(v);
            bias.extend(b);
        }
        (vecs, bias)
    }

    /// Every user and item (cold ones included) pushed through its tower. Runs on the current
    /// rayon pool (call it inside `pool.install`).
    pub fn encode(&self) -> FactorModel {
        let (user_factors, user_bias) = self.encode_side(0);
        let (item_factors, item_bias) = self.encode_side(1);
        FactorModel {
            factors: self.net.factors as usize,
            global_mean: self.base(),
            rating_range: self.rating_range,
            user_bias,
            item_bias,
            user_factors,
            item_factors,
            head: self.joint.as_ref().map(|net| ScoreHead {
                layers: net
                    .layers
                    .iter()
                    .map(|l| HeadLayer {
                        n_in: l.n_in(),
                        n_out: l.n_out(),
                        weight: l.w.slice(&self.dense).to_vec(),
                        bias: l.b.slice(&self.dense).to_vec(),
                    })
                    .collect(),
            }),
        }
    }

    fn validation_rmse(&self) -> Option<f64> {
        if self.validation.is_empty() {
            return None;
        }
        let m = self.encode();
        let kern = crate::kernels::Kernels::detect();
        let pairs: Vec<(f32, f32)> = self
            .validation
            .iter()
            .map(|r| (m.predict(kern, r.user, r.item), r.value))
            .collect();
        Some(crate::metrics::rmse(&pairs))
    }

    /// The model and its parameters, encoded on `pool`.
    pub fn finish_on(self, pool: &ThreadPool) -> TwoTowerModel {
        pool.install(|| self.finish())
    }

    /// The mean of the epoch-end parameters in the averaging window, once it has started.
    fn averaged_parameters(&self) -> Option<(Vec<f32>, Vec<f32>)> {
        let (n, dense, emb) = self.average.as_ref()?;
        let inv = 1.0 / *n as f32;
        let scale = |v: &[f32]| v.iter().map(|x| x * inv).collect();
        Some((scale(dense), scale(emb)))
    }

    /// The model and its parameters, encoded on the current rayon pool.
    fn into_model(mut self) -> TwoTowerModel {
        if let Some((_, _, dense, emb)) = self.best.take() {
            self.dense = dense;
            self.emb = emb;
        } else if let Some((dense, emb)) = self.averaged_parameters() {
            self.dense = dense;
            self.emb = emb;
        }
        let factors = self.encode();
        let mut tensors = Vec::new();
        for (layout, store) in [
            (&self.dense_layout, &self.dense),
            (&self.emb_layout, &self.emb),
        ] {
            for (name, b) in &layout.names {
                tensors.push((name.clone(), b.rows, b.cols, b.slice(store).to_vec()));
            }
        }
        TwoTowerModel { factors, tensors }
    }
}

/// Whether row `r` of the batch hides side `t`'s id (id dropout).
fn hides(batch: &Batch, t: usize, r: usize) -> bool {
    batch.hidden[t].get(r).copied().unwrap_or(false)
}

fn add_assign(sum: &mut [f32], x: &[f32]) {
    sum.iter_mut().zip(x).for_each(|(a, b)| *a += b);
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl IterativeTrainer for TwoTowerTrainer {
    type Model = TwoTowerModel;

    fn max_epochs(&self) -> usize {
        self.run.epochs()
    }

    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<EpochReport> {
        let epoch = self.epoch;
        self.epoch += 1;
        let mut order: Vec<u32> = (0..self.train.len() as u32).collect();
        order.shuffle(&mut stream(self.run.seed(), &[TAG_SHUFFLE, epoch as u64]));
        let (mut loss_sum, mut rows) = (0.0f64, 0usize);
        for (b, chunk) in order.chunks(self.net.batch_size as usize).enumerate() {
            cancel.check()?;
            let batch = self.batch_rows(chunk, epoch, b);
            let g = pool.install(|| self.gradients(&batch, Some((epoch, b))));
            loss_sum += g.loss_sum;
            rows += batch.users.len();
            self.adam_dense.tick();
            self.adam_emb.tick();
            pool.install(|| {
                self.adam_dense.step_dense(&mut self.dense, &g.dense);
                self.adam_emb.step_rows(&mut self.emb, &g.sparse);
            });
        }
        cancel.check()?;
        // Inside the averaging window the candidate model is the mean of the epoch ends so far;
        // it is what validation measures and what training returns.
        let average_epochs = self.net.average_epochs(&self.run);
        let averaged = average_epochs > 1 && epoch + average_epochs >= self.run.epochs();
        if averaged {
            let (n, d, e) = self
                .average
                .get_or_insert_with(|| (0, vec![0.0; self.dense.len()], vec![0.0; self.emb.len()]));
            *n += 1;
            add_assign(d, &self.dense);
            add_assign(e, &self.emb);
        }
        // Without a validation set the mean is only formed at the end (into_model).
        let mut candidate = (averaged && !self.validation.is_empty())
            .then(|| self.averaged_parameters())
            .flatten();
        let validation_rmse = match candidate.as_mut() {
            Some((dense, emb)) => {
                std::mem::swap(&mut self.dense, dense);
                std::mem::swap(&mut self.emb, emb);
                let v = pool.install(|| self.validation_rmse());
                std::mem::swap(&mut self.dense, dense);
                std::mem::swap(&mut self.emb, emb);
                v
            }
            None => pool.install(|| self.validation_rmse()),
        };
        let mut stop = false;
        if let Some(v) = validation_rmse {
            let verdict = self.stopping.observe(v);
            if verdict.improved {
                let (dense, emb) =
                    candidate.unwrap_or_else(|| (self.dense.clone(), self.emb.clone()));
                self.best = Some((v, epoch + 1, dense, emb));
            }
            stop = verdict.stop;
        }
        Ok(EpochReport {
            epoch: epoch + 1,
            train_loss: loss_sum / rows.max(1) as f64,
            validation_rmse,
            stop,
        })
    }

    /// Encodes every entity on the current rayon pool (call it inside `pool.install`).
    fn finish(self) -> TwoTowerModel {
        self.into_model()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::{FeatureBuilder, RawValue};

    /// Users 0..nu, items 0..ni; items have one categorical feature "g" (a genre), a numeric
    /// "x", and users a categorical "a".
    fn toy(nu: usize, ni: usize) -> (SideFeatures, SideFeatures) {
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

    /// A trainer for `case`: "mse", "bce", "softmax" for two towers; "ncf-mse", "ncf-bce" for
    /// ncf. Small networks; `tweak` changes the shared params before they are checked.
    fn trainer_with(
        case: &str,
        rows: Vec<Rating>,
        (uf, itf): (SideFeatures, SideFeatures),
        tweak: impl FnOnce(&mut NeuralParams, &mut LoopParams),
    ) -> TwoTowerTrainer {
        let small = |net: NeuralParams, loss: &str| NeuralParams {
            factors: 3,
            feature_dim: 2,
            loss: serde_json::from_value(serde_json::json!(loss)).unwrap(),
            init_std: 0.3,
            regularization: 0.1,
            ..net
        };
        if let Some(loss) = case.strip_prefix("ncf-") {
            let mut p = NcfParams {
                layers: vec![5, 4],
                ..Default::default()
            };
            p.net = small(p.net, loss);
            tweak(&mut p.net, &mut p.run);
            let p = Checked::new(p).unwrap();
            return TwoTowerTrainer::ncf(rows, uf, itf, true, &p).unwrap();
        }
        let mut p = TwoTowerParams {
            tower_layers: vec![5],
            id_dim: 2,
            temperature: 0.5,
            ..Default::default()
        };
        p.net = small(p.net, case);
        tweak(&mut p.net, &mut p.run);
        let p = Checked::new(p).unwrap();
        TwoTowerTrainer::two_tower(rows, uf, itf, true, &p).unwrap()
    }

    fn trainer(
        case: &str,
        rows: Vec<Rating>,
        features: (SideFeatures, SideFeatures),
    ) -> TwoTowerTrainer {
        trainer_with(case, rows, features, |_, _| {})
    }

    fn ratings(nu: usize, ni: usize) -> Vec<Rating> {
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

    /// Mean loss of a batch, recomputed from scratch (no dropout).
    fn batch_loss(t: &TwoTowerTrainer, batch: &Batch) -> f64 {
        batch_loss_with(t, batch, None)
    }

    /// Mean loss of a batch with the dropout masks of (epoch, batch) when given: the masks are
    /// drawn from the seed alone, so every call sees the same ones.
    fn batch_loss_with(t: &TwoTowerTrainer, batch: &Batch, dropout: Option<(usize, usize)>) -> f64 {
        let g = t.gradients(batch, dropout);
        (g.loss_sum + g.penalty_sum) / batch.users.len() as f64
    }

    /// One coordinate of the embedding store (`emb`) or of the dense store.
    fn slot(t: &mut TwoTowerTrainer, emb: bool, j: usize) -> &mut f32 {
        if emb {
            &mut t.emb[j]
        } else {
            &mut t.dense[j]
        }
    }

    /// Every dense parameter and every embedding coordinate the batch touches against central
    /// differences, for each loss (this covers the layers, the pooling, the biases and the
    /// loss functions), without dropout and with a fixed dropout mask (the mask is drawn from
    /// (seed, epoch, batch, chunk, side) only, so the shifted losses reuse it). Then the
    /// directional derivative along random directions over all those coordinates at once.
    #[test]
    fn gradients_match_finite_differences() {
        for loss in ["mse", "bce", "softmax", "ncf-mse", "ncf-bce", "ncf-plain"] {
            for dropout in [None, Some((1, 2))] {
                check_gradients(loss, dropout);
            }
        }
    }

    fn check_gradients(loss: &str, dropout: Option<(usize, usize)>) {
        let (uf, itf) = toy(6, 5);
        // ncf without features: the id embeddings feed the network directly.
        let (loss, uf, itf) = match loss {
            "ncf-plain" => ("ncf-mse", SideFeatures::none(6), SideFeatures::none(5)),
            l => (l, uf, itf),
        };
        let mut t = trainer_with(loss, ratings(6, 5), (uf, itf), |net, _| net.dropout = 0.3);
        // Move off the initial point so that biases and the global bias matter.
        t.dense
            .iter_mut()
            .enumerate()
            .for_each(|(j, w)| *w += 0.01 * (j % 7) as f32);
        let order: Vec<u32> = (0..8).collect();
        let mut batch = t.batch_rows(&order, 0, 0);
        // Id dropout: some rows hide the user's id, others the item's (only on a side with
        // features, as in training).
        let n = batch.users.len();
        for (t_side, (hidden, k)) in [(&t.users, 3), (&t.items, 4)].into_iter().enumerate() {
            if !hidden.specs.is_empty() {
                batch.hidden[t_side] = (0..n).map(|r| r % k == t_side).collect();
            }
        }
        let g = t.gradients(&batch, dropout);
        let label = format!("{loss} dropout {dropout:?}");
        if dropout.is_some() {
            // The mask is fixed (same loss twice) and drops something (loss and gradient
            // differ from the pass without dropout).
            let l = batch_loss_with(&t, &batch, dropout);
            assert_eq!(l, batch_loss_with(&t, &batch, dropout), "{label}");
            assert_ne!(l, batch_loss(&t, &batch), "{label}");
            assert_ne!(g.dense, t.gradients(&batch, None).dense, "{label}");
        }
        // ncf stacks more ReLUs: a smaller step keeps the differences off their kinks.
        let h = if loss.starts_with("ncf") {
            2e-3f32
        } else {
            1e-2f32
        };
        // The loss with one coordinate (`emb` or dense store) moved by `delta`.
        let loss_at = |t: &mut TwoTowerTrainer, emb: bool, j: usize, delta: f32| {
            let w = *slot(t, emb, j);
            *slot(t, emb, j) = w + delta;
            let l = batch_loss_with(t, &batch, dropout);
            *slot(t, emb, j) = w;
            l
        };
        let close = |num: f64, ana: f64| (num - ana).abs() < TOL_ABS + TOL_REL * num.abs();
        // A coordinate passes when the central difference at h matches, or one of the
        // one-sided differences at h / 10: a ReLU kink within h of a pre-activation (rows
        // with a hidden id have small inputs, so their pre-activations sit close to the
        // biases and to 0) bends the central difference and one side, never both sides.
        // A wrong gradient fails all three.
        let mut one_sided = 0;
        let mut check = |t: &mut TwoTowerTrainer, emb: bool, j: usize, ana: f64| {
            let central = (loss_at(t, emb, j, h) - loss_at(t, emb, j, -h)) / (2.0 * h as f64);
            if close(central, ana) {
                return;
            }
            one_sided += 1;
            let s = h / 10.0;
            let at = loss_at(t, emb, j, 0.0);
            let forward = (loss_at(t, emb, j, s) - at) / s as f64;
            let backward = (at - loss_at(t, emb, j, -s)) / s as f64;
            assert!(
                close(forward, ana) || close(backward, ana),
                "{label}: {} {j}: numeric {central} ({forward} / {backward} one-sided) vs analytic {ana}",
                if emb { "embedding offset" } else { "dense" }
            );
        };
        let mut coords: Vec<(bool, usize, f64)> = (0..t.dense.len())
            .map(|j| (false, j, g.dense[j] as f64))
            .collect();
        let merged = SparseGrads::merge([&g.sparse]);
        let mut at = 0;
        for &(off, dim) in &merged.rows {
            for d in 0..dim as usize {
                coords.push((true, off + d, merged.values[at + d] as f64));
            }
            at += dim as usize;
        }
        for &(emb, j, ana) in &coords {
            check(&mut t, emb, j, ana);
        }
        assert!(
            coords.len() > 50,
            "{label}: only {} coordinates checked",
            coords.len()
        );
        // Kinks are rare: most coordinates pass on the central difference.
        assert!(
            one_sided * 10 < coords.len(),
            "{label}: {one_sided} one-sided"
        );
        // The directional derivative along random sign vectors over all those coordinates at
        // once, against g . d. Each coordinate moves by a small step, and Richardson
        // extrapolation of two central differences removes the h^2 term; the error is
        // measured against the largest possible value, sum |g_i|. A path that crosses a ReLU
        // kink shows as differences at h and h / 2 that disagree beyond the h^2 term; such a
        // direction is skipped, and at least three smooth directions must pass.
        let scale: f64 = coords.iter().map(|c| c.2.abs()).sum();
        let mut rng = stream(0xD1EC, &[dropout.is_some() as u64, coords.len() as u64]);
        let mut smooth = 0;
        for _ in 0..12 {
            let dir: Vec<f32> = coords
                .iter()
                .map(|_| if rng.gen::<bool>() { 1.0 } else { -1.0 })
                .collect();
            let ana: f64 = coords.iter().zip(&dir).map(|(c, &d)| c.2 * d as f64).sum();
            let moved = |t: &mut TwoTowerTrainer, eps: f32| {
                let saved: Vec<f32> = coords.iter().map(|&(e, j, _)| *slot(t, e, j)).collect();
                for (&(e, j, _), &d) in coords.iter().zip(&dir) {
                    *slot(t, e, j) += eps * d;
                }
                let l = batch_loss_with(t, &batch, dropout);
                for (&(e, j, _), &w) in coords.iter().zip(&saved) {
                    *slot(t, e, j) = w;
                }
                l
            };
            let central = |t: &mut TwoTowerTrainer, eps: f32| {
                (moved(t, eps) - moved(t, -eps)) / (2.0 * eps as f64)
            };
            let (d1, d2) = (central(&mut t, DIR_STEP), central(&mut t, DIR_STEP / 2.0));
            if (d1 - d2).abs() > DIR_KINK * scale {
                continue;
            }
            let extrapolated = (4.0 * d2 - d1) / 3.0;
            assert!(
                (extrapolated - ana).abs() < DIR_TOL * scale,
                "{label}: directional derivative {extrapolated} ({d1} at h, {d2} at h / 2) vs g . d {ana} (sum |g| {scale})"
            );
            smooth += 1;
            if smooth == 3 {
                break;
            }
        }
        assert_eq!(smooth, 3, "{label}: too few smooth directions");
    }

    /// Tolerance of the per-coordinate check: absolute, and relative to the numeric value.
    const TOL_ABS: f64 = 3e-3;
    const TOL_REL: f64 = 0.03;
    /// Step of the directional check (every coordinate moves by this), its tolerance relative
    /// to sum |g_i|, and the disagreement between steps h and h / 2 (relative to sum |g_i|)
    /// past which a direction counts as crossing a kink.
    const DIR_STEP: f32 = 5e-4;
    const DIR_TOL: f64 = 3e-3;
    const DIR_KINK: f64 = 5e-4;

    fn fit(loss: &str, threads: usize) -> TwoTowerModel {
        let (uf, itf) = toy(40, 30);
        let mut t = trainer_with(loss, ratings(40, 30), (uf, itf), |net, run| {
            run.epochs = 3;
            net.average_epochs = Some(2);
            net.batch_size = 100;
            net.dropout = 0.2;
        });
        let pool = crate::parallel::build_pool(threads).unwrap();
        let cancel = CancelFlag::new();
        for _ in 0..t.max_epochs() {
            t.step(&pool, &cancel).unwrap();
        }
        t.finish_on(&pool)
    }

    #[test]
    fn same_model_for_any_thread_count() {
        for loss in ["mse", "softmax", "ncf-mse", "ncf-bce"] {
            let one = fit(loss, 1);
            let four = fit(loss, 4);
            assert_eq!(one.factors, four.factors, "{loss}");
            assert_eq!(one.tensors, four.tensors, "{loss}");
        }
    }

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

    /// The returned parameters are the mean of the epoch-end parameters of the last
    /// `average_epochs` epochs, and only of those; the default averages the last half.
    #[test]
    fn averaging_returns_the_mean_of_the_last_epoch_ends() {
        let defaults = Checked::new(TwoTowerParams::default()).unwrap();
        assert_eq!(
            defaults.net.average_epochs,
            Some(defaults.run.epochs().div_ceil(2) as i64)
        );
        let mut t = trainer_with("mse", ratings(12, 9), toy(12, 9), |net, run| {
            run.epochs = 5;
            net.average_epochs = Some(3);
            net.batch_size = 16;
        });
        let pool = crate::parallel::build_pool(2).unwrap();
        let cancel = CancelFlag::new();
        let mut ends = Vec::new();
        for _ in 0..t.max_epochs() {
            t.step(&pool, &cancel).unwrap();
            ends.push((t.dense.clone(), t.emb.clone()));
        }
        let last = ends[4].clone();
        let model = t.finish_on(&pool);
        let stored = |name: &str| {
            model
                .tensors
                .iter()
                .find(|(n, ..)| n == name)
                .map(|(.., v)| v.clone())
                .unwrap()
        };
        let (dense_layout, emb_layout) = {
            let t = trainer("mse", ratings(12, 9), toy(12, 9));
            (t.dense_layout, t.emb_layout)
        };
        let mut compared = 0;
        for (layout, pick) in [(&dense_layout, 0), (&emb_layout, 1)] {
            for (name, b) in &layout.names {
                let got = stored(name);
                let slice = |e: &(Vec<f32>, Vec<f32>)| {
                    b.slice(if pick == 0 { &e.0 } else { &e.1 }).to_vec()
                };
                for (k, g) in got.iter().enumerate() {
                    let mean = ends[2..].iter().map(|e| slice(e)[k]).sum::<f32>() / 3.0;
                    assert!((g - mean).abs() <= 1e-5 * (1.0 + mean.abs()), "{name}[{k}]");
                    compared += 1;
                }
                // Something moved in the window, so the mean is not the last epoch's value.
                if name == "item.id_embedding" {
                    assert!(got != slice(&last), "{name} is not averaged");
                }
            }
        }
        assert!(compared > 100);
    }

    /// With validation, the returned model is the one that scored the best validation RMSE,
    /// whether that was a raw epoch end or a running mean inside the averaging window.
    #[test]
    fn validation_keeps_the_model_it_measured() {
        // Learnable ratings: users and items of the same parity like each other. Validation
        // keeps improving on them, so with 4 epochs averaged the best is a running mean.
        let learnable: Vec<Rating> = (0..30u32)
            .flat_map(|u| (0..20u32).map(move |i| (u, i)))
            .filter(|(u, i)| (u + 2 * i) % 3 != 0)
            .map(|(user, item)| Rating {
                user,
                item,
                value: if user % 2 == item % 2 { 4.5 } else { 1.5 },
            })
            .collect();
        // On `ratings` (values without structure) validation gets worse after the first epochs,
        // so without averaging the best is an early epoch, not the last.
        let cases = [
            (learnable, (30, 20), 4, "a running mean"),
            (ratings(30, 20), (30, 20), 1, "an early epoch"),
        ];
        for (rows, (nu, ni), average_epochs, expect) in cases {
            let mut t = trainer_with("mse", rows, toy(nu, ni), |net, run| {
                run.epochs = 8;
                net.average_epochs = Some(average_epochs as i64);
                net.batch_size = 16;
                net.learning_rate = 0.01;
                net.dropout = 0.0;
                run.validation_fraction = 0.25;
                run.patience = 10;
            });
            let pool = crate::parallel::build_pool(2).unwrap();
            let validation = t.validation.clone();
            let cancel = CancelFlag::new();
            let mut reported = Vec::new();
            for _ in 0..t.max_epochs() {
                reported.push(t.step(&pool, &cancel).unwrap().validation_rmse.unwrap());
            }
            let (best_epoch, best) =
                reported
                    .iter()
                    .cloned()
                    .enumerate()
                    .fold(
                        (0, f64::INFINITY),
                        |b, (e, v)| if v < b.1 { (e, v) } else { b },
                    );
            if average_epochs > 1 {
                assert!(best_epoch + average_epochs >= 8, "{expect}: {reported:?}");
            } else {
                assert!(best_epoch < 7, "{expect}: {reported:?}");
            }
            let model = t.finish_on(&pool).factors;
            let kern = crate::kernels::Kernels::detect();
            let pairs: Vec<(f32, f32)> = validation
                .iter()
                .map(|r| (model.predict(kern, r.user, r.item), r.value))
                .collect();
            let got = crate::metrics::rmse(&pairs);
            assert!((got - best).abs() < 1e-9, "{expect}: {got} vs {reported:?}");
        }
    }

    /// A row that hides an id sees neither its id embedding nor its id bias: the loss does not
    /// move when they do, and no gradient reaches them. With the ids visible, it does.
    #[test]
    fn hidden_ids_do_not_reach_the_loss() {
        for loss in ["mse", "bce", "ncf-mse"] {
            let mut t = trainer(loss, ratings(6, 5), toy(6, 5));
            let order: Vec<u32> = (0..t.train.len() as u32).collect();
            let mut batch = t.batch_rows(&order, 0, 0);
            let n = batch.users.len();
            let id_blocks: Vec<Block> = t
                .emb_layout
                .names
                .iter()
                .filter(|(name, _)| name.ends_with(".id_embedding") || name.ends_with(".id_bias"))
                .map(|(_, b)| *b)
                .collect();
            assert_eq!(id_blocks.len(), 4, "{loss}");
            for hide in [true, false] {
                batch.hidden = [vec![hide; n], vec![hide; n]];
                let g = t.gradients(&batch, None);
                let before = batch_loss(&t, &batch);
                let saved = t.emb.clone();
                for b in &id_blocks {
                    t.emb[b.offset..b.offset + b.len()]
                        .iter_mut()
                        .for_each(|w| *w += 0.5);
                }
                let after = batch_loss(&t, &batch);
                t.emb = saved;
                let touched = g.sparse.rows.iter().any(|&(off, _)| {
                    id_blocks
                        .iter()
                        .any(|b| off >= b.offset && off < b.offset + b.len())
                });
                assert_eq!(
                    before == after,
                    hide,
                    "{loss}: hide {hide}: {before} -> {after}"
                );
                assert_eq!(touched, !hide, "{loss}: hide {hide}");
            }
        }
    }

    /// The stored network scores exactly what training scored: predictions of the encoded
    /// model equal the trainer's own forward pass (no dropout) on every training pair.
    #[test]
    fn ncf_model_predicts_what_the_network_computes() {
        let mut t = trainer("ncf-mse", ratings(6, 5), toy(6, 5));
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
}
