//! Breaking-change protection: an output's published contract (columns and types at a version)
//! may only shrink or change under a new version, or after a deprecation's sunset has passed.

use jiff::civil::Date;

use super::glue_type::GlueType;
use super::Violation;
use crate::api::{Output, PublishedColumn, PublishedOutput};

/// Rule id of breaking changes (reported with condition reason `BreakingChange`).
pub const RULE: &str = "breaking-change";

/// The contract of the spec's outputs, as it will be published once applied.
pub fn published(outputs: &[Output]) -> Vec<PublishedOutput> {
    let column = |c: &crate::api::Column| PublishedColumn {
        name: c.name.clone(),
        type_: canonical(&c.type_),
    };
    outputs
        .iter()
        .map(|o| PublishedOutput {
            name: o.name.clone(),
            version: o.version,
            columns: o.schema.iter().map(column).collect(),
            partition_keys: o.partition_keys.iter().map(column).collect(),
            sunset: o.deprecation.as_ref().map(|d| d.sunset.clone()),
        })
        .collect()
}

fn canonical(t: &str) -> String {
    GlueType::parse(t)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.trim().to_lowercase())
}

/// Compares the spec's outputs with what was published before. Adding outputs or columns is
/// always fine; removing or retyping needs a new version or a passed sunset.
pub fn check(outputs: &[Output], before: &[PublishedOutput], today: Date) -> Vec<Violation> {
    let now = published(outputs);
    let mut v = Vec::new();
    for old in before {
        let sunset_passed = |o: &PublishedOutput| {
            o.sunset
                .as_deref()
                .and_then(|s| s.parse::<Date>().ok())
                .is_some_and(|s| s < today)
        };
        if sunset_passed(old) {
            continue;
        }
        let Some((i, new)) = now.iter().enumerate().find(|(_, n)| n.name == old.name) else {
            v.push(Violation::new(
                RULE,
                "spec.outputs",
                format!(
                    "output {} (version {}) was removed; consumers depend on it. Keep it with a deprecation and remove it after the sunset",
                    old.name, old.version
                ),
            ));
            continue;
        };
        if new.version > old.version {
            continue; // a new version is a new contract
        }
        if new.version < old.version {
            v.push(Violation::new(
                RULE,
                format!("spec.outputs[{i}].version"),
                format!(
                    "version went back from {} to {}; versions only grow",
                    old.version, new.version
                ),
            ));
            continue;
        }
        for (kind, olds, news) in [
            ("schema", &old.columns, &new.columns),
            ("partitionKeys", &old.partition_keys, &new.partition_keys),
        ] {
            for c in olds {
                match news.iter().find(|n| n.name == c.name) {
                    None => v.push(Violation::new(
                        RULE,
                        format!("spec.outputs[{i}].{kind}"),
                        format!(
                            "column {} was removed from {} version {}; bump version to {} for a new contract, or deprecate the output first",
                            c.name, old.name, old.version, old.version + 1
                        ),
                    )),
                    Some(n) if n.type_ != c.type_ => v.push(Violation::new(
                        RULE,
                        format!("spec.outputs[{i}].{kind}"),
                        format!(
                            "column {} of {} version {} changed type from {} to {}; bump version to {} for a new contract",
                            c.name, old.name, old.version, c.type_, n.type_, old.version + 1
                        ),
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Column, Deprecation};

    fn output(version: u32, columns: &[(&str, &str)]) -> Output {
        Output {
            name: "orders".into(),
            layer: "data_products".into(),
            version,
            schema: columns
                .iter()
                .map(|(n, t)| Column {
                    name: n.to_string(),
                    type_: t.to_string(),
                    ..Column::default()
                })
                .collect(),
            ..Output::default()
        }
    }

    fn today() -> Date {
        "2026-11-22".parse().unwrap()
    }

    #[test]
    fn additions_and_new_versions_are_fine() {
        let before = published(&[output(1, &[("a", "int")])]);
        assert!(check(
            &[output(1, &[("a", "INT"), ("b", "string")])],
            &before,
            today()
        )
        .is_empty());
        assert!(check(&[output(2, &[("b", "string")])], &before, today()).is_empty());
    }

    #[test]
    fn removals_and_retypes_at_the_same_version_are_refused() {
        let before = published(&[output(1, &[("a", "int"), ("b", "string")])]);
        let v = check(&[output(1, &[("a", "bigint")])], &before, today());
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v.iter().all(|v| v.rule == RULE));
        assert!(
            v[0].message.contains("changed type from int to bigint"),
            "{v:?}"
        );
        assert!(v[1].message.contains("column b was removed"), "{v:?}");
        let v = check(&[], &before, today());
        assert!(v[0]
            .message
            .contains("output orders (version 1) was removed"));
        let v = check(
            &[output(0, &[("a", "int"), ("b", "string")])],
            &before,
            today(),
        );
        assert!(v[0].message.contains("versions only grow"));
    }

    #[test]
    fn a_passed_sunset_releases_the_contract() {
        let mut deprecated = output(1, &[("a", "int")]);
        deprecated.deprecation = Some(Deprecation {
            announced: "2026-01-01".into(),
            sunset: "2026-09-30".into(),
            ..Deprecation::default()
        });
        let before = published(&[deprecated.clone()]);
        assert!(check(&[], &before, today()).is_empty());
        deprecated.deprecation.as_mut().unwrap().sunset = "2027-01-01".into();
        let before = published(&[deprecated]);
        assert_eq!(check(&[], &before, today()).len(), 1);
    }
}
