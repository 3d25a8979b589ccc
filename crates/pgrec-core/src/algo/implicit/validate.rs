//! Ranking validation during training: ndcg@k of held-out positives, for the models that are
//! trained for ranking (ials, bpr) and stop early on it. Only a fixed sample of users is scored
//! per measurement, so a measurement costs the same on MovieLens-100K and on 20M interactions.

use rayon::prelude::*;
use rayon::ThreadPool;

use crate::algo::linear::sparse::Csr;
use crate::data::Rating;
use crate::kernels::Kernels;
use crate::metrics::ranking_scores;
use crate::rng::unit_hash;
use crate::topk::top_k;

/// The users and held-out positives a measurement scores.
pub struct RankingValidation {
    users: Vec<u32>,
    /// Sorted held-out positives of each user in `users`.
    relevant: Vec<Vec<u32>>,
    k: usize,
}

/// A model's parts that ranking needs: score(u, i) = <x_u, y_i> + item_bias_i.
pub struct Scores<'a> {
    pub user_factors: &'a [f32],
    pub item_factors: &'a [f32],
    pub item_bias: Option<&'a [f32]>,
    pub factors: usize,
}

impl RankingValidation {
    /// `held_out` are the validation positives (any order); at most `max_users` of their users
    /// are kept, chosen by hash of (seed, user) so the choice never depends on row order.
    pub fn new(held_out: &[Rating], max_users: usize, seed: u64, k: usize) -> Self {
        let mut by_user: Vec<(u32, u32)> = held_out.iter().map(|r| (r.user, r.item)).collect();
        by_user.sort_unstable();
        by_user.dedup();
        let mut users: Vec<u32> = by_user.iter().map(|p| p.0).collect();
        users.dedup();
        if users.len() > max_users {
            users.sort_by(|a, b| {
                unit_hash(seed, *a as u64, 0x7a11)
                    .total_cmp(&unit_hash(seed, *b as u64, 0x7a11))
                    .then(a.cmp(b))
            });
            users.truncate(max_users);
            users.sort_unstable();
        }
        let relevant = users
            .iter()
            .map(|u| {
                let start = by_user.partition_point(|p| p.0 < *u);
                let end = by_user.partition_point(|p| p.0 <= *u);
                by_user[start..end].iter().map(|p| p.1).collect()
            })
            .collect();
        Self { users, relevant, k }
    }

    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    /// Mean ndcg@k over the sampled users, ranking every item the user has not seen in
    /// training (`seen`: the training rows by user). Per-user values are summed in user order,
    /// so the result does not depend on the pool size.
    pub fn ndcg(&self, pool: &ThreadPool, model: &Scores<'_>, seen: &Csr) -> f64 {
        if self.users.is_empty() {
            return 0.0;
        }
        let kern = Kernels::detect();
        let k = model.factors;
        let n_items = model.item_factors.len() / k.max(1);
        let per_user: Vec<f64> = pool.install(|| {
            self.users
                .par_iter()
                .zip(&self.relevant)
                .map_init(Vec::new, |scores, (&u, relevant)| {
                    let x = &model.user_factors[u as usize * k..(u as usize + 1) * k];
                    scores.clear();
                    scores.extend((0..n_items).map(|i| {
                        let b = model.item_bias.map_or(0.0, |b| b[i]);
                        b + kern.dot(x, &model.item_factors[i * k..(i + 1) * k])
                    }));
                    let exclude = if (u as usize) < seen.n_rows() {
                        seen.row(u as usize).0
                    } else {
                        &[]
                    };
                    let ranked: Vec<u32> = top_k(scores, self.k, exclude)
                        .into_iter()
                        .map(|s| s.index)
                        .collect();
                    ranking_scores(&ranked, relevant, self.k).ndcg
                })
                .collect()
        });
        per_user.iter().sum::<f64>() / per_user.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::build_pool;

    fn r(user: u32, item: u32) -> Rating {
        Rating {
            user,
            item,
            value: 1.0,
        }
    }

    /// Two users, four items, one factor: user 0 likes high item values, user 1 low ones.
    #[test]
    fn ndcg_rewards_ranking_the_held_out_item_first() {
        let items = [4.0f32, 3.0, 2.0, 1.0];
        let seen = Csr::by_user(2, &[r(0, 0), r(1, 3)]);
        let v = RankingValidation::new(&[r(0, 1), r(1, 2)], 10, 1, 2);
        assert_eq!(v.n_users(), 2);
        let pool = build_pool(2).unwrap();
        let good = Scores {
            user_factors: &[1.0, -1.0],
            item_factors: &items,
            item_bias: None,
            factors: 1,
        };
        // Seen items are skipped, so each user's held-out item ranks first.
        assert!((v.ndcg(&pool, &good, &seen) - 1.0).abs() < 1e-12);
        let bad = Scores {
            user_factors: &[-1.0, 1.0],
            ..good
        };
        // User 0 ranks items 3, 2 (miss), user 1 ranks 0, 1 (miss).
        assert_eq!(v.ndcg(&pool, &bad, &seen), 0.0);
        // An item bias can overrule the factors.
        let biased = Scores {
            item_bias: Some(&[0.0, 10.0, 10.0, 0.0]),
            ..bad
        };
        let got = v.ndcg(&pool, &biased, &seen);
        assert!(got > 0.6 && got < 1.0, "{got}");
    }

    #[test]
    fn the_user_sample_is_capped_and_stable() {
        let held: Vec<Rating> = (0..100).map(|u| r(u, u % 7)).collect();
        let a = RankingValidation::new(&held, 10, 5, 10);
        let mut shuffled = held.clone();
        shuffled.reverse();
        let b = RankingValidation::new(&shuffled, 10, 5, 10);
        assert_eq!(a.n_users(), 10);
        assert_eq!(a.users, b.users);
        assert_ne!(a.users, (0..10).collect::<Vec<u32>>());
    }
}
