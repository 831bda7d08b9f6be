//! Plans of the real examples (examples/ + templates/), through the same loader and planner the
//! operator uses, with helpers to change a product or its template the way a team would.

use std::path::PathBuf;

use dataproduct_operator::api::load::{load_paths, Document, LoadOptions};
use dataproduct_operator::api::{DataProduct, DataProductTemplate, ProductRef};
use dataproduct_operator::plan::{self, AwsResource, World};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every example product and every template.
pub fn world() -> World {
    let (loaded, errors) = load_paths(
        &[root().join("examples"), root().join("templates")],
        &LoadOptions::default(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    let mut world = World::default();
    for l in loaded {
        match l.document {
            Document::Product(p) => world.add_product(*p),
            Document::Template(t) => world.add_template(*t),
            Document::Access(a) => world.accesses.push(*a),
        }
    }
    world
}

pub fn product_ref(id: &str) -> ProductRef {
    ProductRef::parse(id).expect("namespace/name")
}

pub fn product_mut<'a>(world: &'a mut World, id: &str) -> &'a mut DataProduct {
    world
        .products
        .get_mut(&product_ref(id))
        .expect("example product")
}

/// The template a product uses, changed for this world only.
pub fn template_mut<'a>(world: &'a mut World, id: &str) -> &'a mut DataProductTemplate {
    let name = world.products[&product_ref(id)].spec.template.clone();
    world.templates.get_mut(&name).expect("template")
}

/// The AWS documents of a product's plan.
pub fn aws_plan(world: &World, id: &str) -> Vec<AwsResource> {
    let product = &world.products[&product_ref(id)];
    let template = world.template_of(product).expect("template");
    plan::plan(product, template, world).expect("plan").aws
}

/// Every example product, sorted.
pub fn products(world: &World) -> Vec<String> {
    world.products.keys().map(|r| r.to_string()).collect()
}
