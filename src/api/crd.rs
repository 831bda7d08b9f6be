//! The CRDs, generated from the Rust types so the schema can never drift from the code.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use kube::CustomResourceExt;

use crate::api::{DataProduct, DataProductAccess, DataProductTemplate};

/// The three CRDs, with every bound the Rust types impose written into their schemas.
pub fn all() -> Vec<CustomResourceDefinition> {
    [
        DataProduct::crd(),
        DataProductTemplate::crd(),
        DataProductAccess::crd(),
    ]
    .into_iter()
    .map(bounded)
    .collect()
}

/// The three CRDs as one multi-document YAML stream (what `dpctl crd` prints and crds/ holds).
pub fn crds_yaml() -> String {
    let mut out = String::new();
    for crd in all() {
        out.push_str("---\n");
        out.push_str(&crate::api::load::to_yaml(&crd).expect("a CRD always serialises to YAML"));
    }
    out
}

/// schemars writes an integer's width only as `format` (`uint32`, `int32`, ...), which the API
/// server treats as documentation. Without `minimum`/`maximum` it stores values the operator
/// cannot deserialize, and one such object would break the operator's list of every product.
/// So each width becomes explicit bounds; bounds the type already states more tightly stay.
fn bounded(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            bound_integers(schema);
        }
    }
    crd
}

/// The range of an integer `format`, for the widths Rust types produce.
pub fn integer_range(format: &str) -> Option<(i64, i64)> {
    Some(match format {
        "int8" => (i8::MIN.into(), i8::MAX.into()),
        "int16" => (i16::MIN.into(), i16::MAX.into()),
        "int32" => (i32::MIN.into(), i32::MAX.into()),
        "uint8" => (0, u8::MAX.into()),
        "uint16" => (0, u16::MAX.into()),
        "uint32" => (0, u32::MAX.into()),
        // The API server keeps integers as int64, so int64's own range needs no bound, and the
        // unsigned 64-bit kinds only need their lower one.
        "uint64" | "uint" => (0, i64::MAX),
        _ => return None,
    })
}

fn bound_integers(s: &mut JSONSchemaProps) {
    if s.type_.as_deref() == Some("integer") {
        if let Some((min, max)) = s.format.as_deref().and_then(integer_range) {
            let (min, max) = (min as f64, max as f64);
            s.minimum = Some(s.minimum.map_or(min, |m| m.max(min)));
            if max < i64::MAX as f64 {
                s.maximum = Some(s.maximum.map_or(max, |m| m.min(max)));
            }
        }
    }
    let children = s
        .properties
        .iter_mut()
        .flat_map(|p| p.values_mut())
        .chain(s.all_of.iter_mut().flatten())
        .chain(s.any_of.iter_mut().flatten())
        .chain(s.one_of.iter_mut().flatten());
    for child in children {
        bound_integers(child);
    }
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
    };
    match s.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => bound_integers(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => items.iter_mut().for_each(bound_integers),
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = s.additional_properties.as_mut() {
        bound_integers(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every integer of every schema has the bounds of its width, so the API server refuses what
    /// the operator could not read.
    #[test]
    fn every_sized_integer_is_bounded() {
        fn walk(s: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
            if let Some(obj) = s.as_object() {
                if obj.get("type").and_then(|t| t.as_str()) == Some("integer") {
                    let format = obj.get("format").and_then(|f| f.as_str()).unwrap_or("");
                    if let Some((_, max)) = integer_range(format) {
                        let le = |k: &str, v: i64| {
                            obj.get(k)
                                .and_then(|m| m.as_f64())
                                .is_some_and(|m| m <= v as f64)
                        };
                        if !obj.contains_key("minimum") || (max < i64::MAX && !le("maximum", max)) {
                            missing.push(format!("{path} ({format})"));
                        }
                    }
                }
                for (k, v) in obj {
                    walk(v, &format!("{path}.{k}"), missing);
                }
            }
        }
        let mut missing = Vec::new();
        for crd in all() {
            let value = serde_json::to_value(&crd).unwrap();
            walk(&value, &crd.spec.names.kind, &mut missing);
        }
        assert!(missing.is_empty(), "unbounded integers: {missing:#?}");
        let text = serde_json::to_string(&all()[0]).unwrap();
        assert!(
            text.contains(r#""maximum":4294967295.0"#) || text.contains(r#""maximum":4294967295"#),
            "u32 version has a maximum"
        );
    }
}
