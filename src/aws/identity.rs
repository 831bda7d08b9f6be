//! IAM: the product's role (trusted by its ServiceAccount), its inline policy and its tags.

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;
use serde_json::Value;

use super::call::{step_error, CallError, Calls, Fault};
use super::ownership::{owned_tags, parse_policy, same_policy, tags_to_set, Observed, Ownership};
use super::Owner;
use crate::plan::aws::IamRoleSpec;

step_error!(
    /// Why the identity step failed.
    IdentityError
);

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredRole {
    pub name: String,
    /// IAM path (`/dataproducts/`); set at creation, IAM cannot change it.
    pub path: String,
    /// Permissions boundary ARN attached at creation and kept attached.
    pub permissions_boundary: Option<String>,
    pub trust_policy: Value,
    pub policy_name: String,
    pub policy: Value,
    pub tags: BTreeMap<String, String>,
}

impl DesiredRole {
    pub fn from_plan(name: &str, spec: &IamRoleSpec, owner: &Owner) -> DesiredRole {
        DesiredRole {
            name: name.to_string(),
            path: spec.path.clone(),
            permissions_boundary: spec.permissions_boundary.clone(),
            trust_policy: spec.trust_policy.clone(),
            policy_name: spec.policy_name.clone(),
            policy: spec.policy.clone(),
            tags: owned_tags(&spec.tags, owner),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleState {
    pub arn: String,
    pub path: String,
    pub permissions_boundary: Option<String>,
    pub trust_policy: Option<Value>,
    pub policy: Option<Value>,
    pub tags: BTreeMap<String, String>,
}

/// What delete did.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleDeletion {
    Deleted,
    Absent,
    NotOwned(String),
}

/// What GetRole showed.
struct FoundRole {
    arn: String,
    path: String,
    permissions_boundary: Option<String>,
    trust_policy: Option<Value>,
    tags: BTreeMap<String, String>,
}

pub struct Identity<'a> {
    pub iam: &'a aws_sdk_iam::Client,
    pub calls: &'a Calls,
}

fn tag_list(
    action: &'static str,
    role: &str,
    tags: &BTreeMap<String, String>,
) -> Result<Vec<Tag>, CallError> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CallError::build(action, role, e))
}

impl Identity<'_> {
    async fn get_role(&self, name: &str) -> Result<Option<FoundRole>, IdentityError> {
        let out = self
            .calls
            .read(
                "iam:GetRole",
                name,
                self.iam.get_role().role_name(name).send(),
            )
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.is(Fault::NotFound) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(role) = out.role() else {
            return Ok(None);
        };
        let tags = role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        Ok(Some(FoundRole {
            arn: role.arn().to_string(),
            path: role.path().to_string(),
            permissions_boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
            trust_policy: role.assume_role_policy_document().and_then(parse_policy),
            tags,
        }))
    }

    /// GetRole (trust policy and tags), then the inline policy when the role is ours.
    pub async fn observe(
        &self,
        desired: &DesiredRole,
        owner: &Owner,
    ) -> Result<Observed<RoleState>, IdentityError> {
        let Some(found) = self.get_role(&desired.name).await? else {
            return Ok(Observed::Absent);
        };
        let ownership = Ownership::from_tags(&found.tags, owner);
        if let Ownership::Foreign(why) = ownership {
            return Ok(Observed::Foreign(why));
        }
        let policy = self
            .calls
            .read(
                "iam:GetRolePolicy",
                &desired.name,
                self.iam
                    .get_role_policy()
                    .role_name(&desired.name)
                    .policy_name(&desired.policy_name)
                    .send(),
            )
            .await;
        let policy = match policy {
            Ok(out) => parse_policy(out.policy_document()),
            Err(e) if e.is(Fault::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(Observed::Present {
            ownership,
            state: RoleState {
                arn: found.arn,
                path: found.path,
                permissions_boundary: found.permissions_boundary,
                trust_policy: found.trust_policy,
                policy,
                tags: found.tags,
            },
        })
    }

    /// CreateRole with its path, permissions boundary, trust policy and tags in one call (the
    /// operator's own policy allows CreateRole only so), then the inline policy.
    pub async fn create(&self, d: &DesiredRole) -> Result<(), CallError> {
        let action = "iam:CreateRole";
        self.calls
            .mutate(
                action,
                &d.name,
                self.iam
                    .create_role()
                    .role_name(&d.name)
                    .path(&d.path)
                    .set_permissions_boundary(d.permissions_boundary.clone())
                    .assume_role_policy_document(d.trust_policy.to_string())
                    .description("Data product role, managed by dataproduct-operator")
                    .set_tags(Some(tag_list(action, &d.name, &d.tags)?))
                    .send(),
            )
            .await?;
        self.put_policy(d).await?;
        Ok(())
    }

    async fn put_policy(&self, d: &DesiredRole) -> Result<(), CallError> {
        self.calls
            .mutate(
                "iam:PutRolePolicy",
                &d.name,
                self.iam
                    .put_role_policy()
                    .role_name(&d.name)
                    .policy_name(&d.policy_name)
                    .policy_document(d.policy.to_string())
                    .send(),
            )
            .await?;
        Ok(())
    }

    /// Permissions boundary, trust policy, inline policy and tags, each only when it differs.
    /// The boundary goes first, so a role never holds a new policy without it. A boundary the
    /// template no longer names is left attached (the operator may not remove boundaries).
    pub async fn update(&self, d: &DesiredRole, observed: &RoleState) -> Result<(), IdentityError> {
        if let Some(boundary) = &d.permissions_boundary {
            if observed.permissions_boundary.as_ref() != Some(boundary) {
                self.calls
                    .mutate(
                        "iam:PutRolePermissionsBoundary",
                        &d.name,
                        self.iam
                            .put_role_permissions_boundary()
                            .role_name(&d.name)
                            .permissions_boundary(boundary)
                            .send(),
                    )
                    .await?;
            }
        }
        if !observed
            .trust_policy
            .as_ref()
            .is_some_and(|p| same_policy(p, &d.trust_policy))
        {
            self.calls
                .mutate(
                    "iam:UpdateAssumeRolePolicy",
                    &d.name,
                    self.iam
                        .update_assume_role_policy()
                        .role_name(&d.name)
                        .policy_document(d.trust_policy.to_string())
                        .send(),
                )
                .await?;
        }
        if !observed
            .policy
            .as_ref()
            .is_some_and(|p| same_policy(p, &d.policy))
        {
            self.put_policy(d).await?;
        }
        let new_tags = tags_to_set(&d.tags, &observed.tags);
        if !new_tags.is_empty() {
            let action = "iam:TagRole";
            self.calls
                .mutate(
                    action,
                    &d.name,
                    self.iam
                        .tag_role()
                        .role_name(&d.name)
                        .set_tags(Some(tag_list(action, &d.name, &new_tags)?))
                        .send(),
                )
                .await?;
        }
        Ok(())
    }

    /// Deletes a role of ours: its inline policies and attached policies first.
    pub async fn delete(&self, name: &str, owner: &Owner) -> Result<RoleDeletion, IdentityError> {
        let Some(found) = self.get_role(name).await? else {
            return Ok(RoleDeletion::Absent);
        };
        match Ownership::from_tags(&found.tags, owner) {
            Ownership::Ours => {}
            Ownership::Adoptable => {
                return Ok(RoleDeletion::NotOwned(
                    "it carries another uid of this product".into(),
                ))
            }
            Ownership::Foreign(why) => return Ok(RoleDeletion::NotOwned(why)),
        }
        let inline = self
            .calls
            .read(
                "iam:ListRolePolicies",
                name,
                self.iam.list_role_policies().role_name(name).send(),
            )
            .await?;
        for policy in inline.policy_names() {
            let out = self
                .calls
                .mutate(
                    "iam:DeleteRolePolicy",
                    name,
                    self.iam
                        .delete_role_policy()
                        .role_name(name)
                        .policy_name(policy)
                        .send(),
                )
                .await;
            match out {
                Ok(_) => {}
                Err(e) if e.is(Fault::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let attached = self
            .calls
            .read(
                "iam:ListAttachedRolePolicies",
                name,
                self.iam
                    .list_attached_role_policies()
                    .role_name(name)
                    .send(),
            )
            .await?;
        for policy in attached.attached_policies() {
            let Some(arn) = policy.policy_arn() else {
                continue;
            };
            let out = self
                .calls
                .mutate(
                    "iam:DetachRolePolicy",
                    name,
                    self.iam
                        .detach_role_policy()
                        .role_name(name)
                        .policy_arn(arn)
                        .send(),
                )
                .await;
            match out {
                Ok(_) => {}
                Err(e) if e.is(Fault::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match self
            .calls
            .mutate(
                "iam:DeleteRole",
                name,
                self.iam.delete_role().role_name(name).send(),
            )
            .await
        {
            Ok(_) => Ok(RoleDeletion::Deleted),
            Err(e) if e.is(Fault::NotFound) => Ok(RoleDeletion::Absent),
            Err(e) => Err(e.into()),
        }
    }
}
