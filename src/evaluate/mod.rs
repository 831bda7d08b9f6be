//! The one evaluation every consumer of a product runs: (product, template, world, observed
//! facts, today) → the plan, or a refusal with every violation that stops it. `dpctl plan`,
//! `validate`, `diff`, the catalogue and the operator's reconcile all call [`evaluate`]; they
//! differ only in where they gather the inputs (files, or the cluster's caches). Pure.

pub mod access;
pub mod admission;
pub mod consumers;
pub mod freshness;
pub mod inputs;

use std::collections::BTreeMap;

use crate::api::{DataProduct, ProductRef};
use crate::governance::{self, breaking, Violation};
use crate::model::World;
use crate::plan::{self, Plan};

/// What the status records as published for each output (its version and any deprecation),
/// which the breaking-change check compares against next time.
pub use crate::governance::breaking::published as published_outputs;

/// What is known besides the documents: observed by the operator, given to the CLI.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// Labels of the product's namespace, when the namespace is known (the operator's cache,
    /// `dpctl diff` against a cluster). `None` offline: namespace admission cannot be decided
    /// without the cluster, so it is left to the operator.
    pub namespace_labels: Option<&'a BTreeMap<String, String>>,
    /// The day grant expiry and deprecation notice periods are measured against.
    pub today: jiff::civil::Date,
    /// Whether the other products' statuses are observations (the operator's caches, a diff
    /// against a cluster). Only then do missing or unready producers hold the pipelines that
    /// read them; files on disk carry no status.
    pub observed: bool,
}

impl Facts<'_> {
    /// Offline facts: no namespace labels, the given day.
    pub fn offline(today: jiff::civil::Date) -> Facts<'static> {
        Facts {
            namespace_labels: None,
            today,
            observed: false,
        }
    }
}

/// Why a product gets no plan: a stable reason (the condition reason) and every violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub violations: Vec<Violation>,
}

impl Refusal {
    fn new(reason: &'static str, violations: Vec<Violation>) -> Self {
        Refusal { reason, violations }
    }

    /// The violations in one line, `path: message [rule]; …`, as conditions show them.
    pub fn message(&self) -> String {
        self.violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Today, in UTC: the default day of the CLI and of the operator.
pub fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

pub use crate::model::world::expired;

/// Evaluates one product: the template must exist and be valid, the namespace must admit the
/// product, every governance rule must hold (names included, against every other product in
/// `world`), no published output may break, and the product may not move namespace. Then the
/// plan on `facts.today` (grants past their expiry are not in it, so the AWS step revokes them).
pub fn evaluate(product: &DataProduct, world: &World, facts: &Facts) -> Result<Plan, Refusal> {
    let me = World::product_ref(product);
    let collisions = governance::validate_set(world)
        .into_iter()
        .filter(|(p, _)| p == &me)
        .map(|(_, v)| v)
        .collect();
    evaluate_with(product, world, facts, collisions)
}

/// [`evaluate`] for every product of `world` (the CLI's files, the catalogue): the same result
/// per product, with the set-wide name-collision check run once rather than once per product,
/// so the cost grows with the number of products, not with its square.
pub fn evaluate_all(world: &World, facts: &Facts) -> BTreeMap<ProductRef, Result<Plan, Refusal>> {
    let mut collisions: BTreeMap<ProductRef, Vec<Violation>> = BTreeMap::new();
    for (r, v) in governance::validate_set(world) {
        collisions.entry(r).or_default().push(v);
    }
    world
        .products
        .iter()
        .map(|(r, p)| {
            let mine = collisions.remove(r).unwrap_or_default();
            (r.clone(), evaluate_with(p, world, facts, mine))
        })
        .collect()
}

fn evaluate_with(
    product: &DataProduct,
    world: &World,
    facts: &Facts,
    collisions: Vec<Violation>,
) -> Result<Plan, Refusal> {
    let Some(template) = world.template_of(product) else {
        return Err(Refusal::new(
            "TemplateNotFound",
            vec![Violation::new(
                "template-exists",
                "spec.template",
                format!(
                    "DataProductTemplate {} does not exist",
                    product.spec.template
                ),
            )],
        ));
    };
    if let Some(labels) = facts.namespace_labels {
        let namespace = product.metadata.namespace.as_deref().unwrap_or_default();
        admission::admit(
            namespace,
            labels,
            template.spec.allowed_namespaces.as_ref(),
            &product.spec.template,
            &product.spec.domain,
        )
        .map_err(|r| {
            Refusal::new(
                r.reason,
                vec![Violation::new("namespace", "metadata.namespace", r.message)],
            )
        })?;
    }
    let template_violations = governance::validate_template(template);
    if !template_violations.is_empty() {
        // The platform team's mistake, reported on every product that uses the template.
        return Err(Refusal::new(
            TEMPLATE_INVALID,
            template_violations
                .into_iter()
                .map(|v| Violation {
                    message: format!("template {}: {}", product.spec.template, v.message),
                    ..v
                })
                .collect(),
        ));
    }
    let mut violations = governance::validate_product(product, world);
    violations.extend(collisions);
    if !violations.is_empty() {
        return Err(Refusal::new("GovernanceViolation", violations));
    }
    let published = product
        .status
        .as_ref()
        .map(|s| s.outputs.as_slice())
        .unwrap_or_default();
    let notice = template.spec.governance.deprecation_notice_days;
    let breaking = breaking::check(&product.spec.outputs, published, facts.today, notice);
    if !breaking.is_empty() {
        return Err(Refusal::new("BreakingChange", breaking));
    }
    let mut planned = plan::plan_on(product, template, world, Some(facts.today)).map_err(|e| {
        Refusal::new(
            "GovernanceViolation",
            vec![Violation::new(
                "derived-names",
                "spec.template",
                e.to_string(),
            )],
        )
    })?;
    if let Some(v) = descriptor_size(product, template, &planned.names) {
        return Err(Refusal::new("GovernanceViolation", vec![v]));
    }
    if let Some(old) = product.status.as_ref().and_then(|s| s.namespace.as_deref()) {
        if old != planned.names.namespace {
            return Err(Refusal::new(
                "NamespaceChange",
                vec![Violation::new(
                    "namespace",
                    "spec",
                    format!(
                        "this change would move the product from namespace {old} to {} (a template name format or the owner team changed); moving would delete the running namespace, so it is refused. Revert the change, or delete and re-create the product",
                        planned.names.namespace
                    ),
                )],
            ));
        }
    }
    // Pipelines wait for their inputs: a held pipeline's CronJob is suspended.
    planned.inputs = inputs::observe(product, world, facts.observed, facts.today);
    planned.gated = inputs::gated(product, &planned.inputs);
    let held: Vec<String> = planned
        .gated
        .iter()
        .map(|g| plan::kubernetes::cron_job_name(&planned.names, &g.pipeline))
        .collect();
    for object in &mut planned.kubernetes {
        if let plan::KubeObject::CronJob(c) = object {
            if held.contains(c.metadata.name.as_ref().unwrap_or(&String::new())) {
                if let Some(spec) = c.spec.as_mut() {
                    spec.suspend = Some(true);
                }
            }
        }
    }
    Ok(planned)
}

/// What a ConfigMap may hold (its data, keys included), as the API server enforces it.
/// The refusal reason when the product's template breaks the template rules.
pub const TEMPLATE_INVALID: &str = "TemplateInvalid";

pub const CONFIGMAP_MAX_BYTES: usize = 1024 * 1024;

/// The descriptor must fit in its ConfigMap, or the apply is refused server-side; the message
/// names the largest fields, which are what to shorten.
fn descriptor_size(
    product: &DataProduct,
    template: &crate::api::DataProductTemplate,
    names: &crate::model::Names,
) -> Option<Violation> {
    let size = plan::descriptor::render(product, template, names).len();
    if size <= CONFIGMAP_MAX_BYTES {
        return None;
    }
    let mut fields = Vec::new();
    let spec = serde_json::to_value(&product.spec).unwrap_or_default();
    large_strings(&spec, "spec".to_string(), &mut fields);
    fields.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let largest: Vec<String> = fields
        .iter()
        .take(3)
        .map(|(path, len)| format!("{path} ({len} bytes)"))
        .collect();
    let largest = if largest.is_empty() {
        String::new()
    } else {
        format!("; the largest fields are {}", largest.join(", "))
    };
    Some(Violation::new(
        "descriptor-size",
        "spec",
        format!("the descriptor would be {size} bytes, more than the {CONFIGMAP_MAX_BYTES} a ConfigMap holds{largest}; shorten them (link to longer documentation instead)"),
    ))
}

fn large_strings(value: &serde_json::Value, path: String, out: &mut Vec<(String, usize)>) {
    match value {
        serde_json::Value::String(s) if s.len() >= 1024 => out.push((path, s.len())),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                large_strings(item, format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                large_strings(item, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// The plan cleanup works from when a product goes away: only the template and the names are
/// needed, so a product that is invalid now (a breaking change, a governance rule, a namespace
/// label) is still cleaned up per its template's deletion policy.
pub fn plan_for_cleanup(product: &DataProduct, world: &World) -> Option<Plan> {
    plan::plan(product, world.template_of(product)?, world).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::world::examples;

    #[test]
    fn evaluating_all_at_once_is_evaluating_each() {
        let mut world = examples();
        // A collision, so the set-wide check has something to say.
        let mut twin = world.products.values().next().unwrap().clone();
        twin.metadata.name = Some(format!("{}-", twin.metadata.name.unwrap()));
        world.add_product(twin);
        let facts = Facts::offline("2026-12-01".parse().unwrap());
        let all = evaluate_all(&world, &facts);
        assert_eq!(all.len(), world.products.len());
        for (r, p) in &world.products {
            assert_eq!(all[r], evaluate(p, &world, &facts), "{r}");
        }
        assert!(all.values().any(|r| r.is_err()), "the twin collides");
    }

    fn suspended(plan: &Plan) -> Vec<(String, Option<bool>, Option<i64>)> {
        plan.kubernetes
            .iter()
            .filter_map(|o| match o {
                plan::KubeObject::CronJob(c) => {
                    let spec = c.spec.as_ref()?;
                    Some((
                        c.metadata.name.clone()?,
                        spec.suspend,
                        spec.starting_deadline_seconds,
                    ))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_pipeline_waits_for_its_inputs_only_where_they_are_observed() {
        use crate::api::{DataProductStatus, Freshness, Phase, PublishedOutput};
        let mut world = examples();
        let metrics = ProductRef::parse("messaging/metrics").unwrap();
        let product = world.products[&metrics].clone();
        let today: jiff::civil::Date = "2026-12-01".parse().unwrap();
        // Offline: nothing observed, nothing waits, and every CronJob has its catch-up bound.
        let plan = evaluate(&product, &world, &Facts::offline(today)).unwrap();
        assert!(plan.gated.is_empty());
        assert!(suspended(&plan)
            .iter()
            .all(|(_, s, d)| *s == Some(false) && d.is_some()));
        // Observed: producers without a status hold the pipeline that reads them.
        let facts = Facts {
            observed: true,
            ..Facts::offline(today)
        };
        let plan = evaluate(&product, &world, &facts).unwrap();
        assert_eq!(plan.inputs.len(), 2);
        assert_eq!(plan.gated.len(), 1, "{:?}", plan.gated);
        assert_eq!(plan.gated[0].reason, inputs::INPUT_NOT_READY);
        let held = suspended(&plan);
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].1, Some(true));
        // Both producers Ready, one Stale: InputStale; both Fresh: it runs.
        for (freshness, waits) in [(Freshness::Stale, true), (Freshness::Fresh, false)] {
            for (name, output) in [("conversations", "conversations"), ("events", "events")] {
                let r = ProductRef::parse(&format!("messaging/{name}")).unwrap();
                let p = world.products.get_mut(&r).unwrap();
                p.status = Some(DataProductStatus {
                    phase: Some(Phase::Ready),
                    outputs: vec![PublishedOutput {
                        name: output.into(),
                        freshness: Some(if name == "events" {
                            freshness
                        } else {
                            Freshness::Fresh
                        }),
                        ..PublishedOutput::default()
                    }],
                    ..DataProductStatus::default()
                });
            }
            let plan = evaluate(&product, &world, &facts).unwrap();
            assert_eq!(!plan.gated.is_empty(), waits, "{freshness:?}");
            if waits {
                assert_eq!(plan.gated[0].reason, inputs::INPUT_STALE);
            }
            assert_eq!(suspended(&plan)[0].1, Some(waits));
        }
    }

    #[test]
    fn a_retired_input_leaves_the_consumers_role_and_holds_its_pipeline() {
        let mut world = examples();
        let orders = ProductRef::parse("orders/orders").unwrap();
        let shipments = ProductRef::parse("logistics/shipments").unwrap();
        let output = world.products.get_mut(&orders).unwrap();
        let v2 = output
            .spec
            .outputs
            .iter_mut()
            .find(|o| o.name == "orders_v2")
            .unwrap();
        v2.deprecation = Some(crate::api::Deprecation {
            announced: "2026-01-05".into(),
            sunset: "2026-11-30".into(),
            replaced_by: Some("orders_v3".into()),
            reason: None,
        });
        let policy = |day: &str| {
            let facts = Facts::offline(day.parse().unwrap());
            let plan = evaluate(&world.products[&shipments], &world, &facts).unwrap();
            let role = plan
                .aws
                .iter()
                .find_map(|r| match r {
                    plan::AwsResource::IamRole(d) => Some(d.spec.policy.to_string()),
                    _ => None,
                })
                .unwrap();
            (role, plan.gated)
        };
        let (before, held) = policy("2026-11-30");
        assert!(before.contains("orders_v2"), "read while live: {before}");
        assert!(held.is_empty());
        let (after, held) = policy("2026-12-01");
        assert!(
            !after.contains("orders_v2"),
            "not read once retired: {after}"
        );
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].reason, inputs::INPUT_RETIRED);
    }

    #[test]
    fn expiry_is_inclusive_of_its_day() {
        let day = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
        assert_eq!(expired(Some("2026-12-01"), day("2026-12-01")), None);
        assert_eq!(
            expired(Some("2026-11-30"), day("2026-12-01")),
            Some(day("2026-11-30"))
        );
        assert_eq!(expired(Some("not a date"), day("2026-12-01")), None);
        assert_eq!(expired(None, day("2026-12-01")), None);
    }
}
