//! OpenLineage events for the Jobs of the products' pipelines (`--openlineage-url`).
//!
//! A watch of the Jobs the operator's CronJobs create (labelled as ours) feeds the pure
//! [`crate::plan::openlineage`]: each run gets START, then COMPLETE or FAIL, with its runId taken
//! from the Job's UID. Events go through a bounded queue to one sender that retries each with
//! backoff until it is delivered, so delivery is at least once (a restarted leader sends the
//! events of the Jobs still present again, with the same runIds) and never holds up a reconcile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use k8s_openapi::api::batch::v1::Job;
use kube::api::Api;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::Value;
use tracing::{debug, warn};

use super::context::Stores;
use super::telemetry::Metrics;
use crate::api::{labels, ProductRef};
use crate::model::World;
use crate::plan::openlineage::{self, EventType, JobRun, Sent};

/// Where events go.
#[derive(Clone)]
pub struct LineageConfig {
    /// The collector's endpoint, for example `http://marquez:5000/api/v1/lineage`.
    pub url: hyper::Uri,
    /// Sent as `Authorization: Bearer <token>` when set (from a Secret, through the environment).
    pub token: Option<String>,
}

impl std::fmt::Debug for LineageConfig {
    /// Never prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineageConfig")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Events waiting for delivery; beyond this the newest are dropped and counted, so a collector
/// that is down for long cannot grow the operator's memory without bound.
const QUEUE: usize = 10_000;
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Watches the Jobs and delivers their events until `shutdown`.
pub async fn run(
    client: Client,
    stores: Stores,
    config: LineageConfig,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Value>(QUEUE);
    let sender = deliver(rx, config, metrics.clone());
    // Product namespaces are the operator's own, wherever the products live: all namespaces,
    // filtered by our label (as the child watches are).
    let jobs: Api<Job> = Api::all(client);
    let selector = format!("{}={}", labels::MANAGED_BY, labels::MANAGER);
    let watch = async {
        let mut sent: HashMap<String, Sent> = HashMap::new();
        let mut events = watcher(jobs, watcher::Config::default().labels(&selector))
            .default_backoff()
            .boxed();
        while let Some(event) = events.next().await {
            let job = match event {
                Ok(watcher::Event::Apply(job) | watcher::Event::InitApply(job)) => job,
                Ok(watcher::Event::Delete(job)) => {
                    sent.remove(&job.uid().unwrap_or_default());
                    continue;
                }
                Ok(_) => continue,
                Err(e) => {
                    debug!(error = %e, "Job watch");
                    continue;
                }
            };
            for event in events_for(&job, &stores, &mut sent) {
                if tx.try_send(event).is_err() {
                    metrics.lineage("dropped");
                }
            }
        }
    };
    tokio::select! {
        _ = shutdown => {}
        _ = futures::future::join(watch, sender) => {}
    }
}

/// The events due for one Job, marked as sent.
fn events_for(job: &Job, stores: &Stores, sent: &mut HashMap<String, Sent>) -> Vec<Value> {
    let (Some(run), Some(cron)) = (job_run(job), job.labels().get(labels::PIPELINE)) else {
        return Vec::new();
    };
    let (Some(name), Some(namespace)) = (
        job.labels().get(labels::PRODUCT),
        job.labels().get(labels::PRODUCT_NAMESPACE),
    ) else {
        return Vec::new();
    };
    let r = ProductRef {
        namespace: namespace.clone(),
        name: name.clone(),
    };
    let Some(product) = stores.product(&r.namespace, &r.name) else {
        return Vec::new();
    };
    let world = World::around(&product, stores);
    let Some(names) = world.names_of(&r) else {
        return Vec::new();
    };
    let Some(pipeline) = openlineage::pipeline_of(&product, &names, cron) else {
        return Vec::new();
    };
    let done = sent.entry(run.uid.clone()).or_default();
    let due = openlineage::due(&run, *done);
    for e in &due {
        match e {
            EventType::Start => done.started = true,
            EventType::Complete | EventType::Fail => done.finished = true,
        }
    }
    due.into_iter()
        .map(|e| openlineage::run_event(&product, &names, &world, pipeline, &run, e))
        .collect()
}

/// What the Job says of its run: started when it has a start time (or was created), finished
/// when its Complete or Failed condition is True.
pub fn job_run(job: &Job) -> Option<JobRun> {
    let uid = job.metadata.uid.clone()?;
    let status = job.status.clone().unwrap_or_default();
    let started = status
        .start_time
        .as_ref()
        .or(job.metadata.creation_timestamp.as_ref())
        .map(|t| t.0.to_string())?;
    let finished = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find_map(|c| {
            let outcome = match c.type_.as_str() {
                "Complete" => EventType::Complete,
                "Failed" => EventType::Fail,
                _ => return None,
            };
            (c.status == "True").then(|| {
                let at = match outcome {
                    EventType::Complete => status.completion_time.as_ref(),
                    _ => None,
                }
                .or(c.last_transition_time.as_ref())
                .map_or_else(|| started.clone(), |t| t.0.to_string());
                (outcome, at)
            })
        });
    let nominal = job
        .annotations()
        .get("batch.kubernetes.io/cronjob-scheduled-timestamp")
        .cloned();
    Some(JobRun {
        uid,
        started,
        finished,
        nominal,
    })
}

/// Sends the events in order, each retried with backoff until the collector takes it.
async fn deliver(
    mut rx: tokio::sync::mpsc::Receiver<Value>,
    config: LineageConfig,
    metrics: Arc<Metrics>,
) {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map(|b| b.https_or_http().enable_http1().build());
    let https = match https {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "no TLS roots for the OpenLineage collector; not sending events");
            return;
        }
    };
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https);
    while let Some(event) = rx.recv().await {
        let body = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
        let mut wait = FIRST_RETRY;
        loop {
            match post(&client, &config, body.clone()).await {
                Ok(()) => {
                    metrics.lineage("delivered");
                    break;
                }
                Err(e) => {
                    metrics.lineage("failed");
                    warn!(error = %e, retry_in = ?wait, "OpenLineage delivery failed");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(LAST_RETRY);
                }
            }
        }
    }
}

async fn post<C>(
    client: &hyper_util::client::legacy::Client<C, Full<Bytes>>,
    config: &LineageConfig,
    body: Bytes,
) -> Result<(), String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let mut request = hyper::Request::post(config.url.clone())
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(token) = &config.token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(REQUEST_TIMEOUT, client.request(request))
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    let status = response.status();
    // Read the body so the connection can be reused.
    let _ = response.into_body().collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the collector answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn time(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn a_job_says_when_it_started_and_how_it_ended() {
        let mut job = Job::default();
        job.metadata.uid = Some("u-1".into());
        job.metadata.creation_timestamp = Some(time("2026-12-01T03:00:00Z"));
        let run = job_run(&job).unwrap();
        assert_eq!(run.started, "2026-12-01T03:00:00Z");
        assert_eq!(run.finished, None);

        job.status = Some(JobStatus {
            start_time: Some(time("2026-12-01T03:00:02Z")),
            completion_time: Some(time("2026-12-01T03:09:00Z")),
            conditions: Some(vec![
                JobCondition {
                    type_: "SuccessCriteriaMet".into(),
                    status: "True".into(),
                    ..JobCondition::default()
                },
                JobCondition {
                    type_: "Complete".into(),
                    status: "True".into(),
                    last_transition_time: Some(time("2026-12-01T03:09:01Z")),
                    ..JobCondition::default()
                },
            ]),
            ..JobStatus::default()
        });
        let run = job_run(&job).unwrap();
        assert_eq!(run.started, "2026-12-01T03:00:02Z");
        assert_eq!(
            run.finished,
            Some((EventType::Complete, "2026-12-01T03:09:00Z".into()))
        );

        job.status = Some(JobStatus {
            start_time: Some(time("2026-12-01T03:00:02Z")),
            conditions: Some(vec![JobCondition {
                type_: "Failed".into(),
                status: "True".into(),
                reason: Some("BackoffLimitExceeded".into()),
                last_transition_time: Some(time("2026-12-01T03:05:00Z")),
                ..JobCondition::default()
            }]),
            ..JobStatus::default()
        });
        assert_eq!(
            job_run(&job).unwrap().finished,
            Some((EventType::Fail, "2026-12-01T03:05:00Z".into()))
        );
        job.metadata.uid = None;
        assert_eq!(job_run(&job), None, "no UID, no runId");
    }
}
