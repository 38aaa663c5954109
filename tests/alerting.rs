//! Alerts leave the live service through configured sinks, durably: a sink that is down keeps
//! its alerts queued on disk, a SIGKILL does not lose them, and after restart each arrives once.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::k8s_line;
use common::receiver::Receiver;
use common::server::{http, start_args, wait_for, TOKEN};

/// Three service accounts each list Secrets across all namespaces: three cluster-wide-list
/// alerts (and three cross-namespace alerts, which the test sink's route leaves out).
fn post_cluster_wide_lists(addr: &str) {
    let items: Vec<String> = ["mallory", "eve", "trudy"]
        .iter()
        .enumerate()
        .map(|(i, u)| {
            k8s_line(
                &format!("kill-{i}"),
                &format!("system:serviceaccount:dev:{u}"),
                "list",
                None,
                None,
                200,
                "2026-11-03T10:00:00Z",
            )
        })
        .collect();
    let body = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{}]}}"#,
        items.join(",")
    );
    let (status, answer) = http(addr, "POST", "/ingest/k8s-audit", Some(TOKEN), &body);
    assert_eq!(status, 200, "{answer}");
}

/// Ids of the alerts of `rule` in `alerts.jsonl`.
fn alert_ids(data: &std::path::Path, rule: &str) -> BTreeSet<String> {
    std::fs::read_to_string(data.join("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["rule"] == rule)
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

const RULE: &str = "k8s-secrets-list-cluster-wide";

fn health(addr: &str) -> serde_json::Value {
    let (status, body) = http(addr, "GET", "/api/health", None, "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn a_down_webhook_sink_gets_every_alert_once_after_a_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A port nobody listens on yet: the sink is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("secretwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[alerting]
shutdown_drain_seconds = 1
[[alerting.sinks]]
name = "soc-hook"
route = {{ rules = ["k8s-secrets-*"] }}
output = {{ type = "webhook", url = "http://127.0.0.1:{port}/hook", secret = {{ env = "TEST_HOOK_SECRET" }} }}
"#
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let env = [("TEST_HOOK_SECRET", "hook-secret-0123456789")];

    let mut server = start_args(&data, &args, &[], &env);
    post_cluster_wide_lists(&server.addr);
    wait_for("three alerts", || alert_ids(&data, RULE).len() == 3);
    let ids = alert_ids(&data, RULE);
    wait_for("the sink to report its failure", || {
        let h = health(&server.addr);
        h["status"] == "degraded" && h["sinks"][0]["state"] == "retrying"
    });
    let h = health(&server.addr);
    assert_eq!(h["sinks"][0]["pending"], 3, "{h}");
    assert_eq!(h["sinks"][0]["delivered"], 0, "{h}");
    let (_, metrics) = http(&server.addr, "GET", "/metrics", None, "");
    assert!(
        metrics.contains("secretwatch_sink_queue_pending{sink=\"soc-hook\",type=\"webhook\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("secretwatch_sink_up{sink=\"soc-hook\",type=\"webhook\"} 0"),
        "{metrics}"
    );

    // Killed without a chance to flush anything.
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    // The receiver comes up; the service restarts on the same data dir.
    let receiver = Receiver::start(&format!("127.0.0.1:{port}"));
    let server = start_args(&data, &args, &[], &env);
    wait_for("every alert at the receiver", || {
        receiver.requests().len() >= 3
    });
    wait_for("the sink to report delivery", || {
        health(&server.addr)["sinks"][0]["delivered"] == 3
    });
    // Nothing more arrives: each alert once.
    std::thread::sleep(Duration::from_millis(500));
    let got = receiver.requests();
    assert_eq!(got.len(), 3, "each alert exactly once");
    let received: BTreeSet<String> = got
        .iter()
        .map(|r| {
            assert_eq!(r.method, "POST");
            assert_eq!(r.path, "/hook");
            let v = r.json();
            assert_eq!(v["kind"], "secretwatch.alert");
            assert_eq!(v["rule"], RULE);
            assert_eq!(
                r.headers.get("x-secretwatch-alert-id").map(String::as_str),
                v["id"].as_str()
            );
            assert!(r.headers["x-secretwatch-signature"].starts_with("sha256="));
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(received, ids);
    let h = health(&server.addr);
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["sinks"][0]["pending"], 0, "{h}");
}

#[test]
fn a_sink_with_a_missing_credential_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("secretwatch.toml");
    std::fs::write(
        &config,
        r#"
[[alerting.sinks]]
name = "pager"
output = { type = "pagerduty", routing_key = { env = "SECRETWATCH_TEST_UNSET_ROUTING_KEY" } }
"#,
    )
    .unwrap();
    let out = common::run(
        dir.path(),
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        None,
        &[],
    );
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("alerting.sinks[0] (pager)"), "{err}");
    assert!(err.contains("SECRETWATCH_TEST_UNSET_ROUTING_KEY"), "{err}");
}

#[test]
fn config_check_names_bad_sink_keys() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("secretwatch.toml");
    std::fs::write(
        &config,
        r#"
[[alerting.sinks]]
name = "Bad Name"
output = { type = "webhook", url = "ftp://example.com" }
"#,
    )
    .unwrap();
    let out = common::run(
        dir.path(),
        &["config", "check", config.to_str().unwrap()],
        None,
        &[],
    );
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("alerting.sinks[0].name"), "{err}");
    assert!(err.contains("alerting.sinks[0].output.url"), "{err}");
}
