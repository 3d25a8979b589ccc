//! The conjugate-gradient row solve with AVX2 and FMA intrinsics, for factor counts that are a
//! multiple of eight (the portable body in the parent module handles the rest and is the
//! reference these are tested against).
//!
//! Where the time goes: every CG step passes over the row's interactions, and each interaction
//! is a dot product with the search direction followed by an update of the product vector.
//! Interactions are taken four at a time, so the direction is loaded once for four dot
//! products and the product vector once for four updates, and the dependency chains of the
//! four dots overlap. The shared k x k product runs over column blocks of 32 floats held in
//! registers.

use std::arch::x86_64::*;

use super::system::{RowSystem, Scratch};

/// Interactions per group (the dots of a group run side by side).
const GROUP: usize = 4;

/// What the interaction pass adds for row j with d = <y_j, v>.
#[derive(Clone, Copy)]
enum Pass {
    /// (b_j - w_j d) y_j: the residual's interaction part.
    Residual,
    /// w_j d y_j: the product's interaction part.
    Product,
}

/// The sum of the eight lanes of each of a, b, c, d, as one 128-bit vector.
#[inline(always)]
unsafe fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
    // SAFETY: the caller guarantees what the function documents: AVX2 and FMA, and
    // slices of at least k floats (k a multiple of 8) behind every pointer read.
    unsafe {
        let ab = _mm256_hadd_ps(a, b);
        let cd = _mm256_hadd_ps(c, d);
        let abcd = _mm256_hadd_ps(ab, cd);
        _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1))
    }
}

#[inline(always)]
unsafe fn hsum(a: __m256) -> f32 {
    // SAFETY: the caller guarantees what the function documents: AVX2 and FMA, and
    // slices of at least k floats (k a multiple of 8) behind every pointer read.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }
}

#[inline(always)]
unsafe fn dot(a: &[f32], b: &[f32], k: usize) -> f32 {
    // SAFETY: the caller guarantees what the function documents: AVX2 and FMA, and
    // slices of at least k floats (k a multiple of 8) behind every pointer read.
    unsafe {
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut c = 0;
        while c + 16 <= k {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(c)), _mm256_loadu_ps(pb.add(c)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(c + 8)),
                _mm256_loadu_ps(pb.add(c + 8)),
                acc1,
            );
            c += 16;
        }
        if c < k {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(c)), _mm256_loadu_ps(pb.add(c)), acc0);
        }
        hsum(_mm256_add_ps(acc0, acc1))
    }
}

/// y += a * x over k floats.
#[inline(always)]
unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32], k: usize) {
    // SAFETY: the caller guarantees what the function documents: AVX2 and FMA, and
    // slices of at least k floats (k a multiple of 8) behind every pointer read.
    unsafe {
        let av = _mm256_set1_ps(a);
        let (px, py) = (x.as_ptr(), y.as_mut_ptr());
        for c in (0..k).step_by(8) {
            let v = _mm256_fmadd_ps(av, _mm256_loadu_ps(px.add(c)), _mm256_loadu_ps(py.add(c)));
            _mm256_storeu_ps(py.add(c), v);
        }
    }
}

/// out = sign * (G + d I) v.
#[inline(always)]
unsafe fn shared_times(sys: &RowSystem<'_>, v: &[f32], out: &mut [f32], sign: f32) {
    // SAFETY: the caller guarantees what the function documents: AVX2 and FMA, and
    // slices of at least k floats (k a multiple of 8) behind every pointer read.
    unsafe {
        let k = sys.k;
        let pv = v.as_ptr();
        let po = out.as_mut_ptr();
        let dv = _mm256_set1_ps(sys.diag * sign);
        let Some(g) = sys.gram else {
            for c in (0..k).step_by(8) {
                _mm256_storeu_ps(po.add(c), _mm256_mul_ps(dv, _mm256_loadu_ps(pv.add(c))));
            }
            return;
        };
        let pg = g.as_ptr();
        let sv = _mm256_set1_ps(sign);
        // G is symmetric: (G v)_f = sum_e v_e G[e][f], so rows of G are read contiguously and a
        // block of 32 outputs stays in four registers over the whole pass.
        let mut c = 0;
        while c + 32 <= k {
            let mut a0 = _mm256_mul_ps(dv, _mm256_loadu_ps(pv.add(c)));
            let mut a1 = _mm256_mul_ps(dv, _mm256_loadu_ps(pv.add(c + 8)));
            let mut a2 = _mm256_mul_ps(dv, _mm256_loadu_ps(pv.add(c + 16)));
            let mut a3 = _mm256_mul_ps(dv, _mm256_loadu_ps(pv.add(c + 24)));
            for e in 0..k {
                let ve = _mm256_mul_ps(sv, _mm256_set1_ps(*pv.add(e)));
                let row = pg.add(e * k + c);
                a0 = _mm256_fmadd_ps(ve, _mm256_loadu_ps(row), a0);
                a1 = _mm256_fmadd_ps(ve, _mm256_loadu_ps(row.add(8)), a1);
                a2 = _mm256_fmadd_ps(ve, _mm256_loadu_ps(row.add(16)), a2);
                a3 = _mm256_fmadd_ps(ve, _mm256_loadu_ps(row.add(24)), a3);
            }
            _mm256_storeu_ps(po.add(c), a0);
            _mm256_storeu_ps(po.add(c + 8), a1);
            _mm256_storeu_ps(po.add(c + 16), a2);
            _mm256_storeu_ps(po.add(c + 24), a3);
            c += 32;
        }
        while c < k {
            let mut a0 = _mm256_mul_ps(dv, _mm256_loadu_ps(pv.add(c)));
            for e in 0..k {
                let ve = _mm256_mul_ps(sv, _mm256_set1_ps(*pv.add(e)));
                a0 = _mm256_fmadd_ps(ve, _mm256_loadu_ps(pg.add(e * k + c)), a0);
            }
            _mm256_storeu_ps(po.add(c), a0);
            c += 8;
        }
    }
}

/// out += sum_j coef_j y_j over the row's interactions, coef_j from d_j = <y_j, v> by `pass`.
#[inline(always)]
unsafe fn interactions(sys: &RowSystem<'_>, v: &[f32], out: &mut [f32], pass: Pass) {
    // SAFETY: the caller guarantees what the function documents: AVX2 and FMA, and
    // slices of at least k floats (k a multiple of 8) behind every pointer read.
    unsafe {
        let k = sys.k;
        let n = sys.cols.len();
        let pv = v.as_ptr();
        let po = out.as_mut_ptr();
        let py = sys.y.as_ptr();
        let mut j = 0;
        while j + GROUP <= n {
            for a in 0..GROUP {
                sys.prefetch_ahead(j + a);
            }
            let r0 = py.add(*sys.cols.get_unchecked(j) as usize * k);
            let r1 = py.add(*sys.cols.get_unchecked(j + 1) as usize * k);
            let r2 = py.add(*sys.cols.get_unchecked(j + 2) as usize * k);
            let r3 = py.add(*sys.cols.get_unchecked(j + 3) as usize * k);
            let (mut d0, mut d1, mut d2, mut d3) = (
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
                _mm256_setzero_ps(),
            );
            for c in (0..k).step_by(8) {
                let vc = _mm256_loadu_ps(pv.add(c));
                d0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0.add(c)), vc, d0);
                d1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1.add(c)), vc, d1);
                d2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2.add(c)), vc, d2);
                d3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3.add(c)), vc, d3);
            }
            let mut d = [0f32; GROUP];
            _mm_storeu_ps(d.as_mut_ptr(), hsum4(d0, d1, d2, d3));
            let mut coef = [0f32; GROUP];
            for a in 0..GROUP {
                let w = sys.weight(j + a) * d[a];
                coef[a] = match pass {
                    Pass::Residual => sys.target(j + a) - w,
                    Pass::Product => w,
                };
            }
            let (c0, c1, c2, c3) = (
                _mm256_set1_ps(coef[0]),
                _mm256_set1_ps(coef[1]),
                _mm256_set1_ps(coef[2]),
                _mm256_set1_ps(coef[3]),
            );
            for c in (0..k).step_by(8) {
                let mut o = _mm256_loadu_ps(po.add(c));
                o = _mm256_fmadd_ps(c0, _mm256_loadu_ps(r0.add(c)), o);
                o = _mm256_fmadd_ps(c1, _mm256_loadu_ps(r1.add(c)), o);
                o = _mm256_fmadd_ps(c2, _mm256_loadu_ps(r2.add(c)), o);
                o = _mm256_fmadd_ps(c3, _mm256_loadu_ps(r3.add(c)), o);
                _mm256_storeu_ps(po.add(c), o);
            }
            j += GROUP;
        }
        while j < n {
            let yj = sys.row(j);
            let w = sys.weight(j) * dot(yj, v, k);
            let coef = match pass {
                Pass::Residual => sys.target(j) - w,
                Pass::Product => w,
            };
            axpy(coef, yj, out, k);
            j += 1;
        }
    }
}

/// `steps` warm-started conjugate-gradient steps on `sys` from `x`; the same algorithm as the
/// portable `cg_body`.
///
/// # Safety
/// The CPU must support AVX2 and FMA, `sys.k` must be a multiple of 8, `x` must hold `sys.k`
/// floats and every column of `sys` must index a row of `sys.y`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn cg(sys: &RowSystem<'_>, x: &mut [f32], steps: usize, s: &mut Scratch) {
    // SAFETY: the caller guarantees what the function documents: AVX2 and FMA, and
    // slices of at least k floats (k a multiple of 8) behind every pointer read.
    unsafe {
        let k = sys.k;
        debug_assert!(k.is_multiple_of(8) && x.len() == k);
        debug_assert!(sys
            .cols
            .iter()
            .all(|&c| (c as usize + 1) * k <= sys.y.len()));
        s.r.resize(k, 0.0);
        s.p.resize(k, 0.0);
        s.ap.resize(k, 0.0);
        let (r, p, ap) = (&mut s.r[..], &mut s.p[..], &mut s.ap[..]);
        // r = b - A x.
        shared_times(sys, x, r, -1.0);
        interactions(sys, x, r, Pass::Residual);
        p.copy_from_slice(r);
        let mut rs = dot(r, r, k);
        for _ in 0..steps {
            if rs < 1e-20 {
                break;
            }
            shared_times(sys, p, ap, 1.0);
            interactions(sys, p, ap, Pass::Product);
            let pap = dot(p, ap, k);
            if pap <= 0.0 || !pap.is_finite() {
                break;
            }
            let alpha = rs / pap;
            axpy(alpha, p, x, k);
            axpy(-alpha, ap, r, k);
            let rs_new = dot(r, r, k);
            let beta = _mm256_set1_ps(rs_new / rs);
            for c in (0..k).step_by(8) {
                let pc = p.as_mut_ptr().add(c);
                _mm256_storeu_ps(
                    pc,
                    _mm256_fmadd_ps(
                        beta,
                        _mm256_loadu_ps(pc),
                        _mm256_loadu_ps(r.as_ptr().add(c)),
                    ),
                );
            }
            rs = rs_new;
        }
    }
}
