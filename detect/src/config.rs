//! The `[detect]` section of the config.

use serde::Deserialize;

/// Reference lists and windows of the built-in detections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Identities allowed to list secrets cluster-wide (controllers, operators).
    #[serde(default = "default_known_controllers")]
    pub known_controllers: Vec<String>,
    /// Emergency identities: any use alerts at the highest severity.
    #[serde(default)]
    pub break_glass_identities: Vec<String>,
    /// Groups whose members are break-glass by definition.
    #[serde(default = "default_privileged_groups")]
    pub privileged_groups: Vec<String>,
    /// Impersonating one of these identities is break-glass.
    #[serde(default = "default_privileged_users")]
    pub privileged_users: Vec<String>,
    /// A break-glass session ends after this long without activity.
    #[serde(default = "default_session_gap")]
    pub break_glass_session_gap_minutes: u32,
    /// Repeated alerts of one rule and principal within this window are one alert.
    #[serde(default = "default_alert_window")]
    pub alert_window_minutes: u32,
    /// Namespaces holding production secrets (rules: `%production_namespaces%`).
    #[serde(default = "default_production_namespaces")]
    pub production_namespaces: Vec<String>,
    /// Identities that legitimately read many secrets at once, e.g. sync operators (`%bulk_readers%`).
    #[serde(default)]
    pub bulk_readers: Vec<String>,
    /// Days of event time (from the first event) during which rules judged `new_terms` learn
    /// their combinations quietly; 0 alerts on the first sighting ([`crate::history`]).
    #[serde(default = "default_history_learning_days")]
    pub history_learning_days: u32,
    /// Use the shipped controller catalogue ([`crate::catalogue`]) beside the lists above.
    #[serde(default = "default_true")]
    pub catalogue: bool,
    /// Use the rules shipped with secretwatch.
    #[serde(default = "default_true")]
    pub builtin_rules: bool,
    /// Directories of more rule files (`*.yml`), loaded after the built-in ones.
    #[serde(default)]
    pub rules_dirs: Vec<std::path::PathBuf>,
    /// Namespaces, environments, teams, cluster networks and sync mappings.
    #[serde(default)]
    pub context: crate::context::ContextConfig,
    /// Per-principal baselines: learning period, volume test, bounds.
    #[serde(default)]
    pub baseline: crate::baseline::BaselineConfig,
}

fn default_known_controllers() -> Vec<String> {
    [
        "system:kube-controller-manager",
        "system:serviceaccount:kube-system:namespace-controller",
        "system:serviceaccount:kube-system:generic-garbage-collector",
        "system:serviceaccount:kube-system:resourcequota-controller",
        "system:apiserver",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

fn default_privileged_groups() -> Vec<String> {
    vec!["system:masters".into()]
}

fn default_privileged_users() -> Vec<String> {
    vec![
        "system:admin".into(),
        "kubernetes-admin".into(),
        "cluster-admin".into(),
    ]
}

fn default_session_gap() -> u32 {
    30
}

fn default_alert_window() -> u32 {
    60
}

fn default_production_namespaces() -> Vec<String> {
    vec!["prod".into(), "production".into()]
}

fn default_history_learning_days() -> u32 {
    7
}

fn default_true() -> bool {
    true
}

impl Default for DetectConfig {
    fn default() -> Self {
        toml_default()
    }
}

fn toml_default() -> DetectConfig {
    DetectConfig {
        known_controllers: default_known_controllers(),
        break_glass_identities: vec![],
        privileged_groups: default_privileged_groups(),
        privileged_users: default_privileged_users(),
        break_glass_session_gap_minutes: default_session_gap(),
        alert_window_minutes: default_alert_window(),
        production_namespaces: default_production_namespaces(),
        bulk_readers: vec![],
        history_learning_days: default_history_learning_days(),
        catalogue: true,
        builtin_rules: true,
        rules_dirs: vec![],
        context: crate::context::ContextConfig::default(),
        baseline: crate::baseline::BaselineConfig::default(),
    }
}

impl DetectConfig {
    /// Every problem at once, each naming its key.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = vec![];
        if self.break_glass_session_gap_minutes == 0
            || self.break_glass_session_gap_minutes > 24 * 60
        {
            errs.push(
                "detect.break_glass_session_gap_minutes: must be between 1 and 1440".to_string(),
            );
        }
        if self.history_learning_days > 365 {
            errs.push("detect.history_learning_days: must be between 0 and 365".to_string());
        }
        if self.alert_window_minutes == 0 || self.alert_window_minutes > 7 * 24 * 60 {
            errs.push("detect.alert_window_minutes: must be between 1 and 10080".to_string());
        }
        for (key, list) in [
            ("detect.known_controllers", &self.known_controllers),
            (
                "detect.break_glass_identities",
                &self.break_glass_identities,
            ),
            ("detect.privileged_groups", &self.privileged_groups),
            ("detect.privileged_users", &self.privileged_users),
            ("detect.production_namespaces", &self.production_namespaces),
            ("detect.bulk_readers", &self.bulk_readers),
        ] {
            if let Some(i) = list.iter().position(|s| s.trim().is_empty()) {
                errs.push(format!("{key}[{i}]: empty identity"));
            }
        }
        errs.extend(self.context.validate());
        errs.extend(
            self.baseline
                .validate()
                .into_iter()
                .map(|e| format!("detect.baseline.{e}")),
        );
        if !self.builtin_rules && self.rules_dirs.is_empty() {
            errs.push(
                "detect.builtin_rules: false with no detect.rules_dirs leaves no rules".to_string(),
            );
        }
        for (i, d) in self.rules_dirs.iter().enumerate() {
            if !d.is_dir() {
                errs.push(format!(
                    "detect.rules_dirs[{i}]: {} is not a directory",
                    d.display()
                ));
            }
        }
        errs
    }
}
