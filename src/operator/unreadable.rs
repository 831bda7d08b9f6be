//! Objects the operator cannot read. The API server may hold objects that do not deserialize
//! into the Rust types (written under an older CRD, or before a bound was added to the schema).
//! One of them must never break a list or a watch for everyone, so the watches receive raw
//! objects and convert them one by one: an unreadable object is left out of the cache and
//! reported on the object itself, while every other object goes on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, ObjectMeta};
use kube::runtime::events::{Event, EventType};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::context::Context;
use super::reconcile::FINALIZER;
use super::status;
use crate::api::{DataProduct, DataProductAccess, DataProductTemplate};

/// Why one stored object could not be read.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub kind: &'static str,
    pub metadata: ObjectMeta,
    /// The field and what is wrong with it, for example
    /// `spec.outputs[0].version: invalid value: integer `1099511627776`, expected u32`.
    pub error: String,
    /// The object is gone from the API server (a delete event).
    pub deleted: bool,
}

/// The kinds read through [`readable`]: an object of the kind can be made from metadata alone,
/// so the cache can be told to forget one that stopped being readable.
pub trait Lenient: Resource<DynamicType = ()> + DeserializeOwned + Clone {
    fn placeholder(metadata: ObjectMeta) -> Self;
}

macro_rules! lenient {
    ($($k:ty),*) => {$(
        impl Lenient for $k {
            fn placeholder(metadata: ObjectMeta) -> Self {
                let mut o = <$k>::new(&metadata.name.clone().unwrap_or_default(), Default::default());
                o.metadata = metadata;
                o
            }
        }
    )*};
}
lenient!(DataProduct, DataProductTemplate, DataProductAccess);

/// Reads one raw object, naming the field that fails.
pub fn parse<K: Lenient>(obj: DynamicObject) -> Result<K, Box<Unreadable>> {
    let metadata = obj.metadata.clone();
    let value = match serde_json::to_value(&obj) {
        Ok(v) => v,
        Err(e) => return Err(unreadable::<K>(metadata, e.to_string())),
    };
    serde_path_to_error::deserialize::<_, K>(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let error = if path == "." || path.is_empty() {
            message
        } else {
            format!("{path}: {message}")
        };
        unreadable::<K>(metadata, error)
    })
}

fn unreadable<K: Lenient>(metadata: ObjectMeta, error: String) -> Box<Unreadable> {
    Box::new(Unreadable {
        kind: leak_kind::<K>(),
        metadata,
        error,
        deleted: false,
    })
}

fn leak_kind<K: Lenient>() -> &'static str {
    match K::kind(&()).as_ref() {
        "DataProduct" => "DataProduct",
        "DataProductTemplate" => "DataProductTemplate",
        _ => "DataProductAccess",
    }
}

/// Converts a watch event of raw objects into one of `K`. An unreadable object is reported to
/// `report` and, where it may have been cached while it was readable, forgotten by the cache.
pub fn readable<K: Lenient>(
    event: watcher::Event<DynamicObject>,
    report: &dyn Fn(Unreadable),
) -> Option<watcher::Event<K>> {
    use watcher::Event as E;
    Some(match event {
        E::Init => E::Init,
        E::InitDone => E::InitDone,
        E::InitApply(o) => match parse::<K>(o) {
            Ok(k) => E::InitApply(k),
            // Left out of the fresh list: the cache will not hold it.
            Err(u) => {
                report(*u);
                return None;
            }
        },
        E::Apply(o) => match parse::<K>(o) {
            Ok(k) => E::Apply(k),
            Err(u) => {
                let forget = K::placeholder(u.metadata.clone());
                report(*u);
                E::Delete(forget)
            }
        },
        E::Delete(o) => match parse::<K>(o) {
            Ok(k) => E::Delete(k),
            Err(u) => {
                let forget = K::placeholder(u.metadata.clone());
                report(Unreadable {
                    deleted: true,
                    ..*u
                });
                E::Delete(forget)
            }
        },
    })
}

/// Reports unreadable objects as they arrive: a product gets `Valid=False` with reason
/// `Unreadable` naming the field (once per resourceVersion), and a product being deleted is
/// cleaned up by its labels and released from the finalizer, since it cannot be planned.
/// Templates and access requests are reported by a Warning event and the log.
pub async fn report(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Unreadable>,
    retry: UnboundedSender<Unreadable>,
    ctx: Arc<Context>,
) {
    // What was last handled per object: its resourceVersion.
    let mut handled: HashMap<(Option<String>, String), Option<String>> = HashMap::new();
    while let Some(u) = rx.recv().await {
        let key = (
            u.metadata.namespace.clone(),
            u.metadata.name.clone().unwrap_or_default(),
        );
        if u.deleted {
            handled.remove(&key);
            ctx.metrics.unreadable(handled.len());
            continue;
        }
        if handled.get(&key) == Some(&u.metadata.resource_version) {
            continue;
        }
        warn!(kind = u.kind, namespace = ?key.0, name = %key.1, error = %u.error, "cannot read object; it is skipped until fixed");
        let result = match u.kind {
            "DataProduct" => product(&u, &ctx).await,
            _ => {
                event(&ctx, &u).await;
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                handled.insert(key, u.metadata.resource_version.clone());
            }
            Err(e) => {
                warn!(name = %key.1, error = %e, "could not report an unreadable product; retrying");
                let retry = retry.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let _ = retry.send(u);
                });
            }
        }
        ctx.metrics.unreadable(handled.len());
    }
}

fn api(ctx: &Context, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        ctx.client.clone(),
        namespace,
        &ApiResource::erase::<DataProduct>(&()),
    )
}

async fn product(u: &Unreadable, ctx: &Context) -> Result<(), super::reconcile::Error> {
    let namespace = u.metadata.namespace.clone().unwrap_or_default();
    let name = u.metadata.name.clone().unwrap_or_default();
    if !ctx.settings.watches(&namespace) {
        return Ok(());
    }
    let api = api(ctx, &namespace);
    let finalizers = u.metadata.finalizers.clone().unwrap_or_default();
    if u.metadata.deletion_timestamp.is_some() {
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(());
        }
        // Without a readable spec there is no plan, so cleanup goes by ownership labels, which
        // is exactly what the product owns in Kubernetes. AWS resources stay (never deleted by
        // guesswork), and the event says so.
        super::reconcile::cleanup_by_labels(ctx, &namespace, &name).await?;
        let rest: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
        let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": u.metadata.resource_version}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                super::reconcile::Error::Finalizer(Box::new(
                    kube::runtime::finalizer::Error::RemoveFinalizer(e),
                ))
            })?;
        ctx.metrics.write("finalizer");
        info!(product = %format!("{namespace}/{name}"), "unreadable product released after cleanup by labels");
        return Ok(());
    }
    let message = format!(
        "the operator cannot read this DataProduct ({}), so it is not reconciled; fix that field",
        u.error
    );
    let generation = u.metadata.generation;
    let current = api
        .get_status(&name)
        .await
        .map_err(super::reconcile::Error::Status)?;
    let previous = current.data.get("status").cloned().unwrap_or(Value::Null);
    let reported = previous["conditions"].as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            c["type"] == status::VALID
                && c["reason"] == "Unreadable"
                && c["message"] == message.as_str()
                && c["observedGeneration"].as_i64() == generation
        })
    });
    if reported {
        return Ok(());
    }
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ctx.now());
    let condition = |type_: &str, status: &str| {
        json!({"type": type_, "status": status, "reason": "Unreadable", "message": message,
               "observedGeneration": generation, "lastTransitionTime": now})
    };
    let patch = json!({"status": {
        "observedGeneration": generation,
        "phase": "Invalid",
        "conditions": [
            condition(status::READY, "False"),
            condition(status::VALID, "False"),
            condition(status::STALLED, "True"),
        ],
    }});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(super::reconcile::Error::Status)?;
    ctx.metrics.write("status");
    event(ctx, u).await;
    Ok(())
}

async fn event(ctx: &Context, u: &Unreadable) {
    let (group_version, kind) = (crate::api::API_VERSION, u.kind);
    let reference = ObjectReference {
        api_version: Some(group_version.to_string()),
        kind: Some(kind.to_string()),
        name: u.metadata.name.clone(),
        namespace: u.metadata.namespace.clone(),
        uid: u.metadata.uid.clone(),
        resource_version: u.metadata.resource_version.clone(),
        ..ObjectReference::default()
    };
    let e = Event {
        type_: EventType::Warning,
        reason: "Unreadable".into(),
        note: Some(format!("cannot read this {kind}: {}", u.error)),
        action: "Read".into(),
        secondary: None,
    };
    match ctx.recorder.publish(&e, &reference).await {
        Ok(()) => ctx.metrics.write("event"),
        Err(err) => warn!(error = %err, "could not record event"),
    }
}

/// Drops what nobody reads from a cached object's metadata: managedFields (often larger than the
/// object itself) and kubectl's last-applied annotation (a full copy of the object).
pub fn slim(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        if a.is_empty() {
            meta.annotations = None;
        }
    }
}

/// What the namespace cache keeps: the name, namespace, resourceVersion and labels, which are
/// all the operator reads of them (ownership, drift, domain binding). Everything else would
/// only grow memory with every namespace in the cluster.
pub fn slim_to_identity(meta: &mut ObjectMeta) {
    *meta = ObjectMeta {
        name: meta.name.take(),
        namespace: meta.namespace.take(),
        resource_version: meta.resource_version.take(),
        labels: meta.labels.take(),
        ..ObjectMeta::default()
    };
}

/// [`slim`] for anything with metadata.
pub fn slim_object<K: ResourceExt>(obj: &mut K) {
    slim(obj.meta_mut());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(version: Value) -> DynamicObject {
        let mut docs = Vec::new();
        let mut errors = Vec::new();
        crate::api::load::load_str(
            "conversations.yaml".as_ref(),
            include_str!("../../examples/messaging/conversations.yaml"),
            &crate::api::load::LoadOptions::default(),
            &mut docs,
            &mut errors,
        );
        let product = docs
            .into_iter()
            .find_map(|d| match d.document {
                crate::api::load::Document::Product(p) => Some(p),
                _ => None,
            })
            .unwrap();
        let mut v = serde_json::to_value(product).unwrap();
        v["spec"]["outputs"][0]["version"] = version;
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn an_out_of_range_integer_names_its_field() {
        let u = parse::<DataProduct>(raw(json!(1_099_511_627_776u64))).unwrap_err();
        assert_eq!(u.kind, "DataProduct");
        assert!(
            u.error
                .starts_with("spec.outputs[0].version: invalid value: integer `1099511627776`"),
            "{}",
            u.error
        );
        assert!(parse::<DataProduct>(raw(json!(2))).is_ok());
    }

    #[test]
    fn unreadable_objects_leave_the_cache_and_are_reported() {
        let seen = std::sync::Mutex::new(Vec::new());
        let report = |u: Unreadable| seen.lock().unwrap().push(u.error);
        let bad = raw(json!(-1));
        assert!(readable::<DataProduct>(watcher::Event::InitApply(bad.clone()), &report).is_none());
        match readable::<DataProduct>(watcher::Event::Apply(bad), &report) {
            Some(watcher::Event::Delete(p)) => assert_eq!(p.name_any(), "conversations"),
            other => panic!("expected a delete for the cache, got {other:?}"),
        }
        assert!(matches!(
            readable::<DataProduct>(watcher::Event::Apply(raw(json!(3))), &report),
            Some(watcher::Event::Apply(_))
        ));
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn slimming_drops_managed_fields_and_last_applied() {
        let mut meta = ObjectMeta {
            managed_fields: Some(vec![Default::default()]),
            annotations: Some(
                [(
                    "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                    "{}".to_string(),
                )]
                .into(),
            ),
            ..ObjectMeta::default()
        };
        slim(&mut meta);
        assert_eq!((meta.managed_fields, meta.annotations), (None, None));
    }
}
