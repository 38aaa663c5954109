//! Following files: lines appended later, rotation by rename (the old file read to its end,
//! the new one from its start), truncation, and offsets that survive a restart.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::k8s_line;
use common::server::{http, start_args, wait_for, Server};

/// A service account listing Secrets across all namespaces: one cluster-wide alert each.
fn event(i: usize) -> String {
    k8s_line(
        &format!("tail-{i}"),
        &format!("system:serviceaccount:dev:sa-{i}"),
        "list",
        None,
        None,
        200,
        &format!("2026-11-03T10:00:{:02}Z", i % 60),
    ) + "\n"
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Principals of the cluster-wide alerts in alerts.jsonl, in order (repeats kept).
fn alerted(data: &Path) -> Vec<String> {
    std::fs::read_to_string(data.join("alerts.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["rule"] == "k8s-secrets-list-cluster-wide")
        .map(|v| v["principal"].as_str().unwrap().to_string())
        .collect()
}

fn sa(i: usize) -> String {
    format!("system:serviceaccount:dev:sa-{i}")
}

fn serve(dir: &Path, data: &Path) -> Server {
    let cfg = dir.join("secretwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[serve]\ntail_poll_ms = 20\ntail = [{{ path = \"{}/logs/audit*.log\", format = \"k8s-audit\" }}]\n",
            dir.display()
        ),
    )
    .unwrap();
    start_args(data, &["--config", cfg.to_str().unwrap()], &[], &[])
}

fn stop(mut server: Server) {
    assert!(Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert!(server.child.wait().unwrap().success());
}

#[test]
fn followed_files_survive_appends_rotation_truncation_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let data = dir.path().join("data");
    let live = logs.join("audit.log");
    append(&live, &(event(0) + &event(1)));
    // A line still being written (no newline yet) is not read until it is complete.
    append(&live, event(2).trim_end());

    let server = serve(dir.path(), &data);
    wait_for("the two complete lines", || alerted(&data).len() == 2);
    append(&live, "\n");
    wait_for("the completed line", || alerted(&data).len() == 3);

    // Rotation by rename, as the API server's log backend does: the old file gets a late line,
    // the new file starts empty under the old name.
    let rotated = logs.join("audit-2026-11-03T10-00-00.000.log");
    std::fs::rename(&live, &rotated).unwrap();
    append(&rotated, &event(3));
    append(&live, &event(4));
    wait_for("both sides of the rotation", || alerted(&data).len() == 5);
    // Bad input in a followed file: dead-lettered with file:line, the file goes on.
    append(&live, &("{broken\n".to_string() + &event(5)));
    wait_for("the line after the bad one", || alerted(&data).len() == 6);
    let dead = std::fs::read_to_string(data.join("dead-letter.jsonl")).unwrap();
    assert!(dead.contains("audit.log:2"), "{dead}");
    let (_, health) = http(&server.addr, "GET", "/api/health", None, "");
    assert!(health.contains("\"bad_records\":1"), "{health}");
    stop(server);

    // Restart: nothing is read twice; what was written while down is read once.
    append(&live, &event(6));
    let server = serve(dir.path(), &data);
    wait_for("the line written while down", || alerted(&data).len() == 7);
    // copytruncate: the file is emptied in place and written again from the start.
    std::fs::write(&live, event(7)).unwrap();
    wait_for("the line after truncation", || alerted(&data).len() == 8);
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop(server);

    let got = alerted(&data);
    let want: Vec<String> = (0..8).map(sa).collect();
    let mut sorted = got.clone();
    sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(sorted, want_sorted, "each line read exactly once: {got:?}");
}
