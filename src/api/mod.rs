//! The three kinds of the `dataproducts.io/v1alpha1` API, exactly as users write them
//! (see `../shared/design/api.md`). Doc comments here become the CRD schema descriptions that
//! `kubectl explain` shows, so they are written for users.

// kube-derive takes one `printcolumn(...)` per column, each with its own `type_ = ...`; clippy
// reads the repeated argument as a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

mod access;
mod common;
pub mod constants;
pub mod crd;
pub mod load;
mod product;
pub mod suggest;
mod template;

pub use access::*;
pub use common::*;
pub use product::*;
pub use template::*;

pub use constants::{labels, API_VERSION, GROUP, VERSION};
