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
    cholesky_solve, contributions, gram_serial, CgKernel, RowSystem, Scratch,
};
use crate::kernels::Kernels;
use crate::model::ModelView;
use crate::rng::{mix64, stream};

/// A user's interactions: item indices of the model (sorted, unique) and their values.
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    pub items: &'a [u32],
    pub values: &'a [f32],
    /// With row weights (event_weights, half_life): per item, weight x value, what a positive
    /// trains with (thresholds still read `values`).
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
}

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
    let sys = explicit_system(t, h, lambda, &residuals);
    Explanation::of_system(&sys, &m, item, rest, true)
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
    FoldedUser {
        bias,
        factors: solve_exact(&explicit_system(t, h, lambda, &residuals)),
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
    let bias = if n == 0 {
        0.0
    } else {
        sum / (shrink + n as f32)
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

    /// Shares plus rest add up to the score of the fold-in's own vector, and a larger share
    /// goes to the history item nearer the explained item.
    #[test]
    fn explanations_add_up_to_the_folded_vector_score() {
        let m = model();
        let cell = OnceLock::new();
        let t = FoldTarget {
            model: m.view(),
            item_gram: &cell,
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
}
