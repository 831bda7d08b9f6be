//! The ensure path of the AWS step: observe every planned resource, create what is missing,
//! update only what differs, never delete data.

use std::collections::BTreeSet;

use crate::api::BucketStatus;
use crate::plan::aws::{GlueDatabaseSpec, GlueTableSpec, IamRoleSpec, PlanDoc, S3BucketSpec};
use crate::plan::AwsResource;

use super::call::{self, Calls, Fault, StepError};
use super::catalog::{Catalog, CatalogError, DatabaseState, DesiredDatabase, TableShape};
use super::grants::{self, ActiveGrant, GrantError, Grants, Ledger};
use super::identity::{DesiredRole, Identity, IdentityError, RoleState};
use super::ownership::{Observed, Ownership};
use super::storage::{DesiredBucket, Storage, StorageError};
use super::{partition_of, write_ledger, Aws, AwsReport, Concern, Owner, Planned};

/// Problems of one concern, each with whether it is retried.
#[derive(Default)]
struct Step {
    problems: Vec<(call::Problem, String, bool)>,
    transient: bool,
}

impl Step {
    fn fail(&mut self, e: &impl StepError) {
        self.transient |= e.transient();
        self.problems
            .push((e.problem(), e.to_string(), e.transient()));
    }

    fn concern(self, ok: String) -> Concern {
        if self.problems.is_empty() {
            return Concern {
                ready: true,
                reason: "Provisioned".to_string(),
                message: ok,
            };
        }
        let order = [
            call::Problem::Conflict,
            call::Problem::AccessDenied,
            call::Problem::Failed,
        ];
        // Only retried failures: not a verdict yet (the condition says Retrying).
        let retrying = self.problems.iter().all(|(_, _, transient)| *transient);
        let reason = if retrying {
            "Retrying"
        } else {
            order
                .iter()
                .find(|p| self.problems.iter().any(|(q, _, t)| q == *p && !t))
                .map(|p| p.reason())
                .unwrap_or("Failed")
        };
        Concern {
            ready: false,
            reason: reason.to_string(),
            message: self
                .problems
                .iter()
                .map(|(_, m, _)| m.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

impl Aws {
    /// Idempotent: observes every planned resource, creates what is missing, updates only what
    /// differs; never deletes data. Also removes what the product owns but no longer wants:
    /// Glue tables of its database carrying its ownership that are not planned (the S3 data
    /// stays), and grants not planned any more.
    pub async fn ensure(&self, owner: &Owner, resources: &[AwsResource]) -> AwsReport {
        let calls = Calls::new(self.limits.clone());
        let planned = Planned::of(resources);
        let (mut active, notes) = grants::active(&planned.grants);
        let bucket_statements = grants::bucket_statements(&active);

        // Storage: every bucket at once.
        let mut storage = Step::default();
        let results = futures::future::join_all(planned.buckets.iter().map(|b| {
            let extra = bucket_statements
                .get(&b.metadata.name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            self.ensure_bucket(owner, b, extra, &calls)
        }))
        .await;
        let mut buckets = Vec::new();
        for (b, result) in planned.buckets.iter().zip(results) {
            match result {
                Ok(()) => buckets.push(BucketStatus {
                    layer: b.spec.layer.clone(),
                    name: b.metadata.name.clone(),
                    arn: Some(format!(
                        "arn:{}:s3:::{}",
                        partition_of(&self.region(&b.spec.region)),
                        b.metadata.name
                    )),
                }),
                Err(e) => storage.fail(&e),
            }
        }
        let mut transient = storage.transient;
        let storage = storage.concern(format!("{} buckets provisioned", buckets.len()));

        // Catalogue: the database, then its tables.
        let mut catalog = Step::default();
        let mut database: Option<(String, DatabaseState)> = None;
        if let Some(db) = planned.database {
            match self.ensure_database(owner, db, &calls).await {
                Ok(state) => {
                    let tables: Vec<_> = planned
                        .tables
                        .iter()
                        .filter(|t| t.spec.database == db.metadata.name)
                        .copied()
                        .collect();
                    let (errors, foreign) = self.ensure_tables(owner, db, &tables, &calls).await;
                    for e in errors {
                        catalog.fail(&e);
                    }
                    // A table someone else holds in the product's database is never granted.
                    for g in &mut active {
                        g.spec.tables.retain(|t| !foreign.contains(t));
                    }
                    database = Some((db.metadata.name.clone(), state));
                }
                Err(e) => catalog.fail(&e),
            }
        }
        transient |= catalog.transient;
        let catalog = catalog.concern(match planned.database {
            Some(db) => format!(
                "database {} and {} tables provisioned",
                db.metadata.name,
                planned.tables.len()
            ),
            None => "no database planned".to_string(),
        });

        // Identity, then grants.
        let mut access = Step::default();
        if let Some(role) = planned.role {
            if let Err(e) = self.ensure_role(owner, role, &planned, &calls).await {
                access.fail(&e);
            }
        }
        match &mut database {
            Some((name, state)) => {
                let region = self.region(
                    planned
                        .database
                        .map(|d| d.spec.region.as_str())
                        .unwrap_or_default(),
                );
                if let Err(e) = self
                    .ensure_grants(owner, &region, name, state, &active, &calls)
                    .await
                {
                    access.fail(&e);
                }
            }
            None if !active.is_empty() => access.fail(&GrantError::Failed(
                format!(
                    "{} grants wait for the product's Glue database",
                    active.len()
                )
                .into(),
            )),
            None => {}
        }
        let mut ok = match planned.role {
            Some(r) => format!("role {} provisioned", r.metadata.name),
            None => "no role planned".to_string(),
        };
        ok.push_str(&format!("; {} grants applied", active.len()));
        for n in &notes {
            ok.push_str("; ");
            ok.push_str(n);
        }
        transient |= access.transient;
        let access = access.concern(ok);
        AwsReport {
            storage,
            catalog,
            access,
            buckets,
            calls: calls.counts(),
            transient,
        }
    }

    async fn ensure_bucket(
        &self,
        owner: &Owner,
        doc: &PlanDoc<S3BucketSpec>,
        extra_statements: &[serde_json::Value],
        calls: &Calls,
    ) -> Result<(), StorageError> {
        let name = doc.metadata.name.as_str();
        let region = self.region(&doc.spec.region);
        let clients = self.clients(&region);
        let storage = Storage {
            s3: &clients.s3,
            calls,
            untagged: &self.untagged,
        };
        let desired = DesiredBucket::from_plan(name, &region, &doc.spec, owner, extra_statements);
        match storage.observe(name, owner).await? {
            Observed::Absent => storage.create(&desired).await,
            Observed::Foreign(why) => Err(StorageError::Conflict {
                resource: format!("S3 bucket {name}"),
                detail: why,
            }),
            Observed::Present { state, .. } => storage.update(&desired, &state).await,
        }
    }

    async fn ensure_database(
        &self,
        owner: &Owner,
        doc: &PlanDoc<GlueDatabaseSpec>,
        calls: &Calls,
    ) -> Result<DatabaseState, CatalogError> {
        let name = doc.metadata.name.as_str();
        let region = self.region(&doc.spec.region);
        let clients = self.clients(&region);
        let catalog = Catalog {
            glue: &clients.glue,
            calls,
            region: &region,
        };
        let desired = DesiredDatabase::from_plan(name, &doc.spec, owner);
        let conflict = |why| CatalogError::Conflict {
            resource: format!("Glue database {name}"),
            detail: why,
        };
        match catalog.observe_database(name, owner, true).await? {
            Observed::Present { state, .. } => catalog.update_database(&desired, &state).await,
            Observed::Foreign(why) => Err(conflict(why)),
            Observed::Absent => {
                match catalog.create_database(&desired).await {
                    Ok(()) => {}
                    // A concurrent or retried create: decide on what is there now.
                    Err(e) if e.is(Fault::AlreadyExists) => {
                        return match catalog.observe_database(name, owner, true).await? {
                            Observed::Present { state, .. } => {
                                catalog.update_database(&desired, &state).await
                            }
                            Observed::Foreign(why) => Err(conflict(why)),
                            Observed::Absent => Err(CatalogError::from(e)),
                        };
                    }
                    Err(e) => return Err(e.into()),
                }
                // The catalogue's account id (for ARNs) is known only once it exists; its tags
                // are the ones just set.
                match catalog.observe_database(name, owner, false).await? {
                    Observed::Present { mut state, .. } => {
                        state.tags = desired.tags.clone();
                        Ok(state)
                    }
                    _ => Err(CatalogError::Transient(
                        format!("Glue database {name} is not visible yet after its creation")
                            .into(),
                    )),
                }
            }
        }
    }

    /// Creates and updates the planned tables; deletes tables of ours that are not planned.
    /// Returns every failure (one table's failure does not stop the others) and the planned
    /// tables held by someone else (never granted to anyone).
    async fn ensure_tables(
        &self,
        owner: &Owner,
        db: &PlanDoc<GlueDatabaseSpec>,
        tables: &[&PlanDoc<GlueTableSpec>],
        calls: &Calls,
    ) -> (Vec<CatalogError>, BTreeSet<String>) {
        let database = db.metadata.name.as_str();
        let region = self.region(&db.spec.region);
        let clients = self.clients(&region);
        let catalog = Catalog {
            glue: &clients.glue,
            calls,
            region: &region,
        };
        let found = match catalog.observe_tables(database, owner).await {
            Ok(found) => found,
            Err(e) => return (vec![e], BTreeSet::new()),
        };
        let mut errors = Vec::new();
        let mut foreign = BTreeSet::new();
        for t in tables {
            let name = t.metadata.name.as_str();
            let desired = TableShape::from_plan(&t.spec, owner);
            let result = match found.get(name) {
                None => match catalog.create_table(database, name, &desired).await {
                    Ok(()) => Ok(()),
                    Err(e) => Err(CatalogError::from(e)),
                },
                Some(f) => match &f.ownership {
                    Ownership::Foreign(why) => {
                        foreign.insert(name.to_string());
                        Err(CatalogError::Conflict {
                            resource: format!("Glue table {database}.{name}"),
                            detail: why.clone(),
                        })
                    }
                    _ if desired.matches(&f.shape) => Ok(()),
                    _ => {
                        catalog
                            .update_table(database, name, &desired, &f.shape)
                            .await
                    }
                },
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        let planned: BTreeSet<&str> = tables.iter().map(|t| t.metadata.name.as_str()).collect();
        for (name, f) in &found {
            if f.ownership.manageable() && !planned.contains(name.as_str()) {
                if let Err(e) = catalog.delete_table(database, name).await {
                    errors.push(e);
                }
            }
        }
        (errors, foreign)
    }

    async fn ensure_role(
        &self,
        owner: &Owner,
        doc: &PlanDoc<IamRoleSpec>,
        planned: &Planned<'_>,
        calls: &Calls,
    ) -> Result<(), IdentityError> {
        let name = doc.metadata.name.as_str();
        let clients = self.clients(&self.product_region(planned));
        let identity = Identity {
            iam: &clients.iam,
            calls,
        };
        let desired = DesiredRole::from_plan(name, &doc.spec, owner);
        let conflict = |why| IdentityError::Conflict {
            resource: format!("IAM role {name}"),
            detail: why,
        };
        // IAM cannot move a role to another path: one of ours under an old path is reported,
        // not changed (the operator's policy covers only the template's path).
        let moved = |state: &RoleState| {
            (state.path != desired.path).then(|| {
                conflict(format!(
                    "it is under path {} but the template says {}; IAM cannot move a role, \
                     delete it to have it recreated",
                    state.path, desired.path
                ))
            })
        };
        match identity.observe(&desired, owner).await? {
            Observed::Present { state, .. } => match moved(&state) {
                Some(e) => Err(e),
                None => identity.update(&desired, &state).await,
            },
            Observed::Foreign(why) => Err(conflict(why)),
            Observed::Absent => match identity.create(&desired).await {
                Ok(()) => Ok(()),
                Err(e) if e.is(Fault::AlreadyExists) => {
                    match identity.observe(&desired, owner).await? {
                        Observed::Present { state, .. } => match moved(&state) {
                            Some(e) => Err(e),
                            None => identity.update(&desired, &state).await,
                        },
                        Observed::Foreign(why) => Err(conflict(why)),
                        Observed::Absent => Err(IdentityError::from(e)),
                    }
                }
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Lake Formation grants and catalogue resource-policy statements; bucket-policy statements
    /// were written with the buckets. The ledger in the database parameters is widened before
    /// granting and narrowed after revoking, so an interrupted run never loses track.
    async fn ensure_grants(
        &self,
        owner: &Owner,
        region: &str,
        database: &str,
        state: &mut DatabaseState,
        active: &[ActiveGrant],
        calls: &Calls,
    ) -> Result<(), GrantError> {
        let clients = self.clients(region);
        let catalog = Catalog {
            glue: &clients.glue,
            calls,
            region,
        };
        let api = Grants {
            lf: &clients.lf,
            glue: &clients.glue,
            calls,
            region,
        };
        let ledger = Ledger::read(&state.parameters);
        let after = Ledger {
            lakeformation: grants::lf_ledger_entries(active, database),
            catalog_policy: grants::wants_catalog_policy(active),
        };
        let before = Ledger {
            lakeformation: ledger
                .lakeformation
                .union(&after.lakeformation)
                .cloned()
                .collect(),
            catalog_policy: ledger.catalog_policy || after.catalog_policy,
        };
        if before != ledger {
            write_ledger(&catalog, database, state, &before).await?;
        }
        api.ensure_lakeformation(database, active, &before.lakeformation)
            .await?;
        if before.catalog_policy {
            let statements = api.catalog_statements(owner, &state.catalog_id, database, active);
            api.ensure_catalog_policy(owner, &statements).await?;
        }
        if after != before {
            write_ledger(&catalog, database, state, &after).await?;
        }
        Ok(())
    }
}
