//! pgrec.train: read the source, run the algorithm's steps on a sized pool while servicing
//! interrupts, and store the new version. Everything happens in the caller's transaction.

use std::time::Instant;

use pgrec_core::algo::{self, Configured, FeatureRequest, Training, TrainingData};
use pgrec_core::data::{
    find_duplicate, merge_sorted_duplicates, sort_pairs, sort_pairs_and_values,
};
use pgrec_core::features::{FeatureBuilder, SideFeatures};
use pgrec_core::metrics::embedding_health;
use pgrec_core::train::Measurement;
use pgrec_core::FactorModel;

use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::catalog::{
    insert_version, reserve_version, write_factors, write_features, write_history, write_tensors,
    NewVersion, SeenItems,
};
use crate::errors::{raise, raise_detail, required, Code, OrRaise};
use crate::features::{load_features, Selection};
use crate::runner;
use crate::source::{load, Loaded, SourceSpec};

/// The registry entry of `algorithm`: an unknown name is 22023, a name of the SQL contract that
/// this version cannot train is 0A000.
fn configure(algorithm: &str, params: &serde_json::Value) -> Box<dyn Configured> {
    let available: Vec<&str> = algo::available().collect();
    match algo::find(algorithm) {
        Some(algo::Entry {
            configure: Some(configure),
            ..
        }) => configure(params).or_raise(),
        Some(_) => raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("algorithm \"{algorithm}\" is not available in this version of pgrec"),
            Some(&format!("Available algorithms: {}.", available.join(", "))),
        ),
        None => {
            let all: Vec<&str> = algo::REGISTRY.iter().map(|e| e.name).collect();
            raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("unknown algorithm \"{algorithm}\""),
                Some(&format!("Use one of: {}.", all.join(", "))),
            )
        }
    }
}

/// pgrec.algorithms: every algorithm name of the SQL contract, whether this version trains it,
/// and what its training needs (with default params).
#[pg_extern(stable, parallel_safe, name = "algorithms")]
fn algorithms() -> TableIterator<
    'static,
    (
        name!(algorithm, String),
        name!(available, bool),
        name!(needs_ratings, Option<bool>),
        name!(uses_features, Option<bool>),
    ),
> {
    let rows: Vec<_> = algo::REGISTRY
        .iter()
        .map(|e| {
            let configured = e.configure.and_then(|c| c(&json!({})).ok());
            (
                e.name.to_string(),
                e.configure.is_some(),
                configured.as_ref().map(|c| c.needs_ratings()),
                configured.as_ref().map(|c| c.features().is_some()),
            )
        })
        .collect();
    TableIterator::new(rows)
}

/// One epoch as recorded in the history: (epoch, mean train loss, validation, seconds).
pub type EpochRow = (usize, f64, Option<Measurement>, f64);

/// The one epoch loop: runs steps on the pool, reports progress, stops early when asked.
/// `rmse` says whether the training loss is a squared error (reported as its root).
fn fit_epochs(trainer: &mut Training, pool: &rayon::ThreadPool, rmse: bool) -> Vec<EpochRow> {
    let max = trainer.max_steps();
    let mut history = Vec::with_capacity(max);
    for _ in 0..max {
        let started = Instant::now();
        let report = runner::run(pool, |cancel| trainer.step(pool, cancel)).or_raise();
        let secs = started.elapsed().as_secs_f64();
        let train = if rmse {
            format!("train_rmse {:.4}", report.train_loss.sqrt())
        } else {
            format!("train_loss {:.4}", report.train_loss)
        };
        match report.validation {
            Some(v) => pgrx::notice!(
                "pgrec: epoch {}/{max}: {train}, validation_{} {:.4}",
                report.epoch,
                v.metric.name(),
                v.value
            ),
            None => pgrx::notice!("pgrec: epoch {}/{max}: {train}", report.epoch),
        }
        history.push((report.epoch, report.train_loss, report.validation, secs));
        if report.stop {
            let name = report
                .validation
                .map(|v| v.metric.name())
                .unwrap_or_default();
            pgrx::notice!(
                "pgrec: early stopping after epoch {}: validation {name} stopped improving",
                report.epoch
            );
            break;
        }
    }
    history
}

/// Sorts the ratings by (user, item) on the pool (interrupts stay serviced) and rejects
/// duplicate pairs.
fn reject_duplicates(data: &mut Loaded, pool: &rayon::ThreadPool) {
    let ratings = &mut data.ratings;
    runner::run(pool, |_| sort_pairs(pool, ratings));
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
    runner::run(pool, |_| sort_pairs_and_values(pool, ratings));
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

/// Adds the embedding health of the item vectors to `metrics`, and warns when they collapsed.
fn health(fitted: &FactorModel, metrics: &mut serde_json::Value) {
    let Some(h) = embedding_health(&fitted.item_factors, fitted.factors, 2000) else {
        return;
    };
    metrics["item_embedding_mean_cosine"] = json!(h.mean_cosine);
    metrics["item_embedding_first_direction_share"] = json!(h.first_direction_share);
    if let Some(u) = embedding_health(&fitted.user_factors, fitted.factors, 2000) {
        metrics["user_embedding_mean_cosine"] = json!(u.mean_cosine);
    }
    if h.mean_cosine > 0.9 {
        let report = pgrx::pg_sys::panic::ErrorReport::new(
            Code::ERRCODE_WARNING,
            format!(
                "pgrec: item embeddings have collapsed: their mean pairwise cosine is {:.3}",
                h.mean_cosine
            ),
            "pgrec",
        )
        .set_detail(format!(
            "{:.0}% of their squared norm lies along one direction, so similar_items cannot tell items apart.",
            100.0 * h.first_direction_share
        ))
        .set_hint(
            "Let biases carry the rating level (mf and two_tower with loss mse do), train longer or with \
             more regularization, or use in-batch negatives (two_tower with loss softmax).",
        );
        report.report(pgrx::PgLogLevel::WARNING);
    }
}

// pgrx reads the result columns from this signature, so the type stays spelled out here.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
/// What one row of pgrec.train (and pgrec.retrain) returns.
pub type TrainRow = (String, i32, String, i64, i64, i64, f64, JsonB);

/// pgrec.train: trains `algorithm` on `source` and stores the result as the new active version
/// of `model`, in the caller's transaction.
// pgrx needs the result type spelled out in the signature.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe, name = "train")]
fn train(
    model: Option<&str>,
    source: Option<&str>,
    algorithm: default!(Option<&str>, "'mf'"),
    user_col: default!(Option<&str>, "'user_id'"),
    item_col: default!(Option<&str>, "'item_id'"),
    rating_col: default!(Option<&str>, "'rating'"),
    params: default!(Option<JsonB>, "'{}'"),
    user_features: default!(Option<&str>, "NULL"),
    item_features: default!(Option<&str>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(model, String),
        name!(version, i32),
        name!(algorithm, String),
        name!(n_users, i64),
        name!(n_items, i64),
        name!(n_interactions, i64),
        name!(train_seconds, f64),
        name!(metrics, JsonB),
    ),
> {
    crate::errors::require_primary("train");
    let row = run_training(&Recipe {
        model: required(model, "model"),
        source: required(source, "source"),
        algorithm: required(algorithm, "algorithm"),
        user_col: required(user_col, "user_col"),
        item_col: required(item_col, "item_col"),
        rating_col,
        params: params.map(|p| p.0).unwrap_or_else(|| json!({})),
        user_features,
        item_features,
    });
    TableIterator::once(row)
}

/// pgrec.retrain: replays the training recorded with the active version of `model` (source,
/// algorithm, columns, stored params, feature sources) as a new version.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe, name = "retrain")]
fn retrain(
    model: Option<&str>,
) -> TableIterator<
    'static,
    (
        name!(model, String),
        name!(version, i32),
        name!(algorithm, String),
        name!(n_users, i64),
        name!(n_items, i64),
        name!(n_interactions, i64),
        name!(train_seconds, f64),
        name!(metrics, JsonB),
    ),
> {
    crate::errors::require_primary("retrain");
    let model = required(model, "model");
    crate::access::require_existing_owner(model, "retrain", Some(crate::access::OWNER_ONLY));
    let active = crate::catalog::require_version(model, None);
    let r = crate::catalog::training_recipe(active.id);
    let row = run_training(&Recipe {
        model,
        source: &r.source,
        algorithm: &r.algorithm,
        user_col: &r.user_col,
        item_col: &r.item_col,
        rating_col: r.rating_col.as_deref(),
        params: r.params.clone(),
        user_features: r.user_features.as_deref(),
        item_features: r.item_features.as_deref(),
    });
    TableIterator::once(row)
}

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

/// The largest `keep_versions`.
const MAX_KEEP_VERSIONS: i64 = 1_000_000;

/// `params` without the pipeline's own (`keep_versions`): what the algorithm is configured
/// with.
pub fn algorithm_params(mut params: serde_json::Value) -> serde_json::Value {
    if let Some(o) = params.as_object_mut() {
        o.remove("keep_versions");
        o.remove("serving_precision");
        for key in ANN_PARAMS {
            o.remove(key);
        }
    }
    params
}

/// The params of approximate search, which serving reads (not the algorithm).
const ANN_PARAMS: [&str; 3] = ["ann", "ivf_lists", "ivf_probes"];

/// Takes the approximate-search params out of `params`, checked: `"ann": "ivf"` (or null,
/// "none": exact scans only), `ivf_lists` and `ivf_probes` (positive integers, only with ivf).
fn take_ann(params: &mut serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let Some(o) = params.as_object_mut() else {
        return out;
    };
    let ann = o.remove("ann");
    let ivf = match ann.as_ref() {
        None | Some(serde_json::Value::Null) => false,
        Some(v) if v.as_str() == Some("none") => false,
        Some(v) if v.as_str() == Some("ivf") => true,
        Some(v) => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("ann must be \"ivf\" or \"none\", got {v}"),
            Some("\"ivf\" adds an inverted-file index to the serving data: recommend and similar_items then scan only the items of the lists nearest the query (pgrec.ivf_probes sets how many). The default, \"none\", scans every item."),
        ),
    };
    for key in ["ivf_lists", "ivf_probes"] {
        let Some(v) = o.remove(key) else { continue };
        if v.is_null() {
            continue;
        }
        if !ivf {
            raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("{key} is only used with \"ann\": \"ivf\""),
                Some("Add \"ann\": \"ivf\" to the params, or leave the ivf_ params out."),
            );
        }
        match v.as_i64() {
            Some(n) if (1..=1_000_000).contains(&n) => {
                out.insert(key.into(), serde_json::json!(n));
            }
            _ => raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("{key} must be an integer from 1 to 1000000, got {v}"),
                Some("ivf_lists defaults to about the square root of the item count, ivf_probes to a sixteenth of the lists (at least 8)."),
            ),
        }
    }
    if ivf {
        out.insert("ann".into(), serde_json::json!("ivf"));
    }
    out
}

/// Takes `serving_precision` out of `params`, checked: whether serving also keeps the item
/// vectors as f16 (scans read half the bytes; the tables keep f32).
fn take_serving_precision(params: &mut serde_json::Value) -> Option<&'static str> {
    let value = params.as_object_mut()?.remove("serving_precision")?;
    match value.as_str() {
        None if value.is_null() => None,
        Some("f32") => Some("f32"),
        Some("f16") => Some("f16"),
        _ => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("serving_precision must be \"f32\" or \"f16\", got {value}"),
            Some("f16 halves the bytes a catalog scan reads (recommend, similar_items) at a small cost in score precision; the stored vectors stay f32."),
        ),
    }
}

/// Takes the pipeline's own params (`keep_versions`) out of `params`, checked.
fn take_keep_versions(params: &mut serde_json::Value) -> Option<i64> {
    let value = params.as_object_mut()?.remove("keep_versions")?;
    if value.is_null() {
        return None;
    }
    match value.as_i64() {
        Some(n) if (1..=MAX_KEEP_VERSIONS).contains(&n) => Some(n),
        _ => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("keep_versions must be an integer from 1 to {MAX_KEEP_VERSIONS}, got {value}"),
            Some("keep_versions is how many of the newest versions to keep; the active one is never removed."),
        ),
    }
}

/// Trains and stores one version; the row pgrec.train returns.
fn run_training(recipe: &Recipe<'_>) -> TrainRow {
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
    let keep_versions = take_keep_versions(&mut params_json);
    let serving_precision = take_serving_precision(&mut params_json);
    let ann = take_ann(&mut params_json);
    let tune = algo::tune::take_tune(&mut params_json).or_raise();
    let configured = match (tune, algo::find(algorithm)) {
        (
            Some(trials),
            Some(
                entry @ algo::Entry {
                    configure: Some(c), ..
                },
            ),
        ) => algo::tune::configure(entry.name, *c, &params_json, trials).or_raise(),
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
        let with_features: Vec<String> = algorithms()
            .filter(|a| a.3 == Some(true))
            .map(|a| a.0)
            .collect();
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("algorithm \"{algorithm}\" does not use user_features or item_features"),
            Some(&format!(
                "Leave user_features and item_features NULL, or use algorithm {}.",
                with_features.join(" or ")
            )),
        );
    }
    crate::catalog::require_current_catalog();
    let threads = configured.threads().unwrap_or_else(runner::default_threads);
    let mut stored_params = configured.stored_params();
    stored_params["threads"] = json!(threads);
    if let Some(p) = serving_precision {
        stored_params["serving_precision"] = json!(p);
    }
    if let Some(n) = keep_versions {
        stored_params["keep_versions"] = json!(n);
    }
    for (key, value) in ann {
        stored_params[key] = value;
    }
    let version = reserve_version(model);

    let spec = SourceSpec {
        source,
        user_col,
        item_col,
        rating_col,
    };
    // The memory guard, three times: on the planner's row estimate before reading, on the rows
    // read so far while reading, and on the exact shape before training.
    let row_estimate = |rows: u64| {
        configured.memory_bytes(algo::MemoryShape {
            rows,
            ..Default::default()
        })
    };
    let hint = configured.memory_hint();
    runner::check_memory(
        row_estimate(crate::source::planned_rows(&spec)),
        "the planner's estimate of the source's rows",
        hint,
    );
    let mut data = load(&spec, &|rows| {
        runner::check_memory(row_estimate(rows), "the rows read so far", hint)
    });
    let memory_estimate = configured.memory_bytes(algo::MemoryShape {
        rows: data.ratings.len() as u64,
        users: data.users.len() as u64,
        items: data.items.len() as u64,
    });
    runner::check_memory(memory_estimate, "the source's rows, users and items", hint);
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
    let pool_rc = runner::pool(threads);
    let pool: &rayon::ThreadPool = &pool_rc;
    if configured.sums_duplicates() {
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
        users,
        items,
    };
    let mut training = runner::run(pool, |_| configured.start(training_data, pool)).or_raise();
    let n_validation = training.n_validation();
    let rmse_loss = training.squared_loss();
    let history = fit_epochs(&mut training, pool, rmse_loss);
    let fitted = runner::run(pool, |_| training.finish(pool));
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let (n_users, n_items) = (data.users.len(), data.items.len());
    if let (Some(m), Some(e)) = (extra.as_object_mut(), fitted.metrics.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    // A tuned model is stored with the winner's settings, then with the defaults its final
    // training chose from the data: what it is, and what retrain replays.
    let winner = fitted.metrics["tune"]["params"].as_object();
    let data_defaults = fitted.metrics[algo::DATA_DEFAULTS].as_object();
    for (k, v) in winner.into_iter().chain(data_defaults).flatten() {
        if k.as_str() != "threads" {
            stored_params[k.as_str()] = v.clone();
        }
    }
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
    };
    new_version.train_seconds = started.elapsed().as_secs_f64();
    let version_id = insert_version(&new_version);
    let k = fitted.factors;
    // Items each user interacted with, for exclude_seen: the training pairs sorted by user.
    let mut pairs = std::mem::take(&mut data.ratings);
    runner::run(pool, |_| sort_pairs(pool, &mut pairs));
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
    if let Some(f) = &features {
        write_features(version_id, f);
    }
    let train_seconds = started.elapsed().as_secs_f64();
    metrics["save_seconds"] = json!(write_started.elapsed().as_secs_f64());
    finish_version(version_id, train_seconds, &metrics);
    if let Some(n) = keep_versions {
        crate::catalog::prune_versions(model, n);
    }
    // On Citus, a distributed model's new version reaches every node in this transaction.
    crate::distributed::refresh(model);

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
