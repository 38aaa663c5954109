//! The normalized access event: the one model every later stage reads.
//!
//! Strings borrow from the input line where they can (`Cow<'a, str>`), so the
//! scan path parses without copying; [`AccessEvent::into_owned`] makes a
//! `'static` event for channels and stores.

use std::borrow::Cow;
use std::fmt;

pub use crate::strlist::StrList;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};

/// The system an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceSystem {
    Kubernetes,
    Vault,
    Aws,
    Azure,
    Gcp,
}

impl SourceSystem {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceSystem::Kubernetes => "kubernetes",
            SourceSystem::Vault => "vault",
            SourceSystem::Aws => "aws",
            SourceSystem::Azure => "azure",
            SourceSystem::Gcp => "gcp",
        }
    }
}

impl fmt::Display for SourceSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of identity acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    Human,
    ServiceAccount,
    Node,
    Anonymous,
    SystemComponent,
    /// A bare token with no identity behind it (e.g. a Vault root token).
    Token,
    Unknown,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Human => "human",
            PrincipalKind::ServiceAccount => "service_account",
            PrincipalKind::Node => "node",
            PrincipalKind::Anonymous => "anonymous",
            PrincipalKind::SystemComponent => "system_component",
            PrincipalKind::Token => "token",
            PrincipalKind::Unknown => "unknown",
        }
    }
}

/// Normalized action; the raw verb/operation is kept beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Read,
    List,
    Write,
    Create,
    Delete,
    Rotate,
    Login,
    Admin,
    Other,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::List => "list",
            Action::Write => "write",
            Action::Create => "create",
            Action::Delete => "delete",
            Action::Rotate => "rotate",
            Action::Login => "login",
            Action::Admin => "admin",
            Action::Other => "other",
        }
    }
}

/// How much of a resource a request reaches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One named object: a `get`/`update`/`delete`..., or a `list`/`watch` selected by name.
    #[default]
    Object,
    /// A `list`/`watch` narrowed by a label or field selector (not to one name).
    Selected,
    /// Every object of the resource in one namespace.
    Namespace,
    /// Every object of the resource in every namespace.
    Cluster,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Object => "object",
            Scope::Selected => "selected",
            Scope::Namespace => "namespace",
            Scope::Cluster => "cluster",
        }
    }

    /// The scope of a source without selectors: a list reaches a collection, the rest one object.
    pub fn of_action(action: Action) -> Scope {
        match action {
            Action::List => Scope::Namespace,
            _ => Scope::Object,
        }
    }

    /// True for the scopes that return many objects at once.
    pub fn is_collection(self) -> bool {
        matches!(self, Scope::Namespace | Scope::Cluster)
    }
}

/// Whether the access was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allowed,
    Denied,
    Error,
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
            Outcome::Unknown => "unknown",
        }
    }
}

/// Vault token facts (all as Vault logged them; tokens themselves are never kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VaultIdentity<'a> {
    pub display_name: Option<Cow<'a, str>>,
    pub entity_id: Option<Cow<'a, str>>,
    /// Token accessor, usually `hmac-sha256:...`.
    pub accessor: Option<Cow<'a, str>>,
    pub policies: StrList<'a>,
    pub token_type: Option<Cow<'a, str>>,
    /// `auth.metadata.role` (Kubernetes/AppRole auth role).
    pub role: Option<Cow<'a, str>>,
    /// Whether the token carries the `root` policy.
    pub root: bool,
    /// Kubernetes auth: the service account the token was issued to, as the Kubernetes API
    /// names it (`system:serviceaccount:<namespace>:<name>`, from `auth.metadata`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<Cow<'a, str>>,
}

/// Another identity involved: the one impersonated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impersonation<'a> {
    /// The identity acted as.
    pub name: Cow<'a, str>,
    pub groups: StrList<'a>,
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Principal<'a> {
    /// The authenticated identity (Kubernetes `user.username`, Vault `auth.display_name`).
    pub name: Cow<'a, str>,
    pub kind: PrincipalKind,
    pub uid: Option<Cow<'a, str>>,
    pub groups: StrList<'a>,
    /// Namespace of a service account.
    pub namespace: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault: Option<Box<VaultIdentity<'a>>>,
    /// Set when this principal acted as someone else (Kubernetes impersonation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acting_as: Option<Box<Impersonation<'a>>>,
    /// The node a pod-bound service-account token was issued for: Kubernetes `user.extra`
    /// `authentication.kubernetes.io/node-name` (set by the API server for tokens bound to a
    /// pod, `pkg/serviceaccount/claims.go`; Kubernetes 1.30 and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<Cow<'a, str>>,
}

impl Principal<'_> {
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.contains(group)
    }
}

/// What was touched.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Target<'a> {
    /// Cluster name, Vault address and mount, or cloud account.
    pub store: Cow<'a, str>,
    pub namespace: Option<Cow<'a, str>>,
    /// Secret (or other object) name, or Vault path.
    pub name: Option<Cow<'a, str>>,
    /// Kubernetes resource (`secrets`, `pods`) or Vault mount type (`kv`).
    pub resource: Option<Cow<'a, str>>,
    pub subresource: Option<Cow<'a, str>>,
    /// Kubernetes API group ("" is core); Vault mount point.
    pub group: Option<Cow<'a, str>>,
    /// True when the target holds credentials (Secrets, token requests, Vault secret engines).
    pub is_secret: bool,
}

/// What was redacted from this event at ingest (bit set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Redactions(pub u16);

impl Redactions {
    /// Secret `data`/`stringData` (or other body values of a Secret) were in the event.
    pub const SECRET_BODY: Redactions = Redactions(1);
    /// A bearer/Vault/service-account token in clear.
    pub const TOKEN: Redactions = Redactions(1 << 1);
    /// Vault `data` values not HMAC'd (audit device with `log_raw`).
    pub const VAULT_CLEAR_VALUE: Redactions = Redactions(1 << 2);
    /// A credential in a request URI query.
    pub const URI_CREDENTIAL: Redactions = Redactions(1 << 3);
    /// A header value (Authorization, X-Vault-Token...).
    pub const HEADER: Redactions = Redactions(1 << 4);
    /// Credential-looking values in a non-Secret body (e.g. a ConfigMap `password` key).
    pub const CREDENTIAL_IN_BODY: Redactions = Redactions(1 << 5);
    /// The raw copy was cut to the size bound.
    pub const RAW_TRUNCATED: Redactions = Redactions(1 << 6);
    /// Request/response bodies were dropped from the raw copy to meet the size bound.
    pub const BODY_OMITTED: Redactions = Redactions(1 << 7);

    const NAMES: [(Redactions, &'static str); 8] = [
        (Self::SECRET_BODY, "secret_body"),
        (Self::TOKEN, "token"),
        (Self::VAULT_CLEAR_VALUE, "vault_clear_value"),
        (Self::URI_CREDENTIAL, "uri_credential"),
        (Self::HEADER, "header"),
        (Self::CREDENTIAL_IN_BODY, "credential_in_body"),
        (Self::RAW_TRUNCATED, "raw_truncated"),
        (Self::BODY_OMITTED, "body_omitted"),
    ];

    pub fn contains(self, other: Redactions) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
    pub fn insert(&mut self, other: Redactions) {
        self.0 |= other.0;
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// True when a secret value (not just size handling) was removed.
    pub fn removed_secret(self) -> bool {
        self.0 & !(Self::RAW_TRUNCATED.0 | Self::BODY_OMITTED.0) != 0
    }
    /// The flag of one of [`Redactions::names`].
    pub fn from_name(name: &str) -> Option<Redactions> {
        Self::NAMES
            .into_iter()
            .find(|(_, n)| *n == name)
            .map(|(f, _)| f)
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(flag, _)| self.contains(*flag))
            .map(|(_, name)| name)
    }
}

impl Serialize for Redactions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// One access, normalized across sources.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessEvent<'a> {
    pub source: SourceSystem,
    /// Stable id from the source (Kubernetes `auditID`, Vault `request.id`, CloudTrail `eventID`).
    pub id: Cow<'a, str>,
    /// When the access happened, UTC.
    pub time: DateTime<Utc>,
    pub principal: Principal<'a>,
    pub source_ips: StrList<'a>,
    pub user_agent: Option<Cow<'a, str>>,
    pub action: Action,
    /// The source's own verb or operation (`get`, `list`, `update`...).
    pub raw_action: Cow<'a, str>,
    pub target: Target<'a>,
    /// How much the request reached: one object, a selection, a namespace, the cluster
    /// (Kubernetes `list`/`watch` by their selectors; other sources by their target).
    pub scope: Scope,
    pub outcome: Outcome,
    /// HTTP-like status code when the source has one.
    pub status_code: Option<u16>,
    /// Authorization reason or error message.
    pub reason: Option<Cow<'a, str>>,
    /// Request URI (Kubernetes) or request path (Vault), credentials redacted.
    pub request_uri: Option<Cow<'a, str>>,
    /// What ingest removed from this event.
    pub redactions: Redactions,
    /// The source record, redacted and size-bounded (JSON text unless `raw_truncated`).
    pub raw: Cow<'a, str>,
    /// For a record that reports an occurrence seen more than once (a Kubernetes `Event`'s
    /// `count` and `firstTimestamp`): how often, and since when. `None` for single accesses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
}

/// How often a reported occurrence happened, and since when (`time` is the latest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeat {
    pub count: u32,
    pub since: DateTime<Utc>,
}

fn own(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}
fn own_opt(c: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
    c.map(own)
}
fn own_list(l: StrList<'_>) -> StrList<'static> {
    l.into_owned()
}

impl AccessEvent<'_> {
    /// A copy that owns all its strings, to cross threads and channels.
    pub fn into_owned(self) -> AccessEvent<'static> {
        AccessEvent {
            source: self.source,
            id: own(self.id),
            time: self.time,
            principal: self.principal.into_owned(),
            source_ips: own_list(self.source_ips),
            user_agent: own_opt(self.user_agent),
            action: self.action,
            raw_action: own(self.raw_action),
            target: self.target.into_owned(),
            scope: self.scope,
            outcome: self.outcome,
            status_code: self.status_code,
            reason: own_opt(self.reason),
            request_uri: own_opt(self.request_uri),
            redactions: self.redactions,
            raw: own(self.raw),
            repeat: self.repeat,
        }
    }

    /// The effective identity: the impersonated one if any, else the principal.
    pub fn effective_principal(&self) -> &str {
        match &self.principal.acting_as {
            Some(imp) => &imp.name,
            None => &self.principal.name,
        }
    }
}

impl<'a> Principal<'a> {
    /// A principal known by name and kind only (no uid, groups, namespace or Vault facts).
    pub fn named(name: impl Into<Cow<'a, str>>, kind: PrincipalKind) -> Self {
        Principal {
            name: name.into(),
            kind,
            uid: None,
            groups: StrList::new(),
            namespace: None,
            vault: None,
            acting_as: None,
            node: None,
        }
    }

    pub fn into_owned(self) -> Principal<'static> {
        Principal {
            name: own(self.name),
            kind: self.kind,
            uid: own_opt(self.uid),
            groups: own_list(self.groups),
            namespace: own_opt(self.namespace),
            vault: self.vault.map(|v| {
                Box::new(VaultIdentity {
                    display_name: own_opt(v.display_name),
                    entity_id: own_opt(v.entity_id),
                    accessor: own_opt(v.accessor),
                    policies: own_list(v.policies),
                    token_type: own_opt(v.token_type),
                    role: own_opt(v.role),
                    root: v.root,
                    service_account: own_opt(v.service_account),
                })
            }),
            acting_as: self.acting_as.map(|a| {
                Box::new(Impersonation {
                    name: own(a.name),
                    groups: own_list(a.groups),
                })
            }),
            node: own_opt(self.node),
        }
    }
}

impl Target<'_> {
    pub fn into_owned(self) -> Target<'static> {
        Target {
            store: own(self.store),
            namespace: own_opt(self.namespace),
            name: own_opt(self.name),
            resource: own_opt(self.resource),
            subresource: own_opt(self.subresource),
            group: own_opt(self.group),
            is_secret: self.is_secret,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_names_list_only_set_flags() {
        let mut r = Redactions::default();
        assert!(r.is_empty());
        r.insert(Redactions::TOKEN);
        r.insert(Redactions::BODY_OMITTED);
        assert_eq!(r.names().collect::<Vec<_>>(), vec!["token", "body_omitted"]);
        assert!(r.removed_secret());
        let only_size = Redactions(Redactions::RAW_TRUNCATED.0);
        assert!(!only_size.removed_secret());
    }
}
