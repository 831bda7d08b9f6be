//! `dpctl catalog`: the catalogue's HTTP server. With `-f` it serves the given documents (no
//! cluster); without, it serves the cluster's DataProducts with live status.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use crate::catalogue::index::Index;
use crate::catalogue::server::{self, Catalogue};
use crate::model::World;
use crate::operator::telemetry::{init_logging, LogFormat};

use super::{documents, parse_date, InputArgs, EXIT_INPUT};

#[derive(Debug, Args, Clone)]
pub struct CatalogArgs {
    /// Files or directories (walked for *.yaml and *.yml) of DataProduct, DataProductTemplate
    /// and DataProductAccess documents to serve. Without it, the cluster is read.
    #[arg(short = 'f', long = "filename", num_args = 1.., value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Where templates named by products are looked up when they are not among the -f documents.
    #[arg(short = 't', long = "templates", num_args = 1.., value_name = "PATH")]
    pub templates: Vec<PathBuf>,
    /// Namespace for namespaced documents that do not set metadata.namespace.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// The day grant expiry and deprecation notice periods are measured against (YYYY-MM-DD,
    /// UTC); today when unset.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub date: Option<jiff::civil::Date>,
    /// Address to serve on.
    #[arg(long, env = "DPO_CATALOG_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Kubeconfig for cluster mode; in-cluster configuration (or ~/.kube/config) when unset.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Log format of the server's own messages (watch warnings, objects left out).
    #[arg(long, env = "DPO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl CatalogArgs {
    fn input(&self) -> InputArgs {
        InputArgs {
            paths: self.paths.clone(),
            templates: self.templates.clone(),
            namespace: self.namespace.clone(),
            date: self.date,
            strict: false,
        }
    }
}

/// The world of the given files; load errors are printed to `err`.
pub fn world_from_files(input: &InputArgs, err: &mut dyn Write) -> Option<World> {
    documents::load(input, err).map(|i| i.world)
}

pub fn execute(args: &CatalogArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    init_logging(args.log_format);
    let rt = match super::run::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return 1;
        }
    };
    let today = args.date.unwrap_or_else(crate::evaluate::today);
    let catalogue = if args.paths.is_empty() {
        Catalogue::new(Index::build(&World::default(), today, true))
    } else {
        let Some(world) = world_from_files(&args.input(), err) else {
            return EXIT_INPUT;
        };
        Catalogue::new(Index::build(&world, today, false))
    };
    let result: Result<(), String> = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let products = catalogue.index().products.len();
        if args.paths.is_empty() {
            let client = super::run::client(args.kubeconfig.as_ref()).await?;
            let watch = cluster::watch(client, catalogue.clone(), args.date);
            let _ = writeln!(out, "catalogue of the cluster on http://{addr}/");
            let _ = out.flush();
            tokio::select! {
                r = serve(listener, catalogue) => r,
                r = watch => r,
            }
        } else {
            let _ = writeln!(out, "catalogue of {products} products on http://{addr}/");
            let _ = out.flush();
            serve(listener, catalogue).await
        }
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            1
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, catalogue: Arc<Catalogue>) -> Result<(), String> {
    axum::serve(listener, server::router(catalogue))
        .with_graceful_shutdown(crate::operator::run::signal())
        .await
        .map_err(|e| e.to_string())
}

pub mod cluster {
    //! Cluster mode: reflectors on the three kinds; the index is rebuilt (debounced) whenever
    //! a watch cache changes.

    use std::sync::Arc;
    use std::time::Duration;

    use futures::{Stream, StreamExt, TryStreamExt};
    use kube::api::DynamicObject;
    use kube::core::ApiResource;
    use kube::runtime::{reflector, watcher, WatchStreamExt};
    use kube::{Api, Client};

    use crate::api::{DataProduct, DataProductAccess, DataProductTemplate};
    use crate::catalogue::index::Index;
    use crate::catalogue::server::Catalogue;
    use crate::model::World;
    use crate::operator::unreadable::{self, Lenient, Unreadable};

    /// Watch errors are retried with backoff; each is reported on stderr.
    fn report<K>(r: Result<K, watcher::Error>) {
        if let Err(e) = r {
            tracing::warn!(error = %e, "watching the cluster");
        }
    }

    fn report_unreadable(u: Unreadable) {
        if u.deleted {
            return;
        }
        tracing::warn!(
            kind = %u.kind,
            namespace = u.metadata.namespace.as_deref().unwrap_or(""),
            name = u.metadata.name.as_deref().unwrap_or(""),
            error = %u.error,
            "left out of the catalogue: cannot read it"
        );
    }

    /// Every object of `K` in the cluster, read the way the operator reads them: raw objects
    /// converted one by one, so one object that does not deserialize (written under an older
    /// CRD) is reported and left out instead of failing the whole list for the catalogue.
    /// managedFields and the last-applied annotation are dropped before caching.
    fn lenient_watch<K: Lenient + std::fmt::Debug + Send + Sync + 'static>(
        client: &Client,
    ) -> impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static {
        let api = Api::<DynamicObject>::all_with(client.clone(), &ApiResource::erase::<K>(&()));
        watcher(api, watcher::Config::default())
            .default_backoff()
            .modify(unreadable::slim_object)
            .try_filter_map(|event| async move {
                Ok(unreadable::readable::<K>(event, &report_unreadable))
            })
    }

    /// Keeps `catalogue` up to date with the cluster until the watches end (they retry with
    /// backoff, so in practice until the task is dropped). Read-only: list and watch only.
    pub async fn watch(
        client: Client,
        catalogue: Arc<Catalogue>,
        date: Option<jiff::civil::Date>,
    ) -> Result<(), String> {
        let (products, pw) = reflector::store::<DataProduct>();
        let (templates, tw) = reflector::store::<DataProductTemplate>();
        let (accesses, aw) = reflector::store::<DataProductAccess>();
        let (tx, mut rx) = tokio::sync::watch::channel(());
        let run = |stream: futures::stream::BoxStream<'static, ()>| {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut stream = stream;
                while stream.next().await.is_some() {
                    let _ = tx.send(());
                }
            })
        };
        let p = reflector(pw, lenient_watch::<DataProduct>(&client))
            .touched_objects()
            .map(report)
            .boxed();
        let t = reflector(tw, lenient_watch::<DataProductTemplate>(&client))
            .touched_objects()
            .map(report)
            .boxed();
        let a = reflector(aw, lenient_watch::<DataProductAccess>(&client))
            .touched_objects()
            .map(report)
            .boxed();
        let handles = [run(p), run(t), run(a)];
        loop {
            if rx.changed().await.is_err() {
                break;
            }
            // Let a burst of events settle before evaluating the whole mesh again.
            tokio::time::sleep(Duration::from_millis(500)).await;
            rx.borrow_and_update();
            let mut world = World::default();
            for t in templates.state() {
                world.add_template((*t).clone());
            }
            for p in products.state() {
                world.add_product((*p).clone());
            }
            world.accesses = accesses.state().iter().map(|a| (**a).clone()).collect();
            let today = date.unwrap_or_else(crate::evaluate::today);
            let index = tokio::task::spawn_blocking(move || Index::build(&world, today, true))
                .await
                .map_err(|e| e.to_string())?;
            catalogue.set(index);
        }
        for h in handles {
            h.abort();
        }
        Err("the watches of the cluster stopped".into())
    }
}
