//! What the ranking algorithms (ials, bpr) share: which rows are positives, the held-out
//! positives that early stopping measures ndcg@10 on, and the rows each user has seen.

use crate::data::{split_validation, Rating};
use crate::error::{CoreError, Result};
use crate::sparse::Csr;
use crate::validate::RankingValidation;

/// Cut-off of the validation ranking metric.
pub const VALIDATION_K: usize = 10;
/// Users scored per validation measurement.
pub const VALIDATION_USERS: usize = 2000;

/// The training data of a ranking model, split.
pub struct ImplicitData {
    /// Training positives, sorted by (user, item).
    pub positives: Vec<Rating>,
    /// Every training row (positives and rows below the threshold), by user: what ranking
    /// skips as already seen.
    pub seen: Csr,
    /// Held-out positives, when a validation fraction was asked for.
    pub validation: Option<RankingValidation>,
    /// Every row of the source, sorted by (user, item): stored as the version's seen items.
    pub all: Vec<Rating>,
}

impl ImplicitData {
    /// `ratings` sorted by (user, item). Rows with a value below `threshold` are seen but not
    /// positive; a fraction of the positives (by hash of (seed, user, item)) is held out.
    pub fn prepare(
        ratings: Vec<Rating>,
        n_users: usize,
        threshold: Option<f32>,
        validation_fraction: f64,
        seed: u64,
    ) -> Result<Self> {
        let is_positive = |r: &Rating| threshold.is_none_or(|t| r.value >= t);
        let mut positives: Vec<Rating> = ratings.iter().copied().filter(is_positive).collect();
        if positives.is_empty() {
            return Err(CoreError::data(
                "no positive interactions to train on",
                threshold.map(|t| {
                    format!("Every row is below positive_threshold {t}; lower it or leave it out.")
                }),
            ));
        }
        if let Some(bad) = positives
            .iter()
            .find(|r| r.value.is_nan() || r.value <= 0.0)
        {
            return Err(CoreError::data(
                format!(
                    "interaction values must be positive, got {} (confidence is 1 + alpha * value)",
                    bad.value
                ),
                Some(
                    "Filter the source to positive values, set positive_threshold, or pass rating_col => NULL to count rows."
                        .into(),
                ),
            ));
        }
        let n_train = split_validation(&mut positives, validation_fraction, seed);
        let held_out = positives.split_off(n_train);
        positives.sort_unstable_by_key(|r| (r.user, r.item));
        let validation = (!held_out.is_empty())
            .then(|| RankingValidation::new(&held_out, VALIDATION_USERS, seed, VALIDATION_K));
        let mut held: Vec<(u32, u32)> = held_out.iter().map(|r| (r.user, r.item)).collect();
        held.sort_unstable();
        let seen_rows: Vec<Rating> = ratings
            .iter()
            .copied()
            .filter(|r| held.binary_search(&(r.user, r.item)).is_err())
            .collect();
        Ok(Self {
            seen: Csr::by_user(n_users, &seen_rows),
            positives,
            validation,
            all: ratings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(user: u32, item: u32, value: f32) -> Rating {
        Rating { user, item, value }
    }

    #[test]
    fn rows_below_the_threshold_are_seen_but_not_positive() {
        let ratings = vec![r(0, 0, 5.0), r(0, 1, 2.0), r(1, 1, 4.0), r(1, 2, 3.5)];
        let d = ImplicitData::prepare(ratings.clone(), 2, Some(4.0), 0.0, 1).unwrap();
        assert_eq!(d.positives, [r(0, 0, 5.0), r(1, 1, 4.0)]);
        assert_eq!(d.seen.row(0).0, [0, 1]);
        assert_eq!(d.seen.row(1).0, [1, 2]);
        assert!(d.validation.is_none());
        assert_eq!(d.all, ratings);
        let none = ImplicitData::prepare(ratings, 2, Some(6.0), 0.0, 1);
        assert!(none.is_err());
    }

    #[test]
    fn held_out_positives_are_neither_trained_nor_seen() {
        let ratings: Vec<Rating> = (0..50u32)
            .flat_map(|u| (0..20u32).map(move |i| r(u, i, 1.0)))
            .collect();
        let d = ImplicitData::prepare(ratings.clone(), 50, None, 0.2, 7).unwrap();
        let held = ratings.len() - d.positives.len();
        assert!(held > 100 && held < 300, "{held}");
        assert_eq!(d.seen.nnz(), d.positives.len());
        assert!(d.validation.as_ref().is_some_and(|v| v.n_users() > 0));
    }

    #[test]
    fn zero_or_negative_values_are_refused() {
        assert!(ImplicitData::prepare(vec![r(0, 0, 0.0)], 1, None, 0.0, 1).is_err());
        assert!(ImplicitData::prepare(vec![r(0, 0, -1.0)], 1, Some(-2.0), 0.0, 1).is_err());
    }
}
