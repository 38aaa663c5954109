//! The dashboard and the analyst API over the committed sample: alerts listed and filtered,
//! alert details with their events and the principal's timeline, triage kept across a restart,
//! token roles, the assets served with their types; and the real page driven in headless
//! Chromium (tests/browser/dashboard.mjs).

mod common;

use std::process::Command;

use common::server::{http, start_args, wait_for_within, Server};

fn sample(data: &std::path::Path, extra: &[(&str, &str)]) -> Server {
    let root = common::root();
    let cfg = root.join("datasets/sample/secretwatch.toml");
    let k8s = root.join("datasets/sample/k8s-audit.jsonl.gz");
    let vault = root.join("datasets/sample/vault-audit.jsonl.gz");
    let server = start_args(
        data,
        &["--config", cfg.to_str().unwrap()],
        &[k8s.to_str().unwrap(), vault.to_str().unwrap()],
        extra,
    );
    wait_for_within("the sample's alerts", 120, || {
        let (_, body) = http(&server.addr, "GET", "/api/health", None, "");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["alerts"].as_u64().unwrap_or(0) > 10 && v["queue_batches"] == 0
    });
    server
}

fn get(server: &Server, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let (status, body) = http(&server.addr, "GET", path, token, "");
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn the_api_lists_details_and_triages_alerts_and_keeps_triage_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = sample(&data, &[]);

    let (status, list) = get(&server, "/api/alerts?limit=5", None);
    assert_eq!(status, 200, "{list}");
    let total = list["total"].as_u64().unwrap();
    assert!(total > 10, "{list}");
    let alerts = list["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 5);
    // Newest first.
    let seen: Vec<&str> = alerts
        .iter()
        .map(|a| a["last_seen"].as_str().unwrap())
        .collect();
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted);
    // The same count as alerts.jsonl holds (distinct ids).
    let ids: std::collections::BTreeSet<String> =
        std::fs::read_to_string(data.join("alerts.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
    assert_eq!(total as usize, ids.len());

    // A break-glass alert in detail: its events and its principal's timeline.
    let (_, bg) = get(&server, "/api/alerts?rule=break-glass-use&limit=1", None);
    let alert = &bg["alerts"][0];
    let id = alert["id"]
        .as_str()
        .expect("the sample has a break-glass alert");
    assert_eq!(alert["state"], "new");
    let (status, detail) = get(&server, &format!("/api/alerts/{id}"), None);
    assert_eq!(status, 200);
    assert!(!detail["events"].as_array().unwrap().is_empty(), "{detail}");
    assert!(detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["count"].as_u64() > Some(0)));
    assert_eq!(get(&server, "/api/alerts/nope", None).0, 404);

    // Triage.
    let (status, body) = http(
        &server.addr,
        "POST",
        &format!("/api/alerts/{id}/triage"),
        None,
        r#"{"state":"acknowledged","note":"on it"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, _) = http(
        &server.addr,
        "POST",
        &format!("/api/alerts/{id}/triage"),
        None,
        r#"{"state":"closed"}"#,
    );
    assert_eq!(status, 400);
    let (_, acked) = get(&server, "/api/alerts?state=acknowledged", None);
    assert_eq!(acked["total"], 1);

    // The principal's page and the overview.
    let who = alert["principal"].as_str().unwrap();
    let enc: String = who
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let (status, p) = get(&server, &format!("/api/principals/{enc}"), None);
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["principal"], who);
    assert_eq!(
        p["baseline"]["hours_of_week"].as_array().unwrap().len(),
        168
    );
    let (_, summary) = get(&server, "/api/summary", None);
    assert!(summary["events"].as_u64().unwrap() > 1000, "{summary}");
    assert!(!summary["top_principals"].as_array().unwrap().is_empty());

    // Assets with their types and policy.
    let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "GET /app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let head = resp.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(head.contains("content-type: text/javascript"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    let (status, page) = http(&server.addr, "GET", "/", None, "");
    assert_eq!(status, 200);
    assert!(page.contains("<html"), "{page}");

    // Restart: the triage state is still there; the audit record names who did it.
    drop(server);
    let server = sample(&data, &[]);
    let (_, detail) = get(&server, &format!("/api/alerts/{id}"), None);
    assert_eq!(detail["alert"]["state"], "acknowledged");
    assert_eq!(detail["triage_history"][0]["note"], "on it");
    let audit = std::fs::read_to_string(data.join("api-audit.jsonl")).unwrap();
    assert!(
        audit.contains("\"who\":\"dashboard\"") && audit.contains(id),
        "{audit}"
    );
}

#[test]
fn api_tokens_have_roles() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tokens = r#"[{ name = "victor", token = "viewer-token-0123456789", role = "viewer" }, { name = "ana", token = "analyst-token-0123456789", role = "analyst" }]"#;
    let server = sample(&data, &[("SECRETWATCH_SERVE__API_TOKENS", tokens)]);
    assert_eq!(get(&server, "/api/alerts", None).0, 401);
    assert_eq!(
        get(&server, "/api/alerts", Some("wrong-token-0123456789")).0,
        401
    );
    let (status, list) = get(
        &server,
        "/api/alerts?limit=1",
        Some("viewer-token-0123456789"),
    );
    assert_eq!(status, 200);
    let id = list["alerts"][0]["id"].as_str().unwrap();
    let path = format!("/api/alerts/{id}/triage");
    let body = r#"{"state":"resolved","note":"benign"}"#;
    assert_eq!(
        http(
            &server.addr,
            "POST",
            &path,
            Some("viewer-token-0123456789"),
            body
        )
        .0,
        403
    );
    assert_eq!(
        http(
            &server.addr,
            "POST",
            &path,
            Some("analyst-token-0123456789"),
            body
        )
        .0,
        200
    );
    let (_, d) = get(
        &server,
        &format!("/api/alerts/{id}"),
        Some("viewer-token-0123456789"),
    );
    assert_eq!(d["alert"]["triage"]["by"], "ana");
    // The page itself needs no token (it asks for one).
    assert_eq!(http(&server.addr, "GET", "/", None, "").0, 200);
}

#[test]
fn the_dashboard_works_in_headless_chromium() {
    let root = common::root();
    let setup = Command::new(root.join("scripts/setup-browser.sh"))
        .output()
        .expect("scripts/setup-browser.sh");
    assert!(
        setup.status.success(),
        "the browser is not installed: run scripts/setup.sh ({})",
        String::from_utf8_lossy(&setup.stderr)
    );
    let node_path = String::from_utf8_lossy(&setup.stdout).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = sample(&data, &[]);
    // Screenshots are kept beside the build for a look after the run.
    let out = option_env!("CARGO_TARGET_TMPDIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf())
        .join("dashboard-screenshots");
    let run = Command::new("node")
        .arg(root.join("tests/browser/dashboard.mjs"))
        .arg(format!("http://{}/", server.addr))
        .arg("--out")
        .arg(&out)
        .env("NODE_PATH", &node_path)
        .output()
        .expect("node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "{text}");
    assert!(text.contains("ok "), "{text}");
    // The triage the browser made is in the store.
    let (_, acked) = get(&server, "/api/alerts?state=acknowledged", None);
    assert!(acked["total"].as_u64().unwrap() >= 1, "{acked}");
}
