//! The catalogue's HTTP server: the JSON API under `/api/v1`, `/openapi.json` and the HTML
//! pages. Read-only; every request is answered from the current [`Index`], which cluster mode
//! replaces as the watch caches change.

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use http::{header, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use super::html;
use super::index::Index;
use super::lineage;
use super::query::{decode, parse_query, Params};

/// Default depth of `/api/v1/lineage?product=…`, in product hops.
pub const DEFAULT_DEPTH: usize = 3;
/// Deeper requests are cut to this.
pub const MAX_DEPTH: usize = 100;

/// The served index; replaced as a whole when the documents change.
#[derive(Debug, Default)]
pub struct Catalogue {
    index: RwLock<Arc<Index>>,
    /// How many times the index was replaced: cluster mode replaces it after the first watch
    /// events, so a non-zero count says the catalogue has seen the cluster.
    replaced: AtomicU64,
}

impl Catalogue {
    pub fn new(index: Index) -> Arc<Catalogue> {
        Arc::new(Catalogue {
            index: RwLock::new(Arc::new(index)),
            replaced: AtomicU64::new(0),
        })
    }

    /// How many times [`Self::set`] replaced the index.
    pub fn replaced(&self) -> u64 {
        self.replaced.load(Ordering::Acquire)
    }

    pub fn index(&self) -> Arc<Index> {
        match self.index.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set(&self, index: Index) {
        let mut g = match self.index.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = Arc::new(index);
        self.replaced.fetch_add(1, Ordering::Release);
    }
}

/// The router: one handler that dispatches on the path, so every unknown path gets the same
/// JSON 404.
pub fn router(catalogue: Arc<Catalogue>) -> Router {
    Router::new().fallback(move |req: Request| {
        let c = catalogue.clone();
        async move { respond(&c.index(), &req) }
    })
}

/// Serves until the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    catalogue: Arc<Catalogue>,
) -> std::io::Result<()> {
    axum::serve(listener, router(catalogue)).await
}

fn with_headers(mut r: Response, content_type: &'static str) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn response(status: StatusCode, body: String, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    with_headers(r, content_type)
}

pub fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut body = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    body.push('\n');
    response(status, body, "application/json")
}

pub fn error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({"error": message, "status": status.as_u16()}),
    )
}

fn html_response(status: StatusCode, body: String) -> Response {
    response(status, body, "text/html; charset=utf-8")
}

fn wants_html(req: &Request) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// Answers one request. Never panics: every input ends in a response.
pub fn respond(index: &Index, req: &Request) -> Response {
    let path = req.uri().path();
    let params = Params(parse_query(req.uri().query().unwrap_or_default()));
    let api = path.starts_with("/api/") || path == "/openapi.json";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = error(
            StatusCode::METHOD_NOT_ALLOWED,
            "the catalogue is read-only: only GET and HEAD",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let not_found = |what: &str| {
        if !api && wants_html(req) {
            html_response(StatusCode::NOT_FOUND, html::not_found(what))
        } else {
            error(StatusCode::NOT_FOUND, what)
        }
    };
    match seg.as_slice() {
        ["api", "v1", "products"] => match list_json(index, &params) {
            Ok(body) => response(StatusCode::OK, body, "application/json"),
            Err(message) => error(StatusCode::BAD_REQUEST, &message),
        },
        ["api", "v1", "products", ns, name] => match index.get(ns, name) {
            Some(p) => json_response(StatusCode::OK, &serde_json::to_value(p).unwrap_or_default()),
            None => not_found(&format!("no DataProduct {ns}/{name} in the catalogue")),
        },
        ["api", "v1", "lineage"] => match lineage_of(index, &params) {
            Ok(g) => json_response(
                StatusCode::OK,
                &serde_json::to_value(g.as_ref()).unwrap_or_default(),
            ),
            Err((status, message)) => error(status, &message),
        },
        ["openapi.json"] => json_response(StatusCode::OK, &openapi()),
        // Liveness and readiness: the index is in memory, so answering at all is healthy.
        ["healthz"] => response(StatusCode::OK, "ok\n".into(), "text/plain; charset=utf-8"),
        [""] => html_response(StatusCode::OK, html::list(index, &params)),
        ["products", ns, name] => match index.get(ns, name) {
            Some(p) => html_response(StatusCode::OK, html::product(index, p)),
            None => not_found(&format!("no DataProduct {ns}/{name} in the catalogue")),
        },
        ["lineage"] => html_response(StatusCode::OK, html::lineage_page(index)),
        _ => not_found(&format!("no such page: {path}")),
    }
}

/// A whole number parameter; `None` when unset or empty.
fn whole_number(params: &Params, key: &str) -> Result<Option<usize>, String> {
    match params.get(key).map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<usize>()
            .map(Some)
            .map_err(|_| format!("{key} must be a whole number")),
    }
}

/// The body of `/api/v1/products`: `{"count", "items", "limit", "offset"}` as pretty JSON, the
/// same bytes as serialising it whole, but assembled from the summaries serialized when the
/// index was built. `count` is the number of matches; `items` holds `limit` of them (all when
/// unset) from `offset` on.
pub fn list_json(index: &Index, params: &Params) -> Result<String, String> {
    let filter = params.filter();
    let offset = whole_number(params, "offset")?.unwrap_or(0);
    let limit = whole_number(params, "limit")?;
    let found = index.search(&filter);
    let mut body = String::with_capacity(64 + found.len() * 640);
    let _ = write!(body, "{{\n  \"count\": {},\n  \"items\": [", found.len());
    let mut any = false;
    for p in found.iter().skip(offset).take(limit.unwrap_or(usize::MAX)) {
        body.push_str(if any { ",\n" } else { "\n" });
        body.push_str(p.summary_json());
        any = true;
    }
    body.push_str(if any { "\n  ],\n" } else { "],\n" });
    match limit {
        Some(l) => {
            let _ = writeln!(body, "  \"limit\": {l},");
        }
        None => body.push_str("  \"limit\": null,\n"),
    }
    let _ = writeln!(body, "  \"offset\": {offset}\n}}");
    Ok(body)
}

/// The lineage graph `/api/v1/lineage` answers: the whole mesh, or around `product`.
pub fn lineage_of<'a>(
    index: &'a Index,
    params: &Params,
) -> Result<Cow<'a, lineage::Graph>, (StatusCode, String)> {
    let depth = match params.get("depth").map(str::trim) {
        None | Some("") => DEFAULT_DEPTH,
        Some(d) => match d.parse::<usize>() {
            Ok(d) if d <= MAX_DEPTH => d,
            _ => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    format!("depth must be a whole number from 0 to {MAX_DEPTH}"),
                ))
            }
        },
    };
    match params.get("product").map(str::trim) {
        None | Some("") => Ok(Cow::Borrowed(&index.lineage.graph)),
        Some(p) => {
            let Some(r) = crate::api::ProductRef::parse(p) else {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "product must be <namespace>/<name>".to_string(),
                ));
            };
            let Some(entry) = index.get(&r.namespace, &r.name) else {
                return Err((
                    StatusCode::NOT_FOUND,
                    format!("no DataProduct {r} in the catalogue"),
                ));
            };
            Ok(Cow::Owned(index.lineage.around(&entry.urn, depth)))
        }
    }
}

/// The OpenAPI 3.1 description of the JSON API.
pub fn openapi() -> Value {
    let err = json!({"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let q = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}});
    let path_param = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}});
    let column = json!({"type": "object", "properties": {
        "name": {"type": "string"}, "type": {"type": "string"}, "description": {"type": "string"},
        "example": {"type": "string"}, "pii": {"type": "boolean"}}});
    let output = json!({"type": "object", "properties": {
                "name": {"type": "string"}, "urn": {"type": "string"}, "layer": {"type": "string"},
                "public": {"type": "boolean"}, "description": {"type": "string"},
                "granularity": {"type": ["string", "null"]}, "format": {"type": "string"},
                "version": {"type": "integer"},
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Column"}},
                "partitionKeys": {"type": "array", "items": {"$ref": "#/components/schemas/Column"}},
                "examples": {"type": "array", "items": {"type": "object", "properties": {"title": {"type": "string"}, "sql": {"type": "string"}}}},
                "deprecation": {"type": ["object", "null"]},
                "sql": {"oneOf": [{"$ref": "#/components/schemas/SqlEndpoint"}, {"type": "null"}]},
                "freshness": {"enum": ["Fresh", "Stale", "Unknown"], "description": "As the operator last observed it (status.outputs[]); Unknown in file mode"},
                "lastUpdated": {"type": ["string", "null"], "format": "date-time"},
                "freshnessSource": {"type": ["string", "null"], "description": "The signal that decided lastUpdated: CronJob, S3Object or GluePartition"}}});
    // Outputs and inputs are built apart to keep the document readable; even so it needs the
    // raised recursion_limit in lib.rs.
    let input = json!({"type": "object", "properties": {
                "kind": {"enum": ["product", "external"]},
                "product": {"type": ["string", "null"]}, "output": {"type": ["string", "null"]},
                "urn": {"type": ["string", "null"]}, "external": {"type": ["string", "null"]},
                "description": {"type": "string"},
                "known": {"type": "boolean", "description": "The producer is in the catalogue"},
                "granted": {"type": "boolean", "description": "The producer grants the output to this product"},
                "deprecation": {"type": ["object", "null"], "description": "The producer's deprecation of the output: sunset (YYYY-MM-DD), replacedBy, reason",
                    "properties": {"sunset": {"type": "string"}, "replacedBy": {"type": ["string", "null"]}, "reason": {"type": ["string", "null"]}}},
                "ready": {"type": ["boolean", "null"], "description": "Whether pipelines reading it may run, as the operator last decided (status.inputs[]); null in file mode"},
                "waiting": {"type": ["string", "null"], "description": "Why they wait: InputNotReady, InputStale or InputRetired, and what was seen"}}});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Data product catalogue",
            "version": "v1",
            "description": "Read-only catalogue of the DataProducts of the mesh: search, descriptors with schemas and SQL endpoints, and lineage. Every product and output has a URN urn:dataproduct:<namespace>:<name>[:<output>]."
        },
        "paths": {
            "/api/v1/products": {"get": {
                "summary": "List and search products",
                "parameters": [
                    q("q", "Case-insensitive full-text search over names, descriptions, column names and descriptions; every word must match"),
                    q("domain", "Owning domain"),
                    q("owner", "Owner team or email"),
                    q("layer", "Storage layer of at least one output"),
                    q("tag", "Class, visibility, `deprecated`, or a metadata label (key=value or value)"),
                    q("stage", "Stage of the product's template (dev, staging, prod, ...)"),
                    {"name": "offset", "in": "query", "required": false, "description": "Matches to skip (default 0)", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "limit", "in": "query", "required": false, "description": "Most items to return (default: all matches)", "schema": {"type": "integer", "minimum": 0}}
                ],
                "responses": {
                    "200": {"description": "Matching products, in namespace/name order", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["count", "items", "limit", "offset"], "properties": {
                            "count": {"type": "integer", "description": "Number of matching products (all pages)"},
                            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Summary"}, "description": "The matches from offset on, at most limit"},
                            "limit": {"type": ["integer", "null"], "description": "The limit asked for; null when unset"},
                            "offset": {"type": "integer"}}}}}},
                    "400": err
                }
            }},
            "/api/v1/products/{namespace}/{name}": {"get": {
                "summary": "Full descriptor of one product",
                "parameters": [path_param("namespace"), path_param("name")],
                "responses": {
                    "200": {"description": "The product", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Product"}}}},
                    "404": err
                }
            }},
            "/api/v1/lineage": {"get": {
                "summary": "Lineage graph of the mesh, or up- and downstream of one product",
                "parameters": [
                    q("product", "<namespace>/<name>; the whole mesh when unset"),
                    {"name": "depth", "in": "query", "required": false, "description": "Product hops up- and downstream (default 3, at most 100)", "schema": {"type": "integer", "minimum": 0}}
                ],
                "responses": {
                    "200": {"description": "Nodes and edges", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Graph"}}}},
                    "400": err,
                    "404": err
                }
            }},
            "/healthz": {"get": {"summary": "Liveness and readiness", "responses": {"200": {"description": "ok"}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI document"}}}}
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "status"], "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}},
            "Summary": {"type": "object", "properties": {
                "namespace": {"type": "string"}, "name": {"type": "string"}, "urn": {"type": "string"},
                "domain": {"type": "string"}, "class": {"type": "string", "enum": ["domain", "core"]},
                "owner": {"type": "string"}, "description": {"type": "string"},
                "stage": {"type": ["string", "null"], "description": "Stage of the template (from status in cluster mode, from the template in file mode); null when it sets none"},
                "phase": {"type": ["string", "null"], "description": "From status; null in file mode"},
                "freshness": {"type": "string", "description": "Fresh, Stale or Unknown"},
                "deprecated": {"type": "boolean"},
                "outputs": {"type": "array", "items": {"type": "string"}}}},
            "Column": column,
            "SqlEndpoint": {"type": "object", "properties": {
                "engine": {"type": "string", "const": "athena"}, "region": {"type": "string"},
                "database": {"type": "string"}, "table": {"type": "string"},
                "qualifiedName": {"type": "string", "description": "database.table"},
                "example": {"type": "string"}}},
            "Output": output,
            "Input": input,
            "Product": {"type": "object", "properties": {
                "namespace": {"type": "string"}, "name": {"type": "string"}, "urn": {"type": "string"},
                "domain": {"type": "string"}, "class": {"type": "string"}, "template": {"type": "string"},
                "owner": {"type": "object", "properties": {"team": {"type": "string"}, "email": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}}}},
                "description": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "stage": {"type": ["string", "null"], "description": "Stage of the template (from status in cluster mode, from the template in file mode); null when it sets none"},
                "phase": {"type": ["string", "null"]}, "freshness": {"type": "string"},
                "freshnessSlo": {"type": ["string", "null"]}, "visibility": {"type": "string"},
                "database": {"type": ["string", "null"]}, "provisionedNamespace": {"type": ["string", "null"]},
                "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/Output"}},
                "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/Input"}},
                "consumers": {"type": "array", "items": {"type": "object"}},
                "accessRequests": {"type": "array", "items": {"type": "object", "description": "DataProductAccess addressed to the product, with phase (null in file mode)"}},
                "deprecation": {"type": ["object", "null"]},
                "conditions": {"type": "array", "items": {"type": "object"}},
                "violations": {"type": "array", "items": {"type": "string"}},
                "refusal": {"type": ["string", "null"]}}},
            "Graph": {"type": "object", "properties": {
                "nodes": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "string"}, "kind": {"type": "string", "enum": ["product", "output", "external"]},
                    "label": {"type": "string"}, "product": {"type": ["string", "null"]}, "known": {"type": "boolean"}}}},
                "edges": {"type": "array", "items": {"type": "object", "properties": {
                    "from": {"type": "string"}, "to": {"type": "string"},
                    "kind": {"type": "string", "enum": ["writes", "reads", "grants"]}}}}}}
        }}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::index::tests::messaging;

    fn params(q: &str) -> Params {
        Params(parse_query(q))
    }

    /// The list assembled from stored summaries is byte for byte what serialising the whole
    /// answer gives, for every page and filter.
    #[test]
    fn assembled_list_is_the_serialized_list() {
        let index = Index::build(&messaging(), "2026-12-01".parse().unwrap(), false);
        for q in [
            "",
            "q=conversation",
            "limit=1",
            "limit=2&offset=1",
            "offset=3",
            "limit=0",
            "domain=nobody",
        ] {
            let p = params(q);
            let found = index.search(&p.filter());
            let offset = whole_number(&p, "offset").unwrap().unwrap_or(0);
            let limit = whole_number(&p, "limit").unwrap();
            let items: Vec<Value> = found
                .iter()
                .skip(offset)
                .take(limit.unwrap_or(usize::MAX))
                .map(|e| serde_json::to_value(e.summary()).unwrap())
                .collect();
            let whole =
                json!({"count": found.len(), "items": items, "limit": limit, "offset": offset});
            let mut expected = serde_json::to_string_pretty(&whole).unwrap();
            expected.push('\n');
            assert_eq!(list_json(&index, &p).unwrap(), expected, "{q}");
        }
        assert!(list_json(&index, &params("limit=x")).is_err());
    }
}
