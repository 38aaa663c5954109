//! `missing-secret`: a workload needs a Kubernetes Secret that does not exist in its namespace,
//! and it still fails after a grace period; the alert says where a Secret of that name does
//! exist (from the [`SecretInventory`] the stream builds), or that it was deleted, and by whom.
//!
//! The signal is what real kubelets send: their Events `FailedToRetrieveImagePullSecret`,
//! `FailedMount`, `Failed` (`secret "x" not found`), read from the `k8s-events` input or from
//! audit events of `events` at `Request` level (see `secretwatch_ingest::k8s::events`). Real
//! kubelets never GET a pod's Secret (they watch it by name), so a 404 rule alone misses this;
//! `missing-secret-404` stays for clients that do GET.
//!
//! A Secret created a few seconds after its pod (a sync operator's race, a Helm install) is
//! normal: only a failure that lasts `missing_secret_grace_minutes` (default 5) alerts, by the
//! reports' own times and the Event's `count`/`firstTimestamp`. A create of the Secret there
//! ends the failure. Severity by the namespace's environment: high in production.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secretwatch_ingest::{AccessEvent, SourceSystem};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Severity};
use crate::context::common::Groups;
use crate::context::world::World;
use crate::detector::{window_start, Detector};
pub use crate::inventory::is_report;
use crate::inventory::{Place, Presence, SecretInventory};

pub const RULE: &str = "missing-secret";

/// A failure still open.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Failing {
    since: DateTime<Utc>,
    last: DateTime<Utc>,
    reports: u64,
    /// The latest report, to alert from a tick when no further report comes (not saved: after
    /// a restart the next report does it).
    #[serde(skip)]
    latest: Option<Box<AccessEvent<'static>>>,
    /// Alerted already (by a report past the grace, or once from a tick without further
    /// reports): no tick alerts for it again.
    #[serde(default)]
    tick_alerted: bool,
}

pub struct MissingSecret {
    world: Arc<World>,
    grace: Duration,
    inventory: SecretInventory,
    failing: HashMap<String, Failing>,
    groups: Groups,
}

fn key(store: &str, ns: &str, name: &str) -> String {
    format!("{store}\u{0}{ns}\u{0}{name}")
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl MissingSecret {
    pub fn new(world: Arc<World>, grace_minutes: u32, max_secrets: usize) -> Self {
        MissingSecret {
            world,
            grace: Duration::minutes(i64::from(grace_minutes)),
            inventory: SecretInventory::new(max_secrets),
            failing: HashMap::new(),
            groups: Groups::default(),
        }
    }

    fn place_label(&self, p: &Place, store: &str) -> String {
        let mut s = if p.store == store {
            p.namespace.clone()
        } else {
            format!("{}/{}", p.store, p.namespace)
        };
        if let Some(env) = self.world.namespace_env(&p.namespace) {
            s.push_str(&format!(" (environment {env}"));
            match &p.created {
                Some(c) => s.push_str(&format!("; created {} by {})", when(c.at), c.by)),
                None => s.push(')'),
            }
        } else if let Some(c) = &p.created {
            s.push_str(&format!(" (created {} by {})", when(c.at), c.by));
        }
        s
    }

    /// Where else the Secret is, or what happened to it here.
    fn whereabouts(&self, store: &str, ns: &str, name: &str) -> String {
        let here = self.inventory.get(store, ns, name);
        let mut out = match here.and_then(|p| p.deleted.as_ref()) {
            Some(d)
                if here.map(|p| p.presence) == Some(Presence::Missing)
                    || here.map(|p| p.presence) == Some(Presence::Deleted) =>
            {
                format!("; it was deleted from {ns} {} by {}", when(d.at), d.by)
            }
            _ => String::new(),
        };
        let elsewhere = self.inventory.exists_elsewhere(store, ns, name);
        if elsewhere.is_empty() {
            out.push_str(&format!(
                "; secretwatch has seen no Secret named {name} exist anywhere"
            ));
        } else {
            const SHOWN: usize = 3;
            let mut labels: Vec<String> = elsewhere
                .iter()
                .take(SHOWN)
                .map(|p| self.place_label(p, store))
                .collect();
            if elsewhere.len() > SHOWN {
                labels.push(format!("{} more", elsewhere.len() - SHOWN));
            }
            let tail = if elsewhere.len() == 1 {
                " and nowhere else"
            } else {
                ""
            };
            out.push_str(&format!("; it exists in {}{tail}", labels.join(", ")));
        }
        out
    }
}

impl Detector for MissingSecret {
    fn id(&self) -> &'static str {
        RULE
    }

    fn export_state(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "inventory": self.inventory,
            "failing": self.failing,
            "groups": self.groups.export(),
        }))
    }

    fn import_state(&mut self, mut state: serde_json::Value) -> Result<(), String> {
        if let Some(inv) = state.get_mut("inventory").map(serde_json::Value::take) {
            let max = self.inventory.max();
            let mut inv: SecretInventory =
                serde_json::from_value(inv).map_err(|e| format!("inventory: {e}"))?;
            inv.set_max(max);
            self.inventory = inv;
        }
        if let Some(f) = state.get_mut("failing").map(serde_json::Value::take) {
            self.failing = serde_json::from_value(f).map_err(|e| format!("failing: {e}"))?;
        }
        match state.get_mut("groups").map(serde_json::Value::take) {
            None | Some(serde_json::Value::Null) => Ok(()),
            Some(g) => self.groups.import(g),
        }
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        let report = is_report(ev);
        self.inventory.observe(ev);
        let (Some(ns), Some(name)) = (ev.target.namespace.as_deref(), ev.target.name.as_deref())
        else {
            return;
        };
        if ev.source != SourceSystem::Kubernetes || ev.target.resource.as_deref() != Some("secrets")
        {
            return;
        }
        let store: &str = &ev.target.store;
        let k = key(store, ns, name);
        if !report {
            // A create (or a successful write) of the Secret there ends the failure.
            if ev.outcome == secretwatch_ingest::Outcome::Allowed
                && matches!(ev.raw_action.as_ref(), "create" | "update" | "patch")
            {
                self.failing.remove(&k);
            }
            return;
        }
        let since = ev.repeat.map_or(ev.time, |r| r.since.min(ev.time));
        // A failure cannot have lasted since before the Secret was last created there (a late
        // resend of an old Event, the kubelet's cache lagging a few seconds behind the create).
        let created = self
            .inventory
            .get(store, ns, name)
            .and_then(|p| p.created.as_ref())
            .map(|c| c.at)
            .filter(|c| *c <= ev.time);
        let since = created.map_or(since, |c| since.max(c));
        let f = self.failing.entry(k.clone()).or_insert(Failing {
            since,
            last: ev.time,
            reports: 0,
            latest: None,
            tick_alerted: false,
        });
        f.since = f.since.min(since);
        f.last = f.last.max(ev.time);
        f.reports = f
            .reports
            .max(ev.repeat.map_or(0, |r| u64::from(r.count)))
            .saturating_add(u64::from(ev.repeat.is_none()));
        f.latest = Some(Box::new(ev.clone().into_owned()));
        if f.last - f.since < self.grace {
            return;
        }
        // Reported past the grace: the reports tell it; a tick need not again.
        f.tick_alerted = true;
        let (since, reports) = (f.since, f.reports);
        self.raise(&k, store, ns, name, since, reports, ev, false, out);
    }

    fn on_tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Alert>) {
        self.groups.prune(now, self.world.window);
        // A failure nobody reported for a day is over (the pod went away).
        self.failing
            .retain(|_, f| now - f.last < Duration::hours(24));
        // No further report (an exporter that forwards only an Event's first occurrence, a
        // kubelet that stopped retrying): the failure still counts once the grace has passed,
        // when the audit log would have shown the Secret's create (writes of Secrets in that
        // cluster seen in the last day) and did not.
        let due: Vec<(String, DateTime<Utc>, u64, Box<AccessEvent<'static>>)> = self
            .failing
            .iter()
            .filter(|(_, f)| !f.tick_alerted && now - f.since >= self.grace)
            .filter_map(|(k, f)| Some((k.clone(), f.since, f.reports, f.latest.clone()?)))
            .collect();
        for (k, since, reports, ev) in due {
            if !self
                .inventory
                .writes_seen(&ev.target.store, now - Duration::hours(24))
            {
                continue;
            }
            let t = &ev.target;
            let (Some(ns), Some(name)) = (t.namespace.as_deref(), t.name.as_deref()) else {
                continue;
            };
            let (store, ns, name) = (t.store.to_string(), ns.to_string(), name.to_string());
            // Created (or read) there since: it exists now, the kubelet will mount it.
            if self
                .inventory
                .get(&store, &ns, &name)
                .is_some_and(|p| p.presence == Presence::Exists)
            {
                self.failing.remove(&k);
                continue;
            }
            if let Some(f) = self.failing.get_mut(&k) {
                f.tick_alerted = true;
            }
            self.raise(&k, &store, &ns, &name, since, reports, &ev, true, out);
        }
    }
}

impl MissingSecret {
    /// The alert for a failure of `name` in `ns` that lasted the grace, once per window.
    #[allow(clippy::too_many_arguments)]
    fn raise(
        &mut self,
        k: &str,
        store: &str,
        ns: &str,
        name: &str,
        since: DateTime<Utc>,
        reports: u64,
        ev: &AccessEvent<'_>,
        from_tick: bool,
        out: &mut Vec<Alert>,
    ) {
        let ws = window_start(ev.time, self.world.window);
        if !self.groups.first_in_window(k, ws) {
            return;
        }
        let env = self.world.namespace_env(ns);
        let prod = env.is_some_and(|e| self.world.is_production(e));
        let severity = if prod {
            Severity::High
        } else {
            Severity::Medium
        };
        let env_label = match env {
            Some(e) if prod => format!(" (environment {e}, production)"),
            Some(e) => format!(" (environment {e})"),
            None => String::new(),
        };
        let lasted = if from_tick {
            format!(
                "{} min without a create of it in the audit log",
                self.grace.num_minutes()
            )
        } else {
            format!("{} min", (ev.time - since).num_minutes())
        };
        let reason = format!(
            "Secret {name} is needed in namespace {ns}{env_label} and does not exist there: failing since {} ({lasted}, {reports} report{} by {}; latest {}: {}){}",
            when(since),
            if reports == 1 { "" } else { "s" },
            ev.principal.name,
            ev.raw_action,
            ev.reason.as_deref().unwrap_or("no message"),
            self.whereabouts(store, ns, name),
        );
        out.push(Alert::from_event(
            RULE,
            severity,
            "Secret missing where a workload needs it",
            k,
            ws,
            ev,
            reason,
            &["availability", "attack.impact", "attack.t1499"],
        ));
    }
}
