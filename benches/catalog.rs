//! Catalogue benchmark: 1,000 products (the examples, renamed copy by copy into namespaces of
//! their own, inputs and consumers rewritten so each copy is a mesh like the examples), then
//! 1,000 in-process requests each for the JSON list (whole and a page of 50), a search, a
//! descriptor, a product's lineage, the HTML list and a product page.
//!
//! Run: `cargo bench --profile dev --bench catalog` (optionally `-- 5000` for another product
//! count). The dev profile keeps the build incremental; release figures are lower still.
//! Reports p50/p95 per request kind, the body sizes (the 50-product list page among them), the
//! time to build the index and the process's memory (current and peak resident set), and fails
//! when a target is missed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use dataproduct_operator::catalogue::index::Index;
use dataproduct_operator::catalogue::server::respond;
use dataproduct_operator::cli::catalog::world_from_files;
use dataproduct_operator::cli::InputArgs;
use dataproduct_operator::model::World;
use serde_json::Value;

const REQUESTS: usize = 1000;

fn examples() -> World {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args = InputArgs {
        paths: vec![root.join("examples")],
        templates: vec![root.join("templates")],
        namespace: None,
        date: None,
        strict: false,
    };
    let mut err = Vec::new();
    world_from_files(&args, &mut err)
        .unwrap_or_else(|| panic!("examples load: {}", String::from_utf8_lossy(&err)))
}

/// Rewrites every string naming an example product (`ns/name`) to its copy in `ns-<k>`.
fn rename(v: &mut Value, refs: &BTreeSet<String>, k: usize) {
    match v {
        Value::String(s) if refs.contains(s.as_str()) => {
            if let Some((ns, name)) = s.split_once('/') {
                *s = format!("{ns}-{k}/{name}");
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rename(x, refs, k)),
        Value::Object(o) => o.values_mut().for_each(|x| rename(x, refs, k)),
        _ => {}
    }
}

fn world_of(count: usize) -> World {
    let seed = examples();
    let originals: Vec<_> = seed.products.values().cloned().collect();
    let refs: BTreeSet<String> = seed
        .products
        .keys()
        .map(|r| format!("{}/{}", r.namespace, r.name))
        .collect();
    let mut world = seed;
    world.products.clear();
    let mut k = 0;
    while world.products.len() < count {
        for p in &originals {
            if world.products.len() >= count {
                break;
            }
            let mut v = serde_json::to_value(p).expect("product serialises");
            rename(&mut v, &refs, k);
            let mut copy: dataproduct_operator::api::DataProduct =
                serde_json::from_value(v).expect("renamed product deserialises");
            let ns = copy.metadata.namespace.clone().unwrap_or_default();
            copy.metadata.namespace = Some(format!("{ns}-{k}"));
            world.add_product(copy);
        }
        k += 1;
    }
    world
}

fn get(rt: &tokio::runtime::Runtime, index: &Index, uri: &str, accept: &str) -> (Duration, usize) {
    let req = Request::builder()
        .uri(uri)
        .header("accept", accept)
        .body(Body::empty())
        .expect("request");
    let start = Instant::now();
    let resp = respond(index, &req);
    let status = resp.status();
    let body = rt
        .block_on(axum::body::to_bytes(resp.into_body(), usize::MAX))
        .expect("body");
    let took = start.elapsed();
    assert!(status.is_success(), "{uri}: {status}");
    (took, body.len())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// A `/proc/self/status` field in KiB (`VmRSS:`, `VmHWM:`); 0 where there is none.
fn status_kib(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l[name.len()..].split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn memory() -> String {
    let mib = |kib: u64| kib as f64 / 1024.0;
    format!(
        "RSS {:.1} MiB (peak {:.1} MiB)",
        mib(status_kib("VmRSS:")),
        mib(status_kib("VmHWM:"))
    )
}

/// The most memory the process may hold.
const MEMORY_TARGET_KIB: u64 = 64 * 1024;

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let before = memory();
    let world = world_of(count);
    let today = "2026-12-01".parse().expect("date");
    let start = Instant::now();
    let index = Index::build(&world, today, false);
    let build = start.elapsed();
    assert_eq!(index.products.len(), count);
    println!(
        "catalogue of {count} products: index built in {} ms; memory before {before}, after {}",
        build.as_millis(),
        memory()
    );
    drop(world);

    let cases: [(&str, &str, &str, Duration); 8] = [
        (
            "JSON list (all products)",
            "/api/v1/products",
            "application/json",
            Duration::from_millis(20),
        ),
        (
            "JSON list page (limit=50)",
            "/api/v1/products?limit=50&offset=500",
            "application/json",
            Duration::from_millis(20),
        ),
        (
            "JSON search q=conversation",
            "/api/v1/products?q=conversation",
            "application/json",
            Duration::from_millis(20),
        ),
        (
            "JSON search, 2 words+filter",
            "/api/v1/products?q=archived+user&domain=messaging",
            "application/json",
            Duration::from_millis(20),
        ),
        (
            "JSON product descriptor",
            "/api/v1/products/messaging-7/conversations",
            "application/json",
            Duration::from_millis(10),
        ),
        (
            "JSON lineage of a product",
            "/api/v1/lineage?product=messaging-7/conversations&depth=3",
            "application/json",
            Duration::from_millis(20),
        ),
        (
            "HTML list page (50)",
            "/",
            "text/html",
            Duration::from_millis(20),
        ),
        (
            "HTML product page",
            "/products/messaging-7/conversations",
            "text/html",
            Duration::from_millis(10),
        ),
    ];
    // Bodies are one in-memory chunk: collecting them never waits.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut missed = Vec::new();
    for (name, uri, accept, target) in cases {
        let mut times = Vec::with_capacity(REQUESTS);
        let mut size = 0;
        for _ in 0..REQUESTS {
            let (t, n) = get(&rt, &index, uri, accept);
            times.push(t);
            size = n;
        }
        times.sort();
        let p50 = percentile(&times, 0.5);
        let p95 = percentile(&times, 0.95);
        println!(
            "{name:<30} p50 {:>7.2} ms  p95 {:>7.2} ms  (target p95 <= {} ms)  body {} KB",
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3,
            target.as_millis(),
            size / 1024
        );
        if p95 > target {
            missed.push(format!("{name}: p95 {p95:?} > {target:?}"));
        }
        if uri == "/" && size > 300 * 1024 {
            missed.push(format!("list page of 50 is {} KB > 300 KB", size / 1024));
        }
    }
    println!("memory after the requests: {}", memory());
    let peak = status_kib("VmHWM:");
    if peak > MEMORY_TARGET_KIB {
        missed.push(format!(
            "peak resident set {} MiB > {} MiB",
            peak / 1024,
            MEMORY_TARGET_KIB / 1024
        ));
    }
    if !missed.is_empty() {
        eprintln!("missed: {missed:#?}");
        std::process::exit(1);
    }
}
