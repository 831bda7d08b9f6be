//! Kubernetes Events about products and access requests, in `events.k8s.io/v1`, aggregated into
//! series as client-go's event library does: the same event (type, action, reason, the object it
//! is about and the related one) published again within 6 minutes patches the first one's
//! `series` (count, lastObservedTime) instead of creating another object.
//!
//! kube's `Recorder` does the same, but keeps every published Event whole for those 6 minutes
//! (its references twice and its note) and scans all of them on each publish. After a burst of
//! 1,000 products that was about 3 MiB and a scan of 1,000 entries per event. This recorder keeps
//! per series only its Event's name and namespace, its count and when it was last seen, and
//! forgets series in the order they expire.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use kube::Client;

/// How long a published event can still grow a series (client-go's and kube's value).
const SERIES_TTL: SignedDuration = SignedDuration::from_mins(6);

/// The API server's limits on an Event (`events.k8s.io/v1` validation), in bytes: longer fields
/// make it refuse the whole Event.
const NOTE_LIMIT: usize = 1024;
const ACTION_REASON_LIMIT: usize = 128;
/// A name's limit (a DNS subdomain), less the `.` and 16 hex digits of the time added to it.
const NAME_PREFIX_LIMIT: usize = 253 - 17;

/// The longest prefix of `s` within `limit` bytes that ends on a character boundary.
fn bounded(s: &str, limit: usize) -> String {
    let mut end = s.len().min(limit);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Publishes Events, aggregating repeats into series.
pub struct Recorder {
    client: Client,
    reporter: Reporter,
    series: Mutex<Series>,
}

/// What a publish does.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Create,
    /// Patch the series of the Event `name` in `namespace` to `count`.
    Patch {
        namespace: String,
        name: String,
        count: i32,
    },
}

struct Seen {
    namespace: Box<str>,
    name: Box<str>,
    count: i32,
    last: Timestamp,
}

/// The series still open, and each one's key once, in the order they were created. A series
/// seen again since is put back at the end when its turn comes, so the queue holds one entry per
/// series however often it repeats, and a series is dropped only once its own last sighting is
/// 6 minutes old.
#[derive(Default)]
struct Series {
    by_key: HashMap<Box<str>, Seen>,
    order: VecDeque<(Timestamp, Box<str>)>,
}

impl Series {
    fn expire(&mut self, now: Timestamp) {
        while let Some((seen, _)) = self.order.front() {
            if *seen + SERIES_TTL > now {
                break;
            }
            let (_, key) = self.order.pop_front().expect("front exists");
            match self.by_key.get(&key).map(|s| s.last) {
                Some(last) if last + SERIES_TTL > now => self.order.push_back((last, key)),
                Some(_) => {
                    self.by_key.remove(&key);
                }
                None => {}
            }
        }
    }

    /// What publishing the event under `key` does now. Nothing is recorded until the API server
    /// has taken it ([`Series::created`], [`Series::sighted`]).
    fn observe(&mut self, key: &str, now: Timestamp) -> Step {
        self.expire(now);
        match self.by_key.get(key) {
            Some(seen) => Step::Patch {
                namespace: seen.namespace.to_string(),
                name: seen.name.to_string(),
                count: seen.count + 1,
            },
            None => Step::Create,
        }
    }

    /// The series' Event `name` now counts `count`, last seen `now`.
    fn sighted(&mut self, key: &str, name: &str, count: i32, now: Timestamp) {
        if let Some(seen) = self.by_key.get_mut(key).filter(|s| &*s.name == name) {
            seen.count = seen.count.max(count);
            seen.last = seen.last.max(now);
        }
    }

    fn created(&mut self, key: &str, namespace: &str, name: &str, now: Timestamp) {
        self.by_key.insert(
            key.into(),
            Seen {
                namespace: namespace.into(),
                name: name.into(),
                count: 1,
                last: now,
            },
        );
        self.order.push_back((now, key.into()));
    }

    /// The series' Event `name` is gone; a series started since under the same key stays.
    fn forget(&mut self, key: &str, name: &str) {
        if self.by_key.get(key).is_some_and(|s| &*s.name == name) {
            self.by_key.remove(key);
        }
    }
}

fn type_name(t: EventType) -> &'static str {
    match t {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

/// The identity of a series: the event's type, action and reason, and the objects it is about.
fn series_key(ev: &Event, regarding: &ObjectReference) -> String {
    let mut key = String::new();
    let mut field = |s: Option<&str>| {
        key.push_str(s.unwrap_or_default());
        key.push('\u{1f}');
    };
    field(Some(type_name(ev.type_)));
    field(Some(&ev.action));
    field(Some(&ev.reason));
    for r in std::iter::once(regarding).chain(ev.secondary.as_ref()) {
        field(r.api_version.as_deref());
        field(r.kind.as_deref());
        field(r.namespace.as_deref());
        field(r.name.as_deref());
        field(r.uid.as_deref());
        field(r.resource_version.as_deref());
        field(r.field_path.as_deref());
    }
    key
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Recorder {
            client,
            reporter,
            series: Mutex::default(),
        }
    }

    fn series(&self) -> std::sync::MutexGuard<'_, Series> {
        self.series.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `ev` about `regarding`, in its namespace (`default` for a cluster-scoped
    /// object): a new Event, or one more in the series of an equal one from the last 6 minutes.
    pub async fn publish(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = series_key(ev, regarding);
        let step = self.series().observe(&key, now);
        if let Step::Patch {
            namespace,
            name,
            count,
        } = step
        {
            let series = serde_json::json!({
                "series": EventSeries { count, last_observed_time: MicroTime(now) }
            });
            let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
            match events
                .patch(&name, &PatchParams::default(), &Patch::Merge(&series))
                .await
            {
                Ok(_) => {
                    self.series().sighted(&key, &name, count, now);
                    return Ok(());
                }
                // Deleted meanwhile (Events live an hour by default): start a new series.
                Err(kube::Error::Api(s)) if s.code == 404 => self.series().forget(&key, &name),
                Err(e) => return Err(e),
            }
        }
        let event = self.event(ev, regarding, now);
        let namespace = event.metadata.namespace.clone().unwrap_or_default();
        let name = event.metadata.name.clone().unwrap_or_default();
        Api::<K8sEvent>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &event)
            .await?;
        self.series().created(&key, &namespace, &name, now);
        Ok(())
    }

    fn event(&self, ev: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let controller = &self.reporter.controller;
        K8sEvent {
            metadata: ObjectMeta {
                namespace: Some(
                    regarding
                        .namespace
                        .clone()
                        .unwrap_or_else(|| "default".into()),
                ),
                name: Some(format!(
                    "{}.{:x}",
                    bounded(
                        regarding.name.as_deref().unwrap_or(controller),
                        NAME_PREFIX_LIMIT
                    )
                    .trim_end_matches(['.', '-']),
                    now.as_nanosecond()
                )),
                ..ObjectMeta::default()
            },
            action: Some(bounded(&ev.action, ACTION_REASON_LIMIT)),
            reason: Some(bounded(&ev.reason, ACTION_REASON_LIMIT)),
            note: ev.note.as_deref().map(|n| bounded(n, NOTE_LIMIT)),
            type_: Some(type_name(ev.type_).into()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: ev.secondary.clone(),
            reporting_controller: Some(controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| controller.clone()),
            ),
            ..K8sEvent::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn event(reason: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some("a note that does not make a new series".into()),
            action: "Reconcile".into(),
            secondary: None,
        }
    }

    fn product(name: &str) -> ObjectReference {
        ObjectReference {
            api_version: Some("dataproducts.io/v1alpha1".into()),
            kind: Some("DataProduct".into()),
            namespace: Some("messaging".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..ObjectReference::default()
        }
    }

    #[test]
    fn fields_are_cut_to_the_api_servers_limits_on_a_character_boundary() {
        // 1,000 characters of two bytes each: kube-apiserver counts bytes, so cutting at 1,000
        // characters would still be refused.
        let note = "é".repeat(1000);
        let cut = bounded(&note, NOTE_LIMIT);
        assert_eq!(cut.len(), 1024);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(bounded("Provisioned", ACTION_REASON_LIMIT), "Provisioned");
        assert_eq!(bounded("aé", 2), "a");
    }

    #[test]
    fn a_repeat_within_six_minutes_grows_the_series_and_a_later_one_starts_anew() {
        let mut series = Series::default();
        let key = series_key(&event("Provisioned"), &product("conversations"));
        assert_eq!(series.observe(&key, at(0)), Step::Create);
        series.created(&key, "messaging", "conversations.1", at(0));
        let patch = |count| Step::Patch {
            namespace: "messaging".into(),
            name: "conversations.1".into(),
            count,
        };
        assert_eq!(series.observe(&key, at(60)), patch(2));
        series.sighted(&key, "conversations.1", 2, at(60));
        // A patch the API server did not take counts nothing and extends nothing.
        assert_eq!(series.observe(&key, at(120)), patch(3));
        // Six minutes after the last sighting, not the first.
        assert_eq!(series.observe(&key, at(60 + 359)), patch(3));
        series.sighted(&key, "conversations.1", 3, at(60 + 359));
        for i in 1..100 {
            let now = at(60 + 359 + i);
            let Step::Patch { count, .. } = series.observe(&key, now) else {
                panic!("a repeat is a patch");
            };
            series.sighted(&key, "conversations.1", count, now);
        }
        assert_eq!(series.order.len(), 1, "one queue entry per series");
        assert_eq!(series.observe(&key, at(60 + 359 + 99 + 360)), Step::Create);
        assert!(series.by_key.is_empty(), "the expired series is forgotten");
        assert!(series.order.is_empty());
    }

    #[test]
    fn a_gone_event_ends_only_its_own_series() {
        let mut series = Series::default();
        let key = series_key(&event("Provisioned"), &product("conversations"));
        series.created(&key, "messaging", "conversations.1", at(0));
        // Two publishes found conversations.1 gone; the first already started conversations.2.
        series.forget(&key, "conversations.1");
        series.created(&key, "messaging", "conversations.2", at(1));
        series.forget(&key, "conversations.1");
        series.sighted(&key, "conversations.1", 7, at(2));
        assert_eq!(
            series.observe(&key, at(3)),
            Step::Patch {
                namespace: "messaging".into(),
                name: "conversations.2".into(),
                count: 2
            }
        );
    }

    #[test]
    fn series_are_kept_apart_by_reason_and_object_and_expire_in_order() {
        let mut series = Series::default();
        let keys = [
            series_key(&event("Provisioned"), &product("a")),
            series_key(&event("Provisioned"), &product("b")),
            series_key(&event("Failed"), &product("a")),
        ];
        assert_eq!(
            keys.iter().collect::<std::collections::HashSet<_>>().len(),
            3
        );
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(series.observe(key, at(i as i64)), Step::Create);
            series.created(key, "messaging", &format!("e{i}"), at(i as i64));
        }
        // At 6 minutes and 1 second the first two have expired; the third has not.
        series.expire(at(361));
        assert_eq!(series.by_key.len(), 1);
        assert!(series.by_key.contains_key(keys[2].as_str()));
        assert!(series.order.len() == 1);
    }
}
