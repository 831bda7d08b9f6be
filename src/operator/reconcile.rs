//! The reconcile of one DataProduct: resolve → validate → plan → apply → status, each a small
//! step; the top level only records telemetry and dispatches through the finalizer helper.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{finalizer, Error as FinalizerError, Event as Finalizer};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{info, info_span, warn, Instrument};

use super::apply::{self, ApplyError, MANAGER};
use super::cloud::{CloudError, CloudOutcome, Due};
use super::context::Context;
use super::index;
use super::status::{self, Check};
use crate::api::{
    CatalogStatus, DataProduct, DataProductStatus, Endpoints, InventoryEntry, Phase, API_VERSION,
};
use crate::evaluate::{self, Facts, Refusal};
use crate::model::World;
use crate::plan::Plan;

pub use crate::api::constants::FINALIZER;

/// One error type per step; the variant name is the metric label.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("apply: {0}")]
    Apply(#[from] ApplyError),
    #[error("writing status: {0}")]
    Status(#[source] kube::Error),
    /// A Kubernetes delete of the cleanup that is retried (server error, network failure).
    #[error("cleanup: {0}")]
    Cleanup(#[source] ApplyError),
    /// The AWS step left something to retry.
    #[error("AWS: {0}")]
    Cloud(#[source] CloudError),
    /// The finalizer helper itself failed (adding or removing the finalizer); boxed because it
    /// is generic over this very type.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<FinalizerError<Error>>),
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Apply(_) => "apply",
            Error::Status(_) => "status",
            Error::Cleanup(_) => "cleanup",
            Error::Cloud(_) => "aws",
            Error::Finalizer(_) => "finalizer",
        }
    }
}

fn key_of(p: &DataProduct) -> String {
    format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any())
}

/// The controller's reconcile: thin on purpose.
pub async fn reconcile(product: Arc<DataProduct>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = key_of(&product);
    if !ctx
        .settings
        .watches(&product.namespace().unwrap_or_default())
    {
        // Outside the configured namespaces: someone else's to reconcile.
        return Ok(Action::await_change());
    }
    if !ctx.synced() {
        // A cache still filling would look like a missing template or child.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let span = info_span!("reconcile", product = %key, generation = product.metadata.generation.unwrap_or(0));
    let start = Instant::now();
    let api: Api<DataProduct> =
        Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
    let result = finalizer(&api, FINALIZER, product, |event| async {
        match event {
            Finalizer::Apply(p) => apply_product(&p, &ctx).await,
            Finalizer::Cleanup(p) => cleanup_product(&p, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| match e {
        FinalizerError::ApplyFailed(e) | FinalizerError::CleanupFailed(e) => e,
        other => Error::Finalizer(Box::new(other)),
    });
    ctx.metrics
        .reconcile_duration
        .observe(start.elapsed().as_secs_f64());
    if result.is_ok() {
        ctx.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }
    result
}

/// Transient failures back off exponentially per product, with jitter, capped at five minutes.
pub fn error_policy(product: Arc<DataProduct>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = key_of(&product);
    ctx.metrics.error(error.metric_label());
    let attempt = {
        let mut failures = ctx.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    let delay = backoff(attempt, fastrand::f64());
    warn!(product = %key, error = %error, attempt, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// `base · 2^(attempt-1)` capped at 300 s, scaled into [50 %, 100 %] by `jitter` ∈ [0, 1).
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = 2f64 * 2f64.powi(attempt.saturating_sub(1).min(16) as i32);
    let capped = base.min(300.0);
    Duration::from_secs_f64(capped * (0.5 + jitter.clamp(0.0, 1.0) / 2.0))
}

/// Everything the evaluation may look at for this product, from the caches (only related
/// products, so the cost does not grow with the number of products).
pub fn world_for(product: &DataProduct, ctx: &Context) -> World {
    World::around(product, &ctx.stores)
}

/// The one evaluation, with the facts the operator observes: the namespace's labels from the
/// cache (an unknown namespace has none) and today's date.
pub(super) fn evaluate(product: &DataProduct, ctx: &Context) -> Result<Plan, Refusal> {
    let namespace = product.namespace().unwrap_or_default();
    let labels = ctx.stores.namespace_labels(&namespace).unwrap_or_default();
    let facts = Facts {
        namespace_labels: Some(&labels),
        today: ctx.today(),
        observed: true,
    };
    evaluate::evaluate(product, &world_for(product, ctx), &facts)
}

/// What a step hands on: its result to the next step, or the reconcile's end.
enum Step<T> {
    Next(T),
    Done(Action),
}

/// Apply, as a chain of steps: evaluate → apply Kubernetes → prune → AWS progress → AWS →
/// final status. Every status comes from [`StatusBuilder`].
async fn apply_product(product: &DataProduct, ctx: &Context) -> Result<Action, Error> {
    let previous = previous_status(product, ctx);
    let build = StatusBuilder {
        product,
        previous: &previous,
        ctx,
    };
    let plan = match evaluate(product, ctx) {
        Ok(p) => p,
        Err(refusal) => return refuse(&build, &refusal).await,
    };
    let key = key_of(product);
    let mut checks = vec![Check::new(
        status::VALID,
        Some(true),
        "Valid",
        "the product follows every governance rule",
    )];
    let outcome = match apply_kubernetes(&build, &key, &plan, &checks).await? {
        Step::Next(o) => o,
        Step::Done(action) => return Ok(action),
    };
    checks.push(prune(&build, &plan, &outcome).await?);
    let cloud = ensure_cloud(&build, &key, &plan, &checks, &outcome).await?;
    finish(&build, &plan, &checks, &cloud, &outcome).await
}

/// The status the reconcile starts from. While the cache has not seen our last status write,
/// that write is the previous status: otherwise its transition times would be stamped again
/// and the same status written twice.
pub(super) fn previous_status(product: &DataProduct, ctx: &Context) -> DataProductStatus {
    let unseen = ctx.written.unseen(
        &key_of(product),
        product.metadata.resource_version.as_deref(),
    );
    if unseen.is_none() && product.status.is_some() {
        // The cache has caught up (or someone else wrote): nothing to remember any more.
        ctx.written.forget(&key_of(product));
    }
    unseen
        .or_else(|| product.status.clone())
        .unwrap_or_default()
}

/// Evaluation refused the product: nothing is created or changed; the product waits for its
/// spec (or the template, or its namespace) to change, which the watches report.
async fn refuse(build: &StatusBuilder<'_>, refusal: &Refusal) -> Result<Action, Error> {
    let message = refusal.message();
    let next = build.invalid(refusal.reason, &message);
    let event = if refusal.reason == "BreakingChange" {
        "BreakingChange"
    } else {
        "GovernanceViolation"
    };
    build
        .write(next, Some((EventType::Warning, event, message)))
        .await?;
    Ok(Action::await_change())
}

/// Applies the Kubernetes objects; a failure is reported in the status and either waits (a
/// conflict, a rejected object) or backs off.
async fn apply_kubernetes(
    build: &StatusBuilder<'_>,
    key: &str,
    plan: &Plan,
    checks: &[Check],
) -> Result<Step<apply::ApplyOutcome>, Error> {
    let e = match apply::apply(build.ctx, key, &plan.kubernetes).await {
        Ok(o) => return Ok(Step::Next(o)),
        Err(e) => e,
    };
    let conflict = e.is_conflict();
    let reason = if conflict { "Conflict" } else { "ApplyFailed" };
    let failed = Check::new(status::NAMESPACE_READY, Some(false), reason, e.to_string());
    let next = build.apply_failed(checks, failed);
    let event = conflict.then(|| (EventType::Warning, "Conflict", e.to_string()));
    build.write(next, event).await?;
    // A conflict waits for the other owner to let go, a rejected object for a change of spec or
    // template; the periodic resync retries both. Other failures back off.
    if conflict || e.is_rejection() {
        Ok(Step::Done(Action::requeue(build.ctx.settings.resync)))
    } else {
        Err(Error::Apply(e))
    }
}

/// Removes what the product applied before and no longer plans. Pruning works from the
/// recorded inventory, so its cost is the product's own object count; the look-up by labels in
/// the child caches is left to cleanup, where the namespace goes anyway.
async fn prune(
    build: &StatusBuilder<'_>,
    plan: &Plan,
    outcome: &apply::ApplyOutcome,
) -> Result<Check, Error> {
    let product = build.product;
    apply::prune(
        build.ctx,
        &product.namespace().unwrap_or_default(),
        &product.name_any(),
        &build.previous.inventory,
        &outcome.inventory,
        false,
    )
    .await?;
    Ok(Check::new(
        status::NAMESPACE_READY,
        Some(true),
        "Provisioned",
        format!(
            "namespace {} and its policies are applied",
            plan.names.namespace
        ),
    ))
}

/// The AWS step, after showing its progress when it is about to do real work.
async fn ensure_cloud(
    build: &StatusBuilder<'_>,
    key: &str,
    plan: &Plan,
    checks: &[Check],
    outcome: &apply::ApplyOutcome,
) -> Result<CloudOutcome, Error> {
    let Some(cloud) = &build.ctx.aws else {
        return Ok(CloudOutcome::not_configured());
    };
    let uid = build.product.uid().unwrap_or_default();
    show_progress(
        build,
        cloud.due(key, &uid, &plan.aws),
        plan,
        checks,
        outcome,
    )
    .await?;
    Ok(cloud.ensure(key, &uid, &plan.aws).await)
}

/// Status is the user's only window: before a slow AWS step that does real work, show that the
/// Kubernetes side is in place and AWS is on its way. A periodic re-observation of a Ready
/// product shows nothing (and writes nothing).
async fn show_progress(
    build: &StatusBuilder<'_>,
    due: Due,
    plan: &Plan,
    checks: &[Check],
    outcome: &apply::ApplyOutcome,
) -> Result<(), Error> {
    let reobserve = due == Due::Resync && build.previous.phase == Some(Phase::Ready);
    if due == Due::Fresh || reobserve {
        return Ok(());
    }
    let progress = CloudOutcome::provisioning(&build.previous.conditions);
    let next = build.provisioned(plan, checks, &progress, outcome);
    build.write(next, None).await.map(|_| ())
}

/// The final status, and what comes next: a retryable AWS failure backs off, otherwise the
/// product is observed again after the resync interval.
async fn finish(
    build: &StatusBuilder<'_>,
    plan: &Plan,
    checks: &[Check],
    cloud: &CloudOutcome,
    outcome: &apply::ApplyOutcome,
) -> Result<Action, Error> {
    let next = build.provisioned(plan, checks, cloud, outcome);
    let told = input_events(build.previous, &next);
    let waiting = plan
        .gated
        .iter()
        .map(|g| format!("; {}", g.message))
        .collect::<String>();
    let event = (next.phase == Some(Phase::Ready)).then(|| {
        (
            EventType::Normal,
            "Provisioned",
            format!(
                "namespace {}, {} Kubernetes objects and {} AWS resources are in place{waiting}",
                plan.names.namespace,
                plan.kubernetes.len(),
                plan.aws.len()
            ),
        )
    });
    if build.write(next, event).await? {
        for (type_, reason, note) in told {
            publish(build.ctx, build.product, type_, reason, &note).await;
        }
    }
    if cloud.transient {
        return Err(Error::Cloud(CloudError::ensure(cloud)));
    }
    let settings = &build.ctx.settings;
    Ok(Action::requeue(settings.resync.min(settings.aws_resync)))
}

/// The one place the next status of an applied (or refused) product is assembled.
struct StatusBuilder<'a> {
    product: &'a DataProduct,
    previous: &'a DataProductStatus,
    ctx: &'a Context,
}

impl StatusBuilder<'_> {
    /// Every condition: Ready first, then the checks, then the kstatus conditions of `phase`.
    fn all(phase: Phase, ready: Check, checks: impl IntoIterator<Item = Check>) -> Vec<Check> {
        let kstatus = status::kstatus(phase, &ready);
        std::iter::once(ready)
            .chain(checks)
            .chain(kstatus)
            .collect()
    }

    /// The previous status with a new phase and these conditions merged into its own: what
    /// the product reported otherwise (outputs, buckets, other conditions) stays.
    fn kept(&self, phase: Phase, all: &[Check]) -> DataProductStatus {
        let generation = self.product.metadata.generation;
        let previous = &self.previous.conditions;
        let mut next = self.previous.clone();
        next.observed_generation = generation;
        next.phase = Some(phase);
        next.conditions = status::merge(
            previous,
            status::conditions(previous, all, generation, self.ctx.now()),
        );
        next.consumers = self.consumers();
        next
    }

    /// Who reads the product now, from the caches; the admission policy reads it on delete.
    fn consumers(&self) -> Vec<crate::api::ActiveConsumer> {
        let stores = &self.ctx.stores;
        let me = World::product_ref(self.product);
        let id = me.to_string();
        evaluate::consumers::active(
            &me,
            stores
                .products
                .find(&index::reads(&id))
                .iter()
                .map(|p| &**p),
            stores
                .accesses
                .find(&index::requests(&id))
                .iter()
                .map(|a| &**a),
        )
    }

    /// Refused by evaluation: Invalid, not Valid, not Ready.
    fn invalid(&self, reason: &str, message: &str) -> DataProductStatus {
        let valid = Check::new(status::VALID, Some(false), reason, message);
        let ready = Check::new(status::READY, Some(false), reason, message);
        self.kept(Phase::Invalid, &Self::all(Phase::Invalid, ready, [valid]))
    }

    /// The Kubernetes side could not be applied: `failed` is its NamespaceReady condition.
    fn apply_failed(&self, checks: &[Check], failed: Check) -> DataProductStatus {
        let mut checks = checks.to_vec();
        checks.push(failed);
        let ready = status::ready(&checks);
        let phase = status::phase(true, &ready, false);
        self.kept(phase, &Self::all(phase, ready, checks))
    }

    /// The Kubernetes side is applied, with the AWS step's state (done, failed, or still to
    /// come).
    fn provisioned(
        &self,
        plan: &Plan,
        kubernetes: &[Check],
        cloud: &CloudOutcome,
        outcome: &apply::ApplyOutcome,
    ) -> DataProductStatus {
        let (product, previous, ctx) = (self.product, self.previous, self.ctx);
        let generation = product.metadata.generation;
        let names = &plan.names;
        let mut checks = kubernetes.to_vec();
        checks.push(cloud.storage.clone());
        checks.push(cloud.catalog.clone());
        let held = if plan.gated.is_empty() {
            String::new()
        } else {
            format!(
                "; {} suspended until their inputs are ready",
                plan.gated
                    .iter()
                    .map(|g| g.pipeline.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        checks.push(Check::new(
            status::PIPELINES_READY,
            Some(true),
            "Scheduled",
            format!(
                "{} pipeline(s) scheduled as CronJobs{held}",
                product.spec.pipelines.len()
            ),
        ));
        checks.push(cloud.access.clone());
        let ready = status::ready(&checks);
        let phase = status::phase(true, &ready, false);
        let mut all = Self::all(phase, ready, checks);
        all.push(inputs_ready(plan));

        // The catalogue and its SQL endpoint are told only once CatalogReady is True: a database
        // that is missing, or that belongs to someone else (a conflict), is not advertised.
        let catalog_ready = cloud.catalog.ok == Some(true);
        let tables: Vec<String> = names.tables.iter().map(|(_, t)| t.clone()).collect();
        DataProductStatus {
            observed_generation: generation,
            phase: Some(phase),
            conditions: observed_kept(
                &previous.conditions,
                status::conditions(&previous.conditions, &all, generation, ctx.now()),
            ),
            namespace: Some(names.namespace.clone()),
            stage: names.stage.clone(),
            // While the AWS step runs, what it last reported stays.
            buckets: if cloud.pending {
                previous.buckets.clone()
            } else {
                cloud.buckets.clone()
            },
            catalog: if cloud.pending {
                previous.catalog.clone()
            } else {
                catalog_ready.then(|| CatalogStatus {
                    database: names.database.clone(),
                    tables: tables.clone(),
                })
            },
            endpoints: if cloud.pending {
                previous.endpoints.clone()
            } else {
                (catalog_ready && !tables.is_empty()).then(|| Endpoints {
                    sql: Some(format!(
                        "SELECT * FROM {}.{} LIMIT 10",
                        names.database, tables[0]
                    )),
                })
            },
            outputs: evaluate::published_outputs(
                &product.spec.outputs,
                &previous.outputs,
                ctx.today(),
            ),
            inventory: outcome.inventory.clone(),
            consumers: self.consumers(),
            // In place only when the whole AWS side is: a foreign table left out of the grants
            // shows in CatalogReady, bucket-policy grants are written with the buckets.
            grants: if cloud.pending {
                previous.grants.clone()
            } else if [&cloud.storage, &cloud.catalog, &cloud.access]
                .iter()
                .all(|c| c.ok == Some(true))
            {
                grants_in_place(plan)
            } else {
                // Not known to be in place: the requests they serve wait (Approved).
                Vec::new()
            },
            inputs: plan.inputs.clone(),
        }
    }

    /// Whether it was written.
    async fn write(
        &self,
        next: DataProductStatus,
        event: Option<(EventType, &str, String)>,
    ) -> Result<bool, Error> {
        write_status(self.product, self.ctx, self.previous, next, event).await
    }
}

/// Writes the status when it changed (server-side apply on the status subresource, so fields we
/// stop setting disappear), and publishes `event` when the phase or reason changed. Says
/// whether it wrote.
pub(super) async fn write_status(
    product: &DataProduct,
    ctx: &Context,
    previous: &DataProductStatus,
    next: DataProductStatus,
    event: Option<(EventType, &str, String)>,
) -> Result<bool, Error> {
    let key = key_of(product);
    ctx.metrics.set_phase(&key, next.phase);
    let version = product.metadata.resource_version.clone();
    if !status::changed(product.status.as_ref(), &next)
        || ctx.written.already(&key, version.as_deref(), &next)
    {
        return Ok(false);
    }
    let transition = previous.phase != next.phase || ready_reason(previous) != ready_reason(&next);
    let api: Api<DataProduct> =
        Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
    let patch = json!({"apiVersion": API_VERSION, "kind": "DataProduct", "status": &next});
    api.patch_status(
        &product.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::Status)?;
    ctx.metrics.write("status");
    ctx.written.record(&key, version, next);
    if let (true, Some((type_, reason, note))) = (transition, event) {
        publish(ctx, product, type_, reason, &note).await;
    }
    Ok(true)
}

/// `InputsReady`: True when no pipeline waits, False with the reason of the first held pipeline
/// and every held pipeline named. Reported besides `Ready`, not in it.
fn inputs_ready(plan: &Plan) -> Check {
    match plan.gated.first() {
        None if plan.inputs.is_empty() => Check::new(
            status::INPUTS_READY,
            Some(true),
            "NoInputs",
            "the product reads no other product",
        ),
        None if plan.inputs.iter().any(|i| !i.ready) => Check::new(
            status::INPUTS_READY,
            Some(true),
            "NotWaiting",
            format!(
                "no pipeline waits (waitForInputs: false, or none reads them), although not ready: {}",
                plan.inputs
                    .iter()
                    .filter_map(|i| i.message.as_deref())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
        None => Check::new(
            status::INPUTS_READY,
            Some(true),
            "InputsReady",
            format!(
                "every input from another product is ready: {}",
                plan.inputs
                    .iter()
                    .map(|i| format!("{} {}", i.product, i.output))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Some(first) => Check::new(
            status::INPUTS_READY,
            Some(false),
            first.reason,
            plan.gated
                .iter()
                .map(|g| g.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

/// What consumers are told when their inputs change: a Warning when a pipeline starts to wait
/// or a producer announces a deprecation, a Normal event when the pipelines resume. Computed
/// from the status before and after, so each is said once.
fn input_events(
    previous: &DataProductStatus,
    next: &DataProductStatus,
) -> Vec<(EventType, &'static str, String)> {
    let mut events = Vec::new();
    for i in &next.inputs {
        let Some(d) = &i.deprecation else { continue };
        let before = previous
            .inputs
            .iter()
            .find(|b| b.product == i.product && b.output == i.output)
            .and_then(|b| b.deprecation.as_ref());
        if before != Some(d) {
            let replacement = d.move_to();
            let why = d
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            events.push((
                EventType::Warning,
                "InputDeprecated",
                format!(
                    "{} output {} is deprecated{why}: it goes away after {}{replacement}",
                    i.product, i.output, d.sunset
                ),
            ));
        }
    }
    let condition = |s: &DataProductStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == status::INPUTS_READY)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    match (condition(previous), condition(next)) {
        // A new product's first status says it in its Provisioned event instead (one Event
        // per product created, not two).
        (Some(before), Some((s, reason, message)))
            if s == "False" && (&before.1, &before.2) != (&reason, &message) =>
        {
            events.push((EventType::Warning, "InputsNotReady", message));
        }
        (Some((b, _, _)), Some((s, _, message))) if b == "False" && s == "True" => {
            events.push((
                EventType::Normal,
                "InputsReady",
                format!("pipelines resume: {message}"),
            ));
        }
        _ => {}
    }
    events
}

/// Conditions the reconcile does not compute (the freshness observation's `Fresh`) stay as
/// last observed, after the computed ones.
fn observed_kept(
    previous: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    mut computed: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    computed.extend(
        previous
            .iter()
            .filter(|c| c.type_ == status::FRESH)
            .cloned(),
    );
    computed
}

fn ready_reason(s: &DataProductStatus) -> Option<&str> {
    s.conditions
        .iter()
        .find(|c| c.type_ == status::READY)
        .map(|c| c.reason.as_str())
}

/// The grants of `plan` that AccessReady True says are in place: those with a principal (a
/// grant to a consumer product that has no role yet waits, and is not in place).
fn grants_in_place(plan: &Plan) -> Vec<crate::api::GrantInPlace> {
    let mut out: Vec<crate::api::GrantInPlace> = plan
        .aws
        .iter()
        .filter_map(|r| match r {
            crate::plan::AwsResource::AccessGrant(g) if g.spec.grantee.principal.is_some() => {
                let grantee = g.spec.grantee.product.clone().or(g
                    .spec
                    .grantee
                    .principal
                    .clone())?;
                let mut tables: Vec<String> = g
                    .spec
                    .tables
                    .iter()
                    .map(|t| format!("{}.{t}", g.spec.database))
                    .collect();
                tables.sort();
                Some(crate::api::GrantInPlace { grantee, tables })
            }
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// Events are best effort: a failure to record one is logged, never fails the reconcile. The
/// event is about `object` (a product, or an access request) and lands in its namespace.
pub(super) async fn publish<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    object: &K,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note.to_string()),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    match ctx.recorder.publish(&event, &object.object_ref(&())).await {
        Ok(()) => ctx.metrics.write("event"),
        Err(e) => warn!(error = %e, reason, "could not record event"),
    }
}

async fn cleanup_product(product: &DataProduct, ctx: &Context) -> Result<Action, Error> {
    let key = key_of(product);
    let (product_ns, product_name) = (product.namespace().unwrap_or_default(), product.name_any());
    let previous = product.status.clone().unwrap_or_default();
    let mut note = String::new();
    if previous.phase != Some(Phase::Deleting) {
        // Tell users (kubectl, Argo CD) what is happening while cleanup runs.
        let deleting = Check::new(status::READY, Some(false), "Deleting", "the product is being deleted; its resources are being removed per the template's deletion policy");
        let mut next = previous.clone();
        next.phase = Some(Phase::Deleting);
        next.conditions = status::merge(
            &previous.conditions,
            status::conditions(
                &previous.conditions,
                &[deleting],
                product.metadata.generation,
                ctx.now(),
            ),
        );
        write_status(product, ctx, &previous, next, None).await?;
    }

    // Cloud first: it needs the plan, which needs the template. When the template is gone, cloud
    // resources are left in place (never deleted by guesswork) and the Event says so.
    if let Some(cloud) = &ctx.aws {
        match evaluate::plan_for_cleanup(product, &world_for(product, ctx)) {
            Some(plan) => {
                let report = cloud
                    .cleanup(
                        &key,
                        product.uid().as_deref().unwrap_or_default(),
                        &plan.aws,
                    )
                    .await;
                if !report.done {
                    if report.transient {
                        return Err(Error::Cloud(CloudError::Cleanup {
                            remains: report.message,
                        }));
                    }
                    publish(
                        ctx,
                        product,
                        EventType::Warning,
                        "DeletionBlocked",
                        &report.message,
                    )
                    .await;
                }
                if !report.retained.is_empty() {
                    // Data that could not be deleted stays, and the product still goes.
                    let kept = report.retained.join(", ");
                    publish(
                        ctx,
                        product,
                        EventType::Warning,
                        "DeletionBlocked",
                        &format!("left in place: {kept}"),
                    )
                    .await;
                    note = format!("; kept in AWS: {kept}");
                }
            }
            None => {
                note = "; AWS resources were left in place because the product could not be planned (its template is gone or its names cannot be derived)".to_string();
            }
        }
    }

    // Kubernetes: every object of the inventory and every object the caches show as the
    // product's. Missing objects are fine; objects that are not ours are never deleted.
    let mut keys: Vec<InventoryEntry> = previous.inventory.clone();
    if let Some(ns) = &previous.namespace {
        keys.push(InventoryEntry {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: ns.clone(),
        });
    }
    if let Err(e) = apply::prune(ctx, &product_ns, &product_name, &keys, &[], true).await {
        tolerate(ctx, product, e).await?;
    }
    for k in owned_namespaces(ctx, &key) {
        if let Err(e) = apply::delete_if_owned(ctx, &key, &k).await {
            tolerate(ctx, product, e).await?;
        }
    }
    ctx.metrics.set_phase(&key, None);
    ctx.written.forget(&key);
    info!(product = %key, "cleaned up");
    publish(
        ctx,
        product,
        EventType::Normal,
        "Deleted",
        &format!("the product's Kubernetes objects were removed{note}"),
    )
    .await;
    Ok(Action::await_change())
}

/// The namespaces the caches show as the product's (`<namespace>/<name>`).
fn owned_namespaces(ctx: &Context, product: &str) -> Vec<crate::api::InventoryEntry> {
    ctx.stores
        .namespaces
        .state()
        .iter()
        .filter(|n| {
            super::meta_cache::MetaSummary::of(&n.metadata)
                .owner
                .as_deref()
                == Some(product)
        })
        .map(|n| crate::api::InventoryEntry {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: n.metadata.name.clone().unwrap_or_default(),
        })
        .collect()
}

/// Deletes every Kubernetes object the caches show with the product's ownership labels, its
/// namespaces included: the cleanup of a product whose spec cannot be read, so it has no plan.
pub async fn cleanup_by_labels(ctx: &Context, namespace: &str, name: &str) -> Result<(), Error> {
    let key = format!("{namespace}/{name}");
    apply::prune(ctx, namespace, name, &[], &[], true)
        .await
        .map_err(Error::Cleanup)?;
    for k in owned_namespaces(ctx, &key) {
        apply::delete_if_owned(ctx, &key, &k)
            .await
            .map_err(Error::Cleanup)?;
    }
    ctx.metrics.set_phase(&key, None);
    ctx.written.forget(&key);
    Ok(())
}

/// During cleanup, a delete the API refuses for good (forbidden, invalid) must not hold the
/// finalizer forever: it is reported and cleanup goes on. Server errors and network failures are
/// retried.
async fn tolerate(ctx: &Context, product: &DataProduct, e: ApplyError) -> Result<(), Error> {
    let retry = match &e {
        ApplyError::Kube {
            source: kube::Error::Api(s),
            ..
        } => s.code >= 500 || s.code == 429,
        ApplyError::Kube { .. } => true,
        ApplyError::Conflict { .. } | ApplyError::UnknownKind(_) => false,
    };
    if retry {
        return Err(Error::Cleanup(e));
    }
    publish(
        ctx,
        product,
        EventType::Warning,
        "DeletionBlocked",
        &format!("could not delete, left in place: {e}"),
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        assert_eq!(backoff(1, 0.999_999).as_secs(), 1);
        assert!(backoff(3, 0.0) == Duration::from_secs(4));
        assert!(backoff(30, 0.999_999) <= Duration::from_secs(300));
        assert!(backoff(30, 0.0) >= Duration::from_secs(150));
    }
}
