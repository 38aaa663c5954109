//! Canary secrets planted in the inputs appear in no output of the binary:
//! stdout (alerts), stderr (summary and logs at the most verbose level), the dead-letter file.

mod common;

use std::path::Path;
use std::process::Output;

use common::{alerts, canaries, fixtures, run, stderr, stdout};
use secretwatch_ingest::Format;

/// `scan` of `files` with `args` before them, logging at the most verbose level.
/// Returns the run, its stdout, stderr and dead-letter file.
fn scan(dir: &Path, args: &[&str], files: &[&Path]) -> (Output, String, String, String) {
    let dl = dir.join("dead-letter.jsonl");
    let _ = std::fs::remove_file(&dl);
    let mut argv = vec!["scan", "--dead-letter", dl.to_str().unwrap()];
    argv.extend_from_slice(args);
    argv.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = run(dir, &argv, None, &[("RUST_LOG", "trace")]);
    assert!(out.status.success(), "{argv:?}: {}", stderr(&out));
    let dead = std::fs::read_to_string(&dl).unwrap_or_default();
    let (so, se) = (stdout(&out), stderr(&out));
    (out, so, se, dead)
}

fn assert_no_canary(what: &str, so: &str, se: &str, dead: &str) {
    for c in &canaries() {
        assert!(!so.contains(c.as_str()), "{what}: canary {c} on stdout");
        assert!(!se.contains(c.as_str()), "{what}: canary {c} on stderr");
        assert!(
            !dead.contains(c.as_str()),
            "{what}: canary {c} in dead-letter"
        );
    }
}

/// The number before `label` in the summary line that starts with `line` ("32 records").
fn summary_count(se: &str, line: &str, label: &str) -> u64 {
    let l = se
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no summary line {line:?}: {se}"));
    let before = l
        .split(label)
        .next()
        .unwrap_or_else(|| panic!("no {label:?} in {l}"));
    let n = before.trim_end().rsplit([' ', ':']).next().unwrap();
    n.parse()
        .unwrap_or_else(|e| panic!("{label:?} in {l}: {n:?}: {e}"))
}

#[test]
fn planted_canaries_never_leak() {
    let dir = tempfile::tempdir().unwrap();
    let k8s = fixtures().join("canary-k8s.jsonl");
    let vault = fixtures().join("canary-vault.jsonl");
    let (out, so, se, dead) = scan(dir.path(), &[], &[&k8s, &vault]);

    // The planted records did flow: secret values were found and alerted on, bad ones dead-lettered.
    let got = alerts(&out);
    assert!(
        got.iter()
            .any(|a| a["rule"] == "secret-values-in-audit-log" && a["source"] == "kubernetes"),
        "{so}"
    );
    assert!(
        got.iter()
            .any(|a| a["rule"] == "secret-values-in-audit-log" && a["source"] == "vault"),
        "{so}"
    );
    assert_eq!(dead.lines().count(), 5, "{dead}");
    assert!(se.contains("bad records: 5"), "{se}");
    assert_no_canary("k8s and vault", &so, &se, &dead);
}

/// Kubernetes Events whose message carries credentials (a token, a Bearer header, an opaque
/// key) and an annotation with one: the missing-secret alert quotes the message scrubbed, the
/// raw copies are redacted, the broken record's dead letter too.
#[test]
fn planted_event_canaries_never_leak() {
    let dir = tempfile::tempdir().unwrap();
    let events = fixtures().join("canary-k8s-events.jsonl");
    let (out, so, se, dead) = scan(dir.path(), &[], &[&events]);
    let got = alerts(&out);
    let missing: Vec<_> = got
        .iter()
        .filter(|a| a["rule"] == "missing-secret")
        .collect();
    assert_eq!(missing.len(), 1, "{so}");
    let reason = missing[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("token=[REDACTED] Bearer [REDACTED]"),
        "{reason}"
    );
    assert_eq!(summary_count(&se, "scanned", "events"), 2, "{se}");
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert_no_canary("kubernetes events", &so, &se, &dead);
}

/// CloudTrail, Key Vault and Secret Manager records and the EKS/AKS/GKE envelopes, each
/// sniffed per record.
#[test]
fn planted_cloud_canaries_never_leak() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = fixtures().join("canary-cloud.jsonl");
    let (out, so, se, dead) = scan(dir.path(), &["--format", "auto"], &[&cloud]);

    // Every record became events of its source (BatchGetSecretValue of two secrets is two
    // events, each envelope one Kubernetes event) or went to the dead letter.
    assert!(
        se.contains("12 records, 10 events (aws 4, azure 1, gcp 2, kubernetes 3)"),
        "{se}"
    );
    assert!(se.contains("10 with secret values redacted"), "{se}");
    assert!(se.contains("bad records: 3"), "{se}");
    assert_eq!(dead.lines().count(), 3, "{dead}");
    // Each source's values were found and alerted on.
    let got = alerts(&out);
    let secret_values = |source: &str, event: Option<&str>| {
        got.iter().any(|a| {
            a["rule"] == "secret-values-in-audit-log"
                && a["source"] == source
                && event.is_none_or(|id| a["event_ids"].as_array().unwrap().contains(&id.into()))
        })
    };
    for source in ["aws", "azure", "gcp"] {
        assert!(secret_values(source, None), "no {source} alert: {so}");
    }
    for envelope in ["cloud-canary-aks", "cloud-canary-eks", "cloud-canary-gke"] {
        assert!(
            secret_values("kubernetes", Some(envelope)),
            "no alert on {envelope}: {so}"
        );
    }
    assert_no_canary("cloud", &so, &se, &dead);
}

/// A format set by hand (`--format`, a Kafka topic's, `/ingest/{format}`) that does not match
/// the records sends the others, envelopes included, to the dead letter; so does a record cut
/// short. Their values stay out of it all the same.
#[test]
fn canaries_never_leak_from_records_of_another_format_or_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<_> = [
        "canary-k8s.jsonl",
        "canary-vault.jsonl",
        "canary-cloud.jsonl",
        "canary-event.jsonl",
        "canary-k8s-events.jsonl",
    ]
    .iter()
    .map(|f| fixtures().join(f))
    .collect();
    let files: Vec<&Path> = all.iter().map(|p| p.as_path()).collect();
    for &format in Format::NAMES {
        let (_, so, se, dead) = scan(dir.path(), &["--format", format], &files);
        let what = format!("--format {format}");
        assert_eq!(summary_count(&se, "scanned", "records"), 37, "{what}: {se}");
        let (events, bad) = (
            summary_count(&se, "scanned", "events"),
            summary_count(&se, "bad records", "("),
        );
        assert!(events > 0, "{what}: {se}");
        assert_eq!(dead.lines().count() as u64, bad, "{what}: {dead}");
        if format == "auto" {
            // Normalized events are read only when asked for.
            assert_eq!((events, bad), (25, 11), "{se}");
        } else if format == "event" {
            // The one good normalized event; its raw copy redacted again. The bad one's value
            // at fault (an unknown principal kind) is neither in its error nor in its copy.
            assert_eq!(events, 1, "{se}");
            let fault = "canary-event-kind-5d07";
            assert!(!se.contains(fault) && !dead.contains(fault), "{se}\n{dead}");
            assert!(dead.contains("principal.kind"), "{dead}");
        } else {
            assert!(bad > 8, "{what}: other formats' records are bad: {se}");
        }
        assert_no_canary(&what, &so, &se, &dead);
    }

    // Every record of every fixture cut at seven points: broken JSON, dead-lettered as text.
    let mut cut = String::new();
    let mut n = 0;
    for f in &all {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            for k in 1..8 {
                let mut end = line.len() * k / 8;
                while !line.is_char_boundary(end) {
                    end -= 1;
                }
                cut.push_str(&line[..end]);
                cut.push('\n');
                n += 1;
            }
        }
    }
    let cut_file = dir.path().join("cut.jsonl");
    std::fs::write(&cut_file, cut).unwrap();
    let (_, so, se, dead) = scan(dir.path(), &[], &[&cut_file]);
    assert_eq!(summary_count(&se, "bad records", "("), n, "{se}");
    assert_eq!(dead.lines().count() as u64, n, "{dead}");
    assert_no_canary("records cut short", &so, &se, &dead);
}

/// Values of the wrong type, of no known kind, and times that do not parse, in every format
/// (canary-bad-types.jsonl): the errors on stderr and in the dead-letter file say where and
/// what was expected, never what the value was.
#[test]
fn canaries_never_leak_through_error_messages() {
    let dir = tempfile::tempdir().unwrap();
    let bad = fixtures().join("canary-bad-types.jsonl");
    let (_, so, se, dead) = scan(dir.path(), &[], &[&bad]);
    assert_eq!(summary_count(&se, "scanned", "records"), 19, "{se}");
    assert_eq!(summary_count(&se, "scanned", "events"), 0, "{se}");
    // An EventList of two bad items is two dead-letter records.
    assert_eq!(summary_count(&se, "bad records", "("), 20, "{se}");
    assert_eq!(dead.lines().count(), 20, "{dead}");
    assert_no_canary("values of the wrong type", &so, &se, &dead);
    // The warnings still tell an operator what to fix.
    for hint in [
        "canary-bad-types.jsonl:1",
        "responseStatus.code",
        "invalid value: string, expected an HTTP status code",
        "canary-bad-types.jsonl:9",
        "items[1].responseStatus.code",
        "logEvents[0].message.responseStatus.code",
        "invalid type: integer, expected a string",
        "not an RFC 3339 time",
        "unknown stage (expected",
    ] {
        assert!(se.contains(hint), "{hint:?} not on stderr: {se}");
    }
    // Under a format set by hand the records fail in other ways (`auditID` missing from a
    // Vault entry); the values are not at fault there, and the dead-letter input keeps what
    // redaction keeps of any record. The error texts stay clean all the same.
    for &format in Format::NAMES {
        let (_, so, se, dead) = scan(dir.path(), &["--format", format], &[&bad]);
        let what = format!("values of the wrong type, --format {format}");
        assert_eq!(summary_count(&se, "scanned", "records"), 19, "{what}: {se}");
        let errors: String = dead
            .lines()
            .map(|l| {
                let r: serde_json::Value = serde_json::from_str(l).unwrap();
                format!("{} {} {}\n", r["location"], r["field"], r["error"])
            })
            .collect();
        assert_no_canary(&what, &so, &se, &errors);
    }
}
