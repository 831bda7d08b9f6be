//! `dpctl plan`: the complete desired state of every given DataProduct, as YAML or JSON.
//! Identical input gives byte-identical output.

use std::io::Write;

use crate::evaluate::{evaluate_all, Facts};
use crate::plan::to_yaml;

use super::{documents, Format, PlanArgs, EXIT_INPUT};

pub fn run(args: &PlanArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(inputs) = documents::load(&args.input, err) else {
        return EXIT_INPUT;
    };
    if inputs.products.is_empty() {
        let _ = writeln!(
            err,
            "error: no DataProduct found in the given paths ({}); nothing to plan",
            inputs.summary()
        );
        return EXIT_INPUT;
    }
    let strict_failed = documents::warn_missing_producers(&inputs, &args.input, err);
    let mut failed = false;
    let mut yaml = String::new();
    let mut items = Vec::new();
    // The operator's own evaluation; offline, namespace labels are unknown and not checked.
    let facts = Facts::offline(args.input.today());
    let mut results = evaluate_all(&inputs.world, &facts);
    for (r, source) in &inputs.products {
        let product = &inputs.world.products[r];
        match results.remove(r).expect("every product is evaluated") {
            Ok(p) => {
                yaml.push_str(&format!(
                    "# DataProduct {r} (template {}): {} Kubernetes objects, {} AWS resources\n",
                    product.spec.template,
                    p.kubernetes.len(),
                    p.aws.len()
                ));
                let docs = p.documents();
                yaml.push_str(&to_yaml(&docs));
                items.extend(docs);
            }
            Err(refusal) => {
                // Same rule as the operator: a product that breaks a rule gets no plan at all.
                failed = true;
                for v in &refusal.violations {
                    let at = inputs.locate(source, &product.spec.template, &refusal, v);
                    let _ = writeln!(err, "{at}: {r}: {v}");
                }
                let _ = writeln!(err, "{r}: not planned: fix the violations above");
            }
        }
    }
    // A request that breaks a rule is denied: the plans above grant nothing for it.
    for (at, v) in inputs.access_violations() {
        failed = true;
        let _ = writeln!(err, "{at}: {v}");
    }
    let text = match args.output {
        Format::Yaml => yaml,
        Format::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            let mut s = serde_json::to_string_pretty(&list).unwrap_or_default();
            s.push('\n');
            s
        }
    };
    match super::write_or_fail(out, err, &text) {
        0 => u8::from(failed || strict_failed),
        code => code,
    }
}
