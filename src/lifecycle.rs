//! Operations on a model as a whole, for its owner: dropping it and choosing the version that
//! serving reads (retraining is in `train`). What follows a change (the serving cache, Citus)
//! is in `changed`.

use pgrx::prelude::*;

use crate::errors::OrRaise;

/// pgrec.drop_model: removes the model with every version (factors and history cascade).
#[pg_extern(name = "drop_model")]
fn drop_model(model: Option<&str>) {
    crate::errors::require_primary("drop_model");
    let model = crate::errors::required(model, "model");
    crate::access::require_existing_owner(model, "drop", None);
    crate::changed::model_dropped(model);
    let ids: Vec<i64> = Spi::connect_mut(|c| {
        let ids = c
            .select(
                "SELECT id FROM pgrec.model_versions WHERE model = $1",
                None,
                &[model.into()],
            )
            .or_raise()
            .filter_map(|r| r.get::<i64>(1).ok().flatten())
            .collect();
        c.update(
            "DELETE FROM pgrec.model_owners WHERE model = $1",
            None,
            &[model.into()],
        )
        .or_raise();
        ids
    });
    crate::store_file::remove_versions(&ids);
}

/// pgrec.activate: serving reads `version` of `model` from the commit on (a rollback to an
/// older kept version, or forward again). Owner only; serialised with trainings of the name.
#[pg_extern(name = "activate")]
fn activate(model: Option<&str>, version: Option<i32>) {
    crate::errors::require_primary("activate");
    let model = crate::errors::required(model, "model");
    let version = crate::errors::required(version, "version");
    crate::catalog::lock_model(model);
    crate::access::require_existing_owner(model, "activate", Some(crate::access::OWNER_ONLY));
    let missing = Spi::connect(|c| {
        c.select(
            "SELECT 1 FROM pgrec.model_versions WHERE model = $1 AND version = $2",
            Some(1),
            &[model.into(), version.into()],
        )
        .or_raise()
        .is_empty()
    });
    if missing {
        crate::errors::raise(
            crate::errors::Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("model \"{model}\" has no version {version}"),
            Some("SELECT version, active FROM pgrec.models WHERE model = '...' lists the kept versions."),
        );
    }
    // Two statements: the index that allows one active version per model checks every row.
    Spi::connect_mut(|c| {
        c.update(
            "UPDATE pgrec.model_versions SET active = false \
             WHERE model = $1 AND active AND version <> $2",
            None,
            &[model.into(), version.into()],
        )
        .or_raise();
        c.update(
            "UPDATE pgrec.model_versions SET active = true \
             WHERE model = $1 AND version = $2 AND NOT active",
            None,
            &[model.into(), version.into()],
        )
        .or_raise();
    });
    crate::changed::model_changed(model);
}
