//! Seeded random streams. Every random decision derives from (seed, purpose, index) so that
//! results never depend on which thread ran what.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

pub type Rng = Xoshiro256PlusPlus;

/// SplitMix64 finaliser: a good 64-bit mixer for hashing small integers.
#[inline]
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A random stream identified by the seed and a few stream coordinates.
pub fn stream(seed: u64, coords: &[u64]) -> Rng {
    let mut h = mix64(seed);
    for &c in coords {
        h = mix64(h ^ c.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    }
    Rng::seed_from_u64(h)
}

/// A uniform number in [0, 1) that depends only on the seed and the coordinates.
pub fn unit_hash(seed: u64, a: u64, b: u64) -> f64 {
    let h = mix64(mix64(seed ^ 0x5851_F42D_4C95_7F2D) ^ mix64(a) ^ mix64(b).rotate_left(17));
    (h >> 11) as f64 / (1u64 << 53) as f64
}
