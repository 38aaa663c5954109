//! The shipped catalogue: it parses, every entry cites its source, its patterns match only what
//! they name, and through the whole engine each entry's usual request stays quiet while a
//! deviation alerts.

use chrono::{Duration, TimeZone, Utc};

use super::{matches, Catalogue, SHIPPED};
use crate::test_support::feed;
use crate::{Alert, DetectConfig, Engine};

#[test]
fn the_shipped_catalogue_parses_and_cites_its_sources() {
    let c = Catalogue::parse(SHIPPED).unwrap();
    assert_eq!(c.version, 1);
    assert!(c.controllers.len() >= 60, "{}", c.controllers.len());
    for e in &c.controllers {
        // A repository path or a document; unverified facts say so in the notes.
        assert!(
            e.source.contains('/') || e.source.contains('.') || e.notes.contains("UNVERIFIED"),
            "{}: {}",
            e.id,
            e.source
        );
        for v in &e.secrets.verbs {
            assert!(
                [
                    "get",
                    "list",
                    "watch",
                    "create",
                    "update",
                    "patch",
                    "delete",
                    "deletecollection"
                ]
                .contains(&v.as_str()),
                "{}: {v}",
                e.id
            );
        }
    }
    for id in [
        "external-secrets",
        "cert-manager",
        "argocd-application-controller",
        "velero",
        "kube-state-metrics",
        "istiod",
        "kubelet",
    ] {
        assert!(c.controllers.iter().any(|e| e.id == id), "{id}");
    }
    assert!(Catalogue::parse("version: 1\ncontrollers:\n  - {id: a}\n").is_err());
}

#[test]
fn patterns_match_whole_names_and_stars_stay_in_a_segment() {
    assert!(matches(
        "system:serviceaccount:*:external-secrets",
        "system:serviceaccount:eso:external-secrets"
    ));
    assert!(matches(
        "system:serviceaccount:*:*-external-secrets",
        "system:serviceaccount:x:eso-external-secrets"
    ));
    assert!(!matches(
        "system:serviceaccount:*:external-secrets",
        "system:serviceaccount:eso:external-secrets-evil"
    ));
    assert!(!matches(
        "system:serviceaccount:*:external-secrets",
        "system:serviceaccount:a:b:external-secrets"
    ));
    assert!(!matches("system:node:*", "system:nodes"));
    assert!(matches(
        "system:node:*",
        "system:node:ip-10-0-1-2.ec2.internal"
    ));
    let c = Catalogue::shipped();
    // Ordinary identities are in no entry.
    for name in [
        "system:serviceaccount:default:default",
        "system:serviceaccount:dev:build-bot",
        "system:serviceaccount:prod:payments",
        "oidc:mallory@example.com",
        "system:anonymous",
    ] {
        assert!(
            c.find(name).is_none(),
            "{name} matched {:?}",
            c.find(name).map(|e| &e.id)
        );
    }
}

/// A concrete username for an entry's first pattern (its namespace, its release prefix).
fn username(pattern: &str) -> String {
    pattern.replacen("*:", "tools:", 1).replace('*', "rel")
}

fn line(user: &str, hours: i64, n: u32, ip: &str, uri: &str, namespace: Option<&str>) -> String {
    let t = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()
        + Duration::hours(hours)
        + Duration::seconds(i64::from(n));
    let ns = namespace
        .map(|n| format!(r#""namespace":"{n}","#))
        .unwrap_or_default();
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"c-{n}-{hours}","stage":"ResponseComplete","requestURI":"{uri}","verb":"list","user":{{"username":"{user}","groups":["system:serviceaccounts","system:authenticated"]}},"sourceIPs":["{ip}"],"userAgent":"controller/v1","objectRef":{{"resource":"secrets",{ns}"apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"stageTimestamp":"{}"}}"#,
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

fn run(cfg: &DetectConfig, lines: &[String]) -> Vec<Alert> {
    feed(&mut Engine::new(cfg).unwrap(), lines)
}

/// Every entry, after the learning period (so history hides nothing): its cluster-wide list
/// of Secrets is quiet if it is catalogued as a cluster-wide lister and alerts if not; a service
/// account catalogued as reading across namespaces reads another namespace's Secret quietly, one
/// that is not alerts (`cross-namespace-secret-read`); any catalogued service account's token
/// used from outside the cluster alerts (`sa-token-outside-cluster`).
#[test]
fn each_entry_is_quiet_on_its_usual_requests_and_alerts_on_a_deviation() {
    let mut cfg = DetectConfig::default();
    cfg.baseline.learning_days = 1;
    cfg.history_learning_days = 1;
    cfg.context.cluster_cidrs = vec!["10.0.0.0/8".parse().unwrap()];
    let c = Catalogue::shipped();
    let warmup = line(
        "system:serviceaccount:x:warmup",
        0,
        0,
        "10.1.1.1",
        "/api/v1/namespaces/x/secrets/a",
        Some("x"),
    );
    let get = |user: &str, n: u32, ip: &str| {
        line(
            user,
            48,
            n,
            ip,
            "/api/v1/namespaces/other/secrets/db",
            Some("other"),
        )
        .replace(r#""verb":"list""#, r#""verb":"get""#)
        .replace(
            r#""resource":"secrets","#,
            r#""resource":"secrets","name":"db","#,
        )
    };
    let mut checked = 0;
    for e in &c.controllers {
        let user = username(&e.users[0]);
        let list = line(
            &user,
            48,
            1,
            "10.1.2.3",
            "/api/v1/secrets?limit=500&resourceVersion=0",
            None,
        );
        let alerts = run(&cfg, &[warmup.clone(), list]);
        let wide = alerts
            .iter()
            .filter(|a| a.rule == "k8s-secrets-list-cluster-wide")
            .count();
        // The default `known_controllers` (kept from before the catalogue) also spare a few.
        if e.secrets.cluster_wide || cfg.known_controllers.contains(&user) {
            assert_eq!(
                wide, 0,
                "{} ({user}) lists all Secrets by design: {alerts:#?}",
                e.id
            );
        } else {
            assert_eq!(
                wide, 1,
                "{} ({user}) never lists all Secrets: {alerts:#?}",
                e.id
            );
        }
        if user.starts_with("system:serviceaccount:") {
            let alerts = run(&cfg, &[warmup.clone(), get(&user, 1, "10.1.2.3")]);
            let cross = alerts
                .iter()
                .filter(|a| a.rule == "cross-namespace-secret-read")
                .count();
            if e.secrets.cross_namespace {
                assert_eq!(
                    cross, 0,
                    "{} ({user}) reads other namespaces by design: {alerts:#?}",
                    e.id
                );
            } else {
                assert_eq!(
                    cross, 1,
                    "{} ({user}) never reads other namespaces: {alerts:#?}",
                    e.id
                );
            }
            let alerts = run(&cfg, &[warmup.clone(), get(&user, 2, "203.0.113.9")]);
            assert!(
                alerts.iter().any(|a| a.rule == "sa-token-outside-cluster"),
                "{} ({user}) from outside the cluster: {alerts:#?}",
                e.id
            );
        }
        checked += 1;
    }
    assert!(checked >= 50, "{checked}");
    // With the catalogue off, a catalogued controller is an ordinary identity again.
    cfg.catalogue = false;
    let alerts = run(
        &cfg,
        &[
            warmup,
            get(
                "system:serviceaccount:tools:external-secrets",
                1,
                "10.1.2.3",
            ),
        ],
    );
    assert!(
        alerts
            .iter()
            .any(|a| a.rule == "cross-namespace-secret-read"),
        "{alerts:#?}"
    );
}
