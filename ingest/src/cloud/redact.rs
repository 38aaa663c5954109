//! Redaction of cloud secrets-manager records: secret values (CloudTrail `secretString` /
//! `secretBinary` and `GetSecretValue` responses, GCP `payload.data`, Azure `value`), request
//! headers that carry credentials, and whatever [`crate::redact`] recognizes as a token.

use serde_json::Value;

use crate::event::Redactions;
use crate::redact::{redact_all_strings, redact_credentials, redact_uri};

/// What AWS writes instead of a secret value in `requestParameters`: not a value, kept as is.
pub const AWS_HIDDEN: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// Header names whose values are credentials, wherever a record keeps headers.
const HEADER_KEYS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-ms-authorization-auxiliary",
    "cookie",
    "set-cookie",
    "x-amz-security-token",
    "x-goog-iam-authorization-token",
    "x-vault-token",
];

/// Keys of a `GetSecretValue` response that name the secret rather than hold its value.
const RESPONSE_NAME_KEYS: &[&str] = &[
    "arn",
    "name",
    "versionid",
    "versionstages",
    "createddate",
    "secretid",
];

fn key_in(k: &str, list: &[&str]) -> bool {
    list.iter().any(|c| k.eq_ignore_ascii_case(c))
}

/// Replace every value under keys named like a secret value (`secretString`, `value`...).
fn redact_value_keys(v: &mut Value, keys: &[&str], flags: &mut Redactions) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if key_in(k, keys) {
                    let hidden = child.as_str() == Some(AWS_HIDDEN);
                    if !hidden && redact_all_strings(child) {
                        flags.insert(Redactions::SECRET_BODY);
                    }
                } else {
                    redact_value_keys(child, keys, flags);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_value_keys(x, keys, flags)),
        _ => {}
    }
}

/// Headers anywhere, by name (`Authorization`, cookies, session tokens).
fn redact_headers(v: &mut Value, flags: &mut Redactions) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if key_in(k, HEADER_KEYS) {
                    if redact_all_strings(child) {
                        flags.insert(Redactions::HEADER);
                    }
                } else {
                    redact_headers(child, flags);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_headers(x, flags)),
        _ => {}
    }
}

/// Keep only the names of a value-read response (ARN, name, version); every other string goes.
fn allowlist_response(v: &mut Value, flags: &mut Redactions) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                let scalar_names = match child {
                    Value::Array(a) => a.iter().all(|x| !x.is_object() && !x.is_array()),
                    Value::Object(_) => false,
                    _ => true,
                };
                if key_in(k, RESPONSE_NAME_KEYS) && scalar_names {
                    continue;
                }
                match child {
                    Value::Object(_) | Value::Array(_) => allowlist_response(child, flags),
                    _ => {
                        if redact_all_strings(child) {
                            flags.insert(Redactions::SECRET_BODY);
                        }
                    }
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| allowlist_response(x, flags)),
        other => {
            if redact_all_strings(other) {
                flags.insert(Redactions::SECRET_BODY);
            }
        }
    }
}

fn common(v: &mut Value, flags: &mut Redactions) {
    redact_headers(v, flags);
    redact_credentials(v, flags);
}

/// A CloudTrail record (of any event source).
pub fn redact_cloudtrail(v: &mut Value) -> Redactions {
    let mut flags = Redactions::default();
    redact_value_keys(
        v,
        &["secretString", "secretBinary", "secretValue"],
        &mut flags,
    );
    let reads_value = matches!(
        v.get("eventName").and_then(Value::as_str),
        Some("GetSecretValue" | "BatchGetSecretValue")
    );
    if reads_value {
        if let Some(resp) = v.get_mut("responseElements") {
            if !resp.is_null() {
                allowlist_response(resp, &mut flags);
            }
        }
    }
    common(v, &mut flags);
    flags
}

/// A Cloud Audit Log entry (`protoPayload` with `request` / `response`).
pub fn redact_gcp(v: &mut Value) -> Redactions {
    let mut flags = Redactions::default();
    // AccessSecretVersionResponse / AddSecretVersionRequest: `payload.data` (base64).
    redact_value_keys(v, &["payload", "secretData"], &mut flags);
    common(v, &mut flags);
    flags
}

/// An Azure resource-log record (Key Vault `AuditEvent`).
pub fn redact_azure(v: &mut Value) -> Redactions {
    let mut flags = Redactions::default();
    if let Some(props) = v.get_mut("properties") {
        redact_value_keys(props, &["value", "secretValue"], &mut flags);
    }
    for p in ["/properties/requestUri", "/properties/id"] {
        if let Some(Value::String(uri)) = v.pointer_mut(p) {
            if let Some(clean) = redact_uri(uri) {
                *uri = clean;
                flags.insert(Redactions::URI_CREDENTIAL);
            }
        }
    }
    common(v, &mut flags);
    flags
}

/// A record of unknown shape (dead-letter): every cloud rule that can apply.
pub fn redact_any_cloud(v: &mut Value) -> Redactions {
    let mut flags = Redactions::default();
    if v.get("eventName").is_some() || v.get("Records").is_some() {
        flags.insert(redact_cloudtrail(v));
    }
    if let Some(Value::Array(records)) = v.get_mut("Records") {
        for r in records {
            flags.insert(redact_cloudtrail(r));
        }
    }
    redact_value_keys(
        v,
        &[
            "secretString",
            "secretBinary",
            "secretValue",
            "payload",
            "value",
        ],
        &mut flags,
    );
    common(v, &mut flags);
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cloudtrail_values_go_hidden_marker_stays() {
        let mut v = json!({"eventName": "PutSecretValue",
            "requestParameters": {"secretId": "db", "secretString": "canary-pw", "secretBinary": "Y2FuYXJ5"}});
        let f = redact_cloudtrail(&mut v);
        assert!(f.contains(Redactions::SECRET_BODY));
        assert_eq!(v["requestParameters"]["secretString"], json!("[REDACTED]"));
        assert_eq!(v["requestParameters"]["secretId"], json!("db"));
        let mut v = json!({"eventName": "CreateSecret",
            "requestParameters": {"name": "db", "secretString": AWS_HIDDEN}});
        assert!(redact_cloudtrail(&mut v).is_empty());
        assert_eq!(v["requestParameters"]["secretString"], json!(AWS_HIDDEN));
    }

    #[test]
    fn get_secret_value_response_keeps_only_names() {
        let mut v = json!({"eventName": "BatchGetSecretValue", "responseElements": {
            "secretValues": [{"aRN": "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf", "name": "db",
                "SecretString": "canary-1", "versionStages": ["AWSCURRENT"], "extra": "canary-2"}]}});
        let f = redact_cloudtrail(&mut v);
        let t = v.to_string();
        assert!(!t.contains("canary-1") && !t.contains("canary-2"), "{t}");
        assert!(t.contains("AWSCURRENT") && t.contains("db-AbCdEf"), "{t}");
        assert!(f.contains(Redactions::SECRET_BODY));
    }

    #[test]
    fn gcp_payload_azure_value_and_headers() {
        let mut v = json!({"protoPayload": {"response": {"payload": {"data": "Y2FuYXJ5", "dataCrc32c": "1"}},
            "requestMetadata": {"requestAttributes": {"headers": {"Authorization": "Bearer abc"}}}}});
        let f = redact_gcp(&mut v);
        assert!(!v.to_string().contains("Y2FuYXJ5") && !v.to_string().contains("Bearer abc"));
        assert!(f.contains(Redactions::SECRET_BODY) && f.contains(Redactions::HEADER));
        let mut v = json!({"properties": {"value": "canary", "requestUri": "https://kv.vault.azure.net/secrets/x?api-version=7.4&access_token=abc"}});
        let f = redact_azure(&mut v);
        assert_eq!(v["properties"]["value"], json!("[REDACTED]"));
        assert!(!v.to_string().contains("access_token=abc"));
        assert!(f.contains(Redactions::URI_CREDENTIAL));
    }
}
