//! `DataProduct`: what a domain team writes to get a data product provisioned.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Deprecation, Visibility};

/// A domain's analytical data product: documented outputs (SQL-queryable tables), the pipelines
/// that build them, where their data comes from, and who may read them. The operator provisions
/// everything it needs from the DataProductTemplate it names.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "dataproducts.io",
    version = "v1alpha1",
    kind = "DataProduct",
    namespaced,
    status = "DataProductStatus",
    derive = "PartialEq",
    shortname = "dp",
    category = "dataproducts",
    doc = "A domain's analytical data product: documented, SQL-queryable outputs, the pipelines that build them, their inputs and who may read them.",
    printcolumn(
        name = "Domain",
        type_ = "string",
        json_path = ".spec.domain",
        description = "Owning domain"
    ),
    printcolumn(
        name = "Template",
        type_ = "string",
        json_path = ".spec.template",
        description = "DataProductTemplate the product is provisioned from"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Lifecycle phase"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Ready condition"
    ),
    printcolumn(
        name = "Namespace",
        type_ = "string",
        json_path = ".status.namespace",
        description = "Namespace provisioned for the product"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataProductSpec {
    /// Owning domain (for example `messaging`). Lowercase letters and digits, starting with a
    /// letter: domain names never contain hyphens, so `{domain}-{product}` names stay unambiguous.
    #[schemars(regex(pattern = r"^[a-z][a-z0-9]{0,29}$"))]
    pub domain: String,
    /// Name of the cluster-scoped DataProductTemplate that decides what the product gets.
    #[schemars(length(min = 1, max = 63))]
    pub template: String,
    /// `domain` for a dataset of one domain; `core` for one useful to several domains.
    #[serde(default)]
    pub class: ProductClass,
    /// What the product holds and why it exists, for the catalogue.
    #[serde(default)]
    pub description: String,
    /// The team accountable for the product.
    #[serde(default)]
    pub owner: Owner,
    /// Input ports: other products' outputs or external sources the product is built from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Input>,
    /// Output ports: each becomes a catalogued, SQL-queryable table.
    #[serde(default)]
    pub outputs: Vec<Output>,
    /// Scheduled jobs (CronJobs) that build the outputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipelines: Vec<Pipeline>,
    /// Service levels the product promises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
    /// Who may ask for access, and which consumers are approved in advance.
    #[serde(default)]
    pub access: AccessSpec,
    /// Set when the whole product is being retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation: Option<Deprecation>,
}

/// Whether a product belongs to one domain or is a core dataset shared by several.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProductClass {
    /// Specific to one domain; built and maintained by the domain team.
    #[default]
    Domain,
    /// Useful to more than one domain; governed more strictly.
    Core,
}

/// The team accountable for a product.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Owner {
    /// Team name.
    #[serde(default)]
    pub team: String,
    /// Contact address for consumers.
    #[serde(default)]
    pub email: String,
    /// Kubernetes groups that may operate the product's namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// An input port: exactly one of `product` (with `output`) or `external`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    /// `<namespace>/<name>` of another DataProduct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Which output of that product is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// A source outside the mesh (a topic, an operational database export, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalInput>,
}

/// A source outside the mesh.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalInput {
    /// Name pipelines use in `reads`.
    pub name: String,
    /// What the source is.
    #[serde(default)]
    pub description: String,
}

/// An output port: one table in the product's Glue database, stored in one layer's bucket.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Output {
    /// Table name (lowercase, digits and underscores).
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]*$"), length(max = 128))]
    pub name: String,
    /// One of the template's storage layers.
    pub layer: String,
    /// What one row means, for the catalogue.
    #[serde(default)]
    pub description: String,
    /// The grain of a row, for example `conversation x day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<String>,
    /// File format of the data.
    #[serde(default)]
    pub format: DataFormat,
    /// Partition columns (Hive-style `key=value/` prefixes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_keys: Vec<Column>,
    /// Columns, in order.
    #[serde(default)]
    pub schema: Vec<Column>,
    /// Example SQL queries shown to analysts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<QueryExample>,
    /// Contract version. Removing or retyping a column needs a new version.
    #[serde(default = "default_version")]
    #[schemars(range(min = 1))]
    pub version: u32,
    /// Set when this output is being retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation: Option<Deprecation>,
}

fn default_version() -> u32 {
    1
}

/// File format of an output's data; decides the Glue SerDe and input/output formats.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    #[default]
    Parquet,
    Orc,
    Avro,
    Json,
    Csv,
}

/// A column or partition key.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Glue/Athena type: boolean, tinyint, smallint, int, bigint, float, double, decimal(p,s),
    /// string, char(n), varchar(n), date, timestamp, binary, array<T>, map<K,V>,
    /// struct<name:T,...>.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// What the column means.
    #[serde(default)]
    pub description: String,
    /// An example value, so readers understand the data as they read the schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
    /// Whether the column holds personally identifiable information.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pii: bool,
}

/// An example query for the catalogue.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryExample {
    /// What the query answers.
    pub title: String,
    /// The SQL, using the output's table name.
    pub sql: String,
}

/// A scheduled job that builds outputs; it becomes a CronJob in the product's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pipeline {
    /// Pipeline name (DNS label).
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), length(max = 52))]
    pub name: String,
    /// Cron schedule, five fields as Kubernetes CronJobs accept it.
    pub schedule: String,
    /// IANA time zone of the schedule (CronJob `timeZone`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Container image that runs the pipeline.
    pub image: String,
    /// Entrypoint override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment variables (the product's bucket, database and table names are always set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Input ports (an input's output name or an external input's name) or own outputs read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<String>,
    /// Own outputs written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<String>,
    /// CPU and memory; the template's defaults apply when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Pause scheduling without deleting the pipeline.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Suspend the CronJob while an input from another product that `reads` names is not
    /// ready (its producer missing or not Ready, the output Stale or past its sunset), and
    /// resume it when the input is ready again. `false` runs on schedule whatever the inputs.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub wait_for_inputs: bool,
}

fn yes() -> bool {
    true
}

impl Default for Pipeline {
    /// As an empty YAML mapping reads: waiting for inputs is the default.
    fn default() -> Self {
        Pipeline {
            name: String::new(),
            schedule: String::new(),
            time_zone: None,
            image: String::new(),
            command: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            reads: Vec::new(),
            writes: Vec::new(),
            resources: None,
            suspend: false,
            wait_for_inputs: true,
        }
    }
}

fn is_true(b: &bool) -> bool {
    *b
}

/// A plain environment variable.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// Service levels.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Slo {
    /// The newest partition must be younger than this (for example `26h`, `90m`, `2d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h|d))+$"))]
    pub freshness: Option<String>,
}

/// Who may ask for access, and who is approved in advance.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessSpec {
    /// `private`: nobody outside the team; `internal`: anyone may ask, the producer approves;
    /// `public`: requests for public-layer outputs are approved automatically.
    #[serde(default)]
    pub visibility: Visibility,
    /// Consumers approved by the producer. Listing a consumer here is how a producer approves a
    /// DataProductAccess from it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<Consumer>,
}

/// An approved consumer: exactly one of `product` or `principal`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Consumer {
    /// `<namespace>/<name>` of the consuming DataProduct (its pipelines' IAM role is granted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// An IAM principal ARN (for example an analysts' role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Outputs granted; empty means every output in a public layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
}

/// Observed state, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataProductStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// `Ready` plus one condition per concern (Valid, NamespaceReady, StorageReady, CatalogReady,
    /// PipelinesReady, AccessReady).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The namespace provisioned for the product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The stage of the product's template (`dev`, `prod`, ...), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// One bucket per storage layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<BucketStatus>,
    /// The Glue database and tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogStatus>,
    /// How to reach the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// The published contract of every output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<PublishedOutput>,
    /// Every Kubernetes object last applied for the product, so leftovers can be pruned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory: Vec<InventoryEntry>,
    /// Who reads this product now: DataProducts that declare one of its outputs as an input,
    /// and granted DataProductAccess requests. While the list is not empty, deleting the product
    /// is refused at admission unless it carries the annotation
    /// `dataproducts.io/delete-with-consumers: "true"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<ActiveConsumer>,
    /// The read grants the last AWS step put in place: who (a consumer product
    /// `<namespace>/<name>`, or an IAM principal ARN) may read which tables. An access request
    /// is Granted only once its consumer and tables are here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantInPlace>,
    /// Every input read from another product, as last observed: the producer's phase, the
    /// output's freshness and any deprecation, and whether it holds the pipelines that read it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputStatus>,
}

/// One input from another product, as the consumer sees it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InputStatus {
    /// The producer, `<namespace>/<name>`.
    pub product: String,
    /// The output read.
    pub output: String,
    /// The producer's phase; absent when the producer does not exist or has no status yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The output's freshness as its producer observed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness: Option<Freshness>,
    /// When the output was last updated (RFC 3339), as its producer observed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// The producer's deprecation of the output (or of the whole product).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecation: Option<DeprecationNotice>,
    /// Whether pipelines reading the input may run: the producer exists and is Ready, the
    /// output is not Stale and not past its sunset. Unknown freshness does not hold them.
    pub ready: bool,
    /// Why not: `InputNotReady`, `InputStale` or `InputRetired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What was seen, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A producer's announcement that an output goes away, as its consumers are told.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeprecationNotice {
    /// Day after which the output may be removed (YYYY-MM-DD); grants end after it.
    pub sunset: String,
    /// What to move to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// Why it goes away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&Deprecation> for DeprecationNotice {
    /// What consumers are told of a producer's deprecation.
    fn from(d: &Deprecation) -> Self {
        DeprecationNotice {
            sunset: d.sunset.clone(),
            replaced_by: d.replaced_by.clone(),
            reason: d.reason.clone(),
        }
    }
}

impl DeprecationNotice {
    /// `; move to X` when a replacement is named, for messages; empty otherwise.
    pub fn move_to(&self) -> String {
        self.replaced_by
            .as_deref()
            .map(|r| format!("; move to {r}"))
            .unwrap_or_default()
    }
}

/// One read grant in place in AWS.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantInPlace {
    /// The consumer product (`<namespace>/<name>`) or IAM principal ARN granted.
    pub grantee: String,
    /// The tables it may read, `<database>.<table>`.
    pub tables: Vec<String>,
}

/// One active consumer of a product: a reader that would break if the product went away.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveConsumer {
    /// `Product` (a DataProduct reading it as an input) or `Access` (a granted
    /// DataProductAccess).
    pub kind: ConsumerKind,
    /// Namespace of the consuming DataProduct or DataProductAccess.
    pub namespace: String,
    /// Name of the consuming DataProduct or DataProductAccess.
    pub name: String,
    /// The output read; absent for an access request granted every public output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// What kind of object consumes a product.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub enum ConsumerKind {
    /// A DataProduct that declares the output in `spec.inputs`.
    Product,
    /// A DataProductAccess request in phase Granted.
    Access,
}

impl std::fmt::Display for ActiveConsumer {
    /// `Product ns/name (output)`, as the admission policy's message names it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} {}/{}", self.kind, self.namespace, self.name)?;
        match &self.output {
            Some(o) => write!(f, " ({o})"),
            None => Ok(()),
        }
    }
}

// The one identity of a Kubernetes object: the planner, apply, prune, the caches and the
// recorded inventory all use it.
/// A Kubernetes object applied for a product.
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for InventoryEntry {
    /// `Kind namespace/name`, or `Kind name` for cluster-scoped objects.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Lifecycle phase of a DataProduct.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    Pending,
    Provisioning,
    Ready,
    Degraded,
    Invalid,
    Deleting,
}

/// A provisioned bucket.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketStatus {
    pub layer: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// The provisioned Glue database and its tables.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogStatus {
    pub database: String,
    #[serde(default)]
    pub tables: Vec<String>,
}

/// How consumers reach the product's data.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// An example Athena query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

/// The contract of one output as last published.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedOutput {
    pub name: String,
    pub version: u32,
    /// Columns in order, `name` and canonical `type`.
    #[serde(default)]
    pub columns: Vec<PublishedColumn>,
    /// Partition keys in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_keys: Vec<PublishedColumn>,
    /// Sunset of a published deprecation: after it, the output may change or go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunset: Option<String>,
    /// The day the operator first published that deprecation. Notice periods count from here,
    /// so a backdated `announced` date cannot shorten them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated_since: Option<String>,
    /// When the output was last observed to change (RFC 3339): the newest of its signals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// Which signal decided `lastUpdated`: `CronJob` (a writer's last successful run),
    /// `S3Object` (the newest object under the output's location) or `GluePartition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The output's age against the product's freshness SLO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness: Option<Freshness>,
}

/// An output's observed age against the product's freshness SLO.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Freshness {
    /// Updated within the SLO (or updated at all, without an SLO).
    Fresh,
    /// Older than the SLO, or no signal although the product has been Ready for longer than it.
    Stale,
    /// No signal yet.
    Unknown,
}

/// A published column.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishedColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
}
