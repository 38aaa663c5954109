//! End-to-end checks of the generated files through the public API.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use secretwatch_datasets::{generate, GenerateOptions, GenerateSummary, DETECTIONS};
use serde_json::Value;

fn small(seed: u64, stories: bool, dir: &Path) -> GenerateSummary {
    let mut opts = GenerateOptions::new(2, seed, dir.to_path_buf());
    opts.scale = 0.05;
    opts.stories = stories;
    generate(&opts).expect("generation succeeds")
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("file exists")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

fn parse_time(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad time {s}: {e}"))
        .with_timezone(&chrono::Utc)
}

struct Data {
    k8s: Vec<Value>,
    vault: Vec<Value>,
    cloudtrail: Vec<Value>,
    labels: Vec<Value>,
    manifest: Value,
}

fn load(dir: &Path) -> Data {
    Data {
        k8s: lines(&dir.join("k8s-audit.jsonl")),
        vault: lines(&dir.join("vault-audit.jsonl")),
        cloudtrail: lines(&dir.join("cloudtrail.jsonl")),
        labels: lines(&dir.join("labels.jsonl")),
        manifest: serde_json::from_str(
            &std::fs::read_to_string(dir.join("manifest.json")).unwrap(),
        )
        .unwrap(),
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let sa = small(42, true, a.path());
    let sb = small(42, true, b.path());
    small(43, true, c.path());
    assert_eq!(sa.k8s_events, sb.k8s_events);
    for f in [
        "k8s-audit.jsonl",
        "vault-audit.jsonl",
        "cloudtrail.jsonl",
        "labels.jsonl",
        "manifest.json",
    ] {
        let x = std::fs::read(a.path().join(f)).unwrap();
        let y = std::fs::read(b.path().join(f)).unwrap();
        assert!(x == y, "{f} differs between runs with the same seed");
        assert!(!x.is_empty(), "{f} is empty");
    }
    for f in [
        "k8s-audit.jsonl",
        "vault-audit.jsonl",
        "cloudtrail.jsonl",
        "labels.jsonl",
    ] {
        let x = std::fs::read(a.path().join(f)).unwrap();
        let z = std::fs::read(c.path().join(f)).unwrap();
        assert!(x != z, "{f} is the same for different seeds");
    }
}

#[test]
fn files_are_well_formed_sorted_and_labeled() {
    let dir = tempfile::tempdir().unwrap();
    let summary = small(7, true, dir.path());
    assert_eq!(summary.files.len(), 5);
    let d = load(dir.path());
    assert_eq!(d.k8s.len() as u64, summary.k8s_events);
    assert_eq!(d.vault.len() as u64, summary.vault_entries);
    assert_eq!(d.cloudtrail.len() as u64, summary.cloudtrail_records);
    assert!(
        d.cloudtrail.len() > 300,
        "too few CloudTrail records: {}",
        d.cloudtrail.len()
    );
    assert_eq!(d.labels.len() as u64, summary.stories);
    assert!(d.k8s.len() > 2000, "too few k8s events: {}", d.k8s.len());
    assert!(
        d.vault.len() > 200,
        "too few vault entries: {}",
        d.vault.len()
    );

    let mut audit_ids = BTreeSet::new();
    let mut prev = String::new();
    for ev in &d.k8s {
        for key in [
            "kind",
            "apiVersion",
            "auditID",
            "stage",
            "verb",
            "user.username",
            "requestURI",
            "requestReceivedTimestamp",
            "stageTimestamp",
            "level",
        ] {
            assert!(get(ev, key).is_some(), "k8s event without {key}: {ev}");
        }
        assert_eq!(ev["kind"], "Event");
        assert_eq!(ev["apiVersion"], "audit.k8s.io/v1");
        let stage_ts = ev["stageTimestamp"].as_str().unwrap();
        assert_eq!(stage_ts.len(), "2026-11-02T09:13:45.123456Z".len());
        assert!(
            stage_ts >= prev.as_str(),
            "k8s events out of order at {stage_ts}"
        );
        assert!(ev["requestReceivedTimestamp"].as_str().unwrap() <= stage_ts);
        prev = stage_ts.to_string();
        if let Some(o) = ev.get("objectRef") {
            let uri = ev["requestURI"].as_str().unwrap();
            // A create POSTs to the collection; the name comes from the body (ResponseComplete).
            let posted = ev["verb"] == "create";
            if let Some(name) = o.get("name").and_then(Value::as_str).filter(|_| !posted) {
                assert!(
                    uri.contains(&format!("/{name}")),
                    "URI {uri} does not match objectRef {o}"
                );
            }
            if let Some(ns) = o.get("namespace").and_then(Value::as_str) {
                assert!(
                    uri.contains(&format!("/namespaces/{ns}/")),
                    "URI {uri} does not match objectRef {o}"
                );
            }
        }
        audit_ids.insert(ev["auditID"].as_str().unwrap().to_string());
    }

    // CloudTrail: the record fields the parsers and the peers' rules read, in time order.
    let mut trail_ids = BTreeSet::new();
    let mut prev_ct = String::new();
    for r in &d.cloudtrail {
        for key in [
            "eventVersion",
            "userIdentity.accountId",
            "eventTime",
            "eventSource",
            "eventName",
            "awsRegion",
            "sourceIPAddress",
            "userAgent",
            "eventID",
            "eventType",
            "recipientAccountId",
        ] {
            assert!(
                get(r, key).is_some(),
                "CloudTrail record without {key}: {r}"
            );
        }
        let t = r["eventTime"].as_str().unwrap();
        assert_eq!(
            t.len(),
            "2026-11-02T09:13:45Z".len(),
            "eventTime to the second: {t}"
        );
        assert!(
            t >= prev_ct.as_str(),
            "CloudTrail records out of order at {t}"
        );
        prev_ct = t.to_string();
        // Static keys are IAM users' (AKIA), session keys are roles' (ASIA); service events
        // have no key and no type.
        match get(r, "userIdentity.type").and_then(Value::as_str) {
            Some("IAMUser") => assert!(r["userIdentity"]["accessKeyId"]
                .as_str()
                .unwrap()
                .starts_with("AKIA")),
            Some("AssumedRole") => {
                assert!(r["userIdentity"]["accessKeyId"]
                    .as_str()
                    .unwrap()
                    .starts_with("ASIA"));
                let arn = r["userIdentity"]["arn"].as_str().unwrap();
                let session = arn.rsplit('/').next().unwrap();
                assert!(
                    r["userIdentity"]["principalId"]
                        .as_str()
                        .unwrap()
                        .ends_with(&format!(":{session}")),
                    "principalId does not end with the session name: {r}"
                );
            }
            None => assert_eq!(r["eventType"], "AwsServiceEvent"),
            other => panic!("unexpected identity type {other:?}"),
        }
        // A secret value never appears: writes carry AWS's placeholder.
        if let Some(v) = get(r, "requestParameters.secretString") {
            assert_eq!(v, "HIDDEN_DUE_TO_SECURITY_REASONS");
        }
        assert!(
            trail_ids.insert(r["eventID"].as_str().unwrap().to_string()),
            "duplicate eventID"
        );
    }

    let mut pairs: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut prev_t = None;
    for e in &d.vault {
        for key in [
            "time",
            "type",
            "request.id",
            "request.path",
            "request.operation",
            "request.namespace.id",
            "auth",
        ] {
            assert!(get(e, key).is_some(), "vault entry without {key}: {e}");
        }
        let t = parse_time(e["time"].as_str().unwrap());
        assert!(
            prev_t.is_none_or(|p| p <= t),
            "vault entries out of order at {t}"
        );
        prev_t = Some(t);
        for key in [
            "auth.client_token",
            "auth.accessor",
            "request.client_token",
            "request.client_token_accessor",
            "response.auth.client_token",
            "response.auth.accessor",
        ] {
            if let Some(v) = get(e, key) {
                let s = v.as_str().unwrap();
                assert!(
                    s.starts_with("hmac-sha256:") && s.len() == 12 + 64,
                    "{key} not HMAC'd: {s}"
                );
            }
        }
        let entry = pairs
            .entry(e["request"]["id"].as_str().unwrap().to_string())
            .or_default();
        match e["type"].as_str() {
            Some("request") => entry.0 += 1,
            Some("response") => entry.1 += 1,
            other => panic!("bad type {other:?}"),
        }
        if e.get("error").is_some() {
            assert_eq!(e["auth"]["policy_results"]["allowed"], false);
        }
    }
    for (id, (req, resp)) in &pairs {
        assert_eq!(
            (*req, *resp),
            (1, 1),
            "request id {id} has {req} request and {resp} response entries"
        );
    }

    let detections: BTreeSet<&str> = d
        .labels
        .iter()
        .map(|l| l["detection"].as_str().unwrap())
        .collect();
    for det in DETECTIONS {
        assert!(detections.contains(det), "no story for {det}");
    }
    let mut stories = BTreeSet::new();
    for l in &d.labels {
        for key in [
            "story",
            "detection",
            "source",
            "principal",
            "event_ids",
            "start",
            "end",
            "description",
        ] {
            assert!(l.get(key).is_some(), "label without {key}: {l}");
        }
        assert!(
            stories.insert(l["story"].as_str().unwrap().to_string()),
            "duplicate story id"
        );
        assert!(parse_time(l["start"].as_str().unwrap()) <= parse_time(l["end"].as_str().unwrap()));
        assert!(
            parse_time(l["start"].as_str().unwrap()) >= parse_time("2026-11-03T00:00:00Z"),
            "story on the first day: {l}"
        );
        let ids = l["event_ids"].as_array().unwrap();
        assert!(!ids.is_empty());
        for id in ids {
            let id = id.as_str().unwrap();
            let found = match l["source"].as_str().unwrap() {
                "kubernetes" => audit_ids.contains(id),
                "vault" => pairs.contains_key(id),
                "aws" => trail_ids.contains(id),
                other => panic!("bad source {other}"),
            };
            assert!(found, "label {} names unknown event {id}", l["story"]);
        }
    }
    let bulk = d
        .labels
        .iter()
        .find(|l| l["detection"] == "bulk-secret-reads")
        .unwrap();
    assert!(bulk["event_ids"].as_array().unwrap().len() >= 40);

    let m = &d.manifest;
    assert!(m["sync_mappings"]
        .as_array()
        .unwrap()
        .iter()
        .any(
            |s| s["vault_path"] == "secret/data/prod/payments/db-credentials"
                && s["secret"] == "payments-db-credentials"
        ));
    assert_eq!(m["world"]["cidrs"]["pod"], "10.42.0.0/16");
    assert_eq!(m["world"]["teams"].as_array().unwrap().len(), 3);
    assert_eq!(m["counts"]["k8s_events"].as_u64(), Some(summary.k8s_events));
    assert_eq!(
        m["counts"]["cloudtrail_records"].as_u64(),
        Some(summary.cloudtrail_records)
    );
    assert_eq!(m["world"]["aws"]["accounts"].as_array().unwrap().len(), 2);
}

#[test]
fn benign_traffic_does_not_look_like_a_story() {
    let dir = tempfile::tempdir().unwrap();
    small(11, true, dir.path());
    let d = load(dir.path());
    let labeled: BTreeSet<&str> = d
        .labels
        .iter()
        .flat_map(|l| {
            l["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap())
        })
        .collect();
    let allowed_cluster_wide = [
        "system:kube-controller-manager",
        "system:serviceaccount:external-secrets:external-secrets",
        // Velero's nightly backup lists every namespace's Secrets.
        "system:serviceaccount:velero:velero-server",
        // The ecosystem's Secret informers.
        "system:serviceaccount:kube-state-metrics:kube-state-metrics",
        "system:serviceaccount:ingress-nginx:ingress-nginx",
        "system:serviceaccount:istio-system:istiod",
        "system:serviceaccount:argocd:argocd-application-controller",
    ];
    let offsets: BTreeMap<&str, i64> = [
        ("alice", 60),
        ("dieter", 60),
        ("bob", -300),
        ("carol", -300),
        ("chen", 480),
        ("mei", 480),
    ]
    .into_iter()
    .collect();
    for ev in &d.k8s {
        let id = ev["auditID"].as_str().unwrap();
        if labeled.contains(id) {
            continue;
        }
        let user = ev["user"]["username"].as_str().unwrap();
        let resource = get(ev, "objectRef.resource").and_then(Value::as_str);
        let ns = get(ev, "objectRef.namespace").and_then(Value::as_str);
        let verb = ev["verb"].as_str().unwrap();
        let code = ev["responseStatus"]["code"].as_u64();
        if resource == Some("secrets") {
            if ns.is_none() {
                assert!(
                    allowed_cluster_wide.contains(&user),
                    "unlabeled cluster-wide secret {verb} by {user}"
                );
            }
            assert_ne!(
                user, "system:anonymous",
                "unlabeled anonymous secret access"
            );
            assert_ne!(code, Some(404), "unlabeled secret 404");
            assert_eq!(
                ev["level"], "Metadata",
                "unlabeled secret event with a body"
            );
            if let (Some(name), Some("prod"), Some("get")) = (
                user.strip_prefix("oidc:").and_then(|u| u.split('@').next()),
                ns,
                Some(verb),
            ) {
                let t = parse_time(ev["requestReceivedTimestamp"].as_str().unwrap())
                    + chrono::Duration::minutes(offsets[name]);
                use chrono::{Datelike, Timelike};
                let wd = t.weekday().num_days_from_monday();
                assert!(
                    wd < 5 && (9..18).contains(&t.hour()),
                    "unlabeled off-hours prod read by {user} at {t}"
                );
            }
            if let Some(rest) = user.strip_prefix("system:serviceaccount:") {
                let sa_ns = rest.split(':').next().unwrap();
                if ["dev", "staging", "prod"].contains(&sa_ns) {
                    assert_eq!(
                        ns,
                        Some(sa_ns),
                        "unlabeled cross-namespace secret access by {user}"
                    );
                }
            }
        }
        let groups = ev["user"]["groups"].as_array().unwrap();
        assert!(
            !groups.iter().any(|g| g == "system:masters"),
            "unlabeled system:masters request"
        );
        assert!(
            ev.get("impersonatedUser").is_none(),
            "unlabeled impersonation"
        );
        assert_ne!(verb, "deletecollection");
        let ip = ev["sourceIPs"][0].as_str().unwrap();
        if user.starts_with("system:serviceaccount:") {
            assert!(
                ip.starts_with("10.42.") || ip.starts_with("10.0.0."),
                "unlabeled SA request from {ip}"
            );
        }
    }
    for e in &d.vault {
        let id = e["request"]["id"].as_str().unwrap();
        if labeled.contains(id) {
            continue;
        }
        let name = get(e, "auth.display_name")
            .and_then(Value::as_str)
            .unwrap_or("");
        assert_ne!(name, "root", "unlabeled root token use");
        let path = e["request"]["path"].as_str().unwrap();
        assert!(
            !path.starts_with("sys/audit"),
            "unlabeled audit device change"
        );
        assert!(!path.starts_with("sys/policies"), "unlabeled policy change");
        if let Some(env) = name
            .strip_prefix("kubernetes-")
            .and_then(|r| r.split('-').next())
        {
            if ["dev", "staging", "prod"].contains(&env) && path.starts_with("secret/") {
                assert!(
                    path.starts_with(&format!("secret/data/{env}/")),
                    "unlabeled cross-env Vault read {path} by {name}"
                );
            }
        }
    }
}

#[test]
fn rotations_sync_within_sla_except_the_story() {
    let dir = tempfile::tempdir().unwrap();
    small(3, true, dir.path());
    let d = load(dir.path());
    let sla = d.manifest["world"]["sync"]["sla_seconds"].as_i64().unwrap();
    let es = d.manifest["world"]["sync"]["operator_kubernetes_user"]
        .as_str()
        .unwrap();
    let rotations = d.manifest["world"]["rotations"].as_array().unwrap();
    assert!(
        rotations.len() >= 2,
        "expected a benign and a story rotation"
    );
    assert_eq!(rotations.iter().filter(|r| r["story"] == true).count(), 1);
    for r in rotations {
        let at = parse_time(r["time"].as_str().unwrap());
        let path = r["vault_path"].as_str().unwrap();
        let (ns, name) = r["kubernetes_secret"]
            .as_str()
            .unwrap()
            .split_once('/')
            .unwrap();
        assert!(
            d.vault.iter().any(|e| e["request"]["path"] == path
                && e["request"]["operation"] == "update"
                && get(e, "auth.display_name").and_then(Value::as_str) == Some("approle-rotator")),
            "no rotator write of {path}"
        );
        let synced = d
            .k8s
            .iter()
            .filter(|e| {
                e["user"]["username"] == es
                    && e["verb"] == "update"
                    && e["stage"] == "ResponseComplete"
            })
            .filter(|e| get(e, "objectRef.resource") == Some(&Value::from("secrets")))
            .filter(|e| {
                get(e, "objectRef.namespace") == Some(&Value::from(ns))
                    && get(e, "objectRef.name") == Some(&Value::from(name))
            })
            .map(|e| parse_time(e["stageTimestamp"].as_str().unwrap()))
            .find(|t| *t >= at)
            .unwrap_or_else(|| panic!("{name} never synced after {at}"));
        let gap = (synced - at).num_seconds();
        if r["story"] == true {
            assert!(gap >= 2 * sla, "story sync gap only {gap}s");
        } else {
            assert!(gap <= sla, "benign sync of {name} took {gap}s");
        }
    }
}

#[test]
fn every_benign_secret_reader_is_seen_on_the_first_day() {
    let dir = tempfile::tempdir().unwrap();
    small(9, true, dir.path());
    let d = load(dir.path());
    let labeled: BTreeSet<&str> = d
        .labels
        .iter()
        .flat_map(|l| {
            l["event_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_str().unwrap())
        })
        .collect();
    let day1 = "2026-11-03";
    let (mut k8s_first, mut k8s_later) = (BTreeSet::new(), BTreeSet::new());
    for ev in d
        .k8s
        .iter()
        .filter(|e| get(e, "objectRef.resource") == Some(&Value::from("secrets")))
    {
        if labeled.contains(ev["auditID"].as_str().unwrap()) {
            continue;
        }
        let user = ev["user"]["username"].as_str().unwrap().to_string();
        if ev["stageTimestamp"].as_str().unwrap() < day1 {
            k8s_first.insert(user);
        } else {
            k8s_later.insert(user);
        }
    }
    let unseen: Vec<_> = k8s_later.difference(&k8s_first).collect();
    assert!(
        unseen.is_empty(),
        "benign Kubernetes secret readers first seen after day one: {unseen:?}"
    );
    let (mut v_first, mut v_later) = (BTreeSet::new(), BTreeSet::new());
    for e in d.vault.iter().filter(|e| {
        e["request"]["path"]
            .as_str()
            .unwrap()
            .starts_with("secret/")
    }) {
        if labeled.contains(e["request"]["id"].as_str().unwrap()) {
            continue;
        }
        let name = e["auth"]["display_name"].as_str().unwrap().to_string();
        if e["time"].as_str().unwrap() < day1 {
            v_first.insert(name);
        } else {
            v_later.insert(name);
        }
    }
    let unseen: Vec<_> = v_later.difference(&v_first).collect();
    assert!(
        unseen.is_empty(),
        "benign Vault secret readers first seen after day one: {unseen:?}"
    );
}

#[test]
fn no_stories_no_labels() {
    let dir = tempfile::tempdir().unwrap();
    let s = small(5, false, dir.path());
    assert_eq!(s.stories, 0);
    assert!(lines(&dir.path().join("labels.jsonl")).is_empty());
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["options"]["stories"], false);
    assert!(m["stories"].as_array().unwrap().is_empty());
}

#[test]
fn invalid_options_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = GenerateOptions::new(0, 1, dir.path().to_path_buf());
    assert!(generate(&opts).is_err());
    opts.days = 1;
    opts.scale = -1.0;
    assert!(generate(&opts).is_err());
}

/// Volume and speed at full scale: `cargo test --release -p secretwatch-datasets -- --ignored --nocapture`.
#[test]
#[ignore]
fn full_week_timing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenerateOptions::new(7, 1, dir.path().to_path_buf());
    let started = std::time::Instant::now();
    let s = generate(&opts).unwrap();
    let took = started.elapsed();
    println!(
        "7 days at scale 1: {} k8s events ({}/day), {} vault entries ({}/day), {} labels in {:.2?}",
        s.k8s_events,
        s.k8s_events / 7,
        s.vault_entries,
        s.vault_entries / 7,
        s.stories,
        took
    );
}
