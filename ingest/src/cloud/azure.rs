//! Azure resource logs: the `{"records": [...]}` array (storage blobs `insights-logs-*`, Event
//! Hubs messages) or one record. Key Vault `AuditEvent` records become events here; AKS
//! `kube-audit` / `kube-audit-admin` records go to [`crate::managed::aks`]; other categories
//! are counted as skipped.
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
    AccessEvent, Action, Outcome, Principal, PrincipalKind, Scope, SourceSystem, StrList, Target,
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
    #[serde(borrow, default)]
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
    let upn = cow(claims.upn).or_else(|| cow(claims.unique_name).filter(|u| u.contains('@')));
    let oid = cow(claims.oid);
    let app = cow(claims.appid);
    let app_token = cow(claims.idtyp).is_some_and(|t| t == "app");
    let principal = match (upn, app) {
        (Some(upn), _) if !app_token => Principal {
            name: upn,
            kind: PrincipalKind::Human,
            uid: oid,
            groups: StrList::new(),
            namespace: None,
            vault: None,
            acting_as: None,
        },
        (_, Some(app)) => Principal {
            name: app,
            kind: PrincipalKind::ServiceAccount,
            uid: oid,
            groups: StrList::new(),
            namespace: None,
            vault: None,
            acting_as: None,
        },
        (upn, None) => {
            let (name, kind) = match (upn, oid.clone()) {
                (Some(n), _) => (n, PrincipalKind::Human),
                (None, Some(o)) => (o, PrincipalKind::Unknown),
                (None, None) => (Cow::Borrowed("(unauthenticated)"), PrincipalKind::Anonymous),
            };
            Principal {
                name,
                kind,
                uid: oid,
                groups: StrList::new(),
                namespace: None,
                vault: None,
                acting_as: None,
            }
        }
    };

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
