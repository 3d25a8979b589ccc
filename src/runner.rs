//! Runs pure-Rust compute on a sized rayon pool while the backend thread keeps servicing
//! interrupts. Workers never call into PostgreSQL; the backend thread waits on a condition
//! variable with a short timeout and calls CHECK_FOR_INTERRUPTS between waits. When an interrupt
//! raises an ERROR, a drop guard sets the cancel flag, the workers stop at their next check, and
//! the ERROR continues once they have.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use pgrec_core::parallel::{build_pool, CancelFlag};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use rayon::ThreadPool;

use crate::errors::{raise, Code};

pub static THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

/// Whether serving maps shared serving files (store_file.rs) or keeps a private copy.
pub static SHARED_SERVING: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Lists an approximate search scans (0: the model's ivf_probes; -1: exact scans).
pub static IVF_PROBES: GucSetting<i32> = GucSetting::<i32>::new(0);

pub fn define_gucs() {
    GucRegistry::define_int_guc(
        c"pgrec.threads",
        c"Worker threads for pgrec training and evaluation (0: one per CPU core).",
        c"The default for the threads parameter of pgrec.train. Models do not depend on it.",
        &THREADS,
        0,
        256,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"pgrec.shared_serving",
        c"Serve models from serving files shared by all connections (one copy per server).",
        c"On: the first backend to serve a version writes its serving file under $PGDATA/pgrec_serving and every backend maps it read-only. Off: each backend keeps a private copy (for a data directory that cannot take the files). Only superusers may change it.",
        &SHARED_SERVING,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pgrec.ivf_probes",
        c"Lists that recommend and similar_items scan on models trained with \"ann\": \"ivf\" (0: the model's ivf_probes; -1: scan every item, exactly).",
        c"More lists find more of the exact answer and take longer; probing every list gives the exact answer.",
        &IVF_PROBES,
        -1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"pgrec.max_training_memory",
        c"Largest estimated memory of one pgrec training (0: half of the machine's memory).",
        c"Trainings whose estimate is larger are refused (53200) before they read or train, instead of risking an out-of-memory abort that restarts every connection. Only superusers may change it.",
        &MAX_TRAINING_MEMORY,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_MB,
    );
}

static MAX_TRAINING_MEMORY: GucSetting<i32> = GucSetting::<i32>::new(0);

/// The memory limit of one training in bytes: the GUC, or half of physical memory.
pub fn max_training_memory() -> u64 {
    match MAX_TRAINING_MEMORY.get() {
        mb if mb > 0 => mb as u64 * 1024 * 1024,
        _ => physical_memory() / 2,
    }
}

fn physical_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        pages as u64 * size as u64
    } else {
        u64::MAX
    }
}

/// The memory guard for reading a source outside training (evaluate, fold_in): the rows read
/// so far, at the loading cost per row.
pub fn check_rows_read(rows: u64) {
    check_memory_of(
        "reading this source",
        pgrec_core::algo::FIXED_BYTES
            .saturating_add(rows.saturating_mul(pgrec_core::algo::LOAD_BYTES_PER_ROW)),
        "the rows read so far",
    )
}

/// Refuses a training whose estimate exceeds the limit (53200), naming both and the phase;
/// `hint` replaces the general one when the algorithm has a better one.
pub fn check_memory(estimate: u64, what: &str, hint: Option<&str>) {
    check_memory_with("this training", estimate, what, hint)
}

/// As [`check_memory`], for `subject` ("this training", "reading this source").
fn check_memory_of(subject: &str, estimate: u64, what: &str) {
    check_memory_with(subject, estimate, what, None)
}

fn check_memory_with(subject: &str, estimate: u64, what: &str, hint: Option<&str>) {
    let limit = max_training_memory();
    if estimate > limit {
        let mb = |b: u64| b.div_ceil(1024 * 1024);
        crate::errors::raise(
            crate::errors::Code::ERRCODE_OUT_OF_MEMORY,
            format!(
                "pgrec: {subject} needs an estimated {} MB ({what}), more than pgrec.max_training_memory ({} MB)",
                mb(estimate),
                mb(limit)
            ),
            Some(hint.unwrap_or("Train on fewer rows (a sample or a time window), with fewer factors, or ask a superuser to raise pgrec.max_training_memory if the machine has the memory.")),
        )
    }
}

/// The thread count to use when the caller gave none.
pub fn default_threads() -> usize {
    match THREADS.get() {
        n if n > 0 => n as usize,
        _ => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    }
}

thread_local! {
    /// This backend's pool, rebuilt only when a different thread count is asked for.
    static POOL: RefCell<Option<(usize, Rc<ThreadPool>)>> = const { RefCell::new(None) };
}

/// A pool of exactly `threads` workers, created on first use in this backend and kept.
pub fn pool(threads: usize) -> Rc<ThreadPool> {
    POOL.with(|p| {
        let mut slot = p.borrow_mut();
        if let Some((n, pool)) = slot.as_ref() {
            if *n == threads {
                return pool.clone();
            }
        }
        // Drop the old pool (its threads exit) before starting the new one.
        *slot = None;
        let pool = match build_pool(threads) {
            Ok(p) => Rc::new(p),
            Err(e) => raise(
                Code::ERRCODE_INSUFFICIENT_RESOURCES,
                format!("could not start {threads} worker threads: {e}"),
                Some("Lower the threads parameter or pgrec.threads."),
            ),
        };
        *slot = Some((threads, pool.clone()));
        pool
    })
}

struct CancelOnDrop<'a>(&'a CancelFlag);

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs `work` on `pool` and returns its result, checking for interrupts every few ms.
pub fn run<R: Send>(pool: &ThreadPool, work: impl FnOnce(&CancelFlag) -> R + Send) -> R {
    let cancel = CancelFlag::new();
    let slot: Mutex<Option<std::thread::Result<R>>> = Mutex::new(None);
    let done = Condvar::new();
    pool.in_place_scope(|scope| {
        let _guard = CancelOnDrop(&cancel);
        scope.spawn(|_| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&cancel)));
            let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
            *s = Some(r);
            done.notify_all();
        });
        let mut s = slot.lock().unwrap_or_else(|e| e.into_inner());
        while s.is_none() {
            drop(s);
            pgrx::check_for_interrupts!();
            s = slot.lock().unwrap_or_else(|e| e.into_inner());
            if s.is_none() {
                s = done
                    .wait_timeout(s, Duration::from_millis(10))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
    });
    match slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(Ok(r)) => r,
        Some(Err(panic)) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            raise(
                Code::ERRCODE_INTERNAL_ERROR,
                format!("pgrec: a worker thread failed: {msg}"),
                None,
            )
        }
        None => raise(
            Code::ERRCODE_INTERNAL_ERROR,
            "pgrec: worker finished without a result",
            None,
        ),
    }
}
