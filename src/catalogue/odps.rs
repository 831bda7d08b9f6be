//! One Open Data Product Standard (Bitol ODPS v1.1.0) document per product: its input ports
//! (other products' outputs, by their contract id, and external sources) and its output ports,
//! each pointing at the output's ODCS contract ([`super::odcs`]). Pure.

use serde_json::{json, Map, Value};

use crate::api::{DataProduct, DataProductTemplate, ProductRef};
use crate::model::World;
use crate::plan::Plan;

use super::odcs::{contract_version, output_urn, product_urn, status};

/// The ODPS version every exported product follows.
pub const API_VERSION: &str = "v1.1.0";

fn custom(property: &str, value: Value) -> Value {
    json!({ "property": property, "value": value })
}

/// The name an input port goes by in `pipelines[].reads`: the output name for another
/// product's output, the source name for an external input.
fn input_port(input: &crate::api::Input, world: &World) -> Option<(String, Value)> {
    if let Some(external) = &input.external {
        let mut p = Map::new();
        p.insert("name".into(), json!(external.name));
        let mut customs = vec![custom("external", json!(true))];
        if !external.description.trim().is_empty() {
            customs.push(custom("description", json!(external.description.trim())));
        }
        p.insert("customProperties".into(), Value::Array(customs));
        return Some((external.name.clone(), Value::Object(p)));
    }
    let product = ProductRef::parse(input.product.as_deref()?)?;
    let output = input.output.as_deref()?;
    let id = output_urn(&product.namespace, &product.name, output);
    let version = world
        .products
        .get(&product)
        .and_then(|p| p.spec.outputs.iter().find(|o| o.name == output))
        .map(|o| contract_version(o.version));
    let mut p = Map::new();
    p.insert("id".into(), json!(id));
    p.insert("name".into(), json!(format!("{}.{output}", product.name)));
    if let Some(v) = &version {
        p.insert("version".into(), json!(v));
    }
    p.insert("contractId".into(), json!(id));
    p.insert(
        "customProperties".into(),
        json!([custom(
            "product",
            json!(product_urn(&product.namespace, &product.name))
        )]),
    );
    Some((output.to_string(), Value::Object(p)))
}

/// The product document. `plan` is what [`crate::evaluate::evaluate`] returned for `product`;
/// `world` holds the products it reads from (for their contract versions).
pub fn product(
    product: &DataProduct,
    template: &DataProductTemplate,
    plan: &Plan,
    world: &World,
    today: jiff::civil::Date,
) -> Value {
    let names = &plan.names;
    let spec = &product.spec;
    let ns = &names.product_namespace;

    let inputs: Vec<(String, Value)> = spec
        .inputs
        .iter()
        .filter_map(|i| input_port(i, world))
        .collect();

    let output_ports: Vec<Value> = spec
        .outputs
        .iter()
        .map(|o| {
            let id = output_urn(ns, &names.product, &o.name);
            let mut p = Map::new();
            p.insert("id".into(), json!(id));
            p.insert("name".into(), json!(o.name));
            if !o.description.trim().is_empty() {
                p.insert("description".into(), json!(o.description.trim()));
            }
            p.insert("type".into(), json!("table"));
            p.insert("version".into(), json!(contract_version(o.version)));
            p.insert("contractId".into(), json!(id));
            let deprecation = o.deprecation.as_ref().or(spec.deprecation.as_ref());
            if deprecation.is_some() {
                p.insert("deprecated".into(), json!(true));
            }
            // Lineage: the product inputs read by the pipelines that write this output.
            let mut input_contracts: Vec<Value> = Vec::new();
            for pipeline in spec
                .pipelines
                .iter()
                .filter(|pl| pl.writes.contains(&o.name))
            {
                for read in &pipeline.reads {
                    for (name, port) in &inputs {
                        let (Some(cid), Some(v)) = (port.get("contractId"), port.get("version"))
                        else {
                            continue;
                        };
                        let entry = json!({ "id": cid, "version": v });
                        if name == read && !input_contracts.contains(&entry) {
                            input_contracts.push(entry);
                        }
                    }
                }
            }
            if !input_contracts.is_empty() {
                p.insert("inputContracts".into(), Value::Array(input_contracts));
            }
            let mut customs = vec![
                custom("layer", json!(o.layer)),
                custom(
                    "table",
                    json!(format!(
                        "{}.{}",
                        names.database,
                        names.table(&o.name).unwrap_or(&o.name)
                    )),
                ),
            ];
            if let Some(d) = deprecation {
                customs.push(custom("deprecation", json!(d)));
            }
            p.insert("customProperties".into(), Value::Array(customs));
            Value::Object(p)
        })
        .collect();

    let mut d = Map::new();
    d.insert("apiVersion".into(), json!(API_VERSION));
    d.insert("kind".into(), json!("DataProduct"));
    d.insert("id".into(), json!(product_urn(ns, &names.product)));
    d.insert("name".into(), json!(names.product));
    d.insert(
        "status".into(),
        json!(status(spec.deprecation.as_ref(), today)),
    );
    if spec.deprecation.is_some() {
        d.insert("deprecated".into(), json!(true));
    }
    d.insert("domain".into(), json!(spec.domain));
    d.insert("tenant".into(), json!(template.spec.organization));
    if !spec.description.trim().is_empty() {
        d.insert(
            "description".into(),
            json!({ "purpose": spec.description.trim() }),
        );
    }
    d.insert("tags".into(), json!([format!("class:{}", class(product))]));
    if !inputs.is_empty() {
        d.insert(
            "inputPorts".into(),
            Value::Array(inputs.into_iter().map(|(_, p)| p).collect()),
        );
    }
    d.insert("outputPorts".into(), Value::Array(output_ports));
    let mut team = Map::new();
    team.insert("name".into(), json!(spec.owner.team));
    if !spec.owner.email.is_empty() {
        team.insert(
            "members".into(),
            json!([{ "username": spec.owner.email, "role": "owner" }]),
        );
    }
    d.insert("team".into(), Value::Object(team));
    if !spec.owner.email.is_empty() {
        d.insert(
            "support".into(),
            json!([{
                "channel": "email",
                "tool": "email",
                "url": format!("mailto:{}", spec.owner.email),
            }]),
        );
    }
    let mut customs = vec![
        custom("template", json!(spec.template)),
        custom("namespace", json!(names.namespace)),
        custom("database", json!(names.database)),
        custom("visibility", json!(spec.access.visibility)),
    ];
    if let Some(f) = spec.slo.as_ref().and_then(|s| s.freshness.as_deref()) {
        customs.push(custom("freshness", json!(f)));
    }
    if let Some(dep) = &spec.deprecation {
        customs.push(custom("deprecation", json!(dep)));
    }
    d.insert("customProperties".into(), Value::Array(customs));
    Value::Object(d)
}

fn class(product: &DataProduct) -> &'static str {
    match product.spec.class {
        crate::api::ProductClass::Domain => "domain",
        crate::api::ProductClass::Core => "core",
    }
}
