//! The three kinds of the `dataproducts.io/v1alpha1` API, exactly as users write them
//! (see `../shared/design/api.md`). Doc comments here become the CRD schema descriptions that
//! `kubectl explain` shows, so they are written for users.

// kube-derive takes one `printcolumn(...)` per column, each with its own `type_ = ...`; clippy
// reads the repeated argument as a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

mod access;
mod common;
mod product;
mod template;

pub use access::*;
pub use common::*;
pub use product::*;
pub use template::*;

/// API group of every kind this operator serves.
pub const GROUP: &str = "dataproducts.io";
/// The one served version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` string of the served kinds.
pub const API_VERSION: &str = "dataproducts.io/v1alpha1";

/// Labels and tags that record ownership. Children carry them; nothing without them is ours.
pub mod labels {
    /// Name of the owning DataProduct.
    pub const PRODUCT: &str = "dataproducts.io/product";
    /// Namespace of the owning DataProduct (the domain's namespace).
    pub const PRODUCT_NAMESPACE: &str = "dataproducts.io/product-namespace";
    /// Domain of the owning DataProduct; on a namespace it binds the namespace to that domain.
    pub const DOMAIN: &str = "dataproducts.io/domain";
    /// The template the product was planned from.
    pub const TEMPLATE: &str = "dataproducts.io/template";
    /// Which part of the product an object implements (namespace, pipeline, descriptor, ...).
    pub const COMPONENT: &str = "dataproducts.io/component";
    /// Standard Kubernetes label naming the tool that manages an object.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// Value of `MANAGED_BY` on everything this operator creates.
    pub const MANAGER: &str = "dataproduct-operator";
}
