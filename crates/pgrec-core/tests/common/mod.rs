//! Shared helpers of the integration tests. Every training a test needs goes through [`train`],
//! the one place that drives the algorithm interface (configure, start, step until stop or
//! max_steps, finish), so only it changes when the driver API does.

#![allow(dead_code)]

use pgrec_core::algo::contract::TrainingData;
use pgrec_core::algo::registry;
use pgrec_core::features::SideFeatures;
use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrec_core::train::EpochReport;
use pgrec_core::train::Fitted;
use pgrec_core::Rating;

/// Training data without side features.
pub fn data(ratings: Vec<Rating>, n_users: usize, n_items: usize, explicit: bool) -> TrainingData {
    let mut ratings = ratings;
    ratings.sort_unstable_by_key(|r| (r.user, r.item));
    TrainingData {
        ratings,
        n_users,
        n_items,
        explicit,
        weighted: None,
        users: SideFeatures::none(n_users),
        items: SideFeatures::none(n_items),
    }
}

/// Trains algorithm `name` with `params` on `data` (on two threads) the way the extension
/// does: configure, start, one step at a time until a step asks to stop or max_steps, finish.
/// Returns every step's report and what `finish` handed back.
pub fn train(
    name: &str,
    params: serde_json::Value,
    data: TrainingData,
) -> (Vec<EpochReport>, Fitted) {
    let entry = registry::find(name).unwrap_or_else(|| panic!("no algorithm {name}"));
    let configure = entry.configure.expect("trainable");
    let configured = configure(&params).unwrap_or_else(|e| panic!("{name} {params}: {e}"));
    let pool = build_pool(2).expect("pool");
    let cancel = CancelFlag::new();
    let mut training = configured.start(data, &pool).expect("start");
    let mut reports = Vec::new();
    for _ in 0..training.max_steps() {
        let r = training.step(&pool, &cancel).expect("step");
        reports.push(r);
        if r.stop {
            break;
        }
    }
    (reports, training.finish(&pool))
}
