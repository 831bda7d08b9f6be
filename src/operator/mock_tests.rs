//! Controller scenarios against a mocked Kubernetes API (kube's tower-test pattern): every request
//! the reconcile sends is recorded and answered like the API server would; tests assert on the
//! exact requests, and that a reconcile with nothing to change sends none.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Namespace;
use kube::core::{ObjectMeta, PartialObjectMeta};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::Value;

use super::context::{Applied, Context, MetaLookup, Settings, Stores};
use super::reconcile::{reconcile, FINALIZER};
use super::telemetry::Metrics;
use crate::api::{labels, DataProduct, DataProductTemplate};

use super::fake_api::{self, Behaviour, Seen};

/// The product the fake server returns from status and finalizer patches.
fn product_json() -> Value {
    let (product, _) = load_fixture();
    serde_json::to_value(product).unwrap()
}

fn load_fixture() -> (DataProduct, DataProductTemplate) {
    let (template, mut product) = fake_api::conversations();
    product.metadata.uid = Some("uid-1".into());
    product.metadata.generation = Some(1);
    product.metadata.resource_version = Some("10".into());
    (product, template)
}

struct Harness {
    ctx: Arc<Context>,
    /// What the fake API server holds.
    objects: fake_api::Objects,
    /// Writers of caches the tests do not change; kept so the readers stay live.
    _writers: (
        Writer<DataProductTemplate>,
        Writer<DataProduct>,
        Writer<crate::api::DataProductAccess>,
    ),
    seen: Arc<Mutex<Vec<Seen>>>,
    namespaces: Writer<PartialObjectMeta<Namespace>>,
    children: BTreeMap<&'static str, Writer<PartialObjectMeta<Namespace>>>,
}

/// Child caches in tests hold PartialObjectMeta of any kind; the lookup only reads metadata, so
/// one concrete type serves every kind.
fn child_store() -> (Writer<PartialObjectMeta<Namespace>>, Arc<dyn MetaLookup>) {
    let writer: Writer<PartialObjectMeta<Namespace>> = Writer::default();
    let reader = writer.as_reader();
    (writer, Arc::new(reader))
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
    let (client, seen, objects) = fake_api::start(Behaviour {
        product: product_json(),
        ..behaviour
    });
    let mut templates = Writer::<DataProductTemplate>::default();
    templates.apply_watcher_event(&watcher::Event::Apply(template.clone()));
    let products = Writer::<DataProduct>::default();
    let accesses = Writer::<crate::api::DataProductAccess>::default();
    let namespaces = Writer::<PartialObjectMeta<Namespace>>::default();
    let mut children_writers = BTreeMap::new();
    let mut children: BTreeMap<&'static str, Arc<dyn MetaLookup>> = BTreeMap::new();
    for kind in KINDS {
        let (w, r) = child_store();
        children_writers.insert(kind, w);
        children.insert(kind, r);
    }
    let stores = Stores {
        products: products.as_reader(),
        templates: templates.as_reader(),
        accesses: accesses.as_reader(),
        namespaces: namespaces.as_reader(),
        children,
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
        gate: Arc::new(super::sync::SyncGate::open()),
        written: Default::default(),
        access_written: Default::default(),
    };
    let mut h = Harness {
        ctx: Arc::new(ctx),
        objects,
        _writers: (templates, products, accesses),
        seen,
        namespaces,
        children: children_writers,
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
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// Makes the caches show what the fake server now holds after the applies in `seen`, as the
    /// watches would.
    fn reflect(&mut self, seen: &[Seen]) {
        for (kind, obj) in fake_api::applied(seen, &self.objects) {
            let event = watcher::Event::Apply(obj);
            if kind == "Namespace" {
                self.namespaces.apply_watcher_event(&event);
            } else if let Some(w) = self.children.get_mut(kind.as_str()) {
                w.apply_watcher_event(&event);
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

fn with_finalizer(mut p: DataProduct) -> DataProduct {
    p.metadata.finalizers = Some(vec![FINALIZER.into()]);
    p
}

/// The status the reconcile wrote, from the recorded status apply.
fn written_status(seen: &[Seen]) -> Option<crate::api::DataProductStatus> {
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
    assert_eq!(status.phase, Some(crate::api::Phase::Ready), "{status:#?}");
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
        h.objects.lock().unwrap().get_mut(
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
    h.children
        .get_mut("CronJob")
        .unwrap()
        .apply_watcher_event(&watcher::Event::Apply(cj));
}

#[tokio::test]
async fn drift_is_read_and_only_a_real_difference_is_reapplied() {
    let (product, template) = load_fixture();
    let mut h = harness(&template, Behaviour::default());
    let product = with_finalizer(product);
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
    h.objects.lock().unwrap().get_mut(path).unwrap()["spec"]["schedule"] = "0 0 * * *".into();
    touch_cronjob(&mut h, "901");
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
    h.objects.lock().unwrap().insert(
        "/api/v1/namespaces/messaging-conversations".into(),
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "messaging-conversations", "resourceVersion": "5", "labels": {labels::PRODUCT: "conversations", labels::PRODUCT_NAMESPACE: "messaging", labels::MANAGED_BY: labels::MANAGER}}}),
    );
    h.objects.lock().unwrap().insert(
        "/api/v1/namespaces/messaging-conversations/configmaps/dataproduct-descriptor".into(),
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dataproduct-descriptor", "namespace": "messaging-conversations", "resourceVersion": "3"}, "data": {"x": "y"}}),
    );
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
    assert_eq!(status.phase, Some(crate::api::Phase::Invalid));
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
    assert_eq!(status.phase, Some(crate::api::Phase::Degraded));
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
    deleting.status = Some(crate::api::DataProductStatus {
        namespace: Some("messaging-conversations".into()),
        inventory: vec![crate::api::InventoryEntry {
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
