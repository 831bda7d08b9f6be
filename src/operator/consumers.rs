//! Which producers recompute their consumers (`status.consumers`) when a reader changes: the
//! ones it reads from now, and the ones whose status still lists it (an input or a request
//! that was just removed, or the reader itself gone).

use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;

use super::index::{self, Indexed};
use crate::api::{ConsumerKind, DataProduct, DataProductAccess, ProductRef};

/// Producers to re-reconcile after a change of the DataProduct `reader`.
pub fn producers_of_product(
    reader: &DataProduct,
    products: &Indexed<DataProduct>,
) -> Vec<ObjectRef<DataProduct>> {
    let reads = reader
        .spec
        .inputs
        .iter()
        .filter_map(|i| i.product.as_deref());
    affected(
        reads,
        ConsumerKind::Product,
        &reader.namespace().unwrap_or_default(),
        &reader.name_any(),
        products,
    )
}

/// Products to re-reconcile after a change of the access request `a`: its producer (grants,
/// consumers) and its consumer product (what its role may read).
pub fn producers_of_access(
    a: &DataProductAccess,
    products: &Indexed<DataProduct>,
) -> Vec<ObjectRef<DataProduct>> {
    // The consumer product too: what its role may read follows the producer's grants, which
    // follow this request.
    affected(
        std::iter::once(a.spec.product.as_str()).chain(a.spec.consumer.product.as_deref()),
        ConsumerKind::Access,
        &a.namespace().unwrap_or_default(),
        &a.name_any(),
        products,
    )
}

fn affected<'a>(
    reads: impl Iterator<Item = &'a str>,
    kind: ConsumerKind,
    namespace: &str,
    name: &str,
    products: &Indexed<DataProduct>,
) -> Vec<ObjectRef<DataProduct>> {
    let mut refs: Vec<ObjectRef<DataProduct>> = reads
        .filter_map(ProductRef::parse)
        .map(|r| ObjectRef::new(&r.name).within(&r.namespace))
        .collect();
    refs.extend(products.index.get(&index::lists(kind, namespace, name)));
    refs.sort_by_key(|r| (r.namespace.clone(), r.name.clone()));
    refs.dedup();
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ActiveConsumer, DataProductStatus, Input};
    use crate::operator::index::IndexedWriter;
    use kube::runtime::watcher;

    #[test]
    fn a_reader_triggers_what_it_reads_and_what_still_lists_it() {
        let mut reader = DataProduct::new("revenue", Default::default());
        reader.metadata.namespace = Some("finance".into());
        reader.spec.inputs = vec![Input {
            product: Some("sales/orders".into()),
            output: Some("orders".into()),
            external: None,
        }];
        let mut old_producer = DataProduct::new("customers", Default::default());
        old_producer.metadata.namespace = Some("crm".into());
        old_producer.status = Some(DataProductStatus {
            consumers: vec![ActiveConsumer {
                kind: ConsumerKind::Product,
                namespace: "finance".into(),
                name: "revenue".into(),
                output: Some("customers".into()),
            }],
            ..Default::default()
        });
        let mut unrelated = old_producer.clone();
        unrelated.metadata.name = Some("leads".into());
        unrelated.status.as_mut().unwrap().consumers[0].kind = ConsumerKind::Access;
        let mut products = IndexedWriter::new(index::product_keys);
        products.apply_watcher_event(&watcher::Event::Apply(old_producer));
        products.apply_watcher_event(&watcher::Event::Apply(unrelated));
        let products = products.as_reader();
        let refs: Vec<String> = producers_of_product(&reader, &products)
            .iter()
            .map(|r| format!("{}/{}", r.namespace.clone().unwrap_or_default(), r.name))
            .collect();
        assert_eq!(refs, ["crm/customers", "sales/orders"]);
    }
}
