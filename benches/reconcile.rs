//! Reconcile benchmark against a fake Kubernetes API (no cluster can run on CI machines): the
//! cost of a first provisioning and of a reconcile that finds nothing to change, and the number
//! of API requests each sends, for a growing number of existing products.
//!
//! Run: `cargo bench --bench reconcile` (optionally `-- 100 1000 5000`).

// The tests' fake API server, in its permissive mode (a benchmark states no expectations).
#[path = "../tests/support/fake_api.rs"]
#[allow(dead_code)]
mod fake_api;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataproduct_operator::api::{
    labels, DataProduct, DataProductAccess, DataProductStatus, DataProductTemplate,
};
use dataproduct_operator::operator::context::{Applied, Context, Settings, Stores};
use dataproduct_operator::operator::events::Recorder;
use dataproduct_operator::operator::index::{self, IndexedWriter};
use dataproduct_operator::operator::meta_cache::MetaCache;
use dataproduct_operator::operator::reconcile::{reconcile, FINALIZER};
use dataproduct_operator::operator::telemetry::Metrics;
use k8s_openapi::api::core::v1::Namespace;
use kube::core::{ObjectMeta, PartialObjectMeta};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;

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

struct Round {
    first: Duration,
    first_requests: usize,
    noop: Duration,
    noop_requests: usize,
}

async fn round(n: usize) -> Round {
    let (template, pattern) = fake_api::conversations();
    let api = fake_api::FakeApi::permissive(fake_api::Behaviour {
        product: serde_json::to_value(&pattern).unwrap(),
        ..Default::default()
    });
    let (client, seen, objects) = (api.client.clone(), api.seen.clone(), api.objects.clone());
    let mut templates = Writer::<DataProductTemplate>::default();
    templates.apply_watcher_event(&watcher::Event::Apply(template));
    let mut products_w = IndexedWriter::new(index::product_keys);
    let accesses_w = IndexedWriter::<DataProductAccess>::new(index::access_keys);
    let mut namespaces_w = Writer::<PartialObjectMeta<Namespace>>::default();
    namespaces_w.apply_watcher_event(&watcher::Event::Apply(PartialObjectMeta {
        types: None,
        metadata: ObjectMeta {
            name: Some("messaging".into()),
            labels: Some(BTreeMap::from([
                (
                    "dataproducts.io/domain-namespace".to_string(),
                    "true".to_string(),
                ),
                (labels::DOMAIN.to_string(), "messaging".to_string()),
            ])),
            ..ObjectMeta::default()
        },
        _phantom: Default::default(),
    }));
    let children: BTreeMap<&'static str, Arc<MetaCache>> =
        KINDS.iter().map(|k| (*k, Arc::default())).collect();
    let child_caches = children.clone();
    let products: Vec<DataProduct> = (0..n)
        .map(|i| {
            let mut p = pattern.clone();
            p.metadata.name = Some(format!("conversations-{i:05}"));
            p.metadata.finalizers = Some(vec![FINALIZER.into()]);
            p.metadata.generation = Some(1);
            p.spec.access.consumers.clear();
            p
        })
        .collect();
    for p in &products {
        products_w.apply_watcher_event(&watcher::Event::Apply(p.clone()));
    }
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings: Settings::default(),
        stores: Stores {
            products: products_w.as_reader(),
            templates: templates.as_reader(),
            accesses: accesses_w.as_reader(),
            namespaces: namespaces_w.as_reader(),
            children,
        },
        metrics: Arc::new(Metrics::default()),
        recorder: Recorder::new(
            client,
            Reporter {
                controller: "bench".into(),
                instance: None,
            },
        ),
        applied: Applied::default(),
        failures: Default::default(),
        aws: None,
        clock: || "2026-11-22T10:00:00Z".parse().unwrap(),
        gate: Arc::new(dataproduct_operator::operator::sync::SyncGate::open()),
        written: Default::default(),
        access_written: Default::default(),
    });

    // First provisioning of every product.
    let start = Instant::now();
    let mut settled = Vec::with_capacity(n);
    for p in &products {
        reconcile(Arc::new(p.clone()), ctx.clone()).await.unwrap();
        let log = std::mem::take(&mut *seen.lock().unwrap());
        for (kind, obj) in fake_api::applied(&log, &objects) {
            let event = watcher::Event::Apply(obj);
            if kind == "Namespace" {
                namespaces_w.apply_watcher_event(&event);
            } else if let Some(cache) = child_caches.get(kind.as_str()) {
                cache.apply(&event);
            }
        }
        let status: Option<DataProductStatus> = log
            .iter()
            .rev()
            .find(|s| s.path.ends_with("/status"))
            .map(|s| serde_json::from_value(s.body["status"].clone()).unwrap());
        let mut done = p.clone();
        done.status = status;
        settled.push((done, log.len()));
    }
    let first = start.elapsed();
    let first_requests = settled.iter().map(|(_, n)| n).sum::<usize>();

    // A second reconcile of every product: nothing to change.
    let start = Instant::now();
    for (p, _) in &settled {
        reconcile(Arc::new(p.clone()), ctx.clone()).await.unwrap();
    }
    let noop = start.elapsed();
    let noop_requests = seen.lock().unwrap().len();
    Round {
        first,
        first_requests,
        noop,
        noop_requests,
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100, 1000]
    } else {
        sizes
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for n in sizes {
        let r = rt.block_on(round(n));
        println!(
            "{n} products: first reconcile {:.0} µs and {:.1} API requests per product; no-op reconcile {:.1} µs and {:.1} API requests per product",
            r.first.as_secs_f64() * 1e6 / n as f64,
            r.first_requests as f64 / n as f64,
            r.noop.as_secs_f64() * 1e6 / n as f64,
            r.noop_requests as f64 / n as f64,
        );
    }
}
