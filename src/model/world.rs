//! What the planner and the rules may look at besides the product itself, and who may read
//! what: the facts both governance and the planner decide from.

use std::collections::BTreeMap;

use super::Names;
use crate::api::{
    DataProduct, DataProductAccess, DataProductTemplate, Deprecation, ProductRef, Visibility,
};

/// Everything the planner may look at besides the product itself: other products (for lineage
/// and grants), templates, and access requests. The operator fills it from its caches;
/// `dpctl plan` from the given files.
#[derive(Debug, Default, Clone)]
pub struct World {
    pub products: BTreeMap<ProductRef, DataProduct>,
    pub templates: BTreeMap<String, DataProductTemplate>,
    pub accesses: Vec<DataProductAccess>,
}

impl World {
    pub fn product_ref(product: &DataProduct) -> ProductRef {
        ProductRef {
            namespace: product.metadata.namespace.clone().unwrap_or_default(),
            name: product.metadata.name.clone().unwrap_or_default(),
        }
    }

    pub fn add_product(&mut self, product: DataProduct) {
        self.products.insert(Self::product_ref(&product), product);
    }

    pub fn add_template(&mut self, template: DataProductTemplate) {
        let name = template.metadata.name.clone().unwrap_or_default();
        self.templates.insert(name, template);
    }

    pub fn template_of(&self, product: &DataProduct) -> Option<&DataProductTemplate> {
        self.templates.get(&product.spec.template)
    }

    /// Derived names of a known product, when its template is known too.
    pub fn names_of(&self, product: &ProductRef) -> Option<Names> {
        let p = self.products.get(product)?;
        Names::derive(p, self.template_of(p)?).ok()
    }
}

/// The deprecation that applies to an output: its own, else its product's.
pub fn deprecation_of<'a>(product: &'a DataProduct, output: &str) -> Option<&'a Deprecation> {
    product
        .spec
        .outputs
        .iter()
        .find(|o| o.name == output)
        .and_then(|o| o.deprecation.as_ref())
        .or(product.spec.deprecation.as_ref())
}

/// The sunset of an output, when it has passed on `today`: the output is retired, so nobody is
/// granted it any more and the pipelines that read it wait. The sunset day itself still counts.
pub fn retired(
    product: &DataProduct,
    output: &str,
    today: jiff::civil::Date,
) -> Option<jiff::civil::Date> {
    deprecation_of(product, output)
        .and_then(|d| d.sunset.parse::<jiff::civil::Date>().ok())
        .filter(|sunset| *sunset < today)
}

/// Whether an expiry date (`YYYY-MM-DD`, inclusive) has passed on `today`. The one place grant
/// and access expiry is decided.
pub fn expired(expires: Option<&str>, today: jiff::civil::Date) -> Option<jiff::civil::Date> {
    expires
        .and_then(|e| e.parse::<jiff::civil::Date>().ok())
        .filter(|e| *e < today)
}

/// Outputs that may be granted to a consumer. Private layers belong to the owning domain, so
/// products in the producer's own namespace (namespaces are bound to one domain) may be granted
/// any output; everyone else, IAM principals included, only outputs in public layers.
pub fn grantable_outputs(
    producer: &DataProduct,
    template: &DataProductTemplate,
    consumer: Option<&ProductRef>,
) -> Vec<String> {
    let same_domain = consumer
        .is_some_and(|c| Some(c.namespace.as_str()) == producer.metadata.namespace.as_deref());
    if same_domain {
        producer
            .spec
            .outputs
            .iter()
            .filter(|o| grantable_layer(template, &o.layer))
            .map(|o| o.name.clone())
            .collect()
    } else {
        public_outputs(producer, template)
    }
}

/// Outputs stored in a public (and grantable) layer: the only ones that can be granted outside
/// the domain.
pub fn public_outputs(product: &DataProduct, template: &DataProductTemplate) -> Vec<String> {
    product
        .spec
        .outputs
        .iter()
        .filter(|o| {
            template
                .spec
                .storage
                .layers
                .iter()
                .any(|l| l.name == o.layer && l.visibility == Visibility::Public && l.grantable)
        })
        .map(|o| o.name.clone())
        .collect()
}

/// Whether outputs of `layer` may be granted at all: layers marked `grantable: false` (ad-hoc
/// `queries`, say) are never granted to anyone, not even to products of the same domain.
/// Unknown layers count as grantable here; `layer-exists` reports them.
pub fn grantable_layer(template: &DataProductTemplate, layer: &str) -> bool {
    template
        .spec
        .storage
        .layers
        .iter()
        .find(|l| l.name == layer)
        .is_none_or(|l| l.grantable)
}

/// Whether an access request is from where its consumer lives: a consumer product's request must
/// be in that product's namespace (only its team can create it there). Principal requests carry
/// no such binding and are only ever matched against principals the producer lists.
pub fn request_is_bound(a: &DataProductAccess) -> bool {
    match a
        .spec
        .consumer
        .product
        .as_deref()
        .and_then(ProductRef::parse)
    {
        Some(c) => a.metadata.namespace.as_deref() == Some(c.namespace.as_str()),
        None => a.spec.consumer.principal.is_some(),
    }
}

/// Where the related documents of a product are looked up: the operator's caches, or the
/// documents `dpctl diff` listed from the cluster, or files.
pub trait Lookup {
    fn template(&self, name: &str) -> Option<DataProductTemplate>;
    fn product(&self, r: &ProductRef) -> Option<DataProduct>;
    /// Access requests addressed to the product `<namespace>/<name>`.
    fn requests_for(&self, product: &str) -> Vec<DataProductAccess>;
}

impl Lookup for World {
    fn template(&self, name: &str) -> Option<DataProductTemplate> {
        self.templates.get(name).cloned()
    }
    fn product(&self, r: &ProductRef) -> Option<DataProduct> {
        self.products.get(r).cloned()
    }
    fn requests_for(&self, product: &str) -> Vec<DataProductAccess> {
        self.accesses
            .iter()
            .filter(|a| a.spec.product == product)
            .cloned()
            .collect()
    }
}

impl World {
    /// Everything the evaluation of `product` may look at: its template, the producers of its
    /// inputs and the access requests addressed to them, its listed consumers, the access
    /// requests addressed to it and their consumers, each with its template. Only related
    /// products are looked up, so the cost does not grow with the number of products. The operator and `dpctl diff` build the world this way.
    pub fn around(product: &DataProduct, lookup: &impl Lookup) -> World {
        let mut world = World::default();
        let add = |world: &mut World, p: DataProduct| {
            if let Some(t) = lookup.template(&p.spec.template) {
                world.add_template(t);
            }
            world.add_product(p);
        };
        add(&mut world, product.clone());
        // Expired requests stay: the evaluation reads their expiry and drops their grants.
        world.accesses = lookup.requests_for(&Self::product_ref(product).to_string());
        let me = Self::product_ref(product);
        let producers: Vec<ProductRef> = product
            .spec
            .inputs
            .iter()
            .filter_map(|i| i.product.as_deref().and_then(ProductRef::parse))
            .filter(|r| *r != me)
            .collect();
        let consumers = product
            .spec
            .access
            .consumers
            .iter()
            .filter_map(|c| c.product.as_deref().and_then(ProductRef::parse));
        let requesters: Vec<ProductRef> = world
            .accesses
            .iter()
            .filter_map(|a| {
                a.spec
                    .consumer
                    .product
                    .as_deref()
                    .and_then(ProductRef::parse)
            })
            .collect();
        for r in producers.iter().cloned().chain(consumers).chain(requesters) {
            if world.products.contains_key(&r) {
                continue;
            }
            if let Some(p) = lookup.product(&r) {
                add(&mut world, p);
            }
        }
        // The requests addressed to each producer it reads: what this product may read is what
        // the producer's grants give it, and those come from the producer's requests.
        for producer in producers {
            for a in lookup.requests_for(&producer.to_string()) {
                let known = world.accesses.iter().any(|b| {
                    b.metadata.namespace == a.metadata.namespace
                        && b.metadata.name == a.metadata.name
                });
                if !known {
                    world.accesses.push(a);
                }
            }
        }
        world
    }
}

/// The repository's examples and template library as one world, for unit tests.
#[cfg(test)]
pub(crate) fn examples() -> World {
    use crate::api::load::{load_paths, Document, LoadOptions};
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (docs, errors) = load_paths(
        &[root.join("examples"), root.join("templates")],
        &LoadOptions::default(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    let mut world = World::default();
    for d in docs {
        match d.document {
            Document::Product(p) => world.add_product(*p),
            Document::Template(t) => world.add_template(*t),
            Document::Access(a) => world.accesses.push(*a),
        }
    }
    world
}
