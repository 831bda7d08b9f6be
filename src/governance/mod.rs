//! Governance, computed: every rule is a pure function of the documents. A violation carries a
//! stable rule id, the field path and a message that says what to change. The operator refuses
//! to provision a product with violations; `dpctl validate` prints them.

pub mod breaking;
pub mod deprecation;
mod product;
pub mod schedule;
mod template;

use std::fmt;

pub use product::{
    check_namespace, check_time_zone, parse_duration, validate_access, validate_product,
};
pub use template::validate_template;

use crate::model::{Names, World};

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// Field path, for example `spec.outputs[0].schema[2].example`.
    pub path: String,
    /// What to change.
    pub message: String,
    /// Stable rule id (see [`RULES`]).
    pub rule: &'static str,
}

impl Violation {
    pub fn new(rule: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            rule,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    /// `spec.path: message [rule-id]`, the form `dpctl validate` prints after the file name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]", self.path, self.message, self.rule)
    }
}

/// Every rule id with what it means. The README's rule table is checked against this list.
pub const RULES: &[(&str, &str)] = &[
    ("product-name", "metadata.name is a DNS label (lowercase letters, digits, hyphens; at most 63 characters)"),
    ("domain-name", "spec.domain is lowercase letters and digits, starting with a letter, at most 30 characters"),
    ("description-required", "the product, each output and each external input has a description"),
    ("owner-required", "spec.owner.team and spec.owner.email are set"),
    ("owner-email", "spec.owner.email is a valid e-mail address"),
    ("owner-groups", "owner groups are non-empty and unique"),
    ("outputs-required", "a product has at least one output"),
    ("unique-names", "outputs, columns (with partition keys), pipelines, input ports and environment variables have unique names"),
    ("output-name", "output names are valid Glue table names (lowercase letters, digits, underscores)"),
    ("layer-exists", "an output's layer is one of the template's storage layers"),
    ("column-type", "every column and partition key has a valid Glue/Athena type"),
    ("column-description", "every column and partition key has a description"),
    ("column-example", "every column and partition key has an example when the template requires examples"),
    ("column-naming", "column and partition key names follow the template's naming rule"),
    ("glossary-type", "a column named like a glossary term has the glossary's type"),
    ("layer-required-columns", "an output has every column its layer requires (such as the _added_at, _type and _source_system metadata of raw layers), with the layer's type"),
    ("layer-not-readable", "a pipeline reads no output in a layer the template marks readableByPipelines: false (pipelines may only write there)"),
    ("pii-forbidden", "no column marked pii: true in a layer whose template says pii: forbidden"),
    ("query-examples", "every output has an example query when the template requires them; examples have a title and SQL"),
    ("pipeline-reads", "a pipeline reads only declared inputs (an input's output or an external input's name) or own outputs"),
    ("pipeline-writes", "a pipeline writes only own outputs"),
    ("pipeline-timezone", "a pipeline's timeZone is a time zone of the IANA database"),
    ("namespace-name", "metadata.namespace (and dpctl's -n) is a DNS label"),
    ("label-value", "values that end up in labels (spec.template) are valid Kubernetes label values"),
    ("descriptor-size", "the product's descriptor fits in its ConfigMap (at most 1 MiB)"),
    ("pipeline-schedule", "a pipeline has a valid five-field cron schedule, as Kubernetes CronJobs accept it"),
    ("pipeline-name", "a pipeline name is a DNS label of at most 52 characters (it becomes the CronJob's name)"),
    ("pipeline-image", "a pipeline has a container image reference"),
    ("pipeline-env", "pipeline environment variable names are valid, unique, and do not override the DP_* variables the operator sets"),
    ("input-ref", "an input is either product (<namespace>/<name>) with output, or external with a name"),
    ("input-output", "an input's output exists in the referenced product (when that product is known)"),
    ("consumer-ref", "an approved consumer is either a product (<namespace>/<name>) or an IAM principal ARN"),
    ("consumer-outputs", "outputs granted to consumers exist and may be granted to them: public-layer outputs to anyone, private-layer outputs to products of the same domain (namespace)"),
    ("visibility", "a private product lists consumers of its own domain (namespace) only"),
    ("slo", "spec.slo.freshness is a duration such as 26h; required when the template says so"),
    ("deprecation-notice", "a sunset is at least the template's notice period after the announcement and not before the end of the quarter that follows it"),
    ("template-exists", "the template named by spec.template exists"),
    ("derived-names", "names derived from the template (namespace, buckets, database, tables, role) are valid and distinct"),
    ("name-collision", "two products never derive the same namespace, bucket, database or role"),
    ("template-description", "a template has a description saying whom it is for"),
    ("template-layers", "a template has at least one layer; layer names are unique, also once mapped to bucket names"),
    ("template-format", "name formats use known placeholders and include the required ones"),
    ("template-storage", "storage settings are consistent (forceDeleteData only with deletionPolicy Delete)"),
    ("template-extra-resource", "extra resources have apiVersion, kind and metadata.name, and valid placeholders"),
    ("access-product", "spec.product of a DataProductAccess is <namespace>/<name>"),
    ("access-consumer", "a DataProductAccess names exactly one consumer, a product (<namespace>/<name>, in the request's own namespace) or a principal ARN"),
    ("access-purpose", "a DataProductAccess says why the data is needed"),
    ("access-expires", "spec.expires is a valid date"),
    ("access-outputs", "requested outputs exist in the producer and may be granted to the consumer (when the producer is known)"),
];

/// Looks up a rule's meaning.
pub fn rule_meaning(id: &str) -> Option<&'static str> {
    RULES.iter().find(|(r, _)| *r == id).map(|(_, m)| *m)
}

/// Checks the whole set of known products together: no two derive the same name.
/// Returns `(product, violation)` pairs for the products that collide.
pub fn validate_set(world: &World) -> Vec<(crate::api::ProductRef, Violation)> {
    use std::collections::BTreeMap;
    let mut seen: BTreeMap<(String, String), crate::api::ProductRef> = BTreeMap::new();
    let mut out = Vec::new();
    for (r, p) in &world.products {
        let Some(t) = world.template_of(p) else {
            continue;
        };
        let Ok(names) = Names::derive(p, t) else {
            continue;
        };
        let mut claims = vec![
            (
                "namespace",
                "spec.template (namespace.name)",
                names.namespace.clone(),
            ),
            (
                "Glue database",
                "spec.template (catalog.databaseName)",
                names.database.clone(),
            ),
            (
                "IAM role",
                "spec.template (pipelines.roleName)",
                names.role_name.clone(),
            ),
        ];
        for (_, b) in &names.buckets {
            claims.push(("bucket", "spec.template (storage.bucketName)", b.clone()));
        }
        for (what, path, name) in claims {
            if let Some(other) = seen.get(&(what.to_string(), name.clone())) {
                out.push((
                    r.clone(),
                    Violation::new(
                        "name-collision",
                        path,
                        format!(
                            "{what} {name} is also derived by {other}; rename one of the products"
                        ),
                    ),
                ));
            } else {
                seen.insert((what.to_string(), name), r.clone());
            }
        }
    }
    out
}
