//! Helpers for end-to-end tests of the `secretwatch` binary.
#![allow(dead_code)]

pub mod kafka;
pub mod receiver;
pub mod server;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_secretwatch"))
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A program a setup script installed under `~/.cache/secretwatch` (`rel`), or where the
/// environment variable `env` says; a missing one fails the test naming the script.
pub fn installed_tool(env: &str, rel: &str, script: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let p = PathBuf::from(home).join(".cache/secretwatch").join(rel);
    assert!(
        p.exists(),
        "{} is not installed: run scripts/setup.sh (or {script})",
        p.display()
    );
    p
}

pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

/// The values planted in the canary fixtures (`tests/fixtures/canaries.txt`), every format's.
pub fn canaries() -> Vec<String> {
    let list: Vec<String> = std::fs::read_to_string(fixtures().join("canaries.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    // 12 of Kubernetes and Vault, 17 of the cloud formats and managed-Kubernetes envelopes,
    // 20 of values of the wrong type (canary-bad-types.jsonl).
    assert!(list.len() >= 52, "{list:?}");
    list
}

/// End-to-end tests feed minutes of events, not days: rules judged `new_terms` alert on the
/// first sighting there (`detect.history_learning_days = 0`) unless a test's own environment
/// says otherwise. Set on every process the tests start.
pub const HISTORY_FROM_FIRST_SIGHTING: (&str, &str) =
    ("SECRETWATCH_DETECT__HISTORY_LEARNING_DAYS", "0");

/// Run the binary with `args` in `cwd`, optional stdin.
pub fn run(cwd: &Path, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.env_remove("RUST_LOG");
    cmd.env(HISTORY_FROM_FIRST_SIGHTING.0, HISTORY_FROM_FIRST_SIGHTING.1);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn secretwatch");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Alerts printed on stdout.
pub fn alerts(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("alert line {l}: {e}")))
        .collect()
}

/// A Kubernetes audit event line.
pub fn k8s_line(
    id: &str,
    user: &str,
    verb: &str,
    ns: Option<&str>,
    name: Option<&str>,
    code: u16,
    time: &str,
) -> String {
    let mut obj = serde_json::json!({"resource": "secrets", "apiVersion": "v1"});
    if let Some(n) = ns {
        obj["namespace"] = n.into();
    }
    if let Some(n) = name {
        obj["name"] = n.into();
    }
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": id,
        "stage": "ResponseComplete", "requestURI": "/api/v1/secrets", "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.42.0.7"], "userAgent": "kubectl/v1.31.2",
        "objectRef": obj, "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": time, "stageTimestamp": time,
        "annotations": {"authorization.k8s.io/decision": if code < 400 { "allow" } else { "forbid" }}
    })
    .to_string()
}

/// NODE_PATH for the Chromium drivers under tests/browser: Debian's chromium and playwright-core,
/// installed by scripts/setup-browser.sh (which prints the path). Fails, saying so, without them.
pub fn browser_node_path() -> String {
    let setup = Command::new(root().join("scripts/setup-browser.sh"))
        .output()
        .expect("scripts/setup-browser.sh");
    assert!(
        setup.status.success(),
        "the browser is not installed: run scripts/setup.sh ({})",
        String::from_utf8_lossy(&setup.stderr)
    );
    String::from_utf8_lossy(&setup.stdout).trim().to_string()
}
