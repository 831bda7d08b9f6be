//! Checks that need the cluster's view but no I/O of their own (pure): is the product allowed in
//! its namespace, and does its domain match the namespace's domain.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::api::labels;

/// Whether labels satisfy a LabelSelector (matchLabels and matchExpressions).
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_ok = selector
        .match_labels
        .as_ref()
        .is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let exprs_ok = selector.match_expressions.as_ref().is_none_or(|exprs| {
        exprs.iter().all(|e| {
            let value = labels.get(&e.key);
            let values = e.values.as_deref().unwrap_or_default();
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
    });
    labels_ok && exprs_ok
}

/// Why a product may not be provisioned in its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

/// The template's `allowedNamespaces` and the namespace's domain binding.
pub fn admit(
    namespace: &str,
    namespace_labels: &BTreeMap<String, String>,
    allowed: Option<&LabelSelector>,
    template: &str,
    domain: &str,
) -> Result<(), Refusal> {
    if let Some(selector) = allowed {
        if !selector_matches(selector, namespace_labels) {
            return Err(Refusal {
                reason: "NamespaceNotAllowed",
                message: format!(
                    "template {template} does not allow products in namespace {namespace} (its allowedNamespaces selector does not match the namespace's labels); ask the platform team to label the namespace or use another template"
                ),
            });
        }
    }
    if let Some(bound) = namespace_labels.get(labels::DOMAIN) {
        if bound != domain {
            return Err(Refusal {
                reason: "DomainMismatch",
                message: format!(
                    "namespace {namespace} belongs to domain {bound} (label {}), but spec.domain is {domain}; products may only claim their namespace's domain",
                    labels::DOMAIN
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selectors_match_labels_and_expressions() {
        let s = LabelSelector {
            match_labels: Some(labels(&[("a", "1")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["gold".into()]),
            }]),
        };
        assert!(selector_matches(
            &s,
            &labels(&[("a", "1"), ("tier", "gold")])
        ));
        assert!(!selector_matches(&s, &labels(&[("a", "1")])));
        assert!(selector_matches(&LabelSelector::default(), &labels(&[])));
    }

    #[test]
    fn admission_refuses_disallowed_namespaces_and_foreign_domains() {
        let allowed = LabelSelector {
            match_labels: Some(labels(&[("dataproducts.io/domain-namespace", "true")])),
            ..LabelSelector::default()
        };
        let ok = labels(&[
            ("dataproducts.io/domain-namespace", "true"),
            (crate::api::labels::DOMAIN, "messaging"),
        ]);
        assert!(admit("messaging", &ok, Some(&allowed), "standard", "messaging").is_ok());
        assert_eq!(
            admit("messaging", &ok, Some(&allowed), "standard", "orders")
                .unwrap_err()
                .reason,
            "DomainMismatch"
        );
        assert_eq!(
            admit("x", &labels(&[]), Some(&allowed), "standard", "x")
                .unwrap_err()
                .reason,
            "NamespaceNotAllowed"
        );
        assert!(admit("x", &labels(&[]), None, "standard", "x").is_ok());
    }
}
