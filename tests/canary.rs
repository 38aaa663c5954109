//! Canary secrets planted in the inputs appear in no output of the binary:
//! stdout (alerts), stderr (summary and logs at the most verbose level), the dead-letter file.

mod common;

use common::{alerts, fixtures, run, stderr, stdout};

#[test]
fn planted_canaries_never_leak() {
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dead-letter.jsonl");
    let k8s = fixtures().join("canary-k8s.jsonl");
    let vault = fixtures().join("canary-vault.jsonl");
    let out = run(
        dir.path(),
        &[
            "scan",
            "--dead-letter",
            dl.to_str().unwrap(),
            k8s.to_str().unwrap(),
            vault.to_str().unwrap(),
        ],
        None,
        &[("RUST_LOG", "trace")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (so, se) = (stdout(&out), stderr(&out));
    let dead = std::fs::read_to_string(&dl).expect("bad canary records reach the dead-letter file");

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

    let canaries: Vec<String> = std::fs::read_to_string(fixtures().join("canaries.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    assert!(canaries.len() >= 10);
    for c in &canaries {
        assert!(!so.contains(c.as_str()), "canary {c} on stdout");
        assert!(!se.contains(c.as_str()), "canary {c} on stderr");
        assert!(!dead.contains(c.as_str()), "canary {c} in dead-letter");
    }
}
