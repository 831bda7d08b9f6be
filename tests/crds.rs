//! crds/ must hold exactly what `dpctl crd` prints, and the CRDs must carry what kubectl,
//! Argo CD and Flux read.

use std::path::Path;

use dataproduct_operator::api::crd::crds_yaml;
use dataproduct_operator::api::{DataProduct, DataProductAccess, DataProductTemplate};
use kube::CustomResourceExt;

#[test]
fn crds_directory_is_in_sync_with_the_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/dataproducts.io.yaml");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == crds_yaml(),
        "crds/ is stale: run `cargo run -q -- crd > crds/dataproducts.io.yaml` and commit the result"
    );
}

/// `dpctl crd` is a `---`-separated stream that reads back as exactly the three CRDs (what
/// `kubectl apply -f crds/` sends).
#[test]
fn crds_yaml_reads_back_as_the_crds() {
    let text = crds_yaml();
    assert!(text.starts_with("---\n"));
    assert_eq!(text.matches("\n---\n").count(), 2);
    let read: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
    let want: Vec<serde_json::Value> = dataproduct_operator::api::crd::all()
        .iter()
        .map(|crd| serde_json::to_value(crd).unwrap())
        .collect();
    assert_eq!(read, want);
}

#[test]
fn names_columns_and_subresources() {
    let dp = DataProduct::crd();
    assert_eq!(dp.spec.names.short_names, Some(vec!["dp".to_string()]));
    assert_eq!(
        dp.spec.names.categories,
        Some(vec!["dataproducts".to_string()])
    );
    assert_eq!(dp.spec.scope, "Namespaced");
    let version = &dp.spec.versions[0];
    assert!(version.subresources.as_ref().unwrap().status.is_some());
    let columns: Vec<&str> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    for want in ["Domain", "Template", "Phase", "Namespace", "Age"] {
        assert!(columns.contains(&want), "missing printer column {want}");
    }
    let dpt = DataProductTemplate::crd();
    assert_eq!(dpt.spec.scope, "Cluster");
    assert_eq!(dpt.spec.names.short_names, Some(vec!["dpt".to_string()]));
    let dpa = DataProductAccess::crd();
    assert_eq!(dpa.spec.names.short_names, Some(vec!["dpa".to_string()]));
    assert_eq!(
        dpa.spec.names.categories,
        Some(vec!["dataproducts".to_string()])
    );
}

#[test]
fn schema_carries_descriptions_enums_and_patterns() {
    let text = serde_json::to_string(&DataProduct::crd()).unwrap();
    // Doc comments become descriptions for `kubectl explain dataproduct.spec.outputs`.
    assert!(text.contains("Output ports: each becomes a catalogued, SQL-queryable table."));
    // Enumerations and patterns are enforced by the API server too.
    assert!(
        text.contains(r#""enum":["parquet","orc","avro","json","csv"]"#),
        "format enum"
    );
    assert!(
        text.contains(r#""pattern":"^[a-z][a-z0-9]{0,29}$""#),
        "domain pattern"
    );
}
