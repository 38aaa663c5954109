//! AWS CloudTrail records of Secrets Manager (`eventSource` `secretsmanager.amazonaws.com`):
//! single records, the `{"Records": [...]}` file form (S3 delivery) and EventBridge events
//! (`detail` holds the record). Besides Secrets Manager, a short allowlist of calls of other
//! services that reach secrets or blind the trail is kept (see [`Service`]): Systems Manager
//! Parameter Store (SecureString parameters), CloudTrail's own trail control, and EKS access
//! entries (who may act on a cluster). Every other record is counted as skipped.
//!
//! Decisions where CloudTrail leaves a choice:
//! - `DescribeSecret`, `GetResourcePolicy` and other metadata reads are [`Action::Other`]: only
//!   `GetSecretValue` / `BatchGetSecretValue` are value reads ([`Action::Read`]), so "bulk secret
//!   reads" counts only those.
//! - `BatchGetSecretValue` with a `secretIdList` gives one event per secret (ids `eventID#i`),
//!   so distinct-secret counts see every secret; with `filters` one event without a name.
//! - Principals: IAM users, the root user, federated users and Identity Center users by ARN
//!   (the root user is `arn:aws:iam::<account>:root`, see [`is_aws_root`]). Role sessions of
//!   people (IAM Identity Center `AWSReservedSSO_*` roles, console sessions, session names
//!   with `@`) are named by their session ARN; every other role session (web identity / IRSA,
//!   EC2, ECS, Lambda) by its role ARN, because their session names are generated per
//!   credential and would make every credential refresh a new identity. The session ARN is
//!   then kept as `uid`; the role ARN is the principal's group either way.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem;
use serde::Deserialize;
use serde_json::value::RawValue;
use smallvec::SmallVec;

use crate::cloud::common::{cow, derived_id, ip_only, path, redacted_raw};
use crate::cloud::redact::redact_cloudtrail;
use crate::error::ParseError;
use crate::event::{
    AccessEvent, Action, Outcome, Principal, PrincipalKind, Scope, SourceSystem, StrList, Target,
};
use crate::json::{describe_error, Str};
use crate::options::ParseOptions;
use crate::parser::Parsed;
use crate::time::{parse_rfc3339, NOT_RFC3339};

pub const EVENT_SOURCE: &str = "secretsmanager.amazonaws.com";

/// The services whose records are kept, and which of their calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    SecretsManager,
    /// Parameter Store: parameter reads (values only `withDecryption`), writes, listings.
    Ssm,
    /// The trail itself: stopping, deleting or narrowing it.
    CloudTrail,
    /// EKS access entries and policies: cluster access granted through IAM.
    Eks,
}

fn service_of(source: &str, name: &str) -> Option<Service> {
    match source {
        EVENT_SOURCE => Some(Service::SecretsManager),
        "ssm.amazonaws.com" => matches!(
            name,
            "GetParameter"
                | "GetParameters"
                | "GetParametersByPath"
                | "GetParameterHistory"
                | "PutParameter"
                | "DeleteParameter"
                | "DeleteParameters"
                | "DescribeParameters"
                | "LabelParameterVersion"
        )
        .then_some(Service::Ssm),
        "cloudtrail.amazonaws.com" => matches!(
            name,
            "StopLogging"
                | "StartLogging"
                | "DeleteTrail"
                | "UpdateTrail"
                | "CreateTrail"
                | "PutEventSelectors"
                | "PutAdvancedEventSelectors"
                | "DeleteEventDataStore"
                | "StopEventDataStoreIngestion"
        )
        .then_some(Service::CloudTrail),
        "eks.amazonaws.com" => matches!(
            name,
            "CreateAccessEntry"
                | "UpdateAccessEntry"
                | "DeleteAccessEntry"
                | "AssociateAccessPolicy"
                | "DisassociateAccessPolicy"
        )
        .then_some(Service::Eks),
        _ => None,
    }
}

/// The normalized action of an allowlisted call of another service.
fn other_action(service: Service, name: &str, decrypted: bool) -> Action {
    match (service, name) {
        (
            Service::Ssm,
            "GetParameter" | "GetParameters" | "GetParametersByPath" | "GetParameterHistory",
        ) => {
            if decrypted {
                Action::Read
            } else {
                Action::Other
            }
        }
        (Service::Ssm, "DescribeParameters") => Action::List,
        (Service::Ssm, "PutParameter" | "LabelParameterVersion") => Action::Write,
        (Service::Ssm, _) => Action::Delete,
        (Service::CloudTrail, "DeleteTrail" | "DeleteEventDataStore") => Action::Delete,
        (Service::CloudTrail, "CreateTrail") => Action::Create,
        _ => Action::Admin,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIssuer<'a> {
    #[serde(borrow)]
    arn: Option<Str<'a>>,
    #[serde(borrow)]
    user_name: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawWebIdentity<'a> {
    #[serde(borrow)]
    federated_provider: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSessionContext<'a> {
    #[serde(borrow)]
    session_issuer: Option<RawIssuer<'a>>,
    #[serde(borrow)]
    web_id_federation_data: Option<RawWebIdentity<'a>>,
    #[serde(borrow)]
    source_identity: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawOnBehalfOf<'a> {
    #[serde(borrow)]
    user_id: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawIdentity<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    principal_id: Option<Str<'a>>,
    #[serde(borrow)]
    arn: Option<Str<'a>>,
    #[serde(borrow)]
    account_id: Option<Str<'a>>,
    #[serde(borrow)]
    user_name: Option<Str<'a>>,
    #[serde(borrow)]
    invoked_by: Option<Str<'a>>,
    #[serde(borrow)]
    session_context: Option<RawSessionContext<'a>>,
    #[serde(borrow)]
    on_behalf_of: Option<RawOnBehalfOf<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRecord<'a> {
    #[serde(borrow)]
    event_source: Option<Str<'a>>,
    #[serde(borrow)]
    event_name: Option<Str<'a>>,
    #[serde(borrow)]
    event_time: Option<Str<'a>>,
    #[serde(borrow, rename = "eventID")]
    event_id: Option<Str<'a>>,
    #[serde(borrow)]
    aws_region: Option<Str<'a>>,
    #[serde(borrow, rename = "sourceIPAddress")]
    source_ip: Option<Str<'a>>,
    #[serde(borrow)]
    user_agent: Option<Str<'a>>,
    #[serde(borrow)]
    error_code: Option<Str<'a>>,
    #[serde(borrow)]
    error_message: Option<Str<'a>>,
    #[serde(borrow)]
    recipient_account_id: Option<Str<'a>>,
    #[serde(borrow)]
    user_identity: Option<RawIdentity<'a>>,
    /// Parsed only for Secrets Manager (other services put anything here).
    #[serde(borrow)]
    request_parameters: Option<&'a RawValue>,
    /// `"true"` (a string) for console sessions.
    #[serde(borrow)]
    session_credential_from_console: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawParams<'a> {
    #[serde(borrow)]
    secret_id: Option<Str<'a>>,
    /// `CreateSecret`.
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow, default)]
    secret_id_list: Option<SmallVec<[Str<'a>; 4]>>,
    /// SSM `GetParameters`, `DeleteParameters`.
    #[serde(borrow, default)]
    names: Option<SmallVec<[Str<'a>; 4]>>,
    /// SSM `GetParametersByPath`.
    #[serde(borrow)]
    path: Option<Str<'a>>,
    /// SSM reads: a SecureString's value is returned only with decryption.
    #[serde(default)]
    with_decryption: Option<serde_json::Value>,
    /// CloudTrail `PutEventSelectors` and friends.
    #[serde(borrow)]
    trail_name: Option<Str<'a>>,
    /// EKS access entries.
    #[serde(borrow)]
    cluster_name: Option<Str<'a>>,
    /// `ListSecrets`, `BatchGetSecretValue` (`key`, `values`); legacy `DescribeParameters`.
    #[serde(borrow, default)]
    filters: Option<Vec<RawFilter<'a>>>,
    /// `DescribeParameters` (`Key`, `Option`, `Values`).
    #[serde(borrow, default)]
    parameter_filters: Option<Vec<RawFilter<'a>>>,
}

/// A filter of a listing, in either spelling.
#[derive(Deserialize)]
struct RawFilter<'a> {
    #[serde(borrow, alias = "Key")]
    key: Option<Str<'a>>,
    #[serde(borrow, alias = "Option")]
    option: Option<Str<'a>>,
    #[serde(borrow, default, alias = "Values")]
    values: Option<SmallVec<[Str<'a>; 2]>>,
}

/// How much a listing or filtered batch read reaches: no filter, every secret (`Namespace`);
/// one name asked for by equality, one secret (`Object`, with that name); other filters (tags,
/// prefixes, descriptions), a selection.
fn filtered_scope<'a>(filters: Option<&[RawFilter<'a>]>) -> (Scope, Option<Cow<'a, str>>) {
    let Some(filters) = filters.filter(|f| !f.is_empty()) else {
        return (Scope::Namespace, None);
    };
    if let [f] = filters {
        let by_name = f
            .key
            .as_ref()
            .is_some_and(|k| k.as_str().eq_ignore_ascii_case("name"));
        let equals = f
            .option
            .as_ref()
            .is_none_or(|o| o.as_str().eq_ignore_ascii_case("equals"));
        if let (true, true, Some([v])) = (by_name, equals, f.values.as_deref()) {
            // ListSecrets' `name` filter is a prefix match: one exact name only with `Equals`.
            if f.option.is_some() {
                return (Scope::Object, Some(Cow::Owned(v.as_str().to_string())));
            }
        }
    }
    (Scope::Selected, None)
}

#[derive(Deserialize)]
struct RawFile<'a> {
    #[serde(borrow, rename = "Records")]
    records: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawEventBridge<'a> {
    #[serde(borrow)]
    detail: &'a RawValue,
}

struct Finders {
    records: memmem::Finder<'static>,
    detail_type: memmem::Finder<'static>,
}

static FINDERS: LazyLock<Finders> = LazyLock::new(|| Finders {
    records: memmem::Finder::new(b"\"Records\""),
    detail_type: memmem::Finder::new(b"\"detail-type\""),
});

/// The normalized action of a Secrets Manager API call (or service event).
pub fn action_of(event_name: &str) -> Action {
    match event_name {
        "GetSecretValue" | "BatchGetSecretValue" => Action::Read,
        "ListSecrets" | "ListSecretVersionIds" => Action::List,
        "PutSecretValue"
        | "UpdateSecret"
        | "UpdateSecretVersionStage"
        | "RestoreSecret"
        | "TagResource"
        | "UntagResource"
        | "StopReplicationToReplica" => Action::Write,
        "CreateSecret" | "ReplicateSecretToRegions" => Action::Create,
        "DeleteSecret" | "RemoveRegionsFromReplication" => Action::Delete,
        "PutResourcePolicy" | "DeleteResourcePolicy" => Action::Admin,
        n if n.contains("Rotat") => Action::Rotate,
        n if n.ends_with("SecretVersionDelete") && !n.starts_with("Cancel") => Action::Delete,
        // DescribeSecret, GetResourcePolicy, ValidateResourcePolicy, GetRandomPassword...
        _ => Action::Other,
    }
}

/// True for the AWS account root user (`arn:aws:iam::<account>:root`, any partition): any use
/// of it is break-glass.
pub fn is_aws_root(principal_name: &str) -> bool {
    principal_name.starts_with("arn:aws")
        && principal_name.ends_with(":root")
        && principal_name.contains(":iam::")
}

/// The secret's name in a Secrets Manager ARN: `arn:aws:secretsmanager:<region>:<account>:
/// secret:<name>-<6 random characters>` -> `<name>`. Secrets Manager appends a hyphen and six
/// characters to every secret's ARN (Secrets Manager User Guide, "Secret ARN"; "Find secrets
/// in AWS Secrets Manager": a partial ARN leaves them out), so callers that pass the ARN
/// (rotation Lambdas, Terraform) and callers that pass the name (SDK clients, external-secrets)
/// name one secret. A partial ARN (no suffix) gives its name as it is. `None` if `id` is not an
/// ARN of a secret.
pub fn secret_name_of_arn(id: &str) -> Option<&str> {
    secret_arn_scope(id)?;
    let name = id.splitn(7, ':').nth(6)?;
    let stripped = match name.rsplit_once('-') {
        Some((base, tail))
            if !base.is_empty()
                && tail.len() == 6
                && tail.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            base
        }
        _ => name,
    };
    (!stripped.is_empty()).then_some(stripped)
}

/// `arn:aws:secretsmanager:<region>:<account>:secret:<name>` -> (region, account).
fn secret_arn_scope(id: &str) -> Option<(&str, &str)> {
    let mut parts = id.splitn(7, ':');
    let (arn, _partition, service, region, account, kind) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (arn == "arn" && service == "secretsmanager" && kind == "secret")
        .then_some((region, account))
        .filter(|(r, a)| !r.is_empty() && !a.is_empty())
}

fn principal_of<'a>(id: Option<RawIdentity<'a>>, console: bool) -> Principal<'a> {
    let unknown = |name: Cow<'a, str>, kind| Principal {
        name,
        kind,
        uid: None,
        groups: StrList::new(),
        namespace: None,
        vault: None,
        acting_as: None,
        node: None,
    };
    let Some(id) = id else {
        return unknown(Cow::Borrowed("(unknown)"), PrincipalKind::Unknown);
    };
    let kind = id.kind.as_ref().map(|k| k.as_str().to_string());
    let account = cow(id.account_id.clone());
    let arn = cow(id.arn);
    let uid = cow(id.principal_id);
    let with =
        |name: Cow<'a, str>, kind, uid: Option<Cow<'a, str>>, groups: StrList<'a>| Principal {
            name,
            kind,
            uid,
            groups,
            namespace: None,
            vault: None,
            acting_as: None,
            node: None,
        };
    match kind.as_deref() {
        Some("Root") => {
            let name = arn.unwrap_or_else(|| {
                Cow::Owned(format!(
                    "arn:aws:iam::{}:root",
                    account.as_deref().unwrap_or("unknown")
                ))
            });
            with(name, PrincipalKind::Human, uid, StrList::new())
        }
        Some("IAMUser") => {
            let name = arn
                .or_else(|| {
                    let user = cow(id.user_name)?;
                    Some(Cow::Owned(format!(
                        "arn:aws:iam::{}:user/{user}",
                        account.as_deref().unwrap_or("unknown")
                    )))
                })
                .unwrap_or(Cow::Borrowed("(unknown IAM user)"));
            with(name, PrincipalKind::Human, uid, StrList::new())
        }
        Some("AssumedRole") | Some("Role") => {
            let ctx = id.session_context;
            let (role_arn, role_name, provider, source_identity) = match ctx {
                Some(c) => {
                    let (ra, rn) = c
                        .session_issuer
                        .map(|i| (cow(i.arn), cow(i.user_name)))
                        .unwrap_or((None, None));
                    let provider = c
                        .web_id_federation_data
                        .and_then(|w| cow(w.federated_provider));
                    (ra, rn, provider, cow(c.source_identity))
                }
                None => (None, None, None, None),
            };
            let web = provider.is_some();
            let session = arn
                .as_deref()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or("");
            let person = !web
                && (role_name
                    .as_deref()
                    .is_some_and(|r| r.starts_with("AWSReservedSSO_"))
                    || console
                    || session.contains('@')
                    || source_identity.is_some());
            // The role, and the identity provider a web-identity session came through
            // (`arn:aws:iam::<account>:oidc-provider/<host>`: a cluster's IRSA issuer, GitHub
            // Actions...), so rules and baselines can tell where the session's token came from.
            let groups: StrList<'a> = role_arn.clone().into_iter().chain(provider).collect();
            if person {
                let name = arn.or(role_arn).unwrap_or(Cow::Borrowed("(unknown role)"));
                with(name, PrincipalKind::Human, uid, groups)
            } else {
                let name = role_arn
                    .or(arn.clone())
                    .unwrap_or(Cow::Borrowed("(unknown role)"));
                with(name, PrincipalKind::ServiceAccount, arn.or(uid), groups)
            }
        }
        Some("FederatedUser") => with(
            arn.or(uid.clone())
                .unwrap_or(Cow::Borrowed("(unknown federated user)")),
            PrincipalKind::Human,
            uid,
            StrList::new(),
        ),
        Some("IdentityCenterUser") => {
            let user = id.on_behalf_of.and_then(|o| cow(o.user_id));
            with(
                user.or(arn)
                    .unwrap_or(Cow::Borrowed("(unknown Identity Center user)")),
                PrincipalKind::Human,
                uid,
                StrList::new(),
            )
        }
        Some("AWSService") => with(
            cow(id.invoked_by).unwrap_or(Cow::Borrowed("(unknown AWS service)")),
            PrincipalKind::SystemComponent,
            None,
            StrList::new(),
        ),
        Some("AWSAccount") => with(
            account
                .map(|a| Cow::Owned(format!("aws-account:{a}")))
                .or(uid.clone())
                .unwrap_or(Cow::Borrowed("(unknown account)")),
            PrincipalKind::Unknown,
            uid,
            StrList::new(),
        ),
        _ => match (cow(id.invoked_by), arn) {
            // Service events carry only the service that acted.
            (Some(service), _) => with(
                service,
                PrincipalKind::SystemComponent,
                None,
                StrList::new(),
            ),
            (None, Some(arn)) => with(arn, PrincipalKind::Unknown, uid, StrList::new()),
            (None, None) => unknown(Cow::Borrowed("(unknown)"), PrincipalKind::Unknown),
        },
    }
}

/// Parse CloudTrail input: one record, a `{"Records": [...]}` file, or an EventBridge event.
pub fn parse<'a>(text: &'a str, opts: &'a ParseOptions, out: &mut dyn FnMut(Parsed<'a>)) {
    let b = text.as_bytes();
    let f = &*FINDERS;
    if f.records.find(b).is_some() {
        match serde_json::from_str::<RawFile<'a>>(text) {
            Ok(file) => {
                for (i, r) in file.records.into_iter().enumerate() {
                    parse_record(r.get(), opts, &format!("Records[{i}]"), out);
                }
            }
            Err(e) => out(Parsed::Error(describe_error::<RawFile>(text, e, ""))),
        }
        return;
    }
    if f.detail_type.find(b).is_some() {
        match serde_json::from_str::<RawEventBridge<'a>>(text) {
            Ok(ev) => parse_record(ev.detail.get(), opts, "detail", out),
            Err(e) => out(Parsed::Error(describe_error::<RawEventBridge>(text, e, ""))),
        }
        return;
    }
    parse_record(text, opts, "", out);
}

/// One CloudTrail record; errors name fields under `prefix` (`Records[3].eventTime`).
pub fn parse_record<'a>(
    text: &'a str,
    opts: &'a ParseOptions,
    prefix: &str,
    out: &mut dyn FnMut(Parsed<'a>),
) {
    match record(text, opts, prefix, out) {
        Ok(()) => {}
        Err(e) => out(Parsed::Error(e)),
    }
}

fn record<'a>(
    text: &'a str,
    opts: &'a ParseOptions,
    prefix: &str,
    out: &mut dyn FnMut(Parsed<'a>),
) -> Result<(), ParseError> {
    let raw: RawRecord<'a> =
        serde_json::from_str(text).map_err(|e| describe_error::<RawRecord>(text, e, prefix))?;
    let source = raw
        .event_source
        .as_ref()
        .ok_or_else(|| ParseError::field(path(prefix, "eventSource"), "missing"))?;
    let event_name = raw.event_name.as_ref().map(Str::as_str).unwrap_or("");
    let Some(service) = service_of(source.as_str(), event_name) else {
        // A CloudTrail file holds every service's calls; only the allowlisted ones matter here.
        out(Parsed::Skipped);
        return Ok(());
    };
    let name = cow(raw.event_name)
        .ok_or_else(|| ParseError::field(path(prefix, "eventName"), "missing or empty"))?;
    let time_text = raw
        .event_time
        .as_ref()
        .ok_or_else(|| ParseError::field(path(prefix, "eventTime"), "missing"))?;
    let time = parse_rfc3339(time_text.as_str())
        .ok_or_else(|| ParseError::field(path(prefix, "eventTime"), NOT_RFC3339))?;
    let params: RawParams<'a> = match raw.request_parameters {
        Some(p) if p.get() != "null" => serde_json::from_str(p.get()).map_err(|e| {
            describe_error::<RawParams>(p.get(), e, &path(prefix, "requestParameters"))
        })?,
        _ => RawParams::default(),
    };
    let console = raw
        .session_credential_from_console
        .is_some_and(|v| matches!(v.get(), "true" | "\"true\""));
    let (outcome, status_code) = match raw.error_code.as_ref().map(Str::as_str) {
        None | Some("") => (Outcome::Allowed, None),
        Some(c) if c.starts_with("AccessDenied") || c == "UnauthorizedOperation" => {
            (Outcome::Denied, Some(403))
        }
        Some("ResourceNotFoundException") => (Outcome::Error, Some(404)),
        Some(_) => (Outcome::Error, None),
    };
    let reason = match (cow(raw.error_code), cow(raw.error_message)) {
        (Some(c), Some(m)) => Some(Cow::Owned(format!("{c}: {m}"))),
        (c, m) => c.or(m),
    };
    let account = cow(raw.recipient_account_id).or_else(|| {
        raw.user_identity
            .as_ref()
            .and_then(|u| cow(u.account_id.clone()))
    });
    let region = cow(raw.aws_region);
    let principal = principal_of(raw.user_identity, console);
    let (raw_copy, redactions) = redacted_raw(text, opts, redact_cloudtrail)?;
    let id = cow(raw.event_id).unwrap_or_else(|| derived_id("aws", text));

    let decrypted = params.with_decryption.as_ref().is_some_and(|v| {
        v.as_bool() == Some(true) || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
    });
    let names: SmallVec<[Option<Cow<'a, str>>; 1]> = match (params.secret_id_list, params.names) {
        (Some(list), _) | (None, Some(list)) if !list.is_empty() => {
            list.into_iter().map(|s| cow(Some(s))).collect()
        }
        _ => smallvec::smallvec![cow(params.secret_id)
            .or(cow(params.name))
            .or(cow(params.path))
            .or(cow(params.trail_name))
            .or(cow(params.cluster_name))],
    };
    let many = names.len() > 1;
    let (action, is_secret, resource) = match service {
        Service::SecretsManager => (
            action_of(&name),
            name.as_ref() != "GetRandomPassword",
            "secretsmanager",
        ),
        Service::Ssm => (other_action(service, &name, decrypted), true, "ssm"),
        Service::CloudTrail => (other_action(service, &name, decrypted), false, "cloudtrail"),
        Service::Eks => (other_action(service, &name, decrypted), false, "eks"),
    };
    // A read by path returns every parameter under it; listings and filtered batch reads reach
    // what their filters let through.
    let filtered = params
        .parameter_filters
        .as_deref()
        .or(params.filters.as_deref());
    let (scope, filtered_name) = match name.as_ref() {
        "GetParametersByPath" => (Scope::Namespace, None),
        "ListSecrets" | "DescribeParameters" => filtered_scope(filtered),
        "BatchGetSecretValue" if names.iter().all(Option::is_none) => filtered_scope(filtered),
        _ => (Scope::of_action(action), None),
    };
    let names = match filtered_name {
        Some(n) => smallvec::smallvec![Some(n)],
        None => names,
    };
    for (i, secret) in names.into_iter().enumerate() {
        let (region, account) = match secret.as_deref().and_then(secret_arn_scope) {
            Some((r, a)) => (Some(r.to_string()), Some(a.to_string())),
            None => (
                region.as_deref().map(str::to_string),
                account.as_deref().map(str::to_string),
            ),
        };
        let store = format!(
            "aws:{}:{}",
            account.as_deref().unwrap_or("unknown"),
            region.as_deref().unwrap_or("unknown")
        );
        out(Parsed::Event(AccessEvent {
            source: SourceSystem::Aws,
            id: if many {
                Cow::Owned(format!("{id}#{i}"))
            } else {
                id.clone()
            },
            time,
            principal: principal.clone(),
            source_ips: ip_only(cow(raw.source_ip.clone())).into_iter().collect(),
            user_agent: cow(raw.user_agent.clone()),
            action,
            scope,
            raw_action: name.clone(),
            target: Target {
                store: Cow::Owned(store),
                namespace: account.map(Cow::Owned),
                name: match secret.as_deref().and_then(secret_name_of_arn) {
                    Some(n) => Some(Cow::Owned(n.to_string())),
                    None => secret.clone(),
                },
                resource: Some(Cow::Borrowed(resource)),
                subresource: None,
                group: None,
                is_secret,
            },
            outcome,
            status_code,
            reason: reason.clone(),
            request_uri: None,
            redactions,
            raw: Cow::Owned(raw_copy.clone()),
            repeat: None,
        }));
    }
    Ok(())
}
