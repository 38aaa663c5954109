//! Cloud secrets managers and managed-Kubernetes envelopes, through the same decoder as every
//! other input: our own fixtures (`tests/fixtures/cloud`, written from the vendors' docs).

use std::path::PathBuf;

use secretwatch_ingest::{
    is_aws_root, AccessEvent, Action, Decoder, Format, IngestStats, Input, Outcome, ParseError,
    ParseOptions, Parsed, PrincipalKind, RecordParser, SourceSystem,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cloud")
        .join(name)
}

fn read(name: &str, format: Format) -> (Vec<AccessEvent<'static>>, IngestStats) {
    let opts = ParseOptions::default();
    let mut decoder = Decoder::new(&opts, format, None);
    let mut events = vec![];
    let mut input = Input::open(&fixture(name)).unwrap();
    decoder
        .read_input(&mut input, &mut |e| events.push(e.into_owned()))
        .unwrap();
    decoder.finish(&mut |e| events.push(e)).unwrap();
    (events, decoder.stats)
}

fn by_id<'e>(events: &'e [AccessEvent<'static>], id: &str) -> &'e AccessEvent<'static> {
    events
        .iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no event {id}"))
}

/// Parse one record, all results.
fn parse_one(text: &str) -> Vec<Result<AccessEvent<'static>, ParseError>> {
    let opts = ParseOptions::default();
    let mut p = RecordParser::new(&opts, Format::Auto);
    let mut got = vec![];
    p.parse(text, &mut |r| match r {
        Parsed::Event(e) => got.push(Ok(e.into_owned())),
        Parsed::Error(e) => got.push(Err(e)),
        Parsed::Skipped => {}
    });
    got
}

#[test]
fn cloudtrail_secrets_manager_records() {
    let (events, stats) = read("cloudtrail-secretsmanager.jsonl", Format::Auto);
    assert_eq!(stats.bad, 0, "{:?}", stats.first_errors);
    // 12 records, BatchGetSecretValue of two secrets is two events.
    assert_eq!(events.len(), 13);
    assert!(events.iter().all(|e| e.source == SourceSystem::Aws));

    let get = by_id(&events, "0f3c6a2e-0001-4d6b-9a55-000000000001");
    assert_eq!(get.principal.name, "arn:aws:iam::111122223333:user/alice");
    assert_eq!(get.principal.kind, PrincipalKind::Human);
    assert_eq!(get.principal.uid.as_deref(), Some("AIDAEXAMPLEALICE0001"));
    assert_eq!(get.action, Action::Read);
    assert_eq!(get.raw_action, "GetSecretValue");
    assert_eq!(get.outcome, Outcome::Allowed);
    assert_eq!(get.target.store, "aws:111122223333:eu-west-1");
    assert_eq!(get.target.namespace.as_deref(), Some("111122223333"));
    assert_eq!(get.target.name.as_deref(), Some("prod/payments/db"));
    assert!(get.target.is_secret);
    assert_eq!(get.source_ips.iter().collect::<Vec<_>>(), ["198.51.100.7"]);
    assert!(get
        .user_agent
        .as_deref()
        .unwrap()
        .starts_with("aws-cli/2.15.30"));
    assert_eq!(get.time.to_rfc3339(), "2026-11-03T10:00:00+00:00");
    assert!(get.redactions.is_empty());
    assert!(get.raw.contains("\"eventName\":\"GetSecretValue\""));

    // IRSA: a workload, named by its role (session names are generated per credential).
    let irsa = by_id(&events, "0f3c6a2e-0002-4d6b-9a55-000000000002");
    assert_eq!(
        irsa.principal.name,
        "arn:aws:iam::111122223333:role/payments-irsa"
    );
    assert_eq!(irsa.principal.kind, PrincipalKind::ServiceAccount);
    assert_eq!(
        irsa.principal.uid.as_deref(),
        Some("arn:aws:sts::111122223333:assumed-role/payments-irsa/botocore-session-1793700000")
    );
    assert!(irsa
        .principal
        .in_group("arn:aws:iam::111122223333:role/payments-irsa"));
    // The identity provider the web-identity session came through is a group too.
    assert!(irsa.principal.in_group(
        "arn:aws:iam::111122223333:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    ));
    // Called by ARN: the secret's name, without the six characters Secrets Manager appends, so
    // callers by ARN and by name read one secret.
    assert_eq!(irsa.target.name.as_deref(), Some("prod/payments/api-key"));

    // BatchGetSecretValue: one event per secret.
    let b0 = by_id(&events, "0f3c6a2e-0003-4d6b-9a55-000000000003#0");
    let b1 = by_id(&events, "0f3c6a2e-0003-4d6b-9a55-000000000003#1");
    assert_eq!(b0.action, Action::Read);
    assert!(b0
        .target
        .name
        .as_deref()
        .unwrap()
        .contains("prod/orders/db"));
    assert_eq!(b1.target.name.as_deref(), Some("prod/orders/queue"));

    // An Identity Center (SSO) session is a person, named by the session.
    let list = by_id(&events, "0f3c6a2e-0004-4d6b-9a55-000000000004");
    assert_eq!(list.action, Action::List);
    assert_eq!(list.principal.kind, PrincipalKind::Human);
    assert!(
        list.principal.name.ends_with("/bob@example.com"),
        "{}",
        list.principal.name
    );
    assert_eq!(list.target.name, None);
    // Metadata only: not a value read.
    let describe = by_id(&events, "0f3c6a2e-0005-4d6b-9a55-000000000005");
    assert_eq!(describe.action, Action::Other);
    assert!(describe.target.is_secret);

    let put = by_id(&events, "0f3c6a2e-0006-4d6b-9a55-000000000006");
    assert_eq!(put.action, Action::Write);
    // AWS's own placeholder is not a value: nothing redacted, nothing to alert on.
    assert!(put.redactions.is_empty());
    assert_eq!(
        by_id(&events, "0f3c6a2e-0007-4d6b-9a55-000000000007").action,
        Action::Create
    );
    let root = by_id(&events, "0f3c6a2e-0008-4d6b-9a55-000000000008");
    assert_eq!(root.action, Action::Delete);
    assert_eq!(root.principal.name, "arn:aws:iam::111122223333:root");
    assert_eq!(root.principal.kind, PrincipalKind::Human);
    assert!(is_aws_root(&root.principal.name));
    assert!(!is_aws_root(&get.principal.name));
    assert_eq!(
        by_id(&events, "0f3c6a2e-0009-4d6b-9a55-000000000009").action,
        Action::Rotate
    );
    let denied = by_id(&events, "0f3c6a2e-0010-4d6b-9a55-000000000010");
    assert_eq!(denied.outcome, Outcome::Denied);
    assert_eq!(denied.status_code, Some(403));
    assert_eq!(
        denied.principal.name,
        "arn:aws:sts::111122223333:federated-user/carol"
    );
    assert!(denied
        .reason
        .as_deref()
        .unwrap()
        .starts_with("AccessDenied: User:"));
    let missing = by_id(&events, "0f3c6a2e-0011-4d6b-9a55-000000000011");
    assert_eq!(missing.outcome, Outcome::Error);
    assert_eq!(missing.status_code, Some(404));
    // A service event: the service acted; its host name is not a source address.
    let rotated = by_id(&events, "0f3c6a2e-0012-4d6b-9a55-000000000012");
    assert_eq!(rotated.action, Action::Rotate);
    assert_eq!(rotated.principal.name, "secretsmanager.amazonaws.com");
    assert_eq!(rotated.principal.kind, PrincipalKind::SystemComponent);
    assert!(rotated.source_ips.is_empty());
}

#[test]
fn cloudtrail_records_file_skips_other_services() {
    for format in [Format::Auto, Format::CloudTrail] {
        let (events, stats) = read("cloudtrail-records.json", format);
        assert_eq!(stats.bad, 0, "{:?}", stats.first_errors);
        assert_eq!(stats.skipped, 1, "the S3 ListBuckets record");
        let ids: Vec<_> = events.iter().map(|e| e.id.as_ref()).collect();
        assert_eq!(
            ids,
            [
                "0f3c6a2e-0101-4d6b-9a55-000000000101",
                "0f3c6a2e-0102-4d6b-9a55-000000000102"
            ]
        );
        assert_eq!(events[1].action, Action::List);
    }
    // EventBridge: the record is the event's `detail`.
    let line = std::fs::read_to_string(fixture("cloudtrail-secretsmanager.jsonl")).unwrap();
    let first = line.lines().next().unwrap();
    let bridge = format!(
        r#"{{"version":"0","id":"e1","detail-type":"AWS API Call via CloudTrail","source":"aws.secretsmanager","account":"111122223333","time":"2026-11-03T10:00:00Z","region":"eu-west-1","resources":[],"detail":{first}}}"#
    );
    let got = parse_one(&bridge);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].as_ref().unwrap().id,
        "0f3c6a2e-0001-4d6b-9a55-000000000001"
    );
}

#[test]
fn azure_key_vault_audit_events() {
    let (events, stats) = read("keyvault-auditevent.json", Format::Auto);
    assert_eq!(stats.bad, 0, "{:?}", stats.first_errors);
    assert_eq!(events.len(), 8);
    assert!(events.iter().all(|e| e.source == SourceSystem::Azure));
    let get = &events[0];
    assert_eq!(get.raw_action, "SecretGet");
    assert_eq!(get.action, Action::Read);
    assert_eq!(get.principal.name, "dana@contoso.com");
    assert_eq!(get.principal.kind, PrincipalKind::Human);
    assert_eq!(
        get.principal.uid.as_deref(),
        Some("6f4a5b3c-1d2e-4f50-8a9b-0c1d2e3f4a5b")
    );
    assert_eq!(get.target.store, "azure:contoso-prod-kv");
    assert_eq!(get.target.namespace.as_deref(), Some("contoso-prod-kv"));
    assert_eq!(get.target.name.as_deref(), Some("payments-db"));
    assert!(get.target.is_secret);
    assert_eq!(get.outcome, Outcome::Allowed);
    assert_eq!(get.status_code, Some(200));
    assert_eq!(get.source_ips.iter().collect::<Vec<_>>(), ["198.51.100.30"]);
    assert!(get
        .user_agent
        .as_deref()
        .unwrap()
        .starts_with("azsdk-python"));
    assert!(get.id.starts_with("azure-"));
    assert_ne!(events[0].id, events[2].id);

    // A managed identity: appid only (claims under their URI names).
    let list = &events[1];
    assert_eq!(list.action, Action::List);
    assert_eq!(list.principal.name, "2c1b0a9f-8e7d-4c6b-a5f4-e3d2c1b0a9f8");
    assert_eq!(list.principal.kind, PrincipalKind::ServiceAccount);
    assert_eq!(
        list.principal.uid.as_deref(),
        Some("9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a")
    );
    assert_eq!(events[3].action, Action::Write);
    let denied = &events[4];
    assert_eq!(denied.outcome, Outcome::Denied);
    assert_eq!(denied.status_code, Some(403));
    assert_eq!(denied.principal.name, "eve@contoso.com");
    assert_eq!(events[5].action, Action::Delete);
    assert_eq!(
        events[6].action,
        Action::Read,
        "SecretBackup exports the value"
    );
    let vault = &events[7];
    assert_eq!(vault.raw_action, "VaultGet");
    assert!(!vault.target.is_secret);
    assert_eq!(vault.target.name, None);
    // The same records, forced.
    let (forced, stats) = read("keyvault-auditevent.json", Format::AzureKeyVault);
    assert_eq!((forced.len(), stats.bad), (8, 0));
}

#[test]
fn gcp_secret_manager_entries() {
    let (events, stats) = read("gcp-secretmanager.jsonl", Format::Auto);
    assert_eq!(stats.bad, 0, "{:?}", stats.first_errors);
    assert_eq!(events.len(), 7);
    assert!(events.iter().all(|e| e.source == SourceSystem::Gcp));
    let access = by_id(&events, "1a2b3c4d5e6f01");
    assert_eq!(access.raw_action, "AccessSecretVersion");
    assert_eq!(access.action, Action::Read);
    assert_eq!(
        access.principal.name,
        "payments-api@acme-prod.iam.gserviceaccount.com"
    );
    assert_eq!(access.principal.kind, PrincipalKind::ServiceAccount);
    assert_eq!(access.target.store, "gcp:acme-prod");
    assert_eq!(access.target.name.as_deref(), Some("payments-db"));
    assert_eq!(access.outcome, Outcome::Allowed);
    assert_eq!(access.source_ips.iter().collect::<Vec<_>>(), ["10.40.0.12"]);
    assert_eq!(
        access.request_uri.as_deref(),
        Some("projects/acme-prod/secrets/payments-db/versions/latest")
    );
    let list = by_id(&events, "1a2b3c4d5e6f02");
    assert_eq!(
        (list.action, list.principal.kind),
        (Action::List, PrincipalKind::Human)
    );
    assert_eq!(list.target.name, None);
    assert_eq!(by_id(&events, "1a2b3c4d5e6f03").action, Action::Write);
    let denied = by_id(&events, "1a2b3c4d5e6f04");
    assert_eq!(denied.outcome, Outcome::Denied);
    assert_eq!(denied.status_code, Some(403));
    assert!(denied.reason.as_deref().unwrap().contains("denied"));
    assert_eq!(by_id(&events, "1a2b3c4d5e6f05").action, Action::Delete);
    // Impersonation: the person who acted through the service account.
    let deleg = by_id(&events, "1a2b3c4d5e6f06");
    assert_eq!(deleg.principal.name, "grace@acme.example");
    assert_eq!(deleg.principal.kind, PrincipalKind::Human);
    assert_eq!(
        deleg.effective_principal(),
        "deploy-bot@acme-prod.iam.gserviceaccount.com"
    );
    assert_eq!(deleg.target.name.as_deref(), Some("payments-api-key"));
    assert_eq!(by_id(&events, "1a2b3c4d5e6f07").action, Action::Other);
}

#[test]
fn gke_entries_become_kubernetes_events() {
    let (events, stats) = read("gke-audit.jsonl", Format::Auto);
    assert_eq!(stats.bad, 0, "{:?}", stats.first_errors);
    assert_eq!(events.len(), 3);
    let get = &events[0];
    assert_eq!(get.source, SourceSystem::Kubernetes);
    assert_eq!(get.id, "op-gke-0001");
    assert_eq!(get.raw_action, "get");
    assert_eq!(get.action, Action::Read);
    assert_eq!(get.principal.name, "frank@acme.example");
    assert_eq!(get.principal.kind, PrincipalKind::Human);
    assert_eq!(get.target.store, "prod-gke");
    assert_eq!(get.target.namespace.as_deref(), Some("payments"));
    assert_eq!(get.target.resource.as_deref(), Some("secrets"));
    assert_eq!(get.target.name.as_deref(), Some("db"));
    assert!(get.target.is_secret);
    assert_eq!(get.outcome, Outcome::Allowed);
    let list = &events[1];
    assert_eq!(list.action, Action::List);
    assert_eq!(list.principal.kind, PrincipalKind::ServiceAccount);
    assert_eq!(list.principal.namespace.as_deref(), Some("ci"));
    assert_eq!(list.target.namespace, None);
    assert_eq!(list.outcome, Outcome::Denied);
    assert_eq!(list.status_code, Some(403));
    assert_eq!(
        events[2].principal.kind,
        PrincipalKind::ServiceAccount,
        "a Google service account"
    );
}

#[test]
fn aks_records_with_the_event_as_string_and_object() {
    let (events, stats) = read("aks-eventhubs.json", Format::Auto);
    assert_eq!(stats.bad, 0, "{:?}", stats.first_errors);
    assert_eq!(stats.skipped, 1, "the guard record");
    assert_eq!(events.len(), 2);
    let get = &events[0];
    assert_eq!(get.source, SourceSystem::Kubernetes);
    assert_eq!(get.id, "4c1d2e3f-0001-4a5b-8c9d-000000000001");
    assert_eq!(get.principal.name, "dana@contoso.com");
    assert_eq!(get.target.store, "prod-aks");
    assert_eq!(get.target.name.as_deref(), Some("db"));
    // raw is the inner audit event, so rules can read its native fields.
    assert!(get.raw.starts_with("{\"kind\":\"Event\""), "{}", get.raw);
    let list = &events[1];
    assert_eq!(list.raw_action, "list");
    assert_eq!(list.outcome, Outcome::Denied);
    assert_eq!(list.principal.namespace.as_deref(), Some("ci"));
}

#[test]
fn eks_cloudwatch_payloads_plain_and_gzip() {
    for f in ["eks-cloudwatch.json", "eks-cloudwatch.json.gz"] {
        let (events, stats) = read(f, Format::Auto);
        assert_eq!(stats.bad, 0, "{:?}", stats.first_errors);
        assert_eq!(stats.skipped, 1, "{f}: the RequestReceived stage");
        assert_eq!(events.len(), 2, "{f}");
        assert!(events.iter().all(|e| e.target.store == "prod-eks"));
        assert_eq!(
            events[0].principal.name,
            "arn:aws:iam::111122223333:user/alice"
        );
        assert_eq!(events[1].principal.kind, PrincipalKind::ServiceAccount);
    }
    let (events, stats) = read("eks-cloudwatch-control.json", Format::CloudWatchLogs);
    assert_eq!((events.len(), stats.bad, stats.skipped), (0, 0, 1));
}

#[test]
fn format_names_are_accepted() {
    for (name, f) in [
        ("cloudtrail", Format::CloudTrail),
        ("azure-keyvault", Format::AzureKeyVault),
        ("aks-audit", Format::AzureKeyVault),
        ("gcp-audit", Format::GcpAudit),
        ("gke-audit", Format::GcpAudit),
        ("cloudwatch-logs", Format::CloudWatchLogs),
        ("eks-audit", Format::CloudWatchLogs),
    ] {
        assert_eq!(name.parse::<Format>(), Ok(f), "{name}");
        assert!(Format::NAMES.contains(&f.as_str()));
    }
}

/// A malformed record of each format: an error naming the field, never a panic.
#[test]
fn malformed_records_name_the_field() {
    let cases = [
        (
            r#"{"eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","eventTime":"yesterday","userIdentity":{"type":"IAMUser"}}"#,
            "eventTime",
        ),
        (
            r#"{"eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","eventTime":"2026-11-03T10:00:00Z","requestParameters":{"secretId":{"x":1}}}"#,
            "requestParameters.secretId",
        ),
        (
            r#"{"Records":[{"eventSource":"secretsmanager.amazonaws.com","eventTime":"2026-11-03T10:00:00Z"}]}"#,
            "Records[0].eventName",
        ),
        (
            r#"{"records":[{"category":"AuditEvent","operationName":"SecretGet","properties":{"httpStatusCode":"abc"},"time":"2026-11-03T10:00:00Z"}]}"#,
            "records[0].properties.httpStatusCode",
        ),
        (
            r#"{"category":"AuditEvent","operationName":"SecretGet"}"#,
            "time",
        ),
        (
            r#"{"protoPayload":{"serviceName":"secretmanager.googleapis.com","methodName":"google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion","status":{"code":"seven"}},"timestamp":"2026-11-03T10:00:00Z"}"#,
            "protoPayload.status.code",
        ),
        (
            r#"{"protoPayload":{"serviceName":"secretmanager.googleapis.com"},"timestamp":"2026-11-03T10:00:00Z"}"#,
            "protoPayload.methodName",
        ),
        (
            r#"{"protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.core.v1.secrets.get"}}"#,
            "timestamp",
        ),
        (
            r#"{"category":"kube-audit","properties":{"log":"{\"kind\":\"Event\",\"auditID\":\"a\",\"stage\":\"ResponseComplete\",\"stageTimestamp\":\"2026-11-03T10:00:00Z\"}"}}"#,
            "properties.log.verb",
        ),
        (
            r#"{"category":"kube-audit","properties":{"log":42}}"#,
            "properties.log",
        ),
        (
            r#"{"messageType":"DATA_MESSAGE","logGroup":"/aws/eks/x/cluster","logEvents":[{"message":"{\"auditID\":\"a\",\"verb\":\"get\"}"}]}"#,
            "logEvents[0].message.stageTimestamp",
        ),
        (
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"plain text"}]}"#,
            "logEvents[0].message",
        ),
    ];
    for (text, field) in cases {
        let got = parse_one(text);
        assert_eq!(got.len(), 1, "{text}: {got:?}");
        match &got[0] {
            Err(e) => assert_eq!(e.field_name(), Some(field), "{text}: {e}"),
            Ok(ev) => panic!("{text}: parsed as {ev:?}"),
        }
    }
    // Broken JSON of a cloud shape is a JSON error, as for any record.
    for text in [
        r#"{"Records":[{"eventSource":"#,
        r#"{"records":[{"category":"AuditEvent""#,
        r#"{"protoPayload":{"#,
    ] {
        let got = parse_one(text);
        assert!(matches!(got[..], [Err(_)]), "{text}: {got:?}");
    }
}
