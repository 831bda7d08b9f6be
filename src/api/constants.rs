//! Every name the operator shares with the cluster, AWS and its users, defined once: the API
//! group, labels and tags that record ownership, the field manager, the finalizer and the
//! condition types.

/// API group of every kind this operator serves.
pub const GROUP: &str = "dataproducts.io";
/// The one served version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` string of the served kinds.
pub const API_VERSION: &str = "dataproducts.io/v1alpha1";

/// The operator's name: the server-side apply field manager, the event reporter, the value of
/// the managed-by label and tag, and the default Lease name.
pub const OPERATOR: &str = "dataproduct-operator";
/// The field manager every server-side apply (and `dpctl diff`'s dry run) uses.
pub const FIELD_MANAGER: &str = OPERATOR;
/// Finalizer that lets the operator clean up before a product disappears.
pub const FINALIZER: &str = "dataproducts.io/cleanup";

/// Annotations users set on a DataProduct.
pub mod annotations {
    /// `"true"` lets a DataProduct with active consumers (`status.consumers`) be deleted anyway;
    /// without it the admission policy refuses the delete.
    pub const DELETE_WITH_CONSUMERS: &str = "dataproducts.io/delete-with-consumers";
}

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
    /// On a pipeline's CronJob and its Jobs: the CronJob's name.
    pub const PIPELINE: &str = "dataproducts.io/pipeline";
    /// Standard Kubernetes label naming the tool that manages an object.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// Value of `MANAGED_BY` on everything this operator creates.
    pub const MANAGER: &str = super::OPERATOR;
}

/// Tags (and Glue parameters) on AWS resources.
pub mod tags {
    /// Tag naming the tool that manages a resource.
    pub const MANAGED_BY: &str = "dataproducts.io/managed-by";
    /// Tag (and Glue table parameter) naming the owning product, `<namespace>/<name>`.
    pub const PRODUCT: &str = "dataproducts.io/product";
    /// Tag (and Glue parameter) holding the owning DataProduct's `metadata.uid`.
    pub const UID: &str = "dataproducts.io/uid";
    /// Tag naming the owning product's domain.
    pub const DOMAIN: &str = "dataproducts.io/domain";
    /// Tag naming the template the product was planned from.
    pub const TEMPLATE: &str = "dataproducts.io/template";
}

/// Condition types of a DataProduct's (and an access request's) status, in the order listed.
pub mod conditions {
    pub const READY: &str = "Ready";
    pub const VALID: &str = "Valid";
    pub const NAMESPACE_READY: &str = "NamespaceReady";
    pub const STORAGE_READY: &str = "StorageReady";
    pub const CATALOG_READY: &str = "CatalogReady";
    pub const PIPELINES_READY: &str = "PipelinesReady";
    pub const ACCESS_READY: &str = "AccessReady";
    /// Every output is updated within the freshness SLO (observed, not part of `Ready`).
    pub const FRESH: &str = "Fresh";
    /// Every input from another product is ready, so no pipeline waits (not part of `Ready`:
    /// the product itself is provisioned; its pipelines are held on purpose).
    pub const INPUTS_READY: &str = "InputsReady";
    /// kstatus: the product cannot progress until something changes.
    pub const STALLED: &str = "Stalled";
    /// kstatus: work is in progress.
    pub const RECONCILING: &str = "Reconciling";
}
