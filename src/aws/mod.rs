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
pub mod grants;
pub mod identity;
pub mod ownership;
pub mod permissions;
pub mod storage;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::retry::{RetryPartition, TokenBucket};

use crate::api::{BucketStatus, DeletionPolicy};
use crate::plan::aws::{
    AccessGrantSpec, GlueDatabaseSpec, GlueTableSpec, IamRoleSpec, PlanDoc, S3BucketSpec,
};
use crate::plan::AwsResource;
use call::{Calls, Fault, StepError};
use catalog::{Catalog, CatalogError, DatabaseState, DesiredDatabase, TableShape, GRANTS_PARAM};
use grants::{ActiveGrant, GrantError, Grants, Ledger};
use identity::{DesiredRole, Identity, IdentityError, RoleDeletion};
use ownership::{Observed, Ownership};
use storage::{Deletion, DesiredBucket, Storage, StorageError};

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

/// Problems of one concern, each with whether it is retried.
#[derive(Default)]
struct Step {
    problems: Vec<(call::Problem, String, bool)>,
    transient: bool,
}

impl Step {
    fn fail(&mut self, e: &impl StepError) {
        self.transient |= e.transient();
        self.problems
            .push((e.problem(), e.to_string(), e.transient()));
    }

    fn concern(self, ok: String) -> Concern {
        if self.problems.is_empty() {
            return Concern {
                ready: true,
                reason: "Provisioned".to_string(),
                message: ok,
            };
        }
        let order = [
            call::Problem::Conflict,
            call::Problem::AccessDenied,
            call::Problem::Failed,
        ];
        // Only retried failures: not a verdict yet (the condition says Retrying).
        let retrying = self.problems.iter().all(|(_, _, transient)| *transient);
        let reason = if retrying {
            "Retrying"
        } else {
            order
                .iter()
                .find(|p| self.problems.iter().any(|(q, _, t)| q == *p && !t))
                .map(|p| p.reason())
                .unwrap_or("Failed")
        };
        Concern {
            ready: false,
            reason: reason.to_string(),
            message: self
                .problems
                .iter()
                .map(|(_, m, _)| m.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        }
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

    /// Idempotent: observes every planned resource, creates what is missing, updates only what
    /// differs; never deletes data. Also removes what the product owns but no longer wants:
    /// Glue tables of its database carrying its ownership that are not planned (the S3 data
    /// stays), and grants not planned any more.
    pub async fn ensure(&self, owner: &Owner, resources: &[AwsResource]) -> AwsReport {
        let calls = Calls::new(self.limits.clone());
        let planned = Planned::of(resources);
        let (mut active, notes) = grants::active(&planned.grants);
        let bucket_statements = grants::bucket_statements(&active);

        // Storage: every bucket at once.
        let mut storage = Step::default();
        let results = futures::future::join_all(planned.buckets.iter().map(|b| {
            let extra = bucket_statements
                .get(&b.metadata.name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            self.ensure_bucket(owner, b, extra, &calls)
        }))
        .await;
        let mut buckets = Vec::new();
        for (b, result) in planned.buckets.iter().zip(results) {
            match result {
                Ok(()) => buckets.push(BucketStatus {
                    layer: b.spec.layer.clone(),
                    name: b.metadata.name.clone(),
                    arn: Some(format!(
                        "arn:{}:s3:::{}",
                        partition_of(&self.region(&b.spec.region)),
                        b.metadata.name
                    )),
                }),
                Err(e) => storage.fail(&e),
            }
        }
        let mut transient = storage.transient;
        let storage = storage.concern(format!("{} buckets provisioned", buckets.len()));

        // Catalogue: the database, then its tables.
        let mut catalog = Step::default();
        let mut database: Option<(String, DatabaseState)> = None;
        if let Some(db) = planned.database {
            match self.ensure_database(owner, db, &calls).await {
                Ok(state) => {
                    let tables: Vec<_> = planned
                        .tables
                        .iter()
                        .filter(|t| t.spec.database == db.metadata.name)
                        .copied()
                        .collect();
                    let (errors, foreign) = self.ensure_tables(owner, db, &tables, &calls).await;
                    for e in errors {
                        catalog.fail(&e);
                    }
                    // A table someone else holds in the product's database is never granted.
                    for g in &mut active {
                        g.spec.tables.retain(|t| !foreign.contains(t));
                    }
                    database = Some((db.metadata.name.clone(), state));
                }
                Err(e) => catalog.fail(&e),
            }
        }
        transient |= catalog.transient;
        let catalog = catalog.concern(match planned.database {
            Some(db) => format!(
                "database {} and {} tables provisioned",
                db.metadata.name,
                planned.tables.len()
            ),
            None => "no database planned".to_string(),
        });

        // Identity, then grants.
        let mut access = Step::default();
        if let Some(role) = planned.role {
            if let Err(e) = self.ensure_role(owner, role, &planned, &calls).await {
                access.fail(&e);
            }
        }
        match &mut database {
            Some((name, state)) => {
                let region = self.region(
                    planned
                        .database
                        .map(|d| d.spec.region.as_str())
                        .unwrap_or_default(),
                );
                if let Err(e) = self
                    .ensure_grants(owner, &region, name, state, &active, &calls)
                    .await
                {
                    access.fail(&e);
                }
            }
            None if !active.is_empty() => access.fail(&GrantError::Failed(
                format!(
                    "{} grants wait for the product's Glue database",
                    active.len()
                )
                .into(),
            )),
            None => {}
        }
        let mut ok = match planned.role {
            Some(r) => format!("role {} provisioned", r.metadata.name),
            None => "no role planned".to_string(),
        };
        ok.push_str(&format!("; {} grants applied", active.len()));
        for n in &notes {
            ok.push_str("; ");
            ok.push_str(n);
        }
        transient |= access.transient;
        let access = access.concern(ok);
        AwsReport {
            storage,
            catalog,
            access,
            buckets,
            calls: calls.counts(),
            transient,
        }
    }

    async fn ensure_bucket(
        &self,
        owner: &Owner,
        doc: &PlanDoc<S3BucketSpec>,
        extra_statements: &[serde_json::Value],
        calls: &Calls,
    ) -> Result<(), StorageError> {
        let name = doc.metadata.name.as_str();
        let region = self.region(&doc.spec.region);
        let clients = self.clients(&region);
        let storage = Storage {
            s3: &clients.s3,
            calls,
            untagged: &self.untagged,
        };
        let desired = DesiredBucket::from_plan(name, &region, &doc.spec, owner, extra_statements);
        match storage.observe(name, owner).await? {
            Observed::Absent => storage.create(&desired).await,
            Observed::Foreign(why) => Err(StorageError::Conflict {
                resource: format!("S3 bucket {name}"),
                detail: why,
            }),
            Observed::Present { state, .. } => storage.update(&desired, &state).await,
        }
    }

    async fn ensure_database(
        &self,
        owner: &Owner,
        doc: &PlanDoc<GlueDatabaseSpec>,
        calls: &Calls,
    ) -> Result<DatabaseState, CatalogError> {
        let name = doc.metadata.name.as_str();
        let region = self.region(&doc.spec.region);
        let clients = self.clients(&region);
        let catalog = Catalog {
            glue: &clients.glue,
            calls,
            region: &region,
        };
        let desired = DesiredDatabase::from_plan(name, &doc.spec, owner);
        let conflict = |why| CatalogError::Conflict {
            resource: format!("Glue database {name}"),
            detail: why,
        };
        match catalog.observe_database(name, owner, true).await? {
            Observed::Present { state, .. } => catalog.update_database(&desired, &state).await,
            Observed::Foreign(why) => Err(conflict(why)),
            Observed::Absent => {
                match catalog.create_database(&desired).await {
                    Ok(()) => {}
                    // A concurrent or retried create: decide on what is there now.
                    Err(e) if e.is(Fault::AlreadyExists) => {
                        return match catalog.observe_database(name, owner, true).await? {
                            Observed::Present { state, .. } => {
                                catalog.update_database(&desired, &state).await
                            }
                            Observed::Foreign(why) => Err(conflict(why)),
                            Observed::Absent => Err(CatalogError::from(e)),
                        };
                    }
                    Err(e) => return Err(e.into()),
                }
                // The catalogue's account id (for ARNs) is known only once it exists; its tags
                // are the ones just set.
                match catalog.observe_database(name, owner, false).await? {
                    Observed::Present { mut state, .. } => {
                        state.tags = desired.tags.clone();
                        Ok(state)
                    }
                    _ => Err(CatalogError::Transient(
                        format!("Glue database {name} is not visible yet after its creation")
                            .into(),
                    )),
                }
            }
        }
    }

    /// Creates and updates the planned tables; deletes tables of ours that are not planned.
    /// Returns every failure (one table's failure does not stop the others) and the planned
    /// tables held by someone else (never granted to anyone).
    async fn ensure_tables(
        &self,
        owner: &Owner,
        db: &PlanDoc<GlueDatabaseSpec>,
        tables: &[&PlanDoc<GlueTableSpec>],
        calls: &Calls,
    ) -> (Vec<CatalogError>, BTreeSet<String>) {
        let database = db.metadata.name.as_str();
        let region = self.region(&db.spec.region);
        let clients = self.clients(&region);
        let catalog = Catalog {
            glue: &clients.glue,
            calls,
            region: &region,
        };
        let found = match catalog.observe_tables(database, owner).await {
            Ok(found) => found,
            Err(e) => return (vec![e], BTreeSet::new()),
        };
        let mut errors = Vec::new();
        let mut foreign = BTreeSet::new();
        for t in tables {
            let name = t.metadata.name.as_str();
            let desired = TableShape::from_plan(&t.spec, owner);
            let result = match found.get(name) {
                None => match catalog.create_table(database, name, &desired).await {
                    Ok(()) => Ok(()),
                    Err(e) => Err(CatalogError::from(e)),
                },
                Some(f) => match &f.ownership {
                    Ownership::Foreign(why) => {
                        foreign.insert(name.to_string());
                        Err(CatalogError::Conflict {
                            resource: format!("Glue table {database}.{name}"),
                            detail: why.clone(),
                        })
                    }
                    _ if desired.matches(&f.shape) => Ok(()),
                    _ => {
                        catalog
                            .update_table(database, name, &desired, &f.shape)
                            .await
                    }
                },
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        let planned: BTreeSet<&str> = tables.iter().map(|t| t.metadata.name.as_str()).collect();
        for (name, f) in &found {
            if f.ownership.manageable() && !planned.contains(name.as_str()) {
                if let Err(e) = catalog.delete_table(database, name).await {
                    errors.push(e);
                }
            }
        }
        (errors, foreign)
    }

    async fn ensure_role(
        &self,
        owner: &Owner,
        doc: &PlanDoc<IamRoleSpec>,
        planned: &Planned<'_>,
        calls: &Calls,
    ) -> Result<(), IdentityError> {
        let name = doc.metadata.name.as_str();
        let clients = self.clients(&self.product_region(planned));
        let identity = Identity {
            iam: &clients.iam,
            calls,
        };
        let desired = DesiredRole::from_plan(name, &doc.spec, owner);
        let conflict = |why| IdentityError::Conflict {
            resource: format!("IAM role {name}"),
            detail: why,
        };
        match identity.observe(&desired, owner).await? {
            Observed::Present { state, .. } => identity.update(&desired, &state).await,
            Observed::Foreign(why) => Err(conflict(why)),
            Observed::Absent => match identity.create(&desired).await {
                Ok(()) => Ok(()),
                Err(e) if e.is(Fault::AlreadyExists) => {
                    match identity.observe(&desired, owner).await? {
                        Observed::Present { state, .. } => identity.update(&desired, &state).await,
                        Observed::Foreign(why) => Err(conflict(why)),
                        Observed::Absent => Err(IdentityError::from(e)),
                    }
                }
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Lake Formation grants and catalogue resource-policy statements; bucket-policy statements
    /// were written with the buckets. The ledger in the database parameters is widened before
    /// granting and narrowed after revoking, so an interrupted run never loses track.
    async fn ensure_grants(
        &self,
        owner: &Owner,
        region: &str,
        database: &str,
        state: &mut DatabaseState,
        active: &[ActiveGrant],
        calls: &Calls,
    ) -> Result<(), GrantError> {
        let clients = self.clients(region);
        let catalog = Catalog {
            glue: &clients.glue,
            calls,
            region,
        };
        let api = Grants {
            lf: &clients.lf,
            glue: &clients.glue,
            calls,
            region,
        };
        let ledger = Ledger::read(&state.parameters);
        let after = Ledger {
            lakeformation: grants::lf_ledger_entries(active, database),
            catalog_policy: grants::wants_catalog_policy(active),
        };
        let before = Ledger {
            lakeformation: ledger
                .lakeformation
                .union(&after.lakeformation)
                .cloned()
                .collect(),
            catalog_policy: ledger.catalog_policy || after.catalog_policy,
        };
        if before != ledger {
            write_ledger(&catalog, database, state, &before).await?;
        }
        api.ensure_lakeformation(database, active, &before.lakeformation)
            .await?;
        if before.catalog_policy {
            let statements = api.catalog_statements(owner, &state.catalog_id, database, active);
            api.ensure_catalog_policy(owner, &statements).await?;
        }
        if after != before {
            write_ledger(&catalog, database, state, &after).await?;
        }
        Ok(())
    }

    /// On product deletion, per the deletion policy carried in the plan: `Retain` keeps buckets,
    /// data, database and tables and removes the IAM role and every grant; `Delete` also removes
    /// tables, database and buckets — a bucket holding objects only with `forceDeleteData`
    /// (every object version is deleted first), otherwise it is left in place and reported.
    /// Not-found is success. Never touches resources not owned by this product (and uid).
    pub async fn cleanup(&self, owner: &Owner, resources: &[AwsResource]) -> CleanupReport {
        let calls = Calls::new(self.limits.clone());
        let planned = Planned::of(resources);
        let mut c = Cleanup::default();

        // The database (when ours) holds the grants ledger.
        let mut database: Option<(String, String, DatabaseState)> = None;
        if let Some(db) = planned.database {
            let region = self.region(&db.spec.region);
            let clients = self.clients(&region);
            let catalog = Catalog {
                glue: &clients.glue,
                calls: &calls,
                region: &region,
            };
            match catalog.observe_database(&db.metadata.name, owner, false).await {
                Ok(Observed::Present {
                    ownership: Ownership::Ours,
                    state,
                }) => database = Some((db.metadata.name.clone(), region, state)),
                Ok(Observed::Absent) => {}
                Ok(Observed::Present { .. }) => c.note(format!(
                    "Glue database {} now belongs to another incarnation of this product: left alone",
                    db.metadata.name
                )),
                Ok(Observed::Foreign(why)) => c.note(format!(
                    "Glue database {} is not this product's ({why}): left alone",
                    db.metadata.name
                )),
                Err(e) => c.fail(&e),
            }
        }

        // 1. Every grant.
        let (active, _) = grants::active(&planned.grants);
        let planned_bucket_policy = grants::wants_catalog_policy(&active);
        let mut ledger = Ledger::default();
        if let Some((name, region, state)) = &mut database {
            let clients = self.clients(region);
            let api = Grants {
                lf: &clients.lf,
                glue: &clients.glue,
                calls: &calls,
                region,
            };
            ledger = Ledger::read(&state.parameters);
            let mut revoke = ledger.lakeformation.clone();
            revoke.extend(grants::lf_ledger_entries(&active, name));
            let mut ok = true;
            if let Err(e) = api.ensure_lakeformation(name, &[], &revoke).await {
                ok = false;
                c.fail(&e);
            }
            if ledger.catalog_policy || planned_bucket_policy {
                if let Err(e) = api.ensure_catalog_policy(owner, &[]).await {
                    ok = false;
                    c.fail(&e);
                }
            }
            if ok {
                let catalog = Catalog {
                    glue: &clients.glue,
                    calls: &calls,
                    region,
                };
                if let Err(e) = write_ledger(&catalog, name, state, &Ledger::default()).await {
                    c.fail(&e);
                } else if !revoke.is_empty() || ledger.catalog_policy || planned_bucket_policy {
                    c.deleted.push("the product's grants".to_string());
                }
            }
        }

        // 2. The role.
        if let Some(role) = planned.role {
            let clients = self.clients(&self.product_region(&planned));
            let identity = Identity {
                iam: &clients.iam,
                calls: &calls,
            };
            match identity.delete(&role.metadata.name, owner).await {
                Ok(RoleDeletion::Deleted) => {
                    c.deleted.push(format!("IAM role {}", role.metadata.name))
                }
                Ok(RoleDeletion::Absent) => {}
                Ok(RoleDeletion::NotOwned(why)) => c.note(format!(
                    "IAM role {} is not this product's ({why}): left alone",
                    role.metadata.name
                )),
                Err(e) => c.fail(&e),
            }
        }

        // 3. Tables and database, under deletionPolicy Delete.
        if let (Some(db), Some((name, region, _))) = (planned.database, &database) {
            if db.spec.deletion_policy == DeletionPolicy::Delete {
                self.delete_catalog(owner, name, region, &calls, &mut c)
                    .await;
            } else {
                c.kept.push(format!("Glue database {name} and its tables"));
            }
        }

        // 4. Buckets.
        let remove_statements = ledger.catalog_policy || planned_bucket_policy;
        for b in &planned.buckets {
            let name = b.metadata.name.as_str();
            let clients = self.clients(&self.region(&b.spec.region));
            let storage = Storage {
                s3: &clients.s3,
                calls: &calls,
                untagged: &self.untagged,
            };
            let mut still_there = true;
            if b.spec.deletion_policy == DeletionPolicy::Delete {
                match storage.delete(name, owner, b.spec.force_delete_data).await {
                    Ok(Deletion::Deleted) => {
                        still_there = false;
                        c.deleted.push(format!("S3 bucket {name}"));
                    }
                    Ok(Deletion::Absent) => still_there = false,
                    Ok(Deletion::NotOwned(why)) => {
                        still_there = false;
                        c.note(format!(
                            "S3 bucket {name} is not this product's ({why}): left alone"
                        ));
                    }
                    Ok(Deletion::Retained(why)) => c.retained.push(why),
                    Err(e) => c.fail(&e),
                }
            } else {
                c.kept.push(format!("S3 bucket {name}"));
            }
            if still_there && remove_statements {
                if let Err(e) = storage
                    .remove_statements(name, owner, grants::BUCKET_SID_PREFIX)
                    .await
                {
                    c.fail(&e);
                }
            }
        }
        c.report(calls.counts())
    }

    async fn delete_catalog(
        &self,
        owner: &Owner,
        database: &str,
        region: &str,
        calls: &Calls,
        c: &mut Cleanup,
    ) {
        let clients = self.clients(region);
        let catalog = Catalog {
            glue: &clients.glue,
            calls,
            region,
        };
        let found = match catalog.observe_tables(database, owner).await {
            Ok(found) => found,
            Err(e) => return c.fail(&e),
        };
        let mut foreign = Vec::new();
        let mut failed = false;
        for (name, f) in &found {
            if f.ownership == Ownership::Ours {
                match catalog.delete_table(database, name).await {
                    Ok(()) => c.deleted.push(format!("Glue table {database}.{name}")),
                    Err(e) => {
                        failed = true;
                        c.fail(&e);
                    }
                }
            } else {
                foreign.push(name.as_str());
            }
        }
        if !foreign.is_empty() {
            // Deleting the database would delete them too.
            c.retained.push(format!(
                "Glue database {database} holds tables not owned by this product ({}): kept",
                foreign.join(", ")
            ));
        } else if !failed {
            match catalog.delete_database(database).await {
                Ok(()) => c.deleted.push(format!("Glue database {database}")),
                Err(e) => c.fail(&e),
            }
        }
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

/// What cleanup collects.
#[derive(Default)]
struct Cleanup {
    deleted: Vec<String>,
    kept: Vec<String>,
    retained: Vec<String>,
    notes: Vec<String>,
    problems: Vec<String>,
    transient: bool,
}

impl Cleanup {
    fn fail(&mut self, e: &impl StepError) {
        self.transient |= e.transient();
        self.problems.push(e.to_string());
    }

    fn note(&mut self, n: String) {
        self.notes.push(n);
    }

    fn report(self, calls: CallCounts) -> CleanupReport {
        let mut parts = Vec::new();
        if !self.problems.is_empty() {
            parts.push(format!("failed: {}", self.problems.join("; ")));
        }
        if !self.deleted.is_empty() {
            parts.push(format!("deleted: {}", self.deleted.join(", ")));
        }
        if !self.kept.is_empty() {
            parts.push(format!(
                "kept (deletionPolicy Retain): {}",
                self.kept.join(", ")
            ));
        }
        if !self.retained.is_empty() {
            parts.push(format!("retained: {}", self.retained.join("; ")));
        }
        parts.extend(self.notes);
        CleanupReport {
            done: self.problems.is_empty(),
            retained: self.retained,
            message: parts.join("; "),
            transient: self.transient,
            calls,
        }
    }
}
