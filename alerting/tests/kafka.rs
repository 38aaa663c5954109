//! The Kafka sink against a real Kafka-protocol broker on loopback (tansu with SQLite storage,
//! `tests/support/kafka.rs`): alerts and forwarded events read back by a consumer field by
//! field (key, headers, body); a broker that is down and then comes up gets every alert
//! exactly once; a message the producer can never send is dead-lettered alone.
//!
//! Needs tansu (`scripts/setup.sh`); without it every test here fails saying so.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use secretwatch_alerting::{Alerting, Origin};
use secretwatch_detect::Severity;
use serde_json::{json, Value};
use support::events::{assert_no_canary, canary_events};
use support::kafka::{free_port, Broker};
use support::{alert, eventually, lane, open, sink};

/// Quick retries and reconnects, so that recovery takes seconds, not minutes.
fn fast() -> (Value, Value) {
    (
        json!({ "initial_ms": 50, "max_ms": 500, "max_retry_after_secs": 1 }),
        json!({ "message.timeout.ms": "5000", "reconnect.backoff.max.ms": "500",
                "topic.metadata.refresh.interval.ms": "1000" }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_events_arrive_with_key_headers_and_body() {
    let broker = Broker::start();
    for t in ["sw.alerts", "sw.access", "ocsf.alerts", "ocsf.access"] {
        broker.create_topic(t, 3).await;
    }
    let (retry, props) = fast();
    let sinks = [
        sink(
            json!({ "name": "kafka", "forward_events": true, "retry": retry,
            "output": { "type": "kafka", "brokers": broker.bootstrap, "topic": "sw.alerts",
                        "events_topic": "sw.access", "properties": props } }),
        ),
        sink(
            json!({ "name": "kafka-ocsf", "forward_events": true, "retry": retry,
            "output": { "type": "kafka", "brokers": broker.bootstrap, "topic": "ocsf.alerts",
                        "events_topic": "ocsf.access", "format": "ocsf", "properties": props } }),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let hub = open(&sinks, dir.path());
    let alerts: Vec<_> = (0..6)
        .map(|i| {
            let mut a = alert(
                i,
                if i % 2 == 0 {
                    Severity::High
                } else {
                    Severity::Low
                },
            );
            a.principal = format!("eve \"{i}\"\nadmin");
            a
        })
        .collect();
    for a in &alerts {
        assert_eq!(hub.submit(a, a.last_seen).queued, 2);
    }
    let events = canary_events(30);
    assert_eq!(hub.forward(&events).queued, 60);
    assert_eq!(
        hub.drain(Duration::from_secs(60)).await,
        0,
        "{:?}",
        hub.status()
    );

    // Alerts: keyed by id, three headers, the webhook's JSON body.
    let got = broker.consume("sw.alerts", alerts.len(), 30).await;
    assert_eq!(got.len(), alerts.len());
    for a in &alerts {
        let m = got
            .iter()
            .find(|m| m.key.as_deref() == Some(a.id.as_str()))
            .unwrap_or_else(|| panic!("no message for {}", a.id));
        assert_eq!(m.header("secretwatch-alert-id"), Some(a.id.as_str()));
        assert_eq!(m.header("secretwatch-rule"), Some("bulk-secret-reads"));
        assert_eq!(m.header("secretwatch-severity"), Some(a.severity.as_str()));
        assert_eq!(m.headers.len(), 3);
        let v = m.json();
        assert_eq!(v["kind"], "secretwatch.alert");
        assert_eq!(v["version"], 1);
        assert_eq!(v["id"], a.id.as_str());
        assert_eq!(v["rule"], "bulk-secret-reads");
        assert_eq!(v["severity"], a.severity.as_str());
        assert_eq!(v["principal"], a.principal.as_str());
        assert_eq!(v["reason"], a.reason.as_str());
        assert_eq!(v["targets"], json!(a.targets));
        assert_eq!(v["url"], format!("https://sw.example/alerts/{}", a.id));
    }
    // The same key always goes to the same partition.
    let mut by_key = std::collections::BTreeMap::new();
    for m in &got {
        assert_eq!(
            *by_key.entry(m.key.clone()).or_insert(m.partition),
            m.partition
        );
    }

    // Events: keyed by `<source>:<id>`, the event JSON, no canary.
    let got = broker.consume("sw.access", events.len(), 30).await;
    assert_eq!(got.len(), events.len());
    for ev in &events {
        let key = format!("kubernetes:{}", ev.id);
        let m = got
            .iter()
            .find(|m| m.key.as_deref() == Some(key.as_str()))
            .unwrap_or_else(|| panic!("no message for {key}"));
        assert_eq!(m.header("secretwatch-event-id"), Some(key.as_str()));
        assert_eq!(m.header("secretwatch-source"), Some("kubernetes"));
        let v = m.json();
        assert_eq!(v["id"], ev.id.as_ref());
        assert_eq!(v["source"], "kubernetes");
        assert_eq!(v["action"], ev.action.as_str());
        assert_eq!(v["principal"]["name"], ev.principal.name.as_ref());
        assert_eq!(v["target"]["name"], ev.target.name.as_deref().unwrap());
        assert_eq!(v["time"], json!(ev.time));
        assert!(v["redactions"]
            .as_array()
            .unwrap()
            .contains(&json!("secret_body")));
        assert!(v["raw"].as_str().unwrap().contains("Secret"));
        assert_no_canary(&key, &m.payload);
    }

    // The OCSF sink: Detection Findings and API Activity records.
    let got = broker.consume("ocsf.alerts", alerts.len(), 30).await;
    assert_eq!(got.len(), alerts.len());
    for m in &got {
        let v = m.json();
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["finding_info"]["uid"], m.key.as_deref().unwrap());
    }
    let got = broker.consume("ocsf.access", events.len(), 30).await;
    assert_eq!(got.len(), events.len());
    for m in &got {
        let v = m.json();
        assert_eq!(v["class_uid"], 6003);
        assert_eq!(v["metadata"]["uid"], m.key.as_deref().unwrap());
        assert_no_canary("ocsf.access", &m.payload);
    }

    for (name, records, n) in [
        ("kafka", "alerts", 6),
        ("kafka-events", "events", 30),
        ("kafka-ocsf", "alerts", 6),
        ("kafka-ocsf-events", "events", 30),
    ] {
        let st = lane(&hub, name);
        assert_eq!(st.kind, "kafka");
        assert_eq!(st.records, records);
        assert_eq!(
            (st.delivered, st.dead_lettered, st.state),
            (n, 0, "healthy"),
            "{st:?}"
        );
    }
    assert_eq!(
        lane(&hub, "kafka").endpoint,
        format!("kafka://{}/sw.alerts", broker.bootstrap)
    );
    assert_eq!(
        lane(&hub, "kafka-events").endpoint,
        format!("kafka://{}/sw.access", broker.bootstrap)
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_down_then_up_gets_every_alert_exactly_once() {
    let port = free_port();
    let (retry, props) = fast();
    let cfg = sink(json!({ "name": "kafka", "retry": retry,
        "output": { "type": "kafka", "brokers": format!("127.0.0.1:{port}"), "topic": "sw.alerts",
                    "properties": props } }));
    let dir = tempfile::tempdir().unwrap();
    let hub = open(std::slice::from_ref(&cfg), dir.path());
    let alerts: Vec<_> = (0..40).map(|i| alert(i, Severity::Medium)).collect();
    for a in &alerts {
        assert_eq!(hub.submit(a, a.last_seen).queued, 1);
    }
    assert!(
        eventually(30, || lane(&hub, "kafka").failed_attempts >= 2).await,
        "{:?}",
        hub.status()
    );
    let st = lane(&hub, "kafka");
    assert_eq!(
        (st.state, st.pending, st.delivered),
        ("retrying", 40, 0),
        "{st:?}"
    );

    // The broker comes up where the sink was failing to connect.
    let broker = Broker::start_on(port);
    broker.create_topic("sw.alerts", 3).await;
    assert_eq!(
        hub.drain(Duration::from_secs(90)).await,
        0,
        "{:?}",
        hub.status()
    );
    let got = broker.consume("sw.alerts", alerts.len(), 30).await;
    let ids: Vec<String> = got.iter().map(|m| m.key.clone().unwrap()).collect();
    let unique: BTreeSet<&String> = ids.iter().collect();
    let want: BTreeSet<&String> = alerts.iter().map(|a| &a.id).collect();
    assert_eq!(unique, want, "every alert arrived");
    assert_eq!(ids.len(), alerts.len(), "and none twice");
    for m in &got {
        assert_eq!(m.json()["id"], m.key.as_deref().unwrap());
    }
    let st = lane(&hub, "kafka");
    assert_eq!(
        (st.state, st.delivered, st.dead_lettered),
        ("healthy", 40, 0)
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_too_large_is_dead_lettered_alone() {
    let broker = Broker::start();
    broker.create_topic("sw.alerts", 1).await;
    let (retry, mut props) = fast();
    // The producer refuses messages over 4000 bytes: a permanent error for that alert only.
    props["message.max.bytes"] = json!("4000");
    let cfg = sink(json!({ "name": "kafka", "retry": retry,
        "output": { "type": "kafka", "brokers": broker.bootstrap, "topic": "sw.alerts",
                    "properties": props } }));
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::new("sw-test");
    let (hub, transports) = Alerting::open(
        std::slice::from_ref(&cfg),
        dir.path(),
        &origin,
        Box::new(|_, _| None),
    )
    .unwrap();
    let mut alerts: Vec<_> = (0..5).map(|i| alert(i, Severity::High)).collect();
    alerts[2].reason = "x".repeat(10_000);
    for a in &alerts {
        hub.submit(a, a.last_seen);
    }
    // One batch of five.
    hub.start(transports);
    assert_eq!(
        hub.drain(Duration::from_secs(60)).await,
        0,
        "{:?}",
        hub.status()
    );
    let got = broker.consume("sw.alerts", 4, 30).await;
    let ids: BTreeSet<String> = got.iter().map(|m| m.key.clone().unwrap()).collect();
    let want: BTreeSet<String> = [0, 1, 3, 4].iter().map(|&i| alerts[i].id.clone()).collect();
    assert_eq!(ids, want);
    assert_eq!(got.len(), 4);
    let st = lane(&hub, "kafka");
    assert_eq!((st.delivered, st.dead_lettered), (4, 1), "{st:?}");
    let dl = std::fs::read_to_string(dir.path().join("kafka/dead-letter.jsonl")).unwrap();
    let rec: Value = serde_json::from_str(dl.lines().next().unwrap()).unwrap();
    assert_eq!(rec["status"], 413);
    assert_eq!(rec["item"]["alert"]["id"], alerts[2].id.as_str());
    assert!(
        rec["response"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("too large"),
        "{rec}"
    );
    hub.stop().await;
}
