//! Who reads a product now (pure): the list its status publishes, which the admission policy
//! reads to refuse deleting a product that others depend on.

use crate::api::{
    AccessPhase, ActiveConsumer, ConsumerKind, DataProduct, DataProductAccess, ProductRef,
};
use crate::model::World;

/// The active consumers of `producer`, sorted: every DataProduct that declares one of its
/// outputs as an input (one entry per output read), and every DataProductAccess addressed to it
/// whose phase is Granted (one entry per requested output, or one without an output when it asks
/// for every public output). Objects being deleted are leaving already, so they do not count:
/// their delete, the finalizer's update, re-reconciles the producer.
pub fn active<'a>(
    producer: &ProductRef,
    products: impl IntoIterator<Item = &'a DataProduct>,
    accesses: impl IntoIterator<Item = &'a DataProductAccess>,
) -> Vec<ActiveConsumer> {
    let id = producer.to_string();
    let mut out = Vec::new();
    for p in products {
        let me = World::product_ref(p);
        if me == *producer || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        for input in &p.spec.inputs {
            if input.product.as_deref() == Some(id.as_str()) {
                out.push(ActiveConsumer {
                    kind: ConsumerKind::Product,
                    namespace: me.namespace.clone(),
                    name: me.name.clone(),
                    output: input.output.clone(),
                });
            }
        }
    }
    for a in accesses {
        let granted = a.status.as_ref().and_then(|s| s.phase) == Some(AccessPhase::Granted);
        if a.spec.product != id || !granted || a.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let entry = |output: Option<String>| ActiveConsumer {
            kind: ConsumerKind::Access,
            namespace: a.metadata.namespace.clone().unwrap_or_default(),
            name: a.metadata.name.clone().unwrap_or_default(),
            output,
        };
        if a.spec.outputs.is_empty() {
            out.push(entry(None));
        } else {
            out.extend(a.spec.outputs.iter().map(|o| entry(Some(o.clone()))));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// [`active`] over the products and access requests a [`World`] holds (`dpctl`, tests).
pub fn in_world(producer: &ProductRef, world: &World) -> Vec<ActiveConsumer> {
    active(producer, world.products.values(), &world.accesses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DataProductAccessStatus, Input};

    fn product(namespace: &str, name: &str, inputs: &[(&str, &str)]) -> DataProduct {
        let mut p = DataProduct::new(name, Default::default());
        p.metadata.namespace = Some(namespace.into());
        p.spec.inputs = inputs
            .iter()
            .map(|(product, output)| Input {
                product: Some(product.to_string()),
                output: Some(output.to_string()),
                external: None,
            })
            .collect();
        p
    }

    fn access(
        namespace: &str,
        name: &str,
        outputs: &[&str],
        phase: AccessPhase,
    ) -> DataProductAccess {
        let mut a = DataProductAccess::new(name, Default::default());
        a.metadata.namespace = Some(namespace.into());
        a.spec.product = "sales/orders".into();
        a.spec.outputs = outputs.iter().map(|o| o.to_string()).collect();
        a.status = Some(DataProductAccessStatus {
            phase: Some(phase),
            ..Default::default()
        });
        a
    }

    fn producer() -> ProductRef {
        ProductRef::parse("sales/orders").unwrap()
    }

    #[test]
    fn readers_and_granted_requests_are_listed_once_per_output() {
        let products = [
            product("sales", "orders", &[]),
            product(
                "finance",
                "revenue",
                &[("sales/orders", "orders"), ("sales/orders", "refunds")],
            ),
            product("finance", "unrelated", &[("finance/revenue", "daily")]),
        ];
        let accesses = [
            access(
                "analytics",
                "orders-read",
                &["orders"],
                AccessPhase::Granted,
            ),
            access("analytics", "all-public", &[], AccessPhase::Granted),
            access("analytics", "waiting", &["orders"], AccessPhase::Pending),
            access("analytics", "gone", &["orders"], AccessPhase::Revoked),
        ];
        let listed: Vec<String> = active(&producer(), &products, &accesses)
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            listed,
            [
                "Product finance/revenue (orders)",
                "Product finance/revenue (refunds)",
                "Access analytics/all-public",
                "Access analytics/orders-read (orders)",
            ]
        );
    }

    #[test]
    fn consumers_being_deleted_no_longer_count() {
        let mut leaving = product("finance", "revenue", &[("sales/orders", "orders")]);
        leaving.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-12-01T10:00:00Z".parse().unwrap(),
            ));
        let mut world = World::default();
        world.add_product(product("sales", "orders", &[]));
        world.add_product(leaving);
        assert!(in_world(&producer(), &world).is_empty());
        world.add_product(product("finance", "revenue", &[("sales/orders", "orders")]));
        assert_eq!(in_world(&producer(), &world).len(), 1);
    }
}
