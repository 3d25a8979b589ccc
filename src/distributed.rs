//! Citus: serving a model on every node. `pgrec.distribute_model` copies the active version's
//! serving data (the serving file's bytes) and what serving needs into
//! pgrec.distributed_models, which it makes a Citus reference table: every node holds a copy,
//! and a change commits on all nodes at once (Citus's two-phase commit), inside the caller's
//! transaction. From then on every change of the model's active version on the coordinator
//! (training, retrain, activate, fold-in) and of its readers rewrites the row in the same
//! transaction, so no node serves a stale version; drop_model deletes it.
//!
//! On a worker the model is not in the local catalog; `catalog::find_version` then reads the
//! row through replica.rs.
//!
//! A worker cannot check a row against the coordinator's pgrec.model_owners, so every node
//! trusts the rows it holds: no role may write the table directly (a planted row would claim a
//! name nobody distributed). pgrec writes them as the extension's owner, after checking with the
//! caller's privileges that the caller owns the model (`access::as_extension_owner`).

use pgrec_core::algo::fold::FOLD_TENSORS;
use pgrec_core::algo::neural::ncf::HEAD_TENSOR_PATTERN;
use pgrx::prelude::*;

use crate::errors::{raise, required, Code, OrRaise};
use crate::replica::{citus_present, is_reference_table};

/// pgrec.distribute_model: makes the active version of `model` servable on every node of the
/// Citus cluster, and keeps it so. Owner only.
#[pg_extern(name = "distribute_model")]
fn distribute_model(model: Option<&str>) {
    crate::errors::require_primary("distribute_model");
    let model = required(model, "model");
    if !citus_present() {
        raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            "pgrec.distribute_model needs Citus: extension \"citus\" is not installed in this database",
            Some("Serve from this server or its replicas; on a Citus coordinator, CREATE EXTENSION citus first."),
        );
    }
    crate::catalog::lock_model(model);
    crate::access::require_existing_owner(model, "distribute", Some(crate::access::OWNER_ONLY));
    if !is_reference_table() {
        // Once per database: every node gets a copy of the table from now on.
        crate::access::as_extension_owner(|| {
            Spi::run("SELECT pg_catalog.create_reference_table('pgrec.distributed_models')")
                .or_raise()
        });
    }
    push(model);
}

/// Writes the model's active version into its row (insert or replace). The row is written as
/// the extension's owner (no other role may write the table: every node trusts its rows), after
/// checking here, as the caller, that the caller owns the model.
///
/// Everything runs with search_path pg_catalog: the version read here (found with the caller's
/// privileges) is what every node will serve under this name, so no operator of the caller's
/// may pick another model's rows.
fn push(model: &str) {
    crate::access::with_catalog_search_path(|| push_row(model))
}

fn push_row(model: &str) {
    crate::access::require_existing_owner(model, "distribute", Some(crate::access::OWNER_ONLY));
    let info = crate::catalog::require_version(model, None);
    let serving = crate::cache::file_bytes(&info);
    Spi::connect_mut(|c| {
        let row = c
            .select(
                &format!(
                    "SELECT pg_catalog.pg_get_userbyid(o.owner)::text, \
                        ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(r)::text END \
                              FROM unnest(o.readers) r)::text[], \
                        v.version, v.params, \
                        jsonb_build_object('user_key_type', v.user_key_type, 'item_key_type', v.item_key_type, \
                            'factors', v.factors, 'global_mean', v.global_mean, 'rating_min', v.rating_min, \
                            'rating_max', v.rating_max, 'user_col', v.user_col, 'item_col', v.item_col, \
                            'rating_col', v.rating_col, 'scorer', v.scorer, 'target', v.target, \
                            'algorithm', v.algorithm, 'hidden_changes', o.hidden_changes, \
                            'hidden', (SELECT coalesce(jsonb_agg(h.item ORDER BY h.item), '[]') \
                                       FROM pgrec.hidden_items h WHERE h.model = o.model), \
                            'head', (SELECT jsonb_agg(jsonb_build_object('name', t.name, 'rows', t.rows, \
                                                          'cols', t.cols, 'data', to_jsonb(t.data::float8[]::numeric[])) ORDER BY t.name) \
                                     FROM pgrec.model_tensors t \
                                     WHERE t.version_id = v.id AND t.name LIKE '{HEAD_TENSOR_PATTERN}'), \
                            'fold', (SELECT jsonb_agg(jsonb_build_object('name', t.name, 'rows', t.rows, \
                                                          'cols', t.cols, 'data', to_jsonb(t.data::float8[]::numeric[])) ORDER BY t.name) \
                                     FROM pgrec.model_tensors t \
                                     WHERE t.version_id = v.id AND t.name LIKE '{FOLD_TENSORS}')), \
                        v.model \
                 FROM pgrec.model_owners o JOIN pgrec.model_versions v ON v.model = o.model \
                 WHERE v.id = $1"
                ),
                Some(1),
                &[info.id.into()],
            )
            .or_raise()
            .next();
        let Some(row) = row else {
            crate::access::missing_model(model, None)
        };
        let owner: Option<String> = row.get(1).or_raise();
        let readers: Option<Vec<String>> = row.get(2).or_raise();
        let version: Option<i32> = row.get(3).or_raise();
        let params: Option<pgrx::JsonB> = row.get(4).or_raise();
        let described: Option<pgrx::JsonB> = row.get(5).or_raise();
        let of_model: Option<String> = row.get(6).or_raise();
        if of_model.as_deref() != Some(model) {
            raise(
                Code::ERRCODE_INTERNAL_ERROR,
                format!(
                    "pgrec: version {} does not belong to model \"{model}\"",
                    info.id
                ),
                None,
            );
        }
        crate::access::as_extension_owner(|| c.update(
            "INSERT INTO pgrec.distributed_models \
                 (model, owner, readers, version_id, version, info, params, serving) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (model) DO UPDATE SET owner = EXCLUDED.owner, readers = EXCLUDED.readers, \
                 version_id = EXCLUDED.version_id, version = EXCLUDED.version, info = EXCLUDED.info, \
                 params = EXCLUDED.params, serving = EXCLUDED.serving, \
                 distributed_at = EXCLUDED.distributed_at",
            None,
            &[
                model.into(),
                owner.into(),
                readers.unwrap_or_default().into(),
                info.id.into(),
                version.into(),
                described.into(),
                params.into(),
                serving.into(),
            ],
        ))
        .or_raise();
    });
}

/// Whether `model` has a row in pgrec.distributed_models that this role sees (Citus installed).
fn is_distributed(model: &str) -> bool {
    citus_present()
        && crate::spi::select_one::<bool>(
            "SELECT EXISTS (SELECT 1 FROM pgrec.distributed_models WHERE model = $1)",
            &[model.into()],
        )
        .unwrap_or(false)
}

/// After a change of `model`'s active version or readers on this node: rewrites its row when
/// the model is distributed (nothing to do otherwise).
pub fn refresh(model: &str) {
    if is_distributed(model) {
        push(model);
    }
}

/// After drop_model: removes the model's row, on every node.
pub fn forget(model: &str) {
    if is_distributed(model) {
        crate::access::require_existing_owner(model, "drop", Some(crate::access::OWNER_ONLY));
        crate::access::as_extension_owner(|| {
            Spi::run_with_args(
                "DELETE FROM pgrec.distributed_models WHERE model OPERATOR(pg_catalog.=) $1",
                &[model.into()],
            )
        })
        .or_raise();
    }
}
