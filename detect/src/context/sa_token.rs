//! `sa-token-outside-cluster`: a service-account token used from an address outside the
//! cluster's networks (`cluster_cidrs`): a Kubernetes service account, or a Vault token from
//! Kubernetes auth (it carries the service account's namespace).
//!
//! The address is the last of the event's source IPs: for Kubernetes the remote address the API
//! server saw (earlier `sourceIPs` come from `X-Forwarded-For`/`X-Real-Ip`, which the client
//! sets), for Vault the `remote_address`. Events without a parseable address are skipped.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use secretwatch_ingest::{AccessEvent, PrincipalKind, SourceSystem};

use crate::alert::{Alert, Severity};
use crate::context::common::{object, remote_ip, verb, Groups};
use crate::context::world::World;
use crate::detector::{window_start, Detector};

pub const RULE: &str = "sa-token-outside-cluster";

pub struct SaTokenOutsideCluster {
    world: Arc<World>,
    groups: Groups,
}

impl SaTokenOutsideCluster {
    pub fn new(world: Arc<World>) -> Self {
        SaTokenOutsideCluster {
            world,
            groups: Groups::default(),
        }
    }
}

impl Detector for SaTokenOutsideCluster {
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
        let p = &ev.principal;
        if p.kind != PrincipalKind::ServiceAccount || self.world.cidrs.is_empty() {
            return;
        }
        let Some(ns) = p.namespace.as_deref() else {
            return;
        };
        let from_kubernetes_auth = match ev.source {
            SourceSystem::Kubernetes => false,
            SourceSystem::Vault if p.vault.is_some() => true,
            _ => return,
        };
        let Some(ip_text) = remote_ip(ev) else { return };
        let Ok(ip) = ip_text.trim().parse::<IpAddr>() else {
            return;
        };
        let ip = ip.to_canonical();
        if self.world.cidrs.iter().any(|net| net.contains(&ip)) {
            return;
        }
        let w = self.world.window;
        let ws = window_start(ev.time, w);
        let group = format!("{}\u{0}{ip}", p.name);
        if !self.groups.first_in_window(&group, ws) {
            return;
        }
        let nets: Vec<String> = self.world.cidrs.iter().map(|n| n.to_string()).collect();
        let token = if from_kubernetes_auth {
            format!(
                "Vault token of {} (Kubernetes auth, service account namespace {ns})",
                p.name
            )
        } else {
            format!("service-account token of {}", p.name)
        };
        let reason = format!(
            "{token} was used from {ip}, outside the cluster networks ({}): {} {} ({}){}",
            nets.join(", "),
            verb(ev),
            object(ev),
            ev.outcome.as_str(),
            ev.user_agent
                .as_deref()
                .map(|ua| format!(" with user agent {ua}"))
                .unwrap_or_default(),
        );
        out.push(Alert::from_event(
            RULE,
            Severity::Critical,
            "Service-account token used outside the cluster",
            &group,
            ws,
            ev,
            reason,
            &[
                "attack.credential-access",
                "attack.t1528",
                "attack.defense-evasion",
                "attack.lateral-movement",
                "attack.t1550.001",
            ],
        ));
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        self.groups.prune(now, self.world.window);
    }
}
