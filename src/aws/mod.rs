//! The AWS step: ensures exactly the AWS resources the planner describes
//! ([`crate::plan::AwsResource`]): S3 buckets, the Glue database and tables, the product's IAM
//! role and the consumers' grants — idempotently, owned, and never deleting data by accident.
//!
//! Each service sits behind a small interface with the verbs observe (never mutates), create,
//! update (only what differs) and delete (not-found is success): [`storage`] (S3), [`catalog`]
//! (Glue), [`identity`] (IAM) and [`grants`] (Lake Formation or bucket/catalogue policies).
//! Every call is counted and named by its IAM action ([`permissions::ACTIONS`]), so a report
//! says how many reads and mutations a reconcile made, and an AccessDenied names what is missing.
//!
//! Clients come from aws-config's default chain (IRSA or EKS Pod Identity in a cluster);
//! `AWS_ENDPOINT_URL` is honoured (S3 then uses path-style addressing). Throttling and 5xx are
//! retried per call by the SDK (standard mode: jittered exponential backoff, bounded attempts),
//! and calls in flight are bounded per service across all products.

pub mod call;
pub mod catalog;
mod cleanup;
mod ensure;
pub mod freshness;
pub mod grants;
pub mod identity;
pub mod ownership;
pub mod permissions;
pub mod storage;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::retry::{RetryPartition, TokenBucket};

use crate::api::BucketStatus;
use crate::plan::aws::{
    AccessGrantSpec, GlueDatabaseSpec, GlueTableSpec, IamRoleSpec, PlanDoc, S3BucketSpec,
};
use crate::plan::AwsResource;
use catalog::{Catalog, CatalogError, DatabaseState, GRANTS_PARAM};
use grants::{GrantError, Ledger};

/// How the operator reaches AWS. Credentials, and the endpoint unless set here, come from the
/// environment through aws-config (`AWS_ENDPOINT_URL`, IRSA, Pod Identity, profiles).
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// Region for every resource, instead of the template's.
    pub region_override: Option<String>,
    /// Endpoint for every service, instead of `AWS_ENDPOINT_URL` (tests give each server its
    /// own). S3 uses path-style addressing whenever an endpoint is configured.
    pub endpoint_url: Option<String>,
    /// Attempts per call, first included.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles with full jitter up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How the SDK retries. Standard (jittered exponential backoff per call) is the default:
    /// measured under random throttling it converges much faster than adaptive, whose shared
    /// client-side rate limiter slows every product down at once (docs/aws.md, Throttling).
    pub retry_mode: RetryMode,
    /// Calls in flight at once per AWS service, across all products: a burst of products does
    /// not turn into a burst of throttling.
    pub concurrency_per_service: usize,
}

/// How the SDK retries a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RetryMode {
    /// Jittered exponential backoff per call.
    #[default]
    Standard,
    /// Standard plus a client-side rate limiter that slows down on throttling.
    Adaptive,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            region_override: None,
            endpoint_url: None,
            max_attempts: 8,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            retry_mode: RetryMode::Standard,
            concurrency_per_service: 16,
        }
    }
}

/// Why the AWS step could not start.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsError {
    #[error("AWS configuration: {0}")]
    Config(String),
}

/// The product whose resources these are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `<namespace>/<name>`.
    pub product: String,
    /// The DataProduct's `metadata.uid`.
    pub uid: String,
}

/// The state of one concern (condition) after ensure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concern {
    pub ready: bool,
    /// `Provisioned`, `Conflict`, `AccessDenied`, `Failed`, or `Retrying` when every failure is
    /// retried.
    pub reason: String,
    pub message: String,
}

/// AWS calls made by one ensure or cleanup (logical calls; SDK retries are not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub reads: u32,
    pub mutations: u32,
}

/// What ensure found and did.
#[derive(Debug, Clone)]
pub struct AwsReport {
    pub storage: Concern,
    pub catalog: Concern,
    pub access: Concern,
    /// The buckets of this product (conflicting names are not listed).
    pub buckets: Vec<BucketStatus>,
    pub calls: CallCounts,
    /// A retryable failure remains: the operator backs off and retries.
    pub transient: bool,
}

/// What cleanup did.
#[derive(Debug, Clone)]
pub struct CleanupReport {
    /// Everything that had to go is gone (or is retained by policy): the finalizer may be removed.
    pub done: bool,
    /// Resources deletion policy `Delete` could not delete, each with the reason.
    pub retained: Vec<String>,
    pub message: String,
    pub transient: bool,
    pub calls: CallCounts,
}

/// The clients of one region.
struct Clients {
    s3: aws_sdk_s3::Client,
    glue: aws_sdk_glue::Client,
    iam: aws_sdk_iam::Client,
    lf: aws_sdk_lakeformation::Client,
}

/// The AWS step.
pub struct Aws {
    base: SdkConfig,
    region_override: Option<String>,
    path_style: bool,
    clients: Mutex<HashMap<String, Arc<Clients>>>,
    limits: Arc<call::Limits>,
    untagged: storage::Untagged,
}

/// The partition of a region, for ARNs.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// The plan's AWS documents by kind.
#[derive(Default)]
struct Planned<'a> {
    buckets: Vec<&'a PlanDoc<S3BucketSpec>>,
    database: Option<&'a PlanDoc<GlueDatabaseSpec>>,
    tables: Vec<&'a PlanDoc<GlueTableSpec>>,
    role: Option<&'a PlanDoc<IamRoleSpec>>,
    grants: Vec<&'a PlanDoc<AccessGrantSpec>>,
}

impl<'a> Planned<'a> {
    fn of(resources: &'a [AwsResource]) -> Planned<'a> {
        let mut p = Planned::default();
        for r in resources {
            match r {
                AwsResource::S3Bucket(d) => p.buckets.push(d),
                AwsResource::GlueDatabase(d) => p.database = Some(d),
                AwsResource::GlueTable(d) => p.tables.push(d),
                AwsResource::IamRole(d) => p.role = Some(d),
                AwsResource::AccessGrant(d) => p.grants.push(d),
            }
        }
        p
    }

    /// The region of the product (IAM is global, but its partition follows the region).
    fn region(&self) -> Option<&'a str> {
        self.database
            .map(|d| d.spec.region.as_str())
            .or_else(|| self.buckets.first().map(|b| b.spec.region.as_str()))
            .or_else(|| self.tables.first().map(|t| t.spec.region.as_str()))
            .or_else(|| self.grants.first().map(|g| g.spec.region.as_str()))
    }
}

impl Aws {
    pub async fn new(settings: AwsSettings) -> Result<Aws, AwsError> {
        if settings.max_attempts == 0 {
            return Err(AwsError::Config("max_attempts must be at least 1".into()));
        }
        // rustls with ring: the crypto kube already uses; no C toolchain needed (no aws-lc).
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(
                match settings.retry_mode {
                    RetryMode::Standard => RetryConfig::standard(),
                    RetryMode::Adaptive => RetryConfig::adaptive(),
                }
                .with_max_attempts(settings.max_attempts)
                .with_initial_backoff(settings.initial_backoff)
                .with_max_backoff(settings.max_backoff),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(120))
                    .build(),
            );
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(region) = &settings.region_override {
            loader = loader.region(Region::new(region.clone()));
        }
        let base = loader.load().await;
        if base.credentials_provider().is_none() {
            return Err(AwsError::Config("no AWS credentials provider".into()));
        }
        let path_style =
            base.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        Ok(Aws {
            base,
            region_override: settings.region_override,
            path_style,
            clients: Mutex::new(HashMap::new()),
            limits: Arc::new(call::Limits::new(settings.concurrency_per_service)),
            untagged: Default::default(),
        })
    }

    /// The region a planned resource lives in.
    fn region(&self, planned: &str) -> String {
        self.region_override
            .clone()
            .unwrap_or_else(|| planned.to_string())
    }

    fn product_region(&self, planned: &Planned) -> String {
        self.region_override
            .clone()
            .or_else(|| planned.region().map(str::to_string))
            .or_else(|| self.base.region().map(|r| r.to_string()))
            .unwrap_or_else(|| "us-east-1".to_string())
    }

    /// Clients of a region, created on first use and cached.
    fn clients(&self, region: &str) -> Arc<Clients> {
        let mut cache = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(region.to_string())
            .or_insert_with(|| {
                let r = Region::new(region.to_string());
                // The SDK's retry quota (a token bucket shared by every call of a partition)
                // would stop retrying altogether under sustained throttling, failing whole
                // reconciles; the per-service concurrency bound limits the load instead.
                let partition = |service: &str| {
                    RetryPartition::custom(format!("dataproducts-{service}-{region}"))
                        .token_bucket(TokenBucket::unlimited())
                        .build()
                };
                Arc::new(Clients {
                    s3: aws_sdk_s3::Client::from_conf(
                        aws_sdk_s3::config::Builder::from(&self.base)
                            .region(r.clone())
                            .force_path_style(self.path_style)
                            .retry_partition(partition("s3"))
                            .build(),
                    ),
                    glue: aws_sdk_glue::Client::from_conf(
                        aws_sdk_glue::config::Builder::from(&self.base)
                            .region(r.clone())
                            .retry_partition(partition("glue"))
                            .build(),
                    ),
                    iam: aws_sdk_iam::Client::from_conf(
                        aws_sdk_iam::config::Builder::from(&self.base)
                            .region(r.clone())
                            .retry_partition(partition("iam"))
                            .build(),
                    ),
                    lf: aws_sdk_lakeformation::Client::from_conf(
                        aws_sdk_lakeformation::config::Builder::from(&self.base)
                            .region(r)
                            .retry_partition(partition("lakeformation"))
                            .build(),
                    ),
                })
            })
            .clone()
    }
}

async fn write_ledger(
    catalog: &Catalog<'_>,
    database: &str,
    state: &mut DatabaseState,
    ledger: &Ledger,
) -> Result<(), GrantError> {
    let changes = BTreeMap::from([(GRANTS_PARAM.to_string(), ledger.value())]);
    catalog
        .set_parameters(database, state, &changes)
        .await
        .map_err(|e| match e {
            CatalogError::Conflict { resource, detail } => {
                GrantError::Conflict { resource, detail }
            }
            CatalogError::AccessDenied {
                action,
                resource,
                message,
            } => GrantError::AccessDenied {
                action,
                resource,
                message,
            },
            CatalogError::Transient(m) => GrantError::Transient(m),
            CatalogError::Failed(m) => GrantError::Failed(m),
        })
}
