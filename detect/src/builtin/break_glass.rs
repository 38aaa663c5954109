//! `break-glass-use`: Vault root tokens, the AWS account root user (in CloudTrail, or mapped into
//! EKS), configured emergency identities (any source: a Kubernetes user, an Azure `upn`, a GCP
//! e-mail, an AWS ARN), members of privileged groups (`system:masters`; an AWS role ARN for its
//! sessions), impersonation of privileged identities.
//! Always alerts, at critical severity, when a session opens; when the session ends (a quiet gap,
//! or the end of input) `break-glass-session` reports everything that identity did in it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use secretwatch_ingest::AccessEvent;

use crate::alert::{Alert, Severity};
use crate::config::DetectConfig;
use crate::detector::Detector;

pub const RULE: &str = "break-glass-use";
pub const SESSION_RULE: &str = "break-glass-session";

/// Kept per session, bounded.
const MAX_IDS: usize = 200;
const MAX_TARGETS: usize = 50;

const TAGS: [&str; 4] = [
    "break-glass",
    "attack.privilege-escalation",
    "attack.t1078",
    "attack.t1078.004",
];

/// An open session: everything its identity did.
#[derive(serde::Serialize, serde::Deserialize)]
struct Session {
    why: String,
    principal: String,
    source: secretwatch_ingest::SourceSystem,
    start: DateTime<Utc>,
    last: DateTime<Utc>,
    events: u64,
    event_ids: Vec<String>,
    actions: BTreeMap<String, u64>,
    targets: BTreeSet<String>,
    source_ips: BTreeSet<String>,
    denied: u64,
}

impl Session {
    fn record(&mut self, ev: &AccessEvent<'_>) {
        self.last = self.last.max(ev.time);
        self.events += 1;
        if self.event_ids.len() < MAX_IDS {
            self.event_ids.push(ev.id.to_string());
        }
        match self.actions.get_mut(ev.action.as_str()) {
            Some(n) => *n += 1,
            None => {
                self.actions.insert(ev.action.as_str().to_string(), 1);
            }
        }
        if self.targets.len() < MAX_TARGETS {
            self.targets.insert(crate::alert::target_label(ev));
        }
        if let Some(ip) = ev.source_ips.iter().last() {
            if self.source_ips.len() < 10 {
                self.source_ips.insert(ip.to_string());
            }
        }
        if ev.outcome == secretwatch_ingest::Outcome::Denied {
            self.denied += 1;
        }
    }

    fn summary(self, key: &str, ended: &str) -> Alert {
        let minutes = (self.last - self.start).num_minutes();
        let actions: Vec<String> = self
            .actions
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect();
        let shown: Vec<&str> = self.targets.iter().take(10).map(String::as_str).collect();
        let more = self.targets.len().saturating_sub(shown.len());
        let reason = format!(
            "break-glass session of {} ({}): {} events over {} min ({}), {} denied, {} distinct targets: {}{}; from {}; session {}",
            self.principal,
            self.why,
            self.events,
            minutes,
            actions.join(", "),
            self.denied,
            self.targets.len(),
            shown.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() },
            self.source_ips.iter().cloned().collect::<Vec<_>>().join(", "),
            ended,
        );
        Alert {
            id: crate::alert::alert_id(SESSION_RULE, key, self.start),
            rule: SESSION_RULE.to_string(),
            severity: Severity::Critical,
            title: "Break-glass session summary".to_string(),
            principal: self.principal,
            source: self.source,
            event_ids: self.event_ids,
            first_seen: self.start,
            last_seen: self.last,
            reason,
            targets: self.targets.into_iter().collect(),
            source_ips: self.source_ips.into_iter().collect(),
            tags: TAGS.iter().map(|t| t.to_string()).collect(),
            break_glass: true,
        }
    }
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
        if secretwatch_ingest::is_aws_root(&p.name) {
            return Some("the AWS account root user acted".to_string());
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
    fn export_state(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&self.sessions).ok()
    }
    fn import_state(&mut self, state: serde_json::Value) -> Result<(), String> {
        self.sessions = serde_json::from_value(state).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        let key = format!("{}\u{0}{}", ev.source, ev.principal.name);
        // Inside an open session everything the identity does belongs to it.
        if let Some(s) = self.sessions.get_mut(&key) {
            if ev.time - s.last <= self.gap {
                s.record(ev);
                return;
            }
            if let Some(old) = self.sessions.remove(&key) {
                out.push(old.summary(&key, "ended after a quiet gap"));
            }
        }
        let Some(why) = self.why(ev) else { return };
        let mut session = Session {
            why: why.clone(),
            principal: ev.principal.name.to_string(),
            source: ev.source,
            start: ev.time,
            last: ev.time,
            events: 0,
            event_ids: vec![],
            actions: BTreeMap::new(),
            targets: BTreeSet::new(),
            source_ips: BTreeSet::new(),
            denied: 0,
        };
        session.record(ev);
        self.sessions.insert(key.clone(), session);
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
            &TAGS,
        );
        a.break_glass = true;
        out.push(a);
    }

    fn on_tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Alert>) {
        let gap = self.gap;
        let mut ended: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| now - s.last > gap)
            .map(|(k, _)| k.clone())
            .collect();
        ended.sort();
        for k in ended {
            if let Some(s) = self.sessions.remove(&k) {
                out.push(s.summary(&k, "ended after a quiet gap"));
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<Alert>) {
        let mut keys: Vec<String> = self.sessions.keys().cloned().collect();
        keys.sort();
        for k in keys {
            if let Some(s) = self.sessions.remove(&k) {
                out.push(s.summary(&k, "still open at the end of input"));
            }
        }
    }
}
