//! Arbitrary YAML never makes loading, validation or planning panic.

use std::path::Path;

use dataproduct_operator::api::load::{load_str, to_yaml, yaml_options, Document, LoadOptions};
use dataproduct_operator::governance;
use dataproduct_operator::plan::{self, World};
use proptest::prelude::*;
use serde_json::{json, Value};

const TEMPLATE: &str = include_str!("../templates/standard.yaml");
const PRODUCT: &str = include_str!("../examples/messaging/conversations.yaml");

/// Field names and values that reach deep into the types, mixed with junk.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "",
            "x",
            "data_products",
            "raw",
            "decimal(40,2)",
            "array<",
            "map<int,string>",
            "@every 0s",
            "0 3 * * *",
            "61 * * * *",
            "messaging/events",
            "a/b/c",
            "{product}",
            "{",
            "2026-02-30",
            "2027-03-31",
            "arn:aws:iam::123456789012:role/x",
            "ünïcödé",
            "Retain",
            "Delete",
            "private",
            "public",
            "parquet",
            "csv",
            "snake_case",
            "26h",
            "-1",
        ])
        .prop_map(|s| json!(s)),
        "[ -~]{0,40}".prop_map(|s| json!(s)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "name",
                    "layer",
                    "type",
                    "schema",
                    "outputs",
                    "inputs",
                    "product",
                    "output",
                    "pipelines",
                    "reads",
                    "writes",
                    "schedule",
                    "consumers",
                    "principal",
                    "deprecation",
                    "sunset",
                    "announced",
                    "example",
                    "pii",
                    "description",
                    "version",
                    "external",
                    "domain",
                ])
                .prop_map(String::from),
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Pointers into the product where a random value is planted.
fn pointer() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "/spec",
        "/spec/outputs",
        "/spec/outputs/0",
        "/spec/outputs/0/schema",
        "/spec/outputs/0/schema/0",
        "/spec/outputs/0/schema/0/type",
        "/spec/outputs/0/layer",
        "/spec/inputs",
        "/spec/inputs/0",
        "/spec/pipelines/0",
        "/spec/pipelines/0/schedule",
        "/spec/access",
        "/spec/access/consumers",
        "/spec/domain",
        "/metadata/name",
        "/spec/outputs/0/deprecation",
        "/spec/slo",
        "/spec/owner",
    ])
}

fn run_all(text: &str) {
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    let opts = LoadOptions {
        default_namespace: Some("ns".into()),
    };
    load_str(
        Path::new("t.yaml"),
        TEMPLATE,
        &opts,
        &mut loaded,
        &mut errors,
    );
    load_str(Path::new("p.yaml"), text, &opts, &mut loaded, &mut errors);
    for e in &errors {
        let _ = e.to_string();
    }
    let mut world = World::default();
    for l in loaded {
        match l.document {
            Document::Product(p) => world.add_product(*p),
            Document::Template(t) => world.add_template(*t),
            Document::Access(a) => world.accesses.push(*a),
        }
    }
    for p in world.products.values() {
        let violations = governance::validate_product(p, &world);
        if let Some(t) = world.template_of(p) {
            // The planner must cope with invalid products too (it is only called on valid ones,
            // but must never panic).
            let _ = plan::plan(p, t, &world);
        }
        let _ = violations;
    }
    let _ = governance::validate_set(&world);
    for a in &world.accesses {
        let _ = governance::validate_access(a, &world);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n]{0,300}") {
        run_all(&text);
        run_all(&format!("apiVersion: dataproducts.io/v1alpha1\nkind: DataProduct\n{text}"));
    }

    #[test]
    fn arbitrary_values_planted_in_a_valid_product_never_panic(at in pointer(), planted in value()) {
        let base = PRODUCT.split("\n---").next().unwrap();
        let mut doc: Value = serde_saphyr::from_str_with_options(base, yaml_options()).unwrap();
        if let Some(slot) = doc.pointer_mut(at) {
            *slot = planted;
        }
        run_all(&to_yaml(&doc).unwrap());
    }
}
