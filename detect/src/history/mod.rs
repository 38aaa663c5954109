//! First-seen history per detection: a rule judged `new_terms` alerts only when the
//! combination of its fields (who, what, how far, from where) was not seen within its window
//! (Elastic's `new_terms` rule type; GuardDuty's per-identity "unusual" findings).
//!
//! - During the learning period (`detect.history_learning_days` of event time since the first
//!   event this history saw), combinations are learned quietly.
//! - A combination learned quietly on a day on which the same identity raised a high or
//!   critical alert is not trusted: it is forgotten, and the identity learns nothing more that
//!   day, so an incident during the learning period does not become normal.
//! - After learning, a new combination alerts once and is remembered; a known one is quiet and
//!   its last sighting moves on. Combinations not seen for their window expire.
//! - Combinations are 64-bit hashes of the rule and the field values (the baselines' term hash,
//!   [`hash_parts`]): no value is kept, and the same input gives the same hashes on every
//!   machine (replays are deterministic).
//!
//! Identities that change name are grouped before the lookup ([`group`]).

pub mod group;
mod state;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rsigma_eval::{Event, EventValue};
use secretwatch_ingest::AccessEvent;
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Severity};
use crate::baseline::terms::hash_parts;
use crate::sigma::SigmaView;

/// Default history window.
pub const DEFAULT_WINDOW_DAYS: u32 = 14;

/// How a rule is judged over time (the `secretwatch.history` block of a rule file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum History {
    /// Repeats within the alert window are one alert; every window alerts again (the default,
    /// and what third-party Sigma rules get).
    #[default]
    Window,
    /// Every occurrence matters (break-glass, audit tampering, secret values in logs): never
    /// quieted by history.
    Always,
    /// Alert only when the combination of `fields` was not seen in `window_days`.
    NewTerms(NewTerms),
}

/// A `new_terms` judgement: the fields that make a combination, and the history window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTerms {
    /// Field names as rules name them (`principal.group`, `verb`, `scope`, `target.namespace`).
    pub fields: Vec<String>,
    #[serde(default = "default_window")]
    pub window_days: u32,
}

fn default_window() -> u32 {
    DEFAULT_WINDOW_DAYS
}

impl NewTerms {
    pub fn new(fields: &[&str]) -> Self {
        NewTerms {
            fields: fields.iter().map(|f| f.to_string()).collect(),
            window_days: DEFAULT_WINDOW_DAYS,
        }
    }

    /// Problems with this judgement, for rule loading.
    pub fn validate(&self) -> Result<(), String> {
        if self.fields.is_empty() {
            return Err("new_terms: fields must name at least one field".into());
        }
        if !(1..=365).contains(&self.window_days) {
            return Err("new_terms: window_days must be between 1 and 365".into());
        }
        Ok(())
    }
}

/// What a combination's history says of one candidate alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen in the window: alert, with this explanation.
    New(String),
    /// Seen in the window: quiet.
    Known,
    /// Learning period: learned quietly.
    Learning,
    /// Learning period, but the identity raised a high alert today: quiet, not learned.
    Untrusted,
}

/// One remembered combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    /// Last day (days since the Unix epoch) it was seen.
    pub last_day: u32,
    /// The day it was learned quietly (learning period), or `u32::MAX` when it alerted.
    pub learned_quietly: u32,
    /// Hash of the identity group, to forget what it learned on a day it raised a high alert.
    pub identity: u32,
    pub window_days: u16,
}

/// The history of every `new_terms` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct TermHistory {
    specs: HashMap<String, NewTerms>,
    learning_days: u32,
    pub(crate) first_day: Option<u32>,
    pub(crate) seen: HashMap<u64, Seen>,
    /// (identity hash, day) pairs that raised a high or critical alert (learning period only).
    pub(crate) tainted: HashSet<(u32, u32)>,
    pub(crate) last_prune: u32,
    max_entries: usize,
}

fn day_of(t: DateTime<Utc>) -> u32 {
    u32::try_from(t.timestamp().div_euclid(86_400)).unwrap_or(0)
}

fn value_text(v: &EventValue<'_>, out: &mut String) {
    match v {
        EventValue::Str(s) => out.push_str(s),
        EventValue::Int(i) => out.push_str(&i.to_string()),
        EventValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        EventValue::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value_text(x, out);
            }
        }
        other => out.push_str(&format!("{other:?}")),
    }
}

/// The value of `field` for `ev` as text (empty when absent).
pub fn field_text(view: &SigmaView<'_, '_>, field: &str) -> String {
    let mut out = String::new();
    if let Some(v) = view.get_field(field) {
        value_text(&v, &mut out);
    }
    out
}

impl TermHistory {
    /// Combinations kept at most (the oldest go first beyond it).
    pub const MAX_ENTRIES: usize = 2_000_000;

    pub fn new(specs: HashMap<String, NewTerms>, learning_days: u32) -> Self {
        TermHistory {
            specs,
            learning_days,
            first_day: None,
            seen: HashMap::new(),
            tainted: HashSet::new(),
            last_prune: 0,
            max_entries: Self::MAX_ENTRIES,
        }
    }

    /// Replace the judgements (a rule reload); what was learned stays.
    pub fn set_specs(&mut self, specs: HashMap<String, NewTerms>) {
        self.specs = specs;
    }

    /// Rules judged by history.
    pub fn rules(&self) -> impl Iterator<Item = &str> {
        self.specs.keys().map(String::as_str)
    }

    pub fn spec(&self, rule: &str) -> Option<&NewTerms> {
        self.specs.get(rule)
    }

    /// Remembered combinations.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Whether `t` is inside the learning period.
    pub fn learning(&self, t: DateTime<Utc>) -> bool {
        let day = day_of(t);
        match self.first_day {
            None => true,
            Some(first) => day < first.saturating_add(self.learning_days),
        }
    }

    /// Event time moved to `t` (every event, before any judgement).
    pub fn advance(&mut self, t: DateTime<Utc>) {
        let day = day_of(t);
        if self.first_day.is_none() {
            self.first_day = Some(day);
        }
        if day > self.last_prune {
            self.last_prune = day;
            self.seen
                .retain(|_, s| s.last_day.saturating_add(u32::from(s.window_days)) >= day);
            // Taints matter only for quiet learning, which ends with the learning period.
            self.tainted.retain(|&(_, d)| d + 1 >= day);
        }
    }

    /// Judge the candidate alerts `out[from..]` raised by `ev`: those of `new_terms` rules are
    /// kept only when new (their reason then says why); high alerts of other rules taint the
    /// identity's day.
    pub fn judge(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>, from: usize) {
        if out.len() <= from {
            return;
        }
        let view = SigmaView::new(ev);
        let identity_text = group::principal_group(ev);
        let identity = hash_parts(&[identity_text.as_bytes()]) as u32;
        let day = day_of(ev.time);
        let learning = self.learning(ev.time);
        // Taint first: an alert raised now must hold back what this identity learns today.
        if learning
            && out[from..]
                .iter()
                .any(|a| a.severity >= Severity::High && !self.specs.contains_key(a.rule.as_str()))
            && self.tainted.insert((identity, day))
        {
            self.seen
                .retain(|_, s| !(s.identity == identity && s.learned_quietly == day));
        }
        let mut i = from;
        while i < out.len() {
            let Some(spec) = self.specs.get(out[i].rule.as_str()).cloned() else {
                i += 1;
                continue;
            };
            let values: Vec<String> = spec.fields.iter().map(|f| field_text(&view, f)).collect();
            let mut parts: Vec<&[u8]> = vec![out[i].rule.as_bytes()];
            parts.extend(values.iter().map(|v| v.as_bytes()));
            let key = hash_parts(&parts);
            let window = spec.window_days;
            let verdict = self.verdict(key, day, identity, window, learning);
            match verdict {
                Verdict::New(_) => {
                    let described: Vec<String> = spec
                        .fields
                        .iter()
                        .zip(&values)
                        .map(|(f, v)| format!("{f}={}", if v.is_empty() { "-" } else { v }))
                        .collect();
                    let a = &mut out[i];
                    a.reason.push_str(&format!(
                        "; first time in {window} days for this combination ({})",
                        described.join(", ")
                    ));
                    if identity_text != a.principal {
                        a.reason
                            .push_str(&format!("; identity group {identity_text}"));
                    }
                    i += 1;
                }
                _ => {
                    out.remove(i);
                }
            }
        }
    }

    fn verdict(
        &mut self,
        key: u64,
        day: u32,
        identity: u32,
        window: u32,
        learning: bool,
    ) -> Verdict {
        if let Some(s) = self.seen.get_mut(&key) {
            if s.last_day.saturating_add(window) >= day {
                s.last_day = s.last_day.max(day);
                return Verdict::Known;
            }
        }
        if learning {
            if self.tainted.contains(&(identity, day)) {
                return Verdict::Untrusted;
            }
            self.insert(key, day, day, identity, window);
            return Verdict::Learning;
        }
        self.insert(key, day, u32::MAX, identity, window);
        Verdict::New(String::new())
    }

    fn insert(&mut self, key: u64, day: u32, learned_quietly: u32, identity: u32, window: u32) {
        if self.seen.len() >= self.max_entries {
            // Drop the tenth seen longest ago (rare: only at the bound).
            let mut days: Vec<u32> = self.seen.values().map(|s| s.last_day).collect();
            days.sort_unstable();
            let cut = days[days.len() / 10];
            self.seen.retain(|_, s| s.last_day > cut);
        }
        self.seen.insert(
            key,
            Seen {
                last_day: day,
                learned_quietly,
                identity,
                window_days: u16::try_from(window).unwrap_or(u16::MAX),
            },
        );
    }

    #[cfg(test)]
    pub(crate) fn with_max_entries(mut self, n: usize) -> Self {
        self.max_entries = n;
        self
    }
}

#[cfg(test)]
mod tests;
