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

/// Values of the wrong type, values of no known kind and times that do not parse: what
/// serde's messages quote (`invalid type: string "…"`, `integer `…``) and what our own
/// checks named (`unknown stage "…"`, `not an RFC 3339 time: "…"`) stays out of the error
/// text and the dead-letter file, while each error still says where and what was expected.
#[test]
fn no_canary_in_errors_of_values_of_the_wrong_type() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixtures().join("canary-bad-types.jsonl");
    let canaries = canaries();
    let planted = std::fs::read_to_string(&file).unwrap();
    let ours: Vec<&String> = canaries
        .iter()
        .filter(|c| planted.contains(c.as_str()))
        .collect();
    assert_eq!(ours.len(), 20, "{ours:?}");

    let decode = |format: Format| {
        let dl_path = dir.path().join(format!("dead-{format}.jsonl"));
        let _ = std::fs::remove_file(&dl_path);
        let opts = ParseOptions::default();
        let mut decoder = Decoder::new(&opts, format, Some(DeadLetter::new(&dl_path)));
        let mut events = 0;
        let mut input = Input::open(&file).unwrap();
        decoder
            .read_input(&mut input, &mut |_| events += 1)
            .unwrap();
        decoder.finish(&mut |_| events += 1).unwrap();
        let dead = std::fs::read_to_string(&dl_path).unwrap();
        (decoder.stats.clone(), events, dead)
    };

    // Under auto each value is at fault: out of the error text and the whole dead-letter file.
    let (stats, events, dead) = decode(Format::Auto);
    assert_eq!((stats.records, stats.bad, events), (19, 20, 0), "{stats:?}");
    for c in &canaries {
        assert!(
            !dead.contains(c.as_str()),
            "canary {c} in dead-letter: {dead}"
        );
        for e in &stats.first_errors {
            assert!(!e.contains(c.as_str()), "canary {c} in error {e}");
        }
    }
    // Under a format set by hand the records fail in other ways (`auditID` missing from a
    // Vault entry): the error texts stay clean all the same. (A value that is not at fault
    // is kept in the dead-letter input as redaction keeps it in any record.)
    for &name in Format::NAMES {
        let format: Format = name.parse().unwrap();
        let (stats, events, dead) = decode(format);
        assert_eq!(stats.records, 19, "{name}: {stats:?}");
        assert_eq!(events, 0, "{name}");
        assert_eq!(dead.lines().count() as u64, stats.bad, "{name}");
        let errors: Vec<String> = dead
            .lines()
            .map(|l| {
                let r: serde_json::Value = serde_json::from_str(l).unwrap();
                format!("{} {} {}", r["location"], r["field"], r["error"])
            })
            .chain(stats.first_errors.iter().cloned())
            .collect();
        for c in &canaries {
            for e in &errors {
                assert!(!e.contains(c.as_str()), "{name}: canary {c} in error {e}");
            }
        }
    }

    // Under auto, each error names its line, the field and what was expected.
    let got: Vec<(String, String, String)> = dead
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                r["location"].as_str().unwrap().to_string(),
                r["field"].as_str().unwrap_or_default().to_string(),
                r["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let code = "invalid value: string, expected an HTTP status code";
    let time = "not an RFC 3339 time";
    let stage =
        "unknown stage (expected RequestReceived, ResponseStarted, ResponseComplete or Panic)";
    let expected: &[(u32, &str, &str)] = &[
        (1, "responseStatus.code", code),
        (2, "verb", "invalid type: map, expected a string"),
        (3, "sourceIPs", "invalid type: string, expected a sequence"),
        (4, "stage", stage),
        (5, "stageTimestamp", time),
        (6, "verb", "invalid type: integer, expected a string"),
        (
            7,
            "responseStatus.code",
            "invalid value: integer, expected an HTTP status code",
        ),
        (8, "verb", "invalid type: floating point, expected a string"),
        (9, "items[0].stage", stage),
        (9, "items[1].responseStatus.code", code),
        (10, "time", time),
        (
            11,
            "type",
            "unknown Vault entry type (expected request, response, kmip-request or kmip-response)",
        ),
        (
            12,
            "request",
            "invalid type: string, expected struct RawRequest",
        ),
        (13, "eventTime", time),
        (14, "records[0].time", time),
        (15, "timestamp", time),
        (
            16,
            "protoPayload.status.code",
            "invalid type: string, expected i64",
        ),
        (17, "logEvents[0].message.responseStatus.code", code),
        (18, "properties.log.stage", stage),
        (19, "", "unrecognized record: not a JSON object"),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for ((location, field, error), (line, want_field, want)) in got.iter().zip(expected) {
        assert_eq!(location, &format!("{}:{line}", file.display()), "{error}");
        assert_eq!(field, want_field, "line {line}: {error}");
        assert!(
            error.contains(want),
            "line {line}: {error:?} lacks {want:?}"
        );
    }
    // The rest of a bad record is kept for the operator, the value at fault is not.
    assert!(
        dead.contains("bad-type-01") && dead.contains("prod/db"),
        "{dead}"
    );
}
