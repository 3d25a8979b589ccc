//! Operations on a model as a whole, for its owner: dropping it (and, later, activating an
//! older version or retraining). Catalog writes are in `catalog`, the serving cache in `serve`.

use pgrx::prelude::*;

use crate::errors::OrRaise;

/// pgrec.drop_model: removes the model with every version (factors and history cascade).
#[pg_extern(name = "drop_model")]
fn drop_model(model: Option<&str>) {
    let model = crate::errors::required(model, "model");
    crate::access::require_existing_owner(model, "drop", None);
    Spi::connect_mut(|c| {
        c.update(
            "DELETE FROM pgrec.model_owners WHERE model = $1",
            None,
            &[model.into()],
        )
        .or_raise();
    });
    crate::serve::forget(model);
}
