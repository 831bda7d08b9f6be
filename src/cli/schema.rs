//! `dpctl schema`: JSON Schemas of the three kinds for editors (yaml-language-server in VS Code,
//! Neovim, JetBrains, Helix...). They are made from the CRDs' `openAPIV3Schema`, which comes from
//! the same Rust types as the API server's validation and `kubectl explain`, so an editor flags
//! exactly what the cluster would refuse, and a little more: unknown fields, which the API server
//! silently prunes, are errors here (`additionalProperties: false`), as they are for
//! `dpctl validate`.

use std::io::Write;
use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{json, Map, Value};

use crate::api::API_VERSION;

/// JSON Schema dialect of the generated schemas (the one yaml-language-server supports best).
pub const DIALECT: &str = "http://json-schema.org/draft-07/schema#";

/// One kind's schema and the file it is written to.
#[derive(Debug, Clone, PartialEq)]
pub struct KindSchema {
    pub kind: &'static str,
    pub file: &'static str,
    pub schema: Value,
}

/// The schemas of DataProduct, DataProductTemplate and DataProductAccess, in that order.
pub fn schemas() -> Vec<KindSchema> {
    vec![
        KindSchema {
            kind: "DataProduct",
            file: "dataproduct.json",
            schema: editor_schema(&crate::api::crd::all()[0]),
        },
        KindSchema {
            kind: "DataProductTemplate",
            file: "dataproducttemplate.json",
            schema: editor_schema(&crate::api::crd::all()[1]),
        },
        KindSchema {
            kind: "DataProductAccess",
            file: "dataproductaccess.json",
            schema: editor_schema(&crate::api::crd::all()[2]),
        },
    ]
}

/// Writes the schemas as `dataproduct.json`, `dataproducttemplate.json` and
/// `dataproductaccess.json` into `out_dir` (created when missing; each written path is printed on
/// `out`), or, without a directory, all of them to `out` as one JSON object keyed by kind.
pub fn run(out_dir: Option<&Path>, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let schemas = schemas();
    match out_dir {
        None => {
            let all: Map<String, Value> = schemas
                .into_iter()
                .map(|s| (s.kind.to_string(), s.schema))
                .collect();
            super::write_or_fail(out, err, &pretty(&Value::Object(all)))
        }
        Some(dir) => {
            if dir.is_file() {
                let _ = writeln!(
                    err,
                    "error: {}: is a file; -o takes a directory",
                    dir.display()
                );
                return super::EXIT_INPUT;
            }
            if let Err(e) = std::fs::create_dir_all(dir) {
                let _ = writeln!(err, "error: {}: {e}", dir.display());
                return super::EXIT_INPUT;
            }
            for s in schemas {
                let path = dir.join(s.file);
                if let Err(e) = std::fs::write(&path, pretty(&s.schema)) {
                    let _ = writeln!(err, "error: {}: {e}", path.display());
                    return super::EXIT_INPUT;
                }
                let code = super::write_or_fail(out, err, &format!("{}\n", path.display()));
                if code != 0 {
                    return code;
                }
            }
            0
        }
    }
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("a JSON value always serialises");
    text.push('\n');
    text
}

/// The editor schema of one CRD: its openAPIV3Schema turned into plain JSON Schema, with the
/// apiVersion and kind constants, a typed `metadata`, and unknown fields refused.
pub fn editor_schema(crd: &CustomResourceDefinition) -> Value {
    let kind = crd.spec.names.kind.clone();
    let namespaced = crd.spec.scope == "Namespaced";
    let mut root = crd
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .or_else(|| crd.spec.versions.first())
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .map(|s| serde_json::to_value(s).expect("a CRD schema always serialises"))
        .unwrap_or_else(|| json!({"type": "object"}));
    to_json_schema(&mut root);

    let Value::Object(map) = &mut root else {
        unreachable!("openAPIV3Schema is an object")
    };
    let properties = map
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("properties is an object");
    properties.insert(
        "apiVersion".into(),
        json!({
            "description": format!("Always {API_VERSION}."),
            "type": "string",
            "const": API_VERSION,
        }),
    );
    properties.insert(
        "kind".into(),
        json!({"description": format!("Always {kind}."), "type": "string", "const": kind}),
    );
    properties.insert("metadata".into(), object_meta(namespaced));
    let mut required = vec![json!("apiVersion"), json!("kind")];
    if let Some(Value::Array(existing)) = map.get("required") {
        for r in existing {
            if !required.contains(r) {
                required.push(r.clone());
            }
        }
    }
    map.insert("required".into(), Value::Array(required));
    map.insert("additionalProperties".into(), Value::Bool(false));
    map.insert("$schema".into(), json!(DIALECT));
    map.insert("title".into(), json!(format!("{kind} ({API_VERSION})")));
    root
}

/// The ObjectMeta fields people write, typed; other fields (as in `kubectl get -o yaml`) pass.
fn object_meta(namespaced: bool) -> Value {
    let strings = json!({"type": "object", "additionalProperties": {"type": "string"}});
    let mut properties = json!({
        "name": {
            "description": "Name of the object: lowercase letters, digits and hyphens.",
            "type": "string",
            "maxLength": 253,
        },
        "generateName": {"type": "string"},
        "labels": strings.clone(),
        "annotations": strings,
        "finalizers": {"type": "array", "items": {"type": "string"}},
    });
    if namespaced {
        properties["namespace"] = json!({
            "description": "Namespace of the object (for a DataProduct: the domain's namespace).",
            "type": "string",
        });
    }
    json!({
        "description": "Standard object metadata.",
        "type": "object",
        "properties": properties,
        "additionalProperties": true,
    })
}

/// Rewrites a Kubernetes structural schema node into plain JSON Schema, recursively:
/// `nullable` becomes a `null` type, `x-kubernetes-int-or-string` an integer-or-string type,
/// embedded resources require apiVersion, kind and metadata, and every object that lists its
/// properties (and does not preserve unknown fields) refuses others.
fn to_json_schema(node: &mut Value) {
    let Value::Object(map) = node else { return };

    let nullable = map.remove("nullable") == Some(Value::Bool(true));
    let int_or_string = map.remove("x-kubernetes-int-or-string") == Some(Value::Bool(true));
    let preserve = map.remove("x-kubernetes-preserve-unknown-fields") == Some(Value::Bool(true));
    let embedded = map.remove("x-kubernetes-embedded-resource") == Some(Value::Bool(true));
    map.retain(|k, _| !k.starts_with("x-kubernetes-"));

    if int_or_string && !map.contains_key("type") && !map.contains_key("anyOf") {
        map.insert("type".into(), json!(["integer", "string"]));
    }
    if nullable {
        match map.get_mut("type") {
            Some(Value::String(t)) => {
                let t = std::mem::take(t);
                map.insert("type".into(), json!([t, "null"]));
            }
            Some(Value::Array(types)) if !types.contains(&json!("null")) => {
                types.push(json!("null"));
            }
            _ => {}
        }
    }
    if embedded {
        let properties = map
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("properties is an object");
        for field in ["apiVersion", "kind"] {
            properties
                .entry(field)
                .or_insert_with(|| json!({"type": "string", "minLength": 1}));
        }
        properties.entry("metadata").or_insert_with(|| {
            json!({
                "type": "object",
                "properties": {"name": {"type": "string", "minLength": 1}},
                "required": ["name"],
                "additionalProperties": true,
            })
        });
        map.insert("required".into(), json!(["apiVersion", "kind", "metadata"]));
    }

    // Recurse into schema positions only (never into `default`, `enum` or `example` data).
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for child in properties.values_mut() {
            to_json_schema(child);
        }
    }
    match map.get_mut("items") {
        Some(Value::Array(items)) => items.iter_mut().for_each(to_json_schema),
        Some(items) => to_json_schema(items),
        None => {}
    }
    if let Some(additional @ Value::Object(_)) = map.get_mut("additionalProperties") {
        to_json_schema(additional);
    }
    for key in ["anyOf", "allOf", "oneOf"] {
        if let Some(Value::Array(alternatives)) = map.get_mut(key) {
            alternatives.iter_mut().for_each(to_json_schema);
        }
    }
    if let Some(not) = map.get_mut("not") {
        to_json_schema(not);
    }

    if map.contains_key("properties") && !map.contains_key("additionalProperties") {
        map.insert("additionalProperties".into(), Value::Bool(preserve));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small JSON Schema checker covering the keywords the generated schemas use for shape:
    /// type, const, enum, properties, required, additionalProperties, items, anyOf. Errors are
    /// `path: message`.
    fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        let Value::Object(s) = schema else { return };
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.iter().any(|t| type_matches(t, value)) {
                errors.push(format!(
                    "{path}: expected {}, got {value}",
                    types.join(" or ")
                ));
                return;
            }
        }
        if let Some(c) = s.get("const") {
            if c != value {
                errors.push(format!("{path}: must be {c}"));
            }
        }
        if let Some(Value::Array(options)) = s.get("enum") {
            if !options.contains(value) {
                errors.push(format!("{path}: {value} is not one of {options:?}"));
            }
        }
        if let Some(Value::Array(alternatives)) = s.get("anyOf") {
            let fits = alternatives.iter().any(|a| {
                let mut e = Vec::new();
                check(a, value, path, &mut e);
                e.is_empty()
            });
            if !fits {
                errors.push(format!("{path}: matches none of anyOf"));
            }
        }
        match value {
            Value::Object(fields) => {
                let properties = s.get("properties").and_then(Value::as_object);
                if let Some(Value::Array(required)) = s.get("required") {
                    for r in required.iter().filter_map(Value::as_str) {
                        if !fields.contains_key(r) {
                            errors.push(format!("{path}: missing required property {r}"));
                        }
                    }
                }
                for (name, field) in fields {
                    let child = format!("{path}.{name}");
                    match properties.and_then(|p| p.get(name)) {
                        Some(sub) => check(sub, field, &child, errors),
                        None => match s.get("additionalProperties") {
                            Some(Value::Bool(false)) => {
                                errors.push(format!("{child}: additional property not allowed"))
                            }
                            Some(sub @ Value::Object(_)) => check(sub, field, &child, errors),
                            _ => {}
                        },
                    }
                }
            }
            Value::Array(elements) => {
                if let Some(items) = s.get("items") {
                    for (i, element) in elements.iter().enumerate() {
                        check(items, element, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            _ => {}
        }
    }

    fn type_matches(t: &str, v: &Value) -> bool {
        match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
            _ => true,
        }
    }

    fn schema_of(kind: &str) -> Value {
        schemas()
            .into_iter()
            .find(|s| s.kind == kind)
            .map(|s| s.schema)
            .unwrap()
    }

    fn errors_of(doc: &Value) -> Vec<String> {
        let kind = doc["kind"].as_str().unwrap();
        let mut errors = Vec::new();
        check(&schema_of(kind), doc, "", &mut errors);
        errors
    }

    /// Every document of our API group in the YAML files under `dir`.
    fn documents(dir: &str) -> Vec<(String, Value)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut files = Vec::new();
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    files.push(path);
                }
            }
        }
        files.sort();
        let mut docs = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for doc in serde_saphyr::from_multiple_with_options::<Value>(
                &text,
                crate::api::load::yaml_options(),
            )
            .unwrap()
            {
                let ours = doc["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("dataproducts.io/"));
                if ours {
                    docs.push((file.display().to_string(), doc));
                }
            }
        }
        docs
    }

    fn conversations() -> Value {
        documents("examples/messaging")
            .into_iter()
            .map(|(_, d)| d)
            .find(|d| d["kind"] == "DataProduct" && d["metadata"]["name"] == "conversations")
            .expect("examples/messaging holds the conversations DataProduct")
    }

    #[test]
    fn every_kind_has_its_constants_and_refuses_unknown_top_level_fields() {
        let all = schemas();
        let kinds: Vec<_> = all.iter().map(|s| (s.kind, s.file)).collect();
        assert_eq!(
            kinds,
            [
                ("DataProduct", "dataproduct.json"),
                ("DataProductTemplate", "dataproducttemplate.json"),
                ("DataProductAccess", "dataproductaccess.json"),
            ]
        );
        for s in all {
            let schema = &s.schema;
            assert_eq!(schema["$schema"], DIALECT);
            assert_eq!(schema["properties"]["apiVersion"]["const"], API_VERSION);
            assert_eq!(schema["properties"]["kind"]["const"], s.kind);
            assert_eq!(schema["additionalProperties"], false, "{}", s.kind);
            assert_eq!(
                schema["properties"]["spec"]["additionalProperties"], false,
                "{}",
                s.kind
            );
            let required = schema["required"].as_array().unwrap();
            for r in ["apiVersion", "kind", "spec"] {
                assert!(required.contains(&json!(r)), "{}: {r} required", s.kind);
            }
        }
        // Cluster-scoped templates have no metadata.namespace.
        let template = schema_of("DataProductTemplate");
        assert!(template["properties"]["metadata"]["properties"]
            .get("namespace")
            .is_none());
        assert!(
            schema_of("DataProduct")["properties"]["metadata"]["properties"]
                .get("namespace")
                .is_some()
        );
    }

    #[test]
    fn no_kubernetes_extension_is_left_and_structural_objects_are_closed() {
        fn walk(node: &Value, path: &str, open: &mut Vec<String>) {
            match node {
                Value::Object(map) => {
                    for key in map.keys() {
                        assert!(
                            !key.starts_with("x-kubernetes-") && key != "nullable",
                            "{path}: {key} left in the schema"
                        );
                    }
                    if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                        open.push(path.to_string());
                    }
                    for (k, v) in map {
                        if k != "default" && k != "enum" && k != "const" {
                            walk(v, &format!("{path}/{k}"), open);
                        }
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        walk(v, &format!("{path}/{i}"), open);
                    }
                }
                _ => {}
            }
        }
        for s in schemas() {
            // Objects left open say so (`additionalProperties: true`): metadata, and the
            // embedded extraResources manifests, which may be of any kind.
            let mut open = Vec::new();
            walk(&s.schema, "", &mut open);
            assert!(
                open.is_empty(),
                "{}: objects that say nothing {open:?}",
                s.kind
            );
        }
    }

    #[test]
    fn the_examples_and_the_template_library_validate() {
        let mut docs = documents("examples");
        docs.extend(documents("templates"));
        let kinds: std::collections::BTreeSet<_> = docs
            .iter()
            .map(|(_, d)| d["kind"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["DataProduct", "DataProductAccess", "DataProductTemplate"]
        );
        for (file, doc) in &docs {
            let errors = errors_of(doc);
            assert!(errors.is_empty(), "{file}: {errors:#?}");
        }
    }

    #[test]
    fn unknown_fields_and_wrong_constants_are_flagged() {
        let mut doc = conversations();
        assert!(errors_of(&doc).is_empty());
        doc["spec"]["ownr"] = json!({"team": "messaging"});
        doc["spec"]["outputs"][0]["formt"] = json!("parquet");
        doc["spec"]["outputs"][0]["schema"][0]["descripton"] = json!("typo");
        doc["kind"] = json!("DataProduct");
        doc["apiVersion"] = json!("dataproducts.io/v1");
        let errors = errors_of(&doc);
        for expected in [
            ".spec.ownr: additional property not allowed",
            ".spec.outputs[0].formt: additional property not allowed",
            ".spec.outputs[0].schema[0].descripton: additional property not allowed",
            ".apiVersion: must be \"dataproducts.io/v1alpha1\"",
        ] {
            assert!(
                errors.iter().any(|e| e == expected),
                "{expected} not in {errors:#?}"
            );
        }
        // Unknown metadata fields (as in `kubectl get -o yaml`) are fine; wrong types are not.
        let mut doc = conversations();
        doc["metadata"]["resourceVersion"] = json!("42");
        assert!(errors_of(&doc).is_empty());
        doc["metadata"]["labels"] = json!({"tier": 1});
        assert_eq!(
            errors_of(&doc),
            [".metadata.labels.tier: expected string, got 1"]
        );
    }

    #[test]
    fn extra_resources_stay_open_but_need_apiversion_kind_and_name() {
        let mut template = documents("templates")
            .into_iter()
            .map(|(_, d)| d)
            .find(|d| d["metadata"]["name"] == "standard")
            .unwrap();
        template["spec"]["extraResources"] = json!([{
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "{product}-settings", "labels": {"a": "b"}},
            "data": {"anything": "goes"},
        }]);
        assert_eq!(errors_of(&template), Vec::<String>::new());
        template["spec"]["extraResources"] = json!([{"apiVersion": "v1", "metadata": {}}]);
        let errors = errors_of(&template);
        assert!(
            errors.contains(&".spec.extraResources[0]: missing required property kind".into()),
            "{errors:#?}"
        );
        assert!(
            errors.contains(
                &".spec.extraResources[0].metadata: missing required property name".into()
            ),
            "{errors:#?}"
        );
    }

    #[test]
    fn quantities_take_numbers_or_strings_and_optional_fields_take_null() {
        let mut doc = conversations();
        doc["spec"]["pipelines"][0]["resources"] =
            json!({"requests": {"cpu": 1, "memory": "512Mi"}});
        assert!(errors_of(&doc).is_empty(), "{:#?}", errors_of(&doc));
        doc["spec"]["pipelines"][0]["resources"] = json!({"requests": {"cpu": true}});
        assert_eq!(errors_of(&doc).len(), 1, "{:#?}", errors_of(&doc));
        let mut doc = conversations();
        doc["spec"]["outputs"][0]["granularity"] = Value::Null;
        assert!(errors_of(&doc).is_empty(), "{:#?}", errors_of(&doc));
    }

    #[test]
    fn run_writes_three_files_or_one_object_on_stdout() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(None, &mut out, &mut err), 0);
        let all: Value = serde_json::from_slice(&out).unwrap();
        let keys: Vec<_> = all.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["DataProduct", "DataProductAccess", "DataProductTemplate"]
        );
        assert_eq!(all["DataProduct"], schema_of("DataProduct"));

        let dir = std::env::temp_dir().join(format!(
            "dpctl-schema-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let nested = dir.join("nested");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(Some(&nested), &mut out, &mut err), 0, "{err:?}");
        for s in schemas() {
            let text = std::fs::read_to_string(nested.join(s.file)).unwrap();
            assert!(text.ends_with("}\n"));
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), s.schema);
        }
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 3);

        // A file where the directory should be: a message and exit code 2, no panic.
        let file = dir.join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(Some(&file), &mut out, &mut err), 2);
        assert!(String::from_utf8(err).unwrap().starts_with("error: "));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
