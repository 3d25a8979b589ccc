//! The pipeline's own params: what `pgrec.train` takes out of `params` before the algorithm
//! sees the rest (keep_versions, serving_precision, ann / ivf_lists / ivf_probes, tune /
//! tune_trials). They are parsed and checked once, here, into [`PipelineParams`]; the version
//! stores them beside the algorithm's params, and serving reads them back through the same
//! parser ([`PipelineParams::of_stored`]).

use serde_json::{json, Value};

use crate::errors::{raise, Code, OrRaise};

/// The approximate search a version's serving data carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ann {
    /// Exact scans only.
    #[default]
    None,
    /// An inverted-file index: the lists asked for and the lists a query probes (None: the
    /// defaults).
    Ivf {
        lists: Option<usize>,
        probes: Option<usize>,
    },
}

/// The serving precision of the item vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
}

impl Precision {
    fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        }
    }
}

/// The pipeline's params of one training, checked.
#[derive(Debug, Clone, Default)]
pub struct PipelineParams {
    /// How many of the newest versions to keep (None: all).
    pub keep_versions: Option<i64>,
    /// Whether serving also keeps f16 item vectors (None: not given, f32).
    pub serving_precision: Option<Precision>,
    pub ann: Ann,
    /// Tuning trials, when `"tune": true`.
    pub tune: Option<usize>,
}

impl PipelineParams {
    /// Takes the pipeline's params out of `params` (raising 22023 on a bad value); what is left
    /// configures the algorithm.
    pub fn take(params: &mut Value) -> Self {
        let keep_versions = take_keep_versions(params);
        let serving_precision = take_serving_precision(params);
        let ann = take_ann(params);
        let tune = pgrec_core::algo::tune::take_tune(params).or_raise();
        Self {
            keep_versions,
            serving_precision,
            ann,
            tune,
        }
    }

    /// The pipeline's params of a stored version (its params column).
    pub fn of_stored(stored: &Value) -> Self {
        Self::take(&mut stored.clone())
    }

    /// Adds these params to the params a version stores (tune is not stored: the version
    /// records the winner's settings, and retrain replays them without a search).
    pub fn record(&self, stored: &mut Value) {
        if let Some(p) = self.serving_precision {
            stored["serving_precision"] = json!(p.name());
        }
        if let Some(n) = self.keep_versions {
            stored["keep_versions"] = json!(n);
        }
        if let Ann::Ivf { lists, probes } = self.ann {
            stored["ann"] = json!("ivf");
            if let Some(n) = lists {
                stored["ivf_lists"] = json!(n);
            }
            if let Some(n) = probes {
                stored["ivf_probes"] = json!(n);
            }
        }
    }

    /// Whether serving keeps f16 item vectors.
    pub fn f16(&self) -> bool {
        self.serving_precision == Some(Precision::F16)
    }
}

/// A version's stored params without the pipeline's: what configures its algorithm again.
pub fn algorithm_params(stored: &Value) -> Value {
    let mut params = stored.clone();
    PipelineParams::take(&mut params);
    params
}

/// The largest `keep_versions`.
const MAX_KEEP_VERSIONS: i64 = 1_000_000;

/// Takes the approximate-search params out of `params`, checked: `"ann": "ivf"` (or null,
/// "none": exact scans only), `ivf_lists` and `ivf_probes` (positive integers, only with ivf).
fn take_ann(params: &mut Value) -> Ann {
    let Some(o) = params.as_object_mut() else {
        return Ann::None;
    };
    let ann = o.remove("ann");
    let ivf = match ann.as_ref() {
        None | Some(Value::Null) => false,
        Some(v) if v.as_str() == Some("none") => false,
        Some(v) if v.as_str() == Some("ivf") => true,
        Some(v) => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("ann must be \"ivf\" or \"none\", got {v}"),
            Some("\"ivf\" adds an inverted-file index to the serving data: recommend and similar_items then scan only the items of the lists nearest the query (pgrec.ivf_probes sets how many). The default, \"none\", scans every item."),
        ),
    };
    let (mut lists, mut probes) = (None, None);
    for key in ["ivf_lists", "ivf_probes"] {
        let Some(v) = o.remove(key) else { continue };
        if v.is_null() {
            continue;
        }
        if !ivf {
            raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("{key} is only used with \"ann\": \"ivf\""),
                Some("Add \"ann\": \"ivf\" to the params, or leave the ivf_ params out."),
            );
        }
        match v.as_i64() {
            Some(n) if (1..=1_000_000).contains(&n) => {
                let slot = if key == "ivf_lists" { &mut lists } else { &mut probes };
                *slot = Some(n as usize);
            }
            _ => raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("{key} must be an integer from 1 to 1000000, got {v}"),
                Some("ivf_lists defaults to about the square root of the item count, ivf_probes to a sixteenth of the lists (at least 8)."),
            ),
        }
    }
    if ivf {
        Ann::Ivf { lists, probes }
    } else {
        Ann::None
    }
}

/// Takes `serving_precision` out of `params`, checked: whether serving also keeps the item
/// vectors as f16 (scans read half the bytes; the tables keep f32).
fn take_serving_precision(params: &mut Value) -> Option<Precision> {
    let value = params.as_object_mut()?.remove("serving_precision")?;
    match value.as_str() {
        None if value.is_null() => None,
        Some("f32") => Some(Precision::F32),
        Some("f16") => Some(Precision::F16),
        _ => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("serving_precision must be \"f32\" or \"f16\", got {value}"),
            Some("f16 halves the bytes a catalog scan reads (recommend, similar_items) at a small cost in score precision; the stored vectors stay f32."),
        ),
    }
}

/// Takes the pipeline's own params (`keep_versions`) out of `params`, checked.
fn take_keep_versions(params: &mut Value) -> Option<i64> {
    let value = params.as_object_mut()?.remove("keep_versions")?;
    if value.is_null() {
        return None;
    }
    match value.as_i64() {
        Some(n) if (1..=MAX_KEEP_VERSIONS).contains(&n) => Some(n),
        _ => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("keep_versions must be an integer from 1 to {MAX_KEEP_VERSIONS}, got {value}"),
            Some("keep_versions is how many of the newest versions to keep; the active one is never removed."),
        ),
    }
}
