//! Kubernetes helpers shared by the operator, the CLI (`dpctl diff`, `load-test`) and the
//! catalogue: the table of child kinds, how a planned object finds its API, and how a live
//! object is compared with what we would send.

pub mod compare;
pub mod kinds;
pub mod world;

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use kube::Client;

use crate::api::InventoryEntry;

/// A kind the cluster does not serve (an extra resource whose CRD is missing, say).
#[derive(Debug, thiserror::Error)]
#[error("{kind} is not served by the cluster")]
pub struct UnknownKind {
    pub kind: String,
    #[source]
    pub source: kube::Error,
}

/// The API resource of a planned object and whether it is namespaced: the child kinds from
/// the table, extra resources through discovery.
pub async fn api_resource(
    client: &Client,
    key: &InventoryEntry,
) -> Result<(ApiResource, bool), UnknownKind> {
    if let Some(k) = kinds::by_kind(&key.kind).filter(|k| k.resource.api_version == key.api_version)
    {
        return Ok((k.resource.clone(), k.namespaced));
    }
    let (group, version) = match key.api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), key.api_version.clone()),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, &key.kind);
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|source| UnknownKind {
            kind: format!("{}/{}", key.api_version, key.kind),
            source,
        })?;
    Ok((ar, caps.scope == Scope::Namespaced))
}

/// A dynamic API for one object: namespaced when the kind is and a namespace is given.
pub fn dynamic_api(
    client: &Client,
    ar: &ApiResource,
    namespaced: bool,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match (namespaced, namespace) {
        (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, ar),
        _ => Api::all_with(client.clone(), ar),
    }
}
