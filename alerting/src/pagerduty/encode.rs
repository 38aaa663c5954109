//! The Events API v2 `trigger` body.
//!
//! `dedup_key` is the alert id, so a redelivery collapses into the same incident. Severity:
//! critical -> `critical`, high -> `error`, medium -> `warning`, low and info -> `info`.
//! `payload.source` is the configured source (default: this host), `component` the audit
//! source (`kubernetes`, `vault`), `group` the principal, `class` the rule; `timestamp` is the
//! alert's last event time. The body carries the routing key: never log it.

use secretwatch_detect::Severity;
use serde_json::{json, Value};

use crate::attack::{tactics, techniques};
use crate::config::Origin;
use crate::notification::Notification;
use crate::secret::Secret;
use crate::text::{rfc3339_ms, truncate_chars};

pub const MAX_SUMMARY: usize = 1024;
pub const MAX_DEDUP_KEY: usize = 255;

pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    }
}

/// The JSON body to POST to `/v2/enqueue`.
pub fn body(
    n: &Notification,
    origin: &Origin,
    routing_key: &Secret,
    source: Option<&str>,
) -> Vec<u8> {
    let a = &n.alert;
    let one_line = |s: &str| s.replace(['\r', '\n'], " ");
    let summary = truncate_chars(
        &one_line(&format!(
            "[{}] {}: {}: {}",
            a.severity,
            a.title,
            a.principal,
            n.reason_with_note()
        )),
        MAX_SUMMARY,
    );
    let mut details = json!({
        "alert_id": a.id,
        "rule": a.rule,
        "severity": a.severity,
        "principal": a.principal,
        "reason": a.reason,
        "first_seen": rfc3339_ms(a.first_seen),
        "last_seen": rfc3339_ms(a.last_seen),
        "targets": a.targets,
        "source_ips": a.source_ips,
        "event_count": a.event_ids.len(),
        "tags": a.tags,
        "break_glass": a.break_glass,
    });
    let ta: Vec<String> = tactics(a.tags.iter().map(String::as_str))
        .iter()
        .map(|t| format!("{} {}", t.id, t.name))
        .collect();
    let te: Vec<String> = techniques(a.tags.iter().map(String::as_str))
        .into_iter()
        .map(|t| t.sub.map(|(id, _)| id).unwrap_or(t.id))
        .collect();
    if !ta.is_empty() {
        details["attack_tactics"] = json!(ta);
    }
    if !te.is_empty() {
        details["attack_techniques"] = json!(te);
    }
    if let Some(s) = &n.suppressed {
        details["suppressed"] = json!({
            "count": s.count,
            "since": rfc3339_ms(s.since),
            "until": rfc3339_ms(s.until),
            "message": s.summary(),
        });
    }
    let mut v = json!({
        "routing_key": routing_key.expose(),
        "event_action": "trigger",
        "dedup_key": truncate_chars(&a.id, MAX_DEDUP_KEY),
        "payload": {
            "summary": summary,
            "source": source.unwrap_or(&origin.host),
            "severity": severity(a.severity),
            "timestamp": rfc3339_ms(a.last_seen),
            "component": a.source.as_str(),
            "group": a.principal,
            "class": a.rule,
            "custom_details": details,
        },
        "client": "secretwatch",
    });
    if let Some(url) = origin.alert_url(&a.id) {
        v["client_url"] = Value::from(url.clone());
        v["links"] = json!([{"href": url, "text": "Alert in secretwatch"}]);
    }
    serde_json::to_vec(&v).expect("JSON values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::{notification, suppressed_note};

    #[test]
    fn trigger_body_field_by_field() {
        let mut n = notification();
        n.suppressed = Some(suppressed_note());
        let origin = Origin::new("sw-1").with_dashboard("https://sw.example");
        let key = Secret::new("R0UT1NGKEY0123456789abcdefABCDEF");
        let v: Value = serde_json::from_slice(&body(&n, &origin, &key, None)).unwrap();
        assert_eq!(v["routing_key"], "R0UT1NGKEY0123456789abcdefABCDEF");
        assert_eq!(v["event_action"], "trigger");
        assert_eq!(v["dedup_key"], n.alert.id.as_str());
        let p = &v["payload"];
        let summary = p["summary"].as_str().unwrap();
        assert!(summary.starts_with(
            "[high] Bulk secret reads | burst: system:serviceaccount:ci:deployer: read 20"
        ));
        assert!(!summary.contains('\n'), "one line");
        assert!(summary.ends_with("(12 similar alerts suppressed since 2026-11-02T08:00:00Z)"));
        assert_eq!(p["source"], "sw-1");
        assert_eq!(p["severity"], "error");
        assert_eq!(p["timestamp"], "2026-11-02T09:04:59.123Z");
        assert_eq!(p["component"], "kubernetes");
        assert_eq!(p["group"], "system:serviceaccount:ci:deployer");
        assert_eq!(p["class"], "bulk-secret-reads");
        let d = &p["custom_details"];
        assert_eq!(d["alert_id"], n.alert.id.as_str());
        assert_eq!(d["reason"], n.alert.reason.as_str());
        assert_eq!(d["event_count"], 2);
        assert_eq!(d["targets"][1], "prod/secrets/api");
        assert_eq!(d["suppressed"]["count"], 12);
        assert_eq!(
            d["attack_tactics"],
            json!(["TA0006 Credential Access", "TA0009 Collection"])
        );
        assert_eq!(d["attack_techniques"], json!(["T1552.007"]));
        let url = format!("https://sw.example/alerts/{}", n.alert.id);
        assert_eq!(v["client"], "secretwatch");
        assert_eq!(v["client_url"], url.as_str());
        assert_eq!(v["links"][0]["href"], url.as_str());

        let v: Value =
            serde_json::from_slice(&body(&n, &Origin::new("h"), &key, Some("prod-cluster")))
                .unwrap();
        assert_eq!(v["payload"]["source"], "prod-cluster");
        assert!(v.get("links").is_none() && v.get("client_url").is_none());
    }

    #[test]
    fn severities_and_summary_limit() {
        assert_eq!(severity(Severity::Critical), "critical");
        assert_eq!(severity(Severity::High), "error");
        assert_eq!(severity(Severity::Medium), "warning");
        assert_eq!(severity(Severity::Low), "info");
        assert_eq!(severity(Severity::Info), "info");
        let mut n = notification();
        n.alert.reason = "é".repeat(5000);
        let v: Value =
            serde_json::from_slice(&body(&n, &Origin::new("h"), &Secret::new("k"), None)).unwrap();
        let s = v["payload"]["summary"].as_str().unwrap();
        assert_eq!(s.chars().count(), MAX_SUMMARY);
        assert!(s.ends_with('…'));
    }
}
