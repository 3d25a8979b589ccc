//! One row's least-squares system and the work space of its solve: what the portable solvers
//! (the parent module) and the AVX2 kernel (`avx2`) share.

use crate::kernels::prefetch;
// The same eight-lane bodies as the vector kernels (inlined into each CPU's build).
use crate::kernels::dot_body as dot;

/// One row's system: the shared part and the row's interactions.
#[derive(Clone, Copy)]
pub struct RowSystem<'a> {
    /// k x k shared matrix (Y^T Y), or None for zero.
    pub gram: Option<&'a [f32]>,
    /// Added to the diagonal.
    pub diag: f32,
    /// The other side's factors, `k` per row.
    pub y: &'a [f32],
    pub k: usize,
    /// Rows of `y` this row interacted with, and the interaction values.
    pub cols: &'a [u32],
    pub values: &'a [f32],
    /// Some(alpha): implicit, w_j = alpha * v_j and b_j = 1 + alpha * v_j for v_j > 0; a value
    /// v_j <= 0 marks a pair seen but not positive, which leaves the loss (w_j = -1 cancels
    /// its share of the Gram matrix, b_j = 0) (see [`SEEN_NOT_POSITIVE`]). None: explicit,
    /// w_j = 1 and b_j = v_j.
    pub alpha: Option<f32>,
}

/// The value that marks an implicit pair as seen but not positive (see [`RowSystem::alpha`]):
/// the pair is neither a positive nor an unobserved zero; it leaves the loss.
pub const SEEN_NOT_POSITIVE: f32 = 0.0;

/// Work space of one solve (reused across the rows of one task).
#[derive(Default)]
pub struct Scratch {
    pub(super) r: Vec<f32>,
    pub(super) p: Vec<f32>,
    pub(super) ap: Vec<f32>,
    pub(super) a: Vec<f32>,
}

// The same eight-lane bodies as the vector kernels (inlined into each CPU's build below).
impl RowSystem<'_> {
    #[inline(always)]
    pub(super) fn row(&self, j: usize) -> &[f32] {
        let c = self.cols[j] as usize * self.k;
        &self.y[c..c + self.k]
    }

    #[inline(always)]
    pub(super) fn weight(&self, j: usize) -> f32 {
        match self.alpha {
            Some(a) if self.values[j] > 0.0 => a * self.values[j],
            Some(_) => -1.0,
            None => 1.0,
        }
    }

    #[inline(always)]
    pub(super) fn target(&self, j: usize) -> f32 {
        match self.alpha {
            Some(a) if self.values[j] > 0.0 => 1.0 + a * self.values[j],
            Some(_) => 0.0,
            None => self.values[j],
        }
    }

    #[inline(always)]
    pub(super) fn prefetch_ahead(&self, j: usize) {
        const AHEAD: usize = 4;
        if let Some(&c) = self.cols.get(j + AHEAD) {
            prefetch(self.y.as_ptr().wrapping_add(c as usize * self.k), self.k);
        }
    }

    /// out = (G + d I) v.
    #[inline(always)]
    pub(super) fn shared_times(&self, v: &[f32], out: &mut [f32]) {
        let k = self.k;
        match self.gram {
            Some(g) => {
                for (f, o) in out.iter_mut().enumerate() {
                    *o = dot(&g[f * k..(f + 1) * k], v) + self.diag * v[f];
                }
            }
            None => {
                for (o, x) in out.iter_mut().zip(v) {
                    *o = self.diag * x;
                }
            }
        }
    }
}
