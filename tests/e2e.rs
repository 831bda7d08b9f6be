//! End-to-end: the operator against a real cluster named by DPO_E2E_KUBECONFIG (kind, k3d or any
//! cluster; see the README). Skipped, with the reason printed, when it is unset. With
//! AWS_ENDPOINT_URL set (for example a moto server), the AWS side is checked too.
//!
//! Everything the test creates carries a random suffix and is removed at the end, so it can run
//! against a shared cluster.

use std::time::Duration;

use dataproduct_operator::api::{DataProduct, DataProductTemplate, Phase};
use dataproduct_operator::operator::cloud::CloudConfig;
use dataproduct_operator::operator::context::Settings;
use dataproduct_operator::operator::run::{start, RunConfig};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ObjectMeta;
use kube::{Client, Config, ResourceExt};
use serde_json::json;

const MANAGER: &str = "dataproduct-e2e";

mod support;

async fn client() -> Option<Client> {
    let Ok(path) = std::env::var("DPO_E2E_KUBECONFIG") else {
        // Written straight to stderr: libtest captures println!, and the reason must show in CI.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"e2e skipped: set DPO_E2E_KUBECONFIG to a kubeconfig to run the end-to-end tests (see README: End-to-end tests)\n",
        );
        return None;
    };
    let kc = Kubeconfig::read_from(&path).expect("DPO_E2E_KUBECONFIG is readable");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is valid");
    Some(Client::try_from(config).expect("client"))
}

fn timeout() -> Duration {
    Duration::from_secs(
        std::env::var("DPO_E2E_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(120),
    )
}

/// Polls until `check` holds or the timeout passes.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    support::scenarios::eventually(timeout(), what, check).await
}

fn fixtures(suffix: &str) -> (DataProductTemplate, DataProduct) {
    support::scenarios::fixtures(suffix)
}

async fn install_crds() {
    let cluster = cluster().await.expect("DPO_E2E_KUBECONFIG is set");
    support::scenarios::install_crds(&cluster).await
}

async fn phase(api: &Api<DataProduct>, name: &str) -> Option<(Phase, bool)> {
    support::scenarios::phase(api, name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_end_to_end() {
    let Some(client) = client().await else { return };
    let suffix = format!("{:06}", fastrand::u32(..1_000_000));
    let (template, product) = fixtures(&suffix);
    let domain_ns = product.namespace().unwrap();
    let target_ns = format!("{domain_ns}-conversations");
    let aws = std::env::var("AWS_ENDPOINT_URL").is_ok();

    install_crds().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(domain_ns.clone()),
            labels: Some(
                [
                    (
                        "dataproducts.io/domain-namespace".to_string(),
                        "true".to_string(),
                    ),
                    (
                        "dataproducts.io/domain".to_string(),
                        product.spec.domain.clone(),
                    ),
                ]
                .into(),
            ),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let templates: Api<DataProductTemplate> = Api::all(client.clone());
    templates
        .create(&PostParams::default(), &template)
        .await
        .unwrap();

    // The operator, in-process, as `dpctl run` starts it.
    let kube_config = cluster().await.expect("DPO_E2E_KUBECONFIG is set").config;
    let operator = tokio::spawn(start(
        kube_config,
        RunConfig {
            settings: Settings {
                resync: Duration::from_secs(30),
                aws_resync: Duration::from_secs(60),
                // Only this test's products: other tests may run operators on the same cluster.
                namespaces: vec![domain_ns.clone()],
                ..Settings::default()
            },
            concurrency: 4,
            listen: "127.0.0.1:0".parse().unwrap(),
            leader_election: None,
            aws: aws.then(|| CloudConfig {
                region_override: None,
                resync: Duration::from_secs(60),
                ..CloudConfig::default()
            }),
            openlineage: None,
        },
        std::future::pending(),
    ));

    let products: Api<DataProduct> = Api::namespaced(client.clone(), &domain_ns);
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), &target_ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &target_ns);

    // create → Ready
    products
        .create(&PostParams::default(), &product)
        .await
        .unwrap();
    eventually("product Ready", || async {
        phase(&products, "conversations").await == Some((Phase::Ready, true))
    })
    .await;
    let created = namespaces.get(&target_ns).await.unwrap();
    assert_eq!(
        created
            .labels()
            .get("dataproducts.io/product")
            .map(String::as_str),
        Some("conversations")
    );
    assert_eq!(
        created
            .labels()
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );
    cronjobs.get("build-conversations").await.unwrap();
    let status = products.get("conversations").await.unwrap().status.unwrap();
    let storage = status
        .conditions
        .iter()
        .find(|c| c.type_ == "StorageReady")
        .unwrap();
    if aws {
        assert_eq!(storage.status, "True", "{storage:?}");
        assert!(!status.buckets.is_empty());
        assert!(status.endpoints.and_then(|e| e.sql).is_some());
    } else {
        assert_eq!(
            (storage.status.as_str(), storage.reason.as_str()),
            ("Unknown", "AwsNotConfigured")
        );
    }

    // update: a new schedule reaches the CronJob; a removed pipeline's CronJob is pruned.
    let mut updated = products.get("conversations").await.unwrap();
    updated.spec.pipelines[0].schedule = "30 4 * * *".into();
    let mut extra = updated.spec.pipelines[0].clone();
    extra.name = "backfill".into();
    updated.spec.pipelines.push(extra);
    products
        .replace("conversations", &PostParams::default(), &updated)
        .await
        .unwrap();
    eventually("schedule updated and backfill created", || async {
        cronjobs
            .get_opt("build-conversations")
            .await
            .ok()
            .flatten()
            .and_then(|c| c.spec)
            .is_some_and(|s| s.schedule == "30 4 * * *")
            && cronjobs.get_opt("backfill").await.ok().flatten().is_some()
    })
    .await;
    let mut updated = products.get("conversations").await.unwrap();
    updated.spec.pipelines.retain(|p| p.name != "backfill");
    products
        .replace("conversations", &PostParams::default(), &updated)
        .await
        .unwrap();
    eventually("backfill pruned", || async {
        cronjobs.get_opt("backfill").await.ok().flatten().is_none()
    })
    .await;

    // drift: a deleted CronJob and an edited descriptor are restored by the watch.
    cronjobs
        .delete("build-conversations", &DeleteParams::default())
        .await
        .unwrap();
    eventually("CronJob restored", || async {
        cronjobs
            .get_opt("build-conversations")
            .await
            .ok()
            .flatten()
            .is_some_and(|c| c.metadata.deletion_timestamp.is_none())
    })
    .await;
    configmaps
        .patch(
            "dataproduct-descriptor",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"descriptor.json": "{}"}})),
        )
        .await
        .unwrap();
    eventually("descriptor restored", || async {
        configmaps
            .get_opt("dataproduct-descriptor")
            .await
            .ok()
            .flatten()
            .and_then(|c| c.data)
            .and_then(|d| d.get("descriptor.json").cloned())
            .is_some_and(|d| d.contains("\"outputs\""))
    })
    .await;

    // template change: a new namespace label reaches the product namespace.
    templates
        .patch(
            &template.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"namespace": {"labels": {"cost-center": "{domain}"}}}})),
        )
        .await
        .unwrap();
    let want = product.spec.domain.clone();
    eventually("template change applied", || async {
        namespaces
            .get_opt(&target_ns)
            .await
            .ok()
            .flatten()
            .is_some_and(|n| n.labels().get("cost-center") == Some(&want))
    })
    .await;

    // invalid spec: Invalid, and nothing is created for it.
    let mut invalid = fixtures(&suffix).1;
    invalid.metadata.name = Some("broken".into());
    invalid.spec.outputs[0].schema[0].type_ = "strnig".into();
    products
        .create(&PostParams::default(), &invalid)
        .await
        .unwrap();
    eventually("invalid product reported", || async {
        phase(&products, "broken")
            .await
            .is_some_and(|(p, _)| p == Phase::Invalid)
    })
    .await;
    assert!(namespaces
        .get_opt(&format!("{domain_ns}-broken"))
        .await
        .unwrap()
        .is_none());

    // delete: the finalizer removes the product's objects and lets it go.
    for name in ["broken", "conversations"] {
        products
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    eventually("products gone", || async {
        products
            .list(&Default::default())
            .await
            .map(|l| l.items.is_empty())
            .unwrap_or(false)
    })
    .await;
    eventually("product namespace removed", || async {
        namespaces
            .get_opt(&target_ns)
            .await
            .ok()
            .flatten()
            .is_none_or(|n| n.metadata.deletion_timestamp.is_some())
    })
    .await;

    operator.abort();
    let _ = templates
        .delete(&template.name_any(), &DeleteParams::default())
        .await;
    let _ = namespaces
        .delete(&domain_ns, &DeleteParams::default())
        .await;
}

/// The cluster of DPO_E2E_KUBECONFIG for the shared scenarios (tests/support/scenarios.rs), or
/// None (skipped, with the reason printed).
async fn cluster() -> Option<support::scenarios::Cluster> {
    let client = client().await?;
    let path = std::env::var("DPO_E2E_KUBECONFIG").ok()?;
    let kc = Kubeconfig::read_from(&path).expect("DPO_E2E_KUBECONFIG is readable");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is valid");
    Some(support::scenarios::Cluster {
        client,
        config,
        real: true,
        aws: std::env::var("AWS_ENDPOINT_URL").is_ok(),
        aws_endpoint: None,
        timeout: timeout(),
    })
}

fn suffix() -> String {
    format!("{:06}", fastrand::u32(..1_000_000))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_the_access_flow() {
    let Some(cluster) = cluster().await else {
        return;
    };
    support::scenarios::readiness_and_access_flow(&cluster, &suffix()).await;
}

/// Repeated events are one Event with a series: the API server accepts the series patch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_events_form_one_series() {
    let Some(cluster) = cluster().await else {
        return;
    };
    support::scenarios::events_form_series(&cluster, &suffix()).await;
}

/// A stale producer holds its consumer's pipeline (suspended, then resumed when it recovers),
/// and a deprecation reaches the consumer product and an approved access request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_producer_gates_its_consumer_and_deprecations_are_told() {
    let Some(cluster) = cluster().await else {
        return;
    };
    support::scenarios::inputs_gate_and_deprecations_reach_consumers(&cluster, &suffix(), None)
        .await;
}

/// OpenLineage events from a real Job reach a local HTTP collector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_events_from_a_real_job_reach_a_collector() {
    let Some(cluster) = cluster().await else {
        return;
    };
    support::scenarios::lineage_from_a_real_job(&cluster, &suffix()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_product_stops_nothing() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = cluster.client.clone();
    // The object is written under an older CRD that lacked today's bound, then the current CRD
    // is restored: exactly how such objects reach a real cluster.
    support::scenarios::unreadable_product(&cluster, &suffix(), async move |bad| {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let current = dataproduct_operator::api::crd::all().remove(0);
        let mut older = serde_json::to_value(&current).unwrap();
        older["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"]["outputs"]["items"]["properties"]["version"]
            .as_object_mut()
            .unwrap()
            .remove("maximum");
        crds.patch(
            &current.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&older),
        )
        .await
        .unwrap();
        let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
            client.clone(),
            bad["metadata"]["namespace"].as_str().unwrap(),
            &kube::core::ApiResource::erase::<DataProduct>(&()),
        );
        let obj: kube::api::DynamicObject = serde_json::from_value(bad).unwrap();
        // The relaxed schema takes a moment to serve.
        let mut created = false;
        for _ in 0..50 {
            if raw.create(&PostParams::default(), &obj).await.is_ok() {
                created = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(created, "the older CRD accepted the object");
        crds.patch(
            &current.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&current),
        )
        .await
        .unwrap();
    })
    .await;
}

/// The catalogue in cluster mode (`dpctl catalog` without -f: the same watch over the cluster,
/// in-process): a product applied to the cluster is listed within 2 s, and its phase and
/// stage follow its status subresource. Nothing reconciles the scenario's namespace, so the
/// status is the test's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_follows_the_cluster() {
    let Some(cluster) = cluster().await else {
        return;
    };
    support::catalogue::catalogue_follows_the_cluster(&cluster, &suffix()).await;
}

/// Whether the cluster serves ValidatingAdmissionPolicy in admissionregistration.k8s.io/v1
/// (Kubernetes 1.30+), the API the delete-with-consumers policy needs.
async fn serves_admission_policies(client: &Client) -> bool {
    client
        .list_api_group_resources("admissionregistration.k8s.io/v1")
        .await
        .is_ok_and(|l| {
            l.resources
                .iter()
                .any(|r| r.name == "validatingadmissionpolicies")
        })
}

/// The policy and binding of deploy/admission, applied unless the chart (or a previous run)
/// installed them already; returns those this test created, to remove at the end.
async fn install_admission_policy(client: &Client) -> Vec<(kube::core::ApiResource, String)> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/admission/delete-with-consumers.yaml"),
    )
    .unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
    let mut created = Vec::new();
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap().to_string();
        let gvk = kube::core::GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", &kind);
        let plural = format!("{}s", kind.to_lowercase());
        let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, &plural);
        let api: Api<kube::api::DynamicObject> = Api::all_with(client.clone(), &ar);
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        if api.get_opt(&name).await.unwrap().is_some() {
            continue;
        }
        api.patch(&name, &PatchParams::apply(MANAGER), &Patch::Apply(&doc))
            .await
            .unwrap();
        created.push((ar, name));
    }
    created
}

/// A product with a consumer cannot be deleted (422 Invalid, naming the consumer and the way
/// out) until it carries the delete-with-consumers annotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_with_consumers_is_not_deleted_by_accident() {
    use dataproduct_operator::api::constants::annotations::DELETE_WITH_CONSUMERS;
    let Some(cluster) = cluster().await else {
        return;
    };
    let client = cluster.client.clone();
    if !serves_admission_policies(&client).await {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"e2e delete-with-consumers skipped: the cluster does not serve admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy (Kubernetes 1.30+)\n",
        );
        return;
    }
    let suffix = suffix();
    let (template, producer) = fixtures(&suffix);
    let domain_ns = producer.namespace().unwrap();
    install_crds().await;
    let ours = install_admission_policy(&client).await;
    support::scenarios::domain_namespace(&client, &domain_ns, &producer.spec.domain).await;
    let templates: Api<DataProductTemplate> = Api::all(client.clone());
    templates
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let operator = support::scenarios::Operator::start(&cluster, vec![domain_ns.clone()]).await;
    let products: Api<DataProduct> = Api::namespaced(client.clone(), &domain_ns);
    products
        .create(&PostParams::default(), &producer)
        .await
        .unwrap();
    // A second product of the domain reads the producer's output.
    let output = producer.spec.outputs[0].name.clone();
    let mut reader = producer.clone();
    reader.metadata.name = Some("reader".into());
    reader
        .spec
        .outputs
        .iter_mut()
        .for_each(|o| o.name = format!("{}_daily", o.name));
    reader.spec.pipelines.clear();
    reader.spec.inputs = vec![dataproduct_operator::api::Input {
        product: Some(format!("{domain_ns}/conversations")),
        output: Some(output.clone()),
        external: None,
    }];
    products
        .create(&PostParams::default(), &reader)
        .await
        .unwrap();
    eventually("the producer lists its consumer", || async {
        products
            .get_opt("conversations")
            .await
            .ok()
            .flatten()
            .is_some_and(|p| {
                p.status
                    .is_some_and(|s| s.consumers.iter().any(|c| c.name == "reader"))
            })
    })
    .await;

    // The policy takes a moment to apply once created: probe with dry runs, which admission
    // sees too, so the product is never deleted by a policy not yet in force.
    let dry_run = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    eventually("the policy refuses a dry-run delete", || async {
        products.delete("conversations", &dry_run).await.is_err()
    })
    .await;
    let refused = products
        .delete("conversations", &DeleteParams::default())
        .await
        .expect_err("a product with consumers is not deleted");
    let kube::Error::Api(status) = refused else {
        panic!("not an API refusal: {refused:?}");
    };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (422, "Invalid"),
        "{status:?}"
    );
    assert!(
        status
            .message
            .contains(&format!("Product {domain_ns}/reader ({output})")),
        "{}",
        status.message
    );
    assert!(
        status.message.contains(DELETE_WITH_CONSUMERS),
        "{}",
        status.message
    );

    // With the annotation, the owners' delete goes through.
    products
        .patch(
            "conversations",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {DELETE_WITH_CONSUMERS: "true"}}})),
        )
        .await
        .unwrap();
    products
        .delete("conversations", &DeleteParams::default())
        .await
        .expect("the annotated product is deleted");
    // The reader has no consumers of its own: it goes at once.
    products
        .delete("reader", &DeleteParams::default())
        .await
        .unwrap();
    eventually("products gone", || async {
        products
            .list(&Default::default())
            .await
            .is_ok_and(|l| l.items.is_empty())
    })
    .await;

    operator.stop().await;
    let _ = templates
        .delete(&template.name_any(), &DeleteParams::default())
        .await;
    let _ = Api::<Namespace>::all(client.clone())
        .delete(&domain_ns, &DeleteParams::default())
        .await;
    for (ar, name) in ours {
        let _ = Api::<kube::api::DynamicObject>::all_with(client.clone(), &ar)
            .delete(&name, &DeleteParams::default())
            .await;
    }
}
