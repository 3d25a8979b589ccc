//! Training time of `ease` on a synthetic catalog (power-law popularity and activity), every
//! rating one interaction, with peak memory: the closed form's cost grows with the cube of the
//! catalog (Cholesky and the inverse) and its memory with the square.
//! Usage: cargo run --release --example ease_speed -- [items] [users] [ratings] [dump dir]
//! THREADS sets the pool size (default 2). With a dump dir, the interactions are also written
//! there (users.u32, items.u32, shape.txt) for the reference run (benches/ease_numpy.py).

use std::time::Instant;

use pgrec_core::algo::contract::TrainingData;
use pgrec_core::algo::registry;
use pgrec_core::data::merge_sorted_duplicates;
use pgrec_core::features::SideFeatures;
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::synth::{generate, SynthSpec};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let arg = |i: usize, d: usize| -> usize {
        std::env::args()
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let (n_items, n_users, n_ratings) = (arg(1, 20_000), arg(2, 50_000), arg(3, 2_000_000));
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let spec = SynthSpec {
        n_users,
        n_items,
        n_ratings,
        rank: 16,
        noise_std: 0.5,
        user_exponent: 0.8,
        item_exponent: 0.9,
        seed: 42,
    };
    let (mut ratings, _) = generate(&spec);
    ratings.iter_mut().for_each(|r| r.value = 1.0);
    ratings.sort_unstable_by_key(|r| (r.user, r.item));
    merge_sorted_duplicates(&mut ratings);
    if let Some(dir) = std::env::args().nth(4) {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).expect("dump dir");
        let bytes = |f: fn(&pgrec_core::Rating) -> u32| -> Vec<u8> {
            ratings.iter().flat_map(|r| f(r).to_le_bytes()).collect()
        };
        std::fs::write(dir.join("users.u32"), bytes(|r| r.user)).expect("write");
        std::fs::write(dir.join("items.u32"), bytes(|r| r.item)).expect("write");
        std::fs::write(
            dir.join("shape.txt"),
            format!("{n_users} {n_items} {}", ratings.len()),
        )
        .expect("write");
    }
    let pool = build_pool(threads).expect("pool");
    let configured = (registry::find("ease")
        .and_then(|e| e.configure)
        .expect("ease"))(&serde_json::json!({}))
    .expect("params");
    let rows = ratings.len();
    let started = Instant::now();
    let mut training = configured
        .start(
            TrainingData {
                ratings,
                n_users,
                n_items,
                explicit: false,
                weighted: None,
                users: SideFeatures::none(0),
                items: SideFeatures::none(0),
            },
            &pool,
        )
        .expect("start");
    training.step(&pool, &CancelFlag::new()).expect("step");
    let fitted = training.finish(&pool);
    println!(
        "RESULT pgrec ease: {n_items} items x {n_users} users, {rows} interactions, {threads} threads: {:.2} s, peak {:.0} MB (item vectors {} MB)",
        started.elapsed().as_secs_f64(),
        peak_rss_mb(),
        (fitted.model.item_factors.len() * 4) >> 20
    );
}
