//! The Secrets the stream has shown, where and in what state: one record per Kubernetes Secret
//! (cluster, namespace, name), built from the events themselves (creates, updates, deletes,
//! reads by name, 404s and the kubelet's reports of a missing Secret).
//!
//! It answers the questions a missing-secret alert must answer: does a Secret of this name
//! exist in another namespace or cluster (and who created it, when), was it deleted here (by
//! whom). Bounded: past `max` records the least recently seen go first.
//!
//! What a record can say depends on what the audit policy logs: `Metadata` level is enough
//! (verb, object, status); a watch or list by name proves nothing about existence (an empty
//! answer is a 200 too), so it only counts as "seen".

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use secretwatch_ingest::{AccessEvent, Outcome, SourceSystem};
use serde::{Deserialize, Serialize};

/// The default bound on records.
pub const DEFAULT_MAX: usize = 100_000;

/// What secretwatch last learned of a Secret's existence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// Created, written or read successfully.
    Exists,
    /// Deleted.
    Deleted,
    /// A read found nothing (404), or a kubelet reported it missing.
    Missing,
    /// Only seen watched or listed by name.
    Unknown,
}

/// When and by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    pub at: DateTime<Utc>,
    pub by: String,
}

/// One Secret in one namespace of one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub store: String,
    pub namespace: String,
    pub presence: Presence,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Touch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<Touch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Touch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Touch>,
}

/// The records, by Secret name (a name is in few places, so lookups scan a short list).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretInventory {
    max: usize,
    by_name: HashMap<String, Vec<Place>>,
    len: usize,
    /// The latest allowed write (create, update, patch, delete) of any Secret, per cluster: the
    /// audit log of that cluster shows Secret writes.
    #[serde(default)]
    last_write: HashMap<String, DateTime<Utc>>,
}

impl Default for SecretInventory {
    fn default() -> Self {
        SecretInventory::new(DEFAULT_MAX)
    }
}

/// The verbs of the Kubernetes API: a 404 with any other verb is a reported failure (an Event).
const API_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// A reported failure to find a Secret (a kubelet's Event, see `secretwatch_ingest::k8s::events`),
/// not an API request that got a 404.
pub fn is_report(ev: &AccessEvent<'_>) -> bool {
    ev.source == SourceSystem::Kubernetes
        && ev.target.is_secret
        && ev.status_code == Some(404)
        && ev.request_uri.is_none()
        && !API_VERBS.contains(&ev.raw_action.as_ref())
}

/// An event's Kubernetes Secret, as (store, namespace, name).
fn secret_of<'e>(ev: &'e AccessEvent<'_>) -> Option<(&'e str, &'e str, &'e str)> {
    if ev.source != SourceSystem::Kubernetes
        || ev.target.resource.as_deref() != Some("secrets")
        || ev.target.subresource.is_some()
    {
        return None;
    }
    Some((
        &ev.target.store,
        ev.target.namespace.as_deref()?,
        ev.target.name.as_deref()?,
    ))
}

impl SecretInventory {
    pub fn new(max: usize) -> Self {
        SecretInventory {
            max: max.max(1),
            by_name: HashMap::new(),
            len: 0,
            last_write: HashMap::new(),
        }
    }

    /// The bound on records.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Change the bound (a restored inventory takes the config's).
    pub fn set_max(&mut self, max: usize) {
        self.max = max.max(1);
        while self.len > self.max {
            self.evict();
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Learn from one event (any event: those not about a named Kubernetes Secret are ignored).
    pub fn observe(&mut self, ev: &AccessEvent<'_>) {
        let Some((store, ns, name)) = secret_of(ev) else {
            return;
        };
        let ok = ev.outcome == Outcome::Allowed;
        let missing = ev.status_code == Some(404);
        if ok
            && matches!(
                ev.raw_action.as_ref(),
                "create" | "update" | "patch" | "delete"
            )
        {
            let seen = self.last_write.entry(store.to_string()).or_insert(ev.time);
            *seen = (*seen).max(ev.time);
        }
        if !ok && !missing {
            return;
        }
        let places = self.by_name.entry(name.to_string()).or_default();
        let at = match places
            .iter()
            .position(|p| p.store == store && p.namespace == ns)
        {
            Some(i) => i,
            None => {
                places.push(Place {
                    store: store.to_string(),
                    namespace: ns.to_string(),
                    presence: Presence::Unknown,
                    first_seen: ev.time,
                    last_seen: ev.time,
                    created: None,
                    written: None,
                    deleted: None,
                    read: None,
                });
                self.len += 1;
                places.len() - 1
            }
        };
        let p = &mut places[at];
        // Out-of-order events never turn a newer state back.
        let newer = ev.time >= p.last_seen;
        p.last_seen = p.last_seen.max(ev.time);
        p.first_seen = p.first_seen.min(ev.time);
        let touch = || Touch {
            at: ev.time,
            by: ev.effective_principal().to_string(),
        };
        if missing {
            // A kubelet's report (no request URI: an Event) reflects its cache, which lags a
            // create by seconds: it never overrides what a write showed.
            let overrides = !(is_report(ev) && p.presence == Presence::Exists);
            if (newer || p.presence == Presence::Unknown) && overrides {
                p.presence = Presence::Missing;
            }
        } else {
            let (presence, slot) = match ev.raw_action.as_ref() {
                "create" => (Some(Presence::Exists), Some(&mut p.created)),
                "update" | "patch" => (Some(Presence::Exists), Some(&mut p.written)),
                "get" => (Some(Presence::Exists), Some(&mut p.read)),
                "delete" => (Some(Presence::Deleted), Some(&mut p.deleted)),
                _ => (None, None),
            };
            if let Some(slot) = slot {
                if slot.as_ref().is_none_or(|t| t.at <= ev.time) {
                    *slot = Some(touch());
                }
            }
            if let Some(presence) = presence {
                if newer || p.presence == Presence::Unknown {
                    p.presence = presence;
                }
            }
        }
        if self.len > self.max {
            self.evict();
        }
    }

    /// Whether a write of any Secret of `store` was seen at or after `since` (the audit log of
    /// that cluster would show a create).
    pub fn writes_seen(&self, store: &str, since: DateTime<Utc>) -> bool {
        self.last_write.get(store).is_some_and(|t| *t >= since)
    }

    /// The record of a Secret in one place.
    pub fn get(&self, store: &str, namespace: &str, name: &str) -> Option<&Place> {
        self.by_name
            .get(name)?
            .iter()
            .find(|p| p.store == store && p.namespace == namespace)
    }

    /// Every place a Secret of this name exists, but the one given.
    pub fn exists_elsewhere(&self, store: &str, namespace: &str, name: &str) -> Vec<&Place> {
        self.by_name
            .get(name)
            .map(|places| {
                places
                    .iter()
                    .filter(|p| p.presence == Presence::Exists)
                    .filter(|p| !(p.store == store && p.namespace == namespace))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Drop the least recently seen tenth.
    fn evict(&mut self) {
        let mut seen: Vec<DateTime<Utc>> = self
            .by_name
            .values()
            .flat_map(|v| v.iter().map(|p| p.last_seen))
            .collect();
        let drop = (self.max / 10).max(1).min(seen.len());
        seen.select_nth_unstable(drop - 1);
        let cut = seen[drop - 1];
        let mut left = self.len;
        let mut budget = drop;
        self.by_name.retain(|_, places| {
            places.retain(|p| {
                if budget > 0 && p.last_seen <= cut {
                    budget -= 1;
                    left -= 1;
                    false
                } else {
                    true
                }
            });
            !places.is_empty()
        });
        self.len = left;
    }
}

#[cfg(test)]
mod tests;
