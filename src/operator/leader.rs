//! Leader election on a coordination.k8s.io Lease, so two replicas never reconcile at once.
//!
//! As client-go's leader election does, expiry is measured on this replica's own monotonic
//! clock, never by comparing the Lease's `renewTime` with the local wall clock: a standby
//! records the [`Instant`] at which it last saw the Lease's record (holder, renew and acquire
//! times, transitions, duration) change, and takes the Lease only once `leaseDurationSeconds`
//! have passed on its own clock without a change. Clock skew between nodes therefore does not
//! matter. A leader that stops gracefully releases the Lease (empty holder, duration 1 s, as
//! client-go's `ReleaseOnCancel`), and a standby, which reads the Lease every
//! [`LeaseConfig::poll_every`] (500 ms), takes a released Lease at once. Every write is a replace
//! carrying the resourceVersion that was read, so two replicas can never both win, and a release
//! never clobbers a Lease another replica has taken meanwhile.
//!
//! A leader that cannot renew within the renew deadline (shorter than the lease duration) stops
//! reconciling.
//!
//! The decision ([`observe`] then [`decide`]) is pure; [`Elector`] does the I/O around it.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use kube::core::ObjectMeta;
use kube::Client;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// `leaseDurationSeconds` written by the leader: how long a standby waits, on its own clock,
    /// after the last change it saw before it takes the Lease (whole seconds, at least 1).
    pub duration: Duration,
    /// A leader that has not renewed for this long stops, before the lease can expire for
    /// others (client-go's renew deadline).
    pub renew_deadline: Duration,
    /// How often the leader renews.
    pub renew_every: Duration,
    /// How often a standby reads the Lease (client-go's retry period), so it notices a release
    /// within this long.
    pub poll_every: Duration,
}

impl LeaseConfig {
    /// The defaults `dpctl run` uses: a 15 s lease, renewed every 2 s, given up by a leader that
    /// could not renew for 10 s, read by standbys every 500 ms.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        LeaseConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            renew_every: Duration::from_secs(2),
            poll_every: Duration::from_millis(500),
        }
    }

    fn duration_secs(&self) -> i32 {
        i32::try_from(self.duration.as_secs())
            .unwrap_or(i32::MAX)
            .max(1)
    }
}

/// The part of a Lease the election reads. Two records differ whenever the holder wrote the
/// Lease (a renewal changes `renew_time`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Empty when nobody holds the Lease (released).
    pub holder: String,
    pub renew_time: Option<jiff::Timestamp>,
    pub acquire_time: Option<jiff::Timestamp>,
    pub transitions: i32,
    /// `leaseDurationSeconds`; `fallback` when absent or not positive.
    pub duration: Duration,
}

impl Record {
    pub fn of(lease: &Lease, fallback: Duration) -> Record {
        let spec = lease.spec.clone().unwrap_or_default();
        Record {
            holder: spec.holder_identity.unwrap_or_default(),
            renew_time: spec.renew_time.map(|t| t.0),
            acquire_time: spec.acquire_time.map(|t| t.0),
            transitions: spec.lease_transitions.unwrap_or(0),
            duration: spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .map_or(fallback, Duration::from_secs),
        }
    }
}

/// A record and the local monotonic time at which this replica first saw it (that is, saw it
/// change last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub record: Record,
    pub since: Instant,
}

/// The observation after reading `record` at `now`: the clock restarts only when the record
/// changed since the `previous` observation.
pub fn observe(previous: Option<Observation>, record: Record, now: Instant) -> Observation {
    match previous {
        Some(p) if p.record == record => p,
        _ => Observation { record, since: now },
    }
}

/// Why a Lease held by no one (or someone gone) is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vacancy {
    /// Its holder released it (empty holder).
    Released,
    /// It has not changed for its whole duration on the local clock.
    Expired,
}

/// What a replica does with the Lease as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// There is no Lease: create it with us as holder.
    Create,
    /// It is ours: renew it.
    Renew,
    /// Take it over (a new transition).
    Take(Vacancy),
    /// Someone else holds it: wait; it expires at `until` unless it changes first.
    Wait { holder: String, until: Instant },
}

/// The election's decision, pure: `observed` is the Lease as last read (`None`: there is none),
/// `now` the local monotonic time, `me` this replica's identity. The Lease's own timestamps
/// are never compared with the local clock.
pub fn decide(observed: Option<&Observation>, now: Instant, me: &str) -> Action {
    let Some(o) = observed else {
        return Action::Create;
    };
    if o.record.holder == me {
        return Action::Renew;
    }
    if o.record.holder.is_empty() {
        return Action::Take(Vacancy::Released);
    }
    let until = o.since + o.record.duration;
    if now >= until {
        Action::Take(Vacancy::Expired)
    } else {
        Action::Wait {
            holder: o.record.holder.clone(),
            until,
        }
    }
}

/// One election attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    /// This replica holds the Lease (created, renewed or taken).
    Leading,
    /// Another replica holds it, until `until` on the local clock unless it renews.
    Held { by: String, until: Instant },
    /// The Lease changed between the read and the write (HTTP 409): nothing was written.
    Conflict,
}

#[derive(Debug, Default)]
struct State {
    /// The Lease as last read or written, and since when it has looked so.
    observed: Option<Observation>,
    /// The Lease as this replica last wrote it while holding it (its resourceVersion is what a
    /// release replaces).
    written: Option<Lease>,
}

/// Holds or competes for the lease.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    state: Mutex<State>,
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease {0}: {1}")]
    Api(String, #[source] kube::Error),
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl Elector {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Elector {
            api: Api::namespaced(client, &config.namespace),
            config,
            state: Mutex::new(State::default()),
        }
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, e: kube::Error) -> LeaseError {
        LeaseError::Api(self.config.name.clone(), e)
    }

    /// Waits until this replica holds the lease, reading it every `poll_every` (sooner when it
    /// is about to expire).
    pub async fn acquire(&self) {
        let mut waiting_for = None::<String>;
        loop {
            let attempt = tokio::time::timeout(self.config.renew_every, self.try_acquire()).await;
            let mut pause = self.config.poll_every;
            match attempt {
                Ok(Ok(Attempt::Leading)) => {
                    info!(lease = %self.config.name, identity = %self.config.identity, "acquired leadership");
                    return;
                }
                Ok(Ok(Attempt::Held { by, until })) => {
                    if waiting_for.as_deref() != Some(by.as_str()) {
                        info!(lease = %self.config.name, holder = %by, "standing by while another replica leads");
                        waiting_for = Some(by);
                    }
                    pause = pause.min(until.saturating_duration_since(Instant::now()));
                }
                Ok(Ok(Attempt::Conflict)) => {
                    debug!(lease = %self.config.name, "another replica wrote the lease first")
                }
                Ok(Err(e)) => warn!(error = %e, "leader election attempt failed"),
                Err(_) => warn!(lease = %self.config.name, "leader election attempt timed out"),
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// Renews the lease until renewal has failed for the renew deadline (shorter than the lease),
    /// or another replica is seen holding it, then returns; the caller must stop reconciling at
    /// once. Each attempt is bounded by a timeout so a hung request cannot stretch the deadline.
    pub async fn hold(&self) {
        let mut last_ok = Instant::now();
        loop {
            tokio::time::sleep(self.config.renew_every).await;
            let attempt = tokio::time::timeout(self.config.renew_every, self.try_acquire()).await;
            match attempt {
                Ok(Ok(Attempt::Leading)) => last_ok = Instant::now(),
                Ok(Ok(Attempt::Held { by, .. })) => {
                    warn!(holder = %by, "another replica took the lease");
                    return;
                }
                Ok(Ok(Attempt::Conflict)) => warn!("lease renewal conflicted"),
                Ok(Err(e)) => warn!(error = %e, "lease renewal failed"),
                Err(_) => warn!("lease renewal timed out"),
            }
            if last_ok.elapsed() >= self.config.renew_deadline {
                return;
            }
        }
    }

    /// Gives the lease up, if this replica still holds it: replaces it with an empty holder
    /// and a one-second duration, carrying the resourceVersion this replica last wrote (or
    /// read), so a lease another replica has taken meanwhile is left alone. True when released.
    /// Call only once this replica has stopped reconciling and renewing.
    pub async fn release(&self) -> Result<bool, LeaseError> {
        let cached = self.state().written.clone();
        let mut lease = match cached {
            Some(l) => l,
            None => match self.api.get_opt(&self.config.name).await {
                Ok(Some(l)) => l,
                Ok(None) => return Ok(false),
                Err(e) => return Err(self.err(e)),
            },
        };
        // A conflict means the lease changed since it was read: read it again and release it
        // only if it is still ours.
        for _ in 0..3 {
            let fallback = self.config.duration;
            if Record::of(&lease, fallback).holder != self.config.identity {
                debug!(lease = %self.config.name, "not holding the lease: nothing to release");
                self.state().written = None;
                return Ok(false);
            }
            let now = jiff::Timestamp::now();
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(now));
            spec.acquire_time = Some(MicroTime(now));
            match self
                .api
                .replace(&self.config.name, &PostParams::default(), &lease)
                .await
            {
                Ok(released) => {
                    let mut state = self.state();
                    state.written = None;
                    state.observed = Some(Observation {
                        record: Record::of(&released, fallback),
                        since: Instant::now(),
                    });
                    info!(lease = %self.config.name, identity = %self.config.identity, "released the lease");
                    return Ok(true);
                }
                Err(e) if is_conflict(&e) => {
                    lease = match self.api.get_opt(&self.config.name).await {
                        Ok(Some(l)) => l,
                        Ok(None) => return Ok(false),
                        Err(e) => return Err(self.err(e)),
                    };
                }
                Err(e) => return Err(self.err(e)),
            }
        }
        Ok(false)
    }

    /// Records a Lease this replica wrote.
    fn wrote(&self, lease: Lease) {
        let mut state = self.state();
        state.observed = Some(Observation {
            record: Record::of(&lease, self.config.duration),
            since: Instant::now(),
        });
        state.written = Some(lease);
    }

    /// One attempt: read the lease, decide, and create, renew or take it over. The
    /// resourceVersion in the replace makes concurrent attempts safe.
    async fn try_acquire(&self) -> Result<Attempt, LeaseError> {
        let current = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| self.err(e))?;
        let now = Instant::now();
        let action = {
            let mut state = self.state();
            let previous = state.observed.take();
            state.observed = current
                .as_ref()
                .map(|l| observe(previous, Record::of(l, self.config.duration), now));
            decide(state.observed.as_ref(), now, &self.config.identity)
        };
        let wall = MicroTime(jiff::Timestamp::now());
        let secs = self.config.duration_secs();
        let (lease, write) = match (action, current) {
            (Action::Wait { holder, until }, _) => {
                self.state().written = None;
                return Ok(Attempt::Held { by: holder, until });
            }
            (Action::Create, _) | (_, None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.config.identity.clone()),
                        lease_duration_seconds: Some(secs),
                        acquire_time: Some(wall.clone()),
                        renew_time: Some(wall),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                let written = self.api.create(&PostParams::default(), &lease).await;
                (lease, written)
            }
            (action, Some(mut lease)) => {
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                if let Action::Take(why) = action {
                    info!(lease = %self.config.name, previous = spec.holder_identity.as_deref().unwrap_or(""), ?why, "taking over the lease");
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                    spec.acquire_time = Some(wall.clone());
                    spec.holder_identity = Some(self.config.identity.clone());
                }
                spec.renew_time = Some(wall);
                spec.lease_duration_seconds = Some(secs);
                let written = self
                    .api
                    .replace(&self.config.name, &PostParams::default(), &lease)
                    .await;
                (lease, written)
            }
        };
        match write {
            Ok(stored) => {
                self.wrote(stored);
                Ok(Attempt::Leading)
            }
            Err(e) if is_conflict(&e) => {
                debug!(lease = %self.config.name, resource_version = ?lease.metadata.resource_version, "lease write conflicted");
                Ok(Attempt::Conflict)
            }
            Err(e) => Err(self.err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn record(holder: &str, renewed: jiff::Timestamp) -> Record {
        Record {
            holder: holder.into(),
            renew_time: Some(renewed),
            acquire_time: Some(renewed),
            transitions: 3,
            duration: 15 * SECOND,
        }
    }

    fn wall() -> jiff::Timestamp {
        jiff::Timestamp::now()
    }

    fn hours(n: i64) -> jiff::SignedDuration {
        jiff::SignedDuration::from_hours(n)
    }

    #[test]
    fn no_lease_is_created() {
        assert_eq!(decide(None, Instant::now(), "a"), Action::Create);
    }

    #[test]
    fn our_own_lease_is_renewed_whatever_its_times() {
        let t0 = Instant::now();
        let o = observe(None, record("a", wall() - hours(5)), t0);
        assert_eq!(decide(Some(&o), t0 + 3600 * SECOND, "a"), Action::Renew);
    }

    #[test]
    fn a_released_lease_is_taken_at_once() {
        let t0 = Instant::now();
        let o = observe(None, record("", wall()), t0);
        assert_eq!(decide(Some(&o), t0, "a"), Action::Take(Vacancy::Released));
    }

    #[test]
    fn a_lease_renewed_an_hour_ago_by_the_wall_clock_is_fresh_when_first_seen() {
        // Skew: the holder's clock is an hour behind ours. Only the local observation counts.
        let t0 = Instant::now();
        let o = observe(None, record("b", wall() - hours(1)), t0);
        assert_eq!(
            decide(Some(&o), t0 + SECOND, "a"),
            Action::Wait {
                holder: "b".into(),
                until: t0 + 15 * SECOND
            }
        );
    }

    #[test]
    fn a_lease_that_keeps_changing_is_never_taken_even_with_old_timestamps() {
        let t0 = Instant::now();
        let base = wall() - hours(1);
        let mut o = observe(None, record("b", base), t0);
        for i in 1..=100 {
            let now = t0 + 2 * i * SECOND;
            let renewed = base + jiff::SignedDuration::from_secs(i64::from(2 * i));
            o = observe(Some(o), record("b", renewed), now);
            assert_eq!(o.since, now, "a change restarts the clock");
            assert!(matches!(
                decide(Some(&o), now + 14 * SECOND, "a"),
                Action::Wait { .. }
            ));
        }
    }

    #[test]
    fn a_lease_dated_an_hour_ahead_expires_after_its_duration_without_change() {
        // Skew the other way: the holder's clock is an hour ahead, then the holder dies.
        let t0 = Instant::now();
        let frozen = record("b", wall() + hours(1));
        let mut o = observe(None, frozen.clone(), t0);
        for s in [1, 5, 14] {
            o = observe(Some(o), frozen.clone(), t0 + s * SECOND);
            assert_eq!(o.since, t0, "an unchanged record keeps its first sighting");
            assert!(matches!(
                decide(Some(&o), t0 + s * SECOND, "a"),
                Action::Wait { .. }
            ));
        }
        assert_eq!(
            decide(Some(&o), t0 + 15 * SECOND, "a"),
            Action::Take(Vacancy::Expired)
        );
    }

    #[test]
    fn the_lease_s_own_duration_counts() {
        let t0 = Instant::now();
        let mut r = record("b", wall());
        r.duration = 2 * SECOND;
        let o = observe(None, r, t0);
        assert!(matches!(
            decide(Some(&o), t0 + SECOND, "a"),
            Action::Wait { .. }
        ));
        assert_eq!(
            decide(Some(&o), t0 + 2 * SECOND, "a"),
            Action::Take(Vacancy::Expired)
        );
    }

    #[test]
    fn a_new_holder_restarts_the_clock() {
        let t0 = Instant::now();
        let r = record("b", wall());
        let o = observe(None, r.clone(), t0);
        let mut taken = r;
        taken.holder = "c".into();
        taken.transitions += 1;
        let o = observe(Some(o), taken, t0 + 14 * SECOND);
        assert_eq!(
            decide(Some(&o), t0 + 20 * SECOND, "a"),
            Action::Wait {
                holder: "c".into(),
                until: t0 + 29 * SECOND
            }
        );
    }

    #[test]
    fn records_read_missing_fields_as_defaults() {
        let lease = Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some("b".into()),
                lease_duration_seconds: Some(0),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        };
        let r = Record::of(&lease, 7 * SECOND);
        assert_eq!(r.duration, 7 * SECOND);
        assert_eq!(r.transitions, 0);
        assert_eq!(Record::of(&Lease::default(), SECOND).holder, "");
    }

    #[test]
    fn defaults_poll_within_half_a_second() {
        let c = LeaseConfig::new("ops", "dpo", "a");
        assert!(c.poll_every <= Duration::from_millis(500));
        assert!(c.renew_deadline < c.duration);
        assert!(c.renew_every < c.renew_deadline);
    }
}
