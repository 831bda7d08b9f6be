//! The cleanup path of the AWS step: on product deletion, remove the product's resources per
//! the deletion policy carried in the plan, never touching what is not the product's.

use crate::api::DeletionPolicy;
use crate::plan::AwsResource;

use super::call::{Calls, StepError};
use super::catalog::{Catalog, DatabaseState};
use super::grants::{self, Grants, Ledger};
use super::identity::{Identity, RoleDeletion};
use super::ownership::{Observed, Ownership};
use super::storage::{Deletion, Storage};
use super::{write_ledger, Aws, CallCounts, CleanupReport, Owner, Planned};

impl Aws {
    /// On product deletion, per the deletion policy carried in the plan: `Retain` keeps buckets,
    /// data, database and tables and removes the IAM role and every grant; `Delete` also removes
    /// tables, database and buckets — a bucket holding objects only with `forceDeleteData`
    /// (every object version is deleted first), otherwise it is left in place and reported.
    /// Not-found is success. Never touches resources not owned by this product (and uid).
    pub async fn cleanup(&self, owner: &Owner, resources: &[AwsResource]) -> CleanupReport {
        let calls = Calls::new(self.limits.clone());
        let planned = Planned::of(resources);
        let mut c = Cleanup::default();

        // The database (when ours) holds the grants ledger.
        let mut database: Option<(String, String, DatabaseState)> = None;
        if let Some(db) = planned.database {
            let region = self.region(&db.spec.region);
            let clients = self.clients(&region);
            let catalog = Catalog {
                glue: &clients.glue,
                calls: &calls,
                region: &region,
            };
            match catalog.observe_database(&db.metadata.name, owner, false).await {
                Ok(Observed::Present {
                    ownership: Ownership::Ours,
                    state,
                }) => database = Some((db.metadata.name.clone(), region, state)),
                Ok(Observed::Absent) => {}
                Ok(Observed::Present { .. }) => c.note(format!(
                    "Glue database {} now belongs to another incarnation of this product: left alone",
                    db.metadata.name
                )),
                Ok(Observed::Foreign(why)) => c.note(format!(
                    "Glue database {} is not this product's ({why}): left alone",
                    db.metadata.name
                )),
                Err(e) => c.fail(&e),
            }
        }

        // 1. Every grant.
        let (active, _) = grants::active(&planned.grants);
        let planned_bucket_policy = grants::wants_catalog_policy(&active);
        let mut ledger = Ledger::default();
        if let Some((name, region, state)) = &mut database {
            let clients = self.clients(region);
            let api = Grants {
                lf: &clients.lf,
                glue: &clients.glue,
                calls: &calls,
                region,
            };
            ledger = Ledger::read(&state.parameters);
            let mut revoke = ledger.lakeformation.clone();
            revoke.extend(grants::lf_ledger_entries(&active, name));
            let mut ok = true;
            if let Err(e) = api.ensure_lakeformation(name, &[], &revoke).await {
                ok = false;
                c.fail(&e);
            }
            if ledger.catalog_policy || planned_bucket_policy {
                if let Err(e) = api.ensure_catalog_policy(owner, &[]).await {
                    ok = false;
                    c.fail(&e);
                }
            }
            if ok {
                let catalog = Catalog {
                    glue: &clients.glue,
                    calls: &calls,
                    region,
                };
                if let Err(e) = write_ledger(&catalog, name, state, &Ledger::default()).await {
                    c.fail(&e);
                } else if !revoke.is_empty() || ledger.catalog_policy || planned_bucket_policy {
                    c.deleted.push("the product's grants".to_string());
                }
            }
        }

        // 2. The role.
        if let Some(role) = planned.role {
            let clients = self.clients(&self.product_region(&planned));
            let identity = Identity {
                iam: &clients.iam,
                calls: &calls,
            };
            match identity.delete(&role.metadata.name, owner).await {
                Ok(RoleDeletion::Deleted) => {
                    c.deleted.push(format!("IAM role {}", role.metadata.name))
                }
                Ok(RoleDeletion::Absent) => {}
                Ok(RoleDeletion::NotOwned(why)) => c.note(format!(
                    "IAM role {} is not this product's ({why}): left alone",
                    role.metadata.name
                )),
                Err(e) => c.fail(&e),
            }
        }

        // 3. Tables and database, under deletionPolicy Delete.
        if let (Some(db), Some((name, region, _))) = (planned.database, &database) {
            if db.spec.deletion_policy == DeletionPolicy::Delete {
                self.delete_catalog(owner, name, region, &calls, &mut c)
                    .await;
            } else {
                c.kept.push(format!("Glue database {name} and its tables"));
            }
        }

        // 4. Buckets.
        let remove_statements = ledger.catalog_policy || planned_bucket_policy;
        for b in &planned.buckets {
            let name = b.metadata.name.as_str();
            let clients = self.clients(&self.region(&b.spec.region));
            let storage = Storage {
                s3: &clients.s3,
                calls: &calls,
                untagged: &self.untagged,
            };
            let mut still_there = true;
            if b.spec.deletion_policy == DeletionPolicy::Delete {
                match storage.delete(name, owner, b.spec.force_delete_data).await {
                    Ok(Deletion::Deleted) => {
                        still_there = false;
                        c.deleted.push(format!("S3 bucket {name}"));
                    }
                    Ok(Deletion::Absent) => still_there = false,
                    Ok(Deletion::NotOwned(why)) => {
                        still_there = false;
                        c.note(format!(
                            "S3 bucket {name} is not this product's ({why}): left alone"
                        ));
                    }
                    Ok(Deletion::Retained(why)) => c.retained.push(why),
                    Err(e) => c.fail(&e),
                }
            } else {
                c.kept.push(format!("S3 bucket {name}"));
            }
            if still_there && remove_statements {
                if let Err(e) = storage
                    .remove_statements(name, owner, grants::BUCKET_SID_PREFIX)
                    .await
                {
                    c.fail(&e);
                }
            }
        }
        c.report(calls.counts())
    }

    async fn delete_catalog(
        &self,
        owner: &Owner,
        database: &str,
        region: &str,
        calls: &Calls,
        c: &mut Cleanup,
    ) {
        let clients = self.clients(region);
        let catalog = Catalog {
            glue: &clients.glue,
            calls,
            region,
        };
        let found = match catalog.observe_tables(database, owner).await {
            Ok(found) => found,
            Err(e) => return c.fail(&e),
        };
        let mut foreign = Vec::new();
        let mut failed = false;
        for (name, f) in &found {
            if f.ownership == Ownership::Ours {
                match catalog.delete_table(database, name).await {
                    Ok(()) => c.deleted.push(format!("Glue table {database}.{name}")),
                    Err(e) => {
                        failed = true;
                        c.fail(&e);
                    }
                }
            } else {
                foreign.push(name.as_str());
            }
        }
        if !foreign.is_empty() {
            // Deleting the database would delete them too.
            c.retained.push(format!(
                "Glue database {database} holds tables not owned by this product ({}): kept",
                foreign.join(", ")
            ));
        } else if !failed {
            match catalog.delete_database(database).await {
                Ok(()) => c.deleted.push(format!("Glue database {database}")),
                Err(e) => c.fail(&e),
            }
        }
    }
}

/// What cleanup collects.
#[derive(Default)]
struct Cleanup {
    deleted: Vec<String>,
    kept: Vec<String>,
    retained: Vec<String>,
    notes: Vec<String>,
    problems: Vec<String>,
    transient: bool,
}

impl Cleanup {
    fn fail(&mut self, e: &impl StepError) {
        self.transient |= e.transient();
        self.problems.push(e.to_string());
    }

    fn note(&mut self, n: String) {
        self.notes.push(n);
    }

    fn report(self, calls: CallCounts) -> CleanupReport {
        let mut parts = Vec::new();
        if !self.problems.is_empty() {
            parts.push(format!("failed: {}", self.problems.join("; ")));
        }
        if !self.deleted.is_empty() {
            parts.push(format!("deleted: {}", self.deleted.join(", ")));
        }
        if !self.kept.is_empty() {
            parts.push(format!(
                "kept (deletionPolicy Retain): {}",
                self.kept.join(", ")
            ));
        }
        if !self.retained.is_empty() {
            parts.push(format!("retained: {}", self.retained.join("; ")));
        }
        parts.extend(self.notes);
        CleanupReport {
            done: self.problems.is_empty(),
            retained: self.retained,
            message: parts.join("; "),
            transient: self.transient,
            calls,
        }
    }
}
