//! The context detections over the committed sample (`datasets/sample`), configured from the
//! sample's own world (`manifest.json`): every labeled story of theirs is found (recall), and
//! no alert lands on benign traffic (precision).
//!
//! Alerts on events of another detection's story are expected where stories overlap and are
//! counted apart: the dev checkout service account reading a prod Secret is a cross-environment
//! story but also crosses namespaces; the dev webapp account reading staging Secrets is a
//! cross-namespace story but also crosses environments; the dev build-bot listing Secrets in all
//! namespaces is a cluster-wide-list story, and all namespaces are not its own.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::context::{detectors, ContextConfig, SyncMapping, TeamConfig};
use crate::test_support::{read_events, sample_dir};
use crate::{Alert, Engine};

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The config an operator of the sample's world would write.
fn config_from_manifest(m: &Value) -> ContextConfig {
    let w = &m["world"];
    let mut cfg = ContextConfig::default();
    for ns in w["namespaces"].as_array().unwrap() {
        if let (Some(name), Some(env)) = (ns["name"].as_str(), ns["environment"].as_str()) {
            cfg.environments.insert(name.into(), env.into());
        }
    }
    cfg.multi_namespace_readers = strings(&w["kubernetes"]["multi_namespace_secret_readers"]);
    if let Some(op) = w["sync"]["operator_vault_display_name"].as_str() {
        cfg.multi_namespace_readers.push(op.into());
    }
    cfg.cluster_cidrs = strings(&w["cidrs"]["internal"])
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    for t in w["teams"].as_array().unwrap() {
        let mut team = TeamConfig::new(
            t["name"].as_str().unwrap(),
            t["timezone"].as_str().unwrap(),
            &[],
        );
        for m in t["members"].as_array().unwrap() {
            for key in ["kubernetes_user", "vault_display_name"] {
                if let Some(id) = m[key].as_str() {
                    team.members.push(id.into());
                }
            }
        }
        team.work_days = strings(&t["work_hours"]["days"]);
        team.work_start = t["work_hours"]["start"].as_str().unwrap().into();
        team.work_end = t["work_hours"]["end"].as_str().unwrap().into();
        cfg.teams.push(team);
    }
    let operator = w["sync"]["operator_kubernetes_user"].as_str().unwrap();
    let sla = (w["sync"]["sla_seconds"].as_u64().unwrap() / 60) as u32;
    // Workloads: the app whose name prefixes the Secret, in the same namespace. The manifest says
    // the deployer restarts them 2 to 12 minutes after the sync: 15 minutes is the SLA.
    let apps: Vec<(String, String)> = w["kubernetes"]["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["namespace"].as_str().unwrap().to_string(),
                x["app"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for s in m["sync_mappings"].as_array().unwrap() {
        let (ns, secret) = (
            s["namespace"].as_str().unwrap(),
            s["secret"].as_str().unwrap(),
        );
        let mut mapping = SyncMapping::new(s["vault_path"].as_str().unwrap(), ns, secret, operator);
        mapping.sla_minutes = sla;
        mapping.workloads = apps
            .iter()
            .filter(|(n, app)| n == ns && secret.starts_with(&format!("{app}-")))
            .map(|(_, app)| app.clone())
            .collect();
        mapping.restart_sla_minutes = Some(15);
        cfg.sync.push(mapping);
    }
    cfg
}

const OURS: [&str; 7] = [
    "cross-namespace-secret-read",
    "missing-secret",
    "helm-release-read-by-non-deployer",
    "cross-environment-secret-access",
    "off-hours-human-prod-read",
    "sa-token-outside-cluster",
    "rotation-sync-gap",
];

#[test]
fn sample_stories_are_found_and_benign_traffic_is_quiet() {
    let dir = sample_dir();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let cfg = config_from_manifest(&manifest);
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    let labels: Vec<Value> = std::fs::read_to_string(dir.join("labels.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids = |v: &Value| -> HashSet<String> { strings(&v["event_ids"]).into_iter().collect() };

    let events = read_events(&[
        "k8s-audit.jsonl.gz",
        "vault-audit.jsonl.gz",
        "cloudtrail.jsonl.gz",
    ]);
    // With the shipped catalogue, as the engine builds them (Velero lists every namespace).
    let full = crate::DetectConfig {
        context: cfg,
        ..Default::default()
    };
    let cfg = crate::engine::with_catalogue(&full).context;
    let mut engine = Engine::with_detectors(detectors(&cfg).unwrap());
    assert_eq!(engine.rules(), OURS);
    let mut alerts: Vec<Alert> = vec![];
    for e in &events {
        engine.on_event(e, &mut alerts);
    }
    engine.flush(&mut alerts);

    // Per rule: stories found, alerts on its own stories, on other stories, on benign events.
    let mut table: BTreeMap<&str, [usize; 5]> = BTreeMap::new();
    for rule in OURS.iter().chain(&["rotation-restart-gap"]) {
        let stories: Vec<&Value> = labels.iter().filter(|l| l["detection"] == *rule).collect();
        let mine: Vec<&Alert> = alerts.iter().filter(|a| a.rule == *rule).collect();
        let found = stories
            .iter()
            .filter(|s| {
                let want = ids(s);
                mine.iter()
                    .any(|a| a.event_ids.iter().any(|e| want.contains(e)))
            })
            .count();
        let (mut own, mut other, mut benign) = (0, 0, 0);
        let hits = |a: &Alert, l: &Value| {
            let want = ids(l);
            a.event_ids.iter().any(|e| want.contains(e))
        };
        for a in &mine {
            if stories.iter().any(|l| hits(a, l)) {
                own += 1;
            } else if labels.iter().any(|l| hits(a, l)) {
                other += 1;
            } else {
                benign += 1;
                println!("benign alert: {} {}", a.rule, a.reason);
            }
        }
        table.insert(rule, [stories.len(), found, own, other, benign]);
    }
    println!("rule: [stories, found, alerts on own stories, on other stories, on benign]");
    for (rule, row) in &table {
        println!("  {rule}: {row:?}");
    }
    for a in &alerts {
        println!("{} {} | {}", a.rule, a.severity, a.reason);
    }

    for rule in OURS {
        let [stories, found, ..] = table[rule];
        assert!(stories > 0, "the sample has no {rule} story");
        assert_eq!(found, stories, "{rule}: {found} of {stories} stories found");
    }
    for (rule, row) in &table {
        assert_eq!(row[4], 0, "{rule}: alerts on benign traffic");
    }
    for rule in [
        "sa-token-outside-cluster",
        "off-hours-human-prod-read",
        "rotation-sync-gap",
        "rotation-restart-gap",
    ] {
        assert_eq!(table[rule][3], 0, "{rule}: alerts on other stories");
    }
    // Overlapping stories (see the module doc): 2 for cross-namespace, 1 for cross-environment.
    assert_eq!(table["cross-namespace-secret-read"][3], 2);
    assert_eq!(table["cross-environment-secret-access"][3], 1);
    // One alert per story (per principal and window), none repeated.
    assert_eq!(table["off-hours-human-prod-read"][2], 2);
    assert_eq!(table["rotation-sync-gap"][2], 1);
    assert_eq!(table["sa-token-outside-cluster"][2], 1);
}
