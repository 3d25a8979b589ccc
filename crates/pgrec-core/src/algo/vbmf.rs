//! `vbmf`: variational Bayes matrix factorization of explicit ratings (Lim and Teh 2007), with
//! biases and with its priors and noise learned from the data.
//!
//! The model: r_ui = mean + [p_u, b_u] . [q_i, 1] + b_i + noise. Each user's vector x_u = [p_u,
//! b_u] and each item's y_i = [q_i, b_i] has a Gaussian posterior (a mean and a full d x d
//! covariance, d = factors + 1); users and items are independent under the approximation. The
//! priors are Gaussian per side with one variance per dimension: the item side's factor
//! variances are learned (automatic relevance determination: a dimension the data does not
//! support shrinks towards zero), the user side's factor variances stay 1 (the scale between
//! the sides is not identified), both sides' bias means and variances are learned, and so is
//! the noise variance. Every half-sweep is an exact coordinate step of the variational bound:
//! each user's posterior given the items' (a d x d ridge regression whose penalty is the
//! prior's precision and whose Gram matrix adds the items' covariances), then the users' prior,
//! then the noise; then the same for the items.
//!
//! What it buys over a fixed penalty: the penalty per dimension and per side, and the noise,
//! come from the data, and an entity's uncertainty (few ratings) enters its neighbours'
//! updates. On generated data of known rank it beats MAP estimates told the true priors
//! (BENCHMARKS.md, issue 32).
//!
//! Cost per sweep: a d x d outer product per rating and side plus a d x d covariance per
//! entity, stored (4 d (d + 1) / 2 bytes per user and item). Entities are solved in parallel
//! and each writes only its own rows, and sums are taken in entity order, so the model does
//! not depend on the thread count.

use rayon::prelude::*;
use rayon::ThreadPool;
use serde::{Deserialize, Serialize};

use super::contract::{
    Configured, MemoryShape, Tensor, TrainingData, ENTITY_BYTES, FACTOR_COPIES, FIXED_BYTES,
    LOAD_BYTES_PER_ROW, TRAIN_BYTES_PER_ROW,
};
use super::fold::{Explanation, FoldTarget, FoldedUser, History, TrainedRows};
use super::ials::init_factors;
use super::params::{float_in, int_in, Checked, Knob, LoopParams, Params};
use crate::algo::linear::sparse::Csr;
use crate::data::{rating_stats, split_validation, Rating};
use crate::error::{CoreError, Result};
use crate::model::{FactorModel, ModelView};
use crate::parallel::CancelFlag;
use crate::train::{
    EarlyStopping, Fitted, Measurement, Scorer, Snapshot, Step, StepReport, Target,
};

/// The parameters of `vbmf` (see [`super::params`]: the fields are the JSON keys, `Default`
/// holds the defaults).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VbmfParams {
    /// Dimensions of the factors (an upper bound: the learned prior shrinks the ones the data
    /// does not support).
    pub factors: i64,
    /// Standard deviation of the random starting factor means.
    pub init_std: f64,
    /// epochs (sweeps), seed, threads, validation_fraction (share of the ratings held out to
    /// measure RMSE and stop early), patience.
    #[serde(flatten)]
    pub run: LoopParams,
}

impl Default for VbmfParams {
    fn default() -> Self {
        Self {
            factors: 16,
            init_std: 0.3,
            run: LoopParams {
                epochs: 60,
                seed: 42,
                threads: None,
                validation_fraction: 0.0,
                patience: 3,
            },
        }
    }
}

/// Largest `factors`: the stored covariances grow with its square.
const MAX_FACTORS: i64 = 256;

impl Params for VbmfParams {
    /// What `"tune": true` searches: the rank (the penalties are learned).
    const KNOBS: &'static [Knob] = &[Knob::Choice("factors", &[4, 8, 16, 32])];

    fn check(&mut self) -> Result<()> {
        self.run.check()?;
        int_in("factors", self.factors, 1, MAX_FACTORS)?;
        float_in("init_std", self.init_std, 0.0, 10.0, false)?;
        Ok(())
    }

    fn run(&self) -> &LoopParams {
        &self.run
    }
}

/// Parses and checks the params of `vbmf`.
pub fn configure(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    Ok(Box::new(Checked::<VbmfParams>::from_json(params)?))
}

impl Configured for Checked<VbmfParams> {
    fn needs_ratings(&self) -> bool {
        true
    }

    /// Loading, the two CSR orientations of the centred ratings, and per user and item its
    /// posterior mean (three copies at the peak) and its stored covariance.
    fn memory_bytes(&self, shape: MemoryShape) -> u64 {
        let d = self.factors as u64 + 1;
        let per_entity = ENTITY_BYTES + 4 * (FACTOR_COPIES * d + packed_len(d as usize) as u64);
        FIXED_BYTES
            .saturating_add(
                shape
                    .rows
                    .saturating_mul(LOAD_BYTES_PER_ROW + TRAIN_BYTES_PER_ROW + 16),
            )
            .saturating_add((shape.users + shape.items).saturating_mul(per_entity))
    }

    /// The posterior mean of the new user given the items (see [`Fold`]), with the user prior
    /// and the noise the training learned.
    fn fold_in(&self, target: &FoldTarget<'_>, history: History<'_>) -> Option<FoldedUser> {
        Some(Fold::new(target, USER_PRIOR, history)?.folded())
    }

    /// The same with the sides swapped and the item prior (its per-dimension variances).
    fn fold_in_item(
        &self,
        target: &FoldTarget<'_>,
        history: History<'_>,
        _trained: &TrainedRows<'_>,
    ) -> Option<FoldedUser> {
        Some(Fold::new(target, ITEM_PRIOR, history)?.folded())
    }

    /// Exact: the posterior mean is linear in the history's ratings, so the score of `item`
    /// splits into one share per rated item and a rest (the biases and the prior's mean).
    fn explain(
        &self,
        target: &FoldTarget<'_>,
        history: History<'_>,
        item: u32,
    ) -> Option<Explanation> {
        Some(Fold::new(target, USER_PRIOR, history)?.explain(item))
    }

    fn prepare(self: Box<Self>, data: TrainingData, _pool: &ThreadPool) -> Result<Box<dyn Step>> {
        Ok(Box::new(VbmfTraining::new(data, *self)?))
    }
}

/// The tensors a vbmf version stores for its fold-in: each side's learned prior (2 x d: the
/// mean, then the variance, of each dimension, the bias last) and the noise variance (1 x 1).
pub const USER_PRIOR: &str = "fold.user_prior";
pub const ITEM_PRIOR: &str = "fold.item_prior";
pub const NOISE_VAR: &str = "fold.noise_var";

/// A prior and the noise as the version stored them; None when a tensor is missing, of the
/// wrong size or not finite and positive where it must be (a version trained before they
/// were stored, or damaged).
fn stored_prior(tensors: &[Tensor], name: &str, d: usize) -> Option<(Prior, f64)> {
    let find = |n: &str| tensors.iter().find(|t| t.0 == n);
    let (_, rows, cols, data) = find(name)?;
    if *rows != 2 || *cols != d || data.len() != 2 * d {
        return None;
    }
    let noise_var = *find(NOISE_VAR)?.3.first()? as f64;
    let prior = Prior {
        mean: data[..d].iter().map(|&x| x as f64).collect(),
        var: data[d..].iter().map(|&x| x as f64).collect(),
    };
    let positive = |x: f64| x.is_finite() && x > 0.0;
    (positive(noise_var)
        && prior.var.iter().all(|&v| positive(v))
        && prior.mean.iter().all(|m| m.is_finite()))
    .then_some((prior, noise_var))
}

/// One new entity's posterior given the other side's means (their covariances are not stored,
/// so the neighbours count as certain): with z_j = [q_j, 1] and t_j = r_j - mean - b_j over the
/// history, A = sum z z^T / s2 + diag(1 / v0) and the mean is A^-1 (sum z t / s2 + m0 / v0),
/// the step a training sweep takes for each entity. Without a history it is the prior's mean.
struct Fold<'a> {
    model: ModelView<'a>,
    history: History<'a>,
    prior: Prior,
    noise_var: f64,
    /// A^-1 (d x d, row-major) and the posterior mean.
    inv: Vec<f64>,
    mean: Vec<f64>,
}

impl<'a> Fold<'a> {
    fn new(target: &FoldTarget<'a>, side: &str, history: History<'a>) -> Option<Self> {
        let model = target.model;
        let k = model.factors;
        let d = k + 1;
        let (prior, noise_var) = stored_prior(target.learned, side, d)?;
        let mut a = vec![0f64; d * d];
        let mut rhs: Vec<f64> = (0..d).map(|j| prior.mean[j] / prior.var[j]).collect();
        let mut z = vec![0f64; d];
        for (n, &i) in history.items.iter().enumerate() {
            let t = Self::residual(&model, i, history.values[n]);
            z[..k]
                .iter_mut()
                .zip(model.item(i))
                .for_each(|(z, &q)| *z = q as f64);
            z[k] = 1.0;
            for x in 0..d {
                rhs[x] += z[x] * t / noise_var;
                for y in 0..=x {
                    a[x * d + y] += z[x] * z[y] / noise_var;
                }
            }
        }
        for x in 0..d {
            a[x * d + x] += 1.0 / prior.var[x];
            for y in 0..x {
                a[y * d + x] = a[x * d + y];
            }
        }
        let (mut l, mut inv) = (vec![0f64; d * d], vec![0f64; d * d]);
        invert_spd(&a, d, &mut l, &mut inv);
        let mean = (0..d)
            .map(|x| (0..d).map(|y| inv[x * d + y] * rhs[y]).sum())
            .collect();
        Some(Fold {
            model,
            history,
            prior,
            noise_var,
            inv,
            mean,
        })
    }

    /// What a rating leaves for the new entity to explain: r - mean - b_i.
    fn residual(model: &ModelView<'_>, i: u32, r: f32) -> f64 {
        (r - model.global_mean - model.item_bias[i as usize]) as f64
    }

    fn folded(&self) -> FoldedUser {
        let k = self.model.factors;
        FoldedUser {
            bias: self.mean[k] as f32,
            factors: self.mean[..k].iter().map(|&x| x as f32).collect(),
        }
    }

    /// The score of `item` (mean + b_item + z_item . x) as w . (sum z t / s2 + m0 / v0) with
    /// w = A^-1 z_item: rated item j's share is (w . z_j) t_j / s2; the rest is mean + b_item
    /// + w . m0 / v0.
    fn explain(&self, item: u32) -> Explanation {
        let m = &self.model;
        let k = m.factors;
        let d = k + 1;
        let zi: Vec<f64> = m
            .item(item)
            .iter()
            .map(|&q| q as f64)
            .chain([1.0])
            .collect();
        let w: Vec<f64> = (0..d)
            .map(|x| (0..d).map(|y| self.inv[x * d + y] * zi[y]).sum())
            .collect();
        let prior_part: f64 = (0..d)
            .map(|x| w[x] * self.prior.mean[x] / self.prior.var[x])
            .sum();
        let rest = m.global_mean as f64 + m.item_bias[item as usize] as f64 + prior_part;
        let contributions: Vec<f32> = self
            .history
            .items
            .iter()
            .zip(self.history.values)
            .map(|(&j, &r)| {
                let wz: f64 = w[..k]
                    .iter()
                    .zip(m.item(j))
                    .map(|(a, &q)| a * q as f64)
                    .sum::<f64>()
                    + w[k];
                (wz * Self::residual(m, j, r) / self.noise_var) as f32
            })
            .collect();
        let score = rest as f32 + contributions.iter().sum::<f32>();
        Explanation {
            items: self.history.items.to_vec(),
            contributions,
            rest: rest as f32,
            score,
            exact: true,
        }
    }
}

/// Entries of a packed lower triangle of a d x d symmetric matrix.
fn packed_len(d: usize) -> usize {
    d * (d + 1) / 2
}

/// Index of (a, b), a >= b, in a packed lower triangle.
#[inline]
fn at(a: usize, b: usize) -> usize {
    a * (a + 1) / 2 + b
}

/// One side's Gaussian prior: a mean and a variance per dimension (factors, then the bias).
#[derive(Debug, Clone, PartialEq)]
struct Prior {
    mean: Vec<f64>,
    var: Vec<f64>,
}

/// Smallest prior variance (a dimension the data does not support ends here, not at zero).
const MIN_VAR: f64 = 1e-8;

/// One side's posteriors: means (n x d, the bias last) and packed covariances (n x d(d+1)/2).
struct Posteriors {
    mean: Vec<f32>,
    cov: Vec<f32>,
}

/// One half-sweep: this side's rows (ratings minus the global mean), the other side's
/// posteriors, this side's prior and the noise variance.
struct Sides<'a> {
    /// The entity's ratings minus the global mean, by the entity (users: by user).
    rows: &'a Csr,
    other: &'a Posteriors,
    prior: &'a Prior,
    noise_var: f64,
    d: usize,
}

/// Scratch of one worker: the d x d system and its factor.
struct Work {
    /// The gathered rows z and targets t of one entity, Z^T Z and Z^T t, the summed packed
    /// covariances.
    z: Vec<f32>,
    t: Vec<f32>,
    gf: Vec<f32>,
    hf: Vec<f32>,
    cs: Vec<f32>,
    g: Vec<f64>,
    h: Vec<f64>,
    a: Vec<f64>,
    l: Vec<f64>,
    inv: Vec<f64>,
    /// The posterior mean's right-hand side h / s2 + m0 / v0, and the mean.
    rhs: Vec<f64>,
    m: Vec<f64>,
}

impl Work {
    fn new(d: usize) -> Self {
        Self {
            z: Vec::new(),
            t: Vec::new(),
            gf: vec![0.0; d * d],
            hf: vec![0.0; d],
            cs: vec![0.0; packed_len(d)],
            g: vec![0.0; d * d],
            h: vec![0.0; d],
            a: vec![0.0; d * d],
            l: vec![0.0; d * d],
            inv: vec![0.0; d * d],
            rhs: vec![0.0; d],
            m: vec![0.0; d],
        }
    }
}

impl Sides<'_> {
    /// The posterior of one entity given the other side, written to `mean` / `cov`; returns
    /// its expected squared error summed over its ratings (0 without ratings: the posterior is
    /// then the prior).
    fn update(&self, r: usize, mean: &mut [f32], cov: &mut [f32], w: &mut Work) -> f64 {
        let d = self.d;
        let k = d - 1;
        let (cols, values) = self.rows.row(r);
        if cols.is_empty() {
            for (j, m) in mean.iter_mut().enumerate() {
                *m = self.prior.mean[j] as f32;
            }
            cov.fill(0.0);
            for j in 0..d {
                cov[at(j, j)] = self.prior.var[j] as f32;
            }
            return 0.0;
        }
        // G = sum E[z z^T] with z = [q, 1] (the 1 is certain: only the factor block of the
        // other's covariance enters); h = sum E[z t] with t = r - b (b the other's bias);
        // plus sum t^2 and sum Var(b) for the expected error. The rows z are gathered into a
        // matrix Z and G's mean part is Z^T Z by one matrix product; the covariances add up
        // as contiguous packed arrays.
        let pl = packed_len(d);
        let n = cols.len();
        w.z.clear();
        w.t.clear();
        w.cs.fill(0.0);
        for (&c, &v) in cols.iter().zip(values) {
            let c = c as usize;
            let zm = &self.other.mean[c * d..(c + 1) * d];
            w.z.extend_from_slice(&zm[..k]);
            w.z.push(1.0);
            w.t.push(v - zm[k]);
            for (acc, &x) in w.cs.iter_mut().zip(&self.other.cov[c * pl..(c + 1) * pl]) {
                *acc += x;
            }
        }
        // SAFETY: Z is n x d row-major (row stride d), its transpose is read with strides
        // (1, d); G is d x d row-major; t is n x 1 and h d x 1. The slices hold exactly these
        // sizes.
        unsafe {
            matrixmultiply::sgemm(
                d,
                n,
                d,
                1.0,
                w.z.as_ptr(),
                1,
                d as isize,
                w.z.as_ptr(),
                d as isize,
                1,
                0.0,
                w.gf.as_mut_ptr(),
                d as isize,
                1,
            );
            matrixmultiply::sgemm(
                d,
                n,
                1,
                1.0,
                w.z.as_ptr(),
                1,
                d as isize,
                w.t.as_ptr(),
                1,
                1,
                0.0,
                w.hf.as_mut_ptr(),
                1,
                1,
            );
        }
        let tt: f64 = w.t.iter().map(|&t| (t as f64) * (t as f64)).sum();
        let var_b = w.cs[at(k, k)] as f64;
        for a in 0..d {
            for b in 0..=a {
                let cov = if a < k { w.cs[at(a, b)] } else { 0.0 };
                let g = (w.gf[a * d + b] + cov) as f64;
                w.g[a * d + b] = g;
                w.g[b * d + a] = g;
            }
            // E[q_a (r - b)] = m_a t - Cov(q_a, b)
            let cross = if a < k { w.cs[at(k, a)] } else { 0.0 };
            w.h[a] = (w.hf[a] - cross) as f64;
        }
        // A = G / s2 + diag(1 / v0); the posterior is N(A^-1 (h / s2 + m0 / v0), A^-1).
        let s2 = self.noise_var;
        for a in 0..d {
            for b in 0..d {
                w.a[a * d + b] = w.g[a * d + b] / s2;
            }
            w.a[a * d + a] += 1.0 / self.prior.var[a];
        }
        invert_spd(&w.a, d, &mut w.l, &mut w.inv);
        for b in 0..d {
            w.rhs[b] = w.h[b] / s2 + self.prior.mean[b] / self.prior.var[b];
        }
        let m = &mut w.m;
        for (a, ma) in m.iter_mut().enumerate() {
            let row = &w.inv[a * d..(a + 1) * d];
            *ma = row.iter().zip(&w.rhs).map(|(s, r)| s * r).sum();
        }
        // Expected squared error: sum t^2 - 2 m.h + m^T G m + tr(G S) + sum Var(b).
        let mut err = tt + var_b;
        for a in 0..d {
            let ga = &w.g[a * d..(a + 1) * d];
            let sa = &w.inv[a * d..(a + 1) * d];
            err -= 2.0 * m[a] * w.h[a];
            for b in 0..d {
                err += m[a] * ga[b] * m[b] + ga[b] * sa[b];
            }
        }
        for a in 0..d {
            mean[a] = m[a] as f32;
            for b in 0..=a {
                cov[at(a, b)] = w.inv[a * d + b] as f32;
            }
        }
        err.max(0.0)
    }
}

/// The inverse of a symmetric positive definite d x d matrix by its Cholesky factor L
/// (row-major, in `l`): L^-1 in place, then inv = L^-T L^-1 as a sum of rank-one terms, one
/// per row of L^-1. A pivot that is not positive (rounding; the system is a Gram matrix plus a
/// positive diagonal) is lifted to a small positive value.
fn invert_spd(a: &[f64], d: usize, l: &mut [f64], inv: &mut [f64]) {
    l.fill(0.0);
    for j in 0..d {
        let s = a[j * d + j] - l[j * d..j * d + j].iter().map(|x| x * x).sum::<f64>();
        let pivot = s.max(1e-12 * a[j * d + j].abs().max(1e-300)).sqrt();
        l[j * d + j] = pivot;
        for i in j + 1..d {
            let dot: f64 = (0..j).map(|p| l[i * d + p] * l[j * d + p]).sum();
            l[i * d + j] = (a[i * d + j] - dot) / pivot;
        }
    }
    // L^-1, row by row: row i depends on the rows above it, which are already inverted.
    for i in 0..d {
        let diag = l[i * d + i];
        for j in 0..i {
            let s: f64 = (j..i).map(|p| l[i * d + p] * l[p * d + j]).sum();
            l[i * d + j] = -s / diag;
        }
        l[i * d + i] = 1.0 / diag;
    }
    inv.fill(0.0);
    for p in 0..d {
        let row = &l[p * d..p * d + p + 1];
        for (x, &ra) in row.iter().enumerate() {
            let out = &mut inv[x * d..x * d + x + 1];
            for (o, &rb) in out.iter_mut().zip(row) {
                *o += ra * rb;
            }
        }
    }
    for x in 0..d {
        for y in 0..x {
            inv[y * d + x] = inv[x * d + y];
        }
    }
}

/// Rows per parallel task.
const CHUNK: usize = 64;

/// Updates every entity of one side; returns the summed expected squared error.
fn sweep(
    pool: &ThreadPool,
    sides: &Sides<'_>,
    own: &mut Posteriors,
    cancel: &CancelFlag,
) -> Result<f64> {
    let d = sides.d;
    let pl = packed_len(d);
    let n = sides.rows.n_rows();
    let mut errors = vec![0f64; n];
    pool.install(|| {
        own.mean
            .par_chunks_mut(CHUNK * d)
            .zip(own.cov.par_chunks_mut(CHUNK * pl))
            .zip(errors.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(chunk, ((means, covs), errs))| {
                if cancel.is_cancelled() {
                    return;
                }
                let mut w = Work::new(d);
                for (o, err) in errs.iter_mut().enumerate() {
                    let r = chunk * CHUNK + o;
                    *err = sides.update(
                        r,
                        &mut means[o * d..(o + 1) * d],
                        &mut covs[o * pl..(o + 1) * pl],
                        &mut w,
                    );
                }
            });
    });
    cancel.check()?;
    Ok(errors.iter().sum())
}

/// The prior that maximises the bound given one side's posteriors (entities with ratings
/// only): the bias's mean and variance, and each factor dimension's variance about zero
/// (`learn_factors`; otherwise they stay 1).
fn learn_prior(own: &Posteriors, rows: &Csr, d: usize, learn_factors: bool) -> Prior {
    let k = d - 1;
    let pl = packed_len(d);
    let seen: Vec<usize> = (0..rows.n_rows())
        .filter(|&r| !rows.row(r).0.is_empty())
        .collect();
    let n = seen.len().max(1) as f64;
    let bias_mean = seen
        .iter()
        .map(|&r| own.mean[r * d + k] as f64)
        .sum::<f64>()
        / n;
    let mut var = vec![0f64; d];
    for &r in &seen {
        let m = &own.mean[r * d..(r + 1) * d];
        let s = &own.cov[r * pl..(r + 1) * pl];
        for a in 0..d {
            let centre = if a == k { bias_mean } else { 0.0 };
            let dev = m[a] as f64 - centre;
            var[a] += dev * dev + s[at(a, a)] as f64;
        }
    }
    let mut mean = vec![0f64; d];
    mean[k] = bias_mean;
    for (a, v) in var.iter_mut().enumerate() {
        *v = if a < k && !learn_factors {
            1.0
        } else {
            (*v / n).max(MIN_VAR)
        };
    }
    Prior { mean, var }
}

pub struct VbmfTraining {
    p: Checked<VbmfParams>,
    d: usize,
    mean: f32,
    range: (f32, f32),
    /// Training ratings minus the global mean, by user and by item.
    by_user: Csr,
    by_item: Csr,
    n_train: usize,
    users: Posteriors,
    items: Posteriors,
    user_prior: Prior,
    item_prior: Prior,
    noise_var: f64,
    validation: Vec<Rating>,
    all: Vec<Rating>,
}

impl VbmfTraining {
    pub fn new(data: TrainingData, p: Checked<VbmfParams>) -> Result<Self> {
        let all = data.ratings;
        let mut ratings = all.clone();
        let seed = p.run.seed();
        let n_train = split_validation(&mut ratings, p.run.validation_fraction(), seed);
        let validation = ratings.split_off(n_train);
        ratings.sort_unstable_by_key(|r| (r.user, r.item));
        let stats = rating_stats(&ratings)
            .ok_or_else(|| CoreError::data("no ratings left to train on", None))?;
        let mean = stats.mean as f32;
        let centred: Vec<Rating> = ratings
            .iter()
            .map(|r| Rating {
                value: r.value - mean,
                ..*r
            })
            .collect();
        let variance = centred
            .iter()
            .map(|r| (r.value as f64).powi(2))
            .sum::<f64>()
            / centred.len() as f64;
        let by_user = Csr::by_user(data.n_users, &centred);
        let by_item = by_user.transpose(data.n_items);
        let k = p.factors as usize;
        let d = k + 1;
        let start = |side: u64, n: usize| {
            let factors = init_factors(seed, side, n, k, p.init_std as f32);
            let mut m = vec![0f32; n * d];
            for e in 0..n {
                m[e * d..e * d + k].copy_from_slice(&factors[e * k..(e + 1) * k]);
            }
            Posteriors {
                mean: m,
                cov: vec![0f32; n * packed_len(d)],
            }
        };
        let unit = Prior {
            mean: vec![0.0; d],
            var: vec![1.0; d],
        };
        Ok(Self {
            d,
            mean,
            range: (stats.min, stats.max),
            n_train: centred.len(),
            by_user,
            by_item,
            users: start(7, data.n_users),
            items: start(8, data.n_items),
            user_prior: unit.clone(),
            item_prior: unit,
            noise_var: variance.max(1e-6),
            validation,
            all,
            p,
        })
    }

    fn predict(&self, u: u32, i: u32) -> f32 {
        let d = self.d;
        let x = &self.users.mean[u as usize * d..(u as usize + 1) * d];
        let y = &self.items.mean[i as usize * d..(i as usize + 1) * d];
        let dot: f32 = x[..d - 1].iter().zip(&y[..d - 1]).map(|(a, b)| a * b).sum();
        (self.mean + x[d - 1] + y[d - 1] + dot).clamp(self.range.0, self.range.1)
    }

    fn validation_rmse(&self) -> Option<f64> {
        if self.validation.is_empty() {
            return None;
        }
        let pairs: Vec<(f32, f32)> = self
            .validation
            .iter()
            .map(|r| (self.predict(r.user, r.item), r.value))
            .collect();
        Some(crate::metrics::rmse(&pairs))
    }

    /// Dimensions whose learned item prior variance is at least 1/1000 of the largest.
    fn active_factors(&self) -> usize {
        let k = self.d - 1;
        let top = self.item_prior.var[..k].iter().cloned().fold(0.0, f64::max);
        self.item_prior.var[..k]
            .iter()
            .filter(|&&v| v >= 1e-3 * top)
            .count()
    }
}

impl Step for VbmfTraining {
    fn max_steps(&self) -> usize {
        self.p.run.epochs()
    }

    fn n_validation(&self) -> usize {
        self.validation.len()
    }

    fn squared_loss(&self) -> bool {
        true
    }

    fn early_stopping(&self) -> Option<EarlyStopping> {
        EarlyStopping::on_rmse(self.p.run.patience(), self.validation.len())
    }

    /// One sweep: users (their posteriors, then their prior, then the noise), then items.
    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<StepReport> {
        let d = self.d;
        let n = self.n_train.max(1) as f64;
        let err = sweep(
            pool,
            &Sides {
                rows: &self.by_user,
                other: &self.items,
                prior: &self.user_prior,
                noise_var: self.noise_var,
                d,
            },
            &mut self.users,
            cancel,
        )?;
        self.user_prior = learn_prior(&self.users, &self.by_user, d, false);
        self.noise_var = (err / n).max(1e-8);
        let err = sweep(
            pool,
            &Sides {
                rows: &self.by_item,
                other: &self.users,
                prior: &self.item_prior,
                noise_var: self.noise_var,
                d,
            },
            &mut self.items,
            cancel,
        )?;
        self.item_prior = learn_prior(&self.items, &self.by_item, d, true);
        self.noise_var = (err / n).max(1e-8);
        let validation = self.validation_rmse().map(Measurement::rmse);
        Ok(StepReport::new(self.noise_var, validation))
    }

    /// The means and the learned noise and priors (what the model and its metrics are made
    /// of; the covariances are not needed after the last step).
    fn snapshot(&self) -> Snapshot {
        Snapshot::new((
            self.users.mean.clone(),
            self.items.mean.clone(),
            self.noise_var,
            self.user_prior.clone(),
            self.item_prior.clone(),
        ))
    }

    fn restore(&mut self, snapshot: Snapshot) {
        let (users, items, noise_var, user_prior, item_prior) = snapshot.into_inner();
        self.users.mean = users;
        self.items.mean = items;
        self.noise_var = noise_var;
        self.user_prior = user_prior;
        self.item_prior = item_prior;
    }

    fn finish(self: Box<Self>, _pool: &ThreadPool) -> Fitted {
        let this = *self;
        let d = this.d;
        let k = d - 1;
        let split = |m: &[f32]| -> (Vec<f32>, Vec<f32>) {
            let n = m.len() / d;
            let mut factors = Vec::with_capacity(n * k);
            let mut bias = Vec::with_capacity(n);
            for e in 0..n {
                factors.extend_from_slice(&m[e * d..e * d + k]);
                bias.push(m[e * d + k]);
            }
            (factors, bias)
        };
        let (user_factors, user_bias) = split(&this.users.mean);
        let (item_factors, item_bias) = split(&this.items.mean);
        let prior = |name: &str, p: &Prior| -> Tensor {
            let data = p.mean.iter().chain(&p.var).map(|&x| x as f32).collect();
            (name.to_string(), 2, d, data)
        };
        let tensors = vec![
            prior(USER_PRIOR, &this.user_prior),
            prior(ITEM_PRIOR, &this.item_prior),
            (NOISE_VAR.to_string(), 1, 1, vec![this.noise_var as f32]),
        ];
        let metrics = serde_json::json!({
            "noise_std": this.noise_var.sqrt(),
            "active_factors": this.active_factors(),
            "user_bias_std": this.user_prior.var[k].sqrt(),
            "item_bias_std": this.item_prior.var[k].sqrt(),
        });
        Fitted {
            scorer: Scorer::Dot,
            target: Target::Rating,
            model: FactorModel {
                factors: k,
                global_mean: this.mean,
                rating_range: Some(this.range),
                user_bias,
                item_bias,
                user_factors,
                item_factors,
                head: None,
            },
            ratings: this.all,
            tensors,
            metrics,
            params: serde_json::Value::Null,
        }
    }
}

/// Fold-in tensors for a model of `factors` dimensions (the user side's factor variances 1,
/// the item side's 0.5, biases of mean 0.1 and variance 0.2, noise variance 0.8): what the
/// other modules' tests fold vbmf in with.
#[cfg(test)]
pub(crate) fn test_fold_tensors(factors: usize) -> Vec<Tensor> {
    let d = factors + 1;
    let side = |name: &str, var: f32| -> Tensor {
        let mut data = vec![0f32; 2 * d];
        data[d - 1] = 0.1;
        data[d..].fill(var);
        data[2 * d - 1] = 0.2;
        (name.to_string(), 2, d, data)
    };
    vec![
        side(USER_PRIOR, 1.0),
        side(ITEM_PRIOR, 0.5),
        (NOISE_VAR.to_string(), 1, 1, vec![0.8]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_inverse_of_a_positive_definite_matrix() {
        let d = 5;
        // A = B B^T + I for a fixed B
        let b: Vec<f64> = (0..d * d)
            .map(|x| ((x * 7 % 11) as f64 - 5.0) / 3.0)
            .collect();
        let mut a = vec![0f64; d * d];
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] = (0..d).map(|p| b[i * d + p] * b[j * d + p]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let (mut l, mut inv) = (vec![0f64; d * d], vec![0f64; d * d]);
        invert_spd(&a, d, &mut l, &mut inv);
        for i in 0..d {
            for j in 0..d {
                let e: f64 = (0..d).map(|p| a[i * d + p] * inv[p * d + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((e - want).abs() < 1e-9, "({i}, {j}): {e}");
            }
        }
    }

    /// The estimate counts each user's and item's packed covariance: 16 factors, 1M rows,
    /// 10,000 users and 5,000 items.
    #[test]
    fn the_memory_estimate_counts_the_covariances() {
        let c = configure(&json!({"factors": 16})).unwrap();
        let shape = MemoryShape {
            rows: 1_000_000,
            users: 10_000,
            items: 5_000,
        };
        let per_entity = 96 + 4 * (3 * 17 + 17 * 18 / 2);
        let want = (64 << 20) + 1_000_000 * (24 + 8 + 16) + 15_000 * per_entity;
        assert_eq!(c.memory_bytes(shape), want);
        let wider = configure(&json!({"factors": 32})).unwrap();
        assert!(wider.memory_bytes(shape) > want + 15_000 * 4 * (33 * 34 / 2 - 17 * 18 / 2));
    }

    /// Active dimensions are the factor dimensions whose item prior variance is at least a
    /// thousandth of the largest factor variance; the bias column (last) is not a dimension,
    /// however wide its prior.
    #[test]
    fn active_factors_count_factor_dimensions_only() {
        let ratings: Vec<Rating> = (0..6u32)
            .map(|n| Rating {
                user: n % 3,
                item: n % 2,
                value: 1.0 + n as f32,
            })
            .collect();
        let data = TrainingData {
            ratings,
            n_users: 3,
            n_items: 2,
            explicit: true,
            weighted: None,
            users: crate::features::SideFeatures::none(3),
            items: crate::features::SideFeatures::none(2),
        };
        let p = Checked::<VbmfParams>::from_json(&json!({"factors": 4})).unwrap();
        let mut t = VbmfTraining::new(data, p).unwrap();
        t.item_prior.var = vec![1.0, 0.5, 1e-4, 1e-6, 50.0];
        assert_eq!(t.active_factors(), 2);
        t.item_prior.var = vec![1e-6, 2e-3, 1.0, 1e-6, 1e-9];
        assert_eq!(t.active_factors(), 2);
    }

    #[test]
    fn params_out_of_range_are_refused() {
        assert!(configure(&json!({})).is_ok());
        for bad in [
            json!({"factors": 0}),
            json!({"factors": 257}),
            json!({"init_std": -0.1}),
            json!({"epochs": 0}),
            json!({"regularization": 0.1}),
        ] {
            let message = configure(&bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            let key = bad
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap();
            assert!(message.contains(&key), "{bad} gave {message:?}");
        }
    }

    /// A model of 2 factors and 4 items, and vbmf's fold-in tensors with the given priors.
    fn fold_case(
        user: ([f32; 3], [f32; 3]),
        item: ([f32; 3], [f32; 3]),
        noise: f32,
    ) -> (FactorModel, Vec<Tensor>) {
        let model = FactorModel {
            factors: 2,
            global_mean: 3.5,
            rating_range: Some((1.0, 5.0)),
            user_bias: vec![0.2, -0.1],
            item_bias: vec![0.1, -0.2, 0.3, 0.0],
            user_factors: vec![0.5, -0.3, 0.1, 0.8],
            item_factors: vec![1.0, 0.2, 0.8, -0.4, -0.3, 0.9, 0.5, 0.5],
            head: None,
        };
        let side = |name: &str, (m, v): ([f32; 3], [f32; 3])| -> Tensor {
            (name.into(), 2, 3, m.iter().chain(&v).copied().collect())
        };
        let tensors = vec![
            side(USER_PRIOR, user),
            side(ITEM_PRIOR, item),
            (NOISE_VAR.into(), 1, 1, vec![noise]),
        ];
        (model, tensors)
    }

    /// The solution of a 3 x 3 system by Cramer's rule (independent of `invert_spd`).
    fn cramer(a: [[f64; 3]; 3], b: [f64; 3]) -> [f64; 3] {
        let det = |m: [[f64; 3]; 3]| {
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        };
        let d = det(a);
        let mut x = [0f64; 3];
        for (c, xc) in x.iter_mut().enumerate() {
            let mut m = a;
            for r in 0..3 {
                m[r][c] = b[r];
            }
            *xc = det(m) / d;
        }
        x
    }

    /// The folded-in user is the posterior mean: (Z^T Z / s2 + diag(1 / v0)) x = Z^T t / s2 +
    /// m0 / v0 with z = [q, 1] and t = r - mean - b_i, solved here by Cramer's rule; its
    /// explanation adds up to the score of that vector, and without a history the user is the
    /// prior's mean.
    #[test]
    fn fold_in_is_the_posterior_mean_by_its_definition() {
        let (model, tensors) = fold_case(
            ([0.0, 0.0, 0.15], [1.0, 1.0, 0.3]),
            ([0.0, 0.0, -0.05], [0.6, 0.01, 0.2]),
            0.7,
        );
        let gram = std::sync::OnceLock::new();
        let target = FoldTarget {
            model: model.view(),
            item_gram: &gram,
            learned: &tensors,
        };
        let c = configure(&json!({"factors": 2})).unwrap();
        let (items, values) = ([0u32, 1, 3], [5.0f32, 2.0, 4.0]);
        let h = History {
            items: &items,
            values: &values,
            weighted: None,
        };
        let (m0, v0, s2) = ([0.0, 0.0, 0.15], [1.0, 1.0, 0.3], 0.7f64);
        let mut a = [[0f64; 3]; 3];
        let mut b = [0f64; 3];
        for (&i, &r) in items.iter().zip(&values) {
            let q = model.view().item(i).to_vec();
            let z = [q[0] as f64, q[1] as f64, 1.0];
            let t = (r - 3.5 - model.item_bias[i as usize]) as f64;
            for x in 0..3 {
                b[x] += z[x] * t / s2;
                for y in 0..3 {
                    a[x][y] += z[x] * z[y] / s2;
                }
            }
        }
        for x in 0..3 {
            a[x][x] += 1.0 / v0[x];
            b[x] += m0[x] / v0[x];
        }
        let want = cramer(a, b);
        let got = c.fold_in(&target, h).unwrap();
        let close = |g: f32, w: f64| (g as f64 - w).abs() < 1e-5;
        assert!(
            close(got.factors[0], want[0]) && close(got.factors[1], want[1]),
            "{got:?} vs {want:?}"
        );
        assert!(close(got.bias, want[2]), "{got:?} vs {want:?}");
        // The explanation of item 2 (not rated): rows and rest add up to the folded score.
        let e = c.explain(&target, h, 2).unwrap();
        let q2 = model.view().item(2);
        let score = 3.5 + 0.3 + got.bias + got.factors[0] * q2[0] + got.factors[1] * q2[1];
        assert!((e.score - score).abs() < 1e-5, "{e:?} vs {score}");
        let sum = e.rest + e.contributions.iter().sum::<f32>();
        assert!((sum - e.score).abs() < 1e-5, "{e:?}");
        assert_eq!(e.items, items);
        assert!(e.exact);
        // A rating equal to its baseline (t = 0) has no share.
        let (one, five) = ([1u32], [3.3f32]);
        let flat = History {
            items: &one,
            values: &five,
            weighted: None,
        };
        let e = c.explain(&target, flat, 2).unwrap();
        assert!(e.contributions[0].abs() < 1e-6, "{e:?}");
        // No history: the prior's mean.
        let none = History {
            items: &[],
            values: &[],
            weighted: None,
        };
        let u = c.fold_in(&target, none).unwrap();
        assert_eq!(u.factors, vec![0.0, 0.0]);
        assert!((u.bias - 0.15).abs() < 1e-6, "{u:?}");
    }

    /// An item folds in with the item side's prior: a dimension whose learned variance is tiny
    /// stays near zero for a new item, not for a new user (whose factor variances are 1).
    #[test]
    fn items_fold_in_with_the_item_prior() {
        let (model, tensors) = fold_case(
            ([0.0, 0.0, 0.0], [1.0, 1.0, 0.3]),
            ([0.0, 0.0, -0.05], [1e-6, 1.0, 0.2]),
            0.5,
        );
        let gram = std::sync::OnceLock::new();
        let view = model.view();
        let target = FoldTarget {
            model: view.transposed().unwrap(),
            item_gram: &gram,
            learned: &tensors,
        };
        let c = configure(&json!({"factors": 2})).unwrap();
        let (users, values) = ([0u32, 1], [5.0f32, 1.0]);
        let h = History {
            items: &users,
            values: &values,
            weighted: None,
        };
        let seen = crate::data::UserItems::from_lists(Vec::new());
        let rows = TrainedRows {
            seen: &seen,
            positives: None,
        };
        let item = c.fold_in_item(&target, h, &rows).unwrap();
        let as_user = c.fold_in(&target, h).unwrap();
        assert!(item.factors[0].abs() < 1e-4, "{item:?}");
        assert!(as_user.factors[0].abs() > 0.1, "{as_user:?}");
    }

    /// Without its stored priors (a version trained before they were stored) or with damaged
    /// ones, a vbmf model does not fold in.
    #[test]
    fn missing_or_damaged_priors_do_not_fold_in() {
        let (model, tensors) = fold_case(
            ([0.0, 0.0, 0.0], [1.0, 1.0, 0.3]),
            ([0.0, 0.0, 0.0], [1.0, 1.0, 0.3]),
            0.5,
        );
        let c = configure(&json!({"factors": 2})).unwrap();
        let gram = std::sync::OnceLock::new();
        let h = History {
            items: &[0],
            values: &[4.0],
            weighted: None,
        };
        let fold = |learned: &[Tensor]| {
            let target = FoldTarget {
                model: model.view(),
                item_gram: &gram,
                learned,
            };
            c.fold_in(&target, h)
        };
        assert!(fold(&tensors).is_some());
        assert!(fold(&[]).is_none());
        assert!(fold(&tensors[1..]).is_none(), "no user prior");
        assert!(fold(&tensors[..2]).is_none(), "no noise");
        let mut wrong = tensors.clone();
        wrong[0] = (USER_PRIOR.into(), 2, 4, vec![1.0; 8]);
        assert!(
            fold(&wrong).is_none(),
            "a prior of 3 factors for a model of 2"
        );
        for bad in [0.0, -1.0, f32::NAN] {
            let mut t = tensors.clone();
            t[0].3[4] = bad;
            assert!(fold(&t).is_none(), "user prior variance {bad}");
            let mut t = tensors.clone();
            t[2].3[0] = bad;
            assert!(fold(&t).is_none(), "noise variance {bad}");
        }
    }
}
