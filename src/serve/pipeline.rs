//! The detection thread: batches of events in (bounded channel), alerts out to
//! the sinks' durable queues and `alerts.jsonl`, learned state saved when the stream ends.

use std::fs::OpenOptions;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{Context, Result};
use secretwatch_alerting::{AlertSink, Alerting, JsonLines};
use secretwatch_detect::Engine;
use secretwatch_ingest::kafka::{Committer, Offsets};
use secretwatch_ingest::tail::{TailOffsets, TailPos};
use secretwatch_ingest::AccessEvent;
use tokio::sync::mpsc::Receiver;
use tracing::info;

use crate::serve::changelog::{Shards, Snapshot};
use crate::serve::metrics::Metrics;

/// Events of one request, file chunk or run of Kafka messages.
pub struct Batch {
    pub events: Vec<AccessEvent<'static>>,
    /// Kafka in scale-out: (topic, partition, offset) of each event; empty otherwise.
    pub origins: Vec<(Arc<str>, i32, i64)>,
    /// Kafka: next offset per partition once these events are processed.
    pub kafka: Vec<(Arc<str>, i32, i64)>,
    /// Followed files: where reading stands once these events are processed.
    pub tail: Vec<(String, TailPos)>,
    /// Not events: reload the rules (SIGHUP, a rule file changed), keeping all state.
    pub reload: bool,
    /// Scale-out: shards now held, with their restored state.
    pub assign: Vec<(i32, Option<Snapshot>)>,
    /// Scale-out: shards no longer held.
    pub revoke: Vec<i32>,
}

impl Batch {
    pub fn of(events: Vec<AccessEvent<'static>>) -> Batch {
        Batch {
            events,
            origins: Vec::new(),
            kafka: Vec::new(),
            tail: Vec::new(),
            reload: false,
            assign: Vec::new(),
            revoke: Vec::new(),
        }
    }

    pub fn assign(assign: Vec<(i32, Option<Snapshot>)>) -> Batch {
        Batch {
            assign,
            ..Batch::of(Vec::new())
        }
    }

    pub fn revoke(revoke: Vec<i32>) -> Batch {
        Batch {
            revoke,
            ..Batch::of(Vec::new())
        }
    }

    pub fn reload() -> Batch {
        Batch {
            reload: true,
            ..Batch::of(Vec::new())
        }
    }
}

/// Where the detection thread's results go.
pub struct Outputs {
    pub alerts_path: PathBuf,
    pub state_dir: PathBuf,
    pub metrics: Arc<Metrics>,
    /// Save the state at least this often (wall clock).
    pub checkpoint: std::time::Duration,
    pub alerting: Arc<Alerting>,
    /// Kafka: told the offsets each saved state covers.
    pub committer: Option<Arc<Committer>>,
    /// Where rules are reloaded from.
    pub detect: secretwatch_detect::DetectConfig,
    /// What the dashboard and the alert API read.
    pub store: Arc<crate::serve::store::Store>,
    /// Every event for SQL, flushed to Parquet with each checkpoint.
    pub events: Arc<crate::serve::sql::EventStore>,
    /// Scale-out: detection state per Kafka partition, kept in the changelog topic.
    pub shards: Option<Shards>,
}

/// New rules from the same places; a rule set that does not load leaves the running one in place.
fn reload(engine: &mut Engine, detect: &secretwatch_detect::DetectConfig, metrics: &Metrics) {
    let loaded = secretwatch_detect::engine::load_rules(detect)
        .map_err(|e| e.to_string())
        .and_then(|rules| {
            engine
                .reload_rules(detect, &rules)
                .map_err(|e| e.to_string())
                .map(|()| rules.meta.len())
        });
    match loaded {
        Ok(n) => {
            metrics.rule_reloads.fetch_add(1, Ordering::Relaxed);
            info!(rules = n, "Rules reloaded; state kept.");
        }
        Err(e) => {
            metrics.rule_reload_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "Rule reload failed; the previous rules stay in force.");
        }
    }
}

/// Run until every sender is gone, then flush detectors and save state.
pub fn run(mut engine: Engine, mut rx: Receiver<Batch>, out: Outputs) -> Result<()> {
    let Outputs {
        alerts_path,
        state_dir,
        metrics,
        checkpoint,
        alerting,
        committer,
        detect,
        store,
        events,
        mut shards,
    } = out;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&alerts_path)
        .with_context(|| format!("opening {}", alerts_path.display()))?;
    let mut sink = JsonLines::new(BufWriter::new(file));
    let mut pending = Vec::new();
    // Environments of stored events; the config was validated at start.
    let world = secretwatch_detect::context::World::compile(&detect.context)
        .map_err(|e| anyhow::anyhow!("detect.context: {}", e.join("; ")))?;
    let deliver = |pending: &mut Vec<secretwatch_detect::Alert>,
                   sink: &mut JsonLines<BufWriter<std::fs::File>>|
     -> Result<()> {
        for a in pending.drain(..) {
            metrics.add_alert(&a.rule, a.severity.as_str());
            // Durably queued for every routed sink before anything else is acknowledged.
            alerting.submit(&a, a.last_seen);
            sink.deliver(&a)?;
        }
        sink.flush()?;
        Ok(())
    };
    // Kafka offsets whose events are processed (alerts queued) but not yet covered by a saved
    // state; published to the committer right after each save.
    let mut processed = Offsets::new();
    // Followed files: positions saved beside the state that covers them.
    let mut tail = TailOffsets::load(&state_dir);
    let save = |engine: &Engine,
                shards: &mut Option<Shards>,
                processed: &Offsets,
                tail: &TailOffsets|
     -> Result<()> {
        // Stored events first: a committed offset never points past what is on disk.
        let flushed = events
            .flush()
            .context("flushing the event store to Parquet")?;
        if flushed > 0 {
            tracing::debug!(rows = flushed, "Event store flushed.");
        }
        engine
            .save_state(&state_dir)
            .with_context(|| format!("saving state to {}", state_dir.display()))?;
        if !tail.files.is_empty() {
            tail.save(&state_dir)
                .with_context(|| format!("saving tail offsets to {}", state_dir.display()))?;
        }
        if let Some(c) = &committer {
            match shards {
                // Each shard's offsets once its state is in the changelog.
                Some(sh) => c.publish(&sh.checkpoint(&metrics, &alerting)),
                None => c.publish(processed),
            }
        }
        Ok(())
    };
    let mut last_save = std::time::Instant::now();
    // Whether anything was processed since the last save (idle heartbeats save nothing).
    let mut dirty = false;
    while let Some(mut batch) = rx.blocking_recv() {
        // Counted until processed (alerts queued), not just taken off the queue: `0` means
        // everything sent so far went through detection.
        let _processed = Processed(&metrics.queue_batches);
        if batch.reload {
            reload(&mut engine, &detect, &metrics);
            if let Some(sh) = &mut shards {
                sh.reload(&mut |e| reload(e, &detect, &metrics));
            }
            continue;
        }
        if let Some(sh) = &mut shards {
            for (shard, snapshot) in batch.assign.drain(..) {
                sh.assign(shard, snapshot, &detect, &metrics);
            }
            for shard in batch.revoke.drain(..) {
                sh.revoke(shard);
            }
            metrics
                .assigned_shards
                .store(sh.len() as i64, Ordering::Relaxed);
        }
        dirty |= !batch.events.is_empty() || !batch.kafka.is_empty() || !batch.tail.is_empty();
        let mut taken = vec![true; batch.events.len()];
        match &mut shards {
            Some(sh) if !batch.origins.is_empty() => {
                for (i, ev) in batch.events.iter().enumerate() {
                    let (topic, shard, offset) = &batch.origins[i];
                    taken[i] = sh.on_event(topic, *shard, *offset, ev, &mut pending);
                }
                for (topic, shard, next) in &batch.kafka {
                    sh.processed(topic, *shard, *next);
                }
            }
            _ => {
                for ev in &batch.events {
                    engine.on_event(ev, &mut pending);
                }
            }
        }
        if taken.iter().any(|t| !t) {
            // Handed over before their partition moved: the new owner stores and detects them.
            let mut i = 0;
            batch.events.retain(|_| {
                i += 1;
                taken[i - 1]
            });
        }
        let rows: Vec<crate::serve::store::EventRow> = batch
            .events
            .iter()
            .map(|ev| crate::serve::store::EventRow::of(ev, world.target_env(ev)))
            .collect();
        events.append(&rows);
        store.add(rows, &pending);
        deliver(&mut pending, &mut sink)?;
        // Normalized (redacted) events to the SIEM sinks that forward them, queued before the
        // batch's offsets count as processed.
        if alerting.forwards_events() {
            alerting.forward(&batch.events);
        }
        for (topic, partition, next) in batch.kafka {
            let e = processed.entry((topic, partition)).or_insert(next);
            *e = (*e).max(next);
        }
        tail.update(&batch.tail);
        // Scale-out: snapshots waiting for their alerts' delivery go out as soon as it is done.
        if let (Some(sh), Some(c)) = (&mut shards, &committer) {
            if sh.waiting() {
                let safe = sh.advance(&metrics, &alerting);
                if !safe.is_empty() {
                    c.publish(&safe);
                }
            }
        }
        // Checkpoint on the wall clock: the service's concern, not the detectors'; also when
        // the event store's buffer is large.
        if dirty && (last_save.elapsed() >= checkpoint || events.pending() >= 500_000) {
            save(&engine, &mut shards, &processed, &tail)?;
            dirty = false;
            last_save = std::time::Instant::now();
        }
    }
    engine.flush(&mut pending);
    store.add(Vec::new(), &pending);
    deliver(&mut pending, &mut sink)?;
    save(&engine, &mut shards, &processed, &tail)?;
    info!(state = %state_dir.display(), "Detection stopped, state saved.");
    Ok(())
}

/// Takes a batch off `secretwatch_queue_batches` when its processing ends (however it ends).
struct Processed<'m>(&'m std::sync::atomic::AtomicI64);

impl Drop for Processed<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
