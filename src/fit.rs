//! The fit: the epoch loop that drives a training one step at a time on the pool (progress
//! NOTICEs, early stopping as the driver reports it, interrupts serviced by `pool::run`), and
//! the embedding-health check of the result.

use std::time::Instant;

use pgrec_core::metrics::embedding_health;
use pgrec_core::train::Training;
use pgrec_core::FactorModel;

use serde_json::json;

use crate::catalog::EpochRow;
use crate::errors::{Code, OrRaise};
use crate::pool;

/// The one epoch loop: runs steps on the pool, reports progress, stops early when asked.
/// `rmse` says whether the training loss is a squared error (reported as its root).
pub fn fit_epochs(trainer: &mut Training, pool: &rayon::ThreadPool, rmse: bool) -> Vec<EpochRow> {
    let max = trainer.max_steps();
    let mut history = Vec::with_capacity(max);
    for _ in 0..max {
        let started = Instant::now();
        let report = pool::run(pool, |cancel| trainer.step(pool, cancel)).or_raise();
        let secs = started.elapsed().as_secs_f64();
        let train = if rmse {
            format!("train_rmse {:.4}", report.train_loss.sqrt())
        } else {
            format!("train_loss {:.4}", report.train_loss)
        };
        match report.validation {
            Some(v) => pgrx::notice!(
                "pgrec: epoch {}/{max}: {train}, validation_{} {:.4}",
                report.epoch,
                v.metric.name(),
                v.value
            ),
            None => pgrx::notice!("pgrec: epoch {}/{max}: {train}", report.epoch),
        }
        history.push((report.epoch, report.train_loss, report.validation, secs));
        if report.stop {
            let name = report
                .validation
                .map(|v| v.metric.name())
                .unwrap_or_default();
            pgrx::notice!(
                "pgrec: early stopping after epoch {}: validation {name} stopped improving",
                report.epoch
            );
            break;
        }
    }
    history
}

/// Adds the embedding health of the item vectors to `metrics`, and warns when they collapsed.
pub fn health(fitted: &FactorModel, metrics: &mut serde_json::Value) {
    let Some(h) = embedding_health(&fitted.item_factors, fitted.factors, 2000) else {
        return;
    };
    metrics["item_embedding_mean_cosine"] = json!(h.mean_cosine);
    metrics["item_embedding_first_direction_share"] = json!(h.first_direction_share);
    if let Some(u) = embedding_health(&fitted.user_factors, fitted.factors, 2000) {
        metrics["user_embedding_mean_cosine"] = json!(u.mean_cosine);
    }
    if h.mean_cosine > 0.9 {
        let report = pgrx::pg_sys::panic::ErrorReport::new(
            Code::ERRCODE_WARNING,
            format!(
                "pgrec: item embeddings have collapsed: their mean pairwise cosine is {:.3}",
                h.mean_cosine
            ),
            "pgrec",
        )
        .set_detail(format!(
            "{:.0}% of their squared norm lies along one direction, so similar_items cannot tell items apart.",
            100.0 * h.first_direction_share
        ))
        .set_hint(
            "Let biases carry the rating level (mf and two_tower with loss mse do), train longer or with \
             more regularization, or use in-batch negatives (two_tower with loss softmax).",
        );
        report.report(pgrx::PgLogLevel::WARNING);
    }
}
