//! The trainer both networks share: it lays out the two towers and the [`Head`], holds the
//! parameter stores and Adam, runs the epochs (batches, early stopping on validation RMSE,
//! weight averaging) and encodes every entity at the end. What differs between `two_tower` and
//! `ncf` is the head, given by their params ([`NetworkParams`]).

use rand::seq::SliceRandom;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use rayon::ThreadPool;
use serde_json::json;

use super::nn::{Adam, Block, Layout, Linear, MlpCache};
use super::params::NeuralParams;
use super::tower::{BySide, Side, Tower};
use super::{Loss, TAG_INIT, TAG_SHUFFLE};
use crate::algo::contract::{Configured, FeatureRequest, Tensor, ToEncode, TrainingData};
use crate::algo::params::{Checked, LoopParams, Params};
use crate::data::{
    loss_weights, rating_stats, split_validation_weighted, Rating, LOSS_WEIGHT_MEAN,
};
use crate::error::{CoreError, Result};
use crate::features::SideFeatures;
use crate::model::{FactorModel, ScoreHead};
use crate::parallel::CancelFlag;
use crate::rng::{stream, Rng};
use crate::train::{
    EarlyStopping, Fitted, Measurement, Scorer, Snapshot, Step, StepReport, Target,
};

/// What makes a network of this module: how each side's tower is laid out, and how a (user,
/// item) pair is scored from the two tower outputs. The score of a row is the global term, the
/// id biases of the ids it sees, and what [`Head::add_score`] adds; in-batch softmax instead
/// scores every pair of a batch by the dot product of the normalised outputs, for heads that
/// offer it ([`Head::softmax`]).
pub trait Head: Send + Sync {
    /// The algorithm's name, for messages.
    const NAME: &'static str;
    /// How serving scores pairs of the trained model.
    const SCORER: Scorer;

    /// Size of each side's id embedding (0: the tower reads features only).
    fn id_dim(&self) -> usize;

    /// Lays out the layers of `side`'s tower over its `in_dim` inputs; `features` says whether
    /// the side has feature columns.
    fn tower_layers(
        &self,
        dense: &mut Layout,
        side: Side,
        in_dim: usize,
        features: bool,
    ) -> Vec<Linear>;

    /// Lays out the head's own parameters, after both towers.
    fn lay_out(&mut self, _dense: &mut Layout) {}

    /// Initialises the head's own parameters, after both towers'.
    fn init(&self, _dense: &mut [f32], _rng: &mut Rng) {}

    /// The in-batch softmax settings, for a head whose towers meet in a dot product.
    fn softmax(&self) -> Option<Softmax> {
        None
    }

    /// The head's forward pass over one chunk of rows, given both towers' (`dropout`: the mask
    /// stream while training). Empty for a head without parameters.
    fn forward(
        &self,
        _dense: &[f32],
        _towers: &BySide<MlpCache>,
        _dropout: Option<&mut Rng>,
    ) -> MlpCache {
        MlpCache::default()
    }

    /// `s` plus the head's part of a row's score, from the row's tower outputs `u` and `v` and
    /// its output of [`Head::forward`] (`out`, empty without one).
    fn add_score(&self, s: f32, u: &[f32], v: &[f32], out: &[f32]) -> f32;

    /// The gradients of both towers' outputs over one chunk, from the gradient of each row's
    /// score (`d_score`); gradients of the head's own parameters go into `grads`.
    fn backward(
        &self,
        dense: &[f32],
        head: &MlpCache,
        towers: &BySide<MlpCache>,
        d_score: &[f32],
        grads: &mut [f32],
    ) -> BySide<Vec<f32>>;

    /// The network serving scores pairs with, when a dot product does not.
    fn score_head(&self, _dense: &[f32]) -> Option<ScoreHead> {
        None
    }
}

/// In-batch softmax: the other rows of a batch are each row's negatives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Softmax {
    pub temperature: f32,
    /// Subtract log of each item's in-batch sampling probability from the logits.
    pub logq_correction: bool,
}

/// The params of an algorithm of this module: the shared ones, and the head they build.
pub trait NetworkParams: Params {
    type Head: Head;

    fn net(&self) -> &NeuralParams;
    fn head(&self) -> Self::Head;
}

/// Appends the vector of one tower output `row` to `vecs` and returns its bias term (before
/// the id bias): with softmax the L2-normalised output and no bias; else the first `k`
/// outputs, and the last one as the bias when the tower has one more output.
fn push_output(loss: Loss, k: usize, row: &[f32], vecs: &mut Vec<f32>) -> f32 {
    if loss == Loss::Softmax {
        let nrm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        vecs.extend(row.iter().map(|v| v / nrm));
        0.0
    } else {
        vecs.extend_from_slice(&row[..k]);
        row.get(k).copied().unwrap_or(0.0)
    }
}

/// Encodes entities of one side through the tower of a trained version, rebuilt from its
/// stored `tensors`: what training's last step computes for its own entities, for entities
/// (new items, changed features) it never saw. `features` must be encoded with the specs the
/// version recorded ([`crate::features::FeatureBuilder::encode_with`]). Returns the vectors
/// (`entities.len() x factors`) and biases. Runs on this thread.
pub fn encode_from_tensors<P: NetworkParams>(
    params: &Checked<P>,
    side: Side,
    features: &SideFeatures,
    entities: &[ToEncode],
    tensors: &[Tensor],
) -> Result<(Vec<f32>, Vec<f32>)> {
    encode_with_head(
        params.net(),
        &params.head(),
        side,
        features,
        entities,
        tensors,
    )
}

/// [`encode_from_tensors`] for the shared params `net` and the `head` they build.
fn encode_with_head<H: Head>(
    net: &NeuralParams,
    head: &H,
    side: Side,
    features: &SideFeatures,
    entities: &[ToEncode],
    tensors: &[Tensor],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let damaged = |what: String| {
        CoreError::data(
            format!("the stored {} tower is damaged: {what}", side.name()),
            Some("Retrain the model.".into()),
        )
    };
    // The id rows the training had (0 without id embeddings).
    let id_rows = tensors
        .iter()
        .find(|t| {
            t.0 == format!("{}.id_bias", side.name())
                || t.0 == format!("{}.id_embedding", side.name())
        })
        .map_or(0, |t| t.1);
    let (mut dense_layout, mut emb_layout) = (Layout::default(), Layout::default());
    let tower = Tower::build(
        &mut dense_layout,
        &mut emb_layout,
        side,
        id_rows,
        features,
        net,
        head,
    )?;
    let mut dense = vec![0.0f32; dense_layout.len];
    let mut emb = vec![0.0f32; emb_layout.len];
    for (layout, store) in [(&dense_layout, &mut dense), (&emb_layout, &mut emb)] {
        for (name, b) in &layout.names {
            let Some((_, rows, cols, data)) = tensors.iter().find(|t| &t.0 == name) else {
                return Err(damaged(format!("tensor \"{name}\" is missing")));
            };
            if (*rows, *cols) != (b.rows, b.cols) || data.len() != b.len() {
                return Err(damaged(format!(
                    "tensor \"{name}\" is {rows} x {cols}, the model's params make it {} x {}",
                    b.rows, b.cols
                )));
            }
            store[b.offset..b.offset + b.len()].copy_from_slice(data);
        }
    }
    if let Some(bad) = entities
        .iter()
        .find(|t| t.feature_row as usize >= features.n)
    {
        return Err(CoreError::data(
            format!("no feature row {} to encode", bad.feature_row),
            None,
        ));
    }
    let k = net.factors as usize;
    let mut vecs = Vec::with_capacity(entities.len() * k);
    let mut bias = Vec::with_capacity(entities.len());
    for chunk in entities.chunks(ENCODE_CHUNK) {
        let (v, b) = encode_chunk(
            &tower,
            net.loss,
            k,
            (&dense, &emb),
            features,
            chunk,
            id_rows,
        );
        vecs.extend(v);
        bias.extend(b);
    }
    Ok((vecs, bias))
}

/// Entities pushed through a tower at once when encoding.
const ENCODE_CHUNK: usize = 1024;

/// The vectors and biases of `chunk`'s entities through `tower` with the parameter stores
/// (dense, embeddings): each entity's input from its feature row and id row (an id row at or
/// past `id_rows`, or none, reads a zero id embedding and a zero id bias).
fn encode_chunk(
    tower: &Tower,
    loss: Loss,
    k: usize,
    (dense, emb): (&[f32], &[f32]),
    features: &SideFeatures,
    chunk: &[ToEncode],
    id_rows: usize,
) -> (Vec<f32>, Vec<f32>) {
    let id_of = |t: &ToEncode| t.id_row.map(|r| r as usize).filter(|&r| r < id_rows);
    let mut x = vec![0.0f32; chunk.len() * tower.in_dim];
    for (row, t) in x.chunks_exact_mut(tower.in_dim).zip(chunk) {
        tower.input(emb, features, id_of(t), t.feature_row as usize, row);
    }
    let mut cache = MlpCache {
        acts: vec![x],
        masks: Vec::new(),
        rows: chunk.len(),
    };
    tower.mlp.forward(dense, &mut cache, None);
    let mut vecs = Vec::with_capacity(chunk.len() * k);
    let mut bias = Vec::with_capacity(chunk.len());
    for (row, t) in cache.output().chunks_exact(tower.out_dim()).zip(chunk) {
        let b = push_output(loss, k, row, &mut vecs);
        let id_bias = match (tower.bias, id_of(t)) {
            (Some(blk), Some(r)) => emb[blk.row_offset(r)],
            _ => 0.0,
        };
        bias.push(b + id_bias);
    }
    (vecs, bias)
}

/// A trained network: the encoded entities plus what is persisted with the version.
#[derive(Debug, Clone)]
pub struct NeuralModel {
    pub factors: FactorModel,
    /// Named parameter blocks: (name, rows, cols, values).
    pub tensors: Vec<(String, usize, usize, Vec<f32>)>,
}

pub struct NeuralTrainer<H> {
    pub(super) net: NeuralParams,
    pub(super) run: LoopParams,
    pub(super) head: H,
    pub(super) features: BySide<SideFeatures>,
    pub(super) towers: BySide<Tower>,
    /// bce: a trained global logit offset in the dense store.
    pub(super) global_bias: Option<Block>,
    pub(super) dense_layout: Layout,
    pub(super) emb_layout: Layout,
    pub(super) dense: Vec<f32>,
    pub(super) emb: Vec<f32>,
    adam_dense: Adam,
    adam_emb: Adam,
    pub(super) train: Vec<Rating>,
    /// With row weights: each training row's share of the loss (mean 1); empty without.
    pub(super) weights: Vec<f32>,
    /// With row weights: the mean weight they were divided by (reported in the metrics).
    pub(super) weight_mean: Option<f64>,
    pub(super) validation: Vec<Rating>,
    /// softmax with logQ correction: log of each item's share of the positives.
    pub(super) log_q: Option<Vec<f32>>,
    mean: f32,
    rating_range: Option<(f32, f32)>,
    epoch: usize,
    /// Whether the last step measured the running mean of the averaging window (the model
    /// training returns if it stops there) rather than the parameters as they stand.
    measured_average: bool,
    /// Sums of the end-of-epoch parameters over the averaging window, and how many.
    average: Option<(usize, Vec<f32>, Vec<f32>)>,
}

impl<H: Head> NeuralTrainer<H> {
    /// `ratings` index users in `0..users.n` and items in `0..items.n`. `explicit` says whether
    /// the values are ratings (else every row is a positive interaction).
    pub fn new<P: NetworkParams<Head = H>>(
        ratings: Vec<Rating>,
        users: SideFeatures,
        items: SideFeatures,
        explicit: bool,
        params: &Checked<P>,
    ) -> Result<Self> {
        Self::new_weighted(ratings, None, users, items, explicit, params)
    }

    /// [`NeuralTrainer::new`] with row weights: `weights[n]` is rating n's share of the loss
    /// (scaled to mean 1 over the training rows; a row's sampled negatives share its weight;
    /// the validation RMSE counts every held-out rating once).
    pub fn new_weighted<P: NetworkParams<Head = H>>(
        mut ratings: Vec<Rating>,
        weights: Option<Vec<f32>>,
        users: SideFeatures,
        items: SideFeatures,
        explicit: bool,
        params: &Checked<P>,
    ) -> Result<Self> {
        let (net, run) = (params.net(), params.run());
        let mut head = params.head();
        if net.loss == Loss::Softmax && head.softmax().is_none() {
            return Err(CoreError::param(
                "loss",
                format!("{} cannot use loss \"softmax\"", H::NAME),
            ));
        }
        if net.loss == Loss::Mse && !explicit {
            return Err(CoreError::param_hint(
                "loss",
                "loss \"mse\" needs explicit ratings, but rating_col is NULL",
                "Use loss \"bce\" (or \"softmax\" with two_tower) for implicit feedback, or name the rating column.",
            ));
        }
        let features = BySide {
            user: users,
            item: items,
        };
        let n = BySide::from_fn(|side| features[side].n);
        let (n_train, mut weights) = split_validation_weighted(
            &mut ratings,
            weights,
            run.validation_fraction(),
            run.seed(),
        )?;
        let validation = ratings.split_off(n_train);
        let stats = rating_stats(&ratings);
        let rating_range = if explicit {
            stats.as_ref().map(|s| (s.min, s.max))
        } else {
            None
        };
        let mean = stats.as_ref().map(|s| s.mean as f32).unwrap_or(0.0);
        let positive_threshold = net.positive_threshold as f32;
        let is_positive = |r: &Rating| !explicit || r.value >= positive_threshold;
        let train: Vec<Rating> = match net.loss {
            Loss::Mse => ratings,
            _ => {
                if let Some(w) = weights.as_mut() {
                    let kept: Vec<f32> = ratings
                        .iter()
                        .zip(w.iter())
                        .filter(|(r, _)| is_positive(r))
                        .map(|(_, &w)| w)
                        .collect();
                    *w = kept;
                }
                ratings
                    .into_iter()
                    .filter(is_positive)
                    .map(|r| Rating { value: 1.0, ..r })
                    .collect()
            }
        };
        let (weights, weight_mean) = match weights {
            Some(w) => {
                let (w, mean) = loss_weights(&w)?;
                (w, Some(mean))
            }
            None => (Vec::new(), None),
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
        let logq_correction = head.softmax().is_some_and(|s| s.logq_correction);
        let log_q = (net.loss == Loss::Softmax && logq_correction).then(|| {
            let mut counts = vec![0u64; n.item];
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

        let mut dense_layout = Layout::default();
        let mut emb_layout = Layout::default();
        let user = Tower::build(
            &mut dense_layout,
            &mut emb_layout,
            Side::User,
            n.user,
            &features.user,
            net,
            &head,
        )?;
        let item = Tower::build(
            &mut dense_layout,
            &mut emb_layout,
            Side::Item,
            n.item,
            &features.item,
            net,
            &head,
        )?;
        let towers = BySide { user, item };
        head.lay_out(&mut dense_layout);
        let global_bias = (net.loss == Loss::Bce).then(|| dense_layout.add("global_bias", 1, 1));

        let mut rng = stream(run.seed(), &[TAG_INIT]);
        let mut dense = vec![0.0f32; dense_layout.len];
        towers.user.mlp.init(&mut dense, &mut rng);
        towers.item.mlp.init(&mut dense, &mut rng);
        head.init(&mut dense, &mut rng);
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
        let mut seen = BySide::from_fn(|side| vec![false; n[side]]);
        for r in &train {
            seen.user[r.user as usize] = true;
            seen.item[r.item as usize] = true;
        }
        for (side, seen) in seen {
            if let Some(b) = towers[side].id {
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
            net: net.clone(),
            run: run.clone(),
            head,
            features,
            towers,
            global_bias,
            dense_layout,
            emb_layout,
            dense,
            emb,
            adam_dense,
            adam_emb,
            train,
            weights,
            weight_mean,
            validation,
            log_q,
            mean,
            rating_range,
            epoch: 0,
            measured_average: false,
            average: None,
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

    /// The global term of every score: the mean rating (mse), the trained logit offset (bce).
    pub(super) fn base(&self) -> f32 {
        match (self.net.loss, self.global_bias) {
            (Loss::Mse, _) => self.mean,
            (Loss::Bce, Some(b)) => self.dense[b.offset],
            _ => 0.0,
        }
    }

    #[inline]
    pub(super) fn id_bias(&self, side: Side, e: u32) -> f32 {
        self.towers[side]
            .bias
            .map(|b| self.emb[b.row_offset(e as usize)])
            .unwrap_or(0.0)
    }

    /// Encodes every entity of one side: (vectors `n x factors`, biases).
    fn encode_side(&self, side: Side) -> (Vec<f32>, Vec<f32>) {
        let (tower, f) = (&self.towers[side], &self.features[side]);
        let n = f.n;
        let k = self.net.factors as usize;
        let entities: Vec<ToEncode> = (0..n as u32)
            .map(|e| ToEncode {
                feature_row: e,
                id_row: Some(e),
            })
            .collect();
        let stores = (&self.dense[..], &self.emb[..]);
        let outs: Vec<(Vec<f32>, Vec<f32>)> = entities
            .par_chunks(ENCODE_CHUNK)
            .map(|chunk| encode_chunk(tower, self.net.loss, k, stores, f, chunk, n))
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
        let (user_factors, user_bias) = self.encode_side(Side::User);
        let (item_factors, item_bias) = self.encode_side(Side::Item);
        FactorModel {
            factors: self.net.factors as usize,
            global_mean: self.base(),
            rating_range: self.rating_range,
            user_bias,
            item_bias,
            user_factors,
            item_factors,
            head: self.head.score_head(&self.dense),
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
    pub fn finish_on(self, pool: &ThreadPool) -> NeuralModel {
        pool.install(|| self.into_model())
    }

    /// The mean of the epoch-end parameters in the averaging window, once it has started.
    fn averaged_parameters(&self) -> Option<(Vec<f32>, Vec<f32>)> {
        let (n, dense, emb) = self.average.as_ref()?;
        let inv = 1.0 / *n as f32;
        let scale = |v: &[f32]| v.iter().map(|x| x * inv).collect();
        Some((scale(dense), scale(emb)))
    }

    /// The parameters the last step's validation measured: the running mean inside the
    /// averaging window, else the parameters as they stand.
    fn measured_parameters(&self) -> (Vec<f32>, Vec<f32>) {
        self.measured_average
            .then(|| self.averaged_parameters())
            .flatten()
            .unwrap_or_else(|| (self.dense.clone(), self.emb.clone()))
    }

    /// Makes `dense` and `emb` the model training returns (the best step's, kept by the
    /// driver): no averaging at the end.
    fn restore_parameters(&mut self, dense: Vec<f32>, emb: Vec<f32>) {
        self.dense = dense;
        self.emb = emb;
        self.average = None;
    }

    /// The model and its parameters, encoded on the current rayon pool.
    fn into_model(mut self) -> NeuralModel {
        if let Some((dense, emb)) = self.averaged_parameters() {
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
        NeuralModel { factors, tensors }
    }
}

fn add_assign(sum: &mut [f32], x: &[f32]) {
    sum.iter_mut().zip(x).for_each(|(a, b)| *a += b);
}

impl<H: Head> NeuralTrainer<H> {
    pub(super) fn max_epochs(&self) -> usize {
        self.run.epochs()
    }

    /// Validation RMSE: lower is better, any gain counts.
    fn early_stopping(&self) -> Option<EarlyStopping> {
        (!self.validation.is_empty()).then(|| EarlyStopping::new(self.run.patience(), 0.0, false))
    }

    /// One epoch.
    pub(super) fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<StepReport> {
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
        self.measured_average = candidate.is_some();
        Ok(StepReport::new(
            loss_sum / rows.max(1) as f64,
            validation_rmse.map(Measurement::rmse),
        ))
    }
}

/// A training of `two_tower` or `ncf` as the pipeline drives it.
pub(super) struct NeuralTraining<H> {
    trainer: NeuralTrainer<H>,
    /// The training pairs, handed back with the model.
    ratings: Vec<Rating>,
}

/// Every network algorithm configures the same way: its features, and a [`NeuralTraining`]
/// of its head.
impl<P: NetworkParams + Send> Configured for Checked<P>
where
    P::Head: 'static,
{
    fn features(&self) -> Option<FeatureRequest<'_>> {
        Some(self.net().feature_request())
    }

    /// A row's weight is its share of the loss (its sampled negatives share it).
    fn row_weights(&self) -> bool {
        true
    }

    fn weighs_loss(&self) -> bool {
        true
    }

    fn prepare(self: Box<Self>, data: TrainingData, _pool: &ThreadPool) -> Result<Box<dyn Step>> {
        Ok(Box::new(NeuralTraining::new(data, &*self)?))
    }

    fn encode_items(
        &self,
        tensors: &[Tensor],
        features: &SideFeatures,
        items: &[ToEncode],
    ) -> Option<Result<(Vec<f32>, Vec<f32>)>> {
        Some(encode_from_tensors(
            self,
            Side::Item,
            features,
            items,
            tensors,
        ))
    }
}

impl<H: Head + 'static> NeuralTraining<H> {
    /// Prepares training `data` with `params`.
    pub(super) fn new<P: NetworkParams<Head = H>>(
        data: TrainingData,
        params: &Checked<P>,
    ) -> Result<Self> {
        let trainer = NeuralTrainer::new_weighted(
            data.ratings.clone(),
            data.weighted,
            data.users,
            data.items,
            data.explicit,
            params,
        )?;
        Ok(Self {
            trainer,
            ratings: data.ratings,
        })
    }
}

impl<H: Head> Step for NeuralTraining<H> {
    fn max_steps(&self) -> usize {
        self.trainer.max_epochs()
    }

    fn n_validation(&self) -> usize {
        self.trainer.n_validation()
    }

    fn squared_loss(&self) -> bool {
        self.trainer.net.loss == Loss::Mse
    }

    fn early_stopping(&self) -> Option<EarlyStopping> {
        self.trainer.early_stopping()
    }

    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<StepReport> {
        self.trainer.step(pool, cancel)
    }

    /// The parameters the step measured: inside the averaging window, the running mean.
    fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.trainer.measured_parameters())
    }

    fn restore(&mut self, snapshot: Snapshot) {
        let (dense, emb) = snapshot.into_inner();
        self.trainer.restore_parameters(dense, emb);
    }

    fn finish(self: Box<Self>, pool: &ThreadPool) -> Fitted {
        let loss = self.trainer.net.loss;
        let mut metrics = json!({
            "loss": loss.name(),
            "n_dense_parameters": self.trainer.n_dense_parameters(),
            "n_embedding_parameters": self.trainer.n_embedding_parameters(),
        });
        if let Some(mean) = self.trainer.weight_mean {
            metrics[LOSS_WEIGHT_MEAN] = json!(mean);
        }
        let model = self.trainer.finish_on(pool);
        Fitted {
            scorer: H::SCORER,
            // Models trained on binary relevance (bce, softmax) do not predict ratings.
            target: if loss == Loss::Mse {
                Target::Rating
            } else {
                Target::Relevance
            },
            model: model.factors,
            ratings: self.ratings,
            tensors: model.tensors,
            metrics,
            params: serde_json::Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::neural::fixtures::{
        ncf_params, ratings, toy, two_tower_params, two_tower_with, with_trainer,
    };
    use crate::algo::neural::TwoTowerParams;

    fn fit(case: &str, threads: usize) -> NeuralModel {
        let short = |net: &mut NeuralParams, run: &mut LoopParams| {
            run.epochs = 3;
            net.average_epochs = Some(2);
            net.batch_size = 100;
            net.dropout = 0.2;
        };
        with_trainer!(case, ratings(40, 30), toy(40, 30), short, |t| {
            fit_all(t, threads)
        })
    }

    fn fit_all<H: Head>(mut t: NeuralTrainer<H>, threads: usize) -> NeuralModel {
        let pool = crate::parallel::build_pool(threads).unwrap();
        let cancel = CancelFlag::new();
        for _ in 0..t.max_epochs() {
            t.step(&pool, &cancel).unwrap();
        }
        t.finish_on(&pool)
    }

    /// Encoding from the stored tensors gives what training encoded: for trained items (their
    /// id rows), for cold ones (no id), in any order; a damaged tensor is an error.
    #[test]
    fn items_encoded_from_tensors_are_the_trained_encoding() {
        let short = |net: &mut NeuralParams, run: &mut LoopParams| {
            run.epochs = 2;
            net.batch_size = 64;
        };
        for case in ["mse", "softmax", "ncf-mse"] {
            // Items 25 to 29 have features but no rows (cold).
            with_trainer!(case, ratings(40, 25), toy(40, 30), short, |t| {
                let (net, head, features) =
                    (t.net.clone(), t.head.clone(), t.features.item.clone());
                let model = fit_all(t, 2);
                let k = model.factors.factors;
                let items: Vec<ToEncode> = [29u32, 3, 27, 0]
                    .iter()
                    .map(|&i| ToEncode {
                        feature_row: i,
                        id_row: (i < 25).then_some(i),
                    })
                    .collect();
                let (vecs, bias) =
                    encode_with_head(&net, &head, Side::Item, &features, &items, &model.tensors)
                        .unwrap();
                for (j, t) in items.iter().enumerate() {
                    let i = t.feature_row as usize;
                    assert_eq!(
                        &vecs[j * k..(j + 1) * k],
                        &model.factors.item_factors[i * k..(i + 1) * k],
                        "{case} item {i}"
                    );
                    assert_eq!(bias[j], model.factors.item_bias[i], "{case} item {i}");
                }
                // A trained item without its id row is encoded as a cold one: another vector.
                let no_id = [ToEncode {
                    feature_row: 3,
                    id_row: None,
                }];
                let (v, _) =
                    encode_with_head(&net, &head, Side::Item, &features, &no_id, &model.tensors)
                        .unwrap();
                assert_ne!(&v[..], &model.factors.item_factors[3 * k..4 * k], "{case}");
                let mut damaged = model.tensors.clone();
                let w = damaged
                    .iter_mut()
                    .find(|t| t.0.starts_with("item.layer"))
                    .unwrap();
                w.1 += 1;
                let name = w.0.clone();
                let e = encode_with_head(&net, &head, Side::Item, &features, &items, &damaged)
                    .unwrap_err();
                assert!(e.to_string().contains(&name), "{case}: {e}");
            })
        }
    }

    /// What serving calls for new items (`Configured::encode_items`, through
    /// `encode_from_tensors`) encodes as training did, for both networks.
    #[test]
    fn the_configured_params_encode_items_as_training_did() {
        let short = |net: &mut NeuralParams, run: &mut LoopParams| {
            run.epochs = 2;
            net.batch_size = 64;
        };
        let items: Vec<ToEncode> = [29u32, 3, 0]
            .iter()
            .map(|&i| ToEncode {
                feature_row: i,
                id_row: (i < 25).then_some(i),
            })
            .collect();
        let check = |c: &dyn Configured, model: NeuralModel, features: &SideFeatures, case| {
            let k = model.factors.factors;
            let (vecs, bias) = c
                .encode_items(&model.tensors, features, &items)
                .expect("a network encodes items")
                .unwrap();
            assert_eq!(vecs.len(), items.len() * k, "{case}");
            for (j, t) in items.iter().enumerate() {
                let i = t.feature_row as usize;
                let want = &model.factors.item_factors[i * k..(i + 1) * k];
                assert_eq!(&vecs[j * k..(j + 1) * k], want, "{case} item {i}");
                assert_eq!(bias[j], model.factors.item_bias[i], "{case} item {i}");
            }
        };
        for loss in ["mse", "softmax"] {
            let p = two_tower_params(loss, short);
            let t = NeuralTrainer::new(ratings(40, 25), toy(40, 30).0, toy(40, 30).1, true, &p)
                .unwrap();
            let features = t.features.item.clone();
            check(&p, fit_all(t, 2), &features, loss);
        }
        let p = ncf_params("mse", short);
        let t =
            NeuralTrainer::new(ratings(40, 25), toy(40, 30).0, toy(40, 30).1, true, &p).unwrap();
        let features = t.features.item.clone();
        check(&p, fit_all(t, 2), &features, "ncf-mse");
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

    /// The returned parameters are the mean of the epoch-end parameters of the last
    /// `average_epochs` epochs, and only of those; the default averages the last half.
    #[test]
    fn averaging_returns_the_mean_of_the_last_epoch_ends() {
        let defaults = Checked::new(TwoTowerParams::default()).unwrap();
        assert_eq!(
            defaults.net.average_epochs,
            Some(defaults.run.epochs().div_ceil(2) as i64)
        );
        let mut t = two_tower_with("mse", ratings(12, 9), toy(12, 9), |net, run| {
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
            let t = two_tower_with("mse", ratings(12, 9), toy(12, 9), |_, _| {});
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
            let t = two_tower_with("mse", rows, toy(nu, ni), |net, run| {
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
            // Through the driver, which keeps the best step's snapshot.
            let training = NeuralTraining {
                trainer: t,
                ratings: Vec::new(),
            };
            let mut t = crate::train::Training::new(Box::new(training), serde_json::Value::Null);
            for _ in 0..t.max_steps() {
                reported.push(t.step(&pool, &cancel).unwrap().validation_rmse().unwrap());
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
            let model = t.finish(&pool).model;
            let kern = crate::kernels::Kernels::detect();
            let pairs: Vec<(f32, f32)> = validation
                .iter()
                .map(|r| (model.predict(kern, r.user, r.item), r.value))
                .collect();
            let got = crate::metrics::rmse(&pairs);
            assert!((got - best).abs() < 1e-9, "{expect}: {got} vs {reported:?}");
        }
    }
}
