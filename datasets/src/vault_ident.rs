//! Vault mounts and identities.

use rand::Rng;

use crate::rng::hex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Kv,
    Sys,
    Kubernetes,
    Oidc,
    AppRole,
    Token,
    Database,
}

#[derive(Debug, Clone)]
pub struct Mount {
    pub kind: MountKind,
    pub point: &'static str,
    pub mount_type: &'static str,
    pub class: &'static str,
    pub version: &'static str,
    pub accessor: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Kubernetes {
        role: String,
    },
    Oidc,
    AppRole,
    /// Tokens minted out of band (root, admin tokens): no login traffic.
    None,
}

/// One Vault identity (entity) and how it authenticates.
#[derive(Debug, Clone)]
pub struct VaultIdent {
    pub display_name: String,
    pub policies: Vec<String>,
    /// Token metadata, sorted by key.
    pub metadata: Vec<(String, String)>,
    pub entity_id: String,
    pub ttl_secs: i64,
    pub login: Login,
    /// Shifts the identity's token epochs so that logins are not aligned on the hour.
    pub epoch_offset: i64,
    pub env: Option<usize>,
    pub kind: &'static str,
}

pub fn k8s_auth_metadata(role: &str, sa: &str, ns: &str, sa_uid: &str) -> Vec<(String, String)> {
    vec![
        ("role".to_string(), role.to_string()),
        ("service_account_name".to_string(), sa.to_string()),
        ("service_account_namespace".to_string(), ns.to_string()),
        ("service_account_secret_name".to_string(), String::new()),
        ("service_account_uid".to_string(), sa_uid.to_string()),
    ]
}

/// The mounts of the simulated Vault, with random accessors.
pub fn mounts(rng: &mut impl Rng) -> Vec<Mount> {
    [
        (MountKind::Kv, "secret/", "kv", "secret", "v0.20.0+builtin"),
        (
            MountKind::Sys,
            "sys/",
            "system",
            "",
            "v1.17.6+builtin.vault",
        ),
        (
            MountKind::Kubernetes,
            "auth/kubernetes/",
            "kubernetes",
            "auth",
            "v0.19.0+builtin",
        ),
        (
            MountKind::Oidc,
            "auth/oidc/",
            "oidc",
            "auth",
            "v0.18.0+builtin",
        ),
        (
            MountKind::AppRole,
            "auth/approle/",
            "approle",
            "auth",
            "v1.17.6+builtin.vault",
        ),
        (
            MountKind::Token,
            "auth/token/",
            "token",
            "auth",
            "v1.17.6+builtin.vault",
        ),
        (
            MountKind::Database,
            "database/",
            "database",
            "secret",
            "v1.17.6+builtin.vault",
        ),
    ]
    .into_iter()
    .map(|(kind, point, mount_type, class, version)| {
        let b: [u8; 4] = rng.random();
        Mount {
            kind,
            point,
            mount_type,
            class,
            version,
            accessor: format!("{mount_type}_{}", hex(&b)),
        }
    })
    .collect()
}
