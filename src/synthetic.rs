//! pgrec.synthetic_ratings: seeded synthetic ratings with a known low-rank structure and noise
//! floor, for tests and benchmarks at any scale without downloads.

use pgrec_core::synth::{generate, SynthSpec};
use pgrx::prelude::*;

use crate::errors::{raise, Code};

#[pg_extern(immutable, parallel_safe, name = "synthetic_ratings")]
fn synthetic_ratings(
    n_users: i32,
    n_items: i32,
    n_ratings: i64,
    rank: default!(i32, 8),
    noise: default!(f32, 0.3),
    seed: default!(i64, 42),
) -> TableIterator<'static, (name!(user_id, i64), name!(item_id, i64), name!(rating, f32))> {
    // Bounds keep every allocation reasonable (a failed allocation would abort the backend).
    if n_users <= 0
        || n_items <= 0
        || !(1..=500_000_000).contains(&n_ratings)
        || !(1..=1024).contains(&rank)
        || (n_users as i64 + n_items as i64) * rank as i64 > 1_000_000_000
        || noise.is_nan()
        || noise < 0.0
    {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "synthetic_ratings needs positive n_users and n_items, 1 <= n_ratings <= 500000000, 1 <= rank <= 1024, (n_users + n_items) * rank <= 1e9 and noise >= 0; got {n_users}, {n_items}, {n_ratings}, {rank}, {noise}"
            ),
            None,
        );
    }
    let spec = SynthSpec {
        n_users: n_users as usize,
        n_items: n_items as usize,
        n_ratings: n_ratings as usize,
        rank: rank as usize,
        noise_std: noise,
        user_exponent: 0.6,
        item_exponent: 0.9,
        seed: seed as u64,
    };
    let (ratings, _) = generate(&spec);
    TableIterator::new(
        ratings
            .into_iter()
            .map(|r| (r.user as i64 + 1, r.item as i64 + 1, r.value)),
    )
}
