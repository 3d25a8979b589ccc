//! `ease`: the embarrassingly shallow autoencoder (Steck 2019), a closed-form item-item model.
//! With X the binary user x item matrix of positives and P = (X^T X + lambda I)^-1, the weights
//! are B = I - P diagMat(1 / diag(P)): B_ij = -P_ij / P_jj off the diagonal and 0 on it. A user
//! with positives x scores item j as x^T B[:, j].
//!
//! Stored as a factor model, so every serving function works unchanged: item j's vector is
//! column j of B (n_items values) and a user's vector is the indicator of the user's positives,
//! so <user, item> is exactly the EASE score. The price is that both sides have n_items values:
//! the memory estimate counts the item x item matrices and the users' indicators, and the
//! memory guard refuses catalogs that would not fit.
//!
//! Training is one step: the Gram matrix X^T X (rows of it in parallel, integer counts, so
//! exact in any order), a blocked Cholesky factorisation of X^T X + lambda I (faer's kernels on
//! fixed blocks, the trailing updates spread over the pool), and P one fixed block of columns at
//! a time. Every parallel unit has a fixed shape, so the result is the same for any thread
//! count; the cancel flag is checked before each unit, so a cancel stops the training within
//! one unit (a fraction of a second at 20k items).

use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch};
use faer::linalg::matmul::matmul;
use faer::linalg::triangular_solve::{
    solve_lower_triangular_in_place, solve_upper_triangular_in_place,
};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, MatMut, Par};
use rayon::prelude::*;
use rayon::ThreadPool;
use serde::{Deserialize, Serialize};

use super::contract::{Configured, MemoryShape, TrainingData};
use super::fold::{Explanation, FoldTarget, FoldedUser, History};
use super::implicit::ImplicitData;
use super::params::{float_in, Checked, LoopParams, Params};
use crate::algo::linear::sparse::Csr;
use crate::error::{CoreError, Result};
use crate::model::FactorModel;
use crate::parallel::CancelFlag;
use crate::train::{EarlyStopping, Fitted, Scorer, Snapshot, Step, StepReport, Target};

/// The parameters of `ease` (see [`super::params`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EaseParams {
    /// lambda, added to the diagonal of X^T X: larger values shrink the weights of items with
    /// few positives more.
    pub regularization: f64,
    /// Rows with a value below this are seen but not positive (sources with ratings).
    pub positive_threshold: Option<f64>,
    /// Worker threads; `None` means the caller's default. The model does not depend on it.
    pub threads: Option<i64>,
    /// Not a parameter: the loop parameters the pipeline reads (one step, threads as above).
    #[serde(skip, default = "one_step")]
    run: LoopParams,
}

fn one_step() -> LoopParams {
    LoopParams {
        epochs: 1,
        seed: 0,
        threads: None,
        validation_fraction: 0.0,
        patience: 1,
    }
}

impl Default for EaseParams {
    fn default() -> Self {
        Self {
            regularization: 250.0,
            positive_threshold: None,
            threads: None,
            run: one_step(),
        }
    }
}

impl Params for EaseParams {
    fn check(&mut self) -> Result<()> {
        float_in("regularization", self.regularization, 0.0, 1e9, true)?;
        if let Some(t) = self.positive_threshold {
            float_in("positive_threshold", t, -1e30, 1e30, false)?;
        }
        self.run.threads = self.threads;
        self.run.check()
    }

    fn run(&self) -> &LoopParams {
        &self.run
    }
}

/// Parses and checks the params of `ease`.
pub fn configure(params: &serde_json::Value) -> Result<Box<dyn Configured>> {
    Ok(Box::new(Checked::<EaseParams>::from_json(params)?))
}

/// Columns per unit of work (Cholesky blocks, trailing updates, blocks of P).
const BLOCK: usize = 256;

impl Configured for Checked<EaseParams> {
    /// The item x item matrices (X^T X + lambda I factorised in place in f64, and B in f32), the
    /// users' and items' n_items-long vectors as stored (twice: built and written), and the rows.
    fn memory_bytes(&self, shape: MemoryShape) -> u64 {
        let items = shape.items;
        let square = items.saturating_mul(items);
        super::contract::FIXED_BYTES
            .saturating_add(shape.rows.saturating_mul(
                super::contract::LOAD_BYTES_PER_ROW + super::contract::TRAIN_BYTES_PER_ROW,
            ))
            .saturating_add(square.saturating_mul(8 + 4 * 2))
            .saturating_add(shape.users.saturating_mul(items).saturating_mul(4 * 2))
            .saturating_add((shape.users + items).saturating_mul(super::contract::ENTITY_BYTES))
    }

    fn memory_hint(&self) -> Option<&'static str> {
        Some("ease keeps item x item matrices and one n_items-long vector per user: use ials or bpr for catalogs this large, or train ease on the most popular items only.")
    }

    fn sums_duplicates(&self) -> bool {
        true
    }

    fn row_weights(&self) -> bool {
        true
    }

    fn positive_threshold(&self) -> Option<f32> {
        self.positive_threshold.map(|t| t as f32)
    }

    /// Exact: a user's vector is the indicator of its positives (their weighted values with
    /// row weights, as in training).
    fn fold_in(&self, target: &FoldTarget<'_>, history: History<'_>) -> Option<FoldedUser> {
        let (items, values) = history.positives(self.positive_threshold());
        let mut factors = vec![0.0; target.model.factors];
        for (i, v) in items.into_iter().zip(values) {
            if let Some(x) = factors.get_mut(i as usize) {
                *x = if history.weighted.is_some() { v } else { 1.0 };
            }
        }
        Some(FoldedUser { bias: 0.0, factors })
    }

    /// Exact: the score is sum_j x_uj B_ji, each term one item's share.
    fn explain(
        &self,
        target: &FoldTarget<'_>,
        history: History<'_>,
        item: u32,
    ) -> Option<Explanation> {
        let user = self.fold_in(target, history)?;
        let b = target.model.item(item);
        let (items, contributions): (Vec<u32>, Vec<f32>) = (0..b.len() as u32)
            .filter(|&j| user.factors[j as usize] != 0.0)
            .map(|j| (j, user.factors[j as usize] * b[j as usize]))
            .unzip();
        let score = contributions.iter().sum();
        Some(Explanation {
            items,
            contributions,
            rest: 0.0,
            score,
            exact: true,
        })
    }

    fn prepare(self: Box<Self>, data: TrainingData, _pool: &ThreadPool) -> Result<Box<dyn Step>> {
        let threshold = self.positive_threshold();
        let weighted = data.weighted.is_some();
        let implicit = ImplicitData::prepare(
            data.ratings,
            data.weighted,
            data.n_users,
            threshold,
            false,
            0.0,
            0,
        )?;
        Ok(Box::new(EaseTraining {
            lambda: self.regularization,
            weighted,
            n_items: data.n_items,
            data: implicit,
            weights: None,
        }))
    }
}

pub struct EaseTraining {
    lambda: f64,
    /// Whether X holds the row weights (event_weights, half_life) instead of ones.
    weighted: bool,
    n_items: usize,
    data: ImplicitData,
    /// B, row j holding column j (B^T), once the step has run.
    weights: Option<Vec<f32>>,
}

impl Step for EaseTraining {
    fn max_steps(&self) -> usize {
        1
    }

    fn n_validation(&self) -> usize {
        0
    }

    fn squared_loss(&self) -> bool {
        false
    }

    /// One closed-form step: nothing to stop early.
    fn early_stopping(&self) -> Option<EarlyStopping> {
        None
    }

    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<StepReport> {
        let n = self.n_items;
        let by_item = self.data.positives.transpose(n);
        let weighted = self.weighted;
        let mut a =
            pool.install(|| gram_counts(&self.data.positives, &by_item, weighted, cancel))?;
        drop(by_item);
        for i in 0..n {
            a[i * n + i] += self.lambda;
        }
        pool.install(|| blocked_cholesky(&mut a, n, cancel))?;
        let weights = pool.install(|| weights_from_factor(&a, n, cancel))?;
        drop(a);
        let train_loss = reconstruction_loss(&self.data.positives, &weights, n, weighted);
        self.weights = Some(weights);
        Ok(StepReport::new(train_loss, None))
    }

    /// Never called (no early stopping).
    fn snapshot(&self) -> Snapshot {
        Snapshot::new(())
    }

    fn restore(&mut self, _snapshot: Snapshot) {}

    fn finish(self: Box<Self>, _pool: &ThreadPool) -> Fitted {
        let this = *self;
        let n = this.n_items;
        let positives = &this.data.positives;
        let n_users = positives.n_rows();
        let mut users = vec![0f32; n_users * n];
        for u in 0..n_users {
            let (items, values) = positives.row(u);
            for (&i, &v) in items.iter().zip(values) {
                users[u * n + i as usize] = if this.weighted { v } else { 1.0 };
            }
        }
        let n_positives = this.data.n_positives();
        Fitted {
            scorer: Scorer::Dot,
            target: Target::Relevance,
            model: FactorModel {
                factors: n,
                global_mean: 0.0,
                rating_range: None,
                user_bias: vec![0.0; n_users],
                item_bias: vec![0.0; n],
                user_factors: users,
                item_factors: this.weights.unwrap_or_else(|| vec![0.0; n * n]),
                head: None,
            },
            ratings: this.data.into_all(),
            tensors: Vec::new(),
            metrics: serde_json::json!({ "n_positives": n_positives, "lambda": this.lambda }),
            params: serde_json::Value::Null,
        }
    }
}

/// X^T X of the positives, dense row-major f64, rows in parallel: row i sums, for every other
/// item, x_ui x_uj over the users who have both (with X binary unless `weighted`: then X holds
/// each positive's value, its weight x value).
fn gram_counts(
    by_user: &Csr,
    by_item: &Csr,
    weighted: bool,
    cancel: &CancelFlag,
) -> Result<Vec<f64>> {
    let n = by_item.n_rows();
    let mut g = vec![0f64; n * n];
    g.par_chunks_mut(n * 16)
        .enumerate()
        .try_for_each(|(c, rows)| {
            cancel.check()?;
            for (r, row) in rows.chunks_mut(n).enumerate() {
                let (users, xs) = by_item.row(c * 16 + r);
                if weighted {
                    for (&u, &xi) in users.iter().zip(xs) {
                        let (items, xu) = by_user.row(u as usize);
                        for (&j, &xj) in items.iter().zip(xu) {
                            row[j as usize] += xi as f64 * xj as f64;
                        }
                    }
                } else {
                    for &u in users {
                        for &j in by_user.row(u as usize).0 {
                            row[j as usize] += 1.0;
                        }
                    }
                }
            }
            Ok::<(), CoreError>(())
        })?;
    Ok(g)
}

/// Right-looking blocked Cholesky of the row-major symmetric positive definite `a` (n x n),
/// in place: afterwards its lower triangle holds L with L L^T = a (the upper triangle is left
/// as scratch). Each diagonal block is factorised by faer, the panel below it solved by faer,
/// and the trailing matrix updated one fixed block of columns per task.
fn blocked_cholesky(a: &mut [f64], n: usize, cancel: &CancelFlag) -> Result<()> {
    let scratch = cholesky_in_place_scratch::<f64>(BLOCK, Par::Seq, Default::default());
    let mut mem = faer::dyn_stack::MemBuffer::new(scratch);
    let mut k0 = 0;
    while k0 < n {
        cancel.check()?;
        let b = BLOCK.min(n - k0);
        // `a` is symmetric, so its row-major buffer read column-major (faer's layout) is `a`
        // itself; L is built in the lower triangle of that view.
        let mut m = MatMut::from_column_major_slice_mut(a, n, n);
        cholesky_in_place(
            m.rb_mut().submatrix_mut(k0, k0, b, b),
            Default::default(),
            Par::Seq,
            faer::dyn_stack::MemStack::new(&mut mem),
            Default::default(),
        )
        .map_err(|_| not_positive_definite())?;
        let rest = n - k0 - b;
        if rest > 0 {
            let (top, bottom) = m.split_at_row_mut(k0 + b);
            let l11 = top.rb().submatrix(k0, k0, b, b);
            let (left, trailing) = bottom.split_at_col_mut(k0 + b);
            let mut panel = left.submatrix_mut(0, k0, rest, b);
            // panel <- panel L11^-T, i.e. solve L11 panel^T = panel^T.
            solve_lower_triangular_in_place(l11, panel.rb_mut().transpose_mut(), Par::Seq);
            let panel = panel.rb();
            // Trailing update A22 -= panel panel^T on the lower triangle, one fixed block of
            // columns per task.
            split_columns(trailing, BLOCK)
                .into_par_iter()
                .try_for_each(|(c0, block)| {
                    cancel.check()?;
                    let w = block.ncols();
                    matmul(
                        block.subrows_mut(c0, rest - c0),
                        Accum::Add,
                        panel.subrows(c0, rest - c0),
                        panel.subrows(c0, w).transpose(),
                        -1.0,
                        Par::Seq,
                    );
                    Ok::<(), CoreError>(())
                })?;
        }
        k0 += b;
    }
    Ok(())
}

/// Splits a matrix into column blocks of `width` (the last one narrower), each with the index
/// of its first column.
fn split_columns(m: MatMut<'_, f64>, width: usize) -> Vec<(usize, MatMut<'_, f64>)> {
    let mut out = Vec::new();
    let mut rest = m;
    let mut c0 = 0;
    while rest.ncols() > 0 {
        let w = width.min(rest.ncols());
        let (left, right) = rest.split_at_col_mut(w);
        out.push((c0, left));
        rest = right;
        c0 += w;
    }
    out
}

fn not_positive_definite() -> CoreError {
    CoreError::data(
        "X^T X + regularization * I is not positive definite",
        Some("Raise regularization (it must be greater than zero).".into()),
    )
}

/// B^T from the Cholesky factor (lower triangle of the column-major view of `l`), through
/// P = (L L^T)^-1 = L^-T L^-1. Column j of P below row j0 (the start of j's block) needs only
/// the trailing factor L[j0.., j0..]: e_j is zero above j0, and so is L^-1 e_j, and
/// x = L^-T y below j0 depends only on y below j0. So each fixed block of columns solves its
/// trailing system (2/3 n^3 flops in all, against 2 n^3 for full solves), the rest of P comes
/// from its symmetry, and B[:, j] = -P[:, j] / P_jj with B_jj = 0 is written as row j.
fn weights_from_factor(l: &[f64], n: usize, cancel: &CancelFlag) -> Result<Vec<f32>> {
    let lm = faer::MatRef::from_column_major_slice(l, n, n);
    // Row j of `out` holds column j of P, first for rows >= j's block start.
    let mut out = vec![0f32; n * n];
    out.par_chunks_mut(BLOCK * n)
        .enumerate()
        .try_for_each(|(c, rows)| {
            cancel.check()?;
            let j0 = c * BLOCK;
            let w = rows.len() / n;
            let m = n - j0;
            let trailing = lm.submatrix(j0, j0, m, m);
            let mut rhs = faer::Mat::<f64>::zeros(m, w);
            for t in 0..w {
                rhs[(t, t)] = 1.0;
            }
            solve_lower_triangular_in_place(trailing, rhs.as_mut(), Par::Seq);
            solve_upper_triangular_in_place(trailing.transpose(), rhs.as_mut(), Par::Seq);
            for (t, row) in rows.chunks_mut(n).enumerate() {
                for (i, x) in row[j0..].iter_mut().enumerate() {
                    *x = rhs[(i, t)] as f32;
                }
            }
            Ok::<(), CoreError>(())
        })?;
    // P is symmetric: P[i, j] for i above j's block is P[j, i], held in row i (j is at or
    // past i's block start). Filled one block of rows at a time.
    for j0 in (0..n).step_by(BLOCK) {
        cancel.check()?;
        for j in j0..(j0 + BLOCK).min(n) {
            for i in 0..j0 {
                out[j * n + i] = out[i * n + j];
            }
        }
    }
    out.par_chunks_mut(n).enumerate().for_each(|(j, row)| {
        let pjj = row[j];
        for x in row.iter_mut() {
            *x = -*x / pjj;
        }
        row[j] = 0.0;
    });
    Ok(out)
}

/// Mean squared error of reconstructing X by X B over the positives and a sample of the
/// zeros' mass: sum over users of |x_u - x_u B|^2, divided by the number of positives.
fn reconstruction_loss(by_user: &Csr, bt: &[f32], n: usize, weighted: bool) -> f64 {
    let mut loss = 0f64;
    let mut row = vec![0f64; n];
    let step = by_user.n_rows().div_ceil(256).max(1);
    let mut count = 0usize;
    for u in (0..by_user.n_rows()).step_by(step) {
        let (items, values) = by_user.row(u);
        let x = |v: f32| if weighted { v as f64 } else { 1.0 };
        row.iter_mut().for_each(|x| *x = 0.0);
        for (&i, &v) in items.iter().zip(values) {
            row[i as usize] -= x(v);
        }
        for (j, r) in row.iter_mut().enumerate() {
            let bj = &bt[j * n..(j + 1) * n];
            *r += items
                .iter()
                .zip(values)
                .map(|(&i, &v)| bj[i as usize] as f64 * x(v))
                .sum::<f64>();
        }
        loss += row.iter().map(|x| x * x).sum::<f64>();
        count += items.len();
    }
    if count == 0 {
        0.0
    } else {
        loss / count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::build_pool;
    use crate::Rating;

    /// The closed form computed naively, for comparison.
    fn naive(x: &[Vec<f64>], lambda: f64) -> Vec<Vec<f64>> {
        let n = x[0].len();
        let mut g = vec![vec![0.0; n]; n];
        for row in x {
            for i in 0..n {
                for j in 0..n {
                    g[i][j] += row[i] * row[j];
                }
            }
        }
        for (i, r) in g.iter_mut().enumerate() {
            r[i] += lambda;
        }
        // Gauss-Jordan inverse.
        let mut inv: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| (i == j) as u8 as f64).collect())
            .collect();
        for c in 0..n {
            let p = g[c][c];
            for j in 0..n {
                g[c][j] /= p;
                inv[c][j] /= p;
            }
            for r in 0..n {
                if r != c {
                    let f = g[r][c];
                    for j in 0..n {
                        g[r][j] -= f * g[c][j];
                        inv[r][j] -= f * inv[c][j];
                    }
                }
            }
        }
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| if i == j { 0.0 } else { -inv[i][j] / inv[j][j] })
                    .collect()
            })
            .collect()
    }

    fn random_ratings(users: u32, items: u32, seed: u64) -> Vec<Rating> {
        let mut rng = crate::rng::stream(seed, &[7]);
        let mut out = Vec::new();
        for u in 0..users {
            for i in 0..items {
                // Popular items and a block structure: items of the user's parity are liked.
                let p = if (u + i) % 2 == 0 { 0.5 } else { 0.1 }
                    * (1.0 - i as f64 / (2.0 * items as f64));
                if rand::Rng::gen_bool(&mut rng, p) {
                    out.push(Rating {
                        user: u,
                        item: i,
                        value: 1.0,
                    });
                }
            }
        }
        out
    }

    fn train(
        ratings: Vec<Rating>,
        users: usize,
        items: usize,
        threads: usize,
        lambda: f64,
    ) -> FactorModel {
        let pool = build_pool(threads).unwrap();
        let p = Checked::new(EaseParams {
            regularization: lambda,
            ..Default::default()
        })
        .unwrap();
        let data = TrainingData {
            ratings,
            n_users: users,
            n_items: items,
            explicit: false,
            weighted: None,
            users: crate::features::SideFeatures::none(0),
            items: crate::features::SideFeatures::none(0),
        };
        let mut t = Box::new(p).start(data, &pool).unwrap();
        let report = t.step(&pool, &CancelFlag::new()).unwrap();
        assert!(report.train_loss.is_finite());
        t.finish(&pool).model
    }

    #[test]
    fn matches_the_closed_form_across_block_boundaries() {
        // 600 items: three Cholesky blocks, the last one partial.
        let (users, items) = (700u32, 600u32);
        let ratings = random_ratings(users, items, 3);
        let mut x = vec![vec![0.0; items as usize]; users as usize];
        for r in &ratings {
            x[r.user as usize][r.item as usize] = 1.0;
        }
        let m = train(ratings, users as usize, items as usize, 2, 50.0);
        let b = naive(&x, 50.0);
        let n = items as usize;
        let mut worst = 0f64;
        for (i, row) in b.iter().enumerate() {
            for (j, want) in row.iter().enumerate() {
                // item j's vector is column j of B
                let got = m.item_factors[j * n + i] as f64;
                worst = worst.max((got - want).abs());
            }
        }
        assert!(worst < 1e-5, "largest difference {worst}");
        // The user's vector is its indicator, so the score is x^T B[:, j].
        let u = 5;
        let j = 17;
        let want: f64 = (0..n).map(|i| x[u][i] * b[i][j]).sum();
        let got =
            crate::kernels::Kernels::detect().dot(m.view().user(u as u32), m.view().item(j as u32));
        assert!((got as f64 - want).abs() < 1e-4, "{got} vs {want}");
    }

    /// With row weights, X holds each pair's weight: B is the closed form of the weighted X,
    /// the users' vectors are their weighted rows, and the reported loss is the mean squared
    /// reconstruction error per interaction, ||x_u B - x_u||^2 summed over users (all of them
    /// below 256 users) over the interactions.
    #[test]
    fn weighted_x_matches_the_closed_form_and_its_loss() {
        let (users, items) = (60u32, 40u32);
        let ratings = random_ratings(users, items, 5);
        let weighted: Vec<f32> = ratings
            .iter()
            .map(|r| 0.5 + ((r.user * 7 + r.item * 3) % 5) as f32)
            .collect();
        let mut x = vec![vec![0.0; items as usize]; users as usize];
        for (r, &w) in ratings.iter().zip(&weighted) {
            x[r.user as usize][r.item as usize] = w as f64;
        }
        let pool = build_pool(2).unwrap();
        let p = Checked::new(EaseParams {
            regularization: 30.0,
            ..Default::default()
        })
        .unwrap();
        let data = TrainingData {
            ratings: ratings.clone(),
            n_users: users as usize,
            n_items: items as usize,
            explicit: false,
            weighted: Some(weighted),
            users: crate::features::SideFeatures::none(0),
            items: crate::features::SideFeatures::none(0),
        };
        let mut t = Box::new(p).start(data, &pool).unwrap();
        let loss = t.step(&pool, &CancelFlag::new()).unwrap().train_loss;
        let m = t.finish(&pool).model;
        let b = naive(&x, 30.0);
        let n = items as usize;
        let mut worst = 0f64;
        for (i, row) in b.iter().enumerate() {
            for (j, want) in row.iter().enumerate() {
                worst = worst.max((m.item_factors[j * n + i] as f64 - want).abs());
            }
        }
        assert!(worst < 1e-5, "largest difference {worst}");
        for (u, row) in x.iter().enumerate() {
            for (i, &want) in row.iter().enumerate() {
                assert_eq!(m.user_factors[u * n + i] as f64, want, "user {u} item {i}");
            }
        }
        let mut sq = 0f64;
        for row in &x {
            for j in 0..n {
                let fit: f64 = (0..n).map(|i| row[i] * b[i][j]).sum();
                sq += (fit - row[j]).powi(2);
            }
        }
        let want = sq / ratings.len() as f64;
        assert!(
            (loss - want).abs() < 1e-4 * want.max(1.0),
            "loss {loss} vs {want}"
        );
    }

    #[test]
    fn same_model_for_any_thread_count() {
        let ratings = random_ratings(300, 530, 9);
        let one = train(ratings.clone(), 300, 530, 1, 20.0);
        let two = train(ratings.clone(), 300, 530, 2, 20.0);
        let three = train(ratings, 300, 530, 3, 20.0);
        assert_eq!(one, two);
        assert_eq!(one, three);
    }

    #[test]
    fn cancel_stops_the_step() {
        let pool = build_pool(2).unwrap();
        let p = Checked::new(EaseParams::default()).unwrap();
        let data = TrainingData {
            ratings: random_ratings(50, 300, 1),
            n_users: 50,
            n_items: 300,
            explicit: false,
            weighted: None,
            users: crate::features::SideFeatures::none(0),
            items: crate::features::SideFeatures::none(0),
        };
        let mut t = Box::new(p).start(data, &pool).unwrap();
        let cancel = CancelFlag::new();
        cancel.cancel();
        assert!(matches!(t.step(&pool, &cancel), Err(CoreError::Cancelled)));
    }

    /// ease's explanation is exact: one share per history item, x_uj B_ji, adding up to the
    /// served score of the user's trained vector.
    #[test]
    fn the_explanation_is_the_score_term_by_term() {
        let ratings = random_ratings(40, 30, 2);
        let m = train(ratings.clone(), 40, 30, 1, 10.0);
        let p = Checked::new(EaseParams::default()).unwrap();
        let gram = std::sync::OnceLock::new();
        let target = FoldTarget {
            model: m.view(),
            item_gram: &gram,
            learned: &[],
        };
        let u = 3u32;
        let items: Vec<u32> = ratings
            .iter()
            .filter(|r| r.user == u)
            .map(|r| r.item)
            .collect();
        let values = vec![1.0; items.len()];
        let h = History {
            items: &items,
            values: &values,
            weighted: None,
        };
        let j = 7u32;
        let e = p.explain(&target, h, j).unwrap();
        assert!(e.exact);
        assert_eq!(e.items, items);
        let served = crate::kernels::Kernels::detect().dot(m.view().user(u), m.view().item(j));
        let sum: f32 = e.contributions.iter().sum();
        assert!(
            (sum - served).abs() < 1e-5 && (e.score - served).abs() < 1e-5,
            "{sum} {} {served}",
            e.score
        );
        for (n, &i) in items.iter().enumerate() {
            assert_eq!(e.contributions[n], m.view().item(j)[i as usize]);
        }
    }

    #[test]
    fn a_basket_folds_in_as_its_indicator() {
        let m = train(random_ratings(40, 30, 2), 40, 30, 1, 10.0);
        let p = Checked::new(EaseParams {
            positive_threshold: Some(4.0),
            ..Default::default()
        })
        .unwrap();
        let gram = std::sync::OnceLock::new();
        let target = FoldTarget {
            model: m.view(),
            item_gram: &gram,
            learned: &[],
        };
        let folded = p
            .fold_in(
                &target,
                History {
                    items: &[2, 5, 9],
                    values: &[5.0, 3.0, 4.0],
                    weighted: None,
                },
            )
            .unwrap();
        let mut want = vec![0.0; 30];
        want[2] = 1.0;
        want[9] = 1.0;
        assert_eq!(folded.factors, want);
    }

    #[test]
    fn memory_grows_with_the_square_of_the_catalog() {
        let p = Checked::new(EaseParams::default()).unwrap();
        let small = p.memory_bytes(MemoryShape {
            rows: 1_000_000,
            users: 10_000,
            items: 1_000,
        });
        let large = p.memory_bytes(MemoryShape {
            rows: 1_000_000,
            users: 10_000,
            items: 100_000,
        });
        assert!(large > 100_000u64 * 100_000 * 12, "{large}");
        assert!(small < 1 << 30, "{small}");
    }
}
