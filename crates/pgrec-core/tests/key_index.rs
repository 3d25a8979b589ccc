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
