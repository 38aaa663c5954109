//! Access events for the forwarding tests, made by secretwatch_ingest's own parser from
//! Kubernetes audit records whose Secret bodies carry planted canary values (base64 `data`,
//! plain `stringData`, and a `last-applied-configuration` annotation holding the Secret again).
//! Ingest redacts them; the tests check that no encoder on the way out brings them back.

use secretwatch_ingest::{AccessEvent, Format, ParseOptions, Parsed, RecordParser, Redactions};

/// The planted values (and the decoded form of the annotation's base64 one, index 2, which no
/// output may contain either): each must be absent from everything a sink receives.
pub const CANARIES: [&str; 4] = [
    "sw-alerting-canary-7e3f-secret",
    "c3ctYWxlcnRpbmctY2FuYXJ5LTdlM2Ytc2VjcmV0",
    "sw-alerting-canary-applied-91c2",
    "c3ctYWxlcnRpbmctY2FuYXJ5LWFwcGxpZWQtOTFjMg==",
];

/// The Secret object as the API server logs it in a body.
fn secret_body(name: &str) -> String {
    let applied = format!(
        r#"{{"apiVersion":"v1","kind":"Secret","data":{{"password":"{}"}}}}"#,
        CANARIES[3]
    );
    serde_json::json!({
        "kind": "Secret", "apiVersion": "v1", "type": "Opaque",
        "metadata": {"name": name, "namespace": "prod", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": applied,
        }},
        "data": {"password": CANARIES[1]},
        "stringData": {"token": CANARIES[0]},
    })
    .to_string()
}

/// One audit record: `verb` on Secret `name` by `user` at second `i`, with the Secret in the
/// request (create) or response (get) body.
pub fn k8s_record(i: usize, verb: &str, user: &str, name: &str) -> String {
    let (level, body_key) = if verb == "create" {
        ("Request", "requestObject")
    } else {
        ("RequestResponse", "responseObject")
    };
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"{level}","auditID":"fwd-{i:04}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/secrets/{name}","verb":"{verb}","user":{{"username":"{user}","groups":["system:authenticated"]}},"sourceIPs":["203.0.113.{}"],"userAgent":"kubectl/v1.31.2","objectRef":{{"resource":"secrets","namespace":"prod","apiVersion":"v1","name":"{name}"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"2026-11-03T10:{:02}:{:02}.000000Z","stageTimestamp":"2026-11-03T10:{:02}:{:02}.000000Z","annotations":{{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}},"{body_key}":{}}}"#,
        1 + i % 200,
        (i / 60) % 60,
        i % 60,
        (i / 60) % 60,
        i % 60,
        secret_body(name),
    )
}

/// `n` parsed events (gets and creates by two users), every one with its Secret body redacted.
pub fn canary_events(n: usize) -> Vec<AccessEvent<'static>> {
    let opts = ParseOptions::default();
    let mut parser = RecordParser::new(&opts, Format::Auto);
    let mut events = Vec::new();
    for i in 0..n {
        let verb = if i % 3 == 0 { "create" } else { "get" };
        let user = if i % 2 == 0 {
            "oidc:alice@example.com"
        } else {
            "system:serviceaccount:ci:deployer"
        };
        let record = k8s_record(i, verb, user, &format!("db-{}", i % 5));
        assert!(
            [0, 1, 3].iter().all(|&c| record.contains(CANARIES[c])),
            "every record carries every planted canary"
        );
        parser.parse(&record, &mut |p| match p {
            Parsed::Event(ev) => events.push(ev.into_owned()),
            Parsed::Skipped => {}
            Parsed::Error(e) => panic!("record {i}: {e}"),
        });
    }
    assert_eq!(events.len(), n);
    for ev in &events {
        assert!(
            ev.redactions.contains(Redactions::SECRET_BODY),
            "ingest redacted the Secret body of {}",
            ev.id
        );
    }
    events
}

/// Panics if any canary is in `text` (`what` says where).
pub fn assert_no_canary(what: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    for c in CANARIES {
        assert!(!text.contains(c), "canary {c} in {what}");
    }
}
