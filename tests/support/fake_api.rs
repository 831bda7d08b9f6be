//! A fake Kubernetes API server behind kube's tower-test mock: records every request and answers
//! like the API server would (GET → the stored object or 404, apply → the object with a
//! resourceVersion, DELETE → 200 or 404).
//!
//! Two modes:
//!
//! - [`FakeApi::strict`] (the controller and leader-election tests): each scenario states the
//!   requests it expects, in order ([`FakeApi::expect`]: method and path, optionally a check on
//!   the body), as controller-rs's `ApiServerVerifier` does. Any other request is answered with a
//!   500 naming it and recorded; [`FakeApi::verify`] — called by the test, and again when the
//!   fake is dropped — fails the test on any such request and on any expected request that never
//!   came. So a stray request fails the test even when the controller's error handling swallows
//!   the 500.
//! - [`FakeApi::permissive`] (the reconcile benchmark): answers anything, expects nothing.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};

/// A request the fake API server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: Value,
    /// The status the fake answered with (500 for a request no scenario expected).
    pub status: u16,
}

/// How the fake server answers.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// Answer DELETEs with 404 (the object is already gone).
    pub deletes_not_found: bool,
    /// What status and finalizer patches of DataProducts return (the product as stored).
    pub product: Value,
}

/// The objects the fake server holds, by request path; tests may edit them to simulate drift.
pub type Objects = Arc<Mutex<HashMap<String, Value>>>;

type BodyCheck = Box<dyn Fn(&Value) -> bool + Send>;

/// One request a strict scenario expects: its method and path (the query is not compared),
/// optionally a check on its JSON body.
pub struct Expect {
    method: String,
    path: String,
    /// `path` is a prefix (the server generates the rest of the name, as for events).
    prefix: bool,
    body: Option<(String, BodyCheck)>,
}

impl Expect {
    pub fn new(method: &str, path: impl Into<String>) -> Self {
        Expect {
            method: method.to_string(),
            path: path.into(),
            prefix: false,
            body: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new("GET", path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self::new("POST", path)
    }

    pub fn put(path: impl Into<String>) -> Self {
        Self::new("PUT", path)
    }

    pub fn patch(path: impl Into<String>) -> Self {
        Self::new("PATCH", path)
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self::new("DELETE", path)
    }

    /// The path only has to start with the given one.
    pub fn path_prefix(mut self) -> Self {
        self.prefix = true;
        self
    }

    /// The body must also pass `check`; `what` names the check in the failure.
    pub fn body(mut self, what: &str, check: impl Fn(&Value) -> bool + Send + 'static) -> Self {
        self.body = Some((what.to_string(), Box::new(check)));
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method == method
            && if self.prefix {
                path.starts_with(&self.path)
            } else {
                path == self.path
            }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if self.prefix {
            write!(f, "…")?;
        }
        if let Some((what, _)) = &self.body {
            write!(f, " ({what})")?;
        }
        Ok(())
    }
}

/// What a strict fake expects and what went wrong, shared with the serving task.
#[derive(Default)]
struct Script {
    strict: bool,
    expected: VecDeque<Expect>,
    /// One line per request answered 500: unexpected, or with a body its expectation refused.
    failures: Vec<String>,
    /// Every request since the last verification, for the report.
    received: Vec<String>,
}

impl Script {
    /// Ok if the request may be answered; otherwise why not.
    fn admit(&mut self, method: &str, path: &str, body: &Value) -> Result<(), String> {
        if !self.strict {
            return Ok(());
        }
        self.received.push(format!("{method} {path}"));
        match self.expected.front() {
            Some(next) if next.matches(method, path) => {
                let next = self.expected.pop_front().expect("front exists");
                match &next.body {
                    Some((what, check)) if !check(body) => Err(format!(
                        "request {method} {path}: the body fails the check \"{what}\": {body}"
                    )),
                    _ => Ok(()),
                }
            }
            next => Err(format!(
                "unexpected request {method} {path} (expected next: {})",
                next.map_or_else(|| "nothing".to_string(), ToString::to_string)
            )),
        }
    }
}

/// The fake API server: a client wired to it, the log of what it received, and what it holds.
pub struct FakeApi {
    pub client: Client,
    /// Every request received, expected or not, in order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Applied objects are stored here and returned by GET.
    pub objects: Objects,
    script: Arc<Mutex<Script>>,
}

fn not_found() -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
    )
}

impl FakeApi {
    /// A fake that answers only the requests the scenario [`expect`](Self::expect)s, in order.
    pub fn strict(behaviour: Behaviour) -> Self {
        Self::start(behaviour, true)
    }

    /// A fake that answers every request (the benchmark's thousands of reconciles); nothing is
    /// checked.
    pub fn permissive(behaviour: Behaviour) -> Self {
        Self::start(behaviour, false)
    }

    /// Adds requests the scenario expects next, in the order they must arrive.
    pub fn expect(&self, requests: impl IntoIterator<Item = Expect>) {
        let mut script = self.script.lock().unwrap();
        assert!(
            script.strict,
            "a permissive fake API server expects nothing"
        );
        script.expected.extend(requests);
    }

    /// Takes the log of requests received since the last take.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// What went wrong since the last check, one line each: requests answered 500 (unexpected,
    /// or refused by their body check), then expected requests that never came. Clears it.
    pub fn problems(&self) -> Vec<String> {
        let mut script = self.script.lock().unwrap();
        let mut problems = std::mem::take(&mut script.failures);
        problems.extend(
            script
                .expected
                .drain(..)
                .map(|e| format!("expected request {e} never came")),
        );
        script.received.clear();
        problems
    }

    /// Fails the test if any request was unexpected (or refused by its body check) or any
    /// expected request has not come; the report lists every request received since the last
    /// check.
    #[track_caller]
    pub fn verify(&self) {
        let received = self.script.lock().unwrap().received.clone();
        let problems = self.problems();
        if !problems.is_empty() {
            panic!(
                "fake API server: {}\nrequests received, in order:\n  {}",
                problems.join("\n  "),
                received.join("\n  ")
            );
        }
    }

    fn start(behaviour: Behaviour, strict: bool) -> Self {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let objects: Objects = Arc::default();
        let script = Arc::new(Mutex::new(Script {
            strict,
            ..Script::default()
        }));
        let (record, store, rules) = (seen.clone(), objects.clone(), script.clone());
        tokio::spawn(async move {
            let mut version = 0u64;
            while let Some((request, send)) = handle.next_request().await {
                let method = request.method().to_string();
                let path = request.uri().path().to_string();
                let bytes = request
                    .into_body()
                    .collect_bytes()
                    .await
                    .unwrap_or_default();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let admitted = rules.lock().unwrap().admit(&method, &path, &body);
                let (status, reply) = match admitted {
                    Ok(()) => answer(&behaviour, &store, &mut version, &method, &path, &body),
                    Err(why) => {
                        rules.lock().unwrap().failures.push(why.clone());
                        (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "InternalError", "code": 500, "message": format!("fake API server: {why}")}),
                        )
                    }
                };
                // Logged before the answer, so a caller that has its response finds it here.
                record.lock().unwrap().push(Seen {
                    method,
                    path,
                    body,
                    status: status.as_u16(),
                });
                let response = Response::builder()
                    .status(status)
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
        });
        FakeApi {
            client,
            seen,
            objects,
            script,
        }
    }
}

impl Drop for FakeApi {
    /// A scenario that never verified still fails on a stray or missing request.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.verify();
        }
    }
}

/// What the API server would answer to an admitted request.
fn answer(
    behaviour: &Behaviour,
    store: &Objects,
    version: &mut u64,
    method: &str,
    path: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let mut objects = store.lock().unwrap();
    match method {
        "GET" => match objects.get(path) {
            Some(obj) => (StatusCode::OK, obj.clone()),
            None => not_found(),
        },
        "DELETE" if behaviour.deletes_not_found => not_found(),
        "DELETE" => {
            objects.remove(path);
            (
                StatusCode::OK,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
            )
        }
        _ => {
            let mut obj = body.clone();
            let is_product = obj.is_array() || path.ends_with("/status");
            if obj.is_array() {
                // A JSON patch (the finalizer helper): the product with the finalizer.
                let mut p = behaviour.product.clone();
                p["metadata"]["finalizers"] = json!(["dataproducts.io/cleanup"]);
                obj = p;
            } else if path.ends_with("/status") {
                let status = obj["status"].clone();
                obj = behaviour.product.clone();
                obj["status"] = status;
            }
            *version += 1;
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("resourceVersion".into(), json!(version.to_string()));
            }
            if !is_product && !path.contains("/events") {
                objects.insert(path.to_string(), obj.clone());
            }
            (StatusCode::OK, obj)
        }
    }
}

/// The objects the log shows as applied (server-side apply of anything but a status, answered
/// 200), as the metadata a watch would deliver: `(kind, metadata)`. Any kind fits in a
/// `PartialObjectMeta<Namespace>`, since caches only read metadata.
pub fn applied(
    seen: &[Seen],
    objects: &Objects,
) -> Vec<(
    String,
    kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::Namespace>,
)> {
    let objects = objects.lock().unwrap();
    seen.iter()
        .filter(|s| {
            s.method == "PATCH"
                && s.status == 200
                && s.body.get("kind").is_some()
                && !s.path.ends_with("/status")
        })
        .map(|s| {
            // The stored object carries the resourceVersion the server gave it.
            let stored = objects.get(&s.path).unwrap_or(&s.body);
            let meta: kube::core::ObjectMeta =
                serde_json::from_value(stored["metadata"].clone()).unwrap_or_default();
            let obj = kube::core::PartialObjectMeta {
                types: None,
                metadata: meta,
                _phantom: Default::default(),
            };
            (s.body["kind"].as_str().unwrap_or_default().to_string(), obj)
        })
        .collect()
}

/// The `standard` template and the `messaging/conversations` example, as the tests and the
/// benchmark use them.
pub fn conversations() -> (
    dataproduct_operator::api::DataProductTemplate,
    dataproduct_operator::api::DataProduct,
) {
    use dataproduct_operator::api::load::{load_str, Document, LoadOptions};
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    let opts = LoadOptions::default();
    load_str(
        "standard.yaml".as_ref(),
        include_str!("../../templates/standard.yaml"),
        &opts,
        &mut docs,
        &mut errors,
    );
    load_str(
        "conversations.yaml".as_ref(),
        include_str!("../../examples/messaging/conversations.yaml"),
        &opts,
        &mut docs,
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
    let (mut template, mut product) = (None, None);
    for d in docs {
        match d.document {
            Document::Template(t) => template = Some(*t),
            Document::Product(p) => product = Some(*p),
            Document::Access(_) => {}
        }
    }
    (
        template.expect("standard template"),
        product.expect("conversations product"),
    )
}
