//! The AWS permissions the operator itself needs: every action the AWS step calls, and the IAM
//! policy document that allows exactly those (`dpctl iam-policy` prints it). The policy cannot
//! escalate: roles only under the templates' path and only with their permissions boundary,
//! buckets and databases only under the templates' name prefixes.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::api::DataProductTemplateSpec;

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
    // Observed freshness (freshness.rs): the newest object, listed, never read.
    "s3:ListBucket",
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
    // Observed freshness (freshness.rs): the newest partition's creation time.
    "glue:GetPartition",
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
    "iam:PutRolePermissionsBoundary",
    // Grants (grants.rs, lakeformation mode).
    "lakeformation:ListPermissions",
    "lakeformation:GrantPermissions",
    "lakeformation:RevokePermissions",
];

/// Actions allowed only with the `iam:PermissionsBoundary` condition: those that set a role's
/// boundary, and those that change a role's permissions (IAM evaluates the key against the
/// role's current boundary), so a role under the path without the boundary stays out of reach.
const BOUNDARY_ACTIONS: &[&str] = &[
    "iam:CreateRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
];

/// Actions the policy denies outright, whatever else the operator's role holds: removing a
/// boundary would undo the limit on every role the operator made.
pub const DENIED: &[&str] = &["iam:DeleteRolePermissionsBoundary"];

fn actions(service: &str) -> Vec<&'static str> {
    ACTIONS
        .iter()
        .copied()
        .filter(|a| a.split_once(':').map(|(s, _)| s) == Some(service))
        .collect()
}

/// What one template lets the operator touch: the values the policy's resources and conditions
/// are filled in from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scope {
    pub partition: String,
    pub account_id: String,
    pub region: String,
    /// IAM path of the product roles (`/dataproducts/`).
    pub role_path: String,
    /// Permissions boundary ARN every product role carries.
    pub permissions_boundary: String,
    /// Literal start of every bucket name (`acme-`); empty: any bucket.
    pub bucket_prefix: String,
    /// Literal start of every Glue database name (empty: any database).
    pub database_prefix: String,
}

impl Scope {
    /// The policy with placeholders: `dpctl iam-policy` without templates.
    pub fn placeholders() -> Scope {
        Scope {
            partition: "aws".into(),
            account_id: "ACCOUNT_ID".into(),
            region: "REGION".into(),
            role_path: "/dataproducts/".into(),
            permissions_boundary: "arn:aws:iam::ACCOUNT_ID:policy/BOUNDARY_POLICY".into(),
            bucket_prefix: "BUCKET_PREFIX".into(),
            database_prefix: "DATABASE_PREFIX".into(),
        }
    }

    /// The scope of a template; an error when it names no permissions boundary (the policy
    /// allows CreateRole only with one).
    pub fn from_template(name: &str, t: &DataProductTemplateSpec) -> Result<Scope, String> {
        let Some(boundary) = t.pipelines.permissions_boundary.clone() else {
            return Err(format!(
                "template {name} sets no spec.pipelines.permissionsBoundary; the operator's \
                 policy allows creating roles only with a permissions boundary"
            ));
        };
        Ok(Scope {
            partition: t.aws.partition.clone(),
            account_id: t.aws.account_id.clone(),
            region: t.storage.region.clone(),
            role_path: t.pipelines.role_path.clone(),
            permissions_boundary: boundary,
            bucket_prefix: literal_prefix(&t.storage.bucket_name, &t.organization, '-'),
            database_prefix: literal_prefix(&t.catalog.database_name, &t.organization, '_'),
        })
    }
}

/// The start of every name a format yields: `{organization}` filled in, cut at the first other
/// placeholder, then sanitised as names are (lower case, runs of other characters one `sep`),
/// without a trailing partial separator run beyond one.
fn literal_prefix(format: &str, organization: &str, sep: char) -> String {
    let filled = format.replace("{organization}", organization);
    let literal = filled.split('{').next().unwrap_or_default();
    let mut out = String::new();
    let mut pending = false;
    for c in literal.chars() {
        if c.is_ascii_alphanumeric() {
            if pending && !out.is_empty() {
                out.push(sep);
            }
            pending = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending = true;
        }
    }
    if pending && !out.is_empty() {
        out.push(sep);
    }
    out
}

fn set<F: Fn(&Scope) -> Vec<String>>(scopes: &[Scope], f: F) -> Vec<String> {
    scopes
        .iter()
        .flat_map(f)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The IAM policy the operator's own identity (IRSA or Pod Identity role) needs, for the given
/// templates' scopes: IAM only on roles under their path and CreateRole only with their boundary,
/// S3 and Glue only on their name prefixes; Lake Formation has no resource-level permissions.
pub fn operator_policy(scopes: &[Scope]) -> Value {
    let s3 = actions("s3");
    let (objects, buckets): (Vec<&str>, Vec<&str>) = s3
        .into_iter()
        .partition(|a| a.starts_with("s3:DeleteObject"));
    let (boundary_actions, role_actions): (Vec<&str>, Vec<&str>) = actions("iam")
        .into_iter()
        .partition(|a| BOUNDARY_ACTIONS.contains(a));
    let bucket_arns = set(scopes, |s| {
        vec![format!("arn:{}:s3:::{}*", s.partition, s.bucket_prefix)]
    });
    let object_arns = set(scopes, |s| {
        vec![format!("arn:{}:s3:::{}*/*", s.partition, s.bucket_prefix)]
    });
    let glue_arns = set(scopes, |s| {
        let base = format!("arn:{}:glue:{}:{}", s.partition, s.region, s.account_id);
        let db = &s.database_prefix;
        vec![
            format!("{base}:catalog"),
            format!("{base}:database/{db}*"),
            format!("{base}:table/{db}*/*"),
        ]
    });
    let role_arns = set(scopes, |s| {
        vec![format!(
            "arn:{}:iam::{}:role{}*",
            s.partition, s.account_id, s.role_path
        )]
    });
    let boundaries = set(scopes, |s| vec![s.permissions_boundary.clone()]);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DataProductBuckets",
                "Effect": "Allow",
                "Action": buckets,
                "Resource": bucket_arns
            },
            {
                "Sid": "DataProductObjectsForceDelete",
                "Effect": "Allow",
                "Action": objects,
                "Resource": object_arns
            },
            {
                "Sid": "DataProductCatalog",
                "Effect": "Allow",
                "Action": actions("glue"),
                "Resource": glue_arns
            },
            {
                "Sid": "DataProductRolesWithBoundary",
                "Effect": "Allow",
                "Action": boundary_actions,
                "Resource": role_arns,
                "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundaries}}
            },
            {
                "Sid": "DataProductRoles",
                "Effect": "Allow",
                "Action": role_actions,
                "Resource": role_arns
            },
            {
                "Sid": "NeverRemoveBoundaries",
                "Effect": "Deny",
                "Action": DENIED,
                "Resource": "*"
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

    /// Actions named where calls are made: the first argument of `calls.read(…)` /
    /// `calls.mutate(…)`, or `let action = "…"` (policy documents for others are not calls).
    fn called_actions() -> BTreeSet<String> {
        let sources = [
            include_str!("storage.rs"),
            include_str!("catalog.rs"),
            include_str!("identity.rs"),
            include_str!("grants.rs"),
            include_str!("mod.rs"),
            include_str!("freshness.rs"),
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
        let policy =
            serde_json::to_string_pretty(&operator_policy(&[Scope::placeholders()])).unwrap();
        assert!(
            docs.contains(&policy),
            "docs/aws.md must show the operator policy; paste:\n{policy}"
        );
    }

    #[test]
    fn the_operator_policy_allows_every_action_once() {
        let policy = operator_policy(&[Scope::placeholders()]);
        let mut seen = Vec::new();
        for s in policy["Statement"].as_array().unwrap() {
            if s["Effect"] == "Deny" {
                continue;
            }
            for a in s["Action"].as_array().unwrap() {
                seen.push(a.as_str().unwrap().to_string());
            }
        }
        seen.sort();
        let mut want: Vec<String> = ACTIONS.iter().map(|a| a.to_string()).collect();
        want.sort();
        assert_eq!(seen, want);
    }

    fn template_scopes(dir: &str) -> Vec<Scope> {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let (loaded, errors) = crate::api::load::load_paths(
            &[root.join(dir)],
            &crate::api::load::LoadOptions::default(),
        );
        assert!(errors.is_empty(), "{errors:?}");
        loaded
            .into_iter()
            .filter_map(|l| match l.document {
                crate::api::load::Document::Template(t) => {
                    let name = t.metadata.name.clone().unwrap_or_default();
                    Some(Scope::from_template(&name, &t.spec).unwrap())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_chart_ships_the_policy_of_its_templates() {
        let shipped =
            include_str!("../../charts/dataproduct-operator/files/operator-iam-policy.json");
        let policy = operator_policy(&template_scopes(
            "charts/dataproduct-operator/files/templates",
        ));
        let want = serde_json::to_string_pretty(&policy).unwrap() + "\n";
        assert_eq!(
            shipped, want,
            "regenerate: dpctl iam-policy -t charts/dataproduct-operator/files/templates/ > \
             charts/dataproduct-operator/files/operator-iam-policy.json"
        );
    }

    #[test]
    fn the_policy_of_the_templates_cannot_escalate() {
        let policy = operator_policy(&template_scopes("templates"));
        for s in policy["Statement"].as_array().unwrap() {
            let actions: Vec<&str> = s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let resources: Vec<String> = match &s["Resource"] {
                Value::String(r) => vec![r.clone()],
                r => r
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect(),
            };
            if s["Effect"] == "Deny" {
                assert_eq!(actions, DENIED);
                continue;
            }
            for a in &actions {
                assert!(!a.contains('*'), "wildcard action {a}");
                if a.starts_with("iam:") {
                    assert_eq!(
                        resources,
                        ["arn:aws:iam::123456789012:role/dataproducts/*"],
                        "{a}"
                    );
                }
                if BOUNDARY_ACTIONS.contains(a) {
                    assert_eq!(
                        s["Condition"]["StringEquals"]["iam:PermissionsBoundary"],
                        json!([
                            "arn:aws:iam::123456789012:policy/dataproducts/DataProductBoundary"
                        ]),
                        "{a}"
                    );
                }
                if a.starts_with("s3:") {
                    assert!(
                        resources
                            .iter()
                            .all(|r| r.starts_with("arn:aws:s3:::acme-")),
                        "{a} on {resources:?}"
                    );
                }
                if a.starts_with("glue:") {
                    assert!(
                        resources
                            .iter()
                            .all(|r| r.starts_with("arn:aws:glue:eu-west-1:123456789012:")),
                        "{a} on {resources:?}"
                    );
                }
            }
        }
        for never in [
            "iam:AttachRolePolicy",
            "iam:PassRole",
            "iam:CreatePolicyVersion",
        ] {
            assert!(!ACTIONS.contains(&never), "{never}");
        }
    }

    #[test]
    fn a_template_without_a_boundary_has_no_policy_and_prefixes_are_literal() {
        let mut t: crate::api::DataProductTemplateSpec = serde_json::from_value(
            json!({"organization": "Acme Corp", "storage": {"region": "eu-west-1", "layers": []}}),
        )
        .unwrap();
        assert!(Scope::from_template("t", &t).is_err());
        t.pipelines.permissions_boundary = Some("arn:aws:iam::123456789012:policy/b".into());
        t.catalog.database_name = "dp_{organization}_{domain}_{product}".into();
        let scope = Scope::from_template("t", &t).unwrap();
        assert_eq!(scope.bucket_prefix, "acme-corp-");
        assert_eq!(scope.database_prefix, "dp_acme_corp_");
        assert_eq!(scope.role_path, "/dataproducts/");
    }
}
