//! Reading user or item features (a table, view or SELECT keyed by the user or item column)
//! through SPI (`source::for_each_slot`). Each other column becomes a feature by its type: integer, text and
//! boolean columns are categorical, arrays are multi-valued, real / double precision / numeric
//! columns are numeric. Keys that the ratings do not have are added (cold users and items).

use pgrec_core::features::{FeatureBuilder, FeatureKind, RawValue};
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::errors::{raise, raise_detail, Code};
use crate::keys::Keys;
use crate::source::{
    for_each_slot, from_item, key_kind_of, probe_columns, quote_ident, read_key, type_name,
};

/// Which columns of a feature source to use.
pub struct Selection<'a> {
    /// The argument name, for messages ("user_features").
    pub arg: &'a str,
    /// The parameter that picks columns ("user_feature_columns").
    pub include_param: &'a str,
    pub include: Option<&'a [String]>,
    pub exclude: &'a [String],
}

fn kind_of(oid: pg_sys::Oid) -> Option<(FeatureKind, &'static str)> {
    use pg_sys::*;
    match oid {
        INT2OID | INT4OID | INT8OID | TEXTOID | VARCHAROID | BPCHAROID | BOOLOID | NAMEOID => {
            Some((FeatureKind::Categorical, "::text"))
        }
        TEXTARRAYOID | VARCHARARRAYOID | BPCHARARRAYOID | INT2ARRAYOID | INT4ARRAYOID
        | INT8ARRAYOID | BOOLARRAYOID => Some((FeatureKind::Multi, "::text[]")),
        FLOAT4OID | FLOAT8OID | NUMERICOID => Some((FeatureKind::Numeric, "::float8")),
        _ => None,
    }
}

/// Loads the feature rows of one side into a builder, interning keys into `keys`.
pub fn load_features(
    source: &str,
    key_col: &str,
    keys: &mut Keys,
    sel: &Selection<'_>,
) -> FeatureBuilder {
    let from = from_item(source);
    let cols = probe_columns(&from);
    let Some((_, key_oid)) = cols.iter().find(|(n, _)| n == key_col) else {
        let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
        raise_detail(
            Code::ERRCODE_UNDEFINED_COLUMN,
            format!("{} \"{source}\" has no key column \"{key_col}\"", sel.arg),
            format!("Its columns are: {}.", names.join(", ")),
            Some("Feature sources are keyed by the same column name as the ratings; rename the key in a SELECT."),
        );
    };
    if key_kind_of(*key_oid, key_col) != keys.kind() {
        raise(
            Code::ERRCODE_DATATYPE_MISMATCH,
            format!(
                "key column \"{key_col}\" of {} has type {}, but the ratings' keys are {}",
                sel.arg,
                type_name(*key_oid),
                keys.kind().sql_name()
            ),
            Some("Cast the key in a SELECT so that both sources use the same key type."),
        );
    }
    if let Some(include) = sel.include {
        if let Some(bad) = include
            .iter()
            .find(|c| !cols.iter().any(|(n, _)| n == *c) || *c == key_col)
        {
            raise(
                Code::ERRCODE_UNDEFINED_COLUMN,
                format!(
                    "{} names column \"{bad}\", which is not a feature column of {} \"{source}\"",
                    sel.include_param, sel.arg
                ),
                Some(&format!(
                    "Feature columns of this source: {}.",
                    cols.iter()
                        .map(|(n, _)| n.as_str())
                        .filter(|n| *n != key_col)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
    }
    let mut chosen = Vec::new();
    for (name, oid) in &cols {
        if name == key_col
            || sel.exclude.contains(name)
            || sel.include.is_some_and(|inc| !inc.contains(name))
        {
            continue;
        }
        match kind_of(*oid) {
            Some((kind, cast)) => chosen.push((name.clone(), kind, cast)),
            None => raise(
                Code::ERRCODE_DATATYPE_MISMATCH,
                format!(
                    "feature column \"{name}\" of {} has type {}, which pgrec cannot use as a feature",
                    sel.arg,
                    type_name(*oid)
                ),
                Some("Features may be integer, text, boolean (categorical), arrays of those (multi-valued) or real, double precision, numeric (numeric). Cast the column in a SELECT, or leave it out with exclude_feature_columns."),
            ),
        }
    }
    if chosen.is_empty() {
        raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "{} \"{source}\" has no feature columns besides the key \"{key_col}\"",
                sel.arg
            ),
            Some("Add feature columns, or leave the argument NULL."),
        );
    }
    let mut select = format!("SELECT {}{}", quote_ident(key_col), keys.kind().cast());
    for (name, _, cast) in &chosen {
        select.push_str(&format!(", {}{cast}", quote_ident(name)));
    }
    select.push_str(&format!(" FROM {from}"));
    let kinds: Vec<FeatureKind> = chosen.iter().map(|c| c.1).collect();
    let mut builder = FeatureBuilder::new(chosen.into_iter().map(|(n, k, _)| (n, k)).collect());
    let mut skipped = 0u64;
    // SAFETY: the rows are rows of the query above: the key, then one column per kind.
    for_each_slot(select, "feature source", |row| unsafe {
        let Some(kd) = row.get(1) else {
            skipped += 1;
            return;
        };
        let e = read_key(kd, keys);
        let values: Vec<RawValue> = kinds
            .iter()
            .enumerate()
            .map(|(c, kind)| {
                let Some(d) = row.get(c + 2) else {
                    return RawValue::Null;
                };
                match kind {
                    FeatureKind::Categorical => String::from_datum(d, false)
                        .map(RawValue::Text)
                        .unwrap_or(RawValue::Null),
                    FeatureKind::Multi => Vec::<Option<String>>::from_datum(d, false)
                        .map(RawValue::List)
                        .unwrap_or(RawValue::Null),
                    FeatureKind::Numeric => RawValue::Number(crate::source::read_float8(d)),
                }
            })
            .collect();
        if builder.set(e, values).is_err() {
            raise_detail(
                Code::ERRCODE_CARDINALITY_VIOLATION,
                format!(
                    "{} \"{source}\" has more than one row for key {}",
                    sel.arg,
                    keys.text_key(e)
                ),
                "Each user or item may have one feature row.",
                Some("Aggregate or deduplicate the feature source, e.g. with SELECT DISTINCT ON (key) ..."),
            );
        }
    });
    if skipped > 0 {
        pgrx::notice!(
            "pgrec: skipped {skipped} rows of {} with a NULL key",
            sel.arg
        );
    }
    builder
}
