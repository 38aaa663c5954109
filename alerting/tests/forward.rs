//! Forwarding normalized access events through the real hub to HTTP collectors on loopback:
//! Splunk HEC, Elasticsearch `_bulk` and OCSF get batches of events encoded as each requires,
//! in their own `<sink>-events` lanes beside the alert lanes; a canary secret planted in the
//! audit records' Secret bodies reaches none of them; a full events queue drops and counts
//! events without touching alerts.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use secretwatch_alerting::{Alerting, Origin};
use secretwatch_detect::Severity;
use serde_json::{json, Value};
use support::events::{assert_no_canary, canary_events};
use support::{alert, free_addr, lane, sink, HttpRecorder, Recorded};

/// `_bulk` answers: every item created.
fn bulk_ok() -> support::Responder {
    Arc::new(|r: &Recorded, _| {
        let items: Vec<Value> = r
            .body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .step_by(2)
            .map(|l| {
                let action: Value = serde_json::from_slice(l).unwrap();
                json!({"create": {"_id": action["create"]["_id"], "status": 201}})
            })
            .collect();
        (
            200,
            vec![],
            json!({"took": 1, "errors": false, "items": items}).to_string(),
        )
    })
}

fn ndjson(body: &[u8]) -> Vec<Value> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_hec_bulk_and_ocsf_in_batches_and_no_canary_leaks() {
    let splunk = HttpRecorder::start(Arc::new(|_, _| {
        (200, vec![], r#"{"text":"Success","code":0}"#.into())
    }))
    .await;
    let elastic = HttpRecorder::start(bulk_ok()).await;
    let ocsf = HttpRecorder::start(support::ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = [
        sink(json!({ "name": "splunk", "forward_events": true,
            "output": { "type": "splunk", "url": splunk.url("/services/collector/event"),
                        "token": "hec-token", "index": "security" } })),
        sink(json!({ "name": "elastic", "forward_events": true,
            "output": { "type": "elastic", "url": elastic.url(""), "api_key": "ZWxhc3RpYy1rZXk=" } })),
        sink(json!({ "name": "lake", "forward_events": true,
            "output": { "type": "ocsf", "url": ocsf.url("/ingest"), "token": "lake-token" } })),
    ];
    let origin = Origin::new("sw-test").with_dashboard("https://sw.example");
    let (hub, transports) =
        Alerting::open(&sinks, dir.path(), &origin, Box::new(|_, _| None)).unwrap();
    assert!(hub.forwards_events());
    let names: Vec<(String, &str)> = hub
        .status()
        .into_iter()
        .map(|s| (s.name, s.records))
        .collect();
    assert_eq!(
        names,
        [
            ("splunk".to_string(), "alerts"),
            ("splunk-events".to_string(), "events"),
            ("elastic".to_string(), "alerts"),
            ("elastic-events".to_string(), "events"),
            ("lake".to_string(), "alerts"),
            ("lake-events".to_string(), "events"),
        ]
    );

    // Queue first, start after: each lane sends its events as one batch.
    let events = canary_events(40);
    let fwd = hub.forward(&events);
    assert_eq!((fwd.queued, fwd.dropped), (120, 0));
    let a = alert(1, Severity::High);
    assert_eq!(
        hub.submit(&a, a.last_seen).queued,
        3,
        "alerts only to alert lanes"
    );
    hub.start(transports);
    assert_eq!(
        hub.drain(Duration::from_secs(20)).await,
        0,
        "{:?}",
        hub.status()
    );

    // Splunk: one request of 40 access envelopes, one of the alert.
    let reqs = splunk.take();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some("Splunk hec-token"));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let env: Vec<Value> = reqs.iter().flat_map(|r| ndjson(&r.body)).collect();
    let access: Vec<&Value> = env
        .iter()
        .filter(|e| e["sourcetype"] == "secretwatch:access")
        .collect();
    assert_eq!(access.len(), 40);
    let alerts: Vec<&Value> = env
        .iter()
        .filter(|e| e["sourcetype"] == "secretwatch:alert")
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["event"]["id"], a.id.as_str());
    for (e, ev) in access.iter().zip(&events) {
        assert_eq!(e["host"], "sw-test");
        assert_eq!(e["index"], "security");
        assert_eq!(e["source"], "secretwatch");
        assert_eq!(e["event"]["id"], ev.id.as_ref());
        assert_eq!(e["event"]["principal"]["name"], ev.principal.name.as_ref());
        assert_eq!(
            e["event"]["target"]["name"],
            ev.target.name.as_deref().unwrap()
        );
        assert_eq!(e["fields"]["event_id"], ev.id.as_ref());
        assert_eq!(e["fields"]["source_system"], "kubernetes");
        assert_eq!(e["fields"]["action"], ev.action.as_str());
        assert_eq!(
            e["time"].as_f64().unwrap(),
            ev.time.timestamp_millis() as f64 / 1000.0
        );
        assert!(
            e["event"]["redactions"]
                .as_array()
                .unwrap()
                .contains(&json!("secret_body")),
            "{e}"
        );
        // The redacted raw record is forwarded (so the canary test means something).
        assert!(e["event"]["raw"].as_str().unwrap().contains("Secret"));
    }

    // Elasticsearch: events as ECS documents into the events index, with stable ids.
    let reqs = elastic.take();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let mut docs = Vec::new();
    for r in &reqs {
        assert_eq!(r.path, "/_bulk");
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        assert_eq!(r.header("authorization"), Some("ApiKey ZWxhc3RpYy1rZXk="));
        assert!(r.body.ends_with(b"\n"));
        docs.extend(
            ndjson(&r.body)
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone())),
        );
    }
    let ev_docs: Vec<&(Value, Value)> = docs
        .iter()
        .filter(|(a, _)| a["create"]["_index"] == "secretwatch-events")
        .collect();
    assert_eq!(ev_docs.len(), 40);
    for ((action, doc), ev) in ev_docs.iter().map(|p| (&p.0, &p.1)).zip(&events) {
        assert_eq!(action["create"]["_id"], format!("kubernetes:{}", ev.id));
        assert_eq!(doc["event"]["kind"], "event");
        assert_eq!(doc["event"]["id"], ev.id.as_ref());
        assert_eq!(doc["event"]["category"], json!(["api"]));
        assert_eq!(doc["user"]["name"], ev.principal.name.as_ref());
        assert_eq!(doc["orchestrator"]["resource"]["type"], "secrets");
        assert_eq!(doc["observer"]["hostname"], "sw-test");
        assert!(doc["event"]["original"].is_string());
    }
    let alert_docs: Vec<_> = docs
        .iter()
        .filter(|(a, _)| a["create"]["_index"] == "secretwatch-alerts")
        .collect();
    assert_eq!(alert_docs.len(), 1);
    assert_eq!(alert_docs[0].1["event"]["kind"], "alert");

    // OCSF: a JSON array of API Activity records, and the finding of the alert.
    let reqs = ocsf.take();
    assert_eq!(reqs.len(), 2);
    let mut activities = Vec::new();
    let mut findings = Vec::new();
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some("Bearer lake-token"));
        for rec in r.json().as_array().unwrap() {
            match rec["class_uid"].as_u64() {
                Some(6003) => activities.push(rec.clone()),
                Some(2004) => findings.push(rec.clone()),
                other => panic!("class {other:?}"),
            }
        }
    }
    assert_eq!((activities.len(), findings.len()), (40, 1));
    for (rec, ev) in activities.iter().zip(&events) {
        assert_eq!(rec["api"]["request"]["uid"], ev.id.as_ref());
        assert_eq!(rec["metadata"]["uid"], format!("kubernetes:{}", ev.id));
        assert_eq!(rec["actor"]["user"]["name"], ev.principal.name.as_ref());
        assert_eq!(rec["resources"][0]["type"], "secrets");
        assert!(rec["raw_data"].is_string());
    }

    // No canary anywhere a collector saw, nor in any file the hub wrote.
    for (what, r) in splunk
        .take()
        .iter()
        .chain(&elastic.take())
        .chain(&ocsf.take())
        .map(|r| (r.path.clone(), r.clone()))
    {
        assert_no_canary(&what, &r.body);
        for v in r.headers.values() {
            assert_no_canary(&what, v.as_bytes());
        }
    }
    for entry in walk(dir.path()) {
        assert_no_canary(
            &entry.display().to_string(),
            &std::fs::read(&entry).unwrap(),
        );
    }

    // Each lane counts its own records.
    for name in ["splunk-events", "elastic-events", "lake-events"] {
        let st = lane(&hub, name);
        assert_eq!(
            (st.queued, st.delivered, st.pending, st.dropped, st.state),
            (40, 40, 0, 0, "healthy"),
            "{st:?}"
        );
    }
    for name in ["splunk", "elastic", "lake"] {
        let st = lane(&hub, name);
        assert_eq!((st.queued, st.delivered), (1, 1), "{st:?}");
    }
    hub.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_events_queue_drops_and_counts_without_blocking_or_touching_alerts() {
    // The collector is down: nothing leaves the queues.
    let addr = free_addr().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = sink(json!({
        "name": "splunk", "forward_events": true,
        "queue": { "max_bytes": 65536, "segment_bytes": 8192, "fsync": false },
        "retry": { "initial_ms": 20, "max_ms": 200, "max_retry_after_secs": 1 },
        "output": { "type": "splunk", "url": format!("http://{addr}/services/collector/event"), "token": "t" }
    }));
    let origin = Origin::new("sw-test");
    let (hub, transports) = Alerting::open(
        std::slice::from_ref(&cfg),
        dir.path(),
        &origin,
        Box::new(|_, _| None),
    )
    .unwrap();
    hub.start(transports);
    let events = canary_events(50);
    let (mut queued, mut dropped) = (0, 0);
    let started = Instant::now();
    for _ in 0..20 {
        let f = hub.forward(&events);
        queued += f.queued;
        dropped += f.dropped;
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "forward never waits for the collector"
    );
    assert_eq!(queued + dropped, 1000);
    assert!(
        dropped > 0 && queued > 0,
        "{queued} queued, {dropped} dropped"
    );
    let st = lane(&hub, "splunk-events");
    assert_eq!(st.dropped, dropped as u64);
    assert_eq!(st.queued, queued as u64);
    assert_eq!(st.pending, queued as u64);
    assert!(st.queue_bytes <= st.queue_max_bytes);
    assert_eq!(st.queue_full, 0, "queue_full counts alerts only");

    // The alert lane is its own queue: alerts are still taken.
    let a = alert(3, Severity::Critical);
    assert_eq!(hub.submit(&a, a.last_seen).queued, 1);
    let st = lane(&hub, "splunk");
    assert_eq!((st.pending, st.dropped, st.records), (1, 0, "alerts"));
    // The sink's health is its own per lane, and the events lane says why it waits.
    assert!(
        support::eventually(10, || lane(&hub, "splunk-events").state == "retrying").await,
        "{:?}",
        hub.status()
    );
    hub.stop().await;

    // What was queued is on disk: after a restart, with the collector up, it all arrives.
    let server = HttpRecorder::start_at(addr, support::ok()).await;
    let (hub, transports) = Alerting::open(
        std::slice::from_ref(&cfg),
        dir.path(),
        &origin,
        Box::new(|_, _| None),
    )
    .unwrap();
    assert_eq!(lane(&hub, "splunk-events").pending, queued as u64);
    hub.start(transports);
    assert_eq!(
        hub.drain(Duration::from_secs(20)).await,
        0,
        "{:?}",
        hub.status()
    );
    let envelopes: Vec<Value> = server.take().iter().flat_map(|r| ndjson(&r.body)).collect();
    let access = envelopes
        .iter()
        .filter(|e| e["sourcetype"] == "secretwatch:access")
        .count();
    assert_eq!(access, queued);
    assert_eq!(
        envelopes
            .iter()
            .filter(|e| e["sourcetype"] == "secretwatch:alert")
            .count(),
        1
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_syslog_as_rfc5424_with_cef_and_no_canary_leaks() {
    let listener = support::SyslogListener::start_at(None).await;
    let dir = tempfile::tempdir().unwrap();
    let sinks = [sink(json!({ "name": "siem", "forward_events": true,
        "output": { "type": "syslog", "address": listener.addr.to_string(), "hostname": "sw-host" } }))];
    let hub = support::open(&sinks, dir.path());
    let events = canary_events(12);
    let fwd = hub.forward(&events);
    assert_eq!((fwd.queued, fwd.dropped), (12, 0));
    let a = alert(2, Severity::High);
    hub.submit(&a, a.last_seen);
    assert!(
        support::eventually(10, || listener.take().len() == 13).await,
        "{:?}",
        hub.status()
    );
    let msgs = listener.take();
    let access: Vec<&String> = msgs
        .iter()
        .filter(|m| m.contains(" access - CEF:0|"))
        .collect();
    assert_eq!(access.len(), 12, "{msgs:?}");
    for (m, ev) in access.iter().zip(&events) {
        // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG
        let parts: Vec<&str> = m.splitn(8, ' ').collect();
        assert_eq!(parts[2], "sw-host");
        assert_eq!(parts[3], "secretwatch");
        assert_eq!(parts[5], "access");
        let cef = parts[7];
        let header: Vec<&str> = cef.splitn(8, '|').collect();
        assert_eq!(header[4], format!("access-{}", ev.action.as_str()), "{cef}");
        assert!(cef.contains(&format!("externalId={}", ev.id)), "{cef}");
        assert!(
            cef.contains(&format!("suser={}", ev.principal.name)),
            "{cef}"
        );
        assert!(cef.contains("cs1Label=target"), "{cef}");
    }
    assert!(msgs
        .iter()
        .any(|m| m.contains(&format!("externalId={}", a.id))));
    for m in &msgs {
        assert_no_canary("syslog message", m.as_bytes());
    }
    hub.stop().await;
}
