//! The committed sample: `scan` reads it with no bad records, the built-in detections find the
//! labeled stories they cover, and nothing in the benign traffic raises an alert.

mod common;

use std::collections::{HashMap, HashSet};

use common::{alerts, root, run, stderr};

#[test]
fn sample_stories_are_found_and_benign_traffic_is_quiet() {
    let sample = root().join("datasets/sample");
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "scan",
            "--config",
            sample.join("secretwatch.toml").to_str().unwrap(),
            sample.join("k8s-audit.jsonl.gz").to_str().unwrap(),
            sample.join("vault-audit.jsonl.gz").to_str().unwrap(),
            sample.join("cloudtrail.jsonl.gz").to_str().unwrap(),
        ],
        None,
        // The sample's own first-seen learning period (the harness's default is none): its
        // first day's cloud reads are learned, as on a real first day.
        &[("SECRETWATCH_DETECT__HISTORY_LEARNING_DAYS", "1")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("bad records: 0"), "{err}");

    let labels: Vec<serde_json::Value> = std::fs::read_to_string(sample.join("labels.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids = |v: &serde_json::Value, key: &str| -> HashSet<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    let labeled: HashSet<String> = labels.iter().flat_map(|l| ids(l, "event_ids")).collect();
    let got = alerts(&out);
    assert!(!got.is_empty());

    // Precision: every alert comes from an injected story's events.
    for a in &got {
        let ev = ids(a, "event_ids");
        assert!(!ev.is_disjoint(&labeled), "alert on benign traffic: {a}");
    }

    // Recall of the built-in detections: every story of theirs raises its alert, except that the
    // audit-log finding is once per source and day.
    let mut by_rule: HashMap<String, Vec<&serde_json::Value>> = HashMap::new();
    for a in &got {
        by_rule
            .entry(a["rule"].as_str().unwrap().to_string())
            .or_default()
            .push(a);
    }
    for rule in [
        "k8s-secrets-list-cluster-wide",
        "break-glass-use",
        "anonymous-secret-access",
        "secret-values-in-audit-log",
    ] {
        let stories: Vec<_> = labels.iter().filter(|l| l["detection"] == rule).collect();
        assert!(!stories.is_empty(), "the sample has no {rule} story");
        let hits = stories
            .iter()
            .filter(|l| {
                by_rule
                    .get(rule)
                    .into_iter()
                    .flatten()
                    .any(|a| !ids(a, "event_ids").is_disjoint(&ids(l, "event_ids")))
            })
            .count();
        if rule == "secret-values-in-audit-log" {
            assert!(hits >= 1, "{rule}: no story found");
        } else {
            assert_eq!(
                hits,
                stories.len(),
                "{rule}: {hits} of {} stories found",
                stories.len()
            );
        }
    }
    let break_glass: Vec<_> = by_rule["break-glass-use"]
        .iter()
        .map(|a| a["principal"].as_str().unwrap())
        .collect();
    assert!(
        break_glass.contains(&"root") && break_glass.contains(&"break-glass-admin"),
        "{break_glass:?}"
    );
}
