//! An in-memory fake Kubernetes API server over real HTTP on 127.0.0.1.
//!
//! It speaks enough of the API server's protocol that kube-rs's client, watchers, reflectors,
//! `Controller`, server-side apply, the finalizer helper, status patches, events and Lease leader
//! election work against it unchanged: list with pagination and selectors, watch with history
//! replay, bookmarks and 410 Expired, the patch flavours, finalizer-aware deletion, namespace
//! cascade, the status subresource, metadata-only (`PartialObjectMetadata`) responses and
//! server-managed metadata including realistic `managedFields` (so stored objects are as heavy
//! as on a real cluster).
//!
//! Deliberate simplifications: server-side apply is a recursive map merge (lists replace) plus
//! removal of fields the same manager applied before and no other manager owns; there is no
//! conflict detection, no schema validation, no defaulting, no admission, no auth. Lists are
//! served from the current state whatever `resourceVersion` they ask for.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::{JoinHandle, JoinSet};

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// How many watch events are kept for replay; a watch from an older resourceVersion gets 410.
const DEFAULT_HISTORY: usize = 20_000;
/// Capacity of the channel fanning events out to watchers; a watcher this far behind is cut
/// off with 410 (so the client relists) instead of slowing writers down.
const BROADCAST_CAPACITY: usize = 65_536;
const DEFAULT_WATCH_TIMEOUT: u64 = 300;

/// One kind the server serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub plural: String,
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespaced: bool,
    /// Whether the kind has a `/status` subresource.
    pub status: bool,
}

impl Resource {
    pub fn new(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
        status: bool,
    ) -> Self {
        Resource {
            plural: plural.into(),
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespaced,
            status,
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `leases.coordination.k8s.io`, as in the API server's error messages.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.plural == "namespaces"
    }
}

fn builtin_resources() -> Vec<Resource> {
    let r = Resource::new;
    vec![
        r("", "v1", "namespaces", "Namespace", false, true),
        r("", "v1", "serviceaccounts", "ServiceAccount", true, false),
        r("", "v1", "configmaps", "ConfigMap", true, false),
        r("", "v1", "resourcequotas", "ResourceQuota", true, true),
        r("", "v1", "limitranges", "LimitRange", true, false),
        r("", "v1", "events", "Event", true, false),
        r("", "v1", "secrets", "Secret", true, false),
        r("", "v1", "pods", "Pod", true, true),
        r(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            true,
            false,
        ),
        r(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "Role",
            true,
            false,
        ),
        r(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            true,
            false,
        ),
        r(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterroles",
            "ClusterRole",
            false,
            false,
        ),
        r("batch", "v1", "cronjobs", "CronJob", true, true),
        r("batch", "v1", "jobs", "Job", true, true),
        r("events.k8s.io", "v1", "events", "Event", true, false),
        r("coordination.k8s.io", "v1", "leases", "Lease", true, false),
        r(
            "dataproducts.io",
            "v1alpha1",
            "dataproducts",
            "DataProduct",
            true,
            true,
        ),
        r(
            "dataproducts.io",
            "v1alpha1",
            "dataproductaccesses",
            "DataProductAccess",
            true,
            true,
        ),
        r(
            "dataproducts.io",
            "v1alpha1",
            "dataproducttemplates",
            "DataProductTemplate",
            false,
            false,
        ),
        r(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            true,
        ),
    ]
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The raw query string (still percent-encoded), `""` when none.
    pub query: String,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// The JSON body, `Null` when empty, not JSON, or body recording is off.
    pub body: Value,
}

/// An answer the fault hook forces instead of serving the request.
#[derive(Clone, Debug)]
pub struct Fault {
    pub status: u16,
    pub retry_after_seconds: Option<u64>,
    pub message: String,
}

impl Fault {
    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        Fault {
            status: 429,
            retry_after_seconds: Some(retry_after_seconds),
            message: "too many requests, please try again later".into(),
        }
    }
}

type FaultHook = Arc<dyn Fn(&Request) -> Option<Fault> + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventType {
    Added,
    Modified,
    Deleted,
}

/// A stored change, shared by the replay history and every watcher.
struct Event {
    rv: u64,
    res: usize,
    kind: EventType,
    object: Arc<Value>,
    /// The object before the change, so a watch with a selector can turn "stopped matching"
    /// into DELETED and "started matching" into ADDED, like the API server's watch cache.
    previous: Option<Arc<Value>>,
}

/// (namespace or "" for cluster-scoped, name). The BTreeMap order is the stable list order.
type Key = (String, String);

/// An API error, rendered as a `Status` object.
#[derive(Debug)]
struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }
    fn not_found(res: &Resource, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", res.qualified(), name),
        )
    }
    fn conflict(res: &Resource, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                res.qualified(),
                name
            ),
        )
    }
    fn status(&self) -> Value {
        status_body(self.code, self.reason, &self.message)
    }
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    })
}

type ApiResult<T> = Result<T, ApiError>;

/// Who is writing and how.
struct WriteOpts {
    manager: String,
    dry_run: bool,
}

/// The objects, the history and the resource table; everything behind one mutex.
struct Store {
    rv: u64,
    uid_counter: u64,
    resources: Vec<Resource>,
    index: HashMap<(String, String), usize>,
    objects: Vec<BTreeMap<Key, Arc<Value>>>,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    /// Events with rv <= this have been dropped from the history.
    compacted_rv: u64,
    events: broadcast::Sender<Arc<Event>>,
    strict_namespaces: bool,
}

impl Store {
    fn new(events: broadcast::Sender<Arc<Event>>) -> Self {
        let mut store = Store {
            rv: 0,
            uid_counter: 0,
            resources: Vec::new(),
            index: HashMap::new(),
            objects: Vec::new(),
            history: VecDeque::new(),
            history_limit: DEFAULT_HISTORY,
            compacted_rv: 0,
            events,
            strict_namespaces: false,
        };
        for r in builtin_resources() {
            store.register(r);
        }
        store
    }

    fn register(&mut self, r: Resource) -> usize {
        let key = (r.group.clone(), r.plural.clone());
        if let Some(&i) = self.index.get(&key) {
            self.resources[i] = r;
            return i;
        }
        self.resources.push(r);
        self.objects.push(BTreeMap::new());
        let i = self.resources.len() - 1;
        self.index.insert(key, i);
        i
    }

    fn lookup(&self, group: &str, plural: &str) -> Option<usize> {
        self.index
            .get(&(group.to_string(), plural.to_string()))
            .copied()
    }

    /// `events` (the first registered, i.e. core) or `events.events.k8s.io`.
    fn lookup_plural(&self, plural: &str) -> Option<usize> {
        if let Some(i) = self.resources.iter().position(|r| r.plural == plural) {
            return Some(i);
        }
        let (p, g) = plural.split_once('.')?;
        self.lookup(g, p)
    }

    fn lookup_kind(&self, api_version: &str, kind: &str) -> Option<usize> {
        self.resources
            .iter()
            .position(|r| r.api_version() == api_version && r.kind == kind)
    }

    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        let seed = (now_nanos() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            seed & 0xffff_ffff,
            (self.uid_counter >> 48) & 0xffff,
            (self.uid_counter >> 36) & 0xfff,
            (self.uid_counter >> 24) & 0xfff,
            self.uid_counter & 0xffff_ffff_ffff
        )
    }

    fn generate_name(&mut self, prefix: &str, res: usize, ns: &str) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut x = (now_nanos() as u64) ^ self.uid_counter.wrapping_mul(0x2545_f491_4f6c_dd1d);
        loop {
            let mut name = prefix.to_string();
            for _ in 0..5 {
                // xorshift: names only need to be unlikely to collide, and we check anyway.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                name.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
            }
            if !self.objects[res].contains_key(&(ns.to_string(), name.clone())) {
                return name;
            }
        }
    }

    fn emit(&mut self, event: Event) {
        let event = Arc::new(event);
        self.history.push_back(event.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    /// Stores `obj` under a new resourceVersion and emits the event; an object that is being
    /// deleted and has no finalizers left is removed instead (DELETED).
    fn commit(&mut self, res: usize, key: Key, mut obj: Value) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        set_meta(&mut obj, "resourceVersion", Value::String(rv.to_string()));
        let obj = Arc::new(obj);
        let removable =
            meta_field(&obj, "deletionTimestamp").is_some() && self.may_remove(res, &obj);
        let previous = if removable {
            self.objects[res].remove(&key)
        } else {
            self.objects[res].insert(key.clone(), obj.clone())
        };
        let kind = match (removable, &previous) {
            (true, _) => EventType::Deleted,
            (false, None) => EventType::Added,
            (false, Some(_)) => EventType::Modified,
        };
        if removable && previous.is_none() {
            // Never stored (created already deleted): nothing to tell watchers.
            return obj;
        }
        self.emit(Event {
            rv,
            res,
            kind,
            object: obj.clone(),
            previous,
        });
        if removable {
            self.after_removal(res, &key.0);
        }
        obj
    }

    /// Finalizers are done; a namespace additionally waits until its content is gone.
    fn may_remove(&self, res: usize, obj: &Value) -> bool {
        let no_finalizers = meta_field(obj, "finalizers")
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty());
        if self.resources[res].is_namespace() {
            let name = meta_str(obj, "name").unwrap_or_default();
            no_finalizers && self.namespace_is_empty(name)
        } else {
            no_finalizers
        }
    }

    fn namespace_is_empty(&self, ns: &str) -> bool {
        self.resources
            .iter()
            .zip(&self.objects)
            .filter(|(r, _)| r.namespaced)
            .all(|(_, objects)| {
                objects
                    .range((ns.to_string(), String::new())..)
                    .next()
                    .is_none_or(|((n, _), _)| n != ns)
            })
    }

    /// The last object in a terminating namespace is gone: the namespace goes too.
    fn after_removal(&mut self, res: usize, ns: &str) {
        if ns.is_empty() || !self.resources[res].namespaced {
            return;
        }
        let Some(nres) = self.lookup("", "namespaces") else {
            return;
        };
        let key = (String::new(), ns.to_string());
        let Some(namespace) = self.objects[nres].get(&key).cloned() else {
            return;
        };
        if meta_field(&namespace, "deletionTimestamp").is_some()
            && self.may_remove(nres, &namespace)
        {
            self.commit(nres, key, (*namespace).clone());
        }
    }

    fn get_obj(&self, res: usize, key: &Key) -> ApiResult<Arc<Value>> {
        self.objects[res]
            .get(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&self.resources[res], &key.1))
    }

    /// Namespaced objects are only created in an existing namespace that is not terminating.
    fn check_namespace(&self, res: usize, ns: &str) -> ApiResult<()> {
        if !self.resources[res].namespaced {
            return Ok(());
        }
        let Some(nres) = self.lookup("", "namespaces") else {
            return Ok(());
        };
        match self.objects[nres].get(&(String::new(), ns.to_string())) {
            Some(n) if meta_field(n, "deletionTimestamp").is_some() => Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                ),
            )),
            None if self.strict_namespaces => Err(ApiError::new(
                404,
                "NotFound",
                format!("namespaces \"{ns}\" not found"),
            )),
            _ => Ok(()),
        }
    }

    fn create(
        &mut self,
        res: usize,
        ns: &str,
        mut body: Value,
        opts: &WriteOpts,
        operation: &str,
    ) -> ApiResult<Arc<Value>> {
        let r = self.resources[res].clone();
        let meta = prepare_body(&r, &mut body)?;
        strip_server_meta(meta);
        if r.namespaced {
            match meta.get("namespace").and_then(Value::as_str) {
                Some(n) if !n.is_empty() && n != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => {
                    meta.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
        } else {
            meta.remove("namespace");
        }
        let name = match meta.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => match meta.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => {
                    let prefix = prefix.to_string();
                    let name = self.generate_name(&prefix, res, ns);
                    // `meta` borrows `body`; set the name through the body again.
                    set_meta(&mut body, "name", Value::String(name.clone()));
                    name
                }
                _ => {
                    return Err(ApiError::invalid(format!(
                        "{} is invalid: metadata.name: Required value: name or generateName is required",
                        r.kind
                    )))
                }
            },
        };
        let ns_key = if r.namespaced {
            ns.to_string()
        } else {
            String::new()
        };
        let key = (ns_key, name.clone());
        if self.objects[res].contains_key(&key) {
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{}\" already exists", r.qualified(), name),
            ));
        }
        self.check_namespace(res, ns)?;
        event_rules::check(&r, &body, None)?;
        if r.status && !r.is_namespace() {
            // Like CRDs with a status subresource: status cannot be set on create.
            if let Some(o) = body.as_object_mut() {
                o.remove("status");
            }
        }
        // An apply owns only the fields it sent; the server's defaults belong to no manager
        // (so a later apply without them keeps them).
        let applied_tree = (operation == "Apply").then(|| fields_of_body(&body));
        if r.is_namespace() {
            namespace_defaults(&mut body, &name);
        }
        let tree = applied_tree.unwrap_or_else(|| fields_of_body(&body));
        let now = now_rfc3339();
        let uid = self.next_uid();
        set_meta(&mut body, "uid", Value::String(uid));
        set_meta(&mut body, "creationTimestamp", Value::String(now.clone()));
        set_meta(&mut body, "generation", json!(1));
        if !tree_is_empty(&tree) {
            set_meta(
                &mut body,
                "managedFields",
                json!([managed_entry(
                    &opts.manager,
                    operation,
                    &r,
                    &now,
                    tree,
                    false
                )]),
            );
        }
        if opts.dry_run {
            return Ok(Arc::new(body));
        }
        Ok(self.commit(res, key, body))
    }

    fn replace(
        &mut self,
        res: usize,
        key: &Key,
        subresource: bool,
        mut body: Value,
        opts: &WriteOpts,
    ) -> ApiResult<Arc<Value>> {
        let r = self.resources[res].clone();
        let old = self.get_obj(res, key)?;
        let meta = prepare_body(&r, &mut body)?;
        check_identity(meta, key)?;
        check_precondition(&r, &old, meta, key)?;
        let new = if subresource {
            let mut new = (*old).clone();
            set_status(&mut new, body.get("status").cloned());
            new
        } else {
            if r.status {
                set_status(&mut body, old.get("status").cloned());
            }
            // Finalizers and the like come from the body; managedFields stay server-side.
            set_meta(
                &mut body,
                "managedFields",
                meta_field(&old, "managedFields")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
            body
        };
        let tree = if subresource {
            fields_of_body(&json!({"status": new.get("status").cloned().unwrap_or(Value::Null)}))
        } else {
            fields_of_body(&new)
        };
        self.finish_update(res, key, &old, new, opts, "Update", tree, true, subresource)
    }

    #[allow(clippy::too_many_arguments)]
    fn patch(
        &mut self,
        res: usize,
        key: &Key,
        subresource: bool,
        content_type: &str,
        body: Value,
        opts: &WriteOpts,
    ) -> ApiResult<(u16, Arc<Value>)> {
        let r = self.resources[res].clone();
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media == "application/apply-patch+yaml" {
            return self.apply(res, key, subresource, body, opts);
        }
        let old = self.get_obj(res, key)?;
        let mut new = (*old).clone();
        let tree = match media {
            "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                if !body.is_object() {
                    return Err(ApiError::bad_request("a merge patch must be a JSON object"));
                }
                merge_patch(&mut new, &body);
                fields_of_body(&body)
            }
            "application/json-patch+json" => {
                let ops = body
                    .as_array()
                    .ok_or_else(|| ApiError::bad_request("a JSON patch must be a JSON array"))?;
                json_patch(&mut new, ops).map_err(|e| {
                    ApiError::invalid(format!("the server rejected our request: {e}"))
                })?;
                json_patch_tree(ops)
            }
            other => {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"),
                ))
            }
        };
        if !new.is_object() {
            return Err(ApiError::invalid("the patched object is not a JSON object"));
        }
        // A resourceVersion in the patch is an optimistic-concurrency precondition.
        if let Some(rv) = meta_str(&new, "resourceVersion") {
            if Some(rv) != meta_str(&old, "resourceVersion") {
                return Err(ApiError::conflict(&r, &key.1));
            }
        }
        if subresource {
            let status = new.get("status").cloned();
            new = (*old).clone();
            set_status(&mut new, status);
        } else if r.status {
            set_status(&mut new, old.get("status").cloned());
        }
        let obj =
            self.finish_update(res, key, &old, new, opts, "Update", tree, true, subresource)?;
        Ok((200, obj))
    }

    fn apply(
        &mut self,
        res: usize,
        key: &Key,
        subresource: bool,
        mut body: Value,
        opts: &WriteOpts,
    ) -> ApiResult<(u16, Arc<Value>)> {
        let r = self.resources[res].clone();
        let meta = prepare_body(&r, &mut body)?;
        check_identity(meta, key)?;
        let Some(old) = self.objects[res].get(key).cloned() else {
            if subresource {
                return Err(ApiError::not_found(&r, &key.1));
            }
            let obj = self.create(res, &key.0, body, opts, "Apply")?;
            return Ok((201, obj));
        };
        check_precondition(&r, &old, meta, key)?;
        strip_server_meta(meta);
        let mut applied = if subresource {
            json!({"status": body.get("status").cloned().unwrap_or(Value::Null)})
        } else {
            body
        };
        if let Some(o) = applied.as_object_mut() {
            o.remove("apiVersion");
            o.remove("kind");
        }
        let tree = fields_of_body(&applied);
        let mut new = (*old).clone();
        merge_patch(&mut new, &applied);
        // Fields this manager applied last time but not now are removed unless someone
        // else also manages them, which is what makes SSA drop stale keys.
        let entries = managed_entries(&old);
        let sub = subresource.then_some("status");
        let previous = entries
            .iter()
            .find(|e| entry_is(e, &opts.manager, "Apply", sub))
            .and_then(|e| e.get("fieldsV1"));
        if let Some(previous) = previous {
            let others: Vec<&Value> = entries
                .iter()
                .filter(|e| !entry_is(e, &opts.manager, "Apply", sub))
                .filter_map(|e| e.get("fieldsV1"))
                .collect();
            prune_unapplied(&mut new, previous, &tree, &others);
        }
        if subresource {
            let status = new.get("status").cloned();
            new = (*old).clone();
            set_status(&mut new, status);
        } else if r.status {
            set_status(&mut new, old.get("status").cloned());
        }
        let obj =
            self.finish_update(res, key, &old, new, opts, "Apply", tree, false, subresource)?;
        Ok((200, obj))
    }

    /// Common tail of every update: restore what only the server may set, bump generation,
    /// record the field manager, skip no-op writes, and store.
    #[allow(clippy::too_many_arguments)]
    fn finish_update(
        &mut self,
        res: usize,
        key: &Key,
        old: &Arc<Value>,
        mut new: Value,
        opts: &WriteOpts,
        operation: &str,
        tree: Value,
        accumulate: bool,
        subresource: bool,
    ) -> ApiResult<Arc<Value>> {
        let r = self.resources[res].clone();
        let Some(obj) = new.as_object_mut() else {
            return Err(ApiError::invalid("the object is not a JSON object"));
        };
        obj.insert("apiVersion".into(), Value::String(r.api_version()));
        obj.insert("kind".into(), Value::String(r.kind.clone()));
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            return Err(ApiError::invalid("metadata must be an object"));
        }
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            match meta_field(old, field) {
                Some(v) if field != "resourceVersion" => set_meta(&mut new, field, v.clone()),
                _ => remove_meta(&mut new, field),
            }
        }
        if meta_field(old, "deletionTimestamp").is_some() {
            let before = string_list(meta_field(old, "finalizers"));
            if string_list(meta_field(&new, "finalizers"))
                .iter()
                .any(|f| !before.contains(f))
            {
                return Err(ApiError::invalid(format!(
                    "{} \"{}\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
                    r.kind, key.1
                )));
            }
        }
        if !spec_eq(old, &new) {
            let generation = meta_field(old, "generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            set_meta(&mut new, "generation", json!(generation + 1));
        }
        let now = now_rfc3339();
        let mut entries = managed_entries(old);
        let sub = subresource.then_some("status");
        match entries
            .iter_mut()
            .find(|e| entry_is(e, &opts.manager, operation, sub))
        {
            Some(entry) => {
                let tree = if accumulate {
                    union_trees(entry.get("fieldsV1").unwrap_or(&Value::Null), &tree)
                } else {
                    tree
                };
                if entry.get("fieldsV1") != Some(&tree) {
                    entry["fieldsV1"] = tree;
                    entry["time"] = Value::String(now);
                }
            }
            None if !tree_is_empty(&tree) => entries.push(managed_entry(
                &opts.manager,
                operation,
                &r,
                &now,
                tree,
                subresource,
            )),
            None => {}
        }
        if entries.is_empty() {
            remove_meta(&mut new, "managedFields");
        } else {
            set_meta(&mut new, "managedFields", Value::Array(entries));
        }
        event_rules::check(&r, &new, Some(old))?;
        // The API server does not write (nor bump resourceVersion) when nothing changed.
        let mut unchanged = new.clone();
        if let Some(rv) = meta_field(old, "resourceVersion") {
            set_meta(&mut unchanged, "resourceVersion", rv.clone());
        }
        if unchanged == **old {
            return Ok(old.clone());
        }
        if opts.dry_run {
            return Ok(Arc::new(unchanged));
        }
        Ok(self.commit(res, key.clone(), new))
    }

    /// DELETE: mark for deletion while finalizers remain, otherwise remove. Returns the object
    /// when it still exists afterwards.
    fn delete(&mut self, res: usize, key: &Key) -> Option<Arc<Value>> {
        let old = self.objects[res].get(key)?.clone();
        let is_ns = self.resources[res].is_namespace();
        if meta_field(&old, "deletionTimestamp").is_some() {
            // Already being deleted: nothing changes.
        } else if !is_ns && self.may_remove(res, &old) {
            // Immediate removal; the DELETED event carries a fresh resourceVersion.
            self.rv += 1;
            let mut gone = (*old).clone();
            set_meta(
                &mut gone,
                "resourceVersion",
                Value::String(self.rv.to_string()),
            );
            let gone = Arc::new(gone);
            self.objects[res].remove(key);
            self.emit(Event {
                rv: self.rv,
                res,
                kind: EventType::Deleted,
                object: gone,
                previous: Some(old),
            });
            self.after_removal(res, &key.0);
        } else {
            let mut marked = (*old).clone();
            set_meta(
                &mut marked,
                "deletionTimestamp",
                Value::String(now_rfc3339()),
            );
            set_meta(&mut marked, "deletionGracePeriodSeconds", json!(0));
            if is_ns {
                set_status(&mut marked, Some(json!({"phase": "Terminating"})));
            } else {
                let generation = meta_field(&old, "generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                set_meta(&mut marked, "generation", json!(generation + 1));
            }
            self.commit(res, key.clone(), marked);
        }
        if is_ns {
            self.delete_namespace_content(&key.1);
        }
        self.objects[res].get(key).cloned()
    }

    /// What the namespace controller does: delete everything in the namespace.
    fn delete_namespace_content(&mut self, ns: &str) {
        for res in 0..self.resources.len() {
            if !self.resources[res].namespaced {
                continue;
            }
            let keys: Vec<Key> = self.objects[res]
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(k, _)| k.clone())
                .collect();
            for key in keys {
                self.delete(res, &key);
            }
        }
    }

    /// Matching objects in list order, starting after `after`, at most `limit` (0 = all);
    /// returns the continue key when more remain.
    fn select(
        &self,
        res: usize,
        ns: Option<&str>,
        filter: &Filter,
        after: Option<&Key>,
        limit: usize,
    ) -> (Vec<Arc<Value>>, Option<Key>) {
        let objects = &self.objects[res];
        let start = match (after, ns) {
            (Some(k), _) => std::ops::Bound::Excluded(k.clone()),
            (None, Some(ns)) => std::ops::Bound::Included((ns.to_string(), String::new())),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut last: Option<&Key> = None;
        for (key, obj) in objects.range((start, std::ops::Bound::Unbounded)) {
            if let Some(ns) = ns {
                if key.0 != ns {
                    break;
                }
            }
            if !filter.matches(obj) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                return (items, last.cloned());
            }
            items.push(obj.clone());
            last = Some(key);
        }
        (items, None)
    }
}

/// Checks `body` is an object, stamps apiVersion/kind and returns its metadata map.
fn prepare_body<'a>(r: &Resource, body: &'a mut Value) -> ApiResult<&'a mut Map<String, Value>> {
    let obj = body
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the request body must be a JSON object"))?;
    obj.insert("apiVersion".into(), Value::String(r.api_version()));
    obj.insert("kind".into(), Value::String(r.kind.clone()));
    obj.entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be a JSON object"))
}

fn strip_server_meta(meta: &mut Map<String, Value>) {
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "managedFields",
        "selfLink",
    ] {
        meta.remove(field);
    }
}

/// Name and namespace in the body must agree with the URL (absent means "the URL's").
fn check_identity(meta: &mut Map<String, Value>, key: &Key) -> ApiResult<()> {
    match meta.get("name").and_then(Value::as_str) {
        Some(n) if n != key.1 => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({})",
                key.1
            )))
        }
        _ => {
            meta.insert("name".into(), Value::String(key.1.clone()));
        }
    }
    if !key.0.is_empty() {
        match meta.get("namespace").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != key.0 => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => {
                meta.insert("namespace".into(), Value::String(key.0.clone()));
            }
        }
    }
    Ok(())
}

fn check_precondition(
    r: &Resource,
    old: &Value,
    meta: &Map<String, Value>,
    key: &Key,
) -> ApiResult<()> {
    match meta.get("resourceVersion").and_then(Value::as_str) {
        Some(rv) if !rv.is_empty() && Some(rv) != meta_str(old, "resourceVersion") => {
            Err(ApiError::conflict(r, &key.1))
        }
        _ => Ok(()),
    }
}

/// What the API server adds to every namespace.
fn namespace_defaults(body: &mut Value, name: &str) {
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(
                "kubernetes.io/metadata.name".into(),
                Value::String(name.to_string()),
            );
        }
    }
    if let Some(obj) = body.as_object_mut() {
        let spec = obj
            .entry("spec")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(spec) = spec.as_object_mut() {
            spec.entry("finalizers")
                .or_insert_with(|| json!(["kubernetes"]));
        }
        obj.insert("status".into(), json!({"phase": "Active"}));
    }
}

// ---------------------------------------------------------------------------------------------
// JSON helpers

fn meta_field<'a>(obj: &'a Value, field: &str) -> Option<&'a Value> {
    obj.get("metadata")?.get(field).filter(|v| !v.is_null())
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta_field(obj, field)?.as_str()
}

fn set_meta(obj: &mut Value, field: &str, value: Value) {
    let Some(o) = obj.as_object_mut() else {
        return;
    };
    let meta = o
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    if let Some(m) = meta.as_object_mut() {
        if value.is_null() {
            m.remove(field);
        } else {
            m.insert(field.to_string(), value);
        }
    }
}

fn remove_meta(obj: &mut Value, field: &str) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove(field);
    }
}

fn set_status(obj: &mut Value, status: Option<Value>) {
    if let Some(o) = obj.as_object_mut() {
        match status {
            Some(s) if !s.is_null() => {
                o.insert("status".into(), s);
            }
            _ => {
                o.remove("status");
            }
        }
    }
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Equal outside metadata and status: whether `generation` stays.
fn spec_eq(a: &Value, b: &Value) -> bool {
    const SKIP: [&str; 4] = ["metadata", "status", "apiVersion", "kind"];
    let empty = Map::new();
    let a = a.as_object().unwrap_or(&empty);
    let b = b.as_object().unwrap_or(&empty);
    let ka = a.iter().filter(|(k, _)| !SKIP.contains(&k.as_str()));
    let kb = b.iter().filter(|(k, _)| !SKIP.contains(&k.as_str()));
    ka.count() == kb.count()
        && a.iter()
            .filter(|(k, _)| !SKIP.contains(&k.as_str()))
            .all(|(k, v)| b.get(k) == Some(v))
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Some(t) = target.as_object_mut() {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// RFC 6901 pointer tokens; `""` is the whole document.
fn pointer_tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn array_index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    // RFC 6901: no leading zeros, no signs.
    let valid = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let i: usize = if valid {
        token
            .parse()
            .map_err(|_| format!("invalid index {token:?}"))?
    } else {
        return Err(format!("invalid index {token:?}"));
    };
    let max = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if i > max || (!allow_end && len == 0) {
        return Err(format!("index {i} out of bounds"));
    }
    Ok(i)
}

fn pointer_get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |v, t| match v {
        Value::Object(m) => m.get(t),
        Value::Array(a) => array_index(t, a.len(), false).ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn pointer_parent<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut v = doc;
    for t in tokens {
        v = match v {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => {
                let i = array_index(t, a.len(), false)?;
                a.get_mut(i)
            }
            _ => None,
        }
        .ok_or_else(|| format!("path segment {t:?} does not exist"))?;
    }
    Ok(v)
}

fn patch_add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match pointer_parent(doc, parent)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = array_index(last, a.len(), true)?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("cannot add {last:?} to a scalar")),
    }
}

fn patch_remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    match pointer_parent(doc, parent)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("path {last:?} does not exist")),
        Value::Array(a) => {
            let i = array_index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err(format!("cannot remove {last:?} from a scalar")),
    }
}

/// RFC 6902 JSON patch, applied to `doc` in place (callers patch a copy, so a failure midway
/// leaves nothing half-applied in the store).
fn json_patch(doc: &mut Value, ops: &[Value]) -> Result<(), String> {
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("operation {op} has no path"))?;
        let tokens = pointer_tokens(path)?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("operation {name} on {path} has no value"))
        };
        let from = || -> Result<Vec<String>, String> {
            pointer_tokens(
                op.get("from")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("operation {name} on {path} has no from"))?,
            )
        };
        match name {
            "add" => patch_add(doc, &tokens, value()?)?,
            "remove" => {
                patch_remove(doc, &tokens)?;
            }
            "replace" => {
                let v = value()?;
                if tokens.is_empty() {
                    *doc = v;
                } else {
                    patch_remove(doc, &tokens)?;
                    patch_add(doc, &tokens, v)?;
                }
            }
            "move" => {
                let from = from()?;
                if tokens.len() > from.len() && tokens[..from.len()] == from[..] {
                    return Err(format!("cannot move {path} into itself"));
                }
                let v = patch_remove(doc, &from)?;
                patch_add(doc, &tokens, v)?;
            }
            "copy" => {
                let v = pointer_get(doc, &from()?)
                    .cloned()
                    .ok_or_else(|| format!("copy source of {path} does not exist"))?;
                patch_add(doc, &tokens, v)?;
            }
            "test" => {
                let expected = value()?;
                // Like the API server's json-patch library: a missing path equals null.
                let actual = pointer_get(doc, &tokens).unwrap_or(&Value::Null);
                if *actual != expected {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("unknown operation {other:?}")),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// managedFields

/// The fieldsV1 tree of what `body` sets, as the API server records it: `f:` for map keys,
/// `k:{"name":..}` for list items with a name, `v:` for scalar items, `i:N` otherwise.
fn fields_of(v: &Value) -> Value {
    let mut out = Map::new();
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                out.insert(format!("f:{k}"), fields_of(child));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let key = match item {
                    Value::Object(m) if m.get("name").is_some_and(Value::is_string) => {
                        format!("k:{}", json!({"name": m["name"]}))
                    }
                    Value::Object(_) | Value::Array(_) => format!("i:{i}"),
                    scalar => format!("v:{scalar}"),
                };
                let mut child = fields_of(item);
                if let Some(c) = child.as_object_mut() {
                    c.insert(".".into(), json!({}));
                }
                out.insert(key, child);
            }
        }
        _ => {}
    }
    Value::Object(out)
}

/// `fields_of` without what nobody "manages": apiVersion, kind and server-set metadata.
fn fields_of_body(body: &Value) -> Value {
    let mut tree = fields_of(body);
    if let Some(t) = tree.as_object_mut() {
        t.remove("f:apiVersion");
        t.remove("f:kind");
        if let Some(m) = t.get_mut("f:metadata").and_then(Value::as_object_mut) {
            for f in [
                "name",
                "namespace",
                "generateName",
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "managedFields",
                "selfLink",
            ] {
                m.remove(&format!("f:{f}"));
            }
            if m.is_empty() {
                t.remove("f:metadata");
            }
        }
    }
    tree
}

/// A JSON patch's tree: the paths its operations touch.
fn json_patch_tree(ops: &[Value]) -> Value {
    let mut tree = Value::Object(Map::new());
    for op in ops {
        if op.get("op").and_then(Value::as_str) == Some("test") {
            continue;
        }
        let Some(tokens) = op
            .get("path")
            .and_then(Value::as_str)
            .and_then(|p| pointer_tokens(p).ok())
        else {
            continue;
        };
        let mut node = &mut tree;
        for t in tokens.iter().filter(|t| *t != "-") {
            let key = if t.bytes().all(|b| b.is_ascii_digit()) {
                format!("i:{t}")
            } else {
                format!("f:{t}")
            };
            let Some(m) = node.as_object_mut() else {
                break;
            };
            node = m.entry(key).or_insert_with(|| json!({}));
        }
    }
    fields_of_body_tree(tree)
}

fn fields_of_body_tree(mut tree: Value) -> Value {
    if let Some(m) = tree.get_mut("f:metadata").and_then(Value::as_object_mut) {
        m.remove("f:resourceVersion");
    }
    tree
}

fn tree_is_empty(tree: &Value) -> bool {
    tree.as_object().is_none_or(Map::is_empty)
}

fn union_trees(a: &Value, b: &Value) -> Value {
    let mut out = a.as_object().cloned().unwrap_or_default();
    if let Some(b) = b.as_object() {
        for (k, v) in b {
            let merged = match out.get(k) {
                Some(existing) => union_trees(existing, v),
                None => v.clone(),
            };
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// Removes from `obj` the map fields in `previous` but not in `current` that no tree in
/// `others` mentions. Only `f:` paths are followed: lists are replaced wholesale anyway.
fn prune_unapplied(obj: &mut Value, previous: &Value, current: &Value, others: &[&Value]) {
    let (Some(prev), Some(obj_map)) = (previous.as_object(), obj.as_object_mut()) else {
        return;
    };
    for (key, prev_child) in prev {
        let Some(field) = key.strip_prefix("f:") else {
            continue;
        };
        let others_child: Vec<&Value> = others.iter().filter_map(|o| o.get(key)).collect();
        match current.get(key) {
            None if others_child.is_empty() => {
                obj_map.remove(field);
            }
            None => {
                // Shared with another manager: keep what they own, drop the rest below.
                if let Some(child) = obj_map.get_mut(field) {
                    prune_unapplied(child, prev_child, &json!({}), &others_child);
                }
            }
            Some(cur_child) => {
                if let Some(child) = obj_map.get_mut(field) {
                    prune_unapplied(child, prev_child, cur_child, &others_child);
                }
            }
        }
    }
}

fn managed_entries(obj: &Value) -> Vec<Value> {
    meta_field(obj, "managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn entry_is(entry: &Value, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
    entry.get("manager").and_then(Value::as_str) == Some(manager)
        && entry.get("operation").and_then(Value::as_str) == Some(operation)
        && entry.get("subresource").and_then(Value::as_str) == subresource
}

fn managed_entry(
    manager: &str,
    operation: &str,
    r: &Resource,
    now: &str,
    tree: Value,
    subresource: bool,
) -> Value {
    let mut entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": r.api_version(),
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": tree,
    });
    if subresource {
        entry["subresource"] = json!("status");
    }
    entry
}

// ---------------------------------------------------------------------------------------------
// Selectors

#[derive(Debug)]
enum LabelReq {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug)]
enum FieldReq {
    Eq(Vec<String>, String),
    Ne(Vec<String>, String),
}

/// Label and field selectors of a list or watch.
#[derive(Debug, Default)]
struct Filter {
    labels: Vec<LabelReq>,
    fields: Vec<FieldReq>,
}

impl Filter {
    fn parse(label_selector: Option<&str>, field_selector: Option<&str>) -> ApiResult<Filter> {
        let mut filter = Filter::default();
        for term in split_top_level(label_selector.unwrap_or("")) {
            filter.labels.push(
                parse_label_req(term).map_err(|e| {
                    ApiError::bad_request(format!("unable to parse requirement: {e}"))
                })?,
            );
        }
        for term in field_selector.unwrap_or("").split(',') {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            let (path, value, eq) = if let Some((p, v)) = term.split_once("!=") {
                (p, v, false)
            } else if let Some((p, v)) = term.split_once("==") {
                (p, v, true)
            } else if let Some((p, v)) = term.split_once('=') {
                (p, v, true)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{term}'; can't understand '{term}'"
                )));
            };
            let path: Vec<String> = path.trim().split('.').map(String::from).collect();
            let value = value.trim().to_string();
            filter.fields.push(if eq {
                FieldReq::Eq(path, value)
            } else {
                FieldReq::Ne(path, value)
            });
        }
        Ok(filter)
    }

    fn matches(&self, obj: &Value) -> bool {
        let labels = meta_field(obj, "labels").and_then(Value::as_object);
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        let labels_ok = self.labels.iter().all(|req| match req {
            LabelReq::Eq(k, v) => label(k) == Some(v.as_str()),
            LabelReq::Ne(k, v) => label(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelReq::NotIn(k, vs) => !label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelReq::Exists(k) => label(k).is_some(),
            LabelReq::NotExists(k) => label(k).is_none(),
        });
        labels_ok
            && self.fields.iter().all(|req| match req {
                FieldReq::Eq(p, v) => field_value(obj, p) == *v,
                FieldReq::Ne(p, v) => field_value(obj, p) != *v,
            })
    }
}

/// Splits on commas outside parentheses (`a in (x,y),b`).
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.into_iter().filter(|t| !t.is_empty()).collect()
}

fn parse_label_req(term: &str) -> Result<LabelReq, String> {
    let valid_key = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    };
    let key = |k: &str| -> Result<String, String> {
        let k = k.trim();
        if valid_key(k) {
            Ok(k.to_string())
        } else {
            Err(format!("invalid label key {k:?}"))
        }
    };
    if let Some(k) = term.strip_prefix('!') {
        return Ok(LabelReq::NotExists(key(k)?));
    }
    if let Some((k, v)) = term.split_once("!=") {
        return Ok(LabelReq::Ne(key(k)?, v.trim().to_string()));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Ok(LabelReq::Eq(key(k)?, v.trim().to_string()));
    }
    for (op, not) in [(" notin ", true), (" in ", false)] {
        if let Some((k, set)) = term.split_once(op) {
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| format!("expected a (set) in {term:?}"))?;
            let values: Vec<String> = inner
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            let k = key(k)?;
            return Ok(if not {
                LabelReq::NotIn(k, values)
            } else {
                LabelReq::In(k, values)
            });
        }
    }
    Ok(LabelReq::Exists(key(term)?))
}

/// A field selector's view of a field: strings as-is, other scalars as JSON, missing as "".
fn field_value(obj: &Value, path: &[String]) -> String {
    match path.iter().try_fold(obj, |v, p| v.get(p)) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared state and the public handle

struct Log {
    record_requests: bool,
    record_bodies: bool,
    requests: Vec<Request>,
    counts: BTreeMap<String, u64>,
}

struct Shared {
    store: Mutex<Store>,
    events: broadcast::Sender<Arc<Event>>,
    log: Mutex<Log>,
    fault: Mutex<Option<FaultHook>>,
    total_requests: AtomicU64,
    bookmark_ms: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not take the server down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The server's state: objects, resource table, request log and knobs. Cheap to clone; a
/// benchmark builds one, preloads it with `insert` and runs `serve` in the foreground.
#[derive(Clone)]
pub struct ApiState(Arc<Shared>);

impl Default for ApiState {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiState {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        ApiState(Arc::new(Shared {
            store: Mutex::new(Store::new(events.clone())),
            events,
            log: Mutex::new(Log {
                record_requests: true,
                record_bodies: true,
                requests: Vec::new(),
                counts: BTreeMap::new(),
            }),
            fault: Mutex::new(None),
            total_requests: AtomicU64::new(0),
            bookmark_ms: AtomicU64::new(2_000),
        }))
    }

    /// Serves another kind (or replaces the entry of the same group and plural).
    pub fn register(&self, resource: Resource) {
        lock(&self.0.store).register(resource);
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.0.log).requests.clone()
    }

    pub fn clear_requests(&self) {
        let mut log = lock(&self.0.log);
        log.requests.clear();
        log.counts.clear();
    }

    /// Off: requests are still logged, with `body: Null` (cheaper for benchmarks).
    pub fn set_record_bodies(&self, on: bool) {
        lock(&self.0.log).record_bodies = on;
    }

    /// Off: only the counters are kept.
    pub fn set_record_requests(&self, on: bool) {
        lock(&self.0.log).record_requests = on;
    }

    /// Requests served since start (never reset).
    pub fn request_count(&self) -> u64 {
        self.0.total_requests.load(Ordering::Relaxed)
    }

    /// Requests by verb and resource since the last `clear_requests`, e.g. `"list configmaps"`,
    /// `"watch dataproducts"`, `"apply leases"`, `"patch dataproducts/status"`; also
    /// `"discovery"`, `"not found"` and `"fault 429"` (answered by the fault hook).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        lock(&self.0.log).counts.clone()
    }

    /// Forces answers: the hook sees each request and may return the error to send instead.
    pub fn set_fault(&self, hook: impl Fn(&Request) -> Option<Fault> + Send + Sync + 'static) {
        *lock(&self.0.fault) = Some(Arc::new(hook));
    }

    pub fn clear_fault(&self) {
        *lock(&self.0.fault) = None;
    }

    /// How often watches with allowWatchBookmarks get a BOOKMARK (default 2s).
    pub fn set_bookmark_interval(&self, interval: Duration) {
        let ms = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.0.bookmark_ms.store(ms, Ordering::Relaxed);
    }

    /// How many events are kept for watch replay (default 20,000).
    pub fn set_history_limit(&self, events: usize) {
        let mut store = lock(&self.0.store);
        store.history_limit = events;
        while store.history.len() > events {
            if let Some(old) = store.history.pop_front() {
                store.compacted_rv = old.rv;
            }
        }
    }

    /// On: creating a namespaced object in a namespace that does not exist is a 404, like the
    /// real API server. Off by default so tests need not create namespaces.
    pub fn set_strict_namespaces(&self, on: bool) {
        lock(&self.0.store).strict_namespaces = on;
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        lock(&self.0.store).rv
    }

    /// Stores an object as-is (no validation, status kept), filling server metadata and
    /// emitting ADDED (MODIFIED when it replaces an existing object). Errors only when the
    /// kind is unknown or there is no name.
    pub fn insert(&self, mut object: Value) -> Result<Value, String> {
        let mut store = lock(&self.0.store);
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        let res = store
            .lookup_kind(api_version, kind)
            .ok_or_else(|| format!("unknown kind {api_version}/{kind}"))?;
        let r = store.resources[res].clone();
        let name = meta_str(&object, "name")
            .ok_or("the object has no metadata.name")?
            .to_string();
        let ns = if r.namespaced {
            meta_str(&object, "namespace")
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        if r.namespaced {
            set_meta(&mut object, "namespace", Value::String(ns.clone()));
        }
        let key = (ns, name);
        let now = now_rfc3339();
        let old = store.objects[res].get(&key).cloned();
        let uid = match old.as_ref().and_then(|o| meta_str(o, "uid")) {
            Some(uid) => uid.to_string(),
            None => store.next_uid(),
        };
        if meta_field(&object, "uid").is_none() {
            set_meta(&mut object, "uid", Value::String(uid));
        }
        if meta_field(&object, "creationTimestamp").is_none() {
            set_meta(&mut object, "creationTimestamp", Value::String(now.clone()));
        }
        if meta_field(&object, "generation").is_none() {
            set_meta(&mut object, "generation", json!(1));
        }
        if meta_field(&object, "managedFields").is_none() {
            let tree = fields_of_body(&object);
            let entry = managed_entry("fake-apiserver-insert", "Update", &r, &now, tree, false);
            set_meta(&mut object, "managedFields", json!([entry]));
        }
        Ok((*store.commit(res, key, object)).clone())
    }

    /// `plural` may be qualified with its group (`events.events.k8s.io`); the first kind
    /// registered with that plural otherwise.
    pub fn get(&self, plural: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let store = lock(&self.0.store);
        let res = store.lookup_plural(plural)?;
        let key = (namespace.unwrap_or("").to_string(), name.to_string());
        store.objects[res].get(&key).map(|o| (**o).clone())
    }

    /// All objects of a kind, every namespace, in list order.
    pub fn list(&self, plural: &str) -> Vec<Value> {
        let store = lock(&self.0.store);
        store
            .lookup_plural(plural)
            .map(|res| store.objects[res].values().map(|o| (**o).clone()).collect())
            .unwrap_or_default()
    }

    /// Changes a stored object in place (no validation) and emits MODIFIED; generation bumps
    /// when something outside metadata and status changed. Returns the stored object.
    pub fn update(
        &self,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let mut store = lock(&self.0.store);
        let res = store.lookup_plural(plural)?;
        let key = (namespace.unwrap_or("").to_string(), name.to_string());
        let old = store.objects[res].get(&key)?.clone();
        let mut new = (*old).clone();
        f(&mut new);
        if !spec_eq(&old, &new) {
            let generation = meta_field(&old, "generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            set_meta(&mut new, "generation", json!(generation + 1));
        }
        Some((*store.commit(res, key, new)).clone())
    }

    /// Like an HTTP DELETE: marks the object while finalizers remain, removes it otherwise
    /// (a namespace takes its content with it). False when there was no such object.
    pub fn delete(&self, plural: &str, namespace: Option<&str>, name: &str) -> bool {
        let mut store = lock(&self.0.store);
        let Some(res) = store.lookup_plural(plural) else {
            return false;
        };
        let key = (namespace.unwrap_or("").to_string(), name.to_string());
        if !store.objects[res].contains_key(&key) {
            return false;
        }
        store.delete(res, &key);
        true
    }

    fn record(&self, request: Request) {
        self.0.total_requests.fetch_add(1, Ordering::Relaxed);
        let mut log = lock(&self.0.log);
        if log.record_requests {
            log.requests.push(request);
        }
    }

    fn count(&self, what: String) {
        *lock(&self.0.log).counts.entry(what).or_default() += 1;
    }
}

/// A running fake API server on 127.0.0.1; stops when dropped.
pub struct FakeApiServer {
    state: ApiState,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl FakeApiServer {
    /// Starts a server with the built-in resources on an ephemeral port.
    pub async fn start() -> FakeApiServer {
        Self::start_with(ApiState::new()).await
    }

    /// Starts a server over existing state (e.g. preloaded objects).
    pub async fn start_with(state: ApiState) -> FakeApiServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the fake API server");
        let addr = listener
            .local_addr()
            .expect("local address of the fake API server");
        let task = tokio::spawn(serve(listener, state.clone()));
        FakeApiServer { state, addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &ApiState {
        &self.state
    }

    /// Writes a kubeconfig pointing at this server: no auth, one context, namespace default.
    pub fn write_kubeconfig(&self, path: &Path) {
        std::fs::write(path, kubeconfig(&self.url())).expect("write the fake API kubeconfig");
    }
}

impl std::ops::Deref for FakeApiServer {
    type Target = ApiState;
    fn deref(&self) -> &ApiState {
        &self.state
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        // Aborting `serve` drops its JoinSet, which aborts every connection (and watch).
        self.task.abort();
    }
}

/// A kubeconfig for `server` (an http:// URL) with no credentials.
pub fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\n\
         contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
         current-context: fake\nusers:\n- name: fake\n  user: {{}}\npreferences: {{}}\n"
    )
}

/// Accepts connections until dropped; one task per connection, HTTP/1.1 keep-alive.
pub async fn serve(listener: TcpListener, state: ApiState) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn full(status: u16, content_type: &str, body: Vec<u8>) -> http::Response<Body> {
    let mut response = http::Response::new(Full::new(Bytes::from(body)).boxed_unsync());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    response
}

fn json_response(status: u16, v: &Value) -> http::Response<Body> {
    full(
        status,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

fn error_response(e: &ApiError) -> http::Response<Body> {
    json_response(e.code, &e.status())
}

/// Percent-decodes a query component (`+` is a space, as in forms).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// Continue tokens are the last key served, opaque to clients.
fn encode_continue(key: &Key) -> String {
    hex_encode(json!([key.0, key.1]).to_string().as_bytes())
}

fn decode_continue(token: &str) -> Option<Key> {
    let v: Value = serde_json::from_slice(&hex_decode(token)?).ok()?;
    Some((
        v.get(0)?.as_str()?.to_string(),
        v.get(1)?.as_str()?.to_string(),
    ))
}

/// Where a request goes once the path is parsed.
struct Route {
    res: usize,
    resource: Resource,
    /// From the URL; `None` for cluster-scoped kinds and all-namespace collections.
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

enum Parsed {
    Discovery(Value),
    Resource(Route),
}

fn parse_path(store: &Store, path: &str) -> Option<Parsed> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => {
            return Some(Parsed::Discovery(json!({
                "major": "1", "minor": "33", "gitVersion": "v1.33.0-fake",
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64",
            })))
        }
        ["api"] => {
            return Some(Parsed::Discovery(json!({
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
            })))
        }
        ["apis"] => return Some(Parsed::Discovery(group_list(store))),
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    if rest.is_empty() {
        return resource_list(store, group, version).map(Parsed::Discovery);
    }
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, more @ ..] if *plural != "status" => {
            (Some(ns.to_string()), [&[*plural][..], more].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, status) = match rest.as_slice() {
        [plural] => (*plural, None, false),
        [plural, name] => (*plural, Some(name.to_string()), false),
        [plural, name, "status"] => (*plural, Some(name.to_string()), true),
        _ => return None,
    };
    let res = store.lookup(group, plural)?;
    let resource = store.resources[res].clone();
    if resource.version != version {
        return None;
    }
    // A namespace in the URL of a cluster-scoped kind, or a named namespaced object without
    // one, does not exist.
    if (!resource.namespaced && namespace.is_some())
        || (resource.namespaced && namespace.is_none() && name.is_some())
    {
        return None;
    }
    Some(Parsed::Resource(Route {
        res,
        resource,
        namespace,
        name,
        status,
    }))
}

fn group_list(store: &Store) -> Value {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in store.resources.iter().filter(|r| !r.group.is_empty()) {
        let versions = groups.entry(&r.group).or_default();
        if !versions.contains(&r.version.as_str()) {
            versions.push(&r.version);
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                .collect();
            json!({"name": group, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(store: &Store, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in store
        .resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let verbs = [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        resources.push(json!({
            "name": r.plural, "singularName": r.kind.to_lowercase(), "namespaced": r.namespaced,
            "kind": r.kind, "verbs": verbs,
        }));
        if r.status {
            resources.push(json!({
                "name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
        "resources": resources,
    }))
}

/// Serializes an object, or just its metadata for `as=PartialObjectMetadata` requests.
fn write_object(out: &mut Vec<u8>, obj: &Value, metadata_only: bool) {
    if metadata_only {
        out.extend_from_slice(
            br#"{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":"#,
        );
        let _ = serde_json::to_writer(&mut *out, obj.get("metadata").unwrap_or(&Value::Null));
        out.push(b'}');
    } else {
        let _ = serde_json::to_writer(&mut *out, obj);
    }
}

fn object_response(status: u16, obj: &Value, metadata_only: bool) -> http::Response<Body> {
    let mut out = Vec::new();
    write_object(&mut out, obj, metadata_only);
    full(status, "application/json", out)
}

async fn handle(state: ApiState, req: http::Request<Incoming>) -> http::Response<Body> {
    let (parts, body) = req.into_parts();
    let header = |name: http::header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let content_type = header(http::header::CONTENT_TYPE);
    let accept = header(http::header::ACCEPT);
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let method = parts.method.as_str().to_string();
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return error_response(&ApiError::bad_request(format!("reading body: {e}"))),
    };
    let json_body: Option<Value> = if bytes.is_empty() {
        None
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                state.record(Request {
                    method,
                    path,
                    query,
                    content_type,
                    accept,
                    body: Value::Null,
                });
                // YAML apply bodies end up here too: kube always sends JSON.
                return error_response(&ApiError::bad_request(format!(
                    "the request body is not JSON: {e}"
                )));
            }
        }
    };
    let record_bodies = lock(&state.0.log).record_bodies;
    let request = Request {
        method,
        path,
        query,
        content_type,
        accept,
        body: if record_bodies {
            json_body.clone().unwrap_or(Value::Null)
        } else {
            Value::Null
        },
    };
    let fault = lock(&state.0.fault).clone();
    let forced = fault.and_then(|hook| hook(&request));
    let (method, path, query) = (
        request.method.clone(),
        request.path.clone(),
        request.query.clone(),
    );
    let content_type = request.content_type.clone().unwrap_or_default();
    let accept = request.accept.clone().unwrap_or_default();
    state.record(request);
    if let Some(fault) = forced {
        state.count(format!("fault {}", fault.status));
        let reason = match fault.status {
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            409 => "Conflict",
            404 => "NotFound",
            _ => "Unknown",
        };
        let mut response = json_response(
            fault.status,
            &status_body(fault.status, reason, &fault.message),
        );
        if let Some(secs) = fault.retry_after_seconds {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        return response;
    }
    let params = parse_query(&query);
    let parsed = parse_path(&lock(&state.0.store), &path);
    let route = match parsed {
        Some(Parsed::Discovery(v)) if method == "GET" => {
            state.count("discovery".into());
            return json_response(200, &v);
        }
        Some(Parsed::Resource(route)) => route,
        _ => {
            state.count("not found".into());
            return error_response(&ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    };
    let metadata_only = accept.contains("as=PartialObjectMetadata");
    match dispatch(
        &state,
        &route,
        &method,
        &params,
        &content_type,
        json_body,
        metadata_only,
    )
    .await
    {
        Ok(response) => response,
        Err(e) => error_response(&e),
    }
}

fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    matches!(
        params.get(name).map(String::as_str),
        Some("true" | "1" | "True")
    )
}

async fn dispatch(
    state: &ApiState,
    route: &Route,
    method: &str,
    params: &HashMap<String, String>,
    content_type: &str,
    body: Option<Value>,
    metadata_only: bool,
) -> ApiResult<http::Response<Body>> {
    let r = &route.resource;
    let target = if route.status {
        format!("{}/status", r.plural)
    } else {
        r.plural.clone()
    };
    let ns = route.namespace.clone().unwrap_or_default();
    let key = route.name.clone().map(|n| (ns.clone(), n));
    let opts = WriteOpts {
        manager: params
            .get("fieldManager")
            .filter(|m| !m.is_empty())
            .cloned()
            .unwrap_or_else(|| "unknown".into()),
        dry_run: params.get("dryRun").is_some_and(|d| d == "All"),
    };
    let verb = match (method, &key) {
        ("GET", Some(_)) => "get",
        ("GET", None) if flag(params, "watch") => "watch",
        ("GET", None) => "list",
        ("POST", None) => "create",
        ("PUT", Some(_)) => "update",
        ("PATCH", Some(_)) if content_type.starts_with("application/apply-patch") => "apply",
        ("PATCH", Some(_)) => "patch",
        ("DELETE", Some(_)) => "delete",
        ("DELETE", None) => "deletecollection",
        _ => {
            state.count(format!("invalid {target}"));
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!(
                    "the server does not allow this method on the requested resource ({method})"
                ),
            ));
        }
    };
    state.count(format!("{verb} {target}"));
    let need_body = || {
        body.clone()
            .ok_or_else(|| ApiError::bad_request("a request body is required"))
    };
    let filter = || {
        Filter::parse(
            params.get("labelSelector").map(String::as_str),
            params.get("fieldSelector").map(String::as_str),
        )
    };
    match (verb, key) {
        ("get", Some(key)) => {
            let obj = lock(&state.0.store).get_obj(route.res, &key)?;
            Ok(object_response(200, &obj, metadata_only))
        }
        ("watch", _) => watch(state, route, params, filter()?, metadata_only),
        ("list", _) => list(state, route, params, filter()?, metadata_only),
        ("create", _) => {
            if route.status {
                return Err(ApiError::new(
                    405,
                    "MethodNotAllowed",
                    "cannot create a status",
                ));
            }
            let created =
                lock(&state.0.store).create(route.res, &ns, need_body()?, &opts, "Update")?;
            Ok(object_response(201, &created, false))
        }
        ("update", Some(key)) => {
            let stored =
                lock(&state.0.store).replace(route.res, &key, route.status, need_body()?, &opts)?;
            Ok(object_response(200, &stored, false))
        }
        ("apply" | "patch", Some(key)) => {
            let (code, stored) = lock(&state.0.store).patch(
                route.res,
                &key,
                route.status,
                content_type,
                need_body()?,
                &opts,
            )?;
            Ok(object_response(code, &stored, false))
        }
        ("delete", Some(key)) => {
            let mut store = lock(&state.0.store);
            let old = store.get_obj(route.res, &key)?;
            let preconditions = body.as_ref().and_then(|b| b.get("preconditions"));
            for field in ["resourceVersion", "uid"] {
                if let Some(want) = preconditions
                    .and_then(|p| p.get(field))
                    .and_then(Value::as_str)
                {
                    if Some(want) != meta_str(&old, field) {
                        return Err(ApiError::conflict(r, &key.1));
                    }
                }
            }
            if opts.dry_run {
                return Ok(object_response(200, &old, false));
            }
            match store.delete(route.res, &key) {
                Some(still_there) => {
                    drop(store);
                    Ok(object_response(200, &still_there, false))
                }
                None => Ok(json_response(
                    200,
                    &json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                        "details": {
                            "name": key.1, "group": r.group, "kind": r.plural,
                            "uid": meta_str(&old, "uid"),
                        },
                    }),
                )),
            }
        }
        ("deletecollection", _) => {
            let filter = filter()?;
            let mut store = lock(&state.0.store);
            let (items, _) = store.select(route.res, route.namespace.as_deref(), &filter, None, 0);
            if !opts.dry_run {
                for obj in items {
                    let key = (
                        meta_str(&obj, "namespace").unwrap_or("").to_string(),
                        meta_str(&obj, "name").unwrap_or("").to_string(),
                    );
                    let key = if r.namespaced {
                        key
                    } else {
                        (String::new(), key.1)
                    };
                    store.delete(route.res, &key);
                }
            }
            Ok(json_response(
                200,
                &json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                }),
            ))
        }
        _ => Err(ApiError::new(405, "MethodNotAllowed", "method not allowed")),
    }
}

fn list(
    state: &ApiState,
    route: &Route,
    params: &HashMap<String, String>,
    filter: Filter,
    metadata_only: bool,
) -> ApiResult<http::Response<Body>> {
    let limit = match params.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        None => 0,
    };
    let after = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => Some(
            decode_continue(token)
                .ok_or_else(|| ApiError::bad_request("invalid continue token"))?,
        ),
        None => None,
    };
    // Only the Arcs are taken under the lock; serialization happens after it is released.
    let (items, next, rv) = {
        let store = lock(&state.0.store);
        let (items, next) = store.select(
            route.res,
            route.namespace.as_deref(),
            &filter,
            after.as_ref(),
            limit,
        );
        (items, next, store.rv)
    };
    let r = &route.resource;
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(next) = next {
        meta["continue"] = Value::String(encode_continue(&next));
    }
    let (api_version, kind) = if metadata_only {
        (
            "meta.k8s.io/v1".to_string(),
            "PartialObjectMetadataList".to_string(),
        )
    } else {
        (r.api_version(), format!("{}List", r.kind))
    };
    let mut out = Vec::with_capacity(256 + items.len() * 512);
    let _ = write!(
        VecWriter(&mut out),
        r#"{{"apiVersion":{},"kind":{},"metadata":{},"items":["#,
        Value::String(api_version),
        Value::String(kind),
        meta
    );
    for (i, obj) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_object(&mut out, obj, metadata_only);
    }
    out.extend_from_slice(b"]}");
    Ok(full(200, "application/json", out))
}

/// `write!` into a byte buffer.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn watch_line(kind: &str, obj: &Value, metadata_only: bool) -> Bytes {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(br#"","object":"#);
    write_object(&mut out, obj, metadata_only);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn expired_line(message: &str) -> Bytes {
    let mut out = serde_json::to_vec(&json!({
        "type": "ERROR",
        "object": status_body(410, "Expired", message),
    }))
    .unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

/// The watch starts here: the initial ADDED events (if any), the replay and the live channel,
/// all taken under the store lock so nothing falls between them.
struct WatchStart {
    initial: Vec<Arc<Value>>,
    replay: Vec<Arc<Event>>,
    rx: broadcast::Receiver<Arc<Event>>,
    rv: u64,
    expired: bool,
}

fn watch(
    state: &ApiState,
    route: &Route,
    params: &HashMap<String, String>,
    filter: Filter,
    metadata_only: bool,
) -> ApiResult<http::Response<Body>> {
    let send_initial = flag(params, "sendInitialEvents");
    let bookmarks = flag(params, "allowWatchBookmarks");
    let timeout = match params.get("timeoutSeconds").filter(|t| !t.is_empty()) {
        Some(t) => t
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?,
        None => DEFAULT_WATCH_TIMEOUT,
    };
    let from = match params.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let start = {
        let store = lock(&state.0.store);
        let rx = state.0.events.subscribe();
        let mut start = WatchStart {
            initial: Vec::new(),
            replay: Vec::new(),
            rx,
            rv: store.rv,
            expired: false,
        };
        match (send_initial, from) {
            // No (or "0") resourceVersion, or a streaming list: the current state first.
            (true, _) | (_, None) => {
                start.initial = store
                    .select(route.res, route.namespace.as_deref(), &filter, None, 0)
                    .0;
            }
            (false, Some(rv)) if rv < store.compacted_rv => start.expired = true,
            (false, Some(rv)) => {
                let first = store.history.partition_point(|e| e.rv <= rv);
                start.replay = store
                    .history
                    .range(first..)
                    .filter(|e| e.res == route.res)
                    .cloned()
                    .collect();
            }
        }
        start
    };
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let res = route.res;
    let namespace = route.namespace.clone();
    let bookmark_kind = if metadata_only {
        (
            "meta.k8s.io/v1".to_string(),
            "PartialObjectMetadata".to_string(),
        )
    } else {
        (route.resource.api_version(), route.resource.kind.clone())
    };
    let interval = Duration::from_millis(state.0.bookmark_ms.load(Ordering::Relaxed));
    tokio::spawn(async move {
        let watcher = Watcher {
            res,
            namespace,
            filter,
            metadata_only,
            bookmark_kind,
            tx,
        };
        watcher
            .run(
                start,
                send_initial,
                bookmarks,
                interval,
                Duration::from_secs(timeout),
            )
            .await;
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut response = http::Response::new(BodyExt::boxed_unsync(StreamBody::new(stream.boxed())));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

struct Watcher {
    res: usize,
    namespace: Option<String>,
    filter: Filter,
    metadata_only: bool,
    bookmark_kind: (String, String),
    tx: mpsc::Sender<Bytes>,
}

impl Watcher {
    fn selects(&self, obj: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| meta_str(obj, "namespace") == Some(ns))
            && self.filter.matches(obj)
    }

    /// The event this watcher sees, if any: selectors turn a change into ADDED/DELETED when an
    /// object starts/stops matching.
    fn translate(&self, event: &Event) -> Option<Bytes> {
        if event.res != self.res {
            return None;
        }
        let now = self.selects(&event.object);
        let before = event.previous.as_deref().is_some_and(|p| self.selects(p));
        let kind = match event.kind {
            EventType::Deleted if now || before => "DELETED",
            EventType::Added | EventType::Modified if now && !before => "ADDED",
            EventType::Modified if now => "MODIFIED",
            EventType::Modified if before => "DELETED",
            _ => return None,
        };
        Some(watch_line(kind, &event.object, self.metadata_only))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({
            "apiVersion": self.bookmark_kind.0, "kind": self.bookmark_kind.1, "metadata": metadata,
        });
        let mut out =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }

    async fn send(&self, line: Bytes) -> bool {
        self.tx.send(line).await.is_ok()
    }

    async fn run(
        self,
        mut start: WatchStart,
        send_initial: bool,
        bookmarks: bool,
        interval: Duration,
        timeout: Duration,
    ) {
        if start.expired {
            let _ = self.send(expired_line("too old resource version")).await;
            return;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        for obj in &start.initial {
            if !self
                .send(watch_line("ADDED", obj, self.metadata_only))
                .await
            {
                return;
            }
        }
        // The end of a streaming list's initial state.
        if send_initial && bookmarks && !self.send(self.bookmark(start.rv, true)).await {
            return;
        }
        for event in &start.replay {
            if let Some(line) = self.translate(event) {
                if !self.send(line).await {
                    return;
                }
            }
        }
        // The rv of the last event this watcher has seen (of any kind): a bookmark never
        // claims more than that, so resuming from it cannot skip an event.
        let mut last_rv = start.rv;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                received = start.rx.recv() => match received {
                    Ok(event) => {
                        last_rv = event.rv;
                        if let Some(line) = self.translate(&event) {
                            if !self.send(line).await {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = self.send(expired_line("the watcher fell too far behind; relist")).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick(), if bookmarks => {
                    if !self.send(self.bookmark(last_rv, false)).await {
                        return;
                    }
                }
                _ = self.tx.closed() => return,
                _ = &mut deadline => return,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Time

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Now as RFC 3339 UTC with seconds, like `metadata.creationTimestamp`.
fn now_rfc3339() -> String {
    let secs = (now_nanos() / 1_000_000_000) as i64;
    rfc3339(secs)
}

fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Db%2Cc"), "a=b,c");
        assert_eq!(percent_decode("x+y%"), "x y%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn json_patch_ops() {
        let mut doc = json!({"metadata": {"finalizers": ["a"]}, "a/b": {"~": 1}});
        let ops = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": ["a"]},
            {"op": "add", "path": "/metadata/finalizers/-", "value": "b"},
            {"op": "test", "path": "/a~1b/~0", "value": 1},
            {"op": "copy", "from": "/a~1b", "path": "/c"},
            {"op": "move", "from": "/c", "path": "/d"},
            {"op": "replace", "path": "/d/~0", "value": 2},
            {"op": "remove", "path": "/metadata/finalizers/0"},
            {"op": "test", "path": "/missing", "value": null},
        ]);
        json_patch(&mut doc, ops.as_array().unwrap()).unwrap();
        assert_eq!(
            doc,
            json!({"metadata": {"finalizers": ["b"]}, "a/b": {"~": 1}, "d": {"~": 2}})
        );
        let bad = json!([{"op": "test", "path": "/metadata/finalizers", "value": null}]);
        assert!(json_patch(&mut doc, bad.as_array().unwrap()).is_err());
        let bad = json!([{"op": "remove", "path": "/nope/x"}]);
        assert!(json_patch(&mut doc, bad.as_array().unwrap()).is_err());
        let bad = json!([{"op": "add", "path": "/metadata/finalizers/9", "value": 1}]);
        assert!(json_patch(&mut doc, bad.as_array().unwrap()).is_err());
    }

    #[test]
    fn fields_tree() {
        let body = json!({"apiVersion": "v1", "kind": "X",
            "metadata": {"name": "n", "labels": {"a": "1"}},
            "spec": {"x": 1, "items": [{"name": "p"}, 3]}});
        assert_eq!(
            fields_of_body(&body),
            json!({"f:metadata": {"f:labels": {"f:a": {}}},
                "f:spec": {"f:x": {}, "f:items": {"k:{\"name\":\"p\"}": {".": {}, "f:name": {}}, "v:3": {".": {}}}}})
        );
    }

    #[test]
    fn selectors() {
        let obj = json!({"metadata": {"name": "a", "namespace": "ns", "labels": {"app": "x", "tier": "1"}}});
        let ok = |l: &str, f: &str| Filter::parse(Some(l), Some(f)).unwrap().matches(&obj);
        assert!(ok("app=x,tier", "metadata.name=a"));
        assert!(ok("app==x,!missing,tier!=2", "metadata.namespace==ns"));
        assert!(ok("app in (x,y),tier notin (2)", ""));
        assert!(!ok("app!=x", ""));
        assert!(!ok("", "metadata.name!=a"));
        assert!(Filter::parse(Some("a b"), None).is_err());
        assert!(Filter::parse(None, Some("nonsense")).is_err());
    }

    #[test]
    fn continue_tokens() {
        let key = ("ns".to_string(), "a\"b".to_string());
        assert_eq!(decode_continue(&encode_continue(&key)), Some(key));
        assert_eq!(decode_continue("zz"), None);
    }
}

/// The API server's validation of `events.k8s.io/v1` Events (kube-apiserver's
/// `ValidateEventCreate` and `ValidateEventUpdate`), so an Event the real server would refuse
/// is refused here too. Other kinds are not validated.
mod event_rules {
    use super::{ApiError, ApiResult, Resource};
    use serde_json::Value;

    const NOTE_LIMIT: usize = 1024;
    const SHORT_LIMIT: usize = 128;

    /// A MicroTime as the server parses it: RFC 3339 with exactly six fractional digits.
    fn is_micro_time(v: Option<&Value>) -> bool {
        let Some(s) = v.and_then(Value::as_str) else {
            return false;
        };
        let b = s.as_bytes();
        b.len() >= 27
            && b[4] == b'-'
            && b[10] == b'T'
            && b[19] == b'.'
            && b[20..26].iter().all(u8::is_ascii_digit)
            && matches!(b[26], b'Z' | b'+' | b'-')
    }

    /// `[prefix/]name`: a DNS subdomain prefix, and a name of at most 63 alphanumerics, `-`,
    /// `_` or `.` that starts and ends alphanumeric.
    fn is_qualified_name(s: &str) -> bool {
        let (prefix, name) = match s.rsplit_once('/') {
            Some((p, n)) => (Some(p), n),
            None => (None, s),
        };
        let name_ok = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
            && name.as_bytes()[0].is_ascii_alphanumeric()
            && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
        name_ok && prefix.is_none_or(is_dns_subdomain)
    }

    fn is_dns_subdomain(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    }

    pub(super) fn check(r: &Resource, event: &Value, old: Option<&Value>) -> ApiResult<()> {
        if r.group != "events.k8s.io" {
            return Ok(());
        }
        let text = |f: &str| event.get(f).and_then(Value::as_str).unwrap_or("");
        let mut errors = Vec::new();
        let namespace = event["metadata"]["namespace"].as_str().unwrap_or("");
        if !is_dns_subdomain(event["metadata"]["name"].as_str().unwrap_or("")) {
            errors.push("metadata.name: Invalid value: must be a DNS subdomain".to_string());
        }
        if !is_micro_time(event.get("eventTime")) {
            errors.push("eventTime: Required value".into());
        }
        if !matches!(text("type"), "Normal" | "Warning") {
            errors.push(format!("type: Invalid value: \"{}\"", text("type")));
        }
        for deprecated in [
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
            "deprecatedSource",
        ] {
            if event.get(deprecated).is_some_and(|v| !v.is_null()) {
                errors.push(format!("{deprecated}: Invalid value: needs to be unset"));
            }
        }
        if event["regarding"]["namespace"]
            .as_str()
            .unwrap_or("")
            .is_empty()
            && !matches!(namespace, "default" | "kube-system")
        {
            errors
                .push("regarding.namespace: Invalid value: does not match event.namespace".into());
        }
        if !is_qualified_name(text("reportingController")) {
            errors.push("reportingController: Invalid value: not a qualified name".into());
        }
        for (field, limit) in [
            ("reportingInstance", SHORT_LIMIT),
            ("action", SHORT_LIMIT),
            ("reason", SHORT_LIMIT),
        ] {
            match text(field).len() {
                0 => errors.push(format!("{field}: Required value")),
                n if n > limit => errors.push(format!(
                    "{field}: Invalid value: can have at most {limit} characters"
                )),
                _ => {}
            }
        }
        if text("note").len() > NOTE_LIMIT {
            errors.push(format!(
                "note: Invalid value: can have at most {NOTE_LIMIT} characters"
            ));
        }
        if let Some(series) = event.get("series").filter(|v| !v.is_null()) {
            if series["count"].as_i64().unwrap_or(0) < 2 {
                errors.push("series.count: Invalid value: should be at least 2".into());
            }
            if !is_micro_time(series.get("lastObservedTime")) {
                errors.push("series.lastObservedTime: Required value".into());
            }
        }
        if let Some(old) = old {
            for field in [
                "regarding",
                "related",
                "reason",
                "note",
                "action",
                "reportingController",
                "reportingInstance",
            ] {
                if event.get(field) != old.get(field) {
                    errors.push(format!("{field}: Invalid value: field is immutable"));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(format!(
                "Event.events.k8s.io \"{}\" is invalid: [{}]",
                event["metadata"]["name"].as_str().unwrap_or(""),
                errors.join(", ")
            )))
        }
    }
}
