//! Detector behaviour on events produced by the real parsers.

use std::sync::LazyLock;

use secretwatch_ingest::{AccessEvent, Format, ParseOptions, Parsed, RecordParser};

use crate::{Alert, DetectConfig, Engine, Severity};

static OPTS: LazyLock<ParseOptions> = LazyLock::new(ParseOptions::default);

#[allow(clippy::too_many_arguments)]
fn k8s(
    user: &str,
    groups: &str,
    verb: &str,
    ns: Option<&str>,
    name: Option<&str>,
    code: u16,
    time: &str,
    extra: &str,
) -> String {
    let ns_json = ns
        .map(|n| format!(r#","namespace":"{n}""#))
        .unwrap_or_default();
    let name_json = name
        .map(|n| format!(r#","name":"{n}""#))
        .unwrap_or_default();
    let uri = match (ns, name) {
        (Some(n), Some(x)) => format!("/api/v1/namespaces/{n}/secrets/{x}"),
        (Some(n), None) => format!("/api/v1/namespaces/{n}/secrets"),
        _ => "/api/v1/secrets".to_string(),
    };
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{user}-{verb}-{time}","stage":"ResponseComplete","requestURI":"{uri}","verb":"{verb}","user":{{"username":"{user}","groups":[{groups}]}},"sourceIPs":["10.42.0.9"],"objectRef":{{"resource":"secrets"{ns_json}{name_json},"apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":{code}}},"requestReceivedTimestamp":"{time}","stageTimestamp":"{time}"{extra}}}"#
    )
}

fn run(lines: &[String], cfg: &DetectConfig) -> Vec<Alert> {
    let mut parser = RecordParser::new(&OPTS, Format::Auto);
    let mut engine = Engine::new(cfg).unwrap();
    let mut alerts = vec![];
    for l in lines {
        let mut evs: Vec<AccessEvent<'_>> = vec![];
        parser.parse(l, &mut |p| match p {
            Parsed::Event(e) => evs.push(e),
            Parsed::Skipped => {}
            Parsed::Error(e) => panic!("{e}: {l}"),
        });
        for e in &evs {
            engine.on_event(e, &mut alerts);
        }
    }
    parser.finish(&mut |p| {
        if let Parsed::Event(e) = p {
            engine.on_event(&e, &mut alerts);
        }
    });
    engine.flush(&mut alerts);
    alerts
}

fn of<'a>(alerts: &'a [Alert], rule: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.rule == rule).collect()
}

const SA: &str = r#""system:serviceaccounts","system:authenticated""#;

/// A first cluster-wide list (after the learning period) alerts once, not once per alert
/// window (the rule is judged `new_terms`: crate::history); controllers are spared.
#[test]
fn cluster_wide_list_alerts_once_for_a_new_identity_and_spares_controllers() {
    let mut cfg = DetectConfig::default();
    cfg.baseline.learning_days = 1;
    cfg.history_learning_days = 1;
    let lines = vec![
        // The day before: the learning period.
        k8s(
            "system:serviceaccount:dev:other",
            SA,
            "get",
            Some("dev"),
            Some("x"),
            200,
            "2026-11-02T09:00:00Z",
            "",
        ),
        k8s(
            "system:serviceaccount:dev:build-bot",
            SA,
            "list",
            None,
            None,
            200,
            "2026-11-03T10:00:00Z",
            "",
        ),
        k8s(
            "system:serviceaccount:dev:build-bot",
            SA,
            "list",
            None,
            None,
            200,
            "2026-11-03T10:05:00Z",
            "",
        ),
        k8s(
            "system:kube-controller-manager",
            "",
            "list",
            None,
            None,
            200,
            "2026-11-03T10:06:00Z",
            "",
        ),
        k8s(
            "system:serviceaccount:dev:build-bot",
            SA,
            "list",
            Some("dev"),
            None,
            200,
            "2026-11-03T10:07:00Z",
            "",
        ),
        k8s(
            "system:serviceaccount:dev:build-bot",
            SA,
            "list",
            None,
            None,
            200,
            "2026-11-03T12:01:00Z",
            "",
        ),
    ];
    let alerts = run(&lines, &cfg);
    let got = of(&alerts, "k8s-secrets-list-cluster-wide");
    // 10:00 alerts; 10:05 and 12:01 (another alert window) are the same combination.
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].severity, Severity::High);
    assert_eq!(got[0].principal, "system:serviceaccount:dev:build-bot");
    assert_eq!(
        got[0].event_ids,
        ["system:serviceaccount:dev:build-bot-list-2026-11-03T10:00:00Z"]
    );
    assert!(
        got[0].reason.contains("not a known controller"),
        "{}",
        got[0].reason
    );
    // Replays give the same ids.
    let again = run(&lines, &cfg);
    assert_eq!(of(&again, "k8s-secrets-list-cluster-wide")[0].id, got[0].id);
}

#[test]
fn break_glass_sessions() {
    let cfg = DetectConfig {
        break_glass_identities: vec!["break-glass-admin".into()],
        ..DetectConfig::default()
    };
    let root = r#"{"time":"2026-11-03T02:00:00Z","type":"response","auth":{"client_token":"hmac-sha256:aa","display_name":"root","policies":["root"],"token_type":"service"},"request":{"id":"v-1","operation":"read","mount_type":"kv","path":"secret/data/prod/db","remote_address":"10.0.0.5"}}"#.to_string();
    let masters = k8s(
        "someone",
        r#""system:masters","system:authenticated""#,
        "get",
        Some("prod"),
        Some("db"),
        200,
        "2026-11-03T02:01:00Z",
        "",
    );
    let named1 = k8s(
        "break-glass-admin",
        "",
        "get",
        Some("prod"),
        Some("db"),
        200,
        "2026-11-03T03:00:00Z",
        "",
    );
    let named2 = k8s(
        "break-glass-admin",
        "",
        "get",
        Some("prod"),
        Some("api"),
        200,
        "2026-11-03T03:20:00Z",
        "",
    );
    let named3 = k8s(
        "break-glass-admin",
        "",
        "get",
        Some("prod"),
        Some("api"),
        200,
        "2026-11-03T05:00:00Z",
        "",
    );
    let imp = k8s(
        "oidc:bob",
        "",
        "get",
        Some("prod"),
        Some("db"),
        200,
        "2026-11-03T06:00:00Z",
        r#","impersonatedUser":{"username":"system:admin"}"#,
    );
    let benign = k8s(
        "oidc:carol",
        "",
        "get",
        Some("dev"),
        Some("db"),
        200,
        "2026-11-03T06:30:00Z",
        "",
    );
    let alerts = run(&[root, masters, named1, named2, named3, imp, benign], &cfg);
    let got = of(&alerts, "break-glass-use");
    let who: Vec<_> = got.iter().map(|a| a.principal.as_str()).collect();
    assert_eq!(
        who,
        [
            "root",
            "someone",
            "break-glass-admin",
            "break-glass-admin",
            "oidc:bob"
        ]
    );
    assert!(got
        .iter()
        .all(|a| a.severity == Severity::Critical && a.break_glass));
    assert!(
        got[4]
            .reason
            .contains("impersonated privileged identity system:admin"),
        "{}",
        got[4].reason
    );
    assert!(
        got[0].reason.contains("Vault root token"),
        "{}",
        got[0].reason
    );
    // Each session closes with a summary of everything the identity did in it.
    let sessions = of(&alerts, "break-glass-session");
    let who: Vec<_> = sessions.iter().map(|a| a.principal.as_str()).collect();
    assert_eq!(sessions.len(), 5, "{who:?}");
    let admin: Vec<_> = sessions
        .iter()
        .filter(|a| a.principal == "break-glass-admin")
        .collect();
    assert_eq!(admin.len(), 2);
    let first = admin.iter().min_by_key(|a| a.first_seen).unwrap();
    assert_eq!(first.event_ids.len(), 2, "{first:?}");
    assert!(
        first.reason.contains("2 events over 20 min"),
        "{}",
        first.reason
    );
    assert!(sessions
        .iter()
        .all(|a| a.break_glass && a.severity == Severity::Critical));
    assert!(!sessions.iter().any(|a| a.principal == "oidc:carol"));
}

#[test]
fn anonymous_secret_access_severity_follows_outcome() {
    let cfg = DetectConfig::default();
    let anon = r#""system:unauthenticated""#;
    let lines = vec![
        k8s(
            "system:anonymous",
            anon,
            "get",
            Some("prod"),
            Some("db"),
            403,
            "2026-11-03T10:00:00Z",
            "",
        ),
        k8s(
            "system:anonymous",
            anon,
            "get",
            Some("prod"),
            Some("db2"),
            403,
            "2026-11-03T10:00:01Z",
            "",
        ),
        k8s(
            "system:anonymous",
            anon,
            "get",
            Some("prod"),
            Some("db"),
            200,
            "2026-11-03T10:00:02Z",
            "",
        ),
    ];
    let alerts = run(&lines, &cfg);
    let got = of(&alerts, "anonymous-secret-access");
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].severity, Severity::Medium);
    assert_eq!(got[1].severity, Severity::Critical);
}

#[test]
fn secret_values_alert_once_per_store_and_day() {
    let cfg = DetectConfig::default();
    let body = r#","responseObject":{"kind":"Secret","metadata":{"name":"db"},"data":{"password":"aHVudGVyMg=="}}"#;
    let lines = vec![
        k8s(
            "oidc:alice",
            "",
            "get",
            Some("prod"),
            Some("db"),
            200,
            "2026-11-03T10:00:00Z",
            body,
        ),
        k8s(
            "oidc:alice",
            "",
            "get",
            Some("prod"),
            Some("db"),
            200,
            "2026-11-03T11:00:00Z",
            body,
        ),
        k8s(
            "oidc:alice",
            "",
            "get",
            Some("prod"),
            Some("db"),
            200,
            "2026-11-03T12:00:00Z",
            "",
        ),
    ];
    let alerts = run(&lines, &cfg);
    let got = of(&alerts, "secret-values-in-audit-log");
    assert_eq!(got.len(), 1);
    assert!(got[0].reason.contains("Secret data"), "{}", got[0].reason);
    let text = serde_json::to_string(&alerts).unwrap();
    assert!(!text.contains("aHVudGVyMg=="));
}

/// Rules matched on other threads ([`Engine::prematcher`]) give the alerts matching on the
/// detection thread gives, and a prematch from an older rule set is matched again.
#[test]
fn prematched_events_alert_as_events_matched_in_the_engine() {
    let events = crate::test_support::read_events(&[
        "k8s-audit.jsonl.gz",
        "vault-audit.jsonl.gz",
        "cloudtrail.jsonl.gz",
    ]);
    let mut cfg = DetectConfig::default();
    // The sample's own learning period (datasets/sample/secretwatch.toml).
    cfg.baseline.learning_days = 1;
    cfg.history_learning_days = 1;
    let mut plain = Engine::new(&cfg).unwrap();
    let mut pre = Engine::new(&cfg).unwrap();
    let matcher = pre.prematcher().unwrap();
    // Matched on other threads, as parser threads do.
    let matched: Vec<_> = std::thread::scope(|s| {
        let halves: Vec<_> = events
            .chunks(events.len() / 2 + 1)
            .map(|part| {
                let m = matcher.clone();
                s.spawn(move || part.iter().map(|e| m.matches(e)).collect::<Vec<_>>())
            })
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let (mut a, mut b) = (vec![], vec![]);
    for (ev, m) in events.iter().zip(matched) {
        plain.on_event(ev, &mut a);
        pre.on_event_prematched(ev, m, &mut b);
    }
    plain.flush(&mut a);
    pre.flush(&mut b);
    let ids = |v: &[Alert]| v.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
    assert!(
        a.iter().any(|x| x.rule == "k8s-secrets-list-cluster-wide"),
        "the sample has Sigma alerts"
    );
    assert_eq!(ids(&a), ids(&b));

    // A prematch of a rule set the engine no longer runs is not trusted.
    let other = Engine::new(&cfg).unwrap().prematcher().unwrap();
    let mut fresh = Engine::new(&cfg).unwrap();
    let (mut c, mut d) = (vec![], vec![]);
    let mut again = Engine::new(&cfg).unwrap();
    for ev in &events {
        fresh.on_event(ev, &mut c);
        again.on_event_prematched(ev, other.matches(ev), &mut d);
    }
    assert_eq!(ids(&c), ids(&d));
}

const FIRST_READ_RULE: &str = r#"
title: Production secret read for the first time by a person
id: 5d0c7c1e-2f7a-4a55-9d0e-6c1f7f2d9b41
name: first-prod-secret-read-by-human
description: A person reads a production Secret they never read before.
tags: [attack.credential-access, attack.t1552.007]
logsource: {product: kubernetes, service: audit}
detection:
  selection:
    principal.kind: human
    target.namespace: prod
    action: read
    first_seen.secret: true
  condition: selection
level: medium
examples:
  fire:
    - {user: "oidc:ann@example.com", verb: get, namespace: prod, name: db}
    - - {user: "oidc:ann@example.com", verb: get, namespace: prod, name: db}
      - {user: "oidc:ann@example.com", verb: get, namespace: prod, name: api-key, time: "2026-11-03T10:05:00Z"}
  quiet:
    - {user: "system:serviceaccount:prod:app", verb: get, namespace: prod, name: db}
    - {user: "oidc:ann@example.com", verb: get, namespace: dev, name: db}
"#;

/// A rule with `first_seen.*`: matched against the baselines as they stood before the event,
/// after the learning period only, the same on the prematched path; its examples run with
/// baselines that know the case's earlier records.
#[test]
fn first_seen_fields_in_rules_follow_the_baselines() {
    let rules = crate::sigma::load(&[crate::sigma::RuleSource {
        name: "first-read.yml".into(),
        text: FIRST_READ_RULE.into(),
        strict: true,
    }])
    .unwrap();
    let (cases, failures) =
        crate::sigma::run_examples(&rules, &crate::sigma::ReferenceLists::default()).unwrap();
    assert_eq!(cases, 4);
    assert!(failures.is_empty(), "{failures:?}");

    let mut cfg = DetectConfig::default();
    cfg.baseline.learning_days = 1;
    cfg.history_learning_days = 1;
    let read = |user: &str, name: &str, time: &str| {
        k8s(user, "", "get", Some("prod"), Some(name), 200, time, "")
    };
    let lines = vec![
        // Learning: nothing is first seen.
        read("oidc:ann", "db", "2026-11-03T09:00:00Z"),
        read("oidc:ann", "db", "2026-11-05T09:00:00Z"), // known
        read("oidc:ann", "api-key", "2026-11-05T09:10:00Z"), // new to ann: fires
        read("oidc:ann", "api-key", "2026-11-05T11:10:00Z"), // known now
        read("oidc:bob", "db", "2026-11-05T12:00:00Z"), // bob is new: fires
        read(
            "system:serviceaccount:prod:app",
            "cache",
            "2026-11-05T12:30:00Z",
        ),
    ];
    let fired = |prematched: bool| -> Vec<(String, String)> {
        let mut engine = Engine::with_rules(&cfg, &rules).unwrap();
        let matcher = engine.prematcher().unwrap();
        let mut parser = RecordParser::new(&OPTS, Format::Auto);
        let mut out = vec![];
        for l in &lines {
            parser.parse(l, &mut |p| {
                if let Parsed::Event(ev) = p {
                    if prematched {
                        engine.on_event_prematched(&ev, matcher.matches(&ev), &mut out);
                    } else {
                        engine.on_event(&ev, &mut out);
                    }
                }
            });
        }
        out.into_iter()
            .filter(|a| a.rule == "first-prod-secret-read-by-human")
            .map(|a| (a.principal, a.targets.join(",")))
            .collect()
    };
    let got = fired(false);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].0 == "oidc:ann" && got[0].1.contains("api-key"),
        "{got:?}"
    );
    assert!(got[1].0 == "oidc:bob" && got[1].1.contains("db"), "{got:?}");
    assert_eq!(fired(true), got, "prematched path");
}

/// Records of a real OpenBao 2.7.2 dev server (our own session through the `bao` CLI, see
/// tests/openbao/session.sh): the audit device's self-test, a KV v2 write by root (its response
/// carries `created_time` in clear, as Vault's audit hashing leaves time values), AppRole
/// logins and reads of two roles, the CLI's `sys/internal/ui/mounts` preflight and a refused
/// `sys/audit` delete. None of it is tampering or a leaked value; the two roles are two
/// principals.
#[test]
fn real_openbao_records_make_no_false_claims() {
    use secretwatch_ingest::{Decoder, Format, Input, ParseOptions};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/openbao-2.7.2.jsonl");
    let opts = ParseOptions::default();
    let mut decoder = Decoder::new(&opts, Format::Auto, None);
    let mut events = vec![];
    let mut input = Input::open(&path).unwrap();
    decoder
        .read_input(&mut input, &mut |e| events.push(e.into_owned()))
        .unwrap();
    decoder.finish(&mut |e| events.push(e)).unwrap();
    assert_eq!(decoder.stats.bad, 0);
    // 15 records: the self-test alone, then seven request/response pairs.
    assert_eq!(decoder.stats.records, 15);
    assert_eq!(events.len(), 7, "{events:#?}");
    assert!(events
        .iter()
        .all(|e| e.target.name.as_deref() != Some("sys/audit/test")));
    assert!(
        events.iter().all(|e| !e
            .redactions
            .contains(secretwatch_ingest::Redactions::VAULT_CLEAR_VALUE)),
        "{:#?}",
        events
            .iter()
            .map(|e| (&e.target.name, e.redactions))
            .collect::<Vec<_>>()
    );
    let mut names: Vec<&str> = events.iter().map(|e| e.principal.name.as_ref()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names, ["approle-checkout", "approle-dev-web", "token"]);
    let checkout = events
        .iter()
        .find(|e| e.principal.name == "approle-checkout")
        .unwrap();
    assert_eq!(
        checkout.principal.vault.as_ref().unwrap().role.as_deref(),
        Some("checkout")
    );

    let mut engine = crate::Engine::new(&crate::DetectConfig::default()).unwrap();
    let mut alerts = vec![];
    for e in &events {
        engine.on_event(e, &mut alerts);
    }
    engine.flush(&mut alerts);
    // The refused attempt to delete the file device is still worth an alert; the self-test
    // and the write are not.
    let rules: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| (a.rule.as_str(), a.targets[0].as_str()))
        .collect();
    assert!(
        !rules
            .iter()
            .any(|(r, _)| *r == "secret-values-in-audit-log"),
        "{alerts:#?}"
    );
    let tampering: Vec<_> = rules
        .iter()
        .filter(|(r, _)| *r == "audit-tampering")
        .collect();
    assert_eq!(tampering.len(), 1, "{alerts:#?}");
    assert!(tampering[0].1.ends_with("sys/audit/file"), "{tampering:?}");
}
