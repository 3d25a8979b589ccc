//! The one place that reacts to a change of a model: a new active version (train, retrain,
//! activate), users folded in, a grant or revoke, a drop. Every caller that changes a model
//! calls here once, in the same transaction, and the reactions stay in one list: this backend's
//! serving cache forgets the model (other backends see the new version stamp on their next
//! call), and on Citus the model's row in pgrec.distributed_models is rewritten on every node.

/// After `model` changed (its active version, its vectors or its readers).
pub fn model_changed(model: &str) {
    crate::cache::forget(model);
    crate::distributed::refresh(model);
}

/// Before `model`'s catalog rows are deleted (pgrec.drop_model): its distributed row goes
/// with it, on every node, and this backend stops serving it.
pub fn model_dropped(model: &str) {
    crate::distributed::forget(model);
    crate::cache::forget(model);
}
