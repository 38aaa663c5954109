//! GKE audit entries: Cloud Audit Logs `LogEntry`s with `protoPayload.serviceName` `k8s.io`,
//! mapped onto the Kubernetes event fields: `methodName` `io.k8s.core.v1.secrets.get` is verb
//! `get`; `resourceName` `core/v1/namespaces/NS/secrets/NAME` is the object; the principal is
//! `authenticationInfo.principalEmail`; `operation.id` is the audit id; the authorization
//! decision is in the entry's labels. GKE logs no groups and no request URI (for non-resource
//! requests such as `readyz` the URI is `/` + `resourceName`). `raw` is the redacted entry.

use std::borrow::Cow;

use serde_json::Value;

use crate::cloud::common::{cow, derived_id, ip_only};
use crate::cloud::gcp::{outcome_of, RawEntry};
use crate::error::ParseError;
use crate::event::{
    AccessEvent, Action, Outcome, Principal, PrincipalKind, Redactions, SourceSystem, StrList,
    Target,
};
use crate::k8s::classify_username;
use crate::options::ParseOptions;
use crate::parser::join;
use crate::redact::{bound_raw, redact_k8s_body};

/// The object of a `resourceName`.
#[derive(Debug, Default, PartialEq)]
pub struct ObjectRef<'a> {
    pub group: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub name: Option<&'a str>,
    pub subresource: Option<&'a str>,
}

/// `GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]`; `None` for non-resource
/// paths (`readyz`, `apis`).
pub fn object_ref(resource_name: &str) -> Option<ObjectRef<'_>> {
    let segs: Vec<&str> = resource_name.trim_matches('/').split('/').collect();
    let is_version =
        |v: &str| v.len() > 1 && v.starts_with('v') && v.as_bytes()[1].is_ascii_digit();
    if segs.len() < 3 || !is_version(segs[1]) {
        return None;
    }
    let group = Some(segs[0]).filter(|g| *g != "core" && !g.is_empty());
    let rest = &segs[2..];
    let mut o = ObjectRef {
        group,
        ..ObjectRef::default()
    };
    match rest {
        ["namespaces", ns, resource, tail @ ..] => {
            o.namespace = Some(ns);
            o.resource = Some(resource);
            o.name = tail.first().copied();
            o.subresource = tail.get(1).copied();
        }
        // Health and discovery endpoints are paths, not API resources (GKE writes
        // `core/v1/healthz` for `/healthz`).
        ["healthz" | "livez" | "readyz" | "version" | "metrics" | "openapi", ..] => return None,
        [resource, tail @ ..] => {
            o.resource = Some(resource);
            o.name = tail.first().copied();
            o.subresource = tail.get(1).copied();
        }
        [] => return None,
    }
    Some(o)
}

fn action_of(verb: &str) -> Action {
    match verb {
        "get" => Action::Read,
        "list" | "watch" => Action::List,
        "create" => Action::Create,
        "update" | "patch" => Action::Write,
        "delete" | "deletecollection" => Action::Delete,
        "impersonate" | "escalate" | "bind" | "approve" | "sign" => Action::Admin,
        _ => Action::Other,
    }
}

/// Redact the entry: Kubernetes bodies in `protoPayload.request`/`response` as the Kubernetes
/// parser would (Secrets by allowlist), then the cloud rules.
fn redact_gke(v: &mut Value) -> Redactions {
    let mut flags = Redactions::default();
    let resource = v
        .pointer("/protoPayload/resourceName")
        .and_then(Value::as_str)
        .and_then(object_ref)
        .and_then(|o| o.resource.map(str::to_string));
    for key in ["request", "response"] {
        if let Some(body) = v.pointer_mut(&format!("/protoPayload/{key}")) {
            redact_k8s_body(body, resource.as_deref(), &mut flags);
        }
    }
    flags.insert(crate::cloud::redact::redact_gcp(v));
    flags
}

/// One GKE entry as a Kubernetes event.
pub(crate) fn event<'a>(
    text: &'a str,
    entry: RawEntry<'a>,
    opts: &'a ParseOptions,
    prefix: &str,
) -> Result<AccessEvent<'a>, ParseError> {
    let time = entry.time(prefix)?;
    let Some(proto) = entry.proto_payload else {
        unreachable!("checked by the caller")
    };
    let (mut outcome, mut status_code) = outcome_of(&proto);
    let method = cow(proto.method_name).ok_or_else(|| {
        ParseError::field(join(prefix, "protoPayload.methodName"), "missing or empty")
    })?;
    let verb: Cow<'a, str> = match method {
        Cow::Borrowed(b) => Cow::Borrowed(b.rsplit('.').next().unwrap_or(b)),
        Cow::Owned(o) => Cow::Owned(o.rsplit('.').next().unwrap_or(&o).to_string()),
    };
    let (decision, authz_reason) = match entry.labels {
        Some(l) => (cow(l.decision), cow(l.reason)),
        None => (None, None),
    };
    if decision.as_deref() == Some("forbid") {
        outcome = Outcome::Denied;
        status_code = status_code.filter(|c| *c >= 400).or(Some(403));
    }
    let resource_name = cow(proto.resource_name);
    let object = resource_name.as_deref().and_then(object_ref);
    let owned = |s: Option<&str>| s.map(|x| Cow::<'a, str>::Owned(x.to_string()));
    let cluster = entry
        .resource
        .and_then(|r| r.labels)
        .and_then(|l| cow(l.cluster_name))
        .unwrap_or(Cow::Borrowed(opts.cluster.as_str()));
    let target = match &object {
        Some(o) => {
            let is_secret = o.group.is_none()
                && matches!(
                    (o.resource, o.subresource),
                    (Some("secrets"), _) | (Some("serviceaccounts"), Some("token"))
                );
            Target {
                store: cluster,
                namespace: owned(o.namespace),
                name: owned(o.name),
                resource: owned(o.resource),
                subresource: owned(o.subresource),
                group: owned(o.group),
                is_secret,
            }
        }
        None => Target {
            store: cluster,
            ..Target::default()
        },
    };
    let request_uri = match (&object, &resource_name) {
        (None, Some(r)) => Some(Cow::Owned(format!("/{}", r.trim_start_matches('/')))),
        _ => None,
    };
    let email = proto
        .authentication_info
        .and_then(|a| cow(a.principal_email));
    let (name, kind, namespace) = match email {
        Some(e) => {
            let (kind, ns) = classify_username(&e);
            let kind = if e.ends_with(".gserviceaccount.com") {
                PrincipalKind::ServiceAccount
            } else {
                kind
            };
            let ns = ns.map(|n| Cow::Owned(n.to_string()));
            (e, kind, ns)
        }
        None => (Cow::Borrowed("(unknown)"), PrincipalKind::Unknown, None),
    };
    let (ip, ua) = match proto.request_metadata {
        Some(m) => (cow(m.caller_ip), cow(m.caller_supplied_user_agent)),
        None => (None, None),
    };
    let reason = authz_reason.or_else(|| proto.status.and_then(|s| cow(s.message)));
    let id = entry
        .operation
        .and_then(|o| cow(o.id))
        .or_else(|| cow(entry.insert_id))
        .unwrap_or_else(|| derived_id("gcp", text));
    let mut v: Value = serde_json::from_str(text).map_err(|e| ParseError::json(&e))?;
    let mut redactions = redact_gke(&mut v);
    let raw = bound_raw(v, opts.raw_max_bytes, &mut redactions);
    Ok(AccessEvent {
        source: SourceSystem::Kubernetes,
        id,
        time,
        principal: Principal {
            name,
            kind,
            uid: None,
            groups: StrList::new(),
            namespace,
            vault: None,
            acting_as: None,
            node: None,
        },
        source_ips: ip_only(ip).into_iter().collect(),
        user_agent: ua,
        action: action_of(&verb),
        scope: crate::k8s::request::scope_of(
            &verb,
            target.namespace.as_deref(),
            target.name.as_deref(),
            &Default::default(),
        )
        .0,
        raw_action: verb,
        target,
        outcome,
        status_code,
        reason,
        request_uri,
        redactions,
        raw: Cow::Owned(raw),
        repeat: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names() {
        let o = object_ref("core/v1/namespaces/prod/secrets/db").unwrap();
        assert_eq!(
            o,
            ObjectRef {
                group: None,
                namespace: Some("prod"),
                resource: Some("secrets"),
                name: Some("db"),
                subresource: None
            }
        );
        let o = object_ref("core/v1/secrets").unwrap();
        assert_eq!(
            (o.resource, o.namespace, o.name),
            (Some("secrets"), None, None)
        );
        let o = object_ref("rbac.authorization.k8s.io/v1/clusterroles/admin").unwrap();
        assert_eq!(
            (o.group, o.resource, o.name),
            (
                Some("rbac.authorization.k8s.io"),
                Some("clusterroles"),
                Some("admin")
            )
        );
        let o = object_ref("core/v1/namespaces/prod/pods/web-1/exec").unwrap();
        assert_eq!((o.name, o.subresource), (Some("web-1"), Some("exec")));
        assert_eq!(object_ref("readyz"), None);
        assert_eq!(object_ref("core/v1/healthz"), None);
        assert_eq!(object_ref("HNAP1"), None);
    }
}
