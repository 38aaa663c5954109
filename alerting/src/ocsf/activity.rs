//! OCSF 1.5.0 API Activity (class_uid 6003, category Application Activity 6) of one forwarded
//! access event: the usual class for API calls, and Kubernetes and Vault audit records are API
//! calls.
//!
//! `activity_id`: create 1, read and list 2 (Read), write and rotate 3 (Update), delete 4,
//! login/admin/other 99 (Other, with `activity_name` the raw verb). `status_id`: allowed 1
//! (Success), denied and error 2 (Failure), unknown 0. `severity_id` 1 (Informational): an
//! access is not a finding. `actor.user` is the principal (`type_id` 1 User for people, 2 Admin
//! for a Vault root token, 3 System for service accounts, nodes and components), `api` the
//! operation and service, `src_endpoint.ip` the first address, `resources` the target,
//! `raw_data` the redacted source record. The rest is in `unmapped.secretwatch`.

use secretwatch_ingest::{AccessEvent, Action, Outcome, PrincipalKind};
use serde_json::{json, Value};

use crate::config::Origin;
use crate::elastic::event_doc_id;
use crate::ocsf::finding::metadata;
use crate::text::{epoch_ms, prune, valid_ips};

pub const API_ACTIVITY_CLASS_UID: u32 = 6003;
const APPLICATION_CATEGORY_UID: u32 = 6;

fn activity(a: Action) -> (u32, &'static str) {
    match a {
        Action::Create => (1, "Create"),
        Action::Read | Action::List => (2, "Read"),
        Action::Write | Action::Rotate => (3, "Update"),
        Action::Delete => (4, "Delete"),
        Action::Login | Action::Admin | Action::Other => (99, "Other"),
    }
}

fn status(o: Outcome) -> (u8, &'static str) {
    match o {
        Outcome::Allowed => (1, "Success"),
        Outcome::Denied | Outcome::Error => (2, "Failure"),
        Outcome::Unknown => (0, "Unknown"),
    }
}

fn user_type(ev: &AccessEvent<'_>) -> (u8, &'static str) {
    if ev.principal.vault.as_ref().is_some_and(|v| v.root) {
        return (2, "Admin");
    }
    match ev.principal.kind {
        PrincipalKind::Human => (1, "User"),
        PrincipalKind::ServiceAccount | PrincipalKind::Node | PrincipalKind::SystemComponent => {
            (3, "System")
        }
        PrincipalKind::Anonymous | PrincipalKind::Token => (99, "Other"),
        PrincipalKind::Unknown => (0, "Unknown"),
    }
}

/// The API Activity record of one access event.
pub fn api_activity(ev: &AccessEvent<'_>, origin: &Origin) -> Value {
    let (activity_id, activity_name) = activity(ev.action);
    let activity_name = if activity_id == 99 {
        ev.raw_action.as_ref()
    } else {
        activity_name
    };
    let (status_id, status_name) = status(ev.outcome);
    let (type_id, type_name) = user_type(ev);
    let ips = valid_ips(ev.source_ips.iter());
    let t = &ev.target;
    let mut doc = json!({
        "class_uid": API_ACTIVITY_CLASS_UID,
        "class_name": "API Activity",
        "category_uid": APPLICATION_CATEGORY_UID,
        "category_name": "Application Activity",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": API_ACTIVITY_CLASS_UID * 100 + activity_id,
        "severity_id": 1,
        "severity": "Informational",
        "status_id": status_id,
        "status": status_name,
        "status_code": ev.status_code.map(|c| c.to_string()),
        "status_detail": ev.reason,
        "time": epoch_ms(ev.time),
        "message": format!(
            "{} {} {} ({})",
            ev.principal.name,
            ev.raw_action,
            secretwatch_detect::alert::target_label(ev),
            ev.outcome.as_str()
        ),
        "metadata": metadata(origin, &event_doc_id(ev)),
        "actor": {"user": {
            "name": ev.principal.name,
            "uid": ev.principal.uid,
            "type_id": type_id,
            "type": type_name,
            "groups": ev.principal.groups.iter().map(|g| json!({"name": g})).collect::<Vec<_>>(),
        }},
        "api": {
            "operation": ev.raw_action,
            "service": {"name": ev.source.as_str()},
            "request": {"uid": ev.id},
            "response": {"code": ev.status_code},
        },
        "src_endpoint": {"ip": ips.first()},
        "http_request": {
            "user_agent": ev.user_agent,
            "url": {"path": ev.request_uri},
        },
        "resources": [{
            "uid": secretwatch_detect::alert::target_label(ev),
            "name": t.name,
            "type": t.resource,
            "namespace": t.namespace,
            "data": {"store": t.store, "subresource": t.subresource, "is_secret": t.is_secret},
        }],
        "raw_data": ev.raw,
        "unmapped": {"secretwatch": {
            "source": ev.source.as_str(),
            "action": ev.action.as_str(),
            "principal_kind": ev.principal.kind.as_str(),
            "acting_as": ev.principal.acting_as.as_ref().map(|i| i.name.as_ref()),
            "source_ips": ev.source_ips,
            "redactions": ev.redactions,
            "vault_policies": ev.principal.vault.as_ref().map(|v| &v.policies),
        }},
    });
    prune(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_events::{access, vault_access};

    #[test]
    fn api_activity_field_by_field() {
        let d = api_activity(&access(), &Origin::new("sw-1"));
        assert_eq!(d["class_uid"], 6003);
        assert_eq!(d["category_uid"], 6);
        assert_eq!(d["activity_id"], 2);
        assert_eq!(d["activity_name"], "Read");
        assert_eq!(d["type_uid"], 600302);
        assert_eq!(d["severity_id"], 1);
        assert_eq!(d["status_id"], 1);
        assert_eq!(d["status_code"], "200");
        assert_eq!(d["time"], 1_793_610_000_500i64);
        assert_eq!(d["metadata"]["version"], "1.5.0");
        assert_eq!(d["metadata"]["uid"], "kubernetes:audit-1");
        assert_eq!(d["actor"]["user"]["name"], "alice");
        assert_eq!(d["actor"]["user"]["uid"], "u-1");
        assert_eq!(d["actor"]["user"]["type_id"], 1);
        assert_eq!(d["actor"]["user"]["groups"][0]["name"], "dev");
        assert_eq!(d["api"]["operation"], "get");
        assert_eq!(d["api"]["service"]["name"], "kubernetes");
        assert_eq!(d["api"]["request"]["uid"], "audit-1");
        assert_eq!(d["api"]["response"]["code"], 200);
        assert_eq!(d["src_endpoint"]["ip"], "10.1.2.3");
        assert_eq!(d["http_request"]["user_agent"], "kubectl/v1.31.0");
        assert_eq!(
            d["http_request"]["url"]["path"],
            "/api/v1/namespaces/prod/secrets/db"
        );
        let r = &d["resources"][0];
        assert_eq!(r["uid"], "prod/secrets/db");
        assert_eq!(r["name"], "db");
        assert_eq!(r["type"], "secrets");
        assert_eq!(r["namespace"], "prod");
        assert_eq!(r["data"]["store"], "prod-cluster");
        assert_eq!(d["raw_data"], r#"{"kind":"Event","token":"[REDACTED]"}"#);
        assert_eq!(d["unmapped"]["secretwatch"]["acting_as"], "admin");
        assert_eq!(d["unmapped"]["secretwatch"]["redactions"], json!(["token"]));

        let d = api_activity(&vault_access(), &Origin::new("sw-1"));
        assert_eq!(d["status_id"], 2);
        assert_eq!(d["status"], "Failure");
        assert_eq!(d["status_detail"], "permission denied");
        assert_eq!(d["actor"]["user"]["type_id"], 2, "root token is Admin");
        assert_eq!(d["src_endpoint"]["ip"], "2001:db8::7");
        assert_eq!(d["resources"][0]["uid"], "secret/data/prod/db");
        assert_eq!(
            d["unmapped"]["secretwatch"]["vault_policies"],
            json!(["root"])
        );
        assert!(!serde_json::to_string(&d).unwrap().contains("null"));

        let mut login = access();
        login.action = Action::Login;
        login.raw_action = "login".into();
        let d = api_activity(&login, &Origin::new("h"));
        assert_eq!(d["activity_id"], 99);
        assert_eq!(d["activity_name"], "login");
        assert_eq!(d["type_uid"], 600399);
    }
}
