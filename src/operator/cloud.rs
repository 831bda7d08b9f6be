//! The bridge between the reconcile and the AWS step: turns AWS reports into conditions and
//! decides when cloud state must be observed again.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::api::BucketStatus;
use crate::plan::AwsResource;

use super::status::{Check, ACCESS_READY, CATALOG_READY, STORAGE_READY};

/// What the AWS step reports to the reconcile.
#[derive(Debug, Clone)]
pub struct CloudOutcome {
    pub storage: Check,
    pub catalog: Check,
    pub access: Check,
    pub buckets: Vec<BucketStatus>,
    /// A retryable failure remains.
    pub transient: bool,
    /// The AWS step has not run yet for this state of the product (progress is being shown).
    pub pending: bool,
}

impl CloudOutcome {
    /// The honest AWS-less mode: the Kubernetes side is provisioned, AWS is not attempted.
    pub fn not_configured() -> CloudOutcome {
        let unknown = |t| {
            Check::new(t, None, "AwsNotConfigured", "the operator runs without AWS configuration (start it with --aws); cloud resources are not provisioned")
        };
        CloudOutcome {
            storage: unknown(STORAGE_READY),
            catalog: unknown(CATALOG_READY),
            access: unknown(ACCESS_READY),
            buckets: Vec::new(),
            transient: false,
            pending: false,
        }
    }

    /// The AWS step about to run: each AWS condition is Unknown, with reason `Provisioning`, or
    /// keeps the retryable error it last reported (reason `Retrying`), so a retry that fails the
    /// same way again shows the same status and writes nothing.
    pub fn provisioning(previous: &[Condition]) -> CloudOutcome {
        let pending = |t: &'static str| {
            previous
                .iter()
                .find(|c| c.type_ == t && c.reason == RETRYING)
                .map(|c| Check::new(t, None, RETRYING, c.message.clone()))
                .unwrap_or_else(|| Check::new(t, None, "Provisioning", "the AWS step is running"))
        };
        CloudOutcome {
            storage: pending(STORAGE_READY),
            catalog: pending(CATALOG_READY),
            access: pending(ACCESS_READY),
            buckets: Vec::new(),
            transient: false,
            pending: true,
        }
    }
}

/// Why the AWS step fails a reconcile (so it backs off and retries): what remains to be done.
/// The underlying AWS errors are the messages of the conditions (and of the cleanup report),
/// which is where users read them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    /// Ensure left a retryable failure in these conditions.
    #[error("a retryable AWS failure remains{}; see the product's conditions", in_conditions(.conditions))]
    Ensure { conditions: Vec<&'static str> },
    /// Cleanup left a retryable failure; `remains` is the cleanup report.
    #[error("{remains}")]
    Cleanup { remains: String },
}

fn in_conditions(conditions: &[&str]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" in {}", conditions.join(", "))
    }
}

impl CloudError {
    /// The error of an ensure whose outcome is transient: the AWS conditions not yet True.
    pub fn ensure(outcome: &CloudOutcome) -> CloudError {
        CloudError::Ensure {
            conditions: [&outcome.storage, &outcome.catalog, &outcome.access]
                .into_iter()
                .filter(|c| c.ok != Some(true))
                .map(|c| c.type_)
                .collect(),
        }
    }
}

/// Reason of an AWS condition whose last attempt failed in a way that is retried.
pub const RETRYING: &str = "Retrying";

/// Whether the AWS step would call AWS for a product now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// The last outcome still holds: no call.
    Fresh,
    /// The planned resources changed (or were never ensured by this process).
    Changed,
    /// The last attempt left a retryable failure.
    Retry,
    /// The re-observation interval passed.
    Resync,
}

/// What cleanup reports.
#[derive(Debug, Clone)]
pub struct CleanupOutcome {
    pub done: bool,
    pub retained: Vec<String>,
    pub message: String,
    pub transient: bool,
}

/// AWS settings of the operator.
#[derive(Debug, Clone, Default)]
pub struct CloudConfig {
    pub region_override: Option<String>,
    /// How often cloud state is observed again when the plan did not change.
    pub resync: std::time::Duration,
    /// How the SDK retries throttled and failed calls.
    pub retry_mode: crate::aws::RetryMode,
    /// One endpoint for every service instead of `AWS_ENDPOINT_URL` (tests).
    pub endpoint_url: Option<String>,
}

/// The last ensure of a product: reused while the plan is unchanged and the resync interval has
/// not passed, so a reconcile that changes nothing makes no AWS call at all.
struct Memo {
    plan: String,
    at: std::time::Instant,
    outcome: CloudOutcome,
}

/// The AWS step as the reconcile sees it.
pub struct Cloud {
    aws: crate::aws::Aws,
    config: CloudConfig,
    metrics: std::sync::Arc<super::telemetry::Metrics>,
    memo: std::sync::Mutex<std::collections::HashMap<String, Memo>>,
}

/// A concern as a condition: a failure that is only retried is not a verdict yet (Unknown,
/// `Retrying`, with the error), so the product stays Provisioning while it converges.
fn check(type_: &'static str, c: &crate::aws::Concern) -> Check {
    let ok = if !c.ready && c.reason == RETRYING {
        None
    } else {
        Some(c.ready)
    };
    Check::new(type_, ok, &c.reason, c.message.clone())
}

impl Cloud {
    pub async fn new(
        config: CloudConfig,
        metrics: std::sync::Arc<super::telemetry::Metrics>,
    ) -> Result<Cloud, crate::aws::AwsError> {
        let settings = crate::aws::AwsSettings {
            region_override: config.region_override.clone(),
            retry_mode: config.retry_mode,
            endpoint_url: config.endpoint_url.clone(),
            ..crate::aws::AwsSettings::default()
        };
        let aws = crate::aws::Aws::new(settings).await?;
        Ok(Cloud {
            aws,
            config,
            metrics,
            memo: Default::default(),
        })
    }

    fn count(&self, calls: crate::aws::CallCounts) {
        use super::telemetry::VerbLabels;
        let family = &self.metrics.aws_calls;
        family
            .get_or_create(&VerbLabels {
                verb: "read".into(),
            })
            .inc_by(u64::from(calls.reads));
        family
            .get_or_create(&VerbLabels {
                verb: "mutation".into(),
            })
            .inc_by(u64::from(calls.mutations));
    }

    /// One freshness observation of an output (read-only calls, counted as reads).
    pub async fn observe_output(
        &self,
        at: &crate::aws::freshness::OutputLocation,
    ) -> crate::aws::freshness::OutputSignals {
        let found = self.aws.observe_output(at).await;
        self.count(crate::aws::CallCounts {
            reads: found.calls,
            mutations: 0,
        });
        found
    }

    fn plan_hash(uid: &str, resources: &[AwsResource]) -> String {
        crate::model::hashing::hash(&serde_json::json!({"uid": uid, "resources": resources}))
    }

    /// Whether [`Cloud::ensure`] would call AWS now, and why.
    pub fn due(&self, product: &str, uid: &str, resources: &[AwsResource]) -> Due {
        let plan = Self::plan_hash(uid, resources);
        let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        match memo.get(product) {
            Some(m) if m.plan != plan => Due::Changed,
            Some(m) if m.outcome.transient => Due::Retry,
            Some(m) if m.at.elapsed() >= self.config.resync => Due::Resync,
            Some(_) => Due::Fresh,
            None => Due::Changed,
        }
    }

    /// Ensures the product's AWS resources, or reuses the last outcome when nothing changed and
    /// the resync interval has not passed.
    pub async fn ensure(
        &self,
        product: &str,
        uid: &str,
        resources: &[AwsResource],
    ) -> CloudOutcome {
        let plan = Self::plan_hash(uid, resources);
        {
            let memo = self.memo.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(m) = memo.get(product) {
                if m.plan == plan && m.at.elapsed() < self.config.resync && !m.outcome.transient {
                    return m.outcome.clone();
                }
            }
        }
        let owner = crate::aws::Owner {
            product: product.to_string(),
            uid: uid.to_string(),
        };
        let report = self.aws.ensure(&owner, resources).await;
        self.count(report.calls);
        let outcome = CloudOutcome {
            storage: check(STORAGE_READY, &report.storage),
            catalog: check(CATALOG_READY, &report.catalog),
            access: check(ACCESS_READY, &report.access),
            buckets: report.buckets,
            transient: report.transient,
            pending: false,
        };
        self.memo.lock().unwrap_or_else(|p| p.into_inner()).insert(
            product.to_string(),
            Memo {
                plan,
                at: std::time::Instant::now(),
                outcome: outcome.clone(),
            },
        );
        outcome
    }

    /// Removes the product's AWS resources per the template's deletion policy.
    pub async fn cleanup(
        &self,
        product: &str,
        uid: &str,
        resources: &[AwsResource],
    ) -> CleanupOutcome {
        let owner = crate::aws::Owner {
            product: product.to_string(),
            uid: uid.to_string(),
        };
        let report = self.aws.cleanup(&owner, resources).await;
        self.count(report.calls);
        self.memo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(product);
        CleanupOutcome {
            done: report.done,
            retained: report.retained,
            message: report.message,
            transient: report.transient,
        }
    }
}
