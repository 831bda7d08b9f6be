//! `dpctl validate`: one line per violation, `FILE:LINE: namespace/name: spec.path: message [rule-id]`.

use std::io::Write;

use crate::evaluate::{evaluate_all, Facts, TEMPLATE_INVALID};
use crate::governance::{self, Violation};

use super::{documents, InputArgs, EXIT_INPUT};

pub fn run(args: &InputArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let inputs = documents::load_all(args, err);
    let mut lines: Vec<(String, Violation)> = Vec::new();
    // Templates given with -f, and those of the library that the products use, each blamed by
    // its own file.
    for (t, source) in inputs.templates.iter().chain(&inputs.library) {
        let name = t.metadata.name.as_deref().unwrap_or_default();
        for v in governance::validate_template(t) {
            lines.push((format!("{}: {name}", source.at(&v.path)), v));
        }
    }
    // A product is valid when the operator's own evaluation would plan it.
    let facts = Facts::offline(args.today());
    let mut results = evaluate_all(&inputs.world, &facts);
    let mut blocked = Vec::new();
    for (r, source) in &inputs.products {
        if let Some(Err(refusal)) = results.remove(r) {
            if refusal.reason == TEMPLATE_INVALID {
                // Its template's violations are listed once, under the template, above.
                let template = &inputs.world.products[r].spec.template;
                blocked.push(format!(
                    "{}: {r}: spec.template: not valid until template {template} is fixed (its violations are listed under its own file)",
                    source.at("spec.template")
                ));
                continue;
            }
            for v in refusal.violations {
                lines.push((format!("{}: {r}", source.at(&v.path)), v));
            }
        }
    }
    lines.extend(inputs.access_violations());
    for (file, v) in &lines {
        let _ = writeln!(out, "{file}: {v}");
    }
    for line in &blocked {
        let _ = writeln!(out, "{line}");
    }
    let strict_failed = documents::warn_missing_producers(&inputs, args, err);
    let checked = inputs.summary();
    let ours = inputs.products.len() + inputs.templates.len() + inputs.accesses.len();
    if inputs.failed {
        let _ = writeln!(
            err,
            "{} in {checked}; some files could not be read (above)",
            documents::count(lines.len(), "violation")
        );
        EXIT_INPUT
    } else if ours == 0 {
        let _ = writeln!(
            err,
            "error: no DataProduct, DataProductTemplate or DataProductAccess found ({checked}); nothing to validate"
        );
        EXIT_INPUT
    } else if lines.is_empty() && !strict_failed {
        let _ = writeln!(err, "valid: {checked}");
        0
    } else {
        let _ = writeln!(
            err,
            "{} in {checked}",
            documents::count(lines.len(), "violation")
        );
        1
    }
}
