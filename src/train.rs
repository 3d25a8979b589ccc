//! pgrec.train and pgrec.retrain, the SQL entry points of training: argument checks, then the
//! pipeline (pipeline.rs).

use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use crate::errors::required;

use crate::pipeline::{run_training, Recipe};

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
    // The serving cache forgets the model; on Citus its new version reaches every node in this
    // transaction.
    crate::changed::model_changed(&row.0);
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
    let mut r = crate::catalog::training_recipe(active.id);
    // The time anchor is the newest time of the source as it is now, not as it was.
    if let Some(o) = r.params.as_object_mut() {
        o.remove("time_anchor");
    }
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
    // The serving cache forgets the model; on Citus its new version reaches every node in this
    // transaction.
    crate::changed::model_changed(&row.0);
    TableIterator::once(row)
}
