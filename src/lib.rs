//! dataproduct-operator: turns a `DataProduct` into everything it needs to live in production.
//!
//! The path every product takes: resolve → validate → plan → apply → status. This crate holds the
//! pure steps (validate and plan) that `dpctl plan` and the operator share.

pub mod api;
pub mod aws;
pub mod cli;
pub mod crd;
pub mod governance;
pub mod load;
pub mod names;
pub mod operator;
pub mod placeholders;
pub mod plan;
