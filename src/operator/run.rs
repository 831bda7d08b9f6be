//! Starting the operator: watches, caches, the controller, leader election, the health server
//! and graceful shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{error, info, warn};

use super::context::{Applied, Context, MetaLookup, Settings, Stores};
use super::leader::{Elector, LeaseConfig};
use super::reconcile::{error_policy, reconcile};
use super::telemetry::{self, Health, Metrics};
use crate::api::{labels, DataProduct, DataProductAccess, DataProductTemplate, ProductRef};

/// How the operator runs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub settings: Settings,
    pub concurrency: u16,
    pub listen: SocketAddr,
    pub leader_election: Option<LeaseConfig>,
    pub aws: Option<super::cloud::CloudConfig>,
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
    Aws(String),
    #[error("leadership lost; stopping so another replica can take over")]
    LeadershipLost,
}

const MANAGED: &str = "app.kubernetes.io/managed-by=dataproduct-operator";

/// A metadata-only watch of one child kind, cached in a store; the stream triggers the owning
/// product's reconcile when someone changes or deletes a child.
fn child_watch<K>(
    client: &Client,
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
    let stream = reflector::reflector(
        writer,
        watcher(
            Api::<PartialObjectMeta<K>>::all(client.clone()),
            watcher::Config::default().labels(MANAGED),
        ),
    )
    .default_backoff()
    .touched_objects();
    (reader, stream)
}

fn owner_ref<K: Resource>(obj: &K) -> Option<ObjectRef<DataProduct>> {
    let l = obj.meta().labels.as_ref()?;
    Some(ObjectRef::new(l.get(labels::PRODUCT)?).within(l.get(labels::PRODUCT_NAMESPACE)?))
}

/// Runs until a shutdown signal (or loss of leadership).
pub async fn run(client: Client, config: RunConfig) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let synced = Arc::new(AtomicBool::new(false));
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
            wait_for_signal().await;
            info!("shutdown requested");
            let _ = tx.send(true);
        }
    });

    let health = Health {
        metrics: metrics.clone(),
        synced: synced.clone(),
        leading: leading.clone(),
    };
    let listen = config.listen;
    let server = tokio::spawn(telemetry::serve(listen, health, shutdown()));

    let products_api: Api<DataProduct> = match config.settings.namespaces.as_slice() {
        [one] => Api::namespaced(client.clone(), one),
        _ => Api::all(client.clone()),
    };
    let controller = Controller::new(products_api, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(config.concurrency));
    let products = controller.store();

    let (templates, templates_writer) = reflector::store();
    let templates_stream = reflector::reflector(
        templates_writer,
        watcher(
            Api::<DataProductTemplate>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .touched_objects();
    let (accesses, accesses_writer) = reflector::store();
    let accesses_stream = reflector::reflector(
        accesses_writer,
        watcher(
            Api::<DataProductAccess>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .touched_objects();
    let (namespaces, namespaces_writer) = reflector::store();
    let namespaces_stream = reflector::reflector(
        namespaces_writer,
        watcher(
            Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
            watcher::Config::default(),
        ),
    )
    .default_backoff()
    .touched_objects();
    // Producers' changes re-plan their consumers (IAM reads of granted inputs).
    let dependents_stream = watcher(
        Api::<PartialObjectMeta<DataProduct>>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects();

    let (sa, sa_stream) = child_watch::<ServiceAccount>(&client);
    let (cm, cm_stream) = child_watch::<ConfigMap>(&client);
    let (rq, rq_stream) = child_watch::<ResourceQuota>(&client);
    let (lr, lr_stream) = child_watch::<LimitRange>(&client);
    let (np, np_stream) = child_watch::<NetworkPolicy>(&client);
    let (role, role_stream) = child_watch::<Role>(&client);
    let (rb, rb_stream) = child_watch::<RoleBinding>(&client);
    let (cj, cj_stream) = child_watch::<CronJob>(&client);
    // Readiness waits for the child caches too: an unsynced cache would look like missing objects.
    let child_caches = (
        sa.clone(),
        cm.clone(),
        rq.clone(),
        lr.clone(),
        np.clone(),
        role.clone(),
        rb.clone(),
        cj.clone(),
    );
    let mut children: BTreeMap<&'static str, Arc<dyn MetaLookup>> = BTreeMap::new();
    children.insert("ServiceAccount", Arc::new(sa));
    children.insert("ConfigMap", Arc::new(cm));
    children.insert("ResourceQuota", Arc::new(rq));
    children.insert("LimitRange", Arc::new(lr));
    children.insert("NetworkPolicy", Arc::new(np));
    children.insert("Role", Arc::new(role));
    children.insert("RoleBinding", Arc::new(rb));
    children.insert("CronJob", Arc::new(cj));

    let stores = Stores {
        products: products.clone(),
        templates: templates.clone(),
        accesses: accesses.clone(),
        namespaces: namespaces.clone(),
        children,
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
    let reporter = Reporter {
        controller: "dataproduct-operator".into(),
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
        synced: synced.clone(),
    });

    // Access requests: their phase follows their producer.
    let access_controller = Controller::new(
        Api::<DataProductAccess>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(ControllerConfig::default().concurrency(config.concurrency));
    let access_store = access_controller.store();
    let producers_stream = watcher(
        Api::<PartialObjectMeta<DataProduct>>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .touched_objects();
    let access_controller = access_controller
        .watches_stream(
            producers_stream,
            move |p: PartialObjectMeta<DataProduct>| {
                let id = format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any());
                super::access::requests_for(&id, &access_store.state())
            },
        )
        .reconcile_all_on(resync_ticks(config.settings.resync))
        .graceful_shutdown_on(shutdown());

    let by_template = products.clone();
    let by_namespace = products.clone();
    let by_producer = products.clone();
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
        .watches_stream(accesses_stream, |a: DataProductAccess| {
            ProductRef::parse(&a.spec.product).map(|r| ObjectRef::new(&r.name).within(&r.namespace))
        })
        .watches_stream(namespaces_stream, move |n: PartialObjectMeta<Namespace>| {
            // Our namespaces trigger their product; any namespace's label change re-checks the
            // products living in it (domain binding, allowedNamespaces).
            let name = n.name_any();
            let mut refs: Vec<ObjectRef<DataProduct>> = owner_ref(&n).into_iter().collect();
            refs.extend(
                by_namespace
                    .state()
                    .iter()
                    .filter(|p| p.namespace().as_deref() == Some(name.as_str()))
                    .map(|p| ObjectRef::from_obj(&**p)),
            );
            refs
        })
        .watches_stream(
            dependents_stream,
            move |producer: PartialObjectMeta<DataProduct>| {
                let id = format!(
                    "{}/{}",
                    producer.namespace().unwrap_or_default(),
                    producer.name_any()
                );
                by_producer
                    .state()
                    .iter()
                    .filter(|p| {
                        p.spec
                            .inputs
                            .iter()
                            .any(|i| i.product.as_deref() == Some(id.as_str()))
                    })
                    .map(|p| ObjectRef::from_obj(&**p))
                    .collect::<Vec<_>>()
            },
        )
        .watches_stream(sa_stream, |o| owner_ref(&o))
        .watches_stream(cm_stream, |o| owner_ref(&o))
        .watches_stream(rq_stream, |o| owner_ref(&o))
        .watches_stream(lr_stream, |o| owner_ref(&o))
        .watches_stream(np_stream, |o| owner_ref(&o))
        .watches_stream(role_stream, |o| owner_ref(&o))
        .watches_stream(rb_stream, |o| owner_ref(&o))
        .watches_stream(cj_stream, |o| owner_ref(&o))
        .reconcile_all_on(resync_ticks(config.settings.resync))
        .graceful_shutdown_on(shutdown());

    // Synced once every cache has listed its objects; reconciles wait for it.
    tokio::spawn({
        let (products, templates, accesses, namespaces, synced) = (
            products.clone(),
            templates.clone(),
            accesses.clone(),
            namespaces.clone(),
            synced.clone(),
        );
        let (sa, cm, rq, lr, np, role, rb, cj) = child_caches;
        async move {
            let _ = products.wait_until_ready().await;
            let _ = templates.wait_until_ready().await;
            let _ = accesses.wait_until_ready().await;
            let _ = namespaces.wait_until_ready().await;
            let _ = futures::join!(
                sa.wait_until_ready(),
                cm.wait_until_ready(),
                rq.wait_until_ready(),
                lr.wait_until_ready(),
                np.wait_until_ready(),
                role.wait_until_ready(),
                rb.wait_until_ready(),
                cj.wait_until_ready()
            );
            synced.store(true, Ordering::Release);
            info!("watches synced");
        }
    });

    match &config.leader_election {
        Some(lease) => {
            let elector = Arc::new(Elector::new(client.clone(), lease.clone()));
            let mut stop = shutdown_rx.clone();
            // Standby until elected (or told to stop); the guard from wait_for is dropped inside
            // the branch so the future stays Send.
            let stopped = tokio::select! {
                _ = elector.acquire() => false,
                r = stop.wait_for(|s| *s) => r.is_ok(),
            };
            if stopped {
                let _ = server.await;
                return Ok(());
            }
            leading.store(true, Ordering::Release);
            let holder = elector.clone();
            let watchdog = tokio::spawn(async move {
                holder.hold().await;
                // Stop at once, in-flight work included, so two replicas never reconcile at the
                // same time; the pod restarts as a standby (as client-go's leader election does).
                error!("{}", RunError::LeadershipLost);
                std::process::exit(1);
            });
            drive(controller, access_controller, ctx).await;
            watchdog.abort();
        }
        None => drive(controller, access_controller, ctx).await,
    }
    let _ = shutdown_tx.send(true);
    match server.await {
        Ok(Err(source)) => {
            return Err(RunError::Server {
                addr: listen,
                source,
            })
        }
        Err(e) => warn!(error = %e, "health server task failed"),
        Ok(Ok(())) => {}
    }
    info!("stopped");
    Ok(())
}

async fn drive(
    products: Controller<DataProduct>,
    accesses: Controller<DataProductAccess>,
    ctx: Arc<Context>,
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
        .run(super::access::reconcile, super::access::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "access controller event");
            }
        });
    futures::join!(products, accesses);
}

/// A tick every `every`, to re-reconcile everything (the safety net behind the watches).
fn resync_ticks(every: Duration) -> impl Stream<Item = ()> + Send + 'static {
    let start = tokio::time::Instant::now() + every;
    futures::stream::unfold(
        tokio::time::interval_at(start, every),
        |mut interval| async move {
            interval.tick().await;
            Some(((), interval))
        },
    )
}

async fn wait_for_signal() {
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
