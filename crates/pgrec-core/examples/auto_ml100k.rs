//! Test RMSE of an explicit-rating algorithm (or `auto`) on MovieLens-100K without PostgreSQL:
//! the canonical u1-u5 splits (u<k>.test is rows 20,000(k-1)+1 to 20,000k of u.data's order,
//! which ml-100k.inter keeps) and seeded random 80/20 splits (seeds 1-3); test rows of users or
//! items without training rows are left out, as pgrec.evaluate does. Prints each split's RMSE,
//! the algorithm the version would store and its epochs.
//! Usage: cargo run --release --example auto_ml100k -- <algorithm|auto> [json params] [tune trials]

mod common;

use pgrec_core::algo::contract::{Configured, TrainingData};
use pgrec_core::algo::{auto, registry};
use pgrec_core::data::{KeyIndex, Rating};
use pgrec_core::features::SideFeatures;
use pgrec_core::kernels::Kernels;
use pgrec_core::metrics::rmse;
use pgrec_core::parallel::{build_pool, CancelFlag};
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).cloned().unwrap_or_else(|| "auto".into());
    let params: serde_json::Value =
        serde_json::from_str(args.get(2).map(|s| s.as_str()).unwrap_or("{}")).expect("json");
    let tune: Option<usize> = args.get(3).map(|s| s.parse().expect("trials"));
    let rows = common::ratings("data/ml-100k/ml-100k.inter");
    let threads = std::env::var("THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let pool = build_pool(threads).unwrap();
    let configure = |p: &serde_json::Value| -> Box<dyn Configured> {
        if name == auto::NAME {
            return auto::configure(p, tune).expect("params");
        }
        let c = registry::find(&name)
            .and_then(|e| e.configure)
            .expect("algorithm");
        match tune {
            Some(t) => pgrec_core::algo::tune::configure(
                registry::find(&name).map(|e| e.name).unwrap(),
                c,
                p,
                t,
            )
            .expect("params"),
            None => c(p).expect("params"),
        }
    };
    let run = |label: &str, train: &[usize], test: &[usize]| -> f64 {
        let (mut users, mut items) = (KeyIndex::new(), KeyIndex::new());
        let mut ratings: Vec<Rating> = train
            .iter()
            .map(|&j| Rating {
                user: users.intern(rows[j].0).unwrap(),
                item: items.intern(rows[j].1).unwrap(),
                value: rows[j].2,
            })
            .collect();
        ratings.sort_unstable_by_key(|r| (r.user, r.item));
        let (n_users, n_items) = (users.len(), items.len());
        let data = TrainingData {
            ratings,
            n_users,
            n_items,
            explicit: true,
            weighted: None,
            users: SideFeatures::none(n_users),
            items: SideFeatures::none(n_items),
        };
        let started = std::time::Instant::now();
        let mut training = pool
            .install(|| configure(&params).start(data, &pool))
            .expect("start");
        let cancel = CancelFlag::new();
        for _ in 0..training.max_steps() {
            if training.step(&pool, &cancel).expect("step").stop {
                break;
            }
        }
        let fitted = training.finish(&pool);
        let k = Kernels::detect();
        let pairs: Vec<(f32, f32)> = test
            .iter()
            .filter_map(|&j| {
                let (u, i, r) = rows[j];
                Some((fitted.model.predict(k, users.get(&u)?, items.get(&i)?), r))
            })
            .collect();
        let e = rmse(&pairs);
        println!(
            "{label}: RMSE {e:.4}  {}  epochs {}  candidates {}  {:.1} s",
            auto::chosen(&fitted.metrics).unwrap_or(&name),
            fitted.params["epochs"],
            fitted.metrics["auto"]["candidates"],
            started.elapsed().as_secs_f64()
        );
        e
    };
    let all: Vec<usize> = (0..rows.len()).collect();
    let mut folds = Vec::new();
    for k in 1..=5 {
        let (lo, hi) = (20_000 * (k - 1), 20_000 * k);
        let test: Vec<usize> = (lo..hi).collect();
        let train: Vec<usize> = all.iter().copied().filter(|&j| j < lo || j >= hi).collect();
        folds.push(run(&format!("u{k}"), &train, &test));
    }
    let mut random = Vec::new();
    for seed in 1..=3u64 {
        let mut idx = all.clone();
        idx.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed));
        let (tr, te) = idx.split_at(80_000);
        random.push(run(&format!("random {seed}"), tr, te));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "{name} {params}: u1-u5 mean {:.4}, random mean {:.4}",
        mean(&folds),
        mean(&random)
    );
}
