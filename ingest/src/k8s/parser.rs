//! Borrowing parser of Kubernetes audit events into [`AccessEvent`].

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use memchr::memmem;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use smallvec::SmallVec;

use crate::event::{
    AccessEvent, Action, Impersonation, Outcome, Principal, Redactions, Scope, SourceSystem,
    StrList, Target,
};
use crate::json::{describe_error, Code, Str};
use crate::k8s::principal::classify_username;
use crate::k8s::{events, request};
use crate::options::{ParseOptions, Stage};
use crate::redact;
use crate::time::{parse_rfc3339, NOT_RFC3339};
use crate::ParseError;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawUser<'a> {
    #[serde(borrow, default)]
    username: Str<'a>,
    #[serde(borrow)]
    uid: Option<Str<'a>>,
    #[serde(borrow, default)]
    groups: SmallVec<[Str<'a>; 4]>,
    #[serde(borrow)]
    extra: Option<RawExtra<'a>>,
}

/// The claims of a pod-bound token the API server puts in `user.extra`.
#[derive(Deserialize)]
struct RawExtra<'a> {
    #[serde(borrow, rename = "authentication.kubernetes.io/node-name", default)]
    node_name: SmallVec<[Str<'a>; 1]>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawObjectRef<'a> {
    #[serde(borrow)]
    resource: Option<Str<'a>>,
    #[serde(borrow)]
    namespace: Option<Str<'a>>,
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    api_group: Option<Str<'a>>,
    #[serde(borrow)]
    subresource: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct RawStatus<'a> {
    code: Option<Code>,
    #[serde(borrow)]
    reason: Option<Str<'a>>,
    #[serde(borrow)]
    message: Option<Str<'a>>,
}

/// Only the authorization annotations; the rest is skipped without allocating.
#[derive(Default)]
struct AuthzAnnotations<'a> {
    decision: Option<Str<'a>>,
    reason: Option<Str<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for AuthzAnnotations<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = AuthzAnnotations<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of annotations")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut out = AuthzAnnotations::default();
                while let Some(k) = m.next_key::<Str<'de>>()? {
                    match k.as_str() {
                        "authorization.k8s.io/decision" => {
                            out.decision = m.next_value::<Option<Str<'de>>>()?
                        }
                        "authorization.k8s.io/reason" => {
                            out.reason = m.next_value::<Option<Str<'de>>>()?
                        }
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent<'a> {
    #[serde(borrow, rename = "auditID")]
    audit_id: Str<'a>,
    #[serde(borrow)]
    stage: Option<Str<'a>>,
    #[serde(borrow, rename = "requestURI")]
    request_uri: Option<Str<'a>>,
    #[serde(borrow)]
    verb: Str<'a>,
    /// Required by the API, absent in some shipper fixtures: kept as an unknown principal.
    #[serde(borrow)]
    user: Option<RawUser<'a>>,
    #[serde(borrow)]
    impersonated_user: Option<RawUser<'a>>,
    #[serde(borrow, rename = "sourceIPs", default)]
    source_ips: SmallVec<[Str<'a>; 2]>,
    #[serde(borrow)]
    user_agent: Option<Str<'a>>,
    #[serde(borrow)]
    object_ref: Option<RawObjectRef<'a>>,
    #[serde(borrow)]
    response_status: Option<RawStatus<'a>>,
    #[serde(borrow)]
    request_object: Option<&'a RawValue>,
    #[serde(borrow)]
    response_object: Option<&'a RawValue>,
    #[serde(borrow)]
    request_received_timestamp: Option<Str<'a>>,
    #[serde(borrow)]
    stage_timestamp: Option<Str<'a>>,
    /// Pre-`v1` (`v1alpha1`/`v1beta1`) events carry one `timestamp`.
    #[serde(borrow)]
    timestamp: Option<Str<'a>>,
    #[serde(borrow, default)]
    annotations: Option<AuthzAnnotations<'a>>,
}

#[derive(Deserialize)]
struct RawEventList<'a> {
    #[serde(borrow, default)]
    items: Vec<&'a RawValue>,
}

/// What one Kubernetes audit record became.
#[derive(Debug)]
pub enum K8sRecord<'a> {
    Event(Box<AccessEvent<'a>>),
    /// An Event the kubelet wrote (logged at `Request` level) that reports missing Secrets:
    /// one failed read per Secret named (see [`crate::k8s::events`]).
    Reported(Vec<AccessEvent<'static>>),
    /// A stage that does not count as an access (e.g. `RequestReceived`).
    SkippedStage,
}

fn cow(s: Option<Str<'_>>) -> Option<Cow<'_, str>> {
    s.map(Str::into_cow).filter(|c| !c.is_empty())
}

fn list<'a>(v: impl IntoIterator<Item = Str<'a>>) -> StrList<'a> {
    v.into_iter().map(Str::into_cow).collect()
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

/// The subresources that open a session into a pod or node (`rest.Connecter` in the apiserver):
/// exec, attach, port-forward and the proxies.
fn is_connect(resource: Option<&str>, subresource: Option<&str>) -> bool {
    matches!(
        (resource, subresource),
        (
            Some("pods"),
            Some("exec" | "attach" | "portforward" | "proxy")
        ) | (Some("nodes" | "services"), Some("proxy"))
    )
}

/// Cheap check for token shapes anywhere in the record: those records take the full redaction path.
fn has_token_shape(line: &str) -> bool {
    static JWT: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"eyJ"));
    static VAULT: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"hvs."));
    static BEARER: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"Bearer "));
    let b = line.as_bytes();
    JWT.find(b).is_some() || VAULT.find(b).is_some() || BEARER.find(b).is_some()
}

/// Parse one `audit.k8s.io` `Event` from `text` (one JSON object).
pub fn parse_event<'a>(text: &'a str, opts: &'a ParseOptions) -> Result<K8sRecord<'a>, ParseError> {
    parse_event_at(text, opts, "")
}

fn parse_event_at<'a>(
    text: &'a str,
    opts: &'a ParseOptions,
    prefix: &str,
) -> Result<K8sRecord<'a>, ParseError> {
    let raw: RawEvent<'a> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return Err(describe_error::<RawEvent>(text, e, prefix)),
    };
    let field = |f: &str| {
        if prefix.is_empty() {
            f.to_string()
        } else {
            format!("{prefix}.{f}")
        }
    };
    // An exec, attach, port-forward or proxy session is logged at ResponseStarted when it opens
    // and at ResponseComplete only when it ends (hours later, or never for a killed
    // apiserver): the start is the access.
    let connect = raw.object_ref.as_ref().is_some_and(|o| {
        is_connect(
            o.resource.as_ref().map(Str::as_str),
            o.subresource.as_ref().map(Str::as_str),
        )
    });
    if let Some(stage) = &raw.stage {
        match Stage::parse(stage.as_str()) {
            Some(Stage::ResponseStarted) if connect => {}
            Some(s) if !opts.final_stages.contains(s) => return Ok(K8sRecord::SkippedStage),
            Some(_) => {}
            None => {
                return Err(ParseError::field(
                    field("stage"),
                    "unknown stage (expected RequestReceived, ResponseStarted, ResponseComplete or Panic)",
                ))
            }
        }
    }
    if raw.audit_id.as_str().is_empty() {
        return Err(ParseError::field(field("auditID"), "empty"));
    }
    if raw.verb.as_str().is_empty() {
        return Err(ParseError::field(field("verb"), "empty"));
    }
    // The time of the final stage: audit logs are written in this order, so windows and
    // replays stay deterministic even for long watches.
    let (ts_field, ts) = match (
        &raw.stage_timestamp,
        &raw.request_received_timestamp,
        &raw.timestamp,
    ) {
        (Some(t), _, _) => ("stageTimestamp", t),
        (None, Some(t), _) => ("requestReceivedTimestamp", t),
        (None, None, Some(t)) => ("timestamp", t),
        (None, None, None) => {
            return Err(ParseError::field(
                field("stageTimestamp"),
                "missing (and no requestReceivedTimestamp or timestamp)",
            ))
        }
    };
    let time = parse_rfc3339(ts.as_str())
        .ok_or_else(|| ParseError::field(field(ts_field), NOT_RFC3339))?;

    let annotations = raw.annotations.unwrap_or_default();
    let (code, status_reason, status_message) = match raw.response_status {
        Some(s) => (s.code.map(|c| c.0), s.reason, s.message),
        None => (None, None, None),
    };
    let decision = annotations.decision.as_ref().map(Str::as_str);
    let outcome = match (decision, code) {
        (Some("forbid"), _) | (_, Some(401 | 403)) => Outcome::Denied,
        (_, Some(c)) if c >= 400 => Outcome::Error,
        (_, Some(_)) => Outcome::Allowed,
        (Some("allow"), None) => Outcome::Allowed,
        _ => Outcome::Unknown,
    };
    let reason = cow(annotations.reason)
        .or_else(|| cow(status_message))
        .or_else(|| cow(status_reason));

    let (username, uid, groups, node) = match raw.user {
        Some(u) => {
            let node = u
                .extra
                .and_then(|e| e.node_name.into_iter().next())
                .map(Str::into_cow)
                .filter(|n| !n.is_empty());
            let name = if u.username.as_str().is_empty() {
                Cow::Borrowed("(unknown)")
            } else {
                u.username.into_cow()
            };
            (name, cow(u.uid), list(u.groups), node)
        }
        None => (Cow::Borrowed("(unknown)"), None, StrList::new(), None),
    };
    let (kind, sa_ns) = classify_username(&username);
    let namespace = sa_ns.map(|ns| match &username {
        Cow::Borrowed(b) => {
            // Re-slice the borrowed name so the namespace borrows from the input too.
            let start = "system:serviceaccount:".len();
            Cow::Borrowed(&b[start..start + ns.len()])
        }
        Cow::Owned(_) => Cow::Owned(ns.to_string()),
    });
    let acting_as = raw.impersonated_user.map(|u| {
        Box::new(Impersonation {
            name: u.username.into_cow(),
            groups: list(u.groups),
        })
    });
    let principal = Principal {
        name: username,
        kind,
        uid,
        groups,
        namespace,
        vault: None,
        acting_as,
        node,
    };

    let target = match raw.object_ref {
        Some(o) => {
            let resource = cow(o.resource);
            let subresource = cow(o.subresource);
            let group = cow(o.api_group);
            let core = group.is_none();
            let is_secret = match (resource.as_deref(), subresource.as_deref()) {
                (Some("secrets"), _) => core,
                (Some("serviceaccounts"), Some("token")) => core,
                _ => false,
            };
            Target {
                store: Cow::Borrowed(&opts.cluster),
                namespace: cow(o.namespace),
                name: cow(o.name),
                resource,
                subresource,
                group,
                is_secret,
            }
        }
        None => Target {
            store: Cow::Borrowed(&opts.cluster),
            ..Target::default()
        },
    };

    // How much the request reached (a list/watch selected by name is a read of that object).
    let mut target = target;
    let verb = raw.verb.as_str();
    let query = match &raw.request_uri {
        Some(u) if request::may_select(verb) => request::parse_query(u.as_str()),
        _ => request::RequestQuery::default(),
    };
    let (scope, selected) = request::scope_of(
        verb,
        target.namespace.as_deref(),
        target.name.as_deref(),
        &query,
    );
    if let Some(name) = selected {
        target.name = Some(Cow::Owned(name.to_string()));
    }
    let action = match action_of(verb) {
        // A session into a pod or node, whatever the verb (WebSocket clients send `get`).
        _ if connect => Action::Create,
        Action::List if scope == Scope::Object => Action::Read,
        a => a,
    };

    // A write of an Event whose body reports missing Secrets (the kubelet's own report).
    if let (Some("events"), Some(body), "create" | "patch" | "update", None | Some(200..=299)) =
        (target.resource.as_deref(), raw.request_object, verb, code)
    {
        if matches!(target.group.as_deref(), None | Some("events.k8s.io")) {
            let ctx = events::AuditContext {
                id: raw.audit_id.as_str(),
                time,
                principal: &principal,
                source_ips: &list(
                    raw.source_ips
                        .iter()
                        .map(|s| Str(Cow::Borrowed(s.as_str()))),
                ),
                user_agent: raw.user_agent.as_ref().map(Str::as_str),
                namespace: target.namespace.as_deref(),
                name: target.name.as_deref(),
            };
            let reported = events::audit_reports(body.get(), opts, &ctx);
            if !reported.is_empty() {
                return Ok(K8sRecord::Reported(reported));
            }
        }
    }

    let mut redactions = Redactions::default();
    let mut request_uri = raw.request_uri.map(Str::into_cow);
    if let Some(uri) = &request_uri {
        if let Some(clean) = redact::redact_uri(uri) {
            request_uri = Some(Cow::Owned(clean));
            redactions.insert(Redactions::URI_CREDENTIAL);
        }
    }
    let needs_full = raw.request_object.is_some()
        || raw.response_object.is_some()
        || !redactions.is_empty()
        || has_token_shape(text);
    let raw_copy: Cow<'a, str> = if needs_full || text.len() > opts.raw_max_bytes {
        let mut v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ParseError::json(&e))?;
        redactions.insert(redact::redact_k8s_event(&mut v));
        Cow::Owned(redact::bound_raw(v, opts.raw_max_bytes, &mut redactions))
    } else {
        Cow::Borrowed(text.trim())
    };

    Ok(K8sRecord::Event(Box::new(AccessEvent {
        source: SourceSystem::Kubernetes,
        id: raw.audit_id.into_cow(),
        time,
        principal,
        source_ips: list(raw.source_ips),
        user_agent: cow(raw.user_agent),
        action,
        scope,
        raw_action: raw.verb.into_cow(),
        target,
        outcome,
        status_code: code,
        reason,
        request_uri,
        redactions,
        raw: raw_copy,
        repeat: None,
    })))
}

/// Parse an `EventList` (the webhook backend's body). Each item yields its own result; a bad
/// item names its index (`items[3].verb`).
pub fn parse_event_list<'a>(
    text: &'a str,
    opts: &'a ParseOptions,
    out: &mut dyn FnMut(Result<K8sRecord<'a>, ParseError>),
) -> Result<(), ParseError> {
    let list: RawEventList<'a> = match serde_json::from_str(text) {
        Ok(l) => l,
        Err(e) => return Err(describe_error::<RawEventList>(text, e, "")),
    };
    for (i, item) in list.items.into_iter().enumerate() {
        out(parse_event_at(item.get(), opts, &format!("items[{i}]")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static OPTS: LazyLock<ParseOptions> = LazyLock::new(ParseOptions::default);

    fn ev(text: &str) -> AccessEvent<'_> {
        match parse_event(text, &OPTS).unwrap() {
            K8sRecord::Event(e) => *e,
            K8sRecord::SkippedStage | K8sRecord::Reported(_) => panic!("not one event"),
        }
    }

    const GET_SECRET: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"5f0a","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/secrets/db","verb":"get","user":{"username":"system:serviceaccount:prod:payments","uid":"u1","groups":["system:serviceaccounts","system:serviceaccounts:prod","system:authenticated"]},"sourceIPs":["10.42.1.7"],"userAgent":"app/1.0","objectRef":{"resource":"secrets","namespace":"prod","name":"db","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-02T09:13:45.123456Z","stageTimestamp":"2026-11-02T09:13:45.130000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding"}}"#;

    #[test]
    fn normalizes_a_secret_get_without_copying() {
        let e = ev(GET_SECRET);
        assert_eq!(e.source, SourceSystem::Kubernetes);
        assert_eq!(e.id, "5f0a");
        assert_eq!(e.principal.name, "system:serviceaccount:prod:payments");
        assert_eq!(e.principal.kind, crate::PrincipalKind::ServiceAccount);
        assert_eq!(e.principal.namespace.as_deref(), Some("prod"));
        assert_eq!(e.principal.groups.len(), 3);
        assert_eq!(e.action, Action::Read);
        assert_eq!(e.raw_action, "get");
        assert!(e.target.is_secret);
        assert_eq!(e.target.name.as_deref(), Some("db"));
        assert_eq!(e.target.namespace.as_deref(), Some("prod"));
        assert_eq!(e.target.store, "kubernetes");
        assert_eq!(e.outcome, Outcome::Allowed);
        assert_eq!(e.status_code, Some(200));
        assert_eq!(e.reason.as_deref(), Some("RBAC: allowed by RoleBinding"));
        assert_eq!(e.time.to_rfc3339(), "2026-11-02T09:13:45.130+00:00");
        assert!(e.redactions.is_empty());
        // Borrowed: no copy of the line or of the names.
        assert!(matches!(e.raw, Cow::Borrowed(_)));
        assert!(matches!(e.principal.name, Cow::Borrowed(_)));
        assert!(matches!(e.principal.namespace, Some(Cow::Borrowed("prod"))));
    }

    #[test]
    fn non_final_stage_is_skipped() {
        let text = GET_SECRET.replace("ResponseComplete", "RequestReceived");
        assert!(matches!(
            parse_event(&text, &OPTS).unwrap(),
            K8sRecord::SkippedStage
        ));
    }

    #[test]
    fn denied_and_impersonated() {
        let text = GET_SECRET
            .replace(
                r#""code":200"#,
                r#""code":403,"status":"Failure","reason":"Forbidden""#,
            )
            .replace(r#""decision":"allow""#, r#""decision":"forbid""#)
            .replace(
                r#""userAgent""#,
                r#""impersonatedUser":{"username":"bob","groups":["devs"]},"userAgent""#,
            );
        let e = ev(&text);
        assert_eq!(e.outcome, Outcome::Denied);
        let imp = e.principal.acting_as.as_ref().unwrap();
        assert_eq!(imp.name, "bob");
        assert_eq!(e.effective_principal(), "bob");
    }

    #[test]
    fn the_node_a_pod_bound_token_was_issued_for() {
        // The claims kube-apiserver puts in user.extra for a pod-bound token.
        let text = GET_SECRET.replace(
            r#""groups":["#,
            r#""extra":{"authentication.kubernetes.io/credential-id":["JTI=7c0e"],"authentication.kubernetes.io/node-name":["node-3"],"authentication.kubernetes.io/node-uid":["u1"],"authentication.kubernetes.io/pod-name":["web-1"],"authentication.kubernetes.io/pod-uid":["u2"]},"groups":["#,
        );
        assert_ne!(text, GET_SECRET);
        assert_eq!(ev(&text).principal.node.as_deref(), Some("node-3"));
        // No claims (a legacy or a person's token), or an empty list: no node.
        assert_eq!(ev(GET_SECRET).principal.node, None);
        let empty = GET_SECRET.replace(
            r#""groups":["#,
            r#""extra":{"authentication.kubernetes.io/node-name":[]},"groups":["#,
        );
        assert_eq!(ev(&empty).principal.node, None);
    }

    #[test]
    fn errors_say_which_field() {
        let opts = &*OPTS;
        let no_verb = GET_SECRET.replace(r#""verb":"get","#, "");
        let e = parse_event(&no_verb, opts).unwrap_err();
        assert_eq!(e.field_name(), Some("verb"), "{e}");
        let bad_ref = GET_SECRET.replace(
            r#""objectRef":{"resource":"secrets","namespace":"prod","name":"db","apiVersion":"v1"}"#,
            r#""objectRef":"secrets""#,
        );
        let e = parse_event(&bad_ref, opts).unwrap_err();
        assert_eq!(e.field_name(), Some("objectRef"), "{e}");
        let bad_time = GET_SECRET.replace("2026-11-02T09:13:45.130000Z", "yesterday");
        let e = parse_event(&bad_time, opts).unwrap_err();
        assert_eq!(e.field_name(), Some("stageTimestamp"), "{e}");
        let e = parse_event(r#"{"kind": 0}"#, opts).unwrap_err();
        assert!(matches!(e, ParseError::Field { .. }), "{e}");
    }

    #[test]
    fn event_list_items_are_parsed_and_errors_indexed() {
        let bad = GET_SECRET.replace(r#""verb":"get""#, r#""verb":{"x":1}"#);
        let list = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{GET_SECRET},{bad}]}}"#
        );
        let mut ok = 0;
        let mut errs = vec![];
        parse_event_list(&list, &OPTS, &mut |r| match r {
            Ok(K8sRecord::Event(_)) => ok += 1,
            Ok(K8sRecord::SkippedStage | K8sRecord::Reported(_)) => {}
            Err(e) => errs.push(e),
        })
        .unwrap();
        assert_eq!(ok, 1);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field_name(), Some("items[1].verb"), "{}", errs[0]);
    }

    /// The kubelet's reflector for one pod Secret (Watch strategy, the default:
    /// `pkg/kubelet/util/manager/watch_based_manager.go`): a list then watches of
    /// `fieldSelector=metadata.name=<secret>`. Newer apiservers put the name into
    /// `objectRef.name` (`RequestInfoFactory`); older records lack it. Either way one Secret
    /// is read, by name, not the namespace listed.
    #[test]
    fn a_list_or_watch_selected_by_name_reads_that_secret() {
        let kubelet = |verb: &str, uri: &str, name: &str| {
            GET_SECRET
                .replace(r#""verb":"get""#, &format!(r#""verb":"{verb}""#))
                .replace("/api/v1/namespaces/prod/secrets/db", uri)
                .replace(r#""name":"db","#, name)
                .replace(
                    "system:serviceaccount:prod:payments",
                    "system:node:ip-10-0-1-23.ec2.internal",
                )
        };
        for (verb, uri, name) in [
            ("list", "/api/v1/namespaces/prod/secrets?fieldSelector=metadata.name%3Ddb&limit=500&resourceVersion=0", ""),
            ("watch", "/api/v1/namespaces/prod/secrets?allowWatchBookmarks=true&fieldSelector=metadata.name%3Ddb&resourceVersion=812&timeout=7m41s&timeoutSeconds=461&watch=true", ""),
            ("watch", "/api/v1/namespaces/prod/secrets?allowWatchBookmarks=true&fieldSelector=metadata.name%3Ddb&resourceVersion=812&timeoutSeconds=461&watch=true", r#""name":"db","#),
        ] {
            let text = kubelet(verb, uri, name);
            let e = ev(&text);
            assert_eq!(e.scope, Scope::Object, "{uri}");
            assert_eq!(e.action, Action::Read, "{uri}");
            assert_eq!(e.raw_action, verb);
            assert_eq!(e.target.name.as_deref(), Some("db"), "{uri}");
        }
        // Without a selector the same list reaches the whole namespace; without a namespace
        // the cluster; with a label selector a selection.
        let ns = kubelet("list", "/api/v1/namespaces/prod/secrets?limit=500", "");
        assert_eq!(
            (ev(&ns).scope, ev(&ns).action),
            (Scope::Namespace, Action::List)
        );
        let all =
            kubelet("list", "/api/v1/secrets?limit=500", "").replace(r#""namespace":"prod","#, "");
        assert_eq!(ev(&all).scope, Scope::Cluster);
        let helm = kubelet(
            "list",
            "/api/v1/namespaces/prod/secrets?labelSelector=name%3Dshop%2Cowner%3Dhelm",
            "",
        );
        assert_eq!(ev(&helm).scope, Scope::Selected);
        // A selector that does not parse never fails the record.
        let odd = kubelet(
            "list",
            "/api/v1/namespaces/prod/secrets?fieldSelector=%zz%3D&labelSelector=%",
            "",
        );
        assert_eq!(ev(&odd).scope, Scope::Namespace);
    }

    #[test]
    fn secret_body_is_redacted_in_raw() {
        let text = GET_SECRET.replace(
            r#""responseStatus""#,
            r#""responseObject":{"kind":"Secret","metadata":{"name":"db"},"data":{"password":"Q0FOQVJZLXZhbHVl"}},"responseStatus""#,
        );
        let e = ev(&text);
        assert!(e.redactions.contains(Redactions::SECRET_BODY));
        assert!(!e.raw.contains("Q0FOQVJZLXZhbHVl"));
        assert!(e.raw.contains("[REDACTED]"));
    }
}
