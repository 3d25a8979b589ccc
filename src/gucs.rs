//! pgrec's server settings (GUCs), defined once at library load. Everything else reads them
//! through the statics here.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Worker threads for training and evaluation (0: one per CPU core).
pub static THREADS: GucSetting<i32> = GucSetting::<i32>::new(0);

/// Whether serving maps shared serving files (store_file.rs) or keeps a private copy.
pub static SHARED_SERVING: GucSetting<bool> = GucSetting::<bool>::new(true);

/// Lists an approximate search scans (0: the model's ivf_probes; -1: exact scans).
pub static IVF_PROBES: GucSetting<i32> = GucSetting::<i32>::new(0);

/// A session's recall@10 target for approximate searches (0: each model's ann_recall).
pub static ANN_RECALL: GucSetting<f64> = GucSetting::<f64>::new(0.0);

/// The memory limit of one training in MB (0: half of physical memory; memory_guard.rs).
pub static MAX_TRAINING_MEMORY: GucSetting<i32> = GucSetting::<i32>::new(0);

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
        c"Lists that recommend and similar_items scan on models trained with \"ann\": \"ivf\" (0: the model's own; -1: scan every item, exactly).",
        c"More lists find more of the exact answer and take longer; probing every list gives the exact answer. Wins over pgrec.ann_recall and the model's ivf_probes and ann_recall.",
        &IVF_PROBES,
        -1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"pgrec.ann_recall",
        c"The recall@10 this session's approximate searches aim for (0: each model's ann_recall).",
        c"Each index measured its recall at every number of probes when it was built; a search probes the fewest lists whose measured recall reaches this target. No new measurement is made.",
        &ANN_RECALL,
        0.0,
        1.0,
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
