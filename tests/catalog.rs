//! `dpctl catalog` in file mode: the server runs in-process on 127.0.0.1:0 over examples/ and
//! templates/, and every check is a real HTTP request over loopback.

use std::net::SocketAddr;
use std::path::PathBuf;

use dataproduct_operator::api::ProductRef;
use dataproduct_operator::catalogue::index::Index;
use dataproduct_operator::catalogue::server::{serve, Catalogue};
use dataproduct_operator::cli::catalog::world_from_files;
use dataproduct_operator::cli::InputArgs;
use dataproduct_operator::model::World;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn examples() -> World {
    let args = InputArgs {
        paths: vec![root().join("examples")],
        templates: vec![root().join("templates")],
        namespace: None,
        date: None,
        strict: false,
    };
    let mut err = Vec::new();
    world_from_files(&args, &mut err)
        .unwrap_or_else(|| panic!("examples load: {}", String::from_utf8_lossy(&err)))
}

async fn start(world: World) -> SocketAddr {
    let date = "2026-12-01".parse().expect("date");
    let catalogue = Catalogue::new(Index::build(&world, date, false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener, catalogue));
    addr
}

struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request over a fresh connection; `target` is sent as it is.
async fn request(addr: SocketAddr, method: &str, target: &str, accept: &str) -> Reply {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    Reply {
        status,
        content_type,
        body: body.to_string(),
    }
}

async fn get(addr: SocketAddr, target: &str) -> Reply {
    request(addr, "GET", target, "*/*").await
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p["namespace"].as_str().unwrap_or(""),
                p["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test]
async fn search_finds_conversations_and_filters_narrow() {
    let addr = start(examples()).await;
    let r = get(addr, "/api/v1/products?q=conversation").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.content_type.starts_with("application/json"));
    let found = names(&r.json());
    assert!(
        found.contains(&"messaging/conversations".to_string()),
        "{found:?}"
    );
    // Case-insensitive, every word, and over column descriptions: "Whether either user archived
    // the conversation" describes a column of messaging/conversations only.
    let r = get(addr, "/api/v1/products?q=Either+User+ARCHIVED").await;
    assert_eq!(names(&r.json()), vec!["messaging/conversations"]);
    let r = get(addr, "/api/v1/products?domain=messaging").await;
    let found = names(&r.json());
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.iter().all(|n| n.starts_with("messaging/")));
    let all = get(addr, "/api/v1/products").await.json();
    assert_eq!(all["count"], 7);
    let first = &all["items"][0];
    assert!(first["urn"]
        .as_str()
        .unwrap_or("")
        .starts_with("urn:dataproduct:"));
    assert_eq!(first["phase"], Value::Null, "no phase in file mode");
    assert_eq!(first["freshness"], "Unknown");
    let none = get(addr, "/api/v1/products?q=conversation&owner=nobody").await;
    assert_eq!(none.json()["count"], 0);
}

#[tokio::test]
async fn product_has_schema_and_sql_endpoint() {
    let addr = start(examples()).await;
    let r = get(addr, "/api/v1/products/messaging/conversations").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json();
    assert_eq!(p["urn"], "urn:dataproduct:messaging:conversations");
    let out = &p["outputs"][0];
    assert_eq!(out["name"], "conversations");
    assert_eq!(
        out["urn"],
        "urn:dataproduct:messaging:conversations:conversations"
    );
    let schema = out["schema"].as_array().expect("schema");
    assert!(schema
        .iter()
        .any(|c| c["name"] == "conversation_id" && c["type"] == "string"));
    assert_eq!(out["partitionKeys"][0]["name"], "dt");
    assert!(!out["examples"].as_array().expect("examples").is_empty());
    // Exactly what the operator provisions: the plan's derived names.
    let world = examples();
    let product = &world.products[&ProductRef::parse("messaging/conversations").expect("ref")];
    let names = world
        .names_of(&ProductRef::parse("messaging/conversations").expect("ref"))
        .expect("names");
    let table = names.table("conversations").expect("table");
    assert_eq!(out["sql"]["engine"], "athena");
    assert_eq!(out["sql"]["database"], names.database.as_str());
    assert_eq!(out["sql"]["table"], table);
    assert_eq!(
        out["sql"]["qualifiedName"],
        format!("{}.{table}", names.database)
    );
    assert_eq!(p["domain"], product.spec.domain.as_str());
    let inputs = p["inputs"].as_array().expect("inputs");
    assert!(inputs
        .iter()
        .any(|i| i["product"] == "messaging/events" && i["granted"] == true));
    let requests = p["accessRequests"].as_array().expect("requests");
    assert!(requests
        .iter()
        .any(|a| a["consumerProduct"] == "marketing/campaign-attribution" && a["phase"].is_null()));

    let page = request(
        addr,
        "GET",
        "/products/messaging/conversations",
        "text/html",
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.body.contains(&format!("{}.{table}", names.database)));
    assert!(page.body.contains("kind: DataProductAccess"));
    assert!(page.body.contains("<svg"));
}

#[tokio::test]
async fn lineage_runs_from_events_through_conversations_to_metrics() {
    let addr = start(examples()).await;
    let r = get(
        addr,
        "/api/v1/lineage?product=messaging/conversations&depth=1",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let g = r.json();
    let has = |from: &str, kind: &str, to: &str| {
        g["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .any(|e| e["from"] == from && e["kind"] == kind && e["to"] == to)
    };
    let u = "urn:dataproduct:";
    assert!(has(
        &format!("{u}messaging:events"),
        "writes",
        &format!("{u}messaging:events:events")
    ));
    assert!(has(
        &format!("{u}messaging:events:events"),
        "reads",
        &format!("{u}messaging:conversations")
    ));
    assert!(has(
        &format!("{u}messaging:conversations"),
        "writes",
        &format!("{u}messaging:conversations:conversations")
    ));
    assert!(has(
        &format!("{u}messaging:conversations:conversations"),
        "reads",
        &format!("{u}messaging:metrics")
    ));
    assert!(has(
        &format!("{u}messaging:events:events"),
        "grants",
        &format!("{u}messaging:conversations")
    ));
    assert!(has(
        "external:messaging-kafka-topic",
        "reads",
        &format!("{u}messaging:conversations")
    ));
    // Not related to conversations: orders and logistics stay out.
    let nodes = g["nodes"].as_array().expect("nodes");
    assert!(!nodes.iter().any(|n| n["id"] == format!("{u}orders:orders")));
    // The whole mesh has them.
    let all = get(addr, "/api/v1/lineage").await.json();
    assert!(all["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .any(|n| n["id"] == format!("{u}orders:orders")));
    let page = request(addr, "GET", "/lineage", "text/html").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg"));
}

#[tokio::test]
async fn errors_are_json_and_unknown_paths_404() {
    let addr = start(examples()).await;
    for target in [
        "/nope",
        "/api/v1/products/messaging/nope",
        "/api/v1/products/messaging/conversations/extra",
        "/api/v2/products",
    ] {
        let r = get(addr, target).await;
        assert_eq!(r.status, 404, "{target}");
        let e = r.json();
        assert_eq!(e["status"], 404);
        assert!(e["error"].is_string());
    }
    let r = get(addr, "/api/v1/lineage?product=nope").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["status"], 400);
    let r = get(addr, "/api/v1/lineage?product=a/b").await;
    assert_eq!(r.status, 404);
    let r = request(addr, "POST", "/api/v1/products", "*/*").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["status"], 405);
    let api = get(addr, "/openapi.json").await.json();
    assert!(api["paths"]["/api/v1/products"].is_object());
    assert!(api["paths"]["/api/v1/lineage"].is_object());
}

#[tokio::test]
async fn healthz_answers_the_probes() {
    let addr = start(examples()).await;
    let r = get(addr, "/healthz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.trim(), "ok");
    let spec = get(addr, "/openapi.json").await.json();
    assert!(spec["paths"]["/healthz"].is_object(), "documented");
}

#[tokio::test]
async fn garbage_never_gives_5xx() {
    let addr = start(examples()).await;
    let targets = [
        "/api/v1/products?q=%ZZ%",
        "/api/v1/products?q=%ff%fe%00&domain=%&owner=&&&=&layer=%E2%82",
        "/api/v1/products?tag=",
        "/api/v1/lineage?product=messaging/conversations&depth=-1",
        "/api/v1/lineage?product=messaging/conversations&depth=99999999999999999999999",
        "/api/v1/lineage?product=messaging/conversations&depth=18446744073709551615",
        "/api/v1/lineage?product=%2F%2F%2F&depth=x",
        "/api/v1/lineage?product=messaging%2Fconversations&depth=0",
        "/?page=0",
        "/?page=-5&q=%3Cscript%3E",
        "/?page=99999999999999999999999999",
        "/products/%ff/%00",
        "/products/../../etc/passwd",
        "/api/v1/products/%2e%2e/%2e%2e",
        "/%",
        "//",
        "/lineage?x=%",
    ];
    for target in targets {
        for accept in ["*/*", "text/html"] {
            let r = request(addr, "GET", target, accept).await;
            assert!(r.status < 500, "{target}: {} {}", r.status, r.body);
        }
    }
    let r = get(
        addr,
        "/api/v1/lineage?product=messaging/conversations&depth=0",
    )
    .await;
    assert_eq!(r.status, 200);
    // A depth beyond the limit is refused as the message says, not quietly cut.
    let r = get(
        addr,
        "/api/v1/lineage?product=messaging/conversations&depth=1000",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("from 0 to 100"), "{}", r.body);
}

#[tokio::test]
async fn hostile_text_is_escaped() {
    let mut world = examples();
    let hostile = r#"<script>alert("x")</script><img src=x onerror=alert(1)>&'"#;
    let r = ProductRef::parse("messaging/conversations").expect("ref");
    let p = world.products.get_mut(&r).expect("product");
    p.spec.description = hostile.to_string();
    p.spec.owner.team = hostile.to_string();
    p.spec.outputs[0].schema[0].description = hostile.to_string();
    p.spec.outputs[0].examples[0].title = hostile.to_string();
    p.spec.outputs[0].examples[0].sql = hostile.to_string();
    let addr = start(world).await;
    for target in [
        "/products/messaging/conversations",
        "/",
        "/?q=%3Cscript%3Ealert",
        "/?owner=%3Cscript%3E",
    ] {
        let page = request(addr, "GET", target, "text/html").await;
        assert_eq!(page.status, 200, "{target}");
        assert!(
            !page.body.contains("<script>alert"),
            "{target} is not escaped"
        );
        assert!(!page.body.contains("<img src=x"), "{target} is not escaped");
        assert!(!page.body.contains("onerror=alert(1)>&'"), "{target}");
    }
    let page = request(
        addr,
        "GET",
        "/products/messaging/conversations",
        "text/html",
    )
    .await;
    assert!(page
        .body
        .contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    // The JSON API returns the text as it is (JSON-encoded).
    let p = get(addr, "/api/v1/products/messaging/conversations")
        .await
        .json();
    assert_eq!(p["description"], hostile);
    let search = request(addr, "GET", "/?q=%3Cscript%3Ealert", "text/html").await;
    assert!(search.body.contains("&lt;script&gt;alert"));
}

#[tokio::test]
async fn pages_request_nothing_from_other_hosts() {
    let addr = start(examples()).await;
    for target in [
        "/",
        "/products/messaging/events",
        "/lineage",
        "/?domain=messaging",
    ] {
        let page = request(addr, "GET", target, "text/html").await;
        assert_eq!(page.status, 200, "{target}");
        for bad in ["src=\"http", "href=\"http", "url(http", "@import"] {
            assert!(
                !page.body.contains(bad),
                "{target} refers to another host: {bad}"
            );
        }
    }
}

#[tokio::test]
async fn list_pages_hold_fifty_products() {
    let mut world = examples();
    let template = world.products[&ProductRef::parse("messaging/metrics").expect("ref")].clone();
    for i in 0..120 {
        let mut p = template.clone();
        p.metadata.namespace = Some("bulk".into());
        p.metadata.name = Some(format!("p{i:03}"));
        world.add_product(p);
    }
    let addr = start(world).await;
    let count = |body: &str| body.matches("<li><h2>").count();
    let first = request(addr, "GET", "/?domain=messaging", "text/html").await;
    assert_eq!(count(&first.body), 50);
    assert!(first.body.contains("Page 1 of 3"));
    assert!(first.body.contains(r#"rel="next""#));
    let last = request(addr, "GET", "/?domain=messaging&page=3", "text/html").await;
    assert_eq!(count(&last.body), 123 - 100);
    assert!(!last.body.contains(r#"rel="next""#));
    // Out of range is clamped, not an error.
    let beyond = request(addr, "GET", "/?domain=messaging&page=1000", "text/html").await;
    assert_eq!(beyond.status, 200);
    assert!(beyond.body.contains("Page 3 of 3"));
}

mod support;

/// Cluster mode: reflectors over a strict fake API server; the catalogue shows live status and
/// follows changes.
#[tokio::test]
async fn cluster_mode_shows_live_status() {
    use dataproduct_operator::api::{DataProductStatus, Freshness, Phase, PublishedOutput};
    use dataproduct_operator::cli::catalog::cluster;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    use support::apiserver::FakeApiServer;

    let server = FakeApiServer::start().await;
    let mut world = examples();
    let r = ProductRef::parse("messaging/conversations").expect("ref");
    world.products.get_mut(&r).expect("product").status = Some(DataProductStatus {
        phase: Some(Phase::Ready),
        // What the operator's freshness observation publishes.
        outputs: vec![PublishedOutput {
            name: "conversations".into(),
            version: 1,
            last_updated: Some("2026-12-01T03:40:00Z".into()),
            source: Some("CronJob".into()),
            freshness: Some(Freshness::Stale),
            ..Default::default()
        }],
        conditions: vec![Condition {
            type_: "Fresh".into(),
            status: "False".into(),
            reason: "Stale".into(),
            message: "conversations is 2d old (SLO 26h)".into(),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-12-01T04:00:00Z".parse().expect("time"),
            ),
            observed_generation: None,
        }],
        ..Default::default()
    });
    for t in world.templates.values() {
        server
            .insert(serde_json::to_value(t).expect("json"))
            .expect("insert template");
    }
    for p in world.products.values() {
        server
            .insert(serde_json::to_value(p).expect("json"))
            .expect("insert product");
    }
    for a in &world.accesses {
        server
            .insert(serde_json::to_value(a).expect("json"))
            .expect("insert access");
    }
    let mut config = kube::Config::new(server.url().parse().expect("url"));
    config.default_namespace = "default".into();
    let client = kube::Client::try_from(config).expect("client");
    let date = "2026-12-01".parse().expect("date");
    let catalogue = Catalogue::new(Index::build(&World::default(), date, true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener, catalogue.clone()));
    let watch = tokio::spawn(cluster::watch(client, catalogue, Some(date)));
    let mut phase = Value::Null;
    for _ in 0..100 {
        let r = get(addr, "/api/v1/products/messaging/conversations").await;
        if r.status == 200 {
            phase = r.json()["phase"].clone();
            if phase == "Ready" {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(phase, "Ready");
    let p = get(addr, "/api/v1/products/messaging/conversations")
        .await
        .json();
    assert_eq!(
        p["outputs"][0]["sql"]["qualifiedName"],
        "acme_messaging_conversations.conversations"
    );
    assert_eq!(p["freshness"], "Stale");
    assert_eq!(p["outputs"][0]["freshness"], "Stale");
    assert_eq!(p["outputs"][0]["lastUpdated"], "2026-12-01T03:40:00Z");
    assert_eq!(p["outputs"][0]["freshnessSource"], "CronJob");
    let page = get(addr, "/products/messaging/conversations").await.body;
    assert!(
        page.contains("Freshness: Stale (updated 2026-12-01T03:40:00Z, from CronJob)"),
        "{page}"
    );
    assert_eq!(get(addr, "/api/v1/products").await.json()["count"], 7);
    // A deleted product leaves the catalogue.
    assert!(server.delete("dataproducts", Some("orders"), "orders"));
    let mut gone = false;
    for _ in 0..100 {
        if get(addr, "/api/v1/products/orders/orders").await.status == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "orders/orders is still served after deletion");
    watch.abort();
}

/// Cluster mode as `dpctl catalog` runs it without -f, through a kubeconfig file, against the
/// fake API server: an applied product is listed within 2 s and its phase and stage follow
/// its status subresource (the same scenario tests/e2e.rs runs on a real cluster).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_follows_applies_and_status_changes() {
    let server = support::apiserver::FakeApiServer::start().await;
    let (cluster, _kubeconfig) =
        support::scenarios::Cluster::fake(&server, std::time::Duration::from_secs(10)).await;
    support::catalogue::catalogue_follows_the_cluster(&cluster, "catalog").await;
}

/// The datamesh-architecture template with a stage (a copy in memory: the file sets none).
fn staged_examples(stage: &str) -> World {
    let mut world = examples();
    let t = world
        .templates
        .get_mut("datamesh-architecture")
        .expect("datamesh-architecture template");
    assert_eq!(t.spec.stage, None, "the file sets no stage");
    t.spec.stage = Some(stage.to_string());
    world
}

#[tokio::test]
async fn stage_is_in_the_api_the_pages_and_a_filter() {
    let addr = start(staged_examples("dev")).await;
    let p = get(addr, "/api/v1/products/logistics/carrier-tracking")
        .await
        .json();
    assert_eq!(p["stage"], "dev", "{p}");
    assert!(
        p["violations"].as_array().expect("violations").is_empty(),
        "{p}"
    );
    // The stage reaches the names too (the plan is the template's, with its stage).
    assert!(
        p["database"].as_str().unwrap_or("").ends_with("_dev"),
        "{}",
        p["database"]
    );
    let other = get(addr, "/api/v1/products/messaging/conversations")
        .await
        .json();
    assert_eq!(
        other["stage"],
        Value::Null,
        "the standard template has no stage"
    );

    let list = get(addr, "/api/v1/products").await.json();
    let summary = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|s| s["name"] == "carrier-tracking")
        .expect("carrier-tracking listed")
        .clone();
    assert_eq!(summary["stage"], "dev");
    assert_eq!(
        names(&get(addr, "/api/v1/products?stage=dev").await.json()),
        vec!["logistics/carrier-tracking"]
    );
    assert_eq!(
        names(
            &get(addr, "/api/v1/products?stage=DEV&domain=logistics")
                .await
                .json()
        ),
        vec!["logistics/carrier-tracking"]
    );
    assert_eq!(
        get(addr, "/api/v1/products?stage=prod").await.json()["count"],
        0
    );

    let page = request(addr, "GET", "/", "text/html").await;
    assert!(page
        .body
        .contains(r#"<span class="badge b-stage">Stage: dev</span>"#));
    assert_eq!(
        page.body.matches("b-stage\">").count(),
        1,
        "one staged product"
    );
    assert!(page.body.contains(r#"<select id="f-stage" name="stage">"#));
    let filtered = request(addr, "GET", "/?stage=dev", "text/html").await;
    assert_eq!(filtered.body.matches("<li><h2>").count(), 1);
    assert!(filtered.body.contains(r#"<option value="dev" selected>"#));
    let product = request(
        addr,
        "GET",
        "/products/logistics/carrier-tracking",
        "text/html",
    )
    .await;
    assert!(product
        .body
        .contains(r#"<span class="badge b-stage">Stage: dev</span>"#));
    assert!(product.body.contains("<dt>Stage</dt><dd>dev</dd>"));

    let api = get(addr, "/openapi.json").await.json();
    let schemas = &api["components"]["schemas"];
    assert!(schemas["Summary"]["properties"]["stage"].is_object());
    assert!(schemas["Product"]["properties"]["stage"].is_object());
    let params = api["paths"]["/api/v1/products"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    for name in ["stage", "offset", "limit"] {
        assert!(
            params.iter().any(|p| p["name"] == name),
            "{name} documented"
        );
    }

    // Without stages anywhere there is no stage menu and no badge.
    let plain = start(examples()).await;
    let page = request(plain, "GET", "/", "text/html").await;
    assert!(!page.body.contains("f-stage"));
    assert!(!page.body.contains("b-stage\">"));
}

#[tokio::test]
async fn json_list_pages_and_matches_the_index() {
    let world = examples();
    let index = Index::build(&world, "2026-12-01".parse().expect("date"), false);
    let addr = start(world).await;
    let all = get(addr, "/api/v1/products").await.json();
    // Assembled from summaries serialized at build time, it is what serialising them gives.
    let expected: Vec<Value> = index
        .products
        .values()
        .map(|p| serde_json::to_value(p.summary()).expect("summary"))
        .collect();
    assert_eq!(all["items"], Value::Array(expected.clone()));
    assert_eq!(all["count"], 7);
    assert_eq!(all["offset"], 0);
    assert_eq!(all["limit"], Value::Null);

    let page = get(addr, "/api/v1/products?limit=3&offset=2").await.json();
    assert_eq!(page["count"], 7, "count is every match");
    assert_eq!(page["items"], Value::Array(expected[2..5].to_vec()));
    assert_eq!(page["limit"], 3);
    assert_eq!(page["offset"], 2);
    let last = get(addr, "/api/v1/products?limit=3&offset=6").await.json();
    assert_eq!(last["items"].as_array().expect("items").len(), 1);
    let beyond = get(addr, "/api/v1/products?offset=100").await;
    assert_eq!(beyond.status, 200);
    assert_eq!(beyond.json()["items"], Value::Array(vec![]));
    assert_eq!(beyond.json()["count"], 7);
    let none = get(addr, "/api/v1/products?limit=0").await.json();
    assert_eq!(none["items"], Value::Array(vec![]));
    // Filters apply before paging.
    let filtered = get(addr, "/api/v1/products?domain=messaging&limit=2")
        .await
        .json();
    assert_eq!(filtered["count"], 3);
    assert_eq!(
        names(&filtered),
        vec!["messaging/conversations", "messaging/events"]
    );
    for bad in [
        "limit=x",
        "offset=-1",
        "limit=1.5",
        "offset=99999999999999999999999",
    ] {
        let r = get(addr, &format!("/api/v1/products?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.json()["status"], 400);
    }
}

/// One stored DataProduct that does not deserialize (written under an older CRD) is left out;
/// it does not fail the list for every other product.
#[tokio::test]
async fn cluster_mode_leaves_out_an_unreadable_product() {
    use dataproduct_operator::cli::catalog::cluster;
    use support::apiserver::FakeApiServer;

    let server = FakeApiServer::start().await;
    let world = examples();
    for t in world.templates.values() {
        server
            .insert(serde_json::to_value(t).expect("json"))
            .expect("insert template");
    }
    for p in world.products.values() {
        server
            .insert(serde_json::to_value(p).expect("json"))
            .expect("insert product");
    }
    let r = ProductRef::parse("messaging/metrics").expect("ref");
    let mut bad = serde_json::to_value(&world.products[&r]).expect("json");
    bad["metadata"]["name"] = "unreadable".into();
    bad["spec"]["outputs"][0]["version"] = serde_json::json!(1_099_511_627_776u64);
    server.insert(bad).expect("insert the unreadable product");
    let mut config = kube::Config::new(server.url().parse().expect("url"));
    config.default_namespace = "default".into();
    let client = kube::Client::try_from(config).expect("client");
    let date = "2026-12-01".parse().expect("date");
    let catalogue = Catalogue::new(Index::build(&World::default(), date, true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener, catalogue.clone()));
    let watch = tokio::spawn(cluster::watch(client, catalogue, Some(date)));
    let mut count = Value::Null;
    for _ in 0..100 {
        count = get(addr, "/api/v1/products").await.json()["count"].clone();
        if count == 7 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(count, 7, "the seven readable examples are listed");
    assert_eq!(
        get(addr, "/api/v1/products/messaging/unreadable")
            .await
            .status,
        404
    );
    watch.abort();
}

/// Consumers see a producer's deprecation on the inputs they read, in the JSON descriptor and
/// on the product page, and (in cluster mode) whether their pipelines wait for the input.
#[tokio::test]
async fn consumers_see_deprecations_and_waiting_inputs() {
    use dataproduct_operator::api::{DataProductStatus, Deprecation, InputStatus};
    let mut world = examples();
    let conversations = ProductRef::parse("messaging/conversations").expect("ref");
    world
        .products
        .get_mut(&conversations)
        .expect("producer")
        .spec
        .outputs[0]
        .deprecation = Some(Deprecation {
        announced: "2026-10-01".into(),
        sunset: "2027-03-31".into(),
        replaced_by: Some("conversations_v2".into()),
        reason: Some("rebuilt on the new event model".into()),
    });
    let metrics = ProductRef::parse("messaging/metrics").expect("ref");
    world.products.get_mut(&metrics).expect("consumer").status = Some(DataProductStatus {
        inputs: vec![InputStatus {
            product: "messaging/events".into(),
            output: "events".into(),
            ready: false,
            reason: Some("InputStale".into()),
            message: Some("messaging/events output events is stale (never updated)".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    let addr = start(world).await;
    let r = get(addr, "/api/v1/products/messaging/metrics").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json();
    let inputs = p["inputs"].as_array().expect("inputs");
    let input = |output: &str| {
        inputs
            .iter()
            .find(|i| i["output"] == output)
            .unwrap_or_else(|| panic!("input {output}: {inputs:?}"))
    };
    let deprecated = input("conversations");
    assert_eq!(deprecated["deprecation"]["sunset"], "2027-03-31");
    assert_eq!(deprecated["deprecation"]["replacedBy"], "conversations_v2");
    let stale = input("events");
    assert_eq!(stale["ready"], false);
    assert!(
        stale["waiting"]
            .as_str()
            .expect("waiting")
            .starts_with("InputStale: "),
        "{stale}"
    );
    let page = get(addr, "/products/messaging/metrics").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("goes away after 2027-03-31; move to conversations_v2"),
        "the page shows the deprecation"
    );
    assert!(
        page.body.contains("Pipelines wait"),
        "the page shows the wait"
    );
    // The API says what the fields mean.
    let api = get(addr, "/openapi.json").await.json();
    let schema = &api["components"]["schemas"]["Input"]["properties"];
    for field in ["deprecation", "ready", "waiting"] {
        assert!(schema.get(field).is_some(), "{field} documented");
    }
}
