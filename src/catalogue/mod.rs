//! The catalogue: how products are described to tools outside the cluster. `odcs` turns each
//! output into an Open Data Contract Standard (Bitol ODCS v3.1.0) contract and `odps` each
//! product into an Open Data Product Standard (Bitol ODPS v1.1.0) document, from the same
//! evaluation the operator runs, so the servers they name are what the operator provisions. Pure.

pub mod odcs;
pub mod odps;
