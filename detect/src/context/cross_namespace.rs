//! `cross-namespace-secret-read`: a Kubernetes service account reads, lists or watches Secrets
//! outside its own namespace (or across all namespaces), unless it is a configured
//! multi-namespace reader (operators, CI).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secretwatch_ingest::{AccessEvent, Action, PrincipalKind, SourceSystem};

use crate::alert::{Alert, Severity};
use crate::context::common::{object, outcome_class, remote_ip, verb, went_through, Groups};
use crate::context::world::World;
use crate::detector::{window_start, Detector};

pub const RULE: &str = "cross-namespace-secret-read";

pub struct CrossNamespaceSecretRead {
    world: Arc<World>,
    groups: Groups,
}

impl CrossNamespaceSecretRead {
    pub fn new(world: Arc<World>) -> Self {
        CrossNamespaceSecretRead {
            world,
            groups: Groups::default(),
        }
    }
}

fn env_note(env: Option<&str>) -> String {
    env.map(|e| format!("environment {e}"))
        .unwrap_or_else(|| "no environment".to_string())
}

impl Detector for CrossNamespaceSecretRead {
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
        let t = &ev.target;
        if ev.source != SourceSystem::Kubernetes
            || ev.principal.kind != PrincipalKind::ServiceAccount
            || !matches!(ev.action, Action::Read | Action::List)
            || t.resource.as_deref() != Some("secrets")
            || t.subresource.is_some()
        {
            return;
        }
        let Some(own_ns) = ev.principal.namespace.as_deref() else {
            return;
        };
        let target_ns = t.namespace.as_deref();
        if target_ns == Some(own_ns) || self.world.multi_namespace_reader(ev) {
            return;
        }
        let w = self.world.window;
        let ws = window_start(ev.time, w);
        let group = format!(
            "{}\u{0}{}\u{0}{}",
            ev.principal.name,
            target_ns.unwrap_or("*"),
            outcome_class(ev)
        );
        if !self.groups.first_in_window(&group, ws) {
            return;
        }
        let severity = if went_through(ev) {
            Severity::High
        } else {
            Severity::Medium
        };
        let own_env = self.world.namespace_env(own_ns);
        let target_note = match target_ns {
            Some(ns) => format!(" ({})", env_note(self.world.namespace_env(ns))),
            None => String::new(),
        };
        let reason = format!(
            "{} (namespace {own_ns}, {}) {} {}{target_note} from {}; it is not a \
             multi-namespace reader",
            ev.principal.name,
            env_note(own_env),
            verb(ev),
            object(ev),
            remote_ip(ev).unwrap_or("an unknown address"),
        );
        out.push(Alert::from_event(
            RULE,
            severity,
            "Service account read Secrets of another namespace",
            &group,
            ws,
            ev,
            reason,
            &["attack.credential-access", "attack.t1552.007"],
        ));
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        self.groups.prune(now, self.world.window);
    }
}
