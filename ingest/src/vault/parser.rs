//! Borrowing parser of one Vault audit entry into an [`AccessEvent`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use smallvec::SmallVec;

use crate::event::{
    AccessEvent, Action, Outcome, Principal, PrincipalKind, Redactions, Scope, SourceSystem,
    StrList, Target, VaultIdentity,
};
use crate::json::{describe_error, Str};
use crate::options::ParseOptions;
use crate::redact;
use crate::time::{parse_rfc3339, NOT_RFC3339};
use crate::ParseError;

const HMAC_PREFIX: &str = "hmac-sha256:";

#[derive(Deserialize, Default)]
struct RawMetadata<'a> {
    #[serde(borrow)]
    role: Option<Str<'a>>,
    /// AppRole logins: the role.
    #[serde(borrow)]
    role_name: Option<Str<'a>>,
    #[serde(borrow)]
    service_account_name: Option<Str<'a>>,
    #[serde(borrow)]
    service_account_namespace: Option<Str<'a>>,
    #[serde(borrow)]
    service_account_uid: Option<Str<'a>>,
    #[serde(borrow)]
    username: Option<Str<'a>>,
    #[serde(borrow)]
    email: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct RawAuth<'a> {
    #[serde(borrow)]
    client_token: Option<Str<'a>>,
    #[serde(borrow)]
    accessor: Option<Str<'a>>,
    #[serde(borrow)]
    display_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    policies: SmallVec<[Str<'a>; 4]>,
    #[serde(borrow, default)]
    token_policies: SmallVec<[Str<'a>; 4]>,
    #[serde(borrow)]
    metadata: Option<RawMetadata<'a>>,
    #[serde(borrow)]
    entity_id: Option<Str<'a>>,
    #[serde(borrow)]
    token_type: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct RawNamespace<'a> {
    #[serde(borrow)]
    path: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct RawRequest<'a> {
    #[serde(borrow)]
    id: Option<Str<'a>>,
    #[serde(borrow)]
    operation: Option<Str<'a>>,
    #[serde(borrow)]
    mount_type: Option<Str<'a>>,
    #[serde(borrow)]
    mount_point: Option<Str<'a>>,
    #[serde(borrow)]
    namespace: Option<RawNamespace<'a>>,
    #[serde(borrow)]
    path: Option<Str<'a>>,
    #[serde(borrow)]
    remote_address: Option<Str<'a>>,
    #[serde(borrow)]
    client_token: Option<Str<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawResponse<'a> {
    #[serde(borrow)]
    auth: Option<RawAuth<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
    #[serde(borrow)]
    wrap_info: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(borrow)]
    time: Option<Str<'a>>,
    #[serde(borrow, rename = "type")]
    kind: Str<'a>,
    #[serde(borrow)]
    auth: Option<RawAuth<'a>>,
    #[serde(borrow)]
    request: Option<RawRequest<'a>>,
    #[serde(borrow)]
    response: Option<RawResponse<'a>>,
    #[serde(borrow)]
    error: Option<Str<'a>>,
}

/// Request or response entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    Request,
    Response,
}

/// One parsed entry.
#[derive(Debug)]
pub struct VaultEntry<'a> {
    pub entry_type: EntryType,
    pub event: AccessEvent<'a>,
    /// A KMIP entry (`kmip-request`/`kmip-response`).
    pub kmip: bool,
    /// The record had no `request.id`; `event.id` was derived from its content (no pairing).
    pub derived_id: bool,
    /// The probe every audit device is sent when it is enabled (`sys/audit/test`, with no
    /// token, no client address and no response): not an access, not a change of the audit.
    pub self_test: bool,
}

fn cow(s: Option<Str<'_>>) -> Option<Cow<'_, str>> {
    s.map(Str::into_cow).filter(|c| !c.is_empty())
}

fn action_of(operation: &str, path: &str) -> Action {
    let p = path.trim_start_matches('/');
    if p.starts_with("auth/") && (p.contains("/login") || p.ends_with("/login")) {
        return Action::Login;
    }
    if p.contains("rotate") {
        return Action::Rotate;
    }
    if let Some(sys) = p.strip_prefix("sys/") {
        const ADMIN: [&str; 12] = [
            "audit",
            "policy",
            "policies",
            "mounts",
            "auth",
            "generate-root",
            "rekey",
            "seal",
            "unseal",
            "raw",
            "replication",
            "config",
        ];
        return if ADMIN.iter().any(|a| {
            sys == *a || sys.starts_with(&format!("{a}/")) || sys.starts_with(&format!("{a}-"))
        }) {
            Action::Admin
        } else {
            Action::Other
        };
    }
    match operation {
        "read" => Action::Read,
        "list" => Action::List,
        "create" => Action::Create,
        "update" | "patch" => Action::Write,
        "delete" => Action::Delete,
        _ => Action::Other,
    }
}

/// Secret engines whose reads hand out credentials.
fn is_secret_path(path: &str, mount_type: Option<&str>) -> bool {
    let p = path.trim_start_matches('/');
    if p.starts_with("sys/") || p.starts_with("auth/") || p.starts_with("identity/") {
        return false;
    }
    match mount_type {
        Some(
            "kv" | "generic" | "database" | "aws" | "azure" | "gcp" | "ssh" | "totp" | "cubbyhole"
            | "kubernetes" | "ldap" | "consul" | "nomad" | "rabbitmq" | "terraform",
        ) => true,
        Some(_) => false,
        None => p.starts_with("secret/") || p.contains("/creds/") || p.starts_with("cubbyhole/"),
    }
}

fn is_clear_token(t: &Option<Str<'_>>) -> bool {
    t.as_ref()
        .is_some_and(|s| !s.as_str().is_empty() && !s.as_str().starts_with(HMAC_PREFIX))
}

/// Whether any string value in a JSON body is not HMAC'd.
fn has_clear_strings(raw: Option<&RawValue>) -> bool {
    let Some(raw) = raw else { return false };
    let text = raw.get();
    // Fast path: no string that could be a clear value.
    if !text.contains('"') {
        return false;
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => value_has_clear_string(&v),
        Err(_) => true,
    }
}

fn value_has_clear_string(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => !s.is_empty() && !redact::vault_leaves_plain(s),
        serde_json::Value::Array(a) => a.iter().any(value_has_clear_string),
        serde_json::Value::Object(m) => m.values().any(value_has_clear_string),
        _ => false,
    }
}

/// Parse one Vault audit entry.
pub fn parse_entry<'a>(
    text: &'a str,
    opts: &'a ParseOptions,
) -> Result<VaultEntry<'a>, ParseError> {
    let raw: RawEntry<'a> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => return Err(describe_error::<RawEntry>(text, e, "")),
    };
    let kmip = raw.kind.as_str().starts_with("kmip-");
    let entry_type = match raw.kind.as_str() {
        "request" | "kmip-request" => EntryType::Request,
        "response" | "kmip-response" => EntryType::Response,
        _ => return Err(ParseError::field(
            "type",
            "unknown Vault entry type (expected request, response, kmip-request or kmip-response)",
        )),
    };
    let time_text = raw
        .time
        .as_ref()
        .ok_or_else(|| ParseError::field("time", "missing"))?;
    let time =
        parse_rfc3339(time_text.as_str()).ok_or_else(|| ParseError::field("time", NOT_RFC3339))?;
    let request = raw
        .request
        .ok_or_else(|| ParseError::field("request", "missing"))?;
    // KMIP entries (and some old ones) have no request id: a stable one is derived from the
    // record itself, and the entry cannot be paired.
    let (id, derived_id) = match cow(request.id) {
        Some(id) => (id, false),
        None => {
            let prefix = if kmip { "kmip" } else { "vault" };
            (
                Cow::Owned(format!("{prefix}-{:016x}", fnv1a(text.as_bytes()))),
                true,
            )
        }
    };

    // Redaction needed? Tokens in clear, or data/header values Vault did not HMAC.
    let resp = raw.response;
    let needs_redaction = is_clear_token(&request.client_token)
        || raw
            .auth
            .as_ref()
            .is_some_and(|a| is_clear_token(&a.client_token))
        || resp
            .as_ref()
            .and_then(|r| r.auth.as_ref())
            .is_some_and(|a| is_clear_token(&a.client_token))
        || resp.as_ref().is_some_and(|r| r.wrap_info.is_some())
        || has_clear_strings(request.data)
        || has_clear_strings(request.headers)
        || resp
            .as_ref()
            .is_some_and(|r| has_clear_strings(r.data) || has_clear_strings(r.headers))
        || text.len() > opts.raw_max_bytes;

    // Principal: the request's token; for a login, the identity the response created.
    let auth = match raw.auth {
        Some(a) if a.display_name.is_some() || a.entity_id.is_some() || !a.policies.is_empty() => {
            Some(a)
        }
        _ => resp.and_then(|r| r.auth),
    };
    let path = cow(request.path).unwrap_or(Cow::Borrowed(""));
    let operation = cow(request.operation).unwrap_or(Cow::Borrowed("unknown"));
    let mount_type = cow(request.mount_type);
    let principal = principal_of(auth);

    let outcome = match raw.error.as_ref().map(Str::as_str) {
        None | Some("") => {
            if entry_type == EntryType::Response {
                Outcome::Allowed
            } else {
                Outcome::Unknown
            }
        }
        Some(e) if e.contains("permission denied") => Outcome::Denied,
        Some(_) => Outcome::Error,
    };
    let status_code = match outcome {
        Outcome::Denied => Some(403),
        _ => None,
    };

    let mut redactions = Redactions::default();
    let raw_copy = if needs_redaction {
        let mut v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ParseError::json(&e))?;
        redactions.insert(redact::redact_vault_entry(&mut v));
        Cow::Owned(redact::bound_raw(v, opts.raw_max_bytes, &mut redactions))
    } else {
        Cow::Borrowed(text.trim())
    };

    // The device self-test: Vault's and OpenBao's `vault/audit.go` build it in
    // `generateAuditTestProbe` (path `sys/audit/test`, update, no client token or address).
    let self_test = path == "sys/audit/test"
        && operation == "update"
        && request.remote_address.is_none()
        && principal.name == "(unauthenticated)";
    let remote = cow(request.remote_address).map(|addr| strip_port(addr));
    let action = action_of(&operation, &path);
    let is_secret = is_secret_path(&path, mount_type.as_deref());
    let event = AccessEvent {
        source: SourceSystem::Vault,
        id,
        time,
        principal,
        source_ips: remote.into_iter().collect(),
        user_agent: None,
        action,
        scope: Scope::of_action(action),
        raw_action: operation,
        target: Target {
            store: Cow::Borrowed(&opts.vault),
            namespace: request.namespace.and_then(|n| cow(n.path)),
            name: Some(path.clone()),
            resource: mount_type,
            subresource: None,
            group: cow(request.mount_point),
            is_secret,
        },
        outcome,
        status_code,
        reason: cow(raw.error),
        request_uri: Some(path),
        redactions,
        raw: raw_copy,
        repeat: None,
    };
    Ok(VaultEntry {
        entry_type,
        event,
        kmip,
        derived_id,
        self_test,
    })
}

/// FNV-1a, 64 bit: a stable id for records that have none.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `remote_address` may carry `:port` (IPv4) or be a bare IPv6 address.
fn strip_port(addr: Cow<'_, str>) -> Cow<'_, str> {
    let cut = match addr.rfind(':') {
        Some(i) if addr.matches(':').count() == 1 => Some(i),
        _ => None,
    };
    match (cut, addr) {
        (Some(i), Cow::Borrowed(b)) => Cow::Borrowed(&b[..i]),
        (Some(i), Cow::Owned(o)) => Cow::Owned(o[..i].to_string()),
        (None, a) => a,
    }
}

fn principal_of(auth: Option<RawAuth<'_>>) -> Principal<'_> {
    let Some(a) = auth else {
        return Principal {
            name: Cow::Borrowed("(unauthenticated)"),
            kind: PrincipalKind::Anonymous,
            uid: None,
            groups: StrList::new(),
            namespace: None,
            vault: None,
            acting_as: None,
            node: None,
        };
    };
    let mut policies: StrList = a.policies.into_iter().map(Str::into_cow).collect();
    for p in a.token_policies {
        if !policies.contains(p.as_str()) {
            policies.push(p.into_cow());
        }
    }
    let root = policies.contains("root");
    let meta = a.metadata.unwrap_or_default();
    let display = cow(a.display_name);
    let sa_name = cow(meta.service_account_name);
    let sa_ns = cow(meta.service_account_namespace);
    let human_id = cow(meta.username).or(cow(meta.email));
    let display_str = display.as_deref().unwrap_or("");
    let kind = if root {
        PrincipalKind::Token
    } else if sa_name.is_some() {
        PrincipalKind::ServiceAccount
    } else if human_id.is_some()
        || [
            "oidc-",
            "ldap-",
            "userpass-",
            "okta-",
            "github-",
            "jwt-",
            "radius-",
            "saml-",
        ]
        .iter()
        .any(|p| display_str.starts_with(p))
    {
        PrincipalKind::Human
    } else if display_str.starts_with("approle")
        || display_str.starts_with("cert-")
        || display_str.starts_with("aws-")
    {
        PrincipalKind::ServiceAccount
    } else if display_str.is_empty() {
        PrincipalKind::Unknown
    } else {
        PrincipalKind::Token
    };
    // Vault names every AppRole token `approle` whatever its role (`builtin/credential/approle`
    // sets no display name; the core prefixes the mount's path); only AppRole puts the role in
    // `auth.metadata.role_name` (Kubernetes and JWT auth use `role`). One principal per role:
    // `approle-<role>`.
    let role_name = cow(meta.role_name.clone());
    let name = match (display.as_deref(), &role_name) {
        // The display name is the mount's path (`approle`, or `ci-approle` for another mount).
        (Some(d), Some(r)) => Cow::Owned(format!("{d}-{r}")),
        _ => display
            .clone()
            .or_else(|| cow(a.entity_id.clone()))
            .unwrap_or(Cow::Borrowed("(unknown)")),
    };
    // Kubernetes auth (`vault-plugin-auth-kubernetes`, path_login.go): the token's metadata
    // names the service account it was issued to.
    let service_account = match (&sa_ns, &sa_name) {
        (Some(ns), Some(sa)) => Some(Cow::Owned(format!("system:serviceaccount:{ns}:{sa}"))),
        _ => None,
    };
    Principal {
        name,
        kind,
        uid: cow(meta.service_account_uid).or_else(|| cow(a.entity_id.clone())),
        groups: StrList::new(),
        namespace: sa_ns,
        vault: Some(Box::new(VaultIdentity {
            display_name: display,
            entity_id: cow(a.entity_id),
            accessor: cow(a.accessor),
            policies,
            token_type: cow(a.token_type),
            role: cow(meta.role).or(role_name),
            root,
            service_account,
        })),
        acting_as: None,
        node: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static OPTS: LazyLock<ParseOptions> = LazyLock::new(ParseOptions::default);

    const READ: &str = r#"{"time":"2026-11-02T09:00:00.5Z","type":"response","auth":{"client_token":"hmac-sha256:aa","accessor":"hmac-sha256:bb","display_name":"kubernetes-prod-payments","policies":["default","payments-prod"],"metadata":{"role":"payments-prod","service_account_name":"payments","service_account_namespace":"prod","service_account_uid":"u-1"},"entity_id":"e-1","token_type":"service"},"request":{"id":"req-1","operation":"read","mount_type":"kv","mount_point":"secret/","client_token":"hmac-sha256:aa","namespace":{"id":"root"},"path":"secret/data/prod/payments/db","remote_address":"10.42.3.4","remote_port":41000},"response":{"mount_type":"kv","data":{"data":{"password":"hmac-sha256:cc"}}}}"#;

    #[test]
    fn kv_read_by_kubernetes_auth() {
        let e = parse_entry(READ, &OPTS).unwrap();
        assert_eq!(e.entry_type, EntryType::Response);
        let ev = e.event;
        assert_eq!(ev.id, "req-1");
        assert_eq!(ev.principal.name, "kubernetes-prod-payments");
        assert_eq!(ev.principal.kind, PrincipalKind::ServiceAccount);
        assert_eq!(ev.principal.namespace.as_deref(), Some("prod"));
        let v = ev.principal.vault.as_ref().unwrap();
        assert_eq!(v.role.as_deref(), Some("payments-prod"));
        assert!(!v.root);
        assert_eq!(ev.action, Action::Read);
        assert!(ev.target.is_secret);
        assert_eq!(
            ev.target.name.as_deref(),
            Some("secret/data/prod/payments/db")
        );
        assert_eq!(ev.target.group.as_deref(), Some("secret/"));
        assert_eq!(ev.outcome, Outcome::Allowed);
        assert_eq!(ev.source_ips.iter().collect::<Vec<_>>(), ["10.42.3.4"]);
        assert!(ev.redactions.is_empty());
        assert!(matches!(ev.raw, Cow::Borrowed(_)));
    }

    #[test]
    fn root_token_and_denials() {
        let text = READ.replace(r#""policies":["default","payments-prod"]"#, r#""policies":["root"]"#).replace(r#""display_name":"kubernetes-prod-payments""#, r#""display_name":"root""#).replace(r#""metadata":{"role":"payments-prod","service_account_name":"payments","service_account_namespace":"prod","service_account_uid":"u-1"},"#, "");
        let ev = parse_entry(&text, &OPTS).unwrap().event;
        assert_eq!(ev.principal.kind, PrincipalKind::Token);
        assert!(ev.principal.vault.as_ref().unwrap().root);
        let denied = READ.replace(
            r#""type":"response""#,
            r#""type":"response","error":"1 error occurred:\n\t* permission denied\n\n""#,
        );
        let ev = parse_entry(&denied, &OPTS).unwrap().event;
        assert_eq!(ev.outcome, Outcome::Denied);
        assert_eq!(ev.status_code, Some(403));
    }

    #[test]
    fn clear_tokens_and_values_are_redacted() {
        let text = READ
            .replace(
                r#""client_token":"hmac-sha256:aa","accessor""#,
                r#""client_token":"hvs.CANARYtokenVALUE1234567890","accessor""#,
            )
            .replace(
                r#""password":"hmac-sha256:cc""#,
                r#""password":"canary-clear-value""#,
            );
        let ev = parse_entry(&text, &OPTS).unwrap().event;
        assert!(ev.redactions.contains(Redactions::TOKEN));
        assert!(ev.redactions.contains(Redactions::VAULT_CLEAR_VALUE));
        assert!(!ev.raw.contains("CANARYtoken") && !ev.raw.contains("canary-clear-value"));
    }

    #[test]
    fn actions() {
        assert_eq!(action_of("update", "auth/kubernetes/login"), Action::Login);
        assert_eq!(action_of("delete", "sys/audit/file"), Action::Admin);
        assert_eq!(action_of("update", "sys/policies/acl/admin"), Action::Admin);
        assert_eq!(action_of("update", "sys/capabilities-self"), Action::Other);
        assert_eq!(
            action_of("update", "database/rotate-root/pg"),
            Action::Rotate
        );
        assert_eq!(action_of("list", "secret/metadata/prod"), Action::List);
        assert_eq!(action_of("update", "secret/data/prod/x"), Action::Write);
    }

    #[test]
    fn missing_id_is_derived_missing_request_is_named() {
        let text = READ.replace(r#""id":"req-1","#, "");
        let e = parse_entry(&text, &OPTS).unwrap();
        assert!(e.derived_id && e.event.id.starts_with("vault-"));
        assert_eq!(e.event.id, parse_entry(&text, &OPTS).unwrap().event.id);
        let e = parse_entry(
            r#"{"time":"2026-11-02T09:00:00Z","type":"response"}"#,
            &OPTS,
        )
        .unwrap_err();
        assert_eq!(e.field_name(), Some("request"));
        assert_eq!(
            strip_port(Cow::Borrowed("192.168.0.10:36776")),
            "192.168.0.10"
        );
        assert_eq!(strip_port(Cow::Borrowed("2001:db8::1")), "2001:db8::1");
    }
}
