//! Test harness for the AWS step: a moto server per test, a fault-injecting proxy, plans from
//! the real examples, and SDK clients to read state back.
#![allow(dead_code)]

pub mod apiserver;
pub mod catalogue;
pub mod collector;
pub mod fake_api;
pub mod moto;
pub mod plans;
pub mod proxy;
pub mod scenarios;
pub mod schema_fuzz;
