//! The product's public descriptor: what the catalogue shows and pipelines can read from the
//! descriptor ConfigMap. Only published facts, never internal names a consumer cannot use.

use serde_json::{json, Value};

use crate::api::{DataProduct, DataProductTemplate, API_VERSION};
use crate::model::Names;

/// Builds the descriptor as a JSON value.
pub fn build(product: &DataProduct, template: &DataProductTemplate, names: &Names) -> Value {
    let spec = &product.spec;
    let outputs: Vec<Value> = spec
        .outputs
        .iter()
        .map(|o| {
            let layer = template.spec.storage.layers.iter().find(|l| l.name == o.layer);
            let table = names.table(&o.name).unwrap_or_default();
            let columns = |cols: &[crate::api::Column]| -> Vec<Value> {
                cols.iter()
                    .map(|c| json!({"name": c.name, "type": c.type_, "description": c.description.trim(), "example": c.example, "pii": c.pii}))
                    .collect()
            };
            json!({
                "name": o.name,
                "description": o.description.trim(),
                "layer": o.layer,
                "visibility": layer.map(|l| l.visibility),
                "format": super::aws::format_name(o.format),
                "granularity": o.granularity,
                "version": o.version,
                "table": format!("{}.{table}", names.database),
                "location": names.bucket(&o.layer).map(|b| format!("s3://{b}/{}/", o.name)),
                "columns": columns(&o.schema),
                "partitionKeys": columns(&o.partition_keys),
                "examples": o.examples.iter().map(|e| json!({"title": e.title, "sql": e.sql})).collect::<Vec<_>>(),
                "deprecation": o.deprecation,
            })
        })
        .collect();
    let inputs: Vec<Value> = spec
        .inputs
        .iter()
        .map(|i| match (&i.product, &i.external) {
            (Some(p), _) => {
                // Only what the product itself says: facts about other products would rewrite
                // this descriptor whenever they come and go.
                json!({"product": p, "output": i.output})
            }
            (None, Some(e)) => json!({"external": e.name, "description": e.description.trim()}),
            _ => json!({}),
        })
        .collect();
    let first_table = spec.outputs.first().and_then(|o| names.table(&o.name));
    let mut descriptor = json!({
        "apiVersion": API_VERSION,
        "kind": "DataProductDescriptor",
        "id": names.id,
        "name": names.product,
        "domain": spec.domain,
        "class": spec.class,
        "template": spec.template,
        "description": spec.description.trim(),
        "owner": {"team": spec.owner.team, "email": spec.owner.email},
        "namespace": names.namespace,
        "database": names.database,
        "region": names.region,
        "visibility": spec.access.visibility,
        "inputs": inputs,
        "outputs": outputs,
        "slo": spec.slo,
        "deprecation": spec.deprecation,
        "sql": first_table.map(|t| format!("SELECT * FROM {}.{t} LIMIT 10", names.database)),
    });
    // Only with a stage, so descriptors of products without one stay byte-identical.
    if let Some(stage) = &names.stage {
        descriptor["stage"] = json!(stage);
    }
    descriptor
}

/// The descriptor as pretty JSON with sorted keys, so identical input gives identical bytes.
pub fn render(product: &DataProduct, template: &DataProductTemplate, names: &Names) -> String {
    serde_json::to_string_pretty(&build(product, template, names)).unwrap_or_default()
}
