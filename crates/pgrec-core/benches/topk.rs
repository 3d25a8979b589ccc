//! Serving kernels: scoring every item for a user and keeping the top k, and cosine
//! similar-items, on MovieLens-100K-sized and larger catalogues.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pgrec_core::kernels::{f16_bits, Kernels};
use pgrec_core::model::FactorModel;
use pgrec_core::parallel::CancelFlag;
use pgrec_core::quant::{quantize, quantize4, I4Rows, I8Rows, ScanRows};
use pgrec_core::serving::{recommend_batch, recommend_scan};
use pgrec_core::similarity::{embedding_neighbours_scan, Shrinkage};
use pgrec_core::topk::{top_k, Skip};
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
    for &(n_items, k) in &[
        (1682usize, 128usize),
        (27_000, 64),
        (100_000, 64),
        (767_292, 64),
    ] {
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
        // The serving path: the unit scan, its f16 variant, and one batch of 64 users.
        let view = m.view();
        let half = f16_bits(&m.item_factors);
        let (codes, scales) = quantize(&m.item_factors, k);
        let int8 = ScanRows::I8(I8Rows {
            codes: &codes,
            scales: &scales,
        });
        // 4-bit codes with a short list of 40 re-scored (approximate: an IVF index's scan of a
        // catalog its lists cannot prune)
        let (codes4, scales4) = quantize4(&m.item_factors, k);
        let units4 = pgrec_core::quant::unit_scales(&scales4, &norms);
        let int4 = ScanRows::I4 {
            rows: I4Rows {
                codes: &codes4,
                scales: &scales4,
                unit_scales: &units4,
            },
            shortlist: 40,
        };
        for (name, rows) in [
            ("scan_f32_top10", ScanRows::F32),
            ("scan_f16_top10", ScanRows::F16(&half)),
            ("scan_int8_top10", int8),
            ("scan_int4_short40_top10", int4),
        ] {
            g.bench_with_input(
                BenchmarkId::new(name, format!("{n_items}x{k}")),
                &n_items,
                |b, _| b.iter(|| recommend_scan(&view, kern, 3, 10, &[1, 2, 3], false, rows)),
            );
        }
        // similar_items as served: cosine shrunk by support, f32 vectors, f16 and int8 copies.
        let support: Vec<f32> = (0..n_items).map(|i| (i % 97) as f32).collect();
        let shrink = Shrinkage {
            support: &support,
            shrinkage: 25.0,
        };
        for (name, rows) in [
            ("similar_scan_f32_top10", ScanRows::F32),
            ("similar_scan_f16_top10", ScanRows::F16(&half)),
            ("similar_scan_int8_top10", int8),
            ("similar_scan_int4_short40_top10", int4),
        ] {
            g.bench_with_input(
                BenchmarkId::new(name, format!("{n_items}x{k}")),
                &n_items,
                |b, _| {
                    b.iter(|| {
                        embedding_neighbours_scan(
                            &view,
                            kern,
                            &norms,
                            Some(shrink),
                            7,
                            10,
                            Skip::NONE,
                            false,
                            rows,
                        )
                    })
                },
            );
        }
        let big = random_model(64, n_items, k);
        let users: Vec<u32> = (0..64).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("pool");
        g.bench_with_input(
            BenchmarkId::new("batch_of_64_top10", format!("{n_items}x{k}")),
            &n_items,
            |b, _| {
                b.iter(|| {
                    pool.install(|| {
                        recommend_batch(
                            &big.view(),
                            kern,
                            &users,
                            10,
                            None,
                            Skip::NONE,
                            &CancelFlag::new(),
                        )
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
