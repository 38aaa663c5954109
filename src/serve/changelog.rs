//! Scale-out on Kafka: detection state kept per input partition, written to a compacted
//! changelog topic at each checkpoint and restored by whichever instance is assigned the
//! partition next, as Kafka Streams does with its state stores.
//!
//! Events are keyed by principal when produced, so one principal's events are all in one
//! partition (the same partition number across the input topics: they must have equal
//! partition counts, and the `range` assignor gives one member the same numbers of every
//! topic). Each partition number is a shard with its own detection engine. At a checkpoint a
//! shard's state (the files its engine saves) and the offsets it covers go to partition
//! `shard` of the changelog as one snapshot, cut into chunks keyed `<shard>/<chunk>`; only
//! then are those offsets committed. On assignment the new owner reads the shard's changelog
//! partition, takes the newest complete snapshot, restores the engine and starts reading the
//! input at the snapshot's offsets, so no baseline is re-learned and no window is lost;
//! alerts raised again for events after the snapshot carry the same ids, which sinks dedupe.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use secretwatch_detect::{DetectConfig, Engine};
use secretwatch_ingest::kafka::PartitionHook;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::WeakSender;
use tracing::{error, info, warn};

use crate::serve::metrics::Metrics;
use crate::serve::pipeline::Batch;

/// Largest chunk of a snapshot in one record (brokers accept 1 MB by default).
const CHUNK: usize = 512 * 1024;

/// One shard's state: the files its engine saves, and the offsets (next to read, per input
/// topic) of the events it contains.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub files: BTreeMap<String, String>,
    pub offsets: BTreeMap<String, i64>,
}

impl Snapshot {
    /// The state of `engine` covering `offsets`.
    pub fn of(engine: &Engine, offsets: BTreeMap<String, i64>) -> Result<Snapshot> {
        let dir = tempfile::tempdir().context("a scratch directory for the snapshot")?;
        engine.save_state(dir.path())?;
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(dir.path())? {
            let e = e?;
            if e.file_type()?.is_file() {
                let text = std::fs::read_to_string(e.path())
                    .with_context(|| format!("reading {}", e.path().display()))?;
                files.insert(e.file_name().to_string_lossy().into_owned(), text);
            }
        }
        Ok(Snapshot { files, offsets })
    }

    /// An engine continuing from this state.
    pub fn restore(&self, detect: &DetectConfig) -> Result<Engine> {
        let dir = tempfile::tempdir().context("a scratch directory for the restore")?;
        for (name, text) in &self.files {
            if name.contains(['/', '\\']) || name.starts_with('.') {
                bail!("snapshot file name {name:?} is not a plain file name");
            }
            std::fs::write(dir.path().join(name), text)?;
        }
        Ok(Engine::with_state(detect, Some(dir.path()))?)
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        serde_json::to_writer(&mut gz, self)?;
        Ok(gz.finish()?)
    }

    fn decode(bytes: &[u8]) -> Result<Snapshot> {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut text)?;
        Ok(serde_json::from_slice(&text)?)
    }
}

/// What precedes each chunk's bytes (one JSON line).
#[derive(Debug, Serialize, Deserialize)]
struct ChunkHeader {
    shard: i32,
    /// Sum of the snapshot's offsets: a later snapshot of a shard never has a smaller one.
    generation: i64,
    /// Tells apart two writes of the same generation.
    nonce: u64,
    chunk: u32,
    chunks: u32,
}

/// Counts records the broker refused (delivery reports of a producer).
#[derive(Default)]
pub struct Deliveries {
    pub failed: AtomicU64,
}

impl ClientContext for Deliveries {}
impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            warn!(error = %e, "Changelog record not written.");
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub struct Changelog {
    topic: String,
    properties: Vec<(String, String)>,
    group: String,
    producer: ThreadedProducer<Deliveries>,
}

/// Partitions of `topic` (0 when it does not exist).
pub fn partitions(probe: &BaseConsumer, topic: &str) -> Result<usize> {
    let md = probe
        .fetch_metadata(Some(topic), Duration::from_secs(15))
        .with_context(|| format!("kafka: metadata of {topic}"))?;
    Ok(md
        .topics()
        .first()
        .filter(|m| m.error().is_none())
        .map(|m| m.partitions().len())
        .unwrap_or(0))
}

/// Create a topic the service owns; a failure is logged (the caller checks what exists).
pub fn create_topic(
    properties: &[(String, String)],
    topic: &str,
    partitions: usize,
    settings: &[(&str, &str)],
) {
    let made = (|| -> Result<()> {
        let admin: AdminClient<DefaultClientContext> = client(properties).create()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut new = NewTopic::new(topic, partitions.max(1) as i32, TopicReplication::Fixed(-1));
        for (k, v) in settings {
            new = new.set(k, v);
        }
        let res = rt.block_on(admin.create_topics(
            &[new],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(15))),
        ))?;
        for r in res {
            r.map_err(|(t, e)| anyhow!("{t}: {e}"))?;
        }
        Ok(())
    })();
    match made {
        Ok(()) => info!(topic, partitions, "Topic created."),
        Err(e) => warn!(topic, error = %format!("{e:#}"), "Topic not created."),
    }
}

pub fn client(properties: &[(String, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in properties {
        c.set(k, v);
    }
    c
}

impl Changelog {
    /// Connect, and check (or create) the changelog topic: compacted, with as many partitions
    /// as the input topics, which must all have the same count.
    pub fn open(
        properties: &[(String, String)],
        group: &str,
        topic: &str,
        inputs: &[String],
    ) -> Result<Changelog> {
        let probe: BaseConsumer = client(properties)
            .set("group.id", format!("{group}-changelog-probe"))
            .create()
            .context("kafka: a client for the changelog")?;
        let count = |t: &str| partitions(&probe, t);
        let mut partitions = 0;
        for t in inputs {
            let n = count(t)?;
            if n == 0 {
                bail!("kafka.topics: topic {t:?} does not exist (scale-out needs the input topics made beforehand, with equal partition counts)");
            }
            if partitions != 0 && n != partitions {
                bail!("kafka.topics: scale-out needs every input topic to have the same number of partitions ({t:?} has {n}, another {partitions}): a principal's events must land in the same partition number of each");
            }
            partitions = n;
        }
        if count(topic)? == 0 {
            create_topic(
                properties,
                topic,
                partitions,
                &[("cleanup.policy", "compact")],
            );
        }
        let have = count(topic)?;
        if have < partitions {
            bail!("kafka.changelog_topic: {topic:?} has {have} partitions, the inputs {partitions}: create it with {partitions} partitions and cleanup.policy=compact");
        }
        let producer: ThreadedProducer<Deliveries> = client(properties)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create_with_context(Deliveries::default())
            .context("kafka: the changelog producer")?;
        info!(topic, partitions, "Changelog topic ready.");
        Ok(Changelog {
            topic: topic.to_string(),
            properties: properties.to_vec(),
            group: group.to_string(),
            producer,
        })
    }

    /// Write one shard's snapshot and wait until the broker has all of it.
    pub fn write(&self, shard: i32, snapshot: &Snapshot) -> Result<()> {
        let bytes = snapshot.encode()?;
        let generation: i64 = snapshot.offsets.values().sum();
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ ((shard as u64) << 48);
        let chunks: Vec<&[u8]> = if bytes.is_empty() {
            vec![&[][..]]
        } else {
            bytes.chunks(CHUNK).collect()
        };
        let failed_before = self.producer.context().failed.load(Ordering::Relaxed);
        for (i, c) in chunks.iter().enumerate() {
            let header = ChunkHeader {
                shard,
                generation,
                nonce,
                chunk: i as u32,
                chunks: chunks.len() as u32,
            };
            let mut payload = serde_json::to_vec(&header)?;
            payload.push(b'\n');
            payload.extend_from_slice(c);
            let key = format!("{shard}/{i}");
            let mut rec = BaseRecord::to(&self.topic)
                .partition(shard)
                .key(key.as_str())
                .payload(payload.as_slice());
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match self.producer.send(rec) {
                    Ok(()) => break,
                    Err((e, r)) if Instant::now() < deadline => {
                        let _ = e;
                        rec = r;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => return Err(anyhow!("changelog write of shard {shard}: {e}")),
                }
            }
        }
        self.producer
            .flush(Duration::from_secs(30))
            .map_err(|e| anyhow!("changelog write of shard {shard} not acknowledged: {e}"))?;
        if self.producer.context().failed.load(Ordering::Relaxed) != failed_before {
            bail!("changelog write of shard {shard}: a record was refused");
        }
        Ok(())
    }

    /// The newest complete snapshot of each shard that has one.
    pub fn read(&self, shards: &[i32]) -> Result<HashMap<i32, Snapshot>> {
        let consumer: BaseConsumer = client(&self.properties)
            .set("group.id", format!("{}-restore", self.group))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()
            .context("kafka: a changelog reader")?;
        let mut ends: HashMap<i32, i64> = HashMap::new();
        let mut tpl = TopicPartitionList::new();
        for &s in shards {
            let (low, high) = consumer
                .fetch_watermarks(&self.topic, s, Duration::from_secs(15))
                .with_context(|| format!("changelog partition {s}: watermarks"))?;
            if high > low {
                ends.insert(s, high);
                tpl.add_partition_offset(&self.topic, s, Offset::Beginning)?;
            }
        }
        let mut out = HashMap::new();
        if ends.is_empty() {
            return Ok(out);
        }
        consumer.assign(&tpl)?;
        // Per shard and write: its generation, chunks, and when it became complete.
        type Parts = (i64, Vec<Option<Vec<u8>>>, Option<u64>);
        let mut writes: HashMap<(i32, u64), Parts> = HashMap::new();
        let mut done: HashMap<i32, bool> = ends.keys().map(|s| (*s, false)).collect();
        let mut seq = 0u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        while done.values().any(|d| !d) {
            if Instant::now() > deadline {
                bail!("changelog {}: not read to its end within 120 s", self.topic);
            }
            let Some(msg) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let msg = msg.context("reading the changelog")?;
            let shard = msg.partition();
            if msg.offset() + 1 >= ends.get(&shard).copied().unwrap_or(0) {
                done.insert(shard, true);
            }
            let Some(payload) = msg.payload() else {
                continue;
            };
            let Some(nl) = payload.iter().position(|b| *b == b'\n') else {
                continue;
            };
            let Ok(h) = serde_json::from_slice::<ChunkHeader>(&payload[..nl]) else {
                warn!(
                    shard,
                    offset = msg.offset(),
                    "A changelog record without a header; skipped."
                );
                continue;
            };
            if h.shard != shard || h.chunks == 0 || h.chunk >= h.chunks {
                continue;
            }
            let w = writes
                .entry((shard, h.nonce))
                .or_insert_with(|| (h.generation, vec![None; h.chunks as usize], None));
            if w.1.len() != h.chunks as usize {
                continue;
            }
            w.1[h.chunk as usize] = Some(payload[nl + 1..].to_vec());
            if w.2.is_none() && w.1.iter().all(Option::is_some) {
                seq += 1;
                w.2 = Some(seq);
            }
        }
        let mut best: HashMap<i32, (i64, u64, Vec<u8>)> = HashMap::new();
        for ((shard, _), (generation, chunks, complete)) in writes {
            let Some(at) = complete else { continue };
            let better = best
                .get(&shard)
                .is_none_or(|(g, s, _)| (generation, at) > (*g, *s));
            if better {
                let bytes: Vec<u8> = chunks.into_iter().flatten().flatten().collect();
                best.insert(shard, (generation, at, bytes));
            }
        }
        for (shard, (_, _, bytes)) in best {
            match Snapshot::decode(&bytes) {
                Ok(s) => {
                    out.insert(shard, s);
                }
                Err(e) => {
                    error!(shard, error = %e, "The newest changelog snapshot does not decode; the shard starts without state.")
                }
            }
        }
        Ok(out)
    }
}

/// The consumer's side: restore shards on assignment, drop them on revocation.
pub struct Hook {
    pub changelog: Arc<Changelog>,
    /// Weak: the detection thread stops when the real senders are gone.
    pub tx: WeakSender<Batch>,
    pub metrics: Arc<Metrics>,
}

fn shards_of(partitions: &[(String, i32)]) -> Vec<i32> {
    let mut s: Vec<i32> = partitions.iter().map(|(_, p)| *p).collect();
    s.sort_unstable();
    s.dedup();
    s
}

impl PartitionHook for Hook {
    fn assigned(&self, partitions: &[(String, i32)]) -> HashMap<(String, i32), i64> {
        let shards = shards_of(partitions);
        let started = Instant::now();
        let snapshots = match self.changelog.read(&shards) {
            Ok(s) => s,
            Err(e) => {
                self.metrics
                    .state_restore_failures
                    .fetch_add(1, Ordering::Relaxed);
                error!(error = %format!("{e:#}"), "Changelog not read: these partitions start without their state.");
                HashMap::new()
            }
        };
        info!(shards = ?shards, restored = snapshots.len(), ms = started.elapsed().as_millis() as u64, "Shards assigned.");
        let mut starts = HashMap::new();
        for (topic, p) in partitions {
            if let Some(next) = snapshots.get(p).and_then(|s| s.offsets.get(topic)) {
                starts.insert((topic.clone(), *p), *next);
            }
        }
        if let Some(tx) = self.tx.upgrade() {
            let assign = shards
                .iter()
                .map(|s| (*s, snapshots.get(s).cloned()))
                .collect();
            self.metrics.queue_batches.fetch_add(1, Ordering::Relaxed);
            if tx.blocking_send(Batch::assign(assign)).is_err() {
                self.metrics.queue_batches.fetch_sub(1, Ordering::Relaxed);
            }
        }
        starts
    }

    fn revoked(&self, partitions: &[(String, i32)]) {
        if let Some(tx) = self.tx.upgrade() {
            self.metrics.queue_batches.fetch_add(1, Ordering::Relaxed);
            if tx
                .blocking_send(Batch::revoke(shards_of(partitions)))
                .is_err()
            {
                self.metrics.queue_batches.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// Shards held by this instance, in the detection thread.
pub struct Shards {
    pub changelog: Arc<Changelog>,
    held: HashMap<i32, Shard>,
    /// Snapshots taken, written once every alert raised before them has left its queue:
    /// until then the instance could die with those alerts on its disk, and the next owner
    /// must process their events again to raise them.
    pending: Option<Pending>,
}

struct Pending {
    marks: Vec<u64>,
    snapshots: Vec<(i32, Snapshot)>,
}

struct Shard {
    engine: Engine,
    /// Next offset per input topic: where the restored state ends, then what was processed.
    next: BTreeMap<String, i64>,
    /// Where the restored state ends: older events (handed over before a rebalance) are skipped.
    start: BTreeMap<String, i64>,
    dirty: bool,
}

impl Shards {
    pub fn new(changelog: Arc<Changelog>) -> Shards {
        Shards {
            changelog,
            held: HashMap::new(),
            pending: None,
        }
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn assign(
        &mut self,
        shard: i32,
        snapshot: Option<Snapshot>,
        detect: &DetectConfig,
        metrics: &Metrics,
    ) {
        // rotation-sync-gap pairs a Vault write with a Kubernetes update by another principal:
        // in another shard, so a shard would only see half and raise false gaps. Not run here.
        let mut shard_cfg = detect.clone();
        shard_cfg.context.sync.clear();
        let detect = &shard_cfg;
        let (engine, offsets) = match snapshot {
            Some(s) => match s.restore(detect) {
                Ok(e) => {
                    metrics.state_restores.fetch_add(1, Ordering::Relaxed);
                    (e, s.offsets)
                }
                Err(e) => {
                    metrics
                        .state_restore_failures
                        .fetch_add(1, Ordering::Relaxed);
                    error!(shard, error = %format!("{e:#}"), "Shard state not restored; it starts empty.");
                    (fresh(detect), BTreeMap::new())
                }
            },
            None => (fresh(detect), BTreeMap::new()),
        };
        self.held.insert(
            shard,
            Shard {
                engine,
                start: offsets.clone(),
                next: offsets,
                dirty: false,
            },
        );
    }

    pub fn revoke(&mut self, shard: i32) {
        self.held.remove(&shard);
        // Its next owner writes its state from now on.
        if let Some(p) = &mut self.pending {
            p.snapshots.retain(|(s, _)| *s != shard);
        }
    }

    /// Run one event through its shard's engine; false when this instance does not hold the
    /// shard (the event was handed over before its partition moved: its new owner reads it).
    pub fn on_event(
        &mut self,
        topic: &str,
        shard: i32,
        offset: i64,
        ev: &secretwatch_ingest::AccessEvent<'_>,
        out: &mut Vec<secretwatch_detect::Alert>,
    ) -> bool {
        let Some(s) = self.held.get_mut(&shard) else {
            return false;
        };
        if s.start.get(topic).is_some_and(|st| offset < *st) {
            return false;
        }
        s.engine.on_event(ev, out);
        s.dirty = true;
        true
    }

    /// Messages up to `next` of this partition are processed.
    pub fn processed(&mut self, topic: &str, shard: i32, next: i64) {
        if let Some(s) = self.held.get_mut(&shard) {
            let e = s.next.entry(topic.to_string()).or_insert(next);
            *e = (*e).max(next);
            s.dirty = true;
        }
    }

    pub fn reload(&mut self, f: &mut dyn FnMut(&mut Engine)) {
        for s in self.held.values_mut() {
            f(&mut s.engine);
        }
    }

    /// Take snapshots of the changed shards (unless some are still waiting), then write what
    /// waits if its alerts are delivered; the offsets now safe to commit.
    pub fn checkpoint(
        &mut self,
        metrics: &Metrics,
        alerting: &secretwatch_alerting::Alerting,
    ) -> secretwatch_ingest::kafka::Offsets {
        if self.pending.is_none() {
            let mut snapshots = Vec::new();
            for (shard, s) in self.held.iter_mut() {
                if !s.dirty {
                    continue;
                }
                match Snapshot::of(&s.engine, s.next.clone()) {
                    Ok(snap) => {
                        s.dirty = false;
                        snapshots.push((*shard, snap));
                    }
                    Err(e) => {
                        metrics
                            .state_snapshot_failures
                            .fetch_add(1, Ordering::Relaxed);
                        error!(shard, error = %format!("{e:#}"), "Shard state not saved.");
                    }
                }
            }
            if !snapshots.is_empty() {
                self.pending = Some(Pending {
                    marks: alerting.delivery_marks(),
                    snapshots,
                });
            }
        }
        self.advance(metrics, alerting)
    }

    /// Write the waiting snapshots once their alerts are delivered; the offsets now safe to
    /// commit (empty while they wait).
    pub fn advance(
        &mut self,
        metrics: &Metrics,
        alerting: &secretwatch_alerting::Alerting,
    ) -> secretwatch_ingest::kafka::Offsets {
        let mut safe = secretwatch_ingest::kafka::Offsets::new();
        let ready = self
            .pending
            .as_ref()
            .is_some_and(|p| alerting.delivered(&p.marks));
        if !ready {
            return safe;
        }
        let Some(p) = self.pending.take() else {
            return safe;
        };
        for (shard, snap) in p.snapshots {
            match self.changelog.write(shard, &snap) {
                Ok(()) => {
                    metrics.state_snapshots.fetch_add(1, Ordering::Relaxed);
                    for (t, n) in &snap.offsets {
                        safe.insert((Arc::from(t.as_str()), shard), *n);
                    }
                }
                Err(e) => {
                    metrics
                        .state_snapshot_failures
                        .fetch_add(1, Ordering::Relaxed);
                    if let Some(s) = self.held.get_mut(&shard) {
                        s.dirty = true;
                    }
                    error!(shard, error = %format!("{e:#}"), "Shard state not written to the changelog; its offsets are not committed.");
                }
            }
        }
        safe
    }

    pub fn waiting(&self) -> bool {
        self.pending.is_some()
    }
}

fn fresh(detect: &DetectConfig) -> Engine {
    // The rules loaded at start; reloading them here cannot fail differently.
    Engine::new(detect).unwrap_or_else(|e| {
        error!(error = %e, "Rules did not load for a new shard; it runs with the built-in detections only.");
        Engine::with_detectors(Vec::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_round_trip_and_restore_an_engine() {
        let detect = DetectConfig::default();
        let engine = Engine::new(&detect).unwrap();
        let snap = Snapshot::of(&engine, BTreeMap::from([("audit".to_string(), 42)])).unwrap();
        assert!(!snap.files.is_empty(), "the engine saves state files");
        let back = Snapshot::decode(&snap.encode().unwrap()).unwrap();
        assert_eq!(back, snap);
        back.restore(&detect).unwrap();
        let bad = Snapshot {
            files: BTreeMap::from([("../x".to_string(), String::new())]),
            offsets: BTreeMap::new(),
        };
        assert!(bad.restore(&detect).is_err());
    }
}
