//! `break-glass-use`: Vault root tokens, configured emergency identities, members of
//! privileged groups (`system:masters`), impersonation of privileged identities.
//! Always alerts, at critical severity, once per session (a session ends after a quiet gap).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use secretwatch_ingest::AccessEvent;

use crate::alert::{Alert, Severity};
use crate::config::DetectConfig;
use crate::detector::Detector;

pub const RULE: &str = "break-glass-use";

/// Last activity of an open session.
struct Session {
    last: DateTime<Utc>,
}

pub struct BreakGlass {
    identities: Vec<String>,
    groups: Vec<String>,
    users: Vec<String>,
    gap: Duration,
    sessions: HashMap<String, Session>,
}

impl BreakGlass {
    pub fn new(cfg: &DetectConfig) -> Self {
        BreakGlass {
            identities: cfg.break_glass_identities.clone(),
            groups: cfg.privileged_groups.clone(),
            users: cfg.privileged_users.clone(),
            gap: Duration::minutes(i64::from(cfg.break_glass_session_gap_minutes)),
            sessions: HashMap::new(),
        }
    }

    /// Why this event is break-glass, if it is.
    fn why(&self, ev: &AccessEvent<'_>) -> Option<String> {
        let p = &ev.principal;
        if let Some(v) = &p.vault {
            if v.root {
                return Some("a Vault root token was used".to_string());
            }
        }
        let named = |name: &str| self.identities.iter().any(|i| i == name);
        if named(&p.name) {
            return Some(format!("configured break-glass identity {} acted", p.name));
        }
        if let Some(g) = self.groups.iter().find(|g| p.in_group(g)) {
            return Some(format!("{} is a member of privileged group {g}", p.name));
        }
        if let Some(imp) = &p.acting_as {
            if named(&imp.name) || self.users.iter().any(|u| *u == imp.name) {
                return Some(format!(
                    "{} impersonated privileged identity {}",
                    p.name, imp.name
                ));
            }
            if let Some(g) = self.groups.iter().find(|g| imp.groups.contains(g)) {
                return Some(format!(
                    "{} impersonated {} with privileged group {g}",
                    p.name, imp.name
                ));
            }
        }
        None
    }
}

impl Detector for BreakGlass {
    fn id(&self) -> &'static str {
        RULE
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        let Some(why) = self.why(ev) else { return };
        let key = format!("{}\u{0}{}", ev.source, ev.principal.name);
        if let Some(s) = self.sessions.get_mut(&key) {
            if ev.time - s.last <= self.gap {
                s.last = s.last.max(ev.time);
                return;
            }
        }
        self.sessions.insert(key.clone(), Session { last: ev.time });
        let reason = format!(
            "{why}: session opened with {} {} ({}) from {}; every break-glass use is reviewed",
            ev.raw_action,
            crate::alert::target_label(ev),
            ev.outcome.as_str(),
            ev.source_ips.first().unwrap_or("an unknown address"),
        );
        let mut a = Alert::from_event(
            RULE,
            Severity::Critical,
            "Break-glass identity used",
            &key,
            ev.time,
            ev,
            reason,
            &[
                "break-glass",
                "attack.privilege-escalation",
                "attack.t1078",
                "attack.t1078.004",
            ],
        );
        a.break_glass = true;
        out.push(a);
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        let gap = self.gap;
        self.sessions.retain(|_, s| now - s.last <= gap);
    }
}
