//! The serving file of a model version: everything serving reads (biases, vectors, item norms
//! and supports, the users' seen lists, both sides' keys with a sorted order for lookups, the
//! f16 copy of the item vectors and the approximate-search index when asked for) in one
//! flat little-endian layout that is used in place. The extension writes it once per version
//! and memory-maps it read-only in every backend, so a server keeps one copy of a model (in the
//! page cache) however many connections serve it, and a new connection starts serving without
//! reading the catalog tables. The tables stay the source of truth: the file is derived from
//! them and can be deleted at any time.
//!
//! Layout: a 64-byte header (magic, format version, factors, users, items, flags, global mean,
//! rating range), a table of SECTIONS (offset, byte length) pairs, then the sections, each
//! aligned to 64 bytes.

use std::io::{self, Write};

use crate::checksum::{Checksum, CHECKSUM_AT};
use crate::data::{ItemLists, UserItems};
use crate::ivf::{Ivf, IvfRef, ListRows};
use crate::kernels::f16_bits;
use crate::quant::{i4_bytes, I4Rows, I8Rows, ScanRows};

/// "PGRECM" and the format version.
pub const MAGIC: &[u8; 8] = b"PGRECM08";
/// Bytes of the header; the section table follows it.
pub const HEADER: usize = 64;
/// Alignment of every section (from the start of the file).
pub const ALIGN: usize = 64;

/// The sections, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
enum Section {
    UserBias,
    ItemBias,
    UserFactors,
    ItemFactors,
    ItemNorms,
    ItemSupport,
    SeenOffsets,
    SeenItems,
    UserKeys,
    UserKeyBytes,
    UserOrder,
    ItemKeys,
    ItemKeyBytes,
    ItemOrder,
    ItemFactorsF16,
    IvfCentroids,
    IvfListBias,
    IvfShrunkCentroids,
    IvfOffsets,
    IvfItems,
    IvfRows,
    IvfRowsF16,
    ItemPopularity,
    IvfRecall,
    ItemCodesI8,
    ItemScalesI8,
    IvfCodesI4,
    IvfScalesI4,
    IvfShortlistRecall,
    IvfUnitScalesI4,
}
/// Entries of the section table (16 bytes each: offset, byte length).
pub const SECTIONS: usize = 30;

/// One side's keys to write.
#[derive(Clone, Copy, Debug)]
pub enum KeysIn<'a> {
    Int(&'a [i64]),
    Text(&'a [String]),
}

impl KeysIn<'_> {
    fn len(&self) -> usize {
        match self {
            KeysIn::Int(k) => k.len(),
            KeysIn::Text(k) => k.len(),
        }
    }
}

/// What a serving file holds, borrowed from the loaded model.
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    pub factors: usize,
    pub global_mean: f32,
    pub rating_range: Option<(f32, f32)>,
    pub user_bias: &'a [f32],
    pub item_bias: &'a [f32],
    pub user_factors: &'a [f32],
    pub item_factors: &'a [f32],
    pub item_norms: &'a [f32],
    pub item_support: &'a [f32],
    /// What pgrec.popular ranks by, when it is not the support (a version trained with row
    /// weights: each item's weighted interactions).
    pub item_popularity: Option<&'a [f32]>,
    pub seen: &'a UserItems,
    pub user_keys: KeysIn<'a>,
    pub item_keys: KeysIn<'a>,
    /// Also store the item vectors as f16 (half the bytes for catalog scans to read).
    pub f16_items: bool,
    /// Also store the item vectors as int8 codes with a scale per item (a quarter of the
    /// bytes; scans re-score their candidates from the f32 vectors: [`crate::quant`]).
    pub i8_items: bool,
    /// The approximate-search index, when the version asked for one.
    pub ivf: Option<&'a Ivf>,
    /// The index's recall@10 at each number of probes, measured when it was built
    /// ([`crate::ivf::measure_recall`]; one entry per list, empty when not measured).
    pub ivf_recall: &'a [f32],
    /// The recall@10 of the scan over the index's 4-bit codes at each short list of
    /// [`crate::ivf::SHORTLISTS`] ([`crate::ivf::measure_shortlist_recall`]; empty when not
    /// measured).
    pub shortlist_recall: &'a [f32],
}

fn as_bytes<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: T is a plain number type (f32, u32, u64, i64) without padding or invalid bit
    // patterns; the byte view covers exactly the slice's memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

/// Indices 0..n sorted by `less`, ties by index (keys are unique, so there are none).
fn order_by<F: Fn(u32, u32) -> std::cmp::Ordering>(n: usize, cmp: F) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by(|&a, &b| cmp(a, b).then(a.cmp(&b)));
    order
}

/// Writes the serving file of `p`.
pub fn write(w: &mut impl Write, p: &Parts<'_>) -> io::Result<()> {
    let n_users = p.user_bias.len();
    let n_items = p.item_bias.len();
    let bad = |what: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            what.to_string(),
        ))
    };
    if p.user_factors.len() != n_users * p.factors
        || p.item_factors.len() != n_items * p.factors
        || p.item_norms.len() != n_items
        || p.item_support.len() != n_items
        || p.item_popularity.is_some_and(|x| x.len() != n_items)
        || p.seen.n_users() != n_users
        || p.user_keys.len() != n_users
        || p.item_keys.len() != n_items
        || p.ivf
            .is_some_and(|x| !x.as_ref().is_consistent(n_items, p.factors))
        || !(p.ivf_recall.is_empty()
            || p.ivf
                .is_some_and(|x| x.as_ref().n_lists() == p.ivf_recall.len()))
        || !(p.shortlist_recall.is_empty()
            || (p.ivf.is_some() && p.shortlist_recall.len() == crate::ivf::SHORTLISTS.len()))
    {
        return bad("the parts of the model do not agree in size");
    }
    let seen_offsets: Vec<u64> = p.seen.offsets.iter().map(|&o| o as u64).collect();
    let keys = |k: KeysIn<'_>| -> (Vec<u8>, Vec<u8>, Vec<u32>) {
        match k {
            KeysIn::Int(keys) => {
                let order = order_by(keys.len(), |a, b| keys[a as usize].cmp(&keys[b as usize]));
                (as_bytes(keys).to_vec(), Vec::new(), order)
            }
            KeysIn::Text(keys) => {
                let mut offsets = Vec::with_capacity(keys.len() + 1);
                let mut bytes = Vec::new();
                offsets.push(0u64);
                for k in keys {
                    bytes.extend_from_slice(k.as_bytes());
                    offsets.push(bytes.len() as u64);
                }
                let order = order_by(keys.len(), |a, b| {
                    keys[a as usize].as_bytes().cmp(keys[b as usize].as_bytes())
                });
                (as_bytes(&offsets).to_vec(), bytes, order)
            }
        }
    };
    let (uk, ukb, uo) = keys(p.user_keys);
    let (ik, ikb, io_) = keys(p.item_keys);
    let half: Vec<u16> = if p.f16_items {
        f16_bits(p.item_factors)
    } else {
        Vec::new()
    };
    let (codes, scales) = if p.i8_items {
        crate::quant::quantize(p.item_factors, p.factors)
    } else {
        (Vec::new(), Vec::new())
    };
    let ivf_half: Vec<u16> = match p.ivf {
        Some(x) if p.f16_items => f16_bits(&x.rows),
        _ => Vec::new(),
    };
    let sections: [&[u8]; SECTIONS] = [
        as_bytes(p.user_bias),
        as_bytes(p.item_bias),
        as_bytes(p.user_factors),
        as_bytes(p.item_factors),
        as_bytes(p.item_norms),
        as_bytes(p.item_support),
        as_bytes(&seen_offsets),
        as_bytes(&p.seen.items),
        &uk,
        &ukb,
        as_bytes(&uo),
        &ik,
        &ikb,
        as_bytes(&io_),
        as_bytes(&half),
        p.ivf.map_or(&[][..], |x| as_bytes(&x.centroids)),
        p.ivf.map_or(&[][..], |x| as_bytes(&x.list_bias)),
        p.ivf.map_or(&[][..], |x| as_bytes(&x.shrunk_centroids)),
        p.ivf.map_or(&[][..], |x| as_bytes(&x.offsets)),
        p.ivf.map_or(&[][..], |x| as_bytes(&x.items)),
        // the index's rows in the precision the catalog scans read
        if p.f16_items {
            &[][..]
        } else {
            p.ivf.map_or(&[][..], |x| as_bytes(&x.rows))
        },
        as_bytes(&ivf_half),
        p.item_popularity.map_or(&[][..], as_bytes),
        as_bytes(p.ivf_recall),
        as_bytes(&codes),
        as_bytes(&scales),
        p.ivf.map_or(&[][..], |x| &x.codes[..]),
        p.ivf.map_or(&[][..], |x| as_bytes(&x.scales)),
        as_bytes(p.shortlist_recall),
        p.ivf.map_or(&[][..], |x| as_bytes(&x.unit_scales)),
    ];
    let mut flags = 0u64;
    if matches!(p.user_keys, KeysIn::Text(_)) {
        flags |= 1;
    }
    if matches!(p.item_keys, KeysIn::Text(_)) {
        flags |= 2;
    }
    let (lo, hi) = p.rating_range.unwrap_or((f32::NAN, f32::NAN));
    if p.rating_range.is_some() {
        flags |= 4;
    }
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    for v in [p.factors as u64, n_users as u64, n_items as u64, flags] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    for v in [p.global_mean, lo, hi] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    header.resize(HEADER, 0);
    let table_end = HEADER + SECTIONS * 16;
    let mut offset = table_end.next_multiple_of(ALIGN);
    let mut table = Vec::with_capacity(SECTIONS * 16);
    let mut placed = Vec::with_capacity(SECTIONS);
    for s in sections {
        table.extend_from_slice(&(offset as u64).to_le_bytes());
        table.extend_from_slice(&(s.len() as u64).to_le_bytes());
        placed.push(offset);
        offset = (offset + s.len()).next_multiple_of(ALIGN);
    }
    // The checksum of the bytes written below, its own field taken as zero (`checksum::verify`).
    let mut sum = Checksum::new();
    sum.update(&header);
    sum.update(&table);
    let mut at = table_end;
    for (s, &start) in sections.iter().zip(&placed) {
        sum.zeros(start - at);
        sum.update(s);
        at = start + s.len();
    }
    sum.zeros(offset - at);
    header[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&sum.finish().to_le_bytes());
    w.write_all(&header)?;
    w.write_all(&table)?;
    let mut at = table_end;
    for (s, start) in sections.iter().zip(placed) {
        w.write_all(&vec![0u8; start - at])?;
        w.write_all(s)?;
        at = start + s.len();
    }
    w.write_all(&vec![0u8; offset - at])?;
    Ok(())
}

/// One side's keys, read in place.
#[derive(Clone, Copy, Debug)]
pub enum KeysRef<'a> {
    Int {
        keys: &'a [i64],
        order: &'a [u32],
    },
    Text {
        offsets: &'a [u64],
        bytes: &'a [u8],
        order: &'a [u32],
    },
}

impl<'a> KeysRef<'a> {
    pub fn len(&self) -> usize {
        match self {
            KeysRef::Int { keys, .. } => keys.len(),
            KeysRef::Text { offsets, .. } => offsets.len().saturating_sub(1),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_text(&self) -> bool {
        matches!(self, KeysRef::Text { .. })
    }

    /// The integer key of index `idx` (None for text keys).
    pub fn int_key(&self, idx: u32) -> Option<i64> {
        match self {
            KeysRef::Int { keys, .. } => keys.get(idx as usize).copied(),
            KeysRef::Text { .. } => None,
        }
    }

    /// The text key of index `idx` (None for integer keys).
    pub fn text_key(&self, idx: u32) -> Option<&'a str> {
        match self {
            KeysRef::Int { .. } => None,
            KeysRef::Text { offsets, bytes, .. } => {
                let i = idx as usize;
                let (a, b) = (*offsets.get(i)?, *offsets.get(i.checked_add(1)?)?);
                std::str::from_utf8(bytes.get(a as usize..b as usize)?).ok()
            }
        }
    }

    /// The index of integer key `key`, by binary search over the sorted order.
    pub fn find_int(&self, key: i64) -> Option<u32> {
        match self {
            KeysRef::Int { keys, order } => order
                .binary_search_by(|&i| keys[i as usize].cmp(&key))
                .ok()
                .map(|p| order[p]),
            KeysRef::Text { .. } => None,
        }
    }

    /// The index of text key `key`.
    pub fn find_text(&self, key: &str) -> Option<u32> {
        match self {
            KeysRef::Int { .. } => None,
            KeysRef::Text {
                offsets,
                bytes,
                order,
            } => order
                .binary_search_by(|&i| {
                    let (a, b) = (
                        offsets[i as usize] as usize,
                        offsets[i as usize + 1] as usize,
                    );
                    bytes[a..b].cmp(key.as_bytes())
                })
                .ok()
                .map(|p| order[p]),
        }
    }
}

/// A serving file read in place.
#[derive(Clone, Copy, Debug)]
pub struct Mapped<'a> {
    pub factors: usize,
    pub global_mean: f32,
    pub rating_range: Option<(f32, f32)>,
    pub user_bias: &'a [f32],
    pub item_bias: &'a [f32],
    pub user_factors: &'a [f32],
    pub item_factors: &'a [f32],
    pub item_norms: &'a [f32],
    pub item_support: &'a [f32],
    /// What pgrec.popular ranks by: the support, or the weighted interactions of a version
    /// trained with row weights.
    pub item_popularity: &'a [f32],
    /// Per-user sorted seen item indices: user u's are seen_items[offsets[u]..offsets[u + 1]].
    pub seen_offsets: &'a [u64],
    pub seen_items: &'a [u32],
    pub user_keys: KeysRef<'a>,
    pub item_keys: KeysRef<'a>,
    /// The item vectors as f16 bits, when the version asked for them.
    pub item_factors_f16: Option<&'a [u16]>,
    /// The item vectors as int8 codes, when the version asked for them.
    pub item_codes_i8: Option<I8Rows<'a>>,
    /// The approximate-search index, when the version asked for one.
    pub ivf: Option<IvfRef<'a>>,
    /// The index's recall@10 at each number of probes (one entry per list; empty when the
    /// index was not measured).
    pub ivf_recall: &'a [f32],
    /// The recall@10 of the scan over the index's 4-bit codes at each short list of
    /// [`crate::ivf::SHORTLISTS`] (empty when not measured).
    pub shortlist_recall: &'a [f32],
}

impl<'a> Mapped<'a> {
    pub fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    pub fn n_items(&self) -> usize {
        self.item_bias.len()
    }

    /// What catalog scans read the item vectors from: f16 or int8 copies when the version
    /// asked for one, the f32 vectors otherwise.
    pub fn scan_rows(&self) -> ScanRows<'a> {
        match (self.item_factors_f16, self.item_codes_i8) {
            (Some(h), _) => ScanRows::F16(h),
            (None, Some(c)) => ScanRows::I8(c),
            (None, None) => ScanRows::F32,
        }
    }

    /// Sorted seen item indices of user `u`.
    pub fn seen_of(&self, u: u32) -> &'a [u32] {
        let u = u as usize;
        if u + 1 >= self.seen_offsets.len() {
            return &[];
        }
        &self.seen_items[self.seen_offsets[u] as usize..self.seen_offsets[u + 1] as usize]
    }
}

/// The sections' names, in file order (for error messages).
const NAMES: [&str; SECTIONS] = [
    "user biases",
    "item biases",
    "user vectors",
    "item vectors",
    "item norms",
    "item supports",
    "seen-list offsets",
    "seen items",
    "user keys",
    "user key bytes",
    "user key order",
    "item keys",
    "item key bytes",
    "item key order",
    "f16 item vectors",
    "index centroids",
    "index list biases",
    "index shrunk centroids",
    "index list offsets",
    "index items",
    "index rows",
    "f16 index rows",
    "item popularity",
    "index recall",
    "int8 item codes",
    "int8 item scales",
    "index 4-bit codes",
    "index 4-bit scales",
    "index short-list recall",
    "index 4-bit unit scales",
];

/// Header flags: text user keys, text item keys, a rating range. Other bits are damage.
const FLAG_TEXT_USERS: u64 = 1;
const FLAG_TEXT_ITEMS: u64 = 2;
const FLAG_RATING_RANGE: u64 = 4;
const KNOWN_FLAGS: u64 = FLAG_TEXT_USERS | FLAG_TEXT_ITEMS | FLAG_RATING_RANGE;

/// Largest factor count a file may declare: far above any model (the factor models take at most
/// 1024, EASE one per item), so that a damaged count is refused even when no section has
/// a length to check it against (a model without users and items).
const MAX_FACTORS: u64 = 1 << 20;

/// The u64 at `at`. Panics past the end of `b`: the callers check the length first.
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn f32_at(b: &[u8], at: usize) -> f32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    f32::from_le_bytes(v)
}

/// A typed view of `bytes`, which must be aligned for T and a whole number of Ts.
fn cast<T: Copy>(bytes: &[u8]) -> Result<&[T], String> {
    let size = std::mem::size_of::<T>();
    if !(bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>())
        || !bytes.len().is_multiple_of(size)
    {
        return Err("a section is misaligned or cut".into());
    }
    // SAFETY: alignment and length were checked; T is a plain number type for which every bit
    // pattern is valid; the view borrows `bytes`.
    Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const T, bytes.len() / size) })
}

fn require(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

/// `a * b` of two counts from the header, or an error when it does not fit in a usize (a
/// wrapped product could agree with a section's length).
fn product(a: usize, b: usize) -> Result<usize, String> {
    a.checked_mul(b)
        .ok_or_else(|| "the header's counts overflow".to_string())
}

/// The sections of a file, located and typed.
struct Sections<'a>([&'a [u8]; SECTIONS]);

impl<'a> Sections<'a> {
    fn bytes(&self, s: Section) -> &'a [u8] {
        self.0[s as usize]
    }

    fn is_empty(&self, s: Section) -> bool {
        self.0[s as usize].is_empty()
    }

    /// Section `s` as Ts, of any count.
    fn any<T: Copy>(&self, s: Section) -> Result<&'a [T], String> {
        cast::<T>(self.0[s as usize]).map_err(|e| format!("{} ({})", e, NAMES[s as usize]))
    }

    /// Section `s` as exactly `n` Ts.
    fn exactly<T: Copy>(&self, s: Section, n: usize) -> Result<&'a [T], String> {
        let v = self.any::<T>(s)?;
        require(v.len() == n, || {
            format!(
                "the {} hold {} values, the header asks for {n}",
                NAMES[s as usize],
                v.len()
            )
        })?;
        Ok(v)
    }
}

/// Offsets (into a run of `len` values) that start at 0, never decrease and end at `len`.
fn offsets_ok<T: Copy + Into<u64>>(offsets: &[T], len: usize) -> bool {
    offsets.first().is_some_and(|&o| o.into() == 0)
        && offsets.windows(2).all(|w| w[0].into() <= w[1].into())
        && offsets.last().is_some_and(|&o| o.into() == len as u64)
}

/// One side's keys: `n` of them, and an order that is a permutation of 0..n sorting them by
/// (key, index), as `write` sorts them (binary searches rely on it).
fn read_keys<'a>(
    sec: &Sections<'a>,
    text: bool,
    (k, kb, o): (Section, Section, Section),
    n: usize,
) -> Result<KeysRef<'a>, String> {
    let order = sec.exactly::<u32>(o, n)?;
    let name = NAMES[o as usize];
    require(order.iter().all(|&i| (i as usize) < n), || {
        format!("the {name} points past the keys")
    })?;
    // Strictly increasing (key, index) pairs: no index twice, so with n indices below n, a
    // permutation.
    let sorted = |cmp: &dyn Fn(usize, usize) -> std::cmp::Ordering| {
        order.windows(2).all(|w| {
            let (a, b) = (w[0] as usize, w[1] as usize);
            cmp(a, b).then(a.cmp(&b)) == std::cmp::Ordering::Less
        })
    };
    let keys = if text {
        let offsets = sec.exactly::<u64>(k, n + 1)?;
        let bytes = sec.bytes(kb);
        require(offsets_ok(offsets, bytes.len()), || {
            format!("the {} are damaged", NAMES[k as usize])
        })?;
        let key = |i: usize| &bytes[offsets[i] as usize..offsets[i + 1] as usize];
        require((0..n).all(|i| std::str::from_utf8(key(i)).is_ok()), || {
            format!("the {} are not UTF-8", NAMES[kb as usize])
        })?;
        require(sorted(&|a, b| key(a).cmp(key(b))), || {
            format!("the {name} does not sort the keys")
        })?;
        KeysRef::Text {
            offsets,
            bytes,
            order,
        }
    } else {
        let keys = sec.exactly::<i64>(k, n)?;
        require(sec.is_empty(kb), || {
            format!("integer keys with {}", NAMES[kb as usize])
        })?;
        require(sorted(&|a, b| keys[a].cmp(&keys[b])), || {
            format!("the {name} does not sort the keys")
        })?;
        KeysRef::Int { keys, order }
    };
    Ok(keys)
}

/// Reads a serving file in place. `bytes` should start at an address aligned to 64 (a memory
/// map or an [`AlignedBytes`]); a section misaligned in memory is an error.
///
/// Any bytes give either an error or a view whose accessors stay in bounds (the serving
/// functions index the view with its own counts): the magic and version, the header's
/// counts (whose products must fit in a usize), flags and reserved bytes, the rating range
/// (NaN or low above high would panic when clipping), the section table (each section where
/// `write` puts it, aligned, zero padding between, the file ending with the last one), every
/// section's length against the counts, the seen lists (offsets, sorted items below the item
/// count), the keys (offsets, UTF-8, an order that is a permutation sorting them) and the
/// index (offsets, every item in exactly one list, rows in the items' precision) are checked.
/// Only the numbers the file stores (biases, vectors, norms, keys' values) cannot be told from
/// damage; they never index anything.
pub fn parse(bytes: &[u8]) -> Result<Mapped<'_>, String> {
    if std::mem::size_of::<usize>() != 8 {
        return Err("serving files need a 64-bit platform".into());
    }
    if bytes.len() < MAGIC.len() || bytes[..6] != MAGIC[..6] {
        return Err("not a pgrec serving file".into());
    }
    if bytes[6..8] != MAGIC[6..8] {
        return Err(format!(
            "a serving file of format version {}, this build reads version {}",
            String::from_utf8_lossy(&bytes[6..8]).escape_debug(),
            String::from_utf8_lossy(&MAGIC[6..8])
        ));
    }
    // The one guard of every header and table read below (u64_at panics past the end).
    if bytes.len() < HEADER + SECTIONS * 16 {
        return Err("the file is truncated in its header or section table".into());
    }
    let (factors, n_users, n_items, flags) = (
        u64_at(bytes, 8),
        u64_at(bytes, 16),
        u64_at(bytes, 24),
        u64_at(bytes, 32),
    );
    require(flags & !KNOWN_FLAGS == 0, || {
        format!("the header has unknown flags {flags:#x}")
    })?;
    // Indices are u32 throughout serving.
    require(
        factors <= MAX_FACTORS && n_users <= u32::MAX as u64 && n_items <= u32::MAX as u64,
        || "the header's counts are out of range".into(),
    )?;
    let (factors, n_users, n_items) = (factors as usize, n_users as usize, n_items as usize);
    let global_mean = f32_at(bytes, 40);
    let (lo, hi) = (f32_at(bytes, 44), f32_at(bytes, 48));
    let rating_range = if flags & FLAG_RATING_RANGE != 0 {
        // predictions are clamped to it: NaN or low above high would panic
        require(!lo.is_nan() && !hi.is_nan() && lo <= hi, || {
            "the rating range is damaged".into()
        })?;
        Some((lo, hi))
    } else {
        require(lo.is_nan() && hi.is_nan(), || {
            "the rating range is damaged".into()
        })?;
        None
    };
    // (bytes CHECKSUM_AT.. hold the checksum, which `checksum::verify` checks)
    require(bytes[52..CHECKSUM_AT].iter().all(|&b| b == 0), || {
        "the header's reserved bytes are not zero".into()
    })?;
    // the table, read whole (the length check above guards these reads)
    let table: [(u64, u64); SECTIONS] = std::array::from_fn(|s| {
        (
            u64_at(bytes, HEADER + s * 16),
            u64_at(bytes, HEADER + s * 16 + 8),
        )
    });
    let zero = |b: &[u8]| b.iter().all(|&x| x == 0);
    // Each section exactly where `write` puts it: the sections follow each other in order,
    // each at the next multiple of ALIGN, with zero padding between; the file ends with the
    // padding of the last one. So no section overlaps another or the table, none is misaligned,
    // a shifted or shortened table is refused, and so are a cut or appended bytes.
    let mut sec: [&[u8]; SECTIONS] = [&[]; SECTIONS];
    let mut at = HEADER + SECTIONS * 16;
    for (s, (slot, &(off, len))) in sec.iter_mut().zip(&table).enumerate() {
        let start = at.next_multiple_of(ALIGN);
        require(off == start as u64, || {
            format!(
                "section {s} ({}) is at {off}, the layout puts it at {start}",
                NAMES[s]
            )
        })?;
        let pad = bytes
            .get(at..start)
            .ok_or_else(|| "the file is truncated".to_string())?;
        require(zero(pad), || {
            format!("the padding before section {s} is not zero")
        })?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= bytes.len() - start)
            .ok_or_else(|| format!("the file is truncated (section {s}, {})", NAMES[s]))?;
        *slot = &bytes[start..start + len];
        at = start + len;
    }
    let end = at.next_multiple_of(ALIGN);
    let pad = bytes
        .get(at..end)
        .ok_or_else(|| "the file is truncated".to_string())?;
    require(zero(pad), || {
        "the padding of the last section is not zero".into()
    })?;
    require(bytes.len() == end, || {
        format!("{} bytes follow the last section", bytes.len() - end)
    })?;

    let sec = Sections(sec);
    use Section::*;
    let user_values = product(n_users, factors)?;
    let item_values = product(n_items, factors)?;
    let seen_offsets = sec.exactly::<u64>(SeenOffsets, n_users + 1)?;
    let seen_items = sec.any::<u32>(SeenItems)?;
    require(offsets_ok(seen_offsets, seen_items.len()), || {
        "the seen-list offsets are damaged".into()
    })?;
    // each user's list sorted (exclusions are binary searches) and below the item count
    require(
        seen_offsets.windows(2).all(|w| {
            let list = &seen_items[w[0] as usize..w[1] as usize];
            list.windows(2).all(|p| p[0] <= p[1])
                && list.last().is_none_or(|&i| (i as usize) < n_items)
        }),
        || "the seen items are damaged".into(),
    )?;
    let item_factors_f16 = {
        let h = sec.any::<u16>(ItemFactorsF16)?;
        require(h.is_empty() || h.len() == item_values, || {
            "the f16 item vectors do not agree with the header".into()
        })?;
        (!h.is_empty()).then_some(h)
    };
    let item_codes_i8 = {
        let codes = sec.any::<i8>(ItemCodesI8)?;
        let scales = sec.any::<f32>(ItemScalesI8)?;
        if codes.is_empty() && scales.is_empty() {
            None
        } else {
            require(
                codes.len() == item_values
                    && scales.len() == n_items
                    && item_factors_f16.is_none()
                    && !codes.contains(&i8::MIN)
                    && scales.iter().all(|s| *s >= 0.0),
                || "the int8 item codes do not agree with the header".into(),
            )?;
            Some(I8Rows { codes, scales })
        }
    };
    let ivf_offsets = sec.any::<u32>(IvfOffsets)?;
    let ivf = if ivf_offsets.is_empty() {
        let rest = [
            IvfCentroids,
            IvfListBias,
            IvfShrunkCentroids,
            IvfItems,
            IvfRows,
            IvfRowsF16,
            IvfRecall,
            IvfCodesI4,
            IvfScalesI4,
            IvfShortlistRecall,
            IvfUnitScalesI4,
        ];
        require(rest.iter().all(|&s| sec.is_empty(s)), || {
            "index sections without an index".into()
        })?;
        None
    } else {
        let lists = ivf_offsets.len() - 1;
        let list_values = product(lists, factors)?;
        require(offsets_ok(ivf_offsets, n_items), || {
            "the index list offsets are damaged".into()
        })?;
        let items = sec.exactly::<u32>(IvfItems, n_items)?;
        // every item in exactly one list (n_items of them, none twice)
        let mut listed = vec![0u64; n_items.div_ceil(64)];
        require(
            items.iter().all(|&i| {
                let i = i as usize;
                i < n_items && {
                    let (w, b) = (i / 64, 1u64 << (i % 64));
                    let fresh = listed[w] & b == 0;
                    listed[w] |= b;
                    fresh
                }
            }),
            || "the index items are damaged".into(),
        )?;
        // the rows in the precision of the item vectors the catalog scans read
        let rows = if item_factors_f16.is_some() {
            require(sec.is_empty(IvfRows), || {
                "index rows in both precisions".into()
            })?;
            ListRows::F16(sec.exactly::<u16>(IvfRowsF16, item_values)?)
        } else {
            require(sec.is_empty(IvfRowsF16), || {
                "f16 index rows without f16 item vectors".into()
            })?;
            ListRows::F32(sec.exactly::<f32>(IvfRows, item_values)?)
        };
        let x = IvfRef {
            factors,
            centroids: sec.exactly::<f32>(IvfCentroids, list_values)?,
            list_bias: sec.exactly::<f32>(IvfListBias, lists)?,
            shrunk_centroids: sec.exactly::<f32>(IvfShrunkCentroids, list_values)?,
            offsets: ivf_offsets,
            items,
            rows,
            codes: I4Rows {
                codes: sec.exactly::<u8>(IvfCodesI4, product(n_items, i4_bytes(factors))?)?,
                scales: sec.exactly::<f32>(IvfScalesI4, n_items)?,
                unit_scales: sec.exactly::<f32>(IvfUnitScalesI4, n_items)?,
            },
        };
        require(x.is_consistent(n_items, factors), || {
            "the index does not agree with the header".into()
        })?;
        let recall = sec.any::<f32>(IvfRecall)?;
        require(
            recall.is_empty()
                || (recall.len() == lists && recall.iter().all(|r| (0.0..=1.0).contains(r))),
            || "the index recall is damaged".into(),
        )?;
        let short = sec.any::<f32>(IvfShortlistRecall)?;
        require(
            short.is_empty()
                || (short.len() == crate::ivf::SHORTLISTS.len()
                    && short.iter().all(|r| (0.0..=1.0).contains(r))),
            || "the index short-list recall is damaged".into(),
        )?;
        Some((x, recall, short))
    };
    let (ivf, ivf_recall, shortlist_recall) = match ivf {
        Some((x, recall, short)) => (Some(x), recall, short),
        None => (None, &[][..], &[][..]),
    };
    Ok(Mapped {
        factors,
        global_mean,
        rating_range,
        user_bias: sec.exactly::<f32>(UserBias, n_users)?,
        item_bias: sec.exactly::<f32>(ItemBias, n_items)?,
        user_factors: sec.exactly::<f32>(UserFactors, user_values)?,
        item_factors: sec.exactly::<f32>(ItemFactors, item_values)?,
        item_norms: sec.exactly::<f32>(ItemNorms, n_items)?,
        item_support: sec.exactly::<f32>(ItemSupport, n_items)?,
        item_popularity: if sec.is_empty(ItemPopularity) {
            sec.exactly::<f32>(ItemSupport, n_items)?
        } else {
            sec.exactly::<f32>(ItemPopularity, n_items)?
        },
        seen_offsets,
        seen_items,
        user_keys: read_keys(
            &sec,
            flags & FLAG_TEXT_USERS != 0,
            (UserKeys, UserKeyBytes, UserOrder),
            n_users,
        )?,
        item_keys: read_keys(
            &sec,
            flags & FLAG_TEXT_ITEMS != 0,
            (ItemKeys, ItemKeyBytes, ItemOrder),
            n_items,
        )?,
        item_factors_f16,
        item_codes_i8,
        ivf,
        ivf_recall,
        shortlist_recall,
    })
}

/// A 64-byte aligned heap copy of a serving file, for when no file can be mapped.
#[derive(Debug, Clone)]
pub struct AlignedBytes {
    words: Vec<[u64; 8]>,
    len: usize,
}

impl AlignedBytes {
    pub fn new(bytes: &[u8]) -> Self {
        let mut words = vec![[0u64; 8]; bytes.len().div_ceil(64)];
        // SAFETY: the words cover at least bytes.len() bytes; u64 has no invalid bit patterns.
        let dst = unsafe {
            std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, words.len() * 64)
        };
        dst[..bytes.len()].copy_from_slice(bytes);
        Self {
            words,
            len: bytes.len(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the words hold at least len initialised bytes.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }
}

/// The seen items of a mapped serving file, as serving reads them.
impl ItemLists for Mapped<'_> {
    fn n_users(&self) -> usize {
        self.seen_offsets.len().saturating_sub(1)
    }

    fn of(&self, user: u32) -> &[u32] {
        self.seen_of(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts_and_write(text: bool) -> (Vec<u8>, Vec<String>) {
        let seen = UserItems::from_lists(vec![vec![2, 0], vec![], vec![1]]);
        let user_bias = [0.1f32, 0.2, 0.3];
        let item_bias = [1.0f32, 2.0, 3.0];
        let user_factors: Vec<f32> = (0..6).map(|x| x as f32).collect();
        let item_factors: Vec<f32> = (0..6).map(|x| -(x as f32)).collect();
        let norms = [1.0f32, 2.0, 3.0];
        let support = [4.0f32, 5.0, 6.0];
        let texts: Vec<String> = vec!["zoe".into(), "al".into(), "émile".into()];
        let ints = [30i64, -5, 7];
        // an index of two lists (the text case writes it)
        let (codes, scales) = crate::quant::quantize4(&item_factors, 2);
        let ivf = Ivf {
            factors: 2,
            centroids: vec![0.0, -1.0, -3.0, -4.0],
            list_bias: vec![2.0, 2.0],
            shrunk_centroids: vec![0.0, -0.5, -0.25, -0.5],
            offsets: vec![0, 1, 3],
            items: vec![0, 1, 2],
            rows: vec![-0.0, -1.0, -2.0, -3.0, -4.0, -5.0],
            unit_scales: crate::quant::unit_scales(&scales, &norms),
            codes,
            scales,
        };
        let p = Parts {
            factors: 2,
            global_mean: 3.5,
            rating_range: Some((1.0, 5.0)),
            user_bias: &user_bias,
            item_bias: &item_bias,
            user_factors: &user_factors,
            item_factors: &item_factors,
            item_norms: &norms,
            item_support: &support,
            item_popularity: None,
            seen: &seen,
            user_keys: if text {
                KeysIn::Text(&texts)
            } else {
                KeysIn::Int(&ints)
            },
            item_keys: KeysIn::Int(&[100, 200, 300]),
            f16_items: text,
            i8_items: !text,
            ivf: text.then_some(&ivf),
            ivf_recall: if text { &[0.75, 1.0] } else { &[] },
            shortlist_recall: if text {
                &[0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
            } else {
                &[]
            },
        };
        let mut out = Vec::new();
        write(&mut out, &p).unwrap();
        (out, texts)
    }

    #[test]
    fn what_is_written_reads_back_in_place() {
        for text in [false, true] {
            let (file, texts) = parts_and_write(text);
            let buf = AlignedBytes::new(&file);
            let m = parse(buf.bytes()).unwrap();
            assert_eq!((m.factors, m.n_users(), m.n_items()), (2, 3, 3));
            assert_eq!(m.global_mean, 3.5);
            assert_eq!(m.rating_range, Some((1.0, 5.0)));
            assert_eq!(m.user_bias, &[0.1, 0.2, 0.3]);
            assert_eq!(m.item_factors[5], -5.0);
            assert_eq!(m.item_support, &[4.0, 5.0, 6.0]);
            assert_eq!(m.seen_of(0), &[0, 2]);
            assert!(m.seen_of(1).is_empty());
            assert_eq!(m.seen_of(2), &[1]);
            assert!(m.seen_of(3).is_empty());
            // the same lists through the trait serving reads them by
            assert_eq!(ItemLists::n_users(&m), 3);
            assert_eq!(ItemLists::of(&m, 0), &[0, 2]);
            assert!(ItemLists::of(&m, 1).is_empty());
            assert_eq!(ItemLists::of(&m, 2), &[1]);
            assert_eq!(m.item_keys.find_int(300), Some(2));
            assert!(!m.user_keys.is_empty() && !m.item_keys.is_empty());
            let none = KeysRef::Int {
                keys: &[],
                order: &[],
            };
            assert!(none.is_empty());
            // f16 item vectors when asked for (the text case here): -5 is exact in f16
            match m.item_factors_f16 {
                Some(h) => {
                    assert!(text);
                    assert_eq!(half::f16::from_bits(h[5]).to_f32(), -5.0);
                }
                None => assert!(!text),
            }
            // int8 codes when asked for (the integer case): item 2's largest value is -5
            match m.item_codes_i8 {
                Some(c) => {
                    assert!(!text);
                    assert_eq!((c.codes[5], c.scales[2]), (-127, 5.0 / 127.0));
                    assert!(matches!(m.scan_rows(), ScanRows::I8(_)));
                }
                None => assert!(text),
            }
            match m.ivf {
                Some(x) => {
                    assert!(text);
                    assert_eq!(x.n_lists(), 2);
                    assert_eq!((x.offsets, x.items), (&[0u32, 1, 3][..], &[0u32, 1, 2][..]));
                    assert_eq!(x.centroids[3], -4.0);
                    assert_eq!(x.list_bias, &[2.0, 2.0]);
                    assert_eq!(x.shrunk_centroids[1], -0.5);
                    // item 0 (-0, -1): scale 1/7, codes 8 (zero) and 1 (-7 steps)
                    assert_eq!((x.codes.codes[0], x.codes.scales[0]), (0x18, 1.0 / 7.0));
                    assert_eq!(x.codes.scales.len(), 3);
                    assert_eq!(m.shortlist_recall[1], 0.75);
                    assert_eq!(m.ivf_recall, &[0.75, 1.0]);
                    // rows in f16, as the file's item vectors (the text case asks for f16)
                    match x.rows {
                        ListRows::F16(h) => assert_eq!(half::f16::from_bits(h[5]).to_f32(), -5.0),
                        ListRows::F32(_) => panic!("f16 rows expected"),
                    }
                }
                None => assert!(!text),
            }
            assert_eq!(m.item_keys.find_int(301), None);
            if text {
                for (i, t) in texts.iter().enumerate() {
                    assert_eq!(m.user_keys.find_text(t), Some(i as u32));
                    assert_eq!(m.user_keys.text_key(i as u32), Some(t.as_str()));
                }
                assert_eq!(m.user_keys.find_text("bob"), None);
                assert_eq!(m.user_keys.find_int(30), None);
            } else {
                for (i, k) in [30i64, -5, 7].iter().enumerate() {
                    assert_eq!(m.user_keys.find_int(*k), Some(i as u32));
                    assert_eq!(m.user_keys.int_key(i as u32), Some(*k));
                }
                assert_eq!(m.user_keys.find_int(8), None);
                assert_eq!(m.user_keys.find_text("30"), None);
            }
        }
    }

    #[test]
    fn damaged_files_are_refused_not_read_out_of_bounds() {
        let (file, _) = parts_and_write(true);
        // truncated anywhere: inside the header, inside the last table entry (a length check one
        // section short reads past the end there), in a section, in the last section's padding
        let (table_end, len) = (HEADER + SECTIONS * 16, file.len());
        for cut in [
            0,
            10,
            100,
            table_end - 16,
            table_end - 1,
            len / 2,
            len - 60,
            len - 1,
        ] {
            let buf = AlignedBytes::new(&file[..cut]);
            assert!(parse(buf.bytes()).is_err(), "cut at {cut}");
        }
        // a wrong magic
        let mut bad = file.clone();
        bad[0] = b'X';
        assert!(parse(AlignedBytes::new(&bad).bytes()).is_err());
        // a header that claims more users than the sections hold
        let mut bad = file.clone();
        bad[16] = 9;
        assert!(parse(AlignedBytes::new(&bad).bytes()).is_err());
        // a seen list pointing past the catalog
        let off = u64_at(&file, HEADER + Section::SeenItems as usize * 16) as usize;
        let mut bad = file.clone();
        bad[off..off + 4].copy_from_slice(&7u32.to_le_bytes());
        assert!(parse(AlignedBytes::new(&bad).bytes()).is_err());
        // an index list pointing past the catalog
        let off = u64_at(&file, HEADER + Section::IvfItems as usize * 16) as usize;
        let mut bad = file.clone();
        bad[off..off + 4].copy_from_slice(&3u32.to_le_bytes());
        assert!(parse(AlignedBytes::new(&bad).bytes()).is_err());
        // and the intact file still parses
        assert!(parse(AlignedBytes::new(&file).bytes()).is_ok());
    }

    #[test]
    fn sizes_that_do_not_agree_are_not_written() {
        let seen = UserItems::from_lists(vec![vec![]]);
        let p = Parts {
            factors: 2,
            global_mean: 0.0,
            rating_range: None,
            user_bias: &[0.0],
            item_bias: &[0.0],
            user_factors: &[0.0, 0.0],
            item_factors: &[0.0],
            item_norms: &[0.0],
            item_support: &[0.0],
            item_popularity: None,
            seen: &seen,
            user_keys: KeysIn::Int(&[1]),
            item_keys: KeysIn::Int(&[1]),
            f16_items: false,
            i8_items: false,
            ivf: None,
            ivf_recall: &[],
            shortlist_recall: &[],
        };
        assert!(write(&mut Vec::new(), &p).is_err());
        // with the item vector whole it is written; then each part one size off is refused
        let ok = Parts {
            item_factors: &[0.0, 0.0],
            ..p
        };
        assert!(write(&mut Vec::new(), &ok).is_ok());
        let two_lists = Ivf {
            factors: 2,
            centroids: vec![0.0; 4],
            list_bias: vec![0.0; 2],
            shrunk_centroids: vec![0.0; 4],
            offsets: vec![0, 1, 2],
            items: vec![0, 1],
            rows: vec![0.0; 4],
            codes: vec![0x88; 2],
            scales: vec![0.0; 2],
            unit_scales: vec![0.0; 2],
        };
        let off = [
            Parts {
                item_keys: KeysIn::Int(&[1, 2]),
                ..ok
            },
            Parts {
                user_keys: KeysIn::Int(&[]),
                ..ok
            },
            Parts {
                item_norms: &[],
                ..ok
            },
            Parts {
                item_support: &[0.0, 1.0],
                ..ok
            },
            Parts {
                item_popularity: Some(&[]),
                ..ok
            },
            // an index over two items for a catalog of one
            Parts {
                ivf: Some(&two_lists),
                ..ok
            },
            // a recall curve without an index, or of another length than the lists
            Parts {
                ivf_recall: &[1.0],
                ..ok
            },
            // a short-list curve without an index
            Parts {
                shortlist_recall: &[1.0; 11],
                ..ok
            },
        ];
        for (n, p) in off.iter().enumerate() {
            assert!(write(&mut Vec::new(), p).is_err(), "case {n} was written");
        }
    }
}
