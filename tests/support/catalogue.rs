//! The catalogue in cluster mode as `dpctl catalog` runs it without `-f`
//! (`cli::catalog::cluster::watch` feeding the HTTP server), against an API server: the fake one
//! in CI (tests/catalog.rs), any real cluster in tests/e2e.rs. Everything the scenario creates
//! carries its suffix and is removed at the end.

use std::net::SocketAddr;
use std::time::Duration;

use dataproduct_operator::api::{DataProduct, DataProductTemplate};
use dataproduct_operator::catalogue::index::Index;
use dataproduct_operator::catalogue::server::{serve, Catalogue};
use dataproduct_operator::cli::catalog::cluster;
use dataproduct_operator::model::World;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::ResourceExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::scenarios::{domain_namespace, eventually, fixtures, install_crds, Cluster, MANAGER};

/// How soon an applied product, or a status change, must show in the catalogue.
pub const WITHIN: Duration = Duration::from_secs(2);

/// `GET target` over a fresh connection: status and body.
pub async fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

/// The summary of `reference` in `/api/v1/products`, if listed.
async fn listed(addr: SocketAddr, reference: &str) -> Option<Value> {
    let (status, body) = get(addr, "/api/v1/products").await;
    if status != 200 {
        return None;
    }
    let list: Value = serde_json::from_str(&body).ok()?;
    list["items"].as_array()?.iter().find_map(|p| {
        let r = format!(
            "{}/{}",
            p["namespace"].as_str()?,
            p["name"].as_str().unwrap_or("")
        );
        (r == reference).then(|| p.clone())
    })
}

/// A product applied (server-side, as `kubectl apply --server-side` does) shows in
/// `/api/v1/products` within [`WITHIN`], without a phase while it has no status; each change of
/// its status subresource (phase, then phase and stage) shows within [`WITHIN`] in the list and
/// in its descriptor; a deleted product leaves the list. Nothing reconciles the scenario's
/// namespace, so only the scenario writes the status.
pub async fn catalogue_follows_the_cluster(cluster: &Cluster, suffix: &str) {
    let client = cluster.client.clone();
    install_crds(cluster).await;
    let (template, product) = fixtures(suffix);
    let ns = product.namespace().unwrap();
    let name = product.name_any();
    let reference = format!("{ns}/{name}");
    domain_namespace(&client, &ns, &product.spec.domain).await;
    let templates: Api<DataProductTemplate> = Api::all(client.clone());
    templates
        .patch(
            &template.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&template),
        )
        .await
        .unwrap();

    // The catalogue, started as `dpctl catalog` starts it in cluster mode: an empty live index
    // that the watches replace.
    let today = dataproduct_operator::evaluate::today();
    let catalogue = Catalogue::new(Index::build(&World::default(), today, true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve(listener, catalogue.clone()));
    let watch = tokio::spawn(cluster::watch(client.clone(), catalogue.clone(), None));
    // The template is listed by the initial watch, so a first rebuild says the watches run; the
    // clock for the product starts after it.
    eventually(cluster.timeout, "the catalogue's first index", || async {
        catalogue.replaced() > 0
    })
    .await;

    let products: Api<DataProduct> = Api::namespaced(client.clone(), &ns);
    products
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&product),
        )
        .await
        .unwrap();
    eventually(
        WITHIN,
        &format!("{reference} listed by the catalogue"),
        || async { listed(addr, &reference).await.is_some() },
    )
    .await;
    let summary = listed(addr, &reference).await.unwrap();
    assert_eq!(summary["phase"], Value::Null, "no status yet: {summary}");
    assert_eq!(
        summary["urn"],
        format!("urn:dataproduct:{ns}:{name}"),
        "{summary}"
    );

    for status in [
        json!({"phase": "Provisioning"}),
        json!({"phase": "Ready", "stage": "qa"}),
    ] {
        products
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .unwrap();
        // What the API server holds now, which is what the catalogue must show.
        let stored = products.get(&name).await.unwrap();
        let stored = serde_json::to_value(stored.status).unwrap();
        assert_eq!(stored["phase"], status["phase"], "{stored}");
        eventually(
            WITHIN,
            &format!("{reference} shown with status {status}"),
            || async {
                listed(addr, &reference).await.is_some_and(|s| {
                    s["phase"] == status["phase"]
                        && status.get("stage").is_none_or(|st| s["stage"] == *st)
                })
            },
        )
        .await;
        let (code, body) = get(addr, &format!("/api/v1/products/{ns}/{name}")).await;
        assert_eq!(code, 200, "{body}");
        let descriptor: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(descriptor["phase"], status["phase"], "{body}");
    }
    // The stage reported in status is the one shown (the template sets none).
    let shown = listed(addr, &reference).await.unwrap();
    assert_eq!(shown["stage"], "qa", "{shown}");
    let (_, body) = get(addr, "/api/v1/products?stage=qa").await;
    let staged: Value = serde_json::from_str(&body).unwrap();
    assert!(
        staged["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["namespace"] == ns.as_str() && p["name"] == name.as_str()),
        "{body}"
    );

    products
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        WITHIN,
        &format!("{reference} gone from the catalogue"),
        || async { listed(addr, &reference).await.is_none() },
    )
    .await;

    watch.abort();
    server.abort();
    let _ = templates
        .delete(&template.name_any(), &DeleteParams::default())
        .await;
    let _ = Api::<k8s_openapi::api::core::v1::Namespace>::all(client)
        .delete(&ns, &DeleteParams::default())
        .await;
}
