//! The bridge between the reconcile and the AWS step: turns AWS reports into conditions and
//! decides when cloud state must be observed again.

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
        }
    }
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

fn check(type_: &'static str, c: &crate::aws::Concern) -> Check {
    Check::new(type_, Some(c.ready), &c.reason, c.message.clone())
}

impl Cloud {
    pub async fn new(
        config: CloudConfig,
        metrics: std::sync::Arc<super::telemetry::Metrics>,
    ) -> Result<Cloud, String> {
        let settings = crate::aws::AwsSettings {
            region_override: config.region_override.clone(),
            ..crate::aws::AwsSettings::default()
        };
        let aws = crate::aws::Aws::new(settings)
            .await
            .map_err(|e| e.to_string())?;
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

    /// Ensures the product's AWS resources, or reuses the last outcome when nothing changed and
    /// the resync interval has not passed.
    pub async fn ensure(
        &self,
        product: &str,
        uid: &str,
        resources: &[AwsResource],
    ) -> CloudOutcome {
        let plan = super::apply::hash(&serde_json::json!({"uid": uid, "resources": resources}));
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
