//! The `[detect.context]` section: what the context detections know about the world
//! (environments, operators, cluster networks, teams and their hours, Vault-to-Kubernetes sync).
//!
//! Every key is optional; a detection whose reference data is empty is not built (see
//! [`crate::context::detectors`]).
//!
//! ```toml
//! [detect.context]
//! environments = { dev = "dev", staging = "staging", prod = "prod" }
//! cloud_environments = { "111122223333" = "prod", "contoso-prod-kv" = "prod" }
//! production_environments = ["prod", "production"]
//! multi_namespace_readers = ["system:serviceaccount:external-secrets:external-secrets"]
//! cluster_cidrs = ["10.42.0.0/16", "10.43.0.0/16", "10.0.0.0/24"]
//! default_team = "sre"
//!
//! [[detect.context.vault_environments]]
//! prefix = "secret/data/"        # the environment is the first segment after the prefix
//! [[detect.context.vault_environments]]
//! prefix = "secret/metadata/"
//! [[detect.context.vault_environments]]
//! prefix = "database/creds/prod-"  # every path under it is prod
//! environment = "prod"
//!
//! [[detect.context.teams]]
//! name = "sre"
//! members = ["oidc:alice@example.com", "oidc-alice"]
//! timezone = "Europe/Berlin"
//! work_days = ["Mon", "Tue", "Wed", "Thu", "Fri"]
//! work_start = "09:00"
//! work_end = "18:00"
//! holidays = ["2026-12-24", "2026-12-25"]
//!
//! [[detect.context.sync]]
//! vault_path = "secret/data/prod/payments/db"
//! namespace = "prod"
//! secret = "payments-db"
//! sync_identity = "system:serviceaccount:external-secrets:external-secrets"
//! sla_minutes = 15
//! workloads = ["payments"]
//! restart_sla_minutes = 15
//! ```

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Prefix of every key this section reports in [`ContextConfig::validate`].
pub const KEY_PREFIX: &str = "detect.context";

/// Reference data of the context detections.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContextConfig {
    /// Kubernetes namespace -> environment name (`prod = "prod"`, `payments-prod = "prod"`).
    /// Namespaces not listed have no environment: cross-environment checks skip them.
    #[serde(default)]
    pub environments: BTreeMap<String, String>,
    /// How Vault paths name their environment; the first rule whose prefix matches decides.
    /// Default: the first segment after `secret/data/` or `secret/metadata/` (KV v2 at `secret/`).
    #[serde(default = "default_vault_environments")]
    pub vault_environments: Vec<VaultEnvironmentRule>,
    /// Cloud secret stores -> environment name, by the AWS account id, Azure Key Vault name or
    /// GCP project id that holds the secret (`target.namespace` of their events):
    /// `{ "111122223333" = "prod", "contoso-prod-kv" = "prod", "acme-prod" = "prod" }`.
    /// Stores not listed have no environment.
    #[serde(default)]
    pub cloud_environments: BTreeMap<String, String>,
    /// Environments whose secrets are production (severity, off-hours reads).
    #[serde(default = "default_production")]
    pub production_environments: Vec<String>,
    /// Identities (Kubernetes usernames or Vault display names) allowed to read secrets across
    /// namespaces and environments: sync operators, cert-manager, CI deployers.
    #[serde(default)]
    pub multi_namespace_readers: Vec<String>,
    /// Pod, node and service networks of the cluster. Empty: `sa-token-outside-cluster` is off.
    #[serde(default)]
    pub cluster_cidrs: Vec<IpNet>,
    /// Teams with their members and working hours. Empty: `off-hours-human-prod-read` is off.
    #[serde(default)]
    pub teams: Vec<TeamConfig>,
    /// The team whose hours apply to humans listed in no team. Unset: those humans are skipped
    /// by the off-hours check (their hours are unknown; unknown identities are another rule's).
    #[serde(default)]
    pub default_team: Option<String>,
    /// Vault paths synced into Kubernetes Secrets. Empty: `rotation-sync-gap` is off.
    #[serde(default)]
    pub sync: Vec<SyncMapping>,
    /// Repeats of one rule and group within this window are one alert.
    #[serde(default = "default_window")]
    pub alert_window_minutes: u32,
    /// `missing-secret` alerts when a workload still fails to find a Secret this long after the
    /// first report (a Secret synced a few seconds after its pod starts is normal).
    #[serde(default = "default_missing_grace")]
    pub missing_secret_grace_minutes: u32,
    /// The most Kubernetes Secrets (cluster, namespace, name) the inventory keeps; past it the
    /// least recently seen go.
    #[serde(default = "default_inventory_max")]
    pub inventory_max_secrets: usize,
}

fn default_missing_grace() -> u32 {
    5
}

fn default_inventory_max() -> usize {
    crate::inventory::DEFAULT_MAX
}

/// Maps Vault paths under `prefix` to an environment.
///
/// With `environment` set, every path under the prefix is in that environment. Otherwise the
/// environment is path segment number `segment` after the prefix (0 = the first): with
/// `prefix = "secret/data/"`, `secret/data/prod/payments/db` is in `prod`. A segment that is not
/// a known environment name (a value of `environments`, a `production_environments` entry, or a
/// rule's fixed `environment`) gives no environment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VaultEnvironmentRule {
    /// Path prefix, without a leading slash (`secret/data/`).
    pub prefix: String,
    /// Segment after the prefix that names the environment.
    #[serde(default)]
    pub segment: usize,
    /// Fixed environment of every path under the prefix.
    #[serde(default)]
    pub environment: Option<String>,
}

/// A team and its working hours, in its own timezone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: String,
    /// Kubernetes usernames and Vault display names of the members.
    #[serde(default)]
    pub members: Vec<String>,
    /// IANA timezone (`Europe/Berlin`); hours follow its daylight saving time.
    pub timezone: String,
    /// `Mon` .. `Sun`.
    #[serde(default = "default_work_days")]
    pub work_days: Vec<String>,
    /// Local start of the working day, `HH:MM`.
    #[serde(default = "default_work_start")]
    pub work_start: String,
    /// Local end of the working day, `HH:MM`, after `work_start` (the end is outside hours).
    #[serde(default = "default_work_end")]
    pub work_end: String,
    /// Local days off, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Environments whose secrets the members may touch. Empty: not checked. Set: a member
    /// touching a secret of another environment raises `cross-environment-secret-access`.
    #[serde(default)]
    pub environments: Vec<String>,
}

/// One Vault secret synced into a Kubernetes Secret (External Secrets, Vault Secrets Operator).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyncMapping {
    /// Full Vault path as the audit log writes it (`secret/data/prod/payments/db` for KV v2).
    pub vault_path: String,
    pub namespace: String,
    /// Name of the Kubernetes Secret.
    pub secret: String,
    /// Kubernetes username of the sync operator that writes the Secret.
    pub sync_identity: String,
    /// The Secret must be updated this long after a Vault write.
    #[serde(default = "default_sla")]
    pub sla_minutes: u32,
    /// Deployments (in `namespace`) that must be restarted (patched or updated) after the sync.
    #[serde(default)]
    pub workloads: Vec<String>,
    /// Restart deadline after the sync; defaults to `sla_minutes`. Used only with `workloads`.
    #[serde(default)]
    pub restart_sla_minutes: Option<u32>,
}

fn default_vault_environments() -> Vec<VaultEnvironmentRule> {
    ["secret/data/", "secret/metadata/"]
        .into_iter()
        .map(|p| VaultEnvironmentRule {
            prefix: p.to_string(),
            segment: 0,
            environment: None,
        })
        .collect()
}

fn default_production() -> Vec<String> {
    vec!["prod".into(), "production".into()]
}

fn default_window() -> u32 {
    60
}

fn default_work_days() -> Vec<String> {
    ["Mon", "Tue", "Wed", "Thu", "Fri"]
        .into_iter()
        .map(String::from)
        .collect()
}

fn default_work_start() -> String {
    "09:00".into()
}

fn default_work_end() -> String {
    "18:00".into()
}

fn default_sla() -> u32 {
    15
}

/// The defaults, as an empty `[detect.context]` section gives them.
impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            environments: BTreeMap::new(),
            cloud_environments: BTreeMap::new(),
            vault_environments: default_vault_environments(),
            production_environments: default_production(),
            multi_namespace_readers: vec![],
            cluster_cidrs: vec![],
            teams: vec![],
            default_team: None,
            sync: vec![],
            alert_window_minutes: default_window(),
            missing_secret_grace_minutes: default_missing_grace(),
            inventory_max_secrets: default_inventory_max(),
        }
    }
}

impl ContextConfig {
    /// Every member of every team: the people the config names.
    pub fn team_members(&self) -> impl Iterator<Item = String> + '_ {
        self.teams.iter().flat_map(|t| t.members.iter().cloned())
    }

    /// Every problem at once, each naming its key (`detect.context.teams[1].timezone: ...`).
    pub fn validate(&self) -> Vec<String> {
        match crate::context::world::World::compile(self) {
            Ok(_) => vec![],
            Err(errs) => errs,
        }
    }
}

impl TeamConfig {
    /// A team with the default hours (Mon-Fri 09:00-18:00) in `timezone`.
    pub fn new(name: &str, timezone: &str, members: &[&str]) -> TeamConfig {
        TeamConfig {
            name: name.to_string(),
            members: members.iter().map(|m| m.to_string()).collect(),
            timezone: timezone.to_string(),
            work_days: default_work_days(),
            work_start: default_work_start(),
            work_end: default_work_end(),
            holidays: vec![],
            environments: vec![],
        }
    }
}

impl SyncMapping {
    /// A mapping with the default SLA and no restart check.
    pub fn new(vault_path: &str, namespace: &str, secret: &str, sync_identity: &str) -> Self {
        SyncMapping {
            vault_path: vault_path.to_string(),
            namespace: namespace.to_string(),
            secret: secret.to_string(),
            sync_identity: sync_identity.to_string(),
            sla_minutes: default_sla(),
            workloads: vec![],
            restart_sla_minutes: None,
        }
    }
}
