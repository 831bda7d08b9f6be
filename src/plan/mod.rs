//! The pure planner: (product, template, what else is known) → the complete desired state.
//! `dpctl plan` prints it; the operator applies it. No I/O happens here.

pub mod aws;
pub mod descriptor;
pub mod kubernetes;
pub mod openlineage;

use k8s_openapi::api::core::v1::EnvVar;
use serde::Serialize;

pub use crate::model::{Names, World};
pub use aws::AwsResource;
pub use kubernetes::KubeObject;

use crate::api::{DataProduct, DataProductAccess, DataProductTemplate, ProductRef, Visibility};
use crate::model::world::{expired, retired};
use crate::model::{grantable_outputs, public_outputs, request_is_bound};
use aws::{Grant, Grantee, InputRead};

/// The desired state of one product.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub names: Names,
    pub kubernetes: Vec<KubeObject>,
    pub aws: Vec<AwsResource>,
    /// The inputs from other products as observed, filled in by the evaluation.
    pub inputs: Vec<crate::api::InputStatus>,
    /// The pipelines those inputs hold (their CronJobs are planned suspended).
    pub gated: Vec<Gated>,
}

/// A pipeline held because an input it reads is not ready: its CronJob is suspended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gated {
    pub pipeline: String,
    /// The reason of the first input that holds it (`InputNotReady`, `InputStale`,
    /// `InputRetired`).
    pub reason: &'static str,
    /// Which inputs hold it and why.
    pub message: String,
}

impl Plan {
    /// All documents in apply order, as JSON values (Kubernetes first, then AWS).
    pub fn documents(&self) -> Vec<serde_json::Value> {
        self.kubernetes
            .iter()
            .map(|o| o.to_value())
            .chain(
                self.aws
                    .iter()
                    .map(|a| serde_json::to_value(a).unwrap_or_default()),
            )
            .collect()
    }
}

/// Why a product could not be planned. Governance reports the same problems with more detail;
/// the planner refuses rather than guessing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("{path}: {message}")]
    Names { path: String, message: String },
    #[error("{0}")]
    Template(String),
}

/// Plans one product, every output as declared (the cleanup, the load test).
pub fn plan(
    product: &DataProduct,
    template: &DataProductTemplate,
    world: &World,
) -> Result<Plan, PlanError> {
    plan_on(product, template, world, None)
}

/// Plans one product on `today`: outputs past their sunset are granted to nobody, and inputs
/// past theirs are not read.
pub fn plan_on(
    product: &DataProduct,
    template: &DataProductTemplate,
    world: &World,
    today: Option<jiff::civil::Date>,
) -> Result<Plan, PlanError> {
    let names = Names::derive(product, template).map_err(|errors| {
        let first = errors
            .into_iter()
            .next()
            .unwrap_or(crate::model::naming::NameError {
                path: "spec".into(),
                message: "names could not be derived".into(),
            });
        PlanError::Names {
            path: first.path,
            message: first.message,
        }
    })?;
    let me = World::product_ref(product);
    let reads = input_reads(product, &me, world, today);
    let env = pipeline_env(product, &names, world);
    let descriptor = descriptor::render(product, template, &names);
    let kubernetes = kubernetes::build(product, template, &names, &env, &descriptor)
        .map_err(PlanError::Template)?;
    let grants = grants(product, template, &me, world, today);
    let aws = aws::build(product, template, &names, &grants, &reads);
    Ok(Plan {
        names,
        kubernetes,
        aws,
        inputs: Vec::new(),
        gated: Vec::new(),
    })
}

/// What this product's role may read of its inputs: only outputs the producer granted.
fn input_reads(
    product: &DataProduct,
    me: &ProductRef,
    world: &World,
    today: Option<jiff::civil::Date>,
) -> Vec<InputRead> {
    let mut reads = Vec::new();
    for input in &product.spec.inputs {
        let (Some(pref), Some(output)) = (
            input.product.as_deref().and_then(ProductRef::parse),
            input.output.as_deref(),
        ) else {
            continue;
        };
        // Reading one's own product needs no grant: its role already covers it.
        if &pref == me {
            continue;
        }
        let Some(producer) = world.products.get(&pref) else {
            continue;
        };
        let Some(ptemplate) = world.template_of(producer) else {
            continue;
        };
        // Exactly what the producer's plan grants this product (so an expired or revoked grant
        // also leaves this role), and nothing past its sunset.
        if !granted_to(producer, ptemplate, me, world, today)
            .iter()
            .any(|o| o == output)
        {
            continue;
        }
        let Ok(pnames) = Names::derive(producer, ptemplate) else {
            continue;
        };
        let Some(out) = producer.spec.outputs.iter().find(|o| o.name == output) else {
            continue;
        };
        let Some(bucket) = pnames.bucket(&out.layer) else {
            continue;
        };
        let table = pnames.table(output).unwrap_or(output);
        reads.push(InputRead {
            database_arn: pnames.glue_arn(&format!("database/{}", pnames.database)),
            table_arns: vec![pnames.glue_arn(&format!("table/{}/{table}", pnames.database))],
            bucket_arns: vec![pnames.bucket_arn(bucket)],
            prefix_arns: vec![format!("{}/{}/*", pnames.bucket_arn(bucket), out.name)],
            key_prefixes: vec![format!("{}/", out.name)],
        });
    }
    reads
}

/// The outputs of `producer` that its plan on `today` grants to the consumer product
/// `consumer`: what that product's role may read (and the catalogue shows as granted).
pub fn granted_to(
    producer: &DataProduct,
    template: &DataProductTemplate,
    consumer: &ProductRef,
    world: &World,
    today: Option<jiff::civil::Date>,
) -> Vec<String> {
    let me = World::product_ref(producer);
    let consumer = consumer.to_string();
    let mut outputs: Vec<String> = grants(producer, template, &me, world, today)
        .into_iter()
        .filter(|g| g.grantee.product.as_deref() == Some(consumer.as_str()))
        .flat_map(|g| g.outputs)
        .collect();
    outputs.sort();
    outputs.dedup();
    outputs
}

/// Grants for approved consumers: those the producer lists, plus, for a public product, every
/// valid access request of a consumer product. Expiry comes from the consumer's access requests
/// when there are any; on `today`, requests past it no longer count, so a grant whose requests
/// have all expired is left out.
fn grants(
    product: &DataProduct,
    template: &DataProductTemplate,
    me: &ProductRef,
    world: &World,
    today: Option<jiff::civil::Date>,
) -> Vec<Grant> {
    let public = public_outputs(product, template);
    let me_id = me.to_string();
    // A request speaks only for a consumer product of its own namespace; anything else could
    // be anyone's (and is reported by governance as access-consumer).
    let requests: Vec<&DataProductAccess> = world
        .accesses
        .iter()
        .filter(|a| {
            a.spec.product == me_id
                && request_is_bound(a)
                && crate::governance::validate_access(a, world).is_empty()
        })
        .collect();
    // On `today`, a request past its expiry no longer speaks for its consumer.
    let live = |a: &&&DataProductAccess| {
        today.is_none_or(|d| expired(a.spec.expires.as_deref(), d).is_none())
    };
    let principal_of = |product: Option<&str>, principal: Option<&String>| {
        principal.cloned().or_else(|| {
            product
                .and_then(ProductRef::parse)
                .and_then(|r| world.names_of(&r))
                .map(|n| n.role_arn)
        })
    };
    let mut grants: Vec<Grant> = Vec::new();
    for c in &product.spec.access.consumers {
        let consumer = c.product.as_deref().and_then(ProductRef::parse);
        let grantable = grantable_outputs(product, template, consumer.as_ref());
        let mut outputs: Vec<String> = if c.outputs.is_empty() {
            grantable.clone()
        } else {
            c.outputs.clone()
        };
        // Retired outputs are granted to nobody: their sunset has passed.
        outputs.retain(|o| {
            grantable.contains(o) && today.is_none_or(|d| retired(product, o, d).is_none())
        });
        if outputs.is_empty() {
            continue;
        }
        // A listed consumer reads for as long as the producer lists it, unless it asked with
        // requests: then until the last of them expires.
        let asked: Vec<&&DataProductAccess> = requests
            .iter()
            .filter(|a| {
                (c.product.is_some() && a.spec.consumer.product == c.product)
                    || (c.principal.is_some() && a.spec.consumer.principal == c.principal)
            })
            .collect();
        let expires = if asked.is_empty() {
            None
        } else {
            let current: Vec<&&DataProductAccess> = asked.into_iter().filter(live).collect();
            if current.is_empty() {
                continue;
            }
            latest_expiry(&current)
        };
        grants.push(Grant {
            grantee: Grantee {
                product: c.product.clone(),
                principal: principal_of(c.product.as_deref(), c.principal.as_ref()),
            },
            outputs,
            expires,
        });
    }
    if product.spec.access.visibility == Visibility::Public {
        // Public products approve requests of consumer products automatically (one grant per
        // consumer, for every output its current requests ask for); an IAM principal is granted
        // only when the producer lists it, and a listed consumer gets what it is listed for.
        let mut asking: Vec<&str> = requests
            .iter()
            .filter_map(|a| a.spec.consumer.product.as_deref())
            .filter(|c| {
                !grants
                    .iter()
                    .any(|g| g.grantee.product.as_deref() == Some(*c))
            })
            .collect();
        asking.sort();
        asking.dedup();
        for consumer in asking {
            let current: Vec<&&DataProductAccess> = requests
                .iter()
                .filter(|a| a.spec.consumer.product.as_deref() == Some(consumer))
                .filter(live)
                .collect();
            let mut outputs: Vec<String> = current
                .iter()
                .flat_map(|a| {
                    if a.spec.outputs.is_empty() {
                        public.clone()
                    } else {
                        a.spec.outputs.clone()
                    }
                })
                .filter(|o| {
                    public.contains(o) && today.is_none_or(|d| retired(product, o, d).is_none())
                })
                .collect();
            outputs.sort();
            outputs.dedup();
            if outputs.is_empty() {
                continue;
            }
            grants.push(Grant {
                grantee: Grantee {
                    product: Some(consumer.to_string()),
                    principal: principal_of(Some(consumer), None),
                },
                outputs,
                expires: latest_expiry(&current),
            });
        }
    }
    grants
}

/// The expiry of a grant that serves `requests`: none when one of them has none, else the latest.
fn latest_expiry(requests: &[&&DataProductAccess]) -> Option<String> {
    let mut latest: Option<&str> = None;
    for a in requests {
        let e = a.spec.expires.as_deref()?;
        if latest.is_none_or(|l| e > l) {
            latest = Some(e);
        }
    }
    latest.map(str::to_string)
}

/// Environment every pipeline container gets, so pipeline code needs no hard-coded names.
fn pipeline_env(product: &DataProduct, names: &Names, world: &World) -> Vec<EnvVar> {
    let var = |name: String, value: String| EnvVar {
        name,
        value: Some(value),
        ..EnvVar::default()
    };
    let mut env = vec![
        var("DP_PRODUCT".into(), names.id.clone()),
        var("DP_DOMAIN".into(), names.domain.clone()),
        var("DP_DATABASE".into(), names.database.clone()),
        var("AWS_REGION".into(), names.region.clone()),
        var("AWS_DEFAULT_REGION".into(), names.region.clone()),
    ];
    if let Some(stage) = &names.stage {
        env.insert(2, var("DP_STAGE".into(), stage.clone()));
    }
    for (layer, bucket) in &names.buckets {
        env.push(var(
            format!("DP_BUCKET_{}", env_suffix(layer)),
            bucket.clone(),
        ));
    }
    for output in &product.spec.outputs {
        let suffix = env_suffix(&output.name);
        let table = names.table(&output.name).unwrap_or_default();
        env.push(var(
            format!("DP_TABLE_{suffix}"),
            format!("{}.{table}", names.database),
        ));
        if let Some(bucket) = names.bucket(&output.layer) {
            env.push(var(
                format!("DP_LOCATION_{suffix}"),
                format!("s3://{bucket}/{}/", output.name),
            ));
        }
    }
    for input in &product.spec.inputs {
        let (Some(pref), Some(output)) = (
            input.product.as_deref().and_then(ProductRef::parse),
            input.output.as_deref(),
        ) else {
            continue;
        };
        let suffix = env_suffix(output);
        let Some(producer) = world.products.get(&pref) else {
            continue;
        };
        let Some(pnames) = world.names_of(&pref) else {
            continue;
        };
        let table = pnames.table(output).unwrap_or(output);
        env.push(var(
            format!("DP_INPUT_{suffix}_TABLE"),
            format!("{}.{table}", pnames.database),
        ));
        if let Some(bucket) = producer
            .spec
            .outputs
            .iter()
            .find(|o| o.name == output)
            .and_then(|o| pnames.bucket(&o.layer))
        {
            env.push(var(
                format!("DP_INPUT_{suffix}_LOCATION"),
                format!("s3://{bucket}/{output}/"),
            ));
        }
    }
    env
}

/// `data_products` → `DATA_PRODUCTS`: environment variable names are upper snake case.
pub fn env_suffix(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A plan rendered as multi-document YAML, one header comment per product.
pub fn to_yaml<T: Serialize>(docs: &[T]) -> String {
    let mut out = String::new();
    for d in docs {
        out.push_str("---\n");
        out.push_str(&crate::api::load::to_yaml(d).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::world::examples;

    fn day(d: &str) -> Option<jiff::civil::Date> {
        Some(d.parse().unwrap())
    }

    fn product(world: &World, id: &str) -> DataProduct {
        world.products[&ProductRef::parse(id).unwrap()].clone()
    }

    /// What a product's own role may read of other products, as planned on `today` from the
    /// world the operator gives its evaluation (`World::around` the product, here over all of
    /// `world`), not from everything.
    fn reads(world: &World, id: &str, today: Option<jiff::civil::Date>) -> Vec<String> {
        let p = product(world, id);
        let around = World::around(&p, world);
        input_reads(&p, &World::product_ref(&p), &around, today)
            .into_iter()
            .flat_map(|r| r.key_prefixes)
            .collect()
    }

    fn expiry_of(world: &World, producer: &str, consumer: &str) -> Option<Option<String>> {
        let p = product(world, producer);
        let t = world.template_of(&p).unwrap();
        grants(&p, t, &World::product_ref(&p), world, day("2027-01-01"))
            .into_iter()
            .find(|g| g.grantee.product.as_deref() == Some(consumer))
            .map(|g| g.expires)
    }

    #[test]
    fn a_renewed_request_keeps_the_grant_until_the_last_expiry() {
        let mut world = examples();
        let consumer = "marketing/campaign-attribution";
        assert_eq!(
            expiry_of(&world, "messaging/conversations", consumer),
            Some(Some("2027-06-30".into()))
        );
        // An older request that has expired beside the current one changes nothing.
        let mut old = world.accesses[0].clone();
        old.metadata.name = Some("attribution-reads-conversations-2025".into());
        old.spec.expires = Some("2025-12-31".into());
        world.accesses.insert(0, old);
        assert_eq!(
            expiry_of(&world, "messaging/conversations", consumer),
            Some(Some("2027-06-30".into()))
        );
        // A renewal until later extends it.
        let mut renewed = world.accesses[1].clone();
        renewed.metadata.name = Some("attribution-reads-conversations-2028".into());
        renewed.spec.expires = Some("2028-06-30".into());
        world.accesses.push(renewed);
        assert_eq!(
            expiry_of(&world, "messaging/conversations", consumer),
            Some(Some("2028-06-30".into()))
        );
    }

    fn grantees(world: &World, id: &str, today: Option<jiff::civil::Date>) -> Vec<String> {
        let p = product(world, id);
        let t = world.template_of(&p).unwrap();
        grants(&p, t, &World::product_ref(&p), world, today)
            .into_iter()
            .filter_map(|g| g.grantee.product.or(g.grantee.principal))
            .collect()
    }

    #[test]
    fn an_expired_request_ends_the_consumers_reads_with_the_producers_grant() {
        let world = examples();
        // examples/marketing asks messaging/conversations for access until 2027-06-30.
        let consumer = "marketing/campaign-attribution";
        assert!(reads(&world, consumer, day("2027-06-30")).contains(&"conversations/".into()));
        assert!(
            grantees(&world, "messaging/conversations", day("2027-06-30"))
                .contains(&consumer.to_string())
        );
        // The day after, neither side keeps it: the producer's grant and the consumer's own
        // IAM permissions go together (same account, either alone would still let it read).
        assert!(!reads(&world, consumer, day("2027-07-01")).contains(&"conversations/".into()));
        assert!(
            !grantees(&world, "messaging/conversations", day("2027-07-01"))
                .contains(&consumer.to_string())
        );
    }

    #[test]
    fn a_public_product_is_read_only_by_those_who_asked_with_a_valid_request() {
        let mut world = examples();
        let reader = "marketing/campaign-attribution";
        let mut p = product(&world, reader);
        p.spec.inputs.push(
            serde_json::from_value(serde_json::json!({
                "product": "messaging/metrics", "output": "daily_metrics"
            }))
            .unwrap(),
        );
        world.add_product(p);
        let today = day("2027-01-01");
        assert!(
            !reads(&world, reader, today).contains(&"daily_metrics/".into()),
            "public means anyone may ask, not that anyone reads without asking"
        );
        let mut request: DataProductAccess = serde_json::from_value(serde_json::json!({
            "apiVersion": "dataproducts.io/v1alpha1", "kind": "DataProductAccess",
            "metadata": {"name": "attribution-reads-metrics", "namespace": "marketing"},
            "spec": {"product": "messaging/metrics", "outputs": ["daily_metrics"],
                     "consumer": {"product": reader}, "purpose": "Attribution",
                     "expires": "2027-13-45"}
        }))
        .unwrap();
        world.accesses.push(request.clone());
        assert!(
            !reads(&world, reader, today).contains(&"daily_metrics/".into()),
            "a request with an invalid expiry is denied, not granted for ever"
        );
        request.spec.expires = Some("2027-06-30".into());
        world.accesses.pop();
        world.accesses.push(request);
        assert!(reads(&world, reader, today).contains(&"daily_metrics/".into()));
        assert!(!reads(&world, reader, day("2027-07-01")).contains(&"daily_metrics/".into()));
    }
}
