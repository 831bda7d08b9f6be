//! Every AWS call goes through here: it is counted (read or mutation), named by its IAM action
//! (so an AccessDenied says which action on which resource), and its failure classified once.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::CallCounts;

/// Calls in flight per AWS service, shared by every product.
#[derive(Debug)]
pub struct Limits {
    s3: tokio::sync::Semaphore,
    glue: tokio::sync::Semaphore,
    iam: tokio::sync::Semaphore,
    lakeformation: tokio::sync::Semaphore,
}

impl Limits {
    pub fn new(per_service: usize) -> Limits {
        let n = per_service.max(1);
        Limits {
            s3: tokio::sync::Semaphore::new(n),
            glue: tokio::sync::Semaphore::new(n),
            iam: tokio::sync::Semaphore::new(n),
            lakeformation: tokio::sync::Semaphore::new(n),
        }
    }

    /// The service of an IAM action name (`s3:GetBucketTagging` → S3).
    fn of(&self, action: &str) -> &tokio::sync::Semaphore {
        match action.split(':').next() {
            Some("glue") => &self.glue,
            Some("iam") => &self.iam,
            Some("lakeformation") => &self.lakeformation,
            _ => &self.s3,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(16)
    }
}

/// Counters for one `ensure` or `cleanup`: clients are shared between products, counters are
/// not; the concurrency limits are shared.
#[derive(Debug, Default)]
pub struct Calls {
    reads: AtomicU32,
    mutations: AtomicU32,
    limits: std::sync::Arc<Limits>,
}

impl Calls {
    pub fn new(limits: std::sync::Arc<Limits>) -> Calls {
        Calls {
            limits,
            ..Calls::default()
        }
    }

    pub fn counts(&self) -> CallCounts {
        CallCounts {
            reads: self.reads.load(Ordering::Relaxed),
            mutations: self.mutations.load(Ordering::Relaxed),
        }
    }

    /// A call that never changes anything.
    pub async fn read<T, E, F>(
        &self,
        action: &'static str,
        resource: &str,
        call: F,
    ) -> Result<T, CallError>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let _permit = self.limits.of(action).acquire().await;
        call.await.map_err(|e| classify(action, resource, e))
    }

    /// A call that changes something.
    pub async fn mutate<T, E, F>(
        &self,
        action: &'static str,
        resource: &str,
        call: F,
    ) -> Result<T, CallError>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.mutations.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(action, resource, "aws mutation");
        let _permit = self.limits.of(action).acquire().await;
        call.await.map_err(|e| classify(action, resource, e))
    }
}

/// What kind of failure a call met, after the SDK's own retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The resource (or its sub-resource, e.g. a bucket's policy) does not exist.
    NotFound,
    /// Create found the name taken.
    AlreadyExists,
    /// The operator's identity may not do this.
    AccessDenied,
    /// Throttling, 5xx, timeouts, connection errors, concurrent modification: try again later.
    Transient,
    /// Anything else: a bad request, a malformed policy, a limit.
    Other,
}

/// A failed AWS call, after retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action} on {resource} failed: {code}: {message}")]
pub struct CallError {
    pub fault: Fault,
    pub action: &'static str,
    pub resource: String,
    /// The AWS error code (`NoSuchBucket`, `AccessDenied`, …) or a short description.
    pub code: String,
    pub message: String,
}

impl CallError {
    pub fn is(&self, fault: Fault) -> bool {
        self.fault == fault
    }

    /// True for the given AWS error codes.
    pub fn code_in(&self, codes: &[&str]) -> bool {
        codes.contains(&self.code.as_str())
    }

    /// A request the SDK refused to build (a required field missing): a bug, reported as such.
    pub fn build(action: &'static str, resource: &str, e: impl std::fmt::Display) -> CallError {
        CallError {
            fault: Fault::Other,
            action,
            resource: resource.to_string(),
            code: "InvalidRequest".to_string(),
            message: e.to_string(),
        }
    }
}

const NOT_FOUND: &[&str] = &[
    "NoSuchBucket",
    "NoSuchTagSet",
    "NoSuchTagSetError",
    "NoSuchBucketPolicy",
    "NoSuchLifecycleConfiguration",
    "NoSuchPublicAccessBlockConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchKey",
    "NotFound",
    "NoSuchEntity",
    "EntityNotFoundException",
];

const ALREADY_EXISTS: &[&str] = &[
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "EntityAlreadyExists",
    "AlreadyExistsException",
];

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "Forbidden",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidClientTokenId",
];

const TRANSIENT: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "InternalError",
    "InternalFailure",
    "InternalServiceException",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ConcurrentModification",
    "ConcurrentModificationException",
    "OperationAborted",
    "OperationTimeoutException",
    "RequestTimeout",
    "RequestTimeoutException",
];

fn classify<E>(action: &'static str, resource: &str, err: SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let resource = resource.to_string();
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let e = ctx.err();
            let code = e
                .code()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}"));
            let message = e.message().unwrap_or_default().to_string();
            let c = code.as_str();
            let fault = if NOT_FOUND.contains(&c) {
                Fault::NotFound
            } else if ALREADY_EXISTS.contains(&c) {
                Fault::AlreadyExists
            } else if ACCESS_DENIED.contains(&c) || (status == 403 && e.code().is_none()) {
                Fault::AccessDenied
            } else if TRANSIENT.contains(&c) || status >= 500 || status == 429 {
                Fault::Transient
            } else if status == 404 && e.code().is_none() {
                Fault::NotFound
            } else {
                Fault::Other
            };
            CallError {
                fault,
                action,
                resource,
                code,
                message,
            }
        }
        SdkError::TimeoutError(_) => CallError {
            fault: Fault::Transient,
            action,
            resource,
            code: "Timeout".to_string(),
            message: "the request timed out".to_string(),
        },
        SdkError::DispatchFailure(e) => CallError {
            fault: Fault::Transient,
            action,
            resource,
            code: "DispatchFailure".to_string(),
            message: format!("{:?}", e.as_connector_error()),
        },
        SdkError::ResponseError(e) => CallError {
            fault: Fault::Transient,
            action,
            resource,
            code: "ResponseError".to_string(),
            message: format!("HTTP {}: unreadable response", e.raw().status().as_u16()),
        },
        other => CallError {
            fault: Fault::Other,
            action,
            resource,
            code: "ClientError".to_string(),
            message: std::error::Error::source(&other)
                .map(|s| s.to_string())
                .unwrap_or_else(|| other.to_string()),
        },
    }
}

/// What lies under a step's `Transient` or `Failed` error: the failed call itself, or what the
/// step found wrong between calls.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("{0}")]
    Found(String),
}

impl From<String> for Cause {
    fn from(s: String) -> Cause {
        Cause::Found(s)
    }
}

/// How a step failed, common to every step's error enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Conflict,
    AccessDenied,
    Failed,
}

impl Problem {
    pub fn reason(&self) -> &'static str {
        match self {
            Problem::Conflict => "Conflict",
            Problem::AccessDenied => "AccessDenied",
            Problem::Failed => "Failed",
        }
    }
}

/// What every step's error enum says about itself, so the report can be built the same way.
pub trait StepError: std::fmt::Display {
    fn problem(&self) -> Problem;
    fn transient(&self) -> bool;
}

/// Defines a step's error enum with the same four variants and the conversions.
macro_rules! step_error {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, thiserror::Error)]
        pub enum $name {
            /// The name is held by something this product does not own; it was left untouched.
            #[error("{resource} already exists and is not owned by this product ({detail}); left untouched")]
            Conflict { resource: String, detail: String },
            /// The operator's identity may not call `action` on `resource`.
            #[error("access denied: the operator may not call {action} on {resource}: {message}")]
            AccessDenied { action: String, resource: String, message: String },
            /// Throttling, 5xx, timeouts: retried with backoff.
            #[error("{0} (will retry)")]
            Transient(#[source] $crate::aws::call::Cause),
            /// Anything else.
            #[error("{0}")]
            Failed(#[source] $crate::aws::call::Cause),
        }

        impl From<$crate::aws::call::CallError> for $name {
            fn from(e: $crate::aws::call::CallError) -> Self {
                use $crate::aws::call::Fault;
                match e.fault {
                    Fault::AccessDenied => $name::AccessDenied {
                        action: e.action.to_string(),
                        resource: e.resource.clone(),
                        message: if e.message.is_empty() { e.code.clone() } else { e.message.clone() },
                    },
                    // A sub-resource that vanished between two calls, or a name taken by a
                    // concurrent create: the next attempt sees the new state.
                    Fault::Transient | Fault::NotFound | Fault::AlreadyExists => $name::Transient(e.into()),
                    Fault::Other => $name::Failed(e.into()),
                }
            }
        }

        impl $crate::aws::call::StepError for $name {
            fn problem(&self) -> $crate::aws::call::Problem {
                use $crate::aws::call::Problem;
                match self {
                    $name::Conflict { .. } => Problem::Conflict,
                    $name::AccessDenied { .. } => Problem::AccessDenied,
                    $name::Transient(_) | $name::Failed(_) => Problem::Failed,
                }
            }
            fn transient(&self) -> bool {
                matches!(self, $name::Transient(_))
            }
        }
    };
}
pub(crate) use step_error;
