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

use crate::data::UserItems;
use crate::ivf::{Ivf, IvfRef, ListRows};
use crate::kernels::f16_bits;

/// "PGRECM" and the format version.
pub const MAGIC: &[u8; 8] = b"PGRECM03";
const HEADER: usize = 64;
const ALIGN: usize = 64;

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
}
const SECTIONS: usize = 22;

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
    pub seen: &'a UserItems,
    pub user_keys: KeysIn<'a>,
    pub item_keys: KeysIn<'a>,
    /// Also store the item vectors as f16 (half the bytes for catalog scans to read).
    pub f16_items: bool,
    /// The approximate-search index, when the version asked for one.
    pub ivf: Option<&'a Ivf>,
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
        || p.seen.n_users() != n_users
        || p.user_keys.len() != n_users
        || p.item_keys.len() != n_items
        || p.ivf
            .is_some_and(|x| !x.as_ref().is_consistent(n_items, p.factors))
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
                let (a, b) = (
                    offsets[idx as usize] as usize,
                    offsets[idx as usize + 1] as usize,
                );
                std::str::from_utf8(&bytes[a..b]).ok()
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
    /// Per-user sorted seen item indices: user u's are seen_items[offsets[u]..offsets[u + 1]].
    pub seen_offsets: &'a [u64],
    pub seen_items: &'a [u32],
    pub user_keys: KeysRef<'a>,
    pub item_keys: KeysRef<'a>,
    /// The item vectors as f16 bits, when the version asked for them.
    pub item_factors_f16: Option<&'a [u16]>,
    /// The approximate-search index, when the version asked for one.
    pub ivf: Option<IvfRef<'a>>,
}

impl<'a> Mapped<'a> {
    pub fn n_users(&self) -> usize {
        self.user_bias.len()
    }

    pub fn n_items(&self) -> usize {
        self.item_bias.len()
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

/// Reads a serving file in place. `bytes` must start at an address aligned to 64 (a memory
/// map or an aligned buffer). Every length is checked, so a damaged or truncated file is an
/// error, never an out-of-bounds read.
pub fn parse(bytes: &[u8]) -> Result<Mapped<'_>, String> {
    if bytes.len() < HEADER + SECTIONS * 16 || &bytes[..8] != MAGIC {
        return Err("not a pgrec serving file of this format".into());
    }
    if std::mem::size_of::<usize>() != 8 {
        return Err("serving files need a 64-bit platform".into());
    }
    let factors = u64_at(bytes, 8) as usize;
    let n_users = u64_at(bytes, 16) as usize;
    let n_items = u64_at(bytes, 24) as usize;
    let flags = u64_at(bytes, 32);
    let global_mean = f32_at(bytes, 40);
    let rating_range = (flags & 4 != 0).then(|| (f32_at(bytes, 44), f32_at(bytes, 48)));
    let mut sec: Vec<&[u8]> = Vec::with_capacity(SECTIONS);
    for s in 0..SECTIONS {
        let off = u64_at(bytes, HEADER + s * 16) as usize;
        let len = u64_at(bytes, HEADER + s * 16 + 8) as usize;
        let end = off.checked_add(len).ok_or("a section overflows")?;
        if end > bytes.len() {
            return Err("the file is truncated".into());
        }
        sec.push(&bytes[off..end]);
    }
    let f = |s: Section| cast::<f32>(sec[s as usize]);
    let keys = |text: bool,
                k: Section,
                kb: Section,
                o: Section,
                n: usize|
     -> Result<KeysRef<'_>, String> {
        let order = cast::<u32>(sec[o as usize])?;
        if order.len() != n || order.iter().any(|&i| i as usize >= n) {
            return Err("a key order is damaged".into());
        }
        if text {
            let offsets = cast::<u64>(sec[k as usize])?;
            let bytes = sec[kb as usize];
            if offsets.len() != n + 1
                || offsets.windows(2).any(|w| w[0] > w[1])
                || offsets.last().copied().unwrap_or(0) as usize != bytes.len()
            {
                return Err("text keys are damaged".into());
            }
            Ok(KeysRef::Text {
                offsets,
                bytes,
                order,
            })
        } else {
            let keys = cast::<i64>(sec[k as usize])?;
            if keys.len() != n {
                return Err("integer keys are damaged".into());
            }
            Ok(KeysRef::Int { keys, order })
        }
    };
    let m = Mapped {
        factors,
        global_mean,
        rating_range,
        user_bias: f(Section::UserBias)?,
        item_bias: f(Section::ItemBias)?,
        user_factors: f(Section::UserFactors)?,
        item_factors: f(Section::ItemFactors)?,
        item_norms: f(Section::ItemNorms)?,
        item_support: f(Section::ItemSupport)?,
        seen_offsets: cast::<u64>(sec[Section::SeenOffsets as usize])?,
        seen_items: cast::<u32>(sec[Section::SeenItems as usize])?,
        user_keys: keys(
            flags & 1 != 0,
            Section::UserKeys,
            Section::UserKeyBytes,
            Section::UserOrder,
            n_users,
        )?,
        item_keys: keys(
            flags & 2 != 0,
            Section::ItemKeys,
            Section::ItemKeyBytes,
            Section::ItemOrder,
            n_items,
        )?,
        item_factors_f16: {
            let h = cast::<u16>(sec[Section::ItemFactorsF16 as usize])?;
            (!h.is_empty()).then_some(h)
        },
        ivf: {
            let offsets = cast::<u32>(sec[Section::IvfOffsets as usize])?;
            (!offsets.is_empty())
                .then(|| -> Result<IvfRef<'_>, String> {
                    Ok(IvfRef {
                        factors,
                        centroids: f(Section::IvfCentroids)?,
                        list_bias: f(Section::IvfListBias)?,
                        shrunk_centroids: f(Section::IvfShrunkCentroids)?,
                        offsets,
                        items: cast::<u32>(sec[Section::IvfItems as usize])?,
                        rows: {
                            let h = cast::<u16>(sec[Section::IvfRowsF16 as usize])?;
                            if h.is_empty() {
                                ListRows::F32(f(Section::IvfRows)?)
                            } else {
                                ListRows::F16(h)
                            }
                        },
                    })
                })
                .transpose()?
        },
    };
    let sizes_agree = m.user_bias.len() == n_users
        && m.item_bias.len() == n_items
        && m.user_factors.len() == n_users * factors
        && m.item_factors.len() == n_items * factors
        && m.item_norms.len() == n_items
        && m.item_support.len() == n_items
        && m.seen_offsets.len() == n_users + 1
        && m.seen_offsets.windows(2).all(|w| w[0] <= w[1])
        && m.seen_offsets.last().copied().unwrap_or(0) as usize == m.seen_items.len()
        && m.seen_items.iter().all(|&i| (i as usize) < n_items)
        && m.item_factors_f16
            .is_none_or(|h| h.len() == n_items * factors)
        && m.ivf.is_none_or(|x| x.is_consistent(n_items, factors));
    if !sizes_agree {
        return Err("the sections do not agree with the header".into());
    }
    Ok(m)
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
        let ivf = Ivf {
            factors: 2,
            centroids: vec![0.0, -1.0, -3.0, -4.0],
            list_bias: vec![2.0, 2.0],
            shrunk_centroids: vec![0.0, -0.5, -0.25, -0.5],
            offsets: vec![0, 1, 3],
            items: vec![0, 1, 2],
            rows: vec![-0.0, -1.0, -2.0, -3.0, -4.0, -5.0],
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
            seen: &seen,
            user_keys: if text {
                KeysIn::Text(&texts)
            } else {
                KeysIn::Int(&ints)
            },
            item_keys: KeysIn::Int(&[100, 200, 300]),
            f16_items: text,
            ivf: text.then_some(&ivf),
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
            assert_eq!(m.item_keys.find_int(300), Some(2));
            // f16 item vectors when asked for (the text case here): -5 is exact in f16
            match m.item_factors_f16 {
                Some(h) => {
                    assert!(text);
                    assert_eq!(half::f16::from_bits(h[5]).to_f32(), -5.0);
                }
                None => assert!(!text),
            }
            match m.ivf {
                Some(x) => {
                    assert!(text);
                    assert_eq!(x.n_lists(), 2);
                    assert_eq!((x.offsets, x.items), (&[0u32, 1, 3][..], &[0u32, 1, 2][..]));
                    assert_eq!(x.centroids[3], -4.0);
                    assert_eq!(x.list_bias, &[2.0, 2.0]);
                    assert_eq!(x.shrunk_centroids[1], -0.5);
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
        // truncated anywhere
        // (the last section, 12 bytes, starts 64 bytes before the end: the rest is padding)
        for cut in [0, 10, 100, file.len() / 2, file.len() - 60] {
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
            seen: &seen,
            user_keys: KeysIn::Int(&[1]),
            item_keys: KeysIn::Int(&[1]),
            f16_items: false,
            ivf: None,
        };
        assert!(write(&mut Vec::new(), &p).is_err());
    }
}
