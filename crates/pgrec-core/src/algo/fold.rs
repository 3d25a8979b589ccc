//! Fold-in: embedding a user who was not trained (a new user, or an anonymous basket) from its
//! interactions, against a trained model's fixed item side. Each algorithm that supports it
//! answers [`super::Configured::fold_in`] with one of these:
//! - explicit (`als`, `mf`): the ridge regression an ALS user sweep solves, exactly: a shrunk
//!   mean gives the user bias, then (sum y_i y_i^T + lambda n I) x = sum (r - baseline) y_i;
//! - implicit (`ials`): the ials user system with the item Gram matrix, exactly;
//! - ranking by SGD (`bpr`): a few seeded passes of BPR steps on the user vector alone.

use std::sync::OnceLock;

use rand::Rng as _;

use crate::algo::linear::solve::{
    cholesky_solve, contributions, gram_serial, solve_spd, CgKernel, RowSystem, Scratch,
};
use crate::data::ItemLists;
use crate::kernels::Kernels;
use crate::model::{ModelView, Tensor};
use crate::rng::{mix64, stream};

/// A user's interactions: item indices of the model (sorted, unique) and their values.
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    pub items: &'a [u32],
    pub values: &'a [f32],
    /// With row weights (event_weights, half_life): per item, weight x value, what a positive
    /// trains with (thresholds still read `values`); for an algorithm whose weight is the
    /// row's share of the loss ([`super::contract::Configured::weighs_loss`]), the weight.
    pub weighted: Option<&'a [f32]>,
}

impl History<'_> {
    /// The rows at or above `threshold` (all of them without one), with the values they
    /// train with (weight x value with row weights).
    pub fn positives(&self, threshold: Option<f32>) -> (Vec<u32>, Vec<f32>) {
        (0..self.items.len())
            .filter(|&n| threshold.is_none_or(|t| self.values[n] >= t))
            .map(|n| {
                (
                    self.items[n],
                    self.weighted.map_or(self.values[n], |w| w[n]),
                )
            })
            .unzip()
    }
}

/// What an item fold-in knows of a version's training rows beyond its factors.
pub struct TrainedRows<'a> {
    /// Every trained user's training items.
    pub seen: &'a dyn ItemLists,
    /// The training's positives (rows at or above its threshold), when the version recorded
    /// them (metrics `n_positives`); None: every seen row was one.
    pub positives: Option<u64>,
}

/// What fold-in computes for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedUser {
    pub bias: f32,
    pub factors: Vec<f32>,
}

/// The model a fold-in works against, with the item Gram matrix computed on first use and
/// kept (a serving cache holds one per model version).
pub struct FoldTarget<'a> {
    pub model: ModelView<'a>,
    pub item_gram: &'a OnceLock<Vec<f32>>,
    /// The version's tensors named like [`FOLD_TENSORS`]: what the training learned beyond the
    /// factors that its fold-in reads (vbmf: its priors and noise). Empty for the others.
    pub learned: &'a [Tensor],
}

/// The names (a LIKE pattern) of the tensors a version stores for its fold-in
/// ([`FoldTarget::learned`]).
pub const FOLD_TENSORS: &str = "fold.%";

impl FoldTarget<'_> {
    fn gram(&self) -> &[f32] {
        self.item_gram
            .get_or_init(|| gram_serial(self.model.item_factors, self.model.factors))
    }
}

/// Solves `sys` exactly, falling back to conjugate gradient when it is not positive definite.
fn solve_exact(sys: &RowSystem<'_>) -> Vec<f32> {
    let mut x = vec![0f32; sys.k];
    let mut scratch = Scratch::default();
    if !cholesky_solve(sys, &mut x, &mut scratch) {
        CgKernel::detect().solve(sys, &mut x, 2 * sys.k, &mut scratch);
    }
    x
}

/// Why a user's vector scores an item as it does: the share of each item of the user's history
/// (`items[n]` contributed `contributions[n]`) and the rest (the biases, and what the history
/// does not account for), which add up to `score`, the score of the explanation's user vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub items: Vec<u32>,
    pub contributions: Vec<f32>,
    pub rest: f32,
    pub score: f32,
    /// Whether the user vector is the algorithm's own closed form (its fold-in), so the shares
    /// are exact; otherwise they explain a stand-in vector (see [`explain_approximately`]).
    pub exact: bool,
}

impl Explanation {
    /// From a system whose solution is the user's vector (before biases): the shares of the
    /// items of `sys`, with `rest` the score's bias part.
    fn of_system(
        sys: &RowSystem<'_>,
        m: &ModelView<'_>,
        item: u32,
        rest: f32,
        exact: bool,
    ) -> Option<Self> {
        let q = m.item(item);
        let shares = contributions(sys, q)?;
        let x = solve_exact(sys);
        let dot: f32 = x.iter().zip(q).map(|(a, b)| a * b).sum();
        // A pair seen but not positive shapes the system but has no share: left out.
        let kept = |j: &usize| sys.alpha.is_none() || sys.values[*j] > 0.0;
        Some(Explanation {
            items: (0..sys.cols.len())
                .filter(kept)
                .map(|j| sys.cols[j])
                .collect(),
            contributions: (0..sys.cols.len())
                .filter(kept)
                .map(|j| shares[j])
                .collect(),
            rest,
            score: rest + dot,
            exact,
        })
    }

    /// No history: the score is all rest.
    fn empty(rest: f32, exact: bool) -> Self {
        Explanation {
            items: Vec::new(),
            contributions: Vec::new(),
            rest,
            score: rest,
            exact,
        }
    }
}

/// The explanation of [`implicit_user`]'s vector (exact: the ials user system, as implicit's
/// `explain`): item j's share is (1 + alpha v_j) y_i^T A^-1 y_j.
pub fn explain_implicit(
    t: &FoldTarget<'_>,
    h: History<'_>,
    reg: f32,
    alpha: f32,
    item: u32,
    exact: bool,
) -> Option<Explanation> {
    let m = t.model;
    if h.items.is_empty() {
        return Some(Explanation::empty(m.item_bias[item as usize], exact));
    }
    let sys = implicit_system(t, h, reg, alpha);
    Explanation::of_system(&sys, &m, item, m.item_bias[item as usize], exact)
}

/// The explanation of [`explicit_user`]'s vector (exact): item j's share is
/// (r_j - mean - b_j - b_u) y_i^T A^-1 y_j; the rest is mean + b_u + b_i.
pub fn explain_explicit(
    t: &FoldTarget<'_>,
    h: History<'_>,
    lambda: f32,
    shrink: f32,
    item: u32,
) -> Option<Explanation> {
    let m = t.model;
    let (bias, residuals) = explicit_residuals(t, h, shrink);
    let rest = m.global_mean + bias + m.item_bias[item as usize];
    if h.items.is_empty() {
        return Some(Explanation::empty(rest, true));
    }
    match h.weighted {
        None => {
            let sys = explicit_system(t, h, lambda, &residuals);
            Explanation::of_system(&sys, &m, item, rest, true)
        }
        Some(w) => {
            let scaled = ScaledRows::new(t, h.items, w, &residuals);
            let mut e = Explanation::of_system(
                &scaled.system(lambda, h.items.len()),
                &m,
                item,
                rest,
                true,
            )?;
            // The scaled system's columns are positions in the history.
            e.items = e.items.iter().map(|&c| h.items[c as usize]).collect();
            Some(e)
        }
    }
}

/// A stand-in explanation for models whose user vectors have no closed form in the history
/// (bpr, two_tower): the implicit system with alpha 1 and penalty 1 over the history's
/// positives, a ridge regression of the user onto its items' vectors. The shares explain that
/// stand-in vector, whose score is reported beside the served one.
pub fn explain_approximately(
    t: &FoldTarget<'_>,
    positives: &[u32],
    item: u32,
) -> Option<Explanation> {
    let ones = vec![1f32; positives.len()];
    let h = History {
        items: positives,
        values: &ones,
        weighted: None,
    };
    explain_implicit(t, h, 1.0, 1.0, item, false)
}

/// Explicit ratings: bias = sum(r - mean - b_i) / (shrink + n), then the ridge regression of
/// the residuals with penalty lambda * n.
pub fn explicit_user(t: &FoldTarget<'_>, h: History<'_>, lambda: f32, shrink: f32) -> FoldedUser {
    let (bias, residuals) = explicit_residuals(t, h, shrink);
    if h.items.is_empty() {
        return FoldedUser {
            bias,
            factors: vec![0.0; t.model.factors],
        };
    }
    let factors = match h.weighted {
        None => solve_exact(&explicit_system(t, h, lambda, &residuals)),
        Some(w) => {
            solve_exact(&ScaledRows::new(t, h.items, w, &residuals).system(lambda, h.items.len()))
        }
    };
    FoldedUser { bias, factors }
}

/// A history's rows scaled by the square roots of their weights (each row's share of the
/// loss): the ridge regression of the scaled rows is the weighted one, and its shares are the
/// weighted shares.
struct ScaledRows {
    y: Vec<f32>,
    cols: Vec<u32>,
    values: Vec<f32>,
    k: usize,
}

impl ScaledRows {
    fn new(t: &FoldTarget<'_>, items: &[u32], weights: &[f32], residuals: &[f32]) -> Self {
        let k = t.model.factors;
        let mut y = Vec::with_capacity(items.len() * k);
        let mut values = Vec::with_capacity(items.len());
        for ((&i, &w), &r) in items.iter().zip(weights).zip(residuals) {
            let s = w.max(0.0).sqrt();
            y.extend(t.model.item(i).iter().map(|v| v * s));
            values.push(r * s);
        }
        ScaledRows {
            y,
            cols: (0..items.len() as u32).collect(),
            values,
            k,
        }
    }

    /// The ridge regression with penalty lambda * n (mf's per-rating penalty over n rows).
    fn system(&self, lambda: f32, n: usize) -> RowSystem<'_> {
        RowSystem {
            gram: None,
            diag: lambda.max(1e-6) * n as f32,
            y: &self.y,
            k: self.k,
            cols: &self.cols,
            values: &self.values,
            alpha: None,
        }
    }
}

/// The user bias of a history of ratings (the shrunk mean of r - mean - b_i) and each rating's
/// residual after it: what [`explicit_user`] and [`explain_explicit`] regress on.
fn explicit_residuals(t: &FoldTarget<'_>, h: History<'_>, shrink: f32) -> (f32, Vec<f32>) {
    let m = t.model;
    let n = h.items.len();
    let sum: f32 = h
        .items
        .iter()
        .zip(h.values)
        .map(|(&i, &r)| r - m.global_mean - m.item_bias[i as usize])
        .sum();
    let bias = match (n, h.weighted) {
        (0, _) => 0.0,
        (_, None) => sum / (shrink + n as f32),
        // Weighted: each rating counts its weight.
        (_, Some(w)) => {
            let wsum: f32 = h
                .items
                .iter()
                .zip(h.values)
                .zip(w)
                .map(|((&i, &r), &w)| w * (r - m.global_mean - m.item_bias[i as usize]))
                .sum();
            wsum / (shrink + w.iter().sum::<f32>())
        }
    };
    let residuals = h
        .items
        .iter()
        .zip(h.values)
        .map(|(&i, &r)| r - m.global_mean - m.item_bias[i as usize] - bias)
        .collect();
    (bias, residuals)
}

/// The ridge regression of the residuals with penalty lambda * n.
fn explicit_system<'a>(
    t: &'a FoldTarget<'_>,
    h: History<'a>,
    lambda: f32,
    residuals: &'a [f32],
) -> RowSystem<'a> {
    RowSystem {
        gram: None,
        diag: lambda.max(1e-6) * h.items.len() as f32,
        y: t.model.item_factors,
        k: t.model.factors,
        cols: h.items,
        values: residuals,
        alpha: None,
    }
}

/// The ials user system of a history: what [`implicit_user`] solves and
/// [`explain_implicit`] splits into shares.
fn implicit_system<'a>(
    t: &'a FoldTarget<'_>,
    h: History<'a>,
    reg: f32,
    alpha: f32,
) -> RowSystem<'a> {
    RowSystem {
        gram: Some(t.gram()),
        diag: reg.max(1e-6),
        y: t.model.item_factors,
        k: t.model.factors,
        cols: h.items,
        values: h.values,
        alpha: Some(alpha),
    }
}

/// Implicit feedback: (Y^T Y + reg I + sum alpha v y y^T) x = sum (1 + alpha v) y.
pub fn implicit_user(t: &FoldTarget<'_>, h: History<'_>, reg: f32, alpha: f32) -> FoldedUser {
    let m = t.model;
    let sys = implicit_system(t, h, reg, alpha);
    FoldedUser {
        bias: 0.0,
        factors: if h.items.is_empty() {
            vec![0.0; m.factors]
        } else {
            solve_exact(&sys)
        },
    }
}

/// BPR steps on the user vector alone (items fixed), negatives drawn from the items outside the
/// history by a stream seeded by the history itself, so the same history gives the same vector.
pub fn bpr_user(
    t: &FoldTarget<'_>,
    h: History<'_>,
    learning_rate: f32,
    regularization: f32,
    passes: usize,
    seed: u64,
) -> FoldedUser {
    let m = t.model;
    let k = m.factors;
    let n_items = m.n_items();
    let mut x = vec![0f32; k];
    if h.items.is_empty() || h.items.len() >= n_items {
        return FoldedUser {
            bias: 0.0,
            factors: x,
        };
    }
    let key = h
        .items
        .iter()
        .fold(seed, |acc, &i| mix64(acc ^ (i as u64 + 1)));
    let mut rng = stream(key, &[0xf01d]);
    let kern = Kernels::detect();
    for _ in 0..passes {
        for &i in h.items {
            let j = loop {
                let c = rng.gen_range(0..n_items as u32);
                if h.items.binary_search(&c).is_err() {
                    break c;
                }
            };
            let (yi, yj) = (m.item(i), m.item(j));
            let diff = m.item_bias[i as usize] - m.item_bias[j as usize] + kern.dot(&x, yi)
                - kern.dot(&x, yj);
            let g = 1.0 / (1.0 + diff.exp());
            for f in 0..k {
                x[f] += learning_rate * (g * (yi[f] - yj[f]) - regularization * x[f]);
            }
        }
    }
    FoldedUser {
        bias: 0.0,
        factors: x,
    }
}

/// What BPR's training pushes on one item, for [`bpr_item`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BprItem {
    /// The per-visit penalty of the vector (and of the bias).
    pub regularization: f32,
    /// Whether items have a bias.
    pub item_bias: bool,
    pub seed: u64,
}

/// Sampled negatives per fan, and sampled pushes as another user's negative (at least), in
/// [`bpr_item`].
const BPR_ITEM_NEGATIVES: usize = 16;
const BPR_ITEM_PUSHES: usize = 512;
const BPR_ITEM_NEWTON_STEPS: usize = 30;

/// An item folded into a BPR model: the vector and bias that maximise the item's own share of
/// BPR's objective, everything else fixed. In training an item is pushed up for its fans
/// (once per fan and epoch, against a uniformly drawn unseen item) and down as a negative
/// (about rows / items times per epoch, for a user drawn by activity against one of that
/// user's items), each push with its penalty. Both are sampled here (seeded by the fans), and
/// the concave sum of log-sigmoids is maximised by Newton's method. Without the pushes down,
/// nothing bounds the bias (every fan prefers the item to everything).
///
/// `t` is the model with its sides swapped (its "items" are the users, its "users" the trained
/// items), `fans` the item's users (sorted).
pub fn bpr_item(
    t: &FoldTarget<'_>,
    fans: &[u32],
    trained: &TrainedRows<'_>,
    p: &BprItem,
) -> FoldedUser {
    let seen = trained.seen;
    let m = t.model;
    let k = m.factors;
    let (n_items, n_users) = (m.n_users(), m.n_items());
    let zero = FoldedUser {
        bias: 0.0,
        factors: vec![0.0; k],
    };
    if fans.is_empty() || n_items == 0 {
        return zero;
    }
    let key = fans
        .iter()
        .fold(p.seed, |acc, &u| mix64(acc ^ (u as u64 + 1)));
    let mut rng = stream(key, &[0xb1e]);
    let kern = Kernels::detect();
    // Score of trained item j for user u.
    let score = |u: u32, j: u32| m.user_bias[j as usize] + kern.dot(m.item(u), m.user(j));
    // (user, offset score, sign, weight) of every sampled push.
    let mut pushes: Vec<(u32, f32, f32, f32)> = Vec::new();
    for &u in fans {
        let own = seen.of(u);
        if own.len() >= n_items {
            continue;
        }
        for _ in 0..BPR_ITEM_NEGATIVES {
            let j = loop {
                let c = rng.gen_range(0..n_items as u32);
                if own.binary_search(&c).is_err() {
                    break c;
                }
            };
            pushes.push((u, score(u, j), 1.0, 1.0 / BPR_ITEM_NEGATIVES as f32));
        }
    }
    // Pushes down: a training row drawn uniformly (its user by activity), the item as that
    // user's negative, about rows / items times per epoch.
    let mut ends = Vec::with_capacity(n_users);
    let mut rows = 0usize;
    for u in 0..n_users as u32 {
        rows += seen.of(u).len();
        ends.push(rows);
    }
    let positives = trained.positives.map_or(rows, |p| p as usize);
    let downs = positives as f32 / n_items as f32;
    let draws = BPR_ITEM_PUSHES.max(4 * fans.len());
    if rows > 0 {
        for _ in 0..draws {
            let r = rng.gen_range(0..rows);
            let u = ends.partition_point(|&e| e <= r);
            if fans.binary_search(&(u as u32)).is_ok() {
                continue;
            }
            let start = if u == 0 { 0 } else { ends[u - 1] };
            let j = seen.of(u as u32)[r - start];
            pushes.push((u as u32, score(u as u32, j), -1.0, downs / draws as f32));
        }
    }
    // Newton's method on w = (vector, bias): maximise sum c ln sigmoid(s (w.z - o)) - reg / 2 *
    // visits * |w|^2, with z = (user vector, 1).
    let d = if p.item_bias { k + 1 } else { k };
    let visits = fans.len() as f64 + downs as f64;
    let penalty = (p.regularization.max(1e-6) as f64) * visits;
    let mut w = vec![0f64; d];
    let mut z = vec![0f64; d];
    for _ in 0..BPR_ITEM_NEWTON_STEPS {
        let mut grad: Vec<f64> = w.iter().map(|&x| -penalty * x).collect();
        let mut hess = vec![0f64; d * d];
        for f in 0..d {
            hess[f * d + f] = penalty;
        }
        // The pushes of one user share z: one rank-1 update per run of them.
        for run in pushes.chunk_by(|a, b| a.0 == b.0) {
            for (zf, &x) in z.iter_mut().zip(m.item(run[0].0)) {
                *zf = x as f64;
            }
            if p.item_bias {
                z[k] = 1.0;
            }
            let wz = dot64(&w, &z);
            let (mut g1, mut h1) = (0f64, 0f64);
            for &(_, offset, sign, c) in run {
                let margin = sign as f64 * (wz - offset as f64);
                let s = 1.0 / (1.0 + margin.exp());
                g1 += c as f64 * sign as f64 * s;
                h1 += c as f64 * s * (1.0 - s);
            }
            for f in 0..d {
                grad[f] += g1 * z[f];
                let h = h1 * z[f];
                for g in 0..=f {
                    hess[f * d + g] += h * z[g];
                }
            }
        }
        let Some(step) = solve_spd(&hess, &grad) else {
            break;
        };
        w.iter_mut().zip(&step).for_each(|(x, s)| *x += s);
        if dot64(&step, &step).sqrt() < 1e-6 * (1.0 + dot64(&w, &w).sqrt()) {
            break;
        }
    }
    if w.iter().any(|x| !x.is_finite()) {
        return zero;
    }
    FoldedUser {
        bias: if p.item_bias { w[k] as f32 } else { 0.0 },
        factors: w[..k].iter().map(|&x| x as f32).collect(),
    }
}

fn dot64(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::linear::solve::SEEN_NOT_POSITIVE;
    use crate::model::FactorModel;

    /// Two items per direction in 2-d: folding in a user who liked the x-axis items gives a
    /// vector pointing along x.
    fn model() -> FactorModel {
        FactorModel {
            factors: 2,
            global_mean: 3.0,
            rating_range: Some((1.0, 5.0)),
            user_bias: vec![],
            item_bias: vec![0.5, 0.0, 0.0, -0.5],
            user_factors: vec![],
            item_factors: vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9],
            head: None,
        }
    }

    /// A BPR item folded in with the fans of the x-axis items points towards x and away from
    /// y (the other cluster pushes it down as its negative), scores above
    /// the items its fans have not seen and below what users of the other cluster saw; the
    /// pushes down keep its bias in the trained range; the same fans give the same item.
    #[test]
    fn bpr_items_fold_in_towards_their_fans() {
        let (nu, ni) = (40usize, 10usize);
        let mut user_factors = Vec::new();
        for u in 0..nu {
            let wobble = (u % 5) as f32 * 0.05;
            user_factors.extend(if u < 20 { [1.0, wobble] } else { [wobble, 1.0] });
        }
        let mut item_factors = Vec::new();
        for i in 0..ni {
            item_factors.extend(if i < 5 { [1.0, 0.0] } else { [0.0, 1.0] });
        }
        let m = FactorModel {
            factors: 2,
            global_mean: 0.0,
            rating_range: None,
            user_bias: vec![0.0; nu],
            item_bias: (0..ni).map(|i| 0.1 * (i % 5) as f32).collect(),
            user_factors,
            item_factors,
            head: None,
        };
        let seen = crate::data::UserItems::from_lists(
            (0..nu)
                .map(|u| if u < 20 { vec![0, 1, 2] } else { vec![5, 6, 7] })
                .collect(),
        );
        let cell = OnceLock::new();
        let t = FoldTarget {
            model: m.view().transposed().unwrap(),
            item_gram: &cell,
            learned: &[],
        };
        let trained = TrainedRows {
            seen: &seen,
            positives: None,
        };
        let p = BprItem {
            regularization: 0.01,
            item_bias: true,
            seed: 7,
        };
        let fans: Vec<u32> = (0..10).collect();
        let f = bpr_item(&t, &fans, &trained, &p);
        assert!(f.factors[0] > 0.5 && f.factors[1] < 0.0, "{f:?}");
        assert!(f.bias.abs() < 3.0, "{f:?}");
        let score = |u: usize, q: &[f32], b: f32| {
            b + m
                .view()
                .user(u as u32)
                .iter()
                .zip(q)
                .map(|(a, c)| a * c)
                .sum::<f32>()
        };
        let new = |u: usize| score(u, &f.factors, f.bias);
        let trained_score = |u: usize, i: u32| score(u, m.view().item(i), m.item_bias[i as usize]);
        // A fan: above the x items it has not seen (3, 4 carry the largest biases).
        assert!(
            new(3) > trained_score(3, 3) && new(3) > trained_score(3, 9),
            "{f:?}"
        );
        // A user of the other cluster: below what it saw.
        assert!(new(30) < trained_score(30, 5), "{f:?}");
        assert_eq!(bpr_item(&t, &fans, &trained, &p), f);
        // No fans: nothing to fit.
        assert_eq!(bpr_item(&t, &[], &trained, &p).factors, vec![0.0; 2]);
    }

    /// Shares plus rest add up to the score of the fold-in's own vector, and a larger share
    /// goes to the history item nearer the explained item.
    #[test]
    fn explanations_add_up_to_the_folded_vector_score() {
        let m = model();
        let cell = OnceLock::new();
        let t = FoldTarget {
            model: m.view(),
            item_gram: &cell,
            learned: &[],
        };
        let h = History {
            items: &[0, 2, 3],
            values: &[2.0, 1.0, SEEN_NOT_POSITIVE],
            weighted: None,
        };
        let e = explain_implicit(&t, h, 0.1, 4.0, 1, true).unwrap();
        let x = implicit_user(&t, h, 0.1, 4.0).factors;
        let served: f32 = x.iter().zip(m.view().item(1)).map(|(a, b)| a * b).sum();
        let sum: f32 = e.contributions.iter().sum::<f32>() + e.rest;
        assert!(
            (sum - e.score).abs() < 1e-4 && (e.score - served).abs() < 1e-4,
            "{sum} {} {served}",
            e.score
        );
        // item 1 lies along x, like item 0: item 0's share is the largest; the seen-but-not-
        // positive item 3 has none and is left out.
        assert_eq!(e.items, [0, 2]);
        assert!(
            e.contributions[0] > e.contributions[1].abs(),
            "{:?}",
            e.contributions
        );

        let h = History {
            items: &[0, 1, 2, 3],
            values: &[5.0, 5.0, 2.0, 2.0],
            weighted: None,
        };
        let e = explain_explicit(&t, h, 0.01, 0.0, 0).unwrap();
        let u = explicit_user(&t, h, 0.01, 0.0);
        let served = m.global_mean
            + u.bias
            + m.item_bias[0]
            + u.factors
                .iter()
                .zip(m.view().item(0))
                .map(|(a, b)| a * b)
                .sum::<f32>();
        let sum: f32 = e.contributions.iter().sum::<f32>() + e.rest;
        assert!(
            (sum - e.score).abs() < 1e-4 && (e.score - served).abs() < 1e-4,
            "{sum} {} {served}",
            e.score
        );
        assert!((e.rest - (m.global_mean + u.bias + m.item_bias[0])).abs() < 1e-6);
        // The liked x-axis items push item 0 up, the disliked y-axis items pull it less.
        assert!(
            e.contributions[0] > 0.0 && e.contributions[1] > 0.0,
            "{:?}",
            e.contributions
        );
    }

    #[test]
    fn explicit_fold_in_fits_bias_and_direction() {
        let m = model();
        let cell = OnceLock::new();
        let t = FoldTarget {
            model: m.view(),
            item_gram: &cell,
            learned: &[],
        };
        let u = explicit_user(
            &t,
            History {
                items: &[0, 1, 2, 3],
                values: &[5.0, 5.0, 2.0, 2.0],
                weighted: None,
            },
            0.01,
            0.0,
        );
        // residual mean: (1.5 + 2 - 1 - 0.5) / 4 = 0.5
        assert!((u.bias - 0.5).abs() < 1e-6, "{}", u.bias);
        assert!(u.factors[0] > 0.5 && u.factors[1] < -0.5, "{:?}", u.factors);
        // The fitted ratings come close to the given ones (four points, two factors).
        let pred = |i: u32| {
            m.global_mean
                + m.item_bias[i as usize]
                + u.bias
                + u.factors[0] * m.item(i)[0]
                + u.factors[1] * m.item(i)[1]
        };
        assert!((pred(0) - 5.0).abs() < 0.5 && (pred(3) - 2.0).abs() < 0.5);
    }

    #[test]
    fn implicit_and_bpr_fold_in_point_at_the_history() {
        let m = model();
        let cell = OnceLock::new();
        let t = FoldTarget {
            model: m.view(),
            item_gram: &cell,
            learned: &[],
        };
        let h = History {
            items: &[0, 1],
            values: &[1.0, 1.0],
            weighted: None,
        };
        let u = implicit_user(&t, h, 0.1, 4.0);
        assert!(u.factors[0] > 3.0 * u.factors[1].abs(), "{:?}", u.factors);
        assert!(cell.get().is_some());
        let b = bpr_user(&t, h, 0.1, 0.01, 30, 7);
        assert!(b.factors[0] > b.factors[1], "{:?}", b.factors);
        assert_eq!(bpr_user(&t, h, 0.1, 0.01, 30, 7), b);
        let empty = History {
            items: &[],
            values: &[],
            weighted: None,
        };
        assert_eq!(implicit_user(&t, empty, 0.1, 4.0).factors, vec![0.0, 0.0]);
    }

    /// Weighted explicit fold-in: the bias is the weighted shrunk mean sum w (r - mean - b_i) /
    /// (shrink + sum w), computed here by hand.
    #[test]
    fn a_weighted_bias_is_the_weighted_shrunk_mean() {
        let m = model();
        let cell = OnceLock::new();
        let t = FoldTarget {
            model: m.view(),
            item_gram: &cell,
            learned: &[],
        };
        let h = History {
            items: &[0, 2, 3],
            values: &[5.0, 2.0, 4.0],
            weighted: Some(&[2.0, 1.0, 3.0]),
        };
        // residuals r - 3 - b_i: 1.5, -1.0, 1.5; weighted sum 3 - 1 + 4.5 = 6.5; weights 6
        let want = 6.5 / (2.0 + 6.0);
        let got = explicit_user(&t, h, 0.1, 2.0);
        assert!((got.bias - want).abs() < 1e-6, "{got:?} vs {want}");
    }

    /// bpr_user with a one-item history in a two-item model: every step's negative is the
    /// other item, so the vector follows the BPR-Opt recurrence x += lr (sigmoid(-x_uij) (y_i -
    /// y_j) - reg x), x_uij = b_i - b_j + x . (y_i - y_j), computed here in f64.
    #[test]
    fn a_bpr_fold_in_follows_the_bpr_recurrence() {
        let m = FactorModel {
            factors: 2,
            global_mean: 0.0,
            rating_range: None,
            user_bias: vec![],
            item_bias: vec![0.3, -0.2],
            user_factors: vec![],
            item_factors: vec![0.8, -0.1, -0.4, 0.6],
            head: None,
        };
        let cell = OnceLock::new();
        let t = FoldTarget {
            model: m.view(),
            item_gram: &cell,
            learned: &[],
        };
        let h = History {
            items: &[0],
            values: &[1.0],
            weighted: None,
        };
        let (lr, reg, passes) = (0.5f64, 0.1f64, 7);
        let got = bpr_user(&t, h, lr as f32, reg as f32, passes, 3);
        let (yi, yj) = ([0.8f64, -0.1], [-0.4f64, 0.6]);
        let mut x = [0f64; 2];
        for _ in 0..passes {
            let diff = 0.3 + 0.2 + (0..2).map(|f| x[f] * (yi[f] - yj[f])).sum::<f64>();
            let g = 1.0 / (1.0 + diff.exp());
            for f in 0..2 {
                x[f] += lr * (g * (yi[f] - yj[f]) - reg * x[f]);
            }
        }
        for f in 0..2 {
            assert!(
                (got.factors[f] as f64 - x[f]).abs() < 1e-5,
                "{got:?} vs {x:?}"
            );
        }
    }

    /// bpr_item returns the maximiser of its objective: with every user a fan who has seen only
    /// trained item 0, each fan's negatives are item 1 (16 pushes of weight 1/16), nobody is
    /// pushed down, and at the answer w the gradient sum_u sigmoid(-(w . z_u - s_u1)) z_u -
    /// reg (fans + rows / items) w is zero (z_u = [user vector, 1], s_u1 the score of item 1).
    #[test]
    fn a_bpr_item_maximises_its_share_of_the_objective() {
        let users = [[0.9f32, 0.2], [0.1, 1.1], [0.5, -0.4]];
        let m = FactorModel {
            factors: 2,
            global_mean: 0.0,
            rating_range: None,
            user_bias: vec![0.0; 3],
            item_bias: vec![0.2, -0.3],
            user_factors: users.concat(),
            item_factors: vec![0.5, 0.5, 0.7, -0.2],
            head: None,
        };
        let seen = crate::data::UserItems::from_lists(vec![vec![0]; 3]);
        let cell = OnceLock::new();
        let t = FoldTarget {
            model: m.view().transposed().unwrap(),
            item_gram: &cell,
            learned: &[],
        };
        let trained = TrainedRows {
            seen: &seen,
            positives: None,
        };
        let reg = 0.05f64;
        let p = BprItem {
            regularization: reg as f32,
            item_bias: true,
            seed: 11,
        };
        let f = bpr_item(&t, &[0, 1, 2], &trained, &p);
        let w = [f.factors[0] as f64, f.factors[1] as f64, f.bias as f64];
        // 3 fans, 3 rows over 2 items: 1.5 pushes down per epoch, none drawn (all are fans)
        let penalty = reg * (3.0 + 1.5);
        let mut grad: Vec<f64> = w.iter().map(|x| -penalty * x).collect();
        for u in users {
            let z = [u[0] as f64, u[1] as f64, 1.0];
            let s1 = -0.3 + (u[0] * 0.7 + u[1] * -0.2) as f64;
            let margin = (0..3).map(|a| w[a] * z[a]).sum::<f64>() - s1;
            let s = 1.0 / (1.0 + margin.exp());
            for a in 0..3 {
                grad[a] += s * z[a];
            }
        }
        let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
        assert!(norm < 1e-4, "gradient {grad:?} at {f:?}");
        assert!(f.bias > 0.0 && f.bias.is_finite(), "{f:?}");
    }
}
