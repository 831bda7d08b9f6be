//! One Open Data Contract Standard (Bitol ODCS v3.1.0) contract per output: the schema with
//! logical and physical types, partitioning, PII classification, examples, the owning team, the
//! servers the operator provisions (S3 and Glue, and Athena when the template names a
//! workgroup), the freshness SLA, the deprecation status and the example queries. Pure.
//!
//! The type mapping is documented in docs/standards.md; [`logical_type`] is its source.

use serde_json::{json, Map, Value};

use crate::api::{Column, DataProduct, DataProductTemplate, Deprecation, Output};
use crate::model::glue_type::GlueType;
use crate::plan::{AwsResource, Plan};

/// The ODCS version every exported contract follows.
pub const API_VERSION: &str = "v3.1.0";

/// The stable id of a product: `urn:dataproduct:<namespace>:<name>`.
pub fn product_urn(namespace: &str, name: &str) -> String {
    format!("urn:dataproduct:{namespace}:{name}")
}

/// The stable id of an output (and of its contract): `urn:dataproduct:<namespace>:<name>:<output>`.
pub fn output_urn(namespace: &str, name: &str, output: &str) -> String {
    format!("urn:dataproduct:{namespace}:{name}:{output}")
}

/// An output's contract version as semantic version: version N of an output is `N.0.0` (only
/// breaking changes bump it).
pub fn contract_version(version: u32) -> String {
    format!("{version}.0.0")
}

/// The lifecycle status both standards use: `active`, `deprecated` from the announcement, and
/// `retired` after the sunset day.
pub fn status(deprecation: Option<&Deprecation>, today: jiff::civil::Date) -> &'static str {
    match deprecation {
        None => "active",
        Some(d) => match d.sunset.parse::<jiff::civil::Date>() {
            Ok(sunset) if sunset < today => "retired",
            _ => "deprecated",
        },
    }
}

/// The ODCS logical type of a Glue type. Glue's decimal, binary, map and struct have no logical
/// type of that name, so they get the nearest (number, string, object); `physicalType` keeps the
/// Glue type.
pub fn logical_type(t: &GlueType) -> &'static str {
    match t {
        GlueType::Boolean => "boolean",
        GlueType::TinyInt | GlueType::SmallInt | GlueType::Int | GlueType::BigInt => "integer",
        GlueType::Float | GlueType::Double | GlueType::Decimal { .. } => "number",
        GlueType::String | GlueType::Char(_) | GlueType::Varchar(_) | GlueType::Binary => "string",
        GlueType::Date => "date",
        GlueType::Timestamp => "timestamp",
        GlueType::Array(_) => "array",
        GlueType::Map(_, _) | GlueType::Struct(_) => "object",
    }
}

/// `logicalTypeOptions` that follow from the Glue type alone.
fn logical_type_options(t: &GlueType) -> Option<Value> {
    let format = |f: &str| Some(json!({ "format": f }));
    match t {
        GlueType::TinyInt => format("i8"),
        GlueType::SmallInt => format("i16"),
        GlueType::Int => format("i32"),
        GlueType::BigInt => format("i64"),
        GlueType::Float => format("f32"),
        GlueType::Double => format("f64"),
        GlueType::Char(n) => Some(json!({ "minLength": n, "maxLength": n })),
        GlueType::Varchar(n) => Some(json!({ "maxLength": n })),
        GlueType::Timestamp => Some(json!({ "timezone": false })),
        _ => None,
    }
}

/// The type part of a property: logical and physical type, options, and nested items or
/// properties for arrays and structs.
fn typed(t: &GlueType) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("logicalType".into(), json!(logical_type(t)));
    m.insert("physicalType".into(), json!(t.to_string()));
    if let Some(options) = logical_type_options(t) {
        m.insert("logicalTypeOptions".into(), options);
    }
    match t {
        GlueType::Array(item) => {
            m.insert("items".into(), Value::Object(typed(item)));
        }
        GlueType::Struct(fields) => {
            let properties: Vec<Value> = fields
                .iter()
                .map(|(name, ty)| {
                    let mut p = Map::new();
                    p.insert("name".into(), json!(name));
                    p.extend(typed(ty));
                    Value::Object(p)
                })
                .collect();
            m.insert("properties".into(), Value::Array(properties));
        }
        _ => {}
    }
    m
}

/// One column or partition key (`partition` is its 1-based position among the keys).
fn property(c: &Column, partition: Option<usize>) -> Value {
    let mut p = Map::new();
    p.insert("name".into(), json!(c.name));
    p.insert("physicalName".into(), json!(c.name));
    match GlueType::parse(&c.type_) {
        Ok(t) => p.extend(typed(&t)),
        // Governance refuses unparseable types before a plan exists; keep the text regardless.
        Err(_) => {
            p.insert("physicalType".into(), json!(c.type_));
        }
    }
    if !c.description.trim().is_empty() {
        p.insert("description".into(), json!(c.description.trim()));
    }
    if let Some(position) = partition {
        p.insert("partitioned".into(), json!(true));
        p.insert("partitionKeyPosition".into(), json!(position));
        // Hive-style partitions are never null: the value is a path segment.
        p.insert("required".into(), json!(true));
    }
    if c.pii {
        p.insert("classification".into(), json!("confidential"));
        p.insert("tags".into(), json!(["pii"]));
    }
    if let Some(example) = &c.example {
        p.insert("examples".into(), json!([typed_example(example, &p)]));
    }
    Value::Object(p)
}

/// An example value as the JSON type of its logical type (`12`, not `"12"`, for an integer),
/// or the text when it does not parse as one. Decimals stay text: a float would lose digits.
fn typed_example(text: &str, property: &Map<String, Value>) -> Value {
    let physical = property.get("physicalType").and_then(Value::as_str);
    if physical.is_some_and(|t| t.starts_with("decimal")) {
        return json!(text);
    }
    let parsed = match property.get("logicalType").and_then(Value::as_str) {
        Some("integer") => text.trim().parse::<i64>().ok().map(Value::from),
        Some("number") => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Some("boolean") => text.trim().parse::<bool>().ok().map(Value::Bool),
        _ => None,
    };
    parsed.unwrap_or_else(|| json!(text))
}

/// A duration as the operator writes it (`26h`, `90m`, `1d12h`) as (value, unit) in the largest
/// unit that keeps it whole: `d`, `h`, `min`, `s` or `ms`.
pub fn duration_value(text: &str) -> Option<(u64, &'static str)> {
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (factor, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.chars().next()? {
                's' => (1_000, 1),
                'm' => (60_000, 1),
                'h' => (3_600_000, 1),
                'd' => (86_400_000, 1),
                _ => return None,
            }
        };
        total_ms = total_ms.checked_add(number.checked_mul(factor)?)?;
        rest = &rest[len..];
    }
    if text.is_empty() {
        return None;
    }
    let units: [(u64, &'static str); 5] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "min"),
        (1_000, "s"),
        (1, "ms"),
    ];
    units
        .iter()
        .find(|(f, _)| total_ms.is_multiple_of(*f))
        .map(|(f, u)| (total_ms / f, *u))
}

fn custom(property: &str, value: Value) -> Value {
    json!({ "property": property, "value": value })
}

/// The contract of one output of an evaluated product. `plan` is what [`crate::evaluate::evaluate`]
/// returned for `product` with `template`; `today` decides whether a deprecation has passed its
/// sunset.
pub fn contract(
    product: &DataProduct,
    template: &DataProductTemplate,
    plan: &Plan,
    output: &Output,
    today: jiff::civil::Date,
) -> Value {
    let names = &plan.names;
    let spec = &product.spec;
    let table = names.table(&output.name).unwrap_or(&output.name);
    let bucket = names.bucket(&output.layer).unwrap_or_default();
    // The location the operator gives the Glue table, so consumers read where data is written.
    let location = plan
        .aws
        .iter()
        .find_map(|r| match r {
            AwsResource::GlueTable(t) if t.metadata.name == table => Some(t.spec.location.clone()),
            _ => None,
        })
        .unwrap_or_else(|| format!("s3://{bucket}/{}/", output.name));
    let format = crate::plan::aws::format_name(output.format);

    let mut properties: Vec<Value> = output.schema.iter().map(|c| property(c, None)).collect();
    properties.extend(
        output
            .partition_keys
            .iter()
            .enumerate()
            .map(|(i, c)| property(c, Some(i + 1))),
    );
    let mut object = Map::new();
    object.insert("name".into(), json!(output.name));
    object.insert("physicalName".into(), json!(table));
    object.insert("logicalType".into(), json!("object"));
    object.insert("physicalType".into(), json!("table"));
    if !output.description.trim().is_empty() {
        object.insert("description".into(), json!(output.description.trim()));
    }
    if let Some(g) = &output.granularity {
        object.insert("dataGranularityDescription".into(), json!(g));
    }
    if output
        .schema
        .iter()
        .chain(&output.partition_keys)
        .any(|c| c.pii)
    {
        object.insert("tags".into(), json!(["pii"]));
    }
    object.insert("properties".into(), Value::Array(properties));

    let mut servers = vec![
        json!({
            "server": "s3",
            "type": "s3",
            "description": format!("The {} layer's bucket", output.layer),
            "location": location,
            "format": format,
        }),
        json!({
            "server": "glue",
            "type": "glue",
            "description": format!("Glue table {}.{table} in {}", names.database, names.region),
            "account": names.account_id,
            "database": names.database,
            "location": location,
            "format": format,
        }),
    ];
    if let Some(athena) = &template.spec.catalog.athena {
        servers.push(json!({
            "server": "athena",
            "type": "athena",
            "description": format!("Athena workgroup {}", athena.workgroup),
            "stagingDir": athena.staging_location,
            "schema": names.database,
            "catalog": "awsdatacatalog",
            "regionName": names.region,
            "customProperties": [custom("workgroup", json!(athena.workgroup))],
        }));
    }

    let mut sla = Vec::new();
    if let Some(freshness) = spec.slo.as_ref().and_then(|s| s.freshness.as_deref()) {
        if let Some((value, unit)) = duration_value(freshness) {
            let mut p = Map::new();
            p.insert("property".into(), json!("latency"));
            p.insert("value".into(), json!(value));
            p.insert("unit".into(), json!(unit));
            if let Some(key) = output.partition_keys.first() {
                p.insert(
                    "element".into(),
                    json!(format!("{}.{}", output.name, key.name)),
                );
            }
            p.insert("driver".into(), json!("analytics"));
            p.insert(
                "description".into(),
                json!(format!(
                    "Freshness: the newest partition is younger than {freshness}"
                )),
            );
            sla.push(Value::Object(p));
        }
    }
    let layer = template
        .spec
        .storage
        .layers
        .iter()
        .find(|l| l.name == output.layer);
    if let Some(days) = layer.and_then(|l| l.retention_days) {
        sla.push(json!({
            "property": "retention",
            "value": days,
            "unit": "d",
            "description": format!("Objects in the {} layer are kept {days} days", output.layer),
        }));
    }

    // Whichever is retired first: the whole product or this output.
    let deprecation = output.deprecation.as_ref().or(spec.deprecation.as_ref());
    let mut customs = vec![
        custom(
            "product",
            json!(product_urn(&names.product_namespace, &names.product)),
        ),
        custom("layer", json!(output.layer)),
    ];
    if let Some(l) = layer {
        customs.push(custom("visibility", json!(l.visibility)));
    }
    if !output.examples.is_empty() {
        let queries: Vec<Value> = output
            .examples
            .iter()
            .map(|q| json!({ "title": q.title, "sql": q.sql.trim() }))
            .collect();
        customs.push(custom("exampleQueries", Value::Array(queries)));
    }
    if let Some(d) = deprecation {
        customs.push(custom("deprecation", json!(d)));
    }

    let mut team = Map::new();
    team.insert("name".into(), json!(spec.owner.team));
    if !spec.owner.email.is_empty() {
        team.insert(
            "members".into(),
            json!([{ "username": spec.owner.email, "role": "owner" }]),
        );
    }
    if !spec.owner.groups.is_empty() {
        team.insert(
            "customProperties".into(),
            json!([custom("kubernetesGroups", json!(spec.owner.groups))]),
        );
    }

    let mut description = Map::new();
    if !output.description.trim().is_empty() {
        description.insert("purpose".into(), json!(output.description.trim()));
    }
    if !spec.description.trim().is_empty() {
        description.insert("usage".into(), json!(spec.description.trim()));
    }
    if let Some(d) = deprecation {
        let mut text = format!("Deprecated; may be removed after {}", d.sunset);
        if let Some(r) = &d.replaced_by {
            text.push_str(&format!("; use {r} instead"));
        }
        if let Some(r) = &d.reason {
            text.push_str(&format!(" ({r})"));
        }
        description.insert("limitations".into(), json!(text));
    }

    let mut c = Map::new();
    c.insert("apiVersion".into(), json!(API_VERSION));
    c.insert("kind".into(), json!("DataContract"));
    c.insert(
        "id".into(),
        json!(output_urn(
            &names.product_namespace,
            &names.product,
            &output.name
        )),
    );
    c.insert(
        "name".into(),
        json!(format!("{}.{}", names.product, output.name)),
    );
    c.insert("version".into(), json!(contract_version(output.version)));
    c.insert("status".into(), json!(status(deprecation, today)));
    c.insert("tenant".into(), json!(template.spec.organization));
    c.insert("domain".into(), json!(spec.domain));
    c.insert("dataProduct".into(), json!(names.product));
    if !description.is_empty() {
        c.insert("description".into(), Value::Object(description));
    }
    c.insert("schema".into(), json!([Value::Object(object)]));
    c.insert("servers".into(), Value::Array(servers));
    if !sla.is_empty() {
        c.insert("slaProperties".into(), Value::Array(sla));
    }
    c.insert("team".into(), Value::Object(team));
    if !spec.owner.email.is_empty() {
        c.insert(
            "support".into(),
            json!([{
                "channel": "email",
                "tool": "email",
                "url": format!("mailto:{}", spec.owner.email),
            }]),
        );
    }
    c.insert("customProperties".into(), Value::Array(customs));
    Value::Object(c)
}

/// Every output's contract, in spec order, with the output's name.
pub fn contracts(
    product: &DataProduct,
    template: &DataProductTemplate,
    plan: &Plan,
    today: jiff::civil::Date,
) -> Vec<(String, Value)> {
    product
        .spec
        .outputs
        .iter()
        .map(|o| (o.name.clone(), contract(product, template, plan, o, today)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_largest_whole_unit() {
        assert_eq!(duration_value("26h"), Some((26, "h")));
        assert_eq!(duration_value("2d"), Some((2, "d")));
        assert_eq!(duration_value("48h"), Some((2, "d")));
        assert_eq!(duration_value("90m"), Some((90, "min")));
        assert_eq!(duration_value("1d12h"), Some((36, "h")));
        assert_eq!(duration_value("1500ms"), Some((1500, "ms")));
        assert_eq!(duration_value(""), None);
        assert_eq!(duration_value("5x"), None);
    }

    #[test]
    fn glue_types_without_an_odcs_namesake_get_the_nearest() {
        let lt = |s: &str| logical_type(&GlueType::parse(s).unwrap());
        assert_eq!(lt("decimal(10,2)"), "number");
        assert_eq!(lt("binary"), "string");
        assert_eq!(lt("map<string,int>"), "object");
        assert_eq!(lt("struct<a:int>"), "object");
        assert_eq!(lt("array<int>"), "array");
        assert_eq!(lt("bigint"), "integer");
        let t = typed(&GlueType::parse("DECIMAL(10, 2)").unwrap());
        assert_eq!(t["physicalType"], "decimal(10,2)");
    }
}
