//! Glue: the product's database and one table per output. Ownership lives in Parameters
//! (`product` on the database, `dataproducts.io/product` on tables) plus the uid parameter;
//! databases are tagged as well. Parameters set by others (crawlers, Athena, people) are kept.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_glue::types::{Column, DatabaseInput, SerDeInfo, StorageDescriptor, Table, TableInput};

use super::call::{step_error, CallError, Calls, Fault};
use super::ownership::{
    owned_tags, tags_to_set, Observed, Ownership, DATABASE_PRODUCT_PARAM, PRODUCT_TAG, UID_TAG,
};
use super::Owner;
use crate::plan::aws::{GlueColumn, GlueDatabaseSpec, GlueTableSpec, StorageFormat};

step_error!(
    /// Why the catalogue step failed.
    CatalogError
);

/// Database parameter where the grants step records what it granted in Lake Formation, so that
/// it can revoke exactly that and never a grant someone else made.
pub const GRANTS_PARAM: &str = "dataproducts.io/grants";

/// Parameters under this prefix are ours: one no longer planned is removed.
const OUR_PREFIX: &str = "dataproducts.io/";

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredDatabase {
    pub name: String,
    pub description: String,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

impl DesiredDatabase {
    pub fn from_plan(name: &str, spec: &GlueDatabaseSpec, owner: &Owner) -> DesiredDatabase {
        let mut parameters = spec.parameters.clone();
        parameters.insert(DATABASE_PRODUCT_PARAM.to_string(), owner.product.clone());
        parameters.insert(UID_TAG.to_string(), owner.uid.clone());
        DesiredDatabase {
            name: name.to_string(),
            description: spec.description.clone(),
            parameters,
            tags: owned_tags(&spec.tags, owner),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DatabaseState {
    pub description: String,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// The account of the catalogue, for ARNs.
    pub catalog_id: String,
    pub arn: String,
}

/// A table as planned or as found, in the terms of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct TableShape {
    pub description: String,
    pub table_type: String,
    pub location: String,
    pub columns: Vec<GlueColumn>,
    pub partition_keys: Vec<GlueColumn>,
    pub storage: StorageFormat,
    pub parameters: BTreeMap<String, String>,
}

impl TableShape {
    /// The plan's table; its tags become parameters (Glue tables cannot be tagged), the plan's
    /// own parameters win.
    pub fn from_plan(spec: &GlueTableSpec, owner: &Owner) -> TableShape {
        let mut parameters = spec.tags.clone();
        parameters.extend(spec.parameters.clone());
        parameters.insert(PRODUCT_TAG.to_string(), owner.product.clone());
        parameters.insert(UID_TAG.to_string(), owner.uid.clone());
        TableShape {
            description: spec.description.clone(),
            table_type: spec.table_type.clone(),
            location: spec.location.clone(),
            columns: spec.columns.clone(),
            partition_keys: spec.partition_keys.clone(),
            storage: spec.storage.clone(),
            parameters,
        }
    }

    fn from_glue(t: &Table) -> TableShape {
        let column = |c: &Column| GlueColumn {
            name: c.name().to_string(),
            type_: c.r#type().unwrap_or_default().to_string(),
            comment: c.comment().unwrap_or_default().to_string(),
        };
        let sd = t.storage_descriptor();
        let serde = sd.and_then(|s| s.serde_info());
        TableShape {
            description: t.description().unwrap_or_default().to_string(),
            table_type: t.table_type().unwrap_or_default().to_string(),
            location: sd
                .and_then(|s| s.location())
                .unwrap_or_default()
                .to_string(),
            columns: sd
                .map(|s| s.columns().iter().map(column).collect())
                .unwrap_or_default(),
            partition_keys: t.partition_keys().iter().map(column).collect(),
            storage: StorageFormat {
                input_format: sd
                    .and_then(|s| s.input_format())
                    .unwrap_or_default()
                    .to_string(),
                output_format: sd
                    .and_then(|s| s.output_format())
                    .unwrap_or_default()
                    .to_string(),
                serde_library: serde
                    .and_then(|s| s.serialization_library())
                    .unwrap_or_default()
                    .to_string(),
                serde_parameters: to_btree(serde.and_then(|s| s.parameters())),
            },
            parameters: to_btree(t.parameters()),
        }
    }

    /// Equal in everything the plan decides; parameters others added do not count.
    pub fn matches(&self, observed: &TableShape) -> bool {
        self.description == observed.description
            && self.table_type == observed.table_type
            && self.location == observed.location
            && self.columns == observed.columns
            && self.partition_keys == observed.partition_keys
            && self.storage == observed.storage
            && merge_parameters(&self.parameters, &observed.parameters, &[]) == observed.parameters
    }
}

/// A table found in the database.
#[derive(Debug, Clone)]
pub struct FoundTable {
    pub ownership: Ownership,
    pub shape: TableShape,
}

/// `observed` with ours replaced by `desired`: keys of ours no longer desired go, keys of others
/// stay (`keep` lists keys of ours that are managed elsewhere).
fn merge_parameters(
    desired: &BTreeMap<String, String>,
    observed: &BTreeMap<String, String>,
    keep: &[&str],
) -> BTreeMap<String, String> {
    let mut merged: BTreeMap<String, String> = observed
        .iter()
        .filter(|(k, _)| {
            !k.starts_with(OUR_PREFIX) || desired.contains_key(*k) || keep.contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    merged.extend(desired.iter().map(|(k, v)| (k.clone(), v.clone())));
    merged
}

fn to_btree(map: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn to_hash(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The Glue side of one region.
pub struct Catalog<'a> {
    pub glue: &'a aws_sdk_glue::Client,
    pub calls: &'a Calls,
    pub region: &'a str,
}

impl Catalog<'_> {
    pub fn database_arn(&self, catalog_id: &str, name: &str) -> String {
        format!(
            "arn:{}:glue:{}:{catalog_id}:database/{name}",
            super::partition_of(self.region),
            self.region
        )
    }

    /// GetDatabase, then its tags when it is ours (and `with_tags`).
    pub async fn observe_database(
        &self,
        name: &str,
        owner: &Owner,
        with_tags: bool,
    ) -> Result<Observed<DatabaseState>, CatalogError> {
        let out = self
            .calls
            .read(
                "glue:GetDatabase",
                name,
                self.glue.get_database().name(name).send(),
            )
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.is(Fault::NotFound) => return Ok(Observed::Absent),
            Err(e) => return Err(e.into()),
        };
        let Some(db) = out.database() else {
            return Ok(Observed::Absent);
        };
        let parameters = to_btree(db.parameters());
        let ownership = Ownership::of(
            parameters.get(DATABASE_PRODUCT_PARAM).map(String::as_str),
            parameters.get(UID_TAG).map(String::as_str),
            owner,
        );
        if let Ownership::Foreign(why) = ownership {
            return Ok(Observed::Foreign(why));
        }
        let catalog_id = db.catalog_id().unwrap_or_default().to_string();
        let arn = self.database_arn(&catalog_id, name);
        let tags = if with_tags {
            let out = self
                .calls
                .read(
                    "glue:GetTags",
                    &arn,
                    self.glue.get_tags().resource_arn(&arn).send(),
                )
                .await?;
            to_btree(out.tags())
        } else {
            BTreeMap::new()
        };
        Ok(Observed::Present {
            ownership,
            state: DatabaseState {
                description: db.description().unwrap_or_default().to_string(),
                parameters,
                tags,
                catalog_id,
                arn,
            },
        })
    }

    fn database_input(
        name: &str,
        description: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<DatabaseInput, CallError> {
        DatabaseInput::builder()
            .name(name)
            .description(description)
            .set_parameters(Some(to_hash(parameters)))
            .build()
            .map_err(|e| CallError::build("glue:CreateDatabase", name, e))
    }

    /// CreateDatabase with parameters and tags in one call (ownership from the first moment).
    pub async fn create_database(&self, d: &DesiredDatabase) -> Result<(), CallError> {
        let input = Self::database_input(&d.name, &d.description, &d.parameters)?;
        self.calls
            .mutate(
                "glue:CreateDatabase",
                &d.name,
                self.glue
                    .create_database()
                    .database_input(input)
                    .set_tags(Some(to_hash(&d.tags)))
                    .send(),
            )
            .await?;
        Ok(())
    }

    /// Description and parameters (UpdateDatabase) and tags (TagResource), each only when it
    /// differs. Returns the state as it now is.
    pub async fn update_database(
        &self,
        d: &DesiredDatabase,
        observed: &DatabaseState,
    ) -> Result<DatabaseState, CatalogError> {
        let mut now = observed.clone();
        let parameters = merge_parameters(&d.parameters, &observed.parameters, &[GRANTS_PARAM]);
        if d.description != observed.description || parameters != observed.parameters {
            self.put_database(&d.name, &d.description, &parameters)
                .await?;
            now.description = d.description.clone();
            now.parameters = parameters;
        }
        let new_tags = tags_to_set(&d.tags, &observed.tags);
        if !new_tags.is_empty() {
            self.calls
                .mutate(
                    "glue:TagResource",
                    &observed.arn,
                    self.glue
                        .tag_resource()
                        .resource_arn(&observed.arn)
                        .set_tags_to_add(Some(to_hash(&new_tags)))
                        .send(),
                )
                .await?;
            now.tags.extend(new_tags);
        }
        Ok(now)
    }

    /// Sets (Some) or removes (None) parameters of a database of ours, keeping everything else.
    pub async fn set_parameters(
        &self,
        name: &str,
        observed: &mut DatabaseState,
        changes: &BTreeMap<String, Option<String>>,
    ) -> Result<(), CatalogError> {
        let mut parameters = observed.parameters.clone();
        for (k, v) in changes {
            match v {
                Some(v) => parameters.insert(k.clone(), v.clone()),
                None => parameters.remove(k),
            };
        }
        if parameters != observed.parameters {
            self.put_database(name, &observed.description, &parameters)
                .await?;
            observed.parameters = parameters;
        }
        Ok(())
    }

    async fn put_database(
        &self,
        name: &str,
        description: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<(), CallError> {
        let input = Self::database_input(name, description, parameters)?;
        self.calls
            .mutate(
                "glue:UpdateDatabase",
                name,
                self.glue
                    .update_database()
                    .name(name)
                    .database_input(input)
                    .send(),
            )
            .await?;
        Ok(())
    }

    pub async fn delete_database(&self, name: &str) -> Result<(), CatalogError> {
        match self
            .calls
            .mutate(
                "glue:DeleteDatabase",
                name,
                self.glue.delete_database().name(name).send(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(Fault::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every table of the database with its ownership: one paginated GetTables.
    pub async fn observe_tables(
        &self,
        database: &str,
        owner: &Owner,
    ) -> Result<BTreeMap<String, FoundTable>, CatalogError> {
        let mut found = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .calls
                .read(
                    "glue:GetTables",
                    database,
                    self.glue
                        .get_tables()
                        .database_name(database)
                        .set_next_token(token.take())
                        .send(),
                )
                .await;
            let out = match out {
                Ok(out) => out,
                Err(e) if e.is(Fault::NotFound) => return Ok(found),
                Err(e) => return Err(e.into()),
            };
            for t in out.table_list() {
                let shape = TableShape::from_glue(t);
                let ownership = Ownership::of(
                    shape.parameters.get(PRODUCT_TAG).map(String::as_str),
                    shape.parameters.get(UID_TAG).map(String::as_str),
                    owner,
                );
                found.insert(t.name().to_string(), FoundTable { ownership, shape });
            }
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok(found),
            }
        }
    }

    fn table_input(
        name: &str,
        shape: &TableShape,
        parameters: &BTreeMap<String, String>,
    ) -> Result<TableInput, CallError> {
        let action = "glue:CreateTable";
        let columns = |cols: &[GlueColumn]| {
            cols.iter()
                .map(|c| {
                    Column::builder()
                        .name(&c.name)
                        .r#type(&c.type_)
                        .comment(&c.comment)
                        .build()
                        .map_err(|e| CallError::build(action, name, e))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let storage = StorageDescriptor::builder()
            .set_columns(Some(columns(&shape.columns)?))
            .location(&shape.location)
            .input_format(&shape.storage.input_format)
            .output_format(&shape.storage.output_format)
            .serde_info(
                SerDeInfo::builder()
                    .serialization_library(&shape.storage.serde_library)
                    .set_parameters(Some(to_hash(&shape.storage.serde_parameters)))
                    .build(),
            )
            .build();
        TableInput::builder()
            .name(name)
            .description(&shape.description)
            .table_type(&shape.table_type)
            .set_parameters(Some(to_hash(parameters)))
            .storage_descriptor(storage)
            .set_partition_keys(Some(columns(&shape.partition_keys)?))
            .build()
            .map_err(|e| CallError::build(action, name, e))
    }

    pub async fn create_table(
        &self,
        database: &str,
        name: &str,
        desired: &TableShape,
    ) -> Result<(), CallError> {
        let input = Self::table_input(name, desired, &desired.parameters)?;
        self.calls
            .mutate(
                "glue:CreateTable",
                &format!("{database}.{name}"),
                self.glue
                    .create_table()
                    .database_name(database)
                    .table_input(input)
                    .send(),
            )
            .await?;
        Ok(())
    }

    /// UpdateTable in place (a schema change keeps the table, its partitions and its grants).
    pub async fn update_table(
        &self,
        database: &str,
        name: &str,
        desired: &TableShape,
        observed: &TableShape,
    ) -> Result<(), CatalogError> {
        let parameters = merge_parameters(&desired.parameters, &observed.parameters, &[]);
        let input = Self::table_input(name, desired, &parameters)?;
        self.calls
            .mutate(
                "glue:UpdateTable",
                &format!("{database}.{name}"),
                self.glue
                    .update_table()
                    .database_name(database)
                    .table_input(input)
                    .send(),
            )
            .await?;
        Ok(())
    }

    /// Deletes the table definition; the data in S3 stays.
    pub async fn delete_table(&self, database: &str, name: &str) -> Result<(), CatalogError> {
        match self
            .calls
            .mutate(
                "glue:DeleteTable",
                &format!("{database}.{name}"),
                self.glue
                    .delete_table()
                    .database_name(database)
                    .name(name)
                    .send(),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is(Fault::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_parameters_keep_others_and_drop_stale_ours() {
        let desired = BTreeMap::from([
            ("dataproducts.io/version".to_string(), "2".to_string()),
            ("EXTERNAL".to_string(), "TRUE".to_string()),
        ]);
        let observed = BTreeMap::from([
            ("dataproducts.io/version".to_string(), "1".to_string()),
            (
                "dataproducts.io/sunset".to_string(),
                "2027-01-01".to_string(),
            ),
            ("dataproducts.io/grants".to_string(), "[]".to_string()),
            ("transient_lastDdlTime".to_string(), "1".to_string()),
        ]);
        let merged = merge_parameters(&desired, &observed, &[GRANTS_PARAM]);
        assert_eq!(
            merged,
            BTreeMap::from([
                ("dataproducts.io/version".to_string(), "2".to_string()),
                ("dataproducts.io/grants".to_string(), "[]".to_string()),
                ("EXTERNAL".to_string(), "TRUE".to_string()),
                ("transient_lastDdlTime".to_string(), "1".to_string()),
            ])
        );
    }
}
