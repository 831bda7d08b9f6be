//! `DataProductAccess`: a consumer's request to read some outputs of a producer.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A consumer asks to read outputs of a producer's DataProduct. The producer approves by listing
/// the consumer in its `spec.access.consumers`; the operator grants and takes the grant back on
/// expiry, revocation or deletion.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "dataproducts.io",
    version = "v1alpha1",
    kind = "DataProductAccess",
    namespaced,
    status = "DataProductAccessStatus",
    derive = "PartialEq",
    shortname = "dpa",
    category = "dataproducts",
    doc = "A consumer's request to read outputs of another team's DataProduct.",
    printcolumn(
        name = "Product",
        type_ = "string",
        json_path = ".spec.product",
        description = "Producer <namespace>/<name>"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Expires", type_ = "string", json_path = ".spec.expires"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataProductAccessSpec {
    /// Producer, as `<namespace>/<name>` of a DataProduct.
    pub product: String,
    /// Outputs requested; empty means every output in a public layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Who reads.
    pub consumer: AccessConsumer,
    /// Why the data is needed (shown to the producer).
    #[serde(default)]
    pub purpose: String,
    /// Last day of access (YYYY-MM-DD); the grant is removed after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub expires: Option<String>,
}

/// The reading side: exactly one of `product` or `principal`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessConsumer {
    /// `<namespace>/<name>` of the consuming DataProduct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// An IAM principal ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

/// Observed state of an access request.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataProductAccessStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AccessPhase>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Tables the grant covers, as `database.table`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granted_tables: Vec<String>,
    /// Deprecations the producer announced on the requested outputs. After an output's sunset
    /// its grant is removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deprecations: Vec<OutputDeprecation>,
}

/// A deprecation announced on one requested output.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputDeprecation {
    /// The output.
    pub output: String,
    /// Day after which the output may be removed (YYYY-MM-DD).
    pub sunset: String,
    /// What to move to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// Whether the sunset has passed, and with it the grant.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
}

/// Lifecycle of an access request.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AccessPhase {
    Pending,
    Approved,
    Granted,
    Denied,
    Expired,
    Revoked,
}
