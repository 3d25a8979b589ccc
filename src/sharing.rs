//! pgrec.grant_model and pgrec.revoke_model: the owner opens reading of a model to another role
//! (or PUBLIC) and takes it back. The checks themselves live in access.rs.

use pgrx::prelude::*;

use crate::access::{require_existing_owner, OWNER_ONLY};
use crate::errors::{raise, required, Code, OrRaise};

/// The OID a grant is stored under: 0 for PUBLIC (any spelling, as in GRANT), else the role's.
fn grantee_oid(role: &str) -> i64 {
    if role.eq_ignore_ascii_case("public") {
        return 0;
    }
    let oid: Option<i64> = Spi::connect(|c| {
        let rows = c
            .select(
                "SELECT oid::int8 FROM pg_catalog.pg_roles WHERE rolname = $1",
                Some(1),
                &[role.into()],
            )
            .or_raise();
        rows.into_iter()
            .next()
            .and_then(|row| row.get::<i64>(1).or_raise())
    });
    match oid {
        Some(o) => o,
        None => raise(
            Code::ERRCODE_UNDEFINED_OBJECT,
            format!("role \"{role}\" does not exist"),
            Some("Role names are case-sensitive here: pass the name as stored in pg_roles, or PUBLIC."),
        ),
    }
}

/// Adds (grant) or removes (revoke) `role` from the model's readers; grants to roles that no
/// longer exist are dropped on the way. Returns whether the list changed.
fn set_reader(model: &str, role: &str, grant: bool) -> bool {
    let oid = grantee_oid(role);
    Spi::connect_mut(|c| {
        let rows = c
            .update(
                "WITH old AS (SELECT readers FROM pgrec.model_owners WHERE model = $1 FOR UPDATE), \
                      new AS (SELECT ARRAY(SELECT DISTINCT g FROM unnest(old.readers || $2::int8::oid) AS g \
                                           WHERE (g <> $2::int8::oid OR $3) \
                                             AND (g = 0 OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = g)) \
                                           ORDER BY g) AS readers, \
                                     old.readers AS before FROM old) \
                 UPDATE pgrec.model_owners o SET readers = new.readers FROM new \
                 WHERE o.model = $1 RETURNING NOT (($2::int8::oid = ANY (new.readers)) = ($2::int8::oid = ANY (new.before)))",
                None,
                // The OID travels as int8: PUBLIC's 0 would become a NULL Oid datum.
                &[model.into(), oid.into(), grant.into()],
            )
            .or_raise();
        rows.into_iter()
            .next()
            .and_then(|row| row.get::<bool>(1).or_raise())
            .unwrap_or(false)
    })
}

/// pgrec.grant_model: lets `role` (or PUBLIC) serve the model, read its embeddings and catalog
/// rows and evaluate it. Owner only.
#[pg_extern(name = "_grant_model")]
fn grant_model(model: Option<&str>, role: Option<&str>) {
    crate::errors::require_primary("grant_model");
    let model = required(model, "model");
    let role = required(role, "role");
    require_existing_owner(model, "grant access to", Some(OWNER_ONLY));
    if !set_reader(model, role, true) {
        pgrx::notice!("pgrec: role \"{role}\" could already read model \"{model}\"");
    }
    crate::changed::model_changed(model);
}

/// pgrec.revoke_model: takes back a grant made with pgrec.grant_model. Owner only. Revoking from
/// a role that holds no grant is a NOTICE, as with REVOKE.
#[pg_extern(name = "_revoke_model")]
fn revoke_model(model: Option<&str>, role: Option<&str>) {
    crate::errors::require_primary("revoke_model");
    let model = required(model, "model");
    let role = required(role, "role");
    require_existing_owner(model, "revoke access to", Some(OWNER_ONLY));
    if !set_reader(model, role, false) {
        pgrx::notice!("pgrec: role \"{role}\" had no grant on model \"{model}\"; nothing revoked");
    }
    crate::changed::model_changed(model);
}
