//! The least-squares row solves of alternating least squares. Each row (a user, or an item)
//! solves
//!
//! ```text
//! (G + d I + sum_j w_j y_j y_j^T) x = sum_j b_j y_j
//! ```
//!
//! over the rows y_j of the other side it interacted with: for implicit ALS G = Y^T Y (computed
//! once per sweep), d the regularization, w_j = c_j - 1 and b_j = c_j (Hu, Koren and Volinsky
//! 2008); for explicit ALS G = 0, d = lambda * n (weighted-lambda), w_j = 1 and b_j the rating.
//!
//! Two solvers: a few conjugate-gradient steps warm-started at the current x (as Takacs et al.
//! 2011 and the `implicit` library do; each step costs one pass over the row's interactions and
//! one k x k product), and the exact solve by Cholesky (faer), which builds the k x k system and
//! is only sensible for small factor counts. Every solve reads shared data and writes its own x,
//! so a sweep parallelises over rows and gives the same result on any number of threads.

use rayon::prelude::*;
use rayon::ThreadPool;

use serde::{Deserialize, Serialize};

use super::sparse::Csr;
use crate::error::Result;
use crate::parallel::CancelFlag;

#[cfg(target_arch = "x86_64")]
mod avx2;
mod system;

pub use system::{RowSystem, Scratch, SEEN_NOT_POSITIVE};

/// Rows per partial product when computing a Gram matrix in parallel. Fixed: it decides the
/// summation order.
const GRAM_ROWS: usize = 4096;

/// Y^T Y of the `n x k` row-major `y`, as a row-major `k x k` matrix. Partial products of fixed
/// row blocks are summed in block order, so the result does not depend on the pool size.
pub fn gram(pool: &ThreadPool, y: &[f32], k: usize) -> Vec<f32> {
    let n = y.len().checked_div(k).unwrap_or(0);
    let blocks: Vec<Vec<f32>> = pool.install(|| {
        (0..n.div_ceil(GRAM_ROWS))
            .into_par_iter()
            .map(|b| gram_block(&y[b * GRAM_ROWS * k..((b + 1) * GRAM_ROWS).min(n) * k], k))
            .collect()
    });
    sum_blocks(blocks, k)
}

/// The same as [`gram`] on the calling thread (for one-off solves while serving); the same
/// blocks in the same order give the same matrix.
pub fn gram_serial(y: &[f32], k: usize) -> Vec<f32> {
    let n = y.len().checked_div(k).unwrap_or(0);
    let blocks = (0..n.div_ceil(GRAM_ROWS))
        .map(|b| gram_block(&y[b * GRAM_ROWS * k..((b + 1) * GRAM_ROWS).min(n) * k], k))
        .collect();
    sum_blocks(blocks, k)
}

fn sum_blocks(blocks: Vec<Vec<f32>>, k: usize) -> Vec<f32> {
    let mut g = vec![0f32; k * k];
    for c in blocks {
        for (a, b) in g.iter_mut().zip(&c) {
            *a += b;
        }
    }
    g
}

/// Y_b^T Y_b of one block of rows.
fn gram_block(rows: &[f32], k: usize) -> Vec<f32> {
    let m = rows.len().checked_div(k).unwrap_or(0);
    let mut c = vec![0f32; k * k];
    if m == 0 {
        return c;
    }
    // SAFETY: a is Y_b^T (k x m, element (f, j) at j * k + f), b is Y_b (m x k, row-major), c
    // is k x k row-major; the slices hold exactly these extents.
    unsafe {
        matrixmultiply::sgemm(
            k,
            m,
            k,
            1.0,
            rows.as_ptr(),
            1,
            k as isize,
            rows.as_ptr(),
            k as isize,
            1,
            0.0,
            c.as_mut_ptr(),
            k as isize,
            1,
        );
    }
    c
}

// The same eight-lane bodies as the vector kernels (inlined into each CPU's build below).
use crate::kernels::{axpy_body as axpy, dot_body as dot};

#[inline(always)]
fn cg_body(sys: &RowSystem<'_>, x: &mut [f32], steps: usize, s: &mut Scratch) {
    let k = sys.k;
    s.r.resize(k, 0.0);
    s.p.resize(k, 0.0);
    s.ap.resize(k, 0.0);
    let (r, p, ap) = (&mut s.r[..], &mut s.p[..], &mut s.ap[..]);
    // r = b - A x, with A x = (G + d I) x + sum_j w_j (y_j . x) y_j.
    sys.shared_times(x, ap);
    for (ri, a) in r.iter_mut().zip(ap.iter()) {
        *ri = -a;
    }
    for j in 0..sys.cols.len() {
        sys.prefetch_ahead(j);
        let yj = sys.row(j);
        let coef = sys.target(j) - sys.weight(j) * dot(yj, x);
        axpy(coef, yj, r);
    }
    p.copy_from_slice(r);
    let mut rs = dot(r, r);
    for _ in 0..steps {
        if rs < 1e-20 {
            break;
        }
        sys.shared_times(p, ap);
        for j in 0..sys.cols.len() {
            sys.prefetch_ahead(j);
            let yj = sys.row(j);
            let coef = sys.weight(j) * dot(yj, p);
            axpy(coef, yj, ap);
        }
        let pap = dot(p, ap);
        if pap <= 0.0 || !pap.is_finite() {
            break;
        }
        let alpha = rs / pap;
        axpy(alpha, p, x);
        axpy(-alpha, ap, r);
        let rs_new = dot(r, r);
        let beta = rs_new / rs;
        for (pi, ri) in p.iter_mut().zip(r.iter()) {
            *pi = ri + beta * *pi;
        }
        rs = rs_new;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn cg_avx2(sys: &RowSystem<'_>, x: &mut [f32], steps: usize, s: &mut Scratch) {
    cg_body(sys, x, steps, s)
}

fn cg_portable(sys: &RowSystem<'_>, x: &mut [f32], steps: usize, s: &mut Scratch) {
    cg_body(sys, x, steps, s)
}

/// Whether every column of `sys` indexes a full row of `sys.y` (what the intrinsic kernel
/// relies on instead of bounds checks).
fn columns_in_range(sys: &RowSystem<'_>) -> bool {
    sys.cols
        .iter()
        .max()
        .is_none_or(|&c| (c as usize + 1) * sys.k <= sys.y.len())
}

/// Which body a CPU runs; chosen once per sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgKernel {
    avx2: bool,
}

impl CgKernel {
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            CgKernel {
                avx2: std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            CgKernel { avx2: false }
        }
    }

    pub fn portable() -> Self {
        CgKernel { avx2: false }
    }

    /// `steps` conjugate-gradient steps on `sys`, starting from and updating `x`.
    #[inline]
    pub fn solve(self, sys: &RowSystem<'_>, x: &mut [f32], steps: usize, s: &mut Scratch) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            if sys.k.is_multiple_of(8) && x.len() == sys.k && columns_in_range(sys) {
                // SAFETY: avx2 and fma were detected at run time; k is a multiple of 8, x
                // holds k floats and every column indexes a row of y (checked above).
                return unsafe { avx2::cg(sys, x, steps, s) };
            }
            // SAFETY: avx2 and fma were detected at run time.
            return unsafe { cg_avx2(sys, x, steps, s) };
        }
        cg_portable(sys, x, steps, s)
    }
}

/// The exact solve of `sys` by Cholesky factorisation (faer), written to `x`. Returns false
/// (leaving `x` alone) when the matrix is not positive definite.
pub fn cholesky_solve(sys: &RowSystem<'_>, x: &mut [f32], s: &mut Scratch) -> bool {
    use faer::prelude::Solve as _;
    let k = sys.k;
    s.a.clear();
    s.a.resize(k * k, 0.0);
    s.r.clear();
    s.r.resize(k, 0.0);
    if let Some(g) = sys.gram {
        s.a.copy_from_slice(g);
    }
    for f in 0..k {
        s.a[f * k + f] += sys.diag;
    }
    for j in 0..sys.cols.len() {
        let yj = sys.row(j);
        let w = sys.weight(j);
        for f in 0..k {
            // Lower triangle only: faer reads the side it is told to.
            axpy(w * yj[f], &yj[..=f], &mut s.a[f * k..f * k + f + 1]);
        }
        axpy(sys.target(j), yj, &mut s.r);
    }
    let a = faer::MatRef::from_row_major_slice(&s.a, k, k);
    let Ok(llt) = a.llt(faer::Side::Lower) else {
        return false;
    };
    let mut rhs = faer::Mat::from_fn(k, 1, |i, _| s.r[i]);
    llt.solve_in_place(rhs.as_mut());
    if (0..k).any(|i| !rhs[(i, 0)].is_finite()) {
        return false;
    }
    for (i, xi) in x.iter_mut().enumerate() {
        *xi = rhs[(i, 0)];
    }
    true
}

/// Solves A x = b for a symmetric positive definite `n x n` matrix A (row-major; only the
/// lower triangle is read), in f64. None when A is not positive definite or the solution is
/// not finite.
pub fn solve_spd(a: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    use faer::prelude::Solve as _;
    let n = b.len();
    let llt = faer::MatRef::from_row_major_slice(a, n, n)
        .llt(faer::Side::Lower)
        .ok()?;
    let mut x = faer::Mat::from_fn(n, 1, |i, _| b[i]);
    llt.solve_in_place(x.as_mut());
    let x: Vec<f64> = (0..n).map(|i| x[(i, 0)]).collect();
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Each interaction's share of one score of the system's solution: with A x = sum_j b_j y_j
/// (the system `cholesky_solve` solves) and a query vector q, q^T x = sum_j b_j (q^T A^-1 y_j),
/// computed as b_j z^T y_j with A z = q (one solve, A symmetric). Entry j belongs to
/// `sys.cols[j]`; a pair seen but not positive has b_j = 0, so its share is 0 (it shapes A, as
/// in training). None when A is not positive definite.
pub fn contributions(sys: &RowSystem<'_>, q: &[f32]) -> Option<Vec<f32>> {
    use faer::prelude::Solve as _;
    let k = sys.k;
    let mut a = vec![0f64; k * k];
    if let Some(g) = sys.gram {
        for (x, &v) in a.iter_mut().zip(g) {
            *x = v as f64;
        }
    }
    for f in 0..k {
        a[f * k + f] += sys.diag as f64;
    }
    for j in 0..sys.cols.len() {
        let (yj, w) = (sys.row(j), sys.weight(j) as f64);
        for f in 0..k {
            for g in 0..=f {
                a[f * k + g] += w * yj[f] as f64 * yj[g] as f64;
            }
        }
    }
    let llt = faer::MatRef::from_row_major_slice(&a, k, k)
        .llt(faer::Side::Lower)
        .ok()?;
    let mut z = faer::Mat::from_fn(k, 1, |i, _| q[i] as f64);
    llt.solve_in_place(z.as_mut());
    let out: Vec<f32> = (0..sys.cols.len())
        .map(|j| {
            let yj = sys.row(j);
            let d: f64 = (0..k).map(|f| z[(f, 0)] * yj[f] as f64).sum();
            (sys.target(j) as f64 * d) as f32
        })
        .collect();
    out.iter().all(|c| c.is_finite()).then_some(out)
}

/// How a sweep solves its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// A few warm-started conjugate-gradient steps per row and sweep.
    Cg,
    /// The exact solve (k x k Cholesky per row).
    Cholesky,
}

/// Rows per parallel task of a sweep.
const SWEEP_ROWS: usize = 64;

/// The shared parts of one sweep over one side.
pub struct Sweep<'a> {
    /// The other side's factors, `k` per row.
    pub y: &'a [f32],
    pub k: usize,
    /// Y^T Y (implicit) or None (explicit).
    pub gram: Option<&'a [f32]>,
    /// Regularization added to the diagonal of a row, from the row's interaction values.
    pub diag: &'a (dyn Fn(&[f32]) -> f32 + Sync),
    pub alpha: Option<f32>,
    pub solver: Solver,
    pub cg_steps: usize,
}

impl Sweep<'_> {
    /// Solves every row of `x` (`rows.n_rows()` x k) for the interactions in `rows`. Rows
    /// without interactions are set to zero (the solution of their system). Returns
    /// `Cancelled` soon after `cancel` is set.
    pub fn run(
        &self,
        pool: &ThreadPool,
        rows: &Csr,
        x: &mut [f32],
        cancel: &CancelFlag,
    ) -> Result<()> {
        let k = self.k;
        let kernel = CgKernel::detect();
        pool.install(|| {
            x.par_chunks_mut(SWEEP_ROWS * k)
                .enumerate()
                .for_each(|(chunk, xs)| {
                    if cancel.is_cancelled() {
                        return;
                    }
                    let mut scratch = Scratch::default();
                    for (o, xr) in xs.chunks_mut(k).enumerate() {
                        let r = chunk * SWEEP_ROWS + o;
                        let (cols, values) = rows.row(r);
                        if cols.is_empty() {
                            xr.fill(0.0);
                            continue;
                        }
                        let sys = RowSystem {
                            gram: self.gram,
                            diag: (self.diag)(values),
                            y: self.y,
                            k,
                            cols,
                            values,
                            alpha: self.alpha,
                        };
                        match self.solver {
                            Solver::Cg => kernel.solve(&sys, xr, self.cg_steps, &mut scratch),
                            Solver::Cholesky => {
                                if !cholesky_solve(&sys, xr, &mut scratch) {
                                    kernel.solve(&sys, xr, k, &mut scratch);
                                }
                            }
                        }
                    }
                });
        });
        cancel.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::build_pool;
    use crate::rng::stream;
    use rand::Rng;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = stream(seed, &[1]);
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    /// The guard of the unchecked kernel: every column must index a whole row of y.
    #[test]
    fn columns_in_range_checks_the_last_row_of_y() {
        let y = vec![0f32; 3 * 8];
        let sys = |cols: &'static [u32]| RowSystem {
            gram: None,
            diag: 0.0,
            y: &y,
            k: 8,
            cols,
            values: &[],
            alpha: None,
        };
        assert!(columns_in_range(&sys(&[])));
        assert!(columns_in_range(&sys(&[0, 2, 1])));
        assert!(!columns_in_range(&sys(&[0, 3])));
        let short = RowSystem {
            y: &y[..3 * 8 - 1],
            ..sys(&[2])
        };
        assert!(!columns_in_range(&short));
    }

    /// A x for the explicit matrix of `sys`, in f64.
    fn apply(sys: &RowSystem<'_>, x: &[f32]) -> Vec<f64> {
        let k = sys.k;
        let mut out: Vec<f64> = (0..k).map(|f| sys.diag as f64 * x[f] as f64).collect();
        if let Some(g) = sys.gram {
            for f in 0..k {
                for e in 0..k {
                    out[f] += g[f * k + e] as f64 * x[e] as f64;
                }
            }
        }
        for j in 0..sys.cols.len() {
            let yj = sys.row(j);
            let d: f64 = yj.iter().zip(x).map(|(a, b)| *a as f64 * *b as f64).sum();
            let w = match sys.alpha {
                Some(a) if sys.values[j] > 0.0 => a as f64 * sys.values[j] as f64,
                Some(_) => -1.0,
                None => 1.0,
            };
            for f in 0..k {
                out[f] += w * d * yj[f] as f64;
            }
        }
        out
    }

    fn rhs(sys: &RowSystem<'_>) -> Vec<f64> {
        let mut b = vec![0f64; sys.k];
        for j in 0..sys.cols.len() {
            let target = match sys.alpha {
                Some(a) if sys.values[j] > 0.0 => 1.0 + a as f64 * sys.values[j] as f64,
                Some(_) => 0.0,
                None => sys.values[j] as f64,
            };
            for (f, v) in sys.row(j).iter().enumerate() {
                b[f] += target * *v as f64;
            }
        }
        b
    }

    fn residual(sys: &RowSystem<'_>, x: &[f32]) -> f64 {
        let ax = apply(sys, x);
        let b = rhs(sys);
        let num: f64 = ax.iter().zip(&b).map(|(a, b)| (a - b).powi(2)).sum();
        let den: f64 = b.iter().map(|b| b * b).sum();
        (num / den).sqrt()
    }

    #[test]
    fn gram_matches_the_definition_whatever_the_pool() {
        // More rows than one block, and a k that is not a multiple of the lanes.
        let (n, k) = (GRAM_ROWS + 37, 11);
        let y = random(n * k, 3);
        let g1 = gram(&build_pool(1).unwrap(), &y, k);
        let g3 = gram(&build_pool(3).unwrap(), &y, k);
        assert_eq!(g1, g3);
        assert_eq!(gram_serial(&y, k), g1);
        for f in 0..k {
            for e in 0..k {
                let want: f64 = (0..n)
                    .map(|j| y[j * k + f] as f64 * y[j * k + e] as f64)
                    .sum();
                assert!((g1[f * k + e] as f64 - want).abs() < 1e-2, "({f},{e})");
            }
        }
    }

    fn system_parts(k: usize, n_items: usize, seed: u64) -> (Vec<f32>, Vec<u32>, Vec<f32>) {
        let y = random(n_items * k, seed);
        let cols: Vec<u32> = (0..n_items as u32).filter(|j| j % 3 != 1).collect();
        let values: Vec<f32> = cols.iter().map(|j| 1.0 + (*j % 4) as f32).collect();
        (y, cols, values)
    }

    #[test]
    fn conjugate_gradient_converges_to_the_cholesky_solution() {
        for k in [3usize, 8, 13] {
            let (y, cols, values) = system_parts(k, 40, k as u64);
            let pool = build_pool(1).unwrap();
            let g = gram(&pool, &y, k);
            let sys = RowSystem {
                gram: Some(&g),
                diag: 0.1,
                y: &y,
                k,
                cols: &cols,
                values: &values,
                alpha: Some(2.0),
            };
            let mut s = Scratch::default();
            let mut exact = vec![0f32; k];
            assert!(cholesky_solve(&sys, &mut exact, &mut s));
            assert!(residual(&sys, &exact) < 1e-4, "cholesky k={k}");
            for kernel in [CgKernel::portable(), CgKernel::detect()] {
                let mut x = vec![0f32; k];
                let before = residual(&sys, &x);
                kernel.solve(&sys, &mut x, 2, &mut s);
                let after_two = residual(&sys, &x);
                assert!(after_two < before, "k={k}: {after_two} !< {before}");
                // Warm-started steps keep improving; k steps solve it (up to rounding).
                kernel.solve(&sys, &mut x, 3 * k, &mut s);
                assert!(residual(&sys, &x) < 1e-3, "k={k}");
                for (a, b) in x.iter().zip(&exact) {
                    assert!((a - b).abs() < 1e-2 * (1.0 + b.abs()), "k={k}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn the_intrinsic_kernel_agrees_with_the_portable_one() {
        // k a multiple of 8 (the intrinsic path) with and without a 32-wide block, and row
        // lengths that leave every remainder of the groups of four.
        for k in [8usize, 16, 40, 64] {
            for n_items in [1usize, 6, 7, 13, 50] {
                let (y, cols, values) = system_parts(k, n_items.max(2) * 3 / 2, k as u64);
                let cols = &cols[..cols.len().min(n_items)];
                let values = &values[..cols.len()];
                let pool = build_pool(1).unwrap();
                let g = gram(&pool, &y, k);
                for (gram, alpha) in [(Some(&g[..]), Some(1.5f32)), (None, None)] {
                    let sys = RowSystem {
                        gram,
                        diag: 0.3,
                        y: &y,
                        k,
                        cols,
                        values,
                        alpha,
                    };
                    let mut s = Scratch::default();
                    let start = random(k, 77);
                    let mut a = start.clone();
                    let mut b = start;
                    CgKernel::portable().solve(&sys, &mut a, 3, &mut s);
                    CgKernel::detect().solve(&sys, &mut b, 3, &mut s);
                    for (u, v) in a.iter().zip(&b) {
                        assert!(
                            (u - v).abs() < 1e-4 * (1.0 + u.abs()),
                            "k={k} n={n_items}: {u} vs {v}"
                        );
                    }
                    assert!(residual(&sys, &b) < residual(&sys, &random(k, 77)) + 1e-9);
                }
            }
        }
    }

    /// A pair marked seen-but-not-positive contributes nothing: the system with it equals the
    /// system over the full Gram matrix minus that item's row, without it.
    #[test]
    fn a_seen_but_not_positive_pair_leaves_the_loss() {
        let k = 8;
        let (y, _, _) = system_parts(k, 12, 5);
        let pool = build_pool(1).unwrap();
        let g = gram(&pool, &y, k);
        // Item 3 is seen but not positive; items 1 and 7 are positives.
        let marked = RowSystem {
            gram: Some(&g),
            diag: 0.2,
            y: &y,
            k,
            cols: &[1, 3, 7],
            values: &[2.0, SEEN_NOT_POSITIVE, 1.0],
            alpha: Some(1.5),
        };
        let without: Vec<f32> = (0..12)
            .filter(|&i| i != 3)
            .flat_map(|i| y[i * k..(i + 1) * k].to_vec())
            .collect();
        let g_without = gram(&pool, &without, k);
        // Rows of `without` are renumbered: items 1 and 7 are rows 1 and 6.
        let reference = RowSystem {
            gram: Some(&g_without),
            cols: &[1, 6],
            values: &[2.0, 1.0],
            y: &without,
            ..marked
        };
        let mut s = Scratch::default();
        let (mut a, mut b) = (vec![0f32; k], vec![0f32; k]);
        assert!(cholesky_solve(&marked, &mut a, &mut s));
        assert!(cholesky_solve(&reference, &mut b, &mut s));
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() < 1e-4 * (1.0 + v.abs()), "{u} vs {v}");
        }
        for kernel in [CgKernel::portable(), CgKernel::detect()] {
            let mut x = vec![0f32; k];
            kernel.solve(&marked, &mut x, 4 * k, &mut s);
            for (u, v) in x.iter().zip(&b) {
                assert!((u - v).abs() < 1e-3 * (1.0 + v.abs()), "cg: {u} vs {v}");
            }
        }
    }

    #[test]
    fn explicit_systems_without_gram_and_weights() {
        let k = 6;
        let (y, cols, values) = system_parts(k, 30, 9);
        let sys = RowSystem {
            gram: None,
            diag: 0.05 * cols.len() as f32,
            y: &y,
            k,
            cols: &cols,
            values: &values,
            alpha: None,
        };
        let mut s = Scratch::default();
        let mut exact = vec![0f32; k];
        assert!(cholesky_solve(&sys, &mut exact, &mut s));
        let mut x = vec![0f32; k];
        CgKernel::detect().solve(&sys, &mut x, 20, &mut s);
        for (a, b) in x.iter().zip(&exact) {
            assert!((a - b).abs() < 1e-3 * (1.0 + b.abs()), "{a} vs {b}");
        }
        assert!(residual(&sys, &x) < 1e-4);
    }

    #[test]
    fn an_empty_row_solves_to_zero_and_a_singular_one_is_refused() {
        let k = 4;
        let y = random(8 * k, 1);
        let sys = RowSystem {
            gram: None,
            diag: 1.0,
            y: &y,
            k,
            cols: &[],
            values: &[],
            alpha: None,
        };
        let mut s = Scratch::default();
        let mut x = vec![0.5f32; k];
        CgKernel::detect().solve(&sys, &mut x, 5, &mut s);
        assert!(x.iter().all(|v| v.abs() < 1e-6), "{x:?}");
        let singular = RowSystem { diag: 0.0, ..sys };
        let mut x = vec![0.5f32; k];
        assert!(!cholesky_solve(&singular, &mut x, &mut s));
        assert_eq!(x, vec![0.5f32; k]);
    }
}
