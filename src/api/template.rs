//! `DataProductTemplate`: the platform team's decisions about what every product that names the
//! template gets (namespace, quota, storage layers, catalogue, pipelines, access, governance).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Visibility;

/// What every DataProduct that names this template gets. Owned by the platform team.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "dataproducts.io",
    version = "v1alpha1",
    kind = "DataProductTemplate",
    derive = "PartialEq",
    shortname = "dpt",
    category = "dataproducts",
    doc = "The platform team's recipe for data products: namespace, quota, storage layers, catalogue, pipelines, access and governance.",
    printcolumn(
        name = "Organization",
        type_ = "string",
        json_path = ".spec.organization"
    ),
    printcolumn(name = "Stage", type_ = "string", json_path = ".spec.stage"),
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.storage.region"),
    printcolumn(
        name = "Deletion",
        type_ = "string",
        json_path = ".spec.storage.deletionPolicy",
        description = "What happens to data when a product is deleted"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataProductTemplateSpec {
    /// Whom the template is for and what it provides.
    #[serde(default)]
    pub description: String,
    /// Organisation name used in bucket names (`{organization}`).
    #[schemars(regex(pattern = r"^[a-z][a-z0-9-]{0,29}$"))]
    pub organization: String,
    /// Stage the template provisions for (`dev`, `staging`, `prod`; `{stage}` in name formats).
    /// Unset: no stage, and optional parts such as `[-{stage}]` are left out of names. With a
    /// stage, the namespace, bucket, database and role formats must contain `{stage}`, so the
    /// products of two stages never share a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z][a-z0-9]{0,9}$"))]
    pub stage: Option<String>,
    /// Namespaces (by label) whose DataProducts may use this template; unset allows every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<LabelSelector>,
    /// The product namespace.
    #[serde(default)]
    pub namespace: NamespaceSettings,
    /// Cost limits for the product namespace (a ResourceQuota).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaSettings>,
    /// Default container requests and limits in the product namespace (a LimitRange).
    #[serde(default)]
    pub limits: LimitSettings,
    /// Network isolation of the product namespace.
    #[serde(default)]
    pub network_policy: NetworkPolicyMode,
    /// AWS account settings.
    #[serde(default)]
    pub aws: AwsSettings,
    /// S3 storage: one bucket per layer.
    pub storage: StorageSettings,
    /// Glue catalogue.
    #[serde(default)]
    pub catalog: CatalogSettings,
    /// Pipelines (CronJobs) and their IAM role.
    #[serde(default)]
    pub pipelines: PipelineSettings,
    /// Access for the owning team and for consumers.
    #[serde(default)]
    pub access: AccessSettings,
    /// Governance rules computed on every product.
    #[serde(default)]
    pub governance: GovernanceSettings,
    /// Raw manifests applied into the product namespace; string values may use the placeholders
    /// {organization}, {stage}, {domain}, {product}, {team}, {namespace}, {database}, {role}.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "embedded_resources")]
    pub extra_resources: Vec<serde_json::Value>,
}

fn embedded_resources(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "x-kubernetes-embedded-resource": true,
            "x-kubernetes-preserve-unknown-fields": true
        }
    })
}

/// The product namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSettings {
    /// Name format; placeholders {domain} and {product} are required, {organization} and {team} optional.
    #[serde(default = "default_namespace_name")]
    pub name: String,
    /// Extra labels (values may use placeholders).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations (values may use placeholders).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Pod Security Standard enforced in the namespace.
    #[serde(default)]
    pub pod_security: PodSecurityLevel,
}

impl Default for NamespaceSettings {
    fn default() -> Self {
        NamespaceSettings {
            name: default_namespace_name(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            pod_security: PodSecurityLevel::default(),
        }
    }
}

fn default_namespace_name() -> String {
    "{domain}-{product}".to_string()
}

/// Pod Security Standard level.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurityLevel {
    Privileged,
    Baseline,
    #[default]
    Restricted,
}

impl PodSecurityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Privileged => "privileged",
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Restricted => "restricted",
        }
    }
}

/// ResourceQuota limits.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaSettings {
    /// Hard limits, as in a ResourceQuota (`requests.cpu`, `requests.memory`, `pods`, ...).
    #[serde(default)]
    pub hard: BTreeMap<String, Quantity>,
}

/// LimitRange defaults for containers that do not say.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitSettings {
    /// Default requests.
    #[serde(default = "default_requests")]
    pub default_request: BTreeMap<String, Quantity>,
    /// Default limits.
    #[serde(default = "default_limits")]
    pub default: BTreeMap<String, Quantity>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            default_request: default_requests(),
            default: default_limits(),
        }
    }
}

fn default_requests() -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity("100m".to_string())),
        ("memory".to_string(), Quantity("256Mi".to_string())),
    ])
}

fn default_limits() -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), Quantity("1".to_string())),
        ("memory".to_string(), Quantity("1Gi".to_string())),
    ])
}

/// Network isolation mode.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkPolicyMode {
    /// Deny all ingress and egress, then allow DNS and HTTPS egress (S3, Glue, STS).
    #[default]
    DefaultDeny,
    /// No NetworkPolicy.
    None,
}

/// AWS account settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsSettings {
    /// Account that holds the product resources (used in ARNs).
    #[serde(default = "default_account")]
    #[schemars(regex(pattern = r"^[0-9]{12}$"))]
    pub account_id: String,
    /// ARN partition (`aws`, `aws-cn`, `aws-us-gov`).
    #[serde(default = "default_partition")]
    pub partition: String,
    /// The cluster's OIDC provider (for example `oidc.eks.eu-west-1.amazonaws.com/id/ABC`).
    /// When set, product roles trust their ServiceAccount through IRSA; otherwise through EKS
    /// Pod Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_provider: Option<String>,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            account_id: default_account(),
            partition: default_partition(),
            oidc_provider: None,
        }
    }
}

fn default_account() -> String {
    "000000000000".to_string()
}

fn default_partition() -> String {
    "aws".to_string()
}

/// S3 storage.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageSettings {
    /// AWS region of the buckets and the catalogue.
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]$"))]
    pub region: String,
    /// Bucket name format; {domain}, {product} and {layer} are required.
    #[serde(default = "default_bucket_name")]
    pub bucket_name: String,
    /// KMS key for SSE-KMS; SSE-S3 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Keep object versions.
    #[serde(default = "yes")]
    pub versioning: bool,
    /// Days noncurrent object versions are kept.
    #[serde(default = "default_noncurrent_days")]
    #[schemars(range(min = 1))]
    pub noncurrent_version_retention_days: u32,
    /// `Retain` (default): buckets and the catalogue outlive the product. `Delete`: they go too.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// With `Delete`, also delete buckets that still hold objects.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_delete_data: bool,
    /// Data layers; each gets a bucket.
    pub layers: Vec<LayerSettings>,
}

fn default_bucket_name() -> String {
    "{organization}-{domain}-{product}-{layer}".to_string()
}

fn yes() -> bool {
    true
}

fn default_noncurrent_days() -> u32 {
    30
}

/// What happens to stored data when a product is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep buckets, data and catalogue.
    #[default]
    Retain,
    /// Delete catalogue and buckets (non-empty buckets only with forceDeleteData).
    Delete,
}

/// A data layer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LayerSettings {
    /// Layer name (lowercase, digits, underscores).
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"))]
    pub name: String,
    /// `private` layers are for the owning team; `public` layers can be granted to consumers.
    #[serde(default = "private")]
    pub visibility: Visibility,
    /// Days objects are kept; unset keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub retention_days: Option<u32>,
    /// Whether columns marked `pii: true` may live in this layer.
    #[serde(default)]
    pub pii: PiiPolicy,
    /// Columns every output in this layer must have, with these types (for example the
    /// metadata every raw record carries: `_added_at`, `_type`, `_source_system`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_columns: Vec<RequiredColumn>,
    /// `false`: outputs in this layer are never granted to anyone, not even products of the
    /// same domain (for example ad-hoc `queries`).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub grantable: bool,
    /// `false`: pipelines may write outputs in this layer but no pipeline may read them.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub readable_by_pipelines: bool,
}

fn private() -> Visibility {
    Visibility::Private
}

fn is_true(b: &bool) -> bool {
    *b
}

/// A column every output of a layer carries.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequiredColumn {
    /// Column name.
    pub name: String,
    /// Glue type the column must have.
    #[serde(rename = "type")]
    pub type_: String,
    /// What the column means.
    #[serde(default)]
    pub description: String,
}

/// Whether PII may be stored.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PiiPolicy {
    #[default]
    Allowed,
    Forbidden,
}

/// Glue catalogue.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogSettings {
    /// Database name format; {domain} and {product} are required.
    #[serde(default = "default_database_name")]
    pub database_name: String,
    /// The Athena workgroup consumers query the catalogue with. Exported data contracts list an
    /// Athena server only when this is set (ODCS needs the workgroup's query result location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub athena: Option<AthenaSettings>,
}

impl Default for CatalogSettings {
    fn default() -> Self {
        CatalogSettings {
            database_name: default_database_name(),
            athena: None,
        }
    }
}

/// The Athena workgroup products are queried with (not provisioned by the operator).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AthenaSettings {
    /// Workgroup name.
    #[schemars(length(min = 1, max = 128))]
    pub workgroup: String,
    /// Where the workgroup stores query results (`s3://bucket/prefix/`): the ODCS `stagingDir`.
    #[schemars(regex(pattern = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"))]
    pub staging_location: String,
}

fn default_database_name() -> String {
    "{domain}_{product}".to_string()
}

/// Pipelines and their identity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineSettings {
    /// IAM role name format; {domain} and {product} are required.
    #[serde(default = "default_role_name")]
    pub role_name: String,
    /// IAM path the roles are created under (`/dataproducts/`): the operator's own policy
    /// (`dpctl iam-policy`) lets it create and change roles under this path only.
    #[serde(default = "default_role_path")]
    #[schemars(regex(pattern = r"^/([A-Za-z0-9+=,.@_-]+/)+$"))]
    pub role_path: String,
    /// Managed policy ARN attached to every role as its permissions boundary. The operator's
    /// policy allows CreateRole only with this boundary, so a role it makes can never hold more
    /// than the boundary does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:policy/.+$"))]
    pub permissions_boundary: Option<String>,
    /// Name of the ServiceAccount pipelines run as.
    #[serde(default = "default_service_account")]
    pub service_account: String,
    /// CronJob defaults.
    #[serde(default)]
    pub defaults: PipelineDefaults,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            role_name: default_role_name(),
            role_path: default_role_path(),
            permissions_boundary: None,
            service_account: default_service_account(),
            defaults: PipelineDefaults::default(),
        }
    }
}

fn default_role_name() -> String {
    "dp-{domain}-{product}".to_string()
}

fn default_role_path() -> String {
    "/dataproducts/".to_string()
}

fn default_service_account() -> String {
    "pipelines".to_string()
}

/// CronJob defaults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineDefaults {
    /// What to do when a run is still going at the next schedule.
    #[serde(default)]
    pub concurrency_policy: ConcurrencyPolicy,
    /// Retries of a failed run.
    #[serde(default = "default_backoff")]
    pub backoff_limit: i32,
    /// A run is stopped after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    /// Finished Jobs are deleted after this many seconds.
    #[serde(default = "default_ttl")]
    pub ttl_seconds_after_finished: i32,
    /// Successful Jobs kept for inspection.
    #[serde(default = "default_success_history")]
    pub successful_jobs_history_limit: i32,
    /// Failed Jobs kept for inspection.
    #[serde(default = "default_failed_history")]
    pub failed_jobs_history_limit: i32,
    /// Container resources when a pipeline does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl Default for PipelineDefaults {
    fn default() -> Self {
        PipelineDefaults {
            concurrency_policy: ConcurrencyPolicy::default(),
            backoff_limit: default_backoff(),
            active_deadline_seconds: None,
            ttl_seconds_after_finished: default_ttl(),
            successful_jobs_history_limit: default_success_history(),
            failed_jobs_history_limit: default_failed_history(),
            resources: None,
        }
    }
}

fn default_backoff() -> i32 {
    2
}
fn default_ttl() -> i32 {
    86_400
}
fn default_success_history() -> i32 {
    3
}
fn default_failed_history() -> i32 {
    3
}

/// CronJob concurrency policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ConcurrencyPolicy {
    Allow,
    #[default]
    Forbid,
    Replace,
}

impl ConcurrencyPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyPolicy::Allow => "Allow",
            ConcurrencyPolicy::Forbid => "Forbid",
            ConcurrencyPolicy::Replace => "Replace",
        }
    }
}

/// Access settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessSettings {
    /// ClusterRole the owner groups get in the product namespace.
    #[serde(default = "default_owner_role")]
    pub owner_cluster_role: String,
    /// How consumers are granted read access.
    #[serde(default)]
    pub grants: GrantMode,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            owner_cluster_role: default_owner_role(),
            grants: GrantMode::default(),
        }
    }
}

fn default_owner_role() -> String {
    "edit".to_string()
}

/// How read access is granted to consumers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GrantMode {
    /// Lake Formation SELECT/DESCRIBE on tables plus data location read.
    #[default]
    Lakeformation,
    /// S3 bucket-policy statements and Glue resource-policy entries.
    BucketPolicy,
}

/// Governance rules.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GovernanceSettings {
    /// Every column and partition key needs an example value.
    #[serde(default = "yes")]
    pub require_field_examples: bool,
    /// Every output needs at least one example query.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_query_examples: bool,
    /// Every product needs an SLO freshness.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_slo: bool,
    /// Naming rule for columns and partition keys.
    #[serde(default)]
    pub column_naming: ColumnNaming,
    /// Minimum days between a deprecation's announcement and its sunset.
    #[serde(default = "default_notice")]
    pub deprecation_notice_days: u32,
    /// Shared vocabulary: a column with one of these names must have the glossary's type.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub glossary: BTreeMap<String, GlossaryTerm>,
}

impl Default for GovernanceSettings {
    fn default() -> Self {
        GovernanceSettings {
            require_field_examples: true,
            require_query_examples: false,
            require_slo: false,
            column_naming: ColumnNaming::default(),
            deprecation_notice_days: default_notice(),
            glossary: BTreeMap::new(),
        }
    }
}

fn default_notice() -> u32 {
    90
}

/// Column naming rule.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ColumnNaming {
    /// `lower_snake_case`.
    #[default]
    #[serde(rename = "snake_case")]
    SnakeCase,
    /// `lowerCamelCase`.
    #[serde(rename = "camelCase")]
    CamelCase,
    /// Anything Glue accepts.
    #[serde(rename = "any")]
    Any,
}

/// A glossary term.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlossaryTerm {
    /// The Glue type every column of this name must have.
    #[serde(rename = "type")]
    pub type_: String,
    /// What the term means across domains.
    #[serde(default)]
    pub description: String,
}
