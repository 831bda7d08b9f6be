//! The AWS step against a real moto server, over real HTTP with the real SDK: every property read
//! back through the SDK, zero mutations in steady state, schema changes, ownership conflicts,
//! deletion policies, grants, and convergence through throttling and 5xx.
//!
//! Each test starts its own moto server (tests/support/moto.rs); without moto installed the
//! tests print why and pass, unless DPO_REQUIRE_MOTO=1 (CI), where they fail.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_lakeformation::types::{DataLocationResource, Resource, TableResource};
use dataproduct_operator::api::{DeletionPolicy, GrantMode};
use dataproduct_operator::aws::ownership::{parse_policy, same_policy};
use dataproduct_operator::aws::{AwsReport, CallCounts, Owner};
use dataproduct_operator::plan::aws::{AccessGrantSpec, PlanDoc, S3BucketSpec};
use dataproduct_operator::plan::AwsResource;
use serde_json::{json, Value};
use support::moto::{aws_at, Moto, Sdk};
use support::plans;
use support::proxy::{Fault, Faults, Proxy};

const REGION: &str = "eu-west-1";
const CONVERSATIONS: &str = "messaging/conversations";
const CONSUMER_ROLE: &str =
    "arn:aws:iam::123456789012:role/dataproducts/dp-marketing-campaign-attribution";

fn owner(product: &str, uid: &str) -> Owner {
    Owner {
        product: product.to_string(),
        uid: uid.to_string(),
    }
}

fn assert_ready(r: &AwsReport) {
    for (what, c) in [
        ("storage", &r.storage),
        ("catalog", &r.catalog),
        ("access", &r.access),
    ] {
        assert!(c.ready, "{what} not ready: {} — {}", c.reason, c.message);
        assert_eq!(c.reason, "Provisioned");
    }
    assert!(!r.transient);
}

fn buckets(plan: &[AwsResource]) -> Vec<&PlanDoc<S3BucketSpec>> {
    plan.iter()
        .filter_map(|r| match r {
            AwsResource::S3Bucket(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn grants(plan: &[AwsResource]) -> Vec<&PlanDoc<AccessGrantSpec>> {
    plan.iter()
        .filter_map(|r| match r {
            AwsResource::AccessGrant(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn bucket_named<'a>(plan: &'a [AwsResource], layer: &str) -> &'a str {
    buckets(plan)
        .into_iter()
        .find(|b| b.spec.layer == layer)
        .map(|b| b.metadata.name.as_str())
        .expect("bucket of layer")
}

async fn bucket_tags(sdk: &Sdk, bucket: &str) -> BTreeMap<String, String> {
    match sdk.s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(out) => out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}

/// moto enforces bucket-policy Deny statements on object operations without evaluating their
/// conditions (`aws:SecureTransport`, `s3:x-amz-server-side-encryption`), so with the planned
/// policy every object read or write is refused there. Tests that hold data give their buckets a
/// policy moto evaluates faithfully; everything else about the plan is unchanged.
fn moto_object_access(plan: &mut [AwsResource]) {
    for r in plan {
        if let AwsResource::S3Bucket(b) = r {
            b.spec.policy = json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "OwnerLocation",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "s3:GetBucketLocation",
                "Resource": format!("arn:aws:s3:::{}", b.metadata.name),
            }]});
        }
    }
}

/// Writes an object the way pipelines must: asking for the bucket's KMS encryption (the bucket
/// policy refuses writes that ask for none or another).
async fn put(sdk: &Sdk, bucket: &str, key: &str, body: &str) {
    sdk.s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        .body(body.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put s3://{bucket}/{key}: {e:?}"));
}

async fn bucket_exists(sdk: &Sdk, bucket: &str) -> bool {
    sdk.s3.head_bucket().bucket(bucket).send().await.is_ok()
}

async fn bucket_policy(sdk: &Sdk, bucket: &str) -> Option<Value> {
    let out = sdk
        .s3
        .get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .ok()?;
    out.policy().and_then(parse_policy)
}

fn table_resource(database: &str, table: &str) -> Resource {
    Resource::builder()
        .table(
            TableResource::builder()
                .database_name(database)
                .name(table)
                .build()
                .unwrap(),
        )
        .build()
}

fn location_resource(arn: &str) -> Resource {
    Resource::builder()
        .data_location(
            DataLocationResource::builder()
                .resource_arn(arn)
                .build()
                .unwrap(),
        )
        .build()
}

/// principal → permissions on a Lake Formation resource.
async fn lf_permissions(sdk: &Sdk, resource: Resource) -> BTreeMap<String, BTreeSet<String>> {
    let out = sdk
        .lf
        .list_permissions()
        .resource(resource)
        .send()
        .await
        .expect("list permissions");
    let mut held: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in out.principal_resource_permissions() {
        let who = p
            .principal()
            .and_then(|p| p.data_lake_principal_identifier())
            .unwrap_or_default()
            .to_string();
        held.entry(who)
            .or_default()
            .extend(p.permissions().iter().map(|p| p.as_str().to_string()));
    }
    held
}

async fn glue_parameters(sdk: &Sdk, database: &str) -> BTreeMap<String, String> {
    let out = sdk.glue.get_database().name(database).send().await.unwrap();
    out.database()
        .unwrap()
        .parameters()
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

async fn catalog_policy(sdk: &Sdk) -> Option<Value> {
    let out = sdk.glue.get_resource_policy().send().await.ok()?;
    out.policy_in_json().and_then(parse_policy)
}

fn statement_sids(policy: &Option<Value>) -> Vec<String> {
    policy
        .as_ref()
        .and_then(|p| p["Statement"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["Sid"].as_str().map(str::to_string))
        .collect()
}

/// A lifecycle rule as read back: id, expiration, noncurrent expiration, abort-upload days.
type Rule = (String, Option<i32>, Option<i32>, Option<i32>);

fn counts(c: CallCounts) -> String {
    format!("{} reads, {} mutations", c.reads, c.mutations)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisions_a_product_from_scratch_with_every_property_read_back() {
    let Some(moto) = Moto::start() else { return };
    let world = plans::world();
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    let aws = moto.aws().await;
    let me = owner(CONVERSATIONS, "uid-1");

    let first = aws.ensure(&me, &plan).await;
    assert_ready(&first);
    eprintln!(
        "{CONVERSATIONS}: first provisioning {}",
        counts(first.calls)
    );
    assert_eq!(first.buckets.len(), 4);
    assert!(first
        .buckets
        .iter()
        .all(|b| b.arn.as_deref() == Some(&format!("arn:aws:s3:::{}", b.name))));

    let sdk = Sdk::new(&moto.endpoint, REGION).await;
    for doc in buckets(&plan) {
        let (b, spec) = (doc.metadata.name.as_str(), &doc.spec);
        let location = sdk.s3.get_bucket_location().bucket(b).send().await.unwrap();
        assert_eq!(
            location.location_constraint().map(|l| l.as_str()),
            Some(REGION)
        );
        let enc = sdk
            .s3
            .get_bucket_encryption()
            .bucket(b)
            .send()
            .await
            .unwrap();
        let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
        let default = rule.apply_server_side_encryption_by_default().unwrap();
        assert_eq!(default.sse_algorithm().as_str(), "aws:kms");
        assert_eq!(default.kms_master_key_id(), Some("alias/data-products"));
        assert_eq!(rule.bucket_key_enabled(), Some(true));
        let versioning = sdk
            .s3
            .get_bucket_versioning()
            .bucket(b)
            .send()
            .await
            .unwrap();
        assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
        let pab = sdk
            .s3
            .get_public_access_block()
            .bucket(b)
            .send()
            .await
            .unwrap();
        let pab = pab.public_access_block_configuration().unwrap();
        assert_eq!(pab.block_public_acls(), Some(true));
        assert_eq!(pab.ignore_public_acls(), Some(true));
        assert_eq!(pab.block_public_policy(), Some(true));
        assert_eq!(pab.restrict_public_buckets(), Some(true));
        let policy = bucket_policy(&sdk, b).await.expect("bucket policy");
        assert!(same_policy(&policy, &spec.policy), "{policy}");
        assert_eq!(
            statement_sids(&Some(policy)),
            ["DenyInsecureTransport", "DenyUnencryptedWrites"]
        );
        let lifecycle = sdk
            .s3
            .get_bucket_lifecycle_configuration()
            .bucket(b)
            .send()
            .await
            .unwrap();
        let mut rules: Vec<Rule> = lifecycle
            .rules()
            .iter()
            .map(|r| {
                assert_eq!(r.status().as_str(), "Enabled");
                (
                    r.id().unwrap().to_string(),
                    r.expiration().and_then(|e| e.days()),
                    r.noncurrent_version_expiration()
                        .and_then(|e| e.noncurrent_days()),
                    r.abort_incomplete_multipart_upload()
                        .and_then(|a| a.days_after_initiation()),
                )
            })
            .collect();
        rules.sort();
        let mut want: Vec<_> = spec
            .lifecycle
            .iter()
            .map(|r| {
                (
                    r.id.clone(),
                    r.expiration_days.map(|d| d as i32),
                    r.noncurrent_version_expiration_days.map(|d| d as i32),
                    r.abort_incomplete_multipart_upload_days.map(|d| d as i32),
                )
            })
            .collect();
        want.sort();
        assert_eq!(rules, want, "lifecycle of {b}");
        if spec.layer == "raw" {
            assert!(want.iter().any(|r| r.0 == "retention" && r.1 == Some(30)));
        }
        let mut tags = spec.tags.clone();
        tags.insert("dataproducts.io/uid".into(), "uid-1".into());
        assert_eq!(bucket_tags(&sdk, b).await, tags, "tags of {b}");
    }

    for r in &plan {
        match r {
            AwsResource::GlueDatabase(d) => {
                let out = sdk
                    .glue
                    .get_database()
                    .name(&d.metadata.name)
                    .send()
                    .await
                    .unwrap();
                let db = out.database().unwrap();
                assert_eq!(db.description(), Some(d.spec.description.as_str()));
                let params = glue_parameters(&sdk, &d.metadata.name).await;
                for (k, v) in &d.spec.parameters {
                    assert_eq!(params.get(k), Some(v), "database parameter {k}");
                }
                assert_eq!(params["product"], CONVERSATIONS);
                assert_eq!(params["dataproducts.io/uid"], "uid-1");
                let arn = format!(
                    "arn:aws:glue:{REGION}:{}:database/{}",
                    db.catalog_id().unwrap(),
                    d.metadata.name
                );
                let tags = sdk.glue.get_tags().resource_arn(arn).send().await.unwrap();
                let tags = tags.tags().unwrap();
                for (k, v) in &d.spec.tags {
                    assert_eq!(tags.get(k), Some(v), "database tag {k}");
                }
                assert_eq!(tags["dataproducts.io/uid"], "uid-1");
            }
            AwsResource::GlueTable(t) => {
                let out = sdk
                    .glue
                    .get_table()
                    .database_name(&t.spec.database)
                    .name(&t.metadata.name)
                    .send()
                    .await
                    .unwrap();
                let table = out.table().unwrap();
                assert_eq!(table.description(), Some(t.spec.description.as_str()));
                assert_eq!(table.table_type(), Some("EXTERNAL_TABLE"));
                let sd = table.storage_descriptor().unwrap();
                let cols = |cs: &[aws_sdk_glue::types::Column]| -> Vec<(String, String, String)> {
                    cs.iter()
                        .map(|c| {
                            (
                                c.name().to_string(),
                                c.r#type().unwrap_or_default().to_string(),
                                c.comment().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                };
                let want = |cs: &[dataproduct_operator::plan::aws::GlueColumn]| -> Vec<(String, String, String)> {
                    cs.iter()
                        .map(|c| (c.name.clone(), c.type_.clone(), c.comment.clone()))
                        .collect()
                };
                assert_eq!(cols(sd.columns()), want(&t.spec.columns));
                assert_eq!(cols(table.partition_keys()), want(&t.spec.partition_keys));
                assert!(!t.spec.partition_keys.is_empty());
                assert_eq!(sd.location(), Some(t.spec.location.as_str()));
                assert_eq!(
                    sd.input_format(),
                    Some(t.spec.storage.input_format.as_str())
                );
                assert_eq!(
                    sd.output_format(),
                    Some(t.spec.storage.output_format.as_str())
                );
                let serde = sd.serde_info().unwrap();
                assert_eq!(
                    serde.serialization_library(),
                    Some(t.spec.storage.serde_library.as_str())
                );
                let serde_params: BTreeMap<String, String> = serde
                    .parameters()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(serde_params, t.spec.storage.serde_parameters);
                let params = table.parameters().unwrap();
                for (k, v) in &t.spec.parameters {
                    assert_eq!(params.get(k), Some(v), "table parameter {k}");
                }
                assert_eq!(params["dataproducts.io/product"], CONVERSATIONS);
                assert_eq!(params["dataproducts.io/uid"], "uid-1");
                assert_eq!(params["dataproducts.io/output"], t.metadata.name);
            }
            AwsResource::IamRole(r) => {
                let out = sdk
                    .iam
                    .get_role()
                    .role_name(&r.metadata.name)
                    .send()
                    .await
                    .unwrap();
                let role = out.role().unwrap();
                assert_eq!(role.arn(), r.spec.arn);
                // Under the template's path, with the template's boundary: the operator's
                // policy allows CreateRole only so.
                assert_eq!(role.path(), "/dataproducts/");
                assert!(
                    role.arn().contains(":role/dataproducts/dp-"),
                    "{}",
                    role.arn()
                );
                let boundary = role.permissions_boundary().expect("a permissions boundary");
                assert_eq!(
                    boundary.permissions_boundary_arn(),
                    Some("arn:aws:iam::123456789012:policy/dataproducts/DataProductBoundary")
                );
                assert_eq!(
                    r.spec.permissions_boundary.as_deref(),
                    boundary.permissions_boundary_arn()
                );
                let trust = parse_policy(role.assume_role_policy_document().unwrap()).unwrap();
                assert!(same_policy(&trust, &r.spec.trust_policy), "{trust}");
                let tags: BTreeMap<String, String> = role
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
                let mut want = r.spec.tags.clone();
                want.insert("dataproducts.io/uid".into(), "uid-1".into());
                assert_eq!(tags, want);
                let policy = sdk
                    .iam
                    .get_role_policy()
                    .role_name(&r.metadata.name)
                    .policy_name(&r.spec.policy_name)
                    .send()
                    .await
                    .unwrap();
                let policy = parse_policy(policy.policy_document()).unwrap();
                assert!(same_policy(&policy, &r.spec.policy), "{policy}");
                let names = sdk
                    .iam
                    .list_role_policies()
                    .role_name(&r.metadata.name)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    names.policy_names(),
                    std::slice::from_ref(&r.spec.policy_name)
                );
            }
            AwsResource::AccessGrant(g) => {
                assert_eq!(g.spec.mode, GrantMode::Lakeformation);
                assert_eq!(g.spec.grantee.principal.as_deref(), Some(CONSUMER_ROLE));
                for table in &g.spec.tables {
                    let held = lf_permissions(&sdk, table_resource(&g.spec.database, table)).await;
                    assert_eq!(
                        held.get(CONSUMER_ROLE),
                        Some(&BTreeSet::from([
                            "DESCRIBE".to_string(),
                            "SELECT".to_string()
                        ]))
                    );
                }
                let location = format!(
                    "arn:aws:s3:::{}/conversations",
                    bucket_named(&plan, "data_products")
                );
                let held = lf_permissions(&sdk, location_resource(&location)).await;
                assert_eq!(
                    held.get(CONSUMER_ROLE),
                    Some(&BTreeSet::from(["DATA_LOCATION_ACCESS".to_string()]))
                );
            }
            AwsResource::S3Bucket(_) => {}
        }
    }
    assert_eq!(grants(&plan).len(), 1);

    // Steady state: only reads.
    let second = aws.ensure(&me, &plan).await;
    assert_ready(&second);
    eprintln!("{CONVERSATIONS}: steady state {}", counts(second.calls));
    assert_eq!(second.calls.mutations, 0, "second ensure mutated");
    assert!(second.calls.reads > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_product_provisions_then_holds_still() {
    let Some(moto) = Moto::start() else { return };
    let world = plans::world();
    let aws = moto.aws().await;
    let mut table = Vec::new();
    for (i, id) in plans::products(&world).iter().enumerate() {
        let plan = plans::aws_plan(&world, id);
        let me = owner(id, &format!("uid-{i}"));
        let first = aws.ensure(&me, &plan).await;
        assert_ready(&first);
        let second = aws.ensure(&me, &plan).await;
        assert_ready(&second);
        assert_eq!(second.calls.mutations, 0, "{id}: steady state mutated");
        table.push((id.clone(), plan.len(), first.calls, second.calls));
    }
    eprintln!("| product | AWS resources | first provisioning (reads / mutations) | steady state (reads / mutations) | reads per hour at 10 min |");
    eprintln!("|---|---|---|---|---|");
    for (id, n, first, second) in &table {
        eprintln!(
            "| {id} | {n} | {} / {} | {} / {} | {} |",
            first.reads,
            first.mutations,
            second.reads,
            second.mutations,
            second.reads * 6
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_change_updates_the_table_in_place_and_a_removed_output_loses_only_its_table() {
    let Some(moto) = Moto::start() else { return };
    let mut world = plans::world();
    let aws = moto.aws().await;
    let sdk = Sdk::new(&moto.endpoint, REGION).await;
    let me = owner(CONVERSATIONS, "uid-1");
    assert_ready(
        &aws.ensure(&me, &plans::aws_plan(&world, CONVERSATIONS))
            .await,
    );

    // A new column and a reworded description.
    {
        let p = plans::product_mut(&mut world, CONVERSATIONS);
        let out = &mut p.spec.outputs[0];
        let mut col = out.schema[0].clone();
        col.name = "reply_rate".into();
        col.type_ = "double".into();
        col.description = "Share of buyer messages answered".into();
        out.schema.push(col);
        out.schema[1].description = "Hashed buyer id (sha256)".into();
    }
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    let report = aws.ensure(&me, &plan).await;
    assert_ready(&report);
    assert_eq!(
        report.calls.mutations, 1,
        "only UpdateTable: {:?}",
        report.calls
    );
    let table = sdk
        .glue
        .get_table()
        .database_name("acme_messaging_conversations")
        .name("conversations")
        .send()
        .await
        .unwrap();
    let cols = table
        .table()
        .unwrap()
        .storage_descriptor()
        .unwrap()
        .columns();
    let last = cols.last().unwrap();
    assert_eq!(
        (last.name(), last.r#type(), last.comment()),
        (
            "reply_rate",
            Some("double"),
            Some("Share of buyer messages answered")
        )
    );
    assert_eq!(cols[1].comment(), Some("Hashed buyer id (sha256)"));
    let versions = sdk
        .glue
        .get_table_versions()
        .database_name("acme_messaging_conversations")
        .table_name("conversations")
        .send()
        .await
        .unwrap();
    assert!(
        versions.table_versions().len() >= 2,
        "updated in place, not re-created"
    );
    assert_eq!(aws.ensure(&me, &plan).await.calls.mutations, 0);

    // orders/orders drops an output: its table goes, its data stays.
    let orders = "orders/orders";
    let me = owner(orders, "uid-2");
    let mut plan = plans::aws_plan(&world, orders);
    moto_object_access(&mut plan);
    assert_ready(&aws.ensure(&me, &plan).await);
    let t = plan
        .iter()
        .find_map(|r| match r {
            AwsResource::GlueTable(t) if t.metadata.name == "orders" => Some(t),
            _ => None,
        })
        .unwrap();
    let (bucket, key) = t
        .spec
        .location
        .trim_start_matches("s3://")
        .split_once('/')
        .unwrap();
    let key = format!("{key}dt=2026-11-01/part-0.parquet");
    put(&sdk, bucket, &key, "PAR1").await;
    plans::product_mut(&mut world, orders)
        .spec
        .outputs
        .retain(|o| o.name != "orders");
    let mut plan = plans::aws_plan(&world, orders);
    moto_object_access(&mut plan);
    let report = aws.ensure(&me, &plan).await;
    assert_ready(&report);
    let tables = sdk
        .glue
        .get_tables()
        .database_name(&t.spec.database)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = tables.table_list().iter().map(|t| t.name()).collect();
    assert!(!names.contains(&"orders"), "{names:?}");
    assert!(names.contains(&"orders_v2"), "{names:?}");
    assert!(sdk
        .s3
        .head_object()
        .bucket(bucket)
        .key(&key)
        .send()
        .await
        .is_ok());
    assert_eq!(aws.ensure(&me, &plan).await.calls.mutations, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_resources_are_reported_as_conflicts_and_left_exactly_as_they_were() {
    let Some(moto) = Moto::start() else { return };
    let world = plans::world();
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    let sdk = Sdk::new(&moto.endpoint, REGION).await;
    let raw = bucket_named(&plan, "raw").to_string();
    let intermediates = bucket_named(&plan, "intermediates").to_string();

    // Someone's bucket (no ownership), another product's bucket, someone's database and role.
    for (bucket, tags) in [
        (&raw, vec![("team", "someone")]),
        (
            &intermediates,
            vec![("dataproducts.io/product", "other/product")],
        ),
    ] {
        sdk.s3
            .create_bucket()
            .bucket(bucket)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let tag_set = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_s3::types::Tag::builder()
                    .key(*k)
                    .value(*v)
                    .build()
                    .unwrap()
            })
            .collect();
        sdk.s3
            .put_bucket_tagging()
            .bucket(bucket)
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .set_tag_set(Some(tag_set))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    sdk.glue
        .create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name("acme_messaging_conversations")
                .description("hand-made")
                .parameters("owner", "someone")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    sdk.iam
        .create_role()
        .role_name("dp-messaging-conversations")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}).to_string(),
        )
        .send()
        .await
        .unwrap();

    async fn snapshot(sdk: &Sdk, buckets: &[&str]) -> String {
        let mut out = String::new();
        for b in buckets {
            out += &format!(
                "{b}: tags={:?} versioning={:?} policy={:?} lifecycle={:?} pab={:?} encryption={:?}\n",
                bucket_tags(sdk, b).await,
                sdk.s3.get_bucket_versioning().bucket(*b).send().await.ok().and_then(|v| v.status().cloned()),
                bucket_policy(sdk, b).await,
                sdk.s3.get_bucket_lifecycle_configuration().bucket(*b).send().await.ok().map(|l| l.rules().len()),
                sdk.s3.get_public_access_block().bucket(*b).send().await.ok().map(|p| format!("{:?}", p.public_access_block_configuration())),
                sdk.s3.get_bucket_encryption().bucket(*b).send().await.ok().map(|e| format!("{:?}", e.server_side_encryption_configuration())),
            );
        }
        let db = sdk
            .glue
            .get_database()
            .name("acme_messaging_conversations")
            .send()
            .await
            .unwrap();
        out += &format!(
            "database: {:?} {:?}\n",
            db.database().unwrap().description(),
            glue_parameters(sdk, "acme_messaging_conversations").await
        );
        let tables = sdk
            .glue
            .get_tables()
            .database_name("acme_messaging_conversations")
            .send()
            .await
            .unwrap();
        out += &format!("tables: {}\n", tables.table_list().len());
        let role = sdk
            .iam
            .get_role()
            .role_name("dp-messaging-conversations")
            .send()
            .await
            .unwrap();
        let role = role.role().unwrap();
        out += &format!(
            "role: {:?} {:?}\n",
            role.assume_role_policy_document(),
            role.tags()
        );
        let inline = sdk
            .iam
            .list_role_policies()
            .role_name("dp-messaging-conversations")
            .send()
            .await
            .unwrap();
        out += &format!("inline: {:?}\n", inline.policy_names());
        out
    }
    let before = snapshot(&sdk, &[&raw, &intermediates]).await;

    let aws = moto.aws().await;
    let me = owner(CONVERSATIONS, "uid-1");
    let report = aws.ensure(&me, &plan).await;
    assert!(!report.storage.ready);
    assert_eq!(report.storage.reason, "Conflict");
    assert!(
        report.storage.message.contains(&format!("S3 bucket {raw}")),
        "{}",
        report.storage.message
    );
    assert!(report
        .storage
        .message
        .contains(&format!("S3 bucket {intermediates}")));
    assert!(report.storage.message.contains("other/product"));
    assert_eq!(report.catalog.reason, "Conflict");
    assert!(report
        .catalog
        .message
        .contains("Glue database acme_messaging_conversations"));
    assert_eq!(report.access.reason, "Conflict");
    assert!(report
        .access
        .message
        .contains("IAM role dp-messaging-conversations"));
    assert!(
        !report.transient,
        "a conflict waits for a person, not a retry"
    );
    // The two buckets that are free are provisioned; the others are not reported as ours.
    let names: Vec<&str> = report.buckets.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.contains(&raw.as_str()));

    assert_eq!(
        snapshot(&sdk, &[&raw, &intermediates]).await,
        before,
        "foreign resources changed"
    );
    let again = aws.ensure(&me, &plan).await;
    assert_eq!(
        again.calls.mutations, 0,
        "conflicts are not retried with writes"
    );
    assert_eq!(snapshot(&sdk, &[&raw, &intermediates]).await, before);

    // Cleanup leaves them alone too.
    let cleanup = aws.cleanup(&me, &plan).await;
    assert!(cleanup.done, "{}", cleanup.message);
    assert_eq!(snapshot(&sdk, &[&raw, &intermediates]).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_keeps_data_and_catalogue_removes_role_and_grants_and_a_new_incarnation_adopts() {
    let Some(moto) = Moto::start() else { return };
    let world = plans::world();
    let mut plan = plans::aws_plan(&world, CONVERSATIONS);
    moto_object_access(&mut plan);
    assert!(buckets(&plan)
        .iter()
        .all(|b| b.spec.deletion_policy == DeletionPolicy::Retain));
    let aws = moto.aws().await;
    let sdk = Sdk::new(&moto.endpoint, REGION).await;
    let old = owner(CONVERSATIONS, "uid-old");
    assert_ready(&aws.ensure(&old, &plan).await);
    let data = bucket_named(&plan, "data_products");
    put(
        &sdk,
        data,
        "conversations/dt=2026-11-01/part-0.parquet",
        "PAR1",
    )
    .await;

    let report = aws.cleanup(&old, &plan).await;
    assert!(report.done, "{}", report.message);
    assert!(report.retained.is_empty(), "{:?}", report.retained);
    assert!(!report.transient);
    eprintln!(
        "cleanup (Retain): {} — {}",
        counts(report.calls),
        report.message
    );
    for b in buckets(&plan) {
        assert!(bucket_exists(&sdk, &b.metadata.name).await);
    }
    assert!(sdk
        .s3
        .head_object()
        .bucket(data)
        .key("conversations/dt=2026-11-01/part-0.parquet")
        .send()
        .await
        .is_ok());
    assert!(sdk
        .glue
        .get_table()
        .database_name("acme_messaging_conversations")
        .name("conversations")
        .send()
        .await
        .is_ok());
    let role = sdk
        .iam
        .get_role()
        .role_name("dp-messaging-conversations")
        .send()
        .await;
    assert!(role.is_err(), "role still there");
    let held = lf_permissions(
        &sdk,
        table_resource("acme_messaging_conversations", "conversations"),
    )
    .await;
    assert!(!held.contains_key(CONSUMER_ROLE), "{held:?}");
    assert!(!glue_parameters(&sdk, "acme_messaging_conversations")
        .await
        .contains_key("dataproducts.io/grants"));

    // Cleanup again: nothing left to do.
    let again = aws.cleanup(&old, &plan).await;
    assert!(again.done);
    assert_eq!(again.calls.mutations, 0);

    // The product is re-created (same namespace/name, new uid): it adopts what was retained.
    let new = owner(CONVERSATIONS, "uid-new");
    let adopt = aws.ensure(&new, &plan).await;
    assert_ready(&adopt);
    eprintln!("adoption: {}", counts(adopt.calls));
    for b in buckets(&plan) {
        assert_eq!(
            bucket_tags(&sdk, &b.metadata.name).await["dataproducts.io/uid"],
            "uid-new"
        );
    }
    assert_eq!(
        glue_parameters(&sdk, "acme_messaging_conversations").await["dataproducts.io/uid"],
        "uid-new"
    );
    assert_eq!(aws.ensure(&new, &plan).await.calls.mutations, 0);
    // The old incarnation's cleanup (a late finalizer) must not touch the adopted resources.
    let late = aws.cleanup(&old, &plan).await;
    assert!(late.done);
    assert_eq!(late.calls.mutations, 0, "{}", late.message);
    assert!(sdk
        .iam
        .get_role()
        .role_name("dp-messaging-conversations")
        .send()
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_catalogue_and_empty_buckets_and_needs_force_for_data() {
    let Some(moto) = Moto::start() else { return };
    let mut world = plans::world();
    {
        let t = plans::template_mut(&mut world, CONVERSATIONS);
        t.spec.storage.deletion_policy = DeletionPolicy::Delete;
        t.spec.storage.force_delete_data = false;
    }
    let mut plan = plans::aws_plan(&world, CONVERSATIONS);
    moto_object_access(&mut plan);
    let aws = moto.aws().await;
    let sdk = Sdk::new(&moto.endpoint, REGION).await;
    let me = owner(CONVERSATIONS, "uid-1");
    assert_ready(&aws.ensure(&me, &plan).await);
    let raw = bucket_named(&plan, "raw");
    // Two versions of one object and a deleted object (a delete marker over a version).
    for body in ["v1", "v2"] {
        put(&sdk, raw, "events/part-0.json", body).await;
    }
    put(&sdk, raw, "events/gone.json", "x").await;
    sdk.s3
        .delete_object()
        .bucket(raw)
        .key("events/gone.json")
        .send()
        .await
        .unwrap();

    let report = aws.cleanup(&me, &plan).await;
    assert!(report.done, "the finalizer may go: {}", report.message);
    assert_eq!(report.retained.len(), 1, "{:?}", report.retained);
    assert!(report.retained[0].contains(raw) && report.retained[0].contains("forceDeleteData"));
    eprintln!(
        "cleanup (Delete, no force): {} — {}",
        counts(report.calls),
        report.message
    );
    assert!(bucket_exists(&sdk, raw).await, "non-empty bucket kept");
    let kept = sdk
        .s3
        .list_object_versions()
        .bucket(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.versions().len(), 3);
    assert_eq!(kept.delete_markers().len(), 1);
    for b in buckets(&plan).iter().filter(|b| b.metadata.name != raw) {
        assert!(
            !bucket_exists(&sdk, &b.metadata.name).await,
            "{} not deleted",
            b.metadata.name
        );
    }
    assert!(sdk
        .glue
        .get_database()
        .name("acme_messaging_conversations")
        .send()
        .await
        .is_err());
    assert!(sdk
        .iam
        .get_role()
        .role_name("dp-messaging-conversations")
        .send()
        .await
        .is_err());

    // With forceDeleteData every version and delete marker goes, then the bucket.
    plans::template_mut(&mut world, CONVERSATIONS)
        .spec
        .storage
        .force_delete_data = true;
    let mut plan = plans::aws_plan(&world, CONVERSATIONS);
    moto_object_access(&mut plan);
    let report = aws.cleanup(&me, &plan).await;
    assert!(report.done, "{}", report.message);
    assert!(report.retained.is_empty(), "{:?}", report.retained);
    eprintln!(
        "cleanup (Delete, force): {} — {}",
        counts(report.calls),
        report.message
    );
    assert!(!bucket_exists(&sdk, raw).await);
    let again = aws.cleanup(&me, &plan).await;
    assert!(again.done);
    assert_eq!(again.calls.mutations, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_added_and_removed_in_both_modes_and_others_grants_are_kept() {
    let Some(moto) = Moto::start() else { return };
    let mut world = plans::world();
    let aws = moto.aws().await;
    let sdk = Sdk::new(&moto.endpoint, REGION).await;
    let me = owner(CONVERSATIONS, "uid-1");
    let db = "acme_messaging_conversations";
    let analyst = "arn:aws:iam::123456789012:role/analyst";
    let consumers = plans::product_mut(&mut world, CONVERSATIONS)
        .spec
        .access
        .consumers
        .clone();
    assert!(!consumers.is_empty());

    // No consumer yet.
    plans::product_mut(&mut world, CONVERSATIONS)
        .spec
        .access
        .consumers
        .clear();
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    assert!(grants(&plan).is_empty());
    assert_ready(&aws.ensure(&me, &plan).await);
    // An administrator grants an analyst by hand: never ours to revoke.
    sdk.lf
        .grant_permissions()
        .principal(
            aws_sdk_lakeformation::types::DataLakePrincipal::builder()
                .data_lake_principal_identifier(analyst)
                .build(),
        )
        .resource(table_resource(db, "conversations"))
        .permissions(aws_sdk_lakeformation::types::Permission::Select)
        .send()
        .await
        .unwrap();

    // Grant added.
    plans::product_mut(&mut world, CONVERSATIONS)
        .spec
        .access
        .consumers = consumers.clone();
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    let added = aws.ensure(&me, &plan).await;
    assert_ready(&added);
    eprintln!("grant added (lakeformation): {}", counts(added.calls));
    let held = lf_permissions(&sdk, table_resource(db, "conversations")).await;
    assert_eq!(
        held[CONSUMER_ROLE],
        BTreeSet::from(["DESCRIBE".into(), "SELECT".into()])
    );
    assert!(glue_parameters(&sdk, db).await["dataproducts.io/grants"].contains(CONSUMER_ROLE));
    assert_eq!(aws.ensure(&me, &plan).await.calls.mutations, 0);

    // Grant removed.
    plans::product_mut(&mut world, CONVERSATIONS)
        .spec
        .access
        .consumers
        .clear();
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    let removed = aws.ensure(&me, &plan).await;
    assert_ready(&removed);
    eprintln!("grant removed (lakeformation): {}", counts(removed.calls));
    let held = lf_permissions(&sdk, table_resource(db, "conversations")).await;
    assert!(!held.contains_key(CONSUMER_ROLE), "{held:?}");
    assert_eq!(
        held[analyst],
        BTreeSet::from(["SELECT".into()]),
        "someone else's grant kept"
    );
    let location = format!(
        "arn:aws:s3:::{}/conversations",
        bucket_named(&plan, "data_products")
    );
    assert!(lf_permissions(&sdk, location_resource(&location))
        .await
        .is_empty());
    assert!(!glue_parameters(&sdk, db)
        .await
        .contains_key("dataproducts.io/grants"));
    assert_eq!(aws.ensure(&me, &plan).await.calls.mutations, 0);

    // bucket-policy mode: bucket-policy statements and catalogue resource-policy entries.
    plans::template_mut(&mut world, CONVERSATIONS)
        .spec
        .access
        .grants = GrantMode::BucketPolicy;
    let foreign = json!({"Sid": "SomeoneElse", "Effect": "Allow", "Principal": {"AWS": analyst}, "Action": "glue:GetDatabase", "Resource": "arn:aws:glue:eu-west-1:123456789012:database/other"});
    sdk.glue
        .put_resource_policy()
        .policy_in_json(json!({"Version": "2012-10-17", "Statement": [foreign]}).to_string())
        .send()
        .await
        .unwrap();
    plans::product_mut(&mut world, CONVERSATIONS)
        .spec
        .access
        .consumers = consumers.clone();
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    assert_eq!(grants(&plan)[0].spec.mode, GrantMode::BucketPolicy);
    let added = aws.ensure(&me, &plan).await;
    assert_ready(&added);
    eprintln!("grant added (bucket-policy): {}", counts(added.calls));
    let data = bucket_named(&plan, "data_products");
    let policy = bucket_policy(&sdk, data).await;
    let sids = statement_sids(&policy);
    assert_eq!(
        sids.iter().filter(|s| s.starts_with("DpoGrant")).count(),
        2,
        "{sids:?}"
    );
    let read = policy.as_ref().unwrap()["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"].as_str().unwrap().starts_with("DpoGrantRead"))
        .unwrap()
        .clone();
    assert_eq!(read["Principal"]["AWS"], json!(CONSUMER_ROLE));
    assert_eq!(
        read["Resource"],
        json!([format!("arn:aws:s3:::{data}/conversations/*")])
    );
    let raw = bucket_named(&plan, "raw");
    assert_eq!(
        statement_sids(&bucket_policy(&sdk, raw).await).len(),
        2,
        "other buckets unchanged"
    );
    let catalog = catalog_policy(&sdk).await;
    let sids = statement_sids(&catalog);
    assert!(sids.contains(&"SomeoneElse".to_string()), "{sids:?}");
    assert_eq!(
        sids.iter().filter(|s| s.starts_with("Dpo")).count(),
        1,
        "{sids:?}"
    );
    let ours = catalog.as_ref().unwrap()["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"].as_str().unwrap().starts_with("Dpo"))
        .unwrap()
        .clone();
    assert!(ours["Resource"].as_array().unwrap().contains(&json!(
        "arn:aws:glue:eu-west-1:123456789012:table/acme_messaging_conversations/conversations"
    )));
    assert_eq!(aws.ensure(&me, &plan).await.calls.mutations, 0);

    plans::product_mut(&mut world, CONVERSATIONS)
        .spec
        .access
        .consumers
        .clear();
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    let removed = aws.ensure(&me, &plan).await;
    assert_ready(&removed);
    eprintln!("grant removed (bucket-policy): {}", counts(removed.calls));
    assert_eq!(
        statement_sids(&bucket_policy(&sdk, data).await),
        ["DenyInsecureTransport", "DenyUnencryptedWrites"]
    );
    assert_eq!(statement_sids(&catalog_policy(&sdk).await), ["SomeoneElse"]);
    assert!(!glue_parameters(&sdk, db)
        .await
        .contains_key("dataproducts.io/grants"));
    assert_eq!(aws.ensure(&me, &plan).await.calls.mutations, 0);

    // Cleanup with a grant in place removes it and keeps the rest (Retain).
    plans::product_mut(&mut world, CONVERSATIONS)
        .spec
        .access
        .consumers = consumers;
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    assert_ready(&aws.ensure(&me, &plan).await);
    let report = aws.cleanup(&me, &plan).await;
    assert!(report.done, "{}", report.message);
    assert_eq!(
        statement_sids(&bucket_policy(&sdk, data).await),
        ["DenyInsecureTransport", "DenyUnencryptedWrites"]
    );
    assert_eq!(statement_sids(&catalog_policy(&sdk).await), ["SomeoneElse"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_and_cleanup_converge_through_throttling_and_server_errors() {
    let Some(moto) = Moto::start() else { return };
    use Fault::*;
    let proxy = Proxy::start(
        &moto.endpoint,
        Faults {
            // 3 faults in every 10 requests, deterministic, at most 120 in all.
            pattern: vec![
                None,
                None,
                Throttle,
                None,
                None,
                ErrorBefore,
                None,
                None,
                ErrorAfter,
                None,
            ],
            budget: 120,
            deny: Option::None,
            ..Faults::default()
        },
    )
    .await;
    let mut world = plans::world();
    plans::template_mut(&mut world, CONVERSATIONS)
        .spec
        .storage
        .deletion_policy = DeletionPolicy::Delete;
    let aws = aws_at(&proxy.endpoint).await;
    let products = [CONVERSATIONS, "messaging/events"];
    for id in products {
        let plan = plans::aws_plan(&world, id);
        let me = owner(id, "uid-1");
        let mut rounds = 0;
        loop {
            rounds += 1;
            let r = aws.ensure(&me, &plan).await;
            let ready = r.storage.ready && r.catalog.ready && r.access.ready;
            if ready && !r.transient {
                break;
            }
            // Only retryable failures may remain while faults are injected.
            assert!(r.transient, "{id}: non-transient failure: {r:?}");
            assert!(
                rounds < 4,
                "{id}: did not converge in {rounds} rounds: {r:?}"
            );
        }
        eprintln!("{id}: converged in {rounds} ensure round(s)");
        let steady = aws.ensure(&me, &plan).await;
        assert!(steady.storage.ready && steady.catalog.ready && steady.access.ready);
        assert_eq!(steady.calls.mutations, 0, "{id}");
    }
    let s = &proxy.stats;
    eprintln!(
        "proxy: {} requests, {} throttled, {} 500 before, {} 500 after forwarding",
        s.requests.load(std::sync::atomic::Ordering::Relaxed),
        s.throttled.load(std::sync::atomic::Ordering::Relaxed),
        s.errors_before.load(std::sync::atomic::Ordering::Relaxed),
        s.errors_after.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(s.throttled.load(std::sync::atomic::Ordering::Relaxed) >= 10);
    assert!(s.errors_before.load(std::sync::atomic::Ordering::Relaxed) >= 10);
    assert!(s.errors_after.load(std::sync::atomic::Ordering::Relaxed) >= 10);

    // What converged is really there.
    let sdk = Sdk::new(&moto.endpoint, REGION).await;
    for id in products {
        let plan = plans::aws_plan(&world, id);
        for b in buckets(&plan) {
            assert_eq!(
                bucket_tags(&sdk, &b.metadata.name).await["dataproducts.io/product"],
                id
            );
        }
    }

    // Deletion through the faults too (a delete whose response was lost is retried: not found).
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    let me = owner(CONVERSATIONS, "uid-1");
    let mut rounds = 0;
    loop {
        rounds += 1;
        let r = aws.cleanup(&me, &plan).await;
        if r.done {
            break;
        }
        assert!(r.transient, "{}", r.message);
        assert!(rounds < 4, "cleanup did not converge: {}", r.message);
    }
    for b in buckets(&plan) {
        assert!(!bucket_exists(&sdk, &b.metadata.name).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_names_the_action_and_resource_and_is_not_retried() {
    let Some(moto) = Moto::start() else { return };
    let proxy = Proxy::start(
        &moto.endpoint,
        Faults {
            pattern: Vec::new(),
            budget: 0,
            deny: Some("CreateRole".into()),
            ..Faults::default()
        },
    )
    .await;
    let world = plans::world();
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    let aws = aws_at(&proxy.endpoint).await;
    let me = owner(CONVERSATIONS, "uid-1");
    let report = aws.ensure(&me, &plan).await;
    assert!(report.storage.ready && report.catalog.ready, "{report:?}");
    assert!(!report.access.ready);
    assert_eq!(report.access.reason, "AccessDenied");
    assert!(
        report.access.message.contains("iam:CreateRole")
            && report.access.message.contains("dp-messaging-conversations"),
        "{}",
        report.access.message
    );
    assert!(
        !report.transient,
        "no hot loop: waits for the permission or the next resync"
    );
    assert_eq!(
        proxy.stats.count("CreateRole"),
        1,
        "AccessDenied is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_table_in_the_products_database_is_reported_left_alone_and_never_granted() {
    let Some(moto) = Moto::start() else { return };
    let mut world = plans::world();
    let aws = moto.aws().await;
    let sdk = Sdk::new(&moto.endpoint, REGION).await;
    let me = owner(CONVERSATIONS, "uid-1");
    let db = "acme_messaging_conversations";
    let consumers = std::mem::take(
        &mut plans::product_mut(&mut world, CONVERSATIONS)
            .spec
            .access
            .consumers,
    );
    assert_ready(
        &aws.ensure(&me, &plans::aws_plan(&world, CONVERSATIONS))
            .await,
    );

    // Someone replaces the table with a hand-made one of the same name.
    sdk.glue
        .delete_table()
        .database_name(db)
        .name("conversations")
        .send()
        .await
        .unwrap();
    sdk.glue
        .create_table()
        .database_name(db)
        .table_input(
            aws_sdk_glue::types::TableInput::builder()
                .name("conversations")
                .description("hand-made")
                .parameters("owner", "someone")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    plans::product_mut(&mut world, CONVERSATIONS)
        .spec
        .access
        .consumers = consumers;
    let plan = plans::aws_plan(&world, CONVERSATIONS);
    let report = aws.ensure(&me, &plan).await;
    assert!(report.storage.ready);
    assert_eq!(report.catalog.reason, "Conflict");
    assert!(
        report
            .catalog
            .message
            .contains("Glue table acme_messaging_conversations.conversations"),
        "{}",
        report.catalog.message
    );
    let table = sdk
        .glue
        .get_table()
        .database_name(db)
        .name("conversations")
        .send()
        .await
        .unwrap();
    assert_eq!(table.table().unwrap().description(), Some("hand-made"));
    let held = lf_permissions(&sdk, table_resource(db, "conversations")).await;
    assert!(!held.contains_key(CONSUMER_ROLE), "{held:?}");
    // Nothing is retried with writes.
    assert_eq!(aws.ensure(&me, &plan).await.calls.mutations, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_boundary_is_replaced_and_a_role_under_another_path_is_a_conflict() {
    let Some(moto) = Moto::start() else { return };
    let world = plans::world();
    let mut plan = plans::aws_plan(&world, CONVERSATIONS);
    let aws = moto.aws().await;
    let me = owner(CONVERSATIONS, "uid-1");
    assert_ready(&aws.ensure(&me, &plan).await);
    let sdk = Sdk::new(&moto.endpoint, REGION).await;
    let role_boundary = |sdk: &Sdk| {
        let iam = sdk.iam.clone();
        async move {
            let out = iam
                .get_role()
                .role_name("dp-messaging-conversations")
                .send()
                .await
                .unwrap();
            let role = out.role().unwrap();
            (
                role.path().to_string(),
                role.permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_string),
            )
        }
    };

    // The template names another boundary: it replaces the old one, in one call.
    let other = "arn:aws:iam::123456789012:policy/dataproducts/OtherBoundary";
    for r in plan.iter_mut() {
        if let AwsResource::IamRole(r) = r {
            r.spec.permissions_boundary = Some(other.to_string());
        }
    }
    let changed = aws.ensure(&me, &plan).await;
    assert_ready(&changed);
    assert_eq!(changed.calls.mutations, 1, "{}", counts(changed.calls));
    assert_eq!(
        role_boundary(&sdk).await,
        ("/dataproducts/".to_string(), Some(other.to_string()))
    );
    assert_eq!(aws.ensure(&me, &plan).await.calls.mutations, 0);

    // The template moves roles to another path: IAM cannot move a role, so ours is reported.
    for r in plan.iter_mut() {
        if let AwsResource::IamRole(r) = r {
            r.spec.path = "/elsewhere/".to_string();
        }
    }
    let moved = aws.ensure(&me, &plan).await;
    assert_eq!(moved.access.reason, "Conflict", "{}", moved.access.message);
    assert!(
        moved.access.message.contains("under path /dataproducts/")
            && moved.access.message.contains("/elsewhere/"),
        "{}",
        moved.access.message
    );
    assert_eq!(moved.calls.mutations, 0, "{}", counts(moved.calls));
    assert_eq!(
        role_boundary(&sdk).await,
        ("/dataproducts/".to_string(), Some(other.to_string()))
    );
}
