//! Serving kernels: scoring every item for a user and keeping the top k, and cosine
//! similar-items, on MovieLens-100K-sized and larger catalogues.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pgrec_core::kernels::Kernels;
use pgrec_core::model::FactorModel;
use pgrec_core::topk::top_k;
use rand::{Rng, SeedableRng};

fn random_model(n_users: usize, n_items: usize, k: usize) -> FactorModel {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
    FactorModel {
        factors: k,
        global_mean: 3.5,
        rating_range: Some((1.0, 5.0)),
        user_bias: (0..n_users).map(|_| rng.gen_range(-0.5..0.5)).collect(),
        item_bias: (0..n_items).map(|_| rng.gen_range(-0.5..0.5)).collect(),
        user_factors: (0..n_users * k).map(|_| rng.gen_range(-0.1..0.1)).collect(),
        item_factors: (0..n_items * k).map(|_| rng.gen_range(-0.1..0.1)).collect(),
        head: None,
    }
}

fn bench(c: &mut Criterion) {
    let kern = Kernels::detect();
    let mut g = c.benchmark_group("serving");
    for &(n_items, k) in &[(1682usize, 128usize), (27_000, 64), (100_000, 64)] {
        let m = random_model(10, n_items, k);
        let norms = m.item_norms(kern);
        let mut scores = Vec::new();
        g.bench_with_input(
            BenchmarkId::new("recommend_top10", format!("{n_items}x{k}")),
            &n_items,
            |b, _| {
                b.iter(|| {
                    m.score_items(kern, 3, &mut scores);
                    top_k(&scores, 10, &[1, 2, 3])
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("similar_items_top10", format!("{n_items}x{k}")),
            &n_items,
            |b, _| b.iter(|| m.similar_items(kern, &norms, 7, 10)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
