//! Rules for DataProduct and DataProductAccess documents.

use std::collections::{BTreeMap, BTreeSet};

use super::{deprecation, schedule, Violation};
use crate::api::{
    Column, ColumnNaming, DataProduct, DataProductAccess, DataProductTemplate, Deprecation,
    LayerSettings, Output, PiiPolicy, ProductRef, Visibility,
};
use crate::model::glue_type::GlueType;
use crate::model::names::{self, NameKind};
use crate::model::{grantable_outputs, Names, World};

/// Validates a product against its template (looked up in `world`) and what else is known.
pub fn validate_product(product: &DataProduct, world: &World) -> Vec<Violation> {
    let mut v = Vec::new();
    let template = world.template_of(product);
    let spec = &product.spec;

    let name = product.metadata.name.as_deref().unwrap_or("");
    if !is_dns_label(name) {
        v.push(Violation::new("product-name", "metadata.name", format!("\"{name}\" must be a DNS label: lowercase letters, digits and hyphens, starting and ending with a letter or digit, at most 63 characters")));
    }
    if let Some(namespace) = product.metadata.namespace.as_deref() {
        if let Err(e) = check_namespace(namespace) {
            v.push(Violation::new("namespace-name", "metadata.namespace", e));
        }
    }
    if !is_label_value(&spec.template) {
        v.push(Violation::new("label-value", "spec.template", format!("\"{}\" ends up in the {} label of every object: use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", spec.template, crate::api::labels::TEMPLATE)));
    }
    if !is_domain(&spec.domain) {
        v.push(Violation::new("domain-name", "spec.domain", format!("\"{}\" must be lowercase letters and digits starting with a letter, at most 30 characters (no hyphens, so {{domain}}-{{product}} names stay unambiguous)", spec.domain)));
    }
    if spec.description.trim().is_empty() {
        v.push(Violation::new(
            "description-required",
            "spec.description",
            "describe what the product holds and why it exists",
        ));
    }
    if spec.owner.team.trim().is_empty() {
        v.push(Violation::new(
            "owner-required",
            "spec.owner.team",
            "name the team accountable for the product",
        ));
    }
    if spec.owner.email.trim().is_empty() {
        v.push(Violation::new(
            "owner-required",
            "spec.owner.email",
            "give a contact address for consumers",
        ));
    } else if !is_email(&spec.owner.email) {
        v.push(Violation::new(
            "owner-email",
            "spec.owner.email",
            format!("\"{}\" is not an e-mail address", spec.owner.email),
        ));
    }
    let mut groups = BTreeSet::new();
    for (i, g) in spec.owner.groups.iter().enumerate() {
        if g.trim().is_empty() {
            v.push(Violation::new(
                "owner-groups",
                format!("spec.owner.groups[{i}]"),
                "group names must not be empty",
            ));
        } else if !groups.insert(g.as_str()) {
            v.push(Violation::new(
                "owner-groups",
                format!("spec.owner.groups[{i}]"),
                format!("group {g} is listed twice"),
            ));
        }
    }

    let Some(template) = template else {
        v.push(Violation::new(
            "template-exists",
            "spec.template",
            format!(
                "template \"{}\" was not found; known templates: {}",
                spec.template,
                known(world.templates.keys())
            ),
        ));
        // Without the template the remaining rules that need it cannot run; the rest still do.
        check_outputs(product, None, world, &mut v);
        check_pipelines(product, None, world, &mut v);
        check_inputs(product, world, &mut v);
        return v;
    };
    let t = &template.spec;

    check_outputs(product, Some(template), world, &mut v);
    check_pipelines(product, Some(template), world, &mut v);
    check_inputs(product, world, &mut v);
    check_access(product, template, &mut v);

    match spec.slo.as_ref().and_then(|s| s.freshness.as_deref()) {
        Some(f) if parse_duration(f).is_none() => v.push(Violation::new(
            "slo",
            "spec.slo.freshness",
            format!("\"{f}\" is not a duration; write for example 26h, 90m or 2d"),
        )),
        None if t.governance.require_slo => v.push(Violation::new(
            "slo",
            "spec.slo.freshness",
            format!(
                "template {} requires a freshness SLO (for example 26h)",
                spec.template
            ),
        )),
        _ => {}
    }
    if let Some(d) = &spec.deprecation {
        check_deprecation(
            d,
            "spec.deprecation",
            t.governance.deprecation_notice_days,
            &mut v,
        );
    }

    match Names::derive(product, template) {
        Err(errors) => {
            for e in errors {
                v.push(Violation::new(
                    "derived-names",
                    "spec.template",
                    format!("template {}: {}: {}", spec.template, e.path, e.message),
                ));
            }
        }
        Ok(names) => check_derived(&names, &mut v),
    }
    v.sort();
    v.dedup();
    v
}

fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = names.map(String::as_str).collect();
    if list.is_empty() {
        "none (pass the template with -f or --templates)".to_string()
    } else {
        list.join(", ")
    }
}

fn check_derived(names: &Names, v: &mut Vec<Violation>) {
    let checks = [
        (NameKind::Namespace, "namespace", &names.namespace),
        (NameKind::Glue, "Glue database", &names.database),
        (NameKind::IamRole, "IAM role", &names.role_name),
    ];
    for (kind, what, name) in checks {
        if let Err(e) = names::check(kind, name) {
            v.push(Violation::new(
                "derived-names",
                "spec.template",
                format!("{what}: {e}"),
            ));
        }
    }
    let mut buckets = BTreeSet::new();
    for (layer, bucket) in &names.buckets {
        if let Err(e) = names::check(NameKind::S3Bucket, bucket) {
            v.push(Violation::new(
                "derived-names",
                "spec.template",
                format!("bucket of layer {layer}: {e}"),
            ));
        }
        if !buckets.insert(bucket) {
            v.push(Violation::new(
                "derived-names",
                "spec.template",
                format!("two layers map to the same bucket {bucket}"),
            ));
        }
    }
    let mut tables = BTreeSet::new();
    for (i, (output, table)) in names.tables.iter().enumerate() {
        if !tables.insert(table) && output != table {
            v.push(Violation::new(
                "derived-names",
                format!("spec.outputs[{i}].name"),
                format!("output {output} maps to table {table}, which another output already uses"),
            ));
        }
    }
}

fn check_outputs(
    product: &DataProduct,
    template: Option<&DataProductTemplate>,
    world: &World,
    v: &mut Vec<Violation>,
) {
    let spec = &product.spec;
    if spec.outputs.is_empty() {
        v.push(Violation::new(
            "outputs-required",
            "spec.outputs",
            "declare at least one output: it is what consumers query",
        ));
    }
    let governance = template.map(|t| &t.spec.governance);
    let mut output_names = BTreeSet::new();
    for (i, o) in spec.outputs.iter().enumerate() {
        let at = format!("spec.outputs[{i}]");
        if !output_names.insert(o.name.as_str()) {
            v.push(Violation::new(
                "unique-names",
                format!("{at}.name"),
                format!("output {} is declared twice", o.name),
            ));
        }
        if !is_glue_name(&o.name) {
            v.push(Violation::new("output-name", format!("{at}.name"), format!("\"{}\" must be lowercase letters, digits and underscores, starting with a letter", o.name)));
        }
        if o.description.trim().is_empty() {
            v.push(Violation::new(
                "description-required",
                format!("{at}.description"),
                format!("describe what one row of {} means", o.name),
            ));
        }
        let layer = template.and_then(|t| t.spec.storage.layers.iter().find(|l| l.name == o.layer));
        if let Some(t) = template {
            if layer.is_none() {
                let layers: Vec<&str> = t
                    .spec
                    .storage
                    .layers
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect();
                v.push(Violation::new(
                    "layer-exists",
                    format!("{at}.layer"),
                    format!(
                        "layer \"{}\" is not in template {}; use one of {}",
                        o.layer,
                        t.metadata.name.as_deref().unwrap_or(""),
                        layers.join(", ")
                    ),
                ));
            }
        }
        let mut column_names = BTreeSet::new();
        let columns = columns_at(o, &at);
        for (cat, c) in columns {
            if !column_names.insert(c.name.to_ascii_lowercase()) {
                v.push(Violation::new("unique-names", format!("{cat}.name"), format!("column {} appears twice in output {} (partition keys included; Glue names are case-insensitive)", c.name, o.name)));
            }
            // Columns the layer requires are named by the template (`_added_at`), not the team.
            let required = layer.is_some_and(|l| {
                l.required_columns
                    .iter()
                    .any(|r| r.name.eq_ignore_ascii_case(&c.name))
            });
            check_column(c, &cat, governance, required, v);
            if c.pii && layer.is_some_and(|l| l.pii == PiiPolicy::Forbidden) {
                v.push(Violation::new("pii-forbidden", format!("{cat}.pii"), format!("layer {} forbids PII; aggregate or pseudonymise {} and drop pii: true, or move output {} to a private layer", o.layer, c.name, o.name)));
            }
        }
        if let Some(l) = layer {
            check_required_columns(o, l, &at, v);
        }
        if o.schema.is_empty() {
            v.push(Violation::new(
                "column-type",
                format!("{at}.schema"),
                format!("output {} needs at least one column", o.name),
            ));
        }
        if governance.is_some_and(|g| g.require_query_examples) && o.examples.is_empty() {
            v.push(Violation::new(
                "query-examples",
                format!("{at}.examples"),
                format!(
                    "the template requires an example query for output {}",
                    o.name
                ),
            ));
        }
        for (j, e) in o.examples.iter().enumerate() {
            if e.title.trim().is_empty() || e.sql.trim().is_empty() {
                v.push(Violation::new(
                    "query-examples",
                    format!("{at}.examples[{j}]"),
                    "an example needs a title and SQL",
                ));
            }
        }
        if let (Some(d), Some(t)) = (&o.deprecation, template) {
            check_deprecation(
                d,
                &format!("{at}.deprecation"),
                t.spec.governance.deprecation_notice_days,
                v,
            );
        }
    }
    let _ = world;
}

/// An output's partition keys, then its schema columns, each with its field path.
fn columns_at<'a>(o: &'a Output, at: &'a str) -> impl Iterator<Item = (String, &'a Column)> + 'a {
    let keys = o.partition_keys.iter().enumerate();
    let schema = o.schema.iter().enumerate();
    keys.map(move |(j, c)| (format!("{at}.partitionKeys[{j}]"), c))
        .chain(schema.map(move |(j, c)| (format!("{at}.schema[{j}]"), c)))
}

/// `layer-required-columns`: every column the layer requires is there, with the layer's type.
fn check_required_columns(o: &Output, layer: &LayerSettings, at: &str, v: &mut Vec<Violation>) {
    for r in &layer.required_columns {
        let found = columns_at(o, at).find(|(_, c)| c.name.eq_ignore_ascii_case(&r.name));
        match found {
            None => v.push(Violation::new(
                "layer-required-columns",
                format!("{at}.schema"),
                format!(
                    "layer {} requires column {} {} ({}); add it to output {}",
                    layer.name,
                    r.name,
                    r.type_,
                    r.description.trim(),
                    o.name
                ),
            )),
            Some((cat, c)) if !same_type(&c.type_, &r.type_) => v.push(Violation::new(
                "layer-required-columns",
                format!("{cat}.type"),
                format!(
                    "layer {} requires {} to be {}, not {}",
                    layer.name, r.name, r.type_, c.type_
                ),
            )),
            Some(_) => {}
        }
    }
}

/// Whether two Glue types are the same (case and spacing aside).
fn same_type(a: &str, b: &str) -> bool {
    match (GlueType::parse(a), GlueType::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => {
            let norm = |s: &str| s.to_ascii_lowercase().replace(char::is_whitespace, "");
            norm(a) == norm(b)
        }
    }
}

fn check_column(
    c: &Column,
    at: &str,
    governance: Option<&crate::api::GovernanceSettings>,
    required: bool,
    v: &mut Vec<Violation>,
) {
    let parsed = if c.type_.trim().is_empty() {
        v.push(Violation::new(
            "column-type",
            format!("{at}.type"),
            format!(
                "column {} needs a type (for example string, bigint, decimal(12,2))",
                c.name
            ),
        ));
        None
    } else {
        match GlueType::parse(&c.type_) {
            Ok(t) => Some(t),
            Err(e) => {
                v.push(Violation::new("column-type", format!("{at}.type"), e));
                None
            }
        }
    };
    if c.description.trim().is_empty() {
        v.push(Violation::new(
            "column-description",
            format!("{at}.description"),
            format!("describe what column {} means", c.name),
        ));
    }
    let Some(g) = governance else { return };
    if g.require_field_examples && c.example.as_deref().is_none_or(|e| e.trim().is_empty()) {
        v.push(Violation::new(
            "column-example",
            format!("{at}.example"),
            format!(
                "give an example value of {} so readers understand the data",
                c.name
            ),
        ));
    }
    let ok = required
        || match g.column_naming {
            ColumnNaming::SnakeCase => is_snake_case(&c.name),
            ColumnNaming::CamelCase => is_camel_case(&c.name),
            ColumnNaming::Any => is_glue_column(&c.name),
        };
    if !ok {
        let rule = match g.column_naming {
            ColumnNaming::SnakeCase => {
                "snake_case (lowercase letters, digits, single underscores, starting with a letter)"
            }
            ColumnNaming::CamelCase => {
                "camelCase (starting with a lowercase letter, letters and digits only)"
            }
            ColumnNaming::Any => "a Glue column name (letters, digits, underscores)",
        };
        v.push(Violation::new(
            "column-naming",
            format!("{at}.name"),
            format!("\"{}\" must be {rule}", c.name),
        ));
    }
    if let Some(term) = g.glossary.get(&c.name) {
        let want = GlueType::parse(&term.type_).ok();
        if let (Some(want), Some(got)) = (want, parsed) {
            if want != got {
                v.push(Violation::new("glossary-type", format!("{at}.type"), format!("{} is a glossary term of type {want}; use that type (or another name) so columns with the same name mean the same thing across products", c.name)));
            }
        }
    }
}

fn check_pipelines(
    product: &DataProduct,
    template: Option<&DataProductTemplate>,
    world: &World,
    v: &mut Vec<Violation>,
) {
    let spec = &product.spec;
    let unreadable = unreadable_ports(product, template, world);
    let outputs: BTreeSet<&str> = spec.outputs.iter().map(|o| o.name.as_str()).collect();
    let inputs: BTreeSet<&str> = spec
        .inputs
        .iter()
        .filter_map(|i| {
            i.output
                .as_deref()
                .or(i.external.as_ref().map(|e| e.name.as_str()))
        })
        .collect();
    let mut names = BTreeSet::new();
    for (i, p) in spec.pipelines.iter().enumerate() {
        let at = format!("spec.pipelines[{i}]");
        if !names.insert(p.name.as_str()) {
            v.push(Violation::new(
                "unique-names",
                format!("{at}.name"),
                format!("pipeline {} is declared twice", p.name),
            ));
        }
        if p.name.len() > 52 || !is_dns_label(&p.name) {
            v.push(Violation::new(
                "pipeline-name",
                format!("{at}.name"),
                format!("\"{}\" becomes a CronJob name: use lowercase letters, digits and hyphens, starting and ending with a letter or digit, at most 52 characters", p.name),
            ));
        }
        let mut env_names = BTreeSet::new();
        for (j, e) in p.env.iter().enumerate() {
            if !env_names.insert(e.name.as_str()) {
                v.push(Violation::new(
                    "pipeline-env",
                    format!("{at}.env[{j}].name"),
                    format!("{} is set twice", e.name),
                ));
            }
        }
        if let Some(zone) = p.time_zone.as_deref() {
            if let Err(e) = check_time_zone(zone) {
                v.push(Violation::new(
                    "pipeline-timezone",
                    format!("{at}.timeZone"),
                    e,
                ));
            }
        }
        if let Err(e) = schedule::check_schedule(&p.schedule) {
            v.push(Violation::new(
                "pipeline-schedule",
                format!("{at}.schedule"),
                e,
            ));
        }
        if p.image.trim().is_empty() || p.image.contains(char::is_whitespace) {
            v.push(Violation::new("pipeline-image", format!("{at}.image"), format!("pipeline {} needs a container image reference such as registry.example/team/job:1.2.3", p.name)));
        }
        for (j, r) in p.reads.iter().enumerate() {
            if !inputs.contains(r.as_str()) && !outputs.contains(r.as_str()) {
                let mut choices: Vec<&str> = inputs.iter().chain(outputs.iter()).copied().collect();
                choices.sort();
                choices.dedup();
                v.push(Violation::new(
                    "pipeline-reads",
                    format!("{at}.reads[{j}]"),
                    format!(
                        "\"{r}\" is neither a declared input nor an own output; use one of: {}",
                        choices.join(", ")
                    ),
                ));
            }
        }
        for (j, r) in p.reads.iter().enumerate() {
            if let Some((owner, layer)) = unreadable.get(r.as_str()) {
                v.push(Violation::new(
                    "layer-not-readable",
                    format!("{at}.reads[{j}]"),
                    format!("\"{r}\" is in layer {layer} of {owner}, which pipelines may write but never read; read it from another layer"),
                ));
            }
        }
        for (j, w) in p.writes.iter().enumerate() {
            if !outputs.contains(w.as_str()) {
                v.push(Violation::new("pipeline-writes", format!("{at}.writes[{j}]"), format!("\"{w}\" is not an output of this product; pipelines write only own outputs")));
            }
        }
        for (j, e) in p.env.iter().enumerate() {
            let valid = e
                .name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && e.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                v.push(Violation::new(
                    "pipeline-env",
                    format!("{at}.env[{j}].name"),
                    format!("\"{}\" is not a valid environment variable name", e.name),
                ));
            } else if e.name.starts_with("DP_")
                || e.name == "AWS_REGION"
                || e.name == "AWS_DEFAULT_REGION"
            {
                v.push(Violation::new(
                    "pipeline-env",
                    format!("{at}.env[{j}].name"),
                    format!("{} is set by the operator; choose another name", e.name),
                ));
            }
        }
    }
}

/// Read ports (own outputs and inputs' outputs) stored in a layer with
/// `readableByPipelines: false`, with the product and layer they are in.
fn unreadable_ports<'a>(
    product: &'a DataProduct,
    template: Option<&DataProductTemplate>,
    world: &'a World,
) -> BTreeMap<&'a str, (String, String)> {
    let unreadable = |t: &DataProductTemplate, layer: &str| {
        t.spec
            .storage
            .layers
            .iter()
            .any(|l| l.name == layer && !l.readable_by_pipelines)
    };
    let mut out = BTreeMap::new();
    if let Some(t) = template {
        for o in &product.spec.outputs {
            if unreadable(t, &o.layer) {
                out.insert(
                    o.name.as_str(),
                    ("this product".to_string(), o.layer.clone()),
                );
            }
        }
    }
    for i in &product.spec.inputs {
        let (Some(r), Some(name)) = (
            i.product.as_deref().and_then(ProductRef::parse),
            i.output.as_deref(),
        ) else {
            continue;
        };
        let Some(producer) = world.products.get(&r) else {
            continue;
        };
        let Some(t) = world.template_of(producer) else {
            continue;
        };
        if let Some(o) = producer.spec.outputs.iter().find(|o| o.name == name) {
            if unreadable(t, &o.layer) {
                out.insert(name, (r.to_string(), o.layer.clone()));
            }
        }
    }
    out
}

fn check_inputs(product: &DataProduct, world: &World, v: &mut Vec<Violation>) {
    // Input port names: a product input's output name or an external input's name.
    let mut externals = BTreeSet::new();
    for (i, input) in product.spec.inputs.iter().enumerate() {
        let at = format!("spec.inputs[{i}]");
        match (&input.product, &input.external) {
            (Some(p), None) => {
                let Some(r) = ProductRef::parse(p) else {
                    v.push(Violation::new(
                        "input-ref",
                        format!("{at}.product"),
                        format!("\"{p}\" must be <namespace>/<name> of a DataProduct"),
                    ));
                    continue;
                };
                let Some(output) = input.output.as_deref() else {
                    v.push(Violation::new(
                        "input-ref",
                        format!("{at}.output"),
                        format!("name the output of {p} that is read"),
                    ));
                    continue;
                };
                // Pipelines name input ports in `reads`; two ports with one name are ambiguous
                // (and would set the same DP_INPUT_* variables).
                if !externals.insert(output) {
                    v.push(Violation::new(
                        "unique-names",
                        format!("{at}.output"),
                        format!("input port {output} is declared twice; pipelines' reads could not tell the inputs apart"),
                    ));
                }
                // An output removed after the sunset its consumers were told about is retired,
                // not a mistake of the consumer: its pipelines wait (InputRetired) instead.
                let told = product.status.as_ref().is_some_and(|s| {
                    s.inputs.iter().any(|i| {
                        i.product == r.to_string() && i.output == output && i.deprecation.is_some()
                    })
                });
                if let Some(producer) = world.products.get(&r).filter(|_| !told) {
                    if !producer.spec.outputs.iter().any(|o| o.name == output) {
                        let have: Vec<&str> = producer
                            .spec
                            .outputs
                            .iter()
                            .map(|o| o.name.as_str())
                            .collect();
                        v.push(Violation::new(
                            "input-output",
                            format!("{at}.output"),
                            if have.is_empty() {
                                format!("{p} has no output \"{output}\"; it has no outputs")
                            } else {
                                format!(
                                    "{p} has no output \"{output}\"; it has {}",
                                    have.join(", ")
                                )
                            },
                        ));
                    }
                }
            }
            (None, Some(e)) => {
                if input.output.is_some() {
                    v.push(Violation::new(
                        "input-ref",
                        format!("{at}.output"),
                        "output applies to product inputs only",
                    ));
                }
                if e.name.trim().is_empty() {
                    v.push(Violation::new(
                        "input-ref",
                        format!("{at}.external.name"),
                        "name the external source; pipelines use it in reads",
                    ));
                } else if !externals.insert(e.name.as_str()) {
                    v.push(Violation::new(
                        "unique-names",
                        format!("{at}.external.name"),
                        format!("external input {} is declared twice", e.name),
                    ));
                }
                if e.description.trim().is_empty() {
                    v.push(Violation::new(
                        "description-required",
                        format!("{at}.external.description"),
                        format!("describe the external source {}", e.name),
                    ));
                }
            }
            _ => v.push(Violation::new(
                "input-ref",
                at,
                "set exactly one of product (with output) or external",
            )),
        }
    }
}

fn check_access(product: &DataProduct, template: &DataProductTemplate, v: &mut Vec<Violation>) {
    let access = &product.spec.access;
    if access.visibility == Visibility::Private {
        let own_namespace = product.metadata.namespace.as_deref().unwrap_or("");
        for (i, c) in access.consumers.iter().enumerate() {
            let same_domain = c
                .product
                .as_deref()
                .and_then(ProductRef::parse)
                .is_some_and(|r| r.namespace == own_namespace);
            if !same_domain {
                v.push(Violation::new("visibility", format!("spec.access.consumers[{i}]"), "a private product is only for its own domain (namespace); make it internal or remove this consumer"));
            }
        }
    }
    let mut seen = BTreeSet::new();
    for (i, c) in access.consumers.iter().enumerate() {
        let at = format!("spec.access.consumers[{i}]");
        let consumer = c.product.as_deref().and_then(ProductRef::parse);
        let public = grantable_outputs(product, template, consumer.as_ref());
        match (&c.product, &c.principal) {
            (Some(p), None) if ProductRef::parse(p).is_none() => v.push(Violation::new("consumer-ref", format!("{at}.product"), format!("\"{p}\" must be <namespace>/<name> of a DataProduct"))),
            (None, Some(arn)) if !is_principal_arn(arn) => v.push(Violation::new("consumer-ref", format!("{at}.principal"), format!("\"{arn}\" must be an IAM role or user ARN such as arn:aws:iam::123456789012:role/analysts"))),
            (Some(_), None) | (None, Some(_)) => {}
            _ => v.push(Violation::new("consumer-ref", at.clone(), "set exactly one of product or principal")),
        }
        let who = c
            .product
            .clone()
            .or(c.principal.clone())
            .unwrap_or_default();
        if !who.is_empty() && !seen.insert(who.clone()) {
            v.push(Violation::new(
                "unique-names",
                at.clone(),
                format!("consumer {who} is listed twice"),
            ));
        }
        if c.outputs.is_empty() && public.is_empty() {
            v.push(Violation::new("consumer-outputs", at.clone(), "the product has no output this consumer may be granted (other domains get public-layer outputs only)"));
        }
        for (j, o) in c.outputs.iter().enumerate() {
            if !product.spec.outputs.iter().any(|out| &out.name == o) {
                v.push(Violation::new(
                    "consumer-outputs",
                    format!("{at}.outputs[{j}]"),
                    format!("\"{o}\" is not an output of this product"),
                ));
            } else if !public.contains(o) {
                v.push(Violation::new("consumer-outputs", format!("{at}.outputs[{j}]"), format!("output {o} is in a private layer (or one never granted); only products of the same domain (namespace) may be granted private-layer outputs")));
            }
        }
    }
}

fn check_deprecation(d: &Deprecation, at: &str, notice_days: u32, v: &mut Vec<Violation>) {
    if let Err((field, message)) = deprecation::check(&d.announced, &d.sunset, notice_days) {
        v.push(Violation::new(
            "deprecation-notice",
            format!("{at}.{field}"),
            message,
        ));
    }
}

/// Validates an access request; the producer is checked when it is known.
pub fn validate_access(access: &DataProductAccess, world: &World) -> Vec<Violation> {
    let mut v = Vec::new();
    let spec = &access.spec;
    if let Some(namespace) = access.metadata.namespace.as_deref() {
        if let Err(e) = check_namespace(namespace) {
            v.push(Violation::new("namespace-name", "metadata.namespace", e));
        }
    }
    let producer = match ProductRef::parse(&spec.product) {
        None => {
            v.push(Violation::new(
                "access-product",
                "spec.product",
                format!(
                    "\"{}\" must be <namespace>/<name> of a DataProduct",
                    spec.product
                ),
            ));
            None
        }
        Some(r) => world.products.get(&r),
    };
    match (&spec.consumer.product, &spec.consumer.principal) {
        (Some(p), None) if ProductRef::parse(p).is_none() => v.push(Violation::new(
            "access-consumer",
            "spec.consumer.product",
            format!("\"{p}\" must be <namespace>/<name> of a DataProduct"),
        )),
        (None, Some(arn)) if !is_principal_arn(arn) => v.push(Violation::new(
            "access-consumer",
            "spec.consumer.principal",
            format!("\"{arn}\" must be an IAM role or user ARN"),
        )),
        (Some(_), None) | (None, Some(_)) => {}
        _ => v.push(Violation::new(
            "access-consumer",
            "spec.consumer",
            "set exactly one of product or principal",
        )),
    }
    if let Some(c) = spec.consumer.product.as_deref().and_then(ProductRef::parse) {
        let here = access.metadata.namespace.as_deref().unwrap_or("");
        if c.namespace != here {
            v.push(Violation::new(
                "access-consumer",
                "spec.consumer.product",
                format!("a request on behalf of {c} must be created in its namespace {}, not in {here}; only the consumer's team may ask for it", c.namespace),
            ));
        }
    }
    if spec.purpose.trim().is_empty() {
        v.push(Violation::new(
            "access-purpose",
            "spec.purpose",
            "say why the data is needed; the producer reads it to approve",
        ));
    }
    if let Some(e) = &spec.expires {
        if let Err(m) = deprecation::parse_date(e) {
            v.push(Violation::new("access-expires", "spec.expires", m));
        }
    }
    if let Some(p) = producer {
        let consumer = spec.consumer.product.as_deref().and_then(ProductRef::parse);
        let public = world
            .template_of(p)
            .map(|t| grantable_outputs(p, t, consumer.as_ref()));
        for (i, o) in spec.outputs.iter().enumerate() {
            if !p.spec.outputs.iter().any(|out| &out.name == o) {
                v.push(Violation::new(
                    "access-outputs",
                    format!("spec.outputs[{i}]"),
                    format!("{} has no output \"{o}\"", spec.product),
                ));
            } else if public.as_ref().is_some_and(|pub_| !pub_.contains(o)) {
                v.push(Violation::new("access-outputs", format!("spec.outputs[{i}]"), format!("output {o} is in a private or never-granted layer of {}; only public-layer outputs can be granted", spec.product)));
            }
        }
    }
    v.sort();
    v
}

/// A namespace is a DNS label; it also ends up in label values.
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    if is_dns_label(namespace) {
        Ok(())
    } else {
        Err(format!("\"{namespace}\" must be a DNS label (lowercase letters, digits and hyphens, starting and ending with a letter or digit, at most 63 characters); it names a namespace and ends up in label values"))
    }
}

/// A time zone the platform knows: a name in the IANA database (bundled, so the check is the
/// same on every machine).
pub fn check_time_zone(zone: &str) -> Result<(), String> {
    if jiff::tz::TimeZone::get(zone).is_ok() {
        return Ok(());
    }
    let names: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
    let hint = crate::api::suggest::closest(zone, names.iter().map(String::as_str), 3)
        .map(|n| format!(" (did you mean {n}?)"))
        .unwrap_or_default();
    Err(format!(
        "\"{zone}\" is not a time zone of the IANA database{hint}; use a name such as Europe/Paris or UTC"
    ))
}

/// A Kubernetes label value: at most 63 characters, alphanumerics, `-`, `_` and `.`, starting and
/// ending with an alphanumeric (or empty).
pub fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

pub(super) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_domain(s: &str) -> bool {
    (1..=30).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !s.contains(char::is_whitespace)
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

fn is_glue_name(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_glue_column(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_snake_case(s: &str) -> bool {
    is_glue_name(s) && !s.contains("__") && !s.ends_with('_')
}

fn is_camel_case(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_principal_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && (parts[5].starts_with("role/") || parts[5].starts_with("user/"))
        && parts[5].len() > 5
}

/// Parses durations such as `26h`, `90m`, `1h30m`, `2d`, `500ms` into seconds (fractions dropped).
pub fn parse_duration(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit_secs, len) = if rest.starts_with("ms") {
            (0, 2)
        } else if rest.starts_with('s') {
            (1, 1)
        } else if rest.starts_with('m') {
            (60, 1)
        } else if rest.starts_with('h') {
            (3600, 1)
        } else if rest.starts_with('d') {
            (86_400, 1)
        } else {
            return None;
        };
        total = total.checked_add(n.checked_mul(unit_secs)?)?;
        rest = &rest[len..];
    }
    Some(total)
}
