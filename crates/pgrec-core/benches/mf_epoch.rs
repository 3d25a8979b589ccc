//! One SGD epoch of `mf` on a synthetic ML-20M-shaped set (138k users, 27k items, 20M ratings,
//! power-law popularity) at 64 factors and 2 threads, side by side with LIBMF (the `libmf`
//! crate) at the same factors and threads, plus the test RMSE each reaches.
//!
//!   cargo bench -p pgrec-core --bench mf_epoch
//!   PGREC_BENCH_RATINGS=2000000 cargo bench -p pgrec-core --bench mf_epoch   (smaller, faster)

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use pgrec_core::algo::mf::{DataShape, MfParams, MfTrainer};
use pgrec_core::algo::params::Checked;
use pgrec_core::data::Rating;
use pgrec_core::kernels::Kernels;
use pgrec_core::metrics::rmse;
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::synth::{generate, SynthSpec};
use pgrec_core::train::Step;
use serde_json::json;

const FACTORS: usize = 64;
const THREADS_DEFAULT: usize = 2;

/// Threads for both libraries: PGREC_BENCH_THREADS, default 2.
fn threads() -> usize {
    std::env::var("PGREC_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(THREADS_DEFAULT)
}
const QUALITY_EPOCHS: usize = 20;

struct Data {
    spec: SynthSpec,
    train: Vec<Rating>,
    test: Vec<Rating>,
    floor: f64,
}

fn data() -> Data {
    let mut spec = SynthSpec::ml20m_shape(2024);
    if let Some(n) = std::env::var("PGREC_BENCH_RATINGS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        spec.n_ratings = n;
    }
    let t = Instant::now();
    let (mut all, truth) = generate(&spec);
    // Every 50th rating is held out.
    let test: Vec<Rating> = all.iter().step_by(50).copied().collect();
    let mut i = 0usize;
    all.retain(|_| {
        i += 1;
        !(i - 1).is_multiple_of(50)
    });
    let floor = rmse(
        &test
            .iter()
            .map(|r| {
                (
                    truth.rating(spec.rank, r.user as usize, r.item as usize),
                    r.value,
                )
            })
            .collect::<Vec<_>>(),
    );
    eprintln!(
        "data: {} train / {} test ratings, {} users, {} items, noise floor RMSE {floor:.4} ({:.1} s to generate)",
        all.len(),
        test.len(),
        spec.n_users,
        spec.n_items,
        t.elapsed().as_secs_f64()
    );
    Data {
        spec,
        train: all,
        test,
        floor,
    }
}

/// pgrec's defaults at the benchmark's factors and threads, with the defaults that depend on
/// the data set as `pgrec.train` sets them; PGREC_BENCH_PARAMS (a JSON object) overrides more,
/// e.g. '{"implicit": false, "regularization": 0.05}'.
fn pgrec_params(epochs: usize, d: &Data) -> Checked<MfParams> {
    let mut p = json!({"factors": FACTORS, "epochs": epochs, "threads": threads()});
    if let Some(extra) = std::env::var("PGREC_BENCH_PARAMS")
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
    {
        for (k, v) in extra.as_object().into_iter().flatten() {
            p[k] = v.clone();
        }
    }
    let mut params = Checked::<MfParams>::from_json(&p)
        .expect("valid params")
        .into_inner();
    let shape = DataShape::of(&d.train, d.spec.n_users, d.spec.n_items);
    let adapted = params.adapt_to(&shape, |k| p.get(k).is_some());
    eprintln!(
        "data-dependent defaults: {}",
        serde_json::Value::Object(adapted)
    );
    Checked::new(params).expect("valid params")
}

fn libmf_matrix(r: &[Rating]) -> libmf::Matrix {
    let mut m = libmf::Matrix::with_capacity(r.len());
    for x in r {
        m.push(x.user as i32, x.item as i32, x.value);
    }
    m
}

fn libmf_fit(train: &libmf::Matrix, iterations: i32) -> libmf::Model {
    libmf::Model::params()
        .factors(FACTORS as i32)
        .threads(threads() as i32)
        .iterations(iterations)
        .lambda_p2(0.05)
        .lambda_q2(0.05)
        .quiet(true)
        .fit(train)
        .expect("libmf fit")
}

/// The side-by-side table: set-up time, seconds per epoch and test RMSE of both.
fn side_by_side(d: &Data) {
    let pool = build_pool(threads()).expect("pool");
    let cancel = CancelFlag::new();
    let t = Instant::now();
    let mut trainer = MfTrainer::new(
        d.train.clone(),
        d.spec.n_users,
        d.spec.n_items,
        pgrec_params(QUALITY_EPOCHS, d),
    )
    .expect("trainer");
    let pgrec_setup = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..QUALITY_EPOCHS {
        trainer.step(&pool, &cancel).expect("step");
    }
    let pgrec_epoch = t.elapsed().as_secs_f64() / QUALITY_EPOCHS as f64;
    let model = Box::new(trainer).finish(&pool).model;
    let k = Kernels::detect();
    let pgrec_rmse = rmse(
        &d.test
            .iter()
            .map(|r| (model.predict(k, r.user, r.item), r.value))
            .collect::<Vec<_>>(),
    );
    drop(model);
    if std::env::var("PGREC_BENCH_SKIP_LIBMF").is_ok() {
        eprintln!(
            "pgrec: set-up {pgrec_setup:.2} s, {pgrec_epoch:.3} s/epoch, test RMSE {pgrec_rmse:.4}"
        );
        return;
    }

    let train = libmf_matrix(&d.train);
    let t = Instant::now();
    drop(libmf_fit(&train, 1));
    let libmf_one = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let lm = libmf_fit(&train, QUALITY_EPOCHS as i32);
    let libmf_all = t.elapsed().as_secs_f64();
    let libmf_epoch = (libmf_all - libmf_one) / (QUALITY_EPOCHS - 1) as f64;
    let libmf_setup = libmf_one - libmf_epoch;
    let libmf_rmse = rmse(
        &d.test
            .iter()
            .map(|r| (lm.predict(r.user as i32, r.item as i32), r.value))
            .collect::<Vec<_>>(),
    );

    eprintln!("\n| {} ratings, {FACTORS} factors, {} threads, {QUALITY_EPOCHS} epochs | set-up s | s / epoch | test RMSE |", d.train.len(), threads());
    eprintln!("|---|---|---|---|");
    eprintln!("| pgrec mf (deterministic block SGD) | {pgrec_setup:.2} | {pgrec_epoch:.3} | {pgrec_rmse:.4} |");
    eprintln!("| LIBMF 2.01 (libmf crate, lambda 0.05) | {libmf_setup:.2} | {libmf_epoch:.3} | {libmf_rmse:.4} |");
    eprintln!("| noise floor | | | {:.4} |\n", d.floor);
}

fn bench(c: &mut Criterion) {
    let d = data();
    side_by_side(&d);
    if std::env::var("PGREC_BENCH_TABLE_ONLY").is_ok() {
        return;
    }

    let pool = build_pool(threads()).expect("pool");
    let cancel = CancelFlag::new();
    let mut trainer = MfTrainer::new(
        d.train.clone(),
        d.spec.n_users,
        d.spec.n_items,
        pgrec_params(10_000, &d),
    )
    .expect("trainer");
    let mut g = c.benchmark_group("mf_epoch_64f_2t");
    g.sample_size(10);
    g.bench_function("pgrec_epoch", |b| {
        b.iter(|| trainer.step(&pool, &cancel).expect("step"))
    });
    let train = libmf_matrix(&d.train);
    g.bench_function("libmf_fit_1_epoch", |b| b.iter(|| libmf_fit(&train, 1)));
    g.bench_function("libmf_fit_3_epochs", |b| b.iter(|| libmf_fit(&train, 3)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
