//! The AWS resources a product needs, as plan documents
//! (`apiVersion: plan.dataproducts.io/v1alpha1`, `metadata.name` = the AWS name). The AWS step of
//! the operator ensures exactly these; `dpctl plan` prints them for review.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::constants::{tags, OPERATOR};
use crate::api::{
    DataFormat, DataProduct, DataProductTemplate, DeletionPolicy, GrantMode, Output, PiiPolicy,
    Visibility,
};
use crate::model::glue_type::GlueType;
use crate::model::Names;

/// `apiVersion` of plan documents.
pub const PLAN_API_VERSION: &str = "plan.dataproducts.io/v1alpha1";

/// One planned AWS resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum AwsResource {
    S3Bucket(PlanDoc<S3BucketSpec>),
    GlueDatabase(PlanDoc<GlueDatabaseSpec>),
    GlueTable(PlanDoc<GlueTableSpec>),
    IamRole(PlanDoc<IamRoleSpec>),
    AccessGrant(PlanDoc<AccessGrantSpec>),
}

impl AwsResource {
    pub fn kind(&self) -> &'static str {
        match self {
            AwsResource::S3Bucket(_) => "S3Bucket",
            AwsResource::GlueDatabase(_) => "GlueDatabase",
            AwsResource::GlueTable(_) => "GlueTable",
            AwsResource::IamRole(_) => "IamRole",
            AwsResource::AccessGrant(_) => "AccessGrant",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            AwsResource::S3Bucket(d) => &d.metadata.name,
            AwsResource::GlueDatabase(d) => &d.metadata.name,
            AwsResource::GlueTable(d) => &d.metadata.name,
            AwsResource::IamRole(d) => &d.metadata.name,
            AwsResource::AccessGrant(d) => &d.metadata.name,
        }
    }
}

/// A plan document: the kind comes from the enum tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanDoc<S> {
    pub api_version: String,
    pub metadata: PlanMeta,
    pub spec: S,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMeta {
    /// The resource's name in AWS.
    pub name: String,
}

fn doc<S>(name: &str, spec: S) -> PlanDoc<S> {
    PlanDoc {
        api_version: PLAN_API_VERSION.to_string(),
        metadata: PlanMeta {
            name: name.to_string(),
        },
        spec,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3BucketSpec {
    pub region: String,
    pub layer: String,
    pub visibility: Visibility,
    pub encryption: Encryption,
    pub versioning: bool,
    pub public_access_block: PublicAccessBlock,
    /// The bucket policy document (TLS only, encrypted writes only).
    pub policy: Value,
    pub lifecycle: Vec<LifecycleRule>,
    pub tags: BTreeMap<String, String>,
    pub deletion_policy: DeletionPolicy,
    pub force_delete_data: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encryption {
    /// `aws:kms` or `AES256` (SSE-S3).
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// S3 Bucket Keys cut KMS request costs by orders of magnitude for data lakes.
    pub bucket_key_enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleRule {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_version_expiration_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_multipart_upload_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GlueDatabaseSpec {
    pub region: String,
    pub description: String,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub deletion_policy: DeletionPolicy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GlueTableSpec {
    pub region: String,
    pub database: String,
    pub description: String,
    /// Always `EXTERNAL_TABLE`: the data lives in S3 and outlives the table.
    pub table_type: String,
    pub location: String,
    pub columns: Vec<GlueColumn>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_keys: Vec<GlueColumn>,
    pub storage: StorageFormat,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlueColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageFormat {
    pub input_format: String,
    pub output_format: String,
    pub serde_library: String,
    pub serde_parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamRoleSpec {
    pub arn: String,
    /// IAM path the role is created under.
    #[serde(default = "default_role_path")]
    pub path: String,
    /// Permissions boundary (managed policy ARN) attached to the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
    /// Who may assume the role: the product's pipelines ServiceAccount.
    pub service_account: String,
    pub trust_policy: Value,
    pub policy_name: String,
    pub policy: Value,
    pub tags: BTreeMap<String, String>,
}

fn default_role_path() -> String {
    "/".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessGrantSpec {
    pub mode: GrantMode,
    pub region: String,
    pub grantee: Grantee,
    pub database: String,
    pub tables: Vec<String>,
    /// S3 ARNs (bucket and `bucket/output/*` prefixes) the grantee may read.
    pub locations: Vec<String>,
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grantee {
    /// `<namespace>/<name>` when the grantee is a DataProduct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// The IAM principal that is granted; unset when the consuming product is not known yet
    /// (the operator resolves it when that product exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

/// Tags every AWS resource of a product carries; ownership is decided by them.
pub fn ownership_tags(names: &Names, template: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (tags::MANAGED_BY.to_string(), OPERATOR.to_string()),
        (tags::PRODUCT.to_string(), names.id.clone()),
        (tags::DOMAIN.to_string(), names.domain.clone()),
        (tags::TEMPLATE.to_string(), template.to_string()),
    ])
}

/// A read grant of some outputs of a producer to one grantee, computed by the planner.
#[derive(Debug, Clone)]
pub struct Grant {
    pub grantee: Grantee,
    pub outputs: Vec<String>,
    pub expires: Option<String>,
}

/// What this product's role may read of another product (an input that was granted).
#[derive(Debug, Clone)]
pub struct InputRead {
    pub database_arn: String,
    pub table_arns: Vec<String>,
    pub bucket_arns: Vec<String>,
    pub prefix_arns: Vec<String>,
    /// Key prefixes (`<output>/`) that may be listed in those buckets.
    pub key_prefixes: Vec<String>,
}

/// Builds every AWS resource, in apply order.
pub fn build(
    product: &DataProduct,
    template: &DataProductTemplate,
    names: &Names,
    grants: &[Grant],
    reads: &[InputRead],
) -> Vec<AwsResource> {
    let t = &template.spec;
    let tname = template.metadata.name.as_deref().unwrap_or_default();
    let tags = ownership_tags(names, tname);
    let mut out = Vec::new();

    for layer in &t.storage.layers {
        let bucket = names.bucket(&layer.name).unwrap_or_default();
        let mut layer_tags = tags.clone();
        layer_tags.insert("dataproducts.io/layer".to_string(), layer.name.clone());
        let kms = t.storage.kms_key_id.clone();
        let mut lifecycle = vec![LifecycleRule {
            id: "abort-incomplete-uploads".to_string(),
            expiration_days: None,
            noncurrent_version_expiration_days: None,
            abort_incomplete_multipart_upload_days: Some(7),
        }];
        if let Some(days) = layer.retention_days {
            lifecycle.push(LifecycleRule {
                id: "retention".to_string(),
                expiration_days: Some(days),
                noncurrent_version_expiration_days: None,
                abort_incomplete_multipart_upload_days: None,
            });
        }
        if t.storage.versioning {
            lifecycle.push(LifecycleRule {
                id: "noncurrent-versions".to_string(),
                expiration_days: None,
                noncurrent_version_expiration_days: Some(
                    t.storage.noncurrent_version_retention_days,
                ),
                abort_incomplete_multipart_upload_days: None,
            });
        }
        out.push(AwsResource::S3Bucket(doc(
            bucket,
            S3BucketSpec {
                region: names.region.clone(),
                layer: layer.name.clone(),
                visibility: layer.visibility,
                encryption: Encryption {
                    algorithm: if kms.is_some() { "aws:kms" } else { "AES256" }.to_string(),
                    kms_key_id: kms.clone(),
                    bucket_key_enabled: kms.is_some(),
                },
                versioning: t.storage.versioning,
                public_access_block: PublicAccessBlock {
                    block_public_acls: true,
                    ignore_public_acls: true,
                    block_public_policy: true,
                    restrict_public_buckets: true,
                },
                policy: bucket_policy(&names.bucket_arn(bucket), kms.is_some()),
                lifecycle,
                tags: layer_tags,
                deletion_policy: t.storage.deletion_policy,
                force_delete_data: t.storage.force_delete_data,
            },
        )));
    }

    let mut db_params = BTreeMap::from([
        ("domain".to_string(), names.domain.clone()),
        ("owner".to_string(), product.spec.owner.team.clone()),
        ("owner_email".to_string(), product.spec.owner.email.clone()),
        ("product".to_string(), names.id.clone()),
    ]);
    db_params.insert(
        "class".to_string(),
        format!("{:?}", product.spec.class).to_lowercase(),
    );
    out.push(AwsResource::GlueDatabase(doc(
        &names.database,
        GlueDatabaseSpec {
            region: names.region.clone(),
            description: clip(product.spec.description.trim(), 2048),
            parameters: db_params,
            tags: tags.clone(),
            deletion_policy: t.storage.deletion_policy,
        },
    )));

    for output in &product.spec.outputs {
        let table = names.table(&output.name).unwrap_or_default();
        let bucket = names.bucket(&output.layer).unwrap_or_default();
        let layer = t.storage.layers.iter().find(|l| l.name == output.layer);
        out.push(AwsResource::GlueTable(doc(
            table,
            glue_table(product, names, output, bucket, layer.map(|l| l.pii), &tags),
        )));
    }

    out.push(AwsResource::IamRole(doc(
        &names.role_name,
        IamRoleSpec {
            arn: names.role_arn.clone(),
            path: names.role_path.clone(),
            permissions_boundary: t.pipelines.permissions_boundary.clone(),
            service_account: format!("{}/{}", names.namespace, names.service_account),
            trust_policy: trust_policy(names, t.aws.oidc_provider.as_deref()),
            policy_name: "dataproduct".to_string(),
            policy: role_policy(product, names, t, reads),
            tags: tags.clone(),
        },
    )));

    for grant in grants {
        let who = grant
            .grantee
            .product
            .clone()
            .or_else(|| grant.grantee.principal.clone())
            .unwrap_or_default();
        // Readable, plus a hash of the grantee: `ns1/b-c` and `ns1-b/c` read the same once
        // sanitised, so the name alone would not tell them apart.
        let name = crate::model::names::derive(
            crate::model::names::NameKind::Object,
            &format!(
                "{}-to-{}-{}",
                names.database,
                who,
                crate::model::names::short_hash(&format!("{}->{}", names.id, who))
            ),
            &format!("{}->{}", names.id, who),
        );
        let mut locations = Vec::new();
        let mut tables = Vec::new();
        for output in product
            .spec
            .outputs
            .iter()
            .filter(|o| grant.outputs.contains(&o.name))
        {
            let bucket = names.bucket(&output.layer).unwrap_or_default();
            tables.push(names.table(&output.name).unwrap_or_default().to_string());
            let bucket_arn = names.bucket_arn(bucket);
            if !locations.contains(&bucket_arn) {
                locations.push(bucket_arn.clone());
            }
            locations.push(format!("{bucket_arn}/{}/*", output.name));
        }
        out.push(AwsResource::AccessGrant(doc(
            &name,
            AccessGrantSpec {
                mode: t.access.grants,
                region: names.region.clone(),
                grantee: grant.grantee.clone(),
                database: names.database.clone(),
                tables,
                locations,
                permissions: vec!["SELECT".to_string(), "DESCRIBE".to_string()],
                expires: grant.expires.clone(),
            },
        )));
    }
    out
}

fn bucket_policy(bucket_arn: &str, kms: bool) -> Value {
    let objects = format!("{bucket_arn}/*");
    // Writes that ask for another encryption are refused; writes that ask for none get the
    // bucket's default encryption, so nothing is ever stored unencrypted and clients that rely on
    // default encryption keep working. (`…IfExists` would not do: a missing key makes it true,
    // which would refuse every write without the header.) Both condition keys must hold: the
    // header is present (`Null: false`) and names another algorithm.
    let algorithm = if kms { "aws:kms" } else { "AES256" };
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}
            },
            {
                "Sid": "DenyUnencryptedWrites",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": objects,
                "Condition": {
                    "StringNotEquals": {"s3:x-amz-server-side-encryption": algorithm},
                    "Null": {"s3:x-amz-server-side-encryption": "false"}
                }
            }
        ]
    })
}

fn glue_table(
    product: &DataProduct,
    names: &Names,
    output: &Output,
    bucket: &str,
    pii_policy: Option<PiiPolicy>,
    tags: &BTreeMap<String, String>,
) -> GlueTableSpec {
    let column = |c: &crate::api::Column| GlueColumn {
        name: c.name.clone(),
        // The canonical spelling, so `INT` and `int` never show up as a schema change.
        type_: GlueType::parse(&c.type_)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| c.type_.clone()),
        comment: clip(c.description.trim(), 255),
    };
    let columns: Vec<GlueColumn> = output.schema.iter().map(column).collect();
    let partition_keys: Vec<GlueColumn> = output.partition_keys.iter().map(column).collect();
    let pii_columns: Vec<&str> = output
        .schema
        .iter()
        .chain(&output.partition_keys)
        .filter(|c| c.pii)
        .map(|c| c.name.as_str())
        .collect();
    let mut parameters = BTreeMap::from([
        ("EXTERNAL".to_string(), "TRUE".to_string()),
        (
            "classification".to_string(),
            format_name(output.format).to_string(),
        ),
        (
            "dataproducts.io/version".to_string(),
            output.version.to_string(),
        ),
        ("dataproducts.io/product".to_string(), names.id.clone()),
        ("dataproducts.io/layer".to_string(), output.layer.clone()),
        (
            "dataproducts.io/owner".to_string(),
            product.spec.owner.team.clone(),
        ),
        (
            "dataproducts.io/pii".to_string(),
            (!pii_columns.is_empty()).to_string(),
        ),
    ]);
    if !pii_columns.is_empty() {
        parameters.insert(
            "dataproducts.io/pii-columns".to_string(),
            pii_columns.join(","),
        );
    }
    if pii_policy == Some(PiiPolicy::Forbidden) {
        parameters.insert(
            "dataproducts.io/pii-policy".to_string(),
            "forbidden".to_string(),
        );
    }
    if let Some(g) = &output.granularity {
        parameters.insert("dataproducts.io/granularity".to_string(), g.clone());
    }
    if let Some(d) = &output.deprecation {
        parameters.insert("dataproducts.io/sunset".to_string(), d.sunset.clone());
    }
    if output.format == DataFormat::Csv {
        parameters.insert("skip.header.line.count".to_string(), "1".to_string());
    }
    let mut storage = storage_format(output.format);
    if output.format == DataFormat::Avro {
        storage.serde_parameters.insert(
            "avro.schema.literal".to_string(),
            avro_schema(&output.name, &output.schema).to_string(),
        );
    }
    let mut table_tags = tags.clone();
    table_tags.insert("dataproducts.io/output".to_string(), output.name.clone());
    GlueTableSpec {
        region: names.region.clone(),
        database: names.database.clone(),
        description: clip(output.description.trim(), 2048),
        table_type: "EXTERNAL_TABLE".to_string(),
        location: format!("s3://{bucket}/{}/", output.name),
        columns,
        partition_keys,
        storage,
        parameters,
        tags: table_tags,
    }
}

/// Glue caps column comments at 255 characters and descriptions at 2048; longer text would be
/// refused on every attempt, so it is cut (on a character boundary) with an ellipsis.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

pub fn format_name(format: DataFormat) -> &'static str {
    match format {
        DataFormat::Parquet => "parquet",
        DataFormat::Orc => "orc",
        DataFormat::Avro => "avro",
        DataFormat::Json => "json",
        DataFormat::Csv => "csv",
    }
}

/// Hive SerDe and input/output formats Athena expects for each file format.
pub fn storage_format(format: DataFormat) -> StorageFormat {
    let text_in = "org.apache.hadoop.mapred.TextInputFormat";
    let text_out = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
    let (input, output, serde, params): (&str, &str, &str, &[(&str, &str)]) = match format {
        DataFormat::Parquet => (
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            &[("serialization.format", "1")],
        ),
        DataFormat::Orc => (
            "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
            "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
            "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
            &[("serialization.format", "1")],
        ),
        DataFormat::Avro => (
            "org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat",
            "org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat",
            "org.apache.hadoop.hive.serde2.avro.AvroSerDe",
            &[],
        ),
        DataFormat::Json => (text_in, text_out, "org.openx.data.jsonserde.JsonSerDe", &[]),
        DataFormat::Csv => (
            text_in,
            text_out,
            "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
            &[("field.delim", ","), ("serialization.format", ",")],
        ),
    };
    StorageFormat {
        input_format: input.to_string(),
        output_format: output.to_string(),
        serde_library: serde.to_string(),
        serde_parameters: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// Athena's AvroSerDe needs the Avro schema; every field is nullable because pipelines may
/// write partial rows.
fn avro_schema(name: &str, columns: &[crate::api::Column]) -> Value {
    fn avro(t: &GlueType, name: &str) -> Value {
        match t {
            GlueType::Boolean => json!("boolean"),
            GlueType::TinyInt | GlueType::SmallInt | GlueType::Int => json!("int"),
            GlueType::BigInt => json!("long"),
            GlueType::Float => json!("float"),
            GlueType::Double => json!("double"),
            GlueType::Decimal { precision, scale } => {
                json!({"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale})
            }
            GlueType::String | GlueType::Char(_) | GlueType::Varchar(_) => json!("string"),
            GlueType::Date => json!({"type": "int", "logicalType": "date"}),
            GlueType::Timestamp => json!({"type": "long", "logicalType": "timestamp-millis"}),
            GlueType::Binary => json!("bytes"),
            GlueType::Array(inner) => json!({"type": "array", "items": avro(inner, name)}),
            GlueType::Map(_, value) => json!({"type": "map", "values": avro(value, name)}),
            GlueType::Struct(fields) => json!({
                "type": "record",
                "name": format!("{name}_record"),
                "fields": fields.iter().map(|(f, t)| json!({"name": f, "type": ["null", avro(t, &format!("{name}_{f}"))], "default": null})).collect::<Vec<_>>()
            }),
        }
    }
    let fields: Vec<Value> = columns
        .iter()
        .map(|c| {
            let t = GlueType::parse(&c.type_).unwrap_or(GlueType::String);
            json!({"name": c.name, "type": ["null", avro(&t, &c.name)], "default": null, "doc": c.description.trim()})
        })
        .collect();
    json!({"type": "record", "name": name, "fields": fields})
}

fn trust_policy(names: &Names, oidc_provider: Option<&str>) -> Value {
    // The issuer URL is often pasted with its scheme; IAM names the provider without it.
    let provider = oidc_provider.map(|p| p.trim_start_matches("https://").trim_end_matches('/'));
    match provider {
        // IRSA: only this namespace's pipelines ServiceAccount may assume the role.
        Some(provider) => json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": format!("arn:{}:iam::{}:oidc-provider/{provider}", names.partition, names.account_id)},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    format!("{provider}:sub"): format!("system:serviceaccount:{}:{}", names.namespace, names.service_account),
                    format!("{provider}:aud"): "sts.amazonaws.com"
                }}
            }]
        }),
        // EKS Pod Identity: the association (namespace + ServiceAccount) scopes the role.
        None => json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                "Condition": {"StringEquals": {
                    "aws:RequestTag/kubernetes-namespace": names.namespace,
                    "aws:RequestTag/kubernetes-service-account": names.service_account
                }}
            }]
        }),
    }
}

fn role_policy(
    product: &DataProduct,
    names: &Names,
    t: &crate::api::DataProductTemplateSpec,
    reads: &[InputRead],
) -> Value {
    let _ = product;
    let kms_key = t.storage.kms_key_id.as_deref();
    let bucket_arns: Vec<String> = names
        .buckets
        .iter()
        .map(|(_, b)| names.bucket_arn(b))
        .collect();
    // Layers marked `readableByPipelines: false` are written, never read, by pipelines.
    let readable = |layer: &str| {
        t.storage
            .layers
            .iter()
            .find(|l| l.name == layer)
            .is_none_or(|l| l.readable_by_pipelines)
    };
    let objects = |want: bool| -> Vec<String> {
        names
            .buckets
            .iter()
            .filter(|(l, _)| readable(l) == want)
            .map(|(_, b)| format!("{}/*", names.bucket_arn(b)))
            .collect()
    };
    let (object_arns, write_only_arns) = (objects(true), objects(false));
    let mut statements = vec![
        json!({"Sid": "OwnBuckets", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arns}),
        json!({"Sid": "OwnObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], "Resource": object_arns}),
        json!({
            "Sid": "OwnCatalog",
            "Effect": "Allow",
            "Action": [
                "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions",
                "glue:CreatePartition", "glue:BatchCreatePartition", "glue:UpdatePartition",
                "glue:DeletePartition", "glue:BatchDeletePartition"
            ],
            "Resource": [
                names.glue_arn("catalog"),
                names.glue_arn(&format!("database/{}", names.database)),
                names.glue_arn(&format!("table/{}/*", names.database)),
            ]
        }),
    ];
    if !write_only_arns.is_empty() {
        statements.insert(2, json!({"Sid": "WriteOnlyObjects", "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], "Resource": write_only_arns}));
        // Every layer write-only: no statement with an empty resource list.
        statements.retain(|s| s["Resource"].as_array().is_none_or(|r| !r.is_empty()));
    }
    if let Some(key) = kms_key {
        // An alias cannot be a policy resource; the condition matches the key behind it.
        let statement = if let Some(alias) = key.strip_prefix("alias/") {
            json!({"Sid": "DataKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
                   "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": format!("alias/{alias}")}}})
        } else if key.starts_with("arn:") {
            json!({"Sid": "DataKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key})
        } else {
            json!({"Sid": "DataKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                   "Resource": format!("arn:{}:kms:{}:{}:key/{key}", names.partition, names.region, names.account_id)})
        };
        statements.push(statement);
    }
    if !reads.is_empty() {
        let mut buckets: Vec<String> = reads.iter().flat_map(|r| r.bucket_arns.clone()).collect();
        buckets.sort();
        buckets.dedup();
        let mut prefixes: Vec<String> = reads.iter().flat_map(|r| r.prefix_arns.clone()).collect();
        prefixes.sort();
        prefixes.dedup();
        let mut catalog: Vec<String> = vec![names.glue_arn("catalog")];
        for r in reads {
            catalog.push(r.database_arn.clone());
            catalog.extend(r.table_arns.iter().cloned());
        }
        catalog.sort();
        catalog.dedup();
        statements.push(json!({"Sid": "GrantedInputBuckets", "Effect": "Allow", "Action": ["s3:GetBucketLocation"], "Resource": buckets}));
        // Listing is limited to the granted outputs' prefixes: the rest of the producer's bucket
        // (other outputs) stays invisible.
        for (i, r) in reads.iter().enumerate() {
            let like: Vec<String> = r
                .key_prefixes
                .iter()
                .flat_map(|p| [p.clone(), format!("{p}*")])
                .collect();
            statements.push(json!({"Sid": format!("ListGrantedInput{i}"), "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": r.bucket_arns, "Condition": {"StringLike": {"s3:prefix": like}}}));
        }
        statements.push(json!({"Sid": "GrantedInputObjects", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": prefixes}));
        statements.push(json!({"Sid": "GrantedInputCatalog", "Effect": "Allow", "Action": ["glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions"], "Resource": catalog}));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}
