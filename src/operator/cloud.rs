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
    pub resync: std::time::Duration,
}

/// The AWS step as the reconcile sees it.
pub struct Cloud {
    _inner: (),
}

impl Cloud {
    pub async fn new(
        _config: CloudConfig,
        _metrics: std::sync::Arc<super::telemetry::Metrics>,
    ) -> Result<Cloud, String> {
        Err("the AWS step is not built into this version".to_string())
    }

    pub async fn ensure(
        &self,
        _product: &str,
        _uid: &str,
        _resources: &[AwsResource],
    ) -> CloudOutcome {
        CloudOutcome::not_configured()
    }

    pub async fn cleanup(
        &self,
        _product: &str,
        _uid: &str,
        _resources: &[AwsResource],
    ) -> CleanupOutcome {
        CleanupOutcome {
            done: true,
            retained: Vec::new(),
            message: String::new(),
            transient: false,
        }
    }
}
