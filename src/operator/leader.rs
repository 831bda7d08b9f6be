//! Leader election on a coordination.k8s.io Lease, so two replicas never reconcile at once.
//! A replica that cannot renew its lease within the lease duration stops reconciling.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use kube::core::ObjectMeta;
use kube::Client;
use tracing::{info, warn};

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
    /// A leader that has not renewed for this long stops, before the lease can expire for
    /// others (client-go's renew deadline).
    pub renew_deadline: Duration,
    pub renew_every: Duration,
}

/// Holds or competes for the lease.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease {0}: {1}")]
    Api(String, #[source] kube::Error),
}

impl Elector {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Elector {
            api: Api::namespaced(client, &config.namespace),
            config,
        }
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire().await {
                Ok(true) => {
                    info!(lease = %self.config.name, identity = %self.config.identity, "acquired leadership");
                    return;
                }
                Ok(false) => {}
                Err(e) => warn!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(self.config.renew_every).await;
        }
    }

    /// Renews the lease until renewal has failed for the renew deadline (shorter than the lease),
    /// then returns; the caller must stop reconciling at once. Each attempt is bounded by a
    /// timeout so a hung request cannot stretch the deadline.
    pub async fn hold(&self) {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.config.renew_every).await;
            let attempt = tokio::time::timeout(self.config.renew_every, self.try_acquire()).await;
            match attempt {
                Ok(Ok(true)) => last_ok = tokio::time::Instant::now(),
                Ok(Ok(false)) => {
                    warn!("another replica took the lease");
                    return;
                }
                Ok(Err(e)) => warn!(error = %e, "lease renewal failed"),
                Err(_) => warn!("lease renewal timed out"),
            }
            if last_ok.elapsed() >= self.config.renew_deadline {
                return;
            }
        }
    }

    /// One attempt: create the lease, renew ours, or take over an expired one. The
    /// resourceVersion in the replace makes concurrent attempts safe. Public for the
    /// leader-election tests (tests/leader.rs); callers use [`acquire`](Self::acquire) and
    /// [`hold`](Self::hold).
    #[doc(hidden)]
    pub async fn try_acquire(&self) -> Result<bool, LeaseError> {
        let err = |e| LeaseError::Api(self.config.name.clone(), e);
        let now = jiff::Timestamp::now();
        let secs = i32::try_from(self.config.duration.as_secs()).unwrap_or(i32::MAX);
        match self.api.get_opt(&self.config.name).await.map_err(err)? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.config.identity.clone()),
                        lease_duration_seconds: Some(secs),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                    Err(e) => Err(err(e)),
                }
            }
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                let ours = spec.holder_identity.as_deref() == Some(self.config.identity.as_str());
                let expired = spec.renew_time.as_ref().is_none_or(|t| {
                    let d = spec.lease_duration_seconds.unwrap_or(secs);
                    t.0.checked_add(jiff::SignedDuration::from_secs(i64::from(d)))
                        .is_ok_and(|end| end < now)
                });
                if !ours && !expired {
                    return Ok(false);
                }
                if !ours {
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                    spec.acquire_time = Some(MicroTime(now));
                    spec.holder_identity = Some(self.config.identity.clone());
                }
                spec.renew_time = Some(MicroTime(now));
                spec.lease_duration_seconds = Some(secs);
                match self
                    .api
                    .replace(&self.config.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                    Err(e) => Err(err(e)),
                }
            }
        }
    }
}
