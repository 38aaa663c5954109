//! `rotation-sync-gap` and `rotation-restart-gap` on parsed events.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secretwatch_ingest::{Format, Parsed, RecordParser};

use crate::context::rotation::RotationSyncGap;
use crate::context::tests::{of, run, vault, world, K8s, ESO};
use crate::context::world::World;
use crate::context::{ContextConfig, SyncMapping};
use crate::detector::Detector;
use crate::Severity;

const ROTATOR: &str = "approle-rotator";
const PATH: &str = "secret/data/prod/payments/db";

fn config() -> ContextConfig {
    let mut cfg = world();
    let mut prod = SyncMapping::new(PATH, "prod", "payments-db", ESO);
    prod.workloads = vec!["payments".into()];
    prod.restart_sla_minutes = Some(10);
    let dev = SyncMapping::new("secret/data/dev/payments/db", "dev", "payments-db", ESO);
    cfg.sync = vec![prod, dev];
    cfg
}

fn write(id: &str, path: &str, time: &str) -> String {
    vault(id, ROTATOR, None, "update", path, time, "10.42.6.61")
}

fn sync(user: &str, time: &'static str) -> String {
    K8s {
        verb: "update",
        ..K8s::get(user, "prod", "payments-db", time)
    }
    .line()
}

fn restart(time: &'static str) -> String {
    K8s {
        verb: "patch",
        resource: "deployments",
        ..K8s::get(
            "system:serviceaccount:ci:deployer",
            "prod",
            "payments",
            time,
        )
    }
    .line()
}

/// Any event, to move event time on.
fn filler(time: &'static str) -> String {
    K8s::get("system:serviceaccount:prod:payments", "prod", "other", time).line()
}

fn story() -> Vec<String> {
    vec![
        // Rotated and synced within 15 min, restarted within 10 min of the sync: quiet.
        write("w1", PATH, "2026-11-03T10:00:00Z"),
        sync(ESO, "2026-11-03T10:05:00Z"),
        restart("2026-11-03T10:12:00Z"),
        // Rotated twice; the first write's deadline (12:15) holds.
        write("w2", PATH, "2026-11-03T12:00:00Z"),
        write("w3", PATH, "2026-11-03T12:10:00Z"),
        // Someone else writing the Secret is not the sync.
        sync("oidc:bob", "2026-11-03T12:12:00Z"),
        filler("2026-11-03T12:14:00Z"),
        filler("2026-11-03T12:20:00Z"),
        filler("2026-11-03T12:30:00Z"),
        // The late sync starts the restart timer (deadline 12:50), which runs out.
        sync(ESO, "2026-11-03T12:47:00Z"),
        filler("2026-11-03T13:00:00Z"),
        filler("2026-11-03T14:00:00Z"),
        // A write whose deadline is after the end of the data: not judged.
        write("w4", "secret/data/dev/payments/db", "2026-11-03T14:01:00Z"),
        filler("2026-11-03T14:05:00Z"),
    ]
}

#[test]
fn missing_sync_alerts_once_with_a_stable_id() {
    let cfg = config();
    let alerts = run(&cfg, &story());
    let gaps = of(&alerts, "rotation-sync-gap");
    assert_eq!(gaps.len(), 1, "{alerts:#?}");
    let gap = gaps[0];
    assert_eq!(gap.severity, Severity::High);
    assert_eq!(gap.principal, ROTATOR);
    assert_eq!(gap.event_ids, ["w2"]);
    assert_eq!(gap.targets, [PATH, "prod/secrets/payments-db"]);
    assert_eq!(
        gap.reason,
        "Vault secret/data/prod/payments/db was written at 2026-11-03T12:00:00Z by \
         approle-rotator; Kubernetes Secret prod/payments-db was not updated by \
         system:serviceaccount:external-secrets:external-secrets within 15 min (still stale \
         after 20 min, at 2026-11-03T12:20:00Z)"
    );
    let restarts = of(&alerts, "rotation-restart-gap");
    assert_eq!(restarts.len(), 1, "{alerts:#?}");
    assert_eq!(restarts[0].severity, Severity::Medium);
    assert!(
        restarts[0]
            .reason
            .contains("Deployment(s) prod/payments were not restarted within 10 min"),
        "{}",
        restarts[0].reason
    );
    assert_eq!(restarts[0].event_ids.len(), 2);
    assert_eq!(restarts[0].event_ids[1], "w2");
    assert_eq!(alerts.len(), 2, "{alerts:#?}");

    // A replay gives the same ids.
    let again = run(&cfg, &story());
    let ids = |a: &[crate::Alert]| a.iter().map(|x| x.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&alerts));
}

#[test]
fn sync_read_before_the_write_still_counts() {
    // Kubernetes file first, then the Vault file: the sync is seen before the write.
    let lines = vec![
        sync(ESO, "2026-11-03T10:05:00Z"),
        filler("2026-11-03T11:00:00Z"),
        write("w1", PATH, "2026-11-03T10:00:00Z"),
        filler("2026-11-03T11:30:00Z"),
    ];
    let mut cfg = config();
    cfg.sync[0].workloads.clear();
    let alerts = run(&cfg, &lines);
    assert!(of(&alerts, "rotation-sync-gap").is_empty(), "{alerts:#?}");
}

#[test]
fn one_timer_per_mapping() {
    let world = Arc::new(World::compile(&config()).unwrap());
    let mut det = RotationSyncGap::new(world);
    let opts = secretwatch_ingest::ParseOptions::default();
    let mut parser = RecordParser::new(&opts, Format::Auto);
    let mut out = vec![];
    let lines: Vec<String> = (0..10)
        .map(|i| write(&format!("w{i}"), PATH, &format!("2026-11-03T10:0{i}:00Z")))
        .collect();
    for l in &lines {
        parser.parse(l, &mut |p| {
            if let Parsed::Event(e) = p {
                det.on_event(&e, &mut out);
            }
        });
    }
    assert_eq!(det.timers(), (1, 0));
    let t: DateTime<Utc> = "2026-11-03T10:15:00Z".parse().unwrap();
    det.on_tick(t, &mut out);
    assert!(out.is_empty(), "the deadline itself is within the SLA");
    det.on_tick(t + chrono::Duration::seconds(1), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].event_ids, ["w0"]);
    det.flush(&mut out);
    assert_eq!(out.len(), 1);
}

/// The story split at any point, the detector's state exported and imported into a fresh one
/// (a restart, or the partition moving to another instance): the same alerts, same ids.
#[test]
fn pending_writes_and_restarts_survive_export_and_import() {
    let cfg = config();
    let whole = run(&cfg, &story());
    let ids = |a: &[crate::Alert]| {
        let mut v: Vec<String> = a.iter().map(|x| x.id.clone()).collect();
        v.sort();
        v
    };
    let opts = secretwatch_ingest::ParseOptions::default();
    let lines = story();
    for split in [3, 5, 9, 11] {
        let world = Arc::new(World::compile(&cfg).unwrap());
        let mut parser = RecordParser::new(&opts, Format::Auto);
        let mut out = vec![];
        let mut first = RotationSyncGap::new(world.clone());
        for l in &lines[..split] {
            parser.parse(l, &mut |p| {
                if let Parsed::Event(e) = p {
                    first.on_event(&e, &mut out);
                }
            });
        }
        let saved = first.export_state().unwrap();
        // Through text, as the state file holds it.
        let saved: serde_json::Value = serde_json::from_str(&saved.to_string()).unwrap();
        let mut second = RotationSyncGap::new(world);
        second.import_state(saved).unwrap();
        for l in &lines[split..] {
            parser.parse(l, &mut |p| {
                if let Parsed::Event(e) = p {
                    second.on_event(&e, &mut out);
                }
            });
        }
        second.flush(&mut out);
        assert_eq!(ids(&out), ids(&whole), "split at {split}");
    }
    // Without the state, a split before the late sync loses the gap.
    let world = Arc::new(World::compile(&cfg).unwrap());
    let mut fresh = RotationSyncGap::new(world);
    let mut parser = RecordParser::new(&opts, Format::Auto);
    let mut out = vec![];
    for l in &lines[5..] {
        parser.parse(l, &mut |p| {
            if let Parsed::Event(e) = p {
                fresh.on_event(&e, &mut out);
            }
        });
    }
    fresh.flush(&mut out);
    assert_ne!(ids(&out), ids(&whole));
}
