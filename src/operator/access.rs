//! The DataProductAccess controller: tells the consumer where its request stands. Granting is the
//! producer's reconcile (its plan holds the grants); this only computes and publishes the phase.

use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::ResourceExt;
use serde_json::json;

use super::apply::MANAGER;
use super::context::Context;
use super::status::{self, Check};
use crate::api::{
    AccessPhase, DataProductAccess, DataProductAccessStatus, ProductRef, API_VERSION,
};
use crate::evaluate::access::{access_ready, decide};
use crate::model::World;

/// Reconciles one access request's status.
pub async fn reconcile(
    access: Arc<DataProductAccess>,
    ctx: Arc<Context>,
) -> Result<Action, super::reconcile::Error> {
    if !ctx
        .settings
        .watches(&access.namespace().unwrap_or_default())
    {
        return Ok(Action::await_change());
    }
    if !ctx.synced() {
        return Ok(Action::requeue(std::time::Duration::from_secs(1)));
    }
    let mut world = World::default();
    let mut producer_ready = false;
    if let Some(r) = ProductRef::parse(&access.spec.product) {
        if let Some(p) = ctx.stores.product(&r.namespace, &r.name) {
            producer_ready = access_ready(&p);
            if let Some(t) = ctx.stores.template(&p.spec.template) {
                world.add_template((*t).clone());
            }
            world.add_product((*p).clone());
        }
    }
    let key = format!(
        "{}/{}",
        access.namespace().unwrap_or_default(),
        access.name_any()
    );
    let cached_version = access.metadata.resource_version.clone();
    // A cache that has not seen our last write yet would make a Granted request look new (and
    // never Revoked): what we wrote is the previous state then.
    let current = ctx
        .access_written
        .unseen(&key, cached_version.as_deref())
        .or_else(|| access.status.clone());
    let previous = current.clone().unwrap_or_default();
    let decision = decide(&access, &world, producer_ready, previous.phase, ctx.today());
    let check = Check::new(
        status::READY,
        Some(decision.phase == AccessPhase::Granted),
        decision.reason,
        decision.message.clone(),
    );
    let next = DataProductAccessStatus {
        observed_generation: access.metadata.generation,
        phase: Some(decision.phase),
        conditions: status::conditions(
            &previous.conditions,
            &[check],
            access.metadata.generation,
            ctx.now(),
        ),
        granted_tables: decision.tables,
        deprecations: decision.deprecations,
    };
    if current.as_ref() != Some(&next) {
        let told: Vec<String> = next
            .deprecations
            .iter()
            .filter(|d| !previous.deprecations.contains(d))
            .map(|d| {
                let replacement = d
                    .replaced_by
                    .as_deref()
                    .map(|r| format!("; move to {r}"))
                    .unwrap_or_default();
                if d.retired {
                    format!(
                        "{} output {} was retired after its sunset on {}; its grant is removed{replacement}",
                        access.spec.product, d.output, d.sunset
                    )
                } else {
                    format!(
                        "{} output {} is deprecated: it goes away after {}{replacement}",
                        access.spec.product, d.output, d.sunset
                    )
                }
            })
            .collect();
        let api: Api<DataProductAccess> =
            Api::namespaced(ctx.client.clone(), &access.namespace().unwrap_or_default());
        let patch = json!({"apiVersion": API_VERSION, "kind": "DataProductAccess", "status": next});
        api.patch_status(
            &access.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(super::reconcile::Error::Status)?;
        ctx.metrics.write("status");
        ctx.access_written.record(&key, cached_version, next);
        // The consumer is told in its own namespace.
        for note in told {
            super::reconcile::publish(
                &ctx,
                &*access,
                kube::runtime::events::EventType::Warning,
                "InputDeprecated",
                &note,
            )
            .await;
        }
    }
    Ok(Action::requeue(ctx.settings.resync))
}

pub fn error_policy(
    _: Arc<DataProductAccess>,
    error: &super::reconcile::Error,
    ctx: Arc<Context>,
) -> Action {
    ctx.metrics.error(error.metric_label());
    Action::requeue(super::reconcile::backoff(3, fastrand::f64()))
}
