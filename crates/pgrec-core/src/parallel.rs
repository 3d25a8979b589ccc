//! Explicit, sized rayon pools that are safe to run inside a PostgreSQL backend: worker threads
//! are created with every asynchronous signal blocked, so Postgres's signal handlers only ever run
//! on the backend thread.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// Blocks all blockable signals on the calling thread and returns the previous mask.
fn block_all_signals() -> libc::sigset_t {
    // SAFETY: plain libc calls on properly initialised sigset_t values.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    }
}

fn restore_signals(old: &libc::sigset_t) {
    // SAFETY: `old` came from pthread_sigmask.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut());
    }
}

/// A pool of `threads` workers whose threads never receive asynchronous signals.
pub fn build_pool(threads: usize) -> Result<ThreadPool, String> {
    let old = block_all_signals();
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("pgrec-worker-{i}"))
        .start_handler(|_| {
            block_all_signals();
        })
        .build()
        .map_err(|e| e.to_string());
    restore_signals(&old);
    pool
}

/// Shared stop request: set by the owner of the loop, polled by workers between units of work.
#[derive(Debug, Default)]
pub struct CancelFlag(AtomicBool);

impl CancelFlag {
    pub fn new() -> Self {
        Self(AtomicBool::new(false))
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    pub fn check(&self) -> crate::error::Result<()> {
        if self.is_cancelled() {
            Err(crate::error::CoreError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A raw pointer that may be shared between threads. Used where parallel tasks write to
/// provably disjoint parts of one buffer (blocks of a diagonal touch disjoint users and items).
#[derive(Clone, Copy)]
pub(crate) struct SharedMut<T>(*mut T);

// SAFETY: users of SharedMut guarantee that concurrent accesses touch disjoint elements.
unsafe impl<T: Send> Send for SharedMut<T> {}
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    pub(crate) fn new(slice: &mut [T]) -> Self {
        Self(slice.as_mut_ptr())
    }

    /// # Safety
    /// `start..start+len` must be in bounds and not accessed by any other thread meanwhile.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        // SAFETY: in bounds and exclusive, per the caller's contract above.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }

    /// Address of element `index` (for prefetch hints; never dereferenced here).
    #[inline(always)]
    pub(crate) fn ptr(&self, index: usize) -> *const T {
        self.0.wrapping_add(index)
    }

    /// # Safety
    /// `index` must be in bounds and not accessed by any other thread meanwhile.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn at(&self, index: usize) -> &mut T {
        // SAFETY: in bounds and exclusive, per the caller's contract above.
        unsafe { &mut *self.0.add(index) }
    }
}

/// The runnable threads of a /proc/loadavg line ("0.52 0.58 0.59 3/812 12345" -> 3): the
/// kernel's instantaneous count, the reader included.
pub fn runnable_threads(loadavg: &str) -> Option<usize> {
    loadavg
        .split_whitespace()
        .nth(3)?
        .split('/')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn runnable_threads_of_a_loadavg_line() {
        assert_eq!(
            super::runnable_threads("0.52 0.58 0.59 3/812 12345\n"),
            Some(3)
        );
        assert_eq!(super::runnable_threads("1.00 0.50 0.25 17/140 9"), Some(17));
        assert_eq!(super::runnable_threads("garbage"), None);
        assert_eq!(super::runnable_threads(""), None);
    }

    use super::*;

    #[test]
    fn pool_has_requested_size_and_runs_work() {
        let pool = build_pool(3).unwrap();
        assert_eq!(pool.current_num_threads(), 3);
        let s: u64 = pool.install(|| {
            use rayon::prelude::*;
            (0..1000u64).into_par_iter().sum()
        });
        assert_eq!(s, 499_500);
    }

    #[test]
    fn workers_block_signals() {
        let pool = build_pool(1).unwrap();
        // SAFETY: plain libc calls on zero-initialised sigset_t values.
        let blocked = pool.install(|| unsafe {
            let mut cur: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut cur);
            libc::sigismember(&cur, libc::SIGINT) == 1
                && libc::sigismember(&cur, libc::SIGALRM) == 1
        });
        assert!(blocked);
        // The calling thread's mask is restored.
        // SAFETY: as above.
        let main_blocked = unsafe {
            let mut cur: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut cur);
            libc::sigismember(&cur, libc::SIGINT) == 1
        };
        assert!(!main_blocked);
    }
}
