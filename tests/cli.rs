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
        err.contains("spec.outputs[0].version: invalid type: string \"latest\", expected a whole number (0 or more)"),
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
    assert!(lines.contains(&format!("{file}:16: orders/thin: spec.outputs[0].schema[0].type: unknown type \"strnig\" (did you mean string?); expected one of boolean, tinyint, smallint, int, bigint, float, double, decimal(p,s), string, char(n), varchar(n), date, timestamp, binary, array<T>, map<K,V>, struct<name:T,...> [column-type]").as_str()), "{out}");
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
            .all(|l| l.starts_with(&format!("{file}:")) && l.contains(": orders/thin: spec.")),
        "{out}"
    );
    assert!(err.contains("violations in 1 product,"), "{err}");
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
    let (code, out, err) = dpctl(&["iam-policy", "-t", &templates()]);
    assert_eq!(code, ExitCode::SUCCESS);
    // Every bundled template starts its names with the organization: no statement is widened.
    assert!(!err.contains("warning"), "{err}");
    let policy: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = policy.to_string();
    assert!(
        text.contains("arn:aws:glue:eu-west-1:123456789012:database/acme_*")
            && text.contains("arn:aws:glue:eu-west-1:123456789012:table/acme_*/*"),
        "{text}"
    );
    assert!(!text.contains("database/*"), "no database wildcard: {text}");
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

fn example(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path)
        .display()
        .to_string()
}

/// logistics/shipments reads orders/orders, which is not given: valid, but the plan lacks the
/// input's variables and grants, and says so; `--strict` makes it an error.
#[test]
fn a_missing_producer_is_a_warning_and_strict_makes_it_an_error() {
    let file = example("logistics/shipments.yaml");
    let warning = format!("{file}:26: logistics/shipments: spec.inputs[0]: producer orders/orders is not among the given documents; the plan leaves out DP_INPUT_ORDERS_V2_* and its read grants");
    for command in ["validate", "plan"] {
        let (code, _, err) = dpctl(&[command, "-f", &file, "-t", &templates()]);
        assert_eq!(code, ExitCode::SUCCESS, "{command}: {err}");
        assert!(
            err.contains(&format!("warning: {warning}")),
            "{command}: {err}"
        );
        let (code, _, err) = dpctl(&[command, "--strict", "-f", &file, "-t", &templates()]);
        assert_eq!(code, ExitCode::from(1), "{command}: {err}");
        assert!(
            err.contains(&format!("error: {warning}")),
            "{command}: {err}"
        );
    }
    // With the producer given there is nothing to say.
    let (code, _, err) = dpctl(&[
        "validate",
        "--strict",
        "-f",
        &file,
        &example("orders"),
        "-t",
        &templates(),
    ]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    assert!(!err.contains("producer"), "{err}");
}

/// A file with no DataProduct (only a Deployment, or nothing) is exit 2, and skipped documents
/// are counted.
#[test]
fn no_data_product_is_exit_2_and_skipped_documents_are_counted() {
    for file in [fixture("deployment.yaml"), fixture("empty.yaml")] {
        for command in ["validate", "plan"] {
            let (code, _, err) = dpctl(&[command, "-f", &file]);
            assert_eq!(code, ExitCode::from(2), "{command} {file}: {err}");
        }
    }
    let (_, _, err) = dpctl(&["validate", "-f", &fixture("deployment.yaml")]);
    assert!(err.contains("1 document of other kinds skipped"), "{err}");
    let (code, _, err) = dpctl(&[
        "validate",
        "-f",
        &fixture("deployment.yaml"),
        &example("orders"),
        "-t",
        &templates(),
    ]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    assert!(
        err.contains(
            "valid: 1 product, 1 template, 0 access requests, 1 document of other kinds skipped"
        ),
        "{err}"
    );
}

/// `-f -` reads standard input; run as a process so stdin is a real pipe.
#[test]
fn dash_reads_standard_input() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let text = std::fs::read_to_string(fixture("bad-type.yaml")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dpctl"))
        .args(["validate", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("<stdin>:12:"), "{err}");
}

#[test]
fn help_documents_the_exit_codes() {
    for args in [
        &["--help"][..],
        &["validate", "--help"][..],
        &["plan", "--help"][..],
    ] {
        let e =
            Cli::try_parse_from(std::iter::once("dpctl").chain(args.iter().copied())).unwrap_err();
        let help = e.to_string();
        assert!(help.contains("Exit codes:"), "{args:?}: {help}");
        assert!(help.contains("2  input that could not be read"), "{help}");
    }
    let e = Cli::try_parse_from(["dpctl", "validate", "--help"]).unwrap_err();
    assert!(e.to_string().contains("`-` reads standard input"), "{e}");
    let e = Cli::try_parse_from(["dpctl", "diff", "--help"]).unwrap_err();
    assert!(
        e.to_string().contains("Exit codes (as kubectl diff):"),
        "{e}"
    );
}

/// Writes `text` to a fresh file and returns its path.
fn scratch(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("dpctl-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn orders_with(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(example("orders/orders.yaml")).unwrap();
    assert!(text.contains(from), "{from}");
    text.replacen(from, to, 1)
}

/// What the platform would refuse is refused by validate and plan first.
#[test]
fn what_the_platform_refuses_is_refused_first() {
    let zone = scratch(
        "zone.yaml",
        &orders_with(
            "      schedule: \"15 1 * * *\"\n",
            "      schedule: \"15 1 * * *\"\n      timeZone: Europe/Parsi\n",
        ),
    );
    let (code, out, err) = dpctl(&["validate", "-f", &zone, "-t", &templates()]);
    assert_eq!(code, ExitCode::from(1), "{err}");
    assert!(
        out.contains(&format!(
            "{zone}:129: orders/orders: spec.pipelines[1].timeZone: \"Europe/Parsi\""
        )),
        "{out}"
    );
    assert!(out.contains("spec.pipelines[1].timeZone: \"Europe/Parsi\" is not a time zone of the IANA database (did you mean Europe/Paris?)"), "{out}");
    assert!(out.contains("[pipeline-timezone]"), "{out}");
    let fine = scratch(
        "zone-ok.yaml",
        &orders_with(
            "      schedule: \"15 1 * * *\"\n",
            "      schedule: \"15 1 * * *\"\n      timeZone: Europe/Paris\n",
        ),
    );
    let (code, _, err) = dpctl(&["validate", "-f", &fine, "-t", &templates()]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");

    let ns = scratch(
        "ns.yaml",
        &orders_with("  namespace: orders\n", "  namespace: \"Bad NS!\"\n"),
    );
    let (code, out, _) = dpctl(&["plan", "-f", &ns, "-t", &templates()]);
    assert_eq!(code, ExitCode::from(1));
    assert_eq!(out, "");
    let (_, out, _) = dpctl(&["validate", "-f", &ns, "-t", &templates()]);
    assert!(
        out.contains("metadata.namespace: \"Bad NS!\" must be a DNS label"),
        "{out}"
    );
    assert!(out.contains("[namespace-name]"), "{out}");
    let e = Cli::try_parse_from(["dpctl", "validate", "-n", "Bad NS!", "-f", "x"]).unwrap_err();
    assert!(e.to_string().contains("must be a DNS label"), "{e}");

    let big = "x".repeat(5_000_000);
    let huge = scratch(
        "huge.yaml",
        &orders_with(
            "  description: >\n",
            &format!("  description: >\n    {big}\n"),
        ),
    );
    let (code, out, err) = dpctl(&["validate", "-f", &huge, "-t", &templates()]);
    assert_eq!(code, ExitCode::from(1), "{err}");
    assert!(out.contains("[descriptor-size]"), "{out}");
    assert!(out.contains("more than the 1048576 a ConfigMap holds; the largest fields are spec.description (5000"), "{out}");
    let (code, _, _) = dpctl(&["plan", "-f", &huge, "-t", &templates()]);
    assert_eq!(code, ExitCode::from(1));
}

/// A 100k-level nested flow list is refused before parsing, at once.
#[test]
fn deep_nesting_is_refused_fast() {
    let deep = scratch(
        "deep.yaml",
        &format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
    );
    let started = std::time::Instant::now();
    let (code, _, err) = dpctl(&["validate", "-f", &deep]);
    assert_eq!(code, ExitCode::from(2), "{err}");
    assert!(err.contains("nest more than 64 levels"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// Messages a person can act on: plain words, did-you-mean, hints; one broken file does not
/// hide the violations of another.
#[test]
fn messages_a_person_can_act_on() {
    let (_, _, err) = dpctl(&["validate", "-f", &fixture("unknown-field.yaml")]);
    assert!(err.contains("unknown field `outputz`"), "{err}");
    assert!(err.contains("(did you mean `outputs`?)"), "{err}");
    let decimal = scratch(
        "decimal.yaml",
        &orders_with("type: \"decimal(12,2)\"", "type: decimal(12,2)"),
    );
    let (code, _, err) = dpctl(&["validate", "-f", &decimal, "-t", &templates()]);
    assert_eq!(code, ExitCode::from(2), "{err}");
    assert!(err.contains("quote it, type: \"decimal(10,2)\""), "{err}");
    let tab = scratch(
        "tab.yaml",
        &orders_with("  domain: orders\n", "\tdomain: orders\n"),
    );
    let (code, _, err) = dpctl(&["validate", "-f", &tab, "-t", &templates()]);
    assert_eq!(code, ExitCode::from(2), "{err}");
    assert!(err.contains("not tab characters"), "{err}");
    // A file that does not load, and one with violations: both are reported.
    let (code, out, err) = dpctl(&[
        "validate",
        "-f",
        &fixture("malformed.yaml"),
        &fixture("violations.yaml"),
        "-t",
        &templates(),
    ]);
    assert_eq!(code, ExitCode::from(2), "{err}");
    assert!(err.contains("malformed.yaml:"), "{err}");
    assert!(out.contains("[column-type]"), "{out}");
}

/// A broken template given with -t: validate and plan both refuse, and both blame the template's
/// own file and line (not the product file that names it), naming the product it blocks.
#[test]
fn a_broken_library_template_is_blamed_by_its_own_file_in_validate_and_plan() {
    let dir = std::env::temp_dir().join(format!("dpctl-broken-template-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let standard =
        std::fs::read_to_string(PathBuf::from(templates()).join("standard.yaml")).unwrap();
    let broken = standard.replace(
        "bucketName: \"{organization}-{domain}-{product}-{layer}\"",
        "bucketName: \"{organization}-{domain}-{layer}\"",
    );
    assert_ne!(broken, standard, "the fixture edit must apply");
    let line = broken
        .lines()
        .position(|l| l.contains("bucketName:"))
        .unwrap()
        + 1;
    let template = dir.join("standard.yaml");
    std::fs::write(&template, broken).unwrap();
    let product = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/messaging/events.yaml")
        .display()
        .to_string();
    let t = template.display().to_string();

    let (code, out, err) = dpctl(&["validate", "-f", &product, "-t", &t]);
    assert_eq!(code, ExitCode::from(1), "{out}{err}");
    let at = format!("{t}:{line}: standard: spec.storage.bucketName:");
    assert!(out.contains(&at), "{out}");
    assert!(
        out.contains("messaging/events: spec.template: not valid until template standard is fixed"),
        "{out}"
    );
    assert!(err.contains("1 template,"), "{err}");

    let (code, _, err) = dpctl(&["plan", "-f", &product, "-t", &t]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, ExitCode::from(1), "{err}");
    let at = format!("{t}:{line}: messaging/events: spec.storage.bucketName: template standard:");
    assert!(err.contains(&at), "{err}");
}

/// `plan` refuses what `validate` refuses: an access request that breaks a rule is reported
/// with its file and line, plan exits 1, and no grant takes anything from it (its expiry here).
#[test]
fn plan_reports_an_invalid_access_request_as_validate_does() {
    let request = scratch(
        "bad-access.yaml",
        "apiVersion: dataproducts.io/v1alpha1
kind: DataProductAccess
metadata: {name: attribution-reads-conversations, namespace: marketing}
spec:
  product: messaging/conversations
  outputs: [conversations]
  consumer: {product: marketing/campaign-attribution}
  purpose: Campaign attribution model
  expires: \"2027-13-45\"
",
    );
    let line = format!(
        "{request}:9: marketing/attribution-reads-conversations: spec.expires: \"2027-13-45\" is not a valid date; write YYYY-MM-DD [access-expires]"
    );
    for command in ["validate", "plan"] {
        let (code, out, err) = dpctl(&[
            command,
            "-f",
            &request,
            &example("messaging"),
            &example("marketing"),
            "-t",
            &templates(),
        ]);
        assert_eq!(code, ExitCode::from(1), "{command}: {err}");
        assert!(
            format!("{out}{err}").contains(&line),
            "{command}: {out}{err}"
        );
        if command == "plan" {
            assert!(!out.contains("2027-13-45"), "{command}: {out}");
        }
    }
}

/// A failure writing output is exit 2 in every command, as `--help` says.
#[test]
fn a_failure_writing_output_is_exit_2() {
    let file = scratch("not-a-directory", "");
    let unwritable = format!("{file}/contracts.json");
    let (code, _, err) = dpctl(&[
        "export",
        "--format",
        "odcs",
        "-f",
        &example("messaging"),
        "-t",
        &templates(),
        "-o",
        &unwritable,
    ]);
    assert_eq!(code, ExitCode::from(2), "{err}");
    let (code, _, err) = dpctl(&["schema", "-o", &file]);
    assert_eq!(code, ExitCode::from(2), "{err}");
    assert!(err.contains("is a file; -o takes a directory"), "{err}");
}

/// A file given twice, by itself and through its directory, is read once.
#[test]
fn a_file_given_twice_is_not_a_duplicate_of_itself() {
    let (code, _, err) = dpctl(&[
        "validate",
        "-f",
        &example("messaging"),
        &example("messaging/conversations.yaml"),
        &example("marketing"),
        "-t",
        &templates(),
    ]);
    assert_eq!(code, ExitCode::SUCCESS, "{err}");
    assert!(err.contains("valid: 4 products"), "{err}");
}

/// `diff` says which API server it could not reach, and that nothing was given to diff.
#[test]
fn diff_names_the_server_it_cannot_reach() {
    let kubeconfig = scratch(
        "unreachable-kubeconfig",
        "apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
",
    );
    let (code, _, err) = dpctl(&[
        "diff",
        "--kubeconfig",
        &kubeconfig,
        "-f",
        &example("messaging"),
        "-t",
        &templates(),
    ]);
    assert_eq!(code, ExitCode::from(2), "{err}");
    assert!(err.contains("error: http://127.0.0.1:9/: "), "{err}");
    let (code, _, err) = dpctl(&[
        "diff",
        "--kubeconfig",
        &kubeconfig,
        "-f",
        &fixture("deployment.yaml"),
    ]);
    assert_eq!(code, ExitCode::from(2), "{err}");
    assert!(err.contains("nothing to diff"), "{err}");
}
