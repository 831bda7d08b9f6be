//! Every name a product derives from its template (namespace, buckets, database, tables, role),
//! computed once so the planner, the validator and the operator agree on them.

use crate::api::{DataProduct, DataProductTemplate};
use crate::model::names::{self, NameKind};
use crate::model::placeholders::Vars;

/// The derived names of one product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// `<namespace>/<name>` of the DataProduct: the identity every hash suffix is taken from.
    pub id: String,
    pub product: String,
    pub product_namespace: String,
    pub domain: String,
    /// The template's stage (`dev`, `prod`, ...), when it has one.
    pub stage: Option<String>,
    pub namespace: String,
    pub service_account: String,
    pub role_name: String,
    /// IAM path of the role (`/dataproducts/`); part of its ARN.
    pub role_path: String,
    pub role_arn: String,
    pub database: String,
    pub region: String,
    pub partition: String,
    pub account_id: String,
    /// (layer, bucket) in template order.
    pub buckets: Vec<(String, String)>,
    /// (output, table) in spec order.
    pub tables: Vec<(String, String)>,
}

/// A format that could not be expanded, with the template field it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    pub path: String,
    pub message: String,
}

impl Names {
    /// Derives all names. Errors name the template field whose format is wrong.
    pub fn derive(
        product: &DataProduct,
        template: &DataProductTemplate,
    ) -> Result<Names, Vec<NameError>> {
        let spec = &product.spec;
        let t = &template.spec;
        let name = product.metadata.name.clone().unwrap_or_default();
        let product_namespace = product.metadata.namespace.clone().unwrap_or_default();
        let id = format!("{product_namespace}/{name}");
        let stage = t.stage.clone().filter(|s| !s.is_empty());
        // What hash suffixes are taken from: the product, and its stage when there is one, so
        // shortened names of two stages differ too (names without a stage keep their hashes).
        let hashed = match &stage {
            Some(s) => format!("{id}@{s}"),
            None => id.clone(),
        };
        let mut errors = Vec::new();
        let mut vars = Vars::new()
            .with("organization", t.organization.as_str())
            .with("stage", stage.clone().unwrap_or_default())
            .with("domain", spec.domain.as_str())
            .with("product", name.as_str())
            .with("team", spec.owner.team.as_str());
        let mut expand =
            |vars: &Vars, path: &str, format: &str, kind: NameKind, identity: &str| match vars
                .expand(format)
            {
                Ok(raw) => names::derive(kind, &raw, identity),
                Err(message) => {
                    errors.push(NameError {
                        path: path.to_string(),
                        message,
                    });
                    String::new()
                }
            };
        let namespace = expand(
            &vars,
            "spec.namespace.name",
            &t.namespace.name,
            NameKind::Namespace,
            &hashed,
        );
        let database = expand(
            &vars,
            "spec.catalog.databaseName",
            &t.catalog.database_name,
            NameKind::Glue,
            &hashed,
        );
        let role_name = expand(
            &vars,
            "spec.pipelines.roleName",
            &t.pipelines.role_name,
            NameKind::IamRole,
            &hashed,
        );
        let service_account = names::derive(NameKind::Object, &t.pipelines.service_account, &id);
        let mut buckets = Vec::new();
        for (i, layer) in t.storage.layers.iter().enumerate() {
            let mut layer_vars = vars.clone();
            layer_vars.set("layer", layer.name.as_str());
            let identity = format!("{hashed}/{}", layer.name);
            let bucket = match shortened_product(&layer_vars, &t.storage.bucket_name, &name) {
                // Too long: the product part is shortened, so the layer (and the rest of the
                // format) stays readable, and the hash keeps the name unique.
                Some(raw) => names::derive_hashed(NameKind::S3Bucket, &raw, &identity),
                None => expand(
                    &layer_vars,
                    &format!("spec.storage.bucketName (layer {i})"),
                    &t.storage.bucket_name,
                    NameKind::S3Bucket,
                    &identity,
                ),
            };
            buckets.push((layer.name.clone(), bucket));
        }
        vars.set("namespace", namespace.as_str());
        let tables = spec
            .outputs
            .iter()
            .map(|o| {
                let identity = format!("{hashed}/{}", o.name);
                (
                    o.name.clone(),
                    names::derive(NameKind::Glue, &o.name, &identity),
                )
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        let role_path = t.pipelines.role_path.clone();
        let role_arn = format!(
            "arn:{}:iam::{}:role{}{}",
            t.aws.partition, t.aws.account_id, role_path, role_name
        );
        Ok(Names {
            id,
            product: name,
            product_namespace,
            domain: spec.domain.clone(),
            stage,
            namespace,
            service_account,
            role_name,
            role_path,
            role_arn,
            database,
            region: t.storage.region.clone(),
            partition: t.aws.partition.clone(),
            account_id: t.aws.account_id.clone(),
            buckets,
            tables,
        })
    }

    /// Bucket of a layer.
    pub fn bucket(&self, layer: &str) -> Option<&str> {
        self.buckets
            .iter()
            .find(|(l, _)| l == layer)
            .map(|(_, b)| b.as_str())
    }

    /// Glue table of an output.
    pub fn table(&self, output: &str) -> Option<&str> {
        self.tables
            .iter()
            .find(|(o, _)| o == output)
            .map(|(_, t)| t.as_str())
    }

    pub fn bucket_arn(&self, bucket: &str) -> String {
        format!("arn:{}:s3:::{bucket}", self.partition)
    }

    pub fn glue_arn(&self, resource: &str) -> String {
        format!(
            "arn:{}:glue:{}:{}:{resource}",
            self.partition, self.region, self.account_id
        )
    }

    /// Values for placeholders in extra resources and labels.
    pub fn vars(&self, organization: &str, team: &str) -> Vars {
        Vars::new()
            .with("organization", organization)
            .with("stage", self.stage.clone().unwrap_or_default())
            .with("domain", self.domain.as_str())
            .with("product", self.product.as_str())
            .with("team", team)
            .with("namespace", self.namespace.as_str())
            .with("database", self.database.as_str())
            .with("role", self.role_name.as_str())
    }
}

/// When `format` expands to a bucket name longer than S3 allows, the expansion with the product
/// part shortened just enough to leave room for the hash suffix; `None` when the name fits (or
/// shortening the product cannot make it fit, where the usual cut applies).
fn shortened_product(vars: &Vars, format: &str, product: &str) -> Option<String> {
    let full = vars.expand(format).ok()?;
    let max = NameKind::S3Bucket.max_len();
    if full.len() <= max || !format.contains("{product}") {
        return None;
    }
    let over = full.len() + names::HASH_SUFFIX_LEN - max;
    let keep = product.len().checked_sub(over).filter(|k| *k > 0)?;
    let short: String = product.chars().take(keep).collect();
    let mut vars = vars.clone();
    vars.set("product", short.trim_end_matches('-'));
    vars.expand(format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (DataProduct, DataProductTemplate) {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let (docs, errors) = crate::api::load::load_paths(
            &[
                root.join("examples/messaging/conversations.yaml"),
                root.join("templates"),
            ],
            &crate::api::load::LoadOptions::default(),
        );
        assert!(errors.is_empty());
        let mut product = None;
        let mut templates = Vec::new();
        for d in docs {
            match d.document {
                crate::api::load::Document::Product(p) => product = Some(*p),
                crate::api::load::Document::Template(t) => templates.push(*t),
                _ => {}
            }
        }
        let mut product = product.unwrap();
        product.metadata.name = Some(text.to_string());
        let template = templates
            .into_iter()
            .find(|t| t.metadata.name.as_deref() == Some(product.spec.template.as_str()))
            .unwrap();
        (product, template)
    }

    #[test]
    fn an_over_long_product_name_keeps_the_layer_in_every_bucket_name() {
        let (product, template) = load(&"a".repeat(63));
        let names = Names::derive(&product, &template).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for (layer, bucket) in &names.buckets {
            let layer = layer.replace('_', "-");
            assert!(bucket.len() <= 63, "{bucket}");
            assert!(
                bucket.contains(&format!("-{layer}-")),
                "{bucket} lost its layer {layer}"
            );
            assert!(seen.insert(bucket.clone()), "{bucket} twice");
        }
        // Two long names that share their first characters still get different buckets.
        let (other, _) = load(&format!("{}b", "a".repeat(62)));
        let other = Names::derive(&other, &template).unwrap();
        for ((_, a), (_, b)) in names.buckets.iter().zip(&other.buckets) {
            assert_ne!(a, b);
        }
        // Names that fit are unchanged: no hash.
        let (short, _) = load("conversations");
        let short = Names::derive(&short, &template).unwrap();
        assert!(short
            .buckets
            .iter()
            .all(|(l, b)| b.ends_with(&l.replace('_', "-"))));
    }

    /// The example product with the datamesh-architecture template's stage-aware formats.
    fn staged(product: &str, stage: Option<&str>) -> (DataProduct, DataProductTemplate) {
        static BASE: std::sync::OnceLock<(DataProduct, DataProductTemplate)> =
            std::sync::OnceLock::new();
        let (p, t) = BASE.get_or_init(|| load("conversations"));
        let (mut p, mut t) = (p.clone(), t.clone());
        p.metadata.name = Some(product.to_string());
        t.spec.stage = stage.map(str::to_string);
        t.spec.namespace.name = "{domain}-{product}[-{stage}]".into();
        t.spec.storage.bucket_name = "{organization}-{domain}-{product}-{layer}[-{stage}]".into();
        t.spec.catalog.database_name = "{domain}_{product}[_{stage}]".into();
        t.spec.pipelines.role_name = "dp-{domain}-{product}[-{stage}]".into();
        (p, t)
    }

    /// Every name a product claims, by kind, checked against the kind's rules and bounds.
    fn claims(n: &Names) -> Vec<(NameKind, String)> {
        let mut out = vec![
            (NameKind::Namespace, n.namespace.clone()),
            (NameKind::Glue, n.database.clone()),
            (NameKind::IamRole, n.role_name.clone()),
        ];
        out.extend(
            n.buckets
                .iter()
                .map(|(_, b)| (NameKind::S3Bucket, b.clone())),
        );
        out
    }

    #[test]
    fn optional_stage_is_left_out_without_a_stage_and_appended_with_one() {
        let (p, t) = staged("conversations", None);
        let n = Names::derive(&p, &t).unwrap();
        assert_eq!(n.namespace, "messaging-conversations");
        assert_eq!(n.database, "messaging_conversations");
        assert_eq!(n.stage, None);
        let (p, t) = staged("conversations", Some("dev"));
        let n = Names::derive(&p, &t).unwrap();
        assert_eq!(n.namespace, "messaging-conversations-dev");
        assert_eq!(n.database, "messaging_conversations_dev");
        assert_eq!(n.role_name, "dp-messaging-conversations-dev");
        assert!(n.buckets.iter().all(|(_, b)| b.ends_with("-dev")));
        assert_eq!(n.stage.as_deref(), Some("dev"));
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// With and without a stage, derived names are valid, bounded and never shared: not
        /// by two products, and not by the products of two stages of one template.
        #[test]
        fn staged_names_are_valid_bounded_and_distinct(
            products in prop::collection::btree_set("[a-z]([a-z0-9-]{0,61}[a-z0-9])?", 1..6),
            staged_run in any::<bool>(),
            stages in prop::collection::btree_set("[a-z][a-z0-9]{0,9}", 1..4),
        ) {
            let stages: Vec<Option<String>> = if staged_run {
                stages.into_iter().map(Some).collect()
            } else {
                vec![None]
            };
            let mut seen = std::collections::BTreeMap::new();
            for product in &products {
                for stage in &stages {
                    let (p, t) = staged(product, stage.as_deref());
                    let n = Names::derive(&p, &t).unwrap();
                    for (kind, name) in claims(&n) {
                        prop_assert!(name.len() <= kind.max_len(), "{name}");
                        prop_assert_eq!(names::check(kind, &name), Ok(()), "{:?} {}", kind, name);
                        if let Some(s) = stage {
                            // Visible in the name unless the hash had to stand in for it.
                            prop_assert!(name.contains(s.as_str()) || name.len() >= kind.max_len() - names::HASH_SUFFIX_LEN, "{name}");
                        }
                        let owner = (product.clone(), stage.clone());
                        if let Some(other) = seen.insert((format!("{kind:?}"), name.clone()), owner.clone()) {
                            prop_assert_eq!(other, owner, "{} claimed twice", name);
                        }
                    }
                }
            }
        }
    }
}
