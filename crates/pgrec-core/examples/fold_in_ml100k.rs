//! Fold-in quality on MovieLens-100K: users held out of training and then folded in, against the
//! same users trained normally. Random 80/20 split (seeds 1-3); 10% of the users (by hash) are
//! removed from the training rows of the "fold" model and folded in afterwards from their
//! training rows; precision@10 is measured for exactly those users in both models (positives =
//! ratings >= 4, every training row excluded from the ranking). Also times the fold-in of an
//! anonymous basket of 100 items (Gram matrix cached, as serving keeps it).
//! Usage: cargo run --release --example fold_in_ml100k -- <algorithm> [json params] [data dir]

mod common;

use std::sync::OnceLock;

use pgrec_core::algo::contract::TrainingData;
use pgrec_core::algo::fold::{FoldTarget, History};
use pgrec_core::algo::registry;
use pgrec_core::data::Rating;
use pgrec_core::features::SideFeatures;
use pgrec_core::kernels::Kernels;
use pgrec_core::metrics::{ranking_scores, RankingSummary};
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::rng::unit_hash;
use pgrec_core::topk::top_k;
use pgrec_core::FactorModel;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).cloned().unwrap_or_else(|| "ials".into());
    let mut params: serde_json::Value =
        serde_json::from_str(args.get(2).map(|s| s.as_str()).unwrap_or("{}")).expect("json");
    let ranking = name == "ials" || name == "bpr";
    if ranking && params.get("positive_threshold").is_none() {
        params["positive_threshold"] = serde_json::json!(4.0);
    }
    let dir = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "data/ml-100k".into());
    let data = common::load(&dir, 1);
    let all = data.ratings;
    let (n_users, n_items) = (data.users.len(), data.items.len());
    let pool = build_pool(2).unwrap();
    let kern = Kernels::detect();
    let entry = registry::find(&name).expect("algorithm");
    let configure = entry.configure.expect("available");
    // The model and the tensors its fold-in reads.
    let train = |ratings: &[Rating]| -> (FactorModel, Vec<pgrec_core::algo::contract::Tensor>) {
        let mut ratings = ratings.to_vec();
        ratings.sort_by_key(|r| (r.user, r.item));
        let c = configure(&params).expect("params");
        let mut t = c
            .start(
                TrainingData {
                    ratings,
                    n_users,
                    n_items,
                    explicit: true,
                    weighted: None,
                    users: SideFeatures::none(0),
                    items: SideFeatures::none(0),
                },
                &pool,
            )
            .expect("start");
        let cancel = CancelFlag::new();
        for _ in 0..t.max_steps() {
            if t.step(&pool, &cancel).expect("step").stop {
                break;
            }
        }
        let fitted = t.finish(&pool);
        (fitted.model, fitted.tensors)
    };
    let c = configure(&params).expect("params");
    let mut idx: Vec<usize> = (0..all.len()).collect();
    for seed in 1..=3u64 {
        idx.sort_unstable();
        idx.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed));
        let (tr, te) = idx.split_at(80_000);
        let rating = |j: &usize| Rating {
            user: all[*j].0,
            item: all[*j].1,
            value: all[*j].2,
        };
        let train_rows: Vec<Rating> = tr.iter().map(rating).collect();
        let held = |u: u32| unit_hash(seed, u as u64, 0xf01d) < 0.1;
        let without: Vec<Rating> = train_rows
            .iter()
            .copied()
            .filter(|r| !held(r.user))
            .collect();
        let (full, _) = train(&train_rows);
        let (mut folded, learned) = train(&without);
        let gram = OnceLock::new();
        let mut histories: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_users];
        for r in &train_rows {
            histories[r.user as usize].push((r.item, r.value));
        }
        for h in &mut histories {
            h.sort_unstable_by_key(|p| p.0);
        }
        let mut new_users = Vec::new();
        for u in (0..n_users as u32).filter(|&u| held(u)) {
            // The whole history: the algorithm treats rows below its threshold as training did.
            let h = &histories[u as usize];
            let items: Vec<u32> = h.iter().map(|p| p.0).collect();
            let values: Vec<f32> = h.iter().map(|p| p.1).collect();
            let target = FoldTarget {
                model: folded.view(),
                item_gram: &gram,
                learned: &learned,
            };
            new_users.push((
                u,
                c.fold_in(
                    &target,
                    History {
                        items: &items,
                        values: &values,
                        weighted: None,
                    },
                )
                .expect("fold-in supported"),
            ));
        }
        let k = folded.factors;
        for (u, f) in new_users {
            folded.user_bias[u as usize] = f.bias;
            folded.user_factors[u as usize * k..(u as usize + 1) * k].copy_from_slice(&f.factors);
        }
        let mut rel = vec![Vec::new(); n_users];
        for j in te {
            let (u, i, r) = all[*j];
            if r >= 4.0 && held(u) {
                rel[u as usize].push(i);
            }
        }
        for r in &mut rel {
            r.sort_unstable();
        }
        let precision = |m: &FactorModel| {
            let mut sum = RankingSummary::default();
            let mut scores = Vec::new();
            for u in 0..n_users {
                if rel[u].is_empty() {
                    continue;
                }
                let seen: Vec<u32> = histories[u].iter().map(|p| p.0).collect();
                m.score_items(kern, u as u32, &mut scores);
                let ranked: Vec<u32> = top_k(&scores, 10, &seen)
                    .into_iter()
                    .map(|s| s.index)
                    .collect();
                sum.add(ranking_scores(&ranked, &rel[u], 10));
            }
            sum.finish()
        };
        let (a, b) = (precision(&full), precision(&folded));
        // Rating models: RMSE of the held-out users' test ratings.
        let error = |m: &FactorModel| {
            let pairs: Vec<(f32, f32)> = te
                .iter()
                .filter(|j| held(all[**j].0))
                .map(|j| (m.predict(kern, all[*j].0, all[*j].1), all[*j].2))
                .collect();
            pgrec_core::metrics::rmse(&pairs)
        };
        println!(
            "split {seed}: {} held-out users: precision@10 trained {:.4}, folded in {:.4} ({:+.1}%); test RMSE trained {:.4}, folded in {:.4}",
            a.users,
            a.precision,
            b.precision,
            100.0 * (b.precision - a.precision) / a.precision,
            error(&full),
            error(&folded)
        );
        // An anonymous basket of 100 items, the Gram matrix already cached.
        let basket: Vec<u32> = (0..100u32).map(|i| i * 7 % n_items as u32).collect();
        let mut basket = basket;
        basket.sort_unstable();
        basket.dedup();
        let values = vec![if ranking { 1.0 } else { 5.0 }; basket.len()];
        let target = FoldTarget {
            model: folded.view(),
            item_gram: &gram,
            learned: &learned,
        };
        let runs = 200;
        let started = std::time::Instant::now();
        for _ in 0..runs {
            let f = c
                .fold_in(
                    &target,
                    History {
                        items: &basket,
                        values: &values,
                        weighted: None,
                    },
                )
                .expect("fold-in");
            let scores: Vec<f32> = (0..n_items as u32)
                .map(|i| folded.item_bias[i as usize] + kern.dot(&f.factors, folded.item(i)))
                .collect();
            std::hint::black_box(top_k(&scores, 10, &basket));
        }
        println!(
            "  basket of {} items: fold-in + top-10 in {:.3} ms",
            basket.len(),
            started.elapsed().as_secs_f64() * 1000.0 / runs as f64
        );
    }
}
