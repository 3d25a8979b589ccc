//! Damaged serving files are refused, never read out of bounds (issue 28, item 3).
//!
//! The extension memory-maps a version's serving file and serves from it in place; when
//! `store::parse` refuses a file, the file is rebuilt from the catalog tables. So whatever bytes
//! are on disk, `parse` must either refuse them or give a view whose every accessor serving
//! uses stays in bounds: no panic, no out-of-bounds read, no huge allocation, no endless loop.
//!
//! The property test builds real serving files of several shapes (integer and text keys, f32
//! item vectors alone and with f16 or int8 copies (the shapes named "int8"), with and without an IVF index, tiny and small models, no factors, no
//! users) and parses mutants of them: cuts at every section boundary, inside the section table
//! and at random lengths, single and multi-bit flips, byte overwrites of the header and the
//! section table, odd values in the table, the counts and the index sections, a wrong magic or
//! version, appended bytes, a table shortened by one entry, and combinations. Each mutant runs
//! under `catch_unwind`; one that parses is served from (every user scored, every key looked
//! up, every index list read, ...). Mutants that damage the file's structure (anything but the
//! numbers it stores) must be refused.
//!
//! `PGREC_FUZZ_ITERS=N` runs N mutants instead of the default sample, `PGREC_FUZZ_SEED=S` another
//! seed, `PGREC_FUZZ_THREADS=T` on T threads, and `PGREC_FUZZ_ONE=I` only mutant I (printing it).
//! Mutant I of seed S is the same whatever the iteration or thread count. `PGREC_FUZZ_CORPUS=DIR`
//! writes the intact files to DIR (the seed corpus of the cargo-fuzz target in ../fuzz).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Instant;

use pgrec_core::checksum;
use pgrec_core::data::ItemLists;
use pgrec_core::ivf::{self, Ivf, IvfBuilder, IvfParams, ListRows};
use pgrec_core::kernels::Kernels;
use pgrec_core::model::{FactorModel, ModelView};
use pgrec_core::parallel::CancelFlag;
use pgrec_core::quant::ScanRows;
use pgrec_core::rng::{stream, Rng};
use pgrec_core::serving;
use pgrec_core::similarity::{self, ItemInteractions, Shrinkage};
use pgrec_core::store::{self, AlignedBytes, KeysIn, KeysRef, Mapped, Parts, ALIGN, HEADER};
use pgrec_core::store::{MAGIC, SECTIONS};
use pgrec_core::topk::Skip;
use pgrec_core::UserItems;
use rand::Rng as _;

/// End of the section table.
const TABLE_END: usize = HEADER + SECTIONS * 16;

/// Mutants of the default run (a few seconds in release).
const DEFAULT_ITERS: u64 = 50_000;

const DEFAULT_SEED: u64 = 0x5EED_2803;

#[derive(Clone, Copy, Debug)]
struct Shape {
    name: &'static str,
    users: usize,
    items: usize,
    factors: usize,
    text_users: bool,
    text_items: bool,
    f16: bool,
    ivf_lists: Option<usize>,
    rating_range: bool,
}

impl Shape {
    /// Whether the file also holds int8 codes of the item vectors.
    fn int8(&self) -> bool {
        self.name.contains("int8")
    }
}

/// Every way a scan can read the item vectors of `m`: the f32 vectors, and its copy if any.
fn scan_rows<'a>(m: &Mapped<'a>) -> Vec<ScanRows<'a>> {
    vec![ScanRows::F32, m.scan_rows()]
}

const fn shape(
    name: &'static str,
    (users, items, factors): (usize, usize, usize),
    (text_users, text_items): (bool, bool),
    f16: bool,
    ivf_lists: Option<usize>,
    rating_range: bool,
) -> Shape {
    Shape {
        name,
        users,
        items,
        factors,
        text_users,
        text_items,
        f16,
        ivf_lists,
        rating_range,
    }
}

/// Even user and item counts in the tiny ones: a factor count off by 2^63 then gives the same
/// products modulo 2^64 (the overflow the sizes are checked against).
const SHAPES: &[Shape] = &[
    shape(
        "tiny int int8",
        (4, 6, 2),
        (false, false),
        false,
        None,
        true,
    ),
    shape(
        "tiny text f16 ivf",
        (6, 8, 3),
        (true, true),
        true,
        Some(2),
        false,
    ),
    shape(
        "tiny mixed f32 ivf",
        (4, 6, 4),
        (true, false),
        false,
        Some(2),
        true,
    ),
    shape(
        "tiny mixed f16",
        (6, 5, 8),
        (false, true),
        true,
        None,
        false,
    ),
    shape(
        "small int int8 ivf",
        (40, 150, 16),
        (false, false),
        false,
        Some(8),
        false,
    ),
    shape(
        "small text f16 ivf",
        (30, 120, 8),
        (true, true),
        true,
        Some(6),
        true,
    ),
    shape(
        "no factors ivf",
        (3, 5, 0),
        (false, true),
        true,
        Some(2),
        false,
    ),
    shape(
        "one item f16 ivf",
        (1, 1, 1),
        (true, false),
        true,
        Some(1),
        true,
    ),
    shape(
        "no users nor items",
        (0, 0, 4),
        (false, false),
        false,
        None,
        false,
    ),
    shape(
        "no users nor items text ivf",
        (0, 0, 2),
        (true, true),
        true,
        Some(1),
        false,
    ),
];

/// A built serving file and what it was built from.
struct Built {
    shape: Shape,
    file: Vec<u8>,
    model: FactorModel,
    seen: UserItems,
    user_ints: Vec<i64>,
    user_texts: Vec<String>,
    item_ints: Vec<i64>,
    item_texts: Vec<String>,
    ivf: Option<Ivf>,
}

impl Built {
    fn is_empty_model(&self) -> bool {
        self.shape.users == 0 && self.shape.items == 0
    }

    /// (offset, length) of each section, as the intact file's table says.
    fn sections(&self) -> Vec<(usize, usize)> {
        (0..SECTIONS)
            .map(|s| {
                (
                    u64_at(&self.file, HEADER + 16 * s) as usize,
                    u64_at(&self.file, HEADER + 16 * s + 8) as usize,
                )
            })
            .collect()
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn int_keys(rng: &mut Rng, n: usize) -> Vec<i64> {
    let mut set = HashSet::new();
    let mut keys = Vec::with_capacity(n);
    let special = [i64::MIN, i64::MAX, 0, -1];
    while keys.len() < n {
        let k = if rng.gen_bool(0.1) {
            special[rng.gen_range(0..special.len())]
        } else {
            rng.gen_range(-1_000_000..1_000_000)
        };
        if set.insert(k) {
            keys.push(k);
        }
    }
    keys
}

fn text_keys(rng: &mut Rng, n: usize) -> Vec<String> {
    let bits = ["", "é", "日本", "🦀", "a b", "z", "\u{0}"];
    let mut keys: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "{}{i}{}",
                bits[rng.gen_range(0..bits.len())],
                bits[rng.gen_range(0..bits.len())]
            )
        })
        .collect();
    if n > 1 {
        // one empty key (still unique: the others hold their index)
        let at = rng.gen_range(0..n);
        keys[at] = String::new();
    }
    keys
}

fn build(shape: Shape, seed: u64) -> Built {
    let mut rng = stream(seed, &[0xB11D, shape.name.len() as u64, shape.users as u64]);
    let (nu, ni, f) = (shape.users, shape.items, shape.factors);
    let mut vals = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let mut item_factors = vals(ni * f);
    let model_parts = (vals(nu), vals(ni), vals(nu * f));
    // a few items without direction (zero norm: no cosine)
    if ni > 2 && f > 0 {
        item_factors[..f].iter_mut().for_each(|x| *x = 0.0);
    }
    let model = FactorModel {
        factors: f,
        global_mean: 3.25,
        rating_range: shape.rating_range.then_some((1.0, 5.0)),
        user_bias: model_parts.0,
        item_bias: model_parts.1,
        user_factors: model_parts.2,
        item_factors,
        head: None,
    };
    let lists: Vec<Vec<u32>> = (0..nu)
        .map(|_| {
            let mut l: Vec<u32> = (0..ni as u32).filter(|_| rng.gen_bool(0.3)).collect();
            // the tables may repeat an item in a user's list: the file keeps it
            if let Some(&first) = l.first() {
                if rng.gen_bool(0.2) {
                    l.push(first);
                }
            }
            l
        })
        .collect();
    let seen = UserItems::from_lists(lists);
    let kern = Kernels::detect();
    let norms = model.view().item_norms(kern);
    let support = similarity::item_support(&seen, ni);
    let user_ints = int_keys(&mut rng, nu);
    let item_ints = int_keys(&mut rng, ni);
    let user_texts = text_keys(&mut rng, nu);
    let item_texts = text_keys(&mut rng, ni);
    let ivf = shape.ivf_lists.map(|lists| {
        if f == 0 {
            // the builder needs vectors to count the items: one list of every item
            return Ivf {
                factors: 0,
                centroids: Vec::new(),
                list_bias: vec![0.5],
                shrunk_centroids: Vec::new(),
                offsets: vec![0, ni as u32],
                items: (0..ni as u32).collect(),
                rows: Vec::new(),
                codes: Vec::new(),
                scales: vec![0.0; ni],
                unit_scales: vec![0.0; ni],
            };
        }
        let params = IvfParams {
            lists,
            iterations: 3,
            sample_per_list: 16,
            seed,
        };
        let cancel = CancelFlag::new();
        let mut b = IvfBuilder::new(&model.item_factors, f, &params, &cancel);
        for _ in 0..params.iterations {
            b.step();
        }
        b.finish(&model.item_bias, &support).expect("not cancelled")
    });
    // (a short-list curve of the right length, so that its damage is checked too)
    const SHORT_RECALL: [f32; 11] = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
    let recall: Vec<f32> = ivf.as_ref().map_or(Vec::new(), |x| {
        let n = x.as_ref().n_lists();
        (1..=n).map(|p| p as f32 / n as f32).collect()
    });
    // Shapes without a rating range carry a popularity section (a version trained with row
    // weights), so its damage is checked too.
    let popularity: Vec<f32> = support.iter().map(|s| s * 0.5 + 0.25).collect();
    let parts = Parts {
        factors: f,
        global_mean: model.global_mean,
        rating_range: model.rating_range,
        user_bias: &model.user_bias,
        item_bias: &model.item_bias,
        user_factors: &model.user_factors,
        item_factors: &model.item_factors,
        item_norms: &norms,
        item_support: &support,
        item_popularity: (!shape.rating_range).then_some(&popularity[..]),
        seen: &seen,
        user_keys: if shape.text_users {
            KeysIn::Text(&user_texts)
        } else {
            KeysIn::Int(&user_ints)
        },
        item_keys: if shape.text_items {
            KeysIn::Text(&item_texts)
        } else {
            KeysIn::Int(&item_ints)
        },
        f16_items: shape.f16,
        i8_items: shape.int8(),
        ivf: ivf.as_ref(),
        // a measured index carries its recall curve (one entry per list), so its damage is
        // checked too
        ivf_recall: &recall,
        shortlist_recall: if ivf.is_some() { &SHORT_RECALL } else { &[] },
    };
    let mut file = Vec::new();
    store::write(&mut file, &parts).expect("the parts agree");
    Built {
        shape,
        file,
        model,
        seen,
        user_ints,
        user_texts,
        item_ints,
        item_texts,
        ivf,
    }
}

fn all_built() -> Vec<Built> {
    SHAPES.iter().map(|&s| build(s, 7)).collect()
}

/// Indices to serve from: all of a tiny side, a spread of a larger one.
fn pick(n: usize) -> Vec<u32> {
    if n <= 16 {
        return (0..n as u32).collect();
    }
    let mut v: Vec<u32> = (0..8).map(|j| (j * n / 8) as u32).collect();
    v.push(n as u32 - 1);
    v
}

fn total(s: &[pgrec_core::topk::Scored]) -> f64 {
    s.iter()
        .map(|x| x.index as f64 + x.score as f64 * 1e-3)
        .sum()
}

/// The key of index `idx` as text, whatever the kind (the extension's `Keys::text_key`).
fn key_text(k: &KeysRef<'_>, idx: u32) -> String {
    match k.int_key(idx) {
        Some(i) => i.to_string(),
        None => k.text_key(idx).expect("keys are valid UTF-8").to_string(),
    }
}

/// Serves from a parsed file what the extension serves from it, and checks what it assumes.
/// Out-of-bounds reads panic (safe slices); the caller catches that.
fn exercise(m: &Mapped<'_>, portable: bool) -> f64 {
    let kern = if portable {
        Kernels::portable()
    } else {
        Kernels::detect()
    };
    let view = ModelView {
        factors: m.factors,
        global_mean: m.global_mean,
        rating_range: m.rating_range,
        user_bias: m.user_bias,
        item_bias: m.item_bias,
        user_factors: m.user_factors,
        item_factors: m.item_factors,
        head: None,
    };
    let (nu, ni) = (m.n_users(), m.n_items());
    assert_eq!(m.user_keys.len(), nu, "user keys");
    assert_eq!(m.item_keys.len(), ni, "item keys");
    assert_eq!(ItemLists::n_users(m), nu, "seen lists");
    assert_eq!(m.item_norms.len(), ni, "item norms");
    assert_eq!(m.item_support.len(), ni, "item support");
    let mut acc = 0.0f64;
    let users = pick(nu);
    let items = pick(ni);
    let sh = Shrinkage {
        support: m.item_support,
        shrinkage: 25.0,
    };
    let sh0 = Shrinkage {
        support: m.item_support,
        shrinkage: 0.0,
    };
    for &u in &users {
        let seen = m.seen_of(u);
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "seen of {u} sorted");
        assert!(
            seen.iter().all(|&i| (i as usize) < ni),
            "seen of {u} in range"
        );
        acc += view.user(u).iter().map(|&x| x as f64).sum::<f64>();
        for rows in scan_rows(m) {
            acc += total(&serving::recommend_scan(
                &view, kern, u, 5, seen, false, rows,
            ));
        }
        if let Some(x) = m.ivf {
            for probes in [1, x.n_lists()] {
                acc += total(&ivf::recommend_ivf(&view, kern, x, u, 5, seen, probes));
            }
        }
        for &i in &items {
            acc += view.predict(kern, u, i) as f64;
        }
        acc += serving::score_among(&view, kern, u, &items)
            .iter()
            .map(|&x| x as f64)
            .sum::<f64>();
        acc += total(&serving::recommend_among(&view, kern, u, &items, 3, seen));
        let mut out = Vec::new();
        view.score_items(kern, u, &mut out);
        assert_eq!(out.len(), ni);
    }
    let cancel = CancelFlag::new();
    for r in serving::recommend_batch(&view, kern, &users, 3, Some(m), Skip::NONE, &cancel) {
        acc += total(&r);
    }
    let unorms = serving::user_norms(&view, kern);
    for &u in &users {
        acc += total(&serving::similar_users(&view, kern, &unorms, u, 3));
    }
    let co = ItemInteractions::new(m, ni);
    acc += similarity::item_support(m, ni)
        .iter()
        .map(|&x| x as f64)
        .sum::<f64>();
    for &i in &items {
        acc += view.item(i).iter().map(|&x| x as f64).sum::<f64>();
        for shrink in [None, Some(sh)] {
            for rows in scan_rows(m) {
                acc += total(&similarity::embedding_neighbours_scan(
                    &view,
                    kern,
                    m.item_norms,
                    shrink,
                    i,
                    5,
                    Skip::NONE,
                    false,
                    rows,
                ));
            }
        }
        if let Some(x) = m.ivf {
            for shrink in [None, Some(sh), Some(sh0)] {
                for probes in [1, x.n_lists()] {
                    acc += total(&ivf::similar_ivf(
                        &view,
                        kern,
                        x,
                        m.item_norms,
                        shrink,
                        i,
                        5,
                        Skip::NONE,
                        probes,
                    ));
                }
            }
        }
        acc += total(&co.similar(m, i, 5, 0.0, Skip::NONE));
    }
    // keys: every key reads, and a lookup of it finds an index with that key
    for keys in [&m.user_keys, &m.item_keys] {
        for idx in 0..keys.len() as u32 {
            let key = key_text(keys, idx);
            let found = match keys {
                KeysRef::Int { .. } => keys.find_int(key.parse().unwrap()),
                KeysRef::Text { .. } => keys.find_text(&key),
            };
            let found = found.expect("a key of the file is found");
            assert_eq!(key_text(keys, found), key, "lookup of key {idx}");
            acc += key.len() as f64;
        }
        assert!(keys.int_key(u32::MAX).is_none());
    }
    // the index: every list's items and rows
    if let Some(x) = m.ivf {
        let f = m.factors;
        for l in 0..x.n_lists() {
            let (lo, hi) = (x.offsets[l] as usize, x.offsets[l + 1] as usize);
            acc += x.items[lo..hi].iter().map(|&i| i as f64).sum::<f64>();
            assert!(x.items[lo..hi].iter().all(|&i| (i as usize) < ni));
            acc += match x.rows {
                ListRows::F32(r) => r[lo * f..hi * f].len(),
                ListRows::F16(r) => r[lo * f..hi * f].len(),
            } as f64;
            acc +=
                (x.centroids[l * f..(l + 1) * f].len() + x.list_bias[l].to_bits() as usize) as f64;
        }
    }
    std::hint::black_box(acc)
}

// ---- allocations: none huge -----------------------------------------------------------------

/// Largest single allocation a mutant may make: the files are at most tens of KB, so anything
/// near this is a count from the file trusted without a check.
const HUGE: usize = 64 << 20;

/// Largest allocation made while a mutant ran (on any thread).
static LARGEST: AtomicUsize = AtomicUsize::new(0);

/// Mutants running now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Counts the largest allocation made while a mutant runs; refuses a huge one after printing
/// which mutant asked (the process then aborts: an allocator must not unwind).
struct Tracking;

// SAFETY: forwards every call to the system allocator unchanged, or returns null (an allowed
// answer to any request).
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if note(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Records an allocation of `size` bytes made while a mutant runs; true when it is huge (after
/// writing which mutant asked to stderr, without allocating).
fn note(size: usize) -> bool {
    // the pool's worker threads (batch recommendations) count too
    if RUNNING.load(Ordering::Relaxed) == 0 {
        return false;
    }
    LARGEST.fetch_max(size, Ordering::Relaxed);
    if size < HUGE {
        return false;
    }
    let mut buf = [0u8; 160];
    let mut w = std::io::Cursor::new(&mut buf[..]);
    let mutant = CURRENT.try_with(|c| c.get()).ok().flatten();
    let _ = write!(
        w,
        "\nhuge allocation ({size} bytes) by serving-file mutant {mutant:?}\n"
    );
    let n = w.position() as usize;
    // SAFETY: writes n initialised bytes of buf to stderr.
    unsafe { libc::write(2, buf.as_ptr().cast(), n) };
    true
}

// ---- panics as test failures, quietly ------------------------------------------------------

thread_local! {
    /// Set while a mutant runs on this thread: its panic is recorded, not printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
    /// The mutant this thread runs (its allocations are tracked).
    static CURRENT: Cell<Option<u64>> = const { Cell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(|q| q.get()) {
                LAST_PANIC.with(|l| *l.borrow_mut() = info.to_string());
            } else {
                default(info)
            }
        }));
    });
}

/// Parses `bytes` (from a 64-byte aligned copy) and serves from them when they parse: Ok(true)
/// parsed, Ok(false) refused, Err(the panic) otherwise.
fn check(bytes: &[u8], portable: bool) -> Result<bool, String> {
    check_mutant(bytes, portable, u64::MAX)
}

/// [`check`] of mutant `id` (whose allocations are tracked).
fn check_mutant(bytes: &[u8], portable: bool, id: u64) -> Result<bool, String> {
    install_hook();
    let _tracked = Tracked::new(id);
    QUIET.with(|q| q.set(true));
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let buf = AlignedBytes::new(bytes);
        match store::parse(buf.bytes()) {
            Ok(m) => {
                exercise(&m, portable);
                true
            }
            Err(e) => {
                assert!(!e.is_empty());
                false
            }
        }
    }));
    QUIET.with(|q| q.set(false));
    r.map_err(|_| LAST_PANIC.with(|l| l.borrow().clone()))
}

/// Tracks this thread's allocations while alive.
struct Tracked;

impl Tracked {
    fn new(id: u64) -> Self {
        CURRENT.with(|c| c.set(Some(id)));
        RUNNING.fetch_add(1, Ordering::Relaxed);
        Tracked
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::Relaxed);
        CURRENT.with(|c| c.set(None));
    }
}

// ---- mutations ------------------------------------------------------------------------------

/// A mutant and whether it must be refused.
struct Mutant {
    bytes: Vec<u8>,
    what: String,
    must_fail: bool,
}

/// Whether the changes from `orig` to `new` (same length) touch the file's structure: the
/// magic, counts, flags, reserved bytes, the section table, or the padding between sections.
/// The numbers the file stores (header floats, section contents) are free to change; so is
/// the factor count of a model without users and items (nothing to check it against), and the
/// flags when the rating range changed with them.
fn touches_structure(b: &Built, new: &[u8]) -> bool {
    let orig = &b.file;
    let secs = b.sections();
    let range_changed = orig[40..52] != new[40..52];
    (0..orig.len()).any(|i| {
        if orig[i] == new[i] {
            return false;
        }
        match i {
            8..16 => !b.is_empty_model(),
            32..40 => !range_changed,
            40..52 => false,
            // the checksum: `checksum::verify` checks it, `parse` reads the layout only
            56..64 => false,
            _ => !secs.iter().any(|&(o, l)| (o..o + l).contains(&i)),
        }
    })
}

/// Odd values for a u64 field whose intact value is `v` in a file of `len` bytes.
fn odd_u64(rng: &mut Rng, v: u64, len: usize) -> u64 {
    let len = len as u64;
    let choices = [
        0,
        1,
        v.wrapping_add(1),
        v.wrapping_sub(1),
        v.wrapping_add(64),
        v.wrapping_sub(64),
        v.wrapping_add(4),
        v.wrapping_add(1 << 63),
        v.wrapping_add(1 << 62),
        v.wrapping_add(1 << 61),
        len,
        len - 1,
        len + 1,
        len.wrapping_sub(v),
        u64::MAX,
        u64::MAX - 7,
        u64::MAX / 2,
        u64::MAX / 4 + 1,
        1 << 32,
        (1 << 32) - 1,
        1 << 62,
        rng.gen(),
        rng.gen_range(0..len + 128),
    ];
    choices[rng.gen_range(0..choices.len())]
}

/// Sections holding indices (whose odd values are the interesting damage): seen offsets and
/// items, key offsets and orders, the index's offsets and items.
const INDEX_SECTIONS: &[(usize, usize)] = &[
    (6, 8),
    (7, 4),
    (8, 8),
    (10, 4),
    (11, 8),
    (13, 4),
    (18, 4),
    (19, 4),
];

fn flip(bytes: &mut [u8], rng: &mut Rng, range: std::ops::Range<usize>) -> String {
    let at = rng.gen_range(range);
    let bit = rng.gen_range(0..8);
    bytes[at] ^= 1 << bit;
    format!("flip byte {at} bit {bit}")
}

/// One mutation of `b`'s file (kind chosen by `rng`).
fn mutate(b: &Built, rng: &mut Rng) -> Mutant {
    let file = &b.file;
    let len = file.len();
    let secs = b.sections();
    let mut bytes = file.clone();
    let kind = rng.gen_range(0..18);
    let (what, must_fail) = match kind {
        0 => {
            let cut = rng.gen_range(0..len);
            bytes.truncate(cut);
            (format!("cut at {cut} of {len}"), true)
        }
        1 => {
            // at a section boundary, or just around one
            let (o, l) = secs[rng.gen_range(0..SECTIONS)];
            let at =
                [o, o + l, (o + l).next_multiple_of(ALIGN), o + 1, o + l + 1][rng.gen_range(0..5)];
            let cut = (at as i64 + rng.gen_range(-1..=1)).clamp(0, len as i64 - 1) as usize;
            bytes.truncate(cut);
            (format!("cut at {cut} (section boundary) of {len}"), true)
        }
        2 => {
            // inside the header or the section table
            let cut = rng.gen_range(0..=TABLE_END + 16);
            bytes.truncate(cut);
            (format!("cut at {cut} (header/table) of {len}"), true)
        }
        3 => {
            let w = flip(&mut bytes, rng, 0..len);
            let must = touches_structure(b, &bytes);
            (w, must)
        }
        4 => {
            let n = rng.gen_range(2..=8);
            let w: Vec<String> = (0..n).map(|_| flip(&mut bytes, rng, 0..len)).collect();
            let must = touches_structure(b, &bytes);
            (w.join(", "), must)
        }
        5 => {
            // bit flips in the header and the table
            let n = rng.gen_range(1..=3);
            let w: Vec<String> = (0..n)
                .map(|_| flip(&mut bytes, rng, 0..TABLE_END))
                .collect();
            let must = touches_structure(b, &bytes);
            (w.join(", "), must)
        }
        6 => {
            // random bytes over the header and the table
            let n = rng.gen_range(1..=4);
            let mut w = Vec::new();
            for _ in 0..n {
                let at = rng.gen_range(0..TABLE_END);
                let v: u8 = rng.gen();
                bytes[at] = v;
                w.push(format!("byte {at} = {v}"));
            }
            let must = touches_structure(b, &bytes);
            (w.join(", "), must)
        }
        7 => {
            // an odd offset or length in the table
            let s = rng.gen_range(0..SECTIONS);
            let at = HEADER + 16 * s + 8 * rng.gen_range(0..2);
            let v = odd_u64(rng, u64_at(file, at), len);
            put_u64(&mut bytes, at, v);
            let must = touches_structure(b, &bytes);
            (format!("table u64 at {at} (section {s}) = {v}"), must)
        }
        8 => {
            // an odd count: factors, users, items
            let at = 8 + 8 * rng.gen_range(0..3);
            let v = odd_u64(rng, u64_at(file, at), len);
            put_u64(&mut bytes, at, v);
            let must = touches_structure(b, &bytes);
            (format!("header u64 at {at} = {v}"), must)
        }
        9 => {
            let at = rng.gen_range(0..6);
            let v: u8 = rng.gen_range(0..=255);
            bytes[at] = v;
            (format!("magic byte {at} = {v}"), bytes[at] != file[at])
        }
        10 => {
            let versions: [&[u8; 2]; 6] = [b"02", b"04", b"01", b"99", b"\0\0", b"3\0"];
            let v = versions[rng.gen_range(0..versions.len())];
            bytes[6..8].copy_from_slice(v);
            (format!("version {:?}", String::from_utf8_lossy(v)), true)
        }
        11 => {
            let n = [1, 7, 8, 63, 64, 200][rng.gen_range(0..6)];
            let zeros = rng.gen_bool(0.5);
            for _ in 0..n {
                bytes.push(if zeros { 0 } else { rng.gen() });
            }
            (format!("{n} bytes appended (zeros: {zeros})"), true)
        }
        12 => {
            // an odd value inside an index section
            let (s, w) = INDEX_SECTIONS[rng.gen_range(0..INDEX_SECTIONS.len())];
            let (o, l) = secs[s];
            if l < w {
                return mutate(b, rng);
            }
            let at = o + w * rng.gen_range(0..l / w);
            let v = odd_u64(rng, 0, len);
            let candidates = [
                v,
                b.shape.items as u64,
                b.shape.users as u64,
                b.shape.items as u64 - (b.shape.items > 0) as u64,
                u32::MAX as u64,
                (l / w) as u64,
            ];
            let v = candidates[rng.gen_range(0..candidates.len())];
            bytes[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
            (
                format!("section {s} value at {at} = {v} ({w} bytes)"),
                false,
            )
        }
        13 => {
            // the flags and the rating range
            let at = [32, 32, 40, 44, 48][rng.gen_range(0..5)];
            let what = if at == 32 {
                flip(&mut bytes, rng, 32..40)
            } else {
                let pats = [f32::NAN, f32::INFINITY, -1.0e30, 1.0e30, 0.0, 7.0];
                let v = pats[rng.gen_range(0..pats.len())];
                bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
                format!("header f32 at {at} = {v}")
            };
            (what, false)
        }
        14 => {
            // the table shortened by one entry (the rest moved up), or one entry repeated
            let s = rng.gen_range(0..SECTIONS);
            let at = HEADER + 16 * s;
            if rng.gen_bool(0.5) {
                bytes.drain(at..at + 16);
                (format!("table entry {s} removed"), true)
            } else {
                let e = file[at..at + 16].to_vec();
                bytes.splice(at..at, e);
                (format!("table entry {s} repeated"), true)
            }
        }
        15 => {
            // bit flips inside sections (the numbers, mostly)
            let n = rng.gen_range(1..=4);
            let mut w = Vec::new();
            for _ in 0..n {
                let (o, l) = secs[rng.gen_range(0..SECTIONS)];
                if l > 0 {
                    w.push(flip(&mut bytes, rng, o..o + l));
                }
            }
            (w.join(", "), false)
        }
        16 => {
            // odd numbers: a float section value, or an f16 one
            let (s, width) =
                [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4), (5, 4), (14, 2)][rng.gen_range(0..7)];
            let (s, width) = match rng.gen_range(0..4) {
                0 => (15 + rng.gen_range(0..3), 4),
                1 if secs[21].1 > 0 => (21, 2),
                1 => (20, 4),
                _ => (s, width),
            };
            let (o, l) = secs[s];
            if l < width {
                return mutate(b, rng);
            }
            let at = o + width * rng.gen_range(0..l / width);
            let v = [
                f32::NAN,
                f32::INFINITY,
                f32::NEG_INFINITY,
                3.0e38,
                -0.0,
                1.0e-45,
                0.0,
            ][rng.gen_range(0..7)];
            if width == 4 {
                bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
            } else {
                let h = [0x7e00u16, 0x7c00, 0xfc00, 0x7bff, 0x0001, 0x8000][rng.gen_range(0..6)];
                bytes[at..at + 2].copy_from_slice(&h.to_le_bytes());
            }
            (
                format!("section {s} value at {at} = {v} ({width} bytes)"),
                false,
            )
        }
        _ => {
            // several of the above at once
            let n = rng.gen_range(2..=3);
            let mut w = Vec::new();
            for _ in 0..n {
                let sub = mutate(b, rng);
                w.push(sub.what);
                // apply: every byte the sub-mutant changed
                if sub.bytes.len() == len {
                    for (i, (&new, &old)) in sub.bytes.iter().zip(file.iter()).enumerate() {
                        if new != old {
                            bytes[i] = new;
                        }
                    }
                } else {
                    bytes = sub.bytes;
                    // a length change refuses the file whatever else changed
                    return Mutant {
                        bytes,
                        what: w.join(" + "),
                        must_fail: true,
                    };
                }
            }
            let must = touches_structure(b, &bytes) || bytes[..8] != file[..8];
            (w.join(" + "), must)
        }
    };
    Mutant {
        bytes,
        what,
        must_fail,
    }
}

// ---- the tests ------------------------------------------------------------------------------

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| {
        let v = v.trim().replace('_', "");
        v.strip_prefix("0x")
            .map(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or_else(|| v.parse().ok())
    })
}

/// What one thread of the property test saw.
struct Tally {
    ok: u64,
    refused: u64,
    failures: Vec<String>,
    /// The slowest mutant: (time, index).
    slowest: (std::time::Duration, u64),
}

#[test]
fn mutated_serving_files_are_refused_or_served_in_bounds() {
    let seed = env_u64("PGREC_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let iters = env_u64("PGREC_FUZZ_ITERS").unwrap_or(DEFAULT_ITERS);
    let threads = env_u64("PGREC_FUZZ_THREADS").unwrap_or(1).max(1);
    let one = env_u64("PGREC_FUZZ_ONE");
    let built = all_built();
    let start = Instant::now();
    let run = |t: u64| {
        let (mut ok, mut refused) = (0u64, 0u64);
        let mut slowest = (std::time::Duration::ZERO, 0u64);
        let mut failures: Vec<String> = Vec::new();
        let range: Box<dyn Iterator<Item = u64>> = match one {
            Some(i) => Box::new((i..=i).filter(move |_| t == 0)),
            None => Box::new((t..iters).step_by(threads as usize)),
        };
        for i in range {
            let mut rng = stream(seed, &[i]);
            let b = &built[rng.gen_range(0..built.len())];
            let m = mutate(b, &mut rng);
            let portable = rng.gen_bool(0.25);
            if one.is_some() {
                eprintln!(
                    "mutant {i} of seed {seed:#x}: {} / {}",
                    b.shape.name, m.what
                );
            }
            let fail = |why: String| {
                format!(
                    "seed {seed:#x} mutant {i} ({}; {}): {why} [rerun: PGREC_FUZZ_SEED={seed:#x} PGREC_FUZZ_ONE={i}]",
                    b.shape.name, m.what
                )
            };
            // Serving checks the checksum first: no changed byte, structural or not, gets past it.
            if m.bytes != b.file && checksum::verify(&m.bytes).is_ok() {
                failures.push(fail("the checksum does not see the change".into()));
            }
            let t0 = Instant::now();
            let r = check_mutant(&m.bytes, portable, i);
            let took = t0.elapsed();
            if took > slowest.0 {
                slowest = (took, i);
            }
            match r {
                Ok(true) if m.must_fail && m.bytes != b.file => {
                    failures.push(fail("parsed, but the damage must be refused".into()))
                }
                Ok(true) => ok += 1,
                Ok(false) => refused += 1,
                Err(p) => failures.push(fail(format!("panicked: {p}"))),
            }
            if failures.len() >= 20 {
                break;
            }
        }
        Tally {
            ok,
            refused,
            failures,
            slowest,
        }
    };
    let results: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let run = &run;
                s.spawn(move || run(t))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok: u64 = results.iter().map(|r| r.ok).sum();
    let refused: u64 = results.iter().map(|r| r.refused).sum();
    let failures: Vec<&String> = results.iter().flat_map(|r| &r.failures).collect();
    let slowest = results.iter().map(|r| r.slowest).max().unwrap_or_default();
    let largest = LARGEST.load(Ordering::Relaxed);
    eprintln!(
        "serving-file mutants: seed {seed:#x}, {} run ({ok} parsed and served, {refused} refused, {} failed) in {:.2?} on {threads} thread(s); slowest mutant {} ({:.2?}), largest allocation {largest} bytes",
        ok + refused + failures.len() as u64,
        failures.len(),
        start.elapsed(),
        slowest.1,
        slowest.0,
    );
    assert!(largest < HUGE);
    assert!(
        failures.is_empty(),
        "{} mutants failed:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Also writes the intact files into the directory `PGREC_FUZZ_CORPUS` names, when set (the
/// seed corpus of the cargo-fuzz target in fuzz/).
#[test]
fn intact_files_read_back_and_serve() {
    let corpus = std::env::var_os("PGREC_FUZZ_CORPUS").map(std::path::PathBuf::from);
    for b in all_built() {
        if let Some(dir) = &corpus {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join(b.shape.name.replace(' ', "_")), &b.file).unwrap();
        }
        let buf = AlignedBytes::new(&b.file);
        checksum::verify(buf.bytes()).unwrap_or_else(|e| panic!("{}: {e}", b.shape.name));
        let m = store::parse(buf.bytes()).unwrap_or_else(|e| panic!("{}: {e}", b.shape.name));
        let s = b.shape;
        assert_eq!(
            (m.factors, m.n_users(), m.n_items()),
            (s.factors, s.users, s.items)
        );
        assert_eq!(m.user_factors, &b.model.user_factors[..]);
        assert_eq!(m.item_factors, &b.model.item_factors[..]);
        assert_eq!(m.rating_range, b.model.rating_range);
        for u in 0..s.users as u32 {
            assert_eq!(m.seen_of(u), b.seen.of(u));
            let key = if s.text_users {
                m.user_keys.find_text(&b.user_texts[u as usize])
            } else {
                m.user_keys.find_int(b.user_ints[u as usize])
            };
            assert_eq!(key, Some(u), "{}", s.name);
        }
        for i in 0..s.items as u32 {
            let key = if s.text_items {
                m.item_keys.find_text(&b.item_texts[i as usize])
            } else {
                m.item_keys.find_int(b.item_ints[i as usize])
            };
            assert_eq!(key, Some(i), "{}", s.name);
        }
        assert_eq!(
            m.item_factors_f16.is_some(),
            s.f16 && s.items * s.factors > 0
        );
        assert_eq!(
            m.item_codes_i8.is_some(),
            s.int8() && s.items * s.factors > 0
        );
        match (&m.ivf, &b.ivf) {
            (Some(x), Some(want)) => {
                assert_eq!((x.offsets, x.items), (&want.offsets[..], &want.items[..]));
                assert_eq!(
                    matches!(x.rows, ListRows::F16(_)),
                    m.item_factors_f16.is_some()
                );
            }
            (None, None) => {}
            _ => panic!("{}: the index does not read back", s.name),
        }
        for portable in [false, true] {
            assert_eq!(check(&b.file, portable), Ok(true), "{}", s.name);
        }
    }
}

/// Every cut of a file is refused: every length of the tiny files, and for all files every
/// length up to past the section table (cuts inside the header and inside each table entry).
#[test]
fn every_cut_is_refused() {
    for b in all_built() {
        let len = b.file.len();
        let cuts: Vec<usize> = if len <= 8192 {
            (0..len).collect()
        } else {
            let mut c: Vec<usize> = (0..TABLE_END + 2 * ALIGN).collect();
            for (o, l) in b.sections() {
                c.extend([
                    o,
                    o + 1,
                    o + l,
                    o + l + 1,
                    (o + l).next_multiple_of(ALIGN) - 1,
                ]);
            }
            c.extend(len - 2 * ALIGN..len);
            c.retain(|&x| x < len);
            c
        };
        for cut in cuts {
            assert_eq!(
                check(&b.file[..cut], false),
                Ok(false),
                "{}: cut at {cut} of {len}",
                b.shape.name
            );
        }
    }
}

#[test]
fn a_file_one_byte_short_is_refused() {
    for b in all_built() {
        let len = b.file.len();
        let cut = AlignedBytes::new(&b.file[..len - 1]);
        assert!(store::parse(cut.bytes()).is_err(), "{}", b.shape.name);
    }
}

#[test]
fn a_flipped_bit_in_the_magic_is_refused() {
    for b in all_built() {
        for bit in 0..64 {
            let mut bad = b.file.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(check(&bad, false), Ok(false), "{}: bit {bit}", b.shape.name);
        }
    }
}

#[test]
fn another_format_version_is_refused() {
    assert_eq!(&MAGIC[..6], b"PGRECM");
    for b in all_built() {
        for v in [
            b"02", b"03", b"04", b"05", b"06", b"07", b"09", b"00", b"99", b"8 ",
        ] {
            let mut bad = b.file.clone();
            bad[6..8].copy_from_slice(v);
            let buf = AlignedBytes::new(&bad);
            let e = store::parse(buf.bytes()).expect_err("refused");
            assert!(e.contains("version"), "{}: {e}", b.shape.name);
        }
    }
}

/// A section table one entry short: the file cut inside the last entry (what a header check
/// one section short would let through to the table reads), the last or the first entry
/// removed (every section after it then starts 16 bytes early), a count of sections one short.
#[test]
fn a_section_table_one_section_short_is_refused() {
    for b in all_built() {
        let last = HEADER + (SECTIONS - 1) * 16;
        for cut in last..TABLE_END {
            assert_eq!(
                check(&b.file[..cut], false),
                Ok(false),
                "{}: cut at {cut}, inside the last table entry",
                b.shape.name
            );
            // refused as cut inside the table (not for some later reason)
            let buf = AlignedBytes::new(&b.file[..cut]);
            let e = store::parse(buf.bytes()).err().unwrap_or_default();
            assert!(
                e.contains("section table"),
                "{}: cut at {cut}: {e}",
                b.shape.name
            );
        }
        for entry in [SECTIONS - 1, 0] {
            let mut bad = b.file.clone();
            let at = HEADER + entry * 16;
            bad.drain(at..at + 16);
            assert_eq!(
                check(&bad, false),
                Ok(false),
                "{}: table entry {entry} removed",
                b.shape.name
            );
            // ... and padded back to the same length
            bad.splice(at..at, [0u8; 16]);
            if bad != b.file {
                assert_eq!(check(&bad, false), Ok(false), "{}", b.shape.name);
            }
        }
    }
}

/// Counts whose products wrap around 2^64 would agree with the sections' lengths (4 users x
/// (2 + 2^63) factors = 8 mod 2^64): refused, not served with a factor count of 2^63.
#[test]
fn counts_whose_products_overflow_are_refused() {
    for b in all_built().into_iter().filter(|b| !b.is_empty_model()) {
        for add in [1u64 << 63, 1 << 62, 1 << 61] {
            let mut bad = b.file.clone();
            put_u64(&mut bad, 8, (b.shape.factors as u64).wrapping_add(add));
            assert_eq!(
                check(&bad, false),
                Ok(false),
                "{}: factors + {add}",
                b.shape.name
            );
        }
    }
}

/// A rating range that would make clipping panic (NaN, or low above high), or one the flags do
/// not announce, is refused.
#[test]
fn a_damaged_rating_range_is_refused() {
    for b in all_built() {
        let with = b.shape.rating_range;
        let mut cases: Vec<Vec<u8>> = Vec::new();
        let mut flag = b.file.clone();
        flag[32] ^= 4;
        cases.push(flag);
        if with {
            for (at, v) in [(44, f32::NAN), (48, f32::NAN), (44, 6.0), (48, 0.5)] {
                let mut bad = b.file.clone();
                bad[at..at + 4].copy_from_slice(&v.to_le_bytes());
                cases.push(bad);
            }
        }
        for bad in cases {
            assert_eq!(check(&bad, false), Ok(false), "{}", b.shape.name);
        }
    }
}
