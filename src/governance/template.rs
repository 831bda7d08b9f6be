//! Rules for DataProductTemplate documents.

use std::collections::BTreeSet;
use std::ops::Not;

use super::Violation;
use crate::api::{DataProductTemplate, DeletionPolicy};
use crate::model::glue_type::GlueType;
use crate::model::names::{self, NameKind};
use crate::model::placeholders::used;

/// Placeholders a name format may use.
const NAME_PLACEHOLDERS: &[&str] = &["organization", "stage", "domain", "product", "team"];
/// Placeholders extra resources and namespace labels may use.
const RESOURCE_PLACEHOLDERS: &[&str] = &[
    "organization",
    "stage",
    "domain",
    "product",
    "team",
    "namespace",
    "database",
    "role",
];

/// Validates a template on its own.
pub fn validate_template(template: &DataProductTemplate) -> Vec<Violation> {
    let mut v = Vec::new();
    let t = &template.spec;
    let name = template.metadata.name.as_deref().unwrap_or("");
    if !super::product::is_dns_label(name) {
        v.push(Violation::new(
            "template-format",
            "metadata.name",
            format!("\"{name}\" must be a DNS label"),
        ));
    }
    if t.description.trim().is_empty() {
        v.push(Violation::new(
            "template-description",
            "spec.description",
            "say whom the template is for and what it provides",
        ));
    }

    let formats: [(&str, &str, &[&str], &[&str]); 4] = [
        (
            "spec.namespace.name",
            &t.namespace.name,
            &["domain", "product"],
            NAME_PLACEHOLDERS,
        ),
        (
            "spec.storage.bucketName",
            &t.storage.bucket_name,
            &["domain", "product", "layer"],
            &[
                "organization",
                "stage",
                "domain",
                "product",
                "team",
                "layer",
            ],
        ),
        (
            "spec.catalog.databaseName",
            &t.catalog.database_name,
            &["domain", "product"],
            NAME_PLACEHOLDERS,
        ),
        (
            "spec.pipelines.roleName",
            &t.pipelines.role_name,
            &["domain", "product"],
            NAME_PLACEHOLDERS,
        ),
    ];
    for (path, format, required, allowed) in formats {
        let placeholders = used(format);
        for p in &placeholders {
            if !allowed.contains(p) {
                v.push(Violation::new(
                    "template-format",
                    path,
                    format!(
                        "unknown placeholder {{{p}}} in \"{format}\"; allowed: {}",
                        braces(allowed)
                    ),
                ));
            }
        }
        for r in required {
            if !placeholders.contains(r) {
                v.push(Violation::new(
                    "template-format",
                    path,
                    format!("\"{format}\" must contain {{{r}}} so every product gets its own name"),
                ));
            }
        }
        // With a stage, every name must carry it: the dev and prod products of one template
        // share AWS accounts and clusters at times, and their names must never collide.
        if t.stage.as_deref().is_some_and(|s| !s.is_empty()) && !placeholders.contains(&"stage") {
            v.push(Violation::new(
                "template-format",
                path,
                format!(
                    "the template sets stage {}; \"{format}\" must contain {{stage}} (or [-{{stage}}]) so products of two stages never share a name",
                    t.stage.as_deref().unwrap_or("")
                ),
            ));
        }
        if format.matches('{').count() != format.matches('}').count() {
            v.push(Violation::new(
                "template-format",
                path,
                format!("unbalanced braces in \"{format}\""),
            ));
        }
    }
    for (k, value) in t.namespace.labels.iter().chain(&t.namespace.annotations) {
        for p in used(value) {
            if !RESOURCE_PLACEHOLDERS.contains(&p) {
                v.push(Violation::new(
                    "template-format",
                    format!("spec.namespace.labels.{k}"),
                    format!(
                        "unknown placeholder {{{p}}}; allowed: {}",
                        braces(RESOURCE_PLACEHOLDERS)
                    ),
                ));
            }
        }
    }
    if names::check(NameKind::Object, &t.pipelines.service_account).is_err() {
        v.push(Violation::new(
            "template-format",
            "spec.pipelines.serviceAccount",
            format!("\"{}\" must be a DNS label", t.pipelines.service_account),
        ));
    }

    if t.storage.layers.is_empty() {
        v.push(Violation::new(
            "template-layers",
            "spec.storage.layers",
            "declare at least one storage layer",
        ));
    }
    let mut layer_names = BTreeSet::new();
    let mut bucket_forms = BTreeSet::new();
    for (i, l) in t.storage.layers.iter().enumerate() {
        let at = format!("spec.storage.layers[{i}].name");
        if !layer_names.insert(l.name.as_str()) {
            v.push(Violation::new(
                "template-layers",
                at.clone(),
                format!("layer {} is declared twice", l.name),
            ));
        }
        // Layer names become part of bucket names, where `_` turns into `-`.
        if !bucket_forms.insert(l.name.replace('_', "-")) {
            v.push(Violation::new(
                "template-layers",
                at.clone(),
                format!(
                    "layer {} maps to the same bucket name as another layer",
                    l.name
                ),
            ));
        }
        if l.name.is_empty()
            || !l.name.starts_with(|c: char| c.is_ascii_lowercase())
            || !l
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            v.push(Violation::new(
                "template-layers",
                at,
                format!(
                    "\"{}\" must be lowercase letters, digits and underscores",
                    l.name
                ),
            ));
        }
    }
    for (i, l) in t.storage.layers.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for (j, c) in l.required_columns.iter().enumerate() {
            let at = format!("spec.storage.layers[{i}].requiredColumns[{j}]");
            if !seen.insert(c.name.to_ascii_lowercase()) {
                v.push(Violation::new(
                    "template-layers",
                    format!("{at}.name"),
                    format!("column {} is required twice in layer {}", c.name, l.name),
                ));
            }
            if let Err(e) = GlueType::parse(&c.type_) {
                v.push(Violation::new("template-layers", format!("{at}.type"), e));
            }
            if c.description.trim().is_empty() {
                v.push(Violation::new(
                    "template-layers",
                    format!("{at}.description"),
                    format!(
                        "say what {} means in every record of layer {}",
                        c.name, l.name
                    ),
                ));
            }
        }
        if l.grantable.not() && l.visibility == crate::api::Visibility::Public {
            v.push(Violation::new(
                "template-layers",
                format!("spec.storage.layers[{i}].grantable"),
                format!(
                    "layer {} is public but never grantable; make it private or grantable",
                    l.name
                ),
            ));
        }
    }
    if t.storage.force_delete_data && t.storage.deletion_policy != DeletionPolicy::Delete {
        v.push(Violation::new("template-storage", "spec.storage.forceDeleteData", "forceDeleteData only applies with deletionPolicy: Delete; remove it or change the policy"));
    }
    if t.storage
        .kms_key_id
        .as_deref()
        .is_some_and(|k| k.trim().is_empty())
    {
        v.push(Violation::new(
            "template-storage",
            "spec.storage.kmsKeyId",
            "give a key id, ARN or alias/..., or remove the field for SSE-S3",
        ));
    }

    for (term, g) in &t.governance.glossary {
        if let Err(e) = GlueType::parse(&g.type_) {
            v.push(Violation::new(
                "glossary-type",
                format!("spec.governance.glossary.{term}.type"),
                e,
            ));
        }
    }

    for (i, extra) in t.extra_resources.iter().enumerate() {
        let at = format!("spec.extraResources[{i}]");
        let field = |p: &str| extra.pointer(p).and_then(|x| x.as_str()).unwrap_or("");
        for (p, what) in [
            ("/apiVersion", "apiVersion"),
            ("/kind", "kind"),
            ("/metadata/name", "metadata.name"),
        ] {
            if field(p).is_empty() {
                v.push(Violation::new(
                    "template-extra-resource",
                    format!("{at}.{what}"),
                    format!("an extra resource needs {what}"),
                ));
            }
        }
        let mut bad = Vec::new();
        collect_placeholders(extra, &mut bad);
        for p in bad {
            v.push(Violation::new(
                "template-extra-resource",
                at.clone(),
                format!(
                    "unknown placeholder {{{p}}}; allowed: {}",
                    braces(RESOURCE_PLACEHOLDERS)
                ),
            ));
        }
    }
    v.sort();
    v.dedup();
    v
}

fn braces(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{{{n}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn collect_placeholders(value: &serde_json::Value, bad: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => {
            for p in used(s) {
                if !RESOURCE_PLACEHOLDERS.contains(&p) {
                    bad.push(p.to_string());
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_placeholders(i, bad)),
        serde_json::Value::Object(map) => map.values().for_each(|i| collect_placeholders(i, bad)),
        _ => {}
    }
}
