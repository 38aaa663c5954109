//! A config for a generated dataset, written from its `manifest.json`: the cluster name,
//! the controllers allowed to list Secrets cluster-wide, and the break-glass identities of
//! the simulated world.

use std::path::Path;

use anyhow::{Context, Result};
use secretwatch_detect::context::{ContextConfig, SyncMapping, TeamConfig};
use serde_json::Value;

fn strings(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| toml::Value::String(s.clone()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// Write `secretwatch.toml` beside the generated files.
pub fn write(dir: &Path) -> Result<std::path::PathBuf> {
    let manifest_path = dir.join(secretwatch_datasets::MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let m: Value = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", manifest_path.display()))?;
    let cluster = m
        .pointer("/world/cluster")
        .and_then(Value::as_str)
        .unwrap_or("kubernetes");
    let mut controllers = secretwatch_detect::DetectConfig::default().known_controllers;
    for c in strings(&m, "/world/kubernetes/cluster_wide_secret_readers") {
        if !controllers.contains(&c) {
            controllers.push(c);
        }
    }
    let bg_users = strings(&m, "/world/break_glass/kubernetes_users");
    let mut groups = strings(&m, "/world/break_glass/kubernetes_groups");
    if groups.is_empty() {
        groups.push("system:masters".into());
    }
    let mut privileged = secretwatch_detect::DetectConfig::default().privileged_users;
    for t in strings(&m, "/world/break_glass/impersonation_targets") {
        if !privileged.contains(&t) {
            privileged.push(t);
        }
    }
    // The sync operator reads every synced path at each refresh, in Kubernetes and in Vault.
    let mut bulk: Vec<String> = vec![];
    for p in [
        "/world/sync/operator_kubernetes_user",
        "/world/sync/operator_vault_display_name",
    ] {
        if let Some(v) = m.pointer(p).and_then(Value::as_str) {
            bulk.push(v.to_string());
        }
    }
    let production: Vec<String> = m
        .pointer("/world/namespaces")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|n| n.get("environment").and_then(Value::as_str) == Some("prod"))
                .filter_map(|n| n.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let out = format!(
        "# secretwatch config for the generated dataset in this directory (written from manifest.json).\n\
         [ingest]\ncluster = {}\n\n[detect]\nknown_controllers = {}\nbreak_glass_identities = {}\nprivileged_groups = {}\nprivileged_users = {}\n\
         production_namespaces = {}\nbulk_readers = {}\nhistory_learning_days = 1\n",
        toml::Value::String(cluster.to_string()),
        toml_list(&controllers),
        toml_list(&bg_users),
        toml_list(&groups),
        toml_list(&privileged),
        toml_list(&production),
        toml_list(&bulk),
    );
    let context = context_config(&m);
    let mut detect = toml::Table::new();
    detect.insert(
        "context".into(),
        toml::Value::try_from(&context).context("encoding [detect.context]")?,
    );
    // A generated dataset is days, not weeks: baselines learn from its first day.
    let mut baseline = toml::Table::new();
    baseline.insert("learning_days".into(), toml::Value::Integer(1));
    detect.insert("baseline".into(), toml::Value::Table(baseline));
    let mut root = toml::Table::new();
    root.insert("detect".into(), toml::Value::Table(detect));
    let out = format!(
        "{out}\n{}",
        toml::to_string(&root).context("encoding [detect.context]")?
    );
    let path = dir.join("secretwatch.toml");
    std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The `[detect.context]` of the generated world: namespace environments, cluster networks,
/// teams with their time zones and hours, and the Vault-to-Kubernetes sync mappings.
fn context_config(m: &Value) -> ContextConfig {
    let mut cfg = ContextConfig::default();
    for ns in m
        .pointer("/world/namespaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(name), Some(env)) = (ns["name"].as_str(), ns["environment"].as_str()) {
            cfg.environments.insert(name.into(), env.into());
        }
    }
    // Each AWS account's environment (a store's namespace is its account).
    for a in m
        .pointer("/world/aws/accounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(id), Some(env)) = (a["id"].as_str(), a["environment"].as_str()) {
            cfg.cloud_environments.insert(id.into(), env.into());
        }
    }
    cfg.multi_namespace_readers = strings(m, "/world/kubernetes/multi_namespace_secret_readers");
    if let Some(op) = m
        .pointer("/world/sync/operator_vault_display_name")
        .and_then(Value::as_str)
    {
        cfg.multi_namespace_readers.push(op.into());
    }
    cfg.cluster_cidrs = strings(m, "/world/cidrs/internal")
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    for t in m
        .pointer("/world/teams")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(tz)) = (t["name"].as_str(), t["timezone"].as_str()) else {
            continue;
        };
        let mut team = TeamConfig::new(name, tz, &[]);
        for member in t["members"].as_array().into_iter().flatten() {
            for key in ["kubernetes_user", "vault_display_name"] {
                if let Some(id) = member[key].as_str() {
                    team.members.push(id.into());
                }
            }
            team.members.extend(strings(member, "/aws_sessions"));
        }
        team.work_days = strings(t, "/work_hours/days");
        if let (Some(start), Some(end)) = (
            t.pointer("/work_hours/start").and_then(Value::as_str),
            t.pointer("/work_hours/end").and_then(Value::as_str),
        ) {
            team.work_start = start.into();
            team.work_end = end.into();
        }
        cfg.teams.push(team);
    }
    let operator = m
        .pointer("/world/sync/operator_kubernetes_user")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let sla = m
        .pointer("/world/sync/sla_seconds")
        .and_then(Value::as_u64)
        .unwrap_or(900)
        / 60;
    // Workloads restarted after a sync: the app whose name prefixes the Secret, in its namespace.
    let apps: Vec<(String, String)> = m
        .pointer("/world/kubernetes/workloads")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|w| {
            Some((
                w["namespace"].as_str()?.to_string(),
                w["app"].as_str()?.to_string(),
            ))
        })
        .collect();
    for s in m
        .pointer("/sync_mappings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(path), Some(ns), Some(secret)) = (
            s["vault_path"].as_str(),
            s["namespace"].as_str(),
            s["secret"].as_str(),
        ) else {
            continue;
        };
        let mut mapping = SyncMapping::new(path, ns, secret, operator);
        mapping.sla_minutes = sla as u32;
        mapping.workloads = apps
            .iter()
            .filter(|(n, app)| n == ns && secret.starts_with(&format!("{app}-")))
            .map(|(_, app)| app.clone())
            .collect();
        mapping.restart_sla_minutes = Some(15);
        cfg.sync.push(mapping);
    }
    cfg
}
