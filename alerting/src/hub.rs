//! The running alerting side: every configured sink's lanes (outbox + sender task), the
//! router in front of them, and their status for `/metrics` and the health endpoint.
//!
//! [`Alerting::submit`] is called from the detection thread (synchronous, fast: a gate
//! decision and a durable queue append per routed lane). Each lane's sender is a tokio task
//! that peeks a batch from the queue, sends it through the lane's [`Transport`], and lets
//! [`crate::Delivery`] decide what to ack, dead-letter and retry (`sender.rs`). A full
//! queue does not drop the alert: it is written to the lane's dead-letter file with the
//! reason, logged at error level and counted (`queue_full`), so it can be replayed.
//!
//! [`Alerting::forward`] is called from the detection thread too, with each batch of
//! (redacted) access events: every sink with `forward_events = true` has an events lane
//! `<sink>-events` with its own queue and sender ([`crate::forward`]). A full events queue
//! never blocks and never drops silently: the events are counted (`dropped`) and logged.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secretwatch_detect::Alert;
use secretwatch_ingest::{AccessEvent, SourceSystem};
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::config::{Origin, SinkConfig};
use crate::forward::{Forwarded, DROP_LOG_INTERVAL};
use crate::notification::Notification;
use crate::queue::{DeadLetter, DiskQueue, Entry, Health, Offer, Outbox, QueueError, Rejected};
use crate::route::{Router, Scope};
use crate::sender::{run_lane, Counters, DropLog, Intake, Lane};
use crate::transport::{self, BuildError, LaneRecords, Transport};

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

/// What `/metrics` and the health endpoint show of one lane.
#[derive(Debug, Clone, Serialize)]
pub struct LaneStatus {
    /// `<sink>`, `<sink>-digest` or `<sink>-events`: unique, the label of its metrics.
    pub name: String,
    pub sink: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `alerts` or `events` (forwarded access events).
    pub records: &'static str,
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
    /// Alerts refused by a full queue (kept in the dead-letter file).
    pub queue_full: u64,
    /// Events lanes: events not forwarded because the queue was full (or the disk failed).
    pub dropped: u64,
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
    /// Alert lanes (indices into `lanes`) of each sink, in configuration order.
    sink_lanes: Vec<Vec<usize>>,
    /// Events lanes (indices into `lanes`).
    event_lanes: Vec<usize>,
    router: Router,
    environment: EnvironmentFn,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Alerting {
    /// Open every sink's queues under `dir/<lane>/` and build its transports (credentials are
    /// loaded here): one lane per alert lane of the sink, plus `<sink>-events` when it forwards
    /// events. Senders start with [`Alerting::start`].
    pub fn open(
        sinks: &[SinkConfig],
        dir: &Path,
        origin: &Origin,
        environment: EnvironmentFn,
    ) -> Result<(Alerting, Vec<Box<dyn Transport>>), HubError> {
        let mut lanes = Vec::new();
        let mut transports = Vec::new();
        let mut sink_lanes = Vec::new();
        let mut event_lanes = Vec::new();
        for (index, s) in sinks.iter().enumerate() {
            let build_err = |source| HubError::Build {
                index,
                name: s.name.clone(),
                source,
            };
            let mut specs = transport::build(&s.output, origin).map_err(build_err)?;
            if s.forward_events {
                specs.extend(transport::build_events(&s.output, origin).map_err(build_err)?);
            }
            let mut mine = Vec::new();
            for spec in specs {
                let name = format!("{}{}", s.name, spec.suffix);
                let lane_dir = dir.join(&name);
                let queue_err = |source| HubError::Queue {
                    index,
                    name: name.clone(),
                    source,
                };
                // Same layout for both kinds: `queue/`, `dead-letter.jsonl` (and `gate/`).
                let intake = match spec.records {
                    LaneRecords::Alerts => Intake::Alerts(
                        Outbox::open(&lane_dir, s.throttle.clone(), s.queue.clone())
                            .map_err(queue_err)?,
                    ),
                    LaneRecords::Events(_) => Intake::Events(
                        DiskQueue::open(&lane_dir.join("queue"), s.queue.clone())
                            .map_err(queue_err)?,
                    ),
                };
                let dead =
                    DeadLetter::open(&lane_dir.join("dead-letter.jsonl")).map_err(queue_err)?;
                match spec.records {
                    LaneRecords::Alerts => mine.push(lanes.len()),
                    LaneRecords::Events(_) => event_lanes.push(lanes.len()),
                }
                lanes.push(Arc::new(Lane {
                    name: name.clone(),
                    sink: s.name.clone(),
                    kind: s.output.type_name(),
                    endpoint: spec.transport.endpoint(),
                    filter: spec.filter,
                    records: spec.records,
                    intake: Mutex::new(intake),
                    dead: Mutex::new(dead),
                    retry: s.retry.clone(),
                    wake: Notify::new(),
                    counters: Counters::default(),
                    health: Mutex::new(Health::Healthy),
                    drop_log: Mutex::new(DropLog::default()),
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
                event_lanes,
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
                let offered = match &mut *lane.intake() {
                    Intake::Alerts(outbox) => outbox.offer(alert, now),
                    Intake::Events(_) => continue,
                };
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

    /// Whether any sink forwards access events (else [`Alerting::forward`] does nothing).
    pub fn forwards_events(&self) -> bool {
        !self.event_lanes.is_empty()
    }

    /// Queue a batch of normalized, already redacted access events on every events lane
    /// (`<sink>-events` of each sink with `forward_events = true`). Called from the detection
    /// thread: it encodes each event for each sink, appends what fits to the lane's queue
    /// (one fsync per lane and batch) and never waits for the network. Events that do not
    /// fit a full queue are counted (`dropped`) and logged at most once a minute per lane.
    pub fn forward(&self, events: &[AccessEvent<'_>]) -> Forwarded {
        let mut out = Forwarded::default();
        if events.is_empty() {
            return out;
        }
        for &li in &self.event_lanes {
            let lane = &self.lanes[li];
            let LaneRecords::Events(encoder) = &lane.records else {
                continue;
            };
            // Encoded before taking the lock the sender also needs.
            let lines: Vec<Vec<u8>> = events.iter().map(|ev| encoder.line(ev)).collect();
            let (queued, problem) = {
                let mut intake = lane.intake();
                let q = intake.queue_mut();
                let before = q.next_seq();
                match q.push_fitting(&lines) {
                    Ok(n) if n == lines.len() => (n, None),
                    Ok(n) => {
                        let st = q.stats();
                        let why = format!(
                            "queue full: {} of {} bytes used by {} records",
                            st.used_bytes, st.max_bytes, st.pending
                        );
                        (n, Some(why))
                    }
                    // A disk error part way: what was written is queued.
                    Err(e) => ((q.next_seq() - before) as usize, Some(e.to_string())),
                }
            };
            if queued > 0 {
                lane.counters
                    .queued
                    .fetch_add(queued as u64, Ordering::Relaxed);
                lane.wake.notify_one();
            }
            out.queued += queued;
            if let Some(why) = problem {
                let dropped = lines.len() - queued;
                out.dropped += dropped;
                note_dropped(lane, dropped as u64, &why);
            }
        }
        out
    }

    /// Release throttled alerts whose window ended by `now` (event time), e.g. at the end of
    /// a scan with the last event's time plus the longest window.
    pub fn release_held(&self, now: DateTime<Utc>) {
        for lane in &self.lanes {
            let r = lane.intake().tick(now);
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

    /// Where each alert queue ends now; [`Alerting::delivered`] tells when everything queued
    /// before this moment has left (delivered, or dead-lettered when it never could be).
    /// Events lanes are not waited for.
    pub fn delivery_marks(&self) -> Vec<u64> {
        self.lanes
            .iter()
            .map(|l| match &*l.intake() {
                Intake::Alerts(o) => o.queue().next_seq(),
                Intake::Events(_) => 0,
            })
            .collect()
    }

    /// Whether every alert queued before `marks` were taken has left its queue.
    pub fn delivered(&self, marks: &[u64]) -> bool {
        self.lanes
            .iter()
            .zip(marks)
            .all(|(l, m)| l.intake().queue().acked() >= *m)
    }

    /// Records waiting in all queues.
    pub fn pending(&self) -> u64 {
        self.lanes
            .iter()
            .map(|l| l.intake().queue().pending())
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
        let intake = l.intake();
        (intake.queue().pending(), intake.queue().stats())
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
        records: l.carries(),
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
        dropped: c.dropped.load(Ordering::Relaxed),
    }
}

/// Count events a lane could not queue; log at most once per [`DROP_LOG_INTERVAL`], with
/// every event dropped since the last line.
fn note_dropped(lane: &Lane, n: u64, why: &str) {
    lane.counters.dropped.fetch_add(n, Ordering::Relaxed);
    let mut log = lane.drop_log.lock().expect("drop log lock");
    log.unlogged += n;
    let due = log.last.is_none_or(|t| t.elapsed() >= DROP_LOG_INTERVAL);
    if due {
        tracing::error!(
            sink = %lane.name,
            dropped = log.unlogged,
            total_dropped = lane.counters.dropped.load(Ordering::Relaxed),
            reason = %why,
            "events lane cannot keep up: access events NOT forwarded (counted in `dropped`; raise queue.max_bytes or fix the sink)"
        );
        log.last = Some(Instant::now());
        log.unlogged = 0;
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
