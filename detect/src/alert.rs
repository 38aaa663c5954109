//! The one alert type every sink reads.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use secretwatch_ingest::{AccessEvent, SourceSystem};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding, delivered once per sink by `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Deterministic: rule + group key + window start (a replay yields the same ids).
    pub id: String,
    pub rule: String,
    pub severity: Severity,
    pub title: String,
    /// The acting identity.
    pub principal: String,
    pub source: SourceSystem,
    /// Events that triggered the alert (ids as the source wrote them).
    pub event_ids: Vec<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Why, for a human, with the numbers behind it.
    pub reason: String,
    /// Secrets or objects touched.
    pub targets: Vec<String>,
    pub source_ips: Vec<String>,
    /// ATT&CK and routing tags (`attack.t1552.007`, `break-glass`).
    pub tags: Vec<String>,
    /// Always delivered to every break-glass channel.
    pub break_glass: bool,
}

/// `rule` + `group` + window start, hashed: 32 hex chars.
pub fn alert_id(rule: &str, group: &str, window_start: DateTime<Utc>) -> String {
    let mut h = Sha256::new();
    h.update(rule.as_bytes());
    h.update([0]);
    h.update(group.as_bytes());
    h.update([0]);
    h.update(
        window_start
            .to_rfc3339_opts(SecondsFormat::Micros, true)
            .as_bytes(),
    );
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// A short description of an event's target, e.g. `prod/secrets/db` or `secret/data/prod/db`.
pub fn target_label(ev: &AccessEvent<'_>) -> String {
    let t = &ev.target;
    match ev.source {
        SourceSystem::Kubernetes => {
            let mut s = String::new();
            s.push_str(t.namespace.as_deref().unwrap_or("*"));
            s.push('/');
            s.push_str(t.resource.as_deref().unwrap_or("-"));
            if let Some(sub) = &t.subresource {
                s.push('/');
                s.push_str(sub);
            }
            if let Some(n) = &t.name {
                s.push('/');
                s.push_str(n);
            }
            s
        }
        _ => t.name.as_deref().unwrap_or("-").to_string(),
    }
}

impl Alert {
    /// A new alert from its first event.
    #[allow(clippy::too_many_arguments)]
    pub fn from_event(
        rule: &str,
        severity: Severity,
        title: &str,
        group: &str,
        window_start: DateTime<Utc>,
        ev: &AccessEvent<'_>,
        reason: String,
        tags: &[&str],
    ) -> Alert {
        Alert {
            id: alert_id(rule, group, window_start),
            rule: rule.to_string(),
            severity,
            title: title.to_string(),
            principal: ev.principal.name.to_string(),
            source: ev.source,
            event_ids: vec![ev.id.to_string()],
            first_seen: ev.time,
            last_seen: ev.time,
            reason,
            targets: vec![target_label(ev)],
            source_ips: ev.source_ips.iter().map(str::to_string).collect(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            break_glass: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let t = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let a = alert_id("r", "p", t);
        assert_eq!(a, alert_id("r", "p", t));
        assert_eq!(a.len(), 32);
        assert_ne!(a, alert_id("r", "q", t));
        assert_ne!(a, alert_id("r", "p", t + chrono::Duration::hours(1)));
        // Field boundaries matter: ("ab","c") differs from ("a","bc").
        assert_ne!(alert_id("ab", "c", t), alert_id("a", "bc", t));
    }
}
