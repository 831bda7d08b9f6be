//! `dpctl export`: the given products as open standards documents, from the same evaluation as
//! `dpctl plan`: an ODCS data contract per output (`--format odcs`) or an ODPS data product per
//! product (`--format odps`). Identical input (and `--date`) gives byte-identical output.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::catalogue::{odcs, odps};
use crate::evaluate::{evaluate_all, Facts};

use super::{documents, InputArgs, EXIT_INPUT};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Which standard to write.
    #[arg(long, value_enum)]
    pub format: Standard,
    /// A directory to write one file per document into (`<namespace>.<product>.<output>.odcs.yaml`
    /// or `<namespace>.<product>.odps.yaml`), or a file ending in .json (a JSON array) or
    /// .yaml/.yml (multi-document YAML). Multi-document YAML on stdout when unset.
    #[arg(short = 'o', long = "output", value_name = "DIR|FILE")]
    pub output: Option<PathBuf>,
}

/// The open standards `dpctl export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Standard {
    /// Open Data Contract Standard v3.1.0: one contract per output.
    Odcs,
    /// Open Data Product Standard v1.1.0: one document per product.
    Odps,
}

/// YAML rendering in one place, so the YAML library can be swapped in one line.
fn yaml(value: &Value) -> String {
    crate::api::load::to_yaml(value).unwrap_or_default()
}

fn json(value: &Value) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

fn extension(path: &Path) -> Option<&str> {
    path.extension().and_then(|e| e.to_str())
}

pub fn run(args: &ExportArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(inputs) = documents::load(&args.input, err) else {
        return EXIT_INPUT;
    };
    if inputs.products.is_empty() {
        let _ = writeln!(
            err,
            "error: no DataProduct found in the given paths; nothing to export"
        );
        return EXIT_INPUT;
    }
    let today = args.input.today();
    let facts = Facts::offline(today);
    let mut results = evaluate_all(&inputs.world, &facts);
    let mut failed = false;
    // (file name, document), in product order.
    let mut docs: Vec<(String, Value)> = Vec::new();
    for (r, source) in &inputs.products {
        let product = &inputs.world.products[r];
        let plan = match results.remove(r).expect("every product is evaluated") {
            Ok(p) => p,
            Err(refusal) => {
                failed = true;
                for v in &refusal.violations {
                    let at = inputs.locate(source, &product.spec.template, &refusal, v);
                    let _ = writeln!(err, "{at}: {r}: {v}");
                }
                let _ = writeln!(err, "{r}: not exported: fix the violations above");
                continue;
            }
        };
        // evaluate found the template, so it is in the world.
        let Some(template) = inputs.world.template_of(product) else {
            continue;
        };
        match args.format {
            Standard::Odcs => {
                for (output, c) in odcs::contracts(product, template, &plan, today) {
                    docs.push((format!("{}.{}.{output}.odcs.yaml", r.namespace, r.name), c));
                }
            }
            Standard::Odps => docs.push((
                format!("{}.{}.odps.yaml", r.namespace, r.name),
                odps::product(product, template, &plan, &inputs.world, today),
            )),
        }
    }
    let written = match args.output.as_deref() {
        None => {
            let text: String = docs
                .iter()
                .map(|(_, d)| format!("---\n{}", yaml(d)))
                .collect();
            out.write_all(text.as_bytes())
                .map_err(|e| format!("writing output: {e}"))
        }
        Some(path) if extension(path) == Some("json") => {
            let all = Value::Array(docs.into_iter().map(|(_, d)| d).collect());
            std::fs::write(path, json(&all)).map_err(|e| format!("{}: {e}", path.display()))
        }
        Some(path) if matches!(extension(path), Some("yaml" | "yml")) => {
            let text: String = docs
                .iter()
                .map(|(_, d)| format!("---\n{}", yaml(d)))
                .collect();
            std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
        }
        Some(dir) => write_dir(dir, &docs, err),
    };
    if let Err(e) = written {
        let _ = writeln!(err, "error: {e}");
        return super::EXIT_INPUT;
    }
    u8::from(failed)
}

fn write_dir(dir: &Path, docs: &[(String, Value)], err: &mut dyn Write) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, doc) in docs {
        let path = dir.join(name);
        std::fs::write(&path, yaml(doc)).map_err(|e| format!("{}: {e}", path.display()))?;
        let _ = writeln!(err, "wrote {}", path.display());
    }
    Ok(())
}
