//! The running alerting side: every configured sink's lanes (outbox + sender task), the
//! router in front of them, and their status for `/metrics` and the health endpoint.
//!
//! [`Alerting::submit`] is called from the detection thread (synchronous, fast: a gate
//! decision and a durable queue append per routed lane). Each lane's sender is a tokio task
//! that peeks a batch from the queue, sends it through the lane's [`Transport`], and lets
//! [`Delivery`] decide what to ack, dead-letter and retry. A full queue does not drop the
//! alert: it is written to the lane's dead-letter file with the reason, logged at error level
//! and counted (`queue_full`), so it can be replayed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secretwatch_detect::Alert;
use secretwatch_ingest::SourceSystem;
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::config::{Origin, SinkConfig};
use crate::notification::Notification;
use crate::queue::{
    DeadLetter, Delivery, Entry, Health, Offer, Outbox, QueueError, Rejected, RetryPolicy,
    TransportResult,
};
use crate::route::{Router, Scope};
use crate::transport::{self, BuildError, LaneFilter, Transport};

/// Maps (source, namespace or Vault path) to an environment, for routing by environment.
pub type EnvironmentFn = Box<dyn Fn(SourceSystem, &str) -> Option<String> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("alerting.sinks[{index}] ({name}).{source}")]
    Build {
        index: usize,
        name: String,
        #[source]
        source: BuildError,
    },
    #[error("alerting.sinks[{index}] ({name}): {source}")]
    Queue {
        index: usize,
        name: String,
        #[source]
        source: QueueError,
    },
}

/// Counters of one lane, since start.
#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    duplicates: AtomicU64,
    suppressed: AtomicU64,
    /// Records acked (delivered or dead-lettered).
    acked: AtomicU64,
    dead_lettered: AtomicU64,
    failed_attempts: AtomicU64,
    queue_full: AtomicU64,
}

struct Lane {
    /// `sink` or `sink-digest`.
    name: String,
    sink: String,
    kind: &'static str,
    endpoint: String,
    filter: LaneFilter,
    outbox: Mutex<Outbox>,
    dead: Mutex<DeadLetter>,
    retry: RetryPolicy,
    wake: Notify,
    counters: Counters,
    health: Mutex<Health>,
}

/// What `/metrics` and the health endpoint show of one lane.
#[derive(Debug, Clone, Serialize)]
pub struct LaneStatus {
    pub name: String,
    pub sink: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub endpoint: String,
    /// `healthy`, `retrying` or `blocked`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub attempts: u32,
    pub pending: u64,
    pub queue_bytes: u64,
    pub queue_max_bytes: u64,
    pub queued: u64,
    pub duplicates: u64,
    pub suppressed: u64,
    pub delivered: u64,
    pub dead_lettered: u64,
    pub failed_attempts: u64,
    pub queue_full: u64,
}

/// What [`Alerting::submit`] did with one alert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Submitted {
    pub queued: usize,
    pub duplicates: usize,
    pub suppressed: usize,
    pub full: usize,
}

pub struct Alerting {
    lanes: Vec<Arc<Lane>>,
    /// Lanes (indices into `lanes`) of each sink, in configuration order.
    sink_lanes: Vec<Vec<usize>>,
    router: Router,
    environment: EnvironmentFn,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Alerting {
    /// Open every sink's queues under `dir/<lane>/` and build its transports (credentials are
    /// loaded here). Senders start with [`Alerting::start`].
    pub fn open(
        sinks: &[SinkConfig],
        dir: &Path,
        origin: &Origin,
        environment: EnvironmentFn,
    ) -> Result<(Alerting, Vec<Box<dyn Transport>>), HubError> {
        let mut lanes = Vec::new();
        let mut transports = Vec::new();
        let mut sink_lanes = Vec::new();
        for (index, s) in sinks.iter().enumerate() {
            let specs = transport::build(&s.output, origin).map_err(|source| HubError::Build {
                index,
                name: s.name.clone(),
                source,
            })?;
            let mut mine = Vec::new();
            for spec in specs {
                let name = format!("{}{}", s.name, spec.suffix);
                let lane_dir: PathBuf = dir.join(&name);
                let queue_err = |source| HubError::Queue {
                    index,
                    name: name.clone(),
                    source,
                };
                let outbox = Outbox::open(&lane_dir, s.throttle.clone(), s.queue.clone())
                    .map_err(queue_err)?;
                let dead = DeadLetter::open(&outbox.dead_letter_path()).map_err(queue_err)?;
                mine.push(lanes.len());
                lanes.push(Arc::new(Lane {
                    name: name.clone(),
                    sink: s.name.clone(),
                    kind: s.output.type_name(),
                    endpoint: spec.transport.endpoint(),
                    filter: spec.filter,
                    outbox: Mutex::new(outbox),
                    dead: Mutex::new(dead),
                    retry: s.retry.clone(),
                    wake: Notify::new(),
                    counters: Counters::default(),
                    health: Mutex::new(Health::Healthy),
                }));
                transports.push(spec.transport);
            }
            sink_lanes.push(mine);
        }
        let (shutdown, _) = watch::channel(false);
        Ok((
            Alerting {
                lanes,
                sink_lanes,
                router: Router::from_configs(sinks),
                environment,
                shutdown,
                tasks: Mutex::new(Vec::new()),
            },
            transports,
        ))
    }

    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Start one sender task per lane on the current tokio runtime; `transports` as returned
    /// by [`Alerting::open`].
    pub fn start(&self, transports: Vec<Box<dyn Transport>>) {
        let mut tasks = self.tasks.lock().expect("tasks lock");
        for (i, (lane, t)) in self.lanes.iter().zip(transports).enumerate() {
            let lane = Arc::clone(lane);
            let stop = self.shutdown.subscribe();
            tasks.push(tokio::spawn(run_lane(lane, t, stop, i as u64)));
        }
    }

    /// Route one alert and offer it to each chosen lane (`now`: its event time).
    pub fn submit(&self, alert: &Alert, now: DateTime<Utc>) -> Submitted {
        let scope = Scope::of(alert, |src, key| (self.environment)(src, key));
        let mut out = Submitted::default();
        for sink in self.router.route(alert, &scope) {
            for &li in &self.sink_lanes[sink] {
                let lane = &self.lanes[li];
                if !lane.filter.takes(alert) {
                    continue;
                }
                let offered = lane.outbox.lock().expect("outbox lock").offer(alert, now);
                match offered {
                    Ok(Offer::Queued { .. }) => {
                        out.queued += 1;
                        lane.counters.queued.fetch_add(1, Ordering::Relaxed);
                        lane.wake.notify_one();
                    }
                    Ok(Offer::Duplicate) => {
                        out.duplicates += 1;
                        lane.counters.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Offer::Suppressed { .. }) => {
                        out.suppressed += 1;
                        lane.counters.suppressed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        out.full += 1;
                        lane.counters.queue_full.fetch_add(1, Ordering::Relaxed);
                        keep_refused(lane, alert, &e);
                    }
                }
            }
        }
        out
    }

    /// Release throttled alerts whose window ended by `now` (event time), e.g. at the end of
    /// a scan with the last event's time plus the longest window.
    pub fn release_held(&self, now: DateTime<Utc>) {
        for lane in &self.lanes {
            let r = lane.outbox.lock().expect("outbox lock").tick(now);
            match r {
                Ok(n) if n > 0 => {
                    lane.counters.queued.fetch_add(n as u64, Ordering::Relaxed);
                    lane.wake.notify_one();
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(sink = %lane.name, error = %e, "cannot queue held alerts")
                }
            }
        }
    }

    pub fn status(&self) -> Vec<LaneStatus> {
        self.lanes.iter().map(|l| status_of(l)).collect()
    }

    /// Records waiting in all queues.
    pub fn pending(&self) -> u64 {
        self.lanes
            .iter()
            .map(|l| l.outbox.lock().expect("outbox lock").queue().pending())
            .sum()
    }

    /// Wait until every queue is empty or `timeout` passed; returns what is still pending.
    pub async fn drain(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = self.pending();
            if pending == 0 || Instant::now() >= deadline {
                return pending;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stop the senders (what is queued stays on disk for the next start).
    pub async fn stop(&self) {
        let _ = self.shutdown.send(true);
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        for t in tasks {
            let _ = t.await;
        }
    }
}

fn status_of(l: &Lane) -> LaneStatus {
    let (pending, stats) = {
        let o = l.outbox.lock().expect("outbox lock");
        (o.queue().pending(), o.queue().stats())
    };
    let health = l.health.lock().expect("health lock").clone();
    let (state, last_error, attempts) = match health {
        Health::Healthy => ("healthy", None, 0),
        Health::Retrying {
            attempts,
            last_error,
        } => ("retrying", Some(last_error), attempts),
        Health::Blocked {
            attempts,
            last_error,
        } => ("blocked", Some(last_error), attempts),
    };
    let c = &l.counters;
    LaneStatus {
        name: l.name.clone(),
        sink: l.sink.clone(),
        kind: l.kind,
        endpoint: l.endpoint.clone(),
        state,
        last_error,
        attempts,
        pending,
        queue_bytes: stats.used_bytes,
        queue_max_bytes: stats.max_bytes,
        queued: c.queued.load(Ordering::Relaxed),
        duplicates: c.duplicates.load(Ordering::Relaxed),
        suppressed: c.suppressed.load(Ordering::Relaxed),
        delivered: c
            .acked
            .load(Ordering::Relaxed)
            .saturating_sub(c.dead_lettered.load(Ordering::Relaxed)),
        dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
        failed_attempts: c.failed_attempts.load(Ordering::Relaxed),
        queue_full: c.queue_full.load(Ordering::Relaxed),
    }
}

/// A refused alert (full queue, disk error) goes to the lane's dead-letter file, loudly.
fn keep_refused(lane: &Lane, alert: &Alert, e: &QueueError) {
    tracing::error!(
        sink = %lane.name,
        alert_id = %alert.id,
        rule = %alert.rule,
        error = %e,
        "sink queue refused an alert: written to its dead-letter file"
    );
    let entry = Entry {
        seq: 0,
        data: serde_json::to_vec(&Notification::new(alert.clone())).expect("an alert serializes"),
    };
    let rejected = Rejected {
        seq: 0,
        status: None,
        response: format!("not queued: {e}"),
    };
    let r = lane.dead.lock().expect("dead-letter lock").append(
        &lane.name,
        &entry,
        &rejected,
        Utc::now(),
    );
    if let Err(e) = r {
        tracing::error!(sink = %lane.name, alert_id = %alert.id, error = %e, "cannot write the dead-letter file either");
    }
}

/// How often a sender looks at the throttle (held alerts due) and the queue when idle.
const IDLE_TICK: Duration = Duration::from_secs(1);

async fn run_lane(
    lane: Arc<Lane>,
    mut transport: Box<dyn Transport>,
    mut stop: watch::Receiver<bool>,
    seed: u64,
) {
    let batching = transport.batching();
    let mut delivery = Delivery::new(lane.retry.clone(), seed ^ 0x5eed);
    // When the first of the records now pending was first seen (for `linger`).
    let mut pending_since: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        // Held alerts whose window ended (wall time; live events are near it).
        match lane.outbox.lock().expect("outbox lock").tick(Utc::now()) {
            Ok(n) if n > 0 => {
                lane.counters.queued.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(e) => tracing::error!(sink = %lane.name, error = %e, "cannot queue held alerts"),
        }
        let limit = delivery.batch_limit(batching.max_items);
        let peeked = lane
            .outbox
            .lock()
            .expect("outbox lock")
            .queue()
            .peek(limit, batching.max_bytes);
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
        let decoded: Result<Vec<Notification>, _> = batch.iter().map(Entry::decode).collect();
        let result = match decoded {
            Ok(ns) => {
                let sent = tokio::select! {
                    r = transport.send(&ns) => Some(r),
                    _ = stop.changed() => None,
                };
                match sent {
                    Some(r) => r,
                    // Stopping mid-attempt: the batch stays queued (it may arrive twice).
                    None => return,
                }
            }
            // Only a damaged queue file can do this: such a record is rejected alone.
            Err(e) => TransportResult::Status {
                status: 422,
                retry_after: None,
                body: format!("queued record is not a notification: {e}"),
            },
        };
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
                tracing::error!(sink = %lane.name, seq = d.seq, status = ?d.status, response = %d.response, "alert rejected by the sink: dead-lettered");
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
        if let Some(seq) = step.ack_through {
            let mut o = lane.outbox.lock().expect("outbox lock");
            let before = o.queue().acked();
            match o.queue_mut().ack_through(seq) {
                Ok(()) => {
                    let acked = o.queue().acked().saturating_sub(before);
                    lane.counters.acked.fetch_add(acked, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!(sink = %lane.name, error = %e, "cannot ack the sink queue")
                }
            }
            pending_since = None;
        }
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
                    tracing::error!(sink = %lane.name, endpoint = %lane.endpoint, attempts, error = %last_error, "sink refuses us (credential or URL?): alerts kept, retrying")
                }
            }
            *lane.health.lock().expect("health lock") = step.health.clone();
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
