//! What a sink delivers: one alert, plus how many similar alerts were held back before it.

use chrono::{DateTime, SecondsFormat, Utc};
use secretwatch_detect::Alert;
use serde::{Deserialize, Serialize};

/// One queued message for one sink. This is what the on-disk queue stores (one JSON line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub alert: Alert,
    /// Set when the throttle held back alerts of the same rule and principal since the last
    /// delivered one: the message must say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppressed>,
}

impl Notification {
    pub fn new(alert: Alert) -> Notification {
        Notification {
            alert,
            suppressed: None,
        }
    }

    /// The alert's reason followed by the suppressed summary, if any.
    pub fn reason_with_note(&self) -> String {
        match &self.suppressed {
            None => self.alert.reason.clone(),
            Some(s) => format!("{} ({})", self.alert.reason, s.summary()),
        }
    }
}

/// Alerts of the same rule and principal that the throttle counted instead of delivering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppressed {
    pub count: u64,
    /// Event time of the first and the last suppressed alert.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Ids of the suppressed alerts, at most [`Suppressed::MAX_IDS`] (the first ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_ids: Vec<String>,
}

impl Suppressed {
    pub const MAX_IDS: usize = 20;

    /// `12 similar alerts suppressed since 2026-11-02T09:00:00Z`.
    pub fn summary(&self) -> String {
        format!(
            "{} similar alert{} suppressed since {}",
            self.count,
            if self.count == 1 { "" } else { "s" },
            self.since.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use chrono::TimeZone;
    use secretwatch_detect::{Alert, Severity};
    use secretwatch_ingest::SourceSystem;

    use super::*;

    pub fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, h, m, s).unwrap()
    }

    /// An alert whose text fields carry characters every format must escape.
    pub fn alert() -> Alert {
        Alert {
            id: secretwatch_detect::alert_id("bulk-secret-reads", "mallory", t(9, 0, 0)),
            rule: "bulk-secret-reads".into(),
            severity: Severity::High,
            title: "Bulk secret reads | burst".into(),
            principal: "system:serviceaccount:ci:deployer".into(),
            source: SourceSystem::Kubernetes,
            event_ids: vec!["e-1".into(), "e-2".into()],
            first_seen: t(9, 0, 0),
            last_seen: Utc.with_ymd_and_hms(2026, 11, 2, 9, 4, 59).unwrap()
                + chrono::Duration::milliseconds(123),
            reason: "read 20 distinct secrets in 5 min; a=b \\ c\nnext <!here> & \"q\"".into(),
            targets: vec!["prod/secrets/db".into(), "prod/secrets/api".into()],
            source_ips: vec!["10.1.2.3".into(), "2001:db8::1".into()],
            tags: vec![
                "attack.credential-access".into(),
                "attack.t1552.007".into(),
                "attack.collection".into(),
            ],
            break_glass: false,
        }
    }

    pub fn notification() -> Notification {
        Notification::new(alert())
    }

    pub fn suppressed_note() -> Suppressed {
        Suppressed {
            count: 12,
            since: t(8, 0, 0),
            until: t(8, 50, 0),
            alert_ids: vec!["a1".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{notification, suppressed_note};
    use super::*;

    #[test]
    fn summary_counts_and_round_trips() {
        let mut n = notification();
        assert_eq!(n.reason_with_note(), n.alert.reason);
        n.suppressed = Some(suppressed_note());
        assert_eq!(
            n.suppressed.as_ref().unwrap().summary(),
            "12 similar alerts suppressed since 2026-11-02T08:00:00Z"
        );
        assert!(n
            .reason_with_note()
            .ends_with("(12 similar alerts suppressed since 2026-11-02T08:00:00Z)"));
        let line = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Notification>(&line).unwrap(), n);
        let one = Suppressed {
            count: 1,
            ..suppressed_note()
        };
        assert!(one.summary().starts_with("1 similar alert suppressed"));
        // Without a note the field is absent, and a bare alert line reads back too.
        let bare = serde_json::to_value(notification()).unwrap();
        assert!(bare.get("suppressed").is_none());
    }
}
