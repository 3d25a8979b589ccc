//! Accuracy of `two_tower` on MovieLens-100K without PostgreSQL, for tuning defaults quickly.
//! Usage: cargo run --release --example neural_ml100k -- <mode> [json params] [data dir]
//! ALGO=ncf trains `ncf` instead (its parameters then follow NcfParams). SPLITS=<file> with
//! "seed row_no" lines (the test rows of seeds 1-3) uses those splits instead of the shuffles.
//!   mode "rmse":  test RMSE on seeded random 80/20 splits (seeds 1-3) and item mean cosine
//!   mode "rank":  precision@10 (positives: rating >= 4; seen training items excluded)
//!   mode "cold":  hold out every rating of 10% of the items; RMSE on them vs mean + user bias
//! Features as in the SQL demo: users (age, gender, occupation), items (genres, release_year).

mod common;

use common::Ml100k;
use pgrec_core::algo::contract::TrainingData;
use pgrec_core::algo::registry;
use pgrec_core::data::Rating;
use pgrec_core::features::SideFeatures;
use pgrec_core::kernels::Kernels;
use pgrec_core::metrics::{embedding_health, ranking_scores, rmse, RankingSummary};
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::topk::top_k;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_else(|| "rmse".into());
    let json: serde_json::Value =
        serde_json::from_str(args.get(2).map(|s| s.as_str()).unwrap_or("{}")).expect("json");
    let algorithm = if std::env::var("ALGO").as_deref() == Ok("ncf") {
        "ncf"
    } else {
        "two_tower"
    };
    let configure = registry::find(algorithm).and_then(|e| e.configure).unwrap();
    let min_count = configure(&json)
        .expect("valid params")
        .features()
        .map_or(1, |f| f.min_count);
    let dir = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "data/ml-100k".into());
    let Ml100k {
        ratings: all,
        users,
        items,
        user_features: uf,
        item_features: itf,
        genres_of,
    } = common::load(&dir, min_count);
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let pool = build_pool(threads).unwrap();
    let kern = Kernels::detect();

    let train = |tr: &[(u32, u32, f32)], uf: &SideFeatures, itf: &SideFeatures| {
        let ratings: Vec<Rating> = tr
            .iter()
            .map(|&(user, item, value)| Rating { user, item, value })
            .collect();
        let data = TrainingData {
            ratings,
            n_users: uf.n,
            n_items: itf.n,
            explicit: true,
            weighted: None,
            users: uf.clone(),
            items: itf.clone(),
        };
        let mut t = configure(&json).unwrap().start(data, &pool).unwrap();
        let cancel = CancelFlag::new();
        let started = std::time::Instant::now();
        for _ in 0..t.max_steps() {
            let r = t.step(&pool, &cancel).unwrap();
            if std::env::var("VERBOSE").is_ok() {
                eprintln!(
                    "  epoch {} loss {:.4} val {:?}",
                    r.epoch,
                    r.train_loss,
                    r.validation_rmse()
                );
            }
            if r.stop {
                break;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        (t.finish(&pool).model, secs)
    };
    // SPLITS=<file> of "seed row_no" lines (the test rows, row_no counted from 1 in file order,
    // e.g. exported from ml100k.random_split) replaces the shuffles by those splits.
    let splits: Option<Vec<(u64, usize)>> = std::env::var("SPLITS").ok().map(|f| {
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{f}: {e}"));
        text.lines()
            .map(|l| {
                let mut w = l.split_whitespace().map(|x| x.parse::<usize>().unwrap());
                (w.next().unwrap() as u64, w.next().unwrap())
            })
            .collect()
    });
    let mut idx: Vec<usize> = (0..all.len()).collect();
    let mut total = 0.0;
    for seed in 1..=3u64 {
        idx.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed));
        if let Some(splits) = &splits {
            let mut test = vec![false; all.len()];
            for &(_, row) in splits.iter().filter(|(s, _)| *s == seed) {
                assert!((1..=all.len()).contains(&row), "row_no {row} out of range");
                test[row - 1] = true;
            }
            let n_test = test.iter().filter(|&&t| t).count();
            assert_eq!(
                n_test, 20_000,
                "seed {seed}: a split needs 20,000 test rows"
            );
            idx = (0..all.len()).filter(|&j| !test[j]).collect();
            idx.extend((0..all.len()).filter(|&j| test[j]));
        }
        let pick = |r: &[usize]| r.iter().map(|&j| all[j]).collect::<Vec<_>>();
        match mode.as_str() {
            "rmse" => {
                let (tr, te) = (pick(&idx[..80_000]), pick(&idx[80_000..]));
                let (m, secs) = train(&tr, &uf, &itf);
                let pairs: Vec<(f32, f32)> = te
                    .iter()
                    .map(|&(u, i, r)| (m.predict(kern, u, i), r))
                    .collect();
                let h = embedding_health(&m.item_factors, m.factors, 5000).unwrap();
                let r = rmse(&pairs);
                total += r;
                println!(
                    "seed {seed}: test RMSE {r:.4}  item mean cosine {:.3}  first direction {:.3}  fit {secs:.1}s",
                    h.mean_cosine, h.first_direction_share
                );
            }
            "rank" => {
                let (tr, te) = (pick(&idx[..80_000]), pick(&idx[80_000..]));
                let (m, secs) = train(&tr, &uf, &itf);
                let mut seen = vec![Vec::new(); users.len()];
                for &(u, i, _) in &tr {
                    seen[u as usize].push(i);
                }
                let mut rel = vec![Vec::new(); users.len()];
                for &(u, i, r) in &te {
                    if r >= 4.0 {
                        rel[u as usize].push(i);
                    }
                }
                let mut sum = RankingSummary::default();
                let mut scores = Vec::new();
                for u in 0..users.len() {
                    if rel[u].is_empty() {
                        continue;
                    }
                    seen[u].sort_unstable();
                    rel[u].sort_unstable();
                    m.score_items(kern, u as u32, &mut scores);
                    let top: Vec<u32> = top_k(&scores, 10, &seen[u])
                        .iter()
                        .map(|s| s.index)
                        .collect();
                    sum.add(ranking_scores(&top, &rel[u], 10));
                }
                let s = sum.finish();
                let h = embedding_health(&m.item_factors, m.factors, 5000).unwrap();
                total += s.precision;
                println!(
                    "seed {seed}: precision@10 {:.4} ndcg@10 {:.4}  item mean cosine {:.3}  fit {secs:.1}s",
                    s.precision, s.ndcg, h.mean_cosine
                );
            }
            "cold" => {
                let mut item_ids: Vec<u32> = (0..items.len() as u32).collect();
                item_ids.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(
                    seed + 100,
                ));
                let cold: std::collections::HashSet<u32> =
                    item_ids[..items.len() / 10].iter().copied().collect();
                let tr: Vec<_> = all
                    .iter()
                    .filter(|r| !cold.contains(&r.1))
                    .copied()
                    .collect();
                let te: Vec<_> = all
                    .iter()
                    .filter(|r| cold.contains(&r.1))
                    .copied()
                    .collect();
                let (m, _) = train(&tr, &uf, &itf);
                let pairs: Vec<(f32, f32)> = te
                    .iter()
                    .map(|&(u, i, r)| (m.predict(kern, u, i), r))
                    .collect();
                // Baseline: global mean + user bias (regularised mean offset) from the training rows.
                let mean = tr.iter().map(|r| r.2 as f64).sum::<f64>() / tr.len() as f64;
                let mut acc = vec![(0.0f64, 0usize); users.len()];
                for &(u, _, r) in &tr {
                    acc[u as usize].0 += r as f64 - mean;
                    acc[u as usize].1 += 1;
                }
                let base: Vec<(f32, f32)> = te
                    .iter()
                    .map(|&(u, _, r)| {
                        let (s, n) = acc[u as usize];
                        ((mean + s / (n as f64 + 5.0)) as f32, r)
                    })
                    .collect();
                // Similar items of cold items: share of top-10 neighbours with a common genre.
                let norms = m.item_norms(kern);
                let (mut shared, mut n_pairs, mut rnd, mut n_rnd) =
                    (0usize, 0usize, 0usize, 0usize);
                let share = |a: u32, b: u32| {
                    genres_of[a as usize]
                        .iter()
                        .any(|g| genres_of[b as usize].contains(g))
                };
                let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
                for &c in &cold {
                    for s in m.similar_items(kern, &norms, c, 10) {
                        shared += share(c, s.index) as usize;
                        n_pairs += 1;
                    }
                    for _ in 0..10 {
                        let j = *item_ids.choose(&mut rng).unwrap();
                        if j != c {
                            rnd += share(c, j) as usize;
                            n_rnd += 1;
                        }
                    }
                }
                let r = rmse(&pairs);
                total += r;
                println!(
                    "seed {seed}: cold items {} ratings {}: RMSE {r:.4} vs mean+user bias {:.4}; neighbours sharing a genre {:.3} vs random {:.3}",
                    cold.len(),
                    te.len(),
                    rmse(&base),
                    shared as f64 / n_pairs.max(1) as f64,
                    rnd as f64 / n_rnd.max(1) as f64
                );
            }
            other => panic!("unknown mode {other}"),
        }
    }
    println!("mean over seeds: {:.4}", total / 3.0);
}
