//! The step API every iterative algorithm implements. The caller owns the loop: it runs one
//! step at a time (on a pool of its choice), checks for interrupts, reports progress and decides
//! when to stop; the algorithm only supplies the step.

use rayon::ThreadPool;

use crate::error::Result;
use crate::parallel::CancelFlag;

/// What one epoch measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    pub epoch: usize,
    /// Mean training loss of the epoch (squared error for explicit ratings).
    pub train_loss: f64,
    /// Validation RMSE after the epoch, when a validation set exists, of the model training
    /// would return if it stopped here (for two_tower and ncf inside the averaging window, the
    /// running mean of the epoch ends).
    pub validation_rmse: Option<f64>,
    /// True when early stopping decided that training should end after this epoch.
    pub stop: bool,
}

pub trait IterativeTrainer: Send {
    type Model;

    /// The maximum number of epochs.
    fn max_epochs(&self) -> usize;

    /// Runs one epoch. Must return `CoreError::Cancelled` soon after `cancel` is set.
    fn step(&mut self, pool: &ThreadPool, cancel: &CancelFlag) -> Result<EpochReport>;

    /// The final model (the best one seen when early stopping was active).
    fn finish(self) -> Self::Model;
}
