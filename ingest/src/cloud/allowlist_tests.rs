//! The calls of other services kept beside the secret stores (CloudTrail's own trail, Parameter
//! Store, EKS access entries; the Azure Activity log; Cloud Logging's configuration), written
//! from the services' API references, and the ones that stay skipped.

use crate::event::{AccessEvent, Action, Outcome, PrincipalKind, Scope};
use crate::options::ParseOptions;
use crate::parser::{Format, Parsed, RecordParser};

fn parse(text: &str) -> (Vec<AccessEvent<'static>>, usize) {
    let opts = ParseOptions::default();
    let mut p = RecordParser::new(&opts, Format::Auto);
    let (mut evs, mut skipped) = (vec![], 0);
    p.parse(text, &mut |r| match r {
        Parsed::Event(e) => evs.push(e.into_owned()),
        Parsed::Skipped => skipped += 1,
        Parsed::Error(e) => panic!("{e}: {text}"),
    });
    (evs, skipped)
}

fn ct(source: &str, name: &str, params: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","eventSource":"{source}","eventName":"{name}","eventTime":"2026-11-03T10:00:00Z","eventID":"e-{name}","awsRegion":"eu-west-1","recipientAccountId":"111122223333","sourceIPAddress":"203.0.113.9","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333"}},"requestParameters":{params}}}"#
    )
}

#[test]
fn parameter_store_reads_are_value_reads_only_with_decryption_one_event_per_name() {
    let (evs, _) = parse(&ct(
        "ssm.amazonaws.com",
        "GetParameters",
        r#"{"names":["/prod/db/password","/prod/api/key"],"withDecryption":true}"#,
    ));
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].target.name.as_deref(), Some("/prod/db/password"));
    assert_eq!(evs[1].id, "e-GetParameters#1");
    assert!(evs
        .iter()
        .all(|e| e.action == Action::Read && e.target.is_secret));
    assert_eq!(evs[0].target.resource.as_deref(), Some("ssm"));
    let (evs, _) = parse(&ct(
        "ssm.amazonaws.com",
        "GetParameter",
        r#"{"name":"/prod/feature-flags","withDecryption":false}"#,
    ));
    assert_eq!(evs[0].action, Action::Other);
    let (evs, _) = parse(&ct(
        "ssm.amazonaws.com",
        "GetParametersByPath",
        r#"{"path":"/prod/","recursive":true,"withDecryption":true}"#,
    ));
    assert_eq!(
        (evs[0].action, evs[0].scope),
        (Action::Read, Scope::Namespace)
    );
}

#[test]
fn trail_control_and_eks_access_are_kept_and_the_rest_of_cloudtrail_skipped() {
    let (evs, _) = parse(&ct(
        "cloudtrail.amazonaws.com",
        "StopLogging",
        r#"{"name":"org-trail"}"#,
    ));
    assert_eq!(evs[0].target.name.as_deref(), Some("org-trail"));
    assert!(!evs[0].target.is_secret);
    let (evs, _) = parse(&ct(
        "eks.amazonaws.com",
        "AssociateAccessPolicy",
        r#"{"clusterName":"prod","policyArn":"arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"}"#,
    ));
    assert_eq!(
        (evs[0].action, evs[0].target.name.as_deref()),
        (Action::Admin, Some("prod"))
    );
    for (source, name) in [
        ("cloudtrail.amazonaws.com", "LookupEvents"),
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("ssm.amazonaws.com", "SendCommand"),
        ("eks.amazonaws.com", "DescribeCluster"),
    ] {
        let (evs, skipped) = parse(&ct(source, name, "{}"));
        assert_eq!((evs.len(), skipped), (0, 1), "{source} {name}");
    }
}

fn activity(op: &str, result: &str, identity: &str) -> String {
    format!(
        r#"{{"time":"2026-11-03T10:00:00Z","resourceId":"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/Prod-KV/secrets/db-password","operationName":"{op}","category":"Administrative","resultType":"{result}","resultSignature":"OK","callerIpAddress":"203.0.113.9","correlationId":"c1"{identity}}}"#
    )
}

#[test]
fn the_azure_activity_log_keeps_key_vault_and_diagnostics_operations() {
    let claims = r#","identity":{"claims":{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn":"mallory@example.com"}}"#;
    let (evs, _) = parse(&activity(
        "Microsoft.KeyVault/vaults/secrets/recover/action",
        "Success",
        claims,
    ));
    let e = &evs[0];
    assert_eq!(e.principal.name, "mallory@example.com");
    assert_eq!(e.principal.kind, PrincipalKind::Human);
    assert_eq!((e.action, e.outcome), (Action::Create, Outcome::Allowed));
    assert_eq!(e.target.store, "azure:prod-kv");
    assert_eq!(e.target.name.as_deref(), Some("db-password"));
    assert!(e.target.is_secret);
    // The Start record of an operation is followed by its result: one event per operation.
    let (evs, skipped) = parse(&activity(
        "Microsoft.KeyVault/vaults/delete",
        "Start",
        claims,
    ));
    assert_eq!((evs.len(), skipped), (0, 1));
    // The older form names the caller only; a service principal without claims.
    let (evs, _) = parse(&activity(
        "MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/DELETE",
        "Succeeded",
        r#","caller":"7f3e0c2a-1b2c-4d5e-8f90-123456789abc""#,
    ));
    assert_eq!(evs[0].principal.kind, PrincipalKind::ServiceAccount);
    assert_eq!(evs[0].action, Action::Delete);
    assert!(!evs[0].target.is_secret);
    // Other providers stay skipped.
    let (evs, skipped) = parse(&activity(
        "Microsoft.Compute/virtualMachines/write",
        "Success",
        claims,
    ));
    assert_eq!((evs.len(), skipped), (0, 1));
}

#[test]
fn cloud_logging_configuration_is_kept_and_log_reads_are_not() {
    let entry = |method: &str, resource: &str| {
        format!(
            r#"{{"insertId":"i-{method}","timestamp":"2026-11-03T10:00:00Z","logName":"projects/p1/logs/cloudaudit.googleapis.com%2Factivity","resource":{{"type":"logging_sink","labels":{{"project_id":"p1"}}}},"protoPayload":{{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","serviceName":"logging.googleapis.com","methodName":"google.logging.v2.{method}","resourceName":"{resource}","authenticationInfo":{{"principalEmail":"mallory@example.com"}}}}}}"#
        )
    };
    let (evs, _) = parse(&entry(
        "ConfigServiceV2.DeleteSink",
        "projects/p1/sinks/to-siem",
    ));
    assert_eq!(evs[0].action, Action::Delete);
    assert_eq!(evs[0].target.name.as_deref(), Some("sinks/to-siem"));
    assert!(!evs[0].target.is_secret);
    let (evs, skipped) = parse(&entry("LoggingServiceV2.ListLogEntries", "projects/p1"));
    assert_eq!((evs.len(), skipped), (0, 1));
}

#[test]
fn secret_names_from_arns() {
    use super::cloudtrail::secret_name_of_arn as name;
    let arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:";
    assert_eq!(name(&format!("{arn}prod/db-AbC12z")), Some("prod/db"));
    // A partial ARN (no suffix), a name ending in a shorter or longer tail, other partitions.
    assert_eq!(name(&format!("{arn}prod/db")), Some("prod/db"));
    assert_eq!(name(&format!("{arn}prod/web-api")), Some("prod/web-api"));
    assert_eq!(
        name(&format!("{arn}prod/web-backend")),
        Some("prod/web-backend")
    );
    assert_eq!(
        name("arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:x-Q1w2E3"),
        Some("x")
    );
    // Not a secret's ARN, or no name at all.
    assert_eq!(name("prod/db-AbC12z"), None);
    assert_eq!(name("arn:aws:ssm:eu-west-1:111122223333:parameter/x"), None);
    assert_eq!(name(&format!("{arn}-AbC12z")), Some("-AbC12z"));
}
