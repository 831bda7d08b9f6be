//! OpenLineage RunEvents for the runs of a product's pipelines: lineage without instrumenting the
//! pipeline code, readable by Marquez, DataHub or OpenMetadata.
//!
//! Pure: the operator observes a Job (its UID, start, end and outcome) and this module decides
//! which events are due and what they say. Datasets are named as OpenLineage names Glue tables
//! (namespace `arn:aws:glue:{region}:{account}`, name `table/{database}/{table}`), carry the S3
//! location in a `symlinks` facet and the columns in a `schema` facet. The JSON has exactly the
//! shape the openlineage-python client serialises (empty `facets` included), so a consumer that
//! round-trips it through the client's classes sees the same event (tests/openlineage.rs).

use serde_json::{json, Map, Value};

use crate::api::{DataProduct, Output, Pipeline, ProductRef};
use crate::model::{Names, World};

/// Who emits the events (OpenLineage `producer`, a URI).
pub const PRODUCER: &str = "https://github.com/dataproducts-io/dataproduct-operator";
const RUN_EVENT_SCHEMA: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const SCHEMA_FACET: &str =
    "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const SYMLINKS_FACET: &str =
    "https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json#/$defs/SymlinksDatasetFacet";
const JOB_TYPE_FACET: &str =
    "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
const NOMINAL_TIME_FACET: &str =
    "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet";

/// The OpenLineage event types the operator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    Start,
    Complete,
    Fail,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Start => "START",
            EventType::Complete => "COMPLETE",
            EventType::Fail => "FAIL",
        }
    }
}

/// What was observed of one Job run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// The Job's UID: the runId, so a retried delivery or a restarted operator names the same run.
    pub uid: String,
    /// RFC 3339: when the run started (`status.startTime`, else the Job's creation).
    pub started: String,
    /// The outcome, once finished, with its time (RFC 3339).
    pub finished: Option<(EventType, String)>,
    /// The time the CronJob scheduled the run for (`batch.kubernetes.io/cronjob-scheduled-timestamp`).
    pub nominal: Option<String>,
}

/// What has been sent for a run so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sent {
    pub started: bool,
    pub finished: bool,
}

/// The events due for a run given what was sent: START once, then COMPLETE or FAIL once. A run
/// first seen already finished gets both at once, in order.
pub fn due(run: &JobRun, sent: Sent) -> Vec<EventType> {
    let mut out = Vec::new();
    if !sent.started {
        out.push(EventType::Start);
    }
    if let Some((outcome, _)) = &run.finished {
        if !sent.finished {
            out.push(*outcome);
        }
    }
    out
}

/// The pipeline a Job belongs to, from its `dataproducts.io/pipeline` label (the CronJob name).
pub fn pipeline_of<'a>(
    product: &'a DataProduct,
    names: &Names,
    cron: &str,
) -> Option<&'a Pipeline> {
    product
        .spec
        .pipelines
        .iter()
        .find(|p| super::kubernetes::cron_job_name(names, &p.name) == cron)
}

/// One RunEvent for a run of `pipeline` of `product`.
pub fn run_event(
    product: &DataProduct,
    names: &Names,
    world: &World,
    pipeline: &Pipeline,
    run: &JobRun,
    event: EventType,
) -> Value {
    let time = match (&run.finished, event) {
        (Some((_, at)), EventType::Complete | EventType::Fail) => at.clone(),
        _ => run.started.clone(),
    };
    let mut run_facets = Map::new();
    if let Some(nominal) = &run.nominal {
        run_facets.insert(
            "nominalTime".into(),
            json!({"_producer": PRODUCER, "_schemaURL": NOMINAL_TIME_FACET, "nominalStartTime": nominal}),
        );
    }
    let inputs: Vec<Value> = pipeline
        .reads
        .iter()
        .filter_map(|read| input_dataset(product, names, world, read))
        .map(|mut d| {
            d["inputFacets"] = json!({});
            d
        })
        .collect();
    let outputs: Vec<Value> = pipeline
        .writes
        .iter()
        .filter_map(|w| product.spec.outputs.iter().find(|o| &o.name == w))
        .filter_map(|o| glue_dataset(names, o))
        .map(|mut d| {
            d["outputFacets"] = json!({});
            d
        })
        .collect();
    json!({
        "eventTime": time,
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
        "run": {"runId": run.uid, "facets": run_facets},
        "job": {
            "namespace": names.product_namespace,
            "name": format!("{}.{}", names.product, pipeline.name),
            "facets": {
                "jobType": {
                    "_producer": PRODUCER,
                    "_schemaURL": JOB_TYPE_FACET,
                    "processingType": "BATCH",
                    "integration": "DATAPRODUCT_OPERATOR",
                    "jobType": "JOB",
                }
            },
        },
        "eventType": event.as_str(),
        "inputs": inputs,
        "outputs": outputs,
    })
}

/// A `reads` entry as a dataset: an own output, another product's output (named by the
/// producer's Glue table, when the producer is known), or an external source.
fn input_dataset(product: &DataProduct, names: &Names, world: &World, read: &str) -> Option<Value> {
    if let Some(own) = product.spec.outputs.iter().find(|o| o.name == read) {
        return glue_dataset(names, own);
    }
    for input in &product.spec.inputs {
        if let Some(external) = input.external.as_ref().filter(|e| e.name == read) {
            // Not in the mesh: named inside the product that declares it.
            return Some(json!({
                "namespace": format!("dataproducts://{}", names.product_namespace),
                "name": format!("{}/external/{}", names.product, external.name),
                "facets": {},
            }));
        }
        if input.output.as_deref() != Some(read) {
            continue;
        }
        let producer = ProductRef::parse(input.product.as_deref()?)?;
        let producer_names = world.names_of(&producer)?;
        let output = world
            .products
            .get(&producer)?
            .spec
            .outputs
            .iter()
            .find(|o| o.name == read)?;
        return glue_dataset(&producer_names, output);
    }
    None
}

fn glue_dataset(names: &Names, output: &Output) -> Option<Value> {
    let table = names.table(&output.name)?;
    let bucket = names.bucket(&output.layer)?;
    let fields: Vec<Value> = output
        .schema
        .iter()
        .chain(output.partition_keys.iter())
        .map(|c| {
            let mut f = Map::new();
            f.insert("name".into(), json!(c.name));
            f.insert("type".into(), json!(c.type_));
            if !c.description.is_empty() {
                f.insert("description".into(), json!(c.description));
            }
            f.insert("fields".into(), json!([]));
            Value::Object(f)
        })
        .collect();
    Some(json!({
        "namespace": format!("arn:{}:glue:{}:{}", names.partition, names.region, names.account_id),
        "name": format!("table/{}/{table}", names.database),
        "facets": {
            "schema": {"_producer": PRODUCER, "_schemaURL": SCHEMA_FACET, "fields": fields},
            "symlinks": {
                "_producer": PRODUCER,
                "_schemaURL": SYMLINKS_FACET,
                "identifiers": [{
                    "namespace": format!("s3://{bucket}"),
                    "name": output.name,
                    "type": "LOCATION",
                }],
            },
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::world::examples;

    fn run(finished: Option<(EventType, &str)>) -> JobRun {
        JobRun {
            uid: "8d2f5a1e-3b7c-4c1d-9e2f-0a1b2c3d4e5f".into(),
            started: "2026-12-01T03:00:04Z".into(),
            finished: finished.map(|(e, t)| (e, t.to_string())),
            nominal: Some("2026-12-01T03:00:00Z".into()),
        }
    }

    #[test]
    fn start_once_then_the_outcome_once() {
        let none = Sent::default();
        let started = Sent {
            started: true,
            finished: false,
        };
        let done = Sent {
            started: true,
            finished: true,
        };
        assert_eq!(due(&run(None), none), vec![EventType::Start]);
        assert_eq!(due(&run(None), started), vec![]);
        let ok = run(Some((EventType::Complete, "2026-12-01T03:10:00Z")));
        assert_eq!(due(&ok, started), vec![EventType::Complete]);
        // First seen already finished: both, in order.
        assert_eq!(due(&ok, none), vec![EventType::Start, EventType::Complete]);
        assert_eq!(due(&ok, done), vec![]);
        let failed = run(Some((EventType::Fail, "2026-12-01T03:01:00Z")));
        assert_eq!(due(&failed, started), vec![EventType::Fail]);
    }

    /// conversations' pipeline reads messaging/events' output and writes its own: both named by
    /// their Glue tables, with the S3 location and the columns; the external source is named
    /// inside the product.
    #[test]
    fn datasets_are_glue_tables_with_location_and_schema() {
        let world = examples();
        let r = ProductRef::parse("messaging/conversations").unwrap();
        let product = &world.products[&r];
        let names = world.names_of(&r).unwrap();
        let pipeline = &product.spec.pipelines[0];
        let cron = super::super::kubernetes::cron_job_name(&names, &pipeline.name);
        assert_eq!(
            pipeline_of(product, &names, &cron).map(|p| &p.name),
            Some(&pipeline.name)
        );
        assert!(pipeline_of(product, &names, "someone-elses").is_none());

        let done = run(Some((EventType::Complete, "2026-12-01T03:10:00Z")));
        let start = run_event(product, &names, &world, pipeline, &done, EventType::Start);
        let end = run_event(
            product,
            &names,
            &world,
            pipeline,
            &done,
            EventType::Complete,
        );
        assert_eq!(start["eventType"], "START");
        assert_eq!(start["eventTime"], "2026-12-01T03:00:04Z");
        assert_eq!(end["eventType"], "COMPLETE");
        assert_eq!(end["eventTime"], "2026-12-01T03:10:00Z");
        assert_eq!(start["run"]["runId"], end["run"]["runId"]);
        assert_eq!(
            start["run"]["facets"]["nominalTime"]["nominalStartTime"],
            "2026-12-01T03:00:00Z"
        );
        assert_eq!(start["job"]["namespace"], "messaging");
        assert_eq!(start["job"]["name"], "conversations.build-conversations");

        let input = &start["inputs"][0];
        assert_eq!(input["namespace"], "arn:aws:glue:eu-west-1:123456789012");
        assert_eq!(input["name"], "table/acme_messaging_events/events");
        let output = &start["outputs"][0];
        assert_eq!(
            output["name"],
            "table/acme_messaging_conversations/conversations"
        );
        assert_eq!(
            output["facets"]["symlinks"]["identifiers"][0]["namespace"],
            "s3://acme-messaging-conversations-data-products"
        );
        let columns: Vec<&str> = output["facets"]["schema"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = product.spec.outputs[0]
            .schema
            .iter()
            .chain(&product.spec.outputs[0].partition_keys)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(columns, expected);
    }

    /// A producer that is not known (not among the files, or deleted) leaves its dataset out
    /// rather than naming a table that may not exist.
    #[test]
    fn an_unknown_producer_is_left_out() {
        let mut world = examples();
        world
            .products
            .remove(&ProductRef::parse("messaging/events").unwrap());
        let r = ProductRef::parse("messaging/conversations").unwrap();
        let product = world.products[&r].clone();
        let names = world.names_of(&r).unwrap();
        let e = run_event(
            &product,
            &names,
            &world,
            &product.spec.pipelines[0],
            &run(None),
            EventType::Start,
        );
        assert_eq!(e["inputs"], json!([]));
        assert_eq!(e["outputs"].as_array().unwrap().len(), 1);
    }
}
