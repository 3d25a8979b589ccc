//! The model catalog: versions, factors, history. Writes happen inside the caller's
//! transaction, so a failed or cancelled training leaves nothing behind.

use std::cell::RefCell;

use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;
use pgrx::{JsonB, PgBuiltInOids, PgOid};

use crate::errors::{raise, Code, OrRaise};
use crate::keys::{KeyKind, Keys};
use crate::version::{version_columns, version_from_row, VersionInfo};
use pgrec_core::train::{Measurement, Metric};
use pgrec_core::train::{Scorer, Target};

/// One epoch as recorded in the history: (epoch, mean train loss, validation, seconds).
pub type EpochRow = (usize, f64, Option<Measurement>, f64);

thread_local! {
    /// The active-version lookup that every serving call runs, planned once per backend. The
    /// plan cache re-plans it when the current role changes (row-level security depends on the
    /// role) or the catalog's policies change, so a cached plan never widens access.
    static ACTIVE_LOOKUP: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
}

/// The active version of `model`, or the given version; None when there is none or when the
/// current role may not read the model.
pub fn find_version(model: &str, version: Option<i32>) -> Option<VersionInfo> {
    let columns = version_columns();
    Spi::connect(|c| {
        let rows = match version {
            None => ACTIVE_LOOKUP.with(|cell| {
                let mut cell = cell.borrow_mut();
                if cell.is_none() {
                    let stmt = c
                        .prepare(
                            format!(
                                "SELECT {columns} FROM pgrec.model_versions WHERE model = $1 AND active"
                            )
                            .as_str(),
                            &[PgOid::BuiltIn(PgBuiltInOids::TEXTOID)],
                        )
                        .or_raise();
                    *cell = Some(stmt.keep());
                }
                match cell.as_ref() {
                    Some(stmt) => c.select(stmt, Some(1), &[model.into()]),
                    None => unreachable!("prepared above"),
                }
            }),
            Some(v) => c.select(
                &format!("SELECT {columns} FROM pgrec.model_versions WHERE model = $1 AND version = $2"),
                Some(1),
                &[model.into(), v.into()],
            ),
        }
        .or_raise();
        rows.into_iter().next().map(|r| version_from_row(&r))
    })
    // Not in this node's catalog: on a Citus worker, a model distributed from the coordinator.
    .or_else(|| version.is_none().then(|| crate::replica::find(model)).flatten())
}

/// The hidden items of `model` (pgrec.hidden_items), as keys in text form, under the caller's
/// row-level security; on a Citus worker serving a distributed version, from its row.
pub fn hidden_keys(model: &str, info: &VersionInfo) -> Vec<String> {
    if info.distributed {
        return crate::replica::hidden_keys(info.id);
    }
    Spi::connect(|c| {
        c.select(
            "SELECT item FROM pgrec.hidden_items WHERE model OPERATOR(pg_catalog.=) $1",
            None,
            &[model.into()],
        )
        .or_raise()
        .filter_map(|row| row.get::<String>(1).or_raise())
        .collect()
    })
}

/// Like `find_version`, but an unknown model (or version), or one the caller may not read, is
/// an error.
pub fn require_version(model: &str, version: Option<i32>) -> VersionInfo {
    match find_version(model, version) {
        Some(v) => v,
        None => crate::access::missing_model(model, version),
    }
}

/// `version_recipe` of a version found by `find_version`, on this node or distributed to it.
pub fn recipe_of(info: &VersionInfo) -> (String, serde_json::Value) {
    if info.distributed {
        let (algorithm, params) = crate::replica::recipe(info.id);
        (algorithm, crate::params::algorithm_params(&params))
    } else {
        version_recipe(info.id)
    }
}

/// The algorithm and stored (checked) params of a version: what configures the algorithm again
/// (the pipeline's own params, such as keep_versions, taken out).
pub fn version_recipe(id: i64) -> (String, serde_json::Value) {
    Spi::connect(|c| {
        let row = c
            .select(
                "SELECT algorithm, params FROM pgrec.model_versions WHERE id = $1",
                Some(1),
                &[id.into()],
            )
            .or_raise()
            .next();
        let algorithm = row
            .as_ref()
            .and_then(|r| r.get::<String>(1).or_raise())
            .unwrap_or_default();
        let params = row
            .as_ref()
            .and_then(|r| r.get::<JsonB>(2).or_raise())
            .map(|j| j.0)
            .unwrap_or_else(|| serde_json::json!({}));
        (algorithm, crate::params::algorithm_params(&params))
    })
}

/// What a version records to replay its training (see `pgrec.retrain`).
pub struct TrainingRecipe {
    pub source: String,
    pub algorithm: String,
    pub user_col: String,
    pub item_col: String,
    pub rating_col: Option<String>,
    pub params: serde_json::Value,
    pub user_features: Option<String>,
    pub item_features: Option<String>,
}

/// The recorded training of version `id`.
pub fn training_recipe(id: i64) -> TrainingRecipe {
    Spi::connect(|c| {
        let rows = c
            .select(
                "SELECT source, algorithm, user_col, item_col, rating_col, params, user_features, \
                 item_features FROM pgrec.model_versions WHERE id = $1",
                Some(1),
                &[id.into()],
            )
            .or_raise();
        let Some(row) = rows.into_iter().next() else {
            raise(
                Code::ERRCODE_UNDEFINED_OBJECT,
                format!("pgrec: model version {id} disappeared"),
                None,
            )
        };
        let text = |i: usize| row.get::<String>(i).or_raise();
        TrainingRecipe {
            source: text(1).unwrap_or_default(),
            algorithm: text(2).unwrap_or_default(),
            user_col: text(3).unwrap_or_default(),
            item_col: text(4).unwrap_or_default(),
            rating_col: text(5),
            params: row
                .get::<pgrx::JsonB>(6)
                .or_raise()
                .map(|j| j.0)
                .unwrap_or_default(),
            user_features: text(7),
            item_features: text(8),
        }
    })
}

/// Removes the versions of `model` beyond the newest `keep`, never the active one (factors,
/// history and tensors cascade). Runs in the training's transaction, under its lock.
pub fn prune_versions(model: &str, keep: i64) {
    let ids: Vec<i64> = Spi::connect_mut(|c| {
        c.update(
            "DELETE FROM pgrec.model_versions v WHERE v.model = $1 AND NOT v.active \
             AND v.version NOT IN (SELECT version FROM pgrec.model_versions \
                                   WHERE model = $1 ORDER BY version DESC LIMIT $2) \
             RETURNING v.id",
            None,
            &[model.into(), keep.into()],
        )
        .or_raise()
        .filter_map(|r| r.get::<i64>(1).ok().flatten())
        .collect()
    });
    crate::store_file::remove_versions(&ids);
}

/// Id of the active (or given) version; used by the SQL-language embedding functions.
#[pg_extern(stable, parallel_safe, name = "_version_id")]
fn version_id(model: Option<&str>, version: Option<i32>) -> i64 {
    let model = crate::errors::required(model, "model");
    let info = require_version(model, version);
    if info.distributed {
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("the embeddings of model \"{model}\" are not on this node: it serves a copy distributed from the coordinator"),
            Some("Read the embeddings on the coordinator (or its replicas); this node serves recommend, similar_items, predict and score."),
        );
    }
    info.id
}

/// Takes the transaction-level lock that serialises the writers of one model name (training,
/// activate).
pub fn lock_model(model: &str) {
    Spi::connect_mut(|c| {
        c.update(
            "SELECT pg_advisory_xact_lock(hashtextextended('pgrec.model:' || $1, 0))",
            None,
            &[model.into()],
        )
        .or_raise();
    });
}

/// Serialises training of one model name, registers the name to the caller on first use, and
/// checks that the caller may add a version to it. Returns the next version number.
pub fn reserve_version(model: &str) -> i32 {
    lock_model(model);
    let owned = crate::access::require_owner(
        model,
        "train",
        Some("Choose another model name, or ask the owner to grant you membership in their role."),
    );
    // Under REPEATABLE READ or SERIALIZABLE a training of the same name that committed after
    // this transaction's snapshot is invisible here; touching the rows it changed makes
    // PostgreSQL report that as a serialization failure (40001: retry the transaction) instead
    // of a duplicate key. At READ COMMITTED each statement sees it, and the versions follow on.
    Spi::connect_mut(|c| {
        if !owned {
            c.update(
                "INSERT INTO pgrec.model_owners (model, owner) \
                 SELECT $1, r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user \
                 ON CONFLICT (model) DO NOTHING",
                None,
                &[model.into()],
            )
            .or_raise();
            return 1;
        }
        // Locking the active version row: one that a concurrent training deactivated is an
        // update PostgreSQL reports as 40001 here, before the training runs.
        c.update(
            "SELECT 1 FROM pgrec.model_versions WHERE model = $1 AND active FOR UPDATE",
            None,
            &[model.into()],
        )
        .or_raise();
        let last: Option<i32> = c
            .select(
                "SELECT max(version) FROM pgrec.model_versions WHERE model = $1",
                None,
                &[model.into()],
            )
            .or_raise()
            .first()
            .get_one()
            .or_raise();
        last.unwrap_or(0) + 1
    })
}

/// Everything stored about a new version besides its factors.
pub struct NewVersion<'a> {
    pub model: &'a str,
    pub version: i32,
    pub algorithm: &'a str,
    pub params: serde_json::Value,
    pub metrics: serde_json::Value,
    pub source: &'a str,
    pub user_col: &'a str,
    pub item_col: &'a str,
    pub rating_col: Option<&'a str>,
    pub user_features: Option<&'a str>,
    pub item_features: Option<&'a str>,
    pub scorer: Scorer,
    pub target: Target,
    pub user_kind: KeyKind,
    pub item_kind: KeyKind,
    pub n_users: i64,
    pub n_items: i64,
    pub n_interactions: i64,
    pub factors: i32,
    pub global_mean: f32,
    pub rating_range: Option<(f32, f32)>,
    pub train_seconds: f64,
    /// The feature columns the algorithm used (their specs), when it used features.
    pub features: Option<serde_json::Value>,
}

/// Inserts the full version row as the active one (the previous active version is kept,
/// inactive). The only later write to the row is `pipeline::finish_version`, which records the
/// final timings once the factors are stored.
pub fn insert_version(v: &NewVersion<'_>) -> i64 {
    Spi::connect_mut(|c| {
        c.update(
            "UPDATE pgrec.model_versions SET active = false WHERE model = $1 AND active",
            None,
            &[v.model.into()],
        )
        .or_raise();
        let rows = c
            .update(
                "INSERT INTO pgrec.model_versions (model, version, algorithm, params, metrics, source, \
                 user_col, item_col, rating_col, user_key_type, item_key_type, n_users, n_items, \
                 n_interactions, factors, global_mean, rating_min, rating_max, train_seconds, user_features, \
                 item_features, scorer, target, features, active) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
                         $20, $21, $22, $23, $24, true) \
                 RETURNING id",
                None,
                &[
                    v.model.into(),
                    v.version.into(),
                    v.algorithm.into(),
                    JsonB(v.params.clone()).into(),
                    JsonB(v.metrics.clone()).into(),
                    v.source.into(),
                    v.user_col.into(),
                    v.item_col.into(),
                    v.rating_col.into(),
                    v.user_kind.sql_name().into(),
                    v.item_kind.sql_name().into(),
                    v.n_users.into(),
                    v.n_items.into(),
                    v.n_interactions.into(),
                    v.factors.into(),
                    v.global_mean.into(),
                    v.rating_range.map(|r| r.0).into(),
                    v.rating_range.map(|r| r.1).into(),
                    v.train_seconds.into(),
                    v.user_features.into(),
                    v.item_features.into(),
                    v.scorer.name().into(),
                    v.target.name().into(),
                    v.features.clone().map(JsonB).into(),
                ],
            )
            .or_raise();
        rows.into_iter()
            .next()
            .and_then(|r| r.get::<i64>(1).ok().flatten())
            .unwrap_or_else(|| {
                raise(
                    Code::ERRCODE_INTERNAL_ERROR,
                    "pgrec: version insert returned no id",
                    None,
                )
            })
    })
}

/// The items each user rated, as slices of the training pairs sorted by (user, item).
pub struct SeenItems<'a> {
    offsets: Vec<usize>,
    pairs: &'a [pgrec_core::Rating],
}

impl<'a> SeenItems<'a> {
    /// `pairs` must be sorted by user.
    pub fn new(n_users: usize, pairs: &'a [pgrec_core::Rating]) -> Self {
        let mut offsets = vec![0usize; n_users + 1];
        for r in pairs {
            offsets[r.user as usize + 1] += 1;
        }
        for u in 0..n_users {
            offsets[u + 1] += offsets[u];
        }
        Self { offsets, pairs }
    }
}

/// Rows written per INSERT statement when storing factors, at most.
const WRITE_BATCH: usize = 10_000;
/// Embedding values per INSERT statement, at most: wide vectors (ease's n_items values per row)
/// go in fewer rows per statement, so that no array parameter nears PostgreSQL's 1 GB limit.
const WRITE_BATCH_VALUES: usize = 1 << 22;

/// Writes one side's factors: keys, biases, embeddings (sliced from one flat array per batch)
/// and, for users, the items seen in training.
pub fn write_factors(
    version_id: i64,
    users_side: bool,
    keys: &Keys,
    bias: &[f32],
    factors: &[f32],
    k: usize,
    seen: Option<&SeenItems<'_>>,
) {
    let ints = keys.int_column();
    let texts = keys.text_column();
    let n = bias.len();
    let sql = if users_side {
        "INSERT INTO pgrec.user_factors (version_id, idx, user_id, user_key, bias, embedding, seen_items) \
         SELECT $1, $2 + t.o::int - 1, t.id, t.key, t.bias, \
                $6[(t.o::int - 1) * $7 + 1 : t.o::int * $7], \
                COALESCE($8[$9[t.o] + 1 : $9[t.o + 1]], '{}') \
         FROM unnest($3::int8[], $4::text[], $5::float4[]) WITH ORDINALITY AS t(id, key, bias, o)"
    } else {
        "INSERT INTO pgrec.item_factors (version_id, idx, item_id, item_key, bias, embedding) \
         SELECT $1, $2 + t.o::int - 1, t.id, t.key, t.bias, \
                $6[(t.o::int - 1) * $7 + 1 : t.o::int * $7] \
         FROM unnest($3::int8[], $4::text[], $5::float4[]) WITH ORDINALITY AS t(id, key, bias, o)"
    };
    let batch = WRITE_BATCH.min(WRITE_BATCH_VALUES / k.max(1)).max(1);
    let mut start = 0;
    while start < n {
        let end = (start + batch).min(n);
        let (seen_items, seen_offsets): (Vec<i32>, Vec<i32>) = match seen {
            Some(s) => {
                let lo = s.offsets[start];
                let items = s.pairs[lo..s.offsets[end]]
                    .iter()
                    .map(|r| r.item as i32)
                    .collect();
                let offs = s.offsets[start..=end]
                    .iter()
                    .map(|&o| (o - lo) as i32)
                    .collect();
                (items, offs)
            }
            None => (Vec::new(), Vec::new()),
        };
        // One SPI connection per batch, so that the batch's array parameters (allocated in
        // SPI's memory) are freed before the next batch instead of piling up.
        Spi::connect_mut(|c| {
            c.update(
                sql,
                None,
                &[
                    version_id.into(),
                    (start as i32).into(),
                    ints[start..end].to_vec().into(),
                    texts[start..end].to_vec().into(),
                    bias[start..end].to_vec().into(),
                    factors[start * k..end * k].to_vec().into(),
                    (k as i32).into(),
                    seen_items.into(),
                    seen_offsets.into(),
                ],
            )
            .or_raise();
        });
        start = end;
        pgrx::check_for_interrupts!();
    }
}

/// Writes the named parameter blocks of a neural model, one row each.
/// Name of the tensor that holds a version's item popularity (weighted interactions per item)
/// when it was trained with row weights.
pub(crate) const POPULARITY_TENSOR: &str = "item_popularity";

pub fn write_tensors(version_id: i64, tensors: &[(String, usize, usize, Vec<f32>)]) {
    for (name, rows, cols, data) in tensors {
        Spi::connect_mut(|c| {
            c.update(
                "INSERT INTO pgrec.model_tensors (version_id, name, rows, cols, data) VALUES ($1, $2, $3, $4, $5)",
                None,
                &[
                    version_id.into(),
                    name.as_str().into(),
                    (*rows as i32).into(),
                    (*cols as i32).into(),
                    data.clone().into(),
                ],
            )
            .or_raise();
        });
        pgrx::check_for_interrupts!();
    }
}

/// One row per epoch. `rmse` says whether the loss is a squared error (then its root is the
/// training RMSE).
pub fn write_history(version_id: i64, history: &[EpochRow], rmse: bool) {
    let epochs: Vec<i32> = history.iter().map(|h| h.0 as i32).collect();
    let train: Vec<Option<f64>> = history.iter().map(|h| rmse.then(|| h.1.sqrt())).collect();
    let loss: Vec<f64> = history.iter().map(|h| h.1).collect();
    let valid: Vec<Option<f64>> = history
        .iter()
        .map(|h| h.2.filter(|m| m.metric == Metric::Rmse).map(|m| m.value))
        .collect();
    let secs: Vec<f64> = history.iter().map(|h| h.3).collect();
    // Every measurement of the step by name, so that any metric (a ranking metric as well as
    // RMSE) is recorded the same way.
    let named: Vec<String> = history
        .iter()
        .map(|h| {
            let mut m = serde_json::Map::new();
            if rmse {
                m.insert("train_rmse".into(), serde_json::json!(h.1.sqrt()));
            }
            m.insert("train_loss".into(), serde_json::json!(h.1));
            if let Some(v) = h.2 {
                m.insert(
                    format!("validation_{}", v.metric.name()),
                    serde_json::json!(v.value),
                );
            }
            serde_json::Value::Object(m).to_string()
        })
        .collect();
    Spi::connect_mut(|c| {
        c.update(
            "INSERT INTO pgrec.training_history (version_id, epoch, train_rmse, train_loss, validation_rmse, seconds, metrics) \
             SELECT $1, e, t, l, v, s, m::jsonb \
             FROM unnest($2::int4[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::text[]) AS u(e, t, l, v, s, m)",
            None,
            &[version_id.into(), epochs.into(), train.into(), loss.into(), valid.into(), secs.into(), named.into()],
        )
        .or_raise();
    });
}
