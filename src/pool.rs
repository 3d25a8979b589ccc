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
use rayon::ThreadPool;

use crate::errors::{raise, Code};
use crate::gucs::THREADS;

/// The thread count to use when the caller gave none.
pub fn default_threads() -> usize {
    match THREADS.get() {
        n if n > 0 => n as usize,
        _ => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    }
}

/// Whether the machine has a core to spare beside this backend right now: no more runnable
/// threads (the kernel's instantaneous count in /proc/loadavg, this backend included) than
/// cores (one other, such as the client or a second backend, still leaves room). A serving
/// scan spreads over this backend's pool only then: under a busy connection pool, 16 backends
/// each waking 2 workers on 2 cores would run 32 scan threads, and each backend scanning on its
/// own thread reads the catalog at the same rate without the switching. The answers do not
/// depend on it. True when /proc/loadavg cannot be read.
pub fn core_to_spare() -> bool {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| pgrec_core::parallel::runnable_threads(&s))
        .is_none_or(|running| running <= cores)
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
