//! The gate's logic, in event time (every method takes `now`; nothing reads the clock).
//!
//! Dedup: the last `remember_ids` alert ids that reached this sink (queued or held) are
//! remembered; the same id again is a [`Verdict::Duplicate`].
//!
//! Throttle, per (rule, principal): a window opens at the first alert and lasts
//! `window_minutes`; up to `max_alerts` alerts are delivered in it, the rest are held: counted,
//! with the first ids and the latest alert kept. Held alerts are never dropped silently:
//! - the next alert of that rule and principal after the window is delivered with a
//!   [`Suppressed`] note ("12 similar alerts suppressed since ..."), or
//! - if none comes, [`Gate::due`] releases the latest held alert when the window ends, with a
//!   note counting the others.
//!
//! Break-glass alerts are never throttled. Every state change is a [`Change`] so that the
//! store can log it and rebuild the same state by replaying it.

use std::collections::{BTreeMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use secretwatch_detect::Alert;
use serde::{Deserialize, Serialize};

use crate::notification::{Notification, Suppressed};

/// `throttle = { max_alerts = 10, window_minutes = 10, remember_ids = 50000 }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// Alerts delivered per rule and principal per window; 0 turns throttling off.
    #[serde(default = "default_max_alerts")]
    pub max_alerts: u32,
    #[serde(default = "default_window")]
    pub window_minutes: u32,
    /// How many delivered ids are remembered for dedup.
    #[serde(default = "default_remember")]
    pub remember_ids: usize,
}

fn default_max_alerts() -> u32 {
    10
}
fn default_window() -> u32 {
    10
}
fn default_remember() -> usize {
    50_000
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            max_alerts: default_max_alerts(),
            window_minutes: default_window(),
            remember_ids: default_remember(),
        }
    }
}

impl GateConfig {
    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        if self.window_minutes == 0 && self.max_alerts > 0 {
            errors.push(format!("{key}.window_minutes: must be at least 1"));
        }
        if self.remember_ids < 100 {
            errors.push(format!("{key}.remember_ids: at least 100"));
        }
    }
    fn window(&self) -> Duration {
        Duration::minutes(i64::from(self.window_minutes))
    }
}

/// What to do with an offered alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Queue this (possibly with a suppressed note).
    Deliver(Box<Notification>),
    /// This id already reached this sink.
    Duplicate,
    /// Held back and counted; `held` alerts of this rule and principal are now waiting.
    Suppressed { held: u64 },
}

/// One state change, logged by the store and replayed at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Delivered: remember the id; if `counted`, it counts against the key's window and
    /// clears what was held.
    Admit {
        id: String,
        rule: String,
        principal: String,
        at: DateTime<Utc>,
        counted: bool,
    },
    /// Held back.
    Hold {
        alert: Box<Alert>,
        at: DateTime<Utc>,
    },
    /// The window ended with alerts held and the latest was delivered: a new window opens.
    Release {
        rule: String,
        principal: String,
        at: DateTime<Utc>,
    },
    /// Remember an id without throttling effects (queue reconciliation at start).
    Remember { id: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Held {
    pub count: u64,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub ids: Vec<String>,
    pub last: Alert,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeyState {
    pub window_start: DateTime<Utc>,
    pub admitted: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
}

type Key = (String, String);

/// Dedup and throttle state of one sink.
#[derive(Debug, Clone)]
pub struct Gate {
    cfg: GateConfig,
    order: VecDeque<String>,
    ids: HashSet<String>,
    keys: BTreeMap<Key, KeyState>,
}

fn note(h: &Held) -> Suppressed {
    Suppressed {
        count: h.count,
        since: h.since,
        until: h.until,
        alert_ids: h.ids.clone(),
    }
}

impl Gate {
    pub fn new(cfg: GateConfig) -> Gate {
        Gate {
            cfg,
            order: VecDeque::new(),
            ids: HashSet::new(),
            keys: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &GateConfig {
        &self.cfg
    }

    pub fn knows(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// Alerts currently held, over all keys.
    pub fn held(&self) -> u64 {
        self.keys
            .values()
            .filter_map(|k| k.held.as_ref())
            .map(|h| h.count)
            .sum()
    }

    /// Decide about `alert` at event time `now` without changing anything; apply the returned
    /// change once the notification is safely queued.
    pub fn evaluate(&self, alert: &Alert, now: DateTime<Utc>) -> (Verdict, Option<Change>) {
        if self.ids.contains(&alert.id) {
            return (Verdict::Duplicate, None);
        }
        let admit = |counted: bool| Change::Admit {
            id: alert.id.clone(),
            rule: alert.rule.clone(),
            principal: alert.principal.clone(),
            at: now,
            counted,
        };
        if self.cfg.max_alerts == 0 || alert.break_glass {
            return (
                Verdict::Deliver(Box::new(Notification::new(alert.clone()))),
                Some(admit(false)),
            );
        }
        let key = (alert.rule.clone(), alert.principal.clone());
        match self.keys.get(&key) {
            Some(k) if now < k.window_start + self.cfg.window() => {
                if k.admitted < self.cfg.max_alerts {
                    let n = Notification {
                        alert: alert.clone(),
                        suppressed: k.held.as_ref().map(note),
                    };
                    (Verdict::Deliver(Box::new(n)), Some(admit(true)))
                } else {
                    let held = k.held.as_ref().map_or(0, |h| h.count) + 1;
                    let change = Change::Hold {
                        alert: Box::new(alert.clone()),
                        at: now,
                    };
                    (Verdict::Suppressed { held }, Some(change))
                }
            }
            other => {
                let n = Notification {
                    alert: alert.clone(),
                    suppressed: other.and_then(|k| k.held.as_ref()).map(note),
                };
                (Verdict::Deliver(Box::new(n)), Some(admit(true)))
            }
        }
    }

    /// Held alerts whose window has ended by `now`: the latest of each key, with a note
    /// counting the others, and the change to apply once it is queued. In key order.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<(Notification, Change)> {
        self.keys
            .iter()
            .filter(|(_, k)| now >= k.window_start + self.cfg.window())
            .filter_map(|((rule, principal), k)| {
                let h = k.held.as_ref()?;
                let others = Held {
                    count: h.count - 1,
                    ids: h.ids.iter().filter(|i| **i != h.last.id).cloned().collect(),
                    ..h.clone()
                };
                let n = Notification {
                    alert: h.last.clone(),
                    suppressed: (others.count > 0).then(|| note(&others)),
                };
                let change = Change::Release {
                    rule: rule.clone(),
                    principal: principal.clone(),
                    at: now,
                };
                Some((n, change))
            })
            .collect()
    }

    fn remember(&mut self, id: &str) {
        if self.ids.insert(id.to_string()) {
            self.order.push_back(id.to_string());
            while self.order.len() > self.cfg.remember_ids {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }

    /// Apply one change (live, or replayed from the log).
    pub fn apply(&mut self, change: &Change) {
        let window = self.cfg.window();
        match change {
            Change::Admit {
                id,
                rule,
                principal,
                at,
                counted,
            } => {
                self.remember(id);
                if !counted {
                    return;
                }
                let k = self
                    .keys
                    .entry((rule.clone(), principal.clone()))
                    .or_insert(KeyState {
                        window_start: *at,
                        admitted: 0,
                        held: None,
                    });
                if *at >= k.window_start + window {
                    k.window_start = *at;
                    k.admitted = 0;
                }
                k.admitted += 1;
                k.held = None;
            }
            Change::Hold { alert, at } => {
                self.remember(&alert.id);
                let k = self
                    .keys
                    .entry((alert.rule.clone(), alert.principal.clone()))
                    .or_insert(KeyState {
                        window_start: *at,
                        admitted: 0,
                        held: None,
                    });
                match &mut k.held {
                    Some(h) => {
                        h.count += 1;
                        h.until = *at;
                        if h.ids.len() < Suppressed::MAX_IDS {
                            h.ids.push(alert.id.clone());
                        }
                        h.last = (**alert).clone();
                    }
                    None => {
                        k.held = Some(Held {
                            count: 1,
                            since: *at,
                            until: *at,
                            ids: vec![alert.id.clone()],
                            last: (**alert).clone(),
                        })
                    }
                }
            }
            Change::Release {
                rule,
                principal,
                at,
            } => {
                if let Some(k) = self.keys.get_mut(&(rule.clone(), principal.clone())) {
                    k.held = None;
                    k.window_start = *at;
                    k.admitted = 1;
                }
            }
            Change::Remember { id } => self.remember(id),
        }
    }

    /// Forget keys whose window ended with nothing held (they behave exactly like unknown
    /// keys, so this changes no decision).
    pub fn prune(&mut self, now: DateTime<Utc>) {
        let window = self.cfg.window();
        self.keys
            .retain(|_, k| k.held.is_some() || now < k.window_start + window);
    }

    pub(crate) fn export(&self) -> (Vec<String>, Vec<(Key, KeyState)>) {
        (
            self.order.iter().cloned().collect(),
            self.keys
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    pub(crate) fn import(cfg: GateConfig, ids: Vec<String>, keys: Vec<(Key, KeyState)>) -> Gate {
        let mut g = Gate::new(cfg);
        for id in ids {
            g.remember(&id);
        }
        g.keys = keys.into_iter().collect();
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::{alert, t};

    fn cfg(max: u32) -> GateConfig {
        GateConfig {
            max_alerts: max,
            window_minutes: 10,
            remember_ids: 100,
        }
    }

    fn nth(i: u32) -> Alert {
        let mut a = alert();
        a.id = format!("id-{i}");
        a
    }

    /// Offer and apply at once, as if the queue always took it.
    fn offer(g: &mut Gate, a: &Alert, now: DateTime<Utc>) -> Verdict {
        let (v, c) = g.evaluate(a, now);
        if let Some(c) = c {
            g.apply(&c);
        }
        v
    }

    #[test]
    fn same_id_is_delivered_once() {
        let mut g = Gate::new(cfg(10));
        assert!(matches!(
            offer(&mut g, &nth(1), t(9, 0, 0)),
            Verdict::Deliver(_)
        ));
        assert_eq!(offer(&mut g, &nth(1), t(9, 0, 1)), Verdict::Duplicate);
        assert_eq!(offer(&mut g, &nth(1), t(12, 0, 0)), Verdict::Duplicate);
        // Evaluating without applying changes nothing.
        let (v, _) = g.evaluate(&nth(2), t(9, 0, 2));
        assert!(matches!(v, Verdict::Deliver(_)));
        assert!(!g.knows("id-2"));
    }

    #[test]
    fn bounded_memory_of_ids() {
        let mut g = Gate::new(cfg(0));
        for i in 0..150 {
            offer(&mut g, &nth(i), t(9, 0, 0));
        }
        assert!(!g.knows("id-0") && !g.knows("id-49"));
        assert!(g.knows("id-50") && g.knows("id-149"));
    }

    #[test]
    fn flapping_key_is_throttled_and_the_next_message_counts_the_rest() {
        let mut g = Gate::new(cfg(2));
        assert!(matches!(
            offer(&mut g, &nth(1), t(9, 0, 0)),
            Verdict::Deliver(_)
        ));
        assert!(matches!(
            offer(&mut g, &nth(2), t(9, 1, 0)),
            Verdict::Deliver(_)
        ));
        for i in 3..15 {
            assert_eq!(
                offer(&mut g, &nth(i), t(9, 2, i - 3)),
                Verdict::Suppressed {
                    held: u64::from(i - 2)
                }
            );
        }
        assert_eq!(g.held(), 12);
        // Another principal is not affected.
        let mut other = nth(100);
        other.principal = "bob".into();
        assert!(matches!(
            offer(&mut g, &other, t(9, 5, 0)),
            Verdict::Deliver(_)
        ));
        // After the window, the next alert carries the note.
        match offer(&mut g, &nth(20), t(9, 10, 0)) {
            Verdict::Deliver(n) => {
                let s = n.suppressed.expect("note");
                assert_eq!(s.count, 12);
                assert_eq!(s.since, t(9, 2, 0));
                assert_eq!(s.until, t(9, 2, 11));
                assert_eq!(s.alert_ids.first().map(String::as_str), Some("id-3"));
                assert_eq!(
                    s.summary(),
                    "12 similar alerts suppressed since 2026-11-02T09:02:00Z"
                );
            }
            v => panic!("{v:?}"),
        }
        assert_eq!(g.held(), 0);
        // The new window counts from 09:10: one more passes, then held again.
        assert!(
            matches!(offer(&mut g, &nth(21), t(9, 11, 0)), Verdict::Deliver(ref n) if n.suppressed.is_none())
        );
        assert_eq!(
            offer(&mut g, &nth(22), t(9, 12, 0)),
            Verdict::Suppressed { held: 1 }
        );
    }

    #[test]
    fn held_alerts_are_released_when_the_window_ends_without_a_new_one() {
        let mut g = Gate::new(cfg(1));
        offer(&mut g, &nth(1), t(9, 0, 0));
        offer(&mut g, &nth(2), t(9, 1, 0));
        offer(&mut g, &nth(3), t(9, 2, 0));
        offer(&mut g, &nth(4), t(9, 3, 0));
        assert!(g.due(t(9, 9, 59)).is_empty());
        let due = g.due(t(9, 10, 0));
        assert_eq!(due.len(), 1);
        let (n, change) = &due[0];
        assert_eq!(n.alert.id, "id-4", "the latest held alert");
        let s = n.suppressed.as_ref().unwrap();
        assert_eq!(s.count, 2);
        assert_eq!(s.alert_ids, vec!["id-2", "id-3"]);
        g.apply(change);
        assert_eq!(g.held(), 0);
        assert!(g.due(t(10, 0, 0)).is_empty());
        // The release opened a window at 09:10 with one delivery: the next is held.
        assert_eq!(
            offer(&mut g, &nth(5), t(9, 11, 0)),
            Verdict::Suppressed { held: 1 }
        );
        // One held alone is released without a note.
        let due = g.due(t(9, 20, 0));
        assert_eq!(due[0].0.alert.id, "id-5");
        assert!(due[0].0.suppressed.is_none());
    }

    #[test]
    fn break_glass_is_never_throttled_and_replay_rebuilds_state() {
        let mut g = Gate::new(cfg(1));
        let mut log = Vec::new();
        for i in 0..5 {
            let mut a = nth(i);
            a.break_glass = i % 2 == 0;
            let (v, c) = g.evaluate(&a, t(9, 0, i));
            if a.break_glass {
                assert!(matches!(v, Verdict::Deliver(_)), "{i}");
            }
            if let Some(c) = c {
                g.apply(&c);
                log.push(serde_json::to_string(&c).unwrap());
            }
        }
        assert_eq!(g.held(), 1, "id-3 held (id-1 passed, 0/2/4 break-glass)");
        let mut replayed = Gate::new(cfg(1));
        for line in &log {
            replayed.apply(&serde_json::from_str(line).unwrap());
        }
        assert_eq!(replayed.export(), g.export());
        let (ids, keys) = g.export();
        let imported = Gate::import(cfg(1), ids, keys);
        assert_eq!(imported.export(), g.export());
        g.prune(t(10, 0, 0));
        assert_eq!(g.held(), 1, "held keys survive pruning");
    }
}
