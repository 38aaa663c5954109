//! Azure resource logs: the `{"records": [...]}` array (storage blobs `insights-logs-*`, Event
//! Hubs messages) or one record. Key Vault `AuditEvent` records become events here; AKS
//! `kube-audit` / `kube-audit-admin` records go to [`crate::managed::aks`]; Activity log
//! records (`category: Administrative`, the control plane) are kept for the operations that
//! reach secrets or blind the logs (see [`activity`]); other categories are counted as skipped.
//!
//! Decisions: every Key Vault operation is an event (vault, key and certificate operations with
//! `is_secret` false); `SecretBackup` is a value read ([`Action::Read`]: the backup blob carries
//! the secret, encrypted, and restores into another vault); a caller with a `upn` claim is a
//! person, one with only `appid`/`oid` a service principal or managed identity; Key Vault logs
//! no record id, so `id` is derived from the record's text (`azure-<hash>`).

use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

use memchr::memmem;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::cloud::common::{cow, derived_id, ip_only, path, redacted_raw};
use crate::cloud::redact::redact_azure;
use crate::error::ParseError;
use crate::event::{
    AccessEvent, Action, Outcome, Principal, PrincipalKind, Scope, SourceSystem, Target,
};
use crate::json::{describe_error, Code, Str};
use crate::options::ParseOptions;
use crate::parser::Parsed;
use crate::redact::redact_uri;
use crate::time::{parse_rfc3339, NOT_RFC3339};

/// The identity claims Key Vault logs, by short name or claim URI.
#[derive(Default)]
pub(crate) struct Claims<'a> {
    upn: Option<Str<'a>>,
    oid: Option<Str<'a>>,
    appid: Option<Str<'a>>,
    unique_name: Option<Str<'a>>,
    idtyp: Option<Str<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Claims<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Claims<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of identity claims")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut c = Claims::default();
                while let Some(k) = m.next_key::<Str<'de>>()? {
                    // Claim URIs end in the short name (`.../claims/upn`).
                    let short = k.as_str().rsplit('/').next().unwrap_or("");
                    let slot = match short {
                        "upn" => &mut c.upn,
                        "oid" | "objectidentifier" => &mut c.oid,
                        "appid" => &mut c.appid,
                        "unique_name" => &mut c.unique_name,
                        "idtyp" => &mut c.idtyp,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    // A claim may be a list in some exports: the first value counts.
                    if let ClaimValue(Some(v)) = m.next_value::<ClaimValue<'de>>()? {
                        *slot = Some(v);
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A claim value: a string, or the first string of a list.
struct ClaimValue<'a>(Option<Str<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for ClaimValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum One<'a> {
            S(#[serde(borrow)] Str<'a>),
            L(#[serde(borrow)] Vec<Str<'a>>),
            Other(IgnoredAny),
        }
        Ok(ClaimValue(match One::deserialize(d)? {
            One::S(s) => Some(s),
            One::L(l) => l.into_iter().next(),
            One::Other(_) => None,
        }))
    }
}

#[derive(Deserialize)]
struct RawIdentity<'a> {
    /// `claim` in Key Vault's AuditEvent, `claims` in the Activity log.
    #[serde(borrow, default, alias = "claims")]
    claim: Option<Claims<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProperties<'a> {
    #[serde(borrow)]
    client_info: Option<Str<'a>>,
    #[serde(borrow)]
    request_uri: Option<Str<'a>>,
    #[serde(borrow)]
    id: Option<Str<'a>>,
    http_status_code: Option<Code>,
}

/// One Azure resource-log record; `properties` is read by category.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawRecord<'a> {
    #[serde(borrow)]
    pub time: Option<Str<'a>>,
    #[serde(borrow)]
    pub resource_id: Option<Str<'a>>,
    #[serde(borrow)]
    pub operation_name: Option<Str<'a>>,
    #[serde(borrow)]
    pub category: Option<Str<'a>>,
    #[serde(borrow)]
    result_signature: Option<Str<'a>>,
    #[serde(borrow)]
    result_description: Option<Str<'a>>,
    #[serde(borrow)]
    caller_ip_address: Option<Str<'a>>,
    /// Activity log: `Start`, `Accept`, `Success`, `Failure`.
    #[serde(borrow)]
    result_type: Option<Str<'a>>,
    /// Activity log: the caller's UPN or application id.
    #[serde(borrow)]
    caller: Option<Str<'a>>,
    #[serde(borrow)]
    identity: Option<RawIdentity<'a>>,
    #[serde(borrow)]
    pub properties: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawRecords<'a> {
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

static RECORDS: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\"records\""));

/// Parse Azure resource-log input: a `{"records": [...]}` array or one record.
pub fn parse<'a>(text: &'a str, opts: &'a ParseOptions, out: &mut dyn FnMut(Parsed<'a>)) {
    if RECORDS.find(text.as_bytes()).is_some() {
        match serde_json::from_str::<RawRecords<'a>>(text) {
            Ok(r) => {
                for (i, rec) in r.records.into_iter().enumerate() {
                    parse_record(rec.get(), opts, &format!("records[{i}]"), out);
                }
            }
            Err(e) => out(Parsed::Error(describe_error::<RawRecords>(text, e, ""))),
        }
        return;
    }
    parse_record(text, opts, "", out);
}

/// One record, by category.
pub fn parse_record<'a>(
    text: &'a str,
    opts: &'a ParseOptions,
    prefix: &str,
    out: &mut dyn FnMut(Parsed<'a>),
) {
    let rec: RawRecord<'a> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return out(Parsed::Error(describe_error::<RawRecord>(text, e, prefix))),
    };
    let category = rec
        .category
        .as_ref()
        .map(|c| c.as_str().to_ascii_lowercase());
    match category.as_deref() {
        Some("auditevent") => match key_vault(text, rec, opts, prefix) {
            Ok(ev) => out(Parsed::Event(ev)),
            Err(e) => out(Parsed::Error(e)),
        },
        Some("kube-audit" | "kube-audit-admin") => {
            crate::managed::aks::parse(rec, opts, prefix, out)
        }
        Some("administrative") => match activity(text, rec, opts, prefix) {
            Ok(Some(ev)) => out(Parsed::Event(ev)),
            Ok(None) => out(Parsed::Skipped),
            Err(e) => out(Parsed::Error(e)),
        },
        Some(_) => out(Parsed::Skipped),
        None => out(Parsed::Error(ParseError::field(
            path(prefix, "category"),
            "missing (expected AuditEvent, kube-audit or kube-audit-admin)",
        ))),
    }
}

/// Action of a Key Vault operation (`SecretGet`, `KeySign`, `VaultPut`...).
pub fn action_of(operation: &str) -> Action {
    let verb = ["Secret", "Key", "Certificate", "Vault"]
        .iter()
        .find_map(|p| operation.strip_prefix(p))
        .unwrap_or(operation);
    match verb {
        "Get" | "Backup" => Action::Read,
        v if v.starts_with("List") => Action::List,
        "Set"
        | "Update"
        | "Import"
        | "Recover"
        | "Patch"
        | "UpdatePolicy"
        | "UpdateRotationPolicy" => Action::Write,
        "Create" | "Restore" => Action::Create,
        "Delete" | "Purge" => Action::Delete,
        "Rotate" => Action::Rotate,
        "Put" | "AccessPolicyUpdate" => Action::Admin,
        _ if operation == "Authentication" => Action::Login,
        _ => Action::Other,
    }
}

/// Who a caller is from its claims (and the Activity log's `caller` when there are none): a
/// `upn` is a person, an `appid` a service principal or managed identity.
fn principal_of<'a>(claims: Claims<'a>, caller: Option<Cow<'a, str>>) -> Principal<'a> {
    let upn = cow(claims.upn).or_else(|| cow(claims.unique_name).filter(|u| u.contains('@')));
    let oid = cow(claims.oid);
    let app = cow(claims.appid);
    let app_token = cow(claims.idtyp).is_some_and(|t| t == "app");
    match (upn, app) {
        (Some(upn), _) if !app_token => Principal {
            uid: oid,
            ..Principal::named(upn, PrincipalKind::Human)
        },
        (_, Some(app)) => Principal {
            uid: oid,
            ..Principal::named(app, PrincipalKind::ServiceAccount)
        },
        (upn, None) => {
            let (name, kind) = match (upn, oid.clone(), caller) {
                (Some(n), _, _) => (n, PrincipalKind::Human),
                (None, _, Some(c)) if c.contains('@') => (c, PrincipalKind::Human),
                (None, _, Some(c)) => (c, PrincipalKind::ServiceAccount),
                (None, Some(o), None) => (o, PrincipalKind::Unknown),
                (None, None, None) => {
                    (Cow::Borrowed("(unauthenticated)"), PrincipalKind::Anonymous)
                }
            };
            Principal {
                uid: oid,
                ..Principal::named(name, kind)
            }
        }
    }
}

/// What an Activity-log operation is, when it is one secretwatch keeps: the resource kind it
/// names (`keyvault`, `diagnosticsettings`, `kubernetes-rbac`, `roleassignments`).
fn activity_kind(op: &str) -> Option<&'static str> {
    let op = op.to_ascii_lowercase();
    if op.starts_with("microsoft.keyvault/") {
        Some("keyvault")
    } else if op.contains("/diagnosticsettings/") {
        Some("diagnosticsettings")
    } else if (op.starts_with("microsoft.containerservice/managedclusters/")
        || op.starts_with("microsoft.kubernetes/connectedclusters/"))
        && op.contains("rbac.authorization.k8s.io")
    {
        Some("kubernetes-rbac")
    } else if op.starts_with("microsoft.authorization/roleassignments/") {
        Some("roleassignments")
    } else {
        None
    }
}

/// The action of an Activity-log operation, from its last segments.
fn activity_action(op: &str) -> Action {
    let op = op.to_ascii_lowercase();
    let tail = op.rsplit('/').next().unwrap_or("");
    if tail == "action" {
        let verb = op
            .trim_end_matches("/action")
            .rsplit('/')
            .next()
            .unwrap_or("");
        return match verb {
            "purge" => Action::Delete,
            "recover" | "restore" => Action::Create,
            "getsecret" | "backup" | "read" | "decrypt" | "unwrapkey" => Action::Read,
            _ => Action::Admin,
        };
    }
    match tail {
        "delete" => Action::Delete,
        "write" => Action::Write,
        "read" => Action::Read,
        _ => Action::Other,
    }
}

/// One Activity-log record (`category: Administrative`): Key Vault control-plane operations
/// (vaults, secrets, keys, certificates, their deletion, purge and recovery), diagnostic
/// settings (where every resource's logs go), Kubernetes RBAC objects written through AKS or
/// Arc, and Azure role assignments. `None` for every other operation, and for the `Start` record
/// of an operation whose `Success`/`Failure` follows.
fn activity<'a>(
    text: &'a str,
    rec: RawRecord<'a>,
    opts: &'a ParseOptions,
    prefix: &str,
) -> Result<Option<AccessEvent<'a>>, ParseError> {
    let operation = cow(rec.operation_name)
        .ok_or_else(|| ParseError::field(path(prefix, "operationName"), "missing or empty"))?;
    let Some(kind) = activity_kind(&operation) else {
        return Ok(None);
    };
    let result = rec
        .result_type
        .as_ref()
        .map(|r| r.as_str().to_ascii_lowercase());
    if result.as_deref() == Some("start") {
        return Ok(None);
    }
    let time_text = rec
        .time
        .as_ref()
        .ok_or_else(|| ParseError::field(path(prefix, "time"), "missing"))?;
    let time = parse_rfc3339(time_text.as_str())
        .ok_or_else(|| ParseError::field(path(prefix, "time"), NOT_RFC3339))?;
    let signature = cow(rec.result_signature);
    let status_code = signature.as_deref().and_then(|s| match s {
        "Forbidden" | "Forbidden.AuthorizationFailed" => Some(403),
        "Unauthorized" => Some(401),
        "NotFound" => Some(404),
        "OK" => Some(200),
        "Created" => Some(201),
        "Accepted" => Some(202),
        other => other.parse::<u16>().ok(),
    });
    let outcome = match (result.as_deref(), status_code) {
        (_, Some(401 | 403)) => Outcome::Denied,
        (Some("failure" | "failed"), _) => Outcome::Error,
        (Some("success" | "succeeded" | "accept" | "accepted"), _) => Outcome::Allowed,
        (_, Some(c)) if c >= 400 => Outcome::Error,
        (_, Some(_)) => Outcome::Allowed,
        _ => Outcome::Unknown,
    };
    let claims = rec.identity.and_then(|i| i.claim);
    let caller = cow(rec.caller);
    let principal = match (claims, caller) {
        (None, None) => Principal::named("(unknown)", PrincipalKind::Unknown),
        (claims, caller) => principal_of(claims.unwrap_or_default(), caller),
    };
    // `/subscriptions/S/resourceGroups/G/providers/Microsoft.KeyVault/vaults/V/secrets/N`.
    let rid = rec.resource_id.as_ref().map(Str::as_str).unwrap_or("");
    let segs: Vec<&str> = rid.split('/').filter(|s| !s.is_empty()).collect();
    let after = |key: &str| {
        segs.iter()
            .position(|s| s.eq_ignore_ascii_case(key))
            .and_then(|i| segs.get(i + 1).copied())
    };
    let container = after("vaults")
        .or_else(|| after("deletedVaults"))
        .or_else(|| after("managedClusters"))
        .or_else(|| after("connectedClusters"))
        .or_else(|| after("subscriptions"))
        .map(str::to_ascii_lowercase);
    let name = match kind {
        "keyvault" => after("secrets")
            .or_else(|| after("keys"))
            .or_else(|| after("certificates"))
            .or_else(|| after("deletedsecrets")),
        _ => segs.last().copied(),
    }
    .map(str::to_string);
    let action = activity_action(&operation);
    let is_secret = kind == "keyvault";
    let (raw_copy, redactions) = redacted_raw(text, opts, redact_azure)?;
    Ok(Some(AccessEvent {
        source: SourceSystem::Azure,
        id: derived_id("azure", text),
        time,
        principal,
        source_ips: ip_only(cow(rec.caller_ip_address)).into_iter().collect(),
        user_agent: None,
        action,
        scope: Scope::of_action(action),
        raw_action: operation,
        target: Target {
            store: Cow::Owned(format!(
                "azure:{}",
                container.as_deref().unwrap_or("unknown")
            )),
            namespace: container.map(Cow::Owned),
            name: name.map(Cow::Owned),
            resource: Some(Cow::Borrowed(kind)),
            subresource: None,
            group: None,
            is_secret,
        },
        outcome,
        status_code,
        reason: cow(rec.result_description).or(signature),
        request_uri: None,
        redactions,
        raw: Cow::Owned(raw_copy),
        repeat: None,
    }))
}

/// `https://<vault>.vault.azure.net/secrets/<name>/<version>` -> (vault, secret name).
fn vault_and_secret(uri: &str) -> (Option<&str>, Option<&str>) {
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let mut segs = rest.split('/');
    let host = segs.next().unwrap_or("");
    let vault = host
        .split('.')
        .next()
        .filter(|v| !v.is_empty() && host.contains('.'));
    let mut secret = None;
    let mut prev = "";
    for s in segs {
        if matches!(prev, "secrets" | "deletedsecrets") && !s.is_empty() {
            secret = Some(s);
            break;
        }
        prev = s;
    }
    (vault, secret)
}

fn key_vault<'a>(
    text: &'a str,
    rec: RawRecord<'a>,
    opts: &'a ParseOptions,
    prefix: &str,
) -> Result<AccessEvent<'a>, ParseError> {
    let operation = cow(rec.operation_name)
        .ok_or_else(|| ParseError::field(path(prefix, "operationName"), "missing or empty"))?;
    let time_text = rec
        .time
        .as_ref()
        .ok_or_else(|| ParseError::field(path(prefix, "time"), "missing"))?;
    let time = parse_rfc3339(time_text.as_str())
        .ok_or_else(|| ParseError::field(path(prefix, "time"), NOT_RFC3339))?;
    let props: Option<RawProperties<'a>> = match rec.properties {
        Some(p) => Some(serde_json::from_str(p.get()).map_err(|e| {
            describe_error::<RawProperties>(p.get(), e, &path(prefix, "properties"))
        })?),
        None => None,
    };
    let (client_info, request_uri, secret_uri, http) = match props {
        Some(p) => (
            cow(p.client_info),
            cow(p.request_uri),
            cow(p.id),
            p.http_status_code.map(|c| c.0),
        ),
        None => (None, None, None, None),
    };
    let signature = cow(rec.result_signature);
    let status_code = http.or(match signature.as_deref() {
        Some("OK") => Some(200),
        Some("Accepted") => Some(202),
        Some("NoContent") => Some(204),
        Some("BadRequest") => Some(400),
        Some("Unauthorized") => Some(401),
        Some("Forbidden") => Some(403),
        Some("NotFound") => Some(404),
        Some("Conflict") => Some(409),
        Some("TooManyRequests") => Some(429),
        _ => None,
    });
    let outcome = match status_code {
        Some(401 | 403) => Outcome::Denied,
        Some(c) if c >= 400 => Outcome::Error,
        Some(_) => Outcome::Allowed,
        None => Outcome::Unknown,
    };

    let claims = rec.identity.and_then(|i| i.claim).unwrap_or_default();
    let principal = principal_of(claims, None);

    let (uri_vault, uri_secret) = secret_uri
        .as_deref()
        .map(vault_and_secret)
        .filter(|(v, _)| v.is_some())
        .or_else(|| request_uri.as_deref().map(vault_and_secret))
        .unwrap_or((None, None));
    let vault = uri_vault.map(str::to_ascii_lowercase).or_else(|| {
        let rid = rec.resource_id.as_ref()?.as_str();
        let upper = rid.to_ascii_uppercase();
        let at = upper.find("/VAULTS/")? + "/VAULTS/".len();
        rid[at..].split('/').next().map(str::to_ascii_lowercase)
    });
    let secret = uri_secret.map(|s| s.to_string());
    let is_secret = operation.starts_with("Secret");
    let (raw_copy, redactions) = redacted_raw(text, opts, redact_azure)?;
    let request_uri = request_uri.map(|u| match redact_uri(&u) {
        Some(clean) => Cow::Owned(clean),
        None => u,
    });
    Ok(AccessEvent {
        source: SourceSystem::Azure,
        id: derived_id("azure", text),
        time,
        principal,
        source_ips: ip_only(cow(rec.caller_ip_address)).into_iter().collect(),
        user_agent: client_info,
        action: action_of(&operation),
        scope: Scope::of_action(action_of(&operation)),
        raw_action: operation,
        target: Target {
            store: Cow::Owned(format!("azure:{}", vault.as_deref().unwrap_or("unknown"))),
            namespace: vault.map(Cow::Owned),
            name: secret.map(Cow::Owned),
            resource: Some(Cow::Borrowed("keyvault")),
            subresource: None,
            group: None,
            is_secret,
        },
        outcome,
        status_code,
        reason: cow(rec.result_description).or(signature),
        request_uri,
        redactions,
        raw: Cow::Owned(raw_copy),
        repeat: None,
    })
}
