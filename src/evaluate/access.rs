//! Where an access request stands (pure): the phase the access controller publishes, decided
//! from the request, the producer and its template, the day, and whether the producer's grants
//! are in place.

use crate::api::constants::conditions;
use crate::api::{
    AccessPhase, DataProduct, DataProductAccess, OutputDeprecation, ProductRef, Visibility,
};
use crate::governance;
use crate::model::world::{deprecation_of, retired};
use crate::model::{grantable_outputs, public_outputs, Names, World};

/// Where a request stands, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub phase: AccessPhase,
    pub reason: &'static str,
    pub message: String,
    pub tables: Vec<String>,
    /// Deprecations the producer announced on the requested outputs.
    pub deprecations: Vec<OutputDeprecation>,
}

/// Decides the phase of an access request (pure).
pub fn decide(
    access: &DataProductAccess,
    world: &World,
    producer_access_ready: bool,
    previous: Option<AccessPhase>,
    today: jiff::civil::Date,
) -> Decision {
    let d = |phase, reason, message: String| Decision {
        phase,
        reason,
        message,
        tables: Vec::new(),
        deprecations: Vec::new(),
    };
    if let Some(e) = super::expired(access.spec.expires.as_deref(), today) {
        return d(
            AccessPhase::Expired,
            "Expired",
            format!("access expired on {e}; the grant is removed"),
        );
    }
    let violations = governance::validate_access(access, world);
    if !violations.is_empty() {
        let message = violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        return d(AccessPhase::Denied, "Invalid", message);
    }
    let Some(producer_ref) = ProductRef::parse(&access.spec.product) else {
        return d(
            AccessPhase::Denied,
            "Invalid",
            "spec.product must be <namespace>/<name>".into(),
        );
    };
    let Some(producer) = world.products.get(&producer_ref) else {
        return d(
            AccessPhase::Pending,
            "ProducerNotFound",
            format!("DataProduct {} does not exist (yet)", access.spec.product),
        );
    };
    let Some(template) = world.template_of(producer) else {
        return d(
            AccessPhase::Pending,
            "ProducerNotReady",
            format!("the template of {} is missing", access.spec.product),
        );
    };
    let consumer_ref = access
        .spec
        .consumer
        .product
        .as_deref()
        .and_then(ProductRef::parse);
    let same_domain = consumer_ref
        .as_ref()
        .is_some_and(|c| Some(c.namespace.as_str()) == producer.metadata.namespace.as_deref());
    if producer.spec.access.visibility == Visibility::Private && !same_domain {
        return d(
            AccessPhase::Denied,
            "Private",
            format!("{} is private to its domain", access.spec.product),
        );
    }
    let grantable = grantable_outputs(producer, template, consumer_ref.as_ref());
    let requested: Vec<String> = if access.spec.outputs.is_empty() {
        grantable.clone()
    } else {
        access.spec.outputs.clone()
    };
    let listed = producer.spec.access.consumers.iter().find(|c| {
        (c.product.is_some() && c.product == access.spec.consumer.product)
            || (c.principal.is_some() && c.principal == access.spec.consumer.principal)
    });
    let approved_outputs: Vec<String> = match listed {
        Some(c) if c.outputs.is_empty() => grantable.clone(),
        Some(c) => c.outputs.clone(),
        // A public product approves consumer products by itself; an IAM principal could be
        // anyone's, so the producer lists it (the plan grants principals only when listed).
        None if producer.spec.access.visibility == Visibility::Public
            && access.spec.consumer.product.is_some() =>
        {
            public_outputs(producer, template)
        }
        None => Vec::new(),
    };
    let approved = !requested.is_empty()
        && requested
            .iter()
            .all(|o| approved_outputs.contains(o) && grantable.contains(o));
    if !approved {
        return match previous {
            // Revoked stays Revoked (not Pending) until the producer lists the consumer again.
            Some(AccessPhase::Approved | AccessPhase::Granted | AccessPhase::Revoked) => d(
                AccessPhase::Revoked,
                "Revoked",
                format!(
                    "{} no longer lists this consumer for {}",
                    access.spec.product,
                    requested.join(", ")
                ),
            ),
            _ => d(
                AccessPhase::Pending,
                "AwaitingApproval",
                format!(
                    "waiting for the owners of {} to list this {} in spec.access.consumers",
                    access.spec.product,
                    if access.spec.consumer.product.is_some() {
                        "consumer"
                    } else {
                        "IAM principal (a public product approves consumer products, not principals, by itself)"
                    }
                ),
            ),
        };
    }
    let deprecations: Vec<OutputDeprecation> = requested
        .iter()
        .filter_map(|o| {
            deprecation_of(producer, o).map(|d| OutputDeprecation {
                output: o.clone(),
                sunset: d.sunset.clone(),
                replaced_by: d.replaced_by.clone(),
                retired: retired(producer, o, today).is_some(),
            })
        })
        .collect();
    // After its sunset an output is granted to nobody: the producer's plan drops it.
    let live: Vec<&String> = requested
        .iter()
        .filter(|o| retired(producer, o, today).is_none())
        .collect();
    if live.is_empty() {
        return Decision {
            deprecations,
            ..d(
                AccessPhase::Revoked,
                "Retired",
                format!(
                    "{} retired {} after the sunset; the grant is removed",
                    access.spec.product,
                    requested.join(", ")
                ),
            )
        };
    }
    let tables: Vec<String> = Names::derive(producer, template)
        .map(|n| {
            live.iter()
                .filter_map(|o| n.table(o).map(|t| format!("{}.{t}", n.database)))
                .collect()
        })
        .unwrap_or_default();
    let live = live
        .iter()
        .map(|o| o.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    // Granted once the producer's last AWS step reports this consumer's tables in place: its
    // AccessReady alone is product-wide, and a public product's approval changes no generation
    // of the producer, so it would say Granted before the grant is made.
    let consumer = access.spec.consumer.product.as_ref().or(access
        .spec
        .consumer
        .principal
        .as_ref());
    let in_place = producer.status.as_ref().is_some_and(|s| {
        s.grants
            .iter()
            .any(|g| Some(&g.grantee) == consumer && tables.iter().all(|t| g.tables.contains(t)))
    });
    if producer_access_ready && in_place {
        Decision {
            phase: AccessPhase::Granted,
            reason: "Granted",
            message: format!("read access to {live} is in place"),
            tables,
            deprecations,
        }
    } else {
        Decision {
            phase: AccessPhase::Approved,
            reason: "Approved",
            message: "approved by the producer; the grant is being put in place".into(),
            tables,
            deprecations,
        }
    }
}

/// The producer's grants are in place for its current spec: AccessReady is True for the
/// generation that lists the consumer. An AccessReady left from before the approval (a generation
/// earlier) says nothing about the new grant, and would call the request Granted too soon.
pub fn access_ready(p: &DataProduct) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.conditions.iter().any(|c| {
            c.type_ == conditions::ACCESS_READY
                && c.status == "True"
                && c.observed_generation == p.metadata.generation
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::load::{load_paths, Document, LoadOptions};

    fn world() -> (World, DataProductAccess) {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let (docs, errors) = load_paths(
            &[root.join("examples"), root.join("templates")],
            &LoadOptions::default(),
        );
        assert!(errors.is_empty());
        let mut w = World::default();
        let mut access = None;
        for d in docs {
            match d.document {
                Document::Product(p) => w.add_product(*p),
                Document::Template(t) => w.add_template(*t),
                Document::Access(a) => access = Some(*a),
            }
        }
        let a: DataProductAccess = access.unwrap();
        // The producer's last AWS step put the example request's grant in place.
        producer(&mut w, &a).status = Some(crate::api::DataProductStatus {
            grants: vec![crate::api::GrantInPlace {
                grantee: a.spec.consumer.product.clone().unwrap(),
                tables: vec!["acme_messaging_conversations.conversations".into()],
            }],
            ..Default::default()
        });
        (w, a)
    }

    /// The producer the request asks, messaging/conversations.
    fn producer<'w>(w: &'w mut World, a: &DataProductAccess) -> &'w mut DataProduct {
        w.products
            .get_mut(&ProductRef::parse(&a.spec.product).unwrap())
            .unwrap()
    }

    fn today() -> jiff::civil::Date {
        "2026-11-22".parse().unwrap()
    }

    #[test]
    fn listed_consumers_are_approved_then_granted() {
        let (w, a) = world();
        let d = decide(&a, &w, false, None, today());
        assert_eq!(d.phase, AccessPhase::Approved, "{d:?}");
        assert_eq!(
            d.tables,
            vec!["acme_messaging_conversations.conversations".to_string()]
        );
        assert_eq!(
            decide(&a, &w, true, None, today()).phase,
            AccessPhase::Granted
        );
    }

    #[test]
    fn granted_only_once_the_producer_reports_this_grant_in_place() {
        let (mut w, a) = world();
        let set_grants = |w: &mut World, grants: Vec<crate::api::GrantInPlace>| {
            producer(w, &a).status.as_mut().unwrap().grants = grants;
        };
        let made = producer(&mut w, &a).status.as_ref().unwrap().grants.clone();
        // AccessReady is product-wide: true for the grants made so far, not yet this one.
        set_grants(&mut w, Vec::new());
        assert_eq!(
            decide(&a, &w, true, None, today()).phase,
            AccessPhase::Approved
        );
        // This consumer's grant on other tables is not this grant.
        set_grants(
            &mut w,
            vec![crate::api::GrantInPlace {
                grantee: a.spec.consumer.product.clone().unwrap(),
                tables: vec!["acme_messaging_conversations.other".into()],
            }],
        );
        assert_eq!(
            decide(&a, &w, true, None, today()).phase,
            AccessPhase::Approved
        );
        set_grants(&mut w, made);
        assert_eq!(
            decide(&a, &w, true, None, today()).phase,
            AccessPhase::Granted
        );
    }

    #[test]
    fn a_deprecation_is_told_and_after_the_sunset_the_grant_goes() {
        let (mut w, a) = world();
        let r = ProductRef::parse(&a.spec.product).unwrap();
        let producer = w.products.get_mut(&r).unwrap();
        producer.spec.outputs[0].deprecation = Some(crate::api::Deprecation {
            announced: "2026-10-01".into(),
            sunset: "2027-03-31".into(),
            replaced_by: Some("conversations_v2".into()),
            reason: None,
        });
        let d = decide(&a, &w, true, Some(AccessPhase::Granted), today());
        assert_eq!(d.phase, AccessPhase::Granted);
        assert_eq!(d.deprecations.len(), 1);
        assert!(!d.deprecations[0].retired);
        assert_eq!(
            d.deprecations[0].replaced_by.as_deref(),
            Some("conversations_v2")
        );
        // The access example expires on 2027-06-30; the sunset passes before.
        let after: jiff::civil::Date = "2027-04-01".parse().unwrap();
        let d = decide(&a, &w, true, Some(AccessPhase::Granted), after);
        assert_eq!(
            (d.phase, d.reason),
            (AccessPhase::Revoked, "Retired"),
            "{d:?}"
        );
        assert!(d.tables.is_empty());
        assert!(d.deprecations[0].retired);
        // And the producer's plan grants it to nobody from that day.
        let producer = w.products[&r].clone();
        let grants = |day| {
            crate::evaluate::evaluate(&producer, &w, &crate::evaluate::Facts::offline(day))
                .unwrap()
                .aws
                .iter()
                .filter(|x| matches!(x, crate::plan::AwsResource::AccessGrant(_)))
                .count()
        };
        assert!(grants(today()) > 0);
        assert_eq!(grants(after), 0);
    }

    #[test]
    fn unlisting_revokes_and_expiry_expires() {
        let (mut w, a) = world();
        let producer = producer(&mut w, &a);
        producer.spec.access.consumers.clear();
        assert_eq!(
            decide(&a, &w, true, Some(AccessPhase::Granted), today()).phase,
            AccessPhase::Revoked
        );
        assert_eq!(
            decide(&a, &w, true, Some(AccessPhase::Revoked), today()).phase,
            AccessPhase::Revoked,
            "the reconcile after the revocation keeps it"
        );
        assert_eq!(
            decide(&a, &w, true, None, today()).phase,
            AccessPhase::Pending
        );
        assert_eq!(
            decide(&a, &w, true, None, "2027-07-01".parse().unwrap()).phase,
            AccessPhase::Expired
        );
    }

    #[test]
    fn granted_only_once_access_is_ready_for_the_current_generation() {
        let (w, _) = world();
        let mut producer = w
            .products
            .values()
            .find(|p| p.metadata.name.as_deref() == Some("conversations"))
            .unwrap()
            .clone();
        let ready = |generation| k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: conditions::ACCESS_READY.into(),
            status: "True".into(),
            reason: "Provisioned".into(),
            message: String::new(),
            observed_generation: Some(generation),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-11-22T10:00:00Z".parse().unwrap(),
            ),
        };
        producer.metadata.generation = Some(2);
        producer.status = Some(crate::api::DataProductStatus {
            conditions: vec![ready(1)],
            ..Default::default()
        });
        assert!(
            !access_ready(&producer),
            "AccessReady of the spec before the approval"
        );
        producer.status.as_mut().unwrap().conditions = vec![ready(2)];
        assert!(access_ready(&producer));
    }

    #[test]
    fn unknown_producers_wait_and_private_ones_deny() {
        let (mut w, a) = world();
        let producer = producer(&mut w, &a);
        producer.spec.access.visibility = Visibility::Private;
        producer.spec.access.consumers.clear();
        assert_eq!(
            decide(&a, &w, true, None, today()).phase,
            AccessPhase::Denied
        );
        let mut other = a.clone();
        other.spec.product = "nowhere/nothing".into();
        assert_eq!(
            decide(&other, &w, true, None, today()).phase,
            AccessPhase::Pending
        );
    }

    #[test]
    fn a_public_product_approves_consumer_products_by_itself_but_not_principals() {
        let (mut w, a) = world();
        let producer = producer(&mut w, &a);
        producer.spec.access.visibility = Visibility::Public;
        producer.spec.access.consumers.clear();
        assert_eq!(
            decide(&a, &w, true, None, today()).phase,
            AccessPhase::Granted
        );
        // The plan grants an IAM principal only when the producer lists it, so the request
        // may not say Granted (and hand out table names) for a grant that is never made.
        let mut principal = a.clone();
        principal.spec.consumer.product = None;
        principal.spec.consumer.principal = Some("arn:aws:iam::123456789012:role/analysts".into());
        let d = decide(&principal, &w, true, None, today());
        assert_eq!(
            (d.phase, d.reason),
            (AccessPhase::Pending, "AwaitingApproval"),
            "{d:?}"
        );
        assert!(d.message.contains("IAM principal"), "{}", d.message);
    }
}
