//! `dpctl validate`: one line per violation, `FILE: spec.path: message [rule-id]`.

use std::io::Write;

use crate::evaluate::{evaluate_all, Facts};
use crate::governance::{self, Violation};

use super::{documents, InputArgs, EXIT_INPUT};

pub fn run(args: &InputArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(inputs) = documents::load(args, err) else {
        return EXIT_INPUT;
    };
    let mut lines: Vec<(String, Violation)> = Vec::new();
    for (t, source) in &inputs.templates {
        for v in governance::validate_template(t) {
            lines.push((source.file.display().to_string(), v));
        }
    }
    // A product is valid when the operator's own evaluation would plan it.
    let facts = Facts::offline(args.today());
    let mut results = evaluate_all(&inputs.world, &facts);
    for (r, source) in &inputs.products {
        if let Some(Err(refusal)) = results.remove(r) {
            for v in refusal.violations {
                lines.push((source.file.display().to_string(), v));
            }
        }
    }
    for (a, source) in &inputs.accesses {
        for v in governance::validate_access(a, &inputs.world) {
            lines.push((source.file.display().to_string(), v));
        }
    }
    for (file, v) in &lines {
        let _ = writeln!(out, "{file}: {v}");
    }
    let checked = format!(
        "{} products, {} templates, {} access requests",
        inputs.products.len(),
        inputs.templates.len(),
        inputs.accesses.len()
    );
    if lines.is_empty() {
        let _ = writeln!(err, "valid: {checked}");
        0
    } else {
        let _ = writeln!(err, "{} violations in {checked}", lines.len());
        1
    }
}
