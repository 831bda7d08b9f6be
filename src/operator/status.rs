//! Conditions and status, computed from what the reconcile observed (pure). Shaped like
//! Kubernetes' own conditions so kstatus, Argo CD and Flux understand them; written only when
//! something other than a timestamp changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{DataProductStatus, Phase};

pub use crate::api::constants::conditions::*;

/// One concern's state before it becomes a Condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub type_: &'static str,
    /// `Some(true)` True, `Some(false)` False, `None` Unknown.
    pub ok: Option<bool>,
    pub reason: String,
    pub message: String,
}

impl Check {
    pub fn new(
        type_: &'static str,
        ok: Option<bool>,
        reason: &str,
        message: impl Into<String>,
    ) -> Check {
        Check {
            type_,
            ok,
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// Builds conditions from checks, keeping `lastTransitionTime` of conditions whose status did not
/// change (so a no-op reconcile produces an identical status and no write).
pub fn conditions(
    previous: &[Condition],
    checks: &[Check],
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Vec<Condition> {
    checks
        .iter()
        .map(|c| {
            let status = match c.ok {
                Some(true) => "True",
                Some(false) => "False",
                None => "Unknown",
            };
            let last = previous
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == status)
                .map(|p| p.last_transition_time.clone())
                .unwrap_or(Time(now));
            Condition {
                type_: c.type_.to_string(),
                status: status.to_string(),
                reason: c.reason.clone(),
                message: truncate(&c.message, 32_768),
                observed_generation: generation,
                last_transition_time: last,
            }
        })
        .collect()
}

/// The computed conditions, plus the previous ones of other types: a product that turns Invalid
/// keeps reporting what it last knew of its namespace and storage. `Stalled` and `Reconciling`
/// are dropped unless computed, since they exist only while true.
pub fn merge(previous: &[Condition], computed: Vec<Condition>) -> Vec<Condition> {
    let mut out = computed;
    for p in previous {
        let transient = p.type_ == STALLED || p.type_ == RECONCILING;
        if !transient && !out.iter().any(|c| c.type_ == p.type_) {
            out.push(p.clone());
        }
    }
    out
}

/// Condition messages are capped by the API (32 KiB).
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// `Ready` summarises the others: True when every other known condition is True (Unknown AWS
/// conditions in AWS-less mode do not block it), False with the first failing one's reason.
pub fn ready(checks: &[Check]) -> Check {
    if let Some(failed) = checks.iter().find(|c| c.ok == Some(false)) {
        return Check::new(
            READY,
            Some(false),
            &failed.reason,
            format!("{}: {}", failed.type_, failed.message),
        );
    }
    let unknown: Vec<&str> = checks
        .iter()
        .filter(|c| c.ok.is_none() && c.reason != "AwsNotConfigured")
        .map(|c| c.type_)
        .collect();
    if !unknown.is_empty() {
        return Check::new(
            READY,
            None,
            "Provisioning",
            format!("waiting for {}", unknown.join(", ")),
        );
    }
    Check::new(
        READY,
        Some(true),
        "Provisioned",
        "every part of the product is provisioned",
    )
}

/// Phase from the conditions.
pub fn phase(valid: bool, ready: &Check, deleting: bool) -> Phase {
    if deleting {
        Phase::Deleting
    } else if !valid {
        Phase::Invalid
    } else {
        match ready.ok {
            Some(true) => Phase::Ready,
            None => Phase::Provisioning,
            Some(false) if ready.reason == "Provisioning" => Phase::Provisioning,
            Some(false) => Phase::Degraded,
        }
    }
}

/// The conditions kstatus (Flux's health checks, `kubectl wait`-style tools) reads besides
/// observedGeneration: `Stalled` when the product cannot progress without a change (invalid spec,
/// conflict), `Reconciling` while it is being provisioned or retried. Present only when true,
/// as kstatus expects of these "abnormal-true" conditions.
pub fn kstatus(phase: Phase, ready: &Check) -> Option<Check> {
    match phase {
        Phase::Invalid => Some(Check::new(
            STALLED,
            Some(true),
            &ready.reason,
            ready.message.clone(),
        )),
        Phase::Degraded if ready.reason == "Conflict" => Some(Check::new(
            STALLED,
            Some(true),
            &ready.reason,
            ready.message.clone(),
        )),
        Phase::Degraded | Phase::Provisioning | Phase::Pending => Some(Check::new(
            RECONCILING,
            Some(true),
            &ready.reason,
            ready.message.clone(),
        )),
        Phase::Ready | Phase::Deleting => None,
    }
}

/// Whether writing `new` over `old` changes anything.
pub fn changed(old: Option<&DataProductStatus>, new: &DataProductStatus) -> bool {
    old != Some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn transition_time_is_kept_while_status_is_unchanged() {
        let checks = vec![Check::new(VALID, Some(true), "Valid", "ok")];
        let first = conditions(&[], &checks, Some(1), ts("2026-11-22T10:00:00Z"));
        let again = conditions(&first, &checks, Some(1), ts("2026-11-22T11:00:00Z"));
        assert_eq!(first, again);
        let flipped = conditions(
            &first,
            &[Check::new(VALID, Some(false), "GovernanceViolation", "x")],
            Some(2),
            ts("2026-11-22T12:00:00Z"),
        );
        assert_eq!(
            flipped[0].last_transition_time,
            Time(ts("2026-11-22T12:00:00Z"))
        );
        assert_eq!(flipped[0].observed_generation, Some(2));
    }

    #[test]
    fn ready_summarises_and_phase_follows() {
        let ok = Check::new(VALID, Some(true), "Valid", "");
        let aws = Check::new(STORAGE_READY, None, "AwsNotConfigured", "no AWS");
        let r = ready(&[ok.clone(), aws]);
        assert_eq!(r.ok, Some(true));
        assert_eq!(phase(true, &r, false), Phase::Ready);
        let conflict = Check::new(
            NAMESPACE_READY,
            Some(false),
            "Conflict",
            "Namespace x belongs to y",
        );
        let r = ready(&[ok, conflict]);
        assert_eq!((r.ok, r.reason.as_str()), (Some(false), "Conflict"));
        assert_eq!(phase(true, &r, false), Phase::Degraded);
        assert_eq!(phase(false, &r, false), Phase::Invalid);
        assert_eq!(phase(true, &r, true), Phase::Deleting);
        assert_eq!(kstatus(Phase::Degraded, &r).map(|c| c.type_), Some(STALLED));
        assert_eq!(
            kstatus(Phase::Provisioning, &r).map(|c| c.type_),
            Some(RECONCILING)
        );
        assert_eq!(kstatus(Phase::Ready, &r), None);
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let s = "é".repeat(20_000);
        let t = truncate(&s, 32_768);
        assert!(t.len() <= 32_768 && t.ends_with("..."));
    }
}
