//! Scale-out: topics that are not keyed by principal (a shipper's random or round-robin
//! partitioning) are read by their own consumer group, parsed and redacted as usual, and each
//! event is produced again, normalized, keyed by its principal, to the repartition topic that
//! detection reads (format `event`), as Kafka Streams' repartition topics do. The producer
//! hashes keys as Java clients do (murmur2), so a principal lands in the same partition
//! number as in topics that producers already key by principal.
//!
//! At least once: a batch's source offsets are committed only once every one of its events is
//! acknowledged by the broker (a failed batch is sent again until it is, or the service stops).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rdkafka::consumer::BaseConsumer;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use secretwatch_ingest::kafka::{KafkaSource, SourceSettings};
use secretwatch_ingest::reorder::{Released, Reorder};
use secretwatch_ingest::{Format, ParseOptions};
use tracing::{info, warn};

use crate::config::KafkaConfig;
use crate::serve::changelog::{client, create_topic, partitions, Deliveries};
use crate::serve::kafka::{hand_on, merge};
use crate::serve::metrics::Metrics;

pub struct Repartitioner {
    source: KafkaSource,
    producer: ThreadedProducer<Deliveries>,
    topic: String,
}

/// Make the repartition topic when it is missing: as many partitions as the keyed inputs
/// (or, when every input is repartitioned, as the largest of them).
pub fn ensure_topic(cfg: &KafkaConfig, properties: &[(String, String)]) -> Result<()> {
    let topic = cfg.repartitioned();
    let probe: BaseConsumer = client(properties)
        .set("group.id", format!("{}-repartition-probe", cfg.group_id))
        .create()
        .context("kafka: a client for the repartition topic")?;
    if partitions(&probe, &topic)? > 0 {
        return Ok(());
    }
    let keyed: Vec<&str> = cfg
        .topics
        .iter()
        .filter(|t| !t.repartition)
        .map(|t| t.name.as_str())
        .collect();
    let from: Vec<&str> = if keyed.is_empty() {
        cfg.topics.iter().map(|t| t.name.as_str()).collect()
    } else {
        keyed
    };
    let mut n = 0;
    for t in from {
        n = n.max(partitions(&probe, t)?);
    }
    create_topic(properties, &topic, n, &[]);
    info!(topic, partitions = n, "Repartition topic ready.");
    Ok(())
}

impl Repartitioner {
    /// `None` when no topic is repartitioned.
    pub fn open(cfg: &KafkaConfig, properties: &[(String, String)]) -> Result<Option<Self>> {
        let raw: Vec<(String, Format)> = cfg
            .topics
            .iter()
            .filter(|t| t.repartition)
            .map(|t| (t.name.clone(), t.format.parse().unwrap_or(Format::Auto)))
            .collect();
        if raw.is_empty() || !cfg.scale_out {
            return Ok(None);
        }
        let settings = SourceSettings {
            topics: raw,
            batch_max: cfg.batch_max,
            linger: Duration::from_millis(cfg.linger_ms),
            hook: None,
        };
        let group = format!("{}-repartition", cfg.group_id);
        let source = KafkaSource::new(properties, &group, settings)
            .with_context(|| format!("kafka ({}): the repartition consumer", cfg.brokers))?;
        let producer: ThreadedProducer<Deliveries> = client(properties)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("partitioner", "murmur2_random")
            .create_with_context(Deliveries::default())
            .context("kafka: the repartition producer")?;
        info!(group, topic = %cfg.repartitioned(), "Repartitioning the topics not keyed by principal.");
        Ok(Some(Repartitioner {
            source,
            producer,
            topic: cfg.repartitioned(),
        }))
    }

    /// Send one batch, again and again until the broker has all of it or `stop` is set.
    fn send(&self, events: &[secretwatch_ingest::AccessEvent<'static>], stop: &AtomicBool) -> bool {
        let records: Vec<(String, Vec<u8>)> = events
            .iter()
            .filter_map(|ev| {
                serde_json::to_vec(ev)
                    .ok()
                    .map(|json| (ev.principal.name.to_string(), json))
            })
            .collect();
        loop {
            let before = self.producer.context().failed.load(Ordering::Relaxed);
            for (key, json) in &records {
                let mut rec = BaseRecord::to(&self.topic)
                    .key(key.as_str())
                    .payload(json.as_slice());
                loop {
                    match self.producer.send(rec) {
                        Ok(()) => break,
                        Err((_, r)) => {
                            rec = r;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            }
            let flushed = self.producer.flush(Duration::from_secs(30));
            if flushed.is_ok() && self.producer.context().failed.load(Ordering::Relaxed) == before {
                return true;
            }
            warn!(
                events = records.len(),
                "Repartitioned events not all acknowledged; sending the batch again."
            );
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Consume until `stop`, then commit what was sent and leave the group. The raw
    /// partitions are merged by event time first, so each principal's events reach the
    /// repartition topic in order.
    pub fn run(
        self,
        opts: Arc<ParseOptions>,
        dead: std::path::PathBuf,
        metrics: Arc<Metrics>,
        stop: Arc<AtomicBool>,
        mut reorder: Reorder,
    ) {
        let forward = |r: Released| -> bool {
            if !self.send(&r.events, &stop) {
                return false;
            }
            metrics
                .repartitioned
                .fetch_add(r.events.len() as u64, Ordering::Relaxed);
            let offsets: HashMap<(Arc<str>, i32), i64> =
                r.offsets.into_iter().map(|(t, p, o)| ((t, p), o)).collect();
            self.source.committer.publish(&offsets);
            true
        };
        let stats = self.source.stats.clone();
        self.source.run(&opts, Some(&dead), &stop, &mut |b| {
            metrics.bad_records.fetch_add(b.bad, Ordering::Relaxed);
            let released = merge(&mut reorder, b, &stats);
            hand_on(&mut reorder, || forward(released))
        });
        forward(reorder.release_all());
        self.source.close();
    }
}
