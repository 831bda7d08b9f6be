//! Starting the operator: watches, caches, the controllers, leader election, the health server
//! and graceful shutdown.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, PartialObjectMeta};
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{error, info, warn};

use super::context::{Applied, Context, Settings, Stores, Written};
use super::events::Recorder;
use super::index::{self, Index, Indexed};
use super::leader::{Elector, LeaseConfig};
use super::meta_cache::MetaCache;
use super::reconcile::{error_policy, reconcile};
use super::sync::SyncGate;
use super::telemetry::{self, Health, Metrics};
use super::unreadable::{self, Lenient, Unreadable};
use crate::api::{labels, DataProduct, DataProductAccess, DataProductTemplate};

/// How the operator runs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub settings: Settings,
    pub concurrency: u16,
    pub listen: SocketAddr,
    pub leader_election: Option<LeaseConfig>,
    pub aws: Option<super::cloud::CloudConfig>,
    /// Where the leader sends OpenLineage events of the pipelines' runs; none when unset.
    pub openlineage: Option<super::lineage::LineageConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot reach the Kubernetes API: {0}")]
    Client(#[source] kube::Error),
    #[error("health server on {addr}: {source}")]
    Server {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("AWS: {0}")]
    Aws(#[source] crate::aws::AwsError),
    #[error("leadership lost; stopping so another replica can take over")]
    LeadershipLost,
}

/// Only what the operator created is watched among the child kinds.
const MANAGED: &str = "app.kubernetes.io/managed-by=dataproduct-operator";

/// Room in the shared product and access streams for events not yet taken by every consumer.
const SHARED_BUFFER: usize = 1024;

/// After a stop is requested, what is still running gets this long before the operator exits
/// anyway, so a pod never outlives its termination grace period because of a stuck watch.
const STOP_DEADLINE: Duration = Duration::from_millis(1500);

/// How long the leader tries to release its lease once stopped (one replace, or a read and a
/// replace after a conflict); past it the lease simply expires for the standby.
const RELEASE_DEADLINE: Duration = Duration::from_secs(1);

/// A watch's stream: events of `K`, with every error retried by the watcher's backoff.
type Events<K> = futures::stream::BoxStream<'static, watcher::Result<watcher::Event<K>>>;

/// A watch of a kind whose objects may not all be readable: raw objects on the wire, converted
/// one by one, so one bad object is reported and skipped instead of failing the whole list.
///
/// The caller passes it through its cache before [`SyncGate::track`], so a watch reported synced
/// has its list in the cache.
fn lenient_watch<K: Lenient + std::fmt::Debug + Send + Sync + 'static>(
    api: Api<DynamicObject>,
    report: tokio::sync::mpsc::UnboundedSender<Unreadable>,
) -> Events<K> {
    watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(unreadable::slim_object)
        .try_filter_map(move |event| {
            let report = report.clone();
            async move {
                Ok(unreadable::readable::<K>(event, &move |u| {
                    let _ = report.send(u);
                }))
            }
        })
        .boxed()
}

/// A lenient watch into its shared store. The index takes each event before the store, so a
/// mapper never finds an object in the store that the index does not know yet; the sync gate
/// sees it after both. Shared stores pass on changes, not deletes: deletes go to `deleted`.
fn shared_watch<K>(
    events: Events<K>,
    index: Arc<Index<K>>,
    writer: reflector::store::Writer<K>,
    gate: &Arc<SyncGate>,
    name: &'static str,
    deleted: futures::channel::mpsc::UnboundedSender<Result<K, watcher::Error>>,
) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    let cached = events
        .inspect_ok(move |e| index.apply(e))
        .reflect_shared(writer);
    gate.track(name, cached).inspect_ok(move |e| {
        if let watcher::Event::Delete(k) = e {
            let _ = deleted.unbounded_send(Ok(k.clone()));
        }
    })
}

fn raw_api<K: Resource<DynamicType = ()>>(
    client: &Client,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let ar = ApiResource::erase::<K>(&());
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// A metadata-only watch (kube sends `as=PartialObjectMetadata` for `PartialObjectMeta` APIs),
/// cut down to what is read before it reaches the cache.
fn metadata_watch<K>(
    client: &Client,
    gate: &Arc<SyncGate>,
    name: &'static str,
    config: watcher::Config,
) -> (
    Store<PartialObjectMeta<K>>,
    impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    // The store takes each event before the gate sees it.
    let watch = watcher(Api::<PartialObjectMeta<K>>::all(client.clone()), config)
        .default_backoff()
        .modify(move |o: &mut PartialObjectMeta<K>| unreadable::slim_to_identity(&mut o.metadata));
    let stream = gate
        .track(name, reflector::reflector(writer, watch))
        .touched_objects();
    (reader, stream)
}

/// A child kind's metadata-only watch of what the operator manages, kept in a [`MetaCache`]
/// (resourceVersion and owner per object) rather than a store of whole metadata.
fn child_watch<K>(
    client: &Client,
    gate: &Arc<SyncGate>,
    name: &'static str,
) -> (
    Arc<MetaCache>,
    impl Stream<Item = Result<PartialObjectMeta<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let cache = Arc::new(MetaCache::default());
    let fill = cache.clone();
    let config = watcher::Config::default().labels(MANAGED);
    // The cache takes each event before the gate sees it, so a watch reported synced has its
    // list in the cache.
    let watch = watcher(Api::<PartialObjectMeta<K>>::all(client.clone()), config)
        .default_backoff()
        .inspect_ok(move |event| fill.apply(event));
    let stream = gate.track(name, watch).touched_objects();
    (cache, stream)
}

fn owner_ref<K: Resource>(obj: &K) -> Option<ObjectRef<DataProduct>> {
    let l = obj.meta().labels.as_ref()?;
    Some(ObjectRef::new(l.get(labels::PRODUCT)?).within(l.get(labels::PRODUCT_NAMESPACE)?))
}

/// The plural of a kind, as its watch is named in /readyz.
fn plural<K: Resource<DynamicType = ()>>() -> &'static str {
    Box::leak(K::plural(&()).into_owned().into_boxed_str())
}

/// What `dpctl run` calls: connects with `kube` (every request counted on the wire) and runs
/// until `stop` resolves or leadership is lost. Tests drive the real wiring through this, with
/// their own stop; [`signal`] is the one `dpctl run` gives.
pub async fn start(
    kube: kube::Config,
    config: RunConfig,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let client = telemetry::count_requests(kube, metrics.clone()).map_err(RunError::Client)?;
    run_with_metrics(client, config, stop, metrics).await
}

/// Runs until SIGTERM or Ctrl-C (or loss of leadership).
pub async fn run(client: Client, config: RunConfig) -> Result<(), RunError> {
    run_until(client, config, signal()).await
}

/// Runs until `stop` resolves (or leadership is lost). Tests drive the real wiring through this,
/// with their own stop.
pub async fn run_until(
    client: Client,
    config: RunConfig,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    run_with_metrics(client, config, stop, Arc::new(Metrics::default())).await
}

/// [`run_until`] with the metrics the client's request counter already feeds.
pub async fn run_with_metrics(
    client: Client,
    config: RunConfig,
    stop: impl Future<Output = ()> + Send + 'static,
    metrics: Arc<Metrics>,
) -> Result<(), RunError> {
    // Without leader election this replica always leads.
    let leading = Arc::new(AtomicBool::new(config.leader_election.is_none()));
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let shutdown = {
        let rx = shutdown_rx.clone();
        move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        }
    };
    tokio::spawn({
        let tx = shutdown_tx.clone();
        async move {
            stop.await;
            info!("shutdown requested");
            let _ = tx.send(true);
        }
    });

    let namespace = match config.settings.namespaces.as_slice() {
        [one] => Some(one.as_str()),
        _ => None,
    };
    let mut watch_names = vec![
        "dataproducts",
        "dataproducttemplates",
        "dataproductaccesses",
        "namespaces",
    ];
    macro_rules! child_names {
        ($($k:ty),*) => { vec![$(plural::<$k>()),*] };
    }
    watch_names.extend(crate::cluster::kinds::for_each_child_kind!(child_names));
    let gate = Arc::new(SyncGate::new(watch_names));

    let health = Health {
        metrics: metrics.clone(),
        gate: gate.clone(),
        leading: leading.clone(),
    };
    let listen = config.listen;
    let server = tokio::spawn(telemetry::serve(listen, health, shutdown()));

    // Objects that cannot be read go to the reporter, which the leader runs.
    let (report_tx, report_rx) = tokio::sync::mpsc::unbounded_channel::<Unreadable>();

    // One DataProduct watch, shared by the product controller, its dependents trigger and the
    // access controller.
    let (products, products_writer) = reflector::store_shared::<DataProduct>(SHARED_BUFFER);
    let products = Indexed {
        store: products,
        index: Arc::new(Index::new(index::product_keys)),
    };
    let subscribe = |w: &reflector::store::Writer<DataProduct>| {
        w.subscribe().expect("a shared store has subscribers")
    };
    let (product_trigger, dependents, producers, readers) = (
        subscribe(&products_writer),
        subscribe(&products_writer),
        subscribe(&products_writer),
        subscribe(&products_writer),
    );
    // Shared stores pass on changes, not deletes: deleted readers are sent on to their
    // producers, whose `status.consumers` must drop them.
    let (deleted_products_tx, deleted_products) = futures::channel::mpsc::unbounded();
    let products_root = shared_watch(
        lenient_watch::<DataProduct>(
            raw_api::<DataProduct>(&client, namespace),
            report_tx.clone(),
        ),
        products.index.clone(),
        products_writer,
        &gate,
        "dataproducts",
        deleted_products_tx,
    );

    // One DataProductAccess watch, shared by both controllers.
    let (accesses, accesses_writer) = reflector::store_shared::<DataProductAccess>(SHARED_BUFFER);
    let accesses = Indexed {
        store: accesses,
        index: Arc::new(Index::new(index::access_keys)),
    };
    let (access_trigger, access_changes) = (
        accesses_writer
            .subscribe()
            .expect("a shared store has subscribers"),
        accesses_writer
            .subscribe()
            .expect("a shared store has subscribers"),
    );
    let (deleted_accesses_tx, deleted_accesses) = futures::channel::mpsc::unbounded();
    let accesses_root = shared_watch(
        lenient_watch::<DataProductAccess>(
            raw_api::<DataProductAccess>(&client, None),
            report_tx.clone(),
        ),
        accesses.index.clone(),
        accesses_writer,
        &gate,
        "dataproductaccesses",
        deleted_accesses_tx,
    );

    let (templates, templates_writer) = reflector::store();
    let templates_stream = gate
        .track(
            "dataproducttemplates",
            reflector::reflector(
                templates_writer,
                lenient_watch::<DataProductTemplate>(
                    raw_api::<DataProductTemplate>(&client, None),
                    report_tx.clone(),
                ),
            ),
        )
        .touched_objects();
    let (namespaces, namespaces_stream) =
        metadata_watch::<Namespace>(&client, &gate, "namespaces", watcher::Config::default());

    // The child caches are added below, with their watches.
    let mut stores = Stores {
        products: products.clone(),
        templates: templates.clone(),
        accesses: accesses.clone(),
        namespaces: namespaces.clone(),
        children: BTreeMap::new(),
    };

    let aws = match &config.aws {
        Some(cfg) => Some(Arc::new(
            super::cloud::Cloud::new(cfg.clone(), metrics.clone())
                .await
                .map_err(RunError::Aws)?,
        )),
        None => {
            info!("no AWS configuration: provisioning the Kubernetes side only (AWS conditions report AwsNotConfigured)");
            None
        }
    };

    let controller = Controller::for_shared_stream(product_trigger, products.store.clone())
        .with_config(ControllerConfig::default().concurrency(config.concurrency));

    // The child kinds: one metadata-only watch each, labelled as ours.
    macro_rules! watch_children {
        ($($k:ty),*) => {{
            let mut c = controller;
            $(
                let (cache, stream) = child_watch::<$k>(&client, &gate, plural::<$k>());
                stores.children.insert(<$k as k8s_openapi::Resource>::KIND, cache);
                c = c.watches_stream(stream, |o| owner_ref(&o));
            )*
            c
        }};
    }
    let controller = crate::cluster::kinds::for_each_child_kind!(watch_children);

    let reporter = Reporter {
        controller: crate::api::constants::OPERATOR.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings: config.settings.clone(),
        stores,
        metrics: metrics.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        applied: Applied::default(),
        failures: Default::default(),
        aws,
        clock: jiff::Timestamp::now,
        gate: gate.clone(),
        written: Written::default(),
        access_written: Written::default(),
    });

    // Access requests: their phase follows their producer.
    let access_store = accesses.clone();
    let access_controller = Controller::for_shared_stream(access_trigger, accesses.store.clone())
        .with_config(ControllerConfig::default().concurrency(config.concurrency))
        .watches_shared_stream(producers, move |p: Arc<DataProduct>| {
            let id = format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any());
            access_store.index.get(&index::requests(&id))
        })
        .graceful_shutdown_on(shutdown());

    let by_template = products.clone();
    let by_namespace = products.clone();
    let by_producer = products.clone();
    let (by_access, by_reader) = (products.clone(), products.clone());
    let (by_deleted_access, by_deleted_reader) = (products.clone(), products.clone());
    let controller = controller
        .watches_stream(templates_stream, move |t: DataProductTemplate| {
            let name = t.name_any();
            by_template
                .state()
                .iter()
                .filter(|p| p.spec.template == name)
                .map(|p| ObjectRef::from_obj(&**p))
                .collect::<Vec<_>>()
        })
        // A request's producer re-decides its grants and its consumers.
        .watches_shared_stream(access_changes, move |a: Arc<DataProductAccess>| {
            super::consumers::producers_of_access(&a, &by_access)
        })
        .watches_stream(deleted_accesses, move |a: DataProductAccess| {
            super::consumers::producers_of_access(&a, &by_deleted_access)
        })
        // Readers' changes recompute their producers' consumers.
        .watches_shared_stream(readers, move |reader: Arc<DataProduct>| {
            super::consumers::producers_of_product(&reader, &by_reader)
        })
        .watches_stream(deleted_products, move |reader: DataProduct| {
            super::consumers::producers_of_product(&reader, &by_deleted_reader)
        })
        .watches_stream(namespaces_stream, move |n: PartialObjectMeta<Namespace>| {
            // Our namespaces trigger their product; any namespace's label change re-checks the
            // products living in it (domain binding, allowedNamespaces).
            let name = n.name_any();
            let mut refs: Vec<ObjectRef<DataProduct>> = owner_ref(&n).into_iter().collect();
            refs.extend(by_namespace.index.get(&index::within(&name)));
            refs
        })
        // Producers' changes re-plan their consumers (IAM reads of granted inputs).
        .watches_shared_stream(dependents, move |producer: Arc<DataProduct>| {
            let id = format!(
                "{}/{}",
                producer.namespace().unwrap_or_default(),
                producer.name_any()
            );
            by_producer.index.get(&index::reads(&id))
        })
        .graceful_shutdown_on(shutdown());

    let roots = Roots {
        products: products_root.boxed(),
        accesses: accesses_root.boxed(),
        report: (report_rx, report_tx),
    };
    // With leader election, this replica reconciles only once it holds the lease.
    let elector = config
        .leader_election
        .clone()
        .map(|lease| Arc::new(Elector::new(client.clone(), lease)));
    let mut watchdog = None;
    let work = async {
        if let Some(elector) = &elector {
            let mut stop = shutdown_rx.clone();
            // Standby until elected (or told to stop); the guard from wait_for is dropped
            // inside the branch so the future stays Send.
            let stopped = tokio::select! {
                _ = elector.acquire() => false,
                r = stop.wait_for(|s| *s) => r.is_ok(),
            };
            if stopped {
                return;
            }
            leading.store(true, Ordering::Release);
            let holder = elector.clone();
            watchdog = Some(tokio::spawn(async move {
                holder.hold().await;
                // Stop at once, in-flight work included, so two replicas never reconcile
                // at the same time; the pod restarts as a standby (as client-go's leader
                // election does).
                error!("{}", RunError::LeadershipLost);
                std::process::exit(1);
            }));
        }
        let lineage = async {
            if let Some(lineage) = config.openlineage.clone() {
                super::lineage::run(
                    client.clone(),
                    ctx.stores.clone(),
                    lineage,
                    metrics.clone(),
                    shutdown(),
                )
                .await;
            }
        };
        futures::join!(
            drive(
                controller,
                access_controller,
                roots,
                ctx.clone(),
                shutdown(),
                shutdown()
            ),
            lineage
        );
    };
    // Once a stop is requested, everything gets STOP_DEADLINE to finish; then the operator
    // returns anyway (a watch stuck in its backoff must not keep the process alive).
    let deadline = shutdown().then(|_| tokio::time::sleep(STOP_DEADLINE));
    tokio::select! {
        _ = work => {}
        _ = deadline => warn!("stopping with work still in flight after the shutdown deadline"),
    }
    let _ = shutdown_tx.send(true);
    // The controllers have stopped (or were dropped at the deadline): stop renewing, then hand
    // the lease over so a standby takes it at once instead of waiting out its duration.
    if let Some(elector) = &elector {
        if let Some(watchdog) = watchdog.take() {
            watchdog.abort();
            let _ = watchdog.await;
        }
        leading.store(false, Ordering::Release);
        match tokio::time::timeout(RELEASE_DEADLINE, elector.release()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                warn!(error = %e, "could not release the lease; a standby takes it once it expires")
            }
            Err(_) => warn!("releasing the lease timed out; a standby takes it once it expires"),
        }
    }
    match tokio::time::timeout(Duration::from_millis(300), server).await {
        Ok(Ok(Err(source))) => {
            return Err(RunError::Server {
                addr: listen,
                source,
            })
        }
        Ok(Err(e)) => warn!(error = %e, "health server task failed"),
        Ok(Ok(Ok(()))) | Err(_) => {}
    }
    info!("stopped");
    Ok(())
}

/// The shared watches' root streams (their consumers are the controllers' subscriptions) and the
/// reporter of unreadable objects.
struct Roots {
    products: Events<DataProduct>,
    accesses: Events<DataProductAccess>,
    report: (
        tokio::sync::mpsc::UnboundedReceiver<Unreadable>,
        tokio::sync::mpsc::UnboundedSender<Unreadable>,
    ),
}

async fn drive(
    products: Controller<DataProduct>,
    accesses: Controller<DataProductAccess>,
    roots: Roots,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send,
    stop_observing: impl Future<Output = ()> + Send,
) {
    // Reconcile errors are already logged and counted by the error policies; what reaches these
    // loops are watch and queue errors, which the watchers retry with backoff.
    let products =
        products
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "product controller event");
                }
            });
    let accesses = accesses
        .run(
            super::access::reconcile,
            super::access::error_policy,
            ctx.clone(),
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "access controller event");
            }
        });
    // The root streams feed the caches and the controllers' subscriptions; they run until the
    // controllers have stopped.
    let roots_done = async {
        let product_events = roots.products.for_each(|e| async move {
            if let Err(e) = e {
                tracing::debug!(error = %e, "DataProduct watch");
            }
        });
        let access_events = roots.accesses.for_each(|e| async move {
            if let Err(e) = e {
                tracing::debug!(error = %e, "DataProductAccess watch");
            }
        });
        let (rx, tx) = roots.report;
        let report = unreadable::report(rx, tx, ctx.clone());
        tokio::select! {
            _ = shutdown => {}
            _ = futures::future::join3(product_events, access_events, report) => {}
        }
    };
    // Freshness is observed by the leader only, like every other write.
    let freshness = super::freshness::run(ctx.clone(), stop_observing);
    futures::join!(products, accesses, roots_done, freshness);
}

/// SIGTERM or Ctrl-C.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
