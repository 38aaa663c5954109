//! Kubernetes `Event` objects that report a missing Secret: the kubelet's own words when a pod
//! refers to a Secret that does not exist in its namespace.
//!
//! Real kubelets never GET such a Secret (they fetch pod Secrets through a watch by name and
//! read them from that cache), so the audit log shows no 404. What they do write is an Event
//! on the pod (core/v1, `source.component: kubelet`, `source.host: <node>`; kubernetes
//! `cmd/kubelet/app/server.go` `makeEventRecorder`). The messages, from the kubelet's source:
//!
//! - `FailedToRetrieveImagePullSecret`: `Unable to retrieve some image pull secrets (a, b);
//!   attempting to pull the image may not succeed.` (`pkg/kubelet/kubelet_pods.go`
//!   `getPullSecretsForPod`, kubernetes/kubernetes#117927);
//! - `FailedMount`: `MountVolume.SetUp failed for volume "v" : secret "x" not found` (the
//!   secret and projected volume plugins' error through
//!   `pkg/volume/util/operationexecutor/operation_executor.go` `generateVolumeMsg`);
//! - `Failed` (the container's `CreateContainerConfigError`): `Error: secret "x" not found`
//!   (`pkg/kubelet/kuberuntime/kuberuntime_container.go` `startContainer`);
//!
//! where `secret "x" not found` is `apierrors.NewNotFound(corev1.Resource("secret"), name)`
//! (k8s.io/apimachinery `pkg/api/errors/errors.go`). Repeats of one Event are a PATCH of
//! `count`, `lastTimestamp` and `message` (client-go `tools/record/events_cache.go`).
//!
//! Three ways in, one result:
//! - the `k8s-events` format: `kubectl get events -A -o json` (a `List`), `kubectl get events
//!   -A --watch -o json` (one object after another; `--output-watch-events` wraps each in
//!   `{"type","object"}`), kubernetes-event-exporter's JSON (the Event with its
//!   `involvedObject` enriched), core/v1 or `events.k8s.io/v1` (`regarding`, `note`,
//!   `deprecated*`);
//! - audit events of `create`/`patch`/`update` on `events` when the audit policy logs them at
//!   `Request` level (the body is the Event or the repeat's patch);
//!
//! Each Secret named becomes one [`AccessEvent`]: the reporter (a kubelet is
//! `system:node:<host>`) failed to read Secret `x` of the pod's namespace, status 404, the
//! Event's reason as the verb, `pod/<name>: <message>` as the reason, and the Event's count and
//! first time as [`Repeat`]. An Event that names no Secret is skipped (counted, not an access).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use smallvec::SmallVec;

use crate::event::{
    AccessEvent, Action, Outcome, Principal, PrincipalKind, Redactions, Repeat, Scope,
    SourceSystem, StrList, Target,
};
use crate::json::{describe_error, Str};
use crate::options::ParseOptions;
use crate::parser::{prefix_error, Parsed};
use crate::redact;
use crate::time::{parse_rfc3339, NOT_RFC3339};
use crate::ParseError;

/// The longest Event message kept as the reason (the rest is in `raw`).
const MAX_MESSAGE: usize = 512;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Meta<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    namespace: Option<Str<'a>>,
    #[serde(borrow)]
    uid: Option<Str<'a>>,
    #[serde(borrow)]
    creation_timestamp: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjRef<'a> {
    #[serde(borrow)]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    namespace: Option<Str<'a>>,
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    field_path: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct EvSource<'a> {
    #[serde(borrow)]
    component: Option<Str<'a>>,
    #[serde(borrow)]
    host: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Series<'a> {
    count: Option<u32>,
    #[serde(borrow)]
    last_observed_time: Option<Str<'a>>,
}

/// A core/v1 or events.k8s.io/v1 Event, or the patch of a repeat (only some fields).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKubeEvent<'a> {
    #[serde(borrow, default)]
    metadata: Option<Meta<'a>>,
    #[serde(borrow)]
    involved_object: Option<ObjRef<'a>>,
    #[serde(borrow)]
    regarding: Option<ObjRef<'a>>,
    #[serde(borrow)]
    reason: Option<Str<'a>>,
    #[serde(borrow)]
    message: Option<Str<'a>>,
    #[serde(borrow)]
    note: Option<Str<'a>>,
    #[serde(borrow)]
    source: Option<EvSource<'a>>,
    #[serde(borrow)]
    deprecated_source: Option<EvSource<'a>>,
    #[serde(borrow)]
    reporting_component: Option<Str<'a>>,
    #[serde(borrow)]
    reporting_controller: Option<Str<'a>>,
    #[serde(borrow)]
    reporting_instance: Option<Str<'a>>,
    #[serde(borrow)]
    first_timestamp: Option<Str<'a>>,
    #[serde(borrow)]
    last_timestamp: Option<Str<'a>>,
    #[serde(borrow)]
    deprecated_first_timestamp: Option<Str<'a>>,
    #[serde(borrow)]
    deprecated_last_timestamp: Option<Str<'a>>,
    #[serde(borrow)]
    event_time: Option<Str<'a>>,
    count: Option<u32>,
    deprecated_count: Option<u32>,
    #[serde(borrow)]
    series: Option<Series<'a>>,
}

/// `kubectl get events -o json`'s `List`, or a watch event (`--output-watch-events`).
#[derive(Deserialize)]
struct Wrapper<'a> {
    #[serde(borrow, default)]
    items: Option<Vec<&'a RawValue>>,
    #[serde(borrow, rename = "type")]
    watch_type: Option<Str<'a>>,
    #[serde(borrow)]
    object: Option<&'a RawValue>,
}

fn nonempty<'a>(s: &'a Option<Str<'a>>) -> Option<&'a str> {
    s.as_ref().map(Str::as_str).filter(|s| !s.is_empty())
}

/// A Secret name as Kubernetes allows it (a DNS subdomain: lowercase alphanumerics, `-`, `.`).
fn is_secret_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// The Secrets an Event message says are missing, in order, each once.
pub fn missing_secrets(message: &str) -> SmallVec<[&str; 2]> {
    fn push<'m>(out: &mut SmallVec<[&'m str; 2]>, n: &'m str) {
        let n = n.trim();
        if is_secret_name(n) && !out.contains(&n) {
            out.push(n);
        }
    }
    let mut out: SmallVec<[&str; 2]> = SmallVec::new();
    const PULL: &str = "Unable to retrieve some image pull secrets (";
    if let Some(at) = message.find(PULL) {
        let rest = &message[at + PULL.len()..];
        if let Some(end) = rest.find(')') {
            rest[..end].split(',').for_each(|n| push(&mut out, n));
        }
    }
    // `secret "x" not found` (the kubelet's cache) and `secrets "x" not found` (the API).
    let mut rest = message;
    while let Some(at) = rest.find("secret") {
        let after = &rest[at + "secret".len()..];
        let after = after.strip_prefix('s').unwrap_or(after);
        rest = after;
        let Some(quoted) = after.strip_prefix(" \"") else {
            continue;
        };
        let Some(end) = quoted.find('"') else { break };
        if quoted[end + 1..].starts_with(" not found") {
            push(&mut out, &quoted[..end]);
        }
        rest = &quoted[end + 1..];
    }
    out
}

/// The reason an Event of `message` has when its body does not say (a repeat's patch).
fn reason_of(message: &str) -> &'static str {
    if message.contains("image pull secrets") {
        "FailedToRetrieveImagePullSecret"
    } else if message.contains("MountVolume") {
        "FailedMount"
    } else {
        "Failed"
    }
}

/// Who wrote an Event: a kubelet as its node's user (as the audit log names it), another
/// component by its name.
fn reporter(raw: &RawKubeEvent<'_>) -> (String, PrincipalKind, StrList<'static>) {
    let src = raw.source.as_ref().or(raw.deprecated_source.as_ref());
    let component = src
        .and_then(|s| nonempty(&s.component))
        .or_else(|| nonempty(&raw.reporting_component))
        .or_else(|| nonempty(&raw.reporting_controller));
    let host = src
        .and_then(|s| nonempty(&s.host))
        .or_else(|| nonempty(&raw.reporting_instance));
    match (component, host) {
        (Some("kubelet"), Some(h)) => (
            format!("system:node:{h}"),
            PrincipalKind::Node,
            ["system:nodes".to_string()]
                .into_iter()
                .map(Cow::Owned)
                .collect(),
        ),
        (Some(c), _) => (
            c.to_string(),
            PrincipalKind::SystemComponent,
            StrList::new(),
        ),
        (None, _) => (
            "(unknown)".to_string(),
            PrincipalKind::Unknown,
            StrList::new(),
        ),
    }
}

/// Where the Event came from when it arrived inside an audit event.
pub(crate) struct AuditContext<'a> {
    pub id: &'a str,
    pub time: DateTime<Utc>,
    pub principal: &'a Principal<'a>,
    pub source_ips: &'a StrList<'a>,
    pub user_agent: Option<&'a str>,
    /// `objectRef.namespace` and `.name` (the Event's own name, `<pod>.<hex>`).
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// The missing Secrets an Event reports, as events; `Ok(vec![])` when it reports none.
fn reports(
    text: &str,
    opts: &ParseOptions,
    audit: Option<&AuditContext<'_>>,
    prefix: &str,
) -> Result<Vec<AccessEvent<'static>>, ParseError> {
    let raw: RawKubeEvent<'_> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return Err(describe_error::<RawKubeEvent>(text, e, prefix)),
    };
    let field = |f: &str| crate::parser::join(prefix, f);
    let message = nonempty(&raw.message).or_else(|| nonempty(&raw.note));
    let object = raw.involved_object.as_ref().or(raw.regarding.as_ref());
    if audit.is_none() && object.is_none() {
        return Err(ParseError::field(
            field("involvedObject"),
            "missing (and no regarding): not a Kubernetes Event",
        ));
    }
    let Some(message) = message else {
        return Ok(vec![]);
    };
    let secrets = missing_secrets(message);
    if secrets.is_empty() {
        return Ok(vec![]);
    }

    let stamp =
        |name: &'static str, v: &Option<Str<'_>>| -> Result<Option<DateTime<Utc>>, ParseError> {
            match nonempty(v) {
                None => Ok(None),
                Some(s) => parse_rfc3339(s)
                    .map(Some)
                    .ok_or_else(|| ParseError::field(field(name), NOT_RFC3339)),
            }
        };
    let meta = raw.metadata.as_ref();
    let last = stamp("lastTimestamp", &raw.last_timestamp)?
        .or(stamp(
            "deprecatedLastTimestamp",
            &raw.deprecated_last_timestamp,
        )?)
        .or(match raw.series.as_ref() {
            Some(s) => stamp("series.lastObservedTime", &s.last_observed_time)?,
            None => None,
        });
    let first = stamp("firstTimestamp", &raw.first_timestamp)?
        .or(stamp(
            "deprecatedFirstTimestamp",
            &raw.deprecated_first_timestamp,
        )?)
        .or(stamp("eventTime", &raw.event_time)?);
    let created = match meta {
        Some(m) => stamp("metadata.creationTimestamp", &m.creation_timestamp)?,
        None => None,
    };
    let time = match audit {
        Some(a) => a.time,
        None => last.or(first).or(created).ok_or_else(|| {
            ParseError::field(
                field("lastTimestamp"),
                "missing (and no eventTime, series.lastObservedTime, firstTimestamp or metadata.creationTimestamp)",
            )
        })?,
    };
    let count = raw
        .series
        .as_ref()
        .and_then(|s| s.count)
        .or(raw.count)
        .or(raw.deprecated_count)
        .unwrap_or(1);
    let since = first.filter(|f| *f < time);
    let repeat = (count > 1 || since.is_some()).then(|| Repeat {
        count: count.max(1),
        since: since.unwrap_or(time),
    });

    let namespace = object
        .and_then(|o| nonempty(&o.namespace))
        .or_else(|| meta.and_then(|m| nonempty(&m.namespace)))
        .or_else(|| audit.and_then(|a| a.namespace))
        .map(str::to_string);
    let Some(namespace) = namespace else {
        return Err(ParseError::field(
            field("involvedObject.namespace"),
            "missing (and no metadata.namespace): the Secret's namespace is unknown",
        ));
    };
    // The workload: the involved object, or (a repeat's patch) the Event's name `<pod>.<hex>`.
    let workload = match object {
        Some(o) => {
            let kind = nonempty(&o.kind).unwrap_or("object").to_ascii_lowercase();
            let name = nonempty(&o.name).unwrap_or("?");
            match nonempty(&o.field_path) {
                Some(fp) => format!("{kind}/{name} ({fp})"),
                None => format!("{kind}/{name}"),
            }
        }
        None => match audit.and_then(|a| a.name) {
            Some(n) => format!("pod/{}", n.rsplit_once('.').map_or(n, |(p, _)| p)),
            None => "pod/?".to_string(),
        },
    };
    let reason_word = nonempty(&raw.reason).unwrap_or_else(|| reason_of(message));
    let (said, scrubbed) = redact::scrub_words(redact::truncate_at_char(message, MAX_MESSAGE));
    let reason_text = format!("{workload}: {said}");

    let (principal, source_ips, user_agent) = match audit {
        Some(a) => (
            a.principal.clone().into_owned(),
            a.source_ips.clone().into_owned(),
            a.user_agent.map(|u| Cow::Owned(u.to_string())),
        ),
        None => {
            let (name, kind, groups) = reporter(&raw);
            (
                Principal {
                    groups,
                    ..Principal::named(name, kind)
                },
                StrList::new(),
                None,
            )
        }
    };
    let base_id = match audit {
        Some(a) => a.id.to_string(),
        None => {
            let m = meta;
            let key = m
                .and_then(|m| nonempty(&m.uid))
                .map(str::to_string)
                .or_else(|| {
                    m.and_then(|m| nonempty(&m.name))
                        .map(|n| format!("{namespace}/{n}"))
                })
                .unwrap_or_else(|| format!("{namespace}/{workload}"));
            format!("event:{key}:{count}")
        }
    };

    let mut redactions = Redactions::default();
    if scrubbed {
        redactions.insert(Redactions::TOKEN);
    }
    let raw_copy = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(mut v) => {
            // Free text (the message) is scrubbed word by word there, as in the reason.
            redactions.insert(redact::redact_unknown(&mut v));
            redact::bound_raw(v, opts.raw_max_bytes, &mut redactions)
        }
        Err(e) => return Err(ParseError::json(&e)),
    };
    let many = secrets.len() > 1;
    Ok(secrets
        .iter()
        .map(|s| AccessEvent {
            source: SourceSystem::Kubernetes,
            id: Cow::Owned(if many {
                format!("{base_id}#{s}")
            } else {
                base_id.clone()
            }),
            time,
            principal: principal.clone(),
            source_ips: source_ips.clone(),
            user_agent: user_agent.clone(),
            action: Action::Read,
            raw_action: Cow::Owned(reason_word.to_string()),
            target: Target {
                store: Cow::Owned(opts.cluster.clone()),
                namespace: Some(Cow::Owned(namespace.clone())),
                name: Some(Cow::Owned(s.to_string())),
                resource: Some(Cow::Borrowed("secrets")),
                subresource: None,
                group: None,
                is_secret: true,
            },
            scope: Scope::Object,
            outcome: Outcome::Error,
            status_code: Some(404),
            reason: Some(Cow::Owned(reason_text.clone())),
            request_uri: None,
            redactions,
            raw: Cow::Owned(raw_copy.clone()),
            repeat,
        })
        .collect())
}

/// Whether a record of the `events` resource reported by an audit event is worth reading for
/// missing Secrets: a write whose body the policy logged.
pub(crate) fn audit_reports(
    body: &str,
    opts: &ParseOptions,
    ctx: &AuditContext<'_>,
) -> Vec<AccessEvent<'static>> {
    // Most Events are routine (pulls, starts, probes): a substring test spares them the parse.
    // A body that is not an Event (a `Status`, a JSON patch array) names no missing Secret;
    // the audit event itself is kept as it is by the caller.
    if !body.contains("not found") && !body.contains("image pull secrets") {
        return vec![];
    }
    reports(body, opts, Some(ctx), "requestObject").unwrap_or_default()
}

/// Parse one record of the `k8s-events` format: an Event, a `List` of them, or a watch event.
pub fn parse<'a>(text: &'a str, opts: &'a ParseOptions, out: &mut dyn FnMut(Parsed<'a>)) {
    let wrapper: Wrapper<'_> = match serde_json::from_str(text) {
        Ok(w) => w,
        Err(e) => {
            out(Parsed::Error(describe_error::<Wrapper>(text, e, "")));
            return;
        }
    };
    if let Some(items) = wrapper.items {
        for (i, item) in items.into_iter().enumerate() {
            one(item.get(), opts, &format!("items[{i}]"), out);
        }
        return;
    }
    if let (Some(t), Some(obj)) = (&wrapper.watch_type, wrapper.object) {
        // A deleted Event (its TTL ran out) reports nothing new.
        if t.as_str() == "DELETED" {
            out(Parsed::Skipped);
        } else {
            one(obj.get(), opts, "object", out);
        }
        return;
    }
    one(text, opts, "", out);
}

fn one<'a>(text: &str, opts: &ParseOptions, prefix: &str, out: &mut dyn FnMut(Parsed<'a>)) {
    match reports(text, opts, None, prefix) {
        Ok(evs) if evs.is_empty() => out(Parsed::Skipped),
        Ok(evs) => evs.into_iter().for_each(|e| out(Parsed::Event(e))),
        Err(e) => out(Parsed::Error(prefix_error(e, ""))),
    }
}

#[cfg(test)]
mod tests;
