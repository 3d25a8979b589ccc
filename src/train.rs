//! pgrec.train: read the source, run the algorithm's steps on a sized pool while servicing
//! interrupts, and store the new version. Everything happens in the caller's transaction.

use std::time::Instant;

use pgrec_core::data::{find_duplicate, sort_pairs};
use pgrec_core::features::{FeatureBuilder, SideFeatures};
use pgrec_core::metrics::embedding_health;
use pgrec_core::mf::{parse_params, MfParams, MfTrainer, ValidMfParams};
use pgrec_core::towers::{
    default_id_dropout, Loss, NcfParams, TwoTowerParams, TwoTowerTrainer, ValidTwoTowerParams,
};
use pgrec_core::train::IterativeTrainer;
use pgrec_core::{FactorModel, Rating};

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

const ALGORITHMS: &[&str] = &["mf", "als", "ials", "bpr", "ncf", "two_tower"];
const IMPLEMENTED: &[&str] = &["mf", "ncf", "two_tower"];

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
/// `rmse` says whether the training loss is a squared error (reported as its root).
fn fit_epochs<T: IterativeTrainer>(
    trainer: &mut T,
    pool: &rayon::ThreadPool,
    rmse: bool,
) -> Vec<EpochRow> {
    let max = trainer.max_epochs();
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
        match report.validation_rmse {
            Some(v) => pgrx::notice!(
                "pgrec: epoch {}/{max}: {train}, validation_rmse {v:.4}",
                report.epoch
            ),
            None => pgrx::notice!("pgrec: epoch {}/{max}: {train}", report.epoch),
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

/// What an algorithm hands back for storage.
struct Trained {
    fitted: FactorModel,
    history: Vec<EpochRow>,
    /// Whether the epoch loss is a squared error.
    rmse_loss: bool,
    params: serde_json::Value,
    metrics: serde_json::Value,
    tensors: Vec<(String, usize, usize, Vec<f32>)>,
    features: Option<serde_json::Value>,
    n_validation: usize,
}

/// The parameters of a call, parsed and checked once, before anything is read or locked.
enum Parsed {
    Mf {
        raw: MfParams,
        valid: ValidMfParams,
    },
    /// two_tower and ncf: `stored` is what the version records as its params.
    Neural {
        stored: serde_json::Value,
        valid: ValidTwoTowerParams,
    },
}

impl Parsed {
    /// The stored params of two_tower / ncf, with the defaults that depend on other params
    /// (`average_epochs` on `epochs`, `id_dropout` on `loss`) written out as they were used.
    fn neural(
        stored: Result<serde_json::Value, serde_json::Error>,
        valid: ValidTwoTowerParams,
    ) -> Self {
        let mut stored = stored.unwrap_or_else(|_| json!({}));
        stored["average_epochs"] = json!(valid.average_epochs);
        if stored["id_dropout"].is_null() {
            stored["id_dropout"] = json!(default_id_dropout(valid.loss));
        }
        Parsed::Neural { stored, valid }
    }

    fn new(algorithm: &str, params: &serde_json::Value) -> Self {
        match algorithm {
            "two_tower" => {
                let raw: TwoTowerParams = parse_params(params).or_raise();
                let valid = raw.check().or_raise();
                Parsed::neural(serde_json::to_value(&raw), valid)
            }
            "ncf" => {
                let raw: NcfParams = parse_params(params).or_raise();
                let valid = raw.check().or_raise();
                Parsed::neural(serde_json::to_value(&raw), valid)
            }
            _ => {
                let raw: MfParams = parse_params(params).or_raise();
                let valid = raw.check().or_raise();
                Parsed::Mf { raw, valid }
            }
        }
    }

    fn threads(&self) -> Option<usize> {
        match self {
            Parsed::Mf { valid, .. } => valid.threads,
            Parsed::Neural { valid, .. } => valid.threads,
        }
    }
}

/// The arguments every algorithm receives.
struct Job<'a> {
    params: &'a Parsed,
    rating_col: Option<&'a str>,
    user_col: &'a str,
    item_col: &'a str,
    user_features: Option<&'a str>,
    item_features: Option<&'a str>,
}

fn no_features(job: &Job<'_>, algorithm: &str) {
    if job.user_features.is_some() || job.item_features.is_some() {
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("algorithm \"{algorithm}\" does not use user_features or item_features"),
            Some("Leave user_features and item_features NULL, or use algorithm two_tower or ncf."),
        );
    }
}

fn train_mf(
    mf_params: &MfParams,
    valid: &ValidMfParams,
    data: &mut Loaded,
    pool: &rayon::ThreadPool,
) -> Trained {
    let (n_users, n_items) = (data.users.len(), data.items.len());
    let ratings = std::mem::take(&mut data.ratings);
    let trainer_params = valid.clone();
    let mut trainer = runner::run(pool, |_| {
        MfTrainer::new(ratings, n_users, n_items, trainer_params)
    })
    .or_raise();
    let n_validation = trainer.n_validation();
    let history = fit_epochs(&mut trainer, pool, true);
    let (fitted, pairs) = trainer.finish_with_ratings();
    data.ratings = pairs;
    let mut params = serde_json::to_value(mf_params).unwrap_or_else(|_| json!({}));
    params["threads"] = json!(valid.threads.unwrap_or_else(runner::default_threads));
    Trained {
        fitted,
        history,
        rmse_loss: true,
        params,
        metrics: json!({}),
        tensors: Vec::new(),
        features: None,
        n_validation,
    }
}

/// Reads one side's features (or none), adding cold entities to `keys`.
fn side_features(
    source: Option<&str>,
    key_col: &str,
    keys: &mut crate::keys::Keys,
    sel: Selection<'_>,
    min_count: usize,
) -> SideFeatures {
    let builder = match source {
        Some(s) => load_features(s, key_col, keys, &sel),
        None => FeatureBuilder::new(Vec::new()),
    };
    builder.build(keys.len(), min_count).or_raise()
}

/// two_tower and ncf: features, the network, and its tensors.
fn train_neural(
    job: &Job<'_>,
    stored: &serde_json::Value,
    valid: &ValidTwoTowerParams,
    data: &mut Loaded,
    pool: &rayon::ThreadPool,
) -> Trained {
    let (rated_users, rated_items) = (data.users.len(), data.items.len());
    let users = side_features(
        job.user_features,
        job.user_col,
        &mut data.users,
        Selection {
            arg: "user_features",
            include_param: "user_feature_columns",
            include: valid.columns.user.as_deref(),
            exclude: &valid.columns.exclude,
        },
        valid.min_count,
    );
    let items = side_features(
        job.item_features,
        job.item_col,
        &mut data.items,
        Selection {
            arg: "item_features",
            include_param: "item_feature_columns",
            include: valid.columns.item.as_deref(),
            exclude: &valid.columns.exclude,
        },
        valid.min_count,
    );
    let features = json!({ "user": users.specs, "item": items.specs });
    let ratings: Vec<Rating> = data.ratings.clone();
    let explicit = job.rating_col.is_some();
    let trainer_params = valid.clone();
    let mut trainer = runner::run(pool, |_| {
        TwoTowerTrainer::new(ratings, users, items, explicit, trainer_params)
    })
    .or_raise();
    let n_validation = trainer.n_validation();
    let (n_dense, n_emb) = (
        trainer.n_dense_parameters(),
        trainer.n_embedding_parameters(),
    );
    let history = fit_epochs(&mut trainer, pool, valid.loss == Loss::Mse);
    let model = runner::run(pool, |_| trainer.finish_on(pool));
    let mut params = stored.clone();
    params["threads"] = json!(valid.threads.unwrap_or_else(runner::default_threads));
    Trained {
        fitted: model.factors,
        history,
        rmse_loss: valid.loss == Loss::Mse,
        params,
        metrics: json!({
            "loss": stored["loss"],
            "n_cold_users": data.users.len() - rated_users,
            "n_cold_items": data.items.len() - rated_items,
            "n_dense_parameters": n_dense,
            "n_embedding_parameters": n_emb,
        }),
        tensors: model.tensors,
        features: Some(features),
        n_validation,
    }
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
    // Parameter errors come before any reading or locking.
    let parsed = Parsed::new(algorithm, &params_json);
    let job = Job {
        params: &parsed,
        rating_col,
        user_col,
        item_col,
        user_features,
        item_features,
    };
    if let Parsed::Mf { .. } = parsed {
        if rating_col.is_none() {
            raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("algorithm \"{algorithm}\" needs explicit ratings, but rating_col is NULL"),
                Some("Name the rating column with rating_col."),
            );
        }
        no_features(&job, algorithm);
    }
    let threads = parsed.threads().unwrap_or_else(runner::default_threads);
    let version = reserve_version(model);

    let spec = SourceSpec {
        source,
        user_col,
        item_col,
        rating_col,
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
    let n_interactions = data.ratings.len();

    let fit_started = Instant::now();
    let trained = match job.params {
        Parsed::Neural { stored, valid } => train_neural(&job, stored, valid, &mut data, pool),
        Parsed::Mf { raw, valid } => train_mf(raw, valid, &mut data, pool),
    };
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let (n_users, n_items) = (data.users.len(), data.items.len());
    let Trained {
        fitted,
        history,
        rmse_loss,
        params: stored_params,
        metrics: extra,
        tensors,
        features,
        n_validation,
    } = trained;

    let best = history
        .iter()
        .filter_map(|h| h.2.map(|v| (h.0, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let last = history.last().copied();
    let mut metrics = json!({
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
        metrics["validation_rmse"] = json!(v);
        metrics["best_epoch"] = json!(epoch);
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
