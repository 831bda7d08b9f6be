//! `dpctl load-test`: creates N products in a cluster where the operator runs, and reports
//! time-to-first-reconcile and time-to-Ready (p50/p99), write requests per product and writes
//! during a quiet period (should be zero), both as the operator's client counted them on the
//! wire, and peak memory. With `--baseline` it first applies the same objects with a plain client,
//! as fast as the API server takes them, for comparison.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::run::{client, duration, runtime};
use crate::api::load::{load_paths, Document, LoadOptions};
use crate::api::{DataProduct, DataProductTemplate, Phase};

#[derive(Debug, Args)]
pub struct LoadTestArgs {
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Products to create.
    #[arg(long = "count", default_value_t = 100)]
    pub products: usize,
    /// Namespace (domain) to create them in; created and labelled if missing.
    #[arg(short = 'n', long, default_value = "loadtest")]
    pub namespace: String,
    /// First apply the planned Kubernetes objects of as many products (named `bl-…`, deleted
    /// afterwards) with a plain client, as fast as the API server takes them: the baseline for
    /// time to Ready.
    #[arg(long)]
    pub baseline: bool,
    /// Requests in flight at once in the baseline.
    #[arg(long, default_value_t = 16)]
    pub baseline_concurrency: usize,
    /// A DataProduct file used as the pattern (renamed per copy).
    #[arg(long, default_value = "examples/messaging/conversations.yaml")]
    pub product: PathBuf,
    /// Template file applied before the run.
    #[arg(long, default_value = "templates/standard.yaml")]
    pub template: PathBuf,
    /// The operator's metrics endpoint (for example through `kubectl port-forward`).
    #[arg(long, default_value = "http://127.0.0.1:8080/metrics")]
    pub metrics_url: String,
    /// Quiet period after all are Ready, during which no write is expected.
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub quiet: Duration,
    #[arg(long, default_value = "15m", value_parser = duration)]
    pub timeout: Duration,
    /// Delete the products afterwards.
    #[arg(long)]
    pub cleanup: bool,
}

/// Scrapes one metric family's sum from a Prometheus text endpoint (plain http only); series
/// whose labels contain `skip` are left out.
async fn scrape(url: &str, metric: &str) -> Result<f64, String> {
    scrape_without(url, metric, None).await
}

/// Write requests the operator's client sent (every method but GET, leases excluded), as
/// counted on the wire.
async fn writes(url: &str) -> Result<f64, String> {
    scrape_without(url, "dataproduct_kube_requests_total", Some("verb=\"GET\"")).await
}

async fn scrape_without(url: &str, metric: &str, skip: Option<&str>) -> Result<f64, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("metrics URL must be http://host:port/path")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/metrics".into()));
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut body = String::new();
    stream
        .read_to_string(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(sum_samples(&body, metric, |l| {
        skip.is_none_or(|s| !l.contains(s))
    }))
}

/// The sum of one metric family's samples in a Prometheus text exposition, over the series
/// `keep` accepts (it sees the whole sample line, labels included).
fn sum_samples(text: &str, metric: &str, keep: impl Fn(&str) -> bool) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter(|l| keep(l))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// 429 answers the API server has given so far, every client counted: the sum of
/// `apiserver_request_total{code="429"}` on its own /metrics (API Priority and Fairness answers
/// 429 when a flow's queues are full). An error when the server does not expose it (a fake
/// server, or no RBAC for the `/metrics` non-resource URL).
async fn throttled(client: &kube::Client) -> Result<f64, String> {
    let req = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let text = client.request_text(req).await.map_err(|e| match e {
        kube::Error::Api(s) => format!("the API server's /metrics answered {}", s.code),
        e => format!("the API server's /metrics: {e}"),
    })?;
    if !text.contains("apiserver_request_total") {
        return Err("the API server's /metrics has no apiserver_request_total".into());
    }
    Ok(sum_samples(&text, "apiserver_request_total", |l| {
        l.contains("code=\"429\"")
    }))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn execute(args: &LoadTestArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return 1;
        }
    };
    match rt.block_on(load_test(args)) {
        Ok(report) => {
            let _ = out.write_all(report.as_bytes());
            0
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            1
        }
    }
}

async fn load_test(args: &LoadTestArgs) -> Result<String, String> {
    let client = client(args.kubeconfig.as_ref()).await?;
    let (docs, errors) = load_paths(
        &[args.product.clone(), args.template.clone()],
        &LoadOptions {
            default_namespace: Some(args.namespace.clone()),
        },
    );
    if let Some(e) = errors.first() {
        return Err(e.to_string());
    }
    let mut pattern = None;
    let mut template = None;
    for d in docs {
        match d.document {
            Document::Product(p) if pattern.is_none() => pattern = Some(*p),
            Document::Template(t) => template = Some(*t),
            _ => {}
        }
    }
    let (pattern, template) = (
        pattern.ok_or("no DataProduct in --product")?,
        template.ok_or("no template in --template")?,
    );
    let pp = PatchParams::apply("dpctl-load-test").force();
    Api::<DataProductTemplate>::all(client.clone())
        .patch(&template.name_any(), &pp, &Patch::Apply(&template))
        .await
        .map_err(|e| format!("applying the template: {e}"))?;
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": args.namespace, "labels": {"dataproducts.io/domain-namespace": "true", "dataproducts.io/domain": pattern.spec.domain}}});
    Api::<Namespace>::all(client.clone())
        .patch(&args.namespace, &pp, &Patch::Apply(&ns))
        .await
        .map_err(|e| e.to_string())?;

    let baseline = if args.baseline {
        Some(baseline(&client, &pattern, &template, args).await?)
    } else {
        None
    };
    let writes_before = writes(&args.metrics_url).await?;
    let throttled_before = throttled(&client).await;
    let api: Api<DataProduct> = Api::namespaced(client.clone(), &args.namespace);
    let mut created: HashMap<String, Instant> = HashMap::new();
    let mut first_status: HashMap<String, Duration> = HashMap::new();
    let mut ready: HashMap<String, Duration> = HashMap::new();
    if args.products == 0 {
        return Err("--count must be at least 1".into());
    }
    // Events are taken from the watch while products are still being created, each stamped as
    // it arrives, so early products' latency is not inflated by the creation loop.
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<(Instant, DataProduct)>();
    let mut stream = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let pump = tokio::spawn(async move {
        while let Some(event) = stream.next().await {
            if let Ok(p) = event {
                if tx.send((Instant::now(), p)).is_err() {
                    break;
                }
            }
        }
    });
    let names: Vec<String> = (0..args.products).map(|i| format!("lt-{i:05}")).collect();
    let start = Instant::now();
    for name in &names {
        let mut p = pattern.clone();
        p.metadata = ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(args.namespace.clone()),
            ..ObjectMeta::default()
        };
        p.spec.access.consumers.clear();
        api.create(&PostParams::default(), &p)
            .await
            .map_err(|e| format!("creating {name}: {e}"))?;
        created.insert(name.clone(), Instant::now());
    }
    while ready.len() < names.len() {
        let next =
            tokio::time::timeout(args.timeout.saturating_sub(start.elapsed()), events.recv()).await;
        let Ok(Some((at, p))) = next else {
            pump.abort();
            return Err(format!(
                "timed out: {} of {} products Ready",
                ready.len(),
                names.len()
            ));
        };
        let name = p.name_any();
        let Some(t0) = created.get(&name) else {
            continue;
        };
        let elapsed = at.saturating_duration_since(*t0);
        if p.status.is_some() {
            first_status.entry(name.clone()).or_insert(elapsed);
        }
        let fresh = p.status.as_ref().and_then(|s| s.observed_generation) == p.metadata.generation;
        if fresh && p.status.as_ref().and_then(|s| s.phase) == Some(Phase::Ready) {
            ready.entry(name).or_insert(elapsed);
        }
    }
    pump.abort();
    // The last products' Events go out just after their status shows Ready: the burst ends
    // when the operator's write count holds still for a second (at most ten), and only then
    // does the quiet period start.
    let mut writes_after = writes(&args.metrics_url).await?;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = writes(&args.metrics_url).await?;
        if now == writes_after {
            break;
        }
        writes_after = now;
    }
    tokio::time::sleep(args.quiet).await;
    let writes_quiet = writes(&args.metrics_url).await? - writes_after;
    let peak = scrape(
        &args.metrics_url,
        "dataproduct_process_peak_resident_memory_bytes",
    )
    .await?;
    let throttled = match (throttled_before, throttled(&client).await) {
        (Ok(before), Ok(after)) => format!("{}", after - before),
        (Err(e), _) | (_, Err(e)) => format!("not measured ({e})"),
    };

    let mut to_ready: Vec<Duration> = ready.values().copied().collect();
    to_ready.sort();
    // Pick-up latency of the first and the last tenth created: equal when it does not grow with
    // the number of products already there.
    let decile = (names.len() / 10).max(1);
    let mut early: Vec<Duration> = names[..decile]
        .iter()
        .filter_map(|n| first_status.get(n).copied())
        .collect();
    let mut late: Vec<Duration> = names[names.len() - decile..]
        .iter()
        .filter_map(|n| first_status.get(n).copied())
        .collect();
    early.sort();
    late.sort();
    if args.cleanup {
        for name in &names {
            let _ = api.delete(name, &DeleteParams::default()).await;
        }
    }
    let baseline = baseline
        .map(|(objects, took)| {
            format!(
                "baseline: {objects} planned objects applied by a plain client in {took:?} ({:.0} objects/s)\n",
                objects as f64 / took.as_secs_f64().max(1e-9)
            )
        })
        .unwrap_or_default();
    Ok(format!(
        "{baseline}products: {}\ntime to first reconcile (first 10%): p50 {:?}, p99 {:?}\ntime to first reconcile (last 10%): p50 {:?}, p99 {:?}\ntime to Ready: p50 {:?}, p99 {:?}\nwrite requests per product (create to Ready, counted on the operator's client): {:.1}\nwrite requests during {:?} of quiet: {}\n429 answers from the API server (all clients, burst and quiet period): {}\noperator peak memory: {:.1} MiB\n",
        names.len(),
        percentile(&early, 0.5),
        percentile(&early, 0.99),
        percentile(&late, 0.5),
        percentile(&late, 0.99),
        percentile(&to_ready, 0.5),
        percentile(&to_ready, 0.99),
        (writes_after - writes_before) / names.len() as f64,
        args.quiet,
        writes_quiet,
        throttled,
        peak / 1024.0 / 1024.0,
    ))
}

/// The plain-client baseline: every Kubernetes object the operator would apply for as many
/// products (named `bl-…`), applied with server-side apply at `--baseline-concurrency`, then
/// deleted. Returns the object count and the time the applies took.
async fn baseline(
    client: &kube::Client,
    pattern: &DataProduct,
    template: &DataProductTemplate,
    args: &LoadTestArgs,
) -> Result<(usize, Duration), String> {
    use crate::cluster::{api_resource, dynamic_api};
    let world = crate::plan::World::default();
    let mut objects = Vec::new();
    let mut namespaces = Vec::new();
    for i in 0..args.products {
        let mut p = pattern.clone();
        p.metadata = ObjectMeta {
            name: Some(format!("bl-{i:05}")),
            namespace: Some(args.namespace.clone()),
            ..ObjectMeta::default()
        };
        p.spec.access.consumers.clear();
        let planned = crate::plan::plan(&p, template, &world).map_err(|e| e.to_string())?;
        namespaces.push(planned.names.namespace.clone());
        objects.extend(planned.kubernetes);
    }
    let count = objects.len();
    let pp = PatchParams::apply("dpctl-load-test-baseline").force();
    let start = Instant::now();
    // Namespaces first (their objects need them), then everything else, each group at the
    // given concurrency.
    let (first, rest): (Vec<_>, Vec<_>) = objects
        .into_iter()
        .partition(|o| o.key().kind == "Namespace");
    for group in [first, rest] {
        let results: Vec<Result<(), String>> = futures::stream::iter(group)
            .map(|o| {
                let (client, pp) = (client.clone(), pp.clone());
                async move {
                    let key = o.key();
                    let (ar, namespaced) = api_resource(&client, &key)
                        .await
                        .map_err(|e| e.to_string())?;
                    dynamic_api(&client, &ar, namespaced, key.namespace.as_deref())
                        .patch(&key.name, &pp, &Patch::Apply(&o.to_value()))
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("{key}: {e}"))
                }
            })
            .buffer_unordered(args.baseline_concurrency.max(1))
            .collect()
            .await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            return Err(format!("baseline: {e}"));
        }
    }
    let took = start.elapsed();
    let api: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces {
        let _ = api.delete(&ns, &DeleteParams::default()).await;
    }
    Ok((count, took))
}

#[cfg(test)]
mod tests {
    use super::sum_samples;

    #[test]
    fn samples_are_summed_per_family_and_filter() {
        let text = "# HELP apiserver_request_total Counter of apiserver requests\n\
            apiserver_request_total{code=\"200\",verb=\"LIST\"} 41\n\
            apiserver_request_total{code=\"429\",verb=\"PATCH\"} 2\n\
            apiserver_request_total{code=\"429\",verb=\"POST\"} 3\n\
            apiserver_request_total_other{code=\"429\"} 100\n\
            dataproduct_kube_requests_total{verb=\"GET\"} 7\n\
            dataproduct_kube_requests_total{verb=\"PATCH\"} 5\n";
        let throttled = sum_samples(text, "apiserver_request_total", |l| {
            l.contains("code=\"429\"")
        });
        assert_eq!(throttled, 5.0);
        let writes = sum_samples(text, "dataproduct_kube_requests_total", |l| {
            !l.contains("verb=\"GET\"")
        });
        assert_eq!(writes, 5.0);
    }
}
