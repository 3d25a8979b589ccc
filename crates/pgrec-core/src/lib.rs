//! pgrec-core: the numeric core of the pgrec PostgreSQL extension. It knows nothing about
//! PostgreSQL: the extension reads data on the backend thread, hands compact arrays to this
//! crate, runs its steps on an explicit pool and writes the results back.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod algo;
pub mod checksum;
pub mod data;
pub mod error;
pub mod features;
pub mod ivf;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod parallel;
pub mod pca;
pub mod quant;
pub mod rng;
pub mod serving;
pub mod similarity;
pub mod store;
pub mod synth;
pub mod topk;
pub mod train;

pub use data::{KeyIndex, Rating, UserItems};
pub use error::{CoreError, Result};
pub use model::FactorModel;
