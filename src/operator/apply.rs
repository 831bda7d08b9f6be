//! The apply step: server-side apply of the planned Kubernetes objects under one field manager,
//! skipping every object that is provably in sync (so a no-op reconcile writes nothing), refusing
//! to touch objects the product does not own, and pruning what is no longer desired.

use std::collections::BTreeSet;

use crate::model::hashing::hash;
use kube::api::{DeleteParams, Patch, PatchParams};
use tracing::{debug, info};

use super::context::Context;
use super::meta_cache::MetaSummary;
use crate::api::InventoryEntry;
use crate::cluster::compare::contains;
use crate::cluster::{api_resource, dynamic_api};
use crate::plan::KubeObject;

/// The field manager every apply uses.
pub use crate::api::constants::FIELD_MANAGER as MANAGER;

/// Why the apply step stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// An object the product needs exists and belongs to someone else; nothing was changed.
    #[error("{object} exists and {owner}; it is left untouched")]
    Conflict { object: String, owner: String },
    #[error("{object}: {source}")]
    Kube {
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    UnknownKind(#[from] crate::cluster::UnknownKind),
}

impl ApplyError {
    /// Transient errors are retried with backoff; conflicts wait for the world to change.
    pub fn is_conflict(&self) -> bool {
        matches!(self, ApplyError::Conflict { .. })
    }

    /// The API server refused the object itself (400 Bad Request, 422 Invalid: a field it
    /// rejects); retrying the same object cannot help, so it waits for a change.
    pub fn is_rejection(&self) -> bool {
        matches!(self, ApplyError::Kube { source: kube::Error::Api(s), .. } if s.code == 400 || s.code == 422)
            || matches!(self, ApplyError::UnknownKind(_))
    }
}

/// What the apply step did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Objects now applied (the product's inventory).
    pub inventory: Vec<InventoryEntry>,
    pub applied: u32,
    pub pruned: u32,
}

fn ownership(object: &InventoryEntry, live: &MetaSummary, product: &str) -> Result<(), ApplyError> {
    match &live.owner {
        Some(owner) if owner == product => Ok(()),
        Some(owner) => Err(ApplyError::Conflict {
            object: object.to_string(),
            owner: format!("belongs to DataProduct {owner}"),
        }),
        None => Err(ApplyError::Conflict {
            object: object.to_string(),
            owner: "is not managed by dataproduct-operator".to_string(),
        }),
    }
}

/// Applies the desired objects in order (namespace first). `product` is `<namespace>/<name>`.
pub async fn apply(
    ctx: &Context,
    product: &str,
    desired: &[KubeObject],
) -> Result<ApplyOutcome, ApplyError> {
    let mut outcome = ApplyOutcome::default();
    // Ownership first, for every cached object: a conflict anywhere means nothing is applied.
    for object in desired {
        let key = object.key();
        if let Some(Some(live)) = ctx.stores.child(&key) {
            ownership(&key, &live, product)?;
        }
    }
    // A namespace this apply creates holds nothing yet, so its children need no read first.
    let mut fresh_namespace: Option<String> = None;
    for object in desired {
        let key = object.key();
        let value = object.to_value();
        let digest = hash(&value);
        outcome.inventory.push(key.clone());
        let cached = ctx.stores.child(&key);
        if let Some(Some(live)) = &cached {
            if ctx
                .applied
                .in_sync(&key, &digest, live.resource_version.as_deref())
            {
                continue;
            }
        }
        let (ar, namespaced) = api_resource(&ctx.client, &key).await?;
        let api = dynamic_api(&ctx.client, &ar, namespaced, key.namespace.as_deref());
        let kube_err = |source| ApplyError::Kube {
            object: key.to_string(),
            source,
        };
        // Read before writing: the object may exist unlabelled (invisible to our
        // label-filtered caches) and must be checked for ownership, not overwritten; and a
        // cache that says an object we applied is gone may only lag behind its watch (under a
        // burst the namespace watch trails the products'), so it is read, not re-applied
        // blindly. Only a namespace this apply has just created is known to hold nothing.
        let in_fresh_namespace =
            key.namespace.is_some() && key.namespace == fresh_namespace && cached.is_some();
        if !in_fresh_namespace {
            let live = api.get_opt(&key.name).await.map_err(kube_err)?;
            if live.is_none() && key.kind == "Namespace" {
                fresh_namespace = Some(key.name.clone());
            }
            if let Some(live) = live {
                ownership(&key, &MetaSummary::of(&live.metadata), product)?;
                let live_value = serde_json::to_value(&live).unwrap_or_default();
                if contains(&live_value, &value) {
                    ctx.applied
                        .record(key.clone(), digest, live.metadata.resource_version.clone());
                    continue;
                }
            }
        }
        let params = PatchParams::apply(MANAGER).force();
        let result = api
            .patch(&key.name, &params, &Patch::Apply(&value))
            .await
            .map_err(kube_err)?;
        ctx.metrics.write("apply");
        outcome.applied += 1;
        info!(object = %key, "applied");
        ctx.applied
            .record(key, digest, result.metadata.resource_version.clone());
    }
    Ok(outcome)
}

/// Deletes objects of the product that are no longer desired: those in the previous inventory
/// and, when `scan` is set, those the caches show with the product's labels (the safety net for
/// objects applied but never recorded; a keyed lookup per kind, but it runs only when something
/// changed). Only objects that carry the product's labels are ever deleted.
pub async fn prune(
    ctx: &Context,
    product_namespace: &str,
    product_name: &str,
    previous: &[InventoryEntry],
    desired: &[InventoryEntry],
    scan: bool,
) -> Result<u32, ApplyError> {
    let product = format!("{product_namespace}/{product_name}");
    let keep: BTreeSet<InventoryEntry> = desired.iter().cloned().collect();
    let mut candidates: BTreeSet<InventoryEntry> = previous.iter().cloned().collect();
    let stores = if scan {
        ctx.stores.children.iter().collect()
    } else {
        Vec::new()
    };
    for (kind, store) in stores {
        for (namespace, name) in store.owned_by(product_namespace, product_name) {
            let api_version = desired
                .iter()
                .chain(previous)
                .find(|e| e.kind == *kind)
                .map(|e| e.api_version.clone())
                .unwrap_or_else(|| default_api_version(kind));
            candidates.insert(InventoryEntry {
                api_version,
                kind: kind.to_string(),
                namespace,
                name,
            });
        }
    }
    let mut pruned = 0;
    for key in candidates.difference(&keep) {
        if delete_if_owned(ctx, &product, key).await? {
            pruned += 1;
        }
    }
    Ok(pruned)
}

fn default_api_version(kind: &str) -> String {
    crate::cluster::kinds::by_kind(kind)
        .map(|k| k.resource.api_version.clone())
        .unwrap_or_else(|| "v1".to_string())
}

/// Deletes one object if (and only if) it carries the product's labels. Not-found is success.
pub async fn delete_if_owned(
    ctx: &Context,
    product: &str,
    key: &InventoryEntry,
) -> Result<bool, ApplyError> {
    let owned = match ctx.stores.child(key) {
        Some(None) => return Ok(false),
        Some(Some(live)) => live.owner.as_deref() == Some(product),
        None => {
            let Ok((ar, namespaced)) = api_resource(&ctx.client, key).await else {
                // A kind the cluster no longer serves has no objects left to delete.
                return Ok(false);
            };
            let api = dynamic_api(&ctx.client, &ar, namespaced, key.namespace.as_deref());
            match api.get_opt(&key.name).await {
                Ok(Some(live)) => MetaSummary::of(&live.metadata).owner.as_deref() == Some(product),
                Ok(None) => return Ok(false),
                Err(source) => {
                    return Err(ApplyError::Kube {
                        object: key.to_string(),
                        source,
                    })
                }
            }
        }
    };
    if !owned {
        debug!(object = %key, "not ours; not deleted");
        return Ok(false);
    }
    let (ar, namespaced) = api_resource(&ctx.client, key).await?;
    let api = dynamic_api(&ctx.client, &ar, namespaced, key.namespace.as_deref());
    match api.delete(&key.name, &DeleteParams::background()).await {
        Ok(_) => {
            ctx.metrics.write("delete");
            ctx.applied.forget(key);
            info!(object = %key, "deleted");
            Ok(true)
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(source) => Err(ApplyError::Kube {
            object: key.to_string(),
            source,
        }),
    }
}
