//! The normalized event as JSON (exactly what [`AccessEvent`] serializes to), read back: the
//! records of the service's own repartition topic, which carries events already parsed and
//! redacted by another instance, keyed by principal.
//!
//! A record from anywhere else is not trusted to be redacted: its `raw` copy goes through the
//! generic redaction again, and text that is not a JSON object is dropped from it.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::error::ParseError;
use crate::event::{
    AccessEvent, Action, Impersonation, Outcome, Principal, PrincipalKind, Redactions, Repeat,
    Scope, SourceSystem, StrList, Target, VaultIdentity,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    source: SourceSystem,
    id: String,
    time: DateTime<Utc>,
    principal: PrincipalJson,
    #[serde(default)]
    source_ips: Vec<String>,
    user_agent: Option<String>,
    action: Action,
    /// Absent in records of versions before the scope existed.
    #[serde(default)]
    scope: Option<Scope>,
    raw_action: String,
    target: TargetJson,
    outcome: Outcome,
    status_code: Option<u16>,
    reason: Option<String>,
    request_uri: Option<String>,
    #[serde(default)]
    redactions: Vec<String>,
    #[serde(default)]
    raw: String,
    #[serde(default)]
    repeat: Option<Repeat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalJson {
    name: String,
    kind: PrincipalKind,
    uid: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    namespace: Option<String>,
    vault: Option<VaultJson>,
    acting_as: Option<ImpersonationJson>,
    node: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultJson {
    display_name: Option<String>,
    entity_id: Option<String>,
    accessor: Option<String>,
    #[serde(default)]
    policies: Vec<String>,
    token_type: Option<String>,
    role: Option<String>,
    #[serde(default)]
    root: bool,
    #[serde(default)]
    service_account: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImpersonationJson {
    name: String,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetJson {
    store: String,
    namespace: Option<String>,
    name: Option<String>,
    resource: Option<String>,
    subresource: Option<String>,
    group: Option<String>,
    #[serde(default)]
    is_secret: bool,
}

fn list(v: Vec<String>) -> StrList<'static> {
    v.into_iter().map(Cow::Owned).collect()
}

fn cow(v: Option<String>) -> Option<Cow<'static, str>> {
    v.map(Cow::Owned)
}

/// One normalized event.
pub fn parse_event(text: &str, raw_max_bytes: usize) -> Result<AccessEvent<'static>, ParseError> {
    let e: Event = serde_json::from_str(text)
        .map_err(|e| crate::json::describe_error::<Event>(text, e, ""))?;
    let mut redactions = Redactions::default();
    for n in &e.redactions {
        if let Some(f) = Redactions::from_name(n) {
            redactions.insert(f);
        }
    }
    // Redacted again: whoever wrote this record, no value gets through.
    let raw = match serde_json::from_str::<serde_json::Value>(&e.raw) {
        Ok(mut v) if v.is_object() => {
            redactions.insert(crate::redact::redact_unknown(&mut v));
            crate::redact::bound_raw(v, raw_max_bytes, &mut redactions)
        }
        _ => String::new(),
    };
    let p = e.principal;
    Ok(AccessEvent {
        source: e.source,
        id: Cow::Owned(e.id),
        time: e.time,
        principal: Principal {
            name: Cow::Owned(p.name),
            kind: p.kind,
            uid: cow(p.uid),
            groups: list(p.groups),
            namespace: cow(p.namespace),
            vault: p.vault.map(|v| {
                Box::new(VaultIdentity {
                    display_name: cow(v.display_name),
                    entity_id: cow(v.entity_id),
                    accessor: cow(v.accessor),
                    policies: list(v.policies),
                    token_type: cow(v.token_type),
                    role: cow(v.role),
                    root: v.root,
                    service_account: cow(v.service_account),
                })
            }),
            acting_as: p.acting_as.map(|a| {
                Box::new(Impersonation {
                    name: Cow::Owned(a.name),
                    groups: list(a.groups),
                })
            }),
            node: cow(p.node),
        },
        source_ips: list(e.source_ips),
        user_agent: cow(e.user_agent),
        action: e.action,
        scope: e.scope.unwrap_or_else(|| Scope::of_action(e.action)),
        raw_action: Cow::Owned(e.raw_action),
        target: Target {
            store: Cow::Owned(e.target.store),
            namespace: cow(e.target.namespace),
            name: cow(e.target.name),
            resource: cow(e.target.resource),
            subresource: cow(e.target.subresource),
            group: cow(e.target.group),
            is_secret: e.target.is_secret,
        },
        outcome: e.outcome,
        status_code: e.status_code,
        reason: cow(e.reason),
        request_uri: cow(e
            .request_uri
            .map(|u| crate::redact::redact_uri(&u).unwrap_or(u))),
        redactions,
        raw: Cow::Owned(raw),
        repeat: e.repeat,
    })
}

#[cfg(test)]
mod tests {
    use crate::{Format, ParseOptions, Parsed, RecordParser};

    fn events(text: &str, format: Format) -> Vec<crate::AccessEvent<'static>> {
        let opts = ParseOptions::default();
        let mut p = RecordParser::new(&opts, format);
        let mut out = Vec::new();
        for line in text.lines() {
            p.parse(line, &mut |r| match r {
                Parsed::Event(ev) => out.push(ev.into_owned()),
                Parsed::Error(e) => panic!("{e}"),
                Parsed::Skipped => {}
            });
        }
        p.finish(&mut |r| {
            if let Parsed::Event(ev) = r {
                out.push(ev.into_owned())
            }
        });
        out
    }

    /// Every kind of event (Kubernetes with impersonation and a redacted body, a Vault pair,
    /// a cloud record) survives serialization and the `event` format unchanged.
    #[test]
    fn normalized_events_round_trip() {
        let k8s = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/secrets/db?token=abc","verb":"get","user":{"username":"alice","uid":"u1","groups":["dev","ops","sre","x"]},"impersonatedUser":{"username":"system:admin","groups":["system:masters"]},"sourceIPs":["10.0.0.1","10.0.0.2"],"userAgent":"kubectl","objectRef":{"resource":"secrets","namespace":"prod","name":"db","apiVersion":"v1"},"responseStatus":{"code":200},"responseObject":{"kind":"Secret","data":{"password":"c2VjcmV0"}},"stageTimestamp":"2026-11-03T10:00:00Z"}"#;
        let vault_req = r#"{"time":"2026-11-03T10:00:01Z","type":"request","auth":{"client_token":"hmac-sha256:aa","accessor":"hmac-sha256:bb","display_name":"approle-ci","policies":["default","ci"],"token_type":"service","metadata":{"role":"ci"}},"request":{"id":"v-1","operation":"read","mount_type":"kv","path":"secret/data/prod/db","remote_address":"10.0.0.5"}}"#;
        let vault_resp = vault_req.replace("\"request\",\"auth\"", "\"response\",\"auth\"");
        let mut all = events(k8s, Format::K8sAudit);
        all.extend(events(&format!("{vault_req}\n{vault_resp}"), Format::Vault));
        assert_eq!(all.len(), 2);
        assert!(all[0].principal.acting_as.is_some() && all[0].redactions.removed_secret());
        for ev in all {
            let json = serde_json::to_string(&ev).unwrap();
            let mut back = events(&json, Format::Event);
            assert_eq!(back.len(), 1);
            // The raw copy is the same JSON (its keys now sorted by the second redaction).
            let raw = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
            assert_eq!(raw(&back[0].raw), raw(&ev.raw));
            back[0].raw = ev.raw.clone();
            assert_eq!(back[0], ev, "{json}");
        }
    }

    #[test]
    fn a_foreign_record_is_redacted_again_and_bad_ones_name_the_field() {
        let rec = r#"{"source":"kubernetes","id":"x","time":"2026-11-03T10:00:00Z","principal":{"name":"p","kind":"human","uid":null,"groups":[],"namespace":null},"source_ips":[],"user_agent":null,"action":"read","raw_action":"get","target":{"store":"c","namespace":"prod","name":"db","resource":"secrets","subresource":null,"group":"","is_secret":true},"outcome":"allowed","status_code":200,"reason":null,"request_uri":"/api?access_token=leak-me-1","redactions":[],"raw":"{\"headers\":{\"Authorization\":\"Bearer leak-me-2\"}}"}"#;
        let ev = &events(rec, Format::Event)[0];
        let text = serde_json::to_string(ev).unwrap();
        assert!(!text.contains("leak-me"), "{text}");
        let opts = ParseOptions::default();
        let mut p = RecordParser::new(&opts, Format::Event);
        let mut err = None;
        p.parse(&rec.replace("\"human\"", "\"alien\""), &mut |r| {
            if let Parsed::Error(e) = r {
                err = Some(e.to_string())
            }
        });
        let err = err.expect("an unknown principal kind is an error");
        assert!(!err.contains("alien"), "{err}");
    }
}
