//! Kubernetes identities as they appear in the `user` object of audit events.

use serde::Serialize;
use serde_json::value::RawValue;

pub const SA_PREFIX: &str = "system:serviceaccount:";

/// One authenticated identity as it appears in Kubernetes audit events.
#[derive(Debug, Clone)]
pub struct Principal {
    pub username: String,
    /// The `user` object, serialised once.
    pub user: Box<RawValue>,
    pub ip: String,
    pub ua: String,
    /// `authorization.k8s.io/reason` of its allowed requests.
    pub reason: String,
}

/// Claims of a pod-bound service-account token, shown in `user.extra`.
#[derive(Debug, Clone)]
pub struct Binding {
    pub pod: String,
    pub pod_uid: String,
    pub node: String,
    pub node_uid: String,
    pub jti: String,
}

#[derive(Serialize)]
struct UserInfo<'a> {
    username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a str>,
    groups: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    extra: Option<Extra<'a>>,
}

#[derive(Serialize)]
struct Extra<'a> {
    #[serde(rename = "authentication.kubernetes.io/credential-id")]
    credential_id: [String; 1],
    #[serde(rename = "authentication.kubernetes.io/node-name")]
    node_name: [&'a str; 1],
    #[serde(rename = "authentication.kubernetes.io/node-uid")]
    node_uid: [&'a str; 1],
    #[serde(rename = "authentication.kubernetes.io/pod-name")]
    pod_name: [&'a str; 1],
    #[serde(rename = "authentication.kubernetes.io/pod-uid")]
    pod_uid: [&'a str; 1],
}

/// Serialises a Kubernetes `UserInfo` once.
pub fn user_json(
    username: &str,
    uid: Option<&str>,
    groups: &[String],
    binding: Option<&Binding>,
) -> Box<RawValue> {
    let info = UserInfo {
        username,
        uid,
        groups,
        extra: binding.map(|b| Extra {
            credential_id: [format!("JTI={}", b.jti)],
            node_name: [&b.node],
            node_uid: [&b.node_uid],
            pod_name: [&b.pod],
            pod_uid: [&b.pod_uid],
        }),
    };
    let s = serde_json::to_string(&info).expect("UserInfo has only string keys");
    RawValue::from_string(s).expect("serde_json output is valid JSON")
}

impl Principal {
    pub fn new(
        username: &str,
        uid: Option<&str>,
        groups: &[&str],
        ip: &str,
        ua: &str,
        reason: &str,
    ) -> Self {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        Principal {
            username: username.to_string(),
            user: user_json(username, uid, &groups, None),
            ip: ip.to_string(),
            ua: ua.to_string(),
            reason: reason.to_string(),
        }
    }

    /// A service account, optionally with a pod-bound token.
    pub fn service_account(
        ns: &str,
        name: &str,
        uid: &str,
        binding: Option<&Binding>,
        ip: &str,
        ua: &str,
        reason: &str,
    ) -> Self {
        let username = format!("{SA_PREFIX}{ns}:{name}");
        let groups = sa_groups(ns);
        Principal {
            user: user_json(&username, Some(uid), &groups, binding),
            username,
            ip: ip.to_string(),
            ua: ua.to_string(),
            reason: reason.to_string(),
        }
    }
}

pub fn sa_groups(ns: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{ns}"),
        "system:authenticated".to_string(),
    ]
}

/// The `uid` inside a principal's serialised user object.
pub fn sa_uid_of(p: &Principal) -> String {
    serde_json::from_str::<serde_json::Value>(p.user.get())
        .ok()
        .and_then(|v| v.get("uid").and_then(|u| u.as_str()).map(str::to_string))
        .unwrap_or_default()
}
