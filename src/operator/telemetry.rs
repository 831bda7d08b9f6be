//! Metrics, health endpoints and logs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::api::Phase;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    pub verb: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutputLabels {
    pub namespace: String,
    pub product: String,
    pub output: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: String,
}

/// The operator's metrics.
pub struct Metrics {
    registry: Registry,
    pub reconcile_duration: Histogram,
    pub reconcile_errors: Family<ReasonLabels, Counter>,
    pub products: Family<PhaseLabels, Gauge>,
    /// Write requests sent to the Kubernetes API (apply, delete, status, finalizer).
    pub kube_writes: Family<VerbLabels, Counter>,
    /// Every request the Kubernetes client sent, by HTTP method, counted on the wire by
    /// [`count_requests`] (Lease requests of leader election excluded), so a stray write cannot
    /// hide from it the way it could from the reconcile's own counter.
    pub kube_requests: Family<RequestLabels, Counter>,
    /// AWS calls by kind (read / mutation).
    pub aws_calls: Family<VerbLabels, Counter>,
    /// Stored objects the operator cannot read (reported on the objects themselves).
    pub unreadable_objects: Gauge,
    /// OpenLineage deliveries by outcome (`delivered`, `failed` attempts, `dropped` events).
    pub lineage_events: Family<OutcomeLabels, Counter>,
    /// Seconds since each output was last updated, as the freshness observation saw it.
    pub output_age_seconds: Family<OutputLabels, Gauge>,
    rss: Gauge,
    peak_rss: Gauge,
    phases: Mutex<HashMap<String, Phase>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dataproduct");
        let reconcile_duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let reconcile_errors = Family::<ReasonLabels, Counter>::default();
        let products = Family::<PhaseLabels, Gauge>::default();
        let kube_writes = Family::<VerbLabels, Counter>::default();
        let aws_calls = Family::<VerbLabels, Counter>::default();
        let kube_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "kube_requests",
            "Requests sent to the Kubernetes API by HTTP method, counted on the client (leases excluded)",
            kube_requests.clone(),
        );
        let unreadable_objects = Gauge::default();
        let lineage_events = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "openlineage_events",
            "OpenLineage RunEvent deliveries: delivered events, failed attempts (retried), dropped events (queue full)",
            lineage_events.clone(),
        );
        let output_age_seconds = Family::<OutputLabels, Gauge>::default();
        registry.register(
            "output_age_seconds",
            "Seconds since each output was last updated (its newest freshness signal)",
            output_age_seconds.clone(),
        );
        let rss = Gauge::default();
        let peak_rss = Gauge::default();
        registry.register(
            "unreadable_objects",
            "Stored objects the operator cannot read; each is reported on itself (reason Unreadable)",
            unreadable_objects.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            reconcile_duration.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles by error reason",
            reconcile_errors.clone(),
        );
        registry.register("products", "DataProducts by phase", products.clone());
        registry.register(
            "kube_writes",
            "Write requests sent to the Kubernetes API",
            kube_writes.clone(),
        );
        registry.register("aws_calls", "AWS API calls by kind", aws_calls.clone());
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the operator",
            rss.clone(),
        );
        registry.register(
            "process_peak_resident_memory_bytes",
            "Peak resident memory of the operator",
            peak_rss.clone(),
        );
        Metrics {
            registry,
            reconcile_duration,
            reconcile_errors,
            products,
            kube_writes,
            aws_calls,
            kube_requests,
            unreadable_objects,
            lineage_events,
            output_age_seconds,
            rss,
            peak_rss,
            phases: Mutex::new(HashMap::new()),
        }
    }
}

impl Metrics {
    pub fn write(&self, verb: &str) {
        self.kube_writes
            .get_or_create(&VerbLabels {
                verb: verb.to_string(),
            })
            .inc();
    }

    pub fn lineage(&self, outcome: &str) {
        self.lineage_events
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn output_age(&self, namespace: &str, product: &str, output: &str, seconds: i64) {
        self.output_age_seconds
            .get_or_create(&OutputLabels {
                namespace: namespace.to_string(),
                product: product.to_string(),
                output: output.to_string(),
            })
            .set(seconds);
    }

    pub fn unreadable(&self, count: usize) {
        self.unreadable_objects
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn error(&self, reason: &str) {
        self.reconcile_errors
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Records a product's phase (None when it is gone). The per-phase gauges move by one, so
    /// the cost does not grow with the number of products.
    pub fn set_phase(&self, product: &str, phase: Option<Phase>) {
        let mut phases = self.phases.lock().unwrap_or_else(|p| p.into_inner());
        let old = match phase {
            Some(p) => phases.insert(product.to_string(), p),
            None => phases.remove(product),
        };
        if old == phase {
            return;
        }
        if let Some(old) = old {
            self.products
                .get_or_create(&PhaseLabels {
                    phase: format!("{old:?}"),
                })
                .dec();
        }
        if let Some(new) = phase {
            self.products
                .get_or_create(&PhaseLabels {
                    phase: format!("{new:?}"),
                })
                .inc();
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        if let Some((rss, peak)) = memory() {
            self.rss.set(rss as i64);
            self.peak_rss.set(peak as i64);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// A client whose every request is counted in `metrics.kube_requests` before it is sent.
pub fn count_requests(
    config: kube::Config,
    metrics: Arc<Metrics>,
) -> Result<kube::Client, kube::Error> {
    let counter =
        tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
            if !req.uri().path().starts_with("/apis/coordination.k8s.io/") {
                metrics
                    .kube_requests
                    .get_or_create(&RequestLabels {
                        verb: req.method().as_str().to_string(),
                    })
                    .inc();
            }
            req
        });
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&counter)
        .build())
}

/// Resident and peak resident memory in bytes, from /proc (Linux).
pub fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// State the health endpoints read.
#[derive(Clone)]
pub struct Health {
    pub metrics: Arc<Metrics>,
    /// Which watches have listed their objects.
    pub gate: Arc<super::sync::SyncGate>,
    /// Set while this replica leads. A standby is ready (it can take over), so rolling updates
    /// and disruption budgets work with several replicas; a leader is ready once synced.
    pub leading: Arc<AtomicBool>,
}

impl Health {
    /// Ready, or why not.
    pub fn readiness(&self) -> Result<(), String> {
        if !self.leading.load(Ordering::Acquire) {
            return Ok(());
        }
        match self.gate.pending() {
            p if p.is_empty() => Ok(()),
            p => Err(format!("watches not synced yet: {}", p.join(", "))),
        }
    }
}

/// Serves /metrics, /healthz and /readyz until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    health: Health,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(h): State<Health>| async move { h.metrics.render() }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(h): State<Health>| async move {
                match h.readiness() {
                    Ok(()) => (StatusCode::OK, "ready".to_string()),
                    Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
                }
            }),
        )
        .with_state(health);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Colour escapes only for a person at a terminal: never in a file or a pipe (log collectors
/// would store them), and never when `NO_COLOR` is set to anything non-empty (no-color.org).
pub fn colour(stdout_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stdout_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the global subscriber; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour(
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
            std::env::var_os("NO_COLOR").as_deref(),
        ));
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(!colour(false, None), "a file or pipe gets no escapes");
        assert!(!colour(true, Some("1".as_ref())));
        assert!(
            colour(true, Some("".as_ref())),
            "an empty NO_COLOR is unset"
        );
    }
}
