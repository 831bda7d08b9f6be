//! Convergence under throttling: a benchmark, ignored in CI (its figures depend on the machine).
//! N products are ensured at once through the fault proxy in front of moto, each retried the way
//! the reconcile retries it, until every one is provisioned; the run is compared with a
//! fault-free run of the same products.
//!
//! ```sh
//! cargo test --release --test aws_throttling -- --ignored --nocapture
//! # DPO_BENCH_PRODUCTS=10,100  DPO_BENCH_MODES=standard,adaptive  DPO_BENCH_FAULTS=random,rate
//! ```

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataproduct_operator::aws::{Aws, AwsSettings, Owner, RetryMode};
use dataproduct_operator::operator::reconcile::backoff;
use dataproduct_operator::plan::{self, AwsResource};
use support::moto::Moto;
use support::plans;
use support::proxy::{Faults, Proxy};

fn list(var: &str, default: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(str::to_string)
        .collect()
}

/// `n` copies of messaging/conversations, each its own product.
fn products(n: usize, run: &str) -> Vec<(Owner, Vec<AwsResource>)> {
    let world = plans::world();
    let pattern = world.products[&plans::product_ref("messaging/conversations")].clone();
    let template = world.template_of(&pattern).unwrap().clone();
    (0..n)
        .map(|i| {
            let mut p = pattern.clone();
            let name = format!("{run}{i:03}");
            p.metadata.name = Some(name.clone());
            p.spec.access.consumers.clear();
            let planned = plan::plan(&p, &template, &world).unwrap().aws;
            (
                Owner {
                    product: format!("messaging/{name}"),
                    uid: format!("uid-{name}"),
                },
                planned,
            )
        })
        .collect()
}

struct Run {
    wall: Duration,
    p50: Duration,
    requests: u32,
    faults: u32,
    repeated: usize,
    rounds: u32,
}

async fn run(
    endpoint: &str,
    stats: &support::proxy::Stats,
    mode: RetryMode,
    n: usize,
    tag: &str,
) -> Run {
    let aws = Arc::new(
        Aws::new(AwsSettings {
            endpoint_url: Some(endpoint.to_string()),
            retry_mode: mode,
            ..AwsSettings::default()
        })
        .await
        .unwrap(),
    );
    let start = Instant::now();
    let tasks: Vec<_> = products(n, tag)
        .into_iter()
        .map(|(owner, planned)| {
            let aws = aws.clone();
            tokio::spawn(async move {
                let mut rounds = 0u32;
                loop {
                    rounds += 1;
                    let r = aws.ensure(&owner, &planned).await;
                    if r.storage.ready && r.catalog.ready && r.access.ready && !r.transient {
                        return (start.elapsed(), rounds);
                    }
                    assert!(
                        r.transient,
                        "{}: non-transient failure: {r:?}",
                        owner.product
                    );
                    // As the operator's error policy does.
                    tokio::time::sleep(backoff(rounds, fastrand::f64())).await;
                }
            })
        })
        .collect();
    let mut done = Vec::new();
    let mut rounds = 0;
    for t in tasks {
        let (at, r) = tokio::time::timeout(Duration::from_secs(600), t)
            .await
            .expect("converged within 10 minutes")
            .unwrap();
        done.push(at);
        rounds += r;
    }
    done.sort();
    Run {
        wall: *done.last().unwrap(),
        p50: done[done.len() / 2],
        requests: stats.requests.load(Ordering::Relaxed),
        faults: stats.faults(),
        repeated: stats.repeated_successes(),
        rounds,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run by hand with --ignored --nocapture"]
async fn convergence_under_throttling() {
    let Some(moto) = Moto::start() else { return };
    println!("| products | retry mode | faults | Ready (all) | Ready (p50) | requests | of them faults | vs fault-free | repeated successful calls | ensure rounds |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut tag = 0;
    for n in list("DPO_BENCH_PRODUCTS", "10,100") {
        let n: usize = n.parse().unwrap();
        for mode in list("DPO_BENCH_MODES", "standard,adaptive") {
            let retry = if mode == "adaptive" {
                RetryMode::Adaptive
            } else {
                RetryMode::Standard
            };
            tag += 1;
            let clean = Proxy::start(&moto.endpoint, Faults::default()).await;
            let base = run(&clean.endpoint, &clean.stats, retry, n, &format!("b{tag}x")).await;
            println!(
                "| {n} | {mode} | none | {:.1} s | {:.1} s | {} | 0 | 1.00× | {} | {} |",
                base.wall.as_secs_f64(),
                base.p50.as_secs_f64(),
                base.requests,
                base.repeated,
                base.rounds
            );
            for fault in list("DPO_BENCH_FAULTS", "random,rate") {
                tag += 1;
                let faults = match fault.as_str() {
                    // A random fifth of requests, whatever the rate.
                    "random" => Faults {
                        random_throttle: Some((0.2, 42)),
                        ..Faults::default()
                    },
                    // A token bucket: 50 requests/s with a burst of 50.
                    _ => Faults {
                        rate_limit: Some((50.0, 50.0)),
                        ..Faults::default()
                    },
                };
                let proxy = Proxy::start(&moto.endpoint, faults).await;
                let r = run(&proxy.endpoint, &proxy.stats, retry, n, &format!("f{tag}x")).await;
                // Every request counts, the throttled ones too: they cost quota as well.
                println!(
                    "| {n} | {mode} | {fault} | {:.1} s | {:.1} s | {} | {} | {:.2}× | {} | {} |",
                    r.wall.as_secs_f64(),
                    r.p50.as_secs_f64(),
                    r.requests,
                    r.faults,
                    f64::from(r.requests) / f64::from(base.requests),
                    r.repeated,
                    r.rounds
                );
            }
        }
    }
}
