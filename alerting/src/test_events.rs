//! Access events for encoder tests.

use std::borrow::Cow;

use chrono::{TimeZone, Utc};
use secretwatch_ingest::{
    AccessEvent, Action, Impersonation, Outcome, Principal, PrincipalKind, Redactions, Scope,
    SourceSystem, StrList, Target, VaultIdentity,
};

fn list(items: &[&'static str]) -> StrList<'static> {
    items.iter().map(|s| Cow::Borrowed(*s)).collect()
}

/// alice reads `prod/secrets/db` through the Kubernetes API at 09:00:00.5, impersonating
/// `admin`, with a token redacted from the raw record.
pub fn access() -> AccessEvent<'static> {
    let mut redactions = Redactions::default();
    redactions.insert(Redactions::TOKEN);
    AccessEvent {
        source: SourceSystem::Kubernetes,
        id: "audit-1".into(),
        time: Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
            + chrono::Duration::milliseconds(500),
        principal: Principal {
            name: "alice".into(),
            kind: PrincipalKind::Human,
            uid: Some("u-1".into()),
            groups: list(&["dev", "system:authenticated"]),
            namespace: None,
            vault: None,
            acting_as: Some(Box::new(Impersonation {
                name: "admin".into(),
                groups: list(&["system:masters"]),
            })),
            node: None,
        },
        source_ips: list(&["10.1.2.3", "not-an-ip"]),
        user_agent: Some("kubectl/v1.31.0".into()),
        action: Action::Read,
        scope: Scope::Object,
        raw_action: "get".into(),
        target: Target {
            store: "prod-cluster".into(),
            namespace: Some("prod".into()),
            name: Some("db".into()),
            resource: Some("secrets".into()),
            subresource: None,
            group: Some("".into()),
            is_secret: true,
        },
        outcome: Outcome::Allowed,
        status_code: Some(200),
        reason: None,
        request_uri: Some("/api/v1/namespaces/prod/secrets/db".into()),
        redactions,
        raw: r#"{"kind":"Event","token":"[REDACTED]"}"#.into(),
        repeat: None,
    }
}

/// A denied Vault read by a root token.
pub fn vault_access() -> AccessEvent<'static> {
    let mut ev = access();
    ev.source = SourceSystem::Vault;
    ev.id = "req-7".into();
    ev.principal = Principal {
        name: "root".into(),
        kind: PrincipalKind::Token,
        uid: None,
        groups: StrList::new(),
        namespace: None,
        vault: Some(Box::new(VaultIdentity {
            service_account: None,
            display_name: Some("root".into()),
            policies: list(&["root"]),
            root: true,
            ..VaultIdentity::default()
        })),
        acting_as: None,
        node: None,
    };
    ev.source_ips = list(&["2001:db8::7"]);
    ev.raw_action = "read".into();
    ev.target = Target {
        store: "vault-prod".into(),
        namespace: None,
        name: Some("secret/data/prod/db".into()),
        resource: Some("kv".into()),
        subresource: None,
        group: Some("secret/".into()),
        is_secret: true,
    };
    ev.outcome = Outcome::Denied;
    ev.status_code = Some(403);
    ev.reason = Some("permission denied".into());
    ev.request_uri = Some("secret/data/prod/db".into());
    ev
}
