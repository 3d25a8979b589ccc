//! Parameters, declared once per algorithm. An algorithm's parameters are one serde struct:
//! its fields are the JSON keys, its `Default` holds every default, and [`Params::check`]
//! refuses values out of range and fills in the defaults that depend on other parameters. The
//! checked struct ([`Checked`]) is what the training reads and, serialised, what the version
//! stores, so configuring again from stored params gives the same params.
//!
//! Values keep their JSON types (`i64`, `f64`) so that stored params read as they were given;
//! trainers convert them (`as usize`, `as f32`) once `check` has bounded them.
//!
//! [`LoopParams`] are the parameters of the training loop that every iterative algorithm shares;
//! each algorithm flattens them into its own struct.

use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{CoreError, Result};

/// An algorithm's parameters.
pub trait Params: Serialize + DeserializeOwned + Default {
    /// Parameters whose value is one of a few names (serde enums), each with the hint that
    /// lists the names, for the error on an unknown one.
    const CHOICES: &'static [(&'static str, &'static str)] = &[];

    /// The knobs `"tune": true` searches (empty: the algorithm cannot be tuned). The registry
    /// reads them from here, so an algorithm is tunable by declaring them next to its params.
    const KNOBS: &'static [Knob] = &[];

    /// Refuses values out of range, naming the parameter, and fills in the defaults that
    /// depend on other parameters.
    fn check(&mut self) -> Result<()>;

    /// The training-loop parameters (epochs, seed, threads, validation).
    fn run(&self) -> &LoopParams;
}

/// One tuned knob of an algorithm (see [`Params::KNOBS`] and [`super::tune`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Knob {
    /// A float drawn log-uniformly from [low, high].
    Log(&'static str, f64, f64),
    /// One of a few integers.
    Choice(&'static str, &'static [i64]),
}

impl Knob {
    /// The parameter it sets.
    pub fn key(&self) -> &'static str {
        match self {
            Knob::Log(k, ..) | Knob::Choice(k, _) => k,
        }
    }
}

/// Parameters that passed [`Params::check`]: what a training runs with, and what its version
/// stores.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Checked<P>(P);

impl<P: Params> Checked<P> {
    pub fn new(mut params: P) -> Result<Self> {
        params.check()?;
        Ok(Self(params))
    }

    /// Parses (see [`parse_params`]) and checks JSON params.
    pub fn from_json(json: &Value) -> Result<Self> {
        Self::new(parse_params(json)?)
    }

    /// The parameters as a version stores them: every one, defaults included.
    pub fn stored(&self) -> Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    pub fn into_inner(self) -> P {
        self.0
    }
}

impl<P> Deref for Checked<P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.0
    }
}

/// The parameters of the training loop, shared by every iterative algorithm (flattened: their
/// keys sit at the top level of each algorithm's params).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopParams {
    /// Passes over the training data.
    pub epochs: i64,
    /// Every random draw comes from this seed: one seed gives one model, whatever the number of
    /// threads.
    pub seed: i64,
    /// Worker threads; `None` means the caller's default.
    pub threads: Option<i64>,
    /// Share of the ratings held out to report validation RMSE and stop early.
    pub validation_fraction: f64,
    /// Epochs without validation improvement before stopping.
    pub patience: i64,
}

impl LoopParams {
    pub fn check(&self) -> Result<()> {
        if let Some(t) = self.threads {
            int_in("threads", t, 1, 256)?;
        }
        float_in(
            "validation_fraction",
            self.validation_fraction,
            0.0,
            0.5,
            false,
        )?;
        int_in("patience", self.patience, 1, 10_000)?;
        int_in("epochs", self.epochs, 1, 10_000)?;
        Ok(())
    }

    pub fn epochs(&self) -> usize {
        self.epochs as usize
    }

    pub fn seed(&self) -> u64 {
        self.seed as u64
    }

    pub fn threads(&self) -> Option<usize> {
        self.threads.map(|t| t as usize)
    }

    /// The held-out share as training reads it (at f32 precision, as it always has: one seed
    /// and share must keep holding out the same rows).
    pub fn validation_fraction(&self) -> f64 {
        self.validation_fraction as f32 as f64
    }

    pub fn patience(&self) -> usize {
        self.patience as usize
    }
}

/// Refuses `v` outside `lo..=hi`.
pub(crate) fn int_in(name: &str, v: i64, lo: i64, hi: i64) -> Result<()> {
    if v < lo || v > hi {
        return Err(CoreError::param_hint(
            name,
            format!("parameter \"{name}\" must be between {lo} and {hi}, got {v}"),
            format!(
                "Pass a value between {lo} and {hi}, or leave \"{name}\" out to use its default."
            ),
        ));
    }
    Ok(())
}

/// Refuses `v` outside `lo..=hi` (`lo` itself too when `lo_open`), and any non-finite value.
pub(crate) fn float_in(name: &str, v: f64, lo: f64, hi: f64, lo_open: bool) -> Result<()> {
    let below = if lo_open { v <= lo } else { v < lo };
    if !v.is_finite() || below || v > hi {
        let range = if lo_open {
            format!("greater than {lo} and at most {hi}")
        } else {
            format!("between {lo} and {hi}")
        };
        return Err(CoreError::param(
            name,
            format!("parameter \"{name}\" must be {range}, got {v}"),
        ));
    }
    Ok(())
}

/// Parses a JSON object of parameters over the defaults of `T`: unknown keys are refused, and
/// a value of the wrong type or an unknown name is reported with its parameter's name.
///
/// The given keys overlay `T::default()` as JSON, so a struct flattened into `T` takes its
/// defaults from `T` too, and `T::default()` is the only place the defaults live.
pub fn parse_params<T: Params>(json: &Value) -> Result<T> {
    let Some(given) = json.as_object() else {
        return Err(CoreError::param_hint(
            "params",
            format!("params must be a JSON object, got {json}"),
            "Pass params as '{\"factors\": 64}'::jsonb.",
        ));
    };
    let defaults = match serde_json::to_value(T::default()) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if let Some(bad) = given.keys().find(|k| !defaults.contains_key(*k)) {
        let mut names: Vec<&str> = defaults.keys().map(String::as_str).collect();
        names.sort_unstable();
        return Err(CoreError::param_hint(
            bad,
            format!("unknown parameter \"{bad}\""),
            format!("Valid parameters: {}.", names.join(", ")),
        ));
    }
    let mut merged = defaults.clone();
    merged.extend(given.clone());
    serde_path_to_error::deserialize::<_, T>(Value::Object(merged)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // A flattened struct's fields report no path: find the given key that fails alone.
        let top = path.split(['.', '[']).next().unwrap_or_default();
        let (path, message) = if given.contains_key(top) {
            (path, message)
        } else {
            given
                .iter()
                .find_map(|(key, value)| {
                    let mut one = defaults.clone();
                    one.insert(key.clone(), value.clone());
                    serde_json::from_value::<T>(Value::Object(one))
                        .err()
                        .map(|e| (key.clone(), e.to_string()))
                })
                .unwrap_or((path, message))
        };
        invalid_value::<T>(given, path, message)
    })
}

/// The error for a given value that does not parse as its parameter's type.
fn invalid_value<T: Params>(
    given: &Map<String, Value>,
    path: String,
    message: String,
) -> CoreError {
    if let Some((name, hint)) = T::CHOICES.iter().find(|(name, _)| *name == path) {
        let value = given.get(*name).cloned().unwrap_or_default();
        return CoreError::param_hint(name, format!("unknown {name} {value}"), *hint);
    }
    let message = message
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number");
    CoreError::param(
        &path,
        format!("invalid value for parameter \"{path}\": {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn range_checks_accept_their_bounds_only() {
        assert!(int_in("n", 1, 1, 5).is_ok());
        assert!(int_in("n", 5, 1, 5).is_ok());
        assert!(int_in("n", 0, 1, 5).is_err());
        assert!(int_in("n", 6, 1, 5).is_err());
        assert!(float_in("x", 0.0, 0.0, 1.0, false).is_ok());
        assert!(float_in("x", 0.0, 0.0, 1.0, true).is_err());
        assert!(float_in("x", 1.0, 0.0, 1.0, true).is_ok());
        assert!(float_in("x", 0.25, 0.0, 1.0, true).is_ok());
        for bad in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            assert!(float_in("x", bad, 0.0, 1.0, false).is_err(), "{bad}");
        }
        let run = |threads, validation_fraction, patience| LoopParams {
            epochs: 10,
            seed: 1,
            threads,
            validation_fraction,
            patience,
        };
        let ok = run(Some(3), 0.25, 4);
        assert!(ok.check().is_ok());
        assert_eq!(
            (ok.threads(), ok.validation_fraction(), ok.patience()),
            (Some(3), 0.25, 4)
        );
        assert!(run(None, 0.0, 1).check().is_ok());
        assert!(run(Some(0), 0.1, 1).check().is_err());
        assert!(run(None, 0.6, 1).check().is_err());
        assert!(run(None, 0.1, 0).check().is_err());
        assert!(LoopParams { epochs: 0, ..ok }.check().is_err());
    }

    #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Shape {
        Round,
        Square,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Toy {
        size: i64,
        shape: Shape,
        #[serde(flatten)]
        run: LoopParams,
    }

    impl Default for Toy {
        fn default() -> Self {
            Self {
                size: 3,
                shape: Shape::Round,
                run: LoopParams {
                    epochs: 7,
                    seed: 42,
                    threads: None,
                    validation_fraction: 0.0,
                    patience: 3,
                },
            }
        }
    }

    impl Params for Toy {
        const CHOICES: &'static [(&'static str, &'static str)] =
            &[("shape", "Use \"round\" or \"square\".")];

        fn check(&mut self) -> Result<()> {
            self.run.check()?;
            int_in("size", self.size, 1, 10)
        }

        fn run(&self) -> &LoopParams {
            &self.run
        }
    }

    /// The given keys overlay the algorithm's own defaults, flattened ones included.
    #[test]
    fn given_values_overlay_the_defaults() {
        let t: Toy = parse_params(&json!({"size": 5, "patience": 9})).unwrap();
        assert_eq!((t.size, t.shape, t.run.patience), (5, Shape::Round, 9));
        assert_eq!(t.run.epochs, 7);
        let stored = Checked::<Toy>::from_json(&json!({"shape": "square"}))
            .unwrap()
            .stored();
        assert_eq!(
            stored,
            json!({"size": 3, "shape": "square", "epochs": 7, "seed": 42, "threads": null,
                   "validation_fraction": 0.0, "patience": 3})
        );
        let again = Checked::<Toy>::from_json(&stored).unwrap();
        assert_eq!(again.stored(), stored);
    }

    /// Errors name the parameter, flattened ones included, and list the names of a choice.
    #[test]
    fn bad_values_name_their_parameter() {
        let err = |json: Value| parse_params::<Toy>(&json).unwrap_err();
        let e = err(json!({"sise": 1}));
        assert_eq!(e.to_string(), "unknown parameter \"sise\"");
        assert_eq!(
            e.hint(),
            Some("Valid parameters: epochs, patience, seed, shape, size, threads, validation_fraction.")
        );
        assert_eq!(
            err(json!({"size": "big"})).to_string(),
            "invalid value for parameter \"size\": invalid type: string \"big\", expected an integer"
        );
        assert_eq!(
            err(json!({"size": 2, "epochs": 1.5})).to_string(),
            "invalid value for parameter \"epochs\": invalid type: floating point `1.5`, expected an integer"
        );
        assert_eq!(
            err(json!({"validation_fraction": "a"})).to_string(),
            "invalid value for parameter \"validation_fraction\": invalid type: string \"a\", expected a number"
        );
        let e = err(json!({"shape": "oval"}));
        assert_eq!(e.to_string(), "unknown shape \"oval\"");
        assert_eq!(e.hint(), Some("Use \"round\" or \"square\"."));
        assert_eq!(err(json!({"shape": 3})).to_string(), "unknown shape 3");
        assert_eq!(
            err(json!([1])).to_string(),
            "params must be a JSON object, got [1]"
        );
        let e = Checked::<Toy>::from_json(&json!({"size": 11})).unwrap_err();
        assert!(e.to_string().contains("got 11"), "{e}");
    }
}
