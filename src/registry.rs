//! The extension's view of the core's algorithm registry (`pgrec_core::REGISTRY`):
//! looking an algorithm up with the SQL errors a user sees, and `pgrec.algorithms()`.

use pgrec_core::algo::contract::Configured;
use pgrec_core::algo::registry::{self, Entry, REGISTRY};

use pgrx::prelude::*;
use serde_json::json;

use crate::errors::{raise, Code, OrRaise};

/// The registry entry of `algorithm`: an unknown name is 22023, a name of the SQL contract that
/// this version cannot train is 0A000.
pub fn configure(algorithm: &str, params: &serde_json::Value) -> Box<dyn Configured> {
    let available: Vec<&str> = registry::available().collect();
    match registry::find(algorithm) {
        Some(Entry {
            configure: Some(configure),
            ..
        }) => configure(params).or_raise(),
        Some(_) => raise(
            Code::ERRCODE_FEATURE_NOT_SUPPORTED,
            format!("algorithm \"{algorithm}\" is not available in this version of pgrec"),
            Some(&format!("Available algorithms: {}.", available.join(", "))),
        ),
        None => {
            let all: Vec<&str> = REGISTRY
                .iter()
                .map(|e| e.name)
                .chain([pgrec_core::algo::auto::NAME])
                .collect();
            raise(
                Code::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("unknown algorithm \"{algorithm}\""),
                Some(&format!("Use one of: {}.", all.join(", "))),
            )
        }
    }
}

/// pgrec.algorithms: every algorithm name of the SQL contract, whether this version trains it,
/// and what its training needs (with default params).
#[pg_extern(stable, parallel_safe, name = "algorithms")]
fn algorithms() -> TableIterator<
    'static,
    (
        name!(algorithm, String),
        name!(available, bool),
        name!(needs_ratings, Option<bool>),
        name!(uses_features, Option<bool>),
    ),
> {
    let rows: Vec<_> = REGISTRY
        .iter()
        .map(|e| {
            let configured = e.configure.and_then(|c| c(&json!({})).ok());
            (
                e.name.to_string(),
                e.configure.is_some(),
                configured.as_ref().map(|c| c.needs_ratings()),
                configured.as_ref().map(|c| c.features().is_some()),
            )
        })
        .chain(
            // auto: one of the registered rating algorithms, chosen per data set
            pgrec_core::algo::auto::configure(&json!({}), None)
                .ok()
                .map(|c| {
                    (
                        pgrec_core::algo::auto::NAME.to_string(),
                        true,
                        Some(c.needs_ratings()),
                        Some(c.features().is_some()),
                    )
                }),
        )
        .collect();
    TableIterator::new(rows)
}

/// The algorithms that use row weights (event_weights, half_life), in registry order.
pub fn weight_algorithms() -> Vec<String> {
    REGISTRY
        .iter()
        .filter(|e| {
            e.configure
                .and_then(|c| c(&json!({})).ok())
                .is_some_and(|c| c.row_weights())
        })
        .map(|e| e.name.to_string())
        .collect()
}

/// The algorithms that read feature sources (user_features / item_features), in registry order.
pub fn feature_algorithms() -> Vec<String> {
    algorithms()
        .filter(|a| a.3 == Some(true))
        .map(|a| a.0)
        .collect()
}
