//! Scenarios that drive the operator's real wiring (`operator::run::start`, what `dpctl run`
//! calls) against an API server: the fake one in CI (tests/wiring.rs), any real cluster in
//! tests/e2e.rs. Everything a scenario creates carries its suffix and is removed at the end.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dataproduct_operator::api::{
    AccessPhase, Consumer, DataProduct, DataProductAccess, DataProductTemplate, Phase,
};
use dataproduct_operator::operator::cloud::CloudConfig;
use dataproduct_operator::operator::context::Settings;
use dataproduct_operator::operator::lineage::LineageConfig;
use dataproduct_operator::operator::run::{start, RunConfig, RunError};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const MANAGER: &str = "dataproduct-e2e";

/// Where the scenarios run.
pub struct Cluster {
    pub client: Client,
    pub config: kube::Config,
    /// A real API server (CRDs must be established; objects refused by the schema are refused).
    pub real: bool,
    /// AWS is reachable (AWS_ENDPOINT_URL): grants are checked in AWS too.
    pub aws: bool,
    /// The AWS endpoint, when not AWS_ENDPOINT_URL (moto started by the test).
    pub aws_endpoint: Option<String>,
    pub timeout: Duration,
}

impl Cluster {
    /// The HTTP fake API server as a cluster, reached through a kubeconfig file the way `dpctl`
    /// reads one (no AWS). Returns the kubeconfig's path too; its directory is the test's own.
    pub async fn fake(
        server: &super::apiserver::FakeApiServer,
        timeout: Duration,
    ) -> (Cluster, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("dpo-fake-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kubeconfig");
        server.write_kubeconfig(&path);
        let kc = kube::config::Kubeconfig::read_from(&path).unwrap();
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .unwrap();
        let cluster = Cluster {
            client: kube::Client::try_from(config.clone()).unwrap(),
            config,
            real: false,
            aws: false,
            aws_endpoint: None,
            timeout,
        };
        (cluster, path)
    }
}

/// Polls until `check` holds or the timeout passes.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {timeout:?} waiting for: {what}");
}

/// The `standard` template and the `messaging/conversations` example, renamed into the
/// scenario's own template and domain namespace.
pub fn fixtures(suffix: &str) -> (DataProductTemplate, DataProduct) {
    let (mut template, mut product) = super::fake_api::conversations();
    template.metadata = ObjectMeta {
        name: Some(format!("e2e-{suffix}")),
        ..ObjectMeta::default()
    };
    let domain = format!("e2e{suffix}");
    product.metadata = ObjectMeta {
        name: Some("conversations".into()),
        namespace: Some(domain.clone()),
        ..ObjectMeta::default()
    };
    product.spec.domain = domain;
    product.spec.template = format!("e2e-{suffix}");
    product.spec.access.consumers.clear();
    (template, product)
}

/// The operator, started as `dpctl run` starts it, with a stop of its own.
pub struct Operator {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<Result<(), RunError>>,
    pub health: SocketAddr,
}

impl Operator {
    /// Reconciles only `namespaces`, so scenarios running side by side on one cluster never
    /// reconcile each other's products.
    pub async fn start(cluster: &Cluster, namespaces: Vec<String>) -> Operator {
        Self::start_with(cluster, namespaces, Duration::from_secs(30)).await
    }

    /// With a resync interval of its own.
    pub async fn start_with(
        cluster: &Cluster,
        namespaces: Vec<String>,
        resync: Duration,
    ) -> Operator {
        let settings = Settings {
            resync,
            aws_resync: Duration::from_secs(60),
            namespaces,
            ..Settings::default()
        };
        Self::launch(cluster, settings, None).await
    }

    /// With settings of its own.
    pub async fn start_settings(cluster: &Cluster, settings: Settings) -> Operator {
        Self::launch(cluster, settings, None).await
    }

    /// Sending OpenLineage events where `lineage` says.
    pub async fn start_with_lineage(
        cluster: &Cluster,
        namespaces: Vec<String>,
        lineage: LineageConfig,
    ) -> Operator {
        let settings = Settings {
            resync: Duration::from_secs(30),
            aws_resync: Duration::from_secs(60),
            namespaces,
            ..Settings::default()
        };
        Self::launch(cluster, settings, Some(lineage)).await
    }

    async fn launch(
        cluster: &Cluster,
        settings: Settings,
        openlineage: Option<LineageConfig>,
    ) -> Operator {
        let health = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = RunConfig {
            settings,
            concurrency: 4,
            listen: health,
            leader_election: None,
            aws: cluster.aws.then(|| CloudConfig {
                region_override: None,
                resync: Duration::from_secs(60),
                endpoint_url: cluster.aws_endpoint.clone(),
                ..CloudConfig::default()
            }),
            openlineage,
        };
        let handle = tokio::spawn(start(cluster.config.clone(), config, async {
            let _ = stopped.await;
        }));
        Operator {
            stop,
            handle,
            health,
        }
    }

    /// `GET /readyz`: the status code and body.
    pub async fn readyz(&self) -> (u16, String) {
        let Ok(mut s) = tokio::net::TcpStream::connect(self.health).await else {
            return (0, "not listening".into());
        };
        let _ = s
            .write_all(b"GET /readyz HTTP/1.0\r\nHost: operator\r\n\r\n")
            .await;
        let mut text = String::new();
        let _ = s.read_to_string(&mut text).await;
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        (code, body)
    }

    /// Asks it to stop (as SIGTERM does) and returns how long it took.
    pub async fn stop(self) -> Duration {
        let start = Instant::now();
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(10), self.handle).await {
            Ok(Ok(Ok(()))) => {}
            other => panic!("the operator did not stop cleanly: {other:?}"),
        }
        start.elapsed()
    }
}

/// Installs the CRDs (what `dpctl crd` prints) and, on a real cluster, waits until they serve.
pub async fn install_crds(cluster: &Cluster) {
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client.clone());
    for crd in dataproduct_operator::api::crd::all() {
        crds.patch(
            &crd.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
    }
    if !cluster.real {
        return;
    }
    for crd in dataproduct_operator::api::crd::all() {
        let name = crd.name_any();
        eventually(
            cluster.timeout,
            &format!("CRD {name} established"),
            || async {
                crds.get(&name)
                    .await
                    .ok()
                    .and_then(|c| c.status)
                    .and_then(|s| s.conditions)
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    })
            },
        )
        .await;
    }
}

/// A namespace labelled as a domain's.
pub async fn domain_namespace(client: &Client, name: &str, domain: &str) {
    let ns: Namespace = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {
            "dataproducts.io/domain-namespace": "true",
            "dataproducts.io/domain": domain,
        }},
    }))
    .unwrap();
    Api::<Namespace>::all(client.clone())
        .patch(
            name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&ns),
        )
        .await
        .unwrap();
}

pub async fn phase(api: &Api<DataProduct>, name: &str) -> Option<(Phase, bool)> {
    let p = api.get_opt(name).await.ok()??;
    let fresh = p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation;
    Some((p.status?.phase?, fresh))
}

/// Ready for its current generation, with every input seen ready: a product that turned Ready
/// before its producer did holds its pipelines (suspended CronJobs) until its next reconcile.
pub async fn settled(api: &Api<DataProduct>, name: &str) -> bool {
    let Ok(Some(p)) = api.get_opt(name).await else {
        return false;
    };
    let inputs_ready = condition(&p, "InputsReady").is_none_or(|(status, _, _)| status == "True");
    phase(api, name).await == Some((Phase::Ready, true)) && inputs_ready
}

async fn access_phase(api: &Api<DataProductAccess>, name: &str) -> Option<AccessPhase> {
    api.get_opt(name).await.ok()??.status?.phase
}

pub fn condition(p: &DataProduct, type_: &str) -> Option<(String, String, String)> {
    p.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn request(name: &str, namespace: &str, producer: &str, principal: &str) -> DataProductAccess {
    serde_json::from_value(json!({
        "apiVersion": "dataproducts.io/v1alpha1", "kind": "DataProductAccess",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "product": producer,
            "outputs": ["conversations"],
            "consumer": {"principal": principal},
            "purpose": "end-to-end access flow",
            "expires": "2099-12-31",
        },
    }))
    .unwrap()
}

/// Readiness turns true, an access request goes Pending → Approved → Granted (Granted needs the
/// grant in AWS, so without AWS it stays Approved), then Expired; another is Revoked; and a stop
/// takes under 2 s.
pub async fn readiness_and_access_flow(cluster: &Cluster, suffix: &str) {
    let client = &cluster.client;
    let t = cluster.timeout;
    let (template, producer) = fixtures(suffix);
    let domain_ns = producer.namespace().unwrap();
    let consumer_ns = format!("{domain_ns}c");
    install_crds(cluster).await;
    domain_namespace(client, &domain_ns, &producer.spec.domain).await;
    domain_namespace(client, &consumer_ns, &format!("{}c", producer.spec.domain)).await;
    let templates: Api<DataProductTemplate> = Api::all(client.clone());
    templates
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let products: Api<DataProduct> = Api::namespaced(client.clone(), &domain_ns);
    products
        .create(&PostParams::default(), &producer)
        .await
        .unwrap();
    let accesses: Api<DataProductAccess> = Api::namespaced(client.clone(), &consumer_ns);
    let analysts = "arn:aws:iam::000000000000:role/e2e-analysts";
    let auditors = "arn:aws:iam::000000000000:role/e2e-auditors";
    let id = format!("{domain_ns}/conversations");
    accesses
        .create(
            &PostParams::default(),
            &request("analysts", &consumer_ns, &id, analysts),
        )
        .await
        .unwrap();

    let operator = Operator::start(cluster, vec![domain_ns.clone(), consumer_ns.clone()]).await;
    eventually(t, "/readyz answers 200", || async {
        operator.readyz().await.0 == 200
    })
    .await;
    eventually(t, "producer Ready", || async {
        phase(&products, "conversations").await == Some((Phase::Ready, true))
    })
    .await;
    eventually(t, "request Pending until the producer approves", || async {
        access_phase(&accesses, "analysts").await == Some(AccessPhase::Pending)
    })
    .await;

    // The producer approves by listing the consumer.
    let approve = |principals: &[&str]| {
        let consumers: Vec<Consumer> = principals
            .iter()
            .map(|p| Consumer {
                principal: Some(p.to_string()),
                outputs: vec!["conversations".into()],
                ..Consumer::default()
            })
            .collect();
        json!({"spec": {"access": {"consumers": consumers}}})
    };
    products
        .patch(
            "conversations",
            &PatchParams::default(),
            &Patch::Merge(approve(&[analysts, auditors])),
        )
        .await
        .unwrap();
    let granted = if cluster.aws {
        AccessPhase::Granted
    } else {
        AccessPhase::Approved
    };
    eventually(t, "request approved (granted with AWS)", || async {
        access_phase(&accesses, "analysts").await == Some(granted)
    })
    .await;
    let status = accesses.get("analysts").await.unwrap().status.unwrap();
    assert_eq!(
        status.granted_tables,
        vec![format!(
            "acme_{}_conversations.conversations",
            producer.spec.domain
        )]
    );
    if cluster.aws {
        let p = products.get("conversations").await.unwrap();
        let access = condition(&p, "AccessReady").unwrap();
        assert_eq!(access.0, "True", "{access:?}");
        // Both listed principals are granted, whether or not they have asked yet.
        assert!(access.2.contains("2 grants applied"), "{access:?}");
    }

    // Expiry takes the grant back.
    accesses
        .patch(
            "analysts",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"expires": "2020-01-01"}})),
        )
        .await
        .unwrap();
    eventually(t, "request Expired", || async {
        access_phase(&accesses, "analysts").await == Some(AccessPhase::Expired)
    })
    .await;
    if cluster.aws {
        eventually(t, "the expired grant is revoked in AWS", || async {
            products
                .get("conversations")
                .await
                .ok()
                .and_then(|p| condition(&p, "AccessReady"))
                .is_some_and(|(s, _, m)| s == "True" && m.contains("1 grants applied"))
        })
        .await;
    }

    // A second consumer, approved, then no longer listed: Revoked.
    accesses
        .create(
            &PostParams::default(),
            &request("auditors", &consumer_ns, &id, auditors),
        )
        .await
        .unwrap();
    eventually(t, "second request approved", || async {
        access_phase(&accesses, "auditors").await == Some(granted)
    })
    .await;
    products
        .patch(
            "conversations",
            &PatchParams::default(),
            &Patch::Merge(approve(&[])),
        )
        .await
        .unwrap();
    eventually(t, "second request Revoked", || async {
        access_phase(&accesses, "auditors").await == Some(AccessPhase::Revoked)
    })
    .await;
    // And it stays so: the reconciles its own status write triggers do not turn it Pending.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        access_phase(&accesses, "auditors").await,
        Some(AccessPhase::Revoked)
    );
    if cluster.aws {
        eventually(t, "no grant left in AWS", || async {
            products
                .get("conversations")
                .await
                .ok()
                .and_then(|p| condition(&p, "AccessReady"))
                .is_some_and(|(s, _, m)| s == "True" && m.contains("0 grants applied"))
        })
        .await;
    }

    let took = operator_cleanup(cluster, operator, &products, &[&domain_ns, &consumer_ns]).await;
    assert!(took < Duration::from_secs(2), "stopping took {took:?}");
    let _ = templates
        .delete(&template.name_any(), &DeleteParams::default())
        .await;
}

/// Deletes the scenario's products (while the operator still runs, so finalizers come off),
/// stops the operator and removes the namespaces. Returns how long the stop took.
async fn operator_cleanup(
    cluster: &Cluster,
    operator: Operator,
    products: &Api<DataProduct>,
    namespaces: &[&str],
) -> Duration {
    for p in products.list(&Default::default()).await.unwrap() {
        let _ = products
            .delete(&p.name_any(), &DeleteParams::default())
            .await;
    }
    eventually(cluster.timeout, "products gone", || async {
        products
            .list(&Default::default())
            .await
            .map(|l| l.items.is_empty())
            .unwrap_or(false)
    })
    .await;
    let took = operator.stop().await;
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    for ns in namespaces {
        let _ = api.delete(ns, &DeleteParams::default()).await;
    }
    took
}

/// One product the operator cannot read (stored under an older CRD without the bound that now
/// refuses it) does not stop the others: they are reconciled, readiness turns true, the bad one
/// is reported on itself, and deleting it still works (cleanup by labels).
pub async fn unreadable_product(
    cluster: &Cluster,
    suffix: &str,
    store_unreadable: impl AsyncFnOnce(serde_json::Value),
) {
    let client = &cluster.client;
    let t = cluster.timeout;
    let (template, good) = fixtures(suffix);
    let domain_ns = good.namespace().unwrap();
    install_crds(cluster).await;
    domain_namespace(client, &domain_ns, &good.spec.domain).await;
    let templates: Api<DataProductTemplate> = Api::all(client.clone());
    templates
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let mut bad = serde_json::to_value(&good).unwrap();
    bad["metadata"]["name"] = json!("unreadable");
    bad["metadata"]["finalizers"] = json!(["dataproducts.io/cleanup"]);
    bad["spec"]["outputs"][0]["version"] = json!(1_099_511_627_776u64);
    store_unreadable(bad).await;
    let products: Api<DataProduct> = Api::namespaced(client.clone(), &domain_ns);
    products
        .create(&PostParams::default(), &good)
        .await
        .unwrap();

    let operator = Operator::start(cluster, vec![domain_ns.clone()]).await;
    eventually(
        t,
        "/readyz answers 200 despite the unreadable product",
        || async { operator.readyz().await.0 == 200 },
    )
    .await;
    eventually(t, "the readable product is Ready", || async {
        phase(&products, "conversations").await == Some((Phase::Ready, true))
    })
    .await;
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        &domain_ns,
        &kube::core::ApiResource::erase::<DataProduct>(&()),
    );
    eventually(t, "the unreadable product reports why", || async {
        raw.get_opt("unreadable")
            .await
            .ok()
            .flatten()
            .is_some_and(|o| {
                o.data["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["type"] == "Valid"
                            && c["status"] == "False"
                            && c["reason"] == "Unreadable"
                            && c["message"]
                                .as_str()
                                .is_some_and(|m| m.contains("spec.outputs[0].version"))
                    })
                })
            })
    })
    .await;
    raw.delete("unreadable", &DeleteParams::default())
        .await
        .unwrap();
    eventually(t, "the unreadable product is released and gone", || async {
        raw.get_opt("unreadable").await.ok().flatten().is_none()
    })
    .await;
    let took = operator_cleanup(cluster, operator, &products, &[&domain_ns]).await;
    assert!(took < Duration::from_secs(2), "stopping took {took:?}");
    let _ = templates
        .delete(&template.name_any(), &DeleteParams::default())
        .await;
}

/// The CronJobs of a product's provisioned namespace, with their `spec.suspend`.
async fn cron_jobs(client: &Client, namespace: &str) -> Vec<(String, bool, Option<i64>)> {
    use k8s_openapi::api::batch::v1::CronJob;
    Api::<CronJob>::namespaced(client.clone(), namespace)
        .list(&Default::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .map(|c| {
                    let spec = c.spec.clone().unwrap_or_default();
                    (
                        c.name_any(),
                        spec.suspend == Some(true),
                        spec.starting_deadline_seconds,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Events with `reason` about the object `name` in `namespace`.
async fn events(client: &Client, namespace: &str, name: &str, reason: &str) -> Vec<String> {
    use k8s_openapi::api::events::v1::Event;
    Api::<Event>::namespaced(client.clone(), namespace)
        .list(&Default::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .filter(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                })
                .map(|e| e.note.unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

/// Exactly one write to the CronJobs of `namespace` since the fake last cleared its requests,
/// after letting any late reconcile land; then clears them for the next count.
async fn one_cron_write(fake: &super::apiserver::ApiState, namespace: &str) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let writes: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.method != "GET"
                && r.path
                    .contains(&format!("/namespaces/{namespace}/cronjobs"))
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    fake.clear_requests();
}

/// The namespace the operator provisioned for the product `name` (its `status.namespace`).
async fn provisioned_namespace(products: &Api<DataProduct>, name: &str) -> String {
    products
        .get(name)
        .await
        .unwrap()
        .status
        .and_then(|s| s.namespace)
        .unwrap_or_else(|| panic!("{name} has no provisioned namespace yet"))
}

/// A consumer's pipeline waits for its producer: when the producer's output turns Stale the
/// consumer's CronJob is suspended (`InputsReady` False, `InputStale`, a Warning Event), and
/// when the producer recovers it is resumed (a Normal Event). With the fake API server, each
/// flip is exactly one write. Then the producer announces a deprecation: the consumer product
/// and a granted (or, without AWS, approved) access request are told in their own namespaces.
pub async fn inputs_gate_and_deprecations_reach_consumers(
    cluster: &Cluster,
    suffix: &str,
    fake: Option<&super::apiserver::ApiState>,
) {
    use dataproduct_operator::api::{ExternalInput, Freshness, Input, Slo};
    let client = &cluster.client;
    let t = cluster.timeout;
    let (template, mut producer) = fixtures(suffix);
    let ns = producer.namespace().unwrap();
    let access_ns = format!("{ns}c");
    // The producer reads only an external source, so nothing holds its own pipeline.
    producer.spec.inputs.retain(|i| i.external.is_some());
    producer.spec.pipelines[0].reads = vec!["messaging-kafka-topic".into()];
    producer.spec.slo = Some(Slo {
        freshness: Some("1h".into()),
    });
    // The consumer, in the same domain: one output built from the producer's.
    let mut consumer = producer.clone();
    consumer.metadata.name = Some("reader".into());
    consumer.spec.inputs = vec![
        Input {
            product: Some(format!("{ns}/conversations")),
            output: Some("conversations".into()),
            external: None,
        },
        Input {
            external: Some(ExternalInput {
                name: "fx-rates".into(),
                description: "Daily exchange rates from the treasury system".into(),
            }),
            ..Input::default()
        },
    ];
    consumer.spec.outputs.truncate(1);
    let out = &mut consumer.spec.outputs[0];
    out.name = "summary".into();
    for e in &mut out.examples {
        e.sql = e.sql.replace("conversations", "summary");
    }
    consumer.spec.pipelines.truncate(1);
    let p = &mut consumer.spec.pipelines[0];
    p.name = "build-summary".into();
    p.reads = vec!["conversations".into(), "fx-rates".into()];
    p.writes = vec!["summary".into()];
    consumer.spec.slo = None;

    install_crds(cluster).await;
    domain_namespace(client, &ns, &producer.spec.domain).await;
    domain_namespace(client, &access_ns, &format!("{}c", producer.spec.domain)).await;
    let templates: Api<DataProductTemplate> = Api::all(client.clone());
    templates
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let products: Api<DataProduct> = Api::namespaced(client.clone(), &ns);
    let operator = Operator::start_settings(
        cluster,
        Settings {
            resync: Duration::from_secs(30),
            aws_resync: Duration::from_secs(60),
            namespaces: vec![ns.clone(), access_ns.clone()],
            freshness_interval: Duration::from_secs(1),
        },
    )
    .await;
    products
        .create(&PostParams::default(), &producer)
        .await
        .unwrap();
    products
        .create(&PostParams::default(), &consumer)
        .await
        .unwrap();
    for name in ["conversations", "reader"] {
        eventually(t, &format!("{name} Ready"), || async {
            phase(&products, name).await == Some((Phase::Ready, true))
        })
        .await;
    }
    let inputs_ready = |want: &'static str| {
        let products = products.clone();
        async move {
            products
                .get("reader")
                .await
                .ok()
                .and_then(|p| condition(&p, "InputsReady"))
                .is_some_and(|(s, r, _)| format!("{s} {r}") == want)
        }
    };
    eventually(t, "reader's inputs ready", || {
        inputs_ready("True InputsReady")
    })
    .await;
    let reader_ns = provisioned_namespace(&products, "reader").await;
    let crons = cron_jobs(client, &reader_ns).await;
    assert_eq!(crons.len(), 1, "{crons:?}");
    assert!(!crons[0].1, "runs while its input is ready: {crons:?}");
    assert_eq!(
        crons[0].2,
        Some(86400),
        "one catch-up run at most: {crons:?}"
    );

    // The producer's output turns Stale: its SLO shrinks below its age (it has never run).
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Some(f) = fake {
        f.clear_requests();
    }
    products
        .patch(
            "conversations",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"slo": {"freshness": "1s"}}})),
        )
        .await
        .unwrap();
    eventually(t, "the reader's pipeline is held", || async {
        inputs_ready("False InputStale").await
            && cron_jobs(client, &reader_ns).await.iter().all(|c| c.1)
    })
    .await;
    let reader = products.get("reader").await.unwrap();
    let status = reader.status.clone().unwrap();
    assert_eq!(
        status.phase,
        Some(Phase::Ready),
        "held on purpose, still Ready"
    );
    let input = &status.inputs[0];
    assert_eq!(input.product, format!("{ns}/conversations"));
    assert_eq!(
        (input.ready, input.reason.as_deref()),
        (false, Some("InputStale"))
    );
    assert_eq!(input.freshness, Some(Freshness::Stale));
    assert_eq!(input.phase, Some(Phase::Ready));
    let (_, _, message) = condition(&reader, "InputsReady").unwrap();
    assert!(message.contains("build-summary"), "{message}");
    eventually(t, "a Warning about the held pipeline", || async {
        !events(client, &ns, "reader", "InputsNotReady")
            .await
            .is_empty()
    })
    .await;
    if let Some(f) = fake {
        // The suspend was one write.
        one_cron_write(f, &reader_ns).await;
    }

    // The producer recovers: its writer ran just now, and the SLO is a day again.
    let producer_ns = provisioned_namespace(&products, "conversations").await;
    let now = jiff::Timestamp::now().to_string();
    for (name, _, _) in cron_jobs(client, &producer_ns).await {
        Api::<k8s_openapi::api::batch::v1::CronJob>::namespaced(client.clone(), &producer_ns)
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"lastSuccessfulTime": now}})),
            )
            .await
            .unwrap();
    }
    products
        .patch(
            "conversations",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"slo": {"freshness": "26h"}}})),
        )
        .await
        .unwrap();
    eventually(t, "the reader's pipeline resumes", || async {
        inputs_ready("True InputsReady").await
            && cron_jobs(client, &reader_ns).await.iter().all(|c| !c.1)
    })
    .await;
    eventually(t, "a Normal event says it resumed", || async {
        !events(client, &ns, "reader", "InputsReady")
            .await
            .is_empty()
    })
    .await;
    if let Some(f) = fake {
        one_cron_write(f, &reader_ns).await;
    }

    // An access request for the producer's output, approved.
    let accesses: Api<DataProductAccess> = Api::namespaced(client.clone(), &access_ns);
    let analysts = "arn:aws:iam::000000000000:role/e2e-deprecation-analysts";
    accesses
        .create(
            &PostParams::default(),
            &request(
                "analysts",
                &access_ns,
                &format!("{ns}/conversations"),
                analysts,
            ),
        )
        .await
        .unwrap();
    products
        .patch(
            "conversations",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"access": {"consumers": [
                {"principal": analysts, "outputs": ["conversations"]}
            ]}}})),
        )
        .await
        .unwrap();
    let granted = if cluster.aws {
        AccessPhase::Granted
    } else {
        AccessPhase::Approved
    };
    eventually(t, "request approved", || async {
        access_phase(&accesses, "analysts").await == Some(granted)
    })
    .await;

    // The producer deprecates its output: every consumer is told.
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    // A merge patch replaces the whole list, so the outputs go in whole.
    let mut spec = products.get("conversations").await.unwrap().spec;
    spec.outputs[0].deprecation = Some(dataproduct_operator::api::Deprecation {
        announced: today,
        sunset: "2099-12-31".into(),
        replaced_by: Some("conversations_v2".into()),
        reason: Some("end-to-end deprecation".into()),
    });
    products
        .patch(
            "conversations",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"outputs": spec.outputs}})),
        )
        .await
        .unwrap();
    eventually(t, "the consumer product sees the deprecation", || async {
        products
            .get("reader")
            .await
            .ok()
            .and_then(|p| p.status)
            .and_then(|s| s.inputs.first().cloned())
            .and_then(|i| i.deprecation)
            .is_some_and(|d| {
                d.sunset == "2099-12-31" && d.replaced_by.as_deref() == Some("conversations_v2")
            })
    })
    .await;
    eventually(t, "the consumer product is warned", || async {
        events(client, &ns, "reader", "InputDeprecated")
            .await
            .iter()
            .any(|n| n.contains("2099-12-31") && n.contains("conversations_v2"))
    })
    .await;
    eventually(t, "the access request sees the deprecation", || async {
        accesses
            .get("analysts")
            .await
            .ok()
            .and_then(|a| a.status)
            .is_some_and(|s| {
                s.deprecations.len() == 1
                    && s.deprecations[0].sunset == "2099-12-31"
                    && !s.deprecations[0].retired
            })
    })
    .await;
    eventually(
        t,
        "the access request is warned in its namespace",
        || async {
            !events(client, &access_ns, "analysts", "InputDeprecated")
                .await
                .is_empty()
        },
    )
    .await;
    // A deprecation holds nothing before its sunset.
    assert!(inputs_ready("True InputsReady").await);

    let _ = accesses.delete("analysts", &DeleteParams::default()).await;
    operator_cleanup(cluster, operator, &products, &[&ns, &access_ns]).await;
    let _ = templates
        .delete(&template.name_any(), &DeleteParams::default())
        .await;
}

/// Lineage from a real Job: a Job made from a product's CronJob (as `kubectl create job
/// --from=cronjob/…` makes one) that cannot start its image and hits its deadline becomes
/// START, then FAIL, at a local collector, with the Job's UID as the runId. Needs a cluster
/// with a Job controller, so it runs in tests/e2e.rs only; tests/openlineage.rs covers the
/// same path against the fake API server.
pub async fn lineage_from_a_real_job(cluster: &Cluster, suffix: &str) {
    use k8s_openapi::api::batch::v1::{CronJob, Job};
    let client = &cluster.client;
    let t = cluster.timeout;
    let (template, mut product) = fixtures(suffix);
    let ns = product.namespace().unwrap();
    product.spec.inputs.retain(|i| i.external.is_some());
    product.spec.pipelines[0].reads = vec!["messaging-kafka-topic".into()];
    install_crds(cluster).await;
    domain_namespace(client, &ns, &product.spec.domain).await;
    let templates: Api<DataProductTemplate> = Api::all(client.clone());
    templates
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let products: Api<DataProduct> = Api::namespaced(client.clone(), &ns);
    products
        .create(&PostParams::default(), &product)
        .await
        .unwrap();
    let (url, seen, _) = super::collector::collector(0).await;
    let operator = Operator::start_with_lineage(
        cluster,
        vec![ns.clone()],
        LineageConfig {
            url: url.parse().unwrap(),
            token: None,
        },
    )
    .await;
    eventually(t, "Ready", || async {
        phase(&products, "conversations").await == Some((Phase::Ready, true))
    })
    .await;
    let job_ns = provisioned_namespace(&products, "conversations").await;
    let cron = Api::<CronJob>::namespaced(client.clone(), &job_ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .remove(0);
    let mut job_template = cron.spec.unwrap().job_template;
    let mut spec = job_template.spec.take().unwrap();
    // The image cannot be pulled here: the deadline fails the Job quickly.
    spec.active_deadline_seconds = Some(5);
    spec.backoff_limit = Some(0);
    let job = Job {
        metadata: ObjectMeta {
            name: Some(format!("lineage-{suffix}")),
            namespace: Some(job_ns.clone()),
            labels: job_template.metadata.and_then(|m| m.labels),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        ..Job::default()
    };
    let jobs: Api<Job> = Api::namespaced(client.clone(), &job_ns);
    let uid = jobs
        .create(&PostParams::default(), &job)
        .await
        .unwrap()
        .uid()
        .unwrap();
    eventually(t, "START then FAIL of the Job at the collector", || async {
        let kinds: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, e)| e["run"]["runId"] == uid.as_str())
            .map(|(_, e)| e["eventType"].as_str().unwrap_or_default().to_string())
            .collect();
        kinds == ["START", "FAIL"]
    })
    .await;
    let events: Vec<serde_json::Value> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    let domain = &product.spec.domain;
    for e in events.iter().filter(|e| e["run"]["runId"] == uid.as_str()) {
        assert_eq!(e["job"]["namespace"], ns.as_str());
        assert_eq!(e["job"]["name"], "conversations.build-conversations");
        assert_eq!(
            e["outputs"][0]["name"],
            format!("table/acme_{domain}_conversations/conversations")
        );
    }
    let _ = jobs
        .delete(&job.name_any(), &DeleteParams::background())
        .await;
    operator_cleanup(cluster, operator, &products, &[&ns]).await;
    let _ = templates
        .delete(&template.name_any(), &DeleteParams::default())
        .await;
}

/// The operator's event recorder against an API server: a repeated event grows one Event's
/// `series` (the API server validates the patch), another reason or object makes another
/// Event, and a repeat of an Event deleted meanwhile starts a new one.
pub async fn events_form_series(cluster: &Cluster, suffix: &str) {
    use dataproduct_operator::operator::events::Recorder;
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use kube::runtime::events::{Event, EventType, Reporter};

    let ns = format!("e2e-events-{suffix}");
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    let recorder = Recorder::new(
        cluster.client.clone(),
        Reporter {
            controller: "dataproduct-operator-e2e".into(),
            instance: None,
        },
    );
    let regarding = |name: &str| ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Namespace".into()),
        name: Some(name.into()),
        namespace: Some(ns.clone()),
        ..ObjectReference::default()
    };
    let event = |reason: &str| Event {
        type_: EventType::Normal,
        reason: reason.into(),
        note: Some(format!("{reason} for the events scenario")),
        action: "Reconcile".into(),
        secondary: None,
    };
    let publish = async |reason: &str, about: &str| {
        recorder
            .publish(&event(reason), &regarding(about))
            .await
            .unwrap()
    };
    for _ in 0..3 {
        publish("Provisioned", "a").await;
    }
    publish("Failed", "a").await;
    publish("Provisioned", "b").await;

    let events: Api<K8sEvent> = Api::namespaced(cluster.client.clone(), &ns);
    let listed = |reason: &'static str, about: &'static str| {
        let events = events.clone();
        async move {
            events
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(about)
                })
                .collect::<Vec<_>>()
        }
    };
    let provisioned = listed("Provisioned", "a").await;
    assert_eq!(
        provisioned.len(),
        1,
        "one Event for three: {provisioned:#?}"
    );
    assert_eq!(provisioned[0].series.as_ref().map(|s| s.count), Some(3));
    assert_eq!(
        provisioned[0].note.as_deref(),
        Some("Provisioned for the events scenario")
    );
    assert_eq!(listed("Failed", "a").await.len(), 1);
    let other = listed("Provisioned", "b").await;
    assert_eq!(other.len(), 1);
    assert!(other[0].series.is_none(), "a single event has no series");

    // What the API server would refuse whole is cut to its limits instead: a note of 1,000
    // two-byte characters (its limit is 1,024 bytes) about an object with a 250-character name.
    let long_name = format!("{}z", "long-name.".repeat(25));
    let long = Event {
        note: Some("é".repeat(1000)),
        ..event("Invalid")
    };
    recorder
        .publish(&long, &regarding(&long_name))
        .await
        .expect("a long note and name are cut, not refused");
    let cut = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("Invalid"))
        .expect("the long event");
    let note = cut.note.unwrap_or_default();
    assert!(
        note.len() <= 1024 && note.starts_with('é'),
        "{}",
        note.len()
    );
    assert!(cut.metadata.name.as_ref().is_some_and(|n| n.len() <= 253));

    // Deleted (Events expire after an hour on a real cluster): the next one is new.
    events
        .delete(&provisioned[0].name_any(), &DeleteParams::default())
        .await
        .unwrap();
    publish("Provisioned", "a").await;
    let again = listed("Provisioned", "a").await;
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_ne!(again[0].name_any(), provisioned[0].name_any());
    assert!(again[0].series.is_none());

    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
}
