//! Planted canary secrets never survive ingest: not in any field of any event (what is stored,
//! alerted and forwarded downstream), not in the dead-letter file.

use std::path::PathBuf;

use secretwatch_ingest::{DeadLetter, Decoder, Format, Input, ParseOptions};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn canaries() -> Vec<String> {
    std::fs::read_to_string(fixtures().join("canaries.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn no_canary_in_events_or_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let dl_path = dir.path().join("dead.jsonl");
    let opts = ParseOptions::default();
    let mut decoder = Decoder::new(&opts, Format::Auto, Some(DeadLetter::new(&dl_path)));
    let mut events = vec![];
    for f in ["canary-k8s.jsonl", "canary-vault.jsonl"] {
        let mut input = Input::open(&fixtures().join(f)).unwrap();
        decoder
            .read_input(&mut input, &mut |ev| {
                events.push(serde_json::to_string(&ev).unwrap())
            })
            .unwrap();
    }
    decoder
        .finish(&mut |ev| events.push(serde_json::to_string(&ev).unwrap()))
        .unwrap();
    let dead = std::fs::read_to_string(&dl_path).unwrap();

    // The inputs really went through: events out, bad records dead-lettered, secrets found.
    let stats = &decoder.stats;
    assert_eq!(stats.bad, 5, "{stats:?}");
    assert_eq!(dead.lines().count(), 5);
    assert!(events.len() >= 13, "{}", events.len());
    assert!(stats.redacted_events >= 10, "{stats:?}");

    let canaries = canaries();
    assert!(canaries.len() >= 10);
    for c in &canaries {
        for (i, e) in events.iter().enumerate() {
            assert!(!e.contains(c.as_str()), "canary {c} in event {i}: {e}");
        }
        assert!(
            !dead.contains(c.as_str()),
            "canary {c} in dead-letter: {dead}"
        );
    }
    // Structure survives redaction: secret names and keys are still there for analysts.
    assert!(events
        .iter()
        .any(|e| e.contains(r#"\"password\":\"[REDACTED]\""#)));
    assert!(dead.contains("canary-k8s.jsonl:10"), "{dead}");
}

/// The cloud formats and managed-Kubernetes envelopes: values planted where each vendor's
/// records can carry one (CloudTrail `secretString`/`secretBinary` and value-read responses,
/// GCP `payload.data`, Azure `value`, credential headers, tokens in URIs, Secret bodies inside
/// EKS/AKS/GKE envelopes) never reach an event or the dead-letter file.
#[test]
fn no_canary_from_cloud_formats() {
    let dir = tempfile::tempdir().unwrap();
    let dl_path = dir.path().join("dead.jsonl");
    let opts = ParseOptions::default();
    let mut decoder = Decoder::new(&opts, Format::Auto, Some(DeadLetter::new(&dl_path)));
    let mut events = vec![];
    let mut input = Input::open(&fixtures().join("canary-cloud.jsonl")).unwrap();
    decoder
        .read_input(&mut input, &mut |ev| {
            events.push((
                ev.source.as_str(),
                ev.id.to_string(),
                ev.redactions.removed_secret(),
                serde_json::to_string(&ev).unwrap(),
            ))
        })
        .unwrap();
    decoder.finish(&mut |_| {}).unwrap();
    let dead = std::fs::read_to_string(&dl_path).unwrap();

    let stats = &decoder.stats;
    assert_eq!(stats.bad, 3, "{stats:?}");
    assert_eq!(dead.lines().count(), 3);
    // 9 records, BatchGetSecretValue of two secrets is two events.
    assert_eq!(events.len(), 10, "{events:?}");
    for source in ["aws", "azure", "gcp", "kubernetes"] {
        assert!(events.iter().any(|e| e.0 == source), "no {source} event");
    }
    // Every record carried a value, and each event says it was removed.
    for (source, id, removed, json) in &events {
        assert!(removed, "{source} {id} not marked redacted: {json}");
    }
    let canaries = canaries();
    let cloud: Vec<&String> = canaries
        .iter()
        .skip_while(|c| !c.starts_with("canary-aws"))
        .collect();
    assert!(cloud.len() >= 15, "{cloud:?}");
    for c in &canaries {
        for (_, id, _, e) in &events {
            assert!(!e.contains(c.as_str()), "canary {c} in event {id}: {e}");
        }
        assert!(
            !dead.contains(c.as_str()),
            "canary {c} in dead-letter: {dead}"
        );
    }
    // Names survive for analysts.
    assert!(events.iter().any(|e| e.3.contains("prod/db")));
    assert!(dead.contains("canary-cloud.jsonl:10"), "{dead}");
}
