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
pub struct PhaseLabels {
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
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
    /// AWS calls by kind (read / mutation).
    pub aws_calls: Family<VerbLabels, Counter>,
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
        let rss = Gauge::default();
        let peak_rss = Gauge::default();
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
    /// Set once every watch has listed its objects.
    pub synced: Arc<AtomicBool>,
    /// Set while this replica leads. A standby is ready (it can take over), so rolling updates
    /// and disruption budgets work with several replicas; a leader is ready once synced.
    pub leading: Arc<AtomicBool>,
}

impl Health {
    pub fn ready(&self) -> bool {
        !self.leading.load(Ordering::Acquire) || self.synced.load(Ordering::Acquire)
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
                if h.ready() {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "watches not synced yet")
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

/// Installs the global subscriber; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
