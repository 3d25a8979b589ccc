//! The serving files of this database on this node, as SQL sees them: the view
//! `pgrec.serving_files` (over `pgrec._serving_files()`), `pgrec.remove_unused_files()`, and the
//! removal of the database's files by `DROP EXTENSION pgrec` (an object-access hook, installed
//! when the library loads; the extension's event trigger loads it before any DROP EXTENSION).

use std::collections::HashSet;
use std::ffi::{c_int, c_void, CStr};

use pgrx::prelude::*;

use crate::errors::OrRaise;

/// Internal: every file of this database's serving directory; the view pgrec.serving_files
/// joins it with the versions the caller may read.
#[pg_extern(name = "_serving_files", volatile, parallel_unsafe)]
fn serving_files() -> TableIterator<
    'static,
    (
        name!(path, String),
        name!(version_id, Option<i64>),
        name!(stamp, Option<i64>),
        name!(bytes, i64),
    ),
> {
    let rows: Vec<_> = crate::store_file::list()
        .into_iter()
        .map(|f| {
            (
                f.path,
                f.version_id,
                f.stamp,
                i64::try_from(f.bytes).unwrap_or(i64::MAX),
            )
        })
        .collect();
    TableIterator::new(rows)
}

/// pgrec.remove_unused_files(): removes the files that no version of the catalog refers to
/// (rolled-back or crashed trainings and fold-ins, versions dropped while a standby served
/// them, stamps replaced by a fold-in) and left-over temporary files; returns the bytes freed.
/// Every version counts, whoever may read it: the check runs as the extension's owner. Files
/// are a cache of the tables, so removing one that a concurrent transaction is about to commit
/// costs a rebuild, never an answer. Works on a standby too (for its own files).
#[pg_extern(name = "remove_unused_files", volatile, parallel_unsafe)]
fn remove_unused_files() -> i64 {
    let versions: HashSet<(i64, i64)> = crate::access::as_extension_owner(|| {
        Spi::connect(|c| {
            c.select(
                "SELECT v.id, v.xmin::text::int8 FROM pgrec.model_versions v",
                None,
                &[],
            )
            .or_raise()
            .map(|row| {
                (
                    row.get::<i64>(1).or_raise().unwrap_or_default(),
                    row.get::<i64>(2).or_raise().unwrap_or_default(),
                )
            })
            .collect()
        })
    });
    let freed = crate::store_file::remove_unused(|id, stamp| versions.contains(&(id, stamp)));
    i64::try_from(freed).unwrap_or(i64::MAX)
}

/// Internal: loads the library (the event trigger on DROP EXTENSION calls it, so that the
/// object-access hook below sees the drop whichever backend runs it).
#[pg_extern(name = "_load", immutable, parallel_safe)]
fn load() -> bool {
    true
}

static mut PREVIOUS_HOOK: pg_sys::object_access_hook_type = None;

/// Installs the hook; called once from `_PG_init`.
pub fn install_drop_hook() {
    // SAFETY: _PG_init runs once per backend, on the backend thread, before any hook fires.
    unsafe {
        PREVIOUS_HOOK = pg_sys::object_access_hook;
        pg_sys::object_access_hook = Some(on_object_access);
    }
}

/// On the drop of extension pgrec: removes this database's serving files. A drop that rolls
/// back loses only a cache (the next serving call rebuilds each file from the tables).
#[pg_guard]
unsafe extern "C-unwind" fn on_object_access(
    access: pg_sys::ObjectAccessType::Type,
    class_id: pg_sys::Oid,
    object_id: pg_sys::Oid,
    sub_id: c_int,
    arg: *mut c_void,
) {
    // SAFETY: the previous hook, if any, was installed by another library with this signature.
    unsafe {
        if let Some(previous) = PREVIOUS_HOOK {
            previous(access, class_id, object_id, sub_id, arg);
        }
    }
    if access == pg_sys::ObjectAccessType::OAT_DROP && class_id == pg_sys::ExtensionRelationId {
        // SAFETY: a syscache lookup of the extension being dropped (its row still exists while
        // the drop hook runs); the name is palloc'd in the current context.
        let is_pgrec = unsafe {
            let name = pg_sys::get_extension_name(object_id);
            !name.is_null() && CStr::from_ptr(name).to_bytes() == b"pgrec"
        };
        if is_pgrec {
            crate::store_file::remove_database_files();
        }
    }
}
