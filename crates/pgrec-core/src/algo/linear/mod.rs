//! The least-squares family's shared code: sparse rows ([`sparse::Csr`]) and the row solves of
//! alternating least squares ([`solve`]), used by `als`, `ials`, `ease` and fold-in.

pub mod solve;
pub mod sparse;
