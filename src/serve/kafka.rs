//! The Kafka source in the service: a thread that consumes, decodes and hands batches to the
//! detection queue (blocking when it is full: backpressure, nothing buffered without bound),
//! and commits the offsets that the detection thread publishes after each state checkpoint.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use secretwatch_ingest::kafka::{KafkaBatch, KafkaSource, KafkaStats, SourceSettings};
use secretwatch_ingest::reorder::{Released, Reorder};
use secretwatch_ingest::{Format, ParseOptions};
use std::time::Instant;
use tokio::sync::mpsc::Sender;
use tracing::info;

use crate::config::KafkaConfig;
use crate::serve::metrics::Metrics;
use crate::serve::pipeline::Batch;

/// librdkafka properties of the consumer, credentials loaded.
pub fn properties(cfg: &KafkaConfig) -> Result<Vec<(String, String)>> {
    let mut p: Vec<(String, String)> = vec![
        ("bootstrap.servers".into(), cfg.brokers.clone()),
        ("auto.offset.reset".into(), cfg.start_from.clone()),
        (
            "session.timeout.ms".into(),
            cfg.session_timeout_ms.to_string(),
        ),
        ("client.id".into(), "secretwatch".into()),
    ];
    if cfg.scale_out {
        p.push(("partition.assignment.strategy".into(), "range".into()));
    }
    for (k, v) in &cfg.properties {
        p.retain(|(key, _)| key != k);
        p.push((k.clone(), v.clone()));
    }
    if let Some(s) = &cfg.sasl_password {
        let v = s
            .load()
            .map_err(|e| anyhow::anyhow!("kafka.sasl_password: {e}"))?;
        p.push(("sasl.password".into(), v.expose().to_string()));
    }
    if let Some(s) = &cfg.ssl_key_password {
        let v = s
            .load()
            .map_err(|e| anyhow::anyhow!("kafka.ssl_key_password: {e}"))?;
        p.push(("ssl.key.password".into(), v.expose().to_string()));
    }
    Ok(p)
}

pub fn open(
    cfg: &KafkaConfig,
    hook: Option<Arc<dyn secretwatch_ingest::kafka::PartitionHook>>,
) -> Result<KafkaSource> {
    let settings = SourceSettings {
        topics: cfg
            .detection_topics()
            .into_iter()
            .map(|(name, format)| (name, format.parse().unwrap_or(Format::Auto)))
            .collect(),
        batch_max: cfg.batch_max,
        linger: std::time::Duration::from_millis(cfg.linger_ms),
        hook,
    };
    let source = KafkaSource::new(&properties(cfg)?, &cfg.group_id, settings)
        .with_context(|| format!("kafka ({})", cfg.brokers))?;
    info!(brokers = %cfg.brokers, group = %cfg.group_id, topics = cfg.topics.len(), "Kafka consumer subscribed.");
    Ok(source)
}

/// One step of the event-time merge: take the consumer's batch (and its revocations), then
/// release what the watermark allows.
pub fn merge(reorder: &mut Reorder, b: KafkaBatch, stats: &KafkaStats) -> Released {
    if !b.revoked.is_empty() {
        reorder.drop_partitions(&b.revoked);
    }
    reorder.push(b, Instant::now());
    reorder.release(Instant::now(), &|t, p| {
        stats
            .behind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(t.to_string(), p))
            .copied()
    })
}

/// Hand released events on; time blocked doing it (a full queue, a slow broker) does not make
/// partitions quiet.
pub fn hand_on(reorder: &mut Reorder, send: impl FnOnce() -> bool) -> bool {
    let t = Instant::now();
    let ok = send();
    if t.elapsed() > std::time::Duration::from_millis(10) {
        reorder.touch_all(Instant::now());
    }
    ok
}

/// Consume until `stop`; returns the source for the final commit once detection has saved.
/// Partitions are merged by event time on the way ([`Reorder`]).
pub fn consume(
    source: KafkaSource,
    opts: Arc<ParseOptions>,
    dead: std::path::PathBuf,
    tx: Sender<Batch>,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    reorder: Reorder,
) -> KafkaSource {
    let mut reorder = reorder;
    let send = |r: Released, metrics: &Metrics| -> bool {
        metrics.late_events.fetch_add(r.late, Ordering::Relaxed);
        if r.events.is_empty() && r.offsets.is_empty() {
            return true;
        }
        metrics.queue_batches.fetch_add(1, Ordering::Relaxed);
        tx.blocking_send(Batch {
            kafka: r.offsets,
            origins: r.origins,
            ..Batch::of(r.events)
        })
        .is_ok()
    };
    let stats = source.stats.clone();
    source.run(&opts, Some(&dead), &stop, &mut |b| {
        metrics.add_events(&b.events_by_source);
        metrics.bad_records.fetch_add(b.bad, Ordering::Relaxed);
        let released = merge(&mut reorder, b, &stats);
        metrics
            .reorder_held
            .store(reorder.held() as i64, Ordering::Relaxed);
        hand_on(&mut reorder, || send(released, &metrics))
    });
    // The end of the stream: nothing left to wait for.
    send(reorder.release_all(), &metrics);
    drop(tx);
    source
}
