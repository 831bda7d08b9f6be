//! The freshness signals against a real moto server: the newest S3 object (in the greatest
//! Hive-style partition) and that partition's Glue creation time, with the number of calls per
//! observation bounded whatever the bucket holds. Without moto the tests print why and pass,
//! unless DPO_REQUIRE_MOTO=1 (CI).

mod support;

use std::time::Duration;

use aws_sdk_glue::types::{Column, PartitionInput, StorageDescriptor, TableInput};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use dataproduct_operator::aws::freshness::{max_calls, OutputLocation};
use futures::StreamExt;
use support::moto::{Moto, Sdk};

const REGION: &str = "eu-west-1";

async fn bucket(sdk: &Sdk, name: &str) {
    sdk.s3
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Puts every key, 32 at a time.
async fn put_all(sdk: &Sdk, bucket: &str, keys: Vec<String>) {
    futures::stream::iter(keys)
        .map(|k| {
            let s3 = sdk.s3.clone();
            let bucket = bucket.to_string();
            async move {
                s3.put_object()
                    .bucket(bucket)
                    .key(k)
                    .body(ByteStream::from_static(b"x"))
                    .send()
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}

fn location(bucket: &str, prefix: &str, keys: &[&str]) -> OutputLocation {
    OutputLocation {
        region: REGION.into(),
        bucket: bucket.into(),
        prefix: prefix.into(),
        partition_keys: keys.iter().map(|k| k.to_string()).collect(),
        database: "db".into(),
        table: "orders".into(),
    }
}

/// The newest object's time is at least the second before it was put.
fn second_before(t: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(t.as_second() - 1).unwrap()
}

#[tokio::test]
async fn partitioned_output_reads_only_its_greatest_partition_and_glue_knows_it() {
    let Some(moto) = Moto::start() else { return };
    let sdk = Sdk::new(&moto.endpoint, REGION).await;
    let aws = moto.aws().await;
    bucket(&sdk, "fresh-parts").await;
    // 2,000 objects: 20 days × 20 hours × 5 files. hour=19 is the greatest as a number, not
    // as text (where 9 would win).
    let mut keys = Vec::new();
    for day in 1..=20 {
        for hour in 0..20 {
            for file in 0..5 {
                keys.push(format!(
                    "orders/dt=2026-11-{day:02}/hour={hour}/part-{file}.parquet"
                ));
            }
        }
    }
    assert_eq!(keys.len(), 2000);
    put_all(&sdk, "fresh-parts", keys).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before_last = jiff::Timestamp::now();
    put_all(
        &sdk,
        "fresh-parts",
        vec!["orders/dt=2026-11-20/hour=19/part-9.parquet".into()],
    )
    .await;

    let at = location("fresh-parts", "orders/", &["dt", "hour"]);
    // Not yet registered in Glue: the S3 signal alone.
    let found = aws.observe_output(&at).await;
    assert_eq!(found.partition, ["2026-11-20", "19"]);
    assert!(found.s3.unwrap() >= second_before(before_last), "{found:?}");
    assert_eq!(found.glue, None);
    // Two levels of one page each, the partition's objects, and Glue.
    assert_eq!(found.calls, 4, "{found:?}");
    assert!(found.calls <= max_calls(2));

    sdk.glue
        .create_database()
        .database_input(
            aws_sdk_glue::types::DatabaseInput::builder()
                .name("db")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let column = |n: &str| Column::builder().name(n).r#type("string").build().unwrap();
    sdk.glue
        .create_table()
        .database_name("db")
        .table_input(
            TableInput::builder()
                .name("orders")
                .partition_keys(column("dt"))
                .partition_keys(column("hour"))
                .storage_descriptor(
                    StorageDescriptor::builder()
                        .location("s3://fresh-parts/orders/")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    sdk.glue
        .create_partition()
        .database_name("db")
        .table_name("orders")
        .partition_input(
            PartitionInput::builder()
                .values("2026-11-20")
                .values("19")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let found = aws.observe_output(&at).await;
    assert!(found.glue.is_some(), "{found:?}");
    assert!(found.errors.is_empty(), "{found:?}");
    assert_eq!(found.calls, 4);
}

#[tokio::test]
async fn unpartitioned_output_with_2000_objects_and_empty_prefixes_stay_within_the_bound() {
    let Some(moto) = Moto::start() else { return };
    let sdk = Sdk::new(&moto.endpoint, REGION).await;
    let aws = moto.aws().await;
    bucket(&sdk, "fresh-flat").await;
    put_all(
        &sdk,
        "fresh-flat",
        (0..1999).map(|i| format!("events/{i:05}.json")).collect(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before_last = jiff::Timestamp::now();
    // The newest sorts first by name: every page must be read to find it.
    put_all(&sdk, "fresh-flat", vec!["events/00000-late.json".into()]).await;

    let found = aws
        .observe_output(&location("fresh-flat", "events/", &[]))
        .await;
    assert!(found.s3.unwrap() >= second_before(before_last), "{found:?}");
    assert_eq!(found.calls, 2, "two pages of 1,000");
    assert!(found.calls <= max_calls(0));

    // Nothing written yet: no signal, one call each.
    for keys in [&[][..], &["dt"][..]] {
        let found = aws
            .observe_output(&location("fresh-flat", "nothing/", keys))
            .await;
        assert_eq!((found.s3, found.glue), (None, None), "{keys:?}");
        assert_eq!(found.calls, 1, "{keys:?}");
        assert!(found.errors.is_empty(), "{found:?}");
    }
    // 2,000 partitions at one level: two pages of prefixes, the greatest by number.
    let keys: Vec<String> = (0..2000).map(|i| format!("wide/n={i}/a.json")).collect();
    put_all(&sdk, "fresh-flat", keys).await;
    let found = aws
        .observe_output(&location("fresh-flat", "wide/", &["n"]))
        .await;
    assert_eq!(found.partition, ["1999"]);
    assert!(found.s3.is_some());
    // Two pages of prefixes, the partition's objects, and a Glue lookup that finds no table.
    assert_eq!(found.calls, 4, "{found:?}");
    assert!(found.calls <= max_calls(1));
}
