//! Controller scenarios against a mocked Kubernetes API (kube's tower-test pattern): every request
//! the reconcile sends is recorded and answered like the API server would; tests assert on the
//! exact requests, and that a reconcile with nothing to change sends none. The fake is strict
//! (tests/support/fake_api.rs): each step states the requests it expects, in order, and a request
//! no step expects fails the test, even when the reconcile swallows the error it gets.

use std::collections::BTreeMap;
use std::sync::Arc;

use dataproduct_operator::operator::index::{self, IndexedWriter};
use k8s_openapi::api::core::v1::Namespace;
use kube::core::{ObjectMeta, PartialObjectMeta};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::Value;

use dataproduct_operator::api::{labels, DataProduct, DataProductTemplate};
use dataproduct_operator::operator::context::{Applied, Context, Settings, Stores};
use dataproduct_operator::operator::events::Recorder;
use dataproduct_operator::operator::meta_cache::MetaCache;
use dataproduct_operator::operator::reconcile::{reconcile, FINALIZER};
use dataproduct_operator::operator::sync::SyncGate;
use dataproduct_operator::operator::telemetry::Metrics;

mod support;

use support::fake_api::{self, Behaviour, Expect, FakeApi, Seen};

/// The product the fake server returns from status and finalizer patches.
fn product_json() -> Value {
    let (product, _) = load_fixture();
    serde_json::to_value(product).unwrap()
}

fn load_fixture() -> (DataProduct, DataProductTemplate) {
    let (template, mut product) = fake_api::conversations();
    // Its producer messaging/events is not in these caches, so its pipeline would wait for it;
    // waiting has its own tests (tests/wiring.rs), these count the writes of everything else.
    for p in &mut product.spec.pipelines {
        p.wait_for_inputs = false;
    }
    product.metadata.uid = Some("uid-1".into());
    product.metadata.generation = Some(1);
    product.metadata.resource_version = Some("10".into());
    (product, template)
}

struct Harness {
    ctx: Arc<Context>,
    /// The strict fake API server: each step states the requests it expects.
    api: FakeApi,
    /// Writers of caches the tests do not change; kept so the readers stay live.
    _writers: (
        Writer<DataProductTemplate>,
        IndexedWriter<DataProduct>,
        IndexedWriter<dataproduct_operator::api::DataProductAccess>,
    ),
    namespaces: Writer<PartialObjectMeta<Namespace>>,
    children: BTreeMap<&'static str, Arc<MetaCache>>,
}

const KINDS: [&str; 8] = [
    "ServiceAccount",
    "ConfigMap",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "Role",
    "RoleBinding",
    "CronJob",
];

fn harness(template: &DataProductTemplate, behaviour: Behaviour) -> Harness {
    let api = FakeApi::strict(Behaviour {
        product: product_json(),
        ..behaviour
    });
    let client = api.client.clone();
    let mut templates = Writer::<DataProductTemplate>::default();
    templates.apply_watcher_event(&watcher::Event::Apply(template.clone()));
    let products = IndexedWriter::new(index::product_keys);
    let accesses = IndexedWriter::new(index::access_keys);
    let namespaces = Writer::<PartialObjectMeta<Namespace>>::default();
    let children: BTreeMap<&'static str, Arc<MetaCache>> =
        KINDS.iter().map(|k| (*k, Arc::default())).collect();
    let stores = Stores {
        products: products.as_reader(),
        templates: templates.as_reader(),
        accesses: accesses.as_reader(),
        namespaces: namespaces.as_reader(),
        children: children.clone(),
    };
    let ctx = Context {
        client: client.clone(),
        settings: Settings::default(),
        stores,
        metrics: Arc::new(Metrics::default()),
        recorder: Recorder::new(
            client,
            Reporter {
                controller: "test".into(),
                instance: None,
            },
        ),
        applied: Applied::default(),
        failures: Default::default(),
        aws: None,
        clock: || "2026-11-22T10:00:00Z".parse().unwrap(),
        gate: Arc::new(SyncGate::open()),
        written: Default::default(),
        access_written: Default::default(),
    };
    let mut h = Harness {
        ctx: Arc::new(ctx),
        api,
        _writers: (templates, products, accesses),
        namespaces,
        children,
    };
    // The domain's own namespace, labelled as the platform team does.
    h.add_namespace(
        "messaging",
        &[
            ("dataproducts.io/domain-namespace", "true"),
            (labels::DOMAIN, "messaging"),
        ],
    );
    h
}

impl Harness {
    /// The requests the next step must send, in order.
    fn expect(&self, requests: impl IntoIterator<Item = Expect>) {
        self.api.expect(requests);
    }

    /// The requests since the last take, once the fake has verified that they were exactly the
    /// expected ones.
    fn take(&self) -> Vec<Seen> {
        self.api.verify();
        self.api.take()
    }

    /// Makes the caches show what the fake server now holds after the applies in `seen`, as the
    /// watches would.
    fn reflect(&mut self, seen: &[Seen]) {
        for (kind, obj) in fake_api::applied(seen, &self.api.objects) {
            let event = watcher::Event::Apply(obj);
            if kind == "Namespace" {
                self.namespaces.apply_watcher_event(&event);
            } else if let Some(cache) = self.children.get(kind.as_str()) {
                cache.apply(&event);
            }
        }
    }

    fn add_namespace(&mut self, name: &str, labels: &[(&str, &str)]) {
        let obj = PartialObjectMeta::<Namespace> {
            types: None,
            metadata: ObjectMeta {
                name: Some(name.into()),
                resource_version: Some("5".into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            _phantom: Default::default(),
        };
        self.namespaces
            .apply_watcher_event(&watcher::Event::Apply(obj));
    }
}

const PRODUCT: &str =
    "/apis/dataproducts.io/v1alpha1/namespaces/messaging/dataproducts/conversations";
const NAMESPACE: &str = "/api/v1/namespaces/messaging-conversations";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/messaging/events";
const CRONJOB: &str =
    "/apis/batch/v1/namespaces/messaging-conversations/cronjobs/build-conversations";

/// The product's objects in its namespace, in the order the apply writes them.
const CHILDREN: [&str; 11] = [
    "/api/v1/namespaces/messaging-conversations/serviceaccounts/pipelines",
    "/api/v1/namespaces/messaging-conversations/resourcequotas/dataproduct-quota",
    "/api/v1/namespaces/messaging-conversations/limitranges/dataproduct-defaults",
    "/apis/networking.k8s.io/v1/namespaces/messaging-conversations/networkpolicies/default-deny",
    "/apis/networking.k8s.io/v1/namespaces/messaging-conversations/networkpolicies/allow-dns",
    "/apis/networking.k8s.io/v1/namespaces/messaging-conversations/networkpolicies/allow-https-egress",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/messaging-conversations/roles/dataproduct-pipelines",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/messaging-conversations/rolebindings/dataproduct-pipelines",
    "/apis/rbac.authorization.k8s.io/v1/namespaces/messaging-conversations/rolebindings/dataproduct-owners",
    "/api/v1/namespaces/messaging-conversations/configmaps/dataproduct-descriptor",
    CRONJOB,
];

/// The status apply and the Event that reports it.
fn status_and_event() -> Vec<Expect> {
    vec![
        Expect::patch(format!("{PRODUCT}/status")),
        Expect::post(EVENTS),
    ]
}

/// A first provisioning: the namespace is read (it does not exist), then it and every object in
/// it are applied without reads (nothing can exist in a namespace just created), then the status.
fn provisioning() -> Vec<Expect> {
    let mut requests = vec![Expect::get(NAMESPACE), Expect::patch(NAMESPACE)];
    requests.extend(CHILDREN.map(Expect::patch));
    requests.extend(status_and_event());
    requests
}

fn with_finalizer(mut p: DataProduct) -> DataProduct {
    p.metadata.finalizers = Some(vec![FINALIZER.into()]);
    p
}

/// The status the reconcile wrote, from the recorded status apply.
fn written_status(seen: &[Seen]) -> Option<dataproduct_operator::api::DataProductStatus> {
    seen.iter()
        .rev()
        .find(|s| s.method == "PATCH" && s.path.ends_with("/status"))
        .map(|s| serde_json::from_value(s.body["status"].clone()).unwrap())
}

fn writes(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.method != "GET")
        .map(|s| format!("{} {}", s.method, s.path))
        .collect()
}

#[tokio::test]
async fn first_reconcile_adds_the_finalizer_and_nothing_else() {
    let (product, template) = load_fixture();
    let h = harness(&template, Behaviour::default());
    h.expect([Expect::patch(PRODUCT)]);
    reconcile(Arc::new(product), h.ctx.clone()).await.unwrap();
    let seen = h.take();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "PATCH");
    assert_eq!(
        seen[0].path,
        "/apis/dataproducts.io/v1alpha1/namespaces/messaging/dataproducts/conversations"
    );
    assert!(
        seen[0].body.to_string().contains(FINALIZER),
        "{:?}",
        seen[0].body
    );
}

#[tokio::test]
async fn provisions_then_a_reconcile_with_nothing_to_change_sends_no_request() {
    let (product, template) = load_fixture();
    let mut h = harness(&template, Behaviour::default());
    let product = with_finalizer(product);
    h.expect(provisioning());
    reconcile(Arc::new(product.clone()), h.ctx.clone())
        .await
        .unwrap();
    let seen = h.take();
    let w = writes(&seen);
    // Namespace first, then the rest, then the status.
    assert_eq!(
        w.first().map(String::as_str),
        Some("PATCH /api/v1/namespaces/messaging-conversations"),
        "{w:#?}"
    );
    assert!(w.iter().any(|x| x == "PATCH /apis/batch/v1/namespaces/messaging-conversations/cronjobs/build-conversations"), "{w:#?}");
    assert!(
        w.iter()
            .any(|x| x.ends_with("/dataproducts/conversations/status")),
        "{w:#?}"
    );
    let status = written_status(&seen).expect("status written");
    assert_eq!(
        status.phase,
        Some(dataproduct_operator::api::Phase::Ready),
        "{status:#?}"
    );
    let aws = status
        .conditions
        .iter()
        .find(|c| c.type_ == "StorageReady")
        .unwrap();
    assert_eq!(
        (aws.status.as_str(), aws.reason.as_str()),
        ("Unknown", "AwsNotConfigured")
    );
    assert_eq!(status.namespace.as_deref(), Some("messaging-conversations"));
    assert!(!status.inventory.is_empty());

    // The watches now show what was applied; the product carries the status it was given.
    h.reflect(&seen);
    let mut settled = product;
    settled.status = Some(status);
    reconcile(Arc::new(settled), h.ctx.clone()).await.unwrap();
    let again = h.take();
    assert!(
        again.is_empty(),
        "a no-op reconcile sent requests: {:#?}",
        writes(&again)
    );
}

/// Someone wrote the CronJob: the server gives it a new resourceVersion and the watch reports it.
fn touch_cronjob(h: &mut Harness, resource_version: &str) {
    if let Some(stored) =
        h.api.objects.lock().unwrap().get_mut(
            "/apis/batch/v1/namespaces/messaging-conversations/cronjobs/build-conversations",
        )
    {
        stored["metadata"]["resourceVersion"] = resource_version.into();
    }
    let cj = PartialObjectMeta::<Namespace> {
        types: None,
        metadata: ObjectMeta {
            name: Some("build-conversations".into()),
            namespace: Some("messaging-conversations".into()),
            resource_version: Some(resource_version.into()),
            labels: Some(BTreeMap::from([
                (labels::PRODUCT.to_string(), "conversations".to_string()),
                (
                    labels::PRODUCT_NAMESPACE.to_string(),
                    "messaging".to_string(),
                ),
            ])),
            ..ObjectMeta::default()
        },
        _phantom: Default::default(),
    };
    h.children["CronJob"].apply(&watcher::Event::Apply(cj));
}

#[tokio::test]
async fn drift_is_read_and_only_a_real_difference_is_reapplied() {
    let (product, template) = load_fixture();
    let mut h = harness(&template, Behaviour::default());
    let product = with_finalizer(product);
    h.expect(provisioning());
    reconcile(Arc::new(product.clone()), h.ctx.clone())
        .await
        .unwrap();
    let seen = h.take();
    h.reflect(&seen);
    let mut settled = product;
    settled.status = written_status(&seen);
    let path = "/apis/batch/v1/namespaces/messaging-conversations/cronjobs/build-conversations";
    let requests = |seen: Vec<Seen>| {
        seen.iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect::<Vec<_>>()
    };

    // Someone touched the CronJob without changing what we set (an annotation of their own):
    // it is read, found equal, and not written.
    touch_cronjob(&mut h, "900");
    h.expect([Expect::get(CRONJOB)]);
    reconcile(Arc::new(settled.clone()), h.ctx.clone())
        .await
        .unwrap();
    assert_eq!(requests(h.take()), vec![format!("GET {path}")]);
    // Now known in sync at that version: nothing at all.
    reconcile(Arc::new(settled.clone()), h.ctx.clone())
        .await
        .unwrap();
    assert!(h.take().is_empty());

    // Someone changed the schedule: read, found different, re-applied.
    h.api.objects.lock().unwrap().get_mut(path).unwrap()["spec"]["schedule"] = "0 0 * * *".into();
    touch_cronjob(&mut h, "901");
    h.expect([Expect::get(CRONJOB), Expect::patch(CRONJOB)]);
    reconcile(Arc::new(settled), h.ctx.clone()).await.unwrap();
    let seen = h.take();
    assert_eq!(
        requests(seen.clone()),
        vec![format!("GET {path}"), format!("PATCH {path}")]
    );
    assert_eq!(seen[1].body["spec"]["schedule"], "0 3 * * *");
}

#[tokio::test]
async fn an_unlabelled_object_invisible_to_the_caches_is_a_conflict_not_overwritten() {
    let (product, template) = load_fixture();
    let mut h = harness(&template, Behaviour::default());
    // The product's namespace exists (provisioned earlier), and in it a ConfigMap with the
    // descriptor's name, created by hand without our labels; the label-filtered cache cannot
    // see it, but the read before the first write does. (A ConfigMap cannot exist in a
    // namespace that does not, and the apply skips reads in a namespace it just created.)
    let ours = [
        (labels::PRODUCT, "conversations"),
        (labels::PRODUCT_NAMESPACE, "messaging"),
        (labels::MANAGED_BY, labels::MANAGER),
    ];
    h.add_namespace("messaging-conversations", &ours);
    h.api.objects.lock().unwrap().insert(
        "/api/v1/namespaces/messaging-conversations".into(),
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "messaging-conversations", "resourceVersion": "5", "labels": {labels::PRODUCT: "conversations", labels::PRODUCT_NAMESPACE: "messaging", labels::MANAGED_BY: labels::MANAGER}}}),
    );
    h.api.objects.lock().unwrap().insert(
        "/api/v1/namespaces/messaging-conversations/configmaps/dataproduct-descriptor".into(),
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dataproduct-descriptor", "namespace": "messaging-conversations", "resourceVersion": "3"}, "data": {"x": "y"}}),
    );
    // The namespace exists, so each object is read before its first write; the ConfigMap's read
    // finds the foreign one, and the apply stops there (no write of it, nor of the CronJob).
    let mut expected = vec![Expect::get(NAMESPACE), Expect::patch(NAMESPACE)];
    for child in &CHILDREN[..9] {
        expected.extend([Expect::get(*child), Expect::patch(*child)]);
    }
    expected.push(Expect::get(CHILDREN[9]));
    expected.extend(status_and_event());
    h.expect(expected);
    reconcile(Arc::new(with_finalizer(product)), h.ctx.clone())
        .await
        .unwrap();
    let seen = h.take();
    assert!(
        !seen
            .iter()
            .any(|s| s.method == "PATCH" && s.path.contains("configmaps/dataproduct-descriptor")),
        "the foreign ConfigMap was written"
    );
    let ns = written_status(&seen)
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "NamespaceReady")
        .unwrap();
    assert_eq!(ns.reason, "Conflict");
    assert!(ns.message.contains("ConfigMap messaging-conversations/dataproduct-descriptor exists and is not managed by dataproduct-operator"), "{}", ns.message);
}

#[tokio::test]
async fn invalid_spec_writes_only_its_status() {
    let (mut product, template) = load_fixture();
    product.spec.outputs[0].schema[0].type_ = "strnig".into();
    let h = harness(&template, Behaviour::default());
    let product = with_finalizer(product);
    h.expect([
        Expect::patch(format!("{PRODUCT}/status")),
        Expect::post(EVENTS).body("reason GovernanceViolation", |event| {
            event["reason"] == "GovernanceViolation"
        }),
    ]);
    reconcile(Arc::new(product.clone()), h.ctx.clone())
        .await
        .unwrap();
    let seen = h.take();
    let w = writes(&seen);
    assert!(
        w.iter()
            .all(|x| x.ends_with("/status") || x.contains("/events")),
        "{w:#?}"
    );
    let status = written_status(&seen).unwrap();
    assert_eq!(
        status.phase,
        Some(dataproduct_operator::api::Phase::Invalid)
    );
    let valid = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Valid")
        .unwrap();
    assert_eq!(
        (valid.status.as_str(), valid.reason.as_str()),
        ("False", "GovernanceViolation")
    );
    assert!(
        valid
            .message
            .contains("spec.outputs[0].schema[0].type: unknown type \"strnig\""),
        "{}",
        valid.message
    );
    assert!(seen
        .iter()
        .any(|s| s.path.contains("/events") && s.body.to_string().contains("GovernanceViolation")));
    // Nothing changes until the spec does.
    let mut settled = product;
    settled.status = Some(status);
    reconcile(Arc::new(settled), h.ctx.clone()).await.unwrap();
    assert!(h.take().is_empty());
}

#[tokio::test]
async fn a_foreign_namespace_is_left_untouched_and_reported() {
    let (product, template) = load_fixture();
    let mut h = harness(&template, Behaviour::default());
    h.add_namespace("messaging-conversations", &[("team", "someone-else")]);
    h.expect(status_and_event());
    reconcile(Arc::new(with_finalizer(product)), h.ctx.clone())
        .await
        .unwrap();
    let seen = h.take();
    let w = writes(&seen);
    assert!(
        w.iter()
            .all(|x| x.ends_with("/status") || x.contains("/events")),
        "touched something: {w:#?}"
    );
    let status = written_status(&seen).unwrap();
    let ns = status
        .conditions
        .iter()
        .find(|c| c.type_ == "NamespaceReady")
        .unwrap();
    assert_eq!(
        (ns.status.as_str(), ns.reason.as_str()),
        ("False", "Conflict")
    );
    assert!(
        ns.message.contains(
            "Namespace messaging-conversations exists and is not managed by dataproduct-operator"
        ),
        "{}",
        ns.message
    );
    assert_eq!(
        status.phase,
        Some(dataproduct_operator::api::Phase::Degraded)
    );
}

#[tokio::test]
async fn a_domain_mismatch_provisions_nothing() {
    let (product, template) = load_fixture();
    let mut h = harness(&template, Behaviour::default());
    h.add_namespace(
        "messaging",
        &[
            ("dataproducts.io/domain-namespace", "true"),
            (labels::DOMAIN, "orders"),
        ],
    );
    h.expect(status_and_event());
    reconcile(Arc::new(with_finalizer(product)), h.ctx.clone())
        .await
        .unwrap();
    let seen = h.take();
    assert!(writes(&seen)
        .iter()
        .all(|x| x.ends_with("/status") || x.contains("/events")));
    let valid = written_status(&seen)
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Valid")
        .unwrap();
    assert_eq!(valid.reason, "DomainMismatch");
}

#[tokio::test]
async fn cleanup_tolerates_missing_children_and_releases_the_finalizer() {
    let (product, template) = load_fixture();
    let mut h = harness(
        &template,
        Behaviour {
            deletes_not_found: true,
            ..Behaviour::default()
        },
    );
    let mut deleting = with_finalizer(product);
    deleting.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-11-22T09:00:00Z".parse().unwrap(),
        ));
    deleting.status = Some(dataproduct_operator::api::DataProductStatus {
        namespace: Some("messaging-conversations".into()),
        inventory: vec![dataproduct_operator::api::InventoryEntry {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("messaging-conversations".into()),
            name: "dataproduct-descriptor".into(),
        }],
        ..Default::default()
    });
    // The namespace is still cached as ours, but the API says it is already gone.
    h.add_namespace(
        "messaging-conversations",
        &[
            (labels::PRODUCT, "conversations"),
            (labels::PRODUCT_NAMESPACE, "messaging"),
        ],
    );
    h.expect([
        // Deleting, before anything is removed.
        Expect::patch(format!("{PRODUCT}/status")),
        // Once as the status's namespace, once as the cache's: the API says 404 to both.
        Expect::delete(NAMESPACE),
        Expect::delete(NAMESPACE),
        Expect::post(EVENTS).body("reason Deleted", |event| event["reason"] == "Deleted"),
        // The finalizer is released last.
        Expect::patch(PRODUCT),
    ]);
    reconcile(Arc::new(deleting), h.ctx.clone()).await.unwrap();
    let seen = h.take();
    let w = writes(&seen);
    assert!(
        w.contains(&"DELETE /api/v1/namespaces/messaging-conversations".to_string()),
        "{w:#?}"
    );
    assert!(
        !w.iter().any(|x| x.contains("configmaps")),
        "the missing ConfigMap needs no call: {w:#?}"
    );
    let last = seen.last().unwrap();
    assert_eq!(
        last.method, "PATCH",
        "the finalizer is removed last: {w:#?}"
    );
    assert!(last.path.ends_with("/dataproducts/conversations"));
    assert!(seen
        .iter()
        .any(|s| s.path.contains("/events") && s.body.to_string().contains("Deleted")));
}

/// The strict fake itself: a request no step expects is answered 500 and reported by method and
/// path; so are an expected request that never comes and a body its check refuses.
#[tokio::test]
async fn the_fake_reports_stray_missing_and_refused_requests() {
    let (product, template) = load_fixture();
    let h = harness(&template, Behaviour::default());
    // Nothing expected: the finalizer patch is a stray request.
    let stray = reconcile(Arc::new(product.clone()), h.ctx.clone()).await;
    assert!(stray.is_err(), "the reconcile got the 500: {stray:?}");
    assert_eq!(
        h.api.problems(),
        vec![format!(
            "unexpected request PATCH {PRODUCT} (expected next: nothing)"
        )]
    );
    let seen = h.api.take();
    assert_eq!(
        (seen.len(), seen[0].status),
        (1, 500),
        "answered 500, not applied: {seen:?}"
    );

    // The finalizer patch expected with a body it does not have, and a read that never comes.
    h.expect([
        Expect::patch(PRODUCT).body("no finalizer", |patch| {
            !patch.to_string().contains(FINALIZER)
        }),
        Expect::get(NAMESPACE),
    ]);
    let refused = reconcile(Arc::new(product), h.ctx.clone()).await;
    assert!(refused.is_err(), "the reconcile got the 500: {refused:?}");
    let problems = h.api.problems();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with(&format!(
            "request PATCH {PRODUCT}: the body fails the check \"no finalizer\""
        )),
        "{problems:#?}"
    );
    assert_eq!(
        problems[1],
        format!("expected request GET {NAMESPACE} never came")
    );
    h.api.take();
}

/// A stray request fails the test even when the reconcile swallows the 500 (an Event that cannot
/// be recorded is only logged) and the test never verifies: the fake verifies when dropped.
#[tokio::test]
#[should_panic(
    expected = "unexpected request POST /apis/events.k8s.io/v1/namespaces/messaging/events (expected next: nothing)"
)]
async fn a_stray_request_the_reconcile_swallows_still_fails_the_test() {
    let (mut product, template) = load_fixture();
    product.spec.outputs[0].schema[0].type_ = "strnig".into();
    let h = harness(&template, Behaviour::default());
    // The status write only: the Event that comes with it is not declared.
    h.expect([Expect::patch(format!("{PRODUCT}/status"))]);
    reconcile(Arc::new(with_finalizer(product)), h.ctx.clone())
        .await
        .expect("the reconcile swallows the failed Event");
}

#[tokio::test]
async fn consumers_appear_in_the_status_and_leave_it_with_one_write_each() {
    use dataproduct_operator::api::{
        AccessPhase, ConsumerKind, DataProductAccess, DataProductAccessStatus, Input,
    };
    let (product, template) = load_fixture();
    let mut h = harness(&template, Behaviour::default());
    let product = with_finalizer(product);
    h.expect(provisioning());
    reconcile(Arc::new(product.clone()), h.ctx.clone())
        .await
        .unwrap();
    let seen = h.take();
    h.reflect(&seen);
    let mut settled = product;
    settled.status = written_status(&seen);
    assert!(settled.status.as_ref().unwrap().consumers.is_empty());

    // A product of another domain starts reading one of the outputs.
    let output = settled.spec.outputs[0].name.clone();
    let mut reader = DataProduct::new("insights", Default::default());
    reader.metadata.namespace = Some("analytics".into());
    reader.spec.inputs = vec![Input {
        product: Some("messaging/conversations".into()),
        output: Some(output.clone()),
        external: None,
    }];
    h._writers
        .1
        .apply_watcher_event(&watcher::Event::Apply(reader.clone()));
    // A granted access request counts too; a pending one does not.
    let access = |name: &str, phase| {
        let mut a = DataProductAccess::new(name, Default::default());
        a.metadata.namespace = Some("analytics".into());
        a.spec.product = "messaging/conversations".into();
        a.status = Some(DataProductAccessStatus {
            phase: Some(phase),
            ..Default::default()
        });
        a
    };
    h._writers
        .2
        .apply_watcher_event(&watcher::Event::Apply(access(
            "notebooks",
            AccessPhase::Granted,
        )));
    h._writers
        .2
        .apply_watcher_event(&watcher::Event::Apply(access(
            "waiting",
            AccessPhase::Pending,
        )));

    // One status write, no Event (neither the phase nor the Ready reason changed).
    h.expect([Expect::patch(format!("{PRODUCT}/status"))]);
    reconcile(Arc::new(settled.clone()), h.ctx.clone())
        .await
        .unwrap();
    let seen = h.take();
    let status = written_status(&seen).expect("status written");
    let listed: Vec<String> = status.consumers.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        listed,
        [
            format!("Product analytics/insights ({output})"),
            "Access analytics/notebooks".to_string(),
        ]
    );
    assert_eq!(status.consumers[0].kind, ConsumerKind::Product);
    settled.status = Some(status);

    // Nothing changed: nothing is sent.
    reconcile(Arc::new(settled.clone()), h.ctx.clone())
        .await
        .unwrap();
    let again = h.take();
    assert!(
        again.is_empty(),
        "a no-op reconcile sent requests: {:#?}",
        writes(&again)
    );

    // The reader goes (its delete sets a deletionTimestamp first), the request is deleted.
    let mut leaving = reader;
    leaving.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-11-22T10:00:00Z".parse().unwrap(),
        ));
    h._writers
        .1
        .apply_watcher_event(&watcher::Event::Apply(leaving));
    h._writers
        .2
        .apply_watcher_event(&watcher::Event::Delete(access(
            "notebooks",
            AccessPhase::Granted,
        )));
    h.expect([Expect::patch(format!("{PRODUCT}/status"))]);
    reconcile(Arc::new(settled.clone()), h.ctx.clone())
        .await
        .unwrap();
    let status = written_status(&h.take()).expect("status written");
    assert!(status.consumers.is_empty(), "{:?}", status.consumers);
}
