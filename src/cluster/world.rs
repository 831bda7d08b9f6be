//! The world of a product read from the cluster, built exactly as the operator builds it
//! ([`World::around`]), with documents given locally (files) taking the place of the cluster's
//! copies. `dpctl diff` evaluates from it; anything else that needs the operator's view of a
//! product without the operator's caches can too.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use kube::{Client, ResourceExt};

use crate::api::{DataProduct, DataProductAccess, DataProductTemplate, ProductRef};
use crate::model::world::Lookup;
use crate::model::World;

/// What the cluster holds that a product's evaluation may look at: every template and access
/// request (listed once), and the products fetched so far (fetched on demand, only those some
/// product is related to), overlaid with the local documents.
pub struct ClusterDocuments {
    client: Client,
    /// Cluster documents with the local ones on top; products only as fetched.
    known: World,
    /// Products asked for and absent from the cluster.
    missing: BTreeSet<ProductRef>,
}

impl ClusterDocuments {
    /// Lists the templates and access requests of the cluster and lays `local` over them:
    /// a local template, product or access request replaces the cluster's of the same name.
    pub async fn load(client: &Client, local: &World) -> Result<Self, kube::Error> {
        let mut known = World::default();
        for t in Api::<DataProductTemplate>::all(client.clone())
            .list(&Default::default())
            .await?
        {
            known.add_template(t);
        }
        for t in local.templates.values() {
            known.add_template(t.clone());
        }
        let id = |a: &DataProductAccess| (a.namespace().unwrap_or_default(), a.name_any());
        let local_ids: BTreeSet<_> = local.accesses.iter().map(id).collect();
        known.accesses = Api::<DataProductAccess>::all(client.clone())
            .list(&Default::default())
            .await?
            .items
            .into_iter()
            .filter(|a| !local_ids.contains(&id(a)))
            .chain(local.accesses.iter().cloned())
            .collect();
        for p in local.products.values() {
            known.add_product(p.clone());
        }
        Ok(ClusterDocuments {
            client: client.clone(),
            known,
            missing: BTreeSet::new(),
        })
    }

    /// Everything the evaluation of `product` may look at, as [`World::around`] builds it for
    /// the operator: the related products it names (producers, consumers, requesters) are
    /// fetched from the cluster unless given locally.
    pub async fn world_around(&mut self, product: &DataProduct) -> Result<World, kube::Error> {
        // Which products `around` asks for depends only on the product and the access
        // requests, so one dry pass names them all.
        let recorder = Recorder {
            known: &self.known,
            asked: RefCell::new(BTreeSet::new()),
        };
        let _ = World::around(product, &recorder);
        let asked = recorder.asked.into_inner();
        for r in asked {
            if self.known.products.contains_key(&r) || self.missing.contains(&r) {
                continue;
            }
            let api: Api<DataProduct> = Api::namespaced(self.client.clone(), &r.namespace);
            match api.get_opt(&r.name).await? {
                Some(p) => self.known.add_product(p),
                None => {
                    self.missing.insert(r);
                }
            }
        }
        Ok(World::around(product, &self.known))
    }

    /// A product as the cluster stores it (not the local copy).
    pub async fn live_product(&self, r: &ProductRef) -> Result<Option<DataProduct>, kube::Error> {
        Api::<DataProduct>::namespaced(self.client.clone(), &r.namespace)
            .get_opt(&r.name)
            .await
    }
}

/// The labels of a namespace; `None` when it does not exist.
pub async fn namespace_labels(
    client: &Client,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, kube::Error> {
    Ok(Api::<Namespace>::all(client.clone())
        .get_opt(name)
        .await?
        .map(|n| n.metadata.labels.unwrap_or_default()))
}

/// Answers from what is known and remembers which products were asked for.
struct Recorder<'a> {
    known: &'a World,
    asked: RefCell<BTreeSet<ProductRef>>,
}

impl Lookup for Recorder<'_> {
    fn template(&self, name: &str) -> Option<DataProductTemplate> {
        self.known.template(name)
    }
    fn product(&self, r: &ProductRef) -> Option<DataProduct> {
        self.asked.borrow_mut().insert(r.clone());
        self.known.product(r)
    }
    fn requests_for(&self, product: &str) -> Vec<DataProductAccess> {
        self.known.requests_for(product)
    }
}
