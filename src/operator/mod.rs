//! The operator: `dpctl run` reconciles DataProducts into a cluster.

pub mod access;
pub mod apply;
pub mod cloud;
pub mod consumers;
pub mod context;
pub mod events;
pub mod freshness;
pub mod index;
pub mod leader;
pub mod lineage;
pub mod meta_cache;
pub mod permissions;
pub mod reconcile;
pub mod run;
pub mod status;
pub mod sync;
pub mod telemetry;
pub mod unreadable;
