//! The Kafka source: a consumer group over one or more topics, each with its format, at least
//! once.
//!
//! Messages are decoded on the consumer's thread into [`KafkaBatch`]es of owned events, each
//! carrying the offsets it covers. Offsets are committed only when the service says they are
//! safe ([`Committer::publish`]): after the events were processed, their alerts durably queued
//! and the detection state that contains them saved. A restart therefore resumes from offsets
//! that match the saved state; whatever was processed after that is read again, and the
//! alerts it raises again carry the same ids, which sinks dedupe.
//!
//! A message is one event, JSON lines, or an `EventList`; shippers' envelopes (an object whose
//! `message` or `log` string holds the record: Vector, Fluent Bit, Filebeat, Logstash) are
//! opened when the object is not itself an audit record.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::Deserialize;
use tracing::{info, warn};

use crate::deadletter::DeadLetter;
use crate::decode::Decoder;
use crate::event::AccessEvent;
use crate::options::ParseOptions;
use crate::parser::Format;

/// Why the source could not start.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    #[error("cannot create the Kafka consumer: {0}")]
    Create(#[source] KafkaError),
    #[error("cannot subscribe to {topics:?}: {source}")]
    Subscribe {
        topics: Vec<String>,
        #[source]
        source: KafkaError,
    },
}

/// Offsets (next offset to read) per topic and partition.
pub type Offsets = HashMap<(Arc<str>, i32), i64>;

/// Events of consecutive messages, with the offsets they cover.
pub struct KafkaBatch {
    pub events: Vec<AccessEvent<'static>>,
    /// Where each event came from (topic, partition, message offset), one per event.
    pub origins: Vec<(Arc<str>, i32, i64)>,
    /// Next offset per partition once this batch is processed.
    pub offsets: Vec<(Arc<str>, i32, i64)>,
    pub messages: u64,
    pub bad: u64,
    pub events_by_source: BTreeMap<&'static str, u64>,
    /// Partitions taken away since the last batch (what is held of them must be dropped).
    pub revoked: Vec<(String, i32)>,
    /// Partitions assigned since the last batch (they may hold earlier events than the rest).
    pub assigned: Vec<(String, i32)>,
}

/// Counters the service shows in `/metrics`.
#[derive(Debug, Default)]
pub struct KafkaStats {
    pub messages: AtomicU64,
    pub bad_messages: AtomicU64,
    /// Vault requests counted without their response (see README "Kafka": key Vault records so
    /// a request and its response share a partition).
    pub vault_unanswered: AtomicU64,
    pub commits: AtomicU64,
    pub commit_failures: AtomicU64,
    pub rebalances: AtomicU64,
    /// Consumer lag per topic (sum over assigned partitions), from librdkafka's statistics.
    pub lag: Mutex<BTreeMap<String, i64>>,
    /// Per assigned partition at the last statistics: whether the broker holds messages not yet
    /// handed to us.
    pub behind: Mutex<HashMap<(String, i32), bool>>,
}

/// Where the service publishes offsets that are safe to commit, and the source picks them up.
#[derive(Debug, Default)]
pub struct Committer {
    safe: Mutex<Offsets>,
    generation: AtomicU64,
}

impl Committer {
    /// Offsets whose events are processed and whose state is saved (merged: per partition the
    /// highest wins).
    pub fn publish(&self, offsets: &Offsets) {
        let mut safe = self.safe.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in offsets {
            let e = safe.entry(k.clone()).or_insert(*v);
            *e = (*e).max(*v);
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn snapshot(&self) -> Offsets {
        self.safe.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn tpl_of(offsets: &Offsets, only: Option<&TopicPartitionList>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), next) in offsets {
        if let Some(only) = only {
            if only.find_partition(topic, *partition).is_none() {
                continue;
            }
        }
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*next));
    }
    tpl
}

/// What the service does when partitions move between the members of the group: state kept
/// per partition is restored before a partition is read, and dropped when it is taken away.
/// Both run on the consumer's thread, inside the rebalance.
pub trait PartitionHook: Send + Sync {
    /// Partitions about to be assigned; answers where to start reading some of them (the
    /// offsets their restored state covers). The others start from the committed offset.
    fn assigned(&self, partitions: &[(String, i32)]) -> HashMap<(String, i32), i64>;
    /// Partitions about to be taken away.
    fn revoked(&self, partitions: &[(String, i32)]);
}

/// librdkafka callbacks: statistics (lag) and rebalances (commit before revoke, the hook).
pub struct SourceContext {
    stats: Arc<KafkaStats>,
    committer: Arc<Committer>,
    hook: Option<Arc<dyn PartitionHook>>,
    /// Partitions revoked since the run loop last looked (their unsent events are dropped).
    revoked: Mutex<Vec<(String, i32)>>,
    /// Partitions assigned since the run loop last looked.
    assigned: Mutex<Vec<(String, i32)>>,
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

impl ClientContext for SourceContext {
    fn stats(&self, s: Statistics) {
        let mut lag: BTreeMap<String, i64> = BTreeMap::new();
        for (name, topic) in &s.topics {
            let sum: i64 = topic
                .partitions
                .iter()
                .filter(|(p, _)| **p >= 0)
                .map(|(_, p)| p.consumer_lag.max(0))
                .sum();
            lag.insert(name.clone(), sum);
        }
        *self.stats.lag.lock().unwrap_or_else(|e| e.into_inner()) = lag;
        let mut behind = HashMap::new();
        for (name, topic) in &s.topics {
            for (p, st) in &topic.partitions {
                if *p < 0 {
                    continue;
                }
                let read = if st.app_offset >= 0 {
                    st.app_offset
                } else {
                    st.committed_offset.max(st.lo_offset)
                };
                behind.insert((name.clone(), *p), st.hi_offset > read.max(0));
            }
        }
        *self.stats.behind.lock().unwrap_or_else(|e| e.into_inner()) = behind;
    }
}

impl ConsumerContext for SourceContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.stats.rebalances.fetch_add(1, Ordering::Relaxed);
                if let Some(hook) = &self.hook {
                    for ((topic, partition), next) in hook.assigned(&partitions_of(tpl)) {
                        if let Err(e) =
                            tpl.set_partition_offset(&topic, partition, Offset::Offset(next))
                        {
                            warn!(error = %e, %topic, partition, "Cannot set where a restored partition starts.");
                        }
                    }
                }
                let res = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                self.assigned
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(partitions_of(tpl));
                match res {
                    Ok(()) => info!(partitions = tpl.count(), "Kafka partitions assigned."),
                    Err(e) => warn!(error = %e, "Kafka partition assignment failed."),
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.stats.rebalances.fetch_add(1, Ordering::Relaxed);
                // Commit what is safe for the partitions we lose; the rest is re-read by their
                // next owner (duplicates with the same alert ids, never a loss).
                let safe = tpl_of(&self.committer.snapshot(), Some(tpl));
                if safe.count() > 0 {
                    match consumer.commit(&safe, CommitMode::Sync) {
                        Ok(()) => {
                            self.stats.commits.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            self.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
                            warn!(error = %e, "Kafka commit before revoke failed.");
                        }
                    }
                }
                let parts = partitions_of(tpl);
                if let Some(hook) = &self.hook {
                    hook.revoked(&parts);
                }
                self.revoked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(parts);
                let res = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = res {
                    warn!(error = %e, "Kafka partition revocation failed.");
                }
                info!(partitions = tpl.count(), "Kafka partitions revoked.");
            }
            other => {
                warn!(error = ?other, "Kafka rebalance error.");
                if let Err(e) = consumer.unassign() {
                    warn!(error = %e, "Kafka unassign after a rebalance error failed.");
                }
            }
        }
    }
}

/// Settings of the source besides the client's own properties.
#[derive(Clone)]
pub struct SourceSettings {
    /// Topic name and the format of its messages.
    pub topics: Vec<(String, Format)>,
    /// Most events per batch.
    pub batch_max: usize,
    /// Longest a partial batch waits for more messages.
    pub linger: Duration,
    /// State per partition: restored when a partition is assigned, dropped when revoked.
    pub hook: Option<Arc<dyn PartitionHook>>,
}

pub struct KafkaSource {
    consumer: BaseConsumer<SourceContext>,
    settings: SourceSettings,
    pub stats: Arc<KafkaStats>,
    pub committer: Arc<Committer>,
}

/// How often an idle source hands over an empty batch.
const IDLE_TICK: Duration = Duration::from_millis(100);

/// Properties the source sets itself (at-least-once depends on them).
pub const OWN_PROPERTIES: [&str; 3] =
    ["enable.auto.commit", "enable.auto.offset.store", "group.id"];

impl KafkaSource {
    /// `properties`: librdkafka properties (bootstrap servers, security, timeouts...); the
    /// source adds `group.id` and turns auto-commit and auto offset store off.
    pub fn new(
        properties: &[(String, String)],
        group_id: &str,
        settings: SourceSettings,
    ) -> Result<KafkaSource, KafkaSourceError> {
        let mut client = ClientConfig::new();
        for (k, v) in properties {
            client.set(k, v);
        }
        client
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        if client.get("statistics.interval.ms").is_none() {
            // Also how the event-time merge knows which partitions are behind.
            client.set("statistics.interval.ms", "1000");
        }
        let stats = Arc::new(KafkaStats::default());
        let committer = Arc::new(Committer::default());
        let consumer: BaseConsumer<SourceContext> = client
            .create_with_context(SourceContext {
                stats: stats.clone(),
                committer: committer.clone(),
                hook: settings.hook.clone(),
                revoked: Mutex::new(Vec::new()),
                assigned: Mutex::new(Vec::new()),
            })
            .map_err(KafkaSourceError::Create)?;
        let names: Vec<&str> = settings.topics.iter().map(|(t, _)| t.as_str()).collect();
        consumer
            .subscribe(&names)
            .map_err(|source| KafkaSourceError::Subscribe {
                topics: settings.topics.iter().map(|(t, _)| t.clone()).collect(),
                source,
            })?;
        Ok(KafkaSource {
            consumer,
            settings,
            stats,
            committer,
        })
    }

    /// Consume until `stop` is set or `emit` returns false (the service is going away). Bad
    /// messages are dead-lettered and counted. Safe offsets are committed as they are
    /// published. On return, the caller finishes processing, publishes the final offsets,
    /// and calls [`KafkaSource::close`].
    pub fn run(
        &self,
        opts: &ParseOptions,
        dead_letter: Option<&std::path::Path>,
        stop: &AtomicBool,
        emit: &mut dyn FnMut(KafkaBatch) -> bool,
    ) {
        let mut topics: HashMap<String, TopicState<'_>> = self
            .settings
            .topics
            .iter()
            .map(|(t, f)| {
                (
                    t.clone(),
                    TopicState {
                        name: Arc::from(t.as_str()),
                        decoder: Decoder::new(opts, *f, dead_letter.map(DeadLetter::new)),
                        sources: HashMap::new(),
                        counted_bad: 0,
                        counted_unanswered: 0,
                        counted_events: BTreeMap::new(),
                    },
                )
            })
            .collect();
        let mut batch = Builder::default();
        let mut committed_generation = 0u64;
        let mut batch_started = Instant::now();
        let mut last_emit = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let polled = self.consumer.poll(Duration::from_millis(50));
            // Events not yet handed over from partitions taken away in that poll's rebalance:
            // their next owner reads them again from its restored position.
            let revoked = std::mem::take(
                &mut *self
                    .consumer
                    .context()
                    .revoked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            );
            if !revoked.is_empty() {
                batch.drop_partitions(&revoked);
                batch.revoked.extend(revoked);
            }
            batch.assigned.extend(std::mem::take(
                &mut *self
                    .consumer
                    .context()
                    .assigned
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            ));
            match polled {
                None => {}
                Some(Err(e)) => {
                    warn!(error = %e, "Kafka consumer error.");
                }
                Some(Ok(msg)) => {
                    if batch.messages == 0 {
                        batch_started = Instant::now();
                    }
                    let topic = msg.topic();
                    let (partition, offset) = (msg.partition(), msg.offset());
                    if let Some(t) = topics.get_mut(topic) {
                        let source = t
                            .sources
                            .entry(partition)
                            .or_insert_with(|| format!("kafka:{topic}/{partition}"));
                        batch.add(
                            &mut t.decoder,
                            source,
                            &t.name,
                            partition,
                            offset,
                            msg.payload().unwrap_or_default(),
                        );
                    }
                }
            }
            let full = batch.events.len() >= self.settings.batch_max;
            let due = batch.messages > 0 && batch_started.elapsed() >= self.settings.linger;
            if full || due {
                last_emit = Instant::now();
                if !self.flush(&mut batch, &mut topics, emit) {
                    return;
                }
            }
            // Idle: an empty batch now and then, so that what the caller holds can move on
            // (and revocations reach it).
            if batch.messages == 0 && last_emit.elapsed() >= IDLE_TICK {
                last_emit = Instant::now();
                let b = std::mem::take(&mut batch).finish();
                if !emit(b) {
                    return;
                }
            }
            let gen = self.committer.generation.load(Ordering::SeqCst);
            if gen != committed_generation {
                committed_generation = gen;
                self.commit(CommitMode::Async);
            }
        }
        self.flush(&mut batch, &mut topics, emit);
    }

    fn flush(
        &self,
        batch: &mut Builder,
        topics: &mut HashMap<String, TopicState<'_>>,
        emit: &mut dyn FnMut(KafkaBatch) -> bool,
    ) -> bool {
        if batch.messages == 0 {
            return true;
        }
        // Counts of this batch: what the decoders counted since the last batch.
        for t in topics.values_mut() {
            let stats = &t.decoder.stats;
            batch.bad += stats.bad - t.counted_bad;
            t.counted_bad = stats.bad;
            self.stats.vault_unanswered.fetch_add(
                stats.vault_unanswered - t.counted_unanswered,
                Ordering::Relaxed,
            );
            t.counted_unanswered = stats.vault_unanswered;
            for (k, v) in &stats.events_by_source {
                let before = t.counted_events.insert(k, *v).unwrap_or(0);
                if *v > before {
                    *batch.events_by_source.entry(k).or_default() += v - before;
                }
            }
        }
        let b = std::mem::take(batch).finish();
        self.stats.messages.fetch_add(b.messages, Ordering::Relaxed);
        self.stats.bad_messages.fetch_add(b.bad, Ordering::Relaxed);
        emit(b)
    }

    /// Commit the published offsets.
    pub fn commit(&self, mode: CommitMode) {
        let tpl = tpl_of(&self.committer.snapshot(), None);
        if tpl.count() == 0 {
            return;
        }
        match self.consumer.commit(&tpl, mode) {
            Ok(()) => {
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.commit_failures.fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "Kafka offset commit failed (the events will be read again).");
            }
        }
    }

    /// Commit the final offsets synchronously and leave the group.
    pub fn close(self) {
        self.commit(CommitMode::Sync);
        self.consumer.unsubscribe();
    }
}

/// One subscribed topic: its decoder (Vault requests pair with responses within a topic),
/// dead-letter source names per partition, and what was already counted.
struct TopicState<'o> {
    name: Arc<str>,
    decoder: Decoder<'o>,
    sources: HashMap<i32, String>,
    counted_bad: u64,
    counted_unanswered: u64,
    counted_events: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
struct Builder {
    events: Vec<AccessEvent<'static>>,
    origins: Vec<(Arc<str>, i32, i64)>,
    revoked: Vec<(String, i32)>,
    assigned: Vec<(String, i32)>,
    offsets: HashMap<(Arc<str>, i32), i64>,
    messages: u64,
    bad: u64,
    events_by_source: BTreeMap<&'static str, u64>,
}

impl Builder {
    fn add(
        &mut self,
        decoder: &mut Decoder<'_>,
        source: &str,
        topic: &Arc<str>,
        partition: i32,
        offset: i64,
        payload: &[u8],
    ) {
        self.messages += 1;
        let before = self.events.len();
        let events = &mut self.events;
        let res = match std::str::from_utf8(payload) {
            Err(_) => decoder.bad_bytes(payload, source, offset as u64),
            Ok(text) => decode_message(decoder, text, source, offset as u64, &mut |ev| {
                events.push(ev)
            }),
        };
        if let Err(e) = res {
            warn!(error = %e, "Dead-letter write failed.");
        }
        for _ in before..self.events.len() {
            self.origins.push((topic.clone(), partition, offset));
        }
        match self.offsets.get_mut(&(topic.clone(), partition)) {
            Some(next) => *next = (*next).max(offset + 1),
            None => {
                self.offsets.insert((topic.clone(), partition), offset + 1);
            }
        }
    }

    /// Forget what was read from these partitions.
    fn drop_partitions(&mut self, gone: &[(String, i32)]) {
        let is_gone = |t: &str, p: i32| gone.iter().any(|(gt, gp)| gt == t && *gp == p);
        let mut i = 0;
        self.events.retain(|_| {
            let (t, p, _) = &self.origins[i];
            i += 1;
            !is_gone(t, *p)
        });
        self.origins.retain(|(t, p, _)| !is_gone(t, *p));
        self.offsets.retain(|(t, p), _| !is_gone(t, *p));
    }

    fn finish(self) -> KafkaBatch {
        KafkaBatch {
            events: self.events,
            origins: self.origins,
            offsets: self
                .offsets
                .into_iter()
                .map(|((t, p), o)| (t, p, o))
                .collect(),
            messages: self.messages,
            bad: self.bad,
            events_by_source: self.events_by_source,
            revoked: self.revoked,
            assigned: self.assigned,
        }
    }
}

/// One message: a shipper's envelope is opened first; then JSON lines, or one record
/// (an event or an `EventList`). `position` is the message offset (dead-letter `location`).
pub fn decode_message(
    decoder: &mut Decoder<'_>,
    text: &str,
    source: &str,
    position: u64,
    emit: &mut dyn FnMut(AccessEvent<'static>),
) -> Result<(), crate::IngestError> {
    let opened = open_envelope(text);
    let text = opened.as_deref().unwrap_or(text).trim();
    if text.is_empty() {
        return Ok(());
    }
    // One record per message, the common case: no second pass over the text.
    if memchr::memchr(b'\n', text.as_bytes()).is_none() {
        return decoder.record(text, source, position, &mut |ev| emit(ev.into_owned()));
    }
    // A pretty-printed document spread over lines is one record.
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        return decoder.document(text, source, &mut |ev| emit(ev.into_owned()));
    }
    for line in text.lines() {
        let line = line.trim();
        if !line.is_empty() {
            decoder.record(line, source, position, &mut |ev| emit(ev.into_owned()))?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    log: Option<Cow<'a, str>>,
    #[serde(default)]
    kind: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "type")]
    ty: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "auditID")]
    audit_id: Option<serde::de::IgnoredAny>,
}

/// The record inside a shipper's envelope, when `text` is one: a JSON object that is not an
/// audit record (no `kind`, `type` or `auditID`) with a `message` or `log` string.
pub fn open_envelope(text: &str) -> Option<String> {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    /// Built once: `auditID`, `kind`, `type` (audit records), `message`, `log` (envelopes).
    static KEYS: LazyLock<[Finder<'static>; 5]> = LazyLock::new(|| {
        [
            Finder::new(b"\"auditID\""),
            Finder::new(b"\"kind\""),
            Finder::new(b"\"type\""),
            Finder::new(b"\"message\""),
            Finder::new(b"\"log\""),
        ]
    });
    let t = text.trim_start();
    let b = t.as_bytes();
    if !t.starts_with('{') {
        return None;
    }
    // An audit record names these keys unescaped; inside an envelope's string they are escaped
    // (`\"auditID\"`). This keeps the extra parse away from records that carry a `message`
    // (a Kubernetes responseStatus) and costs three substring searches.
    let [audit_id, kind, ty, message, log] = &*KEYS;
    if audit_id.find(b).is_some() || kind.find(b).is_some() || ty.find(b).is_some() {
        return None;
    }
    if message.find(b).is_none() && log.find(b).is_none() {
        return None;
    }
    let env: Envelope<'_> = serde_json::from_str(t).ok()?;
    if env.kind.is_some() || env.ty.is_some() || env.audit_id.is_some() {
        return None;
    }
    env.message.or(env.log).map(Cow::into_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_open_only_around_records() {
        let inner = r#"{"kind":"Event","auditID":"a1"}"#;
        let vector = serde_json::json!({"message": inner, "timestamp": "2026-11-03T10:00:00Z", "source_type": "kafka"}).to_string();
        assert_eq!(open_envelope(&vector).as_deref(), Some(inner));
        let fluent = serde_json::json!({"log": inner, "stream": "stdout"}).to_string();
        assert_eq!(open_envelope(&fluent).as_deref(), Some(inner));
        // An audit record that happens to carry a message is not an envelope.
        let event = r#"{"kind":"Event","auditID":"a2","message":"x"}"#;
        assert_eq!(open_envelope(event), None);
        let vault = r#"{"type":"response","log":"y"}"#;
        assert_eq!(open_envelope(vault), None);
        assert_eq!(open_envelope("not json"), None);
        assert_eq!(open_envelope(r#"{"message": 3}"#), None);
    }

    #[test]
    fn messages_decode_as_lines_lists_or_envelopes() {
        let opts = ParseOptions::default();
        let line = |id: &str| {
            format!(
                r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/secrets/db","verb":"get","user":{{"username":"alice"}},"sourceIPs":["10.0.0.1"],"objectRef":{{"resource":"secrets","namespace":"prod","name":"db","apiVersion":"v1"}},"responseStatus":{{"code":200}},"requestReceivedTimestamp":"2026-11-03T10:00:00Z","stageTimestamp":"2026-11-03T10:00:00Z"}}"#
            )
        };
        let mut dec = Decoder::new(&opts, Format::Auto, None);
        let mut got = Vec::new();
        let mut emit = |ev: AccessEvent<'static>| got.push(ev.id.to_string());
        decode_message(&mut dec, &line("one"), "kafka:t/0", 1, &mut emit).unwrap();
        let lines = format!("{}\n{}\n", line("two"), line("three"));
        decode_message(&mut dec, &lines, "kafka:t/0", 2, &mut emit).unwrap();
        let list = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{},{}]}}"#,
            line("four"),
            line("five")
        );
        decode_message(&mut dec, &list, "kafka:t/0", 3, &mut emit).unwrap();
        let env = serde_json::json!({"message": line("six")}).to_string();
        decode_message(&mut dec, &env, "kafka:t/0", 4, &mut emit).unwrap();
        decode_message(&mut dec, "{broken", "kafka:t/0", 5, &mut emit).unwrap();
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&line("seven")).unwrap(),
        )
        .unwrap();
        decode_message(&mut dec, &pretty, "kafka:t/0", 6, &mut emit).unwrap();
        assert_eq!(got.len(), 7, "{got:?}");
        assert_eq!(dec.stats.bad, 1);
        assert!(dec.stats.first_errors[0].starts_with("kafka:t/0:5:"));
    }
}
