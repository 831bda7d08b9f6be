//! What `dpctl plan` prints is exactly what the operator applies: every example (and a grant
//! whose access request has expired) is applied through the operator's real wiring
//! (`operator::run::start`, what `dpctl run` calls) to the fake API server; then every
//! Kubernetes object `dpctl plan` prints must be in the cluster as planned, and every object the
//! operator created for a product must be in the plan. With moto, the grants the operator put in
//! place must be the plan's grants (the expired one left out of both).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use dataproduct_operator::api::constants::labels;
use dataproduct_operator::api::load::{load_paths, Document, LoadOptions};
use dataproduct_operator::api::{DataProduct, DataProductAccess, DataProductTemplate};
use dataproduct_operator::cli::{self, Cli};
use dataproduct_operator::cluster::compare::contains;
use dataproduct_operator::cluster::kinds;
use kube::api::{Api, PostParams};
use serde_json::Value;
use support::apiserver::FakeApiServer;
use support::scenarios::{self, Cluster};

/// The examples, with the one access request's expiry moved into the past.
fn documents(dir: &Path) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    for sub in [
        "examples/logistics",
        "examples/marketing",
        "examples/messaging",
        "examples/orders",
    ] {
        for entry in std::fs::read_dir(root.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.replace("expires: \"2027-06-30\"", "expires: \"2026-01-01\"");
            let out = dir.join(format!(
                "{}-{}",
                sub.replace('/', "-"),
                path.file_name().unwrap().to_string_lossy()
            ));
            std::fs::write(&out, text).unwrap();
            paths.push(out);
        }
    }
    paths
}

fn run_cli(args: &[&str]) -> (ExitCode, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = cli::run(Cli::parse_from(args), &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn owner(v: &Value) -> Option<String> {
    let l = &v["metadata"]["labels"];
    Some(format!(
        "{}/{}",
        l[labels::PRODUCT_NAMESPACE].as_str()?,
        l[labels::PRODUCT].as_str()?
    ))
}

fn key(v: &Value) -> String {
    format!(
        "{} {}/{}",
        v["kind"].as_str().unwrap_or_default(),
        v["metadata"]["namespace"].as_str().unwrap_or_default(),
        v["metadata"]["name"].as_str().unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_applies_exactly_what_dpctl_plan_prints() {
    let moto = support::moto::Moto::start();
    let server = FakeApiServer::start().await;
    let timeout = Duration::from_secs(if moto.is_some() { 120 } else { 30 });
    let (mut cluster, kubeconfig) = Cluster::fake(&server, timeout).await;
    cluster.aws = moto.is_some();
    cluster.aws_endpoint = moto.as_ref().map(|m| m.endpoint.clone());
    let dir = kubeconfig.parent().unwrap().to_path_buf();
    let files = documents(&dir);
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");

    // What the reviewer sees.
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let mut args = vec!["dpctl", "plan", "-o", "json", "--date", &today, "-t"];
    let templates_arg = templates.to_string_lossy().to_string();
    args.push(&templates_arg);
    args.push("-f");
    let file_args: Vec<String> = files
        .iter()
        .map(|f| f.to_string_lossy().to_string())
        .collect();
    args.extend(file_args.iter().map(String::as_str));
    let plan_on = |date: &str| {
        let mut args = args.clone();
        args[5] = date;
        let (code, out, err) = run_cli(&args);
        assert_eq!(code, ExitCode::from(0), "dpctl plan failed: {err}");
        let list: Value = serde_json::from_str(&out).unwrap();
        list["items"].as_array().unwrap().clone()
    };
    let planned: Vec<Value> = plan_on(&today);
    let grants = |items: &[Value]| -> Vec<Value> {
        items
            .iter()
            .filter(|i| i["kind"] == "AccessGrant")
            .cloned()
            .collect()
    };
    // The day decides: before the expiry the grant is planned, after it not.
    let before = plan_on("2025-12-31");
    assert!(
        grants(&before)
            .iter()
            .any(|g| g["spec"]["expires"] == "2026-01-01"),
        "the grant is planned before its expiry"
    );
    assert_eq!(grants(&before).len(), grants(&planned).len() + 1);

    // What the operator is given: the same documents, through the API server.
    let mut all = files.clone();
    all.push(templates.clone());
    let (docs, errors) = load_paths(&all, &LoadOptions::default());
    assert!(errors.is_empty(), "{errors:?}");
    scenarios::install_crds(&cluster).await;
    let mut products: Vec<DataProduct> = Vec::new();
    let mut namespaces = BTreeSet::new();
    for d in docs {
        match d.document {
            Document::Template(t) => {
                Api::<DataProductTemplate>::all(cluster.client.clone())
                    .create(&PostParams::default(), &t)
                    .await
                    .ok();
            }
            Document::Product(p) => products.push(*p),
            Document::Access(a) => {
                let ns = a.metadata.namespace.clone().unwrap();
                namespaces.insert((ns.clone(), ns.clone()));
                Api::<DataProductAccess>::namespaced(cluster.client.clone(), &ns)
                    .create(&PostParams::default(), &a)
                    .await
                    .unwrap();
            }
        }
    }
    for p in &products {
        let ns = p.metadata.namespace.clone().unwrap();
        namespaces.insert((ns, p.spec.domain.clone()));
    }
    for (ns, domain) in &namespaces {
        scenarios::domain_namespace(&cluster.client, ns, domain).await;
    }
    let operator = scenarios::Operator::start(
        &cluster,
        namespaces.iter().map(|(n, _)| n.clone()).collect(),
    )
    .await;
    for p in &products {
        let ns = p.metadata.namespace.clone().unwrap();
        Api::<DataProduct>::namespaced(cluster.client.clone(), &ns)
            .create(&PostParams::default(), p)
            .await
            .unwrap();
    }
    for p in &products {
        let ns = p.metadata.namespace.clone().unwrap();
        let name = p.metadata.name.clone().unwrap();
        let api: Api<DataProduct> = Api::namespaced(cluster.client.clone(), &ns);
        scenarios::eventually(
            cluster.timeout,
            &format!("{ns}/{name} Ready with its inputs ready"),
            || async { scenarios::settled(&api, &name).await },
        )
        .await;
    }

    // Every planned Kubernetes object is in the cluster, as planned.
    let mut planned_keys = BTreeSet::new();
    for item in &planned {
        let api_version = item["apiVersion"].as_str().unwrap_or_default();
        if api_version.starts_with("plan.dataproducts.io/") {
            continue;
        }
        let kind = item["kind"].as_str().unwrap();
        let Some(k) = kinds::by_kind(kind) else {
            panic!("planned kind {kind} is not in the child-kind table");
        };
        let live = server
            .get(
                &k.resource.plural,
                item["metadata"]["namespace"].as_str(),
                item["metadata"]["name"].as_str().unwrap(),
            )
            .unwrap_or_else(|| panic!("{} planned but not applied", key(item)));
        assert!(
            contains(&live, item),
            "{} differs from the plan:\nplanned {item:#}\nlive {live:#}",
            key(item)
        );
        planned_keys.insert(key(item));
    }
    // Every object the operator made for a product is in the plan.
    for k in kinds::all() {
        for live in server.list(&k.resource.plural) {
            if owner(&live).is_some() && !planned_keys.contains(&key(&live)) {
                panic!("{} applied by the operator but not in the plan", key(&live));
            }
        }
    }
    assert!(planned_keys.len() > 20, "{planned_keys:?}");

    // The grants in AWS are the plan's: as many applied as planned, the expired one in neither.
    if moto.is_some() {
        let mut applied = 0;
        for p in &products {
            let api: Api<DataProduct> = Api::namespaced(
                cluster.client.clone(),
                p.metadata.namespace.as_deref().unwrap(),
            );
            let live = api.get(p.metadata.name.as_deref().unwrap()).await.unwrap();
            let message = live
                .status
                .unwrap()
                .conditions
                .into_iter()
                .find(|c| c.type_ == "AccessReady")
                .map(|c| c.message)
                .unwrap_or_default();
            applied += message
                .split(" grants applied")
                .next()
                .and_then(|m| m.rsplit(' ').next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
        }
        assert_eq!(applied, grants(&planned).len(), "grants applied vs planned");
    }
    operator.stop().await;
}
