//! Similar-items quality on MovieLens-100K without PostgreSQL, for one algorithm, under several
//! similarity definitions (the SQL benchmark `benches/similar_items.sql` is the one of record;
//! this one explores). Random 80/20 splits (seeds 1-3); for the 200 most-rated training movies,
//! 10 neighbours each, scored as the share that shares a genre with the movie and, among the
//! users who liked the movie (>= 4) in training, the share who liked the neighbour (>= 4) in the
//! held-out part.
//! Usage: cargo run --release --example similar_ml100k -- <algorithm> [json params] [data dir]

mod common;

use pgrec_core::algo::contract::TrainingData;
use pgrec_core::algo::registry;
use pgrec_core::data::Rating;
use pgrec_core::features::SideFeatures;
use pgrec_core::kernels::Kernels;
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::topk::TopK;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// A named way of listing an item's neighbours.
type Neighbours<'a> = Box<dyn Fn(u32) -> Vec<u32> + 'a>;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).cloned().unwrap_or_else(|| "mf".into());
    let params: serde_json::Value =
        serde_json::from_str(args.get(2).map(|s| s.as_str()).unwrap_or("{}")).expect("json");
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
    let mut idx: Vec<usize> = (0..all.len()).collect();
    let shrinks = [0.0f32, 10.0, 25.0, 50.0, 100.0];
    let mut table: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for seed in 1..=3u64 {
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
            if training.step(&pool, &cancel).expect("step").stop {
                break;
            }
        }
        let m = training.finish(&pool).model;
        let v = m.view();
        // training counts, users per item, liked sets
        let mut count = vec![0f32; n_items];
        let mut raters = vec![Vec::new(); n_items];
        let mut liked_train = vec![Vec::new(); n_items];
        let mut by_user = vec![Vec::new(); n_users];
        for r in &ratings {
            count[r.item as usize] += 1.0;
            raters[r.item as usize].push(r.user);
            by_user[r.user as usize].push(r.item);
            if r.value >= 4.0 {
                liked_train[r.item as usize].push(r.user);
            }
        }
        let mut liked_test = std::collections::HashSet::new();
        for &j in te {
            if all[j].2 >= 4.0 {
                liked_test.insert((all[j].0, all[j].1));
            }
        }
        let mut targets: Vec<u32> = (0..n_items as u32).collect();
        targets.sort_by(|a, b| {
            count[*b as usize]
                .total_cmp(&count[*a as usize])
                .then(a.cmp(b))
        });
        targets.truncate(200);
        let norms = v.item_norms(kern);
        let score = |i: u32, ns: &[u32]| -> (f64, f64) {
            let g = &data.genres_of[i as usize];
            let genre = ns
                .iter()
                .filter(|&&j| data.genres_of[j as usize].iter().any(|x| g.contains(x)))
                .count() as f64
                / ns.len().max(1) as f64;
            let us = &liked_train[i as usize];
            let liked = ns
                .iter()
                .map(|&j| {
                    us.iter().filter(|&&u| liked_test.contains(&(u, j))).count() as f64
                        / us.len().max(1) as f64
                })
                .sum::<f64>()
                / ns.len().max(1) as f64;
            (genre, liked)
        };
        let mut methods: Vec<(String, Neighbours)> = Vec::new();
        for &s in &shrinks {
            let (v, norms, count) = (v, norms.clone(), count.clone());
            methods.push((
                format!("cosine, support shrink {s}"),
                Box::new(move |i| {
                    let mut top = TopK::new(10);
                    for j in 0..v.n_items() as u32 {
                        if j == i || norms[j as usize] == 0.0 {
                            continue;
                        }
                        let c = kern.dot(v.item(i), v.item(j))
                            / (norms[i as usize] * norms[j as usize]);
                        let n = count[j as usize];
                        top.push(j, c * n / (n + s));
                    }
                    top.into_sorted().into_iter().map(|s| s.index).collect()
                }),
            ));
        }
        {
            let (v, count) = (v, count.clone());
            methods.push((
                "dot (basket of one)".into(),
                Box::new(move |i| {
                    let mut top = TopK::new(10);
                    // score of j for a user whose vector is item i's folded basket: for EASE
                    // that is B_ij = item j's vector at position i.
                    for j in 0..v.n_items() as u32 {
                        if j == i || count[j as usize] == 0.0 {
                            continue;
                        }
                        let s = if v.factors == v.n_items() {
                            v.item(j)[i as usize]
                        } else {
                            kern.dot(v.item(i), v.item(j))
                        };
                        top.push(j, s);
                    }
                    top.into_sorted().into_iter().map(|s| s.index).collect()
                }),
            ));
        }
        {
            let (raters, by_user, count) = (raters.clone(), by_user.clone(), count.clone());
            methods.push((
                "co-occurrence cosine".into(),
                Box::new(move |i| {
                    let mut c = vec![0f32; count.len()];
                    for &u in &raters[i as usize] {
                        for &j in &by_user[u as usize] {
                            c[j as usize] += 1.0;
                        }
                    }
                    let mut top = TopK::new(10);
                    for (j, &cj) in c.iter().enumerate() {
                        if j as u32 != i && cj > 0.0 {
                            top.push(j as u32, cj / (count[i as usize] * count[j]).sqrt());
                        }
                    }
                    top.into_sorted().into_iter().map(|s| s.index).collect()
                }),
            ));
        }
        for (mname, f) in &methods {
            let (mut g, mut l) = (0.0, 0.0);
            for &i in &targets {
                let (a, b) = score(i, &f(i));
                g += a;
                l += b;
            }
            let e = (g / 200.0, l / 200.0);
            match table.iter_mut().find(|(n, _)| n == mname) {
                Some((_, v)) => v.push(e),
                None => table.push((mname.clone(), vec![e])),
            }
        }
    }
    println!("{name} {params}");
    for (mname, v) in table {
        let g = v.iter().map(|x| x.0).sum::<f64>() / v.len() as f64;
        let l = v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64;
        println!("  {mname:32} genre {g:.3}  liked {l:.4}");
    }
}
