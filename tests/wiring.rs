//! The operator's real wiring (`operator::run::start`, what `dpctl run` calls) against the fake
//! API server over HTTP, which answers lists and watches as a real one does: every controller
//! and watch `dpctl run` starts must actually run, readiness must turn true, access requests
//! must get their phase, and one unreadable object must not stop anything. The same scenarios
//! run against a real cluster in tests/e2e.rs.

mod support;

use std::time::Duration;

use support::apiserver::FakeApiServer;
use support::scenarios::{self, Cluster};

async fn cluster(server: &FakeApiServer) -> Cluster {
    let dir = std::env::temp_dir().join(format!("dpo-wiring-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kubeconfig");
    server.write_kubeconfig(&path);
    let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .unwrap();
    Cluster {
        client: kube::Client::try_from(config.clone()).unwrap(),
        config,
        real: false,
        aws: false,
        timeout: Duration::from_secs(20),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_true_and_access_requests_get_their_phase() {
    let server = FakeApiServer::start().await;
    let cluster = cluster(&server).await;
    scenarios::readiness_and_access_flow(&cluster, "w1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unreadable_product_stops_nothing() {
    let server = FakeApiServer::start().await;
    let cluster = cluster(&server).await;
    scenarios::unreadable_product(&cluster, "w2", async |bad| server.insert(bad)).await;
}
