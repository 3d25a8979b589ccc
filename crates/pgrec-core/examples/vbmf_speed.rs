//! Seconds per `vbmf` sweep on a synthetic set (default: 1M ratings, 6,000 users x 4,000
//! items, rank 16), and the test RMSE of every tenth rating after the sweeps.
//! Usage: cargo run --release --example vbmf_speed -- [sweeps] [factors] [ratings]
//! THREADS sets the pool size (default 2).

use std::time::Instant;

use pgrec_core::algo::contract::TrainingData;
use pgrec_core::algo::registry;
use pgrec_core::features::SideFeatures;
use pgrec_core::kernels::Kernels;
use pgrec_core::metrics::rmse;
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::synth::{generate, SynthSpec};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let (sweeps, factors, n_ratings) = (arg(1, 5), arg(2, 16), arg(3, 1_000_000));
    let threads = std::env::var("THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let scale = (n_ratings as f64 / 1e6).sqrt();
    let spec = SynthSpec {
        n_users: (6000.0 * scale) as usize,
        n_items: (4000.0 * scale) as usize,
        n_ratings,
        rank: 16,
        noise_std: 0.7,
        ..SynthSpec::small(3)
    };
    let (all, _) = generate(&spec);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (n, r) in all.into_iter().enumerate() {
        if n % 10 == 0 {
            test.push(r)
        } else {
            train.push(r)
        }
    }
    train.sort_unstable_by_key(|r| (r.user, r.item));
    let data = TrainingData {
        ratings: train,
        n_users: spec.n_users,
        n_items: spec.n_items,
        explicit: true,
        weighted: None,
        users: SideFeatures::none(spec.n_users),
        items: SideFeatures::none(spec.n_items),
    };
    let params = serde_json::json!({"factors": factors, "epochs": sweeps, "threads": threads});
    let configured = (registry::find("vbmf").unwrap().configure.unwrap())(&params).unwrap();
    let pool = build_pool(threads).unwrap();
    let cancel = CancelFlag::new();
    let start = Instant::now();
    let mut training = configured.start(data, &pool).unwrap();
    let setup = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for _ in 0..sweeps {
        training.step(&pool, &cancel).unwrap();
    }
    let per = start.elapsed().as_secs_f64() / sweeps as f64;
    let fitted = training.finish(&pool);
    let k = Kernels::detect();
    let pairs: Vec<(f32, f32)> = test
        .iter()
        .map(|r| (fitted.model.predict(k, r.user, r.item), r.value))
        .collect();
    println!(
        "vbmf {} ratings, {factors} factors, {threads} threads: set-up {setup:.2} s, {per:.3} s/sweep, test RMSE after {sweeps} sweeps {:.4} ({})",
        n_ratings,
        rmse(&pairs),
        fitted.metrics
    );
}
