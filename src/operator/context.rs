//! What every reconcile shares: the client, the caches the watches keep, telemetry, and the
//! small in-memory records that let a no-op reconcile send nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Client;

use super::events::Recorder;
use super::index::{self, Indexed};
use super::meta_cache::{MetaCache, MetaSummary};
use super::telemetry::Metrics;
use crate::api::InventoryEntry;
use crate::api::{DataProduct, DataProductAccess, DataProductTemplate, ProductRef};
use crate::model::world::Lookup;

/// Operator settings (from `dpctl run` flags).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Periodic re-reconcile of every product (drift safety net; the watches do the real work).
    pub resync: Duration,
    /// How often cloud state is re-observed.
    pub aws_resync: Duration,
    /// Namespaces whose products are reconciled; empty means all.
    pub namespaces: Vec<String>,
    /// How often outputs' freshness is observed.
    pub freshness_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            resync: Duration::from_secs(300),
            aws_resync: Duration::from_secs(600),
            namespaces: Vec::new(),
            freshness_interval: Duration::from_secs(300),
        }
    }
}

impl Settings {
    pub fn watches(&self, namespace: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace)
    }
}

/// Caches kept by the watches.
#[derive(Clone)]
pub struct Stores {
    /// Found by what they read, who their status lists, and their namespace.
    pub products: Indexed<DataProduct>,
    pub templates: Store<DataProductTemplate>,
    /// Found by the product they ask for.
    pub accesses: Indexed<DataProductAccess>,
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    /// Metadata caches of the child kinds, by kind.
    pub children: BTreeMap<&'static str, Arc<MetaCache>>,
}

/// The evaluation's related documents come from the caches.
impl Lookup for Stores {
    fn template(&self, name: &str) -> Option<DataProductTemplate> {
        Stores::template(self, name).map(|t| (*t).clone())
    }
    fn product(&self, r: &ProductRef) -> Option<DataProduct> {
        Stores::product(self, &r.namespace, &r.name).map(|p| (*p).clone())
    }
    fn requests_for(&self, product: &str) -> Vec<DataProductAccess> {
        self.accesses
            .find(&index::requests(product))
            .iter()
            .map(|a| (**a).clone())
            .collect()
    }
}

impl Stores {
    pub fn template(&self, name: &str) -> Option<Arc<DataProductTemplate>> {
        self.templates.get(&ObjectRef::new(name))
    }

    pub fn product(&self, namespace: &str, name: &str) -> Option<Arc<DataProduct>> {
        self.products.get(&ObjectRef::new(name).within(namespace))
    }

    pub fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces
            .get(&ObjectRef::new(name))
            .map(|n| n.metadata.labels.clone().unwrap_or_default())
    }

    /// Metadata of a child, when its kind is cached.
    pub fn child(&self, key: &InventoryEntry) -> Option<Option<MetaSummary>> {
        if key.kind == "Namespace" {
            return Some(
                self.namespaces
                    .get(&ObjectRef::new(&key.name))
                    .map(|n| MetaSummary::of(&n.metadata)),
            );
        }
        self.children
            .get(key.kind.as_str())
            .map(|s| s.get(key.namespace.as_deref(), &key.name))
    }
}

/// What we applied last: the desired object's hash and the resourceVersion the API server gave
/// the result. While both still match, the object is in sync without reading it. Keyed and
/// valued by digests, since one entry is kept per applied object.
#[derive(Default)]
pub struct Applied(Mutex<HashMap<u64, (u64, String)>>);

fn digest(v: &impl std::hash::Hash) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(v)
}

impl Applied {
    pub fn in_sync(
        &self,
        key: &InventoryEntry,
        hash: &str,
        resource_version: Option<&str>,
    ) -> bool {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        matches!((map.get(&digest(key)), resource_version), (Some((h, rv)), Some(live)) if *h == digest(&hash) && rv == live)
    }

    pub fn record(&self, key: InventoryEntry, hash: String, resource_version: Option<String>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match resource_version {
            Some(rv) => {
                map.insert(digest(&key), (digest(&hash), rv));
            }
            None => {
                map.remove(&digest(&key));
            }
        }
    }

    pub fn forget(&self, key: &InventoryEntry) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&digest(key));
    }
}

/// The last status written per object: the resourceVersion the object had when we decided to
/// write, and what we wrote. A reconcile that still sees that resourceVersion runs on a cache
/// that has not caught up with our own write: our write is the truth, and computing the same
/// status again means nothing changed (writing it again, with its Event, would be a stray write).
pub struct Written<S>(Mutex<HashMap<String, (Option<String>, S)>>);

impl<S> Default for Written<S> {
    fn default() -> Self {
        Written(Mutex::new(HashMap::new()))
    }
}

impl<S: Clone + PartialEq> Written<S> {
    /// What we wrote over the object as it is cached now, if the cache has not seen it yet.
    pub fn unseen(&self, key: &str, cached_version: Option<&str>) -> Option<S> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(rv, _)| rv.as_deref() == cached_version)
            .map(|(_, s)| s.clone())
    }

    /// Whether `next` was already written over the object as it is cached now.
    pub fn already(&self, key: &str, cached_version: Option<&str>, next: &S) -> bool {
        self.unseen(key, cached_version).as_ref() == Some(next)
    }

    pub fn record(&self, key: &str, cached_version: Option<String>, next: S) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key.to_string(), (cached_version, next));
    }

    pub fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub stores: Stores,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub applied: Applied,
    /// Consecutive failures per product, for exponential backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// The AWS step, when configured.
    pub aws: Option<Arc<super::cloud::Cloud>>,
    /// Today's date and the current time, injectable for tests.
    pub clock: fn() -> jiff::Timestamp,
    /// Which watches have listed their objects. Until all have, a reconcile could mistake a
    /// cache that is still filling for a missing template or child, so it waits instead.
    pub gate: Arc<super::sync::SyncGate>,
    /// The last status this process wrote per product, to recognise a cache that has not seen
    /// our own write yet.
    pub written: Written<crate::api::DataProductStatus>,
    /// The same for access requests: their next phase depends on the last one.
    pub access_written: Written<crate::api::DataProductAccessStatus>,
}

impl Context {
    pub fn synced(&self) -> bool {
        self.gate.synced()
    }

    pub fn now(&self) -> jiff::Timestamp {
        (self.clock)()
    }

    pub fn today(&self) -> jiff::civil::Date {
        self.now().to_zoned(jiff::tz::TimeZone::UTC).date()
    }
}
