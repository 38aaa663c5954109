//! The delivery state machine one sink's sender drives.
//!
//! ```text
//! loop {
//!     let peeked = queue.peek(delivery.batch_limit(max_batch), max_bytes)?;
//!     let batch = delivery.select(peeked);            // skips what is already delivered
//!     if batch.is_empty() { wait for a push; continue }
//!     let result = transport.send(encode(&batch)).await;   // -> TransportResult
//!     let step = delivery.on_result(result);
//!     for d in &step.dead_letter { dead_letters.append(sink, &entry(d.seq), d, now)? }
//!     if let Some(seq) = step.ack_through { queue.ack_through(seq)? }
//!     if let Some(wait) = step.retry_after { sleep(wait).await }
//!     publish(step.health);
//! }
//! ```
//!
//! Items of a batch that were delivered while an earlier one must be retried are remembered
//! (not acked: the cursor only moves over a contiguous prefix) and not sent again. A batch
//! rejected as a whole (a 4xx that is not about the sink) is retried one item at a time to
//! find the bad item, and only that one is dead-lettered.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::queue::disk::Entry;
use crate::queue::retry::{classify_status, Backoff, Class, RetryPolicy};

/// What the transport saw for one batch.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportResult {
    /// Written to a stream sink (syslog) or file and flushed.
    Delivered,
    /// One HTTP answer for the whole batch; `retry_after` parsed from the header
    /// ([`crate::queue::parse_retry_after`]).
    Status {
        status: u16,
        retry_after: Option<Duration>,
        body: String,
    },
    /// One status per item, in batch order (Elasticsearch `_bulk` answered 200). A 409 means
    /// the document with that `_id` is already there: delivered.
    PerItem(Vec<ItemStatus>),
    /// Connection refused, DNS, TLS, reset, a bad answer...
    Failed {
        error: String,
    },
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemStatus {
    pub status: u16,
    pub error: Option<String>,
}

/// One record to move to the dead-letter file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub seq: u64,
    pub status: Option<u16>,
    /// The response body or item error, as the server gave it.
    pub response: String,
}

/// How the sink is doing, for `/metrics` and the health endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    /// Transient failures; `attempts` since the last success.
    Retrying {
        attempts: u32,
        last_error: String,
    },
    /// The sink refuses us (credential, URL): an operator must act; nothing is dropped.
    Blocked {
        attempts: u32,
        last_error: String,
    },
}

/// What to do after one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Acknowledge every record through this seq (after writing the dead letters).
    pub ack_through: Option<u64>,
    pub dead_letter: Vec<Rejected>,
    /// Wait this long before the next attempt; `None`: go on at once.
    pub retry_after: Option<Duration>,
    pub health: Health,
}

#[derive(Debug, Clone)]
struct InFlight {
    /// The queue's ack cursor when the batch was selected.
    cursor: u64,
    seqs: Vec<u64>,
}

/// Per-sink delivery state.
#[derive(Debug, Clone)]
pub struct Delivery {
    backoff: Backoff,
    /// Delivered (or dead-lettered) but not yet acked: a record before them is still pending.
    done: BTreeSet<u64>,
    /// Send one record at a time through this seq, to find the one a batch was rejected for.
    isolate_through: Option<u64>,
    in_flight: Option<InFlight>,
    health: Health,
}

fn snippet(s: &str) -> String {
    crate::text::truncate_chars(s, 4096)
}

impl Delivery {
    pub fn new(policy: RetryPolicy, seed: u64) -> Delivery {
        Delivery {
            backoff: Backoff::new(policy, seed),
            done: BTreeSet::new(),
            isolate_through: None,
            in_flight: None,
            health: Health::Healthy,
        }
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// How many records to peek: `max`, or 1 while isolating a rejected record.
    pub fn batch_limit(&self, max: usize) -> usize {
        if self.isolate_through.is_some() {
            1 + self.done.len()
        } else {
            max.max(1) + self.done.len()
        }
    }

    /// From records peeked at the ack cursor, those to send now (in order), remembered as in
    /// flight until [`Delivery::on_result`].
    pub fn select(&mut self, peeked: Vec<Entry>) -> Vec<Entry> {
        let Some(cursor) = peeked.first().map(|e| e.seq) else {
            self.in_flight = None;
            return Vec::new();
        };
        self.done.retain(|s| *s >= cursor);
        if self.isolate_through.is_some_and(|t| cursor > t) {
            self.isolate_through = None;
        }
        let limit = if self.isolate_through.is_some() {
            1
        } else {
            usize::MAX
        };
        let batch: Vec<Entry> = peeked
            .into_iter()
            .filter(|e| !self.done.contains(&e.seq))
            .take(limit)
            .collect();
        self.in_flight = Some(InFlight {
            cursor,
            seqs: batch.iter().map(|e| e.seq).collect(),
        });
        batch
    }

    /// Decide after the transport answered for the batch last returned by `select`.
    pub fn on_result(&mut self, result: TransportResult) -> Step {
        let Some(flight) = self.in_flight.take() else {
            return Step {
                ack_through: None,
                dead_letter: Vec::new(),
                retry_after: None,
                health: self.health.clone(),
            };
        };
        let mut dead = Vec::new();
        let mut retry: Option<(Class, String, Option<Duration>)> = None;
        match result {
            TransportResult::Delivered => self.done.extend(&flight.seqs),
            TransportResult::Status {
                status,
                retry_after,
                body,
            } => match classify_status(status) {
                Class::Success => self.done.extend(&flight.seqs),
                Class::Reject if flight.seqs.len() > 1 => {
                    // Which record is bad? Send them one by one.
                    self.isolate_through = flight.seqs.last().copied();
                    retry = Some((
                        Class::Reject,
                        format!("HTTP {status}: {}", snippet(&body)),
                        Some(Duration::ZERO),
                    ));
                }
                Class::Reject => {
                    for &seq in &flight.seqs {
                        dead.push(Rejected {
                            seq,
                            status: Some(status),
                            response: snippet(&body),
                        });
                        self.done.insert(seq);
                    }
                }
                class => {
                    retry = Some((
                        class,
                        format!("HTTP {status}: {}", snippet(&body)),
                        retry_after,
                    ));
                }
            },
            TransportResult::PerItem(items) if items.len() != flight.seqs.len() => {
                retry = Some((
                    Class::Retry,
                    format!(
                        "{} item results for {} records",
                        items.len(),
                        flight.seqs.len()
                    ),
                    None,
                ));
            }
            TransportResult::PerItem(items) => {
                for (&seq, item) in flight.seqs.iter().zip(&items) {
                    let class = match item.status {
                        409 => Class::Success,
                        s => classify_status(s),
                    };
                    let error = || {
                        format!(
                            "item {seq}: HTTP {}: {}",
                            item.status,
                            item.error.as_deref().unwrap_or("")
                        )
                    };
                    match class {
                        Class::Success => {
                            self.done.insert(seq);
                        }
                        Class::Reject => {
                            dead.push(Rejected {
                                seq,
                                status: Some(item.status),
                                response: snippet(item.error.as_deref().unwrap_or("")),
                            });
                            self.done.insert(seq);
                        }
                        Class::Blocked => retry = Some((Class::Blocked, error(), None)),
                        Class::Retry => {
                            if !matches!(retry, Some((Class::Blocked, _, _))) {
                                retry = Some((Class::Retry, error(), None));
                            }
                        }
                    }
                }
            }
            TransportResult::Failed { error } => retry = Some((Class::Retry, error, None)),
            TransportResult::Timeout => retry = Some((Class::Retry, "timeout".to_string(), None)),
        }

        // The cursor moves over the contiguous run of finished records.
        let mut next = flight.cursor;
        while self.done.remove(&next) {
            next += 1;
        }
        let ack_through = (next > flight.cursor).then(|| next - 1);
        if self.isolate_through.is_some_and(|t| next > t) {
            self.isolate_through = None;
        }

        let retry_after = match retry {
            None => {
                self.backoff.reset();
                self.health = Health::Healthy;
                None
            }
            Some((Class::Reject, _, wait)) => wait,
            Some((class, last_error, server)) => {
                let wait = match server {
                    Some(d) => self.backoff.server_delay(d),
                    None => self.backoff.next_delay(),
                };
                let attempts = self.backoff.attempts();
                self.health = if class == Class::Blocked {
                    Health::Blocked {
                        attempts,
                        last_error,
                    }
                } else {
                    Health::Retrying {
                        attempts,
                        last_error,
                    }
                };
                Some(wait)
            }
        };
        Step {
            ack_through,
            dead_letter: dead,
            retry_after,
            health: self.health.clone(),
        }
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
