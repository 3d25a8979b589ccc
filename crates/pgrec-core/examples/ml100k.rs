//! Accuracy of `mf` on MovieLens-100K without PostgreSQL, for tuning defaults quickly.
//! Usage: cargo run --release --example ml100k -- [path to ml-100k.inter] [json params]
//! Reports test RMSE on the canonical u1 split and on seeded random 80/20 splits (seeds 1-3).

mod common;

use pgrec_core::algo::mf::{fit, MfParams};
use pgrec_core::algo::params::Checked;
use pgrec_core::data::{KeyIndex, Rating};
use pgrec_core::kernels::Kernels;
use pgrec_core::metrics::rmse;
use pgrec_core::parallel::build_pool;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "data/ml-100k/ml-100k.inter".into());
    let params: Checked<MfParams> = Checked::from_json(
        &serde_json::from_str(args.get(2).map(|s| s.as_str()).unwrap_or("{}")).expect("json"),
    )
    .expect("params");
    let rows = common::ratings(&path);
    let pool = build_pool(2).unwrap();
    let run = |train: &[usize], test: &[usize]| -> f64 {
        let (mut users, mut items) = (KeyIndex::new(), KeyIndex::new());
        let ratings: Vec<Rating> = train
            .iter()
            .map(|&j| Rating {
                user: users.intern(rows[j].0).unwrap(),
                item: items.intern(rows[j].1).unwrap(),
                value: rows[j].2,
            })
            .collect();
        let k = Kernels::detect();
        let (m, hist) = fit(ratings, users.len(), items.len(), params.clone(), &pool).unwrap();
        eprintln!("  epochs run: {}", hist.len());
        let pairs: Vec<(f32, f32)> = test
            .iter()
            .map(|&j| {
                (
                    m.predict_partial(k, users.get(&rows[j].0), items.get(&rows[j].1)),
                    rows[j].2,
                )
            })
            .collect();
        rmse(&pairs)
    };
    let t = std::time::Instant::now();
    let all: Vec<usize> = (0..rows.len()).collect();
    let u1 = run(&all[20_000..], &all[..20_000]);
    println!("u1 split: test RMSE {u1:.4}");
    let mut sum = 0.0;
    for seed in 1..=3u64 {
        let mut idx = all.clone();
        idx.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed));
        let r = run(&idx[..80_000], &idx[80_000..]);
        println!("random 80/20 seed {seed}: test RMSE {r:.4}");
        sum += r;
    }
    println!(
        "random 80/20 mean: {:.4}  ({:.2} s total)",
        sum / 3.0,
        t.elapsed().as_secs_f64()
    );
}
