//! The training pipeline behind pgrec.train and pgrec.retrain: check the params (pipeline and
//! algorithm), reserve the version, read the source under the memory guard, number users and
//! items in key order, load features, fit (fit.rs), and store the version in one INSERT with its
//! factors, history and tensors. Everything happens in the caller's transaction; the entry
//! point (train.rs) then tells `changed` about the new version.

use std::time::Instant;

use pgrec_core::algo::contract::{FeatureRequest, MemoryShape, TrainingData};
use pgrec_core::algo::{auto, registry, tune};
use pgrec_core::data::{
    find_duplicate, merge_sorted_duplicates, sort_pairs, sort_pairs_and_values,
};
use pgrec_core::features::{FeatureBuilder, SideFeatures};

use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::catalog::{
    insert_version, reserve_version, write_factors, write_history, write_tensors, NewVersion,
    SeenItems,
};
use crate::errors::{raise, raise_detail, Code, OrRaise};
use crate::features::{load_features, Selection};
use crate::params::PipelineParams;
use crate::source::{load, Loaded, SourceSpec};
use crate::{memory_guard, pool};

use crate::fit::{fit_epochs, health};
use crate::registry::{configure, feature_algorithms};

/// Everything a training runs from: what pgrec.train is given, and what a version records to
/// replay it.
pub struct Recipe<'a> {
    pub model: &'a str,
    pub source: &'a str,
    pub algorithm: &'a str,
    pub user_col: &'a str,
    pub item_col: &'a str,
    pub rating_col: Option<&'a str>,
    pub params: serde_json::Value,
    pub user_features: Option<&'a str>,
    pub item_features: Option<&'a str>,
}

/// What one row of pgrec.train (and pgrec.retrain) returns.
pub type TrainRow = (String, i32, String, i64, i64, i64, f64, JsonB);

/// Bytes per source row that row weights add at their peak: the event weight (4) and the time
/// (8) read with the row, then the weight (4), weight x value (4) and the sort's copy of the
/// row with its weighted value (16), less the event weight and time dropped before the sort.
const ROW_WEIGHT_BYTES: u64 = 24;

/// Trains and stores one version; the row pgrec.train returns.
pub fn run_training(recipe: &Recipe<'_>) -> TrainRow {
    let started = Instant::now();
    let Recipe {
        model,
        source,
        algorithm,
        user_col,
        item_col,
        rating_col,
        user_features,
        item_features,
        ..
    } = *recipe;
    if model.trim().is_empty() {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            "model name must not be empty",
            None,
        );
    }
    let mut params_json = recipe.params.clone();
    // Algorithm and parameter errors come before any reading or locking.
    let pipeline = PipelineParams::take(&mut params_json);
    let configured = match (pipeline.tune, registry::find(algorithm)) {
        // auto: mf or vbmf, chosen on a validation split (tuned each, with tune)
        _ if algorithm == auto::NAME => auto::configure(&params_json, pipeline.tune).or_raise(),
        (
            Some(trials),
            Some(
                entry @ registry::Entry {
                    configure: Some(c), ..
                },
            ),
        ) => tune::configure(entry.name, *c, &params_json, trials).or_raise(),
        _ => configure(algorithm, &params_json),
    };
    if configured.needs_ratings() && rating_col.is_none() {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("algorithm \"{algorithm}\" needs explicit ratings, but rating_col is NULL"),
            Some("Name the rating column with rating_col."),
        );
    }
    if configured.features().is_none() && (user_features.is_some() || item_features.is_some()) {
        let with_features = feature_algorithms();
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("algorithm \"{algorithm}\" does not use user_features or item_features"),
            Some(&format!(
                "Leave user_features and item_features NULL, or use algorithm {}.",
                with_features.join(" or ")
            )),
        );
    }
    let weights = pipeline.weights.is_some().then_some(&pipeline.weights);
    if weights.is_some() && !configured.row_weights() {
        let mut names = crate::registry::weight_algorithms();
        let last = names.pop().unwrap_or_default();
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("algorithm \"{algorithm}\" does not use row weights (event_weights, half_life)"),
            Some(&format!(
                "Row weights are used by algorithms {} and {last}; or weigh the rows in the source's rating column.",
                names.join(", ")
            )),
        );
    }
    if pipeline.weights.anchor.is_some() {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            "time_anchor is recorded by training, not a param",
            Some(
                "Leave time_anchor out: the anchor of time decay is the newest time in the source.",
            ),
        );
    }
    let half_life = pipeline.weights.half_life_seconds();
    crate::spi::require_current_catalog();
    let threads = configured.threads().unwrap_or_else(pool::default_threads);
    let version = reserve_version(model);

    let spec = SourceSpec {
        source,
        user_col,
        item_col,
        rating_col,
        weights,
    };
    // The memory guard, three times: on the planner's row estimate before reading, on the rows
    // read so far while reading, and on the exact shape before training.
    // Row weights add, per row: the event weight and the time while reading, then the
    // weight, weight x value and the sort's (row, weight) copy.
    let weight_bytes: u64 = if weights.is_some() {
        ROW_WEIGHT_BYTES
    } else {
        0
    };
    let row_estimate = |rows: u64| {
        configured
            .memory_bytes(MemoryShape {
                rows,
                ..Default::default()
            })
            .saturating_add(rows.saturating_mul(weight_bytes))
    };
    let hint = configured.memory_hint();
    memory_guard::check_memory(
        row_estimate(crate::source::planned_rows(&spec)),
        "the planner's estimate of the source's rows",
        hint,
    );
    let mut data = load(&spec, &|rows| {
        memory_guard::check_memory(row_estimate(rows), "the rows read so far", hint)
    });
    let memory_estimate = configured
        .memory_bytes(MemoryShape {
            rows: data.ratings.len() as u64,
            users: data.users.len() as u64,
            items: data.items.len() as u64,
        })
        .saturating_add((data.ratings.len() as u64).saturating_mul(weight_bytes));
    memory_guard::check_memory(memory_estimate, "the source's rows, users and items", hint);
    let load_seconds = started.elapsed().as_secs_f64();
    if data.ratings.is_empty() {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("source \"{}\" has no usable rows", source.trim()),
            Some("Training needs at least one row with a non-NULL user, item and rating."),
        );
    }
    // Users and items numbered in key order: the same rows give the same model in whatever
    // order the source returns them (a distributed table, a table after UPDATE or CLUSTER).
    let (user_order, item_order) = (data.users.sort_keys(), data.items.sort_keys());
    pgrec_core::data::renumber(&mut data.ratings, &user_order, &item_order);
    let pool_rc = pool::pool(threads);
    let pool: &rayon::ThreadPool = &pool_rc;
    // Row weights: each row's weight (event type, age back from the newest time), the items'
    // weighted popularity, and each row's weight x value, which the algorithm trains with.
    let mut anchor = None;
    let mut weighted = None;
    let mut popularity = None;
    if weights.is_some() {
        anchor = half_life.map(|_| data.times.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        let w = pgrec_core::data::row_weights(
            data.ratings.len(),
            &data.event_weights,
            &data.times,
            anchor.zip(half_life),
        );
        // Summed in f64, so the order the source returns its rows in does not show.
        let mut pop = vec![0f64; data.items.len()];
        for (r, &w) in data.ratings.iter().zip(&w) {
            pop[r.item as usize] += w as f64;
        }
        popularity = Some(pop.into_iter().map(|p| p as f32).collect::<Vec<f32>>());
        // What the algorithm trains with: the weight as a share of the loss, or weight x value.
        let mut wv = if configured.weighs_loss() {
            w
        } else {
            pgrec_core::data::weighted_values(&data.ratings, &w)
        };
        (data.event_weights, data.times) = (Vec::new(), Vec::new());
        let merge = configured.sums_duplicates();
        let ratings = &mut data.ratings;
        pool::run(pool, |_| {
            pgrec_core::data::sort_weighted(Some(pool), ratings, &mut wv, merge)
        });
        if !merge {
            reject_duplicates(&mut data, pool);
        }
        weighted = Some(wv);
    } else if configured.sums_duplicates() {
        sum_duplicates(&mut data, pool);
    } else {
        reject_duplicates(&mut data, pool);
    }
    let n_interactions = data.ratings.len();

    let fit_started = Instant::now();
    let mut extra = json!({});
    let mut features = None;
    let (users, items) = match configured.features() {
        None => (
            SideFeatures::none(data.users.len()),
            SideFeatures::none(data.items.len()),
        ),
        Some(request) => {
            let (rated_users, rated_items) = (data.users.len(), data.items.len());
            let sides = load_sides(
                &request,
                &mut data,
                user_col,
                item_col,
                user_features,
                item_features,
            );
            extra["n_cold_users"] = json!(data.users.len() - rated_users);
            extra["n_cold_items"] = json!(data.items.len() - rated_items);
            features = Some(json!({ "user": sides.0.specs, "item": sides.1.specs }));
            sides
        }
    };
    let training_data = TrainingData {
        ratings: std::mem::take(&mut data.ratings),
        n_users: data.users.len(),
        n_items: data.items.len(),
        explicit: rating_col.is_some(),
        weighted,
        users,
        items,
    };
    let mut training = pool::run(pool, |_| configured.start(training_data, pool)).or_raise();
    let n_validation = training.n_validation();
    let rmse_loss = training.squared_loss();
    let history = fit_epochs(&mut training, pool, rmse_loss);
    let fitted = pool::run(pool, |_| training.finish(pool));
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    // The algorithm the version stores: auto's winner (what serving, fold-in and retrain use).
    let chosen = auto::chosen(&fitted.metrics).map(str::to_string);
    let algorithm = chosen.as_deref().unwrap_or(algorithm);
    let (n_users, n_items) = (data.users.len(), data.items.len());
    if let (Some(m), Some(e)) = (extra.as_object_mut(), fitted.metrics.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    // The version stores the params the algorithm finished with (a tuned model's winning
    // settings, the defaults chosen from the data: what it is, and what retrain replays), the
    // thread count it ran with and the pipeline's own params.
    let mut stored_params = fitted.params;
    stored_params["threads"] = json!(threads);
    let mut pipeline = pipeline;
    pipeline.weights.anchor = anchor;
    pipeline.record(&mut stored_params);
    data.ratings = fitted.ratings;
    let (tensors, scorer, target) = (fitted.tensors, fitted.scorer, fitted.target);
    let fitted = fitted.model;

    // The best validation measurement, in its metric's direction.
    let best = history
        .iter()
        .filter_map(|h| h.2.map(|v| (h.0, v)))
        .reduce(|best, next| {
            let better = if next.1.metric.higher_is_better() {
                next.1.value > best.1.value
            } else {
                next.1.value < best.1.value
            };
            if better {
                next
            } else {
                best
            }
        });
    let last = history.last().copied();
    let mut metrics = json!({
        "epochs_run": history.len(),
        "n_validation": n_validation,
        "load_seconds": load_seconds,
        "fit_seconds": fit_seconds,
        "seconds_per_epoch": fit_seconds / history.len().max(1) as f64,
        "rows_read": data.rows_read,
        "rows_skipped_null": data.rows_skipped_null,
        "memory_estimate_mb": memory_estimate.div_ceil(1 << 20),
        "rating_min": fitted.rating_range.map(|r| r.0),
        "rating_max": fitted.rating_range.map(|r| r.1),
        "global_mean": fitted.global_mean,
    });
    if rmse_loss {
        metrics["train_rmse"] = json!(last.map(|h| h.1.sqrt()));
    } else {
        metrics["train_loss"] = json!(last.map(|h| h.1));
    }
    if let (Some(m), Some(e)) = (metrics.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    if let Some((epoch, v)) = best {
        metrics[format!("validation_{}", v.metric.name())] = json!(v.value);
        metrics["best_epoch"] = json!(epoch);
    }
    // Tuned: the winner's validation at full epochs and the epochs the final model trained
    // (the history's best is over every trial).
    if let (Some((_, v)), Some(results)) = (best, metrics["tune"]["results"].as_array()) {
        let last_rung = results.iter().filter_map(|r| r["rung"].as_u64()).max();
        if let Some(won) = results
            .iter()
            .find(|r| r["rung"].as_u64() == last_rung && r["rank"] == json!(1))
        {
            metrics[format!("validation_{}", v.metric.name())] = won["best_validation"].clone();
            metrics["best_epoch"] = metrics["tune"]["final_epochs"].clone();
        }
    }
    health(&fitted, &mut metrics);

    let write_started = Instant::now();
    let mut new_version = NewVersion {
        model,
        version,
        algorithm,
        params: stored_params,
        metrics: metrics.clone(),
        source: source.trim(),
        user_col,
        item_col,
        rating_col,
        user_features: user_features.map(str::trim),
        item_features: item_features.map(str::trim),
        scorer,
        target,
        user_kind: data.users.kind(),
        item_kind: data.items.kind(),
        n_users: n_users as i64,
        n_items: n_items as i64,
        n_interactions: n_interactions as i64,
        factors: fitted.factors as i32,
        global_mean: fitted.global_mean,
        rating_range: fitted.rating_range,
        train_seconds: 0.0,
        features,
    };
    new_version.train_seconds = started.elapsed().as_secs_f64();
    let version_id = insert_version(&new_version);
    let k = fitted.factors;
    // Items each user interacted with, for exclude_seen: the training pairs sorted by user.
    let mut pairs = std::mem::take(&mut data.ratings);
    pool::run(pool, |_| sort_pairs(pool, &mut pairs));
    let seen = SeenItems::new(n_users, &pairs);
    write_factors(
        version_id,
        true,
        &data.users,
        &fitted.user_bias,
        &fitted.user_factors,
        k,
        Some(&seen),
    );
    write_factors(
        version_id,
        false,
        &data.items,
        &fitted.item_bias,
        &fitted.item_factors,
        k,
        None,
    );
    write_history(version_id, &history, rmse_loss);
    write_tensors(version_id, &tensors);
    if let Some(pop) = popularity {
        let n = pop.len();
        write_tensors(
            version_id,
            &[(crate::catalog::POPULARITY_TENSOR.to_string(), n, 1, pop)],
        );
    }
    let train_seconds = started.elapsed().as_secs_f64();
    metrics["save_seconds"] = json!(write_started.elapsed().as_secs_f64());
    finish_version(version_id, train_seconds, &metrics);
    if let Some(n) = pipeline.keep_versions {
        crate::catalog::prune_versions(model, n);
    }
    (
        model.to_string(),
        version,
        algorithm.to_string(),
        n_users as i64,
        n_items as i64,
        n_interactions as i64,
        train_seconds,
        JsonB(metrics),
    )
}

/// Sorts the ratings by (user, item) on the pool (interrupts stay serviced) and rejects
/// duplicate pairs.
fn reject_duplicates(data: &mut Loaded, pool: &rayon::ThreadPool) {
    let ratings = &mut data.ratings;
    pool::run(pool, |_| sort_pairs(pool, ratings));
    if let Some((u, i)) = find_duplicate(&data.ratings) {
        raise_detail(
            Code::ERRCODE_CARDINALITY_VIOLATION,
            format!(
                "source has more than one rating for user {} and item {}",
                data.users.text_key(u),
                data.items.text_key(i)
            ),
            "Each (user, item) pair may appear once in the training source.",
            Some("Aggregate duplicates first, e.g. SELECT user_id, item_id, avg(rating) AS rating FROM ... GROUP BY 1, 2."),
        );
    }
}

/// Sorts the rows by (user, item) and adds up the values of repeated pairs (implicit feedback:
/// each row is one interaction, or an amount such as a play count).
fn sum_duplicates(data: &mut Loaded, pool: &rayon::ThreadPool) {
    let ratings = &mut data.ratings;
    pool::run(pool, |_| sort_pairs_and_values(pool, ratings));
    merge_sorted_duplicates(ratings);
}

/// Reads one side's features (or none), adding cold entities to `keys`.
fn side_features(
    source: Option<&str>,
    key_col: &str,
    keys: &mut crate::keys::Keys,
    sel: Selection<'_>,
    min_count: usize,
) -> SideFeatures {
    let rated = keys.len();
    let mut builder = match source {
        Some(s) => load_features(s, key_col, keys, &sel),
        None => FeatureBuilder::new(Vec::new()),
    };
    // Entities known only from their features (cold) come after the rated ones, in key order,
    // whatever order the feature source returns them in.
    builder.renumber(&keys.sort_keys_from(rated));
    builder.build(keys.len(), min_count).or_raise()
}

/// Reads both feature sources as `request` asks, adding cold entities to the key maps.
fn load_sides(
    request: &FeatureRequest<'_>,
    data: &mut Loaded,
    user_col: &str,
    item_col: &str,
    user_features: Option<&str>,
    item_features: Option<&str>,
) -> (SideFeatures, SideFeatures) {
    let users = side_features(
        user_features,
        user_col,
        &mut data.users,
        Selection {
            arg: "user_features",
            include_param: "user_feature_columns",
            include: request.user_columns,
            exclude: request.exclude,
        },
        request.min_count,
    );
    let items = side_features(
        item_features,
        item_col,
        &mut data.items,
        Selection {
            arg: "item_features",
            include_param: "item_feature_columns",
            include: request.item_columns,
            exclude: request.exclude,
        },
        request.min_count,
    );
    (users, items)
}

/// Records the final wall time and metrics once the factors are stored.
fn finish_version(version_id: i64, train_seconds: f64, metrics: &serde_json::Value) {
    Spi::connect_mut(|c| {
        c.update(
            "UPDATE pgrec.model_versions SET train_seconds = $2, metrics = $3 WHERE id = $1",
            None,
            &[
                version_id.into(),
                train_seconds.into(),
                JsonB(metrics.clone()).into(),
            ],
        )
        .or_raise();
    });
}
