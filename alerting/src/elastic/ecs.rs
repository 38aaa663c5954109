//! Elastic Common Schema documents for alerts and for forwarded access events.
//!
//! Alerts: `event.kind: alert` (an alert raised outside the Elastic Stack; `signal` is
//! reserved for Elastic's own), `event.category: [intrusion_detection, api]`,
//! `event.type: [info]` (allowed pairs), `event.severity` 1 (info) to 5 (critical) and
//! `event.risk_score` on Elastic's scale (21 low, 47 medium, 73 high, 99 critical),
//! `rule.id`/`rule.name` = the rule id and `rule.description` = the alert title (the alert
//! carries no longer rule description), `threat.*` from the ATT&CK tags, and everything else
//! under the custom `secretwatch.alert.*` namespace. `@timestamp` is the last event time.
//!
//! Access events: `event.kind: event`, `event.category: [api]` (plus `authentication` for
//! logins), `event.type` from the normalized action and outcome, ECS `orchestrator.*` for
//! Kubernetes targets, `service.*` for Vault, the redacted raw record as `event.original`.

use secretwatch_detect::Severity;
use secretwatch_ingest::{AccessEvent, Action, Outcome, SourceSystem};
use serde_json::{json, Value};

use crate::attack::{tactics, technique_url, techniques};
use crate::config::Origin;
use crate::notification::Notification;
use crate::text::{prune, rfc3339_ms, valid_ips};

/// The ECS version the documents follow.
pub const ECS_VERSION: &str = "8.17.0";

pub fn severity_number(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

/// Elastic Security's default risk score per severity.
pub fn risk_score(s: Severity) -> f64 {
    match s {
        Severity::Info => 0.0,
        Severity::Low => 21.0,
        Severity::Medium => 47.0,
        Severity::High => 73.0,
        Severity::Critical => 99.0,
    }
}

fn observer(origin: &Origin) -> Value {
    json!({
        "vendor": "secretwatch",
        "product": "secretwatch",
        "version": origin.version,
        "hostname": origin.host,
    })
}

fn threat(tags: &[String]) -> Value {
    let ta = tactics(tags.iter().map(String::as_str));
    let te = techniques(tags.iter().map(String::as_str));
    if ta.is_empty() && te.is_empty() {
        return Value::Null;
    }
    let subs: Vec<_> = te
        .iter()
        .filter_map(|t| t.sub.as_ref())
        .map(|(id, name)| (id.clone(), name.unwrap_or(id.as_str()).to_string()))
        .collect();
    json!({
        "framework": "MITRE ATT&CK",
        "tactic": {
            "id": ta.iter().map(|t| t.id).collect::<Vec<_>>(),
            "name": ta.iter().map(|t| t.name).collect::<Vec<_>>(),
            "reference": ta.iter().map(|t| t.url()).collect::<Vec<_>>(),
        },
        "technique": {
            "id": te.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
            "name": te.iter().map(|t| t.name.unwrap_or(t.id.as_str()).to_string()).collect::<Vec<_>>(),
            "reference": te.iter().map(|t| t.url()).collect::<Vec<_>>(),
            "subtechnique": {
                "id": subs.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
                "name": subs.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>(),
                "reference": subs.iter().map(|(id, _)| technique_url(id)).collect::<Vec<_>>(),
            },
        },
    })
}

/// The ECS document of one alert.
pub fn alert_document(n: &Notification, origin: &Origin) -> Value {
    let a = &n.alert;
    let ips = valid_ips(a.source_ips.iter().map(String::as_str));
    let duration_ns = (a.last_seen - a.first_seen)
        .num_nanoseconds()
        .unwrap_or(i64::MAX);
    let suppressed = n.suppressed.as_ref().map(|s| {
        json!({
            "count": s.count,
            "since": rfc3339_ms(s.since),
            "until": rfc3339_ms(s.until),
            "alert_ids": s.alert_ids,
        })
    });
    let mut doc = json!({
        "@timestamp": rfc3339_ms(a.last_seen),
        "message": format!("{}: {}", a.title, n.reason_with_note()),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "alert",
            "category": ["intrusion_detection", "api"],
            "type": ["info"],
            "id": a.id,
            "code": a.rule,
            "severity": severity_number(a.severity),
            "risk_score": risk_score(a.severity),
            "start": rfc3339_ms(a.first_seen),
            "end": rfc3339_ms(a.last_seen),
            "duration": duration_ns,
            "dataset": "secretwatch.alert",
            "module": "secretwatch",
            "provider": a.source.as_str(),
            "reason": n.reason_with_note(),
            "url": origin.alert_url(&a.id),
        },
        "rule": {
            "id": a.rule,
            "name": a.rule,
            "description": a.title,
            "ruleset": "secretwatch",
        },
        "user": {"name": a.principal},
        "source": {"ip": ips.first()},
        "related": {"user": [a.principal], "ip": ips},
        "tags": a.tags,
        "threat": threat(&a.tags),
        "orchestrator": (a.source == SourceSystem::Kubernetes).then(|| json!({"type": "kubernetes"})),
        "observer": observer(origin),
        "secretwatch": {"alert": {
            "severity": a.severity.as_str(),
            "title": a.title,
            "targets": a.targets,
            "event_ids": a.event_ids,
            "source_ips": a.source_ips,
            "break_glass": a.break_glass,
            "suppressed": suppressed,
        }},
    });
    prune(&mut doc);
    doc
}

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Allowed => "success",
        Outcome::Denied | Outcome::Error => "failure",
        Outcome::Unknown => "unknown",
    }
}

/// `event.category` and `event.type` of an access (pairs ECS allows for `api` and
/// `authentication`).
fn categorize(ev: &AccessEvent<'_>) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut types = vec![match ev.action {
        Action::Read | Action::List => "access",
        Action::Write | Action::Rotate => "change",
        Action::Create => "creation",
        Action::Delete => "deletion",
        Action::Admin => "admin",
        Action::Login => "start",
        Action::Other => "info",
    }];
    match ev.outcome {
        Outcome::Allowed => types.push("allowed"),
        Outcome::Denied => types.push("denied"),
        Outcome::Error | Outcome::Unknown => {}
    }
    let categories = if ev.action == Action::Login {
        vec!["api", "authentication"]
    } else {
        vec!["api"]
    };
    (categories, types)
}

/// The label of an access's target, as alerts show it.
fn target_label(ev: &AccessEvent<'_>) -> String {
    secretwatch_detect::alert::target_label(ev)
}

/// The ECS document of one normalized access event (already redacted at ingest).
pub fn event_document(ev: &AccessEvent<'_>, origin: &Origin) -> Value {
    let ips = valid_ips(ev.source_ips.iter());
    let (category, types) = categorize(ev);
    let t = &ev.target;
    let acting_as = ev.principal.acting_as.as_ref().map(|i| i.name.as_ref());
    let mut related_users = vec![ev.principal.name.as_ref()];
    related_users.extend(acting_as);
    let vault = ev.principal.vault.as_ref().map(|v| {
        json!({
            "display_name": v.display_name,
            "entity_id": v.entity_id,
            "accessor": v.accessor,
            "policies": v.policies,
            "token_type": v.token_type,
            "role": v.role,
            "root": v.root,
        })
    });
    let kubernetes = ev.source == SourceSystem::Kubernetes;
    let mut doc = json!({
        "@timestamp": rfc3339_ms(ev.time),
        "message": format!(
            "{} {} {} ({})",
            ev.principal.name,
            ev.raw_action,
            target_label(ev),
            ev.outcome.as_str()
        ),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "event",
            "category": category,
            "type": types,
            "action": ev.raw_action,
            "outcome": outcome(ev.outcome),
            "id": ev.id,
            "dataset": "secretwatch.access",
            "module": "secretwatch",
            "provider": ev.source.as_str(),
            "reason": ev.reason,
            "original": ev.raw,
        },
        "user": {
            "name": ev.principal.name,
            "id": ev.principal.uid,
            "group": {"name": ev.principal.groups},
            "effective": {"name": acting_as},
        },
        "source": {"ip": ips.first()},
        "related": {"user": related_users, "ip": ips},
        "user_agent": {"original": ev.user_agent},
        "url": {"original": ev.request_uri},
        "http": {"response": {"status_code": ev.status_code}},
        "orchestrator": kubernetes.then(|| json!({
            "type": "kubernetes",
            "cluster": {"name": t.store},
            "namespace": t.namespace,
            "resource": {"type": t.resource, "name": t.name},
        })),
        "service": (ev.source == SourceSystem::Vault).then(|| json!({
            "type": "vault",
            "name": t.store,
        })),
        "observer": observer(origin),
        "secretwatch": {
            "source": ev.source.as_str(),
            "action": ev.action.as_str(),
            "principal": {
                "kind": ev.principal.kind.as_str(),
                "namespace": ev.principal.namespace,
                "vault": vault,
            },
            "target": {
                "label": target_label(ev),
                "store": t.store,
                "namespace": t.namespace,
                "name": t.name,
                "resource": t.resource,
                "subresource": t.subresource,
                "group": t.group,
                "is_secret": t.is_secret,
            },
            "redactions": ev.redactions,
        },
    });
    prune(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::{notification, suppressed_note};
    use crate::test_events::{access, vault_access};

    #[test]
    fn alert_document_field_by_field() {
        let mut n = notification();
        n.suppressed = Some(suppressed_note());
        let origin = Origin::new("sw-1").with_dashboard("https://sw.example");
        let d = alert_document(&n, &origin);
        assert_eq!(d["@timestamp"], "2026-11-02T09:04:59.123Z");
        assert_eq!(d["ecs"]["version"], ECS_VERSION);
        let e = &d["event"];
        assert_eq!(e["kind"], "alert");
        assert_eq!(e["category"], json!(["intrusion_detection", "api"]));
        assert_eq!(e["type"], json!(["info"]));
        assert_eq!(e["id"], n.alert.id.as_str());
        assert_eq!(e["severity"], 4);
        assert_eq!(e["risk_score"], 73.0);
        assert_eq!(e["start"], "2026-11-02T09:00:00.000Z");
        assert_eq!(e["end"], "2026-11-02T09:04:59.123Z");
        assert_eq!(e["duration"], 299_123_000_000i64);
        assert_eq!(e["dataset"], "secretwatch.alert");
        assert_eq!(
            e["url"],
            format!("https://sw.example/alerts/{}", n.alert.id).as_str()
        );
        assert!(e["reason"]
            .as_str()
            .unwrap()
            .ends_with("(12 similar alerts suppressed since 2026-11-02T08:00:00Z)"));
        assert_eq!(d["rule"]["id"], "bulk-secret-reads");
        assert_eq!(d["rule"]["name"], "bulk-secret-reads");
        assert_eq!(d["rule"]["description"], "Bulk secret reads | burst");
        assert_eq!(d["user"]["name"], "system:serviceaccount:ci:deployer");
        assert_eq!(d["source"]["ip"], "10.1.2.3");
        assert_eq!(d["related"]["ip"], json!(["10.1.2.3", "2001:db8::1"]));
        assert_eq!(d["tags"][0], "attack.credential-access");
        let th = &d["threat"];
        assert_eq!(th["framework"], "MITRE ATT&CK");
        assert_eq!(th["tactic"]["id"], json!(["TA0006", "TA0009"]));
        assert_eq!(
            th["tactic"]["name"],
            json!(["Credential Access", "Collection"])
        );
        assert_eq!(th["technique"]["id"], json!(["T1552"]));
        assert_eq!(th["technique"]["name"], json!(["Unsecured Credentials"]));
        assert_eq!(th["technique"]["subtechnique"]["id"], json!(["T1552.007"]));
        assert_eq!(
            th["technique"]["subtechnique"]["reference"],
            json!(["https://attack.mitre.org/techniques/T1552/007/"])
        );
        assert_eq!(d["orchestrator"]["type"], "kubernetes");
        assert_eq!(d["observer"]["product"], "secretwatch");
        assert_eq!(d["observer"]["hostname"], "sw-1");
        let sw = &d["secretwatch"]["alert"];
        assert_eq!(sw["targets"][0], "prod/secrets/db");
        assert_eq!(sw["suppressed"]["count"], 12);
        assert_eq!(sw["break_glass"], false);
        assert!(d["message"]
            .as_str()
            .unwrap()
            .starts_with("Bulk secret reads | burst: read 20"));

        // No ATT&CK tags, no IPs, no dashboard: those fields are absent, never null.
        let mut bare = notification();
        bare.alert.tags = vec!["custom".into()];
        bare.alert.source_ips = vec!["unknown".into()];
        let d = alert_document(&bare, &Origin::new("h"));
        assert!(d.get("threat").is_none());
        assert!(d.get("source").is_none());
        assert!(d["event"].get("url").is_none());
        assert!(d["secretwatch"]["alert"].get("suppressed").is_none());
    }

    #[test]
    fn event_documents_field_by_field() {
        let d = event_document(&access(), &Origin::new("sw-1"));
        let e = &d["event"];
        assert_eq!(d["@timestamp"], "2026-11-02T09:00:00.500Z");
        assert_eq!(e["kind"], "event");
        assert_eq!(e["category"], json!(["api"]));
        assert_eq!(e["type"], json!(["access", "allowed"]));
        assert_eq!(e["action"], "get");
        assert_eq!(e["outcome"], "success");
        assert_eq!(e["id"], "audit-1");
        assert_eq!(e["original"], r#"{"kind":"Event","token":"[REDACTED]"}"#);
        assert_eq!(d["user"]["name"], "alice");
        assert_eq!(d["user"]["id"], "u-1");
        assert_eq!(
            d["user"]["group"]["name"],
            json!(["dev", "system:authenticated"])
        );
        assert_eq!(d["user"]["effective"]["name"], "admin");
        assert_eq!(d["related"]["user"], json!(["alice", "admin"]));
        assert_eq!(d["source"]["ip"], "10.1.2.3");
        assert_eq!(
            d["related"]["ip"],
            json!(["10.1.2.3"]),
            "non-IPs are left out"
        );
        assert_eq!(d["user_agent"]["original"], "kubectl/v1.31.0");
        assert_eq!(d["url"]["original"], "/api/v1/namespaces/prod/secrets/db");
        assert_eq!(d["http"]["response"]["status_code"], 200);
        assert_eq!(d["orchestrator"]["cluster"]["name"], "prod-cluster");
        assert_eq!(d["orchestrator"]["namespace"], "prod");
        assert_eq!(d["orchestrator"]["resource"]["type"], "secrets");
        assert_eq!(d["orchestrator"]["resource"]["name"], "db");
        assert_eq!(d["message"], "alice get prod/secrets/db (allowed)");
        assert_eq!(d["secretwatch"]["redactions"], json!(["token"]));
        assert_eq!(d["secretwatch"]["target"]["is_secret"], true);
        assert!(d.get("service").is_none());

        let d = event_document(&vault_access(), &Origin::new("sw-1"));
        assert_eq!(d["event"]["type"], json!(["access", "denied"]));
        assert_eq!(d["event"]["outcome"], "failure");
        assert_eq!(d["event"]["reason"], "permission denied");
        assert_eq!(d["service"]["type"], "vault");
        assert_eq!(d["service"]["name"], "vault-prod");
        assert_eq!(d["source"]["ip"], "2001:db8::7");
        assert_eq!(d["secretwatch"]["principal"]["vault"]["root"], true);
        assert!(d.get("orchestrator").is_none());
    }
}
