//! dataproduct-operator: turns a `DataProduct` into everything it needs to live in production.
//!
//! The path every product takes: resolve → validate → plan → apply → status. This crate holds the
//! pure steps (validate and plan) that `dpctl plan` and the operator share.

// The catalogue's OpenAPI document is one serde_json::json! literal, deeper than the default.
#![recursion_limit = "256"]

pub mod api;
pub mod aws;
pub mod catalogue;
pub mod cli;
pub mod cluster;
pub mod evaluate;
pub mod governance;
pub mod model;
pub mod operator;
pub mod plan;
