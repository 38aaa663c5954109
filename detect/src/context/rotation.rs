//! `rotation-sync-gap`: a Vault secret synced into Kubernetes (`sync`) was written (rotated), but
//! the sync operator did not update the Kubernetes Secret within `sla_minutes`: workloads keep
//! the old credential. With `workloads` configured, a second check, `rotation-restart-gap`:
//! after the sync, every listed Deployment must be restarted (patched or updated) within
//! `restart_sla_minutes`.
//!
//! Timers:
//! - A Vault write, create or rotate of a mapped path (allowed, or without a response) starts one.
//!   While it runs, later writes of the same path keep the first deadline; after it fired, the
//!   next write starts a new timer.
//! - A Kubernetes create/update/patch (allowed) of Secret `namespace/secret` by `sync_identity`
//!   stops it, and starts the restart timer when `workloads` are set.
//! - A timer fires, once, at the first moment event time is past its deadline: on an event
//!   (`on_event`) or a tick (`on_tick`). At the end of input (`flush`) only timers whose deadline
//!   is before the last event time seen fire: past the data's end the sync may still come.
//! - A sync that was seen before a write with an earlier time (inputs read one file after the
//!   other) still counts: each mapping remembers the time of its last sync.
//!
//! Memory: at most one write timer and one restart timer per mapping.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use secretwatch_ingest::{AccessEvent, Action, Outcome, SourceSystem};

use crate::alert::{Alert, Severity};
use crate::context::common::went_through;
use crate::context::config::SyncMapping;
use crate::context::world::World;
use crate::detector::{window_start, Detector};

pub const RULE: &str = "rotation-sync-gap";
pub const RESTART_RULE: &str = "rotation-restart-gap";

/// A Vault write waiting for its sync.
struct Pending {
    /// The write, without its raw copy.
    write: AccessEvent<'static>,
    deadline: DateTime<Utc>,
    /// Alerted already; kept until the sync so that the restart check can still start.
    fired: bool,
}

/// A sync waiting for the workloads' restarts.
struct Restart {
    sync: AccessEvent<'static>,
    write_id: String,
    deadline: DateTime<Utc>,
    restarted: Vec<bool>,
}

#[derive(Default)]
struct State {
    pending: Option<Pending>,
    restart: Option<Restart>,
    last_sync: Option<DateTime<Utc>>,
}

pub struct RotationSyncGap {
    world: Arc<World>,
    mappings: Vec<SyncMapping>,
    state: Vec<State>,
    by_path: HashMap<String, Vec<usize>>,
    by_secret: HashMap<(String, String), Vec<usize>>,
    /// (namespace, deployment) -> (mapping, index in its workloads).
    by_deployment: HashMap<(String, String), Vec<(usize, usize)>>,
    next_deadline: Option<DateTime<Utc>>,
    watermark: Option<DateTime<Utc>>,
}

fn stored(ev: &AccessEvent<'_>) -> AccessEvent<'static> {
    let mut e = ev.clone().into_owned();
    e.raw = Cow::Borrowed("");
    e
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `47 min`, `15 min 8 s`.
fn span(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    match secs % 60 {
        0 => format!("{} min", secs / 60),
        s => format!("{} min {s} s", secs / 60),
    }
}

impl RotationSyncGap {
    pub fn new(world: Arc<World>) -> Self {
        let mappings = world.sync.clone();
        let mut by_path: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_secret: HashMap<(String, String), Vec<usize>> = HashMap::new();
        let mut by_deployment: HashMap<(String, String), Vec<(usize, usize)>> = HashMap::new();
        for (i, m) in mappings.iter().enumerate() {
            by_path.entry(m.vault_path.clone()).or_default().push(i);
            by_secret
                .entry((m.namespace.clone(), m.secret.clone()))
                .or_default()
                .push(i);
            for (k, w) in m.workloads.iter().enumerate() {
                by_deployment
                    .entry((m.namespace.clone(), w.clone()))
                    .or_default()
                    .push((i, k));
            }
        }
        RotationSyncGap {
            world,
            state: mappings.iter().map(|_| State::default()).collect(),
            mappings,
            by_path,
            by_secret,
            by_deployment,
            next_deadline: None,
            watermark: None,
        }
    }

    fn recompute_deadline(&mut self) {
        self.next_deadline = self
            .state
            .iter()
            .flat_map(|s| {
                let p = s.pending.as_ref().filter(|p| !p.fired).map(|p| p.deadline);
                let r = s.restart.as_ref().map(|r| r.deadline);
                p.into_iter().chain(r)
            })
            .min();
    }

    fn is_prod(&self, m: &SyncMapping) -> bool {
        self.world
            .namespace_env(&m.namespace)
            .or_else(|| self.world.vault_env(&m.vault_path))
            .is_some_and(|e| self.world.is_production(e))
    }

    /// Fire every timer whose deadline is before `now`.
    fn expire(&mut self, now: DateTime<Utc>, out: &mut Vec<Alert>) {
        if self.next_deadline.is_none_or(|d| now <= d) {
            return;
        }
        for i in 0..self.mappings.len() {
            let prod = self.is_prod(&self.mappings[i]);
            let m = &self.mappings[i];
            let st = &mut self.state[i];
            if let Some(p) = st.pending.as_mut().filter(|p| !p.fired && now > p.deadline) {
                p.fired = true;
                out.push(sync_alert(m, p, now, prod, self.world.window));
            }
            if let Some(r) = st.restart.take_if(|r| now > r.deadline) {
                out.push(restart_alert(m, &r, now, prod, self.world.window));
            }
        }
        self.recompute_deadline();
    }

    fn on_vault_write(&mut self, ev: &AccessEvent<'_>) {
        let Some(path) = ev.target.name.as_deref() else {
            return;
        };
        let Some(idx) = self.by_path.get(path.trim_start_matches('/')) else {
            return;
        };
        for &i in idx {
            let st = &mut self.state[i];
            if st.last_sync.is_some_and(|s| s >= ev.time) {
                continue;
            }
            let sla = Duration::minutes(i64::from(self.mappings[i].sla_minutes));
            let replace = match &st.pending {
                None => true,
                Some(p) => p.fired || ev.time < p.write.time,
            };
            if replace {
                st.pending = Some(Pending {
                    write: stored(ev),
                    deadline: ev.time + sla,
                    fired: false,
                });
            }
        }
        self.recompute_deadline();
    }

    fn on_sync(&mut self, ev: &AccessEvent<'_>, idx: Vec<usize>) {
        for i in idx {
            let m = &self.mappings[i];
            if ev.principal.name != m.sync_identity && ev.effective_principal() != m.sync_identity {
                continue;
            }
            let st = &mut self.state[i];
            st.last_sync = Some(st.last_sync.map_or(ev.time, |s| s.max(ev.time)));
            let Some(p) = st.pending.take_if(|p| p.write.time <= ev.time) else {
                continue;
            };
            if !m.workloads.is_empty() {
                let sla = m.restart_sla_minutes.unwrap_or(m.sla_minutes);
                st.restart = Some(Restart {
                    sync: stored(ev),
                    write_id: p.write.id.to_string(),
                    deadline: ev.time + Duration::minutes(i64::from(sla)),
                    restarted: vec![false; m.workloads.len()],
                });
            }
        }
        self.recompute_deadline();
    }

    fn on_restart(&mut self, ev: &AccessEvent<'_>, hits: Vec<(usize, usize)>) {
        for (i, k) in hits {
            let st = &mut self.state[i];
            if let Some(r) = st.restart.as_mut().filter(|r| r.sync.time <= ev.time) {
                r.restarted[k] = true;
                if r.restarted.iter().all(|&x| x) {
                    st.restart = None;
                }
            }
        }
        self.recompute_deadline();
    }
}

fn sync_alert(m: &SyncMapping, p: &Pending, now: DateTime<Utc>, prod: bool, w: u32) -> Alert {
    let reason = format!(
        "Vault {} was written at {} by {}; Kubernetes Secret {}/{} was not updated by {} within \
         {} min (still stale after {}, at {})",
        m.vault_path,
        stamp(p.write.time),
        p.write.principal.name,
        m.namespace,
        m.secret,
        m.sync_identity,
        m.sla_minutes,
        span(now - p.write.time),
        stamp(now),
    );
    let group = format!(
        "{}\u{0}{}/{}\u{0}{}",
        m.vault_path, m.namespace, m.secret, p.write.id
    );
    let mut a = Alert::from_event(
        RULE,
        if prod {
            Severity::High
        } else {
            Severity::Medium
        },
        "Rotated Vault secret not synced to Kubernetes",
        &group,
        window_start(p.write.time, w),
        &p.write,
        reason,
        &["secret-rotation", "compliance"],
    );
    a.targets
        .push(format!("{}/secrets/{}", m.namespace, m.secret));
    a
}

fn restart_alert(m: &SyncMapping, r: &Restart, now: DateTime<Utc>, prod: bool, w: u32) -> Alert {
    let missing: Vec<String> = m
        .workloads
        .iter()
        .zip(&r.restarted)
        .filter(|(_, done)| !**done)
        .map(|(name, _)| format!("{}/{name}", m.namespace))
        .collect();
    let reason = format!(
        "Kubernetes Secret {}/{} was updated at {} by {} after Vault {} changed, but Deployment(s) \
         {} were not restarted within {} min (still not restarted after {}, at {}); their pods \
         keep the old credential",
        m.namespace,
        m.secret,
        stamp(r.sync.time),
        r.sync.principal.name,
        m.vault_path,
        missing.join(", "),
        m.restart_sla_minutes.unwrap_or(m.sla_minutes),
        span(now - r.sync.time),
        stamp(now),
    );
    let group = format!(
        "{}\u{0}{}/{}\u{0}{}",
        m.vault_path, m.namespace, m.secret, r.sync.id
    );
    let mut a = Alert::from_event(
        RESTART_RULE,
        if prod {
            Severity::Medium
        } else {
            Severity::Low
        },
        "Workloads not restarted after a secret rotation",
        &group,
        window_start(r.sync.time, w),
        &r.sync,
        reason,
        &["secret-rotation", "compliance"],
    );
    a.event_ids.push(r.write_id.clone());
    a.targets
        .extend(missing.iter().map(|d| d.replacen('/', "/deployments/", 1)));
    a
}

fn event_json(ev: &AccessEvent<'_>) -> serde_json::Value {
    serde_json::to_value(ev).unwrap_or_default()
}

fn event_of(v: &serde_json::Value) -> Result<AccessEvent<'static>, String> {
    secretwatch_ingest::normalized::parse_event(&v.to_string(), 1 << 16).map_err(|e| e.to_string())
}

fn mapping_key(m: &SyncMapping) -> String {
    format!("{}\u{0}{}\u{0}{}", m.vault_path, m.namespace, m.secret)
}

impl Detector for RotationSyncGap {
    fn id(&self) -> &'static str {
        RULE
    }

    /// Writes waiting for their sync and syncs waiting for restarts, per mapping (by its Vault
    /// path, namespace and Secret, so a reordered config keeps them).
    fn export_state(&self) -> Option<serde_json::Value> {
        let mut mappings = serde_json::Map::new();
        for (m, st) in self.mappings.iter().zip(&self.state) {
            if st.pending.is_none() && st.restart.is_none() && st.last_sync.is_none() {
                continue;
            }
            mappings.insert(
                mapping_key(m),
                serde_json::json!({
                    "pending": st.pending.as_ref().map(|p| serde_json::json!({
                        "write": event_json(&p.write),
                        "deadline": p.deadline,
                        "fired": p.fired,
                    })),
                    "restart": st.restart.as_ref().map(|r| serde_json::json!({
                        "sync": event_json(&r.sync),
                        "write_id": r.write_id,
                        "deadline": r.deadline,
                        "restarted": r.restarted,
                    })),
                    "last_sync": st.last_sync,
                }),
            );
        }
        Some(serde_json::json!({ "watermark": self.watermark, "mappings": mappings }))
    }

    fn import_state(&mut self, state: serde_json::Value) -> Result<(), String> {
        let time = |v: &serde_json::Value| -> Result<DateTime<Utc>, String> {
            serde_json::from_value(v.clone()).map_err(|e| e.to_string())
        };
        self.watermark = serde_json::from_value(state["watermark"].clone()).unwrap_or(None);
        let Some(saved) = state["mappings"].as_object() else {
            return Ok(());
        };
        for (m, st) in self.mappings.iter().zip(self.state.iter_mut()) {
            let Some(v) = saved.get(&mapping_key(m)) else {
                continue;
            };
            st.pending = match &v["pending"] {
                serde_json::Value::Null => None,
                p => Some(Pending {
                    write: event_of(&p["write"])?,
                    deadline: time(&p["deadline"])?,
                    fired: p["fired"].as_bool().unwrap_or(false),
                }),
            };
            st.restart = match &v["restart"] {
                serde_json::Value::Null => None,
                r => Some(Restart {
                    sync: event_of(&r["sync"])?,
                    write_id: r["write_id"].as_str().unwrap_or_default().to_string(),
                    deadline: time(&r["deadline"])?,
                    restarted: serde_json::from_value(r["restarted"].clone())
                        .map_err(|e| e.to_string())?,
                }),
            };
            st.last_sync = serde_json::from_value(v["last_sync"].clone()).unwrap_or(None);
        }
        self.recompute_deadline();
        Ok(())
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        if self.watermark.is_none_or(|w| ev.time > w) {
            self.watermark = Some(ev.time);
        }
        self.expire(ev.time, out);
        match ev.source {
            SourceSystem::Vault
                if matches!(ev.action, Action::Write | Action::Create | Action::Rotate)
                    && went_through(ev) =>
            {
                self.on_vault_write(ev);
            }
            SourceSystem::Kubernetes
                if matches!(ev.action, Action::Write | Action::Create)
                    && ev.outcome == Outcome::Allowed
                    && ev.target.subresource.is_none() =>
            {
                let (Some(ns), Some(name)) =
                    (ev.target.namespace.as_deref(), ev.target.name.as_deref())
                else {
                    return;
                };
                let key = (ns.to_string(), name.to_string());
                match ev.target.resource.as_deref() {
                    Some("secrets") if ev.target.group.is_none() => {
                        if let Some(idx) = self.by_secret.get(&key).cloned() {
                            self.on_sync(ev, idx);
                        }
                    }
                    Some("deployments") if ev.action == Action::Write => {
                        if let Some(hits) = self.by_deployment.get(&key).cloned() {
                            self.on_restart(ev, hits);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Alert>) {
        if self.watermark.is_none_or(|w| now > w) {
            self.watermark = Some(now);
        }
        self.expire(now, out);
    }

    fn flush(&mut self, out: &mut Vec<Alert>) {
        if let Some(w) = self.watermark {
            self.expire(w, out);
        }
    }
}

#[cfg(test)]
impl RotationSyncGap {
    /// Timers held (write timers, restart timers).
    pub fn timers(&self) -> (usize, usize) {
        (
            self.state.iter().filter(|s| s.pending.is_some()).count(),
            self.state.iter().filter(|s| s.restart.is_some()).count(),
        )
    }
}
