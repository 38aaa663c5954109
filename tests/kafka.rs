//! The Kafka source against a real Kafka-protocol broker on loopback (tansu, SQLite storage):
//! events produced to topics become alerts at an HTTP sink; bad messages are dead-lettered and
//! the stream goes on; a SIGKILL mid-stream and a restart lose no alert.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::k8s_line;
use common::kafka::Broker;
use common::receiver::Receiver;
use common::server::{http, start_args, wait_for_within, Server};

/// Group joins and rebalances on the test broker take seconds; a restart waits for the dead
/// member's session to time out.
fn wait_for(what: &str, f: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    wait_for_within(what, 120, f);
    eprintln!("{what}: {:.1} s", t.elapsed().as_secs_f64());
}

const RULE: &str = "k8s-secrets-list-cluster-wide";

/// Service account `sa-{i}` lists Secrets across all namespaces at minute `i`.
fn cluster_list(i: usize) -> String {
    k8s_line(
        &format!("kafka-{i}"),
        &format!("system:serviceaccount:dev:sa-{i}"),
        "list",
        None,
        None,
        200,
        &format!("2026-11-03T10:{:02}:{:02}Z", (i / 60) % 60, i % 60),
    )
}

fn config(dir: &Path, broker: &Broker, hook: &str, extra: &str) -> std::path::PathBuf {
    let p = dir.join("secretwatch.toml");
    std::fs::write(
        &p,
        format!(
            r#"
[kafka]
brokers = "{}"
group_id = "secretwatch-test"
topics = [{{ name = "k8s-audit", format = "k8s-audit" }}, {{ name = "vault-audit", format = "vault" }}]
session_timeout_ms = 6000
{extra}
[alerting]
shutdown_drain_seconds = 2
[[alerting.sinks]]
name = "hook"
route = {{ rules = ["{RULE}", "break-glass-use"] }}
output = {{ type = "webhook", url = "{hook}" }}
"#,
            broker.bootstrap
        ),
    )
    .unwrap();
    p
}

fn received_ids(r: &Receiver, rule: &str) -> Vec<String> {
    r.requests()
        .iter()
        .map(|q| q.json())
        .filter(|v| v["rule"] == rule)
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

fn serve(data: &Path, cfg: &Path) -> Server {
    start_args(data, &["--config", cfg.to_str().unwrap()], &[], &[])
}

/// A broker with the two topics, a receiving webhook, and a config for both (`extra` goes into
/// the `[kafka]` section).
struct Setup {
    broker: Broker,
    receiver: Receiver,
    dir: tempfile::TempDir,
    cfg: std::path::PathBuf,
}

impl Setup {
    fn new(extra: &str) -> Setup {
        let broker = Broker::start();
        broker.create_topic("k8s-audit", 3);
        broker.create_topic("vault-audit", 1);
        let receiver = Receiver::start("127.0.0.1:0");
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            &broker,
            &format!("http://{}/hook", receiver.addr),
            extra,
        );
        Setup {
            broker,
            receiver,
            dir,
            cfg,
        }
    }
}

#[test]
fn events_from_kafka_become_alerts_at_a_sink_and_bad_messages_are_dead_lettered() {
    let Setup {
        broker,
        receiver,
        dir,
        cfg,
    } = Setup::new("[ingest]\nvault_max_pending = 1\n");
    let data = dir.path().join("data");

    // Plain events, an EventList of two, a shipper's envelope, and garbage in between.
    let list = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{},{}]}}"#,
        cluster_list(1),
        cluster_list(2)
    );
    let envelope =
        serde_json::json!({"message": cluster_list(3), "source_type": "file"}).to_string();
    broker.produce(
        "k8s-audit",
        &[
            ("a".into(), cluster_list(0)),
            ("b".into(), "{not json".into()),
            ("c".into(), list),
            ("d".into(), envelope),
        ],
    );
    let root = |id: &str, kind: &str| {
        format!(
            r#"{{"time":"2026-11-03T10:05:00Z","type":"{kind}","auth":{{"client_token":"hmac-sha256:aa","display_name":"root","policies":["root"]}},"request":{{"id":"{id}","operation":"read","mount_type":"kv","path":"secret/data/prod/db","remote_address":"10.0.0.5"}}}}"#
        )
    };
    broker.produce(
        "vault-audit",
        &[
            // With one request allowed to wait, k-2's is given up on (counted on its own) when
            // k-1's arrives: what a request whose response is in another partition looks like.
            ("v".into(), root("k-2", "request")),
            ("v".into(), root("k-1", "request")),
            ("v".into(), root("k-1", "response")),
            ("v".into(), root("k-2", "response")),
        ],
    );

    let server = serve(&data, &cfg);
    wait_for("four cluster-wide alerts and the root-token alert", || {
        received_ids(&receiver, RULE).len() == 4
            && received_ids(&receiver, "break-glass-use").len() == 1
    });
    let dead = std::fs::read_to_string(data.join("dead-letter.jsonl")).unwrap();
    assert_eq!(dead.lines().count(), 1, "{dead}");
    let rec: serde_json::Value = serde_json::from_str(dead.lines().next().unwrap()).unwrap();
    assert!(
        rec["location"]
            .as_str()
            .unwrap()
            .starts_with("kafka:k8s-audit/"),
        "{rec}"
    );
    wait_for("the consumer metrics", || {
        let (_, m) = http(&server.addr, "GET", "/metrics", None, "");
        m.contains("secretwatch_kafka_messages_total 8")
            && m.contains("secretwatch_kafka_bad_messages_total 1")
            && m.contains("secretwatch_kafka_vault_unanswered_requests_total 1")
            && m.contains("secretwatch_events_total{source=\"kubernetes\"} 4")
            && m.contains("secretwatch_kafka_consumer_lag{topic=\"k8s-audit\"} 0")
    });
}

#[test]
fn a_sigkill_mid_stream_and_a_restart_lose_no_alert() {
    let Setup {
        broker,
        receiver,
        dir,
        cfg,
    } = Setup::new("commit_seconds = 1\nbatch_max = 50\nlinger_ms = 5");
    let data = dir.path().join("data");
    let msgs = |range: std::ops::Range<usize>| -> Vec<(String, String)> {
        range
            .map(|i| (format!("sa-{i}"), cluster_list(i)))
            .collect()
    };
    // The ids the service must deliver: the same events scanned offline (ids are deterministic).
    let all: String = (0..400).map(|i| cluster_list(i) + "\n").collect();
    std::fs::write(dir.path().join("all.jsonl"), all).unwrap();
    let offline = common::run(dir.path(), &["scan", "all.jsonl"], None, &[]);
    let expected: BTreeSet<String> = common::alerts(&offline)
        .iter()
        .filter(|a| a["rule"] == RULE)
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(expected.len(), 400);

    broker.produce("k8s-audit", &msgs(0..200));
    let mut server = serve(&data, &cfg);
    wait_for("the first half delivered and committed", || {
        let (_, m) = http(&server.addr, "GET", "/metrics", None, "");
        received_ids(&receiver, RULE).len() >= 200
            && !m.contains("secretwatch_kafka_commits_total 0")
    });
    // More arrives at a slow destination, and the service dies while it works through it:
    // some alerts delivered, some queued, some events not yet read or not yet committed.
    receiver.set_delay(Duration::from_millis(20));
    broker.produce("k8s-audit", &msgs(200..400));
    wait_for("part of the second half delivered", || {
        received_ids(&receiver, RULE).len() >= 230
    });
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let before_restart = received_ids(&receiver, RULE).len();

    assert!(
        before_restart < 400,
        "killed mid-stream: {before_restart} of 400 delivered"
    );
    receiver.set_delay(Duration::ZERO);
    let server = serve(&data, &cfg);
    wait_for("every alert after the restart", || {
        received_ids(&receiver, RULE)
            .iter()
            .collect::<BTreeSet<_>>()
            .len()
            == 400
    });
    let got: BTreeSet<String> = received_ids(&receiver, RULE).into_iter().collect();
    assert_eq!(got, expected, "no alert lost, none invented");
    // Events read again after the kill raise the same ids; the sink's dedup keeps most
    // repeats away (only those in flight at the kill can arrive twice).
    let total = received_ids(&receiver, RULE).len();
    eprintln!(
        "delivered before the kill: {before_restart}; requests in all: {total} for 400 alerts"
    );
    drop(server);
}

/// A topic spread over partitions is read in turns (one partition's fetch, then another's), so
/// event time jumps back and forth; the service merges the partitions by event time before
/// detection. The committed sample, produced across 3 partitions with keys that scatter it,
/// raises exactly the alerts `scan` raises over the same files.
#[test]
fn partitions_are_merged_by_event_time_and_alerts_match_scan() {
    use std::io::Read;
    let broker = Broker::start();
    broker.create_topic("k8s-audit", 3);
    broker.create_topic("vault-audit", 3);
    broker.create_topic("cloudtrail", 2);
    let dir = tempfile::tempdir().unwrap();
    let root = common::root();
    let sample = |name: &str| -> Vec<String> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(root.join("datasets/sample").join(name)).unwrap(),
        )
        .read_to_string(&mut text)
        .unwrap();
        text.lines().map(str::to_string).collect()
    };
    let (k8s, vault, trail) = (
        sample("k8s-audit.jsonl.gz"),
        sample("vault-audit.jsonl.gz"),
        sample("cloudtrail.jsonl.gz"),
    );
    // Kubernetes records scattered by their position; a Vault request and its response together.
    broker.produce(
        "k8s-audit",
        &k8s.iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), l.clone()))
            .collect::<Vec<_>>(),
    );
    broker.produce(
        "vault-audit",
        &vault
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["request"]["id"].as_str().unwrap_or("").to_string(),
                    l.clone(),
                )
            })
            .collect::<Vec<_>>(),
    );
    broker.produce(
        "cloudtrail",
        &trail
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["eventID"].as_str().unwrap_or("").to_string(), l.clone())
            })
            .collect::<Vec<_>>(),
    );
    let cfg = dir.path().join("secretwatch.toml");
    let base = std::fs::read_to_string(root.join("datasets/sample/secretwatch.toml")).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "{base}\n[kafka]\nbrokers = \"{}\"\ngroup_id = \"merge-test\"\ntopics = [{{ name = \"k8s-audit\", format = \"k8s-audit\" }}, {{ name = \"vault-audit\", format = \"vault\" }}, {{ name = \"cloudtrail\", format = \"cloudtrail\" }}]\nsession_timeout_ms = 6000\nbatch_max = 500\n",
            broker.bootstrap
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut server = serve(&data, &cfg);
    let total = (k8s.len() + vault.len() + trail.len()) as u64;
    wait_for("every record consumed and processed", || {
        let (_, m) = http(&server.addr, "GET", "/metrics", None, "");
        let consumed = m
            .lines()
            .find_map(|l| l.strip_prefix("secretwatch_kafka_messages_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        consumed == total
            && m.contains("secretwatch_kafka_reorder_held 0")
            && m.contains("secretwatch_queue_batches 0")
    });
    let (_, m) = http(&server.addr, "GET", "/metrics", None, "");
    let late: String = m
        .lines()
        .filter(|l| {
            l.starts_with("secretwatch_kafka_late") || l.starts_with("secretwatch_kafka_reorder")
        })
        .collect::<Vec<_>>()
        .join("; ");
    // SIGTERM ends the stream as the end of the files ends scan's (open sessions close).
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert!(server.child.wait().unwrap().success());
    let lines = std::fs::read_to_string(data.join("alerts.jsonl")).unwrap();
    let rule_of = |id: &str| -> String {
        lines
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|a| a["id"] == id)
            .map(|a| format!("{} {} {}", a["rule"], a["principal"], a["first_seen"]))
            .unwrap_or_default()
    };
    let served: BTreeSet<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let k = root.join("datasets/sample/k8s-audit.jsonl.gz");
    let v = root.join("datasets/sample/vault-audit.jsonl.gz");
    let ct = root.join("datasets/sample/cloudtrail.jsonl.gz");
    let c = root.join("datasets/sample/secretwatch.toml");
    let offline = common::run(
        dir.path(),
        &[
            "scan",
            "--config",
            c.to_str().unwrap(),
            k.to_str().unwrap(),
            v.to_str().unwrap(),
            ct.to_str().unwrap(),
        ],
        None,
        &[],
    );
    let expected: BTreeSet<String> = common::alerts(&offline)
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert!(expected.len() > 20, "{}", common::stderr(&offline));
    let extra: Vec<String> = served.difference(&expected).map(|i| rule_of(i)).collect();
    let missing: Vec<&String> = expected.difference(&served).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{} served, {} expected ({late}); extra {extra:?}, missing {missing:?}",
        served.len(),
        expected.len()
    );
}
