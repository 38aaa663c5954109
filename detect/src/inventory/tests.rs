//! The inventory from parsed-like events.

use chrono::{TimeZone, Utc};
use secretwatch_ingest::{
    AccessEvent, Action, Outcome, Principal, PrincipalKind, Scope, SourceSystem, Target,
};

use super::*;

fn ev(verb: &str, ns: &str, name: &str, code: u16, minute: u32, who: &str) -> AccessEvent<'static> {
    AccessEvent {
        source: SourceSystem::Kubernetes,
        id: format!("{verb}-{ns}-{name}-{minute}").into(),
        time: Utc.with_ymd_and_hms(2026, 12, 2, 9, minute, 0).unwrap(),
        principal: Principal {
            name: who.to_string().into(),
            kind: PrincipalKind::Human,
            uid: None,
            groups: Default::default(),
            namespace: None,
            vault: None,
            acting_as: None,
            node: None,
        },
        source_ips: Default::default(),
        user_agent: None,
        action: Action::Read,
        raw_action: verb.to_string().into(),
        target: Target {
            store: "c1".into(),
            namespace: Some(ns.to_string().into()),
            name: Some(name.to_string().into()),
            resource: Some("secrets".into()),
            subresource: None,
            group: None,
            is_secret: true,
        },
        scope: Scope::Object,
        outcome: if code < 300 {
            Outcome::Allowed
        } else if code == 403 {
            Outcome::Denied
        } else {
            Outcome::Error
        },
        status_code: Some(code),
        reason: None,
        request_uri: Some("/x".into()),
        redactions: Default::default(),
        raw: "{}".into(),
        repeat: None,
    }
}

#[test]
fn creates_deletes_reads_and_404s_set_presence_in_time_order() {
    let mut inv = SecretInventory::new(100);
    inv.observe(&ev("create", "dev", "db", 201, 0, "eso"));
    inv.observe(&ev("get", "dev", "db", 200, 5, "app"));
    inv.observe(&ev("delete", "prod", "db", 200, 6, "bob"));
    inv.observe(&ev("get", "staging", "db", 404, 7, "app"));
    // Denied reads say nothing; a watch by name is only "seen".
    inv.observe(&ev("get", "qa", "db", 403, 8, "eve"));
    inv.observe(&ev("watch", "ops", "db", 200, 8, "system:node:n1"));
    let dev = inv.get("c1", "dev", "db").unwrap();
    assert_eq!(dev.presence, Presence::Exists);
    assert_eq!(dev.created.as_ref().unwrap().by, "eso");
    assert_eq!(dev.read.as_ref().unwrap().by, "app");
    assert_eq!(
        inv.get("c1", "prod", "db").unwrap().presence,
        Presence::Deleted
    );
    assert_eq!(
        inv.get("c1", "staging", "db").unwrap().presence,
        Presence::Missing
    );
    assert!(inv.get("c1", "qa", "db").is_none());
    assert_eq!(
        inv.get("c1", "ops", "db").unwrap().presence,
        Presence::Unknown
    );
    let where_: Vec<_> = inv
        .exists_elsewhere("c1", "prod", "db")
        .iter()
        .map(|p| p.namespace.clone())
        .collect();
    assert_eq!(where_, ["dev"]);
    // An older event arriving late does not undo the delete.
    inv.observe(&ev("get", "prod", "db", 200, 1, "app"));
    assert_eq!(
        inv.get("c1", "prod", "db").unwrap().presence,
        Presence::Deleted
    );
    assert_eq!(inv.len(), 4);
}

#[test]
fn the_bound_drops_the_least_recently_seen() {
    let mut inv = SecretInventory::new(20);
    for i in 0..50u32 {
        inv.observe(&ev("get", "ns", &format!("s{i}"), 200, i, "app"));
    }
    assert!(inv.len() <= 20, "{}", inv.len());
    assert!(inv.get("c1", "ns", "s49").is_some());
    assert!(inv.get("c1", "ns", "s0").is_none());
    // Saved and restored with a smaller bound.
    let mut back: SecretInventory =
        serde_json::from_value(serde_json::to_value(&inv).unwrap()).unwrap();
    back.set_max(5);
    assert!(back.len() <= 5 && back.get("c1", "ns", "s49").is_some());
}
