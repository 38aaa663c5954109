//! `missing-secret` on parsed records: the users' incident (a pull secret that exists in dev
//! and nowhere else while prod pods fail for hours), told by the kubelet's Events only.

use crate::context::tests::{of, run, world, K8s, ESO};
use crate::context::MISSING_SECRET;
use crate::Severity;

/// A kubelet Event (core/v1, as `kubectl get events -o json` and the event exporter give it)
/// reporting `message` on pod `pod` of `ns`, `count` times from `first` to `last`.
fn report(
    ns: &str,
    pod: &str,
    reason: &str,
    message: &str,
    count: u32,
    first: &str,
    last: &str,
) -> String {
    let message = message.replace('"', "\\\"");
    format!(
        r#"{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"{pod}.181d0a7f3b2c4e10","namespace":"{ns}","uid":"uid-{pod}-{reason}"}},"involvedObject":{{"kind":"Pod","namespace":"{ns}","name":"{pod}","apiVersion":"v1"}},"reason":"{reason}","message":"{message}","source":{{"component":"kubelet","host":"node-7"}},"firstTimestamp":"{first}","lastTimestamp":"{last}","count":{count},"type":"Warning","reportingComponent":"kubelet","reportingInstance":"node-7"}}"#
    )
}

const PULL: &str = "Unable to retrieve some image pull secrets (registry-pull-secret); attempting to pull the image may not succeed.";

fn created_in_dev() -> String {
    K8s {
        verb: "create",
        code: 201,
        ..K8s::get(ESO, "dev", "registry-pull-secret", "2026-10-14T09:00:00Z")
    }
    .line()
}

#[test]
fn the_pull_secret_that_exists_only_in_dev_alerts_naming_dev() {
    let lines = vec![
        created_in_dev(),
        report(
            "prod",
            "web-1",
            "FailedToRetrieveImagePullSecret",
            PULL,
            1,
            "2026-12-02T10:15:00Z",
            "2026-12-02T10:15:00Z",
        ),
        // The exporter sends the same Event again as its count grows.
        report(
            "prod",
            "web-1",
            "FailedToRetrieveImagePullSecret",
            PULL,
            3,
            "2026-12-02T10:15:00Z",
            "2026-12-02T10:18:00Z",
        ),
        report(
            "prod",
            "web-1",
            "FailedToRetrieveImagePullSecret",
            PULL,
            9,
            "2026-12-02T10:15:00Z",
            "2026-12-02T10:31:00Z",
        ),
        report(
            "prod",
            "web-1",
            "FailedToRetrieveImagePullSecret",
            PULL,
            14,
            "2026-12-02T10:15:00Z",
            "2026-12-02T10:45:00Z",
        ),
    ];
    let alerts = run(&world(), &lines);
    let got = of(&alerts, MISSING_SECRET);
    assert_eq!(got.len(), 1, "{alerts:#?}");
    let a = got[0];
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.principal, "system:node:node-7");
    for part in [
        "Secret registry-pull-secret is needed in namespace prod (environment prod, production)",
        "failing since 2026-12-02 10:15 UTC (16 min, 9 reports",
        "pod/web-1: Unable to retrieve some image pull secrets",
        "it exists in dev (environment dev; created 2026-10-14 09:00 UTC by system:serviceaccount:external-secrets:external-secrets) and nowhere else",
    ] {
        assert!(a.reason.contains(part), "{part:?} not in {}", a.reason);
    }
    // No other detection mistakes the kubelet's report for an access.
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
}

#[test]
fn one_snapshot_record_that_spans_the_grace_is_enough() {
    // `kubectl get events -o json` taken an hour into the outage: one record, count 40.
    let lines = vec![report(
        "prod",
        "api-0",
        "FailedMount",
        "MountVolume.SetUp failed for volume \"creds\" : secret \"db-creds\" not found",
        40,
        "2026-12-02T09:00:00Z",
        "2026-12-02T10:00:00Z",
    )];
    let alerts = run(&world(), &lines);
    let got = of(&alerts, MISSING_SECRET);
    assert_eq!(got.len(), 1, "{alerts:#?}");
    assert!(
        got[0]
            .reason
            .contains("secretwatch has seen no Secret named db-creds exist anywhere"),
        "{}",
        got[0].reason
    );
}

#[test]
fn a_secret_synced_seconds_after_its_pod_stays_quiet() {
    // The operator's race: the pod starts, the kubelet reports twice, the Secret arrives.
    let mount = "MountVolume.SetUp failed for volume \"creds\" : secret \"db-creds\" not found";
    let lines = vec![
        report(
            "prod",
            "api-0",
            "FailedMount",
            mount,
            1,
            "2026-12-02T09:00:00Z",
            "2026-12-02T09:00:00Z",
        ),
        report(
            "prod",
            "api-0",
            "FailedMount",
            mount,
            2,
            "2026-12-02T09:00:00Z",
            "2026-12-02T09:00:02Z",
        ),
        K8s {
            verb: "create",
            code: 201,
            ..K8s::get(ESO, "prod", "db-creds", "2026-12-02T09:00:20Z")
        }
        .line(),
        // A late report of the same Event (the exporter's resend) after the create: a new,
        // short failure, still within the grace.
        report(
            "prod",
            "api-0",
            "FailedMount",
            mount,
            3,
            "2026-12-02T09:00:00Z",
            "2026-12-02T09:00:30Z",
        ),
        // Hours later the Secret is there and nothing reports.
        K8s::get(
            "system:serviceaccount:prod:api",
            "prod",
            "other",
            "2026-12-02T12:00:00Z",
        )
        .line(),
    ];
    let alerts = run(&world(), &lines);
    assert!(of(&alerts, MISSING_SECRET).is_empty(), "{alerts:#?}");
}

#[test]
fn a_deleted_secret_names_who_deleted_it_and_dev_is_medium() {
    let lines = vec![
        K8s {
            verb: "create",
            code: 201,
            ..K8s::get("alice", "dev", "queue-credentials", "2026-12-01T08:00:00Z")
        }
        .line(),
        K8s {
            verb: "delete",
            code: 200,
            ..K8s::get("bob", "dev", "queue-credentials", "2026-12-02T08:00:00Z")
        }
        .line(),
        report(
            "dev",
            "worker-1",
            "Failed",
            "Error: secret \"queue-credentials\" not found",
            1,
            "2026-12-02T08:20:00Z",
            "2026-12-02T08:20:00Z",
        ),
        report(
            "dev",
            "worker-1",
            "Failed",
            "Error: secret \"queue-credentials\" not found",
            6,
            "2026-12-02T08:20:00Z",
            "2026-12-02T08:27:00Z",
        ),
    ];
    let alerts = run(&world(), &lines);
    let got = of(&alerts, MISSING_SECRET);
    assert_eq!(got.len(), 1, "{alerts:#?}");
    assert_eq!(got[0].severity, Severity::Medium);
    assert!(
        got[0]
            .reason
            .contains("it was deleted from dev 2026-12-02 08:00 UTC by bob"),
        "{}",
        got[0].reason
    );
}

#[test]
fn the_audit_log_path_alerts_the_same_from_create_and_patch() {
    // The kubelet's POST of the Event and its PATCHes, logged at Request level.
    let audit = |id: &str, verb: &str, uri: &str, body: &str, t: &str| {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"{id}","stage":"ResponseComplete","requestURI":"{uri}","verb":"{verb}","user":{{"username":"system:node:node-7","groups":["system:nodes","system:authenticated"]}},"sourceIPs":["10.0.7.7"],"objectRef":{{"resource":"events","namespace":"prod","name":"web-1.181d0a7f3b2c4e10","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestObject":{body},"requestReceivedTimestamp":"{t}","stageTimestamp":"{t}"}}"#
        )
    };
    let msg = PULL;
    let first = report(
        "prod",
        "web-1",
        "FailedToRetrieveImagePullSecret",
        msg,
        1,
        "2026-12-02T10:15:00Z",
        "2026-12-02T10:15:00Z",
    );
    let lines = vec![
        created_in_dev(),
        audit(
            "a1",
            "create",
            "/api/v1/namespaces/prod/events",
            &first,
            "2026-12-02T10:15:00Z",
        ),
        audit(
            "a2",
            "patch",
            "/api/v1/namespaces/prod/events/web-1.181d0a7f3b2c4e10",
            &format!(r#"{{"count":2,"lastTimestamp":"2026-12-02T10:17:00Z","message":"{msg}"}}"#),
            "2026-12-02T10:17:00Z",
        ),
        audit(
            "a3",
            "patch",
            "/api/v1/namespaces/prod/events/web-1.181d0a7f3b2c4e10",
            &format!(r#"{{"count":3,"lastTimestamp":"2026-12-02T10:22:00Z","message":"{msg}"}}"#),
            "2026-12-02T10:22:00Z",
        ),
    ];
    let alerts = run(&world(), &lines);
    let got = of(&alerts, MISSING_SECRET);
    assert_eq!(got.len(), 1, "{alerts:#?}");
    assert!(
        got[0].reason.contains("it exists in dev"),
        "{}",
        got[0].reason
    );
    assert_eq!(got[0].source_ips, ["10.0.7.7"]);
}

#[test]
fn state_survives_a_restart_between_the_reports() {
    use crate::detector::Detector;
    let mut cfg = world();
    cfg.missing_secret_grace_minutes = 5;
    let lines_a = vec![
        created_in_dev(),
        report(
            "prod",
            "web-1",
            "FailedToRetrieveImagePullSecret",
            PULL,
            1,
            "2026-12-02T10:15:00Z",
            "2026-12-02T10:15:00Z",
        ),
    ];
    let lines_b = vec![report(
        "prod",
        "web-1",
        "FailedToRetrieveImagePullSecret",
        PULL,
        2,
        "2026-12-02T10:16:00Z",
        "2026-12-02T10:25:00Z",
    )];
    // Without the first half's state the second record alone spans 9 minutes but does not
    // know of dev: the restored one does.
    let world_arc = std::sync::Arc::new(crate::context::World::compile(&cfg).unwrap());
    let mut first = super::missing_secret::MissingSecret::new(world_arc.clone(), 5, 1000);
    let mut out = vec![];
    for ev in crate::context::tests::parse(&lines_a) {
        first.on_event(&ev, &mut out);
    }
    let state = first.export_state().unwrap();
    let state: serde_json::Value = serde_json::from_str(&state.to_string()).unwrap();
    let mut second = super::missing_secret::MissingSecret::new(world_arc, 5, 1000);
    second.import_state(state).unwrap();
    for ev in crate::context::tests::parse(&lines_b) {
        second.on_event(&ev, &mut out);
    }
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(
        out[0].reason.contains("it exists in dev"),
        "{}",
        out[0].reason
    );
    assert!(
        out[0].reason.contains("failing since 2026-12-02 10:15 UTC"),
        "{}",
        out[0].reason
    );
}

#[test]
fn a_single_report_alerts_after_the_grace_when_the_audit_log_shows_secret_writes() {
    // An exporter that forwards only an Event's first occurrence: one report, count 1.
    let one = report(
        "prod",
        "web-1",
        "FailedToRetrieveImagePullSecret",
        PULL,
        1,
        "2026-12-02T10:15:00Z",
        "2026-12-02T10:15:00Z",
    );
    let later =
        |t: &'static str| K8s::get("system:serviceaccount:prod:api", "prod", "other", t).line();
    // The audit log shows Secret writes in this cluster in the last day (external-secrets
    // refreshing one): a create of the missing Secret would have shown too.
    let refresh = K8s {
        verb: "update",
        ..K8s::get(ESO, "staging", "api-keys", "2026-12-02T09:00:00Z")
    }
    .line();
    let lines = vec![
        created_in_dev(),
        refresh,
        one.clone(),
        later("2026-12-02T10:19:00Z"),
        later("2026-12-02T10:22:00Z"),
    ];
    let alerts = run(&world(), &lines);
    let got = of(&alerts, MISSING_SECRET);
    assert_eq!(got.len(), 1, "{alerts:#?}");
    assert!(
        got[0]
            .reason
            .contains("5 min without a create of it in the audit log, 1 report"),
        "{}",
        got[0].reason
    );
    assert!(
        got[0].reason.contains("it exists in dev"),
        "{}",
        got[0].reason
    );
    // Events alone (no audit log of Secret writes): one report proves nothing lasting.
    let alerts = run(
        &world(),
        &[
            one.clone(),
            later("2026-12-02T10:19:00Z"),
            later("2026-12-02T10:22:00Z"),
        ],
    );
    assert!(of(&alerts, MISSING_SECRET).is_empty(), "{alerts:#?}");
    // Created a minute after the report: quiet.
    let synced = K8s {
        verb: "create",
        code: 201,
        ..K8s::get(ESO, "prod", "registry-pull-secret", "2026-12-02T10:16:00Z")
    }
    .line();
    let alerts = run(
        &world(),
        &[created_in_dev(), one, synced, later("2026-12-02T10:22:00Z")],
    );
    assert!(of(&alerts, MISSING_SECRET).is_empty(), "{alerts:#?}");
}
