//! The dashboard and the analyst API over the committed sample: alerts listed and filtered,
//! alert details with their events and the principal's timeline, triage kept across a restart,
//! token roles, the assets served with their types; and the real page driven in headless
//! Chromium (tests/browser/dashboard.mjs).

mod common;

use std::process::Command;

use common::server::{http, sample, start_args, wait_for_within, Server};

/// A principal name as one URL path segment (every byte but letters and digits escaped).
fn percent_encoded(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
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
    let enc = percent_encoded(who);
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
    let tokens = r#"[{ name = "victor", token = "viewer-token-0123456789", role = "viewer" }, { name = "ana", token = "analyst-token-0123456789", role = "analyst" }, { name = "root", token = "admin-token-0123456789", role = "admin" }]"#;
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
    let node_path = common::browser_node_path();
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

fn sql(server: &Server, query: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "sql": query }).to_string();
    let (status, answer) = http(&server.addr, "POST", "/api/query", None, &body);
    (
        status,
        serde_json::from_str(&answer).unwrap_or(serde_json::Value::String(answer)),
    )
}

#[test]
fn sql_over_stored_events_alerts_and_the_audit_trail_read_only_with_limits() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = sample(
        &data,
        &[
            ("SECRETWATCH_SERVE__QUERY_MAX_ROWS", "5"),
            ("SECRETWATCH_SERVE__QUERY_SECONDS", "1"),
            // The sample's days are fixed; retention counts from today's date.
            ("SECRETWATCH_SERVE__RETENTION_DAYS", "0"),
            // The baselines table reads the saved detection state.
            ("SECRETWATCH_SERVE__CHECKPOINT_SECONDS", "1"),
        ],
    );
    // The files' events are counted once they are all read (sources); every one of them is
    // queryable once detection has taken the last batch.
    let ingested = || -> u64 {
        let (_, health) = get(&server, "/api/health", None);
        health["sources"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0)
    };
    wait_for_within("every event in the store", 60, || {
        let (status, r) = sql(&server, "SELECT count(*) AS n FROM events");
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["columns"], serde_json::json!(["n"]));
        let n = ingested();
        n > 0 && r["rows"][0][0].as_u64() == Some(n)
    });
    let ingested = ingested();

    // Accesses per principal per hour, the analysts' everyday question; the row cap applies.
    let (status, r) = sql(
        &server,
        "SELECT principal, date_trunc('hour', time) AS hour, count(*) AS n FROM events WHERE is_secret GROUP BY 1, 2 ORDER BY n DESC",
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["rows"].as_array().unwrap().len(), 5);
    assert_eq!(r["truncated"], true);

    let (_, list) = get(&server, "/api/alerts?limit=1", None);
    let (status, r) = sql(&server, "SELECT count(*) FROM alerts");
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["rows"][0][0].as_u64(), list["total"].as_u64());

    // Read-only: nothing that defines tables (and so reads files), writes files or changes settings.
    for refused in [
        "CREATE EXTERNAL TABLE pw STORED AS CSV LOCATION '/etc/passwd'",
        "COPY (SELECT 1 AS x) TO '/tmp/secretwatch-copy-test.csv'",
        "INSERT INTO alerts VALUES ('x')",
        "SET datafusion.execution.batch_size = 1",
        "DROP TABLE events",
        "SELECT * FROM no_such_table",
    ] {
        let (status, r) = sql(&server, refused);
        assert_eq!(status, 400, "{refused}: {r}");
        assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");
    }
    assert!(!std::path::Path::new("/tmp/secretwatch-copy-test.csv").exists());

    // The time limit.
    let (status, r) = sql(
        &server,
        "SELECT count(*) FROM events a, events b WHERE a.id < b.id AND a.verb <> b.target",
    );
    assert_eq!(status, 408, "{r}");

    // What the baseline detector learned, per principal (as of the last checkpoint).
    wait_for_within("the baselines table", 30, || {
        let (status, r) = sql(&server, "SELECT count(*) FROM baselines");
        assert_eq!(status, 200, "{r}");
        r["rows"][0][0].as_u64().unwrap_or(0) > 10
    });
    let (_, r) = sql(
        &server,
        "SELECT principal, source, hourly_reads_mean, seen_secrets, learning FROM baselines WHERE source = 'kubernetes' ORDER BY CAST(seen_secrets AS BIGINT) DESC",
    );
    let top = &r["rows"][0];
    assert!(top[3].as_str().unwrap().parse::<u64>().unwrap() > 0, "{r}");
    let who = top[0].as_str().unwrap();
    let enc = percent_encoded(who);
    let (status, p) = get(&server, &format!("/api/principals/{enc}"), None);
    assert_eq!(status, 200, "{p}");
    let model = &p["baseline"]["model"];
    assert_eq!(
        model["active_hours_of_week"].as_array().unwrap().len(),
        168,
        "{p}"
    );
    assert!(model["hourly_reads_mean"].as_f64().unwrap() > 0.0, "{p}");

    // Every query is itself on record, and queryable.
    let (status, r) = sql(
        &server,
        "SELECT who, action FROM audit WHERE action = 'query'",
    );
    assert_eq!(status, 200, "{r}");
    assert!(r["rows"].as_array().unwrap().len() >= 5, "{r}");

    // CSV by Accept.
    let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
    use std::io::{Read, Write};
    let body =
        r#"{"sql":"SELECT source, count(*) AS n FROM events GROUP BY source ORDER BY source"}"#;
    write!(
        s,
        "POST /api/query HTTP/1.1\r\nHost: x\r\nAccept: text/csv\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, csv) = resp.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase().contains("content-type: text/csv"),
        "{head}"
    );
    assert!(
        csv.starts_with("source,n\n") && csv.contains("kubernetes,") && csv.contains("vault,"),
        "{csv}"
    );

    // Stopped: the events are flushed to Parquet by day, and a restart queries them from there.
    let mut server = server;
    assert!(Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert!(server.child.wait().unwrap().success());
    let days: Vec<String> = std::fs::read_dir(data.join("store/events"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(days.iter().any(|d| d == "day=2026-11-03"), "{days:?}");
    let server = start_args(
        &data,
        &[],
        &[],
        &[("SECRETWATCH_SERVE__RETENTION_DAYS", "0")],
    );
    let (status, r) = sql(&server, "SELECT count(*) FROM events");
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["rows"][0][0].as_u64(), Some(ingested), "{r}");
}

#[test]
fn the_openapi_document_names_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_args(&dir.path().join("data"), &[], &[], &[]);
    let (status, doc) = get(&server, "/api/openapi.json", None);
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    // Every route the service registers is documented.
    let root = common::root();
    for file in ["src/serve/api.rs", "src/serve/http.rs"] {
        let src = std::fs::read_to_string(root.join(file)).unwrap();
        for part in src.split(".route(\"").skip(1) {
            let route = part.split('"').next().unwrap();
            assert!(
                paths.contains_key(route),
                "{route} ({file}) is not in the OpenAPI document"
            );
        }
    }
    // The ingest formats are the parser's, and each is a route the service answers.
    let formats = &paths["/ingest/{format}"]["post"]["parameters"][0];
    assert_eq!(formats["name"], "format");
    assert_eq!(
        formats["schema"]["enum"],
        serde_json::json!(secretwatch_ingest::Format::NAMES),
        "the OpenAPI document lists other ingest formats than Format::NAMES"
    );
    let ingest = |format: &str| {
        let path = format!("/ingest/{format}");
        http(&server.addr, "POST", &path, Some(common::server::TOKEN), "")
    };
    for format in secretwatch_ingest::Format::NAMES {
        let (status, answer) = ingest(format);
        assert_eq!(status, 200, "{format}: {answer}");
    }
    assert_eq!(ingest("no-such-format").0, 404);
}

#[test]
fn a_query_over_its_memory_limit_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = sample(
        &dir.path().join("data"),
        &[
            ("SECRETWATCH_SERVE__QUERY_MEMORY_MB", "16"),
            ("SECRETWATCH_SERVE__QUERY_SECONDS", "120"),
        ],
    );
    // Millions of groups in one hash aggregate: far over 16 MiB.
    let (status, r) = sql(
        &server,
        "SELECT concat(a.id, b.id) AS k, count(*) AS n FROM events a, (SELECT id FROM events LIMIT 300) b GROUP BY 1 HAVING count(*) > 1",
    );
    assert_eq!(status, 400, "{r}");
    let msg = r["error"].as_str().unwrap_or_default().to_ascii_lowercase();
    assert!(
        msg.contains("resources exhausted") || msg.contains("memory"),
        "{r}"
    );
    // The service goes on answering.
    let (status, _) = sql(&server, "SELECT count(*) FROM events");
    assert_eq!(status, 200);
}
