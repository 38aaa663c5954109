//! The validated, compiled form of [`ContextConfig`]: environment lookups, teams with parsed
//! timezones and hours, allowlists. Built once; detectors share it read-only.

use std::collections::{BTreeSet, HashMap, HashSet};

use ipnet::IpNet;
use secretwatch_ingest::{AccessEvent, PrincipalKind, SourceSystem};

use crate::context::config::{ContextConfig, SyncMapping, VaultEnvironmentRule, KEY_PREFIX};
use crate::context::hours::Team;

/// Longest alert window accepted (a week).
const MAX_WINDOW: u32 = 7 * 24 * 60;

/// Everything the context detections know, checked.
#[derive(Debug)]
pub struct World {
    namespace_env: HashMap<String, String>,
    cloud_env: HashMap<String, String>,
    vault_rules: Vec<VaultEnvironmentRule>,
    known_envs: BTreeSet<String>,
    production: BTreeSet<String>,
    multi_ns: HashSet<String>,
    /// Entries of `multi_namespace_readers` with a `*` (the catalogue's patterns).
    multi_ns_patterns: Vec<String>,
    pub cidrs: Vec<IpNet>,
    pub teams: Vec<Team>,
    members: HashMap<String, usize>,
    default_team: Option<usize>,
    pub sync: Vec<SyncMapping>,
    pub window: u32,
}

/// Collects problems, each prefixed with its full key.
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, key: &str, msg: impl std::fmt::Display) {
        self.0.push(format!("{KEY_PREFIX}.{key}: {msg}"));
    }
    fn empty_entries(&mut self, key: &str, list: &[String]) {
        for (i, s) in list.iter().enumerate() {
            if s.trim().is_empty() {
                self.push(&format!("{key}[{i}]"), "empty");
            }
        }
    }
}

impl World {
    /// Check and compile `cfg`, reporting every problem at once.
    pub fn compile(cfg: &ContextConfig) -> Result<World, Vec<String>> {
        let mut p = Problems(vec![]);
        if cfg.alert_window_minutes == 0 || cfg.alert_window_minutes > MAX_WINDOW {
            p.push(
                "alert_window_minutes",
                format!("must be between 1 and {MAX_WINDOW}"),
            );
        }
        for (ns, env) in &cfg.environments {
            if ns.trim().is_empty() {
                p.push("environments", "empty namespace name");
            }
            if env.trim().is_empty() {
                p.push(&format!("environments.{ns}"), "empty environment name");
            }
        }
        for (store, env) in &cfg.cloud_environments {
            if store.trim().is_empty() {
                p.push("cloud_environments", "empty account, vault or project name");
            }
            if env.trim().is_empty() {
                p.push(
                    &format!("cloud_environments.{store}"),
                    "empty environment name",
                );
            }
        }
        p.empty_entries("production_environments", &cfg.production_environments);
        p.empty_entries("multi_namespace_readers", &cfg.multi_namespace_readers);

        let mut known_envs: BTreeSet<String> = cfg.environments.values().cloned().collect();
        known_envs.extend(cfg.cloud_environments.values().cloned());
        known_envs.extend(cfg.production_environments.iter().cloned());
        for (i, r) in cfg.vault_environments.iter().enumerate() {
            let key = format!("vault_environments[{i}]");
            if r.prefix.trim().is_empty() {
                p.push(&format!("{key}.prefix"), "empty");
            } else if r.prefix.starts_with('/') {
                p.push(
                    &format!("{key}.prefix"),
                    "must not start with '/' (Vault audit paths have none)",
                );
            }
            if r.segment > 32 {
                p.push(&format!("{key}.segment"), "must be at most 32");
            }
            match &r.environment {
                Some(e) if e.trim().is_empty() => p.push(&format!("{key}.environment"), "empty"),
                Some(e) => {
                    known_envs.insert(e.clone());
                }
                None => {}
            }
        }
        known_envs.retain(|e| !e.trim().is_empty());

        let mut teams = vec![];
        let mut members: HashMap<String, usize> = HashMap::new();
        let mut team_names: HashMap<&str, usize> = HashMap::new();
        for (i, t) in cfg.teams.iter().enumerate() {
            let key = format!("teams[{i}]");
            if t.name.trim().is_empty() {
                p.push(&format!("{key}.name"), "empty");
            } else if let Some(j) = team_names.insert(t.name.as_str(), i) {
                p.push(
                    &format!("{key}.name"),
                    format!("team {:?} is also teams[{j}]", t.name),
                );
            }
            for (k, m) in t.members.iter().enumerate() {
                if m.trim().is_empty() {
                    p.push(&format!("{key}.members[{k}]"), "empty");
                } else if let Some(&j) = members.get(m.as_str()) {
                    p.push(
                        &format!("{key}.members[{k}]"),
                        format!(
                            "{m} is also a member of team {:?} (one team per identity)",
                            cfg.teams[j].name
                        ),
                    );
                } else {
                    members.insert(m.clone(), i);
                }
            }
            for (k, e) in t.environments.iter().enumerate() {
                if !known_envs.contains(e) {
                    p.push(
                        &format!("{key}.environments[{k}]"),
                        format!("unknown environment {e:?} (known: {})", list(&known_envs)),
                    );
                }
            }
            match Team::compile(t) {
                Ok(team) => teams.push(team),
                Err(errs) => {
                    for (field, msg) in errs {
                        p.push(&format!("{key}.{field}"), msg);
                    }
                }
            }
        }
        let default_team = match &cfg.default_team {
            None => None,
            Some(name) => {
                let found = cfg.teams.iter().position(|t| &t.name == name);
                if found.is_none() {
                    p.push("default_team", format!("no team is named {name:?}"));
                }
                found
            }
        };

        let mut seen_sync = HashSet::new();
        for (i, s) in cfg.sync.iter().enumerate() {
            let key = format!("sync[{i}]");
            for (field, v) in [
                ("vault_path", &s.vault_path),
                ("namespace", &s.namespace),
                ("secret", &s.secret),
                ("sync_identity", &s.sync_identity),
            ] {
                if v.trim().is_empty() {
                    p.push(&format!("{key}.{field}"), "empty");
                }
            }
            if s.vault_path.starts_with('/') {
                p.push(
                    &format!("{key}.vault_path"),
                    "must not start with '/' (Vault audit paths have none)",
                );
            }
            if s.sla_minutes == 0 || s.sla_minutes > MAX_WINDOW {
                p.push(
                    &format!("{key}.sla_minutes"),
                    format!("must be between 1 and {MAX_WINDOW}"),
                );
            }
            if let Some(r) = s.restart_sla_minutes {
                if r == 0 || r > MAX_WINDOW {
                    p.push(
                        &format!("{key}.restart_sla_minutes"),
                        format!("must be between 1 and {MAX_WINDOW}"),
                    );
                }
            }
            p.empty_entries(&format!("{key}.workloads"), &s.workloads);
            if !seen_sync.insert((&s.vault_path, &s.namespace, &s.secret)) {
                p.push(
                    &key,
                    format!(
                        "duplicate mapping {} -> {}/{}",
                        s.vault_path, s.namespace, s.secret
                    ),
                );
            }
        }

        if !p.0.is_empty() {
            return Err(p.0);
        }
        Ok(World {
            namespace_env: cfg
                .environments
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            cloud_env: cfg
                .cloud_environments
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            vault_rules: cfg.vault_environments.clone(),
            known_envs,
            production: cfg.production_environments.iter().cloned().collect(),
            multi_ns: cfg.multi_namespace_readers.iter().cloned().collect(),
            multi_ns_patterns: cfg
                .multi_namespace_readers
                .iter()
                .filter(|p| p.contains('*'))
                .cloned()
                .collect(),
            cidrs: cfg.cluster_cidrs.clone(),
            teams,
            members,
            default_team,
            sync: cfg.sync.clone(),
            window: cfg.alert_window_minutes,
        })
    }

    /// Environment of a Kubernetes namespace.
    pub fn namespace_env(&self, ns: &str) -> Option<&str> {
        self.namespace_env.get(ns).map(String::as_str)
    }

    /// Environment of a Vault path, by the first rule whose prefix matches.
    pub fn vault_env(&self, path: &str) -> Option<&str> {
        let path = path.trim_start_matches('/');
        let rule = self
            .vault_rules
            .iter()
            .find(|r| path.starts_with(r.prefix.as_str()))?;
        if let Some(e) = &rule.environment {
            return Some(e.as_str());
        }
        let seg = path[rule.prefix.len()..]
            .trim_start_matches('/')
            .split('/')
            .nth(rule.segment)?;
        self.known_envs.get(seg).map(String::as_str)
    }

    /// Environment of what an event touched: the namespace (Kubernetes), the path (Vault), or
    /// the account, key vault or project (cloud secret managers).
    pub fn target_env(&self, ev: &AccessEvent<'_>) -> Option<&str> {
        match ev.source {
            SourceSystem::Kubernetes => self.namespace_env(ev.target.namespace.as_deref()?),
            SourceSystem::Vault => self.vault_env(ev.target.name.as_deref()?),
            SourceSystem::Aws | SourceSystem::Azure | SourceSystem::Gcp => self
                .cloud_env
                .get(ev.target.namespace.as_deref()?)
                .map(String::as_str),
        }
    }

    /// A workload identity's namespace and environment: a Kubernetes service account, or a
    /// Vault token from Kubernetes auth (its `service_account_namespace`).
    pub fn workload_env<'e>(&self, ev: &'e AccessEvent<'_>) -> Option<(&'e str, Option<&str>)> {
        if ev.principal.kind != PrincipalKind::ServiceAccount {
            return None;
        }
        let ns = ev.principal.namespace.as_deref()?;
        Some((ns, self.namespace_env(ns)))
    }

    pub fn is_production(&self, env: &str) -> bool {
        self.production.contains(env)
    }

    /// The identity may read secrets across namespaces and environments.
    pub fn multi_namespace_reader(&self, ev: &AccessEvent<'_>) -> bool {
        let listed = |name: &str| {
            self.multi_ns.contains(name)
                || self
                    .multi_ns_patterns
                    .iter()
                    .any(|p| crate::catalogue::matches(p, name))
        };
        let service_account = ev
            .principal
            .vault
            .as_ref()
            .and_then(|v| v.service_account.as_deref());
        listed(ev.principal.name.as_ref())
            || listed(ev.effective_principal())
            || service_account.is_some_and(listed)
    }

    /// The team that lists `name` as a member.
    pub fn member_team(&self, name: &str) -> Option<&Team> {
        self.members.get(name).map(|&i| &self.teams[i])
    }

    /// The team of `name`, or the default team.
    pub fn team_of(&self, name: &str) -> Option<(&Team, bool)> {
        match self.members.get(name) {
            Some(&i) => Some((&self.teams[i], false)),
            None => self.default_team.map(|i| (&self.teams[i], true)),
        }
    }
}

fn list(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}
