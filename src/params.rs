//! The pipeline's own params: what `pgrec.train` takes out of `params` before the algorithm
//! sees the rest (keep_versions, serving_precision, ann / ivf_lists / ivf_probes / ann_recall,
//! tune / tune_trials, the row weights event_col / event_weights / time_col / half_life). They
//! are parsed and checked once, here, into [`PipelineParams`]; the version stores them beside
//! the algorithm's params, and serving reads them back through the same parser
//! ([`PipelineParams::of_stored`]).

use serde_json::{json, Value};

use crate::errors::{raise, Code, OrRaise};

/// The approximate search a version's serving data carries.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Ann {
    /// Exact scans only.
    #[default]
    None,
    /// An inverted-file index: the lists asked for, the lists a query probes (None: the
    /// defaults) and the recall@10 the probes are chosen for when `probes` is not given (None:
    /// [`DEFAULT_ANN_RECALL`]).
    Ivf {
        lists: Option<usize>,
        probes: Option<usize>,
        recall: Option<f64>,
    },
}

/// The recall@10 an index's probes are chosen for when the params do not say (`ann_recall`).
pub const DEFAULT_ANN_RECALL: f64 = 0.95;

/// The serving precision of the item vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
    I8,
}

impl Precision {
    fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::I8 => "int8",
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
    /// Row weights by event type and by age (event_col, event_weights, time_col, half_life).
    pub weights: RowWeights,
}

/// A row's weight by its event type: `event_weights[type]`, or the `"*"` entry for a type the
/// object does not name.
#[derive(Debug, Clone, PartialEq)]
pub struct EventWeights {
    pub column: String,
    /// The object as given (what the version records).
    pub given: Value,
    by_type: std::collections::HashMap<String, f32>,
    other: Option<f32>,
}

impl EventWeights {
    /// The weight of event type `t`; None when the object neither names it nor has `"*"`.
    pub fn of(&self, t: &str) -> Option<f32> {
        self.by_type.get(t).copied().or(self.other)
    }
}

/// A row's weight by its age: halves per `half_life` back from the anchor.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeDecay {
    pub column: String,
    /// The interval as given (e.g. "30 days").
    pub half_life: String,
}

/// Row weights: params that weigh each source row (API "Row weights").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowWeights {
    pub event: Option<EventWeights>,
    pub time: Option<TimeDecay>,
    /// The newest timestamp of the training's source, in epoch seconds: recorded by training
    /// (`time_anchor`), read back by fold-ins of the version, never replayed by retrain.
    pub anchor: Option<f64>,
}

impl RowWeights {
    pub fn is_some(&self) -> bool {
        self.event.is_some() || self.time.is_some()
    }

    /// The half-life in seconds (raises on a bad or non-positive interval).
    pub fn half_life_seconds(&self) -> Option<f64> {
        let t = self.time.as_ref()?;
        let secs: Option<f64> = crate::spi::select_one(
            "SELECT extract(epoch FROM $1::interval)::float8",
            &[t.half_life.as_str().into()],
        );
        match secs {
            Some(s) if s.is_finite() && s > 0.0 => Some(s),
            _ => raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("half_life must be a positive interval, got \"{}\"", t.half_life),
                Some("Give an interval such as \"30 days\" or \"12 hours\": a row's weight halves per half-life of age."),
            ),
        }
    }

    fn record(&self, stored: &mut Value) {
        if let Some(e) = &self.event {
            stored["event_col"] = json!(e.column);
            stored["event_weights"] = e.given.clone();
        }
        if let Some(t) = &self.time {
            stored["time_col"] = json!(t.column);
            stored["half_life"] = json!(t.half_life);
        }
        if let Some(a) = self.anchor {
            stored["time_anchor"] = json!(a);
        }
    }
}

/// The largest weight of an event type.
const MAX_EVENT_WEIGHT: f64 = 1e6;

/// Takes a column-name param (a non-empty string) out of `params`.
fn take_column(o: &mut serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match o.remove(key)? {
        Value::Null => None,
        Value::String(c) if !c.trim().is_empty() => Some(c),
        v => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("{key} must name a column of the source, got {v}"),
            None,
        ),
    }
}

/// Takes the row-weight params out of `params`, checked: event_col with event_weights (an
/// object of positive numbers), time_col with half_life (an interval as text), and the
/// recorded time_anchor.
fn take_row_weights(params: &mut Value) -> RowWeights {
    let Some(o) = params.as_object_mut() else {
        return RowWeights::default();
    };
    let event_col = take_column(o, "event_col");
    let event_weights = o.remove("event_weights").filter(|v| !v.is_null());
    let time_col = take_column(o, "time_col");
    let half_life = o.remove("half_life").filter(|v| !v.is_null());
    let anchor = o.remove("time_anchor").filter(|v| !v.is_null());
    let event = match (event_col, event_weights) {
        (None, None) => None,
        (Some(column), Some(given)) => {
            let Some(obj) = given.as_object().filter(|m| !m.is_empty()) else {
                raise(
                    Code::ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("event_weights must be a non-empty object of event type -> weight, got {given}"),
                    Some("For example {\"view\": 1, \"cart\": 3, \"purchase\": 10}; a \"*\" entry weighs every other type."),
                )
            };
            let mut by_type = std::collections::HashMap::new();
            let mut other = None;
            for (t, w) in obj {
                let w = match w.as_f64() {
                    Some(w) if w > 0.0 && w <= MAX_EVENT_WEIGHT => w as f32,
                    _ => raise(
                        Code::ERRCODE_INVALID_PARAMETER_VALUE,
                        format!("event_weights[\"{t}\"] must be a number above 0 and at most {MAX_EVENT_WEIGHT}, got {w}"),
                        Some("Leave an event type out of training by filtering it out of the source."),
                    ),
                };
                if t == "*" {
                    other = Some(w);
                } else {
                    by_type.insert(t.clone(), w);
                }
            }
            Some(EventWeights {
                column,
                given,
                by_type,
                other,
            })
        }
        (Some(_), None) => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            "event_col needs event_weights",
            Some("Add \"event_weights\": {\"<type>\": <weight>, ...} to the params."),
        ),
        (None, Some(_)) => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            "event_weights needs event_col",
            Some("Name the column that holds each row's event type with \"event_col\"."),
        ),
    };
    let time = match (time_col, half_life) {
        (None, None) => None,
        (Some(column), Some(h)) => match h.as_str() {
            Some(text) if !text.trim().is_empty() => Some(TimeDecay {
                column,
                half_life: text.to_string(),
            }),
            _ => raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("half_life must be an interval as text, got {h}"),
                Some("For example \"30 days\"."),
            ),
        },
        (Some(_), None) => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            "time_col needs half_life",
            Some("Add \"half_life\": \"30 days\" (any interval) to the params."),
        ),
        (None, Some(_)) => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            "half_life needs time_col",
            Some("Name the column that holds each row's time with \"time_col\"."),
        ),
    };
    let anchor = anchor.map(|a| match a.as_f64() {
        Some(a) if a.is_finite() && time.is_some() => a,
        _ => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("time_anchor is recorded by training with time_col and half_life, got {a}"),
            Some("Leave time_anchor out: training sets it to the newest time in the source."),
        ),
    });
    RowWeights {
        event,
        time,
        anchor,
    }
}

impl PipelineParams {
    /// Takes the pipeline's params out of `params` (raising 22023 on a bad value); what is left
    /// configures the algorithm.
    pub fn take(params: &mut Value) -> Self {
        let keep_versions = take_keep_versions(params);
        let serving_precision = take_serving_precision(params);
        let ann = take_ann(params);
        let tune = pgrec_core::algo::tune::take_tune(params).or_raise();
        let weights = take_row_weights(params);
        Self {
            keep_versions,
            serving_precision,
            ann,
            tune,
            weights,
        }
    }

    /// The pipeline's params of a stored version (its params column).
    pub fn of_stored(stored: &Value) -> Self {
        Self::take(&mut stored.clone())
    }

    /// Adds these params to the params a version stores (tune is not stored: the version
    /// records the winner's settings, and retrain replays them without a search).
    pub fn record(&self, stored: &mut Value) {
        self.weights.record(stored);
        if let Some(p) = self.serving_precision {
            stored["serving_precision"] = json!(p.name());
        }
        if let Some(n) = self.keep_versions {
            stored["keep_versions"] = json!(n);
        }
        if let Ann::Ivf {
            lists,
            probes,
            recall,
        } = self.ann
        {
            stored["ann"] = json!("ivf");
            if let Some(n) = lists {
                stored["ivf_lists"] = json!(n);
            }
            if let Some(n) = probes {
                stored["ivf_probes"] = json!(n);
            }
            if let Some(r) = recall {
                stored["ann_recall"] = json!(r);
            }
        }
    }

    /// Whether serving keeps f16 item vectors.
    pub fn f16(&self) -> bool {
        self.serving_precision == Some(Precision::F16)
    }

    /// Whether serving keeps int8 codes of the item vectors.
    pub fn int8(&self) -> bool {
        self.serving_precision == Some(Precision::I8)
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
/// "none": exact scans only), `ivf_lists` and `ivf_probes` (positive integers, only with ivf),
/// `ann_recall` (above 0, at most 1, only with ivf).
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
    let recall = match o.remove("ann_recall") {
        None | Some(Value::Null) => None,
        Some(_) if !ivf => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            "ann_recall is only used with \"ann\": \"ivf\"",
            Some("Add \"ann\": \"ivf\" to the params, or leave ann_recall out."),
        ),
        Some(v) => match v.as_f64() {
            Some(r) if r > 0.0 && r <= 1.0 => Some(r),
            _ => raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("ann_recall must be a number above 0 and at most 1, got {v}"),
                Some("ann_recall is the recall@10 against the exact scan that the index's probes are chosen for when it is built (default 0.95); at 1 the searches probe until no neighbour of the measurement is lost."),
            ),
        },
    };
    if ivf {
        Ann::Ivf {
            lists,
            probes,
            recall,
        }
    } else {
        Ann::None
    }
}

/// Takes `serving_precision` out of `params`, checked: whether serving also keeps the item
/// vectors as f16 (scans read half the bytes) or int8 codes (a quarter, the same answers);
/// the tables keep f32.
fn take_serving_precision(params: &mut Value) -> Option<Precision> {
    let value = params.as_object_mut()?.remove("serving_precision")?;
    match value.as_str() {
        None if value.is_null() => None,
        Some("f32") => Some(Precision::F32),
        Some("f16") => Some(Precision::F16),
        Some("int8") => Some(Precision::I8),
        _ => raise(
            Code::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("serving_precision must be \"f32\", \"f16\" or \"int8\", got {value}"),
            Some("A catalog scan (recommend, similar_items) reads half the bytes with f16, at a small cost in score precision, and a quarter with int8, with the same answers as f32; the stored vectors stay f32."),
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
