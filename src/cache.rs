//! The per-backend cache of served versions, and how a version becomes servable. The active
//! version of a model is served from its serving file (store_file.rs), memory-mapped by every
//! backend, so the server holds one copy; each backend keeps the mapping in a cache keyed by
//! model name, version id and stamp. A new version is picked up as soon as its transaction has
//! committed (the version lookup runs on every call). The first backend to serve a version
//! builds its file from the catalog tables (or, on a Citus worker, from the distributed row).

use crate::catalog::require_version;
use crate::errors::{raise, Code, OrRaise};
use crate::keys::{KeyArg, KeyKind, Keys};
use crate::params::{Ann, PipelineParams};
use crate::version::VersionInfo;
use pgrec_core::algo::contract::Tensor;
use pgrec_core::algo::fold::FOLD_TENSORS;
use pgrec_core::algo::neural::ncf::{score_head_from_tensors, HEAD_TENSOR_PATTERN};
use pgrec_core::data::ItemLists;
use pgrec_core::kernels::Kernels;
use pgrec_core::model::{ModelView, ScoreHead};
use pgrec_core::quant::ScanRows;
use pgrec_core::similarity::{item_support, ItemInteractions};
use pgrec_core::store::{self, KeysIn, Mapped};
use pgrec_core::train::Scorer;
use pgrec_core::{FactorModel, UserItems};
use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A model version ready for scoring: its serving file read in place.
pub struct ServingModel {
    pub info: VersionInfo,
    /// Views into `backing` (declared last, so it outlives them).
    data: Mapped<'static>,
    pub users: Keys,
    pub items: Keys,
    /// The scoring network of ncf (read from the tensors, per backend: it is small).
    head: Option<ScoreHead>,
    pub kernels: Kernels,
    /// Y^T Y of the items, computed by the first fold-in that needs it.
    pub item_gram: std::sync::OnceLock<Vec<f32>>,
    /// X^T X of the users, computed by the first item fold-in that needs it.
    pub user_gram: std::sync::OnceLock<Vec<f32>>,
    /// Who interacted with each item, built by the first co-occurrence similar_items.
    pub item_interactions: std::sync::OnceLock<ItemInteractions>,
    /// Norms of the user vectors, computed by the first similar_users.
    pub user_norms: std::sync::OnceLock<Vec<f32>>,
    /// The version's fold-in tensors, read by the first fold-in.
    learned: std::sync::OnceLock<Vec<Tensor>>,
    /// The version's ivf_probes param.
    ivf_probes: Option<usize>,
    /// The version's ann_recall param (or its default).
    ann_recall: f64,
    /// The model's hidden items as sorted indices, with the `hidden_changes` they were read at.
    hidden: std::sync::Mutex<(i64, std::sync::Arc<[u32]>)>,
    backing: crate::store_file::Backing,
}

/// How a catalog search runs ([`ServingModel::search`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Search {
    /// The exact scan (in the version's precision).
    Exact,
    /// The items of this many of the index's lists, scored exactly.
    Lists(usize),
    /// Every item's 4-bit codes, then a short list of this many items for a top 10 (scaled
    /// with k) re-scored exactly.
    Codes(usize),
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Rc<ServingModel>>> = RefCell::new(HashMap::new());
}

impl ServingModel {
    /// The cached model's parts, borrowed: what scoring reads.
    pub fn view(&self) -> ModelView<'_> {
        let d = &self.data;
        ModelView {
            factors: d.factors,
            global_mean: d.global_mean,
            rating_range: d.rating_range,
            user_bias: d.user_bias,
            item_bias: d.item_bias,
            user_factors: d.user_factors,
            item_factors: d.item_factors,
            head: self.head.as_ref(),
        }
    }

    /// What the training learned beyond the factors for its fold-in (the version's tensors
    /// named like [`FOLD_TENSORS`]; vbmf's priors and noise), read on first use.
    pub fn learned(&self) -> &[Tensor] {
        self.learned.get_or_init(|| {
            if self.info.distributed {
                tensors_by(&crate::replica::tensors_query("fold"), self.info.id, None)
            } else {
                read_tensors(self.info.id, FOLD_TENSORS)
            }
        })
    }

    /// The users' training items (sorted item indices per user).
    pub fn seen(&self) -> &(dyn ItemLists + '_) {
        &self.data
    }

    /// Norm of every item vector.
    pub fn item_norms(&self) -> &[f32] {
        self.data.item_norms
    }

    /// Training interactions per item (what similar_items shrinks by).
    pub fn item_support(&self) -> &[f32] {
        self.data.item_support
    }

    /// What pgrec.popular ranks by: training interactions per item, weighted as trained.
    pub fn item_popularity(&self) -> &[f32] {
        self.data.item_popularity
    }

    /// What catalog scans read the item vectors from: the index's 4-bit codes with a short
    /// list when the search now is over them ([`Self::search`]); else f16 bits or int8 codes
    /// when the version asked for them, the f32 vectors otherwise.
    pub fn scan_rows(&self) -> ScanRows<'_> {
        match (self.search(), self.data.ivf) {
            (Search::Codes(shortlist), Some(ivf)) => ScanRows::I4 {
                rows: ivf.codes,
                shortlist,
            },
            _ => self.data.scan_rows(),
        }
    }

    /// The precision the version keeps its item vectors in for scans: "f32", "f16" or "int8".
    pub fn serving_precision(&self) -> &'static str {
        match self.data.scan_rows() {
            ScanRows::F16(_) => "f16",
            ScanRows::I8(_) => "int8",
            _ => "f32",
        }
    }

    /// The approximate-search index, when the version asked for one.
    pub fn ivf(&self) -> Option<pgrec_core::ivf::IvfRef<'_>> {
        self.data.ivf
    }

    /// Lists an approximate search over the index's lists scans now ([`Search::Lists`]), None
    /// for a scan of the catalog.
    pub fn probes(&self) -> Option<usize> {
        match self.search() {
            Search::Lists(p) => Some(p),
            _ => None,
        }
    }

    /// How a search of the catalog runs now. Without an index, or with pgrec.ivf_probes = -1,
    /// the exact scan. Else, first that applies: pgrec.ivf_probes lists; the search that
    /// reaches pgrec.ann_recall; the model's ivf_probes lists; the search that reaches the
    /// model's ann_recall (an index built without a measurement: a sixteenth of the lists).
    ///
    /// The search for a recall, from the index's measurements when it was built: the fewest
    /// lists that reach it. When those cover a quarter of the lists or more (vectors the lists
    /// cannot prune), the shortest short list over the 4-bit codes that reaches it instead (a
    /// scan of every item, about a sixth of the bytes of f32: BENCHMARKS.md, "4-bit codes and a
    /// short list"), and when none does, the exact scan (recall 1).
    pub fn search(&self) -> Search {
        let Some(ivf) = self.data.ivf else {
            return Search::Exact;
        };
        let for_recall = |target: f64| {
            let p = pgrec_core::ivf::probes_for(self.data.ivf_recall, target)?;
            Some(if p * 4 < ivf.n_lists() {
                Search::Lists(p)
            } else {
                pgrec_core::ivf::shortlist_for(self.data.shortlist_recall, target)
                    .map_or(Search::Exact, Search::Codes)
            })
        };
        let session = crate::gucs::ANN_RECALL.get();
        match crate::gucs::IVF_PROBES.get() {
            -1 => Search::Exact,
            0 => {
                if session > 0.0 {
                    if let Some(s) = for_recall(session) {
                        return s;
                    }
                }
                if let Some(p) = self.ivf_probes {
                    return Search::Lists(p);
                }
                for_recall(self.ann_recall).unwrap_or_else(|| {
                    Search::Lists(pgrec_core::ivf::default_probes(ivf.n_lists()))
                })
            }
            n => Search::Lists(n.max(1) as usize),
        }
    }

    /// The recall@10 a search reaches, as measured when the index was built: 1 for the exact
    /// scan, None without a measurement.
    pub fn recall_of(&self, search: Search) -> Option<f64> {
        let (curve, at) = match search {
            Search::Exact => return Some(1.0),
            Search::Lists(p) => (self.data.ivf_recall, p.clamp(1, usize::MAX) - 1),
            Search::Codes(s) => (
                self.data.shortlist_recall,
                pgrec_core::ivf::SHORTLISTS
                    .iter()
                    .position(|&x| x == s)
                    .unwrap_or(0),
            ),
        };
        // through the f32's shortest decimal, so that a stored 0.95 reads as 0.95, not
        // 0.949999988
        (!curve.is_empty()).then(|| {
            let r = curve[at.min(curve.len() - 1)];
            r.to_string().parse::<f64>().unwrap_or(r as f64)
        })
    }

    /// The model's hidden items (sorted indices of this version; keys it does not know are left
    /// out), as of the last lookup.
    pub fn hidden(&self) -> std::sync::Arc<[u32]> {
        self.hidden_list().1.clone()
    }

    /// The hidden list and its hidden_changes (a poisoned lock still holds a whole value).
    fn hidden_list(&self) -> std::sync::MutexGuard<'_, (i64, std::sync::Arc<[u32]>)> {
        self.hidden.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the hidden items again when `changes` (the model's hidden_changes, from this
    /// call's version lookup) differs from what they were read at.
    fn sync_hidden(&self, model: &str, changes: i64) {
        if self.hidden_list().0 == changes {
            return;
        }
        // 0: never changed (a trigger counts every change), so nothing to read.
        let keys = if changes == 0 {
            Vec::new()
        } else {
            crate::catalog::hidden_keys(model, &self.info)
        };
        let mut indices: Vec<u32> = keys
            .iter()
            .filter_map(|key| self.items.find(KeyArg::Text(key)))
            .collect();
        indices.sort_unstable();
        indices.dedup();
        *self.hidden_list() = (changes, indices.into());
    }

    /// Whether the model is served from a shared file mapping (false: a private heap copy).
    pub fn is_mapped(&self) -> bool {
        self.backing.is_mapped()
    }
}

/// Drops a model from this backend's cache.
pub fn forget(model: &str) {
    CACHE.with(|c| c.borrow_mut().remove(model));
}

/// The active version of `model`, from the cache when it is current.
pub fn active(model: &str) -> Rc<ServingModel> {
    let info = require_version(model, None);
    let changes = info.hidden_changes;
    if let Some(hit) = CACHE.with(|c| {
        c.borrow()
            .get(model)
            .filter(|m| m.info.id == info.id && m.info.stamp == info.stamp)
            .cloned()
    }) {
        hit.sync_hidden(model, changes);
        return hit;
    }
    let loaded = Rc::new(load(info));
    loaded.sync_hidden(model, changes);
    CACHE.with(|c| c.borrow_mut().insert(model.to_string(), loaded.clone()));
    loaded
}

/// One side (users or items) of a stored version, in index order.
struct StoredSide {
    /// Integer keys (0 for a text-keyed side) and text keys (empty for an integer-keyed side).
    ints: Vec<i64>,
    texts: Vec<String>,
    bias: Vec<f32>,
    factors: Vec<f32>,
    /// Seen item indices per user (users side only).
    seen: Vec<Vec<u32>>,
}

/// Reads one side's factors, in index order.
fn read_side(
    table: &str,
    id_col: &str,
    key_col: &str,
    with_seen: bool,
    info: &VersionInfo,
) -> StoredSide {
    let k = info.factors;
    let seen_col = if with_seen {
        "seen_items"
    } else {
        "NULL::int[]"
    };
    let sql = format!(
        "SELECT {id_col}, {key_col}, bias, embedding, {seen_col} FROM pgrec.{table} WHERE version_id = $1 ORDER BY idx"
    );
    Spi::connect(|c| {
        let rows = c.select(&sql, None, &[info.id.into()]).or_raise();
        let n = rows.len();
        let (mut ids, mut keys, mut bias) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut factors = Vec::with_capacity(n * k);
        let mut seen = Vec::new();
        for row in rows {
            ids.push(row.get::<i64>(1).or_raise());
            keys.push(row.get::<String>(2).or_raise());
            bias.push(row.get::<f32>(3).or_raise().unwrap_or(0.0));
            let e: Vec<Option<f32>> = row
                .get::<Vec<Option<f32>>>(4)
                .or_raise()
                .unwrap_or_default();
            if e.len() != k {
                raise(
                    Code::ERRCODE_DATA_CORRUPTED,
                    format!(
                        "pgrec: an embedding of model version {} has {} values, expected {k}",
                        info.id,
                        e.len()
                    ),
                    None,
                );
            }
            factors.extend(e.into_iter().map(|x| x.unwrap_or(0.0)));
            if with_seen {
                let s: Vec<Option<i32>> = row
                    .get::<Vec<Option<i32>>>(5)
                    .or_raise()
                    .unwrap_or_default();
                seen.push(s.into_iter().flatten().map(|i| i as u32).collect());
            }
        }
        StoredSide {
            ints: ids.into_iter().map(|k| k.unwrap_or_default()).collect(),
            texts: keys.into_iter().map(|k| k.unwrap_or_default()).collect(),
            bias,
            factors,
            seen,
        }
    })
}

/// The scoring network of an ncf version, from its stored tensors.
fn read_head(info: &VersionInfo) -> ScoreHead {
    let query = if info.distributed {
        crate::replica::tensors_query("head")
    } else {
        format!(
            "SELECT name, rows, cols, data FROM pgrec.model_tensors \
             WHERE version_id = $1 AND name LIKE '{HEAD_TENSOR_PATTERN}' ORDER BY name"
        )
    };
    let tensors = tensors_by(&query, info.id, None);
    score_head_from_tensors(&tensors, info.factors).unwrap_or_else(|e| {
        raise(
            Code::ERRCODE_DATA_CORRUPTED,
            format!(
                "pgrec: the scoring network of model version {} is damaged: {e}",
                info.id
            ),
            Some("Train the model again."),
        )
    })
}

/// The stored tensors of version `version_id` whose names are LIKE `pattern`, by name.
pub(crate) fn read_tensors(version_id: i64, pattern: &str) -> Vec<Tensor> {
    tensors_by(
        "SELECT name, rows, cols, data FROM pgrec.model_tensors \
         WHERE version_id = $1 AND name LIKE $2 ORDER BY name",
        version_id,
        Some(pattern),
    )
}

/// The tensors `query` returns (name, rows, cols, data) for version $1 (and $2).
fn tensors_by(query: &str, version_id: i64, pattern: Option<&str>) -> Vec<Tensor> {
    Spi::connect(|c| {
        let args = match pattern {
            Some(p) => vec![version_id.into(), p.into()],
            None => vec![version_id.into()],
        };
        let rows = c.select(query, None, &args).or_raise();
        let mut tensors = Vec::new();
        for row in rows {
            let name = row.get::<String>(1).or_raise().unwrap_or_default();
            let rows_n = row.get::<i32>(2).or_raise().unwrap_or_default().max(0) as usize;
            let cols_n = row.get::<i32>(3).or_raise().unwrap_or_default().max(0) as usize;
            let data: Vec<f32> = row
                .get::<Vec<Option<f32>>>(4)
                .or_raise()
                .unwrap_or_default()
                .into_iter()
                .map(|x| x.unwrap_or(0.0))
                .collect();
            tensors.push((name, rows_n, cols_n, data));
        }
        tensors
    })
}

/// The weighted training interactions per item of a version trained with row weights (its
/// popularity tensor; items folded in since count 0 until the next training); None for other
/// versions, whose popularity is their support.
fn read_popularity(info: &VersionInfo, n_items: usize) -> Option<Vec<f32>> {
    let data: Vec<Option<f32>> = crate::spi::select_one(
        "SELECT data FROM pgrec.model_tensors WHERE version_id = $1 AND name = $2",
        &[info.id.into(), crate::catalog::POPULARITY_TENSOR.into()],
    )?;
    let mut popularity: Vec<f32> = data.into_iter().map(|x| x.unwrap_or(0.0)).collect();
    popularity.resize(n_items, 0.0);
    Some(popularity)
}

/// What a version's params ask of serving: its pipeline params, parsed as training checked them.
pub(crate) fn serving_params(info: &VersionInfo) -> PipelineParams {
    let params = if info.distributed {
        crate::replica::params(info.id)
    } else {
        crate::spi::select_one::<pgrx::JsonB>(
            "SELECT params FROM pgrec.model_versions WHERE id = $1",
            &[info.id.into()],
        )
        .map(|j| j.0)
        .unwrap_or_default()
    };
    PipelineParams::of_stored(&params)
}

/// Builds the approximate-search index of `model`'s item vectors on the pool, and measures its
/// recall@10 against the exact scan at every number of probes on held-out queries (users for
/// recommend, items for similar_items, shrunk as similar_items shrinks by default); cancellable:
/// statement_timeout and pg_cancel_backend stop it between k-means rounds and queries.
fn build_ivf(
    model: &FactorModel,
    kernels: Kernels,
    norms: &[f32],
    support: &[f32],
    lists: Option<usize>,
) -> (pgrec_core::ivf::Ivf, Vec<f32>, Vec<f32>) {
    use pgrec_core::ivf::{
        exact_tops, measure_recall, measure_shortlist_recall, recall_queries, IvfBuilder, IvfParams,
    };
    let params = IvfParams::for_items(model.n_items(), lists);
    let pool = crate::pool::pool(crate::pool::default_threads());
    let started = std::time::Instant::now();
    let built = crate::pool::run(&pool, |cancel| {
        let mut b = IvfBuilder::new(&model.item_factors, model.factors, &params, cancel);
        for _ in 0..params.iterations {
            b.step();
        }
        let ivf = b.finish(&model.item_bias, support)?;
        let built = started.elapsed();
        let (users, items) = recall_queries(model.n_users(), model.n_items(), &params);
        let shrinkage = pgrec_core::similarity::Shrinkage {
            support,
            shrinkage: pgrec_core::similarity::DEFAULT_SHRINKAGE,
        };
        let view = model.view();
        let shrinkage = Some(shrinkage);
        // the exact answers once, for both measurements
        let exact = exact_tops(&view, kernels, norms, shrinkage, &users, &items, cancel)?;
        let recall = measure_recall(&view, kernels, ivf.as_ref(), shrinkage, &exact, cancel)?;
        let short = measure_shortlist_recall(
            &view,
            kernels,
            ivf.as_ref(),
            norms,
            shrinkage,
            &exact,
            cancel,
        )?;
        Some((ivf, recall, short, built, started.elapsed() - built))
    });
    let (ivf, recall, short, build_time, measure_time) = built.unwrap_or_else(|| {
        raise(
            Code::ERRCODE_QUERY_CANCELED,
            "pgrec: building the approximate-search index was cancelled",
            None,
        )
    });
    pgrx::debug1!(
        "pgrec: approximate-search index of {} lists over {} items built in {:.3} s; its recall@10 measured at every probe count and short list in {:.3} s",
        ivf.as_ref().n_lists(),
        model.n_items(),
        build_time.as_secs_f64(),
        measure_time.as_secs_f64()
    );
    (ivf, recall, short)
}

/// The serving file's bytes of a version: a copy of this node's file when one was written and
/// reads back, otherwise built from the catalog tables.
pub(crate) fn file_bytes(info: &VersionInfo) -> Vec<u8> {
    match crate::gucs::SHARED_SERVING
        .get()
        .then(|| open_valid(info))
        .flatten()
    {
        Some(b) => b.bytes().to_vec(),
        None => build_file(info),
    }
}

/// This node's serving file of a version, mapped, when it exists, its checksum matches its
/// bytes and it parses (a damaged file is rebuilt by the caller, never served).
fn open_valid(info: &VersionInfo) -> Option<crate::store_file::Backing> {
    crate::store_file::open(info.id, info.stamp).filter(|b| {
        pgrec_core::checksum::verify(b.bytes()).is_ok() && store::parse(b.bytes()).is_ok()
    })
}

/// Builds the serving file of a version from the catalog tables.
pub(crate) fn build_file(info: &VersionInfo) -> Vec<u8> {
    let users = read_side("user_factors", "user_id", "user_key", true, info);
    let items = read_side("item_factors", "item_id", "item_key", false, info);
    let kernels = Kernels::detect();
    let model = FactorModel {
        factors: info.factors,
        global_mean: info.global_mean,
        rating_range: info.rating_range,
        user_bias: users.bias,
        item_bias: items.bias,
        user_factors: users.factors,
        item_factors: items.factors,
        head: None,
    };
    let item_norms = model.item_norms(kernels);
    let serving = serving_params(info);
    let seen = UserItems::from_lists(users.seen);
    let support = item_support(&seen, model.n_items());
    let popularity = read_popularity(info, model.n_items());
    let (ivf, ivf_recall, shortlist_recall) = match serving.ann {
        Ann::Ivf { lists, .. } => {
            let (ivf, recall, short) = build_ivf(&model, kernels, &item_norms, &support, lists);
            (Some(ivf), recall, short)
        }
        Ann::None => (None, Vec::new(), Vec::new()),
    };
    fn keys_in<'a>(kind: KeyKind, i: &'a [i64], t: &'a [String]) -> KeysIn<'a> {
        match kind {
            KeyKind::Int => KeysIn::Int(i),
            KeyKind::Text => KeysIn::Text(t),
        }
    }
    let parts = store::Parts {
        factors: model.factors,
        global_mean: model.global_mean,
        rating_range: model.rating_range,
        user_bias: &model.user_bias,
        item_bias: &model.item_bias,
        user_factors: &model.user_factors,
        item_factors: &model.item_factors,
        item_norms: &item_norms,
        item_support: &support,
        item_popularity: popularity.as_deref(),
        seen: &seen,
        user_keys: keys_in(info.user_kind, &users.ints, &users.texts),
        item_keys: keys_in(info.item_kind, &items.ints, &items.texts),
        f16_items: serving.f16(),
        i8_items: serving.int8(),
        ivf: ivf.as_ref(),
        ivf_recall: &ivf_recall,
        shortlist_recall: &shortlist_recall,
    };
    let mut out = Vec::new();
    if let Err(e) = store::write(&mut out, &parts) {
        raise(
            Code::ERRCODE_DATA_CORRUPTED,
            format!("pgrec: model version {} cannot be served: {e}", info.id),
            Some("Train the model again."),
        );
    }
    out
}

/// The serving file of `info`: mapped when it exists and reads back, otherwise built from the
/// tables, written and mapped (or kept on the heap if it cannot be written).
fn backing_of(info: &VersionInfo) -> crate::store_file::Backing {
    use crate::store_file::{write, Backing};
    if info.distributed {
        // A copy of the coordinator's serving data, per backend (version ids are the
        // coordinator's, so they cannot name files of this node's store).
        return Backing::Heap(store::AlignedBytes::new(&crate::replica::serving_bytes(
            info.id,
        )));
    }
    if !crate::gucs::SHARED_SERVING.get() {
        return Backing::Heap(store::AlignedBytes::new(&build_file(info)));
    }
    if let Some(b) = open_valid(info) {
        return b;
    }
    let bytes = build_file(info);
    if write(info.id, info.stamp, &bytes).is_ok() {
        crate::store_file::remove_dropped_databases(&existing_databases());
        if let Some(b) = open_valid(info) {
            return b;
        }
    }
    Backing::Heap(store::AlignedBytes::new(&bytes))
}

/// The oids of the cluster's databases (the serving files of others are left-overs).
fn existing_databases() -> Vec<u32> {
    Spi::connect(|c| {
        c.select("SELECT oid::int8 FROM pg_catalog.pg_database", None, &[])
            .map(|rows| {
                rows.filter_map(|r| r.get::<i64>(1).ok().flatten())
                    .map(|o| o as u32)
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn load(info: VersionInfo) -> ServingModel {
    let backing = backing_of(&info);
    let data = match store::parse(backing.bytes()) {
        // SAFETY: the views point into `backing`, which the ServingModel owns and drops after
        // them (field order); a mapping or heap buffer does not move when the struct does, and
        // no view is handed out beyond a borrow of the ServingModel.
        Ok(d) => unsafe { std::mem::transmute::<Mapped<'_>, Mapped<'static>>(d) },
        Err(e) => raise(
            Code::ERRCODE_DATA_CORRUPTED,
            format!(
                "pgrec: the serving data of model version {} is damaged: {e}",
                info.id
            ),
            Some("Train the model again."),
        ),
    };
    if data.factors != info.factors {
        raise(
            Code::ERRCODE_DATA_CORRUPTED,
            format!(
                "pgrec: the serving data of model version {} has {} factors, the catalog {}",
                info.id, data.factors, info.factors
            ),
            None,
        );
    }
    // (the params are read only for a version with an index, as before the recall target)
    let ann = if data.ivf.is_some() {
        serving_params(&info).ann
    } else {
        Ann::None
    };
    let (ivf_probes, ann_recall) = match ann {
        Ann::Ivf { probes, recall, .. } => {
            (probes, recall.unwrap_or(crate::params::DEFAULT_ANN_RECALL))
        }
        Ann::None => (None, crate::params::DEFAULT_ANN_RECALL),
    };
    ServingModel {
        users: Keys::Mapped(data.user_keys),
        items: Keys::Mapped(data.item_keys),
        head: (info.scorer == Scorer::Network).then(|| read_head(&info)),
        data,
        info,
        kernels: Kernels::detect(),
        item_gram: std::sync::OnceLock::new(),
        user_gram: std::sync::OnceLock::new(),
        item_interactions: std::sync::OnceLock::new(),
        user_norms: std::sync::OnceLock::new(),
        learned: std::sync::OnceLock::new(),
        ivf_probes,
        ann_recall,
        // Never read yet: no model has -1 changes.
        hidden: std::sync::Mutex::new((-1, std::sync::Arc::from(Vec::new()))),
        backing,
    }
}
