//! `dpctl iam-policy`: the operator's own IAM policy, filled in from the templates (account,
//! role path, permissions boundary, bucket and database name prefixes), or with placeholders.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::api::load::{load_paths, Document, LoadOptions};
use crate::aws::permissions::{operator_policy, Scope};

#[derive(Debug, Args)]
pub struct IamPolicyArgs {
    /// Template files or directories: the policy covers exactly these templates' accounts, role
    /// paths, permissions boundaries and name prefixes. Without it the policy has placeholders
    /// (ACCOUNT_ID, REGION, BUCKET_PREFIX, DATABASE_PREFIX, BOUNDARY_POLICY).
    #[arg(short = 't', long = "templates", num_args = 1.., value_name = "PATH")]
    pub templates: Vec<PathBuf>,
}

pub fn run(args: &IamPolicyArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let scopes = if args.templates.is_empty() {
        vec![Scope::placeholders()]
    } else {
        match template_scopes(args, err) {
            Some(s) => s,
            None => return super::EXIT_INPUT,
        }
    };
    let policy = operator_policy(&scopes);
    let text = serde_json::to_string_pretty(&policy).unwrap_or_default() + "\n";
    super::write_or_fail(out, err, &text)
}

fn template_scopes(args: &IamPolicyArgs, err: &mut dyn Write) -> Option<Vec<Scope>> {
    let (loaded, errors) = load_paths(&args.templates, &LoadOptions::default());
    let mut failed = !errors.is_empty();
    for e in &errors {
        let _ = writeln!(err, "error: {e}");
    }
    let mut scopes = Vec::new();
    for l in loaded {
        if let Document::Template(t) = l.document {
            let name = t.metadata.name.clone().unwrap_or_default();
            match Scope::from_template(&name, &t.spec) {
                Ok(scope) => {
                    for (what, prefix) in [
                        ("bucketName", &scope.bucket_prefix),
                        ("catalog.databaseName", &scope.database_prefix),
                    ] {
                        if prefix.is_empty() {
                            let _ = writeln!(
                                err,
                                "warning: {}: template {name}'s {what} starts with a \
                                 placeholder, so the policy covers every such name in the account",
                                l.source
                            );
                        }
                    }
                    scopes.push(scope);
                }
                Err(message) => {
                    let _ = writeln!(err, "error: {}: {message}", l.source);
                    failed = true;
                }
            }
        }
    }
    if scopes.is_empty() && !failed {
        let _ = writeln!(
            err,
            "error: no DataProductTemplate found in the given paths"
        );
        failed = true;
    }
    (!failed).then_some(scopes)
}
