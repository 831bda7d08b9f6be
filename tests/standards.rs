//! `dpctl export` writes documents the Bitol tools accept: every example's ODCS contracts and ODPS
//! products validate against the JSON Schemas shipped in the PyPI packages datacontract-cli
//! (`datacontract/schemas/odcs-3.1.0.schema.json`) and dataproduct-cli
//! (`dataproduct/schemas/odps-1.1.0.schema.json`), found through `python3` at test time. Without
//! the packages the schema checks are skipped, unless DPO_REQUIRE_STANDARDS=1 (CI sets it).
//! The content checks need no schema.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dataproduct_operator::cli::{run, Cli};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every example exported in `format`, through `-o FILE.json`, as the documents written.
fn export(format: &str) -> Vec<Value> {
    // Tests run in parallel and several export the same format: one directory per call.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "dpo-standards-{}-{format}-{call}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("all.json");
    let examples = root().join("examples").display().to_string();
    let templates = root().join("templates").display().to_string();
    let file_arg = file.display().to_string();
    let args = [
        "dpctl",
        "export",
        "--format",
        format,
        "-f",
        &examples,
        "-t",
        &templates,
        "--date",
        "2026-12-01",
        "-o",
        &file_arg,
    ];
    let cli = Cli::try_parse_from(args).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(cli, &mut out, &mut err);
    assert_eq!(code, ExitCode::SUCCESS, "{}", String::from_utf8_lossy(&err));
    let text = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    match serde_json::from_str(&text).unwrap() {
        Value::Array(docs) => docs,
        other => panic!("want a JSON array, got {other}"),
    }
}

/// The schema file `relative` inside the installed Python package `module`, or None (skip) when
/// the package is not installed and DPO_REQUIRE_STANDARDS is not 1.
fn schema(module: &str, relative: &str) -> Option<Value> {
    let required = std::env::var("DPO_REQUIRE_STANDARDS").as_deref() == Ok("1");
    let found = std::process::Command::new("python3")
        .args([
            "-c",
            &format!("import {module}, os; print(os.path.dirname({module}.__file__))"),
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()).join(relative))
        .filter(|p| p.is_file());
    let Some(path) = found else {
        assert!(
            !required,
            "DPO_REQUIRE_STANDARDS=1 but python3 cannot import {module} with {relative}: \
             python3 -m pip install datacontract-cli dataproduct-cli"
        );
        eprintln!("skipped: python3 package {module} ({relative}) is not installed");
        return None;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    Some(serde_json::from_str(&text).unwrap())
}

fn validate_all(schema: &Value, docs: &[Value]) {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("the shipped schema compiles");
    let mut problems = Vec::new();
    for d in docs {
        for e in validator.iter_errors(d) {
            problems.push(format!("{}: {} at {}", d["id"], e, e.instance_path()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn contract<'a>(docs: &'a [Value], id: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("no document {id}"))
}

fn property<'a>(contract: &'a Value, name: &str) -> &'a Value {
    contract["schema"][0]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no property {name}"))
}

#[test]
fn odcs_contracts_validate_against_the_shipped_schema() {
    let docs = export("odcs");
    assert_eq!(docs.len(), 17, "one contract per output of every example");
    if let Some(schema) = schema("datacontract", "schemas/odcs-3.1.0.schema.json") {
        validate_all(&schema, &docs);
        // The check has teeth: Glue's name for a type is not an ODCS logical type.
        let mut wrong = docs[0].clone();
        wrong["schema"][0]["properties"][0]["logicalType"] = "decimal".into();
        let validator = jsonschema::options().build(&schema).unwrap();
        assert!(!validator.is_valid(&wrong));
    }
}

#[test]
fn odps_products_validate_against_the_shipped_schema() {
    let docs = export("odps");
    assert_eq!(docs.len(), 7, "one document per example product");
    if let Some(schema) = schema("dataproduct", "schemas/odps-1.1.0.schema.json") {
        validate_all(&schema, &docs);
    }
}

#[test]
fn contracts_carry_types_pii_servers_sla_status_and_queries() {
    let docs = export("odcs");
    for d in &docs {
        assert_eq!(d["apiVersion"], "v3.1.0");
        assert!(d["id"].as_str().unwrap().starts_with("urn:dataproduct:"));
    }
    let events = contract(&docs, "urn:dataproduct:messaging:events:events");
    let user = property(events, "user_id");
    assert_eq!(user["classification"], "confidential");
    assert_eq!(user["tags"], serde_json::json!(["pii"]));
    let attributes = property(events, "client_attributes");
    assert_eq!(attributes["logicalType"], "object");
    assert_eq!(attributes["physicalType"], "map<string,string>");
    let dt = property(events, "dt");
    assert_eq!(dt["partitioned"], true);
    assert_eq!(dt["partitionKeyPosition"], 1);

    let orders_v2 = contract(&docs, "urn:dataproduct:orders:orders:orders_v2");
    let amount = property(orders_v2, "total_amount");
    assert_eq!(amount["logicalType"], "number");
    assert_eq!(amount["physicalType"], "decimal(12,2)");
    assert_eq!(orders_v2["status"], "active");
    let orders = contract(&docs, "urn:dataproduct:orders:orders:orders");
    assert_eq!(orders["status"], "deprecated");

    let shipments = contract(&docs, "urn:dataproduct:logistics:shipments:shipments");
    assert_eq!(property(shipments, "parcel")["logicalType"], "object");
    assert!(property(shipments, "parcel")["properties"].is_array());

    // The standard template names an Athena workgroup; servers point at what is provisioned.
    let conversations = contract(
        &docs,
        "urn:dataproduct:messaging:conversations:conversations",
    );
    let types: Vec<&str> = conversations["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["s3", "glue", "athena"]);
    assert_eq!(
        conversations["servers"][1]["database"],
        "acme_messaging_conversations"
    );
    assert_eq!(
        conversations["servers"][2]["schema"],
        "acme_messaging_conversations"
    );
    let sla = &conversations["slaProperties"][0];
    assert_eq!(
        (&sla["property"], &sla["value"], &sla["unit"]),
        (&"latency".into(), &26.into(), &"h".into())
    );
    let queries = conversations["customProperties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["property"] == "exampleQueries")
        .expect("example queries under customProperties");
    assert_eq!(queries["value"].as_array().unwrap().len(), 2);
    assert_eq!(conversations["team"]["name"], "messaging");
}

#[test]
fn product_ports_point_at_the_contracts() {
    let contracts = export("odcs");
    let products = export("odps");
    let ids: Vec<&Value> = contracts.iter().map(|c| &c["id"]).collect();
    for p in &products {
        assert_eq!(p["apiVersion"], "v1.1.0");
        for port in p["outputPorts"].as_array().unwrap() {
            assert!(ids.contains(&&port["contractId"]), "{port}");
            let c = contract(&contracts, port["contractId"].as_str().unwrap());
            assert_eq!(c["version"], port["version"]);
        }
        for port in p["inputPorts"].as_array().into_iter().flatten() {
            if let Some(id) = port.get("contractId") {
                assert!(ids.contains(&id), "{port}");
            }
        }
    }
    let conversations = contract(&products, "urn:dataproduct:messaging:conversations");
    assert_eq!(
        conversations["inputPorts"][0]["contractId"],
        "urn:dataproduct:messaging:events:events"
    );
    assert_eq!(
        conversations["outputPorts"][0]["inputContracts"][0]["id"],
        "urn:dataproduct:messaging:events:events"
    );
}
