//! Event objects as the kubelet writes them (fields from client-go `tools/record/event.go`
//! `makeEvent`/`generateEvent`; messages from the kubelet sources named in the module docs).

use super::*;
use crate::parser::{Format, RecordParser};

fn parse_all(text: &str, format: Format) -> (Vec<AccessEvent<'static>>, usize, Vec<String>) {
    let opts = ParseOptions::default();
    let mut p = RecordParser::new(&opts, format);
    let (mut evs, mut skipped, mut errors) = (vec![], 0, vec![]);
    p.parse_document(text, &mut |r| match r {
        Parsed::Event(e) => evs.push(e.into_owned()),
        Parsed::Skipped => skipped += 1,
        Parsed::Error(e) => errors.push(e.to_string()),
    });
    (evs, skipped, errors)
}

/// A kubelet's FailedMount on pod `api-6d4f9-x2x7q` of `prod`, the 7th time since 10:15.
const FAILED_MOUNT: &str = r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"api-6d4f9-x2x7q.17f3a2b1c0d4e5f6","namespace":"prod","uid":"0c1f9a2e-77d1-4d4e-9a51-2b7a3c9f1e10","resourceVersion":"88121","creationTimestamp":"2026-12-01T10:15:02Z"},"involvedObject":{"kind":"Pod","namespace":"prod","name":"api-6d4f9-x2x7q","uid":"5e0c","apiVersion":"v1","resourceVersion":"88002"},"reason":"FailedMount","message":"MountVolume.SetUp failed for volume \"db-creds\" : secret \"db-creds\" not found","source":{"component":"kubelet","host":"ip-10-0-3-17.ec2.internal"},"firstTimestamp":"2026-12-01T10:15:02Z","lastTimestamp":"2026-12-01T10:41:20Z","count":7,"type":"Warning","eventTime":null,"reportingComponent":"kubelet","reportingInstance":"ip-10-0-3-17.ec2.internal"}"#;

#[test]
fn a_kubelet_failed_mount_is_a_failed_read_of_that_secret_by_its_node() {
    let (evs, skipped, errors) = parse_all(FAILED_MOUNT, Format::K8sEvents);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!((evs.len(), skipped), (1, 0));
    let e = &evs[0];
    assert_eq!(e.principal.name, "system:node:ip-10-0-3-17.ec2.internal");
    assert_eq!(e.principal.kind, PrincipalKind::Node);
    assert_eq!(e.target.namespace.as_deref(), Some("prod"));
    assert_eq!(e.target.name.as_deref(), Some("db-creds"));
    assert!(e.target.is_secret);
    assert_eq!(
        (e.action, e.outcome, e.status_code),
        (Action::Read, Outcome::Error, Some(404))
    );
    assert_eq!(e.raw_action, "FailedMount");
    assert_eq!(e.time.to_rfc3339(), "2026-12-01T10:41:20+00:00");
    let r = e.repeat.expect("count 7 since 10:15");
    assert_eq!(
        (r.count, r.since.to_rfc3339().as_str()),
        (7, "2026-12-01T10:15:02+00:00")
    );
    assert!(e
        .reason
        .as_deref()
        .unwrap()
        .starts_with("pod/api-6d4f9-x2x7q: MountVolume"));
    assert!(e.request_uri.is_none());
}

#[test]
fn the_messages_name_their_secrets() {
    assert_eq!(
        missing_secrets("Unable to retrieve some image pull secrets (regcred, ecr-pull); attempting to pull the image may not succeed.").as_slice(),
        ["regcred", "ecr-pull"]
    );
    assert_eq!(
        missing_secrets("Error: secret \"api-key\" not found").as_slice(),
        ["api-key"]
    );
    assert_eq!(
        missing_secrets("(combined from similar events): MountVolume.SetUp failed for volume \"a\" : secret \"x.y\" not found").as_slice(),
        ["x.y"]
    );
    // The API's plural form, twice the same name once.
    assert_eq!(
        missing_secrets("secrets \"tls\" not found; secrets \"tls\" not found").as_slice(),
        ["tls"]
    );
    // Not a missing Secret: a ConfigMap, a missing key of an existing Secret, free text, a
    // name Kubernetes would not allow.
    for m in [
        "MountVolume.SetUp failed for volume \"c\" : configmap \"c\" not found",
        "Error: couldn't find key password in Secret prod/db",
        "Successfully assigned prod/api to node-1",
        "the secret \"is\" out there",
        "secret \"Not_A_Name\" not found",
        "Unable to retrieve some image pull secrets (",
    ] {
        assert!(missing_secrets(m).is_empty(), "{m}");
    }
}

#[test]
fn kubectl_lists_watches_and_the_event_exporter_all_read() {
    // `kubectl get events -A -o json`: a pretty-printed List with an unrelated Event.
    let list = format!(
        "{{\n  \"apiVersion\": \"v1\",\n  \"items\": [\n    {FAILED_MOUNT},\n    {}\n  ],\n  \"kind\": \"List\",\n  \"metadata\": {{\"resourceVersion\": \"\"}}\n}}\n",
        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"api.1","namespace":"prod"},"involvedObject":{"kind":"Pod","namespace":"prod","name":"api"},"reason":"Scheduled","message":"Successfully assigned prod/api to node-1","source":{"component":"default-scheduler"},"firstTimestamp":"2026-12-01T10:15:00Z","lastTimestamp":"2026-12-01T10:15:00Z","count":1,"type":"Normal"}"#
    );
    let (evs, skipped, errors) = parse_all(&list, Format::Auto);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!((evs.len(), skipped), (1, 1));

    // `--output-watch-events`: MODIFIED reports, DELETED (TTL) does not.
    let watch = format!(r#"{{"type":"MODIFIED","object":{FAILED_MOUNT}}}"#);
    assert_eq!(parse_all(&watch, Format::K8sEvents).0.len(), 1);
    let deleted = format!(r#"{{"type":"DELETED","object":{FAILED_MOUNT}}}"#);
    assert_eq!(parse_all(&deleted, Format::K8sEvents).1, 1);

    // events.k8s.io/v1 (regarding, note, deprecated*), two pull secrets: two events.
    let v1 = r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"web.2","namespace":"shop","uid":"u-2"},"regarding":{"kind":"Pod","namespace":"shop","name":"web"},"reason":"FailedToRetrieveImagePullSecret","note":"Unable to retrieve some image pull secrets (regcred, ecr-pull); attempting to pull the image may not succeed.","deprecatedSource":{"component":"kubelet","host":"node-2"},"deprecatedFirstTimestamp":"2026-12-01T09:00:00Z","deprecatedLastTimestamp":"2026-12-01T09:30:00Z","deprecatedCount":31,"type":"Warning","eventTime":null,"reportingController":"kubelet","reportingInstance":"node-2"}"#;
    let (evs, _, errors) = parse_all(v1, Format::Auto);
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<_> = evs
        .iter()
        .map(|e| e.target.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["regcred", "ecr-pull"]);
    assert_ne!(evs[0].id, evs[1].id);
    assert_eq!(evs[0].principal.name, "system:node:node-2");
    assert_eq!(evs[0].repeat.unwrap().count, 31);
}

#[test]
fn events_without_their_fields_are_dead_letters_naming_the_field() {
    let cases = [
        (
            r#"{"kind":"Event","involvedObject":{"kind":"Pod","name":"a","namespace":"p"},"message":"Error: secret \"x\" not found","source":{"component":"kubelet","host":"n"}}"#,
            "lastTimestamp",
        ),
        (
            r#"{"kind":"Event","involvedObject":{"kind":"Pod","name":"a"},"message":"Error: secret \"x\" not found","lastTimestamp":"2026-12-01T09:00:00Z"}"#,
            "involvedObject.namespace",
        ),
        (
            r#"{"kind":"Event","involvedObject":{"kind":"Pod","name":"a","namespace":"p"},"message":"Error: secret \"x\" not found","lastTimestamp":"yesterday"}"#,
            "lastTimestamp",
        ),
        (
            r#"{"kind":"Event","message":"Error: secret \"x\" not found","lastTimestamp":"2026-12-01T09:00:00Z"}"#,
            "involvedObject",
        ),
        (
            r#"{"kind":"Event","involvedObject":{"kind":"Pod","name":"a","namespace":"p"},"message":7}"#,
            "message",
        ),
        (
            r#"{"kind":"List","items":[{"kind":"Event","involvedObject":{"name":"a","namespace":"p"},"message":"Error: secret \"x\" not found"}]}"#,
            "items[0].lastTimestamp",
        ),
    ];
    for (text, field) in cases {
        let (evs, _, errors) = parse_all(text, Format::K8sEvents);
        assert!(evs.is_empty(), "{text}");
        assert_eq!(errors.len(), 1, "{text}: {errors:?}");
        assert!(
            errors[0].contains(field),
            "{text}: {errors:?} should name {field}"
        );
    }
}

#[test]
fn the_audit_log_carries_the_same_reports_when_events_are_logged_at_request_level() {
    // The create (POST) of the first occurrence: the body is the whole Event.
    let create = format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/events","verb":"create","user":{{"username":"system:node:node-3","groups":["system:nodes","system:authenticated"]}},"sourceIPs":["10.0.3.17"],"userAgent":"kubelet/v1.31.2 (linux/amd64) kubernetes/5864a46","objectRef":{{"resource":"events","namespace":"prod","name":"api-6d4f9-x2x7q.17f3a2b1c0d4e5f6","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":201}},"requestObject":{FAILED_MOUNT},"requestReceivedTimestamp":"2026-12-01T10:15:02.100000Z","stageTimestamp":"2026-12-01T10:15:02.110000Z"}}"#
    );
    let (evs, _, errors) = parse_all(&create, Format::Auto);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].target.name.as_deref(), Some("db-creds"));
    assert_eq!(evs[0].principal.name, "system:node:node-3");
    assert_eq!(evs[0].source_ips.first(), Some("10.0.3.17"));
    assert_eq!(evs[0].time.to_rfc3339(), "2026-12-01T10:15:02.110+00:00");
    assert_eq!(evs[0].id, "a-1");

    // A repeat: a strategic-merge patch of count, lastTimestamp and message only.
    let patch = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a-2","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/events/api-6d4f9-x2x7q.17f3a2b1c0d4e5f6","verb":"patch","user":{"username":"system:node:node-3","groups":["system:nodes"]},"sourceIPs":["10.0.3.17"],"objectRef":{"resource":"events","namespace":"prod","name":"api-6d4f9-x2x7q.17f3a2b1c0d4e5f6","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestObject":{"count":8,"lastTimestamp":"2026-12-01T10:43:30Z","message":"MountVolume.SetUp failed for volume \"db-creds\" : secret \"db-creds\" not found"},"requestReceivedTimestamp":"2026-12-01T10:43:30.000000Z","stageTimestamp":"2026-12-01T10:43:30.010000Z"}"#;
    let (evs, _, errors) = parse_all(patch, Format::K8sAudit);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].raw_action, "FailedMount");
    assert_eq!(evs[0].repeat.map(|r| r.count), Some(8));
    assert!(evs[0]
        .reason
        .as_deref()
        .unwrap()
        .starts_with("pod/api-6d4f9-x2x7q: "));

    // An event write whose body names no Secret (or a Metadata-level one) stays what it was.
    let other = patch.replace(r#"secret \"db-creds\" not found"#, "done");
    let (evs, _, _) = parse_all(&other, Format::K8sAudit);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].target.resource.as_deref(), Some("events"));
    assert!(!evs[0].target.is_secret);
}

#[test]
fn credentials_in_a_message_leave_the_reason_and_the_raw_copy() {
    let text = FAILED_MOUNT.replace(
        r#"not found""#,
        r#"not found: Bearer dG9rZW4tdmFsdWUtMDEyMzQ1Njc4OWFiY2RlZg== and AKIAxxSECRETxx0123456789abcdefGHIJ""#,
    );
    let (evs, _, errors) = parse_all(&text, Format::K8sEvents);
    assert!(errors.is_empty(), "{errors:?}");
    let e = &evs[0];
    for leak in [
        "dG9rZW4tdmFsdWUtMDEyMzQ1Njc4OWFiY2RlZg==",
        "AKIAxxSECRETxx0123456789abcdefGHIJ",
    ] {
        assert!(
            !e.reason.as_deref().unwrap().contains(leak),
            "{:?}",
            e.reason
        );
        assert!(!e.raw.contains(leak), "{}", e.raw);
    }
    assert!(e.redactions.contains(Redactions::TOKEN));
    assert!(e.raw.contains("db-creds"));
}
