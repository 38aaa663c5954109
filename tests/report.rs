//! Compliance reports over the committed sample: the report has the sample's injected
//! break-glass sessions (with their events and triage) and the same alert and event counts as
//! the store, from the running service (`GET /api/report`) and from `secretwatch report` over
//! the data directory afterwards (Parquet); the HTML renders in headless Chromium
//! (tests/browser/report.mjs, screenshot kept); scheduled reports are written to the data
//! directory and mailed to a real SMTP server, and a run missed while the service was down is
//! made at start.

mod common;

// The alerting crate's SMTP receiver (scripts/smtp-receiver.py) and MIME reader.
#[path = "../alerting/tests/support/mime.rs"]
mod mime;
#[path = "../alerting/tests/support/smtp.rs"]
#[allow(dead_code)]
mod smtp;

use std::collections::BTreeMap;
use std::process::Command;

use chrono::{Datelike, TimeZone, Utc};
use common::server::{http, sample, start_args, wait_for_within};
use serde_json::Value;

const PERIOD: &str = "from=2026-11-01&to=2026-12-01";

fn sql(addr: &str, query: &str) -> Vec<Vec<Value>> {
    let body = serde_json::json!({ "sql": query }).to_string();
    let (status, answer) = http(addr, "POST", "/api/query", None, &body);
    assert_eq!(status, 200, "{answer}");
    let v: Value = serde_json::from_str(&answer).unwrap();
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect()
}

/// The sample's labeled stories of one detection: (principal, event ids).
fn labels(detection: &str) -> Vec<(String, Vec<String>)> {
    let text =
        std::fs::read_to_string(common::root().join("datasets/sample/labels.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["detection"] == detection)
        .map(|l| {
            (
                l["principal"].as_str().unwrap().to_string(),
                l["event_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// CSV lines split into cells (quotes honoured).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\r', false) => {}
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    rows
}

/// What both ways of making the report must agree on with the store.
fn check_report(r: &Value, events: u64, alerts_by_rule: &BTreeMap<String, u64>) {
    assert_eq!(
        r["summary"]["events"].as_u64(),
        Some(events),
        "{}",
        r["summary"]
    );
    let total: u64 = alerts_by_rule.values().sum();
    assert_eq!(r["alerts"]["total"].as_u64(), Some(total));
    assert_eq!(r["summary"]["alerts"].as_u64(), Some(total));
    let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
    for row in r["alerts"]["rules"].as_array().unwrap() {
        *by_rule
            .entry(row["rule"].as_str().unwrap().to_string())
            .or_default() += row["alerts"].as_u64().unwrap();
    }
    assert_eq!(&by_rule, alerts_by_rule);
    // Every injected break-glass story is a session holding its events.
    let sessions = r["break_glass"].as_array().unwrap();
    let stories = labels("break-glass-use");
    assert_eq!(stories.len(), 3);
    for (principal, ids) in &stories {
        let s = sessions
            .iter()
            .find(|s| s["principal"] == principal.as_str())
            .unwrap_or_else(|| panic!("no session of {principal}: {sessions:?}"));
        let held: Vec<&str> = s["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        for id in ids {
            assert!(
                held.contains(&id.as_str()),
                "{principal}: event {id} not in {held:?}"
            );
        }
        assert!(s["closed"].as_bool().unwrap(), "{s}");
        assert!(
            s["alerts"].as_array().unwrap().len() >= 2,
            "use + summary: {s}"
        );
    }
    // Other injected stories land in their sections.
    let humans: Vec<&str> = r["human_production_reads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["principal"].as_str().unwrap())
        .collect();
    for (p, _) in labels("off-hours-human-prod-read")
        .iter()
        .filter(|(p, _)| p.starts_with("oidc:"))
    {
        assert!(humans.contains(&p.as_str()), "{p} not in {humans:?}");
    }
    for (p, _) in labels("k8s-secrets-list-cluster-wide") {
        let b = r["broad_listers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["principal"] == p.as_str())
            .unwrap_or_else(|| panic!("{p} not among the broad listers"));
        assert_eq!(b["expected"], false);
    }
    let gaps: Vec<&Value> = r["sync"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "gap")
        .collect();
    assert!(!labels("rotation-sync-gap").is_empty());
    assert_eq!(gaps.len(), 1, "{}", r["sync"]);
    assert!(gaps[0]["alerts"].as_u64().unwrap() >= 1, "{}", gaps[0]);
}

#[test]
fn reports_over_the_sample_match_the_store_and_render_in_chromium() {
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = sample(&data, &[("SECRETWATCH_SERVE__RETENTION_DAYS", "0")]);
    let events = sql(&server.addr, "SELECT count(*) FROM events")[0][0]
        .as_u64()
        .unwrap();
    let alerts_by_rule: BTreeMap<String, u64> = sql(
        &server.addr,
        "SELECT rule, count(*) FROM alerts GROUP BY rule",
    )
    .into_iter()
    .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap()))
    .collect();

    // Acknowledge the opening alert of one break-glass session.
    let (_, list) = http(
        &server.addr,
        "GET",
        "/api/alerts?rule=break-glass-use&principal=break-glass-admin",
        None,
        "",
    );
    let list: Value = serde_json::from_str(&list).unwrap();
    let id = list["alerts"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = http(
        &server.addr,
        "POST",
        &format!("/api/alerts/{id}/triage"),
        None,
        r#"{"state":"acknowledged","note":"planned maintenance CHG-1234"}"#,
    );
    assert_eq!(status, 200, "{body}");

    let (status, json) = http(
        &server.addr,
        "GET",
        &format!("/api/report?{PERIOD}&format=json"),
        None,
        "",
    );
    assert_eq!(status, 200, "{json}");
    let live: Value = serde_json::from_str(&json).unwrap();
    check_report(&live, events, &alerts_by_rule);
    let bg = live["break_glass"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["principal"] == "break-glass-admin")
        .unwrap();
    assert_eq!(bg["state"], "acknowledged", "{bg}");
    assert_eq!(bg["note"], "planned maintenance CHG-1234");
    let row = live["alerts"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "break-glass-use")
        .unwrap();
    assert_eq!(row["acknowledged"], 1, "{row}");
    assert!(row["median_ack_seconds"].as_i64().unwrap() > 0, "{row}");
    // The request is in the audit trail.
    let audited = sql(
        &server.addr,
        "SELECT count(*) FROM audit WHERE action = 'report'",
    );
    assert_eq!(audited[0][0], 1);

    // CSV: every table's rows are as wide as its header.
    let (status, csv) = http(
        &server.addr,
        "GET",
        &format!("/api/report?{PERIOD}&format=csv"),
        None,
        "",
    );
    assert_eq!(status, 200);
    let mut width = 0;
    let mut tables = 0;
    let mut after_title = false;
    for row in csv_rows(&csv) {
        if row.len() == 1 && row[0].is_empty() {
            continue;
        }
        if row[0].starts_with("# ") && row.len() == 1 {
            tables += 1;
            after_title = true;
            continue;
        }
        if after_title {
            width = row.len();
            after_title = false;
        } else if !row[0].starts_with("# ") {
            assert_eq!(row.len(), width, "{row:?}");
        }
    }
    assert_eq!(tables, 10, "nine sections and the break-glass events");
    let (status, md) = http(
        &server.addr,
        "GET",
        &format!("/api/report?{PERIOD}&format=md"),
        None,
        "",
    );
    assert_eq!(status, 200);
    assert!(
        md.contains("## Break-glass sessions") && md.contains("### break-glass-admin"),
        "{md}"
    );
    assert_eq!(
        http(&server.addr, "GET", "/api/report?format=pdf", None, "").0,
        400
    );
    assert_eq!(
        http(
            &server.addr,
            "GET",
            "/api/report?from=2026-12-01&to=2026-11-01",
            None,
            ""
        )
        .0,
        400
    );

    // Stopped: the CLI reads the same from the Parquet files.
    let mut server = server;
    assert!(Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert!(server.child.wait().unwrap().success());
    let cfg = root.join("datasets/sample/secretwatch.toml");
    let cli = |format: &str, out: Option<&std::path::Path>| {
        let mut cmd = Command::new(common::bin());
        cmd.args([
            "report",
            "--config",
            cfg.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .args([
            "--from",
            "2026-11-01",
            "--to",
            "2026-12-01T00:00:00Z",
            "--format",
            format,
        ]);
        if let Some(o) = out {
            cmd.arg("--out").arg(o);
        }
        cmd.output().unwrap()
    };
    let out = cli("json", None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_report(&stored, events, &alerts_by_rule);
    assert_eq!(stored["summary"], live["summary"]);

    let html = dir.path().join("report.html");
    let out = cli("html", Some(&html));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Mistakes are named.
    let out = Command::new(common::bin())
        .args([
            "report",
            "--data-dir",
            dir.path().join("nothing").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no event store"),
        "{out:?}"
    );
    let out = Command::new(common::bin())
        .args([
            "report",
            "--data-dir",
            data.to_str().unwrap(),
            "--from",
            "2026-13-01",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--from \"2026-13-01\""),
        "{out:?}"
    );

    // The HTML in a real browser, as an auditor opens the attachment.
    let node_path = common::browser_node_path();
    let shots = option_env!("CARGO_TARGET_TMPDIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf())
        .join("report-screenshots");
    let run = Command::new("node")
        .arg(root.join("tests/browser/report.mjs"))
        .arg(&html)
        .arg("--out")
        .arg(&shots)
        .args([
            "--expect",
            "break-glass-admin",
            "--expect",
            "planned maintenance CHG-1234",
        ])
        .args([
            "--expect",
            "oidc:alice@example.com",
            "--expect",
            "Rotation sync gaps",
        ])
        .env("NODE_PATH", &node_path)
        .output()
        .expect("node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "{text}");
    assert!(text.contains("ok screenshot"), "{text}");
    assert!(shots.join("report.png").metadata().unwrap().len() > 10_000);
}

#[test]
fn scheduled_reports_are_written_and_mailed_and_a_missed_run_is_made_at_start() {
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mail_dir = dir.path().join("mail");
    std::fs::create_dir_all(&mail_dir).unwrap();
    let smtp = smtp::SmtpReceiver::start(&mail_dir, &smtp::ReceiverOptions::default());
    // The yearly schedule last ran two years ago: the latest 1 January is made at start.
    std::fs::create_dir_all(data.join("reports")).unwrap();
    let now = Utc::now();
    std::fs::write(
        data.join("reports/.yearly.last"),
        Utc.with_ymd_and_hms(now.year() - 2, 1, 1, 0, 0, 0)
            .unwrap()
            .to_rfc3339(),
    )
    .unwrap();
    let missed = Utc.with_ymd_and_hms(now.year(), 1, 1, 0, 0, 0).unwrap();
    let mut cfg = std::fs::read_to_string(root.join("datasets/sample/secretwatch.toml")).unwrap();
    cfg.push_str(&format!(
        r#"
[[alerting.sinks]]
name = "mail"
route = {{ rules = ["no-rule-has-this-name"] }}
output = {{ type = "email", host = "127.0.0.1", port = {port}, tls = "none", from = "secretwatch <secretwatch@example.com>", to = ["soc@example.com"] }}

[report]
title = "Weekly secret access evidence"

[[report.schedules]]
name = "often"
cron = "*/2 * * * * *"
period = "366d"
formats = ["html", "csv"]
email_sink = "mail"
email_to = ["audit@example.com"]

[[report.schedules]]
name = "yearly"
cron = "0 0 1 1 *"
timezone = "UTC"
period = "24h"
formats = ["json"]
"#,
        port = smtp.port()
    ));
    let cfg_path = dir.path().join("secretwatch.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let server = start_args(&data, &["--config", cfg_path.to_str().unwrap()], &[], &[]);
    wait_for_within("a mailed report", 60, || smtp.count() >= 1);
    let mail = &smtp.messages()[0];
    assert_eq!(mail.rcpt_tos, ["audit@example.com"]);
    let subject = mail.mail.decoded("Subject").unwrap();
    assert!(
        subject.contains("Weekly secret access evidence"),
        "{subject}"
    );
    let parts = mail.mail.parts();
    assert_eq!(parts.len(), 3, "text and two attachments");
    assert!(
        parts[0].text().contains("Break-glass sessions:"),
        "{}",
        parts[0].text()
    );
    let html = parts
        .iter()
        .find(|p| p.mime_type() == "text/html")
        .expect("the HTML report attached");
    let disposition = html.header("Content-Disposition").unwrap();
    assert!(
        disposition.contains("attachment") && disposition.contains("often-"),
        "{disposition}"
    );
    assert!(html
        .text()
        .contains("<h1>Weekly secret access evidence</h1>"));
    let csv = parts.iter().find(|p| p.mime_type() == "text/csv").unwrap();
    assert!(
        csv.text().starts_with("# Weekly secret access evidence,"),
        "{}",
        csv.text()
    );

    // The files are in the data directory, and the missed yearly run was made.
    let files: Vec<String> = std::fs::read_dir(data.join("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("often-") && f.ends_with(".html")),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("often-") && f.ends_with(".csv")),
        "{files:?}"
    );
    let yearly = format!("yearly-{}.json", missed.format("%Y%m%dT%H%M%SZ"));
    assert!(files.contains(&yearly), "{yearly} not in {files:?}");
    let y: Value =
        serde_json::from_slice(&std::fs::read(data.join("reports").join(&yearly)).unwrap())
            .unwrap();
    assert_eq!(
        y["to"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap(),
        missed
    );
    assert_eq!(
        y["from"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<Utc>>()
            .unwrap(),
        missed - chrono::Duration::hours(24)
    );
    let (_, metrics) = http(&server.addr, "GET", "/metrics", None, "");
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(value("secretwatch_reports_written_total") >= 2, "{metrics}");
    assert!(value("secretwatch_report_mails_total") >= 1, "{metrics}");
    assert_eq!(value("secretwatch_report_mail_failures_total"), 0);
}

#[test]
fn report_settings_are_checked_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "[[report.schedules]]\nname = \"w\"\ncron = \"0 7 * * mon\"\ntimezone = \"Europe/Nowhere\"\nemail_sink = \"mail\"\n",
    )
    .unwrap();
    let out = Command::new(common::bin())
        .args(["config", "check", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("report.schedules[0].timezone"), "{err}");
    assert!(err.contains("report.schedules[0].email_sink"), "{err}");
}
