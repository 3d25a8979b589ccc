//! Serving files on disk: one per model version and version-row stamp, under
//! `$PGDATA/pgrec_serving/<database oid>/`, written once by the first backend that serves the
//! version and memory-mapped read-only by every backend after it (see `pgrec_core::store`). The
//! page cache holds one copy of the model for the whole server; a backend's private memory
//! holds only the small per-call state.
//!
//! The catalog tables stay the source of truth. A file is named by the version id and the
//! version row's stamp (its xmin, which changes when a fold-in adds users), both read from the
//! catalog on every call, so a file is never served for another state of the version; a file
//! that is missing, unreadable or damaged is rebuilt from the tables. Files are removed when
//! their versions are dropped or pruned, when a newer stamp of the same version is written, by
//! `pgrec.remove_unused_files()` (files no committed version refers to: rolled-back trainings,
//! crashes, versions dropped on a primary while a standby served them) and with the database's
//! directory by `DROP EXTENSION pgrec`.

use std::ffi::CStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use pgrec_core::store::AlignedBytes;
use pgrx::pg_sys;

/// The bytes of a serving file: a read-only shared mapping, or a heap copy when no file could
/// be written or mapped (a full disk, a read-only data directory).
pub enum Backing {
    Map { ptr: *mut libc::c_void, len: usize },
    Heap(AlignedBytes),
}

// SAFETY: a Backing is read-only memory (a PROT_READ mapping or a heap buffer never written
// after construction), so sharing it with the pool's worker threads is safe.
unsafe impl Send for Backing {}
unsafe impl Sync for Backing {}

impl Backing {
    pub fn bytes(&self) -> &[u8] {
        match self {
            // SAFETY: the mapping is PROT_READ, len bytes long, and lives until drop.
            Backing::Map { ptr, len } => unsafe {
                std::slice::from_raw_parts(*ptr as *const u8, *len)
            },
            Backing::Heap(b) => b.bytes(),
        }
    }

    pub fn is_mapped(&self) -> bool {
        matches!(self, Backing::Map { .. })
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        if let Backing::Map { ptr, len } = *self {
            // SAFETY: ptr/len came from a successful mmap and are unmapped once.
            unsafe {
                libc::munmap(ptr, len);
            }
        }
    }
}

/// `$PGDATA/pgrec_serving`.
fn root() -> PathBuf {
    // SAFETY: DataDir is set by the postmaster before any backend runs SQL, and never freed.
    let data = unsafe { CStr::from_ptr(pg_sys::DataDir) };
    PathBuf::from(data.to_string_lossy().into_owned()).join("pgrec_serving")
}

/// `$PGDATA/pgrec_serving/<database oid>`.
fn dir() -> PathBuf {
    // SAFETY: MyDatabaseId is this backend's database, set at connection start.
    let db = unsafe { pg_sys::MyDatabaseId };
    root().join(u32::from(db).to_string())
}

/// Removes the serving files of databases that no longer exist (`existing`: the oids of those
/// that do), so dropped databases do not leave models behind.
pub fn remove_dropped_databases(existing: &[u32]) {
    let Ok(entries) = fs::read_dir(root()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if let Ok(oid) = name.to_string_lossy().parse::<u32>() {
            if !existing.contains(&oid) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

fn file_name(version_id: i64, stamp: i64) -> String {
    format!("{version_id}_{stamp}.model")
}

/// Maps the file of (version, stamp) if it exists.
pub fn open(version_id: i64, stamp: i64) -> Option<Backing> {
    let path = dir().join(file_name(version_id, stamp));
    let file = fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len() as usize;
    if len == 0 {
        return None;
    }
    use std::os::unix::io::AsRawFd;
    // SAFETY: a read-only shared mapping of a regular file we opened; checked for MAP_FAILED.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return None;
    }
    Some(Backing::Map { ptr, len })
}

/// Writes the file of (version, stamp) (atomically: a temporary file renamed into place, so a
/// concurrent reader sees a whole file or none) and removes older stamps of the version.
/// Errors are returned, not raised: the caller serves from memory instead.
pub fn write(version_id: i64, stamp: i64, bytes: &[u8]) -> std::io::Result<()> {
    let dir = dir();
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let name = file_name(version_id, stamp);
    let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
    // The bytes reach the disk before the name does, and the name before this returns: after a
    // crash the file is whole or absent (a left-over temporary file is removed by
    // pgrec.remove_unused_files), never a prefix under the final name.
    let written = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, dir.join(&name)));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::File::open(&dir)?.sync_all()?;
    remove_matching(&dir, version_id, Some(&name));
    Ok(())
}

/// One file of this database's serving directory.
pub struct FileEntry {
    /// Relative to the data directory, as `pg_relation_filepath` gives table files.
    pub path: String,
    pub version_id: Option<i64>,
    /// The version row's stamp the file was built for; None for a temporary file.
    pub stamp: Option<i64>,
    /// For a temporary file: the process that was writing it.
    pub writer_pid: Option<i32>,
    pub bytes: u64,
}

/// Parses `<version>_<stamp>.model` and `<version>_<stamp>.model.<pid>.tmp`.
fn parse_name(name: &str) -> Option<(i64, Option<i64>, Option<i32>)> {
    let (stem, pid) = match name.strip_suffix(".tmp") {
        Some(t) => {
            let (stem, pid) = t.rsplit_once('.')?;
            (stem, Some(pid.parse::<i32>().ok()?))
        }
        None => (name, None),
    };
    let (id, stamp) = stem.strip_suffix(".model")?.split_once('_')?;
    let stamp = stamp.parse::<i64>().ok()?;
    Some((id.parse::<i64>().ok()?, pid.is_none().then_some(stamp), pid))
}

/// The files of this database's serving directory (none when it does not exist), by name.
pub fn list() -> Vec<FileEntry> {
    let dir = dir();
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    // SAFETY: MyDatabaseId is this backend's database, set at connection start.
    let db = u32::from(unsafe { pg_sys::MyDatabaseId });
    let mut out: Vec<FileEntry> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            let parsed = parse_name(&name);
            Some(FileEntry {
                path: format!("pgrec_serving/{db}/{name}"),
                version_id: parsed.map(|p| p.0),
                stamp: parsed.and_then(|p| p.1),
                writer_pid: parsed.and_then(|p| p.2),
                bytes: meta.len(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Removes the files that `in_use` rejects (given version id and stamp) and the temporary files
/// of writers that are gone (a crash in the middle of a write). Returns the bytes freed.
pub fn remove_unused(in_use: impl Fn(i64, i64) -> bool) -> u64 {
    let dir = dir();
    let mut freed = 0;
    for f in list() {
        let name = f.path.rsplit('/').next().unwrap_or_default();
        let remove = match (f.version_id, f.stamp, f.writer_pid) {
            (Some(id), Some(stamp), None) => !in_use(id, stamp),
            // SAFETY: kill with signal 0 only checks that the process exists.
            (_, _, Some(pid)) => {
                pid > 0
                    && unsafe { libc::kill(pid, 0) } != 0
                    && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
            }
            // Not a name pgrec writes: left alone.
            _ => false,
        };
        if remove && fs::remove_file(dir.join(name)).is_ok() {
            freed += f.bytes;
        }
    }
    freed
}

/// Removes this database's serving directory (DROP EXTENSION pgrec). Files are a cache of the
/// catalog: if the drop rolls back, the next call that serves a version rebuilds its file.
pub fn remove_database_files() {
    let _ = fs::remove_dir_all(dir());
}

/// Removes the files of `version_id` except `keep`.
fn remove_matching(dir: &std::path::Path, version_id: i64, keep: Option<&str>) {
    let prefix = format!("{version_id}_");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".model") && Some(name.as_ref()) != keep {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Removes the file of (version, stamp), if any.
pub fn remove_stamp(version_id: i64, stamp: i64) {
    let _ = fs::remove_file(dir().join(file_name(version_id, stamp)));
}

/// Removes the files of versions that were dropped or pruned. A file removed by a transaction
/// that then rolls back is rebuilt by the next backend that serves the version.
pub fn remove_versions(version_ids: &[i64]) {
    let dir = dir();
    for &id in version_ids {
        remove_matching(&dir, id, None);
    }
}
