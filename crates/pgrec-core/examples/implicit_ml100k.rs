//! Ranking accuracy of the implicit-feedback algorithms on MovieLens-100K without PostgreSQL,
//! through the same registry the extension uses. Random 80/20 splits (seeds 1-5); positives are
//! ratings >= 4 (passed as positive_threshold unless the params say otherwise); every item the
//! user rated in training is excluded from the ranking; relevant items are the user's test
//! ratings >= 4. Prints precision@10 and ndcg@10 per split and their mean and range (and the
//! test RMSE of models that predict ratings).
//! Usage: cargo run --release --example implicit_ml100k -- <algorithm> [json params] [data dir]

mod common;

use pgrec_core::algo::contract::TrainingData;
use pgrec_core::algo::registry;
use pgrec_core::data::Rating;
use pgrec_core::features::SideFeatures;
use pgrec_core::kernels::Kernels;
use pgrec_core::metrics::{ranking_scores, RankingSummary};
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::topk::top_k;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).cloned().unwrap_or_else(|| "ials".into());
    let mut params: serde_json::Value =
        serde_json::from_str(args.get(2).map(|s| s.as_str()).unwrap_or("{}")).expect("json");
    if params.get("positive_threshold").is_none() && name != "als" && name != "mf" {
        params["positive_threshold"] = serde_json::json!(4.0);
    }
    let dir = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "data/ml-100k".into());
    let data = common::load(&dir, 1);
    let all = data.ratings;
    let (n_users, n_items) = (data.users.len(), data.items.len());
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let splits: u64 = std::env::var("SPLITS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let pool = build_pool(threads).unwrap();
    let kern = Kernels::detect();
    let entry = registry::find(&name).expect("algorithm");
    let mut idx: Vec<usize> = (0..all.len()).collect();
    let mut precisions = Vec::new();
    for seed in 1..=splits {
        idx.sort_unstable();
        idx.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed));
        let (tr, te) = idx.split_at(80_000);
        let mut ratings: Vec<Rating> = tr
            .iter()
            .map(|&j| Rating {
                user: all[j].0,
                item: all[j].1,
                value: all[j].2,
            })
            .collect();
        ratings.sort_by_key(|r| (r.user, r.item));
        let configured = (entry.configure.expect("available"))(&params).expect("params");
        let started = std::time::Instant::now();
        let mut training = pool
            .install(|| {
                configured.start(
                    TrainingData {
                        ratings: ratings.clone(),
                        n_users,
                        n_items,
                        explicit: true,
                        weighted: None,
                        users: SideFeatures::none(0),
                        items: SideFeatures::none(0),
                    },
                    &pool,
                )
            })
            .expect("start");
        let cancel = CancelFlag::new();
        for _ in 0..training.max_steps() {
            let r = training.step(&pool, &cancel).expect("step");
            if std::env::var("VERBOSE").is_ok() {
                eprintln!(
                    "  epoch {} loss {:.4} validation {:?}",
                    r.epoch, r.train_loss, r.validation
                );
            }
            if r.stop {
                break;
            }
        }
        let fitted = training.finish(&pool);
        let rating_model = fitted.target == pgrec_core::train::Target::Rating;
        let m = fitted.model;
        let secs = started.elapsed().as_secs_f64();
        let mut seen = vec![Vec::new(); n_users];
        for r in &ratings {
            seen[r.user as usize].push(r.item);
        }
        let mut rel = vec![Vec::new(); n_users];
        for &j in te {
            let (u, i, r) = all[j];
            if r >= 4.0 {
                rel[u as usize].push(i);
            }
        }
        let mut sum = RankingSummary::default();
        let mut scores = Vec::new();
        for u in 0..n_users {
            if rel[u].is_empty() {
                continue;
            }
            rel[u].sort_unstable();
            seen[u].sort_unstable();
            m.score_items(kern, u as u32, &mut scores);
            let ranked: Vec<u32> = top_k(&scores, 10, &seen[u])
                .into_iter()
                .map(|s| s.index)
                .collect();
            sum.add(ranking_scores(&ranked, &rel[u], 10));
        }
        let s = sum.finish();
        let rmse = if rating_model {
            let pairs: Vec<(f32, f32)> = te
                .iter()
                .map(|&j| (m.predict(kern, all[j].0, all[j].1), all[j].2))
                .collect();
            format!("  test RMSE {:.4}", pgrec_core::metrics::rmse(&pairs))
        } else {
            String::new()
        };
        println!(
            "split {seed}: precision@10 {:.4}  ndcg@10 {:.4}{rmse}  fit {secs:.2}s",
            s.precision, s.ndcg
        );
        precisions.push(s.precision);
    }
    let mean = precisions.iter().sum::<f64>() / precisions.len() as f64;
    let lo = precisions.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = precisions.iter().cloned().fold(0.0, f64::max);
    println!("{name} {params}: precision@10 mean {mean:.4} range {lo:.4}..{hi:.4}");
}
