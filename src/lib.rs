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

/// pgrx attaches a Rust backtrace to the DETAIL of every PostgreSQL error that passes through
/// Rust code (a syntax error in a source query, a statement timeout) whenever `std::backtrace`
/// captures: when the server was started with `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` set (a
/// shell or container image that builds Rust often has it). Users must not see Rust internals,
/// so unless `RUST_LIB_BACKTRACE` was chosen explicitly, it is turned off here: before any thread
/// exists and before the first capture (std reads the variable once per process). A panic's own
/// report in the server log still follows `RUST_BACKTRACE`.
fn quiet_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
}

pgrx::extension_sql_file!("../sql/bootstrap.sql", name = "bootstrap", bootstrap);
pgrx::extension_sql_file!("../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    quiet_backtraces();
    gucs::define_gucs();
    serving_files::install_drop_hook();
}
