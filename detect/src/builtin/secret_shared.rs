//! `secret-shared-outside`: a cloud secret's own access policy opened to everyone or to another
//! account (issue 21 item 8).
//!
//! - AWS Secrets Manager `PutResourcePolicy`: the policy (`requestParameters.resourcePolicy`, an
//!   object or a JSON string) has an `Allow` statement for secret values (`GetSecretValue`,
//!   `secretsmanager:*`, `*`) whose principal is `*` (or `{"AWS": "*"}`) with no condition that
//!   narrows the caller (organization, account, VPC, source or principal ARN), or names an
//!   account other than the secret's own. IAM's policy grammar and these condition keys: AWS
//!   IAM User Guide, "AWS global condition context keys"; Secrets Manager's own check is
//!   `BlockPublicPolicy`.
//! - GCP Secret Manager `SetIamPolicy`: a binding to `allUsers` or `allAuthenticatedUsers`.
//!
//! Policies that stay inside the account or the organization are quiet.

use chrono::{DateTime, Utc};
use secretwatch_ingest::{AccessEvent, Outcome, SourceSystem};
use serde_json::Value;

use crate::alert::{Alert, Severity};
use crate::builtin::groups::WindowedGroups;
use crate::config::DetectConfig;
use crate::detector::{window_start, Detector};

pub const RULE: &str = "secret-shared-outside";

/// Condition keys that narrow who can use a `*` principal.
const NARROWING: &[&str] = &[
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:sourceaccount",
    "aws:sourceorgid",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourcearn",
    "aws:principalarn",
    "aws:sourceip",
];

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

fn grants_values(action: &Value) -> bool {
    as_list(action)
        .into_iter()
        .filter_map(Value::as_str)
        .any(|a| {
            let a = a.to_ascii_lowercase();
            a == "*" || a == "secretsmanager:*" || a == "secretsmanager:getsecretvalue"
        })
}

/// Who a principal element names: `*` or the account ids of its ARNs.
fn principals(p: &Value) -> Vec<String> {
    let mut out = vec![];
    match p {
        Value::String(s) => out.push(s.clone()),
        Value::Object(m) => {
            for (k, v) in m {
                if k.eq_ignore_ascii_case("AWS") {
                    out.extend(
                        as_list(v)
                            .into_iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string),
                    );
                }
            }
        }
        _ => {}
    }
    out
}

/// The account of `arn:aws:iam::<account>:...`, or a bare account id.
fn account_of(principal: &str) -> Option<&str> {
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return Some(principal);
    }
    principal.split(':').nth(4).filter(|a| !a.is_empty())
}

/// What an AWS resource policy opens: `Some("to everyone")`, `Some("to account X")`.
pub fn aws_policy_opens(policy: &Value, own_account: Option<&str>) -> Option<String> {
    let policy = match policy {
        Value::String(s) => serde_json::from_str::<Value>(s).ok()?,
        other => other.clone(),
    };
    for st in as_list(policy.get("Statement")?) {
        let allow = st
            .get("Effect")
            .and_then(Value::as_str)
            .is_some_and(|e| e.eq_ignore_ascii_case("allow"));
        if !allow || !grants_values(st.get("Action").unwrap_or(&Value::Null)) {
            continue;
        }
        let narrowed = st
            .get("Condition")
            .and_then(Value::as_object)
            .is_some_and(|ops| {
                ops.values().filter_map(Value::as_object).any(|keys| {
                    keys.keys()
                        .any(|k| NARROWING.contains(&k.to_ascii_lowercase().as_str()))
                })
            });
        for p in principals(st.get("Principal").unwrap_or(&Value::Null)) {
            if p == "*" {
                if !narrowed {
                    return Some("to everyone (principal *, no narrowing condition)".into());
                }
            } else if let Some(acct) = account_of(&p) {
                if own_account.is_some_and(|own| own != acct) {
                    return Some(format!("to account {acct}"));
                }
            }
        }
    }
    None
}

/// What a GCP IAM policy opens: a binding to every user.
pub fn gcp_policy_opens(policy: &Value) -> Option<String> {
    for b in as_list(policy.get("bindings")?) {
        for m in as_list(b.get("members").unwrap_or(&Value::Null)) {
            if let Some(m @ ("allUsers" | "allAuthenticatedUsers")) = m.as_str() {
                let role = b.get("role").and_then(Value::as_str).unwrap_or("a role");
                return Some(format!("to {m} ({role})"));
            }
        }
    }
    None
}

pub struct SecretSharedOutside {
    window: u32,
    groups: WindowedGroups,
}

impl SecretSharedOutside {
    pub fn new(cfg: &DetectConfig) -> Self {
        SecretSharedOutside {
            window: cfg.alert_window_minutes,
            groups: WindowedGroups::default(),
        }
    }
}

impl Detector for SecretSharedOutside {
    fn id(&self) -> &'static str {
        RULE
    }
    fn export_state(&self) -> Option<serde_json::Value> {
        self.groups.export()
    }
    fn import_state(&mut self, state: serde_json::Value) -> Result<(), String> {
        self.groups.import(state)
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        if ev.outcome != Outcome::Allowed {
            return;
        }
        let opened = match (ev.source, ev.raw_action.as_ref()) {
            (SourceSystem::Aws, "PutResourcePolicy") => {
                let Ok(raw) = serde_json::from_str::<Value>(&ev.raw) else {
                    return;
                };
                let Some(policy) = raw.pointer("/requestParameters/resourcePolicy") else {
                    return;
                };
                aws_policy_opens(policy, ev.target.namespace.as_deref())
            }
            (SourceSystem::Gcp, "SetIamPolicy") => {
                let Ok(raw) = serde_json::from_str::<Value>(&ev.raw) else {
                    return;
                };
                let Some(policy) = raw.pointer("/protoPayload/request/policy") else {
                    return;
                };
                gcp_policy_opens(policy)
            }
            _ => return,
        };
        let Some(opened) = opened else { return };
        let ws = window_start(ev.time, self.window);
        let group = format!(
            "{}\u{0}{}",
            ev.principal.name,
            crate::alert::target_label(ev)
        );
        if !self.groups.first_in_window(&group, ws) {
            return;
        }
        let reason = format!(
            "{} ({}) opened {} {opened} through its resource policy ({}) from {}",
            ev.principal.name,
            ev.principal.kind.as_str(),
            crate::alert::target_label(ev),
            ev.raw_action,
            ev.source_ips.first().unwrap_or("an unknown address"),
        );
        out.push(Alert::from_event(
            RULE,
            Severity::High,
            "Secret shared outside its account through its policy",
            &group,
            ws,
            ev,
            reason,
            &[
                "attack.exfiltration",
                "attack.t1537",
                "attack.credential-access",
            ],
        ));
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        self.groups.prune(now, self.window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn public_and_cross_account_grants_open_and_narrowed_ones_do_not() {
        let public = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]});
        assert!(aws_policy_opens(&public, Some("111122223333"))
            .unwrap()
            .contains("everyone"));
        // As CloudTrail often logs it: the policy as a JSON string, principal {"AWS": "*"}.
        let as_text = json!(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["secretsmanager:*"]}]}"#
        );
        assert!(aws_policy_opens(&as_text, Some("111122223333")).is_some());
        let other = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "secretsmanager:GetSecretValue"}]});
        assert_eq!(
            aws_policy_opens(&other, Some("111122223333")).as_deref(),
            Some("to account 444455556666")
        );
        // Narrowed to the organization or the VPC, inside the account, a deny, metadata only.
        for quiet in [
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}}]}),
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}}}]}),
            json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"}, "Action": "secretsmanager:GetSecretValue"}]}),
            json!({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "secretsmanager:GetSecretValue"}]}),
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:DescribeSecret"}]}),
        ] {
            assert_eq!(
                aws_policy_opens(&quiet, Some("111122223333")),
                None,
                "{quiet}"
            );
        }
        let gcp = json!({"bindings": [{"role": "roles/secretmanager.secretAccessor", "members": ["allUsers"]}]});
        assert!(gcp_policy_opens(&gcp).unwrap().contains("allUsers"));
        let gcp_quiet = json!({"bindings": [{"role": "roles/secretmanager.secretAccessor", "members": ["serviceAccount:app@p.iam.gserviceaccount.com"]}]});
        assert_eq!(gcp_policy_opens(&gcp_quiet), None);
    }

    #[test]
    fn a_put_resource_policy_record_alerts_through_the_parser() {
        use secretwatch_ingest::{Format, ParseOptions, Parsed, RecordParser};
        let record = |policy: &str, error: &str| {
            format!(
                r#"{{"eventVersion":"1.09","eventSource":"secretsmanager.amazonaws.com","eventName":"PutResourcePolicy","eventTime":"2026-11-03T10:00:00Z","eventID":"p1","awsRegion":"eu-west-1","recipientAccountId":"111122223333","sourceIPAddress":"203.0.113.5"{error},"userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333"}},"requestParameters":{{"secretId":"prod/db","resourcePolicy":{policy}}}}}"#
            )
        };
        let run = |text: String| {
            let opts = ParseOptions::default();
            let mut p = RecordParser::new(&opts, Format::Auto);
            let mut det = SecretSharedOutside::new(&DetectConfig::default());
            let mut out = vec![];
            p.parse(&text, &mut |r| {
                if let Parsed::Event(e) = r {
                    det.on_event(&e, &mut out);
                }
            });
            out
        };
        let public = serde_json::to_string(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#,
        )
        .unwrap();
        let a = run(record(&public, ""));
        assert_eq!(a.len(), 1, "{a:#?}");
        assert!(a[0].reason.contains("to everyone"), "{}", a[0].reason);
        assert!(run(record(&public, r#","errorCode":"AccessDeniedException""#)).is_empty());
        let org = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}"#;
        assert!(run(record(org, "")).is_empty());
    }
}
