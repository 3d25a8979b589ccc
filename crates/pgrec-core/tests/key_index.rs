//! `KeyIndex` counts what it holds (issue 29, mutation sample of data.rs: `is_empty` replaced by
//! `false` was missed).

use pgrec_core::KeyIndex;

#[test]
fn a_key_index_is_empty_until_a_key_is_interned() {
    let mut idx: KeyIndex<i64> = KeyIndex::new();
    assert!(idx.is_empty());
    assert_eq!(idx.len(), 0);
    assert_eq!(idx.intern(42).unwrap(), 0);
    assert_eq!(idx.intern(-7).unwrap(), 1);
    assert_eq!(idx.intern(42).unwrap(), 0);
    assert!(!idx.is_empty());
    assert_eq!(idx.len(), 2);
    assert!(KeyIndex::<String>::from_keys(Vec::new()).is_empty());
    let text = KeyIndex::from_keys(vec!["a".to_string(), "b".to_string()]);
    assert!(!text.is_empty());
    assert_eq!(text.get("b"), Some(1));
}

/// Small non-negative integer keys sit in an array, others (negative, huge, sparse) in the map;
/// a key that went to the map before the array grew over its slot keeps its index. Whatever
/// holds a key, interning it again and looking it up give the index of its first appearance,
/// as a plain map would.
#[test]
fn array_and_map_keys_keep_the_index_of_their_first_appearance() {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // keys far apart first (they go to the map), then a dense range, then keys the array grows
    // over, then negative and huge ones
    let mut keys: Vec<i64> = vec![3_000_000, 1_500_000, 1_100_000, 1 << 40];
    keys.extend((0..300_000).map(|_| (next() % 250_000) as i64));
    // keys the array grows over once enough keys are held: it takes 1_100_000 and 1_500_000
    // over from the map
    keys.extend((0..5000).map(|j| 1_000_000 + 120 * j as i64));
    keys.extend((0..1000).map(|_| -((next() % 5000) as i64) - 1));
    keys.extend((0..1000).map(|_| (next() % (1 << 50)) as i64));
    keys.extend([
        3_000_000,
        1_500_000,
        1_100_000,
        1 << 40,
        i64::MIN,
        i64::MAX,
        0,
    ]);
    let mut idx: KeyIndex<i64> = KeyIndex::new();
    let mut plain = std::collections::HashMap::new();
    for &k in &keys {
        let n = plain.len() as u32;
        let want = *plain.entry(k).or_insert(n);
        assert_eq!(idx.intern(k).unwrap(), want, "key {k}");
    }
    assert_eq!(idx.len(), plain.len());
    for (&k, &i) in &plain {
        assert_eq!(idx.get(&k), Some(i), "key {k}");
        assert_eq!(idx.key(i), &k);
    }
    for k in [1 << 41, -6000, 250_001, 2_999_999] {
        assert_eq!(idx.get(&k), None, "key {k}");
    }
    // the same from the stored order, and after renumbering in key order
    let again = KeyIndex::from_keys(idx.keys().to_vec());
    for (&k, &i) in &plain {
        assert_eq!(again.get(&k), Some(i), "key {k}");
    }
    let mut sorted = again.clone();
    let new_of_old = sorted.sort_keys();
    let mut by_key: Vec<i64> = plain.keys().copied().collect();
    by_key.sort_unstable();
    for (rank, k) in by_key.iter().enumerate() {
        assert_eq!(sorted.get(k), Some(rank as u32), "key {k}");
        assert_eq!(new_of_old[plain[k] as usize], rank as u32);
    }
}
