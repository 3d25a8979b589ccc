//! Seconds per epoch of `two_tower`, and the same data written out for the PyTorch reference
//! (benches/torch_two_tower.py), so both train on identical rows and features.
//! Usage: cargo run --release --example neural_speed -- <ml100k | synth:N> [json params] [dump dir]
//! THREADS sets the pool size (default 2). ml100k trains on the rows of seeded split 1 (80%).

mod common;

use std::io::Write;

use pgrec_core::algo::contract::{Configured, TrainingData};
use pgrec_core::algo::neural::TwoTowerParams;
use pgrec_core::algo::params::Checked;
use pgrec_core::data::Rating;
use pgrec_core::features::{FeatureBuilder, FeatureKind, RawValue, SideFeatures};
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::synth::{generate, SynthSpec};
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Synthetic users with one categorical feature and items with two genres and a year.
#[allow(clippy::type_complexity)]
fn synthetic(
    n: usize,
) -> (
    Vec<Rating>,
    SideFeatures,
    SideFeatures,
    Vec<Vec<RawValue>>,
    Vec<Vec<RawValue>>,
) {
    let spec = SynthSpec {
        n_users: (n / 100).max(100),
        n_items: (n / 500).max(50),
        n_ratings: n,
        ..SynthSpec::small(7)
    };
    let (ratings, _) = generate(&spec);
    let user_rows: Vec<Vec<RawValue>> = (0..spec.n_users)
        .map(|u| vec![RawValue::Text(format!("s{}", u % 50))])
        .collect();
    let item_rows: Vec<Vec<RawValue>> = (0..spec.n_items)
        .map(|i| {
            vec![
                RawValue::List(vec![
                    Some(format!("g{}", i % 18)),
                    Some(format!("g{}", (i * 7 + 3) % 18)),
                ]),
                RawValue::Text(format!("{}", 1930 + i % 70)),
            ]
        })
        .collect();
    let mut ub = FeatureBuilder::new(vec![("segment".into(), FeatureKind::Categorical)]);
    for (u, r) in user_rows.iter().enumerate() {
        ub.set(u as u32, r.clone()).unwrap();
    }
    let mut ib = FeatureBuilder::new(vec![
        ("genres".into(), FeatureKind::Multi),
        ("year".into(), FeatureKind::Categorical),
    ]);
    for (i, r) in item_rows.iter().enumerate() {
        ib.set(i as u32, r.clone()).unwrap();
    }
    (
        ratings,
        ub.build(spec.n_users, 1).unwrap(),
        ib.build(spec.n_items, 1).unwrap(),
        user_rows,
        item_rows,
    )
}

/// Writes ratings and the encoded feature ids as TSV: ratings.tsv (user, item, rating),
/// users.tsv / items.tsv (one column per feature; multi-valued ids joined by '|').
fn dump(dir: &str, ratings: &[Rating], users: &SideFeatures, items: &SideFeatures) {
    std::fs::create_dir_all(dir).unwrap();
    let mut w =
        std::io::BufWriter::new(std::fs::File::create(format!("{dir}/ratings.tsv")).unwrap());
    for r in ratings {
        writeln!(w, "{}\t{}\t{}", r.user, r.item, r.value).unwrap();
    }
    for (name, f) in [("users", users), ("items", items)] {
        let mut w =
            std::io::BufWriter::new(std::fs::File::create(format!("{dir}/{name}.tsv")).unwrap());
        let header: Vec<String> = f
            .specs
            .iter()
            .map(|s| format!("{}:{:?}:{}", s.name, s.kind, s.table_rows()))
            .collect();
        writeln!(w, "{}", header.join("\t")).unwrap();
        for e in 0..f.n {
            let cols: Vec<String> = (0..f.specs.len())
                .map(|c| {
                    f.ids(c, e)
                        .iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect();
            writeln!(w, "{}", cols.join("\t")).unwrap();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).cloned().unwrap_or_else(|| "ml100k".into());
    let params = Checked::<TwoTowerParams>::from_json(
        &serde_json::from_str(args.get(2).map(|s| s.as_str()).unwrap_or("{}")).expect("json"),
    )
    .expect("params");
    let (ratings, uf, itf) = if what == "ml100k" {
        let d = common::load("data/ml-100k", params.net.min_count as usize);
        let mut idx: Vec<usize> = (0..d.ratings.len()).collect();
        idx.shuffle(&mut rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1));
        let ratings: Vec<Rating> = idx[..idx.len() * 4 / 5]
            .iter()
            .map(|&j| {
                let (user, item, value) = d.ratings[j];
                Rating { user, item, value }
            })
            .collect();
        (ratings, d.user_features, d.item_features)
    } else {
        let n: usize = what.trim_start_matches("synth:").parse().expect("synth:N");
        let (r, u, i, _, _) = synthetic(n);
        (r, u, i)
    };
    if let Some(dir) = args.get(3) {
        dump(dir, &ratings, &uf, &itf);
    }
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let pool = build_pool(threads).unwrap();
    let n = ratings.len();
    let data = TrainingData {
        ratings,
        n_users: uf.n,
        n_items: itf.n,
        explicit: true,
        weighted: None,
        users: uf,
        items: itf,
    };
    let batch_size = params.net.batch_size;
    let mut t = Box::new(params).start(data, &pool).unwrap();
    let cancel = CancelFlag::new();
    let mut times = Vec::new();
    for _ in 0..t.max_steps() {
        let s = std::time::Instant::now();
        // As the extension runs a step: on a worker of the pool (runner::run), which the
        // step's parallel parts then share.
        let r = pool.install(|| t.step(&pool, &cancel)).unwrap();
        times.push(s.elapsed().as_secs_f64());
        println!(
            "epoch {}: loss {:.4}  {:.3} s",
            r.epoch,
            r.train_loss,
            times.last().unwrap()
        );
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "pgrec two_tower: {n} ratings, {threads} threads, batch {}: {mean:.3} s per epoch (mean of {})",
        batch_size,
        times.len()
    );
}
