//! Secondary indexes over a watch's cache: which cached objects carry a given key (a product
//! read as an input, a consumer listed in a status, a namespace, the product a request asks
//! for). Kept up to date from the same watch events as the cache, so the watch mappers and the
//! consumers of a status are keyed lookups. Without them each of those scanned every cached
//! product: several scans per event and one per reconcile, so a burst of N products cost O(N²)
//! and pick-up latency grew with the number of products (at 10,000 the burst did not converge).
//!
//! The child caches are not reflector stores and find a product's objects by owner themselves
//! (operator::meta_cache, which stages relists with [`Relisting`] too).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kube::runtime::reflector::{store::Writer, ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};

use crate::api::{ConsumerKind, DataProduct, DataProductAccess};

/// The keys an object is found under.
pub type Keys<K> = fn(&K) -> Vec<String>;

/// Objects of kind `K` by key. Lookups return what the last event of each object said.
pub struct Index<K: Resource<DynamicType = ()>> {
    keys: Keys<K>,
    inner: RwLock<Relisting<Maps<K>>>,
}

/// What a cache kept from watch events holds, with a relist in progress filled beside it and
/// swapped in when complete, as the reflector's store does: lookups answer from the last
/// complete list meanwhile, and objects deleted while the watch was down leave it too.
pub struct Relisting<M> {
    pub live: M,
    relist: Option<M>,
}

impl<M: Default> Default for Relisting<M> {
    fn default() -> Self {
        Relisting {
            live: M::default(),
            relist: None,
        }
    }
}

impl<M: Default> Relisting<M> {
    /// Takes in one watch event: `insert` and `remove` change the maps it is meant for.
    pub fn apply<K>(
        &mut self,
        event: &watcher::Event<K>,
        insert: impl Fn(&mut M, &K),
        remove: impl Fn(&mut M, &K),
    ) {
        match event {
            watcher::Event::Apply(o) => insert(&mut self.live, o),
            watcher::Event::Delete(o) => remove(&mut self.live, o),
            watcher::Event::Init => self.relist = Some(M::default()),
            watcher::Event::InitApply(o) => insert(self.relist.get_or_insert_with(M::default), o),
            watcher::Event::InitDone => {
                if let Some(maps) = self.relist.take() {
                    self.live = maps;
                }
            }
        }
    }
}

/// One entry per indexed object, shared between both maps (an `Arc` in each, not a copy), and
/// each key string stored once.
struct Maps<K: Resource<DynamicType = ()>> {
    /// Each object's keys, to take them back when it changes or goes.
    of: HashMap<Arc<ObjectRef<K>>, Box<[Arc<str>]>>,
    by: HashMap<Arc<str>, HashSet<Arc<ObjectRef<K>>>>,
}

impl<K: Resource<DynamicType = ()>> Default for Maps<K> {
    fn default() -> Self {
        Maps {
            of: HashMap::new(),
            by: HashMap::new(),
        }
    }
}

impl<K: Resource<DynamicType = ()>> Maps<K> {
    fn remove(&mut self, r: &ObjectRef<K>) {
        let Some(keys) = self.of.remove(r) else {
            return;
        };
        for key in keys.iter() {
            if let Some(set) = self.by.get_mut(key) {
                set.remove(r);
                if set.is_empty() {
                    self.by.remove(key);
                }
            }
        }
    }

    fn insert(&mut self, r: ObjectRef<K>, mut keys: Vec<String>) {
        self.remove(&r);
        if keys.is_empty() {
            return;
        }
        keys.sort();
        keys.dedup();
        let r = Arc::new(r);
        let keys: Box<[Arc<str>]> = keys
            .into_iter()
            .map(|key| {
                let shared = match self.by.get_key_value(key.as_str()) {
                    Some((k, _)) => k.clone(),
                    None => Arc::from(key),
                };
                self.by.entry(shared.clone()).or_default().insert(r.clone());
                shared
            })
            .collect();
        self.of.insert(r, keys);
    }
}

/// A reference to `o` by namespace and name only: its uid and resourceVersion are not needed
/// to find it in the cache, and would be two more strings per object.
fn bare<K: Resource<DynamicType = ()>>(o: &K) -> ObjectRef<K> {
    let mut r = ObjectRef::from_obj(o);
    r.extra = Default::default();
    r
}

impl<K: Resource<DynamicType = ()> + Clone> Index<K> {
    pub fn new(keys: Keys<K>) -> Self {
        Index {
            keys,
            inner: RwLock::default(),
        }
    }

    /// Takes in one watch event, before the cache does.
    pub fn apply(&self, event: &watcher::Event<K>) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.apply(
            event,
            |maps, o| maps.insert(bare(o), (self.keys)(o)),
            |maps, o| maps.remove(&bare(o)),
        );
    }

    /// The objects found under `key`, by namespace and name.
    pub fn get(&self, key: &str) -> Vec<ObjectRef<K>> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut refs: Vec<ObjectRef<K>> = inner
            .live
            .by
            .get(key)
            .map(|set| set.iter().map(|r| (**r).clone()).collect())
            .unwrap_or_default();
        refs.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        refs
    }
}

/// A watch's cache with its index; reads as the cache ([`Store`]) and looks up by key.
pub struct Indexed<K: Resource<DynamicType = ()> + Clone + 'static> {
    pub store: Store<K>,
    pub index: Arc<Index<K>>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Clone for Indexed<K> {
    fn clone(&self) -> Self {
        Indexed {
            store: self.store.clone(),
            index: self.index.clone(),
        }
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> std::ops::Deref for Indexed<K> {
    type Target = Store<K>;
    fn deref(&self) -> &Store<K> {
        &self.store
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Indexed<K> {
    /// The cached objects found under `key`, in the index's order.
    pub fn find(&self, key: &str) -> Vec<Arc<K>> {
        self.index
            .get(key)
            .iter()
            .filter_map(|r| self.store.get(r))
            .collect()
    }
}

/// A cache and its index filled from the same events, for caches fed by hand (tests,
/// benchmarks); the operator's watches feed both from their streams.
pub struct IndexedWriter<K: Resource<DynamicType = ()> + Clone + 'static> {
    writer: Writer<K>,
    index: Arc<Index<K>>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> IndexedWriter<K> {
    pub fn new(keys: Keys<K>) -> Self {
        IndexedWriter {
            writer: Writer::default(),
            index: Arc::new(Index::new(keys)),
        }
    }

    pub fn apply_watcher_event(&mut self, event: &watcher::Event<K>) {
        self.index.apply(event);
        self.writer.apply_watcher_event(event);
    }

    pub fn as_reader(&self) -> Indexed<K> {
        Indexed {
            store: self.writer.as_reader(),
            index: self.index.clone(),
        }
    }
}

/// Key of the products reading `producer` (`<namespace>/<name>`) as an input.
pub fn reads(producer: &str) -> String {
    format!("reads {producer}")
}

/// Key of the producers whose `status.consumers` lists this consumer.
pub fn lists(kind: ConsumerKind, namespace: &str, name: &str) -> String {
    format!("lists {kind:?} {namespace}/{name}")
}

/// Key of the objects living in `namespace`.
pub fn within(namespace: &str) -> String {
    format!("in {namespace}")
}

/// Key of the access requests asking for `product`'s outputs.
pub fn requests(product: &str) -> String {
    format!("requests {product}")
}

/// A product is found by what it reads, who its status lists, and its namespace.
pub fn product_keys(p: &DataProduct) -> Vec<String> {
    let mut keys: Vec<String> = p
        .spec
        .inputs
        .iter()
        .filter_map(|i| i.product.as_deref())
        .map(reads)
        .collect();
    if let Some(s) = &p.status {
        keys.extend(
            s.consumers
                .iter()
                .map(|c| lists(c.kind, &c.namespace, &c.name)),
        );
    }
    keys.push(within(&p.namespace().unwrap_or_default()));
    keys
}

/// An access request is found by the product it asks for.
pub fn access_keys(a: &DataProductAccess) -> Vec<String> {
    vec![requests(&a.spec.product)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ActiveConsumer, DataProductStatus, Input};

    fn product(namespace: &str, name: &str, reads_from: &[&str]) -> DataProduct {
        let mut p = DataProduct::new(name, Default::default());
        p.metadata.namespace = Some(namespace.into());
        p.spec.inputs = reads_from
            .iter()
            .map(|r| Input {
                product: Some(r.to_string()),
                output: Some("o".into()),
                external: None,
            })
            .collect();
        p
    }

    fn names(refs: Vec<ObjectRef<DataProduct>>) -> Vec<String> {
        refs.iter()
            .map(|r| format!("{}/{}", r.namespace.clone().unwrap_or_default(), r.name))
            .collect()
    }

    #[test]
    fn changes_and_deletes_move_an_object_between_keys() {
        let index = Index::new(product_keys);
        let a = product("finance", "revenue", &["sales/orders"]);
        let b = product("finance", "costs", &["sales/orders", "crm/customers"]);
        index.apply(&watcher::Event::Apply(a.clone()));
        index.apply(&watcher::Event::Apply(b.clone()));
        assert_eq!(
            names(index.get(&reads("sales/orders"))),
            ["finance/costs", "finance/revenue"]
        );
        assert_eq!(names(index.get(&within("finance"))).len(), 2);

        // revenue stops reading orders and its status now lists a consumer.
        let mut a2 = product("finance", "revenue", &["crm/customers"]);
        a2.status = Some(DataProductStatus {
            consumers: vec![ActiveConsumer {
                kind: ConsumerKind::Access,
                namespace: "marketing".into(),
                name: "reads-revenue".into(),
                output: None,
            }],
            ..Default::default()
        });
        index.apply(&watcher::Event::Apply(a2.clone()));
        assert_eq!(names(index.get(&reads("sales/orders"))), ["finance/costs"]);
        assert_eq!(
            names(index.get(&reads("crm/customers"))),
            ["finance/costs", "finance/revenue"]
        );
        assert_eq!(
            names(index.get(&lists(ConsumerKind::Access, "marketing", "reads-revenue"))),
            ["finance/revenue"]
        );
        assert!(index
            .get(&lists(ConsumerKind::Product, "marketing", "reads-revenue"))
            .is_empty());

        index.apply(&watcher::Event::Delete(b));
        assert_eq!(
            names(index.get(&reads("crm/customers"))),
            ["finance/revenue"]
        );
        assert_eq!(names(index.get(&within("finance"))), ["finance/revenue"]);
    }

    #[test]
    fn a_relist_replaces_the_index_once_it_is_complete() {
        let index = Index::new(product_keys);
        index.apply(&watcher::Event::Apply(product("a", "gone", &["x/y"])));
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(product("a", "kept", &["x/y"])));
        // Until the relist is done, lookups answer from what was there before.
        assert_eq!(names(index.get(&reads("x/y"))), ["a/gone"]);
        index.apply(&watcher::Event::InitDone);
        assert_eq!(names(index.get(&reads("x/y"))), ["a/kept"]);
    }
}
