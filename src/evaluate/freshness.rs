//! Observed freshness: (signals per output, the product's SLO, how long it has been Ready, now)
//! → each output's freshness and the product's `Fresh` condition. Pure: the operator gathers
//! the signals (CronJob runs, S3 listings, Glue partitions) and writes what this decides.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::api::{DataProduct, Freshness, PublishedOutput};

/// Which observation a signal comes from; the name is what `status.outputs[].source` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// A writing pipeline's CronJob `status.lastSuccessfulTime`.
    CronJob,
    /// The newest object under the output's location (in its greatest partition).
    S3Object,
    /// The creation time of the output's newest Glue partition.
    GluePartition,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::CronJob => "CronJob",
            Source::S3Object => "S3Object",
            Source::GluePartition => "GluePartition",
        }
    }
}

/// One sign that an output was updated at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub source: Source,
    pub at: Timestamp,
}

/// What was decided for one output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// The newest signal, if any.
    pub newest: Option<Signal>,
    pub freshness: Freshness,
}

impl Observed {
    /// Seconds since the newest signal (never negative: a clock ahead of ours counts as now).
    pub fn age_seconds(&self, now: Timestamp) -> Option<i64> {
        self.newest
            .map(|s| (now.as_second() - s.at.as_second()).max(0))
    }
}

/// The product's freshness SLO in seconds, when it declares a valid one.
pub fn slo_seconds(product: &DataProduct) -> Option<u64> {
    product
        .spec
        .slo
        .as_ref()
        .and_then(|s| s.freshness.as_deref())
        .and_then(crate::governance::parse_duration)
}

/// The newest signal wins. With an SLO, an output older than it is Stale; an output with no
/// signal is Unknown until the product has been Ready for longer than the SLO (it has had the
/// time to produce), then Stale. Without an SLO nothing is ever Stale: a signal means Fresh.
pub fn decide(
    signals: &[Signal],
    slo: Option<u64>,
    ready_since: Option<Timestamp>,
    now: Timestamp,
) -> Observed {
    // Ties go to the first source in declaration order (CronJob), so the choice is stable.
    let newest = signals
        .iter()
        .copied()
        .max_by(|a, b| a.at.cmp(&b.at).then(b.source.cmp(&a.source)));
    let older_than_slo = |since: Timestamp, slo: u64| {
        now.as_second() - since.as_second() > i64::try_from(slo).unwrap_or(i64::MAX)
    };
    let freshness = match (newest, slo) {
        (Some(s), Some(slo)) if older_than_slo(s.at, slo) => Freshness::Stale,
        (Some(_), _) => Freshness::Fresh,
        (None, Some(slo)) if ready_since.is_some_and(|r| older_than_slo(r, slo)) => {
            Freshness::Stale
        }
        (None, _) => Freshness::Unknown,
    };
    Observed { newest, freshness }
}

/// The `Fresh` condition: False (reason `Stale`) naming every stale output and its age, True
/// when every output is Fresh, otherwise Unknown (reason `NoSignal`).
pub fn condition(
    observed: &BTreeMap<String, Observed>,
    slo: Option<u64>,
    now: Timestamp,
) -> (Option<bool>, &'static str, String) {
    let slo_text = slo.map(|s| format!(" (SLO {})", human(s as i64)));
    let stale: Vec<String> = observed
        .iter()
        .filter(|(_, o)| o.freshness == Freshness::Stale)
        .map(|(name, o)| match o.age_seconds(now) {
            Some(age) => format!("{name} is {} old", human(age)),
            None => format!("{name} has never been updated"),
        })
        .collect();
    if !stale.is_empty() {
        return (
            Some(false),
            "Stale",
            format!("{}{}", stale.join(", "), slo_text.unwrap_or_default()),
        );
    }
    let unknown: Vec<&str> = observed
        .iter()
        .filter(|(_, o)| o.freshness == Freshness::Unknown)
        .map(|(n, _)| n.as_str())
        .collect();
    if observed.is_empty() || !unknown.is_empty() {
        return (
            None,
            "NoSignal",
            if unknown.is_empty() {
                "the product has no outputs".to_string()
            } else {
                format!("no update observed yet for {}", unknown.join(", "))
            },
        );
    }
    (
        Some(true),
        "Fresh",
        format!(
            "every output is updated within its SLO{}",
            slo_text.unwrap_or_default()
        ),
    )
}

/// `90061` → `1d1h1m`: ages in the units the SLO is written in.
pub fn human(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        format!("{s}s")
    } else {
        out
    }
}

/// The CronJob names of the pipelines that write each output (as the planner names them).
pub fn writers(product: &DataProduct, id: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &product.spec.pipelines {
        let cron = crate::model::names::derive(
            crate::model::names::NameKind::CronJob,
            &p.name,
            &format!("{id}/{}", p.name),
        );
        for w in &p.writes {
            out.entry(w.clone()).or_default().push(cron.clone());
        }
    }
    out
}

/// The published outputs with what was observed: a signal, its source and the freshness.
pub fn publish(
    outputs: &[PublishedOutput],
    observed: &BTreeMap<String, Observed>,
) -> Vec<PublishedOutput> {
    outputs
        .iter()
        .map(|o| match observed.get(&o.name) {
            Some(obs) => PublishedOutput {
                last_updated: obs.newest.map(|s| rfc3339(s.at)),
                source: obs.newest.map(|s| s.source.as_str().to_string()),
                freshness: Some(obs.freshness),
                ..o.clone()
            },
            None => o.clone(),
        })
        .collect()
}

/// Outputs that turned Stale, and outputs that recovered from Stale, between two publications.
pub fn transitions(
    before: &[PublishedOutput],
    after: &[PublishedOutput],
) -> (Vec<String>, Vec<String>) {
    let was = |name: &str| {
        before
            .iter()
            .find(|b| b.name == name)
            .and_then(|b| b.freshness)
    };
    let mut stale = Vec::new();
    let mut recovered = Vec::new();
    for a in after {
        match (was(&a.name), a.freshness) {
            (Some(Freshness::Stale), Some(Freshness::Fresh)) => recovered.push(a.name.clone()),
            (w, Some(Freshness::Stale)) if w != Some(Freshness::Stale) => {
                stale.push(a.name.clone())
            }
            _ => {}
        }
    }
    (stale, recovered)
}

/// RFC 3339 in UTC, to the second: what `lastUpdated` holds (sub-second changes of a signal are
/// not worth a status write).
pub fn rfc3339(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const NOW: &str = "2026-12-01T12:00:00Z";
    const H: u64 = 3600;

    fn signal(source: Source, at: &str) -> Signal {
        Signal { source, at: ts(at) }
    }

    /// (signals, SLO, ready since) → (freshness, winning source).
    type Row = (
        Vec<Signal>,
        Option<u64>,
        Option<Timestamp>,
        Freshness,
        Option<Source>,
    );

    #[test]
    fn freshness_decisions_with_a_fixed_clock() {
        let now = ts(NOW);
        let cron = signal(Source::CronJob, "2026-12-01T10:00:00Z");
        let s3 = signal(Source::S3Object, "2026-12-01T11:00:00Z");
        let old = signal(Source::GluePartition, "2026-11-29T11:00:00Z");
        let ready_long = Some(ts("2026-11-01T00:00:00Z"));
        let ready_now = Some(ts("2026-12-01T11:59:00Z"));
        // (signals, slo, ready since) → (freshness, winning source)
        let table: Vec<Row> = vec![
            (
                vec![cron, s3],
                Some(26 * H),
                ready_long,
                Freshness::Fresh,
                Some(Source::S3Object),
            ),
            (
                vec![s3, cron, old],
                Some(26 * H),
                ready_long,
                Freshness::Fresh,
                Some(Source::S3Object),
            ),
            (
                vec![old],
                Some(26 * H),
                ready_long,
                Freshness::Stale,
                Some(Source::GluePartition),
            ),
            (
                vec![old, cron],
                Some(H),
                ready_long,
                Freshness::Stale,
                Some(Source::CronJob),
            ),
            // Exactly at the SLO is still fresh.
            (
                vec![signal(Source::CronJob, "2026-12-01T11:00:00Z")],
                Some(H),
                ready_long,
                Freshness::Fresh,
                Some(Source::CronJob),
            ),
            // No SLO: never Stale.
            (
                vec![old],
                None,
                ready_long,
                Freshness::Fresh,
                Some(Source::GluePartition),
            ),
            (vec![], None, ready_long, Freshness::Unknown, None),
            // No signal: Unknown until Ready for longer than the SLO, then Stale.
            (vec![], Some(26 * H), ready_now, Freshness::Unknown, None),
            (vec![], Some(26 * H), None, Freshness::Unknown, None),
            (vec![], Some(26 * H), ready_long, Freshness::Stale, None),
        ];
        for (i, (signals, slo, ready, want, source)) in table.into_iter().enumerate() {
            let got = decide(&signals, slo, ready, now);
            assert_eq!(got.freshness, want, "row {i}");
            assert_eq!(got.newest.map(|s| s.source), source, "row {i}");
        }
        // A tie goes to the CronJob.
        let tie = decide(
            &[signal(Source::S3Object, NOW), signal(Source::CronJob, NOW)],
            None,
            None,
            now,
        );
        assert_eq!(tie.newest.unwrap().source, Source::CronJob);
    }

    #[test]
    fn the_condition_names_stale_outputs_and_their_ages() {
        let now = ts(NOW);
        let obs = |signals: &[Signal]| {
            decide(signals, Some(26 * H), Some(ts("2026-11-01T00:00:00Z")), now)
        };
        let mut all = BTreeMap::new();
        all.insert(
            "daily".to_string(),
            obs(&[signal(Source::CronJob, "2026-12-01T11:00:00Z")]),
        );
        assert_eq!(condition(&all, Some(26 * H), now).0, Some(true));
        all.insert(
            "hourly".to_string(),
            obs(&[signal(Source::S3Object, "2026-11-29T10:30:00Z")]),
        );
        all.insert("never".to_string(), obs(&[]));
        let (ok, reason, message) = condition(&all, Some(26 * H), now);
        assert_eq!((ok, reason), (Some(false), "Stale"));
        assert_eq!(
            message,
            "hourly is 2d1h30m old, never has never been updated (SLO 1d2h)"
        );
        let mut unknown = BTreeMap::new();
        unknown.insert("daily".to_string(), decide(&[], Some(26 * H), None, now));
        let (ok, reason, message) = condition(&unknown, Some(26 * H), now);
        assert_eq!(
            (ok, reason, message.as_str()),
            (None, "NoSignal", "no update observed yet for daily")
        );
    }

    #[test]
    fn publication_and_transitions() {
        let now = ts(NOW);
        let base = vec![PublishedOutput {
            name: "daily".into(),
            version: 1,
            ..PublishedOutput::default()
        }];
        let at = |s: &str| {
            BTreeMap::from([(
                "daily".to_string(),
                decide(&[signal(Source::CronJob, s)], Some(H), None, now),
            )])
        };
        let stale = publish(&base, &at("2026-12-01T09:00:00.250Z"));
        assert_eq!(
            stale[0].last_updated.as_deref(),
            Some("2026-12-01T09:00:00Z")
        );
        assert_eq!(stale[0].source.as_deref(), Some("CronJob"));
        assert_eq!(stale[0].freshness, Some(Freshness::Stale));
        assert_eq!(
            transitions(&base, &stale),
            (vec!["daily".to_string()], vec![])
        );
        assert_eq!(transitions(&stale, &stale), (vec![], vec![]));
        let fresh = publish(&stale, &at("2026-12-01T11:30:00Z"));
        assert_eq!(
            transitions(&stale, &fresh),
            (vec![], vec!["daily".to_string()])
        );
        assert_eq!(transitions(&base, &fresh), (vec![], vec![]));
    }
}
