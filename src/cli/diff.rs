//! `dpctl diff`: what applying these products (or templates) would change in a live cluster,
//! object by object — the plan-before-apply GitOps reviewers ask for. Read-only.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use kube::api::Api;
use kube::{Client, ResourceExt};
use serde_json::Value;

use super::documents;
use super::run::{client, runtime};
use super::{InputArgs, EXIT_INPUT};
use crate::api::{DataProduct, DataProductTemplate};
use crate::cluster::compare::contains;
use crate::cluster::{api_resource, dynamic_api};
use crate::evaluate::{evaluate, Facts};
use crate::plan::KubeObject;

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Kubeconfig to use; the current context when unset.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
}

/// Exit codes follow `kubectl diff`: 0 no differences, 1 differences, >1 errors.
pub fn execute(args: &DiffArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(mut inputs) = documents::load(&args.input, err) else {
        return EXIT_INPUT;
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            return EXIT_INPUT;
        }
    };
    let today = args.input.today();
    let result = rt.block_on(async {
        let client = client(args.kubeconfig.as_ref()).await?;
        let templates: Api<DataProductTemplate> = Api::all(client.clone());
        let mut text = String::new();
        let mut differs = false;
        // Templates given in files: compare with the live template and name affected products.
        for (t, _) in &inputs.templates {
            let name = t.name_any();
            match templates.get_opt(&name).await.map_err(|e| e.to_string())? {
                None => {
                    differs = true;
                    text.push_str(&format!("+ DataProductTemplate {name} (new)\n"));
                }
                Some(live) if live.spec == t.spec => text.push_str(&format!("= DataProductTemplate {name}\n")),
                Some(live) => {
                    differs = true;
                    text.push_str(&format!("~ DataProductTemplate {name}\n"));
                    text.push_str(&unified(&yaml(&live.spec), &yaml(&t.spec)));
                    let products: Api<DataProduct> = Api::all(client.clone());
                    let users: Vec<String> = products
                        .list(&Default::default())
                        .await
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .filter(|p| p.spec.template == name)
                        .map(|p| format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()))
                        .collect();
                    text.push_str(&format!("  re-plans {} product(s): {}\n", users.len(), users.join(", ")));
                }
            }
        }
        // Templates the products need but the files lack come from the cluster.
        let needed: Vec<String> = inputs.world.products.values().map(|p| p.spec.template.clone()).collect();
        for name in needed {
            if !inputs.world.templates.contains_key(&name) {
                if let Some(t) = templates.get_opt(&name).await.map_err(|e| e.to_string())? {
                    inputs.world.add_template(t);
                }
            }
        }
        for (r, _) in &inputs.products {
            let product = &inputs.world.products[r];
            let planned = match evaluate(product, &inputs.world, &Facts::offline(today)) {
                Ok(p) => p,
                Err(refusal) => {
                    differs = true;
                    text.push_str(&format!("! DataProduct {r} is invalid; the operator would provision nothing:\n"));
                    for v in refusal.violations {
                        text.push_str(&format!("    {v}\n"));
                    }
                    continue;
                }
            };
            text.push_str(&format!("# DataProduct {r}\n"));
            differs |= diff_objects(&client, &planned.kubernetes, &mut text).await?;
            // What the operator applied before and would now prune.
            let api: Api<DataProduct> = Api::namespaced(client.clone(), &r.namespace);
            if let Some(live) = api.get_opt(&r.name).await.map_err(|e| e.to_string())? {
                let desired: Vec<_> = planned.kubernetes.iter().map(|o| o.key()).collect();
                for e in live.status.map(|s| s.inventory).unwrap_or_default() {
                    if !desired.iter().any(|k| k.kind == e.kind && k.name == e.name && k.namespace == e.namespace) {
                        differs = true;
                        text.push_str(&format!("- {} {}/{} (no longer desired; pruned)\n", e.kind, e.namespace.unwrap_or_default(), e.name));
                    }
                }
            }
            text.push_str(&format!("  {} AWS resources planned (see dpctl plan); the operator reconciles them against AWS\n", planned.aws.len()));
        }
        Ok::<_, String>((text, differs))
    });
    match result {
        Ok((text, differs)) => {
            let _ = out.write_all(text.as_bytes());
            u8::from(differs)
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            EXIT_INPUT
        }
    }
}

async fn diff_objects(
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

fn yaml<T: serde::Serialize>(v: &T) -> String {
    crate::api::load::to_yaml(v).unwrap_or_default()
}

fn unified(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header("live", "planned")
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
