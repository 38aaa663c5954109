//! The `secretwatch serve` process for end-to-end tests: started on a free port, announced
//! addresses read from its stderr, killed (SIGKILL) when dropped unless stopped first.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::bin;

pub const TOKEN: &str = "test-token-0123456789abcdef";

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub vault: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(data: &std::path::Path, files: &[&str]) -> Server {
    start_with(data, files, &[])
}

pub fn start_with(data: &std::path::Path, files: &[&str], env: &[(&str, &str)]) -> Server {
    start_args(data, &[], files, env)
}

/// `serve` with extra arguments (`--config C`) before the input files.
pub fn start_args(
    data: &std::path::Path,
    args: &[&str],
    files: &[&str],
    env: &[(&str, &str)],
) -> Server {
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .args(args)
        .args(files)
        .env(
            super::HISTORY_FROM_FIRST_SIGHTING.0,
            super::HISTORY_FROM_FIRST_SIGHTING.1,
        )
        .envs(env.iter().copied())
        .env("SECRETWATCH_SERVE__INGEST_TOKEN", TOKEN)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut vault = None;
    let addr = loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "server exited before listening"
        );
        if let Some(a) = line
            .trim()
            .strip_prefix("secretwatch: vault audit socket on ")
        {
            vault = Some(a.to_string());
        }
        let l = line.trim();
        if let Some(a) = l
            .strip_prefix("secretwatch: listening on http://")
            .or_else(|| l.strip_prefix("secretwatch: listening on https://"))
        {
            break a.to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = err.read_to_string(&mut sink);
    });
    Server { child, addr, vault }
}

/// One HTTP/1.1 request; returns (status, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub fn wait_for(what: &str, f: impl FnMut() -> bool) {
    wait_for_within(what, 30, f)
}

/// Poll `f` until it holds; fail naming `what` after `secs` seconds.
pub fn wait_for_within(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `serve` over the committed sample (its config and its three files), returned once every event
/// is read, stored and processed. `extra`: environment overrides.
pub fn sample(data: &std::path::Path, extra: &[(&str, &str)]) -> Server {
    let root = super::root();
    let cfg = root.join("datasets/sample/secretwatch.toml");
    let k8s = root.join("datasets/sample/k8s-audit.jsonl.gz");
    let vault = root.join("datasets/sample/vault-audit.jsonl.gz");
    let trail = root.join("datasets/sample/cloudtrail.jsonl.gz");
    let server = start_args(
        data,
        &["--config", cfg.to_str().unwrap()],
        &[
            k8s.to_str().unwrap(),
            vault.to_str().unwrap(),
            trail.to_str().unwrap(),
        ],
        extra,
    );
    // Read and processed: the files' events are counted once all are read, and each
    // processed batch is in the store (queried with the admin token when tokens are set).
    let token = extra
        .iter()
        .any(|(k, _)| *k == "SECRETWATCH_SERVE__API_TOKENS")
        .then_some("admin-token-0123456789");
    wait_for_within("the sample read and processed", 120, || {
        let (_, body) = http(&server.addr, "GET", "/api/health", None, "");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let read: u64 = v["sources"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0);
        let q = r#"{"sql":"SELECT count(*) FROM events"}"#;
        let (_, answer) = http(&server.addr, "POST", "/api/query", token, q);
        let stored = serde_json::from_str::<serde_json::Value>(&answer).unwrap_or_default()["rows"]
            [0][0]
            .as_u64()
            .unwrap_or(0);
        read > 0 && stored == read && v["alerts"].as_u64().unwrap_or(0) > 10
    });
    // The last batch's alerts are written just after its events are stored.
    std::thread::sleep(std::time::Duration::from_millis(300));
    server
}
