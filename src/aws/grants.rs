//! Read grants for approved consumers.
//!
//! - `lakeformation` mode: Lake Formation SELECT and DESCRIBE on the granted tables and
//!   DATA_LOCATION_ACCESS on their data location (`s3://bucket/output`). Lake Formation
//!   permissions carry no tags, so what was granted is recorded in the database parameter
//!   [`GRANTS_PARAM`]: only what is recorded there is ever revoked, never a grant made by
//!   someone else.
//! - `bucket-policy` mode: Allow statements in the bucket policy (Sid prefix
//!   [`BUCKET_SID_PREFIX`], written with the rest of the bucket policy by the storage step) and
//!   statements in the account's Glue catalogue resource policy (Sid prefix derived from the
//!   product, so other products' and people's statements are kept).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_lakeformation::types::{
    DataLakePrincipal, DataLocationResource, Permission, Resource, TableResource,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::call::{step_error, CallError, Calls, Fault};
use super::catalog::GRANTS_PARAM;
use super::ownership::{normalize_policy, parse_policy, short_hash};
use super::Owner;
use crate::api::GrantMode;
use crate::plan::aws::{AccessGrantSpec, PlanDoc};

step_error!(
    /// Why the grants step failed.
    GrantError
);

/// Sid prefix of the bucket-policy statements of grants.
pub const BUCKET_SID_PREFIX: &str = "DpoGrant";

/// Lake Formation permission on a data location.
const DATA_LOCATION_ACCESS: &str = "DATA_LOCATION_ACCESS";

/// A planned grant that can be applied now.
#[derive(Debug, Clone)]
pub struct ActiveGrant {
    pub name: String,
    pub principal: String,
    pub spec: AccessGrantSpec,
}

/// Splits the planned grants into those to apply and notes on the others: a grantee product
/// that does not exist yet has no principal. (Expired grants never get here: the evaluation
/// leaves them out of the plan, so they are revoked like any grant no longer planned.)
pub fn active(grants: &[&PlanDoc<AccessGrantSpec>]) -> (Vec<ActiveGrant>, Vec<String>) {
    let mut active = Vec::new();
    let mut notes = Vec::new();
    for g in grants {
        let name = &g.metadata.name;
        match &g.spec.grantee.principal {
            None => notes.push(format!(
                "grant {name} waits for {} to exist",
                g.spec.grantee.product.as_deref().unwrap_or("its grantee")
            )),
            Some(principal) => active.push(ActiveGrant {
                name: name.clone(),
                principal: principal.clone(),
                spec: g.spec.clone(),
            }),
        }
    }
    (active, notes)
}

/// `arn:aws:s3:::bucket/output/*` → (`bucket`, Some(`output/*`)); a bucket ARN → (`bucket`, None).
fn split_s3_arn(arn: &str) -> Option<(&str, Option<&str>)> {
    let rest = arn.split_once(":s3:::")?.1;
    Some(match rest.split_once('/') {
        Some((bucket, key)) => (bucket, Some(key)),
        None => (rest, None),
    })
}

/// Bucket-policy statements of the active `bucket-policy` grants, per bucket.
pub fn bucket_statements(grants: &[ActiveGrant]) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for g in grants
        .iter()
        .filter(|g| g.spec.mode == GrantMode::BucketPolicy)
    {
        let mut per_bucket: BTreeMap<&str, (String, Vec<String>)> = BTreeMap::new();
        for arn in &g.spec.locations {
            let Some((bucket, key)) = split_s3_arn(arn) else {
                continue;
            };
            let bucket_arn = arn.split_once('/').map(|(b, _)| b).unwrap_or(arn);
            let entry = per_bucket
                .entry(bucket)
                .or_insert_with(|| (bucket_arn.to_string(), Vec::new()));
            if key.is_some() {
                entry.1.push(arn.clone());
            }
        }
        for (bucket, (bucket_arn, objects)) in per_bucket {
            let h = short_hash(&format!("{}|{bucket}", g.name));
            let statements = out.entry(bucket.to_string()).or_default();
            let prefixes: Vec<String> = objects
                .iter()
                .filter_map(|o| split_s3_arn(o).and_then(|(_, k)| k))
                .flat_map(|k| {
                    let dir = k.trim_end_matches('*').to_string();
                    [dir.clone(), format!("{dir}*")]
                })
                .collect();
            let mut list = json!({
                "Sid": format!("{BUCKET_SID_PREFIX}List{h}"),
                "Effect": "Allow",
                "Principal": {"AWS": g.principal},
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": bucket_arn,
            });
            if !prefixes.is_empty() {
                list["Condition"] = json!({"StringLike": {"s3:prefix": prefixes}});
            }
            statements.push(list);
            if !objects.is_empty() {
                statements.push(json!({
                    "Sid": format!("{BUCKET_SID_PREFIX}Read{h}"),
                    "Effect": "Allow",
                    "Principal": {"AWS": g.principal},
                    "Action": ["s3:GetObject"],
                    "Resource": objects,
                }));
            }
        }
    }
    out
}

/// What this product granted, recorded in its database's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    /// (principal, resource key) pairs granted in Lake Formation.
    #[serde(default)]
    pub lakeformation: BTreeSet<(String, String)>,
    /// Whether the catalogue resource policy holds statements of this product.
    #[serde(default)]
    pub catalog_policy: bool,
}

impl Ledger {
    pub fn read(parameters: &BTreeMap<String, String>) -> Ledger {
        parameters
            .get(GRANTS_PARAM)
            .and_then(|v| serde_json::from_str(v).ok())
            .unwrap_or_default()
    }

    /// The parameter value; None (remove the parameter) when nothing is recorded.
    pub fn value(&self) -> Option<String> {
        (self != &Ledger::default()).then(|| serde_json::to_string(self).unwrap_or_default())
    }
}

/// A Lake Formation resource of this product, keyed as in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LfResource {
    Table { database: String, name: String },
    Location(String),
}

impl LfResource {
    fn key(&self) -> String {
        match self {
            LfResource::Table { name, .. } => format!("table:{name}"),
            LfResource::Location(arn) => format!("location:{arn}"),
        }
    }

    fn from_key(database: &str, key: &str) -> Option<LfResource> {
        if let Some(name) = key.strip_prefix("table:") {
            return Some(LfResource::Table {
                database: database.to_string(),
                name: name.to_string(),
            });
        }
        key.strip_prefix("location:")
            .map(|arn| LfResource::Location(arn.to_string()))
    }

    fn to_sdk(&self) -> Result<Resource, CallError> {
        let action = "lakeformation:GrantPermissions";
        Ok(match self {
            LfResource::Table { database, name } => Resource::builder()
                .table(
                    TableResource::builder()
                        .database_name(database)
                        .name(name)
                        .build()
                        .map_err(|e| CallError::build(action, name, e))?,
                )
                .build(),
            LfResource::Location(arn) => Resource::builder()
                .data_location(
                    DataLocationResource::builder()
                        .resource_arn(arn)
                        .build()
                        .map_err(|e| CallError::build(action, arn, e))?,
                )
                .build(),
        })
    }

    /// What this step ever grants on such a resource (and so may revoke).
    fn grantable(&self) -> &'static [&'static str] {
        match self {
            LfResource::Table { .. } => &["SELECT", "DESCRIBE"],
            LfResource::Location(_) => &[DATA_LOCATION_ACCESS],
        }
    }

    fn describe(&self) -> String {
        match self {
            LfResource::Table { database, name } => format!("table {database}.{name}"),
            LfResource::Location(arn) => format!("data location {arn}"),
        }
    }
}

/// The Lake Formation permissions the active `lakeformation` grants want:
/// (principal, resource) → permissions.
fn lf_desired(
    grants: &[ActiveGrant],
    database: &str,
) -> BTreeMap<(String, LfResource), BTreeSet<String>> {
    let mut out: BTreeMap<(String, LfResource), BTreeSet<String>> = BTreeMap::new();
    for g in grants
        .iter()
        .filter(|g| g.spec.mode == GrantMode::Lakeformation)
    {
        for table in &g.spec.tables {
            let r = LfResource::Table {
                database: database.to_string(),
                name: table.clone(),
            };
            out.entry((g.principal.clone(), r))
                .or_default()
                .extend(g.spec.permissions.iter().cloned());
        }
        for location in &g.spec.locations {
            // Only output prefixes: a grant on the whole bucket would cover other outputs.
            if let Some((_, Some(_))) = split_s3_arn(location) {
                let arn = location.trim_end_matches("/*").to_string();
                out.entry((g.principal.clone(), LfResource::Location(arn)))
                    .or_default()
                    .insert(DATA_LOCATION_ACCESS.to_string());
            }
        }
    }
    out
}

/// The ledger entries of the given grants.
pub fn lf_ledger_entries(grants: &[ActiveGrant], database: &str) -> BTreeSet<(String, String)> {
    lf_desired(grants, database)
        .into_keys()
        .map(|(p, r)| (p, r.key()))
        .collect()
}

/// Whether any grant wants catalogue resource-policy statements.
pub fn wants_catalog_policy(grants: &[ActiveGrant]) -> bool {
    grants
        .iter()
        .any(|g| g.spec.mode == GrantMode::BucketPolicy)
}

pub struct Grants<'a> {
    pub lf: &'a aws_sdk_lakeformation::Client,
    pub glue: &'a aws_sdk_glue::Client,
    pub calls: &'a Calls,
    pub region: &'a str,
}

impl Grants<'_> {
    /// Who holds which permissions on a resource (every principal: one read per resource).
    async fn observe(
        &self,
        resource: &LfResource,
    ) -> Result<BTreeMap<String, BTreeSet<String>>, GrantError> {
        let mut held: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .calls
                .read(
                    "lakeformation:ListPermissions",
                    &resource.describe(),
                    self.lf
                        .list_permissions()
                        .resource(resource.to_sdk()?)
                        .set_next_token(token.take())
                        .send(),
                )
                .await;
            let out = match out {
                Ok(out) => out,
                // A table that is gone holds no permissions.
                Err(e) if e.is(Fault::NotFound) => return Ok(held),
                Err(e) => return Err(e.into()),
            };
            for p in out.principal_resource_permissions() {
                let Some(who) = p
                    .principal()
                    .and_then(|p| p.data_lake_principal_identifier())
                else {
                    continue;
                };
                held.entry(who.to_string())
                    .or_default()
                    .extend(p.permissions().iter().map(|p| p.as_str().to_string()));
            }
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok(held),
            }
        }
    }

    /// Grants what is missing of `grants` and revokes the ledger's entries no longer wanted.
    /// Reads: one ListPermissions per resource involved.
    pub async fn ensure_lakeformation(
        &self,
        database: &str,
        grants: &[ActiveGrant],
        ledger: &BTreeSet<(String, String)>,
    ) -> Result<(), GrantError> {
        let desired = lf_desired(grants, database);
        let wanted: BTreeSet<(String, String)> =
            desired.keys().map(|(p, r)| (p.clone(), r.key())).collect();
        let revoke: Vec<(String, LfResource)> = ledger
            .iter()
            .filter(|e| !wanted.contains(*e))
            .filter_map(|(p, k)| Some((p.clone(), LfResource::from_key(database, k)?)))
            .collect();
        let resources: BTreeSet<LfResource> = desired
            .keys()
            .map(|(_, r)| r.clone())
            .chain(revoke.iter().map(|(_, r)| r.clone()))
            .collect();
        let mut held = BTreeMap::new();
        for r in &resources {
            held.insert(r.clone(), self.observe(r).await?);
        }
        let none = BTreeSet::new();
        for ((principal, resource), permissions) in &desired {
            let has = held
                .get(resource)
                .and_then(|h| h.get(principal))
                .unwrap_or(&none);
            let missing: Vec<&String> = permissions.iter().filter(|p| !has.contains(*p)).collect();
            if missing.is_empty() {
                continue;
            }
            self.calls
                .mutate(
                    "lakeformation:GrantPermissions",
                    &format!("{} for {principal}", resource.describe()),
                    self.lf
                        .grant_permissions()
                        .principal(
                            DataLakePrincipal::builder()
                                .data_lake_principal_identifier(principal)
                                .build(),
                        )
                        .resource(resource.to_sdk()?)
                        .set_permissions(Some(
                            missing
                                .iter()
                                .map(|p| Permission::from(p.as_str()))
                                .collect(),
                        ))
                        .send(),
                )
                .await?;
        }
        for (principal, resource) in &revoke {
            let has = held
                .get(resource)
                .and_then(|h| h.get(principal))
                .unwrap_or(&none);
            let ours: Vec<Permission> = resource
                .grantable()
                .iter()
                .filter(|p| has.contains(**p))
                .map(|p| Permission::from(*p))
                .collect();
            if ours.is_empty() {
                continue;
            }
            let out = self
                .calls
                .mutate(
                    "lakeformation:RevokePermissions",
                    &format!("{} for {principal}", resource.describe()),
                    self.lf
                        .revoke_permissions()
                        .principal(
                            DataLakePrincipal::builder()
                                .data_lake_principal_identifier(principal)
                                .build(),
                        )
                        .resource(resource.to_sdk()?)
                        .set_permissions(Some(ours))
                        .send(),
                )
                .await;
            match out {
                Ok(_) => {}
                Err(e) if e.is(Fault::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn catalog_sid_prefix(owner: &Owner) -> String {
        format!("Dpo{}", short_hash(&owner.product))
    }

    /// The catalogue resource-policy statements of the active `bucket-policy` grants.
    pub fn catalog_statements(
        &self,
        owner: &Owner,
        catalog_id: &str,
        database: &str,
        grants: &[ActiveGrant],
    ) -> Vec<Value> {
        let partition = super::partition_of(self.region);
        let base = format!("arn:{partition}:glue:{}:{catalog_id}", self.region);
        let prefix = Self::catalog_sid_prefix(owner);
        grants
            .iter()
            .filter(|g| g.spec.mode == GrantMode::BucketPolicy)
            .map(|g| {
                let mut resources = vec![
                    format!("{base}:catalog"),
                    format!("{base}:database/{database}"),
                ];
                resources.extend(
                    g.spec
                        .tables
                        .iter()
                        .map(|t| format!("{base}:table/{database}/{t}")),
                );
                json!({
                    "Sid": format!("{prefix}{}", short_hash(&g.name)),
                    "Effect": "Allow",
                    "Principal": {"AWS": g.principal},
                    "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"],
                    "Resource": resources,
                })
            })
            .collect()
    }

    /// Makes this product's statements in the catalogue resource policy exactly `desired`,
    /// keeping everyone else's. Writes are conditional on the policy hash read, so a concurrent
    /// writer is never overwritten (the loser retries).
    pub async fn ensure_catalog_policy(
        &self,
        owner: &Owner,
        desired: &[Value],
    ) -> Result<(), GrantError> {
        let resource = "catalog resource policy";
        let out = self
            .calls
            .read(
                "glue:GetResourcePolicy",
                resource,
                self.glue.get_resource_policy().send(),
            )
            .await;
        let (policy, hash) = match out {
            Ok(out) => (
                out.policy_in_json().and_then(parse_policy),
                out.policy_hash().map(str::to_string),
            ),
            Err(e) if e.is(Fault::NotFound) => (None, None),
            Err(e) => return Err(e.into()),
        };
        let prefix = Self::catalog_sid_prefix(owner);
        let statements: Vec<Value> = match policy.as_ref().and_then(|p| p.get("Statement")) {
            Some(Value::Array(s)) => s.clone(),
            Some(single @ Value::Object(_)) => vec![single.clone()],
            _ => Vec::new(),
        };
        let is_ours = |s: &Value| {
            s.get("Sid")
                .and_then(Value::as_str)
                .is_some_and(|sid| sid.starts_with(&prefix))
        };
        let (ours, others): (Vec<Value>, Vec<Value>) =
            statements.into_iter().partition(|s| is_ours(s));
        if normalize_policy(&Value::Array(ours.clone()))
            == normalize_policy(&Value::Array(desired.to_vec()))
        {
            return Ok(());
        }
        let mut all = others;
        all.extend(desired.iter().cloned());
        let out = if all.is_empty() {
            self.calls
                .mutate(
                    "glue:DeleteResourcePolicy",
                    resource,
                    self.glue
                        .delete_resource_policy()
                        .set_policy_hash_condition(hash)
                        .send(),
                )
                .await
                .map(|_| ())
        } else {
            let version = policy
                .as_ref()
                .and_then(|p| p.get("Version").cloned())
                .unwrap_or_else(|| json!("2012-10-17"));
            let document = json!({"Version": version, "Statement": all});
            let mut put = self
                .glue
                .put_resource_policy()
                .policy_in_json(document.to_string());
            put = match hash {
                Some(h) => put.policy_hash_condition(h),
                None => put.policy_exists_condition(aws_sdk_glue::types::ExistCondition::NotExist),
            };
            self.calls
                .mutate("glue:PutResourcePolicy", resource, put.send())
                .await
                .map(|_| ())
        };
        match out {
            Ok(()) => Ok(()),
            Err(e) if e.is(Fault::NotFound) && all.is_empty() => Ok(()),
            // Someone else changed the policy between our read and write.
            Err(e)
                if e.code_in(&[
                    "ConditionCheckFailureException",
                    "ResourceNumberLimitExceededException",
                ]) =>
            {
                Err(GrantError::Transient(e.into()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::aws::{Grantee, PlanMeta};

    fn grant(
        name: &str,
        mode: GrantMode,
        principal: Option<&str>,
        expires: Option<&str>,
    ) -> PlanDoc<AccessGrantSpec> {
        PlanDoc {
            api_version: "plan.dataproducts.io/v1alpha1".into(),
            metadata: PlanMeta { name: name.into() },
            spec: AccessGrantSpec {
                mode,
                region: "eu-west-1".into(),
                grantee: Grantee {
                    product: Some("m/c".into()),
                    principal: principal.map(str::to_string),
                },
                database: "d".into(),
                tables: vec!["t".into()],
                locations: vec!["arn:aws:s3:::b".into(), "arn:aws:s3:::b/t/*".into()],
                permissions: vec!["SELECT".into(), "DESCRIBE".into()],
                expires: expires.map(str::to_string),
            },
        }
    }

    #[test]
    fn grants_without_principal_are_not_applied() {
        let a = grant(
            "a",
            GrantMode::Lakeformation,
            Some("arn:p"),
            Some("2030-01-01"),
        );
        let b = grant("b", GrantMode::Lakeformation, None, None);
        let (active, notes) = active(&[&a, &b]);
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].name, "a");
        assert_eq!(notes.len(), 1, "{notes:?}");
    }

    #[test]
    fn lake_formation_wants_table_permissions_and_the_output_location() {
        let a = grant("a", GrantMode::Lakeformation, Some("arn:p"), None);
        let (active, _) = active(&[&a]);
        let entries = lf_ledger_entries(&active, "d");
        assert_eq!(
            entries,
            BTreeSet::from([
                ("arn:p".to_string(), "location:arn:aws:s3:::b/t".to_string()),
                ("arn:p".to_string(), "table:t".to_string()),
            ])
        );
        let ledger = Ledger {
            lakeformation: entries,
            catalog_policy: false,
        };
        let params = BTreeMap::from([(GRANTS_PARAM.to_string(), ledger.value().unwrap())]);
        assert_eq!(Ledger::read(&params), ledger);
        assert_eq!(Ledger::default().value(), None);
    }

    #[test]
    fn bucket_policy_statements_list_the_prefix_and_read_the_objects() {
        let a = grant("a", GrantMode::BucketPolicy, Some("arn:p"), None);
        let (active, _) = active(&[&a]);
        let statements = bucket_statements(&active);
        let b = &statements["b"];
        assert_eq!(b.len(), 2);
        assert_eq!(b[0]["Resource"], json!("arn:aws:s3:::b"));
        assert_eq!(
            b[0]["Condition"]["StringLike"]["s3:prefix"],
            json!(["t/", "t/*"])
        );
        assert_eq!(b[1]["Resource"], json!(["arn:aws:s3:::b/t/*"]));
        assert!(b[1]["Sid"].as_str().unwrap().starts_with(BUCKET_SID_PREFIX));
        assert!(b[1]["Sid"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_alphanumeric()));
    }
}
