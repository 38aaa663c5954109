//! `secretwatch serve` end to end: the audit webhook over real HTTP on loopback, auth, bad input,
//! alerts in the data dir, metrics and health, graceful shutdown on SIGTERM with state saved.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{bin, k8s_line};

use common::server::{http, start, start_args, start_with, wait_for, TOKEN};

#[test]
fn audit_webhook_to_alerts_with_auth_bad_input_metrics_and_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = start(&data, &[]);
    let addr = server.addr.clone();

    // The API server's webhook backend POSTs an EventList.
    let items = [
        k8s_line(
            "w1",
            "system:serviceaccount:dev:build-bot",
            "list",
            None,
            None,
            200,
            "2026-11-03T10:00:00Z",
        ),
        k8s_line(
            "w2",
            "system:serviceaccount:dev:build-bot",
            "get",
            Some("dev"),
            Some("db"),
            200,
            "2026-11-03T10:00:01Z",
        ),
    ];
    let list = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        items.join(",")
    );

    let (status, body) = http(&addr, "POST", "/ingest/k8s-audit", None, &list);
    assert_eq!(status, 401, "{body}");
    let (status, body) = http(
        &addr,
        "POST",
        "/ingest/k8s-audit",
        Some("wrong-token-0123456789abcd"),
        &list,
    );
    assert_eq!(status, 401, "{body}");

    let (status, body) = http(&addr, "POST", "/ingest/k8s-audit", Some(TOKEN), &list);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["accepted"], 2, "{body}");

    // Bad input: 400 with where and why; a partly bad list is accepted with the errors listed.
    let (status, body) = http(
        &addr,
        "POST",
        "/ingest/k8s-audit",
        Some(TOKEN),
        r#"{"kind":"EventList","items":[{"auditID":"x"}]}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("items[0]"), "{body}");
    let (status, body) = http(&addr, "POST", "/ingest/syslog", Some(TOKEN), "{}");
    assert_eq!(status, 404, "{body}");
    // JSON lines of Vault audit entries.
    let vault = r#"{"time":"2026-11-03T10:01:00Z","type":"response","auth":{"display_name":"root","policies":["root"]},"request":{"id":"v1","operation":"read","mount_type":"kv","path":"secret/data/prod/db"}}"#;
    let (status, body) = http(
        &addr,
        "POST",
        "/ingest/vault",
        Some(TOKEN),
        &format!("{vault}\nnot json\n"),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{body}"
    );
    assert!(
        v["errors"][0].as_str().unwrap().contains("http:2"),
        "{body}"
    );

    let alerts_path = data.join("alerts.jsonl");
    let rules = || -> Vec<String> {
        std::fs::read_to_string(&alerts_path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["rule"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    wait_for("alerts", || {
        let r = rules();
        r.contains(&"k8s-secrets-list-cluster-wide".to_string())
            && r.contains(&"break-glass-use".to_string())
    });

    let (status, metrics) = http(&addr, "GET", "/metrics", None, "");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("secretwatch_events_total{source=\"kubernetes\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "secretwatch_alerts_total{rule=\"k8s-secrets-list-cluster-wide\",severity=\"high\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("secretwatch_bad_records_total 2"),
        "{metrics}"
    );
    let (status, health) = http(&addr, "GET", "/api/health", None, "");
    assert_eq!(status, 200);
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    assert!(std::fs::read_to_string(data.join("dead-letter.jsonl"))
        .unwrap()
        .contains("http:2"));

    // SIGTERM: drains, writes the break-glass session summary, saves state, exits 0.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(data.join("state/baseline.json").exists());
    assert!(rules().contains(&"break-glass-session".to_string()));
}

#[test]
fn files_given_at_start_are_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("audit.jsonl");
    std::fs::write(
        &f,
        k8s_line(
            "f1",
            "system:anonymous",
            "get",
            Some("prod"),
            Some("db"),
            200,
            "2026-11-03T10:00:00Z",
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let server = start(&data, &[f.to_str().unwrap()]);
    wait_for("the file's alert", || {
        std::fs::read_to_string(data.join("alerts.jsonl"))
            .unwrap_or_default()
            .contains("anonymous-secret-access")
    });
    let (_, health) = http(&server.addr, "GET", "/api/health", None, "");
    assert!(health.contains("\"events\":1"), "{health}");
}

/// The canary fixtures through the live service: no planted secret in any answer, in the alerts
/// file, the dead-letter file, the saved state or the server's own log.
#[test]
fn planted_canaries_never_leak_through_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Every kind of output: a webhook, a Splunk HEC forwarding the events too, an OCSF file.
    let receiver = common::receiver::Receiver::start("127.0.0.1:0");
    let ocsf = dir.path().join("ocsf.jsonl");
    let cfg = dir.path().join("secretwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[alerting.sinks]]
name = "hook"
output = {{ type = "webhook", url = "http://{r}/hook" }}
[[alerting.sinks]]
name = "hec"
forward_events = true
output = {{ type = "splunk", url = "http://{r}/services/collector/event", token = "hec-token-0123456789" }}
[[alerting.sinks]]
name = "ocsf"
forward_events = true
output = {{ type = "ocsf", file = "{o}" }}
"#,
            r = receiver.addr,
            o = ocsf.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ])
        .env("SECRETWATCH_SERVE__INGEST_TOKEN", TOKEN)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "server exited: {log}"
        );
        log.push_str(&line);
        if let Some(a) = line
            .trim()
            .strip_prefix("secretwatch: listening on http://")
        {
            break a.to_string();
        }
    };
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut answers = String::new();
    for f in ["canary-k8s.jsonl", "canary-vault.jsonl"] {
        let body = std::fs::read_to_string(common::fixtures().join(f)).unwrap();
        let (status, answer) = http(&addr, "POST", "/ingest/auto", Some(TOKEN), &body);
        assert_eq!(status, 200, "{answer}");
        answers.push_str(&answer);
    }
    // The cloud records, each through its format's endpoint; a format's bad record goes with
    // its good ones, so every answer says what was accepted and rejected.
    let cloud = std::fs::read_to_string(common::fixtures().join("canary-cloud.jsonl")).unwrap();
    let format_of = |line: &str| {
        [
            ("\"logEvents\"", "cloudwatch-logs"),
            ("\"eventSource\"", "cloudtrail"),
            ("\"protoPayload\"", "gcp-audit"),
            ("\"category\"", "azure-keyvault"),
        ]
        .into_iter()
        .find(|(key, _)| line.contains(key))
        .unwrap_or_else(|| panic!("which format: {line}"))
        .1
    };
    // (format, events accepted, records rejected): BatchGetSecretValue of two secrets is two
    // events; the AKS record is an Azure resource log, GKE's a Cloud Audit Log entry.
    for (format, accepted, rejected) in [
        ("cloudtrail", 4, 1),
        ("gcp-audit", 3, 1),
        ("azure-keyvault", 2, 1),
        ("cloudwatch-logs", 1, 0),
    ] {
        let body: String = cloud
            .lines()
            .filter(|l| format_of(l) == format)
            .map(|l| format!("{l}\n"))
            .collect();
        let path = format!("/ingest/{format}");
        let (status, answer) = http(&addr, "POST", &path, Some(TOKEN), &body);
        assert_eq!(status, 200, "{format}: {answer}");
        let a: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(
            (a["accepted"].as_u64(), a["rejected"].as_u64()),
            (Some(accepted), Some(rejected)),
            "{format}: {answer}"
        );
        answers.push_str(&answer);
    }
    // Kubernetes Events whose messages carry credentials, through their own endpoint: the two
    // kubelet reports become events (one spans the grace: a missing-secret alert quoting the
    // scrubbed message), the record cut short is rejected.
    let events =
        std::fs::read_to_string(common::fixtures().join("canary-k8s-events.jsonl")).unwrap();
    let (status, answer) = http(&addr, "POST", "/ingest/k8s-events", Some(TOKEN), &events);
    assert_eq!(status, 200, "{answer}");
    let a: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        (a["accepted"].as_u64(), a["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{answer}"
    );
    answers.push_str(&answer);
    wait_for("the missing-secret alert of the Events", || {
        std::fs::read_to_string(data.join("alerts.jsonl"))
            .unwrap_or_default()
            .contains("\"missing-secret\"")
    });
    // The same records to the Kubernetes webhook by mistake: all rejected, dead-lettered.
    let (status, answer) = http(&addr, "POST", "/ingest/k8s-audit", Some(TOKEN), &cloud);
    assert_eq!(status, 400, "{answer}");
    answers.push_str(&answer);
    // Values of the wrong type, of no known kind, times that do not parse: each record alone
    // (its error is the answer's), then all at once. Every one is rejected and dead-lettered
    // (the EventList's two bad items twice); the answer names the field, not the value.
    let bad_types =
        std::fs::read_to_string(common::fixtures().join("canary-bad-types.jsonl")).unwrap();
    for (i, line) in bad_types.lines().enumerate() {
        let (status, answer) = http(&addr, "POST", "/ingest/auto", Some(TOKEN), line);
        assert_eq!(status, 400, "line {}: {answer}", i + 1);
        let a: serde_json::Value = serde_json::from_str(&answer).unwrap();
        let error = a["error"].as_str().unwrap();
        assert!(error.starts_with("no valid record: http:1: "), "{error}");
        answers.push_str(&answer);
    }
    let (status, answer) = http(&addr, "POST", "/ingest/auto", Some(TOKEN), &bad_types);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("http:1: field `responseStatus.code`: invalid value: string, expected an HTTP status code"),
        "{answer}"
    );
    answers.push_str(&answer);
    // With a good record before them: accepted, and the answer lists the first errors.
    let good = k8s_line(
        "bad-types-good-1",
        "oidc:carol@example.com",
        "get",
        Some("prod"),
        Some("db"),
        200,
        "2026-11-03T10:05:00Z",
    );
    let body = format!("{good}\n{bad_types}");
    let (status, answer) = http(&addr, "POST", "/ingest/auto", Some(TOKEN), &body);
    assert_eq!(status, 200, "{answer}");
    let a: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        (a["accepted"].as_u64(), a["rejected"].as_u64()),
        (Some(1), Some(20)),
        "{answer}"
    );
    assert_eq!(
        a["errors"][0],
        "http:2: field `responseStatus.code`: invalid value: string, expected an HTTP status code (number 100-599 or a numeric string)",
        "{answer}"
    );
    answers.push_str(&answer);
    let bad_type_errors = bad_types.lines().count() + 1;
    // Secret values were found in every source's records, envelopes included.
    wait_for("the secret-values alerts of every source", || {
        let alerts = std::fs::read_to_string(data.join("alerts.jsonl")).unwrap_or_default();
        let secret_values: Vec<serde_json::Value> = alerts
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|a| a["rule"] == "secret-values-in-audit-log")
            .collect();
        let of = |source: &str| secret_values.iter().any(|a| a["source"] == source);
        let on = |id: &str| {
            secret_values
                .iter()
                .any(|a| a["event_ids"].as_array().unwrap().contains(&id.into()))
        };
        ["kubernetes", "vault", "aws", "azure", "gcp"]
            .into_iter()
            .all(of)
            && ["cloud-canary-aks", "cloud-canary-eks", "cloud-canary-gke"]
                .into_iter()
                .all(on)
    });
    // The events of those alerts, every source's, forwarded to the HEC and the OCSF file.
    let alerted: Vec<String> = std::fs::read_to_string(data.join("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|a| a["rule"] == "secret-values-in-audit-log")
        .flat_map(|a| a["event_ids"].as_array().unwrap().clone())
        .map(|id| id.to_string())
        .collect();
    wait_for(
        "the alert at the webhook and the alerted events at the HEC",
        || {
            let got = receiver.requests();
            let hec: String = got
                .iter()
                .filter(|r| r.path == "/services/collector/event")
                .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                .collect();
            got.iter().any(|r| r.path == "/hook") && alerted.iter().all(|id| hec.contains(id))
        },
    );
    wait_for("the alerted events in the OCSF file", || {
        std::fs::read_to_string(&ocsf).is_ok_and(|t| {
            t.contains("\"class_uid\":6003") && alerted.iter().all(|id| t.contains(id))
        })
    });
    let (_, metrics) = http(&addr, "GET", "/metrics", None, "");
    answers.push_str(&metrics);
    // The analyst API and the event store: every alert with its events, the principals, the
    // summary, and every stored event through SQL.
    let (_, list) = http(&addr, "GET", "/api/alerts?limit=500", None, "");
    let listed: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert!(!listed["alerts"].as_array().unwrap().is_empty(), "{list}");
    answers.push_str(&list);
    for a in listed["alerts"].as_array().unwrap() {
        let id = a["id"].as_str().unwrap();
        let (status, detail) = http(&addr, "GET", &format!("/api/alerts/{id}"), None, "");
        assert_eq!(status, 200, "{detail}");
        answers.push_str(&detail);
        let who: String = a["principal"]
            .as_str()
            .unwrap()
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect();
        answers.push_str(&http(&addr, "GET", &format!("/api/principals/{who}"), None, "").1);
    }
    answers.push_str(&http(&addr, "GET", "/api/summary", None, "").1);
    // Compliance reports, in every format, over everything stored.
    for format in ["json", "html", "md", "csv"] {
        let path = format!("/api/report?from=2000-01-01&to=2100-01-01&format={format}");
        let (status, report) = http(&addr, "GET", &path, None, "");
        assert_eq!(status, 200, "{report}");
        assert!(report.len() > 1000, "{report}");
        answers.push_str(&report);
    }
    let all_events = r#"{"sql":"SELECT * FROM events"}"#;
    let (status, rows) = http(&addr, "POST", "/api/query", None, all_events);
    assert_eq!(status, 200, "{rows}");
    assert!(rows.contains("\"rows\":[["), "{rows}");
    answers.push_str(&rows);
    // Every accepted event is stored, of each source (Kubernetes: 10 of canary-k8s, 3 of the
    // envelopes, 1 posted with canary-bad-types, 2 kubelet reports of canary-k8s-events).
    let by_source =
        r#"{"sql":"SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY source"}"#;
    let stored_by_source = |addr: &str| {
        let (status, rows) = http(addr, "POST", "/api/query", None, by_source);
        assert_eq!(status, 200, "{rows}");
        let r: serde_json::Value = serde_json::from_str(&rows).unwrap();
        r["rows"].to_string()
    };
    let expected = r#"[["aws",4],["azure",1],["gcp",2],["kubernetes",16],["vault",3]]"#;
    assert_eq!(stored_by_source(&addr), expected);
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert!(child.wait().unwrap().success());
    log.push_str(&rest.join().unwrap());
    // The Parquet files written at shutdown, read back through SQL by a new start.
    {
        let again = start_args(&data, &[], &[], &[]);
        let (status, stored) = http(&again.addr, "POST", "/api/query", None, all_events);
        assert_eq!(status, 200, "{stored}");
        assert!(
            stored.contains("\"rows\":[["),
            "events were flushed: {stored}"
        );
        assert_eq!(stored_by_source(&again.addr), expected);
        answers.push_str(&stored);
    }

    let mut outputs = vec![("answers", answers), ("log", log)];
    let sent: String = receiver
        .requests()
        .iter()
        .map(|r| {
            format!(
                "{} {:?} {}\n",
                r.path,
                r.headers,
                String::from_utf8_lossy(&r.body)
            )
        })
        .collect();
    outputs.push(("requests to the sinks", sent));
    outputs.push(("ocsf file", std::fs::read_to_string(&ocsf).unwrap()));
    // The sinks' queues on disk.
    let mut queued = String::new();
    let mut dirs = vec![data.join("outbox")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                queued.push_str(&String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()));
            }
        }
    }
    assert!(!queued.is_empty());
    outputs.push(("outbox", queued));
    for f in [
        "alerts.jsonl",
        "dead-letter.jsonl",
        "state/baseline.json",
        "state/sigma-correlations.json",
        // Sessions, alerted windows, pending rotations: also what scale-out snapshots carry.
        "state/detectors.json",
    ] {
        outputs.push((
            f,
            std::fs::read_to_string(data.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")),
        ));
    }
    let dead = &outputs
        .iter()
        .find(|(n, _)| *n == "dead-letter.jsonl")
        .unwrap()
        .1;
    // 5 bad of canary-k8s and canary-vault, 3 of canary-cloud, all of it at the webhook,
    // 1 of canary-k8s-events, and canary-bad-types three times.
    assert_eq!(
        dead.lines().count(),
        5 + 3 + cloud.lines().count() + 1 + 3 * bad_type_errors,
        "bad canary records were dead-lettered: {dead}"
    );
    for c in &common::canaries() {
        for (name, text) in &outputs {
            assert!(!text.contains(c.as_str()), "canary {c} in {name}");
        }
    }
}

#[test]
fn vault_socket_audit_device_pairs_entries_and_dead_letters_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_with(
        &data,
        &[],
        &[("SECRETWATCH_SERVE__VAULT_SOCKET", "127.0.0.1:0")],
    );
    let vault_addr = server.vault.clone().expect("the socket is announced");
    let entry = |kind: &str| {
        format!(
            r#"{{"time":"2026-11-03T02:00:00Z","type":"{kind}","auth":{{"client_token":"hmac-sha256:aa","display_name":"root","policies":["root"]}},"request":{{"id":"sock-1","operation":"read","mount_type":"kv","path":"secret/data/prod/db","remote_address":"10.0.0.5"}}}}"#
        )
    };
    // Vault is the client: it dials and writes newline-delimited JSON.
    let mut sock = TcpStream::connect(&vault_addr).unwrap();
    write!(
        sock,
        "{}\n{{broken\n{}\n",
        entry("request"),
        entry("response")
    )
    .unwrap();
    sock.flush().unwrap();
    drop(sock);
    wait_for("the root-token alert", || {
        std::fs::read_to_string(data.join("alerts.jsonl"))
            .unwrap_or_default()
            .contains("break-glass-use")
    });
    let (_, health) = http(&server.addr, "GET", "/api/health", None, "");
    let v: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(
        v["events"], 1,
        "request and response are one access: {health}"
    );
    assert_eq!(v["bad_records"], 1, "{health}");
    assert!(std::fs::read_to_string(data.join("dead-letter.jsonl"))
        .unwrap()
        .contains("vault-socket:"));
}

#[test]
fn state_is_checkpointed_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start_with(
        &data,
        &[],
        &[("SECRETWATCH_SERVE__CHECKPOINT_SECONDS", "1")],
    );
    let state = data.join("state/baseline.json");
    // A batch now and another after the interval: the second one triggers a checkpoint.
    let post = |id: &str| {
        let line = k8s_line(
            id,
            "oidc:alice@example.com",
            "get",
            Some("dev"),
            Some("db"),
            200,
            "2026-11-03T10:00:00Z",
        );
        let (status, body) = http(
            &server.addr,
            "POST",
            "/ingest/k8s-audit",
            Some(TOKEN),
            &line,
        );
        assert_eq!(status, 200, "{body}");
    };
    post("c1");
    wait_for("a checkpoint", || {
        post("c2");
        std::thread::sleep(Duration::from_millis(200));
        state.exists()
    });
}

/// A rule of ours that fires on any read of the Secret `prod/<name>`.
fn watch_rule(id: &str, name: &str, secret: &str) -> String {
    format!(
        r#"title: Watched secret read
id: {id}
name: {name}
status: stable
description: A read of a watched Secret.
level: high
tags:
  - attack.credential-access
logsource:
  product: kubernetes
  service: audit
detection:
  sel:
    verb: get
    objectRef.resource: secrets
    objectRef.name: {secret}
  condition: sel
"#
    )
}

#[test]
fn rules_reload_on_sighup_and_on_file_change_and_a_bad_rule_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let rule_file = rules.join("watch.yml");
    std::fs::write(
        &rule_file,
        watch_rule("5d0c1f7e-0000-4000-8000-000000000001", "watch-db", "db"),
    )
    .unwrap();
    let rules_env = format!("[\"{}\"]", rules.display());
    let server = start_with(
        &data,
        &[],
        &[("SECRETWATCH_DETECT__RULES_DIRS", &rules_env)],
    );
    // Each read by another person: repeats by one person within the alert window are one alert.
    let read = |id: &str, secret: &str, minute: u32| {
        let line = k8s_line(
            id,
            &format!("oidc:{id}@example.com"),
            "get",
            Some("prod"),
            Some(secret),
            200,
            &format!("2026-11-03T10:{minute:02}:00Z"),
        );
        let (status, body) = http(
            &server.addr,
            "POST",
            "/ingest/k8s-audit",
            Some(TOKEN),
            &line,
        );
        assert_eq!(status, 200, "{body}");
    };
    let fired = |rule: &str| {
        std::fs::read_to_string(data.join("alerts.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("\"rule\":\"{rule}\"")))
            .count()
    };
    read("r1", "db", 1);
    wait_for("the first rule", || fired("watch-db") == 1);

    // The rule file changes: picked up without a signal.
    std::fs::write(
        &rule_file,
        watch_rule("5d0c1f7e-0000-4000-8000-000000000002", "watch-api", "api"),
    )
    .unwrap();
    let metric = |name: &str| -> u64 {
        let (_, m) = http(&server.addr, "GET", "/metrics", None, "");
        m.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    wait_for("a reload after the file change", || {
        metric("secretwatch_rule_reloads_total") >= 1
    });
    read("r2", "api", 2);
    wait_for("the new rule", || fired("watch-api") == 1);
    read("r3", "db", 3);

    // SIGHUP alone reloads too.
    let before = metric("secretwatch_rule_reloads_total");
    assert!(Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    wait_for("a reload on SIGHUP", || {
        metric("secretwatch_rule_reloads_total") == before + 1
    });

    // A broken rule: the reload is refused and the running rules stay.
    std::fs::write(&rule_file, "title: broken\ndetection: [\n").unwrap();
    wait_for("the refused reload", || {
        metric("secretwatch_rule_reload_failures_total") >= 1
    });
    read("r4", "api", 4);
    wait_for("the rule still in force", || fired("watch-api") == 2);
    assert_eq!(fired("watch-db"), 1, "the replaced rule no longer fires");
}

#[test]
fn the_listener_speaks_tls_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=secretwatch-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let data = dir.path().join("data");
    let server = start_with(
        &data,
        &[],
        &[
            ("SECRETWATCH_SERVE__TLS_CERT_FILE", cert.to_str().unwrap()),
            ("SECRETWATCH_SERVE__TLS_KEY_FILE", key.to_str().unwrap()),
        ],
    );
    let line = k8s_line(
        "tls-1",
        "system:serviceaccount:dev:build-bot",
        "list",
        None,
        None,
        200,
        "2026-11-03T10:00:00Z",
    );
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap();
        let r = client
            .post(format!("https://{}/ingest/k8s-audit", server.addr))
            .bearer_auth(TOKEN)
            .body(line)
            .send()
            .await
            .expect("HTTPS request");
        (r.status().as_u16(), r.text().await.unwrap())
    });
    assert_eq!(status, 200, "{body}");
    wait_for("the alert", || {
        std::fs::read_to_string(data.join("alerts.jsonl"))
            .unwrap_or_default()
            .contains("k8s-secrets-list-cluster-wide")
    });
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = write!(s, "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    assert!(!String::from_utf8_lossy(&resp).starts_with("HTTP/1.1 200"));
}
