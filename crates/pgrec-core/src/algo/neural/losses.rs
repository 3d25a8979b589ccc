//! Loss functions of the neural models and their gradients, on plain slices so that each can be
//! checked against finite differences on its own.

use crate::kernels::gemm;

/// Squared error of one prediction: (loss, d loss / d prediction).
#[inline]
pub fn squared_error(pred: f32, target: f32) -> (f32, f32) {
    let e = pred - target;
    (e * e, 2.0 * e)
}

/// Binary cross-entropy on a logit, stable for large |logit|: (loss, d loss / d logit).
#[inline]
pub fn binary_cross_entropy(logit: f32, label: f32) -> (f32, f32) {
    // log(1 + e^x) - y x, written to avoid overflow.
    let loss = logit.max(0.0) - logit * label + (-logit.abs()).exp().ln_1p();
    let p = 1.0 / (1.0 + (-logit).exp());
    (loss, p - label)
}

/// L2-normalises each row of `x` (`rows x dim`) into `out`; returns the norms (floored).
pub fn normalize_rows(x: &[f32], dim: usize, out: &mut [f32]) -> Vec<f32> {
    x.chunks_exact(dim)
        .zip(out.chunks_exact_mut(dim))
        .map(|(r, o)| {
            let n = r.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            for (a, b) in o.iter_mut().zip(r) {
                *a = b / n;
            }
            n
        })
        .collect()
}

/// Back through `normalize_rows`: given d loss / d x_hat, returns d loss / d x in place.
pub fn normalize_rows_backward(x_hat: &[f32], norms: &[f32], dim: usize, d: &mut [f32]) {
    for ((h, n), g) in x_hat
        .chunks_exact(dim)
        .zip(norms)
        .zip(d.chunks_exact_mut(dim))
    {
        let proj: f32 = h.iter().zip(g.iter()).map(|(a, b)| a * b).sum();
        for (gi, hi) in g.iter_mut().zip(h) {
            *gi = (*gi - hi * proj) / n;
        }
    }
}

/// The in-batch softmax logit of user row i against item column j: the scaled similarity minus
/// log q_j (q_j: the probability that item j appears in a batch). Popular items are sampled
/// as negatives more often; subtracting log q removes that bias (Yi et al. 2019).
#[inline]
pub fn corrected_logit(similarity: f32, temperature: f32, log_q: f32) -> f32 {
    similarity / temperature - log_q
}

/// In-batch sampled softmax over `b` (user, item) rows whose towers gave the normalised
/// `u_hat`, `v_hat` (`b x dim`). Row i's positive is column i; columns whose item is the same
/// as row i's (other than i itself) are masked. With `weights`, row i's loss counts
/// `weights[i]` times. Returns the mean loss and fills d loss / d u_hat and d loss / d v_hat.
#[allow(clippy::too_many_arguments)]
pub fn in_batch_softmax(
    u_hat: &[f32],
    v_hat: &[f32],
    items: &[u32],
    log_q: Option<&[f32]>,
    weights: Option<&[f32]>,
    temperature: f32,
    dim: usize,
    d_u: &mut [f32],
    d_v: &mut [f32],
) -> f32 {
    let b = items.len();
    let mut logits = vec![0.0f32; b * b];
    gemm(b, dim, b, u_hat, false, v_hat, true, 0.0, &mut logits);
    let mut loss = 0.0f64;
    let inv_b = 1.0 / b as f32;
    for i in 0..b {
        let row = &mut logits[i * b..(i + 1) * b];
        for (j, l) in row.iter_mut().enumerate() {
            let lq = log_q.map(|q| q[items[j] as usize]).unwrap_or(0.0);
            *l = if j != i && items[j] == items[i] {
                f32::NEG_INFINITY
            } else {
                corrected_logit(*l, temperature, lq)
            };
        }
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for l in row.iter_mut() {
            *l = (*l - max).exp();
            sum += *l;
        }
        // row now holds exp(l - max); loss_i = log(sum) - (l_ii - max).
        let w = weights.map_or(1.0, |w| w[i]);
        loss += w as f64 * (sum.ln() - row[i].ln()) as f64;
        // d loss / d logit = w (softmax - onehot) / b, then the 1 / temperature of the logit.
        for (j, l) in row.iter_mut().enumerate() {
            let p = *l / sum;
            *l = (p - if j == i { 1.0 } else { 0.0 }) * w * inv_b / temperature;
        }
    }
    // d u_hat = G v_hat, d v_hat = G^T u_hat.
    gemm(b, b, dim, &logits, false, v_hat, false, 0.0, d_u);
    gemm(b, b, dim, &logits, true, u_hat, false, 0.0, d_v);
    (loss / b as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use rand::Rng;

    #[test]
    fn bce_matches_its_definition_and_derivative() {
        for &(x, y) in &[(0.3f32, 1.0f32), (-2.0, 0.0), (40.0, 0.0), (-40.0, 1.0)] {
            let (l, g) = binary_cross_entropy(x, y);
            // softplus(x) - y x, in f64.
            let xf = x as f64;
            let want = xf.max(0.0) + (-xf.abs()).exp().ln_1p() - y as f64 * xf;
            assert!(
                (l as f64 - want).abs() < 1e-4 * want.max(1.0),
                "{x} {y}: {l} vs {want}"
            );
            let h = 1e-3;
            let num =
                (binary_cross_entropy(x + h, y).0 - binary_cross_entropy(x - h, y).0) / (2.0 * h);
            assert!((num - g).abs() < 1e-2, "{x} {y}: {num} vs {g}");
        }
    }

    #[test]
    fn logq_correction_lowers_popular_items() {
        // Equal similarity: the popular item (q = 0.5) must end up with the lower logit, so
        // the loss stops over-penalising popular items as negatives. Adding log q instead
        // would make the popular item's logit higher.
        let popular = corrected_logit(0.5, 0.1, 0.5f32.ln());
        let rare = corrected_logit(0.5, 0.1, 0.001f32.ln());
        assert!(popular < rare);
        assert!((popular - (5.0 - 0.5f32.ln())).abs() < 1e-5);
    }

    /// The in-batch softmax written out naively in f64 from its definition: row i's loss is
    /// -log softmax_j(s_ij / t - log q_j) at column i, columns j != i holding row i's item
    /// left out; the mean over rows.
    fn naive_softmax(
        u: &[f64],
        v: &[f64],
        items: &[u32],
        log_q: Option<&[f64]>,
        t: f64,
        dim: usize,
    ) -> f64 {
        let b = items.len();
        let mut total = 0.0;
        for i in 0..b {
            let logit = |j: usize| {
                let s: f64 = (0..dim).map(|d| u[i * dim + d] * v[j * dim + d]).sum();
                s / t - log_q.map_or(0.0, |q| q[items[j] as usize])
            };
            let denom: f64 = (0..b)
                .filter(|&j| j == i || items[j] != items[i])
                .map(|j| logit(j).exp())
                .sum();
            total += denom.ln() - logit(i);
        }
        total / b as f64
    }

    /// The loss and both gradients against the naive f64 definition (its gradient by f64
    /// central differences), with and without logQ, with a repeated item. A sign error in the
    /// logQ term changes the loss here even though loss and gradient would agree with each
    /// other.
    #[test]
    fn softmax_matches_the_naive_definition() {
        let (b, dim) = (6, 3);
        let mut rng = stream(11, &[]);
        let u: Vec<f32> = (0..b * dim).map(|_| rng.gen::<f32>() - 0.5).collect();
        let v: Vec<f32> = (0..b * dim).map(|_| rng.gen::<f32>() - 0.5).collect();
        let items = [0u32, 1, 2, 1, 3, 0];
        // Very different q, so that a wrong sign or a missing term moves the loss a lot.
        let q = [0.6f64, 0.05, 0.3, 0.01];
        let log_q64: Vec<f64> = q.iter().map(|x| x.ln()).collect();
        let log_q32: Vec<f32> = log_q64.iter().map(|&x| x as f32).collect();
        let t = 0.2f32;
        let (u64_, v64): (Vec<f64>, Vec<f64>) = (
            u.iter().map(|&x| x as f64).collect(),
            v.iter().map(|&x| x as f64).collect(),
        );
        for with_q in [false, true] {
            let lq64 = with_q.then_some(&log_q64[..]);
            let lq32 = with_q.then_some(&log_q32[..]);
            let mut du = vec![0.0f32; b * dim];
            let mut dv = vec![0.0f32; b * dim];
            let got = in_batch_softmax(&u, &v, &items, lq32, None, t, dim, &mut du, &mut dv) as f64;
            let want = naive_softmax(&u64_, &v64, &items, lq64, t as f64, dim);
            assert!(
                (got - want).abs() < 1e-5 * want.abs().max(1.0),
                "logQ {with_q}: loss {got} vs naive {want}"
            );
            let h = 1e-6;
            for p in 0..b * dim {
                for side in 0..2 {
                    let at = |delta: f64| {
                        let (mut a, mut c) = (u64_.clone(), v64.clone());
                        if side == 0 {
                            a[p] += delta;
                        } else {
                            c[p] += delta;
                        }
                        naive_softmax(&a, &c, &items, lq64, t as f64, dim)
                    };
                    let num = (at(h) - at(-h)) / (2.0 * h);
                    let ana = if side == 0 { du[p] } else { dv[p] } as f64;
                    assert!(
                        (num - ana).abs() < 1e-5 + 1e-4 * num.abs(),
                        "logQ {with_q} side {side} coordinate {p}: {ana} vs naive {num}"
                    );
                }
            }
        }
        // The correction matters here: the two losses differ.
        let (mut du, mut dv) = (vec![0.0f32; b * dim], vec![0.0f32; b * dim]);
        let plain = in_batch_softmax(&u, &v, &items, None, None, t, dim, &mut du, &mut dv);
        let corrected = in_batch_softmax(
            &u,
            &v,
            &items,
            Some(&log_q32),
            None,
            t,
            dim,
            &mut du,
            &mut dv,
        );
        assert!((plain - corrected).abs() > 0.1, "{plain} vs {corrected}");
    }

    /// With row weights the loss is the weighted sum of the rows' losses, and its gradient
    /// that of the weighted loss (finite differences of the function itself).
    #[test]
    fn weighted_softmax_weighs_each_row() {
        let (b, dim) = (5, 3);
        let mut rng = stream(11, &[]);
        let u: Vec<f32> = (0..b * dim).map(|_| rng.gen::<f32>() - 0.5).collect();
        let v: Vec<f32> = (0..b * dim).map(|_| rng.gen::<f32>() - 0.5).collect();
        let items = [0u32, 1, 2, 1, 3];
        let weights = [0.5f32, 2.0, 1.0, 3.0, 0.25];
        let t = 0.5;
        let loss = |u: &[f32], v: &[f32], w: &[f32], du: &mut [f32], dv: &mut [f32]| {
            in_batch_softmax(u, v, &items, None, Some(w), t, dim, du, dv) as f64
        };
        let (mut du, mut dv) = (vec![0.0; b * dim], vec![0.0; b * dim]);
        let weighted = loss(&u, &v, &weights, &mut du, &mut dv);
        let (mut s1, mut s2) = (vec![0.0; b * dim], vec![0.0; b * dim]);
        let by_rows: f64 = (0..b)
            .map(|i| {
                let mut one = [0.0f32; 5];
                one[i] = 1.0;
                weights[i] as f64 * loss(&u, &v, &one, &mut s1, &mut s2)
            })
            .sum();
        assert!((weighted - by_rows).abs() < 1e-5, "{weighted} vs {by_rows}");
        check_finite_differences(&u, &v, &du, &dv, 2e-3, 1e-2, |u, v| {
            loss(u, v, &weights, &mut s1, &mut s2)
        });
    }

    /// Finite-difference check of the softmax loss through the row normalisation, with the
    /// logQ term and a repeated item (masked column).
    #[test]
    fn softmax_with_normalisation_matches_finite_differences() {
        let (b, dim) = (5, 4);
        let mut rng = stream(7, &[]);
        let u: Vec<f32> = (0..b * dim).map(|_| rng.gen::<f32>() - 0.5).collect();
        let v: Vec<f32> = (0..b * dim).map(|_| rng.gen::<f32>() - 0.5).collect();
        let items = [0u32, 1, 2, 1, 3];
        let log_q: Vec<f32> = [0.4f32, 0.3, 0.2, 0.1].iter().map(|q| q.ln()).collect();
        let t = 0.5;
        let loss = |u: &[f32], v: &[f32], du: &mut [f32], dv: &mut [f32]| {
            let mut uh = vec![0.0; b * dim];
            let mut vh = vec![0.0; b * dim];
            let nu = normalize_rows(u, dim, &mut uh);
            let nv = normalize_rows(v, dim, &mut vh);
            let l = in_batch_softmax(&uh, &vh, &items, Some(&log_q), None, t, dim, du, dv);
            normalize_rows_backward(&uh, &nu, dim, du);
            normalize_rows_backward(&vh, &nv, dim, dv);
            l
        };
        let mut du = vec![0.0; b * dim];
        let mut dv = vec![0.0; b * dim];
        loss(&u, &v, &mut du, &mut dv);
        let (mut s1, mut s2) = (vec![0.0; b * dim], vec![0.0; b * dim]);
        check_finite_differences(&u, &v, &du, &dv, 2e-3, 0.02, |u, v| {
            loss(u, v, &mut s1, &mut s2) as f64
        });
    }

    /// Central differences (step 1e-3) of `loss` against the analytic gradients `du`, `dv` at
    /// (`u`, `v`), coordinate by coordinate, within `abs + rel * |numeric|`.
    fn check_finite_differences(
        u: &[f32],
        v: &[f32],
        du: &[f32],
        dv: &[f32],
        abs: f64,
        rel: f64,
        mut loss: impl FnMut(&[f32], &[f32]) -> f64,
    ) {
        let h = 1e-3f32;
        for p in 0..u.len() {
            for (which, grad) in [(0, du), (1, dv)] {
                let at = |delta: f32| {
                    let (mut a, mut c) = (u.to_vec(), v.to_vec());
                    if which == 0 {
                        a[p] += delta;
                    } else {
                        c[p] += delta;
                    }
                    (a, c)
                };
                let ((ap, cp), (am, cm)) = (at(h), at(-h));
                let num = (loss(&ap, &cp) - loss(&am, &cm)) / (2.0 * h as f64);
                let ana = grad[p] as f64;
                assert!(
                    (num - ana).abs() < abs + rel * num.abs(),
                    "side {which} coordinate {p}: numeric {num} vs analytic {ana}"
                );
            }
        }
    }
}
