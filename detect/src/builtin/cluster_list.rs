//! `k8s-secrets-list-cluster-wide`: a list/watch of Secrets across all namespaces by anything
//! but a known controller.

use chrono::{DateTime, Utc};
use secretwatch_ingest::{AccessEvent, Action, Outcome, SourceSystem};

use crate::alert::{Alert, Severity};
use crate::builtin::groups::WindowedGroups;
use crate::config::DetectConfig;
use crate::detector::{window_start, Detector};

pub const RULE: &str = "k8s-secrets-list-cluster-wide";

pub struct ClusterWideSecretList {
    allowed: Vec<String>,
    window: u32,
    groups: WindowedGroups,
}

impl ClusterWideSecretList {
    pub fn new(cfg: &DetectConfig) -> Self {
        ClusterWideSecretList {
            allowed: cfg.known_controllers.clone(),
            window: cfg.alert_window_minutes,
            groups: WindowedGroups::default(),
        }
    }
}

impl Detector for ClusterWideSecretList {
    fn id(&self) -> &'static str {
        RULE
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        let t = &ev.target;
        if ev.source != SourceSystem::Kubernetes
            || ev.action != Action::List
            || t.resource.as_deref() != Some("secrets")
            || t.namespace.is_some()
            || t.subresource.is_some()
        {
            return;
        }
        let who = ev.effective_principal();
        if self
            .allowed
            .iter()
            .any(|a| a == who || a == ev.principal.name.as_ref())
        {
            return;
        }
        let ws = window_start(ev.time, self.window);
        let group = format!("{}\u{0}{}", ev.principal.name, ev.outcome.as_str());
        if !self.groups.first_in_window(&group, ws) {
            return;
        }
        let (severity, verb) = match ev.outcome {
            Outcome::Allowed => (Severity::High, "listed"),
            _ => (Severity::Medium, "tried to list"),
        };
        let reason = format!(
            "{} ({}) {} Secrets across all namespaces ({} {}) from {}; it is not a known controller",
            ev.principal.name,
            ev.principal.kind.as_str(),
            verb,
            ev.raw_action,
            ev.request_uri.as_deref().unwrap_or("/api/v1/secrets"),
            ev.source_ips.first().unwrap_or("an unknown address"),
        );
        let mut a = Alert::from_event(
            RULE,
            severity,
            "Secrets listed across all namespaces",
            &group,
            ws,
            ev,
            reason,
            &[
                "attack.credential-access",
                "attack.t1552.007",
                "attack.discovery",
                "attack.t1613",
            ],
        );
        a.targets = vec!["*/secrets".to_string()];
        out.push(a);
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        self.groups.prune(now, self.window);
    }
}
