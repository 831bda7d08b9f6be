//! `dpctl run`: the operator. Every flag also reads an environment variable, which is how the
//! Helm chart configures it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::operator::cloud::CloudConfig;
use crate::operator::context::Settings;
use crate::operator::leader::LeaseConfig;
use crate::operator::run::{signal, start, RunConfig};
use crate::operator::telemetry::{init_logging, LogFormat};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Kubeconfig to use; in-cluster configuration (or ~/.kube/config) when unset.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespaces whose DataProducts are reconciled (comma-separated); all when unset.
    #[arg(
        long = "watch-namespace",
        env = "DPO_WATCH_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,
    /// Products reconciled at once.
    #[arg(long, env = "DPO_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,
    /// Periodic re-reconcile of every product (watches do the real work).
    #[arg(long, env = "DPO_RESYNC_INTERVAL", default_value = "5m", value_parser = duration)]
    pub resync_interval: Duration,
    /// Provision AWS resources (S3, Glue, IAM, grants). Without it, only the Kubernetes side.
    #[arg(long, env = "DPO_AWS", action = ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub aws: bool,
    /// Region overriding the templates' region.
    #[arg(long, env = "DPO_AWS_REGION")]
    pub aws_region: Option<String>,
    /// How AWS calls are retried: `standard` (jittered exponential backoff per call) or
    /// `adaptive` (plus a client-side rate limiter; better only when the account throttles by
    /// request rate, see docs/aws.md).
    #[arg(long, env = "DPO_AWS_RETRY_MODE", value_enum, default_value_t = crate::aws::RetryMode::Standard)]
    pub aws_retry_mode: crate::aws::RetryMode,
    /// How often cloud state is re-observed and corrected.
    #[arg(long, env = "DPO_AWS_RESYNC_INTERVAL", default_value = "10m", value_parser = duration)]
    pub aws_resync_interval: Duration,
    /// How often each output's freshness is observed (CronJob runs, newest S3 object and Glue
    /// partition; see docs/aws.md for the AWS calls it costs).
    #[arg(long, env = "DPO_FRESHNESS_INTERVAL", default_value = "5m", value_parser = duration)]
    pub freshness_interval: Duration,
    /// Leader election on a Lease, so only one replica reconciles.
    #[arg(long, env = "DPO_LEADER_ELECTION", action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    pub leader_election: bool,
    /// Namespace of the Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Name of the Lease.
    #[arg(long, env = "DPO_LEASE_NAME", default_value = crate::api::constants::OPERATOR)]
    pub lease_name: String,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "DPO_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Log format; RUST_LOG filters.
    #[arg(long, env = "DPO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Send OpenLineage RunEvents of the pipelines' Jobs to this endpoint (for example
    /// http://marquez:5000/api/v1/lineage); none are sent when unset.
    #[arg(long, env = "DPO_OPENLINEAGE_URL", value_parser = lineage_url)]
    pub openlineage_url: Option<hyper::Uri>,
    /// Bearer token for the OpenLineage endpoint (the chart reads it from a Secret).
    #[arg(long, env = "DPO_OPENLINEAGE_TOKEN", hide_env_values = true)]
    pub openlineage_token: Option<String>,
}

fn lineage_url(s: &str) -> Result<hyper::Uri, String> {
    let uri: hyper::Uri = s
        .parse()
        .map_err(|e| format!("\"{s}\" is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(uri),
        _ => Err(format!("\"{s}\" is not an http:// or https:// URL")),
    }
}

/// Parses `30s`, `5m`, `1h30m`.
pub fn duration(s: &str) -> Result<Duration, String> {
    crate::governance::parse_duration(s)
        .filter(|secs| *secs > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("\"{s}\" is not a duration such as 30s, 5m or 1h"))
}

/// Why no Kubernetes client could be built.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The explicit kubeconfig cannot be read or used.
    #[error("{}: {source}", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// Neither in-cluster configuration nor ~/.kube/config.
    #[error("no Kubernetes configuration found: {0}")]
    Infer(#[source] kube::config::InferConfigError),
    /// The configuration does not make a client (TLS, proxy).
    #[error("{0}")]
    Client(#[source] kube::Error),
}

/// The commands that report errors as text (`dpctl diff`, `dpctl loadtest`) take it as such.
impl From<ConnectError> for String {
    fn from(e: ConnectError) -> String {
        e.to_string()
    }
}

/// The async runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the async runtime: {0}")]
pub struct RuntimeError(#[source] std::io::Error);

/// Why `dpctl run` stopped with an error.
#[derive(Debug, thiserror::Error)]
enum ExecuteError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Run(#[from] crate::operator::run::RunError),
}

/// Builds a client from an explicit kubeconfig, or infers one (in-cluster, then ~/.kube/config).
pub async fn client(kubeconfig: Option<&PathBuf>) -> Result<Client, ConnectError> {
    Client::try_from(kube_config(kubeconfig).await?).map_err(ConnectError::Client)
}

/// The connection settings from an explicit kubeconfig, or inferred (in-cluster, then
/// ~/.kube/config).
pub async fn kube_config(kubeconfig: Option<&PathBuf>) -> Result<Config, ConnectError> {
    Ok(match kubeconfig {
        Some(path) => {
            let at = |source| ConnectError::Kubeconfig {
                path: path.clone(),
                source,
            };
            let kc = Kubeconfig::read_from(path).map_err(at)?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .map_err(at)?
        }
        None => Config::infer().await.map_err(ConnectError::Infer)?,
    })
}

pub fn runtime() -> Result<tokio::runtime::Runtime, RuntimeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RuntimeError)
}

pub fn execute(args: &RunArgs, err: &mut dyn std::io::Write) -> u8 {
    init_logging(args.log_format);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return 1;
        }
    };
    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("dpctl-{}-{:08x}", std::process::id(), fastrand::u32(..)));
    let config = RunConfig {
        settings: Settings {
            resync: args.resync_interval,
            aws_resync: args.aws_resync_interval,
            namespaces: args
                .namespaces
                .iter()
                .filter(|n| !n.is_empty())
                .cloned()
                .collect(),
            freshness_interval: args.freshness_interval,
        },
        concurrency: args.concurrency.max(1),
        listen: args.listen,
        leader_election: args
            .leader_election
            .then(|| LeaseConfig::new(&args.lease_namespace, &args.lease_name, identity)),
        aws: args.aws.then(|| CloudConfig {
            region_override: args.aws_region.clone(),
            resync: args.aws_resync_interval,
            retry_mode: args.aws_retry_mode,
            endpoint_url: None,
        }),
        openlineage: args.openlineage_url.clone().map(|url| {
            crate::operator::lineage::LineageConfig {
                url,
                token: args.openlineage_token.clone().filter(|t| !t.is_empty()),
            }
        }),
    };
    let result = rt.block_on(async {
        let kube = kube_config(args.kubeconfig.as_ref()).await?;
        start(kube, config, signal()).await?;
        Ok::<(), ExecuteError>(())
    });
    // Whatever is still running (a DNS lookup on a blocking thread, say) must not delay the exit.
    rt.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!(error = %e, "operator stopped");
            let _ = writeln!(err, "error: {e}");
            1
        }
    }
}
