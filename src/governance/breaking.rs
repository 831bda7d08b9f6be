//! Breaking-change protection: an output's published contract (columns and types at a version)
//! may only shrink or change under a new version, or after a deprecation's sunset has passed.

use jiff::civil::Date;

use super::Violation;
use crate::api::{Output, PublishedColumn, PublishedOutput};
use crate::model::glue_type::GlueType;

/// Rule id of breaking changes (reported with condition reason `BreakingChange`).
pub const RULE: &str = "breaking-change";

/// The contract of the spec's outputs, as it will be published once applied. A deprecation
/// keeps the day it was first published (`before`), or gets `today`.
pub fn published(
    outputs: &[Output],
    before: &[PublishedOutput],
    today: Date,
) -> Vec<PublishedOutput> {
    let column = |c: &crate::api::Column| PublishedColumn {
        name: c.name.clone(),
        type_: canonical(&c.type_),
    };
    outputs
        .iter()
        .map(|o| {
            let since = o.deprecation.as_ref().map(|_| {
                before
                    .iter()
                    .find(|b| b.name == o.name)
                    .and_then(|b| b.deprecated_since.clone())
                    .unwrap_or_else(|| today.to_string())
            });
            PublishedOutput {
                name: o.name.clone(),
                version: o.version,
                columns: o.schema.iter().map(column).collect(),
                partition_keys: o.partition_keys.iter().map(column).collect(),
                sunset: o.deprecation.as_ref().map(|d| d.sunset.clone()),
                deprecated_since: since,
                // What the freshness observation last saw stays until it observes again.
                ..before
                    .iter()
                    .find(|b| b.name == o.name)
                    .map(|b| PublishedOutput {
                        last_updated: b.last_updated.clone(),
                        source: b.source.clone(),
                        freshness: b.freshness,
                        ..PublishedOutput::default()
                    })
                    .unwrap_or_default()
            }
        })
        .collect()
}

/// Whether a published output's contract is released: its sunset has passed, and consumers got
/// the full notice (the template's period and the quarter rule) counted from the day the
/// deprecation was first published.
fn released(o: &PublishedOutput, today: Date, notice_days: u32) -> bool {
    let parse = |s: Option<&str>| s.and_then(|s| s.parse::<Date>().ok());
    match (
        parse(o.sunset.as_deref()),
        parse(o.deprecated_since.as_deref()),
    ) {
        (Some(sunset), Some(since)) => {
            sunset < today && sunset >= super::deprecation::earliest_sunset(since, notice_days)
        }
        _ => false,
    }
}

fn canonical(t: &str) -> String {
    GlueType::parse(t)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.trim().to_lowercase())
}

/// Compares the spec's outputs with what was published before. Adding outputs or columns is
/// always fine; removing or retyping needs a new version or a passed sunset.
pub fn check(
    outputs: &[Output],
    before: &[PublishedOutput],
    today: Date,
    notice_days: u32,
) -> Vec<Violation> {
    let now = published(outputs, before, today);
    let mut v = Vec::new();
    for old in before {
        if released(old, today, notice_days) {
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
        let before = published(&[output(1, &[("a", "int")])], &[], today());
        let wider = [output(1, &[("a", "INT"), ("b", "string")])];
        assert!(check(&wider, &before, today(), 90).is_empty());
        assert!(check(&[output(2, &[("b", "string")])], &before, today(), 90).is_empty());
    }

    #[test]
    fn removals_and_retypes_at_the_same_version_are_refused() {
        let before = published(&[output(1, &[("a", "int"), ("b", "string")])], &[], today());
        let v = check(&[output(1, &[("a", "bigint")])], &before, today(), 90);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v.iter().all(|v| v.rule == RULE));
        assert!(
            v[0].message.contains("changed type from int to bigint"),
            "{v:?}"
        );
        assert!(v[1].message.contains("column b was removed"), "{v:?}");
        let v = check(&[], &before, today(), 90);
        assert!(v[0]
            .message
            .contains("output orders (version 1) was removed"));
        let v = check(
            &[output(0, &[("a", "int"), ("b", "string")])],
            &before,
            today(),
            90,
        );
        assert!(v[0].message.contains("versions only grow"));
    }

    fn deprecated(announced: &str, sunset: &str) -> Output {
        let mut o = output(1, &[("a", "int")]);
        o.deprecation = Some(Deprecation {
            announced: announced.into(),
            sunset: sunset.into(),
            ..Deprecation::default()
        });
        o
    }

    #[test]
    fn a_passed_sunset_after_full_notice_releases_the_contract() {
        // Published on 2026-01-02; sunset 2026-09-30 is past both the 90 days and the quarter.
        let before = published(
            &[deprecated("2026-01-01", "2026-09-30")],
            &[],
            "2026-01-02".parse().unwrap(),
        );
        assert_eq!(before[0].deprecated_since.as_deref(), Some("2026-01-02"));
        assert!(check(&[], &before, today(), 90).is_empty());
        // A sunset still ahead keeps the contract.
        let before = published(
            &[deprecated("2026-01-01", "2027-01-01")],
            &[],
            "2026-01-02".parse().unwrap(),
        );
        assert_eq!(check(&[], &before, today(), 90).len(), 1);
    }

    #[test]
    fn a_backdated_announcement_does_not_shorten_the_notice() {
        // Announced "2020-01-01" but first published today: the sunset is long past on paper,
        // yet consumers learn of it only now, so the contract still holds.
        let before = published(&[deprecated("2020-01-01", "2020-06-30")], &[], today());
        assert_eq!(check(&[], &before, today(), 90).len(), 1);
        // The first-published day survives later reconciles.
        let again = published(
            &[deprecated("2020-01-01", "2020-06-30")],
            &before,
            "2027-01-01".parse().unwrap(),
        );
        assert_eq!(again[0].deprecated_since, before[0].deprecated_since);
    }
}
