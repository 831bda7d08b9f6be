//! The children's metadata cache: for each object of one kind that the operator manages, its
//! resourceVersion and the product its labels name, which is all a reconcile reads of them
//! (ownership, whether it changed since we applied it, what a deletion cleans up).
//!
//! A reflector's store would keep a whole `PartialObjectMeta` per object: an `ObjectMeta` of
//! sixteen optional fields, a label map whose smallest node holds eleven pairs, and a reference
//! with a uid and resourceVersion as its key. With about twelve children per product that was
//! the largest part of the operator's memory. This cache keeps two short strings per object and
//! shares each owner between its objects, and finds a product's objects by owner without a
//! scan.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kube::api::ObjectMeta;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;

use super::index::Relisting;
use crate::api::labels;

/// `<namespace>/<name>`, or `<name>` for a cluster-scoped object.
fn key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// The product an object's labels name, as `<namespace>/<name>`.
fn owner_of(meta: &ObjectMeta) -> Option<String> {
    let l = meta.labels.as_ref()?;
    Some(format!(
        "{}/{}",
        l.get(labels::PRODUCT_NAMESPACE)?,
        l.get(labels::PRODUCT)?
    ))
}

/// The owner and resourceVersion of an object: all a reconcile needs to decide whether a child
/// is ours and unchanged since we last applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaSummary {
    pub resource_version: Option<String>,
    /// The product its labels name, as `<namespace>/<name>`.
    pub owner: Option<String>,
}

impl MetaSummary {
    pub fn of(meta: &ObjectMeta) -> Self {
        MetaSummary {
            resource_version: meta.resource_version.clone(),
            owner: owner_of(meta),
        }
    }
}

struct Entry {
    resource_version: Box<str>,
    owner: Option<Arc<str>>,
}

#[derive(Default)]
struct Maps {
    objects: HashMap<Arc<str>, Entry>,
    by_owner: HashMap<Arc<str>, HashSet<Arc<str>>>,
}

impl Maps {
    fn remove(&mut self, key: &str) {
        let Some((key, entry)) = self.objects.remove_entry(key) else {
            return;
        };
        if let Some(owner) = entry.owner {
            if let Some(set) = self.by_owner.get_mut(&owner) {
                set.remove(&key);
                if set.is_empty() {
                    self.by_owner.remove(&owner);
                }
            }
        }
    }

    fn insert<K>(&mut self, o: &PartialObjectMeta<K>) {
        let Some(name) = o.metadata.name.as_deref() else {
            return;
        };
        let k = key(o.metadata.namespace.as_deref(), name);
        self.remove(&k);
        let k: Arc<str> = Arc::from(k);
        let owner = owner_of(&o.metadata).map(|owner| {
            let shared = match self.by_owner.get_key_value(owner.as_str()) {
                Some((shared, _)) => shared.clone(),
                None => Arc::from(owner),
            };
            self.by_owner
                .entry(shared.clone())
                .or_default()
                .insert(k.clone());
            shared
        });
        let entry = Entry {
            resource_version: o
                .metadata
                .resource_version
                .as_deref()
                .unwrap_or_default()
                .into(),
            owner,
        };
        self.objects.insert(k, entry);
    }
}

/// The metadata of one child kind, kept from its watch's events.
#[derive(Default)]
pub struct MetaCache {
    inner: RwLock<Relisting<Maps>>,
}

impl MetaCache {
    /// Takes in one watch event, before the controller sees its object.
    pub fn apply<K>(&self, event: &watcher::Event<PartialObjectMeta<K>>) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.apply(event, Maps::insert, |maps, o| {
            if let Some(name) = o.metadata.name.as_deref() {
                maps.remove(&key(o.metadata.namespace.as_deref(), name))
            }
        });
    }

    /// The object's resourceVersion and owner, when it is cached.
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<MetaSummary> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let entry = inner.live.objects.get(key(namespace, name).as_str())?;
        Some(MetaSummary {
            resource_version: (!entry.resource_version.is_empty())
                .then(|| entry.resource_version.to_string()),
            owner: entry.owner.as_deref().map(str::to_string),
        })
    }

    /// Objects labelled as belonging to the product `<namespace>/<name>`, sorted.
    pub fn owned_by(
        &self,
        product_namespace: &str,
        product: &str,
    ) -> Vec<(Option<String>, String)> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let owner = format!("{product_namespace}/{product}");
        let mut found: Vec<(Option<String>, String)> = inner
            .live
            .by_owner
            .get(owner.as_str())
            .into_iter()
            .flatten()
            .map(|k| match k.split_once('/') {
                Some((ns, name)) => (Some(ns.to_string()), name.to_string()),
                None => (None, k.to_string()),
            })
            .collect();
        found.sort();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use std::collections::BTreeMap;

    fn meta(ns: &str, name: &str, rv: &str, product: Option<&str>) -> PartialObjectMeta<ConfigMap> {
        PartialObjectMeta {
            types: None,
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                labels: product.map(|p| {
                    BTreeMap::from([
                        (labels::PRODUCT.to_string(), p.to_string()),
                        (
                            labels::PRODUCT_NAMESPACE.to_string(),
                            "messaging".to_string(),
                        ),
                        ("app".to_string(), "ignored".to_string()),
                    ])
                }),
                ..ObjectMeta::default()
            },
            _phantom: Default::default(),
        }
    }

    #[test]
    fn changes_move_an_object_between_owners_and_deletes_take_it_out() {
        let cache = MetaCache::default();
        cache.apply(&watcher::Event::Apply(meta("a", "x", "1", Some("conv"))));
        cache.apply(&watcher::Event::Apply(meta("a", "y", "2", Some("conv"))));
        cache.apply(&watcher::Event::Apply(meta("b", "x", "3", Some("orders"))));
        assert_eq!(
            cache.owned_by("messaging", "conv"),
            vec![
                (Some("a".into()), "x".into()),
                (Some("a".into()), "y".into())
            ]
        );
        let summary = cache.get(Some("a"), "x").unwrap();
        assert_eq!(summary.resource_version.as_deref(), Some("1"));
        assert_eq!(summary.owner.as_deref(), Some("messaging/conv"));

        // Relabelled to another product, then unlabelled.
        cache.apply(&watcher::Event::Apply(meta("a", "x", "4", Some("orders"))));
        assert_eq!(
            cache.owned_by("messaging", "conv"),
            vec![(Some("a".into()), "y".into())]
        );
        assert_eq!(cache.owned_by("messaging", "orders").len(), 2);
        cache.apply(&watcher::Event::Apply(meta("a", "y", "5", None)));
        assert!(cache.owned_by("messaging", "conv").is_empty());
        let unowned = cache.get(Some("a"), "y").unwrap();
        assert_eq!(unowned.owner, None);

        cache.apply(&watcher::Event::Delete(meta("a", "x", "6", Some("orders"))));
        assert_eq!(cache.get(Some("a"), "x"), None);
        assert_eq!(
            cache.owned_by("messaging", "orders"),
            vec![(Some("b".into()), "x".into())]
        );
        assert_eq!(cache.inner.read().unwrap().live.objects.len(), 2);
    }

    #[test]
    fn a_relist_replaces_the_cache_once_it_is_complete() {
        let cache = MetaCache::default();
        cache.apply(&watcher::Event::Apply(meta("a", "gone", "1", Some("conv"))));
        cache.apply::<ConfigMap>(&watcher::Event::Init);
        cache.apply(&watcher::Event::InitApply(meta(
            "a",
            "kept",
            "2",
            Some("conv"),
        )));
        // Until the relist completes, lookups answer from what was listed before.
        assert!(cache.get(Some("a"), "gone").is_some());
        assert!(cache.get(Some("a"), "kept").is_none());
        cache.apply::<ConfigMap>(&watcher::Event::InitDone);
        assert!(cache.get(Some("a"), "gone").is_none());
        assert_eq!(
            cache.owned_by("messaging", "conv"),
            vec![(Some("a".into()), "kept".into())]
        );
    }
}
