//! The detections on cloud secrets managers, unchanged: bulk reads, unknown principals,
//! off-hours reads and break-glass each fire on AWS Secrets Manager (CloudTrail), Azure Key
//! Vault and GCP Secret Manager records, read through the ingest parser like any input.

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use serde_json::json;

use secretwatch_ingest::{Format, ParseOptions, Parsed, RecordParser};

use crate::context::TeamConfig;
use crate::{Alert, DetectConfig, Engine, Severity};

const ACCOUNT: &str = "111122223333";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cloud {
    Aws,
    Azure,
    Gcp,
}

const CLOUDS: [Cloud; 3] = [Cloud::Aws, Cloud::Azure, Cloud::Gcp];

/// What a record does: read a value, read metadata only, or list.
#[derive(Clone, Copy)]
enum Op {
    Read,
    Metadata,
    List,
}

/// The principal name each cloud's parser gives a person called `user`.
fn principal(cloud: Cloud, user: &str) -> String {
    match cloud {
        Cloud::Aws => format!("arn:aws:iam::{ACCOUNT}:user/{user}"),
        Cloud::Azure => format!("{user}@contoso.com"),
        Cloud::Gcp => format!("{user}@acme.example"),
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// One record of `cloud`: `user` does `op` on `secret` at `t`, as each vendor logs it.
fn record(cloud: Cloud, user: &str, op: Op, secret: &str, t: DateTime<Utc>) -> String {
    let id = format!("{user}-{secret}-{}", t.timestamp_millis());
    match cloud {
        Cloud::Aws => {
            let name = match op {
                Op::Read => "GetSecretValue",
                Op::Metadata => "DescribeSecret",
                Op::List => "ListSecrets",
            };
            let identity = if user == "root" {
                json!({"type": "Root", "principalId": ACCOUNT, "arn": format!("arn:aws:iam::{ACCOUNT}:root"), "accountId": ACCOUNT})
            } else {
                json!({"type": "IAMUser", "principalId": format!("AIDA{user}"), "arn": principal(cloud, user), "accountId": ACCOUNT, "userName": user})
            };
            json!({"eventVersion": "1.09", "userIdentity": identity, "eventTime": t.to_rfc3339_opts(SecondsFormat::Secs, true),
                "eventSource": "secretsmanager.amazonaws.com", "eventName": name, "awsRegion": "eu-west-1",
                "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.30",
                "requestParameters": {"secretId": format!("prod/{secret}")}, "responseElements": null,
                "eventID": id, "eventType": "AwsApiCall", "recipientAccountId": ACCOUNT})
        }
        Cloud::Azure => {
            let op_name = match op {
                Op::Read => "SecretGet",
                Op::Metadata => "SecretGetDeleted",
                Op::List => "SecretList",
            };
            json!({"time": ts(t), "resourceId": "/SUBSCRIPTIONS/0/RESOURCEGROUPS/PROD/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/CONTOSO-PROD-KV",
                "operationName": op_name, "operationVersion": "7.4", "category": "AuditEvent", "resultType": "Success",
                "resultSignature": "OK", "durationMs": "9", "callerIpAddress": "198.51.100.30",
                "identity": {"claim": {"upn": principal(cloud, user), "oid": format!("oid-{user}")}},
                "properties": {"id": format!("https://contoso-prod-kv.vault.azure.net/secrets/{secret}/0123"),
                    "requestUri": format!("https://contoso-prod-kv.vault.azure.net/secrets/{secret}?api-version=7.4"),
                    "httpStatusCode": 200, "clientInfo": "azsdk-net-Security.KeyVault.Secrets/4.6.0"}})
        }
        Cloud::Gcp => {
            let method = match op {
                Op::Read => "AccessSecretVersion",
                Op::Metadata => "GetSecret",
                Op::List => "ListSecrets",
            };
            json!({"protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                    "serviceName": "secretmanager.googleapis.com",
                    "methodName": format!("google.cloud.secretmanager.v1.SecretManagerService.{method}"),
                    "authenticationInfo": {"principalEmail": principal(cloud, user)},
                    "requestMetadata": {"callerIp": "198.51.100.40", "callerSuppliedUserAgent": "gcloud/470.0.0"},
                    "resourceName": format!("projects/acme-prod/secrets/{secret}/versions/latest"), "status": {}},
                "insertId": id, "resource": {"type": "audited_resource", "labels": {"project_id": "acme-prod"}},
                "timestamp": ts(t)})
        }
    }
    .to_string()
}

fn run(cfg: &DetectConfig, lines: &[String]) -> Vec<Alert> {
    let opts = ParseOptions::default();
    let mut parser = RecordParser::new(&opts, Format::Auto);
    let mut engine = Engine::new(cfg).unwrap();
    let mut alerts = vec![];
    for l in lines {
        parser.parse(l, &mut |p| match p {
            Parsed::Event(e) => engine.on_event(&e, &mut alerts),
            Parsed::Skipped => {}
            Parsed::Error(e) => panic!("{e}: {l}"),
        });
    }
    engine.flush(&mut alerts);
    alerts
}

fn of<'a>(alerts: &'a [Alert], rule: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.rule == rule).collect()
}

fn tuesday(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 3, h, m, 0).unwrap()
}

#[test]
fn bulk_secret_reads_count_value_reads_only() {
    // Minutes of events: the rule (judged new_terms) alerts on the first sighting.
    let cfg = DetectConfig {
        history_learning_days: 0,
        ..DetectConfig::default()
    };
    for cloud in CLOUDS {
        let burst = |op: Op, user: &str| -> Vec<String> {
            (0..25)
                .map(|i| {
                    record(
                        cloud,
                        user,
                        op,
                        &format!("app-{i}"),
                        tuesday(10, 0) + Duration::seconds(5 * i),
                    )
                })
                .collect()
        };
        let alerts = run(&cfg, &burst(Op::Read, "mallory"));
        let got = of(&alerts, "bulk-secret-reads");
        assert_eq!(got.len(), 1, "{cloud:?}: {got:#?}");
        assert_eq!(got[0].principal, principal(cloud, "mallory"));
        assert_eq!(got[0].severity, Severity::High);
        // 25 metadata reads (DescribeSecret, SecretGetDeleted, GetSecret) or lists are no values.
        for op in [Op::Metadata, Op::List] {
            let alerts = run(&cfg, &burst(op, "mallory"));
            assert!(of(&alerts, "bulk-secret-reads").is_empty(), "{cloud:?}");
        }
        // The configured bulk reader is exempt.
        let exempt = DetectConfig {
            bulk_readers: vec![principal(cloud, "syncer")],
            ..cfg.clone()
        };
        let alerts = run(&exempt, &burst(Op::Read, "syncer"));
        assert!(of(&alerts, "bulk-secret-reads").is_empty(), "{cloud:?}");
    }
}

/// A known workload reading its secret every 6 hours for 8 days (past the 7 learning days),
/// and the instant just after.
fn workload_history(cloud: Cloud) -> (Vec<String>, DateTime<Utc>) {
    let start = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
    let lines = (0..33)
        .map(|i| record(cloud, "app", Op::Read, "db", start + Duration::hours(6 * i)))
        .collect();
    (lines, start + Duration::hours(6 * 32 + 1))
}

#[test]
fn unknown_principal_after_the_learning_period() {
    let cfg = DetectConfig::default();
    for cloud in CLOUDS {
        let (mut lines, then) = workload_history(cloud);
        lines.push(record(cloud, "stranger", Op::Read, "db", then));
        lines.push(record(
            cloud,
            "stranger",
            Op::Read,
            "db",
            then + Duration::minutes(5),
        ));
        let alerts = run(&cfg, &lines);
        let got = of(&alerts, "unknown-principal-secret-access");
        let who: Vec<_> = got.iter().map(|a| a.principal.as_str()).collect();
        assert_eq!(who, [principal(cloud, "stranger")], "{cloud:?}: {got:#?}");
        assert!(
            got[0].reason.contains("was never seen before"),
            "{}",
            got[0].reason
        );
    }
}

#[test]
fn a_named_team_member_is_neither_unknown_nor_a_first_cloud_reader() {
    let mut cfg = DetectConfig::default();
    let mut team = TeamConfig::new("sre", "Europe/Berlin", &[]);
    for cloud in CLOUDS {
        team.members.push(principal(cloud, "alice"));
    }
    cfg.context.teams.push(team);
    for cloud in CLOUDS {
        // After both learning periods, a named person and a stranger read for the first time.
        let (mut lines, then) = workload_history(cloud);
        lines.push(record(cloud, "alice", Op::Read, "db", then));
        lines.push(record(
            cloud,
            "mallory",
            Op::Read,
            "db",
            then + Duration::minutes(5),
        ));
        let alerts = run(&cfg, &lines);
        for rule in [
            "unknown-principal-secret-access",
            "cloud-secret-store-first-read",
        ] {
            let who: Vec<_> = of(&alerts, rule)
                .iter()
                .map(|a| a.principal.clone())
                .collect();
            assert_eq!(
                who,
                [principal(cloud, "mallory")],
                "{cloud:?} {rule}: {alerts:#?}"
            );
        }
    }
}

#[test]
fn off_hours_reads_of_production_cloud_secrets() {
    let mut cfg = DetectConfig::default();
    for store in [ACCOUNT, "contoso-prod-kv", "acme-prod"] {
        cfg.context
            .cloud_environments
            .insert(store.into(), "prod".into());
    }
    let members: Vec<String> = CLOUDS.iter().map(|c| principal(*c, "alice")).collect();
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    cfg.context.teams = vec![TeamConfig::new("sre", "Europe/Berlin", &members)];
    for cloud in CLOUDS {
        // Tuesday 02:30 UTC is 03:30 in Berlin; 10:00 UTC is 11:00, in hours.
        let lines = vec![
            record(cloud, "alice", Op::Read, "db", tuesday(2, 30)),
            record(cloud, "alice", Op::Read, "db", tuesday(10, 0)),
            // In no team: skipped.
            record(cloud, "mallory", Op::Read, "db", tuesday(2, 31)),
        ];
        let alerts = run(&cfg, &lines);
        let got = of(&alerts, "off-hours-human-prod-read");
        assert_eq!(got.len(), 1, "{cloud:?}: {got:#?}");
        assert_eq!(got[0].principal, principal(cloud, "alice"));
        assert!(
            got[0].reason.contains("03:30 Tue 2026-11-03 local time"),
            "{}",
            got[0].reason
        );
    }
    // A store with no environment: quiet.
    let mut unmapped = cfg.clone();
    unmapped.context.cloud_environments.clear();
    for cloud in CLOUDS {
        let alerts = run(
            &unmapped,
            &[record(cloud, "alice", Op::Read, "db", tuesday(2, 30))],
        );
        assert!(of(&alerts, "off-hours-human-prod-read").is_empty());
    }
}

#[test]
fn break_glass_aws_root_by_default_and_configured_cloud_identities() {
    // The AWS root user needs no configuration.
    let alerts = run(
        &DetectConfig::default(),
        &[record(Cloud::Aws, "root", Op::Read, "db", tuesday(2, 0))],
    );
    let got = of(&alerts, "break-glass-use");
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].principal, format!("arn:aws:iam::{ACCOUNT}:root"));
    assert!(got[0].break_glass && got[0].severity == Severity::Critical);
    assert!(
        got[0].reason.contains("AWS account root user"),
        "{}",
        got[0].reason
    );
    assert_eq!(of(&alerts, "break-glass-session").len(), 1);

    // Emergency identities of any cloud through detect.break_glass_identities.
    let configured = DetectConfig {
        break_glass_identities: CLOUDS.iter().map(|c| principal(*c, "breakglass")).collect(),
        ..DetectConfig::default()
    };
    for cloud in CLOUDS {
        let lines = [
            record(cloud, "breakglass", Op::List, "db", tuesday(2, 0)),
            record(cloud, "breakglass", Op::Read, "db", tuesday(2, 5)),
            record(cloud, "alice", Op::Read, "db", tuesday(2, 6)),
        ];
        let alerts = run(&configured, &lines);
        let got = of(&alerts, "break-glass-use");
        let who: Vec<_> = got.iter().map(|a| a.principal.as_str()).collect();
        assert_eq!(who, [principal(cloud, "breakglass")], "{cloud:?}");
        let session = of(&alerts, "break-glass-session");
        assert_eq!(session.len(), 1);
        assert_eq!(session[0].event_ids.len(), 2, "{:?}", session[0]);
        // Not configured: an ordinary identity.
        let alerts = run(&DetectConfig::default(), &lines);
        assert!(of(&alerts, "break-glass-use").is_empty(), "{cloud:?}");
    }
}

/// SigmaHQ-style rules for the clouds name the vendor's fields (`eventName`,
/// `userIdentity.type`, `protoPayload.methodName`, `operationName`): they read the raw record.
#[test]
fn third_party_cloud_rules_read_vendor_fields() {
    use crate::sigma::{load, RuleSource, SigmaDetector};
    let rule = |id: &str, title: &str, product: &str, detection: &str| {
        RuleSource {
        name: format!("{id}.yml"),
        text: format!(
            "title: {title}\nid: {id}\nstatus: test\nlogsource:\n  product: {product}\ndetection:\n{detection}  condition: sel\nlevel: high\n"
        ),
        strict: false,
    }
    };
    let rules = load(&[
        rule(
            "1f0e4a52-1111-4c1e-9d7e-5b6d8e9f0a11",
            "Secret value read by the root user",
            "aws",
            "  sel:\n    eventSource: secretsmanager.amazonaws.com\n    eventName: GetSecretValue\n    userIdentity.type: Root\n",
        ),
        rule(
            "1f0e4a52-2222-4c1e-9d7e-5b6d8e9f0a11",
            "Key Vault secret read",
            "azure",
            "  sel:\n    operationName: SecretGet\n    category: AuditEvent\n",
        ),
        rule(
            "1f0e4a52-3333-4c1e-9d7e-5b6d8e9f0a11",
            "Secret Manager value read",
            "gcp",
            "  sel:\n    protoPayload.methodName|endswith: .AccessSecretVersion\n",
        ),
    ])
    .unwrap();
    let lists = crate::engine::reference_lists(&DetectConfig::default());
    let mut det = SigmaDetector::new(&rules, &lists, 60).unwrap();
    let opts = ParseOptions::default();
    let mut parser = RecordParser::new(&opts, Format::Auto);
    let mut alerts = vec![];
    for line in [
        record(Cloud::Aws, "root", Op::Read, "db", tuesday(2, 0)),
        record(Cloud::Aws, "alice", Op::Read, "db", tuesday(2, 1)),
        record(Cloud::Azure, "alice", Op::Read, "db", tuesday(2, 2)),
        record(Cloud::Azure, "alice", Op::List, "db", tuesday(2, 3)),
        record(Cloud::Gcp, "alice", Op::Read, "db", tuesday(2, 4)),
        record(Cloud::Gcp, "alice", Op::Metadata, "db", tuesday(2, 5)),
    ] {
        parser.parse(&line, &mut |p| {
            if let Parsed::Event(ev) = p {
                crate::Detector::on_event(&mut det, &ev, &mut alerts);
            }
        });
    }
    let got: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| (a.rule.as_str(), a.principal.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "secret-value-read-by-the-root-user",
                "arn:aws:iam::111122223333:root"
            ),
            ("key-vault-secret-read", "alice@contoso.com"),
            ("secret-manager-value-read", "alice@acme.example"),
        ]
    );
}
