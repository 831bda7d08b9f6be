//! Every example and template validates and plans cleanly; plans are snapshot-tested and
//! byte-identical from run to run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use dataproduct_operator::cli::{run, Cli};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dpctl(args: &[&str]) -> (ExitCode, String, String) {
    let cli = Cli::try_parse_from(std::iter::once("dpctl").chain(args.iter().copied())).unwrap();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run(cli, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn example_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                walk(&e, out);
            } else if e.extension().is_some_and(|x| x == "yaml") {
                out.push(e);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("examples"), &mut out);
    out
}

#[test]
fn examples_and_templates_validate_cleanly() {
    let examples = root().join("examples");
    let templates = root().join("templates");
    let (code, out, err) = dpctl(&[
        "validate",
        "-f",
        examples.to_str().unwrap(),
        templates.to_str().unwrap(),
    ]);
    assert_eq!(code, ExitCode::SUCCESS, "{out}{err}");
    assert_eq!(out, "");
}

#[test]
fn every_example_plans_and_matches_its_snapshot() {
    let templates = root().join("templates");
    let examples = root().join("examples");
    let files = example_files();
    assert!(
        files.len() >= 6,
        "expected the example set, found {files:?}"
    );
    for file in files {
        // Each file is planned with the whole example set as context, as the operator sees
        // the cluster: inputs and consumers resolve to the other examples.
        let (code, all, err) = dpctl(&[
            "plan",
            "-f",
            examples.to_str().unwrap(),
            "-t",
            templates.to_str().unwrap(),
        ]);
        assert_eq!(code, ExitCode::SUCCESS, "{err}");
        let name = file
            .strip_prefix(&examples)
            .unwrap()
            .with_extension("")
            .display()
            .to_string()
            .replace('/', "__");
        let section = section_for(&all, &file);
        if section.is_empty() {
            continue; // a file with only access requests plans nothing itself
        }
        insta::assert_snapshot!(name, section);
    }
}

/// The part of a multi-product plan that belongs to the products defined in `file`.
fn section_for(plan: &str, file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let mut ids = Vec::new();
    for (_, doc) in dataproduct_operator::api::load::split_documents(&text) {
        let v: serde_json::Value = serde_saphyr::from_str_with_options(
            &doc,
            dataproduct_operator::api::load::yaml_options(),
        )
        .unwrap();
        if v["kind"].as_str() == Some("DataProduct") {
            ids.push(format!(
                "{}/{}",
                v["metadata"]["namespace"].as_str().unwrap(),
                v["metadata"]["name"].as_str().unwrap()
            ));
        }
    }
    let mut out = String::new();
    let mut keep = false;
    for line in plan.lines() {
        if let Some(rest) = line.strip_prefix("# DataProduct ") {
            keep = ids.iter().any(|id| rest.starts_with(&format!("{id} ")));
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn plan_output_is_byte_identical_and_json_parses() {
    let examples = root().join("examples");
    let templates = root().join("templates");
    let args = [
        "plan",
        "-f",
        examples.to_str().unwrap(),
        "-t",
        templates.to_str().unwrap(),
    ];
    let first = dpctl(&args);
    let second = dpctl(&args);
    assert_eq!(first.1, second.1);
    let (code, json, _) = dpctl(&[
        "plan",
        "-o",
        "json",
        "-f",
        examples.to_str().unwrap(),
        "-t",
        templates.to_str().unwrap(),
    ]);
    assert_eq!(code, ExitCode::SUCCESS);
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(list["kind"], "List");
    assert!(list["items"].as_array().unwrap().len() > 50);
}
