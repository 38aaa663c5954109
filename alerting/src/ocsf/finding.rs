//! OCSF 1.5.0 Detection Finding (class_uid 2004, category Findings 2) of one alert.
//!
//! `activity_id` 1 (Create), `type_uid` 200401, `time` = the alert's last event time in epoch
//! ms (`start_time`/`end_time` first and last), `status_id` 1 (New), `is_alert` true,
//! `severity_id` info 1, low 2, medium 3, high 4, critical 5. `finding_info.uid` is the alert
//! id (the idempotency key); `analytic` is the rule (type Rule); `attacks` come from the
//! ATT&CK tags; `related_events` the triggering event ids. The principal and source address
//! are the `evidences`, the targets the `resources`. What OCSF has no place for (suppressed
//! count, break-glass flag) goes in `unmapped.secretwatch`.

use secretwatch_detect::Severity;
use serde_json::{json, Value};

use crate::attack::{tactics, techniques, Tactic};
use crate::config::Origin;
use crate::notification::Notification;
use crate::text::{epoch_ms, prune, valid_ips};

pub const OCSF_VERSION: &str = "1.5.0";
pub const DETECTION_FINDING_CLASS_UID: u32 = 2004;
const FINDINGS_CATEGORY_UID: u32 = 2;
const CREATE: u32 = 1;

pub fn severity_id(s: Severity) -> (u8, &'static str) {
    match s {
        Severity::Info => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

pub(crate) fn metadata(origin: &Origin, uid: &str) -> Value {
    json!({
        "version": OCSF_VERSION,
        "product": {
            "name": "secretwatch",
            "vendor_name": "secretwatch",
            "version": origin.version,
        },
        "uid": uid,
    })
}

/// OCSF `attack` objects: one per technique, with the first tactic named by the tags (ATT&CK
/// tags do not say which tactic a technique served); tactics without a technique alone.
fn attacks(tags: &[String]) -> Vec<Value> {
    let ta = tactics(tags.iter().map(String::as_str));
    let te = techniques(tags.iter().map(String::as_str));
    let tactic = |t: &Tactic| json!({"uid": t.id, "name": t.name, "src_url": t.url()});
    if te.is_empty() {
        return ta.iter().map(|t| json!({"tactic": tactic(t)})).collect();
    }
    te.iter()
        .map(|t| {
            json!({
                "technique": {"uid": t.id, "name": t.name, "src_url": t.url()},
                "sub_technique": t.sub.as_ref().map(|(id, name)| json!({
                    "uid": id,
                    "name": name,
                    "src_url": crate::attack::technique_url(id),
                })),
                "tactic": ta.first().map(tactic),
            })
        })
        .collect()
}

/// The Detection Finding of one alert.
pub fn detection_finding(n: &Notification, origin: &Origin) -> Value {
    let a = &n.alert;
    let (sev_id, sev) = severity_id(a.severity);
    let ips = valid_ips(a.source_ips.iter().map(String::as_str));
    let mut evidence = json!({
        "actor": {"user": {"name": a.principal}},
        "src_endpoint": {"ip": ips.first()},
    });
    if ips.len() > 1 {
        evidence["data"] = json!({"source_ips": a.source_ips});
    }
    let resources: Vec<Value> = a
        .targets
        .iter()
        .map(|t| {
            json!({
                "uid": t,
                "name": t,
                "type": match a.source {
                    secretwatch_ingest::SourceSystem::Kubernetes => "kubernetes",
                    other => other.as_str(),
                },
            })
        })
        .collect();
    let mut doc = json!({
        "class_uid": DETECTION_FINDING_CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": FINDINGS_CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": CREATE,
        "activity_name": "Create",
        "type_uid": DETECTION_FINDING_CLASS_UID * 100 + CREATE,
        "type_name": "Detection Finding: Create",
        "severity_id": sev_id,
        "severity": sev,
        "status_id": 1,
        "status": "New",
        "is_alert": true,
        "time": epoch_ms(a.last_seen),
        "start_time": epoch_ms(a.first_seen),
        "end_time": epoch_ms(a.last_seen),
        "message": format!("{}: {}", a.title, n.reason_with_note()),
        "metadata": metadata(origin, &a.id),
        "finding_info": {
            "uid": a.id,
            "title": a.title,
            "desc": a.reason,
            "analytic": {"uid": a.rule, "name": a.rule, "type_id": 1, "type": "Rule"},
            "attacks": attacks(&a.tags),
            "first_seen_time": epoch_ms(a.first_seen),
            "last_seen_time": epoch_ms(a.last_seen),
            "related_events": a.event_ids.iter().map(|id| json!({"uid": id})).collect::<Vec<_>>(),
            "related_events_count": a.event_ids.len(),
            "src_url": origin.alert_url(&a.id),
            "types": [a.source.as_str()],
        },
        "evidences": [evidence],
        "resources": resources,
        "unmapped": {"secretwatch": {
            "tags": a.tags,
            "break_glass": a.break_glass,
            "suppressed": n.suppressed.as_ref().map(|s| json!({
                "count": s.count,
                "since": epoch_ms(s.since),
                "until": epoch_ms(s.until),
                "message": s.summary(),
                "alert_ids": s.alert_ids,
            })),
        }},
    });
    prune(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::{notification, suppressed_note};

    #[test]
    fn finding_field_by_field() {
        let mut n = notification();
        n.suppressed = Some(suppressed_note());
        let origin = Origin::new("sw-1").with_dashboard("https://sw.example");
        let d = detection_finding(&n, &origin);
        assert_eq!(d["class_uid"], 2004);
        assert_eq!(d["category_uid"], 2);
        assert_eq!(d["activity_id"], 1);
        assert_eq!(d["type_uid"], 200401);
        assert_eq!(d["severity_id"], 4);
        assert_eq!(d["severity"], "High");
        assert_eq!(d["status_id"], 1);
        assert_eq!(d["is_alert"], true);
        assert_eq!(d["time"], 1_793_610_299_123i64);
        assert_eq!(d["start_time"], 1_793_610_000_000i64);
        assert_eq!(d["metadata"]["version"], "1.5.0");
        assert_eq!(d["metadata"]["product"]["name"], "secretwatch");
        assert_eq!(d["metadata"]["product"]["vendor_name"], "secretwatch");
        assert_eq!(d["metadata"]["product"]["version"], "0.1.0");
        let f = &d["finding_info"];
        assert_eq!(f["uid"], n.alert.id.as_str());
        assert_eq!(f["title"], "Bulk secret reads | burst");
        assert_eq!(f["desc"], n.alert.reason.as_str());
        assert_eq!(f["analytic"]["uid"], "bulk-secret-reads");
        assert_eq!(f["analytic"]["type_id"], 1);
        assert_eq!(f["analytic"]["type"], "Rule");
        assert_eq!(f["first_seen_time"], 1_793_610_000_000i64);
        assert_eq!(f["last_seen_time"], 1_793_610_299_123i64);
        assert_eq!(f["related_events"], json!([{"uid": "e-1"}, {"uid": "e-2"}]));
        assert_eq!(
            f["src_url"],
            format!("https://sw.example/alerts/{}", n.alert.id).as_str()
        );
        let at = &f["attacks"][0];
        assert_eq!(at["technique"]["uid"], "T1552");
        assert_eq!(at["technique"]["name"], "Unsecured Credentials");
        assert_eq!(at["sub_technique"]["uid"], "T1552.007");
        assert_eq!(at["sub_technique"]["name"], "Container API");
        assert_eq!(at["tactic"]["uid"], "TA0006");
        assert_eq!(at["tactic"]["name"], "Credential Access");
        let ev = &d["evidences"][0];
        assert_eq!(
            ev["actor"]["user"]["name"],
            "system:serviceaccount:ci:deployer"
        );
        assert_eq!(ev["src_endpoint"]["ip"], "10.1.2.3");
        assert_eq!(d["resources"][0]["name"], "prod/secrets/db");
        assert_eq!(d["resources"][1]["uid"], "prod/secrets/api");
        assert_eq!(d["resources"][0]["type"], "kubernetes");
        assert_eq!(d["unmapped"]["secretwatch"]["suppressed"]["count"], 12);
        assert!(d["message"]
            .as_str()
            .unwrap()
            .contains("12 similar alerts suppressed"));

        // Tactic-only tags still give attacks; no nulls anywhere.
        let mut bare = notification();
        bare.alert.tags = vec!["attack.impact".into()];
        bare.alert.source_ips = vec![];
        let d = detection_finding(&bare, &Origin::new("h"));
        assert_eq!(d["finding_info"]["attacks"][0]["tactic"]["uid"], "TA0040");
        assert!(d["evidences"][0].get("src_endpoint").is_none());
        assert!(d["finding_info"].get("src_url").is_none());
        assert!(!serde_json::to_string(&d).unwrap().contains("null"));
    }

    #[test]
    fn severity_ids() {
        assert_eq!(severity_id(Severity::Info).0, 1);
        assert_eq!(severity_id(Severity::Low).0, 2);
        assert_eq!(severity_id(Severity::Medium).0, 3);
        assert_eq!(severity_id(Severity::Critical), (5, "Critical"));
    }
}
