//! Leader election against the strict fake API server: each attempt states the lease requests it
//! sends, and any other request fails the test.

mod support;

use std::time::Duration;

use dataproduct_operator::operator::leader::{Elector, LeaseConfig};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;

use support::fake_api::{self, Expect, FakeApi};

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/dpo";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases";

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
    let api = FakeApi::strict(fake_api::Behaviour::default());
    api.expect([Expect::get(LEASE), Expect::post(LEASES)]);
    let (client, seen) = (api.client.clone(), api.seen.clone());
    assert!(elector(client, "a").try_acquire().await.unwrap());
    assert_eq!(writes(&seen), vec!["POST"]);
    api.verify();
}

#[tokio::test]
async fn a_fresh_lease_of_another_replica_is_respected() {
    let api = FakeApi::strict(fake_api::Behaviour::default());
    api.expect([Expect::get(LEASE)]);
    let (client, seen, objects) = (api.client.clone(), api.seen.clone(), api.objects.clone());
    objects
        .lock()
        .unwrap()
        .insert(LEASE.into(), lease("b", jiff::Timestamp::now()));
    assert!(!elector(client, "a").try_acquire().await.unwrap());
    assert!(
        writes(&seen).is_empty(),
        "a standby must not write the lease"
    );
    api.verify();
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_counted() {
    let api = FakeApi::strict(fake_api::Behaviour::default());
    api.expect([Expect::get(LEASE), Expect::put(LEASE)]);
    let (client, seen, objects) = (api.client.clone(), api.seen.clone(), api.objects.clone());
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
    drop(seen);
    api.verify();
}
