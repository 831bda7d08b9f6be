//! S3: one bucket per layer. Observe never mutates; create configures everything; update changes
//! only the settings that differ; delete empties a bucket only when told to.

use std::collections::BTreeMap;

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, Delete, ExpirationStatus,
    LifecycleExpiration, LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    VersioningConfiguration,
};
use serde_json::Value;

use super::call::{step_error, CallError, Calls, Fault};
use super::ownership::{owned_tags, parse_policy, same_policy, tags_to_set, Observed, Ownership};
use super::Owner;
use crate::plan::aws::{Encryption, LifecycleRule, PublicAccessBlock, S3BucketSpec};

step_error!(
    /// Why the storage step failed for a bucket.
    StorageError
);

/// Everything a bucket should be.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredBucket {
    pub name: String,
    pub region: String,
    pub encryption: Encryption,
    pub versioning: bool,
    pub public_access_block: PublicAccessBlock,
    pub policy: Value,
    pub lifecycle: Vec<LifecycleRule>,
    pub tags: BTreeMap<String, String>,
}

impl DesiredBucket {
    /// The plan's bucket, with the uid tag and extra policy statements (bucket-policy grants).
    pub fn from_plan(
        name: &str,
        region: &str,
        spec: &S3BucketSpec,
        owner: &Owner,
        extra_statements: &[Value],
    ) -> DesiredBucket {
        let mut policy = spec.policy.clone();
        if !extra_statements.is_empty() {
            if let Some(Value::Array(statements)) = policy.get_mut("Statement") {
                statements.extend(extra_statements.iter().cloned());
            }
        }
        DesiredBucket {
            name: name.to_string(),
            region: region.to_string(),
            encryption: spec.encryption.clone(),
            versioning: spec.versioning,
            public_access_block: spec.public_access_block.clone(),
            policy,
            lifecycle: spec.lifecycle.clone(),
            tags: owned_tags(&spec.tags, owner),
        }
    }
}

/// A lifecycle rule as found: the plan's fields plus what the plan never sets.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedRule {
    pub rule: LifecycleRule,
    pub enabled: bool,
    pub prefix: String,
}

/// What a bucket of ours looks like now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BucketState {
    pub tags: BTreeMap<String, String>,
    pub encryption: Option<Encryption>,
    /// `Enabled`, `Suspended`, or None for a bucket never versioned.
    pub versioning: Option<String>,
    pub public_access_block: Option<PublicAccessBlock>,
    pub policy: Option<Value>,
    pub lifecycle: Vec<ObservedRule>,
}

/// What delete did.
#[derive(Debug, Clone, PartialEq)]
pub enum Deletion {
    /// Deleted now.
    Deleted,
    /// Was not there (not-found is success).
    Absent,
    /// Not this product's (anymore): left alone.
    NotOwned(String),
    /// Holds objects and the plan does not allow deleting data: left in place.
    Retained(String),
}

/// Buckets this process created whose ownership tags are not written yet, with their owner
/// (`<product>#<uid>`). S3 cannot tag a bucket as it creates it, so a create whose tagging
/// failed (throttled past its retries) leaves an untagged bucket; the retry must recognise it
/// as ours rather than report a conflict with itself forever.
pub type Untagged = std::sync::Mutex<std::collections::HashMap<String, String>>;

/// The S3 side of one region.
pub struct Storage<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub calls: &'a Calls,
    pub untagged: &'a Untagged,
}

fn owner_key(owner: &Owner) -> String {
    format!("{}#{}", owner.product, owner.uid)
}

impl Storage<'_> {
    /// Reads ownership first; a bucket that is not ours is not read any further.
    pub async fn observe(
        &self,
        name: &str,
        owner: &Owner,
    ) -> Result<Observed<BucketState>, StorageError> {
        let tags = match self.tags(name).await? {
            None => return Ok(Observed::Absent),
            Some(tags) => tags,
        };
        let mut ownership = Ownership::from_tags(&tags, owner);
        let created_here = self
            .untagged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .is_some_and(|o| *o == owner_key(owner));
        if created_here && !tags.contains_key(super::ownership::PRODUCT_TAG) {
            ownership = Ownership::Ours;
        }
        if let Ownership::Foreign(why) = ownership {
            return Ok(Observed::Foreign(why));
        }
        let (encryption, versioning, pab, policy, lifecycle) = futures::join!(
            self.encryption(name),
            self.versioning(name),
            self.public_access_block(name),
            self.policy(name),
            self.lifecycle(name),
        );
        Ok(Observed::Present {
            ownership,
            state: BucketState {
                tags,
                encryption: encryption?,
                versioning: versioning?,
                public_access_block: pab?,
                policy: policy?,
                lifecycle: lifecycle?,
            },
        })
    }

    /// Tags, or None when the bucket does not exist.
    async fn tags(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, StorageError> {
        let out = self
            .calls
            .read(
                "s3:GetBucketTagging",
                name,
                self.s3.get_bucket_tagging().bucket(name).send(),
            )
            .await;
        match out {
            Ok(out) => Ok(Some(
                out.tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
            )),
            Err(e) if e.code_in(&["NoSuchBucket"]) => Ok(None),
            Err(e) if e.is(Fault::NotFound) => Ok(Some(BTreeMap::new())),
            Err(e) if e.is(Fault::AccessDenied) => Err(StorageError::AccessDenied {
                action: e.action.to_string(),
                resource: name.to_string(),
                message: format!(
                    "{} (a bucket name held by another AWS account answers the same way)",
                    if e.message.is_empty() {
                        &e.code
                    } else {
                        &e.message
                    }
                ),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn encryption(&self, name: &str) -> Result<Option<Encryption>, StorageError> {
        let out = self
            .calls
            .read(
                "s3:GetEncryptionConfiguration",
                name,
                self.s3.get_bucket_encryption().bucket(name).send(),
            )
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.is(Fault::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let rule = out
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first());
        Ok(rule.and_then(|r| {
            r.apply_server_side_encryption_by_default()
                .map(|d| Encryption {
                    algorithm: d.sse_algorithm().as_str().to_string(),
                    kms_key_id: d.kms_master_key_id().map(str::to_string),
                    bucket_key_enabled: r.bucket_key_enabled().unwrap_or(false),
                })
        }))
    }

    async fn versioning(&self, name: &str) -> Result<Option<String>, StorageError> {
        let out = self
            .calls
            .read(
                "s3:GetBucketVersioning",
                name,
                self.s3.get_bucket_versioning().bucket(name).send(),
            )
            .await?;
        Ok(out.status().map(|s| s.as_str().to_string()))
    }

    async fn public_access_block(
        &self,
        name: &str,
    ) -> Result<Option<PublicAccessBlock>, StorageError> {
        let out = self
            .calls
            .read(
                "s3:GetBucketPublicAccessBlock",
                name,
                self.s3.get_public_access_block().bucket(name).send(),
            )
            .await;
        match out {
            Ok(out) => Ok(out
                .public_access_block_configuration()
                .map(|c| PublicAccessBlock {
                    block_public_acls: c.block_public_acls().unwrap_or(false),
                    ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                    block_public_policy: c.block_public_policy().unwrap_or(false),
                    restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
                })),
            Err(e) if e.is(Fault::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn policy(&self, name: &str) -> Result<Option<Value>, StorageError> {
        let out = self
            .calls
            .read(
                "s3:GetBucketPolicy",
                name,
                self.s3.get_bucket_policy().bucket(name).send(),
            )
            .await;
        match out {
            Ok(out) => Ok(out.policy().and_then(parse_policy)),
            Err(e) if e.is(Fault::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn lifecycle(&self, name: &str) -> Result<Vec<ObservedRule>, StorageError> {
        let out = self
            .calls
            .read(
                "s3:GetLifecycleConfiguration",
                name,
                self.s3
                    .get_bucket_lifecycle_configuration()
                    .bucket(name)
                    .send(),
            )
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.is(Fault::NotFound) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let days = |d: Option<i32>| d.and_then(|d| u32::try_from(d).ok());
        Ok(out
            .rules()
            .iter()
            .map(|r| ObservedRule {
                rule: LifecycleRule {
                    id: r.id().unwrap_or_default().to_string(),
                    expiration_days: days(r.expiration().and_then(|e| e.days())),
                    noncurrent_version_expiration_days: days(
                        r.noncurrent_version_expiration()
                            .and_then(|e| e.noncurrent_days()),
                    ),
                    abort_incomplete_multipart_upload_days: days(
                        r.abort_incomplete_multipart_upload()
                            .and_then(|a| a.days_after_initiation()),
                    ),
                },
                enabled: r.status() == &ExpirationStatus::Enabled,
                #[allow(deprecated)]
                prefix: r
                    .filter()
                    .and_then(|f| f.prefix())
                    .or(r.prefix())
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect())
    }

    /// Creates the bucket and configures everything. Ownership tags are written first, so a
    /// bucket interrupted half-way is still recognised as ours.
    pub async fn create(&self, desired: &DesiredBucket) -> Result<(), StorageError> {
        let name = desired.name.as_str();
        let mut create = self.s3.create_bucket().bucket(name);
        // us-east-1 is the one region that refuses a LocationConstraint.
        if desired.region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(desired.region.as_str()))
                    .build(),
            );
        }
        let remember = |on: bool| {
            let mut u = self.untagged.lock().unwrap_or_else(|p| p.into_inner());
            if on {
                let tag = |t: &str| desired.tags.get(t).cloned().unwrap_or_default();
                let owner = Owner {
                    product: tag(super::ownership::PRODUCT_TAG),
                    uid: tag(super::ownership::UID_TAG),
                };
                u.insert(name.to_string(), owner_key(&owner));
            } else {
                u.remove(name);
            }
        };
        // Remembered before the call: a create whose answer is lost (throttled or failed after
        // the bucket was made) leaves a bucket this product made but has not tagged yet. The name
        // was absent when observed just before, so what is there on the retry is ours.
        remember(true);
        match self
            .calls
            .mutate("s3:CreateBucket", name, create.send())
            .await
        {
            Ok(_) => {}
            // A retried create whose first attempt succeeded.
            Err(e) if e.code_in(&["BucketAlreadyOwnedByYou"]) => {}
            Err(e) if e.code_in(&["BucketAlreadyExists"]) => {
                remember(false);
                return Err(StorageError::Conflict {
                    resource: format!("S3 bucket {name}"),
                    detail: "the name is taken by another AWS account".to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        let result = self.update(desired, &BucketState::default()).await;
        if result.is_ok() {
            remember(false);
        }
        result
    }

    /// Changes only what differs from `observed`.
    pub async fn update(
        &self,
        desired: &DesiredBucket,
        observed: &BucketState,
    ) -> Result<(), StorageError> {
        let name = desired.name.as_str();
        let new_tags = tags_to_set(&desired.tags, &observed.tags);
        if !new_tags.is_empty() {
            // PutBucketTagging replaces the set: keep tags others added.
            let mut all = observed.tags.clone();
            all.extend(new_tags);
            self.put_tags(name, &all).await?;
        }
        if !same_encryption(&desired.encryption, observed.encryption.as_ref()) {
            self.put_encryption(name, &desired.encryption).await?;
        }
        let enabled = observed.versioning.as_deref() == Some("Enabled");
        if desired.versioning != enabled && (desired.versioning || observed.versioning.is_some()) {
            let status = if desired.versioning {
                BucketVersioningStatus::Enabled
            } else {
                BucketVersioningStatus::Suspended
            };
            self.calls
                .mutate(
                    "s3:PutBucketVersioning",
                    name,
                    self.s3
                        .put_bucket_versioning()
                        .bucket(name)
                        .versioning_configuration(
                            VersioningConfiguration::builder().status(status).build(),
                        )
                        .send(),
                )
                .await?;
        }
        if observed.public_access_block.as_ref() != Some(&desired.public_access_block) {
            let p = &desired.public_access_block;
            self.calls
                .mutate(
                    "s3:PutBucketPublicAccessBlock",
                    name,
                    self.s3
                        .put_public_access_block()
                        .bucket(name)
                        .public_access_block_configuration(
                            PublicAccessBlockConfiguration::builder()
                                .block_public_acls(p.block_public_acls)
                                .ignore_public_acls(p.ignore_public_acls)
                                .block_public_policy(p.block_public_policy)
                                .restrict_public_buckets(p.restrict_public_buckets)
                                .build(),
                        )
                        .send(),
                )
                .await?;
        }
        if !observed
            .policy
            .as_ref()
            .is_some_and(|p| same_policy(p, &desired.policy))
        {
            self.put_policy(name, &desired.policy).await?;
        }
        if !same_lifecycle(&desired.lifecycle, &observed.lifecycle) {
            self.put_lifecycle(name, &desired.lifecycle).await?;
        }
        Ok(())
    }

    async fn put_tags(
        &self,
        name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), StorageError> {
        let action = "s3:PutBucketTagging";
        let tag_set = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CallError::build(action, name, e))?;
        let tagging = Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(|e| CallError::build(action, name, e))?;
        self.calls
            .mutate(
                action,
                name,
                self.s3
                    .put_bucket_tagging()
                    .bucket(name)
                    .tagging(tagging)
                    .send(),
            )
            .await?;
        Ok(())
    }

    async fn put_encryption(&self, name: &str, e: &Encryption) -> Result<(), StorageError> {
        let action = "s3:PutEncryptionConfiguration";
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(e.algorithm.as_str()))
            .set_kms_master_key_id(e.kms_key_id.clone())
            .build()
            .map_err(|err| CallError::build(action, name, err))?;
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .bucket_key_enabled(e.bucket_key_enabled)
                    .build(),
            )
            .build()
            .map_err(|err| CallError::build(action, name, err))?;
        self.calls
            .mutate(
                action,
                name,
                self.s3
                    .put_bucket_encryption()
                    .bucket(name)
                    .server_side_encryption_configuration(config)
                    .send(),
            )
            .await?;
        Ok(())
    }

    async fn put_policy(&self, name: &str, policy: &Value) -> Result<(), StorageError> {
        self.calls
            .mutate(
                "s3:PutBucketPolicy",
                name,
                self.s3
                    .put_bucket_policy()
                    .bucket(name)
                    .policy(policy.to_string())
                    .send(),
            )
            .await?;
        Ok(())
    }

    async fn put_lifecycle(&self, name: &str, rules: &[LifecycleRule]) -> Result<(), StorageError> {
        let action = "s3:PutLifecycleConfiguration";
        let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
        let mut built = Vec::new();
        for r in rules {
            let mut b = aws_sdk_s3::types::LifecycleRule::builder()
                .id(&r.id)
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("").build());
            if let Some(d) = r.expiration_days {
                b = b.expiration(LifecycleExpiration::builder().days(days(d)).build());
            }
            if let Some(d) = r.noncurrent_version_expiration_days {
                b = b.noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(days(d))
                        .build(),
                );
            }
            if let Some(d) = r.abort_incomplete_multipart_upload_days {
                b = b.abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(days(d))
                        .build(),
                );
            }
            built.push(b.build().map_err(|e| CallError::build(action, name, e))?);
        }
        if built.is_empty() {
            self.calls
                .mutate(
                    "s3:PutLifecycleConfiguration",
                    name,
                    self.s3.delete_bucket_lifecycle().bucket(name).send(),
                )
                .await?;
            return Ok(());
        }
        let config = BucketLifecycleConfiguration::builder()
            .set_rules(Some(built))
            .build()
            .map_err(|e| CallError::build(action, name, e))?;
        self.calls
            .mutate(
                action,
                name,
                self.s3
                    .put_bucket_lifecycle_configuration()
                    .bucket(name)
                    .lifecycle_configuration(config)
                    .send(),
            )
            .await?;
        Ok(())
    }

    /// Removes the statements whose Sid starts with `sid_prefix` from a bucket of ours (grants
    /// that are withdrawn while the bucket itself is retained).
    pub async fn remove_statements(
        &self,
        name: &str,
        owner: &Owner,
        sid_prefix: &str,
    ) -> Result<(), StorageError> {
        let Some(tags) = self.tags(name).await? else {
            return Ok(());
        };
        if Ownership::from_tags(&tags, owner) != Ownership::Ours {
            return Ok(());
        }
        let Some(mut policy) = self.policy(name).await? else {
            return Ok(());
        };
        let Some(Value::Array(statements)) = policy.get_mut("Statement") else {
            return Ok(());
        };
        let before = statements.len();
        statements.retain(|s| {
            !s.get("Sid")
                .and_then(Value::as_str)
                .is_some_and(|sid| sid.starts_with(sid_prefix))
        });
        if statements.len() != before {
            self.put_policy(name, &policy).await?;
        }
        Ok(())
    }

    /// Deletes a bucket of ours. With `force`, every object version and delete marker goes
    /// first; without it, a bucket holding anything is retained.
    pub async fn delete(
        &self,
        name: &str,
        owner: &Owner,
        force: bool,
    ) -> Result<Deletion, StorageError> {
        let Some(tags) = self.tags(name).await? else {
            return Ok(Deletion::Absent);
        };
        match Ownership::from_tags(&tags, owner) {
            Ownership::Ours => {}
            Ownership::Adoptable => {
                return Ok(Deletion::NotOwned(
                    "it carries another uid of this product".into(),
                ))
            }
            Ownership::Foreign(why) => return Ok(Deletion::NotOwned(why)),
        }
        let held = self.object_versions(name, 1, None).await?;
        if !held.entries.is_empty() {
            if !force {
                return Ok(Deletion::Retained(format!(
                    "S3 bucket {name} holds objects and forceDeleteData is false: kept with its data"
                )));
            }
            self.empty(name).await?;
        }
        match self
            .calls
            .mutate(
                "s3:DeleteBucket",
                name,
                self.s3.delete_bucket().bucket(name).send(),
            )
            .await
        {
            Ok(_) => Ok(Deletion::Deleted),
            Err(e) if e.code_in(&["NoSuchBucket"]) => Ok(Deletion::Absent),
            Err(e) if e.code_in(&["BucketNotEmpty"]) && !force => Ok(Deletion::Retained(format!(
                "S3 bucket {name} received objects while being deleted: kept with its data"
            ))),
            Err(e) if e.code_in(&["BucketNotEmpty"]) => Err(StorageError::Transient(
                format!("S3 bucket {name} received objects while being emptied").into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes every object version and delete marker, a page at a time.
    async fn empty(&self, name: &str) -> Result<(), StorageError> {
        let action = "s3:DeleteObjectVersion";
        let mut marker = None;
        loop {
            let page = self.object_versions(name, 1000, marker.take()).await?;
            if !page.entries.is_empty() {
                let objects = page
                    .entries
                    .iter()
                    .map(|(key, version)| {
                        ObjectIdentifier::builder()
                            .key(key)
                            .set_version_id(version.clone())
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| CallError::build(action, name, e))?;
                let delete = Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .map_err(|e| CallError::build(action, name, e))?;
                let out = self
                    .calls
                    .mutate(
                        action,
                        name,
                        self.s3.delete_objects().bucket(name).delete(delete).send(),
                    )
                    .await?;
                if let Some(err) = out.errors().first() {
                    return Err(StorageError::Failed(
                        format!(
                            "{action} on {name}/{}: {}: {}",
                            err.key().unwrap_or_default(),
                            err.code().unwrap_or_default(),
                            err.message().unwrap_or_default()
                        )
                        .into(),
                    ));
                }
            }
            match page.next {
                Some(next) => marker = Some(next),
                None => return Ok(()),
            }
        }
    }

    async fn object_versions(
        &self,
        name: &str,
        max: i32,
        marker: Option<(Option<String>, Option<String>)>,
    ) -> Result<VersionPage, StorageError> {
        let (key_marker, version_marker) = marker.unwrap_or((None, None));
        let out = self
            .calls
            .read(
                "s3:ListBucketVersions",
                name,
                self.s3
                    .list_object_versions()
                    .bucket(name)
                    .max_keys(max)
                    .set_key_marker(key_marker)
                    .set_version_id_marker(version_marker)
                    .send(),
            )
            .await?;
        let mut entries: Vec<(String, Option<String>)> = out
            .versions()
            .iter()
            .filter_map(|v| Some((v.key()?.to_string(), v.version_id().map(str::to_string))))
            .collect();
        entries.extend(
            out.delete_markers()
                .iter()
                .filter_map(|m| Some((m.key()?.to_string(), m.version_id().map(str::to_string)))),
        );
        let next = if out.is_truncated() == Some(true) && max > 1 {
            Some((
                out.next_key_marker().map(str::to_string),
                out.next_version_id_marker().map(str::to_string),
            ))
        } else {
            None
        };
        Ok(VersionPage { entries, next })
    }
}

struct VersionPage {
    entries: Vec<(String, Option<String>)>,
    next: Option<(Option<String>, Option<String>)>,
}

/// KMS keys may come back as the ARN of the alias or key that was set.
fn same_encryption(desired: &Encryption, observed: Option<&Encryption>) -> bool {
    let Some(observed) = observed else {
        return false;
    };
    let same_key = match (&desired.kms_key_id, &observed.kms_key_id) {
        (None, None) => true,
        (Some(d), Some(o)) => {
            o == d || o.ends_with(&format!(":{d}")) || o.ends_with(&format!("/{d}"))
        }
        _ => false,
    };
    desired.algorithm == observed.algorithm
        && same_key
        && desired.bucket_key_enabled == observed.bucket_key_enabled
}

fn same_lifecycle(desired: &[LifecycleRule], observed: &[ObservedRule]) -> bool {
    let mut want: Vec<ObservedRule> = desired
        .iter()
        .map(|r| ObservedRule {
            rule: r.clone(),
            enabled: true,
            prefix: String::new(),
        })
        .collect();
    let mut have = observed.to_vec();
    want.sort_by(|a, b| a.rule.id.cmp(&b.rule.id));
    have.sort_by(|a, b| a.rule.id.cmp(&b.rule.id));
    want == have
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_keys_compare_by_alias_or_arn() {
        let d = Encryption {
            algorithm: "aws:kms".into(),
            kms_key_id: Some("alias/data".into()),
            bucket_key_enabled: true,
        };
        let mut o = d.clone();
        assert!(same_encryption(&d, Some(&o)));
        o.kms_key_id = Some("arn:aws:kms:eu-west-1:1:alias/data".into());
        assert!(same_encryption(&d, Some(&o)));
        o.kms_key_id = Some("arn:aws:kms:eu-west-1:1:alias/other".into());
        assert!(!same_encryption(&d, Some(&o)));
        assert!(!same_encryption(&d, None));
    }

    #[test]
    fn lifecycle_order_does_not_matter_but_content_does() {
        let a = LifecycleRule {
            id: "a".into(),
            expiration_days: Some(3),
            noncurrent_version_expiration_days: None,
            abort_incomplete_multipart_upload_days: None,
        };
        let b = LifecycleRule {
            id: "b".into(),
            expiration_days: None,
            noncurrent_version_expiration_days: Some(5),
            abort_incomplete_multipart_upload_days: None,
        };
        let seen = |r: &LifecycleRule, enabled| ObservedRule {
            rule: r.clone(),
            enabled,
            prefix: String::new(),
        };
        assert!(same_lifecycle(
            &[a.clone(), b.clone()],
            &[seen(&b, true), seen(&a, true)]
        ));
        assert!(!same_lifecycle(
            &[a.clone(), b.clone()],
            &[seen(&b, true), seen(&a, false)]
        ));
        assert!(!same_lifecycle(&[a.clone(), b], &[seen(&a, true)]));
    }
}
