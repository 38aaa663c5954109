//! Vault file audit device entries: a `request` and a `response` line per call, same `request.id`.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use crate::rng::{between, uuid};
use crate::sink::Rec;
use crate::timefmt::{nanos, seconds, MS, SEC};
use crate::vault_ident::{Login, MountKind, VaultIdent};
use crate::world::World;

/// Error of a denied request entry.
pub const DENIED: &str = "permission denied";
/// Error of a denied response entry (a go-multierror).
pub const DENIED_MULTI: &str = "1 error occurred:\n\t* permission denied\n\n";

/// A token handed out of band (root token, admin token, a stolen token).
#[derive(Debug, Clone)]
pub struct Token {
    pub token: String,
    pub accessor: String,
    pub issued: i64,
}

#[derive(Debug, Clone)]
pub enum TokenSrc {
    /// The identity's current token (one per TTL epoch), logged in automatically before first use.
    Epoch,
    Fixed(Token),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Authenticated request.
    Normal,
    /// Unauthenticated request (e.g. `auth/oidc/oidc/auth_url`).
    Unauth,
    /// Login: unauthenticated request whose response carries the new token.
    Login,
}

/// One Vault API call, serialised by [`finalize`] into a request and a response entry.
#[derive(Debug, Clone)]
pub struct VaultCall {
    pub t: i64,
    pub id: String,
    pub ident: usize,
    /// Token holder instance (e.g. the pod), so replicas hold different tokens.
    pub instance: u32,
    pub token: TokenSrc,
    pub kind: CallKind,
    pub operation: &'static str,
    pub mount: MountKind,
    pub path: String,
    pub remote: String,
    pub port: u16,
    /// Request data (already HMAC'd).
    pub req_data: Option<Value>,
    /// Response data (already HMAC'd).
    pub resp_data: Option<Value>,
    /// Lease id and duration of a dynamic secret.
    pub lease: Option<(String, i64)>,
    pub denied: bool,
    pub latency: i64,
}

impl VaultCall {
    pub fn new(
        rng: &mut impl Rng,
        t: i64,
        ident: usize,
        operation: &'static str,
        mount: MountKind,
        path: impl Into<String>,
        remote: &str,
    ) -> Self {
        VaultCall {
            t,
            id: uuid(rng),
            ident,
            instance: 0,
            token: TokenSrc::Epoch,
            kind: CallKind::Normal,
            operation,
            mount,
            path: path.into(),
            remote: remote.to_string(),
            port: rng.random_range(32768..61000),
            req_data: None,
            resp_data: None,
            lease: None,
            denied: false,
            latency: between(rng, MS, 9 * MS) + rng.random_range(0..1000),
        }
    }

    pub fn instance(mut self, i: u32) -> Self {
        self.instance = i;
        self
    }

    pub fn token(mut self, token: Token) -> Self {
        self.token = TokenSrc::Fixed(token);
        self
    }

    pub fn kind(mut self, kind: CallKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn req_data(mut self, v: Value) -> Self {
        self.req_data = Some(v);
        self
    }

    pub fn resp_data(mut self, v: Value) -> Self {
        self.resp_data = Some(v);
        self
    }

    pub fn lease(mut self, id: String, ttl: i64) -> Self {
        self.lease = Some((id, ttl));
        self
    }

    pub fn denied(mut self) -> Self {
        self.denied = true;
        self
    }
}

/// KV v2 response data of a read: the secret's keys (values HMAC'd) and its metadata.
pub fn kv_read_data(world: &World, fields: &[(&str, String)], version: u32, created: i64) -> Value {
    let data: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
        .collect();
    world.salt.hmac_value(json!({
        "data": data,
        "metadata": {
            "created_time": nanos(created),
            "custom_metadata": null,
            "deletion_time": "",
            "destroyed": false,
            "version": version,
        }
    }))
}

/// KV v2 response data of a write.
pub fn kv_write_data(world: &World, version: u32, created: i64) -> Value {
    world.salt.hmac_value(json!({
        "created_time": nanos(created),
        "custom_metadata": null,
        "deletion_time": "",
        "destroyed": false,
        "version": version,
    }))
}

/// Logins already emitted, per (identity, instance, epoch), with their time; kept across days.
#[derive(Debug, Default)]
pub struct LoginState {
    logins: BTreeMap<(usize, u32, i64), i64>,
    done: BTreeSet<(usize, u32, i64)>,
}

fn epoch_of(ident: &VaultIdent, t: i64) -> i64 {
    if ident.ttl_secs <= 0 {
        return 0;
    }
    (t - ident.epoch_offset).div_euclid(ident.ttl_secs * SEC)
}

/// Adds the logins the day's calls need, then serialises every call into request and response lines.
pub fn finalize(
    world: &World,
    state: &mut LoginState,
    rng: &mut impl Rng,
    mut calls: Vec<VaultCall>,
    mut next_seq: impl FnMut() -> u64,
) -> Vec<Rec> {
    let mut first_use: BTreeMap<(usize, u32, i64), (i64, String)> = BTreeMap::new();
    for c in &calls {
        let ident = &world.idents[c.ident];
        if c.kind != CallKind::Normal
            || !matches!(c.token, TokenSrc::Epoch)
            || ident.login == Login::None
        {
            continue;
        }
        let key = (c.ident, c.instance, epoch_of(ident, c.t));
        let e = first_use.entry(key).or_insert((c.t, c.remote.clone()));
        if c.t < e.0 {
            *e = (c.t, c.remote.clone());
        }
    }
    for (key, (t, remote)) in first_use {
        if state.done.contains(&key) {
            continue;
        }
        state.done.insert(key);
        let ident = &world.idents[key.0];
        let epoch_start = ident.epoch_offset + key.2 * ident.ttl_secs * SEC;
        let login_t = (t - between(rng, 40 * MS, 1500 * MS))
            .max(epoch_start)
            .min(t);
        state.logins.insert(key, login_t);
        calls.extend(login_calls(world, rng, key.0, key.1, login_t, &remote));
    }
    let mut out = Vec::with_capacity(calls.len() * 2);
    for c in &calls {
        let (req_line, resp_line) = serialise(world, state, c);
        out.push(Rec {
            t: c.t,
            seq: next_seq(),
            line: req_line,
        });
        out.push(Rec {
            t: c.t + c.latency,
            seq: next_seq(),
            line: resp_line,
        });
    }
    out
}

fn login_calls(
    world: &World,
    rng: &mut impl Rng,
    ident: usize,
    instance: u32,
    t: i64,
    remote: &str,
) -> Vec<VaultCall> {
    let id = &world.idents[ident];
    match &id.login {
        Login::Kubernetes { role } => vec![VaultCall::new(
            rng,
            t,
            ident,
            "update",
            MountKind::Kubernetes,
            "auth/kubernetes/login",
            remote,
        )
        .instance(instance)
        .kind(CallKind::Login)
        .req_data(world.salt.hmac_value(
            json!({"jwt": format!("eyJhbGciOiJSUzI1NiJ9.{ident}.{instance}.{t}"), "role": role}),
        ))],
        Login::AppRole => {
            vec![VaultCall::new(
                rng,
                t,
                ident,
                "update",
                MountKind::AppRole,
                "auth/approle/login",
                remote,
            )
            .instance(instance)
            .kind(CallKind::Login)
            .req_data(world.salt.hmac_value(
                json!({"role_id": "7b1d2a63-rotator", "secret_id": format!("secret-{t}")}),
            ))]
        }
        Login::Oidc => {
            let start = t - between(rng, 4 * SEC, 25 * SEC);
            vec![
                VaultCall::new(rng, start, ident, "update", MountKind::Oidc, "auth/oidc/oidc/auth_url", remote)
                    .instance(instance)
                    .kind(CallKind::Unauth)
                    .req_data(world.salt.hmac_value(json!({"redirect_uri": "https://vault.example.com/ui/vault/auth/oidc/oidc/callback", "role": "default"}))),
                VaultCall::new(rng, t, ident, "read", MountKind::Oidc, "auth/oidc/oidc/callback", remote)
                    .instance(instance)
                    .kind(CallKind::Login)
                    .req_data(world.salt.hmac_value(json!({"code": format!("code-{t}"), "state": format!("st_{ident}_{t}")}))),
            ]
        }
        Login::None => Vec::new(),
    }
}

struct Meta<'a>(&'a [(String, String)]);

impl Serialize for Meta<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Granting<'a> {
    name: &'a str,
    namespace_id: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct PolicyResults<'a> {
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    granting_policies: Option<[Granting<'a>; 1]>,
}

#[derive(Serialize)]
struct AuthOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accessor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policies: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_policies: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_results: Option<PolicyResults<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Meta<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_id: Option<&'a str>,
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_ttl: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_issue_time: Option<&'a str>,
}

#[derive(Serialize)]
struct NamespaceOut {
    id: &'static str,
}

#[derive(Serialize)]
struct RequestOut<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    operation: &'a str,
    mount_point: &'a str,
    mount_type: &'a str,
    mount_accessor: &'a str,
    mount_running_version: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    mount_class: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_token_accessor: Option<&'a str>,
    namespace: NamespaceOut,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    remote_address: &'a str,
    remote_port: u16,
}

#[derive(Serialize)]
struct SecretOut<'a> {
    lease_id: &'a str,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AuthOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<SecretOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    mount_point: &'a str,
    mount_type: &'a str,
    mount_accessor: &'a str,
    mount_running_plugin_version: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    mount_class: &'a str,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    time: String,
    #[serde(rename = "type")]
    kind: &'static str,
    auth: &'a AuthOut<'a>,
    request: &'a RequestOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<&'a ResponseOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

struct Hashed {
    token: String,
    accessor: String,
    issued: String,
}

fn hashed_token(world: &World, state: &LoginState, c: &VaultCall) -> Hashed {
    match &c.token {
        TokenSrc::Fixed(tok) => Hashed {
            token: world.salt.hmac(&tok.token),
            accessor: world.salt.hmac(&tok.accessor),
            issued: seconds(tok.issued),
        },
        TokenSrc::Epoch => {
            let ident = &world.idents[c.ident];
            let epoch = epoch_of(ident, c.t);
            let key = (c.ident, c.instance, epoch);
            let issued = state
                .logins
                .get(&key)
                .copied()
                .unwrap_or(ident.epoch_offset + epoch * ident.ttl_secs * SEC);
            Hashed {
                token: world
                    .salt
                    .hmac(&format!("hvs.token.{}.{}.{}", c.ident, c.instance, epoch)),
                accessor: world
                    .salt
                    .hmac(&format!("accessor.{}.{}.{}", c.ident, c.instance, epoch)),
                issued: seconds(issued),
            }
        }
    }
}

fn full_auth<'a>(
    ident: &'a VaultIdent,
    h: &'a Hashed,
    results: Option<PolicyResults<'a>>,
    with_issue: bool,
) -> AuthOut<'a> {
    let ttl = (ident.ttl_secs > 0).then_some(ident.ttl_secs);
    AuthOut {
        client_token: Some(&h.token),
        accessor: Some(&h.accessor),
        display_name: Some(&ident.display_name),
        policies: Some(&ident.policies),
        token_policies: Some(&ident.policies),
        policy_results: results,
        metadata: (!ident.metadata.is_empty()).then_some(Meta(&ident.metadata)),
        entity_id: (!ident.entity_id.is_empty()).then_some(ident.entity_id.as_str()),
        token_type: "service",
        token_ttl: ttl,
        token_issue_time: with_issue.then_some(h.issued.as_str()),
    }
}

fn serialise(world: &World, state: &LoginState, c: &VaultCall) -> (String, String) {
    let ident = &world.idents[c.ident];
    let mount = world.mount(c.mount);
    let h = hashed_token(world, state, c);
    let authenticated = c.kind == CallKind::Normal;
    let results = if c.denied {
        PolicyResults {
            allowed: false,
            granting_policies: None,
        }
    } else {
        PolicyResults {
            allowed: true,
            granting_policies: authenticated.then(|| {
                [Granting {
                    name: ident
                        .policies
                        .last()
                        .map(String::as_str)
                        .unwrap_or("default"),
                    namespace_id: "root",
                    kind: "acl",
                }]
            }),
        }
    };
    let auth = if authenticated {
        full_auth(ident, &h, Some(results), true)
    } else {
        AuthOut {
            client_token: None,
            accessor: None,
            display_name: None,
            policies: None,
            token_policies: None,
            policy_results: Some(results),
            metadata: None,
            entity_id: None,
            token_type: "default",
            token_ttl: None,
            token_issue_time: None,
        }
    };
    let request = RequestOut {
        id: &c.id,
        client_id: (authenticated && !ident.entity_id.is_empty())
            .then_some(ident.entity_id.as_str()),
        operation: c.operation,
        mount_point: mount.point,
        mount_type: mount.mount_type,
        mount_accessor: &mount.accessor,
        mount_running_version: mount.version,
        mount_class: mount.class,
        client_token: authenticated.then_some(h.token.as_str()),
        client_token_accessor: authenticated.then_some(h.accessor.as_str()),
        namespace: NamespaceOut { id: "root" },
        path: &c.path,
        data: c.req_data.as_ref(),
        remote_address: &c.remote,
        remote_port: c.port,
    };
    let req_entry = EntryOut {
        time: nanos(c.t),
        kind: "request",
        auth: &auth,
        request: &request,
        response: None,
        error: c.denied.then_some(DENIED),
    };
    let login_auth =
        (c.kind == CallKind::Login && !c.denied).then(|| full_auth(ident, &h, None, false));
    let response = ResponseOut {
        auth: login_auth,
        secret: c
            .lease
            .as_ref()
            .filter(|_| !c.denied)
            .map(|(id, _)| SecretOut { lease_id: id }),
        data: if c.denied { None } else { c.resp_data.as_ref() },
        mount_point: mount.point,
        mount_type: mount.mount_type,
        mount_accessor: &mount.accessor,
        mount_running_plugin_version: mount.version,
        mount_class: mount.class,
    };
    let resp_entry = EntryOut {
        time: nanos(c.t + c.latency),
        kind: "response",
        auth: &auth,
        request: &request,
        response: Some(&response),
        error: c.denied.then_some(DENIED_MULTI),
    };
    (to_line(&req_entry), to_line(&resp_entry))
}

fn to_line<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("audit entries have only string map keys")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::sub_rng;

    #[test]
    fn login_inserted_once_and_pairs_share_ids() {
        let world = World::build(1);
        let mut state = LoginState::default();
        let mut rng = sub_rng(1, "v", 0);
        let ident = world.app_ident(2, 0);
        let t0 = 1_793_577_600 * SEC + 10 * 3600 * SEC;
        let calls = vec![
            VaultCall::new(
                &mut rng,
                t0,
                ident,
                "read",
                MountKind::Kv,
                "secret/data/prod/payments/db-credentials",
                "10.42.1.10",
            ),
            VaultCall::new(
                &mut rng,
                t0 + SEC,
                ident,
                "read",
                MountKind::Kv,
                "secret/data/prod/payments/api-keys",
                "10.42.1.10",
            ),
        ];
        let mut seq = 0;
        let recs = finalize(&world, &mut state, &mut rng, calls, || {
            seq += 1;
            seq
        });
        assert_eq!(recs.len(), 6);
        let vals: Vec<Value> = recs
            .iter()
            .map(|r| serde_json::from_str(&r.line).unwrap())
            .collect();
        let logins: Vec<&Value> = vals
            .iter()
            .filter(|v| v["request"]["path"] == "auth/kubernetes/login")
            .collect();
        assert_eq!(logins.len(), 2);
        let resp = logins.iter().find(|v| v["type"] == "response").unwrap();
        let issued = resp["response"]["auth"]["client_token"].as_str().unwrap();
        assert!(issued.starts_with("hmac-sha256:"));
        let read = vals
            .iter()
            .find(|v| v["request"]["path"] == "secret/data/prod/payments/api-keys")
            .unwrap();
        assert_eq!(read["auth"]["client_token"].as_str(), Some(issued));
        assert_eq!(read["auth"]["display_name"], "kubernetes-prod-payments");
        assert_eq!(
            read["auth"]["metadata"]["service_account_namespace"],
            "prod"
        );
        assert_eq!(read["request"]["namespace"]["id"], "root");
        for pair in vals.chunks(2) {
            assert_eq!(pair[0]["type"], "request");
            assert_eq!(pair[1]["type"], "response");
            assert_eq!(pair[0]["request"]["id"], pair[1]["request"]["id"]);
        }
    }
}
