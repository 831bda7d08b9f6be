//! Anything the API server accepts, the operator can read. Random mutations of the examples are
//! made through the CRDs' own OpenAPI schemas (so every mutated document is one the API server
//! would accept), then pruned of unknown fields and defaulted as the API server does, then
//! deserialized into the Rust types. One document the schema accepts but the types refuse would
//! be an object that no list could return (see operator/unreadable.rs for the safety net).

mod support;

use std::path::PathBuf;

use dataproduct_operator::api::load::{load_paths, Document, LoadOptions};
use dataproduct_operator::api::{DataProduct, DataProductAccess, DataProductTemplate};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use support::schema_fuzz::{apply_defaults, conforms, crd_schema, mutate, prune};

/// Every example and template, as the JSON the API server would store.
fn examples() -> Vec<(String, Value)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (docs, errors) = load_paths(
        &[root.join("examples"), root.join("templates")],
        &LoadOptions::default(),
    );
    assert!(errors.is_empty(), "{errors:?}");
    docs.into_iter()
        .map(|d| {
            let (kind, value) = match d.document {
                Document::Product(p) => ("DataProduct", serde_json::to_value(p)),
                Document::Template(t) => ("DataProductTemplate", serde_json::to_value(t)),
                Document::Access(a) => ("DataProductAccess", serde_json::to_value(a)),
            };
            (kind.to_string(), value.unwrap())
        })
        .collect()
}

/// What the operator does with a stored object: deserialize it into its kind's type, naming
/// the field that fails.
fn read(kind: &str, value: Value) -> Result<(), String> {
    fn de<T: serde::de::DeserializeOwned>(v: Value) -> Result<(), String> {
        serde_path_to_error::deserialize::<_, T>(v)
            .map(|_| ())
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }
    match kind {
        "DataProduct" => de::<DataProduct>(value),
        "DataProductTemplate" => de::<DataProductTemplate>(value),
        _ => de::<DataProductAccess>(value),
    }
}

#[test]
fn whatever_the_schema_accepts_deserializes() {
    let crds: Vec<Value> = dataproduct_operator::api::crd::all()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    let cases: u32 = std::env::var("DPO_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    for (kind, example) in examples() {
        let schema = crd_schema(&crds, &kind).expect("a CRD per kind").clone();
        conforms(&schema, &example).expect("the example itself conforms");
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let name = example["metadata"]["name"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        let result = runner.run(&mutate(&schema, &example), |mut doc| {
            // The API server: validate, prune unknown fields, apply defaults, store.
            prop_assert!(conforms(&schema, &doc).is_ok(), "the generator left the schema");
            prune(&schema, &mut doc);
            apply_defaults(&schema, &mut doc);
            read(&kind, doc.clone()).map_err(|e| {
                TestCaseError::fail(format!(
                    "{kind} {name}: the API server accepts it but the operator cannot read it: {e}\n{}",
                    serde_json::to_string_pretty(&doc).unwrap_or_default()
                ))
            })
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}

/// The same test finds the bug it is for: without the bound the CRD now carries, a version too
/// large for u32 is accepted and cannot be read.
#[test]
fn without_the_u32_bound_the_fuzzer_finds_the_unreadable_version() {
    let mut crd = serde_json::to_value(&dataproduct_operator::api::crd::all()[0]).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["outputs"]["items"]["properties"]["version"]
        .as_object_mut()
        .unwrap()
        .remove("maximum");
    let schema = crd_schema(std::slice::from_ref(&crd), "DataProduct")
        .unwrap()
        .clone();
    let (_, example) = examples()
        .into_iter()
        .find(|(k, _)| k == "DataProduct")
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let found = runner.run(&mutate(&schema, &example), |mut doc| {
        prune(&schema, &mut doc);
        apply_defaults(&schema, &mut doc);
        match read("DataProduct", doc) {
            Err(e) if e.contains("version") => Err(TestCaseError::fail(e)),
            _ => Ok(()),
        }
    });
    assert!(
        found.is_err(),
        "the fuzzer should reach an out-of-range version"
    );
}
