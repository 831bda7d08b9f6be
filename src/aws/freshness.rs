//! When an output's data last changed, from signals that cost no data scan: the newest object
//! under its location (for a partitioned output, only in its greatest Hive-style `key=value`
//! partition, found by listing common prefixes with a delimiter) and the creation time of that
//! partition in Glue. Read-only, and the number of calls per observation is bounded
//! ([`max_calls`]), whatever the number of objects or partitions.

use std::cmp::Ordering;

use jiff::Timestamp;

use super::call::{CallError, Calls, Fault};
use super::Aws;
use crate::plan::aws::GlueTableSpec;

/// Pages of common prefixes read per partition level (up to 1,000 prefixes each). S3 lists in
/// key order, so beyond this the greatest partition seen so far is taken.
pub const PREFIX_PAGES: u32 = 3;
/// Objects read in the newest partition: one small page.
pub const LEAF_KEYS: i32 = 100;
/// Pages of objects read for an unpartitioned output (up to 1,000 objects each).
pub const OBJECT_PAGES: u32 = 2;

/// The most AWS calls one observation of an output makes.
pub fn max_calls(partition_depth: usize) -> u32 {
    if partition_depth == 0 {
        OBJECT_PAGES
    } else {
        // Each level, the newest partition's objects, and its Glue partition.
        partition_depth as u32 * PREFIX_PAGES + 2
    }
}

/// Where an output lives, from its planned Glue table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLocation {
    pub region: String,
    pub bucket: String,
    /// Key prefix of the table's data, ending in `/` (or empty).
    pub prefix: String,
    pub partition_keys: Vec<String>,
    pub database: String,
    pub table: String,
}

impl OutputLocation {
    /// From the plan's table (`location` is `s3://bucket/prefix/`).
    pub fn of(table: &str, spec: &GlueTableSpec) -> Option<OutputLocation> {
        let rest = spec.location.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut prefix = prefix.to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Some(OutputLocation {
            region: spec.region.clone(),
            bucket: bucket.to_string(),
            prefix,
            partition_keys: spec.partition_keys.iter().map(|k| k.name.clone()).collect(),
            database: spec.database.clone(),
            table: table.to_string(),
        })
    }
}

/// What one observation found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutputSignals {
    /// The newest object's LastModified.
    pub s3: Option<Timestamp>,
    /// The greatest partition's values, when the output is partitioned and has one.
    pub partition: Vec<String>,
    /// That partition's creation time in Glue.
    pub glue: Option<Timestamp>,
    /// AWS calls made.
    pub calls: u32,
    /// Calls that failed (the signal is then missing, not wrong).
    pub errors: Vec<String>,
}

fn timestamp(t: &aws_sdk_s3::primitives::DateTime) -> Option<Timestamp> {
    Timestamp::new(t.secs(), i32::try_from(t.subsec_nanos()).ok()?).ok()
}

/// Partition values compare as numbers when both are (`hour=9` < `hour=10`), otherwise as text
/// (ISO dates sort as text).
fn partition_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

impl Aws {
    /// Observes one output. Failures are reported in `errors` and leave that signal out.
    pub async fn observe_output(&self, at: &OutputLocation) -> OutputSignals {
        let region = self.region(&at.region);
        let clients = self.clients(&region);
        let calls = Calls::new(self.limits.clone());
        let mut out = OutputSignals::default();
        match newest_object(&clients.s3, &calls, at).await {
            Ok((s3, partition)) => {
                out.s3 = s3;
                out.partition = partition;
            }
            Err(e) => out.errors.push(e.to_string()),
        }
        if !at.partition_keys.is_empty() && out.partition.len() == at.partition_keys.len() {
            match partition_created(&clients.glue, &calls, at, &out.partition).await {
                Ok(t) => out.glue = t,
                Err(e) => out.errors.push(e.to_string()),
            }
        }
        out.calls = calls.counts().reads;
        out
    }
}

/// The newest object's time, and the partition it was found in.
async fn newest_object(
    s3: &aws_sdk_s3::Client,
    calls: &Calls,
    at: &OutputLocation,
) -> Result<(Option<Timestamp>, Vec<String>), CallError> {
    let resource = format!("s3://{}/{}", at.bucket, at.prefix);
    let mut prefix = at.prefix.clone();
    let mut values = Vec::new();
    for key in &at.partition_keys {
        let start = format!("{prefix}{key}=");
        let mut best: Option<String> = None;
        let mut token: Option<String> = None;
        for _ in 0..PREFIX_PAGES {
            let page = calls
                .read(
                    "s3:ListBucket",
                    &resource,
                    s3.list_objects_v2()
                        .bucket(&at.bucket)
                        .prefix(&start)
                        .delimiter("/")
                        .max_keys(1000)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .await?;
            for p in page.common_prefixes() {
                let Some(value) = p
                    .prefix()
                    .and_then(|p| p.strip_prefix(&start))
                    .and_then(|v| v.strip_suffix('/'))
                else {
                    continue;
                };
                if best
                    .as_deref()
                    .is_none_or(|b| partition_order(value, b) == Ordering::Greater)
                {
                    best = Some(value.to_string());
                }
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let Some(value) = best else {
            // No partition yet: nothing written.
            return Ok((None, values));
        };
        prefix = format!("{start}{value}/");
        values.push(value);
    }
    let (keys, pages) = if at.partition_keys.is_empty() {
        (1000, OBJECT_PAGES)
    } else {
        (LEAF_KEYS, 1)
    };
    let mut newest: Option<Timestamp> = None;
    let mut token: Option<String> = None;
    for _ in 0..pages {
        let page = calls
            .read(
                "s3:ListBucket",
                &resource,
                s3.list_objects_v2()
                    .bucket(&at.bucket)
                    .prefix(&prefix)
                    .max_keys(keys)
                    .set_continuation_token(token.take())
                    .send(),
            )
            .await?;
        for o in page.contents() {
            let t = o.last_modified().and_then(timestamp);
            if t > newest {
                newest = t;
            }
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok((newest, values))
}

/// When Glue registered the partition, if it did.
async fn partition_created(
    glue: &aws_sdk_glue::Client,
    calls: &Calls,
    at: &OutputLocation,
    values: &[String],
) -> Result<Option<Timestamp>, CallError> {
    let resource = format!(
        "{}.{} partition {}",
        at.database,
        at.table,
        values.join("/")
    );
    let found = calls
        .read(
            "glue:GetPartition",
            &resource,
            glue.get_partition()
                .database_name(&at.database)
                .table_name(&at.table)
                .set_partition_values(Some(values.to_vec()))
                .send(),
        )
        .await;
    match found {
        Ok(out) => Ok(out
            .partition()
            .and_then(|p| p.creation_time())
            .and_then(timestamp)),
        Err(e) if e.is(Fault::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_partitions_compare_as_numbers_and_dates_as_text() {
        assert_eq!(partition_order("9", "10"), Ordering::Less);
        assert_eq!(
            partition_order("2026-12-01", "2026-11-30"),
            Ordering::Greater
        );
        assert_eq!(partition_order("b", "a"), Ordering::Greater);
        assert_eq!(max_calls(0), OBJECT_PAGES);
        assert_eq!(max_calls(2), 2 * PREFIX_PAGES + 2);
    }

    #[test]
    fn locations_come_from_the_planned_table() {
        let spec: GlueTableSpec = serde_json::from_value(serde_json::json!({
            "region": "eu-west-1", "database": "db", "description": "", "tableType": "EXTERNAL_TABLE",
            "location": "s3://bucket/orders", "columns": [],
            "partitionKeys": [{"name": "dt", "type": "date", "comment": ""}],
            "storage": {"inputFormat": "", "outputFormat": "", "serdeLibrary": "", "serdeParameters": {}},
            "parameters": {}, "tags": {}
        }))
        .unwrap();
        let at = OutputLocation::of("orders", &spec).unwrap();
        assert_eq!(
            (at.bucket.as_str(), at.prefix.as_str()),
            ("bucket", "orders/")
        );
        assert_eq!(at.partition_keys, ["dt"]);
    }
}
