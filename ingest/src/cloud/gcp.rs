//! GCP Cloud Audit Logs (`LogEntry` with a `protoPayload` of type `AuditLog`): Secret Manager
//! (`serviceName` `secretmanager.googleapis.com`) entries become events here; GKE entries
//! (`k8s.io`) go to [`crate::managed::gke`]; other services are counted as skipped.
//!
//! Decisions: only `AccessSecretVersion` reads a value ([`Action::Read`]); `GetSecret`,
//! `GetSecretVersion` and IAM-policy reads are metadata ([`Action::Other`]). An entry without
//! `insertId` gets an id derived from its text (`gcp-<hash>`); one without `timestamp` takes
//! `requestMetadata.requestAttributes.time`, then `receiveTimestamp`. When a caller acted
//! through service-account impersonation (`serviceAccountDelegationInfo`), the first
//! delegating principal is the principal and the service account is who it acted as.

use std::borrow::Cow;

use serde::Deserialize;
use smallvec::SmallVec;

use crate::cloud::common::{cow, derived_id, grpc_to_http, ip_only, path, redacted_raw};
use crate::cloud::redact::redact_gcp;
use crate::error::ParseError;
use crate::event::{
    AccessEvent, Action, Impersonation, Outcome, Principal, PrincipalKind, Scope, SourceSystem,
    StrList, Target,
};
use crate::json::{describe_error, Str};
use crate::options::ParseOptions;
use crate::parser::Parsed;
use crate::time::{parse_rfc3339, NOT_RFC3339};

pub const SECRET_MANAGER: &str = "secretmanager.googleapis.com";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawFirstParty<'a> {
    #[serde(borrow)]
    pub principal_email: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawDelegation<'a> {
    #[serde(borrow)]
    pub first_party_principal: Option<RawFirstParty<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawAuthentication<'a> {
    #[serde(borrow)]
    pub principal_email: Option<Str<'a>>,
    #[serde(borrow)]
    pub principal_subject: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub service_account_delegation_info: SmallVec<[RawDelegation<'a>; 1]>,
}

#[derive(Deserialize)]
pub(crate) struct RawRequestAttributes<'a> {
    #[serde(borrow)]
    pub time: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawRequestMetadata<'a> {
    #[serde(borrow)]
    pub caller_ip: Option<Str<'a>>,
    #[serde(borrow)]
    pub caller_supplied_user_agent: Option<Str<'a>>,
    #[serde(borrow)]
    pub request_attributes: Option<RawRequestAttributes<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct RawStatus<'a> {
    pub code: Option<i64>,
    #[serde(borrow)]
    pub message: Option<Str<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct RawAuthorization {
    pub granted: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawProto<'a> {
    #[serde(borrow)]
    pub service_name: Option<Str<'a>>,
    #[serde(borrow)]
    pub method_name: Option<Str<'a>>,
    #[serde(borrow)]
    pub resource_name: Option<Str<'a>>,
    #[serde(borrow)]
    pub authentication_info: Option<RawAuthentication<'a>>,
    #[serde(borrow)]
    pub request_metadata: Option<RawRequestMetadata<'a>>,
    #[serde(borrow)]
    pub status: Option<RawStatus<'a>>,
    #[serde(default)]
    pub authorization_info: SmallVec<[RawAuthorization; 2]>,
}

#[derive(Deserialize)]
pub(crate) struct RawLabels<'a> {
    #[serde(borrow)]
    pub project_id: Option<Str<'a>>,
    #[serde(borrow)]
    pub cluster_name: Option<Str<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct RawResource<'a> {
    #[serde(borrow)]
    pub labels: Option<RawLabels<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct RawOperation<'a> {
    #[serde(borrow)]
    pub id: Option<Str<'a>>,
}

/// The authorization decision GKE copies into the entry's labels.
#[derive(Deserialize)]
pub(crate) struct RawEntryLabels<'a> {
    #[serde(borrow, rename = "authorization.k8s.io/decision")]
    pub decision: Option<Str<'a>>,
    #[serde(borrow, rename = "authorization.k8s.io/reason")]
    pub reason: Option<Str<'a>>,
}

/// One `LogEntry`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawEntry<'a> {
    #[serde(borrow)]
    pub insert_id: Option<Str<'a>>,
    #[serde(borrow)]
    pub timestamp: Option<Str<'a>>,
    #[serde(borrow)]
    pub receive_timestamp: Option<Str<'a>>,
    #[serde(borrow)]
    pub resource: Option<RawResource<'a>>,
    #[serde(borrow)]
    pub labels: Option<RawEntryLabels<'a>>,
    #[serde(borrow)]
    pub operation: Option<RawOperation<'a>>,
    #[serde(borrow)]
    pub proto_payload: Option<RawProto<'a>>,
}

impl<'a> RawEntry<'a> {
    /// `timestamp`, else the request's own time, else `receiveTimestamp`.
    pub fn time(&self, prefix: &str) -> Result<chrono::DateTime<chrono::Utc>, ParseError> {
        let req_time = self
            .proto_payload
            .as_ref()
            .and_then(|p| p.request_metadata.as_ref())
            .and_then(|m| m.request_attributes.as_ref())
            .and_then(|a| a.time.as_ref());
        let (field, t) =
            match (&self.timestamp, req_time, &self.receive_timestamp) {
                (Some(t), _, _) => ("timestamp", t),
                (None, Some(t), _) => ("protoPayload.requestMetadata.requestAttributes.time", t),
                (None, None, Some(t)) => ("receiveTimestamp", t),
                (None, None, None) => return Err(ParseError::field(
                    path(prefix, "timestamp"),
                    "missing (and no requestMetadata.requestAttributes.time or receiveTimestamp)",
                )),
            };
        parse_rfc3339(t.as_str()).ok_or_else(|| ParseError::field(path(prefix, field), NOT_RFC3339))
    }
}

/// Outcome and HTTP-like status of an audit entry.
pub(crate) fn outcome_of(proto: &RawProto<'_>) -> (Outcome, Option<u16>) {
    let code = proto.status.as_ref().and_then(|s| s.code).unwrap_or(0);
    let refused = proto
        .authorization_info
        .iter()
        .any(|a| a.granted == Some(false));
    match code {
        0 if refused => (Outcome::Denied, Some(403)),
        0 => (Outcome::Allowed, Some(200)),
        7 | 16 => (Outcome::Denied, grpc_to_http(code)),
        c => (Outcome::Error, grpc_to_http(c)),
    }
}

/// Parse one Cloud Audit Log entry.
pub fn parse<'a>(text: &'a str, opts: &'a ParseOptions, out: &mut dyn FnMut(Parsed<'a>)) {
    parse_entry(text, opts, "", out)
}

/// One entry; errors name fields under `prefix`.
pub fn parse_entry<'a>(
    text: &'a str,
    opts: &'a ParseOptions,
    prefix: &str,
    out: &mut dyn FnMut(Parsed<'a>),
) {
    let entry: RawEntry<'a> = match serde_json::from_str(text) {
        Ok(e) => e,
        Err(e) => return out(Parsed::Error(describe_error::<RawEntry>(text, e, prefix))),
    };
    let Some(proto) = entry.proto_payload.as_ref() else {
        return out(Parsed::Error(ParseError::field(
            path(prefix, "protoPayload"),
            "missing (not a Cloud Audit Log entry)",
        )));
    };
    let service = proto.service_name.as_ref().map(Str::as_str);
    match service {
        Some(SECRET_MANAGER) => match secret_manager(text, entry, opts, prefix, false) {
            Ok(ev) => out(Parsed::Event(ev)),
            Err(e) => out(Parsed::Error(e)),
        },
        // Cloud Logging's own configuration (sinks, buckets, exclusions) and log deletion: how
        // the audit trail is cut. Reads of log entries are not kept.
        Some("logging.googleapis.com")
            if proto.method_name.as_ref().is_some_and(|m| {
                m.as_str().contains("ConfigServiceV2.") || m.as_str().ends_with(".DeleteLog")
            }) =>
        {
            match secret_manager(text, entry, opts, prefix, true) {
                Ok(ev) => out(Parsed::Event(ev)),
                Err(e) => out(Parsed::Error(e)),
            }
        }
        Some("k8s.io") => match crate::managed::gke::event(text, entry, opts, prefix) {
            Ok(ev) => out(Parsed::Event(ev)),
            Err(e) => out(Parsed::Error(e)),
        },
        Some(_) => out(Parsed::Skipped),
        None => out(Parsed::Error(ParseError::field(
            path(prefix, "protoPayload.serviceName"),
            "missing",
        ))),
    }
}

/// Action of a Secret Manager method (the last segment of `methodName`).
pub fn action_of(method: &str) -> Action {
    match method {
        "AccessSecretVersion" => Action::Read,
        "ListSecrets" | "ListSecretVersions" => Action::List,
        "AddSecretVersion" | "UpdateSecret" | "EnableSecretVersion" | "DisableSecretVersion" => {
            Action::Write
        }
        "CreateSecret" => Action::Create,
        "DeleteSecret" | "DestroySecretVersion" => Action::Delete,
        "SetIamPolicy" => Action::Admin,
        // GetSecret, GetSecretVersion, GetIamPolicy, TestIamPermissions...
        _ => Action::Other,
    }
}

/// `projects/P/[locations/L/]secrets/S[/versions/V]` -> (project, secret).
pub(crate) fn project_and_secret(resource: &str) -> (Option<&str>, Option<&str>) {
    let segs: SmallVec<[&str; 8]> = resource.split('/').collect();
    let after = |key: &str| {
        segs.iter()
            .position(|s| *s == key)
            .and_then(|i| segs.get(i + 1).copied())
            .filter(|s| !s.is_empty())
    };
    (after("projects"), after("secrets"))
}

/// A principal from its e-mail: `…gserviceaccount.com` is a service account, else a person.
pub(crate) fn email_kind(email: &str) -> PrincipalKind {
    if email.ends_with(".gserviceaccount.com") {
        PrincipalKind::ServiceAccount
    } else {
        PrincipalKind::Human
    }
}

fn principal_of(auth: Option<RawAuthentication<'_>>) -> Principal<'_> {
    let Some(auth) = auth else {
        return Principal::named("(unknown)", PrincipalKind::Unknown);
    };
    let email = cow(auth.principal_email);
    let subject = cow(auth.principal_subject);
    let delegator = auth
        .service_account_delegation_info
        .into_iter()
        .find_map(|d| d.first_party_principal.and_then(|p| cow(p.principal_email)));
    let (name, acting_as) = match (delegator, email) {
        (Some(d), Some(sa)) => (
            d,
            Some(Box::new(Impersonation {
                name: sa,
                groups: StrList::new(),
            })),
        ),
        (_, Some(e)) => (e, None),
        (_, None) => (subject.clone().unwrap_or(Cow::Borrowed("(unknown)")), None),
    };
    let kind = if name.contains('@') {
        email_kind(&name)
    } else {
        PrincipalKind::Unknown
    };
    Principal {
        name,
        kind,
        uid: subject,
        groups: StrList::new(),
        namespace: None,
        vault: None,
        acting_as,
        node: None,
    }
}

/// A Secret Manager entry, or (`logging`) a Cloud Logging configuration change.
fn secret_manager<'a>(
    text: &'a str,
    entry: RawEntry<'a>,
    opts: &'a ParseOptions,
    prefix: &str,
    logging: bool,
) -> Result<AccessEvent<'a>, ParseError> {
    let time = entry.time(prefix)?;
    let Some(proto) = entry.proto_payload else {
        unreachable!("checked by parse_entry")
    };
    let (outcome, status_code) = outcome_of(&proto);
    let method_full = cow(proto.method_name).ok_or_else(|| {
        ParseError::field(path(prefix, "protoPayload.methodName"), "missing or empty")
    })?;
    let method = match &method_full {
        Cow::Borrowed(b) => Cow::Borrowed(b.rsplit('.').next().unwrap_or(b)),
        Cow::Owned(o) => Cow::Owned(o.rsplit('.').next().unwrap_or(o).to_string()),
    };
    let resource_name = cow(proto.resource_name);
    let (res_project, secret) = resource_name
        .as_deref()
        .map(project_and_secret)
        .unwrap_or((None, None));
    let project = entry
        .resource
        .and_then(|r| r.labels)
        .and_then(|l| cow(l.project_id))
        .map(|p| p.into_owned())
        .or(res_project.map(str::to_string));
    let secret = match (logging, resource_name.as_deref()) {
        // `projects/P/sinks/S`, `projects/P/locations/L/buckets/B`: the object after the project.
        (true, Some(r)) => r
            .split_once('/')
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(_, obj)| obj.to_string()),
        (true, None) => None,
        (false, _) => secret.map(str::to_string),
    };
    let action = if logging {
        let verb = method.as_ref();
        if verb.starts_with("Delete") {
            Action::Delete
        } else if verb.starts_with("Create") {
            Action::Create
        } else if verb.starts_with("Update") {
            Action::Admin
        } else if verb.starts_with("List") {
            Action::List
        } else {
            Action::Other
        }
    } else {
        action_of(&method)
    };
    let (ip, ua) = match proto.request_metadata {
        Some(m) => (cow(m.caller_ip), cow(m.caller_supplied_user_agent)),
        None => (None, None),
    };
    let reason = proto
        .status
        .and_then(|s| cow(s.message))
        .filter(|_| outcome != Outcome::Allowed);
    let (raw_copy, redactions) = redacted_raw(text, opts, redact_gcp)?;
    Ok(AccessEvent {
        source: SourceSystem::Gcp,
        id: cow(entry.insert_id).unwrap_or_else(|| derived_id("gcp", text)),
        time,
        principal: principal_of(proto.authentication_info),
        source_ips: ip_only(ip).into_iter().collect(),
        user_agent: ua,
        action,
        scope: Scope::of_action(action),
        raw_action: method,
        target: Target {
            store: Cow::Owned(format!("gcp:{}", project.as_deref().unwrap_or("unknown"))),
            namespace: project.map(Cow::Owned),
            name: secret.map(Cow::Owned),
            resource: Some(Cow::Borrowed(if logging {
                "logging"
            } else {
                "secretmanager"
            })),
            subresource: None,
            group: None,
            is_secret: !logging,
        },
        outcome,
        status_code,
        reason,
        request_uri: resource_name,
        redactions,
        raw: Cow::Owned(raw_copy),
        repeat: None,
    })
}
