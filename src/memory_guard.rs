//! The memory guard: trainings (and source reads outside training) whose estimated memory
//! exceeds pgrec.max_training_memory are refused (53200) before they read or train, instead of
//! risking an out-of-memory abort that restarts every connection.

use crate::errors::{raise, Code};
use crate::gucs::MAX_TRAINING_MEMORY;

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
        pgrec_core::algo::contract::FIXED_BYTES
            .saturating_add(rows.saturating_mul(pgrec_core::algo::contract::LOAD_BYTES_PER_ROW)),
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
        raise(
            Code::ERRCODE_OUT_OF_MEMORY,
            format!(
                "pgrec: {subject} needs an estimated {} MB ({what}), more than pgrec.max_training_memory ({} MB)",
                mb(estimate),
                mb(limit)
            ),
            Some(hint.unwrap_or("Train on fewer rows (a sample or a time window), with fewer factors, or ask a superuser to raise pgrec.max_training_memory if the machine has the memory.")),
        )
    }
}
