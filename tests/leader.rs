//! Leader election against the fake API server over HTTP (real reads, replaces with
//! resourceVersion conflicts, creates with AlreadyExists): expiry is measured on the local
//! clock whatever the Lease's timestamps say, a release never clobbers another holder, and two
//! operators started as `dpctl run` starts them (`operator::run::start`) hand over in under 2 s
//! when the leader is stopped (as SIGTERM stops it).

mod support;

use std::time::{Duration, Instant};

use dataproduct_operator::api::{DataProduct, DataProductTemplate, Phase};
use dataproduct_operator::operator::context::Settings;
use dataproduct_operator::operator::leader::{Elector, LeaseConfig};
use dataproduct_operator::operator::run::{start, RunConfig, RunError};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use serde_json::{json, Value};
use support::apiserver::FakeApiServer;
use support::scenarios::{self, Cluster};

const NS: &str = "ops";
const LEASE: &str = "dpo";

fn kube_config(server: &FakeApiServer) -> kube::Config {
    let mut config = kube::Config::new(server.url().parse().unwrap());
    config.default_namespace = "default".into();
    config
}

fn client(server: &FakeApiServer) -> kube::Client {
    kube::Client::try_from(kube_config(server)).unwrap()
}

/// A one-second lease, renewed every 200 ms, read by standbys every 100 ms.
fn quick(identity: &str) -> LeaseConfig {
    LeaseConfig {
        duration: Duration::from_secs(1),
        renew_deadline: Duration::from_millis(800),
        renew_every: Duration::from_millis(200),
        poll_every: Duration::from_millis(100),
        ..LeaseConfig::new(NS, LEASE, identity)
    }
}

fn micro(t: jiff::Timestamp) -> Value {
    serde_json::to_value(MicroTime(t)).unwrap()
}

/// Another replica's lease, as its (skewed) clock dates it.
fn foreign_lease(server: &FakeApiServer, holder: &str, renewed: jiff::Timestamp) {
    server
        .insert(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": LEASE, "namespace": NS},
            "spec": {
                "holderIdentity": holder, "leaseDurationSeconds": 1,
                "acquireTime": micro(renewed), "renewTime": micro(renewed), "leaseTransitions": 4,
            },
        }))
        .unwrap();
}

fn lease(server: &FakeApiServer) -> Value {
    server.get("leases", Some(NS), LEASE).expect("the lease")
}

fn holder(lease: &Value) -> &str {
    lease["spec"]["holderIdentity"].as_str().unwrap_or("")
}

/// Lease writes the API server received.
fn lease_writes(server: &FakeApiServer) -> Vec<(String, Value)> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.path.contains("/leases"))
        .map(|r| (r.method, r.body))
        .collect()
}

/// Skew: the holder's clock is an hour behind, so its renewTime is always an hour old; it keeps
/// renewing, so the lease is never taken (comparing renewTime with the local clock would take
/// it at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_renewed_with_timestamps_an_hour_old_is_not_taken() {
    let server = FakeApiServer::start().await;
    let behind = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    foreign_lease(&server, "b", behind);
    let renewer = {
        let state = server.state().clone();
        tokio::spawn(async move {
            for i in 1.. {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let renewed = behind + jiff::SignedDuration::from_millis(300 * i);
                state.update("leases", Some(NS), LEASE, |l| {
                    l["spec"]["renewTime"] = micro(renewed)
                });
            }
        })
    };
    let elector = Elector::new(client(&server), quick("a"));
    // Three lease durations, renewed all along.
    let taken = tokio::time::timeout(Duration::from_secs(3), elector.acquire()).await;
    renewer.abort();
    assert!(taken.is_err(), "a lease that is being renewed was taken");
    assert_eq!(holder(&lease(&server)), "b");
    assert!(
        lease_writes(&server).is_empty(),
        "a standby must not write a held lease: {:?}",
        lease_writes(&server)
    );
}

/// Skew the other way: the holder's clock is an hour ahead, then it stops renewing. The lease
/// is taken once its duration has passed on the local clock since it was first seen (waiting
/// for its renewTime plus the duration would take an hour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_dated_an_hour_ahead_is_taken_once_it_stops_changing() {
    let server = FakeApiServer::start().await;
    let ahead = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    foreign_lease(&server, "b", ahead);
    let elector = Elector::new(client(&server), quick("a"));
    let t0 = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), elector.acquire())
        .await
        .expect("the frozen lease is taken");
    let waited = t0.elapsed();
    eprintln!("frozen lease taken after {waited:?}");
    assert!(
        waited >= Duration::from_millis(950),
        "taken before its duration passed: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(1800),
        "not taken within duration + poll: {waited:?}"
    );
    let lease = lease(&server);
    assert_eq!(holder(&lease), "a");
    assert_eq!(lease["spec"]["leaseTransitions"], 5);
}

/// Taking over writes with the resourceVersion read: when two standbys race for an expired
/// lease, exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_standbys_racing_for_a_released_lease_elect_one() {
    let server = FakeApiServer::start().await;
    foreign_lease(&server, "", jiff::Timestamp::now());
    let (a, b) = (
        Elector::new(client(&server), quick("a")),
        Elector::new(client(&server), quick("b")),
    );
    let winner = tokio::time::timeout(Duration::from_secs(2), async {
        tokio::select! {
            _ = a.acquire() => "a",
            _ = b.acquire() => "b",
        }
    })
    .await
    .expect("someone is elected");
    // The loser keeps waiting for a lease that is now renewed by nobody: it must still see
    // the winner's write as a change and wait.
    assert_eq!(holder(&lease(&server)), winner);
    let loser = if winner == "a" { &b } else { &a };
    let took = tokio::time::timeout(Duration::from_millis(500), loser.acquire()).await;
    assert!(took.is_err(), "the loser took a freshly written lease");
    assert_eq!(holder(&lease(&server)), winner);
}

/// A release after another replica took the lease does nothing: the replace carries the
/// resourceVersion this replica wrote, conflicts, and the lease, read again, is not ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_never_clobbers_a_lease_taken_meanwhile() {
    let server = FakeApiServer::start().await;
    let a = Elector::new(client(&server), quick("a"));
    tokio::time::timeout(Duration::from_secs(2), a.acquire())
        .await
        .expect("a missing lease is created");
    let ours = lease(&server)["metadata"]["resourceVersion"].clone();
    assert_eq!(holder(&lease(&server)), "a");
    let taken = server
        .update("leases", Some(NS), LEASE, |l| {
            l["spec"]["holderIdentity"] = json!("b");
            l["spec"]["renewTime"] = micro(jiff::Timestamp::now());
        })
        .unwrap();
    server.clear_requests();
    assert!(!a.release().await.unwrap(), "released someone else's lease");
    let after = lease(&server);
    assert_eq!(holder(&after), "b");
    assert_eq!(
        after["metadata"]["resourceVersion"], taken["metadata"]["resourceVersion"],
        "the lease was written"
    );
    let writes = lease_writes(&server);
    assert_eq!(writes.len(), 1, "one replace, refused: {writes:?}");
    assert_eq!(
        writes[0].1["metadata"]["resourceVersion"], ours,
        "the replace carried the version this replica wrote"
    );
}

/// A release whose replace conflicts only because something else touched the lease (a label)
/// reads it again and, still ours, releases it; with nothing to release (never held), nothing
/// is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_rereads_after_a_conflict_and_a_standby_releases_nothing() {
    let server = FakeApiServer::start().await;
    let a = Elector::new(client(&server), quick("a"));
    tokio::time::timeout(Duration::from_secs(2), a.acquire())
        .await
        .expect("a missing lease is created");
    server
        .update("leases", Some(NS), LEASE, |l| {
            l["metadata"]["labels"] = json!({"touched": "yes"})
        })
        .unwrap();
    assert!(a.release().await.unwrap(), "our lease is released");
    let released = lease(&server);
    assert_eq!(holder(&released), "");
    assert_eq!(released["spec"]["leaseDurationSeconds"], 1);
    assert_eq!(released["metadata"]["labels"]["touched"], "yes");

    let b = Elector::new(client(&server), quick("b"));
    server.clear_requests();
    assert!(!b.release().await.unwrap());
    assert!(lease_writes(&server).is_empty());
}

/// An operator started as `dpctl run` starts it, with leader election on and a stop of its
/// own.
struct Replica {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<(), RunError>>,
}

fn replica(cluster: &Cluster, namespace: &str, lease: LeaseConfig) -> Replica {
    let listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let config = RunConfig {
        settings: Settings {
            resync: Duration::from_secs(30),
            aws_resync: Duration::from_secs(60),
            namespaces: vec![namespace.into()],
            ..Settings::default()
        },
        concurrency: 4,
        listen,
        leader_election: Some(lease),
        aws: None,
        openlineage: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(start(cluster.config.clone(), config, async {
        let _ = stopped.await;
    }));
    Replica { stop, handle }
}

/// Two replicas with the production lease settings (15 s duration, 2 s renewal, 500 ms standby
/// polling): the leader reconciles; stopped, it releases the lease after its controllers have
/// stopped, and the standby holds the lease in under 2 s (far below the 15 s an expiry would
/// take) and reconciles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_in_under_two_seconds_after_the_leader_stops() {
    let server = FakeApiServer::start().await;
    let config = kube_config(&server);
    let cluster = Cluster {
        client: kube::Client::try_from(config.clone()).unwrap(),
        config,
        real: false,
        aws: false,
        aws_endpoint: None,
        timeout: Duration::from_secs(20),
    };
    let t = cluster.timeout;
    let (template, product) = scenarios::fixtures("l1");
    let ns = product.metadata.namespace.clone().unwrap();
    scenarios::install_crds(&cluster).await;
    scenarios::domain_namespace(&cluster.client, &ns, &product.spec.domain).await;
    Api::<DataProductTemplate>::all(cluster.client.clone())
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let products: Api<DataProduct> = Api::namespaced(cluster.client.clone(), &ns);
    let lease_of = |who: &str| LeaseConfig::new(NS, LEASE, who);

    let leader = replica(&cluster, &ns, lease_of("replica-a"));
    scenarios::eventually(t, "replica-a holds the lease", || async {
        server
            .get("leases", Some(NS), LEASE)
            .is_some_and(|l| holder(&l) == "replica-a")
    })
    .await;
    products
        .create(&PostParams::default(), &product)
        .await
        .unwrap();
    scenarios::eventually(t, "the leader reconciles", || async {
        scenarios::phase(&products, "conversations").await == Some((Phase::Ready, true))
    })
    .await;

    let standby = replica(&cluster, &ns, lease_of("replica-b"));
    // The standby reads the lease (and would renew nothing) while the leader keeps it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        holder(&lease(&server)),
        "replica-a",
        "the standby took a held lease"
    );
    assert!(!standby.handle.is_finished());
    server.clear_requests();

    // The stop `dpctl run` gets from SIGTERM.
    let t0 = Instant::now();
    let _ = leader.stop.send(());
    let mut stopped_after = None;
    let mut leader_handle = leader.handle;
    let handover = loop {
        if stopped_after.is_none() && leader_handle.is_finished() {
            stopped_after = Some(t0.elapsed());
        }
        if server
            .get("leases", Some(NS), LEASE)
            .is_some_and(|l| holder(&l) == "replica-b")
        {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no handover within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let result = tokio::time::timeout(Duration::from_secs(5), &mut leader_handle)
        .await
        .expect("the leader stops");
    assert!(
        matches!(result, Ok(Ok(()))),
        "the leader stopped cleanly: {result:?}"
    );
    eprintln!(
        "handover: the standby held the lease {handover:?} after the stop (the leader had returned after {stopped_after:?})"
    );
    assert!(
        handover < Duration::from_secs(2),
        "handover took {handover:?}"
    );

    // The leader released the lease (empty holder) before the standby took it, with a replace
    // on the version it had written; the standby's takeover counts as a transition.
    let writes = lease_writes(&server);
    let released = writes
        .iter()
        .position(|(m, b)| m == "PUT" && b["spec"]["holderIdentity"].is_null())
        .unwrap_or_else(|| panic!("no release among {writes:#?}"));
    let taken = writes
        .iter()
        .position(|(m, b)| m == "PUT" && b["spec"]["holderIdentity"] == "replica-b")
        .unwrap_or_else(|| panic!("no takeover among {writes:#?}"));
    assert!(released < taken, "{writes:#?}");
    assert!(writes[released].1["metadata"]["resourceVersion"].is_string());
    let now = lease(&server);
    assert_eq!(now["spec"]["leaseTransitions"], 1);

    // The new leader reconciles.
    let mut second = product.clone();
    second.metadata.name = Some("conversations-2".into());
    second.metadata.resource_version = None;
    products
        .create(&PostParams::default(), &second)
        .await
        .unwrap();
    scenarios::eventually(t, "the new leader reconciles", || async {
        scenarios::phase(&products, "conversations-2").await == Some((Phase::Ready, true))
    })
    .await;

    let t1 = Instant::now();
    let _ = standby.stop.send(());
    let stopped = tokio::time::timeout(Duration::from_secs(5), standby.handle).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
    assert!(t1.elapsed() < Duration::from_secs(3));
    assert_eq!(holder(&lease(&server)), "", "the last leader released too");
}
