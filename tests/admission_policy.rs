//! The ValidatingAdmissionPolicy that refuses deleting a DataProduct with active consumers
//! (deploy/admission/delete-with-consumers.yaml, the chart's templates/admission-policy.yaml):
//! its CEL evaluated against the fixtures of tests/fixtures/admission, with the activation the
//! API server builds for a DELETE (`oldObject` the stored object, `object` null, `request`
//! with the operation and the user), and the strings extension Kubernetes enables (`join`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cel::{Context, Env, Value as Cel};
use dataproduct_operator::api::constants::annotations::DELETE_WITH_CONSUMERS;
use dataproduct_operator::api::{ActiveConsumer, DataProduct};
use serde::Deserialize;
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const DEPLOY: &str = "deploy/admission/delete-with-consumers.yaml";
const CHART: &str = "charts/dataproduct-operator/templates/admission-policy.yaml";
const OPERATOR: &str = "system:serviceaccount:dataproduct-system:dataproduct-operator";

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The policy and its binding, as deploy/ ships them.
fn documents() -> (Value, Value) {
    let docs: Vec<Value> = serde_saphyr::from_multiple(&read(DEPLOY)).unwrap();
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("{DEPLOY} has no {kind}"))
            .clone()
    };
    (
        find("ValidatingAdmissionPolicy"),
        find("ValidatingAdmissionPolicyBinding"),
    )
}

/// What the policy decides for one request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Unmatched,
    Allowed,
    Refused,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    object: String,
    username: String,
    outcome: Outcome,
    #[serde(default)]
    message: Option<String>,
}

/// The API server's CEL environment for admission, as far as this policy uses it: the standard
/// library and macros (`has`, `map`, ...) plus the strings extension.
fn env() -> Arc<Env> {
    let mut env = Env::stdlib();
    env.add_extension(cel::extensions::strings)
        .expect("the strings extension registers");
    Arc::new(env)
}

fn eval(env: &Arc<Env>, expression: &str, activation: &Value) -> Cel {
    let program = env
        .compile(expression)
        .unwrap_or_else(|e| panic!("{expression}: {e:?}"));
    let mut ctx = Context::with_env(env.clone());
    for (name, value) in activation.as_object().unwrap() {
        ctx.add_variable(name.as_str(), value).unwrap();
    }
    program
        .execute(&ctx)
        .unwrap_or_else(|e| panic!("{expression}: {e:?}"))
}

fn boolean(v: Cel, what: &str) -> bool {
    match v {
        Cel::Bool(b) => b,
        other => panic!("{what} gave {other:?}, not a bool"),
    }
}

/// The variables of a DELETE admission request: the object is gone (null), the stored one is
/// `oldObject`.
fn activation(old: &Value, username: &str) -> Value {
    json!({
        "object": null,
        "oldObject": old,
        "request": {
            "operation": "DELETE",
            "kind": {"group": "dataproducts.io", "version": "v1alpha1", "kind": "DataProduct"},
            "resource": {"group": "dataproducts.io", "version": "v1alpha1", "resource": "dataproducts"},
            "name": old["metadata"]["name"],
            "namespace": old["metadata"]["namespace"],
            "userInfo": {"username": username, "groups": ["system:authenticated"]},
        },
    })
}

/// Decides one request as the API server does: every matchCondition must hold for the policy
/// to apply; then a failing validation refuses with its messageExpression.
fn decide(policy: &Value, activation: &Value) -> (Outcome, Option<String>) {
    let env = env();
    let spec = &policy["spec"];
    for c in spec["matchConditions"].as_array().unwrap() {
        let what = format!("matchCondition {}", c["name"]);
        if !boolean(
            eval(&env, c["expression"].as_str().unwrap(), activation),
            &what,
        ) {
            return (Outcome::Unmatched, None);
        }
    }
    for v in spec["validations"].as_array().unwrap() {
        if !boolean(
            eval(&env, v["expression"].as_str().unwrap(), activation),
            "validation",
        ) {
            let message = match eval(&env, v["messageExpression"].as_str().unwrap(), activation) {
                Cel::String(s) => s.to_string(),
                other => panic!("messageExpression gave {other:?}"),
            };
            return (Outcome::Refused, Some(message));
        }
    }
    (Outcome::Allowed, None)
}

#[test]
fn fixtures_are_decided_as_expected() {
    let (policy, _) = documents();
    let dir = root().join("tests/fixtures/admission");
    let cases: Vec<Case> = serde_saphyr::from_str(&read(dir.join("cases.yaml"))).unwrap();
    assert!(cases.len() >= 6, "every kind of request is covered");
    for case in &cases {
        let text = read(dir.join(&case.object));
        // Fixtures are real DataProducts: the operator's own types read them.
        let product: DataProduct =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", case.object));
        let old: Value = serde_json::to_value(&product).unwrap();
        let (outcome, message) = decide(&policy, &activation(&old, &case.username));
        assert_eq!(outcome, case.outcome, "{}", case.name);
        if let Some(expected) = &case.message {
            assert_eq!(message.as_deref(), Some(expected.as_str()), "{}", case.name);
        }
    }
}

#[test]
fn the_message_names_every_consumer_as_the_operator_writes_them() {
    // The message is built from status.consumers as serialized by the operator's own type, so
    // a renamed field would show here.
    let (policy, _) = documents();
    let text = read("tests/fixtures/admission/with-consumers.yaml");
    let product: DataProduct = serde_saphyr::from_str(&text).unwrap();
    let consumers: Vec<ActiveConsumer> = product.status.clone().unwrap().consumers;
    let old = serde_json::to_value(&product).unwrap();
    let (outcome, message) = decide(&policy, &activation(&old, "bob"));
    assert_eq!(outcome, Outcome::Refused);
    let message = message.unwrap();
    let named: Vec<String> = consumers.iter().map(|c| c.to_string()).collect();
    assert!(
        message.contains(&named.join(", ")),
        "{message} names {named:?}"
    );
    assert!(message.contains(&format!("{DELETE_WITH_CONSUMERS}: \"true\"")));
}

#[test]
fn the_policy_matches_deletes_of_dataproducts_only_and_denies() {
    let (policy, binding) = documents();
    let spec = &policy["spec"];
    assert_eq!(spec["failurePolicy"], "Fail");
    assert_eq!(
        spec["matchConstraints"]["resourceRules"],
        json!([{"apiGroups": ["dataproducts.io"], "apiVersions": ["*"], "operations": ["DELETE"], "resources": ["dataproducts"]}])
    );
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    assert_eq!(binding["spec"]["validationActions"], json!(["Deny"]));
    assert!(
        binding["spec"].get("matchResources").is_none(),
        "every namespace"
    );
    // The annotation the CEL reads is the one the code and the docs name.
    let validation = spec["validations"][0]["expression"].as_str().unwrap();
    assert!(validation.contains(&format!("'{DELETE_WITH_CONSUMERS}'")));
    // Kubernetes' strings extension is the only one used (join); the rest is CEL's core.
    let message = spec["validations"][0]["messageExpression"]
        .as_str()
        .unwrap();
    assert!(message.contains(".join(', ')"));
    assert!(read(DEPLOY).contains(OPERATOR));
}

#[test]
fn the_chart_ships_the_same_policy() {
    // The chart differs from deploy/ only in names derived from the release: its metadata, and
    // the operator's service account in the matchCondition.
    let deploy = read(DEPLOY);
    let chart = read(CHART);
    let spec = &deploy[deploy.find("spec:\n  failurePolicy").unwrap()..deploy.find("---").unwrap()];
    let templated = spec.replace(
        OPERATOR,
        r#"system:serviceaccount:{{ .Release.Namespace }}:{{ include "dpo.serviceAccountName" . }}"#,
    );
    assert_ne!(templated, spec, "the operator's identity is templated");
    assert!(
        chart.contains(&templated),
        "{CHART} must hold the spec of {DEPLOY}, with the operator's identity templated"
    );
    assert!(chart.contains(
        r#".Capabilities.APIVersions.Has "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy""#
    ));
    assert!(chart.contains(".Values.admissionPolicy.enabled"));
    assert!(chart.contains("validationActions: [Deny]"));
}
