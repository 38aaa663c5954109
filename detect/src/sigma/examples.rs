//! The example events every rule carries (`examples.fire` / `examples.quiet`), and the runner
//! that checks them through the real parsers and the real engine.
//!
//! A case is one record or a list of records. A record is a raw Kubernetes audit event or Vault
//! audit entry, or a shorthand map expanded into one:
//!
//! ```yaml
//! examples:
//!   fire:
//!     - {user: system:serviceaccount:dev:ci, verb: list}            # Kubernetes, secrets, all namespaces
//!     - {user: mallory, verb: get, namespace: prod, name: "db-{i}", repeat: 30, every: 2}
//!     - {source: vault, display_name: root, policies: [root], operation: read, path: secret/data/prod/db}
//!   quiet:
//!     - {user: system:kube-controller-manager, verb: list}
//! ```
//!
//! Kubernetes shorthand keys: `user`, `groups`, `verb`, `resource` (default `secrets`), `namespace`,
//! `name`, `subresource`, `apiGroup`, `code` (default 200), `ip`, `ua`, `impersonate`, `uri`,
//! `level`, `requestObject`, `responseObject`. Vault: `display_name`, `policies`, `metadata`,
//! `operation`, `path`, `mount_type` (default kv), `error`, `ip`. Cloud records (CloudTrail,
//! Cloud Audit Logs, Azure) are written whole. Both: `time` (default
//! `2026-11-03T10:00:00Z`), `repeat` (copies, `{i}` in strings is the copy's number) and `every`
//! (seconds between copies, default 1).

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

/// Cases that must raise the rule's alert, and cases that must not.
#[derive(Debug, Clone, Default)]
pub struct Examples {
    pub fire: Vec<Vec<Value>>,
    pub quiet: Vec<Vec<Value>>,
}

pub fn parse_examples(v: &Value) -> Result<Examples, String> {
    let mut ex = Examples::default();
    for (key, dst) in [("fire", &mut ex.fire), ("quiet", &mut ex.quiet)] {
        let Some(cases) = v.get(key) else { continue };
        let cases = cases
            .as_array()
            .ok_or_else(|| format!("`{key}` must be a list of cases"))?;
        for (i, case) in cases.iter().enumerate() {
            let records: Vec<&Value> = match case {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            let mut expanded = vec![];
            for r in records {
                expand(r, &mut expanded).map_err(|e| format!("{key}[{i}]: {e}"))?;
            }
            dst.push(expanded);
        }
    }
    Ok(ex)
}

fn is_raw(r: &Map<String, Value>) -> bool {
    r.contains_key("auditID")
        || r.contains_key("items")
        || (r.contains_key("type") && r.contains_key("request"))
        // Cloud records are written out whole: CloudTrail, Cloud Audit Logs, Azure.
        || r.contains_key("eventSource")
        || r.contains_key("protoPayload")
        || (r.contains_key("category") && r.contains_key("operationName"))
}

const DEFAULT_TIME: &str = "2026-11-03T10:00:00Z";

fn text(r: &Map<String, Value>, k: &str) -> Option<String> {
    r.get(k).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// Expand one record (raw or shorthand, with `repeat`) into raw records.
fn expand(r: &Value, out: &mut Vec<Value>) -> Result<(), String> {
    let map = r.as_object().ok_or("a record must be a map")?;
    if is_raw(map) {
        out.push(r.clone());
        return Ok(());
    }
    let repeat = map
        .get("repeat")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 10_000);
    let every = map.get("every").and_then(Value::as_i64).unwrap_or(1);
    let t0: DateTime<Utc> = text(map, "time")
        .as_deref()
        .unwrap_or(DEFAULT_TIME)
        .parse()
        .map_err(|e| format!("time: {e}"))?;
    for i in 0..repeat {
        let sub = |s: String| s.replace("{i}", &i.to_string());
        let time = (t0 + Duration::seconds(every * i as i64))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let id = format!("ex-{}-{}", out.len(), i);
        let rec = match text(map, "source").as_deref() {
            Some("vault") => vault(map, &sub, &time, &id)?,
            None | Some("kubernetes" | "k8s") => kubernetes(map, &sub, &time, &id)?,
            Some(other) => return Err(format!("unknown source {other:?}")),
        };
        out.push(rec);
    }
    Ok(())
}

fn kubernetes(
    m: &Map<String, Value>,
    sub: &dyn Fn(String) -> String,
    time: &str,
    id: &str,
) -> Result<Value, String> {
    let user = sub(text(m, "user").ok_or("`user` is required")?);
    let verb = text(m, "verb").unwrap_or_else(|| "get".into());
    let resource = text(m, "resource").unwrap_or_else(|| "secrets".into());
    let namespace = text(m, "namespace").map(sub);
    let name = text(m, "name").map(sub);
    let code = m.get("code").and_then(Value::as_u64).unwrap_or(200);
    let mut object_ref = json!({"resource": resource, "apiVersion": "v1"});
    if let Some(ns) = &namespace {
        object_ref["namespace"] = json!(ns);
    }
    if let Some(n) = &name {
        object_ref["name"] = json!(n);
    }
    for k in ["subresource", "apiGroup"] {
        if let Some(v) = text(m, k) {
            object_ref[k] = json!(v);
        }
    }
    let uri = text(m, "uri").map(sub).unwrap_or_else(|| {
        let mut u = String::from("/api/v1");
        if let Some(ns) = &namespace {
            u.push_str(&format!("/namespaces/{ns}"));
        }
        u.push('/');
        u.push_str(&resource);
        if let Some(n) = &name {
            u.push('/');
            u.push_str(n);
        }
        u
    });
    let groups = m
        .get("groups")
        .cloned()
        .unwrap_or_else(|| json!(["system:authenticated"]));
    let mut ev = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1",
        "level": text(m, "level").unwrap_or_else(|| "Metadata".into()),
        "auditID": id, "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
        "user": {"username": user, "groups": groups},
        "sourceIPs": [text(m, "ip").unwrap_or_else(|| "10.42.0.10".into())],
        "userAgent": text(m, "ua").unwrap_or_else(|| "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46".into()),
        "objectRef": object_ref,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": time, "stageTimestamp": time,
        "annotations": {"authorization.k8s.io/decision": if code == 401 || code == 403 { "forbid" } else { "allow" }},
    });
    if let Some(imp) = text(m, "impersonate") {
        ev["impersonatedUser"] = json!({"username": imp, "groups": ["system:authenticated"]});
    }
    for k in ["requestObject", "responseObject"] {
        if let Some(v) = m.get(k) {
            ev[k] = v.clone();
        }
    }
    Ok(ev)
}

fn vault(
    m: &Map<String, Value>,
    sub: &dyn Fn(String) -> String,
    time: &str,
    id: &str,
) -> Result<Value, String> {
    let display = text(m, "display_name").ok_or("`display_name` is required for Vault records")?;
    let path = sub(text(m, "path").ok_or("`path` is required for Vault records")?);
    let mount_type = text(m, "mount_type").unwrap_or_else(|| {
        if path.starts_with("sys/") {
            "system".into()
        } else if path.starts_with("auth/") {
            "token".into()
        } else {
            "kv".into()
        }
    });
    let policies = m
        .get("policies")
        .cloned()
        .unwrap_or_else(|| json!(["default"]));
    let mut e = json!({
        "time": time, "type": "response",
        "auth": {"client_token": "hmac-sha256:00", "accessor": "hmac-sha256:01", "display_name": display,
                 "policies": policies, "token_policies": policies,
                 "metadata": m.get("metadata").cloned().unwrap_or_else(|| json!({})), "token_type": "service"},
        "request": {"id": id, "operation": text(m, "operation").unwrap_or_else(|| "read".into()),
                    "mount_type": mount_type, "path": path, "namespace": {"id": "root"},
                    "remote_address": text(m, "ip").unwrap_or_else(|| "10.42.0.10".into())},
        "response": {"mount_type": mount_type},
    });
    if let Some(err) = text(m, "error") {
        e["error"] = json!(err);
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_expands_with_repeat_and_time() {
        let v: Value = json!({"fire": [{"user": "u", "verb": "get", "namespace": "prod", "name": "s-{i}", "repeat": 3, "every": 10}],
                              "quiet": [[{"source": "vault", "display_name": "root", "path": "sys/audit/file", "operation": "delete"}]]});
        let ex = parse_examples(&v).unwrap();
        assert_eq!(ex.fire.len(), 1);
        let case = &ex.fire[0];
        assert_eq!(case.len(), 3);
        assert_eq!(case[2]["objectRef"]["name"], "s-2");
        assert_eq!(case[2]["stageTimestamp"], "2026-11-03T10:00:20.000000Z");
        assert_eq!(case[0]["requestURI"], "/api/v1/namespaces/prod/secrets/s-0");
        assert_eq!(ex.quiet[0][0]["request"]["mount_type"], "system");
        assert!(parse_examples(&json!({"fire": [{"verb": "get"}]}))
            .unwrap_err()
            .contains("user"));
    }
}
