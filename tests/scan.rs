//! `secretwatch scan` end to end: files in, alerts out, bad input handled.

mod common;

use std::io::Write;

use common::{alerts, k8s_line, run, stderr, stdout};

#[test]
fn cluster_wide_list_alerts_with_the_promised_fields() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("audit.jsonl");
    let lines = [
        k8s_line(
            "a1",
            "system:serviceaccount:dev:build-bot",
            "list",
            None,
            None,
            200,
            "2026-11-03T10:00:00Z",
        ),
        k8s_line(
            "a2",
            "system:kube-controller-manager",
            "list",
            None,
            None,
            200,
            "2026-11-03T10:00:01Z",
        ),
        k8s_line(
            "a3",
            "oidc:alice@example.com",
            "get",
            Some("dev"),
            Some("db"),
            200,
            "2026-11-03T10:00:02Z",
        ),
    ];
    std::fs::write(&f, lines.join("\n")).unwrap();
    let out = run(dir.path(), &["scan", f.to_str().unwrap()], None, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = alerts(&out);
    let got: Vec<_> = all
        .iter()
        .filter(|a| a["rule"] == "k8s-secrets-list-cluster-wide")
        .collect();
    assert_eq!(got.len(), 1, "{}", stdout(&out));
    // A service account reaching beyond its namespace is also reported as such.
    assert!(
        all.iter()
            .any(|a| a["rule"] == "cross-namespace-secret-read"),
        "{}",
        stdout(&out)
    );
    let a = got[0];
    for key in [
        "id",
        "rule",
        "severity",
        "title",
        "principal",
        "event_ids",
        "first_seen",
        "last_seen",
        "reason",
    ] {
        assert!(a.get(key).is_some(), "alert lacks {key}: {a}");
    }
    assert_eq!(a["rule"], "k8s-secrets-list-cluster-wide");
    assert_eq!(a["principal"], "system:serviceaccount:dev:build-bot");
    assert_eq!(a["event_ids"], serde_json::json!(["a1"]));
    assert_eq!(a["first_seen"], "2026-11-03T10:00:00Z");
    let err = stderr(&out);
    assert!(err.contains("3 events"), "{err}");
    assert!(err.contains("k8s-secrets-list-cluster-wide: 1"), "{err}");
    assert!(
        !all.iter()
            .any(|a| a["principal"] == "system:kube-controller-manager"),
        "controllers are quiet"
    );
    assert!(err.contains("bad records: 0"), "{err}");
    // No dead-letter file when nothing was bad.
    assert!(!dir.path().join("secretwatch-dead-letter.jsonl").exists());
}

#[test]
fn bad_lines_go_to_dead_letter_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("mixed.log");
    let good = |id: &str, t: &str| {
        k8s_line(
            id,
            "system:serviceaccount:dev:build-bot",
            "list",
            None,
            None,
            200,
            t,
        )
    };
    let lines = [
        good("g1", "2026-11-03T10:00:00Z"),
        "this is not json".to_string(),
        r#"{"kind":"Event","auditID":"x","verb":"get"}"#.to_string(),
        r#"{"hello":"world"}"#.to_string(),
        good("g2", "2026-11-03T12:00:00Z").replace(r#""verb":"list""#, r#""verb":["list"]"#),
        String::new(),
        // Another identity: the same one's second list would be a known combination.
        good("g3", "2026-11-03T13:00:00Z").replace("dev:build-bot", "dev:deploy-bot"),
    ];
    std::fs::write(&f, lines.join("\n")).unwrap();
    let dl = dir.path().join("out/dead.jsonl");
    let out = run(
        dir.path(),
        &[
            "scan",
            "--dead-letter",
            dl.to_str().unwrap(),
            f.to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert!(
        out.status.success(),
        "bad lines must not fail the scan: {}",
        stderr(&out)
    );
    let got: Vec<_> = alerts(&out)
        .into_iter()
        .filter(|a| a["rule"] == "k8s-secrets-list-cluster-wide")
        .collect();
    assert_eq!(
        got.len(),
        2,
        "events before and after the bad lines were detected: {}",
        stdout(&out)
    );
    let dead: Vec<serde_json::Value> = std::fs::read_to_string(&dl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dead.len(), 4);
    let loc = |i: usize| dead[i]["location"].as_str().unwrap().to_string();
    assert!(loc(0).ends_with("mixed.log:2"), "{}", loc(0));
    assert_eq!(dead[0]["error_kind"], "json");
    assert!(loc(1).ends_with("mixed.log:3"));
    assert_eq!(dead[1]["field"], "stageTimestamp", "{}", dead[1]);
    assert_eq!(dead[2]["error_kind"], "unknown_format");
    assert_eq!(dead[3]["field"], "verb");
    let err = stderr(&out);
    assert!(err.contains("bad records: 4"), "{err}");
    assert!(
        err.contains("mixed.log:3"),
        "warnings name file:line: {err}"
    );
}

#[test]
fn gzip_stdin_and_event_lists() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("audit.log.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    writeln!(
        enc,
        "{}",
        k8s_line(
            "z1",
            "system:anonymous",
            "get",
            Some("prod"),
            Some("db"),
            403,
            "2026-11-03T10:00:00Z"
        )
    )
    .unwrap();
    enc.finish().unwrap();
    let items = [
        k8s_line(
            "l1",
            "mallory",
            "list",
            None,
            None,
            200,
            "2026-11-03T10:00:00Z",
        ),
        k8s_line(
            "l2",
            "mallory",
            "get",
            Some("prod"),
            Some("db"),
            200,
            "2026-11-03T10:00:01Z",
        ),
    ];
    let list = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        items.join(",")
    );
    let out = run(
        dir.path(),
        &["scan", gz.to_str().unwrap(), "-"],
        Some(list.as_bytes()),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rules: Vec<String> = alerts(&out)
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        rules,
        ["anonymous-secret-access", "k8s-secrets-list-cluster-wide"]
    );
    assert!(stderr(&out).contains("3 events"), "{}", stderr(&out));
}

#[test]
fn non_final_stages_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("stages.jsonl");
    let done = k8s_line(
        "s1",
        "mallory",
        "list",
        None,
        None,
        200,
        "2026-11-03T10:00:00Z",
    );
    let received = done.replace("ResponseComplete", "RequestReceived");
    std::fs::write(&f, format!("{received}\n{done}\n")).unwrap();
    let out = run(dir.path(), &["scan", f.to_str().unwrap()], None, &[]);
    let err = stderr(&out);
    assert!(err.contains("2 records, 1 events"), "{err}");
    assert!(err.contains("1 skipped"), "{err}");
    // Configurable: counting RequestReceived too doubles the events.
    let out = run(
        dir.path(),
        &["scan", f.to_str().unwrap()],
        None,
        &[(
            "SECRETWATCH_INGEST__FINAL_STAGES",
            r#"["RequestReceived","ResponseComplete"]"#,
        )],
    );
    assert!(
        stderr(&out).contains("2 records, 2 events"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreadable_file_and_bad_config_fail_with_one_line_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["scan", "/nonexistent/audit.log"], None, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/audit.log"), "{err}");
    assert!(stdout(&out).is_empty());

    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[detect]\nalert_window_minutes = 0\n[ingest]\nformat = \"syslog\"\n",
    )
    .unwrap();
    let f = dir.path().join("x.jsonl");
    std::fs::write(&f, "").unwrap();
    let out = run(
        dir.path(),
        &[
            "scan",
            "--config",
            cfg.to_str().unwrap(),
            f.to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("detect.alert_window_minutes") && err.contains("ingest.format"),
        "{err}"
    );

    let out = run(
        dir.path(),
        &["scan", "--format", "syslog", f.to_str().unwrap()],
        None,
        &[],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("syslog"), "{}", stderr(&out));
}

#[test]
fn forced_format_rejects_other_formats() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.jsonl");
    std::fs::write(
        &f,
        k8s_line(
            "f1",
            "mallory",
            "list",
            None,
            None,
            200,
            "2026-11-03T10:00:00Z",
        ),
    )
    .unwrap();
    let out = run(
        dir.path(),
        &["scan", "--format", "vault", f.to_str().unwrap()],
        None,
        &[],
    );
    assert!(out.status.success());
    assert!(stderr(&out).contains("bad records: 1"), "{}", stderr(&out));
    assert!(alerts(&out).is_empty());
}

#[test]
fn state_dir_lets_a_second_scan_continue_the_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[detect.baseline]\nlearning_days = 1\n").unwrap();
    let day1 = dir.path().join("day1.jsonl");
    let lines: Vec<String> = (0..24)
        .map(|h| {
            k8s_line(
                &format!("d1-{h}"),
                "oidc:alice@example.com",
                "get",
                Some("dev"),
                Some("db"),
                200,
                &format!("2026-11-02T{h:02}:10:00Z"),
            )
        })
        .collect();
    std::fs::write(&day1, lines.join("\n")).unwrap();
    let day3 = dir.path().join("day3.jsonl");
    std::fs::write(
        &day3,
        k8s_line(
            "d3",
            "system:serviceaccount:default:debug-pod",
            "get",
            Some("prod"),
            Some("db"),
            200,
            "2026-11-04T10:00:00Z",
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let (c, s) = (cfg.to_str().unwrap(), state.to_str().unwrap());
    let unknown = |out: &std::process::Output| {
        alerts(out)
            .iter()
            .filter(|a| a["rule"] == "unknown-principal-secret-access")
            .count()
    };

    // Day 3 alone: the store is still learning, nothing is unknown yet.
    let alone = run(
        dir.path(),
        &["scan", "--config", c, day3.to_str().unwrap()],
        None,
        &[],
    );
    assert!(alone.status.success(), "{}", stderr(&alone));
    assert_eq!(unknown(&alone), 0, "{}", stdout(&alone));

    // Day 1 with --state, then day 3 with the same state: the new identity stands out.
    let first = run(
        dir.path(),
        &["scan", "--config", c, "--state", s, day1.to_str().unwrap()],
        None,
        &[],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(state.join("baseline.json").exists());
    let second = run(
        dir.path(),
        &["scan", "--config", c, "--state", s, day3.to_str().unwrap()],
        None,
        &[],
    );
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(unknown(&second), 1, "{}", stdout(&second));
}

/// `kubectl get events -A --watch -o json > events.json`: pretty objects one after another, the
/// capture cut short mid-record. The whole records are read (a kubelet's report of a missing
/// Secret that spans the grace alerts); the cut one is one bad record, not every line of it.
#[test]
fn a_pretty_watch_capture_cut_short_reads_its_whole_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut pretty = String::new();
    for line in std::fs::read_to_string(common::fixtures().join("k8s-events.jsonl"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        pretty.push_str(&serde_json::to_string_pretty(&v).unwrap());
        pretty.push('\n');
    }
    let cut = &pretty[..pretty.len() - 200];
    let f = dir.path().join("events.json");
    std::fs::write(&f, cut).unwrap();
    let out = run(
        dir.path(),
        &["scan", "--no-progress", f.to_str().unwrap()],
        None,
        &[],
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("bad records: 1 (json 1)"), "{err}");
    assert!(err.contains("7 records, 5 events"), "{err}");
    let rules: Vec<String> = alerts(&out)
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(rules.contains(&"missing-secret".to_string()), "{rules:?}");
}
