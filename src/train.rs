//! pgrec.train: read the source, run the algorithm's steps on a sized pool while servicing
//! interrupts, and store the new version. Everything happens in the caller's transaction.

use std::time::Instant;

use pgrec_core::data::{find_duplicate, sort_pairs};
use pgrec_core::mf::{parse_params, MfParams, MfTrainer};
use pgrec_core::train::IterativeTrainer;

use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::catalog::{
    insert_version, reserve_version, write_factors, write_history, NewVersion, SeenItems,
};
use crate::errors::{raise, raise_detail, required, Code, OrRaise};
use crate::runner;
use crate::source::{load, Loaded, SourceSpec};

const ALGORITHMS: &[&str] = &["mf", "als", "ials", "bpr", "ncf", "two_tower"];
const IMPLEMENTED: &[&str] = &["mf"];

fn check_algorithm(algorithm: &str) {
    if IMPLEMENTED.contains(&algorithm) {
        return;
    }
    if ALGORITHMS.contains(&algorithm) {
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("algorithm \"{algorithm}\" is not available in this version of pgrec"),
            Some(&format!(
                "Available algorithms: {}.",
                IMPLEMENTED.join(", ")
            )),
        );
    }
    raise(
        Code::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("unknown algorithm \"{algorithm}\""),
        Some(&format!("Use one of: {}.", ALGORITHMS.join(", "))),
    );
}

/// One epoch as recorded in the history: (epoch, mean train loss, validation RMSE, seconds).
type EpochRow = (usize, f64, Option<f64>, f64);

/// The one epoch loop: runs steps on the pool, reports progress, stops early when asked.
fn fit_epochs<T: IterativeTrainer>(trainer: &mut T, pool: &rayon::ThreadPool) -> Vec<EpochRow> {
    let max = trainer.max_epochs();
    let mut history = Vec::with_capacity(max);
    for _ in 0..max {
        let started = Instant::now();
        let report = runner::run(pool, |cancel| trainer.step(pool, cancel)).or_raise();
        let secs = started.elapsed().as_secs_f64();
        match report.validation_rmse {
            Some(v) => pgrx::notice!(
                "pgrec: epoch {}/{max}: train_rmse {:.4}, validation_rmse {:.4}",
                report.epoch,
                report.train_loss.sqrt(),
                v
            ),
            None => pgrx::notice!(
                "pgrec: epoch {}/{max}: train_rmse {:.4}",
                report.epoch,
                report.train_loss.sqrt()
            ),
        }
        history.push((
            report.epoch,
            report.train_loss,
            report.validation_rmse,
            secs,
        ));
        if report.stop {
            pgrx::notice!(
                "pgrec: early stopping after epoch {}: validation RMSE stopped improving",
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

// pgrx reads the result columns from this signature, so the type stays spelled out here.
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
    let started = Instant::now();
    let model = required(model, "model");
    let source = required(source, "source");
    let algorithm = required(algorithm, "algorithm");
    let user_col = required(user_col, "user_col");
    let item_col = required(item_col, "item_col");
    if model.trim().is_empty() {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            "model name must not be empty",
            None,
        );
    }
    check_algorithm(algorithm);
    let params_json = params.map(|p| p.0).unwrap_or_else(|| json!({}));
    let mf_params: MfParams = parse_params(&params_json).or_raise();
    let valid = mf_params.check().or_raise();
    let Some(rating_col) = rating_col else {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            "algorithm \"mf\" needs explicit ratings, but rating_col is NULL",
            Some("Name the rating column with rating_col."),
        );
    };
    if user_features.is_some() || item_features.is_some() {
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            "algorithm \"mf\" does not use user_features or item_features",
            Some("Leave user_features and item_features NULL for mf."),
        );
    }
    let threads = valid.threads.unwrap_or_else(runner::default_threads);
    let version = reserve_version(model);

    let spec = SourceSpec {
        source,
        user_col,
        item_col,
        rating_col: Some(rating_col),
    };
    let mut data = load(&spec);
    let load_seconds = started.elapsed().as_secs_f64();
    if data.ratings.is_empty() {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("source \"{}\" has no usable rows", source.trim()),
            Some("Training needs at least one row with a non-NULL user, item and rating."),
        );
    }
    let pool_rc = runner::pool(threads);
    let pool: &rayon::ThreadPool = &pool_rc;
    reject_duplicates(&mut data, pool);
    let n_users = data.users.len();
    let n_items = data.items.len();
    let n_interactions = data.ratings.len();

    let fit_started = Instant::now();
    // Building the trainer is O(n) work on large data: run it off the backend thread too.
    let ratings = std::mem::take(&mut data.ratings);
    let trainer_params = valid.clone();
    let mut trainer = runner::run(pool, |_| {
        MfTrainer::new(ratings, n_users, n_items, trainer_params)
    })
    .or_raise();
    let n_validation = trainer.n_validation();
    let history = fit_epochs(&mut trainer, pool);
    let (fitted, mut pairs) = trainer.finish_with_ratings();
    let fit_seconds = fit_started.elapsed().as_secs_f64();

    let best = history
        .iter()
        .filter_map(|h| h.2.map(|v| (h.0, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let last = history.last().copied();
    let mut stored_params = serde_json::to_value(&mf_params).unwrap_or_else(|_| json!({}));
    stored_params["threads"] = json!(threads);
    let mut metrics = json!({
        "train_rmse": last.map(|h| h.1.sqrt()),
        "epochs_run": history.len(),
        "n_validation": n_validation,
        "load_seconds": load_seconds,
        "fit_seconds": fit_seconds,
        "seconds_per_epoch": fit_seconds / history.len().max(1) as f64,
        "rows_read": data.rows_read,
        "rows_skipped_null": data.rows_skipped_null,
        "rating_min": fitted.rating_range.map(|r| r.0),
        "rating_max": fitted.rating_range.map(|r| r.1),
        "global_mean": fitted.global_mean,
    });
    if let Some((epoch, v)) = best {
        metrics["validation_rmse"] = json!(v);
        metrics["best_epoch"] = json!(epoch);
    }

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
        rating_col: Some(rating_col),
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
    // Items each user rated, for exclude_seen: the training pairs sorted by user.
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
    write_history(version_id, &history);
    let train_seconds = started.elapsed().as_secs_f64();
    metrics["save_seconds"] = json!(write_started.elapsed().as_secs_f64());
    finish_version(version_id, train_seconds, &metrics);

    TableIterator::once((
        model.to_string(),
        version,
        algorithm.to_string(),
        n_users as i64,
        n_items as i64,
        n_interactions as i64,
        train_seconds,
        JsonB(metrics),
    ))
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
