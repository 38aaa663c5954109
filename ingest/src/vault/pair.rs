//! Pairs Vault request and response entries by `request.id` so one access counts once.
//!
//! A response carries the request too, so the response alone makes the event; a request is
//! held (owned) until its response arrives, and emitted alone when the response never comes
//! (end of input, or more than `max_pending` requests waiting). A request that comes after its
//! response (a log spread over Kafka partitions, read in turns) is dropped: the response counted
//! already; the ids of the last `max_pending` responses are remembered for that.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::event::AccessEvent;
use crate::vault::parser::{EntryType, VaultEntry};

/// Holds requests until their responses arrive. Memory is bounded by `max_pending`.
#[derive(Debug)]
pub struct VaultPairer {
    pending: HashMap<String, AccessEvent<'static>>,
    order: VecDeque<String>,
    max_pending: usize,
    /// Responses seen without a held request (their request may come later).
    answered: HashSet<String>,
    answered_order: VecDeque<String>,
    /// Requests given up on while the stream goes on (more than `max_pending` waiting).
    unanswered: u64,
}

impl VaultPairer {
    pub fn new(max_pending: usize) -> Self {
        VaultPairer {
            pending: HashMap::new(),
            order: VecDeque::new(),
            max_pending: max_pending.max(1),
            answered: HashSet::new(),
            answered_order: VecDeque::new(),
            unanswered: 0,
        }
    }

    /// Feed one entry; events ready to count are passed to `emit`.
    pub fn push<'a>(&mut self, entry: VaultEntry<'a>, emit: &mut dyn FnMut(AccessEvent<'a>)) {
        match entry.entry_type {
            EntryType::Response => {
                // The request, if held, is superseded by the response.
                if self.pending.remove(entry.event.id.as_ref()).is_none() && !entry.derived_id {
                    let id = entry.event.id.to_string();
                    if self.answered.insert(id.clone()) {
                        self.answered_order.push_back(id);
                        while self.answered_order.len() > self.max_pending {
                            if let Some(old) = self.answered_order.pop_front() {
                                self.answered.remove(&old);
                            }
                        }
                    }
                }
                emit(entry.event);
            }
            // KMIP requests cannot be paired (no id); their responses repeat the request.
            EntryType::Request if entry.kmip => {}
            // Without an id there is nothing to pair by: the request counts on its own.
            EntryType::Request if entry.derived_id => emit(entry.event),
            // Its response came first and counted.
            EntryType::Request if self.answered.remove(entry.event.id.as_ref()) => {}
            EntryType::Request => {
                let ev = entry.event.into_owned();
                let id = ev.id.to_string();
                if self.pending.insert(id.clone(), ev).is_none() {
                    self.order.push_back(id);
                }
                while self.pending.len() > self.max_pending {
                    self.pop_oldest(emit);
                }
                // Keep the order queue from growing with ids already answered.
                if self.order.len() > 2 * self.max_pending {
                    let pending = &self.pending;
                    self.order.retain(|id| pending.contains_key(id));
                }
            }
        }
    }

    fn pop_oldest<'a>(&mut self, emit: &mut dyn FnMut(AccessEvent<'a>)) {
        while let Some(id) = self.order.pop_front() {
            if let Some(ev) = self.pending.remove(&id) {
                self.unanswered += 1;
                emit(ev);
                return;
            }
        }
    }

    /// Emit every request still waiting (end of input).
    pub fn flush<'a>(&mut self, emit: &mut dyn FnMut(AccessEvent<'a>)) {
        while let Some(id) = self.order.pop_front() {
            if let Some(ev) = self.pending.remove(&id) {
                emit(ev);
            }
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Requests counted on their own because their response had not come while `max_pending`
    /// others waited: a response in another partition read much later, or in another instance.
    pub fn unanswered(&self) -> u64 {
        self.unanswered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::ParseOptions;
    use crate::vault::parser::parse_entry;
    use crate::Outcome;

    fn entry(kind: &str, id: &str) -> String {
        format!(
            r#"{{"time":"2026-11-02T09:00:00Z","type":"{kind}","auth":{{"display_name":"oidc-alice","policies":["default"]}},"request":{{"id":"{id}","operation":"read","path":"secret/data/x","mount_type":"kv"}}}}"#
        )
    }

    #[test]
    fn request_then_response_counts_once() {
        let opts = ParseOptions::default();
        let mut p = VaultPairer::new(10);
        let mut out = vec![];
        let (req, resp) = (entry("request", "a"), entry("response", "a"));
        p.push(parse_entry(&req, &opts).unwrap(), &mut |e| {
            out.push(e.into_owned())
        });
        assert!(out.is_empty());
        assert_eq!(p.pending(), 1);
        p.push(parse_entry(&resp, &opts).unwrap(), &mut |e| {
            out.push(e.into_owned())
        });
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].outcome, Outcome::Allowed);
        p.flush(&mut |e| out.push(e.into_owned()));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_request_after_its_response_is_not_counted_again() {
        let opts = ParseOptions::default();
        let mut p = VaultPairer::new(10);
        let mut out = vec![];
        let (req, resp) = (entry("request", "a"), entry("response", "a"));
        p.push(parse_entry(&resp, &opts).unwrap(), &mut |e| {
            out.push(e.into_owned())
        });
        p.push(parse_entry(&req, &opts).unwrap(), &mut |e| {
            out.push(e.into_owned())
        });
        p.flush(&mut |e| out.push(e.into_owned()));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].outcome, Outcome::Allowed);
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn unanswered_requests_are_emitted_at_bound_and_flush() {
        let opts = ParseOptions::default();
        let mut p = VaultPairer::new(2);
        let mut out: Vec<AccessEvent<'static>> = vec![];
        let lines: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|id| entry("request", id))
            .collect();
        for l in &lines {
            p.push(parse_entry(l, &opts).unwrap(), &mut |e| {
                out.push(e.into_owned())
            });
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "a");
        assert_eq!(out[0].outcome, Outcome::Unknown);
        assert_eq!(p.unanswered(), 1, "given up on while the stream goes on");
        p.flush(&mut |e| out.push(e.into_owned()));
        let ids: Vec<_> = out.iter().map(|e| e.id.to_string()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(
            p.unanswered(),
            1,
            "the end of input is not a stream giving up"
        );
    }
}
