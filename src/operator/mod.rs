//! The operator: `dpctl run` reconciles DataProducts into a cluster.

pub mod access;
pub mod apply;
pub mod cloud;
pub mod context;
/// The fake API server the controller and leader-election tests run against (shared with the
/// reconcile benchmark).
#[cfg(test)]
#[path = "../../tests/support/fake_api.rs"]
pub(crate) mod fake_api;
pub mod leader;
#[cfg(test)]
mod mock_tests;
pub mod permissions;
pub mod reconcile;
pub mod run;
pub mod status;
pub mod sync;
pub mod telemetry;
pub mod unreadable;
