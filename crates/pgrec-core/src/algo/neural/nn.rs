//! The pieces of the neural models: dense layers with ReLU and
//! dropout, embedding tables with sparse gradients, and Adam with decoupled weight decay.
//!
//! Parameters live in flat `Vec<f32>` stores addressed by offsets, so gradients of several
//! workers can be summed in a fixed order (the reduction order never depends on the thread
//! count) and the optimizer runs over one slice.

use rand::RngCore as _;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

pub use crate::kernels::gemm;
use crate::rng::Rng;

/// A block of a flat parameter store: `rows x cols` values from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
}

impl Block {
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn row_offset(&self, r: usize) -> usize {
        self.offset + r * self.cols
    }

    pub fn slice<'a>(&self, store: &'a [f32]) -> &'a [f32] {
        &store[self.offset..self.offset + self.len()]
    }
}

/// A flat store being laid out: named blocks, appended in order.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub names: Vec<(String, Block)>,
    pub len: usize,
}

impl Layout {
    pub fn add(&mut self, name: impl Into<String>, rows: usize, cols: usize) -> Block {
        let b = Block {
            offset: self.len,
            rows,
            cols,
        };
        self.len += rows * cols;
        self.names.push((name.into(), b));
        b
    }
}

/// A dense layer y = x W + b, W stored `n_in x n_out`.
#[derive(Debug, Clone, Copy)]
pub struct Linear {
    pub w: Block,
    pub b: Block,
}

impl Linear {
    pub fn n_in(&self) -> usize {
        self.w.rows
    }
    pub fn n_out(&self) -> usize {
        self.w.cols
    }
}

/// A multi-layer perceptron: ReLU (and dropout while training) after every layer but the last.
/// With no layers it is the identity.
#[derive(Debug, Clone)]
pub struct Mlp {
    pub layers: Vec<Linear>,
    pub dropout: f32,
}

/// What a forward pass keeps for the backward pass.
#[derive(Debug, Clone, Default)]
pub struct MlpCache {
    /// acts[0] is the input, acts[l + 1] the output of layer l (after ReLU and dropout).
    pub acts: Vec<Vec<f32>>,
    /// Dropout scale per hidden activation (0 or 1 / (1 - p)); empty when dropout is off.
    pub masks: Vec<Vec<f32>>,
    pub rows: usize,
}

impl MlpCache {
    pub fn output(&self) -> &[f32] {
        self.acts.last().map(|v| v.as_slice()).unwrap_or(&[])
    }
}

impl Mlp {
    /// Lays out layers `n_in -> hidden... -> n_out`.
    pub fn layout(
        layout: &mut Layout,
        prefix: &str,
        n_in: usize,
        hidden: &[usize],
        n_out: usize,
    ) -> Vec<Linear> {
        let mut dims = vec![n_in];
        dims.extend_from_slice(hidden);
        dims.push(n_out);
        dims.windows(2)
            .enumerate()
            .map(|(l, d)| Linear {
                w: layout.add(format!("{prefix}.layer{l}.weight"), d[0], d[1]),
                b: layout.add(format!("{prefix}.layer{l}.bias"), 1, d[1]),
            })
            .collect()
    }

    /// He initialisation for the ReLU layers, Glorot-like scale for the last one; zero biases.
    pub fn init(&self, store: &mut [f32], rng: &mut Rng) {
        let last = self.layers.len().saturating_sub(1);
        for (l, layer) in self.layers.iter().enumerate() {
            let fan_in = layer.n_in().max(1) as f64;
            let std = if l == last {
                (1.0 / fan_in).sqrt()
            } else {
                (2.0 / fan_in).sqrt()
            };
            let normal = Normal::new(0.0, std).unwrap_or_else(|_| Normal::new(0.0, 0.01).unwrap());
            for w in &mut store[layer.w.offset..layer.w.offset + layer.w.len()] {
                *w = normal.sample(rng) as f32;
            }
            store[layer.b.offset..layer.b.offset + layer.b.len()].fill(0.0);
        }
    }

    pub fn n_out(&self, n_in: usize) -> usize {
        self.layers.last().map(|l| l.n_out()).unwrap_or(n_in)
    }

    /// Forward pass over `rows` inputs (row-major in `cache.acts[0]`). `dropout_rng` is given
    /// while training.
    pub fn forward(&self, params: &[f32], cache: &mut MlpCache, mut dropout_rng: Option<&mut Rng>) {
        let m = cache.rows;
        cache.acts.truncate(1);
        cache.masks.clear();
        let last = self.layers.len().saturating_sub(1);
        for (l, layer) in self.layers.iter().enumerate() {
            let n = layer.n_out();
            let mut z = Vec::with_capacity(m * n);
            let bias = layer.b.slice(params);
            for _ in 0..m {
                z.extend_from_slice(bias);
            }
            gemm(
                m,
                layer.n_in(),
                n,
                &cache.acts[l],
                false,
                layer.w.slice(params),
                false,
                1.0,
                &mut z,
            );
            if l != last {
                for v in &mut z {
                    *v = v.max(0.0);
                }
                if let (Some(rng), true) = (dropout_rng.as_deref_mut(), self.dropout > 0.0) {
                    let mask = dropout_mask(z.len(), 1.0 - self.dropout, rng);
                    for (v, s) in z.iter_mut().zip(&mask) {
                        *v *= s;
                    }
                    cache.masks.push(mask);
                }
            }
            cache.acts.push(z);
        }
    }

    /// Backward pass: adds the weight gradients into `grads` (same layout as `params`) and
    /// returns the gradient with respect to the input.
    pub fn backward(
        &self,
        params: &[f32],
        cache: &MlpCache,
        d_out: Vec<f32>,
        grads: &mut [f32],
    ) -> Vec<f32> {
        let m = cache.rows;
        let last = self.layers.len().saturating_sub(1);
        let mut dz = d_out;
        for l in (0..self.layers.len()).rev() {
            let layer = self.layers[l];
            let (n_in, n_out) = (layer.n_in(), layer.n_out());
            if l != last {
                // ReLU and dropout: acts[l + 1] > 0 exactly where both let the gradient through.
                let a = &cache.acts[l + 1];
                // Indexed over equal lengths, so that the selects vectorise.
                let n = dz.len().min(a.len());
                let (dz, a) = (&mut dz[..n], &a[..n]);
                match cache.masks.get(l) {
                    Some(mask) => {
                        let mask = &mask[..n];
                        for i in 0..n {
                            dz[i] = if a[i] > 0.0 { dz[i] * mask[i] } else { 0.0 };
                        }
                    }
                    None => {
                        for i in 0..n {
                            dz[i] = if a[i] > 0.0 { dz[i] } else { 0.0 };
                        }
                    }
                }
            }
            // dW += A^T dZ; db += column sums of dZ.
            let wg = &mut grads[layer.w.offset..layer.w.offset + layer.w.len()];
            gemm(n_in, m, n_out, &cache.acts[l], true, &dz, false, 1.0, wg);
            let bg = &mut grads[layer.b.offset..layer.b.offset + n_out];
            for row in dz.chunks_exact(n_out) {
                for (g, d) in bg.iter_mut().zip(row) {
                    *g += d;
                }
            }
            // dA = dZ W^T.
            let mut da = vec![0.0f32; m * n_in];
            gemm(
                m,
                n_out,
                n_in,
                &dz,
                false,
                layer.w.slice(params),
                true,
                0.0,
                &mut da,
            );
            dz = da;
        }
        dz
    }
}

/// A dropout mask of `n` values: 1 / keep with probability `keep`, else 0. Each value is
/// decided by one byte of the random stream (keep is rounded to a multiple of 1/256), so one
/// 64-bit draw serves eight values and the comparison runs in vector registers.
fn dropout_mask(n: usize, keep: f32, rng: &mut Rng) -> Vec<f32> {
    let threshold = (keep as f64 * 256.0).round() as u32;
    let scale = 1.0 / keep;
    let mut bytes = vec![0u8; n.div_ceil(8) * 8];
    for chunk in bytes.chunks_exact_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes[..n]
        .iter()
        .map(|&b| scale * ((b as u32) < threshold) as u32 as f32)
        .collect()
}

/// Gradients of embedding rows, as (offset of the row in the store, its values).
#[derive(Debug, Clone, Default)]
pub struct SparseGrads {
    pub rows: Vec<(usize, u32)>,
    pub values: Vec<f32>,
}

impl SparseGrads {
    #[inline]
    pub fn push(&mut self, offset: usize, grad: &[f32], scale: f32) {
        self.rows.push((offset, grad.len() as u32));
        self.values.extend(grad.iter().map(|g| g * scale));
    }

    pub fn clear(&mut self) {
        self.rows.clear();
        self.values.clear();
    }

    /// Sums the gradients of `parts` per row. The result lists each row once, by increasing
    /// offset; a row's gradients are added in the order of `parts`, then of their pushes, so
    /// the sums do not depend on how the work was split between threads.
    pub fn merge<'a>(parts: impl IntoIterator<Item = &'a SparseGrads>) -> SparseGrads {
        // Every row as (row offset, its number in part order): sorting the pairs orders the
        // rows by offset and, within one offset, in part order.
        let parts: Vec<&SparseGrads> = parts.into_iter().collect();
        let mut place: Vec<(u32, u32, usize)> = Vec::new();
        let mut keys: Vec<(usize, u32)> = Vec::new();
        for (pi, p) in parts.iter().enumerate() {
            let mut at = 0;
            for &(off, dim) in &p.rows {
                keys.push((off, place.len() as u32));
                place.push((pi as u32, dim, at));
                at += dim as usize;
            }
        }
        keys.sort_unstable();
        let mut out = SparseGrads::default();
        out.rows.reserve(keys.len());
        let mut last: Option<usize> = None;
        for &(off, n) in &keys {
            let (pi, dim, at) = place[n as usize];
            let g = &parts[pi as usize].values[at..at + dim as usize];
            if last == Some(off) {
                let n = out.values.len();
                for (a, b) in out.values[n - dim as usize..].iter_mut().zip(g) {
                    *a += b;
                }
            } else {
                out.push(off, g, 1.0);
                last = Some(off);
            }
        }
        out
    }

    /// `merge` for parts that are each already merged (rows sorted by offset, each once): a
    /// k-way merge in one pass. A row's gradients are added in the order of `parts`.
    pub fn merge_sorted(parts: &[&SparseGrads]) -> SparseGrads {
        let mut cursor: Vec<(usize, usize)> = vec![(0, 0); parts.len()];
        let mut out = SparseGrads::default();
        loop {
            let next = parts
                .iter()
                .zip(&cursor)
                .filter_map(|(p, &(row, _))| p.rows.get(row).map(|r| r.0))
                .min();
            let Some(off) = next else { break };
            let mut first = true;
            for (p, (row, at)) in parts.iter().zip(cursor.iter_mut()) {
                let Some(&(o, dim)) = p.rows.get(*row) else {
                    continue;
                };
                if o != off {
                    continue;
                }
                let g = &p.values[*at..*at + dim as usize];
                if first {
                    out.push(off, g, 1.0);
                    first = false;
                } else {
                    let n = out.values.len();
                    for (a, b) in out.values[n - dim as usize..].iter_mut().zip(g) {
                        *a += b;
                    }
                }
                *row += 1;
                *at += dim as usize;
            }
        }
        out
    }
}

/// Adam with decoupled weight decay (AdamW). Embedding rows are updated lazily: only the rows a
/// batch touched move, with the global step count in the bias correction.
#[derive(Debug, Clone)]
pub struct Adam {
    pub learning_rate: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub t: i32,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    pub fn new(n: usize, learning_rate: f32, weight_decay: f32) -> Self {
        Self {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            t: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// Advances the step count; call once per batch before the updates of that batch.
    pub fn tick(&mut self) {
        self.t += 1;
    }

    /// The constants of one step.
    fn rule(&self) -> AdamRule {
        AdamRule {
            b1: self.beta1,
            b2: self.beta2,
            c1: 1.0 - self.beta1.powi(self.t),
            c2: 1.0 - self.beta2.powi(self.t),
            lr: self.learning_rate,
            decay: 1.0 - self.learning_rate * self.weight_decay,
            eps: self.eps,
        }
    }

    /// Updates every dense parameter, in parallel chunks on the current rayon pool (each
    /// value's update is independent, so the result does not depend on the thread count).
    pub fn step_dense(&mut self, params: &mut [f32], grads: &[f32]) {
        const PART: usize = 4096;
        let rule = self.rule();
        params
            .par_chunks_mut(PART)
            .zip(grads.par_chunks(PART))
            .zip(self.m.par_chunks_mut(PART))
            .zip(self.v.par_chunks_mut(PART))
            .for_each(|(((p, g), m), v)| rule.apply(p, g, m, v));
    }

    /// Updates the embedding rows that have gradients, in parallel on the current rayon pool.
    /// `grads` must come from `SparseGrads::merge`: rows sorted by offset, none overlapping.
    pub fn step_rows(&mut self, store: &mut [f32], grads: &SparseGrads) {
        let rule = self.rule();
        // Cut the store and the moments into the rows' disjoint slices, front to back.
        let mut rows = Vec::with_capacity(grads.rows.len());
        let (mut rest_p, mut rest_m, mut rest_v) =
            (&mut store[..], &mut self.m[..], &mut self.v[..]);
        let (mut pos, mut at) = (0usize, 0usize);
        for &(off, dim) in &grads.rows {
            let d = dim as usize;
            assert!(
                off >= pos,
                "sparse gradient rows must be merged (sorted, disjoint)"
            );
            let skip = off - pos;
            let (p, tail_p) = std::mem::take(&mut rest_p)[skip..].split_at_mut(d);
            let (m, tail_m) = std::mem::take(&mut rest_m)[skip..].split_at_mut(d);
            let (v, tail_v) = std::mem::take(&mut rest_v)[skip..].split_at_mut(d);
            rows.push((p, &grads.values[at..at + d], m, v));
            (rest_p, rest_m, rest_v) = (tail_p, tail_m, tail_v);
            pos = off + d;
            at += d;
        }
        rows.into_par_iter()
            .with_min_len(64)
            .for_each(|(p, g, m, v)| rule.apply(p, g, m, v));
    }
}

/// One Adam step's constants.
#[derive(Debug, Clone, Copy)]
struct AdamRule {
    b1: f32,
    b2: f32,
    c1: f32,
    c2: f32,
    lr: f32,
    decay: f32,
    eps: f32,
}

impl AdamRule {
    #[inline]
    fn apply(&self, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32]) {
        let (b1, b2) = (self.b1, self.b2);
        for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(m).zip(v) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            let step = (*m / self.c1) / ((*v / self.c2).sqrt() + self.eps);
            *p = *p * self.decay - self.lr * step;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use rand::Rng as _;

    #[test]
    fn gemm_matches_naive_in_every_transpose() {
        let mut rng = stream(1, &[]);
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|_| rng.gen::<f32>() - 0.5).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.gen::<f32>() - 0.5).collect();
        let naive = |at: &dyn Fn(usize, usize) -> f32, bt: &dyn Fn(usize, usize) -> f32| {
            let mut c = vec![0.0f32; m * n];
            for i in 0..m {
                for j in 0..n {
                    c[i * n + j] = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
                }
            }
            c
        };
        let want = naive(&|i, p| a[i * k + p], &|p, j| b[p * n + j]);
        let mut c = vec![0.0; m * n];
        gemm(m, k, n, &a, false, &b, false, 0.0, &mut c);
        assert!(c.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5));
        // The same products from transposed storage.
        let at: Vec<f32> = (0..k * m).map(|x| a[(x % m) * k + x / m]).collect();
        let bt: Vec<f32> = (0..n * k).map(|x| b[(x % k) * n + x / k]).collect();
        let mut c2 = vec![0.0; m * n];
        gemm(m, k, n, &at, true, &bt, true, 0.0, &mut c2);
        assert!(c2.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5));
    }

    #[test]
    fn dropout_mask_keeps_the_share_asked_for() {
        for (n, keep) in [(10_001usize, 0.8f32), (40_000, 0.5), (7, 0.9)] {
            let mask = dropout_mask(n, keep, &mut stream(3, &[n as u64]));
            assert_eq!(mask.len(), n);
            assert!(mask.iter().all(|&v| v == 0.0 || v == 1.0 / keep));
            let kept = mask.iter().filter(|&&v| v > 0.0).count() as f64 / n as f64;
            if n > 1000 {
                // Binomial standard deviation is under 0.005 here.
                assert!((kept - keep as f64).abs() < 0.02, "kept {kept} of {keep}");
            }
            // Values are independent draws, not one draw repeated over a 64-bit word.
            let blocks = mask.chunks_exact(8);
            let uniform = blocks.filter(|b| b.iter().all(|&v| v == b[0])).count();
            assert!(n < 1000 || uniform < n / 8 / 4, "{uniform} uniform blocks");
        }
        assert_eq!(
            dropout_mask(100, 0.7, &mut stream(9, &[])),
            dropout_mask(100, 0.7, &mut stream(9, &[]))
        );
    }

    #[test]
    fn sorted_merge_equals_the_general_one_on_merged_parts() {
        let mut rng = stream(5, &[]);
        let parts: Vec<SparseGrads> = (0..4)
            .map(|_| {
                let mut p = SparseGrads::default();
                for _ in 0..40 {
                    let row = rng.gen_range(0..30usize);
                    let g: Vec<f32> = (0..3).map(|_| rng.gen::<f32>() - 0.5).collect();
                    p.push(row * 3, &g, 1.0);
                }
                SparseGrads::merge([&p])
            })
            .collect();
        let refs: Vec<&SparseGrads> = parts.iter().collect();
        let sorted = SparseGrads::merge_sorted(&refs);
        let general = SparseGrads::merge(refs.iter().copied());
        assert_eq!(sorted.rows, general.rows);
        assert_eq!(sorted.values, general.values);
        assert!(sorted.rows.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(sorted.rows.len() > 20);
        assert!(SparseGrads::merge_sorted(&[]).rows.is_empty());
    }

    #[test]
    fn sparse_merge_sums_rows_in_order() {
        let mut a = SparseGrads::default();
        a.push(4, &[1.0, 2.0], 1.0);
        a.push(0, &[1.0], 2.0);
        let mut b = SparseGrads::default();
        b.push(4, &[0.5, 0.5], 1.0);
        let m = SparseGrads::merge([&a, &b]);
        assert_eq!(m.rows, vec![(0, 1), (4, 2)]);
        assert_eq!(m.values, vec![2.0, 1.5, 2.5]);
    }

    #[test]
    fn adam_moves_against_the_gradient_and_decays() {
        let mut p = vec![1.0f32, -1.0];
        let mut opt = Adam::new(2, 0.1, 0.0);
        opt.tick();
        opt.step_dense(&mut p, &[1.0, -1.0]);
        // The first Adam step has size lr in the sign direction.
        assert!((p[0] - 0.9).abs() < 1e-5 && (p[1] + 0.9).abs() < 1e-5);
        let mut q = vec![1.0f32];
        let mut wd = Adam::new(1, 0.1, 0.5);
        wd.tick();
        wd.step_dense(&mut q, &[0.0]);
        assert!((q[0] - 0.95).abs() < 1e-6);
    }
}
