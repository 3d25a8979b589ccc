//! A trained factor model: global mean, user and item biases, user and item factors.
//! prediction = mean + b_u + b_i + <p_u, q_i>, clipped to the rating range seen in training.

use crate::kernels::Kernels;
use crate::topk::{Scored, TopK};

#[derive(Debug, Clone, PartialEq)]
pub struct FactorModel {
    pub factors: usize,
    pub global_mean: f32,
    /// Predictions are clipped to this range (explicit ratings only).
    pub rating_range: Option<(f32, f32)>,
    pub user_bias: Vec<f32>,
    pub item_bias: Vec<f32>,
    /// Row-major, `factors` values per user.
    pub user_factors: Vec<f32>,
    /// Row-major, `factors` values per item.
    pub item_factors: Vec<f32>,
}

impl FactorModel {
    pub fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    pub fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    #[inline]
    pub fn user(&self, u: u32) -> &[f32] {
        let k = self.factors;
        &self.user_factors[u as usize * k..(u as usize + 1) * k]
    }

    #[inline]
    pub fn item(&self, i: u32) -> &[f32] {
        let k = self.factors;
        &self.item_factors[i as usize * k..(i as usize + 1) * k]
    }

    #[inline]
    pub fn clip(&self, x: f32) -> f32 {
        match self.rating_range {
            Some((lo, hi)) => x.clamp(lo, hi),
            None => x,
        }
    }

    /// Prediction for known indices.
    #[inline]
    pub fn predict(&self, kern: Kernels, u: u32, i: u32) -> f32 {
        let raw = self.global_mean
            + self.user_bias[u as usize]
            + self.item_bias[i as usize]
            + kern.dot(self.user(u), self.item(i));
        self.clip(raw)
    }

    /// Prediction when the user or the item may be unknown: unknown parts contribute nothing
    /// (so an unknown user gets mean + item bias). Used for evaluation on held-out data.
    pub fn predict_partial(&self, kern: Kernels, u: Option<u32>, i: Option<u32>) -> f32 {
        match (u, i) {
            (Some(u), Some(i)) => self.predict(kern, u, i),
            (Some(u), None) => self.clip(self.global_mean + self.user_bias[u as usize]),
            (None, Some(i)) => self.clip(self.global_mean + self.item_bias[i as usize]),
            (None, None) => self.clip(self.global_mean),
        }
    }

    /// Unclipped scores of every item for user `u`, into `out` (ranking order is what matters).
    pub fn score_items(&self, kern: Kernels, u: u32, out: &mut Vec<f32>) {
        out.clear();
        let p = self.user(u);
        let base = self.global_mean + self.user_bias[u as usize];
        let k = self.factors;
        out.extend(
            self.item_factors
                .chunks_exact(k.max(1))
                .zip(&self.item_bias)
                .map(|(q, b)| base + b + if k == 0 { 0.0 } else { kern.dot(p, q) }),
        );
    }

    /// Euclidean norm of every item's factor vector.
    pub fn item_norms(&self, kern: Kernels) -> Vec<f32> {
        (0..self.n_items() as u32)
            .map(|i| crate::kernels::norm(kern, self.item(i)))
            .collect()
    }

    /// The k items most similar to `item` by cosine of their factors, the item itself excluded.
    /// `norms` comes from `item_norms`. Items with a zero vector have no defined cosine and are
    /// skipped.
    pub fn similar_items(&self, kern: Kernels, norms: &[f32], item: u32, k: usize) -> Vec<Scored> {
        let mut top = TopK::new(k);
        let q = self.item(item);
        let nq = norms[item as usize];
        if nq == 0.0 {
            return Vec::new();
        }
        for j in 0..self.n_items() as u32 {
            if j == item || norms[j as usize] == 0.0 {
                continue;
            }
            let c = kern.dot(q, self.item(j)) / (nq * norms[j as usize]);
            top.push(j, c.clamp(-1.0, 1.0));
        }
        top.into_sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> FactorModel {
        FactorModel {
            factors: 2,
            global_mean: 3.0,
            rating_range: Some((1.0, 5.0)),
            user_bias: vec![0.5, -0.5],
            item_bias: vec![0.1, 0.2, 0.0],
            user_factors: vec![1.0, 0.0, 0.0, 1.0],
            item_factors: vec![1.0, 0.0, 2.0, 0.1, -1.0, 0.0],
        }
    }

    #[test]
    fn prediction_is_mean_plus_biases_plus_dot_clipped() {
        let m = tiny();
        let k = Kernels::detect();
        assert!((m.predict(k, 0, 0) - (3.0 + 0.5 + 0.1 + 1.0)).abs() < 1e-6);
        // 3 + 0.5 + 0.2 + 2 = 5.7 is clipped to 5.
        assert_eq!(m.predict(k, 0, 1), 5.0);
        assert!((m.predict_partial(k, None, Some(1)) - 3.2).abs() < 1e-6);
        assert!((m.predict_partial(k, None, None) - 3.0).abs() < 1e-6);
    }

    #[test]
    fn similar_items_are_cosine_without_self() {
        let m = tiny();
        let k = Kernels::detect();
        let norms = m.item_norms(k);
        let s = m.similar_items(k, &norms, 0, 5);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].index, 1);
        assert!((s[0].score - 2.0 / (4.01f32).sqrt()).abs() < 1e-6);
        assert_eq!(s[1].index, 2);
        assert!((s[1].score + 1.0).abs() < 1e-6);
    }
}
