//! A fake Kubernetes API server behind kube's tower-test mock: records every request and answers
//! like the API server would (GET → 404, apply → the object with a resourceVersion, DELETE →
//! 200 or 404). Shared by the controller scenario tests and the reconcile benchmark.

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
}

/// How the fake server answers.
#[derive(Clone, Default)]
pub struct Behaviour {
    /// Answer DELETEs with 404 (the object is already gone).
    pub deletes_not_found: bool,
    /// What status and finalizer patches of DataProducts return (the product as stored).
    pub product: Value,
}

fn not_found() -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}),
    )
}

/// The objects the fake server holds, by request path; tests may edit them to simulate drift.
pub type Objects = Arc<Mutex<std::collections::HashMap<String, Value>>>;

/// Starts the fake server on the current tokio runtime; returns a client, the request log and
/// the objects it holds (applied objects are stored and returned by GET).
pub fn start(behaviour: Behaviour) -> (Client, Arc<Mutex<Vec<Seen>>>, Objects) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let objects: Objects = Arc::default();
    let (record, store) = (seen.clone(), objects.clone());
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
            record.lock().unwrap().push(Seen {
                method: method.clone(),
                path: path.clone(),
                body: body.clone(),
            });
            let mut objects = store.lock().unwrap();
            let (status, reply) = match method.as_str() {
                "GET" => match objects.get(&path) {
                    Some(obj) => (StatusCode::OK, obj.clone()),
                    None => not_found(),
                },
                "DELETE" if behaviour.deletes_not_found => not_found(),
                "DELETE" => {
                    objects.remove(&path);
                    (
                        StatusCode::OK,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
                    )
                }
                _ => {
                    let mut obj = body;
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
                    version += 1;
                    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.insert("resourceVersion".into(), json!(version.to_string()));
                    }
                    if !is_product && !path.contains("/events") {
                        objects.insert(path.clone(), obj.clone());
                    }
                    (StatusCode::OK, obj)
                }
            };
            drop(objects);
            let response = Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                .unwrap();
            send.send_response(response);
        }
    });
    (client, seen, objects)
}

/// The objects the log shows as applied (server-side apply of anything but a status), as the
/// metadata a watch would deliver: `(kind, metadata)`. Any kind fits in a
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
            s.method == "PATCH" && s.body.get("kind").is_some() && !s.path.ends_with("/status")
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
