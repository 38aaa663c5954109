//! Delivery through real loopback servers: every HTTP sink's request as the destination sees
//! it, a syslog TCP listener, a destination that is down and comes back, one that refuses us,
//! per-item `_bulk` answers, and a queue that survives a restart.

mod support;

use std::sync::Arc;
use std::time::Duration;

use secretwatch_alerting::{Alerting, Origin};
use secretwatch_detect::Severity;
use serde_json::{json, Value};
use support::*;

/// Fast retries so that tests of recovery take well under a second per retry.
fn fast_retry() -> Value {
    json!({ "initial_ms": 20, "max_ms": 200, "max_retry_after_secs": 1 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_requests_are_signed_and_carry_the_alert() {
    let server = HttpRecorder::start(ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = sink(json!({
        "name": "hook",
        "output": { "type": "webhook", "url": server.url("/hook"), "secret": "s3cret-key",
                    "headers": { "X-Team": "secops" } }
    }));
    let hub = open(&[cfg], dir.path());
    let a = alert(1, Severity::High);
    assert_eq!(hub.submit(&a, a.last_seen).queued, 1);
    assert!(eventually(10, || server.count() == 1).await);
    assert_eq!(hub.drain(Duration::from_secs(5)).await, 0);
    let r = &server.take()[0];
    assert_eq!(r.path, "/hook");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-team"), Some("secops"));
    assert_eq!(r.header("x-secretwatch-alert-id"), Some(a.id.as_str()));
    let ts = r.header("x-secretwatch-timestamp").unwrap();
    let sig = r.header("x-secretwatch-signature").unwrap();
    let key = secretwatch_alerting::Secret::new("s3cret-key");
    secretwatch_alerting::webhook::verify(
        &key,
        ts,
        sig,
        &r.body,
        chrono::Utc::now().timestamp(),
        60,
    )
    .expect("signature verifies over the body as received");
    let body = r.json();
    assert_eq!(body["id"], a.id.as_str());
    assert_eq!(body["rule"], "bulk-secret-reads");
    assert_eq!(body["severity"], "high");
    assert_eq!(body["principal"], a.principal.as_str());
    assert_eq!(body["url"], format!("https://sw.example/alerts/{}", a.id));
    let st = &hub.status()[0];
    assert_eq!((st.delivered, st.pending, st.state), (1, 0, "healthy"));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_body_template_is_rendered_escaped_and_signed() {
    let server = HttpRecorder::start(ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let template = r#"{"text": "[{{severity}}] {{ title }} by {{principal}}", "why": "{{reason}}", "where": "{{targets}}", "link": "{{url}}", "id": "{{id}}"}"#;
    let cfg = sink(json!({
        "name": "chat",
        "output": { "type": "webhook", "url": server.url("/chat"), "secret": "s3cret-key",
                    "body_template": template }
    }));
    let text_cfg = sink(json!({
        "name": "pager-text",
        "output": { "type": "webhook", "url": server.url("/text"), "secret": "s3cret-key",
                    "body_template": "{{severity}} {{principal}}: {{reason}}",
                    "content_type": "text/plain; charset=utf-8" }
    }));
    let hub = open(&[cfg, text_cfg], dir.path());
    let mut a = alert(1, Severity::Critical);
    a.principal = "eve \"the\" admin\nline2 \\ {{id}}".into();
    assert_eq!(hub.submit(&a, a.last_seen).queued, 2);
    assert!(
        eventually(10, || server.count() == 2).await,
        "{:?}",
        hub.status()
    );
    let reqs = server.take();
    let key = secretwatch_alerting::Secret::new("s3cret-key");
    for r in &reqs {
        // The signature covers the rendered body, as received.
        secretwatch_alerting::webhook::verify(
            &key,
            r.header("x-secretwatch-timestamp").unwrap(),
            r.header("x-secretwatch-signature").unwrap(),
            &r.body,
            chrono::Utc::now().timestamp(),
            60,
        )
        .expect("signature verifies over the rendered body");
        assert_eq!(r.header("x-secretwatch-alert-id"), Some(a.id.as_str()));
    }

    let chat = reqs.iter().find(|r| r.path == "/chat").unwrap();
    assert_eq!(chat.header("content-type"), Some("application/json"));
    let v = chat.json();
    // Quotes, newline and backslash in the principal survive as JSON escapes; a value that
    // looks like a placeholder is not expanded.
    assert_eq!(
        v["text"],
        format!("[critical] Bulk secret reads by {}", a.principal)
    );
    assert_eq!(v["why"], a.reason.as_str());
    assert_eq!(v["where"], "prod/secrets/db");
    assert_eq!(v["link"], format!("https://sw.example/alerts/{}", a.id));
    assert_eq!(v["id"], a.id.as_str());
    let raw = String::from_utf8(chat.body.clone()).unwrap();
    assert!(
        raw.contains(r#"eve \"the\" admin\nline2 \\ {{id}}"#),
        "{raw}"
    );
    assert_eq!(v.as_object().unwrap().len(), 5, "only the template's keys");

    let text = reqs.iter().find(|r| r.path == "/text").unwrap();
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        String::from_utf8(text.body.clone()).unwrap(),
        format!("critical {}: {}", a.principal, a.reason)
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_down_then_up_gets_every_alert_exactly_once() {
    let addr = free_addr().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = sink(json!({
        "name": "hook", "retry": fast_retry(),
        "output": { "type": "webhook", "url": format!("http://{addr}/in") }
    }));
    let hub = open(&[cfg], dir.path());
    let alerts: Vec<_> = (0..25).map(|i| alert(i, Severity::Medium)).collect();
    for a in &alerts {
        assert_eq!(hub.submit(a, a.last_seen).queued, 1);
    }
    // Submitting again changes nothing: one id, once per sink.
    for a in &alerts[..5] {
        assert_eq!(hub.submit(a, a.last_seen).duplicates, 1);
    }
    assert!(eventually(10, || hub.status()[0].failed_attempts >= 2).await);
    let st = &hub.status()[0];
    assert_eq!(st.state, "retrying", "{st:?}");
    assert!(
        st.last_error.as_deref().unwrap().contains("connect"),
        "{st:?}"
    );
    assert_eq!(st.pending, 25);

    // The destination comes up on the same address; the first answers are 503s.
    let server = HttpRecorder::start_at(
        addr,
        Arc::new(|_, n| {
            if n < 3 {
                (503, vec![("Retry-After".into(), "0".into())], "busy".into())
            } else {
                (200, vec![], "ok".into())
            }
        }),
    )
    .await;
    assert_eq!(
        hub.drain(Duration::from_secs(20)).await,
        0,
        "{:?}",
        hub.status()
    );
    let mut ids: Vec<String> = server
        .take()
        .iter()
        .skip(3)
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(n, 25, "each alert delivered once after the 503s");
    let mut want: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    want.sort();
    assert_eq!(ids, want);
    let st = &hub.status()[0];
    assert_eq!((st.delivered, st.state), (25, "healthy"));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_sink_is_blocked_and_keeps_alerts_until_fixed() {
    let fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = Arc::clone(&fixed);
    let server = HttpRecorder::start(Arc::new(move |r, _| {
        let authorized = r.header("authorization") == Some("Splunk good-token");
        if f.load(std::sync::atomic::Ordering::SeqCst) || authorized {
            (200, vec![], r#"{"text":"Success","code":0}"#.into())
        } else {
            (403, vec![], r#"{"text":"Invalid token","code":4}"#.into())
        }
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = sink(json!({
        "name": "splunk", "retry": fast_retry(),
        "output": { "type": "splunk", "url": server.url("/services/collector/event"),
                    "token": "bad-token", "index": "security", "source": "secretwatch" }
    }));
    let hub = open(&[cfg], dir.path());
    for i in 0..3 {
        let a = alert(i, Severity::High);
        hub.submit(&a, a.last_seen);
    }
    assert!(
        eventually(10, || hub.status()[0].state == "blocked").await,
        "{:?}",
        hub.status()
    );
    let st = &hub.status()[0];
    assert_eq!(st.pending, 3, "nothing dropped while blocked");
    assert_eq!(st.dead_lettered, 0);
    assert!(
        !format!("{:?}", hub.status()).contains("bad-token"),
        "the token never shows"
    );
    fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(hub.drain(Duration::from_secs(10)).await, 0);
    // HEC: events batched in one request body, each a full envelope.
    let last = server.take().pop().unwrap();
    assert_eq!(last.header("authorization"), Some("Splunk bad-token"));
    let text = String::from_utf8(last.body.clone()).unwrap();
    let envelopes: Vec<Value> = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect();
    assert_eq!(envelopes.len(), 3);
    for e in &envelopes {
        assert_eq!(e["index"], "security");
        assert_eq!(e["source"], "secretwatch");
        assert_eq!(e["host"], "sw-test");
        assert!(e["time"].as_f64().unwrap() > 1.7e9);
        assert_eq!(e["event"]["rule"], "bulk-secret-reads");
        assert_eq!(e["fields"]["severity"], "high");
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elastic_bulk_per_item_answers_dead_letter_only_the_bad_item() {
    // Item 2 of every bulk request is refused with a mapping error; a 409 is "already there".
    let server = HttpRecorder::start(Arc::new(|r, _| {
        let lines: Vec<&[u8]> = r.body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        let mut items = Vec::new();
        for (i, pair) in lines.chunks(2).enumerate() {
            let action: Value = serde_json::from_slice(pair[0]).unwrap();
            let id = action["create"]["_id"].as_str().unwrap().to_string();
            let item = match i {
                1 => json!({"create": {"_id": id, "status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad field"}}}),
                2 => json!({"create": {"_id": id, "status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}}),
                _ => json!({"create": {"_id": id, "status": 201}}),
            };
            items.push(item);
        }
        (200, vec![], json!({"took": 1, "errors": true, "items": items}).to_string())
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = sink(json!({
        "name": "elastic",
        "output": { "type": "elastic", "url": server.url(""), "index": "secretwatch-alerts",
                    "api_key": "ZWxhc3RpYy1rZXk=" }
    }));
    // Queue first, start after: the four alerts go in one _bulk request.
    let origin = Origin::new("sw-test");
    let (hub, transports) =
        Alerting::open(&[cfg], dir.path(), &origin, Box::new(|_, _| None)).unwrap();
    let alerts: Vec<_> = (0..4).map(|i| alert(i, Severity::Low)).collect();
    for a in &alerts {
        hub.submit(a, a.last_seen);
    }
    hub.start(transports);
    assert_eq!(hub.drain(Duration::from_secs(10)).await, 0);
    let reqs = server.take();
    assert_eq!(reqs.len(), 1, "one _bulk request for the batch");
    assert_eq!(reqs[0].path, "/_bulk");
    assert_eq!(reqs[0].header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        reqs[0].header("authorization"),
        Some("ApiKey ZWxhc3RpYy1rZXk=")
    );
    let lines: Vec<Value> = reqs[0]
        .body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    assert_eq!(lines[0]["create"]["_index"], "secretwatch-alerts");
    assert_eq!(lines[0]["create"]["_id"], alerts[0].id.as_str());
    assert_eq!(lines[1]["event"]["kind"], "alert");
    assert_eq!(lines[1]["rule"]["id"], "bulk-secret-reads");
    let st = &hub.status()[0];
    assert_eq!((st.delivered, st.dead_lettered), (3, 1), "{st:?}");
    let dl = std::fs::read_to_string(dir.path().join("elastic/dead-letter.jsonl")).unwrap();
    let rec: Value = serde_json::from_str(dl.lines().next().unwrap()).unwrap();
    assert_eq!(rec["status"], 400);
    assert!(rec["response"]
        .as_str()
        .unwrap()
        .contains("mapper_parsing_exception"));
    assert_eq!(rec["item"]["alert"]["id"], alerts[1].id.as_str());
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_slack_and_ocsf_requests() {
    let pd = HttpRecorder::start(Arc::new(|_, _| {
        (202, vec![], r#"{"status":"success"}"#.into())
    }))
    .await;
    let slack = HttpRecorder::start(Arc::new(|_, _| (200, vec![], "ok".into()))).await;
    let ocsf = HttpRecorder::start(ok()).await;
    let dir = tempfile::tempdir().unwrap();
    let ocsf_file = dir.path().join("out/ocsf.jsonl");
    let sinks = [
        sink(json!({ "name": "pd", "route": { "min_severity": "high" },
            "output": { "type": "pagerduty", "url": pd.url("/v2/enqueue"), "routing_key": "R0UTINGKEY0123456789abcdef012345" } })),
        sink(json!({ "name": "slack",
            "output": { "type": "slack", "webhook_url": slack.url("/services/T000/B000/XXXXSECRET") } })),
        sink(
            json!({ "name": "lake", "output": { "type": "ocsf", "url": ocsf.url("/ingest"), "token": "lake-token" } }),
        ),
        sink(json!({ "name": "ocsf-file", "output": { "type": "ocsf", "file": ocsf_file } })),
    ];
    // Queue first, start after: the OCSF findings go in one request.
    let origin = Origin::new("sw-test").with_dashboard("https://sw.example");
    let (hub, transports) =
        Alerting::open(&sinks, dir.path(), &origin, Box::new(|_, _| None)).unwrap();
    let high = alert(1, Severity::Critical);
    let low = alert(2, Severity::Low);
    assert_eq!(hub.submit(&high, high.last_seen).queued, 4);
    assert_eq!(
        hub.submit(&low, low.last_seen).queued,
        3,
        "pagerduty takes high and above"
    );
    hub.start(transports);
    assert_eq!(hub.drain(Duration::from_secs(10)).await, 0);

    let p = pd.take();
    assert_eq!(p.len(), 1);
    let b = p[0].json();
    assert_eq!(b["routing_key"], "R0UTINGKEY0123456789abcdef012345");
    assert_eq!(b["event_action"], "trigger");
    assert_eq!(b["dedup_key"], high.id.as_str());
    assert_eq!(b["payload"]["severity"], "critical");
    assert_eq!(b["payload"]["source"], "sw-test");

    let s = slack.take();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].path, "/services/T000/B000/XXXXSECRET");
    let text = s[0].json().to_string();
    assert!(text.contains("deployer-1"), "{text}");
    assert!(
        text.contains(&format!("https://sw.example/alerts/{}", high.id)),
        "{text}"
    );
    let st = hub.status();
    let slack_status = st.iter().find(|s| s.name == "slack").unwrap();
    assert!(
        !slack_status.endpoint.contains("XXXXSECRET"),
        "the webhook path is a credential"
    );

    let o = ocsf.take();
    assert_eq!(o.len(), 1, "both findings in one request");
    assert_eq!(o[0].header("authorization"), Some("Bearer lake-token"));
    let findings = o[0].json();
    assert_eq!(findings.as_array().unwrap().len(), 2);
    assert_eq!(findings[0]["class_uid"], 2004);
    assert_eq!(findings[0]["finding_info"]["uid"], high.id.as_str());

    let lines: Vec<Value> = std::fs::read_to_string(&ocsf_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["class_uid"], 2004);
    assert_eq!(lines[1]["finding_info"]["uid"], low.id.as_str());
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_tcp_carries_rfc5424_with_cef_and_survives_a_receiver_restart() {
    let listener = SyslogListener::start_at(None).await;
    let addr = listener.addr;
    let dir = tempfile::tempdir().unwrap();
    let cfg = sink(json!({
        "name": "siem", "retry": fast_retry(),
        "output": { "type": "syslog", "address": addr.to_string(), "facility": "authpriv", "hostname": "sw-host" }
    }));
    let hub = open(&[cfg], dir.path());
    let a = alert(7, Severity::High);
    hub.submit(&a, a.last_seen);
    assert!(eventually(10, || listener.take().len() == 1).await);
    let msg = &listener.take()[0];
    // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG; authpriv(10)*8 + err(3) = 83.
    let parts: Vec<&str> = msg.splitn(8, ' ').collect();
    assert_eq!(parts[0], "<83>1", "{msg}");
    assert_eq!(parts[1], "2026-11-02T09:00:07.000Z");
    assert_eq!(parts[2], "sw-host");
    assert_eq!(parts[3], "secretwatch");
    assert_eq!(parts[5], "bulk-secret-reads");
    assert_eq!(parts[6], "-");
    let cef = parts[7];
    assert!(cef.starts_with("CEF:0|secretwatch|secretwatch|"), "{cef}");
    let header: Vec<&str> = cef.splitn(8, '|').collect();
    assert_eq!(header[4], "bulk-secret-reads");
    assert!(cef.contains(&format!("externalId={}", a.id)), "{cef}");
    // `=` is escaped in extension values and the newline became \n.
    assert!(cef.contains("a\\=b | c\\nnext"), "{cef}");

    // The receiver restarts: the old connection is closed, the next alert still arrives.
    listener.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let listener = SyslogListener::start_at(Some(addr)).await;
    let b = alert(8, Severity::High);
    hub.submit(&b, b.last_seen);
    assert!(
        eventually(10, || listener.take().iter().any(|m| m.contains(&b.id))).await,
        "{:?}",
        hub.status()
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = support::smtp::test_ca(&dir.path().join("ca"));
    let listener = SyslogListener::start_tls(&ca.cert, &ca.key).await;
    let cfg = sink(json!({
        "name": "siem-tls", "retry": fast_retry(),
        "output": { "type": "syslog", "address": listener.addr.to_string(), "tls": true, "ca_file": ca.ca_pem }
    }));
    let hub = open(&[cfg], &dir.path().join("q"));
    let a = alert(9, Severity::Critical);
    hub.submit(&a, a.last_seen);
    assert!(
        eventually(10, || listener.take().len() == 1).await,
        "{:?}",
        hub.status()
    );
    let msg = &listener.take()[0];
    assert!(msg.starts_with('<'), "{msg}");
    assert!(msg.contains("CEF:0|secretwatch|secretwatch|"), "{msg}");
    assert!(msg.contains(&format!("externalId={}", a.id)), "{msg}");
    hub.stop().await;

    // Without the private CA the certificate is not trusted: nothing is sent, the alert waits.
    let untrusted = sink(json!({
        "name": "siem-untrusted", "retry": fast_retry(),
        "output": { "type": "syslog", "address": listener.addr.to_string(), "tls": true }
    }));
    let hub = open(&[untrusted], &dir.path().join("q2"));
    let b = alert(10, Severity::Critical);
    hub.submit(&b, b.last_seen);
    assert!(eventually(10, || hub.status()[0].failed_attempts >= 1).await);
    assert_eq!(hub.status()[0].pending, 1);
    assert!(!listener.take().iter().any(|m| m.contains(&b.id)));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_alerts_survive_a_restart_of_the_hub() {
    let addr = free_addr().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = sink(json!({
        "name": "hook", "retry": fast_retry(),
        "output": { "type": "webhook", "url": format!("http://{addr}/in") }
    }));
    let alerts: Vec<_> = (0..10).map(|i| alert(i, Severity::High)).collect();
    {
        let hub = open(std::slice::from_ref(&cfg), dir.path());
        for a in &alerts {
            hub.submit(a, a.last_seen);
        }
        assert!(eventually(10, || hub.status()[0].failed_attempts >= 1).await);
        hub.stop().await;
    }
    let server = HttpRecorder::start_at(addr, ok()).await;
    let hub = open(std::slice::from_ref(&cfg), dir.path());
    // A replay after the restart is still a duplicate for this sink.
    assert_eq!(hub.submit(&alerts[0], alerts[0].last_seen).duplicates, 1);
    assert_eq!(hub.drain(Duration::from_secs(10)).await, 0);
    let mut ids: Vec<String> = server
        .take()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut want: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    want.sort();
    assert_eq!(ids, want);
    hub.stop().await;
}
