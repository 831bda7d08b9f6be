//! OpenLineage events from the operator's real wiring (`operator::run::start`, what `dpctl run`
//! calls) against the fake API server: Jobs of a product's CronJob become START, then COMPLETE
//! or FAIL, delivered to a local HTTP collector that refuses the first attempts (so delivery is
//! retried and counted), with the bearer token. The events are then rebuilt with the
//! openlineage-python client's strict classes (tests/openlineage/check.py) and must serialise
//! to the same JSON.

mod support;

use std::time::Duration;

use dataproduct_operator::api::{DataProduct, DataProductTemplate, Input};
use dataproduct_operator::operator::lineage::LineageConfig;
use k8s_openapi::api::batch::v1::CronJob;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{json, Value};
use support::apiserver::FakeApiServer;
use support::collector::{collector, Seen};
use support::scenarios::{self, eventually, Cluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn job(ns: &str, name: &str, uid: &str, labels: &Value, status: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": name, "namespace": ns, "uid": uid, "labels": labels,
            "annotations": {"batch.kubernetes.io/cronjob-scheduled-timestamp": "2026-12-01T03:00:00Z"},
        },
        "spec": {"template": {"spec": {"containers": [{"name": "pipeline", "image": "x"}], "restartPolicy": "Never"}}},
        "status": status,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_runs_become_run_events_delivered_at_least_once() {
    let server = FakeApiServer::start().await;
    let (cluster, _) = Cluster::fake(&server, Duration::from_secs(20)).await;
    let (template, mut consumer) = scenarios::fixtures("l1");
    let ns = consumer.metadata.namespace.clone().unwrap();
    // A producer in the same domain whose output the consumer's pipeline reads.
    let mut producer = consumer.clone();
    producer.metadata.name = Some("source".into());
    producer.spec.inputs.clear();
    producer.spec.pipelines.clear();
    producer.spec.outputs[0].name = "events".into();
    consumer.spec.inputs = vec![Input {
        product: Some(format!("{ns}/source")),
        output: Some("events".into()),
        external: None,
    }];
    consumer.spec.pipelines[0].reads = vec!["events".into()];

    scenarios::install_crds(&cluster).await;
    scenarios::domain_namespace(&cluster.client, &ns, &consumer.spec.domain).await;
    Api::<DataProductTemplate>::all(cluster.client.clone())
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let products: Api<DataProduct> = Api::namespaced(cluster.client.clone(), &ns);
    for p in [&producer, &consumer] {
        products.create(&PostParams::default(), p).await.unwrap();
    }

    let (url, seen, refused) = collector(2).await;
    let operator = scenarios::Operator::start_with_lineage(
        &cluster,
        vec![ns.clone()],
        LineageConfig {
            url: url.parse().unwrap(),
            token: Some("s3cret".into()),
        },
    )
    .await;

    // The Jobs the CronJob controller would create carry the CronJob's job template labels.
    let cronjobs: Api<CronJob> = Api::all(cluster.client.clone());
    let list = ListParams::default().labels("dataproducts.io/product=conversations");
    eventually(cluster.timeout, "the consumer's CronJob is applied", || {
        let (cronjobs, list) = (cronjobs.clone(), list.clone());
        async move { !cronjobs.list(&list).await.unwrap().items.is_empty() }
    })
    .await;
    let cron = cronjobs.list(&list).await.unwrap().items.remove(0);
    let job_ns = cron.metadata.namespace.clone().unwrap();
    let labels = serde_json::to_value(
        cron.spec
            .unwrap()
            .job_template
            .metadata
            .unwrap()
            .labels
            .unwrap(),
    )
    .unwrap();

    let ok = "0a1b2c3d-0000-4000-8000-000000000001";
    let failed = "0a1b2c3d-0000-4000-8000-000000000002";
    server
        .insert(job(
            &job_ns,
            "run-1",
            ok,
            &labels,
            json!({"startTime": "2026-12-01T03:00:04Z", "active": 1}),
        ))
        .unwrap();
    let events = |seen: &Seen| -> Vec<Value> {
        seen.lock()
            .unwrap()
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    };
    eventually(
        cluster.timeout,
        "START of the running Job, after two refusals",
        || {
            let n = events(&seen).len();
            async move { n == 1 }
        },
    )
    .await;
    server
        .insert(job(&job_ns, "run-1", ok, &labels, json!({
            "startTime": "2026-12-01T03:00:04Z", "completionTime": "2026-12-01T03:09:00Z", "succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-12-01T03:09:00Z"}],
        })))
        .unwrap();
    // First seen already finished: START and FAIL at once.
    server
        .insert(job(&job_ns, "run-2", failed, &labels, json!({
            "startTime": "2026-12-02T03:00:02Z", "failed": 1,
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "lastTransitionTime": "2026-12-02T03:04:00Z"}],
        })))
        .unwrap();
    eventually(cluster.timeout, "COMPLETE, then START and FAIL", || {
        let n = events(&seen).len();
        async move { n == 4 }
    })
    .await;
    // Nothing more: a Job seen again sends nothing new.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = events(&seen);
    assert_eq!(all.len(), 4, "{all:#?}");
    assert_eq!(*refused.lock().unwrap(), 2);
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .all(|(auth, _)| auth == "Bearer s3cret"));

    let kinds: Vec<(&str, &str)> = all
        .iter()
        .map(|e| {
            (
                e["run"]["runId"].as_str().unwrap(),
                e["eventType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ok, "START"),
            (ok, "COMPLETE"),
            (failed, "START"),
            (failed, "FAIL")
        ]
    );
    assert_eq!(all[1]["eventTime"], "2026-12-01T03:09:00Z");
    assert_eq!(all[3]["eventTime"], "2026-12-02T03:04:00Z");
    let domain = &consumer.spec.domain;
    for e in &all {
        assert_eq!(e["job"]["namespace"], ns.as_str());
        assert_eq!(e["job"]["name"], "conversations.build-conversations");
        assert_eq!(
            e["inputs"][0]["name"],
            format!("table/acme_{domain}_source/events")
        );
        assert_eq!(
            e["outputs"][0]["name"],
            format!("table/acme_{domain}_conversations/conversations")
        );
        assert_eq!(
            e["run"]["facets"]["nominalTime"]["nominalStartTime"],
            "2026-12-01T03:00:00Z"
        );
    }

    // The failed attempts are counted.
    let metrics = http_get(operator.health, "/metrics").await;
    assert!(
        metrics.contains("dataproduct_openlineage_events_total{outcome=\"failed\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dataproduct_openlineage_events_total{outcome=\"delivered\"} 4"),
        "{metrics}"
    );
    operator.stop().await;
    check_with_openlineage_python(&all);
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: operator\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text).await;
    text
}

/// The standard's own client must rebuild every event from its JSON and serialise it the same.
/// Skips when openlineage-python is not installed, unless DPO_REQUIRE_STANDARDS=1 (.ci/run).
fn check_with_openlineage_python(events: &[Value]) {
    let required = std::env::var("DPO_REQUIRE_STANDARDS").as_deref() == Ok("1");
    let importable = std::process::Command::new("python3")
        .args(["-c", "import openlineage.client.event_v2"])
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        assert!(
            !required,
            "DPO_REQUIRE_STANDARDS=1 but python3 cannot import openlineage.client: python3 -m pip install openlineage-python"
        );
        eprintln!("skipped: openlineage-python is not installed");
        return;
    }
    let file = std::env::temp_dir().join(format!("dpo-openlineage-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec(events).unwrap()).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openlineage/check.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "openlineage-python disagrees:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
