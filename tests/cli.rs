//! dpctl's contract: messages name file, line and field; exit codes say what happened; nothing
//! panics.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dataproduct_operator::cli::{run, Cli};

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cli")
        .join(name)
        .display()
        .to_string()
}

fn templates() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("templates")
        .display()
        .to_string()
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

#[test]
fn wrong_type_names_file_line_and_field() {
    let file = fixture("bad-type.yaml");
    let (code, out, err) = dpctl(&["validate", "-f", &file]);
    assert_eq!(code, ExitCode::from(2));
    assert_eq!(out, "");
    assert!(err.contains(&format!("{file}:12:")), "{err}");
    assert!(
        err.contains("spec.outputs[0].version: invalid type: string \"latest\", expected u32"),
        "{err}"
    );
}

#[test]
fn unknown_field_is_named() {
    let file = fixture("unknown-field.yaml");
    let (code, _, err) = dpctl(&["plan", "-f", &file, "-t", &templates()]);
    assert_eq!(code, ExitCode::from(2));
    assert!(err.contains(&format!("{file}:9:")), "{err}");
    assert!(err.contains("spec: unknown field `outputz`"), "{err}");
}

#[test]
fn malformed_yaml_is_a_message_not_a_panic() {
    let file = fixture("malformed.yaml");
    let (code, _, err) = dpctl(&["validate", "-f", &file]);
    assert_eq!(code, ExitCode::from(2));
    assert!(err.starts_with(&format!("error: {file}:")), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("Error {"),
        "{err}"
    );
}

#[test]
fn missing_file_is_a_message() {
    let (code, _, err) = dpctl(&["validate", "-f", "/nonexistent/dir"]);
    assert_eq!(code, ExitCode::from(2));
    assert!(
        err.contains("/nonexistent/dir: No such file or directory"),
        "{err}"
    );
}

#[test]
fn violations_print_one_line_each_and_exit_1() {
    let file = fixture("violations.yaml");
    let (code, out, err) = dpctl(&["validate", "-f", &file, "-t", &templates()]);
    assert_eq!(code, ExitCode::from(1));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&format!("{file}: spec.outputs[0].schema[0].type: unknown type \"strnig\" (did you mean string?); expected one of boolean, tinyint, smallint, int, bigint, float, double, decimal(p,s), string, char(n), varchar(n), date, timestamp, binary, array<T>, map<K,V>, struct<name:T,...> [column-type]").as_str()), "{out}");
    assert!(
        lines.iter().any(|l| l.ends_with("[column-description]")),
        "{out}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("[column-example]")),
        "{out}"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("[column-naming]")),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(&format!("{file}: spec."))),
        "{out}"
    );
    assert!(err.contains("violations in 1 products"), "{err}");
    // plan refuses the same product and prints nothing for it.
    let (code, out, err) = dpctl(&["plan", "-f", &file, "-t", &templates()]);
    assert_eq!(code, ExitCode::from(1));
    assert_eq!(out, "");
    assert!(err.contains("orders/thin: not planned"), "{err}");
}

#[test]
fn crd_command_prints_three_crds() {
    let (code, out, _) = dpctl(&["crd"]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(out.matches("kind: CustomResourceDefinition").count(), 3);
}

#[test]
fn iam_policy_is_filled_in_from_the_templates_or_has_placeholders() {
    let (code, out, _) = dpctl(&["iam-policy", "-t", &templates()]);
    assert_eq!(code, ExitCode::SUCCESS);
    let policy: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = policy.to_string();
    assert!(
        text.contains("arn:aws:iam::123456789012:role/dataproducts/*"),
        "{text}"
    );
    assert!(text.contains("arn:aws:s3:::acme-*"), "{text}");
    assert!(!text.contains("role/*\""), "no role wildcard: {text}");
    assert!(
        !text.contains("arn:aws:s3:::*"),
        "no bucket wildcard: {text}"
    );
    assert!(text.contains("\"iam:PermissionsBoundary\""), "{text}");

    let (code, out, _) = dpctl(&["iam-policy"]);
    assert_eq!(code, ExitCode::SUCCESS);
    assert!(
        out.contains("ACCOUNT_ID") && out.contains("BUCKET_PREFIX"),
        "{out}"
    );

    // A template without a permissions boundary: no policy (CreateRole needs one).
    let dir = std::env::temp_dir().join(format!("dpctl-iam-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let standard =
        std::fs::read_to_string(PathBuf::from(templates()).join("standard.yaml")).unwrap();
    let without: String = standard
        .lines()
        .filter(|l| !l.trim_start().starts_with("permissionsBoundary:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("standard.yaml"), without).unwrap();
    let (code, out, err) = dpctl(&["iam-policy", "-t", &dir.display().to_string()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, ExitCode::from(2));
    assert!(out.is_empty());
    assert!(err.contains("permissionsBoundary"), "{err}");
}

/// `dpctl crd | head`: the reader leaving early is not an error. Run as a process, because the
/// broken pipe is the operating system's.
#[test]
fn a_reader_that_leaves_early_is_not_an_error() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    for args in [
        &["crd"][..],
        &["plan", "-f", "examples", "-t", "templates"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dpctl"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read a little, then close the pipe, as `head -1` does.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 16];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let status = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(status.success(), "{args:?}: {status:?} {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    }
}
