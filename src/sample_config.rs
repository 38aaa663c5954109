//! A config for a generated dataset, written from its `manifest.json`: the cluster name,
//! the controllers allowed to list Secrets cluster-wide, and the break-glass identities of
//! the simulated world.

use std::path::Path;

use anyhow::{Context, Result};
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
    let multi = strings(&m, "/world/kubernetes/multi_namespace_secret_readers");
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
         production_namespaces = {}\nmulti_namespace_readers = {}\nbulk_readers = {}\n",
        toml::Value::String(cluster.to_string()),
        toml_list(&controllers),
        toml_list(&bg_users),
        toml_list(&groups),
        toml_list(&privileged),
        toml_list(&production),
        toml_list(&multi),
        toml_list(&bulk),
    );
    let path = dir.join("secretwatch.toml");
    std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
