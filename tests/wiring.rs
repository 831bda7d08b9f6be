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
    Cluster::fake(server, Duration::from_secs(20)).await.0
}

/// The fake API server with moto as the AWS side, and time for the AWS step.
async fn cluster_with_aws(server: &FakeApiServer, moto: &support::moto::Moto) -> Cluster {
    let mut cluster = cluster(server).await;
    cluster.aws = true;
    cluster.aws_endpoint = Some(moto.endpoint.clone());
    cluster.timeout = Duration::from_secs(90);
    cluster
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
    scenarios::unreadable_product(&cluster, "w2", async |bad| {
        server.insert(bad).expect("stored as is");
    })
    .await;
}

/// After a burst, a quiet cluster gets no writes at all over several resync intervals, counted
/// by the API server itself (finalizers and events included, leases excluded), and no reads
/// either; the child kinds are watched metadata-only on the wire, and the caches those watches
/// fill find a deleted product's objects by their labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_means_no_writes_and_children_are_watched_metadata_only() {
    use dataproduct_operator::api::{DataProduct, DataProductTemplate, Phase};
    use kube::api::{Api, PostParams};

    let server = FakeApiServer::start().await;
    let cluster = cluster(&server).await;
    let (template, pattern) = scenarios::fixtures("w3");
    let ns = pattern.metadata.namespace.clone().unwrap();
    scenarios::install_crds(&cluster).await;
    scenarios::domain_namespace(&cluster.client, &ns, &pattern.spec.domain).await;
    Api::<DataProductTemplate>::all(cluster.client.clone())
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let products: Api<DataProduct> = Api::namespaced(cluster.client.clone(), &ns);
    let names: Vec<String> = (0..20).map(|i| format!("q{i:03}")).collect();
    let resync = Duration::from_secs(2);
    let operator = scenarios::Operator::start_with(&cluster, vec![ns.clone()], resync).await;
    for name in &names {
        let mut p = pattern.clone();
        p.metadata.name = Some(name.clone());
        products.create(&PostParams::default(), &p).await.unwrap();
    }
    for name in &names {
        scenarios::eventually(cluster.timeout, &format!("{name} Ready"), || async {
            scenarios::phase(&products, name).await == Some((Phase::Ready, true))
        })
        .await;
    }
    // Children: metadata-only lists and watches, filtered to what the operator manages.
    for plural in ["configmaps", "cronjobs", "serviceaccounts", "rolebindings"] {
        let calls: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/{plural}")))
            .collect();
        assert!(!calls.is_empty(), "{plural} is listed and watched");
        for r in calls {
            let accept = r.accept.clone().unwrap_or_default();
            assert!(
                accept.contains("as=PartialObjectMetadata"),
                "{plural}: full objects on the wire: {r:?}"
            );
            assert!(
                r.query.contains("managed-by"),
                "{plural}: unfiltered: {r:?}"
            );
        }
    }
    // Settle, then listen for more than two resync intervals.
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.clear_requests();
    tokio::time::sleep(resync * 2 + Duration::from_secs(1)).await;
    let writes: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.contains("/leases"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "writes in a quiet period: {writes:#?}");
    // The resyncs found every child in the caches the watches fill: none was read one by one.
    let reads: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && !r.query.contains("watch") && !r.path.contains("/leases"))
        .map(|r| format!("GET {}?{}", r.path, r.query))
        .collect();
    assert!(reads.is_empty(), "reads in a quiet period: {reads:#?}");

    // A deleted product's cleanup finds its objects by their labels in the child caches, also
    // one that its inventory never listed (here in the domain's namespace, which stays).
    use k8s_openapi::api::core::v1::ConfigMap;
    let configmaps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &ns);
    let stray: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "q000-stray", "labels": {
            "app.kubernetes.io/managed-by": "dataproduct-operator",
            "dataproducts.io/product": "q000",
            "dataproducts.io/product-namespace": ns,
        }},
    }))
    .unwrap();
    configmaps
        .create(&PostParams::default(), &stray)
        .await
        .unwrap();
    let bystander = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("q001-bystander".into()),
            labels: Some(
                [
                    ("app.kubernetes.io/managed-by", "dataproduct-operator"),
                    ("dataproducts.io/product", "q001"),
                    ("dataproducts.io/product-namespace", ns.as_str()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ),
            ..Default::default()
        },
        ..Default::default()
    };
    configmaps
        .create(&PostParams::default(), &bystander)
        .await
        .unwrap();
    // Once the watch has delivered it, the operator reconciles its owner (which keeps it: only
    // cleanup removes what the inventory does not list).
    tokio::time::sleep(Duration::from_secs(1)).await;
    products.delete("q000", &Default::default()).await.unwrap();
    scenarios::eventually(
        cluster.timeout,
        "q000 and its stray object gone",
        || async {
            products.get_opt("q000").await.unwrap().is_none()
                && configmaps.get_opt("q000-stray").await.unwrap().is_none()
        },
    )
    .await;
    assert!(
        configmaps
            .get_opt("q001-bystander")
            .await
            .unwrap()
            .is_some(),
        "another product's object stays"
    );
    operator.stop().await;
}

/// The access flow with the AWS side against moto: the producer's AccessReady and the grant
/// agree, and while the AWS step runs the product already shows its progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_flow_with_grants_in_aws_and_progress_in_status() {
    let Some(moto) = support::moto::Moto::start() else {
        return;
    };
    let server = FakeApiServer::start().await;
    let cluster = cluster_with_aws(&server, &moto).await;
    scenarios::readiness_and_access_flow(&cluster, "w4").await;
    // Every status the producer was given, in order: Provisioning (Kubernetes side applied, AWS
    // conditions Unknown) came before Ready.
    let phases: Vec<(String, String, String)> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/dataproducts/conversations/status"))
        .filter_map(|r| {
            let s = &r.body["status"];
            let cond = |t: &str| {
                s["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == t)
                    .map(|c| {
                        format!(
                            "{}/{}",
                            c["status"].as_str().unwrap_or(""),
                            c["reason"].as_str().unwrap_or("")
                        )
                    })
            };
            Some((
                s["phase"].as_str()?.to_string(),
                cond("NamespaceReady")?,
                cond("StorageReady")?,
            ))
        })
        .collect();
    let first_ready = phases.iter().position(|(p, _, _)| p == "Ready");
    let progress = phases.iter().position(|(p, ns, storage)| {
        p == "Provisioning" && ns == "True/Provisioned" && storage == "Unknown/Provisioning"
    });
    assert!(
        matches!((progress, first_ready), (Some(p), Some(r)) if p < r),
        "progress before Ready: {phases:#?}"
    );
}

/// Observed freshness through the real wiring: once the writer's CronJob reports a successful
/// run, the status shows it per output with the `Fresh` condition, read by listing the
/// product's own CronJobs; later observations that see nothing new write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freshness_is_published_once_and_then_holds_still() {
    use dataproduct_operator::api::{DataProduct, DataProductTemplate, Freshness, Phase};
    use dataproduct_operator::operator::context::Settings;
    use kube::api::{Api, PostParams};

    let server = FakeApiServer::start().await;
    let cluster = cluster(&server).await;
    let (template, product) = scenarios::fixtures("w5");
    let ns = product.metadata.namespace.clone().unwrap();
    let name = product.metadata.name.clone().unwrap();
    scenarios::install_crds(&cluster).await;
    scenarios::domain_namespace(&cluster.client, &ns, &product.spec.domain).await;
    Api::<DataProductTemplate>::all(cluster.client.clone())
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let interval = Duration::from_secs(1);
    let operator = scenarios::Operator::start_settings(
        &cluster,
        Settings {
            namespaces: vec![ns.clone()],
            freshness_interval: interval,
            ..Settings::default()
        },
    )
    .await;
    let products: Api<DataProduct> = Api::namespaced(cluster.client.clone(), &ns);
    products
        .create(&PostParams::default(), &product)
        .await
        .unwrap();
    scenarios::eventually(cluster.timeout, "Ready", || async {
        scenarios::phase(&products, &name).await == Some((Phase::Ready, true))
    })
    .await;
    // The writer ran an hour ago (the SLO is 26h).
    let ran = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second() - 3600).unwrap();
    let crons: Vec<(String, String)> = server
        .list("cronjobs")
        .iter()
        .map(|c| {
            (
                c["metadata"]["namespace"].as_str().unwrap().to_string(),
                c["metadata"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(crons.len(), 1, "{crons:?}");
    for (cns, cname) in &crons {
        server
            .update("cronjobs", Some(cns), cname, |o| {
                o["status"] = serde_json::json!({"lastSuccessfulTime": ran.to_string()});
            })
            .unwrap();
    }
    scenarios::eventually(cluster.timeout, "outputs Fresh", || async {
        let Ok(p) = products.get(&name).await else {
            return false;
        };
        let status = p.status.unwrap_or_default();
        let fresh = status
            .conditions
            .iter()
            .any(|c| c.type_ == "Fresh" && c.status == "True" && c.reason == "Fresh");
        fresh
            && status.outputs.iter().all(|o| {
                o.freshness == Some(Freshness::Fresh)
                    && o.source.as_deref() == Some("CronJob")
                    && o.last_updated.as_deref() == Some(ran.to_string().as_str())
            })
    })
    .await;
    // The CronJobs were read as a list of the product's own, in its namespace.
    let lists: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| {
            r.method == "GET"
                && r.path
                    .ends_with(&format!("/namespaces/{}/cronjobs", crons[0].0))
        })
        .collect();
    assert!(!lists.is_empty());
    assert!(
        lists.iter().all(|r| r.query.contains("labelSelector")),
        "{lists:?}"
    );
    // Nothing new: several observations, and not one write.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.clear_requests();
    tokio::time::sleep(interval * 3 + Duration::from_millis(500)).await;
    let requests = server.requests();
    let observed = requests
        .iter()
        .filter(|r| {
            r.method == "GET" && r.path.ends_with("/cronjobs") && r.query.contains("labelSelector")
        })
        .count();
    assert!(observed >= 2, "observed {observed} times");
    let writes: Vec<String> = requests
        .iter()
        .filter(|r| r.method != "GET" && !r.path.contains("/leases"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "writes without a change: {writes:#?}");
    // A newer run is published, with exactly one status write.
    let again = jiff::Timestamp::from_second(ran.as_second() + 60).unwrap();
    let (cns, cname) = &crons[0];
    server
        .update("cronjobs", Some(cns), cname, |o| {
            o["status"] = serde_json::json!({"lastSuccessfulTime": again.to_string()});
        })
        .unwrap();
    server.clear_requests();
    scenarios::eventually(cluster.timeout, "newer run published", || async {
        let p = products.get(&name).await.unwrap();
        p.status.unwrap_or_default().outputs[0]
            .last_updated
            .as_deref()
            == Some(again.to_string().as_str())
    })
    .await;
    tokio::time::sleep(interval * 2).await;
    let status_writes = server
        .requests()
        .iter()
        .filter(|r| {
            r.method == "PATCH" && r.path.ends_with(&format!("/dataproducts/{name}/status"))
        })
        .count();
    assert_eq!(status_writes, 1);
    operator.stop().await;
}

/// Pipelines wait for their inputs through the real wiring: a consumer's CronJob is suspended
/// when its producer's output turns Stale and resumed when it recovers, with one write each;
/// then a deprecation reaches the consumer product and an approved access request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_producer_holds_its_consumers_pipeline_and_deprecations_reach_consumers() {
    let server = FakeApiServer::start().await;
    let cluster = cluster(&server).await;
    scenarios::inputs_gate_and_deprecations_reach_consumers(&cluster, "w6", Some(server.state()))
        .await;
}

/// Events repeat as a series of one Event, as `kubectl describe` shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_events_form_one_series() {
    let server = FakeApiServer::start().await;
    let cluster = cluster(&server).await;
    scenarios::events_form_series(&cluster, "w7").await;
}

/// A Glue database of the product's name that someone else made: CatalogReady is False, and the
/// status advertises neither that database nor a SQL endpoint into it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_database_is_neither_touched_nor_advertised() {
    use dataproduct_operator::api::{DataProduct, DataProductTemplate};
    use dataproduct_operator::plan::Names;
    use kube::api::{Api, PostParams};

    let Some(moto) = support::moto::Moto::start() else {
        return;
    };
    let server = FakeApiServer::start().await;
    let cluster = cluster_with_aws(&server, &moto).await;
    let (template, product) = scenarios::fixtures("w7");
    let names = Names::derive(&product, &template).unwrap();
    let sdk = support::moto::Sdk::new(&moto.endpoint, &template.spec.storage.region).await;
    sdk.glue
        .create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name(&names.database)
                .description("someone else's")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let ns = product.metadata.namespace.clone().unwrap();
    scenarios::install_crds(&cluster).await;
    scenarios::domain_namespace(&cluster.client, &ns, &product.spec.domain).await;
    Api::<DataProductTemplate>::all(cluster.client.clone())
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let products: Api<DataProduct> = Api::namespaced(cluster.client.clone(), &ns);
    products
        .create(&PostParams::default(), &product)
        .await
        .unwrap();
    let operator = scenarios::Operator::start(&cluster, vec![ns.clone()]).await;
    scenarios::eventually(cluster.timeout, "CatalogReady False", || async {
        products.get("conversations").await.ok().is_some_and(|p| {
            scenarios::condition(&p, "CatalogReady").is_some_and(|(s, _, _)| s == "False")
                && scenarios::condition(&p, "StorageReady").is_some_and(|(s, _, _)| s == "True")
        })
    })
    .await;
    let status = products.get("conversations").await.unwrap().status.unwrap();
    assert_eq!(status.catalog, None, "a foreign database is not advertised");
    assert_eq!(status.endpoints, None, "nor a SQL endpoint into it");
    let db = sdk
        .glue
        .get_database()
        .name(&names.database)
        .send()
        .await
        .unwrap();
    assert_eq!(
        db.database().and_then(|d| d.description()),
        Some("someone else's")
    );
    operator.stop().await;
}
