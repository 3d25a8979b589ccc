//! Seeded synthetic ratings with a known answer: power-law user activity and item popularity,
//! ratings generated from a known low-rank model plus Gaussian noise, so the best achievable
//! RMSE (the noise floor) is known.

use rand::Rng as _;
use rand_distr::{Distribution, Normal};

use crate::data::Rating;
use crate::rng::stream;

#[derive(Debug, Clone)]
pub struct SynthSpec {
    pub n_users: usize,
    pub n_items: usize,
    pub n_ratings: usize,
    pub rank: usize,
    /// Standard deviation of the noise added to every rating: the RMSE floor.
    pub noise_std: f32,
    /// Zipf exponents of user activity and item popularity.
    pub user_exponent: f64,
    pub item_exponent: f64,
    pub seed: u64,
}

impl SynthSpec {
    /// The shape of MovieLens-20M: 138k users, 27k items, 20M ratings.
    pub fn ml20m_shape(seed: u64) -> Self {
        Self {
            n_users: 138_493,
            n_items: 26_744,
            n_ratings: 20_000_000,
            rank: 16,
            noise_std: 0.5,
            user_exponent: 0.6,
            item_exponent: 0.9,
            seed,
        }
    }

    pub fn small(seed: u64) -> Self {
        Self {
            n_users: 2_000,
            n_items: 1_000,
            n_ratings: 200_000,
            rank: 8,
            noise_std: 0.3,
            user_exponent: 0.5,
            item_exponent: 0.7,
            seed,
        }
    }
}

/// The generating model, to compare what was learned against.
pub struct SynthTruth {
    pub mean: f32,
    pub user_bias: Vec<f32>,
    pub item_bias: Vec<f32>,
    pub user_factors: Vec<f32>,
    pub item_factors: Vec<f32>,
}

impl SynthTruth {
    pub fn rating(&self, rank: usize, u: usize, i: usize) -> f32 {
        let p = &self.user_factors[u * rank..(u + 1) * rank];
        let q = &self.item_factors[i * rank..(i + 1) * rank];
        self.mean
            + self.user_bias[u]
            + self.item_bias[i]
            + p.iter().zip(q).map(|(a, b)| a * b).sum::<f32>()
    }
}

/// Cumulative Zipf weights over `n` ranks, in a random rank order per seed.
fn zipf_cdf(n: usize, exponent: f64) -> Vec<f64> {
    let mut acc = 0.0;
    (0..n)
        .map(|r| {
            acc += 1.0 / ((r + 1) as f64).powf(exponent);
            acc
        })
        .collect()
}

fn sample(cdf: &[f64], x: f64) -> usize {
    let target = x * cdf[cdf.len() - 1];
    cdf.partition_point(|&c| c < target).min(cdf.len() - 1)
}

/// Generates the ratings (unique (user, item) pairs, in random order) and the truth behind them.
/// Users and items are numbered so that index 0 is not always the most active one.
pub fn generate(spec: &SynthSpec) -> (Vec<Rating>, SynthTruth) {
    let k = spec.rank.max(1);
    let mut rng = stream(spec.seed, &[0x5147, 0]);
    let scale = (1.0 / k as f32).sqrt();
    let nf = Normal::new(0.0f32, scale).expect("valid std");
    let nb = Normal::new(0.0f32, 0.3).expect("valid std");
    let truth = SynthTruth {
        mean: 3.5,
        user_bias: (0..spec.n_users).map(|_| nb.sample(&mut rng)).collect(),
        item_bias: (0..spec.n_items).map(|_| nb.sample(&mut rng)).collect(),
        user_factors: (0..spec.n_users * k).map(|_| nf.sample(&mut rng)).collect(),
        item_factors: (0..spec.n_items * k).map(|_| nf.sample(&mut rng)).collect(),
    };
    let user_cdf = zipf_cdf(spec.n_users, spec.user_exponent);
    let item_cdf = zipf_cdf(spec.n_items, spec.item_exponent);
    // A fixed scramble maps popularity ranks to indices.
    let scramble = |r: usize, n: usize, salt: u64| -> usize {
        let m = crate::rng::mix64(spec.seed ^ salt);
        // Multiply by an odd number modulo n's power-of-two cover, rejecting out-of-range values.
        let mut x = r as u64;
        let cover = (n as u64).next_power_of_two();
        loop {
            x = (x.wrapping_mul(m | 1).wrapping_add(m >> 7)) & (cover - 1);
            if (x as usize) < n {
                return x as usize;
            }
        }
    };
    let noise = Normal::new(0.0f32, spec.noise_std.max(0.0)).expect("valid std");
    let target = spec.n_ratings.min(spec.n_users * spec.n_items);
    let mut seen = std::collections::HashSet::with_capacity(target * 2);
    let mut out = Vec::with_capacity(target);
    let mut attempts = 0usize;
    while out.len() < target && attempts < target * 20 {
        attempts += 1;
        let u = scramble(sample(&user_cdf, rng.gen::<f64>()), spec.n_users, 11);
        let i = scramble(sample(&item_cdf, rng.gen::<f64>()), spec.n_items, 13);
        if !seen.insert(((u as u64) << 32) | i as u64) {
            continue;
        }
        let value = truth.rating(k, u, i) + noise.sample(&mut rng);
        out.push(Rating {
            user: u as u32,
            item: i as u32,
            value,
        });
    }
    (out, truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_pairs_and_power_law() {
        let (r, _) = generate(&SynthSpec::small(1));
        assert_eq!(r.len(), 200_000);
        let mut keys: Vec<u64> = r
            .iter()
            .map(|x| ((x.user as u64) << 32) | x.item as u64)
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), r.len());
        let mut per_item = vec![0usize; 1000];
        for x in &r {
            per_item[x.item as usize] += 1;
        }
        per_item.sort_unstable_by(|a, b| b.cmp(a));
        // The most popular item is far more popular than the median one.
        assert!(
            per_item[0] > 5 * per_item[500],
            "{} vs {}",
            per_item[0],
            per_item[500]
        );
    }

    #[test]
    fn same_seed_same_data() {
        let a = generate(&SynthSpec::small(5)).0;
        let b = generate(&SynthSpec::small(5)).0;
        assert_eq!(a, b);
        let c = generate(&SynthSpec::small(6)).0;
        assert_ne!(a, c);
    }
}
