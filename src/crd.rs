//! The CRDs, generated from the Rust types so the schema can never drift from the code.

use kube::CustomResourceExt;

use crate::api::{DataProduct, DataProductAccess, DataProductTemplate};

/// The three CRDs as one multi-document YAML stream (what `dpctl crd` prints and crds/ holds).
pub fn crds_yaml() -> String {
    let crds = [
        DataProduct::crd(),
        DataProductTemplate::crd(),
        DataProductAccess::crd(),
    ];
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd).expect("a CRD always serialises to YAML"));
    }
    out
}
