//! What the ranking algorithms (ials, bpr) share: which rows are positives, the held-out
//! positives that early stopping measures ndcg@10 on, and the rows each user has seen.

use rayon::ThreadPool;

use crate::algo::linear::solve::SEEN_NOT_POSITIVE;
use crate::algo::linear::sparse::Csr;
use crate::data::{split_validation, Rating};
use crate::error::{CoreError, Result};
use crate::train::{Measurement, Metric};
use validate::{RankingValidation, Scores};

pub mod validate;

/// Cut-off of the validation ranking metric.
pub const VALIDATION_K: usize = 10;
/// Users scored per validation measurement.
pub const VALIDATION_USERS: usize = 2000;

/// The training data of a ranking model, split.
///
/// Memory: when every row is a training positive (no threshold cuts any and nothing is held
/// out), the rows are kept once, as `positives` grouped by user, which also serves as `seen`
/// and gives the source rows back at the end; otherwise the seen rows and the source rows are
/// kept apart.
pub struct ImplicitData {
    /// Training rows grouped by user: the positives and, when asked for (`keep_seen`), the
    /// rows below the threshold with the value [`SEEN_NOT_POSITIVE`].
    pub positives: Csr,
    /// Every training row by user (positives and rows below the threshold), when that is not
    /// `positives`: what ranking skips as already seen.
    seen: Option<Csr>,
    /// Held-out positives, when a validation fraction was asked for.
    pub validation: Option<RankingValidation>,
    /// Every row of the source, sorted by (user, item), when `positives` does not hold them
    /// all.
    all: Option<Vec<Rating>>,
    n_rows: usize,
}

impl ImplicitData {
    /// `ratings` sorted by (user, item). Rows with a value below `threshold` are seen but not
    /// positive (kept among the training rows, marked, when `keep_seen`); a fraction of the
    /// positives (by hash of (seed, user, item)) is held out.
    ///
    /// With `weighted` (one entry per row: weight x value, see `TrainingData::weighted`), the
    /// positives carry it as their value; the threshold still reads the row's own value, and
    /// the source rows kept for the version keep theirs.
    pub fn prepare(
        ratings: Vec<Rating>,
        weighted: Option<Vec<f32>>,
        n_users: usize,
        threshold: Option<f32>,
        keep_seen: bool,
        validation_fraction: f64,
        seed: u64,
    ) -> Result<Self> {
        let is_positive = |r: &Rating| threshold.is_none_or(|t| r.value >= t);
        if let Some(w) = &weighted {
            if w.len() != ratings.len() {
                return Err(CoreError::data("one row weight per row is needed", None));
            }
            if let Some((r, &bad)) = ratings
                .iter()
                .zip(w)
                .find(|(r, &w)| is_positive(r) && !(w.is_finite() && w > 0.0))
            {
                return Err(CoreError::data(
                    format!(
                        "row weight {bad} of user index {} and item index {} is not a positive number",
                        r.user, r.item
                    ),
                    Some("event_weights must be positive, and weight x value must stay finite.".into()),
                ));
            }
        }
        // A row as a training positive: its weighted value when there are row weights.
        let weigh = |i: usize, r: &Rating| match &weighted {
            Some(w) => Rating { value: w[i], ..*r },
            None => *r,
        };
        let n_positive = ratings.iter().filter(|r| is_positive(r)).count();
        if n_positive == 0 {
            return Err(CoreError::data(
                "no positive interactions to train on",
                threshold.map(|t| {
                    format!("Every row is below positive_threshold {t}; lower it or leave it out.")
                }),
            ));
        }
        if let Some(bad) = ratings
            .iter()
            .find(|r| is_positive(r) && (r.value.is_nan() || r.value <= 0.0))
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
        let n_rows = ratings.len();
        if n_positive == n_rows && validation_fraction <= 0.0 {
            if weighted.is_some() {
                let rows: Vec<Rating> = ratings
                    .iter()
                    .enumerate()
                    .map(|(i, r)| weigh(i, r))
                    .collect();
                return Ok(Self {
                    positives: Csr::by_user(n_users, &rows),
                    seen: None,
                    validation: None,
                    all: Some(ratings),
                    n_rows,
                });
            }
            return Ok(Self {
                positives: Csr::by_user(n_users, &ratings),
                seen: None,
                validation: None,
                all: None,
                n_rows,
            });
        }
        let mut positives: Vec<Rating> = ratings
            .iter()
            .enumerate()
            .filter(|(_, r)| is_positive(r))
            .map(|(i, r)| weigh(i, r))
            .collect();
        let n_train = split_validation(&mut positives, validation_fraction, seed);
        let held_out = positives.split_off(n_train);
        positives.sort_unstable_by_key(|r| (r.user, r.item));
        let validation = (!held_out.is_empty())
            .then(|| RankingValidation::new(&held_out, VALIDATION_USERS, seed, VALIDATION_K));
        let mut held: Vec<(u32, u32)> = held_out.iter().map(|r| (r.user, r.item)).collect();
        held.sort_unstable();
        let seen_rows: Vec<Rating> = ratings
            .iter()
            .enumerate()
            .filter(|(_, r)| held.binary_search(&(r.user, r.item)).is_err())
            .map(|(i, r)| {
                if is_positive(r) {
                    weigh(i, r)
                } else if keep_seen {
                    // The seen rows are the training rows, the ones below the threshold marked.
                    Rating {
                        value: SEEN_NOT_POSITIVE,
                        ..*r
                    }
                } else {
                    *r
                }
            })
            .collect();
        if keep_seen {
            return Ok(Self {
                positives: Csr::by_user(n_users, &seen_rows),
                seen: None,
                validation,
                all: Some(ratings),
                n_rows,
            });
        }
        Ok(Self {
            positives: Csr::by_user(n_users, &positives),
            seen: Some(Csr::by_user(n_users, &seen_rows)),
            validation,
            all: Some(ratings),
            n_rows,
        })
    }

    /// Training positives.
    pub fn n_positives(&self) -> usize {
        self.positives
            .values
            .iter()
            .filter(|&&v| v != SEEN_NOT_POSITIVE)
            .count()
    }

    /// Every training row by user: what ranking skips as already seen.
    pub fn seen(&self) -> &Csr {
        self.seen.as_ref().unwrap_or(&self.positives)
    }

    /// Rows held out for validation.
    pub fn n_held_out(&self) -> usize {
        self.n_rows - self.seen().nnz()
    }

    /// Measures ndcg@10 of `scores` on the held-out positives (seen items excluded); None
    /// without held-out positives.
    pub fn validate(&self, pool: &ThreadPool, scores: &Scores<'_>) -> Option<Measurement> {
        let v = self.validation.as_ref()?;
        Some(Measurement {
            metric: Metric::NdcgAt(VALIDATION_K),
            value: v.ndcg(pool, scores, self.seen()),
        })
    }

    /// Every row of the source, sorted by (user, item) (stored as the version's seen items).
    pub fn into_all(self) -> Vec<Rating> {
        match self.all {
            Some(all) => all,
            None => self.positives.to_ratings(),
        }
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
        let d = ImplicitData::prepare(ratings.clone(), None, 2, Some(4.0), false, 0.0, 1).unwrap();
        assert_eq!(d.positives.to_ratings(), [r(0, 0, 5.0), r(1, 1, 4.0)]);
        assert_eq!(d.seen().row(0).0, [0, 1]);
        assert_eq!(d.seen().row(1).0, [1, 2]);
        assert!(d.validation.is_none());
        assert_eq!(d.n_held_out(), 0);
        assert_eq!(d.into_all(), ratings);
        let none = ImplicitData::prepare(ratings, None, 2, Some(6.0), false, 0.0, 1);
        assert!(none.is_err());
    }

    #[test]
    fn held_out_positives_are_neither_trained_nor_seen() {
        let ratings: Vec<Rating> = (0..50u32)
            .flat_map(|u| (0..20u32).map(move |i| r(u, i, 1.0)))
            .collect();
        let d = ImplicitData::prepare(ratings.clone(), None, 50, None, false, 0.2, 7).unwrap();
        let held = ratings.len() - d.positives.nnz();
        assert!(held > 100 && held < 300, "{held}");
        assert_eq!(d.n_held_out(), held);
        assert_eq!(d.seen().nnz(), d.positives.nnz());
        assert!(d.validation.as_ref().is_some_and(|v| v.n_users() > 0));
        assert_eq!(d.into_all(), ratings);
    }

    #[test]
    fn when_every_row_is_a_positive_they_are_kept_once() {
        let ratings = vec![r(0, 1, 1.0), r(0, 3, 2.0), r(2, 0, 1.0)];
        let d = ImplicitData::prepare(ratings.clone(), None, 3, Some(1.0), true, 0.0, 1).unwrap();
        assert!(d.seen.is_none() && d.all.is_none());
        assert_eq!(d.seen().row(0).0, [1, 3]);
        assert_eq!(d.seen().row(1).0, [] as [u32; 0]);
        assert_eq!(d.n_held_out(), 0);
        assert_eq!(d.into_all(), ratings);
    }

    #[test]
    fn kept_seen_rows_are_marked_among_the_training_rows() {
        let ratings = vec![r(0, 0, 5.0), r(0, 1, 2.0), r(1, 1, 4.0), r(1, 2, 3.5)];
        let d = ImplicitData::prepare(ratings.clone(), None, 2, Some(4.0), true, 0.0, 1).unwrap();
        assert_eq!(
            d.positives.to_ratings(),
            [
                r(0, 0, 5.0),
                r(0, 1, SEEN_NOT_POSITIVE),
                r(1, 1, 4.0),
                r(1, 2, SEEN_NOT_POSITIVE)
            ]
        );
        assert_eq!(d.n_positives(), 2);
        assert_eq!(d.seen().row(1).0, [1, 2]);
        assert_eq!(d.n_held_out(), 0);
        assert_eq!(d.into_all(), ratings);
    }

    #[test]
    fn zero_or_negative_values_are_refused() {
        assert!(ImplicitData::prepare(vec![r(0, 0, 0.0)], None, 1, None, false, 0.0, 1).is_err());
        assert!(
            ImplicitData::prepare(vec![r(0, 0, -1.0)], None, 1, Some(-2.0), false, 0.0, 1).is_err()
        );
        // Below the threshold a zero is only seen, which is fine.
        assert!(ImplicitData::prepare(
            vec![r(0, 0, 0.0), r(0, 1, 5.0)],
            None,
            1,
            Some(4.0),
            true,
            0.0,
            1
        )
        .is_ok());
    }

    #[test]
    fn weighted_positives_carry_their_weight_and_the_threshold_reads_the_value() {
        let ratings = vec![r(0, 0, 5.0), r(0, 1, 2.0), r(1, 1, 4.0), r(1, 2, 3.5)];
        let weighted = vec![0.5, 9.0, 3.0, 9.0];
        let d = ImplicitData::prepare(
            ratings.clone(),
            Some(weighted.clone()),
            2,
            Some(4.0),
            true,
            0.0,
            1,
        )
        .unwrap();
        assert_eq!(
            d.positives.to_ratings(),
            [
                r(0, 0, 0.5),
                r(0, 1, SEEN_NOT_POSITIVE),
                r(1, 1, 3.0),
                r(1, 2, SEEN_NOT_POSITIVE)
            ]
        );
        assert_eq!(d.into_all(), ratings);
        // Every row a positive: the positives are weighted, the source rows kept as they are.
        let d = ImplicitData::prepare(
            ratings.clone(),
            Some(weighted.clone()),
            2,
            None,
            false,
            0.0,
            1,
        )
        .unwrap();
        assert_eq!(d.positives.values, weighted);
        assert_eq!(d.into_all(), ratings);
        let d = ImplicitData::prepare(ratings.clone(), Some(weighted), 2, Some(4.0), false, 0.0, 1)
            .unwrap();
        assert_eq!(d.positives.to_ratings(), [r(0, 0, 0.5), r(1, 1, 3.0)]);
        assert_eq!(d.seen().row(0).0, [0, 1]);
        // A zero weight on a positive is refused; below the threshold it is only seen.
        let zero = vec![0.0, 0.0, 1.0, 1.0];
        assert!(
            ImplicitData::prepare(ratings.clone(), Some(zero), 2, Some(4.0), false, 0.0, 1)
                .is_err()
        );
        let below = vec![1.0, 0.0, 1.0, 0.0];
        assert!(ImplicitData::prepare(ratings, Some(below), 2, Some(4.0), false, 0.0, 1).is_ok());
    }
}
