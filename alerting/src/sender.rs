//! One lane of a sink: its way in (the gated outbox of an alert lane, or the plain queue of an
//! events lane), its dead-letter file, counters and health, and the sender task that drains
//! it through the lane's [`Transport`].
//!
//! The sender peeks a batch from the queue, decodes it (alerts as [`Notification`]s, events as
//! [`ForwardedEvent`]s), sends it, and lets [`Delivery`] decide what to ack, dead-letter and
//! retry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use tokio::sync::{watch, Notify};

use crate::forward::ForwardedEvent;
use crate::notification::Notification;
use crate::queue::{
    DeadLetter, Delivery, DiskQueue, Entry, Health, Outbox, QueueError, RetryPolicy,
    TransportResult,
};
use crate::transport::{LaneFilter, LaneRecords, Transport};

/// Counters of one lane, since start.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub queued: AtomicU64,
    pub duplicates: AtomicU64,
    pub suppressed: AtomicU64,
    /// Records acked (delivered or dead-lettered).
    pub acked: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub failed_attempts: AtomicU64,
    /// Alerts refused by a full queue (kept in the dead-letter file).
    pub queue_full: AtomicU64,
    /// Events not queued (full queue, disk error): not kept.
    pub dropped: AtomicU64,
}

/// A lane's way in.
pub(crate) enum Intake {
    /// Alerts: the gate (dedup, throttle) in front of the queue.
    Alerts(Outbox),
    /// Forwarded events: the queue alone.
    Events(DiskQueue),
}

impl Intake {
    pub fn queue(&self) -> &DiskQueue {
        match self {
            Intake::Alerts(o) => o.queue(),
            Intake::Events(q) => q,
        }
    }

    pub fn queue_mut(&mut self) -> &mut DiskQueue {
        match self {
            Intake::Alerts(o) => o.queue_mut(),
            Intake::Events(q) => q,
        }
    }

    /// Queue held alerts whose throttle window ended by `now` (nothing for events).
    pub fn tick(&mut self, now: DateTime<Utc>) -> Result<usize, QueueError> {
        match self {
            Intake::Alerts(o) => o.tick(now),
            Intake::Events(_) => Ok(0),
        }
    }
}

/// Events a lane could not queue since its last "dropped" log line.
#[derive(Debug, Default)]
pub(crate) struct DropLog {
    pub last: Option<Instant>,
    pub unlogged: u64,
}

pub(crate) struct Lane {
    /// `sink`, `sink-digest` or `sink-events`.
    pub name: String,
    pub sink: String,
    pub kind: &'static str,
    pub endpoint: String,
    pub filter: LaneFilter,
    pub records: LaneRecords,
    pub intake: Mutex<Intake>,
    pub dead: Mutex<DeadLetter>,
    pub retry: RetryPolicy,
    pub wake: Notify,
    pub counters: Counters,
    pub health: Mutex<Health>,
    pub drop_log: Mutex<DropLog>,
}

impl Lane {
    pub fn intake(&self) -> std::sync::MutexGuard<'_, Intake> {
        self.intake.lock().expect("intake lock")
    }

    /// What the lane carries, for logs and status.
    pub fn carries(&self) -> &'static str {
        match self.records {
            LaneRecords::Alerts => "alerts",
            LaneRecords::Events(_) => "events",
        }
    }
}

/// How often a sender looks at the throttle (held alerts due) and the queue when idle.
const IDLE_TICK: Duration = Duration::from_secs(1);

fn decode_all<T: DeserializeOwned>(batch: &[Entry]) -> Result<Vec<T>, TransportResult> {
    batch
        .iter()
        .map(Entry::decode)
        .collect::<Result<Vec<T>, _>>()
        // Only a damaged queue file can do this: such a record is rejected alone.
        .map_err(|e| TransportResult::Status {
            status: 422,
            retry_after: None,
            body: format!("queued record cannot be read: {e}"),
        })
}

pub(crate) async fn run_lane(
    lane: Arc<Lane>,
    mut transport: Box<dyn Transport>,
    mut stop: watch::Receiver<bool>,
    seed: u64,
) {
    let batching = transport.batching();
    let mut delivery = Delivery::new(lane.retry.clone(), seed ^ 0x5eed);
    let item = match lane.records {
        LaneRecords::Alerts => "alert",
        LaneRecords::Events(_) => "event",
    };
    // When the first of the records now pending was first seen (for `linger`).
    let mut pending_since: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        // Held alerts whose window ended (wall time; live events are near it).
        match lane.intake().tick(Utc::now()) {
            Ok(n) if n > 0 => {
                lane.counters.queued.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => tracing::error!(sink = %lane.name, error = %e, "cannot queue held alerts"),
        }
        let limit = delivery.batch_limit(batching.max_items);
        let peeked = lane.intake().queue().peek(limit, batching.max_bytes);
        let peeked = match peeked {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(sink = %lane.name, error = %e, "cannot read the sink queue");
                wait(&lane, &mut stop, IDLE_TICK).await;
                continue;
            }
        };
        if peeked.is_empty() {
            pending_since = None;
            wait(&lane, &mut stop, IDLE_TICK).await;
            continue;
        }
        if !batching.linger.is_zero() && peeked.len() < batching.max_items {
            let since = *pending_since.get_or_insert_with(Instant::now);
            let age = since.elapsed();
            if age < batching.linger && !*stop.borrow() {
                wait(&lane, &mut stop, (batching.linger - age).min(IDLE_TICK)).await;
                continue;
            }
        }
        let batch = delivery.select(peeked);
        if batch.is_empty() {
            wait(&lane, &mut stop, IDLE_TICK).await;
            continue;
        }
        let sent = match &lane.records {
            LaneRecords::Alerts => match decode_all::<Notification>(&batch) {
                Ok(ns) => tokio::select! {
                    r = transport.send(&ns) => Some(r),
                    _ = stop.changed() => None,
                },
                Err(rejected) => Some(rejected),
            },
            LaneRecords::Events(_) => match decode_all::<ForwardedEvent>(&batch) {
                Ok(evs) => tokio::select! {
                    r = transport.send_events(&evs) => Some(r),
                    _ = stop.changed() => None,
                },
                Err(rejected) => Some(rejected),
            },
        };
        // Stopping mid-attempt: the batch stays queued (it may arrive twice).
        let Some(result) = sent else { return };
        let ok = matches!(
            &result,
            TransportResult::Delivered | TransportResult::PerItem(_)
        ) || matches!(&result, TransportResult::Status { status, .. } if (200..300).contains(status));
        if !ok {
            lane.counters
                .failed_attempts
                .fetch_add(1, Ordering::Relaxed);
        }
        let step = delivery.on_result(result);
        for d in &step.dead_letter {
            let entry = batch.iter().find(|e| e.seq == d.seq);
            if let Some(entry) = entry {
                tracing::error!(sink = %lane.name, seq = d.seq, status = ?d.status, response = %d.response, "{item} rejected by the sink: dead-lettered");
                let r = lane.dead.lock().expect("dead-letter lock").append(
                    &lane.name,
                    entry,
                    d,
                    Utc::now(),
                );
                if let Err(e) = r {
                    tracing::error!(sink = %lane.name, error = %e, "cannot write the dead-letter file");
                }
                lane.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Health first, then the ack: whoever sees the queue empty sees the lane's new health.
        let was = lane.health.lock().expect("health lock").clone();
        if was != step.health {
            match &step.health {
                Health::Healthy => tracing::info!(sink = %lane.name, "sink delivering again"),
                Health::Retrying {
                    attempts,
                    last_error,
                } => {
                    tracing::warn!(sink = %lane.name, endpoint = %lane.endpoint, attempts, error = %last_error, "sink failing: retrying")
                }
                Health::Blocked {
                    attempts,
                    last_error,
                } => {
                    tracing::error!(sink = %lane.name, endpoint = %lane.endpoint, attempts, error = %last_error, "sink refuses us (credential, URL or topic?): {} kept, retrying", lane.carries())
                }
            }
            *lane.health.lock().expect("health lock") = step.health.clone();
        }
        if let Some(seq) = step.ack_through {
            let mut intake = lane.intake();
            let q = intake.queue_mut();
            let before = q.acked();
            match q.ack_through(seq) {
                Ok(()) => {
                    let acked = q.acked().saturating_sub(before);
                    lane.counters.acked.fetch_add(acked, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!(sink = %lane.name, error = %e, "cannot ack the sink queue")
                }
            }
            pending_since = None;
        }
        if let Some(wait_for) = step.retry_after {
            if !wait_for.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait_for) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

async fn wait(lane: &Lane, stop: &mut watch::Receiver<bool>, d: Duration) {
    tokio::select! {
        _ = lane.wake.notified() => {}
        _ = tokio::time::sleep(d) => {}
        _ = stop.changed() => {}
    }
}
