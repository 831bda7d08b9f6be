//! Observed freshness, every `--freshness-interval`: for each Ready product, read its writers'
//! CronJob status (one list of the product's own CronJobs, not a cache of full CronJobs) and,
//! with AWS, the newest object and partition of each output; then let the pure decision
//! ([`crate::evaluate::freshness`]) say what to publish. Writes the status only when something
//! changed; raises an Event when an output turns stale or recovers.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use k8s_openapi::api::batch::v1::CronJob;
use kube::api::{Api, ListParams};
use kube::runtime::events::EventType;
use kube::ResourceExt;
use tracing::{debug, warn};

use super::context::Context;
use super::reconcile;
use super::status::{self, Check};
use super::telemetry::OutputLabels;
use crate::api::{labels, DataProduct};
use crate::aws::freshness::OutputLocation;
use crate::evaluate::freshness::{self as decide, Observed, Signal, Source};
use crate::plan::AwsResource;

/// Why one product's observation failed (the next interval tries again).
#[derive(Debug, thiserror::Error)]
pub enum FreshnessError {
    #[error("writing status: {0}")]
    Status(#[from] reconcile::Error),
}

/// Observes every product once per interval until `shutdown`. The first round waits one
/// interval: products are being provisioned at start, and only Ready products are observed.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send) {
    let every = ctx.settings.freshness_interval;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    // The outputs whose age series may exist; a series of a deleted product or a removed output
    // is dropped, so /metrics does not report ages of what no longer exists.
    let mut declared: HashSet<OutputLabels> = HashSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        if !ctx.synced() {
            continue;
        }
        let products: Vec<_> = ctx
            .stores
            .products
            .state()
            .into_iter()
            .filter(|p| ctx.settings.watches(&p.namespace().unwrap_or_default()))
            .collect();
        let now_declared = declared_outputs(products.iter().map(|p| &**p));
        for gone in declared.difference(&now_declared) {
            ctx.metrics.output_age_seconds.remove(gone);
        }
        declared = now_declared;
        for product in products {
            if let Err(e) = observe(&product, &ctx).await {
                warn!(product = %format!("{}/{}", product.namespace().unwrap_or_default(), product.name_any()), error = %e, "freshness observation failed");
            }
        }
    }
}

/// The age series every output of these products may have.
fn declared_outputs<'a>(products: impl Iterator<Item = &'a DataProduct>) -> HashSet<OutputLabels> {
    products
        .flat_map(|p| {
            let (namespace, product) = (p.namespace().unwrap_or_default(), p.name_any());
            p.spec.outputs.iter().map(move |o| OutputLabels {
                namespace: namespace.clone(),
                product: product.clone(),
                output: o.name.clone(),
            })
        })
        .collect()
}

/// The last successful run of each of the product's CronJobs, by name.
async fn last_runs(
    ctx: &Context,
    namespace: &str,
    product: &DataProduct,
) -> BTreeMap<String, jiff::Timestamp> {
    let api: Api<CronJob> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!(
        "{}={},{}={}",
        labels::PRODUCT,
        product.name_any(),
        labels::PRODUCT_NAMESPACE,
        product.namespace().unwrap_or_default()
    );
    match api.list(&ListParams::default().labels(&selector)).await {
        Ok(list) => list
            .items
            .into_iter()
            .filter_map(|c| {
                let at = c.status.as_ref()?.last_successful_time.as_ref()?.0;
                Some((c.name_any(), at))
            })
            .collect(),
        Err(e) => {
            // Without CronJob status the other signals still decide.
            warn!(namespace, error = %e, "could not list the product's CronJobs");
            BTreeMap::new()
        }
    }
}

/// One observation of one product. Returns whether the status was written.
pub async fn observe(product: &DataProduct, ctx: &Context) -> Result<bool, FreshnessError> {
    let previous = reconcile::previous_status(product, ctx);
    let ready_since = previous
        .conditions
        .iter()
        .find(|c| c.type_ == status::READY && c.status == "True")
        .map(|c| c.last_transition_time.0);
    let (Some(ready_since), Some(namespace)) = (ready_since, previous.namespace.clone()) else {
        // Only a provisioned product has outputs to observe.
        return Ok(false);
    };
    let Ok(plan) = reconcile::evaluate(product, ctx) else {
        return Ok(false);
    };
    let now = ctx.now();
    let slo = decide::slo_seconds(product);
    let runs = last_runs(ctx, &namespace, product).await;
    let writers = decide::writers(product, &plan.names.id);
    let mut observed: BTreeMap<String, Observed> = BTreeMap::new();
    for output in &product.spec.outputs {
        let mut signals: Vec<Signal> = writers
            .get(&output.name)
            .into_iter()
            .flatten()
            .filter_map(|cron| runs.get(cron))
            .map(|at| Signal {
                source: Source::CronJob,
                at: *at,
            })
            .collect();
        if let (Some(cloud), Some(at)) = (&ctx.aws, location(&plan, &output.name)) {
            let found = cloud.observe_output(&at).await;
            for e in &found.errors {
                debug!(output = %output.name, error = %e, "freshness signal missing");
            }
            signals.extend(found.s3.map(|at| Signal {
                source: Source::S3Object,
                at,
            }));
            signals.extend(found.glue.map(|at| Signal {
                source: Source::GluePartition,
                at,
            }));
        }
        let o = decide::decide(&signals, slo, Some(ready_since), now);
        if let Some(age) = o.age_seconds(now) {
            ctx.metrics.output_age(
                &product.namespace().unwrap_or_default(),
                &product.name_any(),
                &output.name,
                age,
            );
        }
        observed.insert(output.name.clone(), o);
    }

    let mut next = previous.clone();
    next.outputs = decide::publish(&previous.outputs, &observed);
    let (ok, reason, message) = decide::condition(&observed, slo, now);
    let computed = status::conditions(
        &previous.conditions,
        &[Check::new(status::FRESH, ok, reason, message)],
        product.metadata.generation,
        now,
    );
    // In place, so an unchanged condition leaves the status byte for byte as it was.
    for c in computed {
        match next.conditions.iter_mut().find(|p| p.type_ == c.type_) {
            Some(p) => *p = c,
            None => next.conditions.push(c),
        }
    }
    if next == previous {
        return Ok(false);
    }
    let (stale, recovered) = decide::transitions(&previous.outputs, &next.outputs);
    reconcile::write_status(product, ctx, &previous, next.clone(), None).await?;
    for name in stale {
        let age = observed
            .get(&name)
            .and_then(|o| o.age_seconds(now))
            .map(|a| format!("last updated {} ago", decide::human(a)))
            .unwrap_or_else(|| "never updated".to_string());
        let slo = slo.map(|s| decide::human(s as i64)).unwrap_or_default();
        reconcile::publish(
            ctx,
            product,
            EventType::Warning,
            "OutputStale",
            &format!("output {name} is stale: {age}, SLO {slo}"),
        )
        .await;
    }
    for name in recovered {
        reconcile::publish(
            ctx,
            product,
            EventType::Normal,
            "OutputFresh",
            &format!("output {name} is fresh again"),
        )
        .await;
    }
    Ok(true)
}

/// Where an output's table keeps its data, from the plan.
fn location(plan: &crate::plan::Plan, output: &str) -> Option<OutputLocation> {
    let table = plan
        .names
        .tables
        .iter()
        .find(|(o, _)| o == output)
        .map(|(_, t)| t)?;
    plan.aws.iter().find_map(|r| match r {
        AwsResource::GlueTable(d) if &d.metadata.name == table => {
            OutputLocation::of(table, &d.spec)
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::telemetry::Metrics;

    fn product(ns: &str, name: &str, outputs: &[&str]) -> DataProduct {
        let mut p = DataProduct::new(name, Default::default());
        p.metadata.namespace = Some(ns.into());
        p.spec.outputs = outputs
            .iter()
            .map(|o| crate::api::Output {
                name: o.to_string(),
                ..Default::default()
            })
            .collect();
        p
    }

    /// The series of a removed output or a deleted product leave /metrics with the round that
    /// no longer sees them; those of products still declared stay.
    #[test]
    fn age_series_of_what_is_gone_are_dropped() {
        let metrics = Metrics::default();
        let before = [product("m", "a", &["x", "y"]), product("m", "b", &["z"])];
        for p in &before {
            for o in &p.spec.outputs {
                metrics.output_age("m", &p.name_any(), &o.name, 60);
            }
        }
        let after = [product("m", "a", &["x"])];
        let (was, now) = (
            declared_outputs(before.iter()),
            declared_outputs(after.iter()),
        );
        for gone in was.difference(&now) {
            metrics.output_age_seconds.remove(gone);
        }
        let text = metrics.render();
        assert!(text.contains(r#"output="x""#), "{text}");
        assert!(!text.contains(r#"output="y""#), "{text}");
        assert!(!text.contains(r#"product="b""#), "{text}");
    }
}
