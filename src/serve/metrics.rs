//! Counters for `/metrics` (Prometheus text format) and `/api/health`. Labels stay
//! low-cardinality: source, rule, severity; never a principal or an address.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use secretwatch_alerting::LaneStatus;
use secretwatch_ingest::kafka::KafkaStats;

#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub rejected_requests: AtomicU64,
    pub bad_records: AtomicU64,
    pub events: Mutex<BTreeMap<&'static str, u64>>,
    pub alerts: Mutex<BTreeMap<(String, &'static str), u64>>,
    pub queue_batches: AtomicI64,
    pub backpressure: AtomicU64,
    pub rule_reloads: AtomicU64,
    pub rule_reload_failures: AtomicU64,
    pub kafka: std::sync::OnceLock<std::sync::Arc<KafkaStats>>,
    /// Scheduled reports.
    pub reports: std::sync::Arc<crate::report::schedule::ReportCounters>,
    /// Scale-out: Kafka partitions (shards) whose state this instance holds.
    pub assigned_shards: AtomicI64,
    pub state_restores: AtomicU64,
    pub state_restore_failures: AtomicU64,
    pub state_snapshots: AtomicU64,
    pub state_snapshot_failures: AtomicU64,
    /// Scale-out: events produced again, keyed by principal, to the repartition topic.
    pub repartitioned: AtomicU64,
    /// Kafka: events that came after later ones had gone to detection (a partition behind).
    pub late_events: AtomicU64,
    /// Kafka: events held to merge the partitions by event time.
    pub reorder_held: AtomicI64,
}

impl Metrics {
    pub fn add_events(&self, by_source: &BTreeMap<&'static str, u64>) {
        for (k, v) in by_source {
            self.add_source_events(k, *v);
        }
    }

    pub fn add_source_events(&self, source: &'static str, n: u64) {
        *self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(source)
            .or_default() += n;
    }

    pub fn add_alert(&self, rule: &str, severity: &'static str) {
        let mut m = self.alerts.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((rule.to_string(), severity)).or_default() += 1;
    }

    pub fn events_total(&self) -> u64 {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }

    pub fn alerts_total(&self) -> u64 {
        self.alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }

    pub fn render(&self, sinks: &[LaneStatus]) -> String {
        let mut out = String::new();
        let c = |v: &AtomicU64| v.load(Ordering::Relaxed);
        counters(
            &mut out,
            &[
                (
                    "secretwatch_http_ingest_requests_total",
                    "Ingest requests received.",
                    c(&self.requests),
                ),
                (
                    "secretwatch_http_ingest_rejected_total",
                    "Ingest requests answered 4xx or 503.",
                    c(&self.rejected_requests),
                ),
                (
                    "secretwatch_bad_records_total",
                    "Records that could not be parsed (dead-lettered).",
                    c(&self.bad_records),
                ),
                (
                    "secretwatch_backpressure_total",
                    "Ingest requests refused because the detection queue was full.",
                    c(&self.backpressure),
                ),
                (
                    "secretwatch_rule_reloads_total",
                    "Rule sets reloaded (SIGHUP or a changed rule file), state kept.",
                    c(&self.rule_reloads),
                ),
                (
                    "secretwatch_rule_reload_failures_total",
                    "Rule reloads refused (the previous rules stay in force).",
                    c(&self.rule_reload_failures),
                ),
                (
                    "secretwatch_reports_written_total",
                    "Scheduled reports written to data/reports.",
                    c(&self.reports.written),
                ),
                (
                    "secretwatch_reports_failed_total",
                    "Scheduled reports that could not be made.",
                    c(&self.reports.failed),
                ),
                (
                    "secretwatch_report_mails_total",
                    "Scheduled reports mailed.",
                    c(&self.reports.mailed),
                ),
                (
                    "secretwatch_state_restores_total",
                    "Scale-out: shard states restored from the changelog topic.",
                    c(&self.state_restores),
                ),
                (
                    "secretwatch_state_restore_failures_total",
                    "Scale-out: shard states that could not be restored (the shard started empty).",
                    c(&self.state_restore_failures),
                ),
                (
                    "secretwatch_state_snapshots_total",
                    "Scale-out: shard states written to the changelog topic.",
                    c(&self.state_snapshots),
                ),
                (
                    "secretwatch_state_snapshot_failures_total",
                    "Scale-out: shard states not written (their offsets stay uncommitted).",
                    c(&self.state_snapshot_failures),
                ),
                (
                    "secretwatch_kafka_late_events_total",
                    "Kafka events older than events already detected on (a partition behind the others past the reorder wait).",
                    c(&self.late_events),
                ),
                (
                    "secretwatch_repartitioned_events_total",
                    "Scale-out: events of unkeyed topics produced again, keyed by principal.",
                    c(&self.repartitioned),
                ),
                (
                    "secretwatch_report_mail_failures_total",
                    "Scheduled report mails given up after retries (the files stay on disk).",
                    c(&self.reports.mail_failed),
                ),
            ],
        );
        let _ = writeln!(out, "# HELP secretwatch_events_total Events ingested, by source.\n# TYPE secretwatch_events_total counter");
        for (source, v) in self.events.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "secretwatch_events_total{{source=\"{source}\"}} {v}");
        }
        let _ = writeln!(out, "# HELP secretwatch_alerts_total Alerts raised, by rule and severity.\n# TYPE secretwatch_alerts_total counter");
        for ((rule, sev), v) in self.alerts.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "secretwatch_alerts_total{{rule=\"{rule}\",severity=\"{sev}\"}} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP secretwatch_queue_batches Batches waiting for or in detection.\n# TYPE secretwatch_queue_batches gauge\nsecretwatch_queue_batches {}",
            self.queue_batches.load(Ordering::Relaxed).max(0)
        );
        let _ = writeln!(
            out,
            "# HELP secretwatch_kafka_assigned_shards Scale-out: Kafka partitions whose detection state this instance holds.\n# TYPE secretwatch_kafka_assigned_shards gauge\nsecretwatch_kafka_assigned_shards {}",
            self.assigned_shards.load(Ordering::Relaxed).max(0)
        );
        let _ = writeln!(
            out,
            "# HELP secretwatch_kafka_reorder_held Kafka events held to merge partitions by event time.\n# TYPE secretwatch_kafka_reorder_held gauge\nsecretwatch_kafka_reorder_held {}",
            self.reorder_held.load(Ordering::Relaxed).max(0)
        );
        render_sinks(&mut out, sinks);
        if let Some(k) = self.kafka.get() {
            render_kafka(&mut out, k);
        }
        out
    }
}

/// Unlabelled counters: (name, help, value).
fn counters(out: &mut String, list: &[(&str, &str, u64)]) {
    for (name, help, v) in list {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
}

fn render_kafka(out: &mut String, k: &KafkaStats) {
    let c = |v: &AtomicU64| v.load(Ordering::Relaxed);
    counters(
        out,
        &[
            (
                "secretwatch_kafka_messages_total",
                "Kafka messages consumed.",
                c(&k.messages),
            ),
            (
                "secretwatch_kafka_bad_messages_total",
                "Records in Kafka messages that could not be parsed (dead-lettered).",
                c(&k.bad_messages),
            ),
            (
                "secretwatch_kafka_vault_unanswered_requests_total",
                "Vault requests counted without their response because it had not arrived while ingest.vault_max_pending others waited (a request and its response in different partitions).",
                c(&k.vault_unanswered),
            ),
            (
                "secretwatch_kafka_commits_total",
                "Offset commits.",
                c(&k.commits),
            ),
            (
                "secretwatch_kafka_commit_failures_total",
                "Offset commits that failed (the events are read again).",
                c(&k.commit_failures),
            ),
            (
                "secretwatch_kafka_rebalances_total",
                "Consumer group rebalances seen.",
                c(&k.rebalances),
            ),
        ],
    );
    let _ = writeln!(out, "# HELP secretwatch_kafka_consumer_lag Messages behind the end of the topic (assigned partitions).\n# TYPE secretwatch_kafka_consumer_lag gauge");
    for (topic, lag) in k.lag.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = writeln!(
            out,
            "secretwatch_kafka_consumer_lag{{topic=\"{topic}\"}} {lag}"
        );
    }
}

/// Per-lane sink metrics: a sink's digest lane (`mail-digest`) and its forwarded-events lane
/// (`splunk-events`) are their own `sink` labels; "alerts" in the help texts means "records"
/// for an events lane.
fn render_sinks(out: &mut String, sinks: &[LaneStatus]) {
    type Get = fn(&LaneStatus) -> u64;
    let families: [(&str, &str, &str, Get); 11] = [
        (
            "secretwatch_sink_up",
            "gauge",
            "1 when the sink delivers, 0 while it is retrying or refusing us.",
            |s| u64::from(s.state == "healthy"),
        ),
        (
            "secretwatch_sink_queue_pending",
            "gauge",
            "Alerts waiting in the sink's on-disk queue.",
            |s| s.pending,
        ),
        (
            "secretwatch_sink_queue_bytes",
            "gauge",
            "Bytes used by the sink's on-disk queue.",
            |s| s.queue_bytes,
        ),
        (
            "secretwatch_sink_queue_max_bytes",
            "gauge",
            "Bound of the sink's on-disk queue.",
            |s| s.queue_max_bytes,
        ),
        (
            "secretwatch_sink_delivered_total",
            "counter",
            "Alerts the sink accepted.",
            |s| s.delivered,
        ),
        (
            "secretwatch_sink_dead_lettered_total",
            "counter",
            "Alerts the sink rejected for good (written to its dead-letter file).",
            |s| s.dead_lettered,
        ),
        (
            "secretwatch_sink_failures_total",
            "counter",
            "Delivery attempts that failed (retried).",
            |s| s.failed_attempts,
        ),
        (
            "secretwatch_sink_queue_full_total",
            "counter",
            "Alerts refused by a full queue (written to the dead-letter file).",
            |s| s.queue_full,
        ),
        (
            "secretwatch_sink_suppressed_total",
            "counter",
            "Alerts held back by throttling (counted in the next message).",
            |s| s.suppressed,
        ),
        (
            "secretwatch_sink_duplicates_total",
            "counter",
            "Alerts already delivered to this sink (same id).",
            |s| s.duplicates,
        ),
        (
            "secretwatch_sink_events_dropped_total",
            "counter",
            "Forwarded events not queued because the events queue was full (<sink>-events lanes).",
            |s| s.dropped,
        ),
    ];
    for (name, kind, help, get) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in sinks {
            let _ = writeln!(
                out,
                "{name}{{sink=\"{}\",type=\"{}\"}} {}",
                s.name,
                s.kind,
                get(s)
            );
        }
    }
}
