//! Seconds per `ials` iteration on the MovieLens-20M shape of the synthetic generator, every
//! row one interaction (value 1), with the process's CPU time and peak memory; optionally the
//! same interactions written out for implicit's reference run (benches/implicit_als.py), so
//! both train on identical rows. benches/ials_vs_implicit.sh runs the two side by side.
//! Usage: cargo run --release --example ials_speed -- [iterations] [dump dir]
//! THREADS sets the pool size (default 2), PARAMS adds ials params (JSON).

use std::io::Write;
use std::time::Instant;

use pgrec_core::algo::contract::TrainingData;
use pgrec_core::algo::registry;
use pgrec_core::data::{merge_sorted_duplicates, Rating};
use pgrec_core::features::SideFeatures;
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::synth::{generate, SynthSpec};

/// Peak resident memory of this process so far, in MB (Linux).
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

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn write_u32(path: &std::path::Path, values: impl Iterator<Item = u32>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for v in values {
        f.write_all(&v.to_le_bytes()).expect("write");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iterations: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let threads: usize = std::env::var("THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let spec = SynthSpec::ml20m_shape(1);
    let (mut ratings, _) = generate(&spec);
    ratings.sort_unstable_by_key(|r| (r.user, r.item));
    merge_sorted_duplicates(&mut ratings);
    for r in &mut ratings {
        r.value = 1.0;
    }
    if let Some(dir) = args.get(2) {
        let dir = std::path::Path::new(dir);
        std::fs::create_dir_all(dir).expect("dump dir");
        write_u32(&dir.join("users.u32"), ratings.iter().map(|r| r.user));
        write_u32(&dir.join("items.u32"), ratings.iter().map(|r| r.item));
        std::fs::write(
            dir.join("shape.txt"),
            format!("{} {} {}\n", spec.n_users, spec.n_items, ratings.len()),
        )
        .expect("shape");
    }
    let input_mb = (ratings.len() * std::mem::size_of::<Rating>()) as f64 / 1048576.0;
    // Forget the generator's peak: from here the peak is the input plus what training adds.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let rss_before = peak_rss_mb();
    let mut params = serde_json::json!({ "factors": 64, "epochs": iterations, "threads": threads });
    if let Ok(extra) = std::env::var("PARAMS") {
        let extra: serde_json::Value = serde_json::from_str(&extra).expect("PARAMS json");
        for (key, value) in extra.as_object().expect("PARAMS object") {
            params[key] = value.clone();
        }
    }
    let pool = build_pool(threads).expect("pool");
    let entry = registry::find("ials").expect("ials");
    let configured = (entry.configure.expect("available"))(&params).expect("params");
    let n_rows = ratings.len();
    let (wall0, cpu0) = (Instant::now(), cpu_seconds());
    let mut training = configured
        .start(
            TrainingData {
                ratings,
                n_users: spec.n_users,
                n_items: spec.n_items,
                explicit: false,
                weighted: None,
                users: SideFeatures::none(0),
                items: SideFeatures::none(0),
            },
            &pool,
        )
        .expect("start");
    let setup = wall0.elapsed().as_secs_f64();
    println!(
        "pgrec ials: {n_rows} interactions, {} x {} , 64 factors, {threads} threads; set-up {setup:.2} s",
        spec.n_users, spec.n_items
    );
    let cancel = CancelFlag::new();
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..iterations {
        let (w, c) = (Instant::now(), cpu_seconds());
        let report = training.step(&pool, &cancel).expect("step");
        walls.push(w.elapsed().as_secs_f64());
        cpus.push(cpu_seconds() - c);
        println!(
            "iteration {}: {:.3} s (cpu {:.2} s), loss {:.5}",
            report.epoch,
            walls[walls.len() - 1],
            cpus[cpus.len() - 1],
            report.train_loss
        );
    }
    let fitted = training.finish(&pool);
    let total = wall0.elapsed().as_secs_f64();
    let mut sorted = walls.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    println!(
        "RESULT pgrec median_s_per_iter={median:.3} cpu_s_per_iter={:.2} setup_s={setup:.2} total_s={total:.2} cpu_total_s={:.1} peak_rss_mb={:.0} rss_before_train_mb={rss_before:.0} input_mb={input_mb:.0} factors_checksum={:.4}",
        cpus.iter().sum::<f64>() / cpus.len() as f64,
        cpu_seconds() - cpu0,
        peak_rss_mb(),
        fitted.model.item_factors.iter().map(|v| *v as f64).sum::<f64>()
    );
}
