//! Who may use a model. A model is as private as its source: by default only members of its
//! owner role (and superusers) may serve it, read its embeddings, evaluate it or see its catalog
//! rows; `pgrec.grant_model` opens reading to another role or to PUBLIC. Only the owner may train
//! new versions, grant, revoke or drop.
//!
//! Rows are filtered by row-level security on every pgrec table (sql/bootstrap.sql), which runs
//! as the current role, so a `SET ROLE` inside a backend is honoured on the next call even when
//! the model is already in the serving cache. This module only turns "no row visible" into the
//! right error, and checks ownership before writes.

use pgrx::prelude::*;

use crate::errors::{raise, Code, OrRaise};

/// The owner of a model name, visible to everyone (see `pgrec._model_owner`).
pub struct Owner {
    pub name: String,
    /// Whether the current role is a member of the owner role (superusers always are).
    pub is_member: bool,
}

/// The owner of `model`, or None when no such model exists.
pub fn owner_of(model: &str) -> Option<Owner> {
    Spi::connect(|c| {
        let rows = c
            .select(
                "SELECT pg_catalog.pg_get_userbyid(o)::text, pgrec._is_member(o) \
                 FROM pgrec._model_owner($1) AS o WHERE o IS NOT NULL",
                None,
                &[model.into()],
            )
            .or_raise();
        rows.into_iter().next().map(|row| Owner {
            name: row.get::<String>(1).or_raise().unwrap_or_default(),
            is_member: row.get::<bool>(2).or_raise().unwrap_or(false),
        })
    })
}

/// Whether the current role may read `model` (its model_owners row is visible to it).
fn can_read(model: &str) -> bool {
    Spi::connect(|c| {
        !c.select(
            "SELECT 1 FROM pgrec.model_owners WHERE model = $1",
            Some(1),
            &[model.into()],
        )
        .or_raise()
        .is_empty()
    })
}

/// The error for a model the caller cannot see: "permission denied" when it exists (the owner
/// can share it), "does not exist" otherwise. `version` names the version asked for, if any.
pub fn missing_model(model: &str, version: Option<i32>) -> ! {
    let readable = can_read(model);
    if !readable && owner_of(model).is_some() {
        raise(
            Code::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("permission denied for model \"{model}\""),
            Some(&format!(
                "The model's owner can share it: SELECT pgrec.grant_model('{}', '<your role>');",
                model.replace('\'', "''")
            )),
        )
    }
    match version {
        Some(v) if readable => raise(
            Code::ERRCODE_UNDEFINED_OBJECT,
            format!("model \"{model}\" has no version {v}"),
            Some("SELECT version FROM pgrec.models WHERE model = ... lists its versions."),
        ),
        _ => raise(
            Code::ERRCODE_UNDEFINED_OBJECT,
            format!("model \"{model}\" does not exist"),
            Some("SELECT model FROM pgrec.models lists the models you may use; pgrec.train creates one."),
        ),
    }
}

/// Raises 42501 unless the current role owns `model` (is a member of its owner role). `action`
/// completes "permission denied to ... model". Returns false when the model does not exist.
pub fn require_owner(model: &str, action: &str, hint: Option<&str>) -> bool {
    match owner_of(model) {
        None => false,
        Some(Owner {
            is_member: true, ..
        }) => true,
        Some(Owner { name, .. }) => raise(
            Code::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!(
                "permission denied to {action} model \"{model}\", which belongs to role \"{name}\""
            ),
            hint,
        ),
    }
}

/// Like `require_owner`, but an unknown model is an error too.
pub fn require_existing_owner(model: &str, action: &str, hint: Option<&str>) {
    if !require_owner(model, action, hint) {
        raise(
            Code::ERRCODE_UNDEFINED_OBJECT,
            format!("model \"{model}\" does not exist"),
            Some("SELECT model FROM pgrec.models lists the models you may use."),
        )
    }
}

pub const OWNER_ONLY: &str = "Only the owner role of a model (or a member of it) may do this.";

/// Runs `f` with search_path pg_catalog, pg_temp, as the current role: queries that decide
/// what pgrec writes where every node trusts it resolve their operators and functions in
/// pg_catalog, never in a schema the caller put first. Restored when `f` returns (an ERROR
/// aborts the (sub)transaction, which restores it too).
pub fn with_catalog_search_path<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: a GUC nest level and a SET of search_path on the backend thread, as a function
    // with a SET clause does.
    let nest = unsafe {
        let nest = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            c"pg_catalog, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        nest
    };
    let result = f();
    // SAFETY: pops the nest level opened above.
    unsafe { pg_sys::AtEOXact_GUC(true, nest) };
    result
}

/// Runs `write` as the role that owns the pgrec extension, with search_path pg_catalog: the
/// catalog writes that no other role may make directly (pgrec.distributed_models, whose rows
/// every Citus node trusts). Callers check ownership of the model first, with the caller's own
/// privileges; `write` must not run anything the caller chose. An ERROR inside `write` aborts
/// the (sub)transaction, which restores the user and the search_path; the normal path restores
/// them here.
pub fn as_extension_owner<R>(write: impl FnOnce() -> R) -> R {
    let owner = crate::spi::select_one::<pg_sys::Oid>(
        "SELECT extowner FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pgrec'",
        &[],
    )
    .unwrap_or_else(|| {
        raise(
            Code::ERRCODE_UNDEFINED_OBJECT,
            "extension \"pgrec\" is not installed in this database",
            None,
        )
    });
    let (mut user, mut context) = (pg_sys::Oid::INVALID, 0i32);
    // SAFETY: plain reads and writes of the backend's user state, on the backend thread.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(
            owner,
            context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32,
        );
    }
    let result = with_catalog_search_path(write);
    // SAFETY: restores the user saved above.
    unsafe { pg_sys::SetUserIdAndSecContext(user, context) };
    result
}
