//! `cross-environment-secret-access`: an identity of one environment touches a secret of
//! another (a dev workload reading a prod Secret or prod Vault path).
//!
//! The identity's environment: for a Kubernetes service account, or a Vault token from
//! Kubernetes auth, the environment of its namespace (`environments`). Humans are checked only
//! when their team lists the environments they may touch (`teams[].environments`); otherwise
//! they are the off-hours detection's business. The target's environment: its namespace
//! (Kubernetes) or its Vault path (`vault_environments`). Identities in
//! `multi_namespace_readers` are exempt; identities or targets without an environment are skipped.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secretwatch_ingest::{AccessEvent, PrincipalKind, SourceSystem};

use crate::alert::{Alert, Severity};
use crate::context::common::{
    credential_tags, object, outcome_class, remote_ip, verb, went_through, Groups,
};
use crate::context::world::World;
use crate::detector::{window_start, Detector};

pub const RULE: &str = "cross-environment-secret-access";

pub struct CrossEnvironmentSecretAccess {
    world: Arc<World>,
    groups: Groups,
}

impl CrossEnvironmentSecretAccess {
    pub fn new(world: Arc<World>) -> Self {
        CrossEnvironmentSecretAccess {
            world,
            groups: Groups::default(),
        }
    }
}

impl Detector for CrossEnvironmentSecretAccess {
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
        if !ev.target.is_secret || self.world.multi_namespace_reader(ev) {
            return;
        }
        let Some(target_env) = self.world.target_env(ev) else {
            return;
        };
        let (who, own_env) = if let Some((ns, env)) = self.world.workload_env(ev) {
            let Some(env) = env else { return };
            if env == target_env {
                return;
            }
            let via = match ev.source {
                SourceSystem::Vault => "Kubernetes auth, ",
                _ => "",
            };
            (format!("({via}namespace {ns}, environment {env})"), env)
        } else if ev.principal.kind == PrincipalKind::Human {
            let Some(team) = self.world.member_team(&ev.principal.name) else {
                return;
            };
            if team.environments.is_empty() || team.environments.iter().any(|e| e == target_env) {
                return;
            }
            let may = team.environments.join(", ");
            (format!("(team {}, environments {may})", team.name), "")
        } else {
            return;
        };
        let w = self.world.window;
        let ws = window_start(ev.time, w);
        let group = format!(
            "{}\u{0}{own_env}\u{0}{target_env}\u{0}{}",
            ev.principal.name,
            outcome_class(ev)
        );
        if !self.groups.first_in_window(&group, ws) {
            return;
        }
        let prod = self.world.is_production(target_env);
        let severity = match (prod, went_through(ev)) {
            (true, true) => Severity::High,
            (true, false) | (false, true) => Severity::Medium,
            (false, false) => Severity::Low,
        };
        let reason = format!(
            "{} {who} {} {} (environment {target_env}{}) from {}",
            ev.principal.name,
            verb(ev),
            object(ev),
            if prod { ", production" } else { "" },
            remote_ip(ev).unwrap_or("an unknown address"),
        );
        out.push(Alert::from_event(
            RULE,
            severity,
            "Secret of another environment accessed",
            &group,
            ws,
            ev,
            reason,
            &["attack.credential-access", credential_tags(ev.source)],
        ));
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        self.groups.prune(now, self.world.window);
    }
}
