//! One batch: its rows (with sampled negatives and hidden ids), the forward pass through both
//! towers and the head, the loss, the backward pass, and the reduction of the per-chunk
//! gradients.
//!
//! A batch is cut into fixed chunks of rows that run in parallel; their gradients are summed
//! in chunk order, and every random draw comes from (seed, epoch, batch, ...) coordinates, so
//! one seed gives the same gradients whatever the number of threads.

use std::ops::Range;

use rand::Rng as _;
use rayon::prelude::*;

use super::losses::{
    binary_cross_entropy, in_batch_softmax, normalize_rows, normalize_rows_backward, squared_error,
};
use super::nn::{MlpCache, SparseGrads};
use super::tower::{BySide, Side};
use super::trainer::{Head, NeuralTrainer};
use super::{Loss, TAG_DROPOUT, TAG_ID_DROPOUT, TAG_NEGATIVES};
use crate::rng::stream;

/// Rows per parallel work unit. Fixed: it decides the reduction order.
const CHUNK: usize = 64;

/// The dropout stream of the head within a chunk (the towers' are their sides' indices).
const HEAD_STREAM: u64 = 2;

/// One batch as rows of (user, item, target).
#[derive(Debug, Clone, Default)]
pub(super) struct Batch {
    pub(super) users: Vec<u32>,
    pub(super) items: Vec<u32>,
    pub(super) targets: Vec<f32>,
    /// With row weights: each row's share of the loss (a negative shares its positive's);
    /// empty without.
    pub(super) weights: Vec<f32>,
    /// Per side, the rows whose id embedding and id bias are hidden (id dropout); empty when
    /// none are.
    pub(super) hidden: BySide<Vec<bool>>,
}

impl Batch {
    /// The entity of each row on `side`.
    pub(super) fn ids(&self, side: Side) -> &[u32] {
        match side {
            Side::User => &self.users,
            Side::Item => &self.items,
        }
    }

    /// Whether row `r` hides its id on `side` (id dropout).
    pub(super) fn hides(&self, side: Side, r: usize) -> bool {
        self.hidden[side].get(r).copied().unwrap_or(false)
    }
}

/// The result of a forward and backward pass over a batch.
pub(super) struct Gradients {
    pub(super) loss_sum: f64,
    /// Sum of the embedding penalties (the objective is (loss_sum + penalty_sum) / rows); the
    /// gradient check reads it, training reports the loss alone.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) penalty_sum: f64,
    pub(super) dense: Vec<f32>,
    pub(super) sparse: SparseGrads,
}

impl<H: Head> NeuralTrainer<H> {
    /// The rows of one batch: the chosen training rows, plus sampled negatives for bce.
    pub(super) fn batch_rows(&self, order: &[u32], epoch: usize, b: usize) -> Batch {
        let mut out = Batch::default();
        let negs = if self.net.loss == Loss::Bce {
            self.net.negatives as usize
        } else {
            0
        };
        let seed = self.run.seed();
        let mut rng = stream(seed, &[TAG_NEGATIVES, epoch as u64, b as u64]);
        let n_items = self.features.item.n as u32;
        let weighted = !self.weights.is_empty();
        for &o in order {
            let r = self.train[o as usize];
            out.users.push(r.user);
            out.items.push(r.item);
            out.targets.push(r.value);
            for _ in 0..negs {
                out.users.push(r.user);
                out.items.push(rng.gen_range(0..n_items));
                out.targets.push(0.0);
            }
            if weighted {
                let w = self.weights[o as usize];
                out.weights.extend(std::iter::repeat_n(w, 1 + negs));
            }
        }
        let id_dropout = self.net.id_dropout();
        if id_dropout > 0.0 {
            for side in Side::BOTH {
                // Only a side with features can score without its ids.
                if self.features[side].specs.is_empty() {
                    continue;
                }
                let mut rng = stream(
                    seed,
                    &[TAG_ID_DROPOUT, epoch as u64, b as u64, side.index()],
                );
                out.hidden[side] = (0..out.users.len())
                    .map(|_| rng.gen::<f32>() < id_dropout)
                    .collect();
            }
        }
        out
    }

    /// Mean loss gradient of one batch. `dropout` gives (epoch, batch) while training.
    ///
    /// The rating losses (mse, bce) score each row on its own, so each chunk runs its forward
    /// pass, its rows' losses and its backward pass in one parallel task; the in-batch softmax
    /// needs every row's tower outputs first, so it runs the forward passes, the loss, then the
    /// backward passes. Either way the chunks' results are reduced in chunk order.
    pub(super) fn gradients(&self, batch: &Batch, dropout: Option<(usize, usize)>) -> Gradients {
        let n = batch.users.len();
        let chunks: Vec<Range<usize>> = (0..n)
            .step_by(CHUNK)
            .map(|s| s..(s + CHUNK).min(n))
            .collect();
        let inv_n = 1.0 / n as f32;
        let parts: Vec<ChunkGrads> = match self.net.loss {
            Loss::Mse | Loss::Bce => chunks
                .par_iter()
                .enumerate()
                .map(|(c, range)| {
                    let (towers, head) = self.forward_chunk(batch, c, range, dropout);
                    let (loss, d_score) = self.score_chunk(batch, range, &towers, &head, inv_n);
                    let mut part =
                        self.backward_chunk(batch, range, &towers, &head, &d_score, None);
                    part.loss = loss;
                    part.d_global = d_score.iter().sum();
                    part
                })
                .collect(),
            Loss::Softmax => {
                let caches: Vec<(BySide<MlpCache>, MlpCache)> = chunks
                    .par_iter()
                    .enumerate()
                    .map(|(c, range)| self.forward_chunk(batch, c, range, dropout))
                    .collect();
                let out_dim = self.towers.user.out_dim();
                let outputs = BySide::from_fn(|side| {
                    let mut o = Vec::with_capacity(n * out_dim);
                    for (towers, _) in &caches {
                        o.extend_from_slice(towers[side].output());
                    }
                    o
                });
                // The trainer refused softmax for a head without it.
                let temperature = self.head.softmax().map_or(1.0, |s| s.temperature);
                let k = self.net.factors as usize;
                let mut uh = vec![0.0f32; n * k];
                let mut vh = vec![0.0f32; n * k];
                let nu = normalize_rows(&outputs.user, k, &mut uh);
                let nv = normalize_rows(&outputs.item, k, &mut vh);
                let mut d = BySide::from_fn(|_| vec![0.0f32; n * out_dim]);
                let l = in_batch_softmax(
                    &uh,
                    &vh,
                    &batch.items,
                    self.log_q.as_deref(),
                    (!batch.weights.is_empty()).then_some(&batch.weights[..]),
                    temperature,
                    k,
                    &mut d.user,
                    &mut d.item,
                );
                normalize_rows_backward(&uh, &nu, k, &mut d.user);
                normalize_rows_backward(&vh, &nv, k, &mut d.item);
                let d_score = vec![0.0f32; n];
                let mut parts: Vec<ChunkGrads> = chunks
                    .par_iter()
                    .zip(caches.par_iter())
                    .map(|(range, (towers, head))| {
                        let d_towers = BySide::from_fn(|side| {
                            d[side][range.start * out_dim..range.end * out_dim].to_vec()
                        });
                        let d_score = &d_score[range.clone()];
                        self.backward_chunk(batch, range, towers, head, d_score, Some(d_towers))
                    })
                    .collect();
                if let Some(first) = parts.first_mut() {
                    first.loss = l as f64 * n as f64;
                }
                parts
            }
        };
        let mut dense = vec![0.0f32; self.dense.len()];
        let (mut loss_sum, mut penalty_sum, mut d_global) = (0.0f64, 0.0f64, 0.0f32);
        for part in &parts {
            loss_sum += part.loss;
            penalty_sum += part.penalty * n as f64;
            d_global += part.d_global;
            for (a, b) in dense.iter_mut().zip(&part.dense) {
                *a += b;
            }
        }
        if let Some(b) = self.global_bias {
            dense[b.offset] += d_global;
        }
        let sparse =
            SparseGrads::merge_sorted(&parts.iter().map(|p| &p.sparse).collect::<Vec<_>>());
        Gradients {
            loss_sum,
            penalty_sum,
            dense,
            sparse,
        }
    }

    /// Both towers and the head over the rows `range` of the batch (chunk `c`).
    fn forward_chunk(
        &self,
        batch: &Batch,
        c: usize,
        range: &Range<usize>,
        dropout: Option<(usize, usize)>,
    ) -> (BySide<MlpCache>, MlpCache) {
        let seed = self.run.seed();
        let dropout_rng = |stream_of: u64| {
            dropout.map(|(e, b)| {
                stream(
                    seed,
                    &[TAG_DROPOUT, e as u64, b as u64, c as u64, stream_of],
                )
            })
        };
        let towers = BySide::from_fn(|side| {
            let tower = &self.towers[side];
            let mut cache = MlpCache {
                acts: vec![tower.inputs(
                    &self.emb,
                    &self.features[side],
                    &batch.ids(side)[range.clone()],
                    batch.hidden[side].get(range.clone()).unwrap_or(&[]),
                )],
                masks: Vec::new(),
                rows: range.len(),
            };
            tower
                .mlp
                .forward(&self.dense, &mut cache, dropout_rng(side.index()).as_mut());
            cache
        });
        let head = self
            .head
            .forward(&self.dense, &towers, dropout_rng(HEAD_STREAM).as_mut());
        (towers, head)
    }

    /// The rating loss of the chunk's rows (summed) and the gradient of the mean loss with
    /// respect to each row's score (which is also that of each id bias of the row).
    fn score_chunk(
        &self,
        batch: &Batch,
        range: &Range<usize>,
        towers: &BySide<MlpCache>,
        head: &MlpCache,
        inv_n: f32,
    ) -> (f64, Vec<f32>) {
        let out_dim = self.towers.user.out_dim();
        let base = self.base();
        let (users, items) = (towers.user.output(), towers.item.output());
        let head_out = head.output();
        let w = head_out.len().checked_div(range.len()).unwrap_or(0);
        let mut loss = 0.0f64;
        let mut d_score = Vec::with_capacity(range.len());
        for (j, r) in range.clone().enumerate() {
            let mut s = base;
            for side in Side::BOTH {
                if !batch.hides(side, r) {
                    s += self.id_bias(side, batch.ids(side)[r]);
                }
            }
            let (u, v) = (
                &users[j * out_dim..(j + 1) * out_dim],
                &items[j * out_dim..(j + 1) * out_dim],
            );
            let s = self.head.add_score(s, u, v, &head_out[j * w..(j + 1) * w]);
            let (mut l, mut g) = if self.net.loss == Loss::Mse {
                squared_error(s, batch.targets[r])
            } else {
                binary_cross_entropy(s, batch.targets[r])
            };
            if let Some(&w) = batch.weights.get(r) {
                l *= w;
                g *= w;
            }
            loss += l as f64;
            d_score.push(g * inv_n);
        }
        (loss, d_score)
    }

    /// The backward pass of one chunk: the head's (from `d_score`, the gradient of each row's
    /// score) or the given gradients of the towers' outputs, then both towers into their
    /// parameters and the embedding rows the chunk used.
    fn backward_chunk(
        &self,
        batch: &Batch,
        range: &Range<usize>,
        towers: &BySide<MlpCache>,
        head: &MlpCache,
        d_score: &[f32],
        d_towers: Option<BySide<Vec<f32>>>,
    ) -> ChunkGrads {
        let reg = self.net.regularization as f32 / batch.users.len() as f32;
        let mut dense = vec![0.0f32; self.dense.len()];
        let mut sparse = SparseGrads::default();
        let mut penalty = 0.0f64;
        let d_towers = d_towers.unwrap_or_else(|| {
            self.head
                .backward(&self.dense, head, towers, d_score, &mut dense)
        });
        for (side, d) in d_towers {
            let tower = &self.towers[side];
            let dx = tower
                .mlp
                .backward(&self.dense, &towers[side], d, &mut dense);
            let in_dim = tower.in_dim;
            for (j, r) in range.clone().enumerate() {
                let e = batch.ids(side)[r] as usize;
                let hidden = batch.hides(side, r);
                penalty += tower.scatter(
                    &self.emb,
                    &self.features[side],
                    e,
                    hidden,
                    &dx[j * in_dim..(j + 1) * in_dim],
                    reg,
                    &mut sparse,
                );
                if let Some(b) = tower.bias.filter(|_| !hidden) {
                    let w = self.emb[b.row_offset(e)];
                    sparse.push(b.row_offset(e), &[d_score[j] + 2.0 * reg * w], 1.0);
                    penalty += (reg * w * w) as f64;
                }
            }
        }
        ChunkGrads {
            dense,
            // Merged here, in parallel: the batch then only interleaves sorted lists.
            sparse: SparseGrads::merge([&sparse]),
            penalty,
            loss: 0.0,
            d_global: 0.0,
        }
    }
}

/// What one chunk contributes to a batch's gradients.
struct ChunkGrads {
    dense: Vec<f32>,
    sparse: SparseGrads,
    penalty: f64,
    /// Summed loss of the chunk's rows, and its share of d loss / d global bias.
    loss: f64,
    d_global: f32,
}

#[cfg(test)]
mod tests {
    use rand::Rng as _;

    use super::*;
    use crate::algo::neural::fixtures::{
        batch_loss, batch_loss_with, ratings, slot, toy, with_trainer,
    };
    use crate::algo::neural::nn::Block;
    use crate::algo::neural::params::NeuralParams;
    use crate::algo::params::LoopParams;
    use crate::features::SideFeatures;

    /// Every dense parameter and every embedding coordinate the batch touches against central
    /// differences, for each loss (this covers the layers, the pooling, the biases and the
    /// loss functions), without dropout and with a fixed dropout mask (the mask is drawn from
    /// (seed, epoch, batch, chunk, side) only, so the shifted losses reuse it). Then the
    /// directional derivative along random directions over all those coordinates at once.
    #[test]
    fn gradients_match_finite_differences() {
        for loss in ["mse", "bce", "softmax", "ncf-mse", "ncf-bce", "ncf-plain"] {
            for dropout in [None, Some((1, 2))] {
                check_gradients(loss, dropout, false);
            }
            // With row weights (each row's share of the loss).
            check_gradients(loss, None, true);
        }
    }

    fn check_gradients(case: &str, dropout: Option<(usize, usize)>, weighted: bool) {
        // ncf without features: the id embeddings feed the network directly.
        let (case, features) = match case {
            "ncf-plain" => ("ncf-mse", (SideFeatures::none(6), SideFeatures::none(5))),
            c => (c, toy(6, 5)),
        };
        let dropout_03 = |net: &mut NeuralParams, _: &mut LoopParams| net.dropout = 0.3;
        with_trainer!(case, ratings(6, 5), features, dropout_03, |t| {
            if weighted {
                t.weights = (0..t.train.len()).map(|n| 0.25 + (n % 4) as f32).collect();
            }
            check_gradients_of(t, case, dropout)
        });
    }

    fn check_gradients_of<H: Head>(
        mut t: NeuralTrainer<H>,
        loss: &str,
        dropout: Option<(usize, usize)>,
    ) {
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
        for (side, k) in [(Side::User, 3), (Side::Item, 4)] {
            if !t.features[side].specs.is_empty() {
                batch.hidden[side] = (0..n).map(|r| r % k == side.index() as usize).collect();
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
        let loss_at = |t: &mut NeuralTrainer<H>, emb: bool, j: usize, delta: f32| {
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
        let mut check = |t: &mut NeuralTrainer<H>, emb: bool, j: usize, ana: f64| {
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
            let moved = |t: &mut NeuralTrainer<H>, eps: f32| {
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
            let central = |t: &mut NeuralTrainer<H>, eps: f32| {
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

    /// A row that hides an id sees neither its id embedding nor its id bias: the loss does not
    /// move when they do, and no gradient reaches them. With the ids visible, it does.
    #[test]
    fn hidden_ids_do_not_reach_the_loss() {
        for loss in ["mse", "bce", "ncf-mse"] {
            with_trainer!(loss, ratings(6, 5), toy(6, 5), |_, _| {}, |t| {
                hidden_ids_of(t, loss)
            });
        }
    }

    fn hidden_ids_of<H: Head>(mut t: NeuralTrainer<H>, loss: &str) {
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
            batch.hidden = BySide::from_fn(|_| vec![hide; n]);
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
