//! Loading the documents a command works on into a [`World`], remembering where each came from.

use std::io::Write;

use std::collections::BTreeMap;

use crate::api::load::{load_report, Document, LoadOptions, Source};
use crate::api::{DataProductAccess, DataProductTemplate, ProductRef};
use crate::evaluate::{Refusal, TEMPLATE_INVALID};
use crate::governance::Violation;
use crate::plan::World;

use super::InputArgs;

/// The documents given with -f, plus templates found with --templates.
pub struct Inputs {
    pub world: World,
    /// Products given with -f, in a stable order, with their source.
    pub products: Vec<(ProductRef, Source)>,
    /// Templates given with -f.
    pub templates: Vec<(DataProductTemplate, Source)>,
    /// Templates found with --templates that a product given with -f uses (and no -f template
    /// replaces): checked like -f templates, and blamed by their own file.
    pub library: Vec<(DataProductTemplate, Source)>,
    /// Where each template in the world was read from.
    template_sources: BTreeMap<String, Source>,
    /// Access requests given with -f.
    pub accesses: Vec<(DataProductAccess, Source)>,
    /// Documents of other kinds among the -f files, skipped.
    pub skipped: usize,
    /// Whether any file could not be loaded (the errors were printed).
    pub failed: bool,
}

impl Inputs {
    /// Where a violation of a refused product is written: the template's own mistakes (a
    /// `TemplateInvalid` refusal) at the template's file and line, the product's at its own.
    pub fn locate(
        &self,
        product: &Source,
        template: &str,
        refusal: &Refusal,
        v: &Violation,
    ) -> String {
        match self.template_sources.get(template) {
            Some(t) if refusal.reason == TEMPLATE_INVALID => t.at(&v.path),
            _ => product.at(&v.path),
        }
    }

    /// `N products, N templates, N access requests[, N documents of other kinds skipped]`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}, {}, {}",
            count(self.products.len(), "product"),
            count(self.templates.len() + self.library.len(), "template"),
            count(self.accesses.len(), "access request")
        );
        if self.skipped > 0 {
            s.push_str(&format!(
                ", {} of other kinds skipped",
                count(self.skipped, "document")
            ));
        }
        s
    }

    /// The violations of the access requests given with -f, each located in its file:
    /// `(FILE:LINE: namespace/name, violation)`. The operator denies such a request, and no
    /// plan grants anything for it.
    pub fn access_violations(&self) -> Vec<(String, Violation)> {
        let mut lines = Vec::new();
        for (a, source) in &self.accesses {
            let name = format!(
                "{}/{}",
                a.metadata.namespace.as_deref().unwrap_or_default(),
                a.metadata.name.as_deref().unwrap_or_default()
            );
            for v in crate::governance::validate_access(a, &self.world) {
                lines.push((format!("{}: {name}", source.at(&v.path)), v));
            }
        }
        lines
    }

    /// Inputs whose producer, and listed consumers that, are not among the documents, one
    /// warning each:
    /// `FILE: namespace/name: spec.inputs[i]: producer … is not among the given documents; …`.
    pub fn missing_producers(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        for (r, source) in &self.products {
            let product = &self.world.products[r];
            for (i, input) in product.spec.inputs.iter().enumerate() {
                let (Some(producer), Some(output)) = (
                    input.product.as_deref().and_then(ProductRef::parse),
                    input.output.as_deref(),
                ) else {
                    continue;
                };
                if !self.world.products.contains_key(&producer) {
                    warnings.push(format!(
                        "{}: {r}: spec.inputs[{i}]: producer {producer} is not among the given documents; the plan leaves out DP_INPUT_{}_* and its read grants",
                        source.at(&format!("spec.inputs[{i}]")),
                        crate::plan::env_suffix(output)
                    ));
                }
            }
        }
        // A listed consumer product that is not given has no role ARN to grant to.
        for (r, source) in &self.products {
            let product = &self.world.products[r];
            for (i, c) in product.spec.access.consumers.iter().enumerate() {
                let Some(consumer) = c.product.as_deref().and_then(ProductRef::parse) else {
                    continue;
                };
                if !self.world.products.contains_key(&consumer) {
                    warnings.push(format!(
                        "{}: {r}: spec.access.consumers[{i}]: consumer {consumer} is not among the given documents; the plan's grant to it names no principal and takes no expiry from its access request",
                        source.at(&format!("spec.access.consumers[{i}]"))
                    ));
                }
            }
        }
        warnings
    }
}

/// `1 product`, `2 products`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Prints the missing-producer warnings of `inputs` to `err`; true when there were any and
/// `--strict` makes them errors.
pub fn warn_missing_producers(inputs: &Inputs, args: &InputArgs, err: &mut dyn Write) -> bool {
    let warnings = inputs.missing_producers();
    let label = if args.strict { "error" } else { "warning" };
    for w in &warnings {
        let _ = writeln!(err, "{label}: {w}");
    }
    args.strict && !warnings.is_empty()
}

/// Loads everything. Load errors are printed to `err` and set [`Inputs::failed`]; the documents
/// that did load are still returned, so one broken file does not hide the others' violations.
pub fn load_all(args: &InputArgs, err: &mut dyn Write) -> Inputs {
    let opts = LoadOptions {
        default_namespace: args.namespace.clone(),
    };
    let report = load_report(&args.paths, &opts);
    let library = load_report(&args.templates, &opts);
    let mut errors = report.errors;
    errors.extend(library.errors);
    for e in &errors {
        let _ = writeln!(err, "error: {e}");
    }
    let (loaded, library) = (report.loaded, library.loaded);
    let mut world = World::default();
    let mut template_sources = BTreeMap::new();
    let mut library_templates = Vec::new();
    // Library templates first, so a template given with -f takes precedence over the library.
    for l in library {
        if let Document::Template(t) = l.document {
            template_sources.insert(
                t.metadata.name.clone().unwrap_or_default(),
                l.source.clone(),
            );
            world.add_template((*t).clone());
            library_templates.push((*t, l.source));
        }
    }
    let mut inputs = Inputs {
        world,
        products: Vec::new(),
        templates: Vec::new(),
        library: Vec::new(),
        template_sources,
        accesses: Vec::new(),
        skipped: report.skipped,
        failed: !errors.is_empty(),
    };
    for l in loaded {
        match l.document {
            Document::Product(p) => {
                let r = World::product_ref(&p);
                if let Some((_, first)) = inputs.products.iter().find(|(other, _)| other == &r) {
                    let _ = writeln!(
                        err,
                        "error: {}: DataProduct {r} is also defined at {first}",
                        l.source
                    );
                    inputs.failed = true;
                    continue;
                }
                inputs.products.push((r, l.source));
                inputs.world.add_product(*p);
            }
            Document::Template(t) => {
                inputs.template_sources.insert(
                    t.metadata.name.clone().unwrap_or_default(),
                    l.source.clone(),
                );
                inputs.world.add_template((*t).clone());
                inputs.templates.push((*t, l.source));
            }
            Document::Access(a) => {
                inputs.world.accesses.push((*a).clone());
                inputs.accesses.push((*a, l.source));
            }
        }
    }
    inputs.products.sort_by(|a, b| a.0.cmp(&b.0));
    let used: std::collections::BTreeSet<&str> = inputs
        .products
        .iter()
        .filter_map(|(r, _)| inputs.world.products.get(r))
        .map(|p| p.spec.template.as_str())
        .collect();
    let given: std::collections::BTreeSet<String> = inputs
        .templates
        .iter()
        .filter_map(|(t, _)| t.metadata.name.clone())
        .collect();
    inputs.library = library_templates
        .into_iter()
        .filter(|(t, _)| {
            let name = t.metadata.name.as_deref().unwrap_or_default();
            used.contains(name) && !given.contains(name)
        })
        .collect();
    inputs
}

/// Loads everything; None when any file could not be loaded (the errors were printed).
pub fn load(args: &InputArgs, err: &mut dyn Write) -> Option<Inputs> {
    let inputs = load_all(args, err);
    (!inputs.failed).then_some(inputs)
}
