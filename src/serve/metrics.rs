//! Counters for `/metrics` (Prometheus text format) and `/api/health`. Labels stay
//! low-cardinality: source, rule, severity; never a principal or an address.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub rejected_requests: AtomicU64,
    pub bad_records: AtomicU64,
    pub events: Mutex<BTreeMap<&'static str, u64>>,
    pub alerts: Mutex<BTreeMap<(String, &'static str), u64>>,
    pub queue_batches: AtomicI64,
    pub backpressure: AtomicU64,
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

    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "secretwatch_http_ingest_requests_total",
            "Ingest requests received.",
            self.requests.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "secretwatch_http_ingest_rejected_total",
            "Ingest requests answered 4xx or 503.",
            self.rejected_requests.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "secretwatch_bad_records_total",
            "Records that could not be parsed (dead-lettered).",
            self.bad_records.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "secretwatch_backpressure_total",
            "Ingest requests refused because the detection queue was full.",
            self.backpressure.load(Ordering::Relaxed),
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
            "# HELP secretwatch_queue_batches Batches waiting for detection.\n# TYPE secretwatch_queue_batches gauge\nsecretwatch_queue_batches {}",
            self.queue_batches.load(Ordering::Relaxed).max(0)
        );
        out
    }
}
