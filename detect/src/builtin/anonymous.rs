//! `anonymous-secret-access`: an unauthenticated identity touches secrets, or is allowed any
//! API resource at all (`system:anonymous` allowed on an object means a binding to anonymous or
//! unauthenticated users: always a misconfiguration). Non-resource paths (`/healthz`,
//! `/version`, allowed to everyone by `system:public-info-viewer`) are not resources.

use chrono::{DateTime, Utc};
use secretwatch_ingest::{AccessEvent, Outcome, PrincipalKind, SourceSystem};

use crate::alert::{Alert, Severity};
use crate::builtin::groups::WindowedGroups;
use crate::config::DetectConfig;
use crate::detector::{window_start, Detector};

pub const RULE: &str = "anonymous-secret-access";

pub struct AnonymousSecretAccess {
    window: u32,
    groups: WindowedGroups,
}

impl AnonymousSecretAccess {
    pub fn new(cfg: &DetectConfig) -> Self {
        AnonymousSecretAccess {
            window: cfg.alert_window_minutes,
            groups: WindowedGroups::default(),
        }
    }
}

impl Detector for AnonymousSecretAccess {
    fn id(&self) -> &'static str {
        RULE
    }
    fn export_state(&self) -> Option<serde_json::Value> {
        self.groups.export()
    }
    fn import_state(&mut self, state: serde_json::Value) -> Result<(), String> {
        self.groups.import(state)
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        if ev.principal.kind != PrincipalKind::Anonymous {
            return;
        }
        let allowed = ev.outcome == Outcome::Allowed;
        // Kubernetes API objects only: Vault's unauthenticated endpoints (OIDC auth_url, login
        // paths) are open by design.
        let resource = ev.source == SourceSystem::Kubernetes && ev.target.resource.is_some();
        if !(ev.target.is_secret || (allowed && resource)) {
            return;
        }
        let ws = window_start(ev.time, self.window);
        let group = format!(
            "{}\u{0}{}\u{0}{}",
            ev.source,
            ev.principal.name,
            ev.outcome.as_str()
        );
        if !self.groups.first_in_window(&group, ws) {
            return;
        }
        let (severity, what) = match (allowed, ev.target.is_secret) {
            (true, true) => (Severity::Critical, "was ALLOWED to"),
            (true, false) => (Severity::High, "was ALLOWED to"),
            _ => (Severity::Medium, "tried to"),
        };
        let reason = format!(
            "unauthenticated identity {} {} {} {} from {} (status {})",
            ev.principal.name,
            what,
            ev.raw_action,
            crate::alert::target_label(ev),
            ev.source_ips.first().unwrap_or("an unknown address"),
            ev.status_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| ev.outcome.as_str().to_string()),
        );
        out.push(Alert::from_event(
            RULE,
            severity,
            "Anonymous access to secrets",
            &group,
            ws,
            ev,
            reason,
            &[
                "attack.initial-access",
                "attack.t1078.001",
                "attack.credential-access",
                "attack.t1552.007",
            ],
        ));
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        self.groups.prune(now, self.window);
    }
}
