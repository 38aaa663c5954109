//! One sink's way in: the gate (dedup, throttle) in front of its durable queue.
//!
//! Layout under the sink's directory (e.g. `data/sinks/<name>/`): `queue/` ([`DiskQueue`]),
//! `gate/` ([`GateStore`]) and `dead-letter.jsonl` ([`crate::queue::DeadLetter`]).
//!
//! Order of writes for an offered alert: the gate decides without changing; a delivered alert
//! is pushed to the queue (durable); only then is the gate's change applied and logged. A
//! full queue therefore leaves the gate untouched (the caller may offer the same alert again
//! later), and a kill between the push and the log is repaired at open: ids of unacked queued
//! records are remembered again, so a replayed alert is still a duplicate.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use secretwatch_detect::Alert;

use crate::gate::{Change, Gate, GateConfig, GateStore, Verdict};
use crate::notification::Notification;
use crate::queue::disk::{DiskQueue, QueueConfig, QueueError};

/// What happened to an offered alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// In the queue as `seq`; `suppressed` is the count its note reports (0: no note).
    Queued { seq: u64, suppressed: u64 },
    /// This sink already has this id.
    Duplicate,
    /// Held by the throttle; `held` alerts of this rule and principal are counted.
    Suppressed { held: u64 },
}

pub struct Outbox {
    dir: PathBuf,
    gate: Gate,
    store: GateStore,
    queue: DiskQueue,
}

impl Outbox {
    pub fn open(dir: &Path, gate: GateConfig, queue: QueueConfig) -> Result<Outbox, QueueError> {
        let fsync = queue.fsync;
        let queue = DiskQueue::open(&dir.join("queue"), queue)?;
        let (store, gate) = GateStore::open(&dir.join("gate"), gate, fsync)?;
        let mut outbox = Outbox {
            dir: dir.to_path_buf(),
            gate,
            store,
            queue,
        };
        outbox.reconcile()?;
        Ok(outbox)
    }

    /// Remember the ids of queued records the gate log missed (a kill after the push).
    fn reconcile(&mut self) -> Result<(), QueueError> {
        let mut from = self.queue.acked();
        loop {
            let chunk = self.queue.peek_from(from, 1000, u64::MAX)?;
            let Some(last) = chunk.last().map(|e| e.seq) else {
                return Ok(());
            };
            for e in &chunk {
                let Ok(n) = e.decode::<Notification>() else {
                    continue;
                };
                if !self.gate.knows(&n.alert.id) {
                    let change = Change::Remember { id: n.alert.id };
                    self.gate.apply(&change);
                    self.store.record(&change, &self.gate)?;
                }
            }
            from = last + 1;
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn dead_letter_path(&self) -> PathBuf {
        self.dir.join("dead-letter.jsonl")
    }

    pub fn queue(&self) -> &DiskQueue {
        &self.queue
    }

    pub fn queue_mut(&mut self) -> &mut DiskQueue {
        &mut self.queue
    }

    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    fn commit(&mut self, change: &Change) -> Result<(), QueueError> {
        self.gate.apply(change);
        self.store.record(change, &self.gate)?;
        Ok(())
    }

    /// Offer one alert at event time `now`. `Err(QueueError::Full)` means it was not taken:
    /// surface it and offer it again later.
    pub fn offer(&mut self, alert: &Alert, now: DateTime<Utc>) -> Result<Offer, QueueError> {
        let (verdict, change) = self.gate.evaluate(alert, now);
        let offer = match verdict {
            Verdict::Duplicate => return Ok(Offer::Duplicate),
            Verdict::Suppressed { held } => Offer::Suppressed { held },
            Verdict::Deliver(n) => {
                let seq = self.queue.push(&*n)?;
                Offer::Queued {
                    seq,
                    suppressed: n.suppressed.map_or(0, |s| s.count),
                }
            }
        };
        if let Some(change) = change {
            self.commit(&change)?;
        }
        Ok(offer)
    }

    /// Queue the held alerts whose throttle window ended by `now` (event time). Returns how
    /// many were queued.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Result<usize, QueueError> {
        let due = self.gate.due(now);
        let count = due.len();
        for (n, change) in due {
            self.queue.push(&n)?;
            self.commit(&change)?;
        }
        self.gate.prune(now);
        Ok(count)
    }
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
