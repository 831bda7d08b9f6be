//! `dpctl`: the operator's command line. Every subcommand returns an exit code; errors are
//! messages, never panics or debug dumps.

pub mod catalog;
mod diff;
mod documents;
mod export;
mod iam_policy;
mod loadtest;
mod plan;
pub mod run;
mod schema;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Data products on Kubernetes and AWS: plan, validate and (soon) run the operator.
#[derive(Debug, Parser)]
#[command(name = "dpctl", version, about, propagate_version = true, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print everything the operator would provision for the given DataProducts (no cluster, no cloud).
    #[command(after_help = EXIT_CODES)]
    Plan(PlanArgs),
    /// Check DataProducts, templates and access requests against the governance rules.
    #[command(after_help = EXIT_CODES)]
    Validate(InputArgs),
    /// Print the CustomResourceDefinitions as multi-document YAML.
    Crd,
    /// List the governance rules: each stable rule id with its meaning.
    Rules,
    /// Run the operator against the cluster of the current (or given) kubeconfig.
    Run(run::RunArgs),
    /// Serve the catalogue (HTML pages and a JSON API) of the given documents, or of the cluster.
    Catalog(catalog::CatalogArgs),
    /// Show what applying the given products or templates would change in a live cluster.
    #[command(after_help = DIFF_EXIT_CODES)]
    Diff(diff::DiffArgs),
    /// Create N products in a cluster where the operator runs and report latency, writes and memory.
    LoadTest(loadtest::LoadTestArgs),
    /// Write JSON Schemas of the three kinds for editors (yaml-language-server).
    Schema {
        /// Directory to write dataproduct.json, dataproducttemplate.json and
        /// dataproductaccess.json into; stdout (one JSON object keyed by kind) when unset.
        #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print the IAM policy the operator itself needs for the AWS step, limited to the given
    /// templates' role path, permissions boundary and name prefixes.
    IamPolicy(iam_policy::IamPolicyArgs),
    /// Write open standards documents: an ODCS v3.1.0 data contract per output, or an ODPS
    /// v1.1.0 data product per product.
    Export(export::ExportArgs),
}

/// Where documents come from.
#[derive(Debug, Args, Clone)]
pub struct InputArgs {
    /// Files or directories (walked for *.yaml and *.yml) holding any mix of DataProduct,
    /// DataProductTemplate and DataProductAccess documents; other kinds are skipped (and
    /// counted). `-` reads standard input.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1.., value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Where templates named by products are looked up when they are not among the -f documents.
    #[arg(short = 't', long = "templates", num_args = 1.., value_name = "PATH")]
    pub templates: Vec<PathBuf>,
    /// Namespace for namespaced documents that do not set metadata.namespace.
    #[arg(short = 'n', long, value_parser = parse_namespace)]
    pub namespace: Option<String>,
    /// The day grant expiry and deprecation notice periods are measured against (YYYY-MM-DD,
    /// UTC); today when unset. Pin it to make output reproducible.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub date: Option<jiff::civil::Date>,
    /// Make an input whose producer, or a listed consumer product, is not among the documents
    /// an error (exit 1) rather than a warning: the plan would leave out the DP_INPUT_*
    /// variables and read grants, or grant to no principal.
    #[arg(long)]
    pub strict: bool,
}

impl InputArgs {
    /// The evaluation day: `--date`, or today (UTC).
    pub fn today(&self) -> jiff::civil::Date {
        self.date.unwrap_or_else(crate::evaluate::today)
    }
}

fn parse_namespace(s: &str) -> Result<String, String> {
    crate::governance::check_namespace(s).map(|()| s.to_string())
}

fn parse_date(s: &str) -> Result<jiff::civil::Date, String> {
    s.parse()
        .map_err(|e| format!("{s:?} is not a date such as 2026-12-01: {e}"))
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Yaml)]
    pub output: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// The exit codes, as `--help` lists them.
pub const EXIT_CODES: &str = "Exit codes:
  0  success: every product is valid (plan, validate), no differences (diff)
  1  governance violations; with --strict, a producer or consumer not given; differences (diff)
  2  input that could not be read: missing file, malformed YAML, unknown field, wrong type,
     no DataProduct found; or a failure writing output";

/// `dpctl diff`'s, as `kubectl diff`'s.
pub const DIFF_EXIT_CODES: &str = "Exit codes (as kubectl diff):
  0  no differences
  1  differences
  2  input that could not be read, or the cluster could not be reached or read";

/// Exit code for invalid input files (distinct from 1, governance violations).
pub const EXIT_INPUT: u8 = 2;

/// Runs dpctl with the process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    run(cli, &mut std::io::stdout(), &mut std::io::stderr())
}

/// Runs a parsed command, writing to the given streams (tests capture them).
pub fn run(cli: Cli, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> ExitCode {
    let code = match cli.command {
        Command::Plan(args) => plan::run(&args, out, err),
        Command::Validate(args) => validate::run(&args, out, err),
        Command::Crd => write_or_fail(out, err, &crate::api::crd::crds_yaml()),
        Command::Rules => {
            let text: String = crate::governance::RULES
                .iter()
                .map(|(id, meaning)| format!("{id:<24} {meaning}\n"))
                .collect();
            write_or_fail(out, err, &text)
        }
        Command::Run(args) => run::execute(&args, err),
        Command::Catalog(args) => catalog::execute(&args, out, err),
        Command::Diff(args) => diff::execute(&args, out, err),
        Command::LoadTest(args) => loadtest::execute(&args, out, err),
        Command::Schema { dir } => schema::run(dir.as_deref(), out, err),
        Command::Export(args) => export::run(&args, out, err),
        Command::IamPolicy(args) => iam_policy::run(&args, out, err),
    };
    ExitCode::from(code)
}

/// Writes a command's output. A reader that went away (`dpctl crd | head`) is not an error: the
/// output it wanted was delivered. Any other write failure is reported with exit code 2 (1 means
/// governance violations).
pub(crate) fn write_or_fail(
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
    text: &str,
) -> u8 {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            let _ = writeln!(err, "error: writing output: {e}");
            EXIT_INPUT
        }
    }
}
