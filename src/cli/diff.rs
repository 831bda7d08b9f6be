//! `dpctl diff`: what applying these products (or templates) would change in a live cluster,
//! object by object — the plan-before-apply GitOps reviewers ask for. Read-only.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::Value;

use super::documents::{self, Inputs};
use super::run::{kube_config, runtime};
use super::{InputArgs, EXIT_INPUT};
use crate::api::constants::FIELD_MANAGER;
use crate::api::{DataProduct, DataProductTemplate, ProductRef};
use crate::cluster::compare::contains;
use crate::cluster::world::{namespace_labels, ClusterDocuments};
use crate::cluster::{api_resource, dynamic_api};
use crate::evaluate::{evaluate, Facts};
use crate::plan::{KubeObject, Plan};

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Kubeconfig to use; the current context when unset.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Plan from the files alone (no producers, consumers, namespace labels or status from the
    /// cluster) and compare client-side instead of asking the API server for a dry run.
    #[arg(long)]
    pub offline: bool,
}

/// What a diff found: the report, whether anything differs, whether anything failed.
#[derive(Default)]
struct Report {
    text: String,
    differs: bool,
    failed: bool,
}

impl Report {
    fn line(&mut self, s: impl AsRef<str>) {
        self.text.push_str(s.as_ref());
        self.text.push('\n');
    }
}

/// Exit codes follow `kubectl diff`: 0 no differences, 1 differences, >1 errors.
pub fn execute(args: &DiffArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(mut inputs) = documents::load(&args.input, err) else {
        return EXIT_INPUT;
    };
    if inputs.products.is_empty() && inputs.templates.is_empty() {
        let _ = writeln!(
            err,
            "error: no DataProduct or DataProductTemplate found in the given paths ({}); nothing to diff",
            inputs.summary()
        );
        return EXIT_INPUT;
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_INPUT;
        }
    };
    let today = args.input.today();
    let mut server = String::new();
    let result = rt.block_on(async {
        let config = kube_config(args.kubeconfig.as_ref())
            .await
            .map_err(|e| e.to_string())?;
        // Errors name the API server they came from (a refused connection says no more).
        server = format!("{}: ", config.cluster_url);
        let client = Client::try_from(config).map_err(|e| e.to_string())?;
        let mut report = Report::default();
        if args.offline {
            report.line("# offline: planned from the files alone (templates they lack from the cluster; no producers, consumers, namespace labels or status), compared client-side without the API server's defaulting, admission or apply merging");
        } else {
            report.line(format!("# server-side dry run: each object applied with dryRun=All under field manager {FIELD_MANAGER}, compared with the live object"));
        }
        diff_templates(&client, &inputs, &mut report).await?;
        if args.offline {
            offline_products(&client, &mut inputs, today, &mut report).await?;
        } else {
            server_products(&client, &inputs, today, &mut report).await?;
        }
        Ok::<_, String>(report)
    });
    match result {
        Ok(report) => {
            let _ = out.write_all(report.text.as_bytes());
            if report.failed {
                EXIT_INPUT
            } else {
                u8::from(report.differs)
            }
        }
        Err(e) => {
            let _ = writeln!(err, "error: {server}{e}");
            EXIT_INPUT
        }
    }
}

/// Templates given in files: compare with the live template and name affected products.
async fn diff_templates(
    client: &Client,
    inputs: &Inputs,
    report: &mut Report,
) -> Result<(), String> {
    let templates: Api<DataProductTemplate> = Api::all(client.clone());
    for (t, _) in &inputs.templates {
        let name = t.name_any();
        match templates.get_opt(&name).await.map_err(|e| e.to_string())? {
            None => {
                report.differs = true;
                report.line(format!("+ DataProductTemplate {name} (new)"));
            }
            Some(live) if live.spec == t.spec => {
                report.line(format!("= DataProductTemplate {name}"))
            }
            Some(live) => {
                report.differs = true;
                report.line(format!("~ DataProductTemplate {name}"));
                report
                    .text
                    .push_str(&unified(&yaml(&live.spec), &yaml(&t.spec)));
                let products: Api<DataProduct> = Api::all(client.clone());
                let users: Vec<String> = products
                    .list(&Default::default())
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .filter(|p| p.spec.template == name)
                    .map(|p| format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()))
                    .collect();
                report.line(format!(
                    "  re-plans {} product(s): {}",
                    users.len(),
                    users.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// The world, namespace labels and status from the cluster, as the operator sees them; each
/// planned object answered by a server-side dry-run apply.
async fn server_products(
    client: &Client,
    inputs: &Inputs,
    today: jiff::civil::Date,
    report: &mut Report,
) -> Result<(), String> {
    let mut docs = ClusterDocuments::load(client, &inputs.world)
        .await
        .map_err(|e| format!("reading the cluster's templates and access requests: {e}"))?;
    for (r, _) in &inputs.products {
        let mut product = inputs.world.products[r].clone();
        let live = docs
            .live_product(r)
            .await
            .map_err(|e| format!("DataProduct {r}: {e}"))?;
        // The published outputs and namespace the breaking-change and move checks compare with.
        product.status = live.as_ref().and_then(|l| l.status.clone());
        // A namespace that does not exist has no labels, as the operator sees it.
        let labels = namespace_labels(client, &r.namespace)
            .await
            .map_err(|e| format!("Namespace {}: {e}", r.namespace))?
            .unwrap_or_default();
        let world = docs
            .world_around(&product)
            .await
            .map_err(|e| format!("DataProduct {r}: reading related products: {e}"))?;
        // The related products come from the cluster, statuses and all.
        let facts = Facts {
            namespace_labels: Some(&labels),
            today,
            observed: true,
        };
        let Some(planned) = planned_or_refused(r, evaluate(&product, &world, &facts), report)
        else {
            continue;
        };
        report.line(format!("# DataProduct {r}"));
        dry_run_objects(client, &planned.kubernetes, report).await;
        prune_report(live.as_ref(), &planned, report);
        aws_line(&planned, report);
    }
    Ok(())
}

/// Today's plan-only diff: the world from the files, compared client-side.
async fn offline_products(
    client: &Client,
    inputs: &mut Inputs,
    today: jiff::civil::Date,
    report: &mut Report,
) -> Result<(), String> {
    let templates: Api<DataProductTemplate> = Api::all(client.clone());
    // Templates the products need but the files lack come from the cluster.
    let needed: Vec<String> = inputs
        .world
        .products
        .values()
        .map(|p| p.spec.template.clone())
        .collect();
    for name in needed {
        if !inputs.world.templates.contains_key(&name) {
            if let Some(t) = templates.get_opt(&name).await.map_err(|e| e.to_string())? {
                inputs.world.add_template(t);
            }
        }
    }
    for (r, _) in &inputs.products {
        let product = &inputs.world.products[r];
        let result = evaluate(product, &inputs.world, &Facts::offline(today));
        let Some(planned) = planned_or_refused(r, result, report) else {
            continue;
        };
        report.line(format!("# DataProduct {r}"));
        report.differs |= compare_objects(client, &planned.kubernetes, &mut report.text).await?;
        let api: Api<DataProduct> = Api::namespaced(client.clone(), &r.namespace);
        let live = api.get_opt(&r.name).await.map_err(|e| e.to_string())?;
        prune_report(live.as_ref(), &planned, report);
        aws_line(&planned, report);
    }
    Ok(())
}

fn planned_or_refused(
    r: &ProductRef,
    result: Result<Plan, crate::evaluate::Refusal>,
    report: &mut Report,
) -> Option<Plan> {
    match result {
        Ok(p) => Some(p),
        Err(refusal) => {
            report.differs = true;
            report.line(format!(
                "! DataProduct {r} is invalid; the operator would provision nothing:"
            ));
            for v in refusal.violations {
                report.line(format!("    {v}"));
            }
            None
        }
    }
}

/// What the operator applied before and would now prune.
fn prune_report(live: Option<&DataProduct>, planned: &Plan, report: &mut Report) {
    let Some(live) = live else { return };
    let desired: Vec<_> = planned.kubernetes.iter().map(|o| o.key()).collect();
    let inventory = live
        .status
        .as_ref()
        .map(|s| s.inventory.clone())
        .unwrap_or_default();
    for e in inventory {
        if !desired
            .iter()
            .any(|k| k.kind == e.kind && k.name == e.name && k.namespace == e.namespace)
        {
            report.differs = true;
            report.line(format!(
                "- {} {}/{} (no longer desired; pruned)",
                e.kind,
                e.namespace.unwrap_or_default(),
                e.name
            ));
        }
    }
}

fn aws_line(planned: &Plan, report: &mut Report) {
    report.line(format!(
        "  {} AWS resources planned (see dpctl plan); the operator reconciles them against AWS",
        planned.aws.len()
    ));
}

/// Each object as the operator would apply it (server-side apply, forced, under its field
/// manager), with `dryRun=All`: the API server's answer, defaulting, admission and list merging
/// included, against the live object. An object in a namespace the plan creates cannot be dry
/// run before that namespace exists; it is a create.
async fn dry_run_objects(client: &Client, objects: &[KubeObject], report: &mut Report) {
    let mut new_namespaces: BTreeSet<String> = BTreeSet::new();
    let params = PatchParams {
        dry_run: true,
        ..PatchParams::apply(FIELD_MANAGER).force()
    };
    for object in objects {
        let key = object.key();
        let desired = object.to_value();
        let (ar, namespaced) = match api_resource(client, &key).await {
            Ok(found) => found,
            Err(e) => {
                report.failed = true;
                report.line(format!("! {key}: {e}"));
                continue;
            }
        };
        let api = dynamic_api(client, &ar, namespaced, key.namespace.as_deref());
        let live = match api.get_opt(&key.name).await {
            Ok(live) => live,
            Err(e) => {
                report.failed = true;
                report.line(format!("! {key}: reading the live object: {e}"));
                continue;
            }
        };
        let answer = api.patch(&key.name, &params, &Patch::Apply(&desired)).await;
        match (live, answer) {
            (None, Ok(_)) => {
                if key.kind == "Namespace" && !namespaced {
                    new_namespaces.insert(key.name.clone());
                }
                report.differs = true;
                report.line(format!("+ {key}"));
            }
            (Some(live), Ok(answer)) => {
                let before = without_server_fields(serde_json::to_value(&live).unwrap_or_default());
                let after =
                    without_server_fields(serde_json::to_value(&answer).unwrap_or_default());
                if before == after {
                    report.line(format!("= {key}"));
                } else {
                    report.differs = true;
                    report.line(format!("~ {key}"));
                    report.text.push_str(&unified_with(
                        &yaml(&before),
                        &yaml(&after),
                        "live",
                        "dry run",
                    ));
                }
            }
            (None, Err(kube::Error::Api(s)))
                if s.code == 404
                    && key
                        .namespace
                        .as_ref()
                        .is_some_and(|ns| new_namespaces.contains(ns)) =>
            {
                report.differs = true;
                report.line(format!(
                    "+ {key} (in the namespace created above; not dry run)"
                ));
            }
            (_, Err(e)) => {
                report.failed = true;
                report.line(format!("! {key}: the API server refused the dry run: {e}"));
            }
        }
    }
}

/// The object without what only the API server writes, so two answers compare by content.
fn without_server_fields(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(Value::Object(meta)) = o.get_mut("metadata") {
            for field in [
                "managedFields",
                "resourceVersion",
                "generation",
                "uid",
                "creationTimestamp",
            ] {
                meta.remove(field);
            }
        }
    }
    v
}

async fn compare_objects(
    client: &Client,
    objects: &[KubeObject],
    text: &mut String,
) -> Result<bool, String> {
    let mut differs = false;
    for object in objects {
        let key = object.key();
        let desired = object.to_value();
        let (ar, namespaced) = api_resource(client, &key)
            .await
            .map_err(|e| e.to_string())?;
        let api = dynamic_api(client, &ar, namespaced, key.namespace.as_deref());
        match api
            .get_opt(&key.name)
            .await
            .map_err(|e| format!("{key}: {e}"))?
        {
            None => {
                differs = true;
                text.push_str(&format!("+ {key}\n"));
            }
            Some(live) => {
                let live = serde_json::to_value(&live).unwrap_or_default();
                if contains(&live, &desired) {
                    text.push_str(&format!("= {key}\n"));
                } else {
                    differs = true;
                    text.push_str(&format!("~ {key}\n"));
                    text.push_str(&unified(&yaml(&project(&live, &desired)), &yaml(&desired)));
                }
            }
        }
    }
    Ok(differs)
}

/// The live object reduced to the fields we set, so the diff shows only what we would change.
pub fn project(live: &Value, desired: &Value) -> Value {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => Value::Object(
            d.iter()
                .filter_map(|(k, dv)| l.get(k).map(|lv| (k.clone(), project(lv, dv))))
                .collect(),
        ),
        (Value::Array(l), Value::Array(d)) => Value::Array(
            l.iter()
                .enumerate()
                .map(|(i, lv)| {
                    d.get(i)
                        .map(|dv| project(lv, dv))
                        .unwrap_or_else(|| lv.clone())
                })
                .collect(),
        ),
        (l, _) => l.clone(),
    }
}

/// YAML for people: the one place the serializer is named.
fn yaml<T: serde::Serialize>(v: &T) -> String {
    crate::api::load::to_yaml(v).unwrap_or_default()
}

fn unified(old: &str, new: &str) -> String {
    unified_with(old, new, "live", "planned")
}

fn unified_with(old: &str, new: &str, from: &str, to: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(from, to)
        .to_string()
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_fields_do_not_count_as_differences() {
        let live = json!({
            "metadata": {"name": "a", "uid": "x", "resourceVersion": "7", "generation": 2,
                "creationTimestamp": "2026-12-01T00:00:00Z", "managedFields": [{"manager": "m"}],
                "labels": {"l": "1"}},
            "spec": {"a": 1}, "status": {"active": []},
        });
        let answer = json!({
            "metadata": {"name": "a", "uid": "x", "resourceVersion": "8", "generation": 3,
                "managedFields": [], "labels": {"l": "1"}},
            "spec": {"a": 1},
        });
        assert_eq!(
            without_server_fields(live.clone()),
            without_server_fields(answer)
        );
        let changed = json!({"metadata": {"name": "a", "labels": {"l": "2"}}, "spec": {"a": 1}});
        assert_ne!(without_server_fields(live), without_server_fields(changed));
    }

    #[test]
    fn projection_keeps_only_planned_fields() {
        let live = json!({"metadata": {"name": "a", "uid": "x"}, "spec": {"a": 1, "b": 2}});
        let desired = json!({"metadata": {"name": "a"}, "spec": {"a": 3}});
        assert_eq!(
            project(&live, &desired),
            json!({"metadata": {"name": "a"}, "spec": {"a": 1}})
        );
        let d = unified(&yaml(&project(&live, &desired)), &yaml(&desired));
        assert!(d.contains("-  a: 1") && d.contains("+  a: 3"), "{d}");
    }
}
