//! The AWS permissions the operator itself needs: every action the AWS step calls, and the IAM
//! policy document that allows exactly those (`dpctl iam-policy` prints it).

use serde_json::{json, Value};

/// Every AWS API action the AWS step calls (IAM action names). A unit test checks this list
/// against the code, both ways.
pub const ACTIONS: &[&str] = &[
    // Buckets (storage.rs). Object deletion only for deletionPolicy Delete + forceDeleteData.
    "s3:CreateBucket",
    "s3:DeleteBucket",
    "s3:GetBucketTagging",
    "s3:PutBucketTagging",
    "s3:GetEncryptionConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:GetBucketVersioning",
    "s3:PutBucketVersioning",
    "s3:GetBucketPublicAccessBlock",
    "s3:PutBucketPublicAccessBlock",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "s3:GetLifecycleConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:ListBucketVersions",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    // Catalogue (catalog.rs) and catalogue resource policy (grants.rs, bucket-policy mode).
    "glue:GetDatabase",
    "glue:CreateDatabase",
    "glue:UpdateDatabase",
    "glue:DeleteDatabase",
    "glue:GetTags",
    "glue:TagResource",
    "glue:GetTables",
    "glue:CreateTable",
    "glue:UpdateTable",
    "glue:DeleteTable",
    "glue:GetResourcePolicy",
    "glue:PutResourcePolicy",
    "glue:DeleteResourcePolicy",
    // The product's role (identity.rs).
    "iam:GetRole",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:TagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:DetachRolePolicy",
    // Grants (grants.rs, lakeformation mode).
    "lakeformation:ListPermissions",
    "lakeformation:GrantPermissions",
    "lakeformation:RevokePermissions",
];

fn actions(service: &str) -> Vec<&'static str> {
    ACTIONS
        .iter()
        .copied()
        .filter(|a| a.split_once(':').map(|(s, _)| s) == Some(service))
        .collect()
}

/// The IAM policy the operator's own identity (IRSA or Pod Identity role) needs. Resources are
/// as narrow as the step allows without knowing the templates: a platform team may narrow the
/// bucket and role ARNs to its naming formats (e.g. `arn:aws:s3:::acme-*`, `role/dp-*`).
pub fn operator_policy() -> Value {
    let s3 = actions("s3");
    let (objects, buckets): (Vec<&str>, Vec<&str>) = s3
        .into_iter()
        .partition(|a| a.starts_with("s3:DeleteObject"));
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DataProductBuckets",
                "Effect": "Allow",
                "Action": buckets,
                "Resource": "arn:aws:s3:::*"
            },
            {
                "Sid": "DataProductObjectsForceDelete",
                "Effect": "Allow",
                "Action": objects,
                "Resource": "arn:aws:s3:::*/*"
            },
            {
                "Sid": "DataProductCatalog",
                "Effect": "Allow",
                "Action": actions("glue"),
                "Resource": [
                    "arn:aws:glue:*:*:catalog",
                    "arn:aws:glue:*:*:database/*",
                    "arn:aws:glue:*:*:table/*/*",
                    "arn:aws:glue:*:*:userDefinedFunction/*/*"
                ]
            },
            {
                "Sid": "DataProductRoles",
                "Effect": "Allow",
                "Action": actions("iam"),
                "Resource": "arn:aws:iam::*:role/*"
            },
            {
                "Sid": "DataProductGrants",
                "Effect": "Allow",
                "Action": actions("lakeformation"),
                "Resource": "*"
            }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Actions named where calls are made: the first argument of `calls.read(…)` /
    /// `calls.mutate(…)`, or `let action = "…"` (policy documents for others are not calls).
    fn called_actions() -> BTreeSet<String> {
        let sources = [
            include_str!("storage.rs"),
            include_str!("catalog.rs"),
            include_str!("identity.rs"),
            include_str!("grants.rs"),
            include_str!("mod.rs"),
        ];
        let mut found = BTreeSet::new();
        for src in sources {
            for marker in [".read(", ".mutate(", "let action = "] {
                for (at, _) in src.match_indices(marker) {
                    let rest = src[at + marker.len()..].trim_start();
                    let Some(literal) = rest.strip_prefix('"') else {
                        continue;
                    };
                    if let Some(end) = literal.find('"') {
                        found.insert(literal[..end].to_string());
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_called_action_is_listed_and_every_listed_action_is_called() {
        let called = called_actions();
        let listed: BTreeSet<String> = ACTIONS.iter().map(|a| a.to_string()).collect();
        let missing: Vec<&String> = called.difference(&listed).collect();
        assert!(missing.is_empty(), "called but not in ACTIONS: {missing:?}");
        // DeleteObjects needs s3:DeleteObject besides s3:DeleteObjectVersion.
        let unused: Vec<&String> = listed
            .difference(&called)
            .filter(|a| *a != "s3:DeleteObject")
            .collect();
        assert!(unused.is_empty(), "in ACTIONS but never called: {unused:?}");
    }

    #[test]
    fn docs_show_the_current_operator_policy() {
        let docs = include_str!("../../docs/aws.md");
        let policy = serde_json::to_string_pretty(&operator_policy()).unwrap();
        assert!(
            docs.contains(&policy),
            "docs/aws.md must show the operator policy; paste:\n{policy}"
        );
    }

    #[test]
    fn the_operator_policy_allows_every_action_once() {
        let policy = operator_policy();
        let mut seen = Vec::new();
        for s in policy["Statement"].as_array().unwrap() {
            for a in s["Action"].as_array().unwrap() {
                seen.push(a.as_str().unwrap().to_string());
            }
        }
        seen.sort();
        let mut want: Vec<String> = ACTIONS.iter().map(|a| a.to_string()).collect();
        want.sort();
        assert_eq!(seen, want);
    }
}
