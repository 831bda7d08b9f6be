//! Table tests for every governance rule, driven by tests/fixtures/governance/cases.yaml.

use std::collections::BTreeSet;
use std::path::Path;

use dataproduct_operator::api::load::{
    load_str, split_documents, to_yaml, yaml_options, Document, LoadOptions,
};
use dataproduct_operator::governance::{self, RULES};
use dataproduct_operator::plan::World;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    rule: String,
    #[serde(flatten)]
    edit: Edit,
    #[serde(default)]
    also: Option<Edit>,
    #[serde(default)]
    fail: Option<String>,
    #[serde(default)]
    pass: bool,
}

#[derive(Debug, Deserialize)]
struct Edit {
    doc: String,
    #[serde(default)]
    set: serde_json::Map<String, Value>,
    #[serde(default)]
    remove: Vec<String>,
}

fn fixtures() -> (Vec<Value>, Vec<Case>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/governance");
    let base = std::fs::read_to_string(dir.join("base.yaml")).unwrap();
    let docs = split_documents(&base)
        .into_iter()
        .map(|(_, d)| serde_saphyr::from_str_with_options::<Value>(&d, yaml_options()).unwrap())
        .collect();
    let cases = std::fs::read_to_string(dir.join("cases.yaml")).unwrap();
    let cases = serde_saphyr::from_str_with_options(&cases, yaml_options()).unwrap();
    (docs, cases)
}

/// Sets `pointer` in `doc`, creating objects on the way; an index equal to the length appends.
fn set(doc: &mut Value, pointer: &str, new: Value) {
    let mut cur = doc;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        cur = match cur {
            Value::Array(items) => {
                let idx: usize = part.parse().unwrap();
                if idx == items.len() {
                    items.push(Value::Null);
                }
                &mut items[idx]
            }
            other => {
                if !other.is_object() {
                    *other = Value::Object(Default::default());
                }
                other
                    .as_object_mut()
                    .unwrap()
                    .entry(part.to_string())
                    .or_insert(Value::Null)
            }
        };
        if last {
            *cur = new;
            return;
        }
    }
}

fn remove(doc: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    if let Some(Value::Object(map)) = doc.pointer_mut(parent) {
        map.remove(key);
    }
}

fn apply(docs: &mut [Value], edit: &Edit) {
    let doc = docs
        .iter_mut()
        .find(|d| d.pointer("/metadata/name").and_then(Value::as_str) == Some(edit.doc.as_str()))
        .unwrap_or_else(|| panic!("no fixture document named {}", edit.doc));
    for (pointer, value) in &edit.set {
        set(doc, pointer, value.clone());
    }
    for pointer in &edit.remove {
        remove(doc, pointer);
    }
}

/// Every (rule, path) reported for the documents.
fn violations(docs: &[Value]) -> Vec<(String, String)> {
    let text: String = docs
        .iter()
        .map(|d| format!("---\n{}", to_yaml(d).unwrap()))
        .collect();
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    load_str(
        Path::new("case.yaml"),
        &text,
        &LoadOptions::default(),
        &mut loaded,
        &mut errors,
    );
    assert!(errors.is_empty(), "fixture does not load: {errors:?}");
    let mut world = World::default();
    let mut templates = Vec::new();
    let mut accesses = Vec::new();
    for l in loaded {
        match l.document {
            Document::Product(p) => world.add_product(*p),
            Document::Template(t) => {
                world.add_template((*t).clone());
                templates.push(*t);
            }
            Document::Access(a) => {
                world.accesses.push((*a).clone());
                accesses.push(*a);
            }
        }
    }
    let mut out = Vec::new();
    for t in &templates {
        out.extend(governance::validate_template(t));
    }
    for p in world.products.values() {
        out.extend(governance::validate_product(p, &world));
    }
    out.extend(governance::validate_set(&world).into_iter().map(|(_, v)| v));
    for a in &accesses {
        out.extend(governance::validate_access(a, &world));
    }
    out.into_iter()
        .map(|v| (v.rule.to_string(), v.path))
        .collect()
}

#[test]
fn base_fixture_breaks_no_rule() {
    let (docs, _) = fixtures();
    assert_eq!(violations(&docs), vec![]);
}

#[test]
fn every_case_reports_exactly_what_it_says() {
    let (base, cases) = fixtures();
    let mut failures = Vec::new();
    for case in &cases {
        let mut docs = base.clone();
        apply(&mut docs, &case.edit);
        if let Some(also) = &case.also {
            apply(&mut docs, also);
        }
        let found = violations(&docs);
        let has_rule = found.iter().any(|(r, _)| r == &case.rule);
        match (&case.fail, case.pass) {
            (Some(path), false) => {
                if !found.iter().any(|(r, p)| r == &case.rule && p == path) {
                    failures.push(format!(
                        "{case:?}: expected [{}] at {path}, got {found:?}",
                        case.rule
                    ));
                }
            }
            (None, true) => {
                if has_rule {
                    failures.push(format!(
                        "{case:?}: expected no [{}], got {found:?}",
                        case.rule
                    ));
                }
            }
            _ => failures.push(format!(
                "{case:?}: a case says either fail: PATH or pass: true"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_rule_has_a_failing_case_and_cases_name_known_rules() {
    let (_, cases) = fixtures();
    let known: BTreeSet<&str> = RULES.iter().map(|(id, _)| *id).collect();
    let covered: BTreeSet<&str> = cases
        .iter()
        .filter(|c| c.fail.is_some())
        .map(|c| c.rule.as_str())
        .collect();
    for c in &cases {
        assert!(
            known.contains(c.rule.as_str()),
            "case names unknown rule {}",
            c.rule
        );
    }
    // Decided by the evaluation after planning (src/evaluate), not by governance; covered in
    // tests/cli.rs (what_the_platform_refuses_is_refused_first).
    let after_planning = ["descriptor-size"];
    let missing: Vec<&&str> = known
        .iter()
        .filter(|r| !covered.contains(**r) && !after_planning.contains(*r))
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a failing case: {missing:?}"
    );
}

#[test]
fn readme_documents_every_rule() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let missing: Vec<&str> = RULES
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !readme.contains(&format!("`{id}`")))
        .collect();
    assert!(missing.is_empty(), "README lacks rules: {missing:?}");
}
