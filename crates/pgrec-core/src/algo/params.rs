//! Parameters as every algorithm reads them: JSON params parsed into an algorithm's struct with
//! unknown keys refused and the offending key named, and the range checks they share.

use serde::Serialize;

use crate::error::{CoreError, Result};

pub(crate) fn int_in(name: &str, v: i64, lo: i64, hi: i64) -> Result<usize> {
    if v < lo || v > hi {
        return Err(CoreError::param_hint(
            name,
            format!("parameter \"{name}\" must be between {lo} and {hi}, got {v}"),
            format!(
                "Pass a value between {lo} and {hi}, or leave \"{name}\" out to use its default."
            ),
        ));
    }
    Ok(v as usize)
}

pub(crate) fn float_in(name: &str, v: f64, lo: f64, hi: f64, lo_open: bool) -> Result<f32> {
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
    Ok(v as f32)
}

/// Parses a JSON object of hyper-parameters, naming the offending key on error.
pub fn parse_params<T: serde::de::DeserializeOwned + Serialize + Default>(
    json: &serde_json::Value,
) -> Result<T> {
    let Some(given) = json.as_object() else {
        return Err(CoreError::param_hint(
            "params",
            format!("params must be a JSON object, got {json}"),
            "Pass params as '{\"factors\": 64}'::jsonb.",
        ));
    };
    let known = serde_json::to_value(T::default()).unwrap_or_default();
    if let Some(known) = known.as_object() {
        if let Some(bad) = given.keys().find(|k| !known.contains_key(*k)) {
            let mut names: Vec<&str> = known.keys().map(String::as_str).collect();
            names.sort_unstable();
            return Err(CoreError::param_hint(
                bad,
                format!("unknown parameter \"{bad}\""),
                format!("Valid parameters: {}.", names.join(", ")),
            ));
        }
    }
    serde_path_to_error::deserialize(json).map_err(|e| {
        let path = e.path().to_string();
        let inner = e
            .into_inner()
            .to_string()
            .replace("expected i64", "expected an integer")
            .replace("expected f64", "expected a number")
            .replace("expected struct MfParams", "expected a JSON object");
        CoreError::param(
            &path,
            format!("invalid value for parameter \"{path}\": {inner}"),
        )
    })
}

/// The checks every iterative algorithm shares: (threads, validation_fraction, patience).
pub(crate) fn check_loop_params(
    threads: Option<i64>,
    validation_fraction: f64,
    patience: i64,
) -> Result<(Option<usize>, f64, usize)> {
    let threads = match threads {
        Some(t) => Some(int_in("threads", t, 1, 256)?),
        None => None,
    };
    let validation_fraction =
        float_in("validation_fraction", validation_fraction, 0.0, 0.5, false)? as f64;
    let patience = int_in("patience", patience, 1, 10_000)?;
    Ok((threads, validation_fraction, patience))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_checks_accept_their_bounds_only() {
        assert_eq!(int_in("n", 1, 1, 5).unwrap(), 1);
        assert_eq!(int_in("n", 5, 1, 5).unwrap(), 5);
        assert!(int_in("n", 0, 1, 5).is_err());
        assert!(int_in("n", 6, 1, 5).is_err());
        assert_eq!(float_in("x", 0.0, 0.0, 1.0, false).unwrap(), 0.0);
        assert!(float_in("x", 0.0, 0.0, 1.0, true).is_err());
        assert_eq!(float_in("x", 1.0, 0.0, 1.0, true).unwrap(), 1.0);
        assert_eq!(float_in("x", 0.25, 0.0, 1.0, true).unwrap(), 0.25);
        for bad in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            assert!(float_in("x", bad, 0.0, 1.0, false).is_err(), "{bad}");
        }
        assert_eq!(
            check_loop_params(Some(3), 0.25, 4).unwrap(),
            (Some(3), 0.25, 4)
        );
        assert_eq!(check_loop_params(None, 0.0, 1).unwrap(), (None, 0.0, 1));
        assert!(check_loop_params(Some(0), 0.1, 1).is_err());
        assert!(check_loop_params(None, 0.6, 1).is_err());
        assert!(check_loop_params(None, 0.1, 0).is_err());
    }
}
