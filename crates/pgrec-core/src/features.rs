//! Side features of users or items, encoded for the neural models.
//!
//! Each column has a kind decided by its PostgreSQL type (the extension maps types to kinds):
//! - `Categorical` (integer, text, boolean): one value per entity, embedded by a lookup table;
//! - `Multi` (arrays): several values per entity, their embeddings mean-pooled (genres);
//! - `Numeric` (real, double precision, numeric): standardized to mean 0, standard deviation 1.
//!
//! Vocabularies are built from the data and sorted, so the encoding does not depend on row
//! order. Id 0 is the bucket for values not in the vocabulary (values rarer than `min_count`, or
//! new values met when an entity is encoded later), id 1 is SQL NULL (and "no feature row").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// Vocabulary id of values not in the vocabulary.
pub const UNSEEN: u32 = 0;
/// Vocabulary id of NULL, and of entities that have no row in the feature table.
pub const NULL_VALUE: u32 = 1;
/// Ids of vocabulary entries start here.
const FIRST_ID: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    Categorical,
    Multi,
    Numeric,
}

impl FeatureKind {
    /// The kind's name in messages (as in stored specs).
    pub fn name(self) -> &'static str {
        match self {
            FeatureKind::Categorical => "categorical",
            FeatureKind::Multi => "multi",
            FeatureKind::Numeric => "numeric",
        }
    }
}

/// One raw value as read from the feature table.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Null,
    Text(String),
    List(Vec<Option<String>>),
    Number(f64),
}

/// What is persisted about a feature column with the model version: enough to encode any
/// entity again (vocabulary, standardization).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    pub name: String,
    pub kind: FeatureKind,
    /// Sorted values; value `vocab[j]` has id `j + 2`. Empty for numeric columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vocab: Vec<String>,
    #[serde(default)]
    pub mean: f64,
    #[serde(default)]
    pub std: f64,
}

impl FeatureSpec {
    /// Rows of this column's embedding table (unseen + NULL + vocabulary); 0 for numeric.
    pub fn table_rows(&self) -> usize {
        match self.kind {
            FeatureKind::Numeric => 0,
            _ => self.vocab.len() + FIRST_ID as usize,
        }
    }

    /// The id of a value (`UNSEEN` if it is not in the vocabulary).
    pub fn id_of(&self, value: Option<&str>) -> u32 {
        match value {
            None => NULL_VALUE,
            Some(v) => match self.vocab.binary_search_by(|x| x.as_str().cmp(v)) {
                Ok(j) => j as u32 + FIRST_ID,
                Err(_) => UNSEEN,
            },
        }
    }
}

/// One encoded column: a value per entity.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureColumn {
    Categorical(Vec<u32>),
    /// Entity e has ids `ids[offsets[e]..offsets[e + 1]]` (never empty: no values means NULL).
    Multi {
        offsets: Vec<u32>,
        ids: Vec<u32>,
    },
    Numeric(Vec<f32>),
}

/// The encoded features of one side (users or items), one row per entity index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SideFeatures {
    pub specs: Vec<FeatureSpec>,
    pub columns: Vec<FeatureColumn>,
    pub n: usize,
}

impl SideFeatures {
    /// No feature columns, for `n` entities.
    pub fn none(n: usize) -> Self {
        Self {
            specs: Vec::new(),
            columns: Vec::new(),
            n,
        }
    }

    /// The ids of entity `e` in a categorical or multi-valued column.
    #[inline]
    pub fn ids(&self, column: usize, e: usize) -> &[u32] {
        match &self.columns[column] {
            FeatureColumn::Categorical(v) => std::slice::from_ref(&v[e]),
            FeatureColumn::Multi { offsets, ids } => {
                &ids[offsets[e] as usize..offsets[e + 1] as usize]
            }
            FeatureColumn::Numeric(_) => &[],
        }
    }

    #[inline]
    pub fn number(&self, column: usize, e: usize) -> f32 {
        match &self.columns[column] {
            FeatureColumn::Numeric(v) => v[e],
            _ => 0.0,
        }
    }
}

/// A second feature row for an entity that already has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DuplicateRow;

/// Collects raw feature rows, then encodes them.
#[derive(Debug, Clone)]
pub struct FeatureBuilder {
    names: Vec<String>,
    kinds: Vec<FeatureKind>,
    /// Per entity index: its raw row, if the feature table had one.
    rows: Vec<Option<Vec<RawValue>>>,
}

impl FeatureBuilder {
    pub fn new(columns: Vec<(String, FeatureKind)>) -> Self {
        let (names, kinds) = columns.into_iter().unzip();
        Self {
            names,
            kinds,
            rows: Vec::new(),
        }
    }

    pub fn n_columns(&self) -> usize {
        self.names.len()
    }

    /// Records the row of entity `e`. A second row for the same entity is an error (the
    /// caller names the key).
    pub fn set(&mut self, e: u32, values: Vec<RawValue>) -> std::result::Result<(), DuplicateRow> {
        let e = e as usize;
        if self.rows.len() <= e {
            self.rows.resize(e + 1, None);
        }
        if self.rows[e].is_some() {
            return Err(DuplicateRow);
        }
        self.rows[e] = Some(values);
        Ok(())
    }

    /// Moves each entity's row to its new index (`new_of_old`, as `KeyIndex::sort_keys_from`
    /// returns it).
    pub fn renumber(&mut self, new_of_old: &[u32]) {
        let mut rows = vec![None; self.rows.len().max(new_of_old.len())];
        for (old, row) in std::mem::take(&mut self.rows).into_iter().enumerate() {
            let new = new_of_old.get(old).map_or(old, |&n| n as usize);
            rows[new] = row;
        }
        self.rows = rows;
    }

    /// Number of entities that have a feature row.
    pub fn n_rows(&self) -> usize {
        self.rows.iter().filter(|r| r.is_some()).count()
    }

    /// Encodes `n` entities (entities without a row get NULL values). Values seen fewer than
    /// `min_count` times go to the unseen bucket, so that bucket is trained too.
    pub fn build(self, n: usize, min_count: usize) -> Result<SideFeatures> {
        let mut specs = Vec::with_capacity(self.names.len());
        for (c, (name, &kind)) in self.names.iter().zip(&self.kinds).enumerate() {
            let spec = match kind {
                FeatureKind::Categorical | FeatureKind::Multi => {
                    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                    for e in 0..n {
                        match self.value(e, c) {
                            RawValue::Text(s) => *counts.entry(s).or_default() += 1,
                            RawValue::List(l) => {
                                for s in l.iter().flatten() {
                                    *counts.entry(s).or_default() += 1;
                                }
                            }
                            _ => {}
                        }
                    }
                    let vocab: Vec<String> = counts
                        .into_iter()
                        .filter(|&(_, n)| n >= min_count.max(1))
                        .map(|(s, _)| s.to_string())
                        .collect();
                    FeatureSpec {
                        name: name.clone(),
                        kind,
                        vocab,
                        mean: 0.0,
                        std: 0.0,
                    }
                }
                FeatureKind::Numeric => {
                    let (mut sum, mut sq, mut cnt) = (0.0f64, 0.0f64, 0usize);
                    for e in 0..n {
                        if let RawValue::Number(x) = self.value(e, c) {
                            check_finite(name, *x)?;
                            sum += x;
                            sq += x * x;
                            cnt += 1;
                        }
                    }
                    let mean = if cnt > 0 { sum / cnt as f64 } else { 0.0 };
                    let var = if cnt > 0 {
                        (sq / cnt as f64 - mean * mean).max(0.0)
                    } else {
                        0.0
                    };
                    let std = if var > 0.0 { var.sqrt() } else { 1.0 };
                    FeatureSpec {
                        name: name.clone(),
                        kind,
                        vocab: Vec::new(),
                        mean,
                        std,
                    }
                }
            };
            specs.push(spec);
        }
        let at: Vec<usize> = (0..specs.len()).collect();
        self.encode(specs, &at, n)
    }

    /// Encodes `n` entities with the vocabularies and standardization a trained version
    /// recorded (`specs`), as that training encoded its own entities: values it never saw go
    /// to the unseen bucket. The builder's columns are matched to the specs by name; a column
    /// that is missing or changed its kind is an error naming it.
    pub fn encode_with(self, specs: &[FeatureSpec], n: usize) -> Result<SideFeatures> {
        let mut at = Vec::with_capacity(specs.len());
        for spec in specs {
            match self.names.iter().position(|n| *n == spec.name) {
                Some(c) if self.kinds[c] == spec.kind => at.push(c),
                Some(c) => {
                    return Err(CoreError::data(
                        format!(
                            "feature column \"{}\" was {} when the model was trained and is {} now",
                            spec.name,
                            spec.kind.name(),
                            self.kinds[c].name()
                        ),
                        Some("Cast the column in a SELECT to the type it had, or retrain.".into()),
                    ))
                }
                None => {
                    return Err(CoreError::data(
                        format!(
                        "the feature source has no column \"{}\", which the model was trained with",
                        spec.name
                    ),
                        Some("Give the column back (in a SELECT), or retrain.".into()),
                    ))
                }
            }
        }
        self.encode(specs.to_vec(), &at, n)
    }

    /// The raw value of entity `e` in column `c` (NULL when it has no row).
    fn value(&self, e: usize, c: usize) -> &RawValue {
        self.rows
            .get(e)
            .and_then(|r| r.as_ref())
            .map_or(&RawValue::Null, |r| &r[c])
    }

    /// Encodes `n` entities: spec j reads the builder's column `at[j]`.
    fn encode(&self, specs: Vec<FeatureSpec>, at: &[usize], n: usize) -> Result<SideFeatures> {
        let mut columns = Vec::with_capacity(specs.len());
        for (spec, &c) in specs.iter().zip(at) {
            let name = &spec.name;
            let column = match spec.kind {
                FeatureKind::Categorical => FeatureColumn::Categorical(
                    (0..n)
                        .map(|e| match self.value(e, c) {
                            RawValue::Text(s) => spec.id_of(Some(s)),
                            _ => NULL_VALUE,
                        })
                        .collect(),
                ),
                FeatureKind::Multi => {
                    let mut offsets = Vec::with_capacity(n + 1);
                    let mut ids = Vec::new();
                    offsets.push(0u32);
                    for e in 0..n {
                        let start = ids.len();
                        if let RawValue::List(l) = self.value(e, c) {
                            ids.extend(l.iter().map(|s| spec.id_of(s.as_deref())));
                        }
                        if ids.len() == start {
                            ids.push(NULL_VALUE);
                        }
                        let end = u32::try_from(ids.len()).map_err(|_| {
                            CoreError::data(
                                format!("feature \"{name}\" has too many array values"),
                                None,
                            )
                        })?;
                        offsets.push(end);
                    }
                    FeatureColumn::Multi { offsets, ids }
                }
                FeatureKind::Numeric => {
                    let mut v = Vec::with_capacity(n);
                    for e in 0..n {
                        v.push(match self.value(e, c) {
                            RawValue::Number(x) => {
                                check_finite(name, *x)?;
                                ((x - spec.mean) / spec.std) as f32
                            }
                            // NULL: the mean.
                            _ => 0.0,
                        });
                    }
                    FeatureColumn::Numeric(v)
                }
            };
            columns.push(column);
        }
        Ok(SideFeatures { specs, columns, n })
    }
}

fn check_finite(name: &str, x: f64) -> Result<()> {
    if x.is_finite() {
        return Ok(());
    }
    Err(CoreError::data(
        format!("feature \"{name}\" has the non-finite value {x}"),
        Some("Filter NaN and infinite values out of the feature table, or cast the column.".into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> RawValue {
        RawValue::Text(s.into())
    }

    #[test]
    fn encodes_each_kind_with_null_and_unseen_buckets() {
        let mut b = FeatureBuilder::new(vec![
            ("occupation".into(), FeatureKind::Categorical),
            ("genres".into(), FeatureKind::Multi),
            ("age".into(), FeatureKind::Numeric),
        ]);
        let list = |v: &[&str]| RawValue::List(v.iter().map(|s| Some(s.to_string())).collect());
        b.set(
            2,
            vec![t("writer"), list(&["Drama", "War"]), RawValue::Number(30.0)],
        )
        .unwrap();
        b.set(
            0,
            vec![t("artist"), list(&["Drama"]), RawValue::Number(10.0)],
        )
        .unwrap();
        b.set(
            1,
            vec![RawValue::Null, RawValue::List(vec![]), RawValue::Null],
        )
        .unwrap();
        assert!(b.set(1, vec![]).is_err(), "a second row for one entity");
        // Entity 3 has no row at all.
        let f = b.build(4, 1).unwrap();
        assert_eq!(f.specs[0].vocab, vec!["artist", "writer"]);
        assert_eq!(f.ids(0, 0), &[2]);
        assert_eq!(f.ids(0, 2), &[3]);
        assert_eq!(f.ids(0, 1), &[NULL_VALUE]);
        assert_eq!(f.ids(0, 3), &[NULL_VALUE]);
        assert_eq!(f.specs[0].id_of(Some("pilot")), UNSEEN);
        assert_eq!(f.specs[1].vocab, vec!["Drama", "War"]);
        assert_eq!(f.ids(1, 2), &[2, 3]);
        assert_eq!(f.ids(1, 1), &[NULL_VALUE], "an empty array counts as NULL");
        // Mean 20, std 10 over the two known values; NULL and missing rows get the mean.
        assert!((f.number(2, 2) - 1.0).abs() < 1e-6);
        assert!((f.number(2, 0) + 1.0).abs() < 1e-6);
        assert_eq!(f.number(2, 1), 0.0);
        assert_eq!(f.number(2, 3), 0.0);
    }

    #[test]
    fn rare_values_go_to_the_unseen_bucket_and_order_does_not_matter() {
        let build = |order: &[u32]| {
            let mut b = FeatureBuilder::new(vec![("c".into(), FeatureKind::Categorical)]);
            for &e in order {
                let v = if e == 0 { "rare" } else { "common" };
                b.set(e, vec![t(v)]).unwrap();
            }
            b.build(3, 2).unwrap()
        };
        let a = build(&[0, 1, 2]);
        assert_eq!(a, build(&[2, 0, 1]));
        assert_eq!(a.specs[0].vocab, vec!["common"]);
        assert_eq!(a.ids(0, 0), &[UNSEEN]);
    }

    #[test]
    fn non_finite_numbers_are_rejected() {
        let mut b = FeatureBuilder::new(vec![("x".into(), FeatureKind::Numeric)]);
        b.set(0, vec![RawValue::Number(f64::NAN)]).unwrap();
        assert!(b.build(1, 1).is_err());
    }

    /// A trained version's specs encode new entities as training did: the same ids for the
    /// same values, the unseen bucket for new ones, the training's standardization.
    #[test]
    fn encodes_new_entities_with_recorded_specs() {
        let cols = || {
            vec![
                ("genre".into(), FeatureKind::Categorical),
                ("year".into(), FeatureKind::Numeric),
            ]
        };
        let mut b = FeatureBuilder::new(cols());
        b.set(0, vec![t("drama"), RawValue::Number(1990.0)])
            .unwrap();
        b.set(1, vec![t("comedy"), RawValue::Number(2000.0)])
            .unwrap();
        let trained = b.build(2, 1).unwrap();
        // The new source lists its columns in another order.
        let mut n = FeatureBuilder::new(cols().into_iter().rev().collect());
        n.set(0, vec![RawValue::Number(2010.0), t("comedy")])
            .unwrap();
        n.set(1, vec![RawValue::Number(1995.0), t("western")])
            .unwrap();
        let f = n.encode_with(&trained.specs, 3).unwrap();
        assert_eq!(f.specs, trained.specs);
        assert_eq!(f.ids(0, 0), trained.ids(0, 1), "comedy keeps its id");
        assert_eq!(f.ids(0, 1), &[UNSEEN]);
        assert_eq!(f.ids(0, 2), &[NULL_VALUE], "no row");
        assert!((f.number(1, 0) - 3.0).abs() < 1e-6, "{}", f.number(1, 0));
        assert!(f.number(1, 1).abs() < 1e-6);
        let missing = FeatureBuilder::new(vec![("genre".into(), FeatureKind::Categorical)]);
        assert!(missing
            .encode_with(&trained.specs, 1)
            .unwrap_err()
            .to_string()
            .contains("\"year\""));
        let changed = FeatureBuilder::new(vec![
            ("genre".into(), FeatureKind::Multi),
            ("year".into(), FeatureKind::Numeric),
        ]);
        assert!(changed
            .encode_with(&trained.specs, 1)
            .unwrap_err()
            .to_string()
            .contains("\"genre\""));
    }
}
