//! pgrec: train and serve recommender models inside PostgreSQL.
//!
//! This crate is PostgreSQL glue only: argument parsing, SPI reading and writing, the catalog,
//! error reporting. All numeric work lives in the `pgrec-core` crate.

#![deny(unsafe_op_in_unsafe_fn)]

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod access;
mod cache;
mod catalog;
mod changed;
mod diagnostics;
mod distributed;
mod errors;
mod evaluate;
mod explain;
mod features;
mod fit;
mod fold_in;
mod gucs;
mod hidden;
mod keys;
mod lifecycle;
mod memory_guard;
mod params;
mod pipeline;
mod pool;
mod predict;
mod recommend;
mod registry;
mod replica;
mod serve;
mod serving_files;
mod sharing;
mod similar;
mod source;
mod spi;
mod store_file;
mod symbols_0_1;
mod symbols_0_2;
mod synthetic;
mod train;
mod uuid_keys;
mod version;

pgrx::extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
pgrx::extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::define_gucs();
    serving_files::install_drop_hook();
}
