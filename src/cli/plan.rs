//! `dpctl plan`: the complete desired state of every given DataProduct, as YAML or JSON.
//! Identical input gives byte-identical output.

use std::io::Write;

use crate::governance;
use crate::plan::{self, to_yaml};

use super::{documents, Format, PlanArgs, EXIT_INPUT};

pub fn run(args: &PlanArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(inputs) = documents::load(&args.input, err) else {
        return EXIT_INPUT;
    };
    if inputs.products.is_empty() {
        let _ = writeln!(
            err,
            "error: no DataProduct found in the given paths; nothing to plan"
        );
        return EXIT_INPUT;
    }
    let mut failed = false;
    let mut yaml = String::new();
    let mut items = Vec::new();
    let collisions = governance::validate_set(&inputs.world);
    for (r, source) in &inputs.products {
        let product = &inputs.world.products[r];
        let mut violations = governance::validate_product(product, &inputs.world);
        // The same checks the operator makes: the template itself, and names no other product
        // derives too.
        if let Some(t) = inputs.world.template_of(product) {
            violations.extend(governance::validate_template(t).into_iter().map(|v| {
                governance::Violation {
                    message: format!("template {}: {}", product.spec.template, v.message),
                    ..v
                }
            }));
        }
        violations.extend(
            collisions
                .iter()
                .filter(|(p, _)| p == r)
                .map(|(_, v)| v.clone()),
        );
        if !violations.is_empty() {
            // Same rule as the operator: a product that breaks a rule gets no plan at all.
            failed = true;
            for v in violations {
                let _ = writeln!(err, "{}: {v}", source.file.display());
            }
            let _ = writeln!(err, "{r}: not planned: fix the violations above");
            continue;
        }
        let Some(template) = inputs.world.template_of(product) else {
            continue;
        };
        match plan::plan(product, template, &inputs.world) {
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
            Err(e) => {
                failed = true;
                let _ = writeln!(err, "{}: {r}: cannot plan: {e}", source.file.display());
            }
        }
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
    if let Err(e) = out.write_all(text.as_bytes()) {
        let _ = writeln!(err, "error: writing output: {e}");
        return 1;
    }
    u8::from(failed)
}
