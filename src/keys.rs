//! External keys: integer keys (smallint, integer, bigint) come back as bigint, text-like keys
//! (text, varchar, char, uuid, name) as text. Internal indices never leave the extension.

use pgrec_core::store::KeysRef;
use pgrec_core::KeyIndex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Int,
    Text,
}

impl KeyKind {
    /// The catalog spelling (and the SQL type results use).
    pub fn sql_name(self) -> &'static str {
        match self {
            KeyKind::Int => "bigint",
            KeyKind::Text => "text",
        }
    }

    pub fn from_sql_name(s: &str) -> KeyKind {
        if s == "bigint" {
            KeyKind::Int
        } else {
            KeyKind::Text
        }
    }

    /// The cast applied when reading a key column of this kind.
    pub fn cast(self) -> &'static str {
        match self {
            KeyKind::Int => "::int8",
            KeyKind::Text => "::text",
        }
    }
}

/// A key given by a caller: the overload it arrived through decides the variant.
#[derive(Debug, Clone, Copy)]
pub enum KeyArg<'a> {
    Int(i64),
    Text(&'a str),
}

/// Integer keys of an array argument (NULL: none), NULL elements dropped.
pub fn int_keys(keys: &Option<Vec<Option<i64>>>) -> Vec<KeyArg<'static>> {
    keys.iter()
        .flatten()
        .flatten()
        .map(|&i| KeyArg::Int(i))
        .collect()
}

/// Text keys of an array argument (NULL: none), NULL elements dropped.
pub fn text_keys(keys: &Option<Vec<Option<String>>>) -> Vec<KeyArg<'_>> {
    keys.iter()
        .flatten()
        .flatten()
        .map(|s| KeyArg::Text(s))
        .collect()
}

impl std::fmt::Display for KeyArg<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyArg::Int(i) => write!(f, "{i}"),
            KeyArg::Text(s) => write!(f, "\"{s}\""),
        }
    }
}

/// The key map of one side (users or items) of a model.
#[derive(Debug, Clone)]
pub enum Keys {
    Int(KeyIndex<i64>),
    Text(KeyIndex<String>),
    /// Keys read in place from a serving file (sorted order, binary search); the views live as
    /// long as the serving model that owns the file's mapping.
    Mapped(KeysRef<'static>),
}

impl Keys {
    pub fn new(kind: KeyKind) -> Self {
        match kind {
            KeyKind::Int => Keys::Int(KeyIndex::new()),
            KeyKind::Text => Keys::Text(KeyIndex::new()),
        }
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            Keys::Int(_) => KeyKind::Int,
            Keys::Text(_) => KeyKind::Text,
            Keys::Mapped(k) if k.is_text() => KeyKind::Text,
            Keys::Mapped(_) => KeyKind::Int,
        }
    }

    /// Renumbers loaded keys in key order (see `KeyIndex::sort_keys`); keys read from a
    /// serving file are sorted already and keep their numbering.
    pub fn sort_keys(&mut self) -> Vec<u32> {
        self.sort_keys_from(0)
    }

    /// Like `sort_keys` for the keys from index `start` on (those before keep their indices).
    pub fn sort_keys_from(&mut self, start: usize) -> Vec<u32> {
        match self {
            Keys::Int(k) => k.sort_keys_from(start),
            Keys::Text(k) => k.sort_keys_from(start),
            Keys::Mapped(k) => (0..k.len() as u32).collect(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Keys::Int(k) => k.len(),
            Keys::Text(k) => k.len(),
            Keys::Mapped(k) => k.len(),
        }
    }

    /// Looks a caller's key up. A text argument finds an integer key when it spells one
    /// ('42' reaches the text overload), and an integer argument finds the text key '42'.
    pub fn find(&self, key: KeyArg<'_>) -> Option<u32> {
        match (self, key) {
            (Keys::Int(m), KeyArg::Int(i)) => m.get(&i),
            (Keys::Int(m), KeyArg::Text(s)) => s.trim().parse::<i64>().ok().and_then(|i| m.get(&i)),
            (Keys::Text(m), KeyArg::Text(s)) => m.get(s),
            (Keys::Text(m), KeyArg::Int(i)) => m.get(i.to_string().as_str()),
            (Keys::Mapped(m), KeyArg::Int(i)) if !m.is_text() => m.find_int(i),
            (Keys::Mapped(m), KeyArg::Text(s)) if !m.is_text() => {
                s.trim().parse::<i64>().ok().and_then(|i| m.find_int(i))
            }
            (Keys::Mapped(m), KeyArg::Text(s)) => m.find_text(s),
            (Keys::Mapped(m), KeyArg::Int(i)) => m.find_text(&i.to_string()),
        }
    }

    pub fn int_key(&self, idx: u32) -> Option<i64> {
        match self {
            Keys::Int(m) => Some(*m.key(idx)),
            Keys::Text(_) => None,
            Keys::Mapped(m) => m.int_key(idx),
        }
    }

    pub fn text_key(&self, idx: u32) -> String {
        match self {
            Keys::Int(m) => m.key(idx).to_string(),
            Keys::Text(m) => m.key(idx).clone(),
            Keys::Mapped(m) => match m.int_key(idx) {
                Some(i) => i.to_string(),
                None => m.text_key(idx).unwrap_or_default().to_string(),
            },
        }
    }

    /// Integer keys in index order (NULL for a text-keyed side).
    pub fn int_column(&self) -> Vec<Option<i64>> {
        match self {
            Keys::Int(m) => m.keys().iter().map(|&k| Some(k)).collect(),
            Keys::Text(m) => vec![None; m.len()],
            Keys::Mapped(m) => (0..m.len() as u32).map(|i| m.int_key(i)).collect(),
        }
    }

    /// Text keys in index order (NULL for an integer-keyed side).
    pub fn text_column(&self) -> Vec<Option<String>> {
        match self {
            Keys::Int(m) => vec![None; m.len()],
            Keys::Text(m) => m.keys().iter().map(|k| Some(k.clone())).collect(),
            Keys::Mapped(m) => (0..m.len() as u32)
                .map(|i| m.text_key(i).map(str::to_string))
                .collect(),
        }
    }
}

/// Maps each key of `from` (the evaluation data) to the model's index for it.
pub fn map_keys(from: &Keys, to: &Keys) -> Vec<Option<u32>> {
    match from {
        Keys::Int(m) => m.keys().iter().map(|&k| to.find(KeyArg::Int(k))).collect(),
        Keys::Text(m) => m.keys().iter().map(|k| to.find(KeyArg::Text(k))).collect(),
        Keys::Mapped(m) => (0..m.len() as u32)
            .map(|i| match m.int_key(i) {
                Some(k) => to.find(KeyArg::Int(k)),
                None => to.find(KeyArg::Text(m.text_key(i).unwrap_or_default())),
            })
            .collect(),
    }
}
