//! The catalogue: how products are described outside the cluster, built from the same
//! evaluation the operator runs. `dpctl catalog` serves a read-only, searchable index of the
//! mesh as a JSON API and HTML pages (index, query, lineage, html, server); `odcs` turns each
//! output into an Open Data Contract Standard (Bitol ODCS v3.1.0) contract and `odps` each
//! product into an Open Data Product Standard (Bitol ODPS v1.1.0) document, so the servers they
//! name are what the operator provisions.

pub mod html;
pub mod index;
pub mod lineage;
pub mod odcs;
pub mod odps;
pub mod query;
pub mod server;
