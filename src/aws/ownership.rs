//! Ownership is recorded on every resource and never assumed: tags on buckets, databases and
//! roles; parameters on Glue databases and tables (Glue tables cannot be tagged).

use std::collections::BTreeMap;

use serde_json::Value;

use super::Owner;

pub use crate::api::constants::tags::{PRODUCT as PRODUCT_TAG, UID as UID_TAG};
/// Glue database parameter naming the owning product (set by the planner).
pub const DATABASE_PRODUCT_PARAM: &str = "product";

/// What a resource found in AWS is to this product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Carries this product's name and uid.
    Ours,
    /// Carries this product's name with another (or no) uid: a product re-created with the same
    /// `<namespace>/<name>` adopts what its predecessor retained.
    Adoptable,
    /// Someone else's (or nobody's): never touched. The text says why.
    Foreign(String),
}

impl Ownership {
    pub fn of(product: Option<&str>, uid: Option<&str>, owner: &Owner) -> Ownership {
        match product {
            None => Ownership::Foreign("it carries no dataproducts.io/product ownership".into()),
            Some(p) if p != owner.product => Ownership::Foreign(format!("it belongs to {p}")),
            Some(_) if uid == Some(owner.uid.as_str()) => Ownership::Ours,
            Some(_) => Ownership::Adoptable,
        }
    }

    pub fn from_tags(tags: &BTreeMap<String, String>, owner: &Owner) -> Ownership {
        Ownership::of(
            tags.get(PRODUCT_TAG).map(String::as_str),
            tags.get(UID_TAG).map(String::as_str),
            owner,
        )
    }

    /// Ensure works on what is ours or adoptable.
    pub fn manageable(&self) -> bool {
        !matches!(self, Ownership::Foreign(_))
    }
}

/// What observing one resource found.
#[derive(Debug, Clone)]
pub enum Observed<T> {
    Absent,
    Foreign(String),
    Present { ownership: Ownership, state: T },
}

/// The plan's tags plus the uid tag.
pub fn owned_tags(planned: &BTreeMap<String, String>, owner: &Owner) -> BTreeMap<String, String> {
    let mut tags = planned.clone();
    tags.insert(PRODUCT_TAG.to_string(), owner.product.clone());
    tags.insert(UID_TAG.to_string(), owner.uid.clone());
    tags
}

/// Desired tags that are missing or different in `observed` (tags set by others are kept).
pub fn tags_to_set(
    desired: &BTreeMap<String, String>,
    observed: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    desired
        .iter()
        .filter(|(k, v)| observed.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A policy document in a canonical form, so that documents AWS hands back with single-element
/// lists unwrapped, lists reordered or statements reordered compare equal to what was planned.
pub fn normalize_policy(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalize_policy(v)))
                .collect(),
        ),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalize_policy).collect();
            items.sort_by_key(|v| v.to_string());
            items.dedup();
            if items.len() == 1 {
                items.pop().unwrap_or(Value::Null)
            } else {
                Value::Array(items)
            }
        }
        other => other.clone(),
    }
}

pub fn same_policy(a: &Value, b: &Value) -> bool {
    normalize_policy(a) == normalize_policy(b)
}

/// Parses a policy document as AWS returns it: IAM hands documents back URL-encoded.
pub fn parse_policy(text: &str) -> Option<Value> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&percent_decode(text)).ok())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A short, stable, alphanumeric digest (policy statement ids accept only `[A-Za-z0-9]`).
pub fn short_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner() -> Owner {
        Owner {
            product: "a/b".into(),
            uid: "u1".into(),
        }
    }

    #[test]
    fn ownership_is_decided_by_product_and_uid() {
        let o = owner();
        assert_eq!(Ownership::of(Some("a/b"), Some("u1"), &o), Ownership::Ours);
        assert_eq!(
            Ownership::of(Some("a/b"), Some("u0"), &o),
            Ownership::Adoptable
        );
        assert_eq!(Ownership::of(Some("a/b"), None, &o), Ownership::Adoptable);
        assert!(matches!(
            Ownership::of(Some("a/c"), Some("u1"), &o),
            Ownership::Foreign(_)
        ));
        assert!(matches!(
            Ownership::of(None, None, &o),
            Ownership::Foreign(_)
        ));
    }

    #[test]
    fn policies_compare_in_canonical_form() {
        let planned = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "A", "Action": ["s3:GetObject"], "Resource": ["r2", "r1"]},
            {"Sid": "B", "Action": "s3:*", "Resource": "x"}]});
        let returned = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "B", "Action": ["s3:*"], "Resource": "x"},
            {"Sid": "A", "Action": "s3:GetObject", "Resource": ["r1", "r2"]}]});
        assert!(same_policy(&planned, &returned));
        let changed = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "B", "Action": ["s3:*"], "Resource": "x"}]});
        assert!(!same_policy(&planned, &changed));
    }

    #[test]
    fn iam_documents_are_url_decoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            parse_policy(encoded),
            Some(json!({"Version": "2012-10-17", "Statement": []}))
        );
        assert_eq!(parse_policy("{\"a\":1}"), Some(json!({"a": 1})));
    }

    #[test]
    fn tags_to_set_keeps_foreign_tags_and_changes_only_differences() {
        let desired =
            BTreeMap::from([("a".to_string(), "1".to_string()), ("b".into(), "2".into())]);
        let observed =
            BTreeMap::from([("a".to_string(), "1".to_string()), ("c".into(), "3".into())]);
        assert_eq!(
            tags_to_set(&desired, &observed),
            BTreeMap::from([("b".to_string(), "2".to_string())])
        );
    }
}
