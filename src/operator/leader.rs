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
    /// resourceVersion in the replace makes concurrent attempts safe.
    async fn try_acquire(&self) -> Result<bool, LeaseError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::fake_api;

    const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/dpo";

    fn elector(client: Client, identity: &str) -> Elector {
        Elector::new(
            client,
            LeaseConfig {
                namespace: "ops".into(),
                name: "dpo".into(),
                identity: identity.into(),
                duration: Duration::from_secs(15),
                renew_deadline: Duration::from_secs(10),
                renew_every: Duration::from_secs(2),
            },
        )
    }

    fn lease(holder: &str, renewed: jiff::Timestamp) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "dpo", "namespace": "ops", "resourceVersion": "7"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": MicroTime(renewed), "leaseTransitions": 0}
        })
    }

    fn writes(seen: &std::sync::Mutex<Vec<fake_api::Seen>>) -> Vec<String> {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|s| s.method != "GET")
            .map(|s| s.method.clone())
            .collect()
    }

    #[tokio::test]
    async fn a_missing_lease_is_created_and_held() {
        let (client, seen, _) = fake_api::start(fake_api::Behaviour::default());
        assert!(elector(client, "a").try_acquire().await.unwrap());
        assert_eq!(writes(&seen), vec!["POST"]);
    }

    #[tokio::test]
    async fn a_fresh_lease_of_another_replica_is_respected() {
        let (client, seen, objects) = fake_api::start(fake_api::Behaviour::default());
        objects
            .lock()
            .unwrap()
            .insert(LEASE.into(), lease("b", jiff::Timestamp::now()));
        assert!(!elector(client, "a").try_acquire().await.unwrap());
        assert!(
            writes(&seen).is_empty(),
            "a standby must not write the lease"
        );
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_and_counted() {
        let (client, seen, objects) = fake_api::start(fake_api::Behaviour::default());
        let long_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
        objects
            .lock()
            .unwrap()
            .insert(LEASE.into(), lease("b", long_ago));
        assert!(elector(client, "a").try_acquire().await.unwrap());
        let seen = seen.lock().unwrap();
        let put = seen
            .iter()
            .find(|s| s.method == "PUT")
            .expect("the lease is replaced");
        assert_eq!(put.body["spec"]["holderIdentity"], "a");
        assert_eq!(put.body["spec"]["leaseTransitions"], 1);
        assert_eq!(
            put.body["metadata"]["resourceVersion"], "7",
            "optimistic concurrency on the read version"
        );
    }
}
