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
use secretwatch_ingest::AccessEvent;
use tokio::sync::mpsc::Receiver;
use tracing::info;

use crate::serve::metrics::Metrics;

/// Events of one request or one file chunk.
pub struct Batch {
    pub events: Vec<AccessEvent<'static>>,
}

/// Run until every sender is gone, then flush detectors and save state.
pub fn run(
    mut engine: Engine,
    mut rx: Receiver<Batch>,
    alerts_path: PathBuf,
    state_dir: PathBuf,
    metrics: Arc<Metrics>,
    checkpoint: std::time::Duration,
    alerting: Arc<Alerting>,
) -> Result<()> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&alerts_path)
        .with_context(|| format!("opening {}", alerts_path.display()))?;
    let mut sink = JsonLines::new(BufWriter::new(file));
    let mut pending = Vec::new();
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
    let mut last_save = std::time::Instant::now();
    while let Some(batch) = rx.blocking_recv() {
        metrics.queue_batches.fetch_sub(1, Ordering::Relaxed);
        for ev in &batch.events {
            engine.on_event(ev, &mut pending);
        }
        deliver(&mut pending, &mut sink)?;
        // Checkpoint on the wall clock: the service's concern, not the detectors'.
        if last_save.elapsed() >= checkpoint {
            engine
                .save_state(&state_dir)
                .with_context(|| format!("saving state to {}", state_dir.display()))?;
            last_save = std::time::Instant::now();
        }
    }
    engine.flush(&mut pending);
    deliver(&mut pending, &mut sink)?;
    engine
        .save_state(&state_dir)
        .with_context(|| format!("saving state to {}", state_dir.display()))?;
    info!(state = %state_dir.display(), "Detection stopped, state saved.");
    Ok(())
}
