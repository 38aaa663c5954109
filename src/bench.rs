//! `secretwatch bench scan`: our scan path against bare serde_json parsing of the same lines.

use std::borrow::Cow;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use secretwatch_alerting::{AlertSink, SinkError};
use secretwatch_detect::{Alert, DetectConfig, Engine};
use secretwatch_ingest::{Decoder, Format, ParseOptions};
use serde::Deserialize;

use crate::scan::Pipeline;

/// The baseline: the fields a detection needs, borrowed, nothing else.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BareUser<'a> {
    #[serde(borrow)]
    username: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    groups: Vec<Cow<'a, str>>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BareRef<'a> {
    #[serde(borrow)]
    resource: Option<Cow<'a, str>>,
    #[serde(borrow)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct BareStatus {
    code: Option<u16>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bare<'a> {
    #[serde(borrow, rename = "auditID")]
    audit_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    verb: Option<Cow<'a, str>>,
    #[serde(borrow)]
    stage: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user: Option<BareUser<'a>>,
    #[serde(borrow, rename = "sourceIPs", default)]
    source_ips: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    object_ref: Option<BareRef<'a>>,
    response_status: Option<BareStatus>,
    #[serde(borrow)]
    request_received_timestamp: Option<Cow<'a, str>>,
    // Vault
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    request: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    auth: Option<&'a serde_json::value::RawValue>,
}

/// Counts alerts, delivers nowhere.
struct Counting(u64);

impl AlertSink for Counting {
    fn name(&self) -> &'static str {
        "count"
    }
    fn deliver(&mut self, _alert: &Alert) -> Result<(), SinkError> {
        self.0 += 1;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

fn read_all(files: &[PathBuf]) -> Result<String> {
    let mut text = String::new();
    for f in files {
        let mut input = secretwatch_ingest::Input::open(f)?;
        let mut buf = vec![];
        input.read_rest(&mut buf, u64::MAX)?;
        let mut s =
            String::from_utf8(buf).with_context(|| format!("{} is not UTF-8", f.display()))?;
        if !s.ends_with('\n') {
            s.push('\n');
        }
        text.push_str(&s);
    }
    Ok(text)
}

fn peak_rss_kib() -> Option<u64> {
    let mut s = String::new();
    std::fs::File::open("/proc/self/status")
        .ok()?
        .read_to_string(&mut s)
        .ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

const BATCH: usize = 4096;

/// Read files line by line as `scan` does and parse each into the bare borrowed struct.
pub fn serde_stream(files: &[PathBuf]) -> Result<()> {
    let started = Instant::now();
    let (mut lines, mut ok) = (0u64, 0u64);
    let mut buf = Vec::with_capacity(64 * 1024);
    for f in files {
        let mut input = secretwatch_ingest::Input::open(f)?;
        while input.read_line(&mut buf)? {
            lines += 1;
            if let Ok(text) = std::str::from_utf8(&buf) {
                if serde_json::from_str::<Bare>(text).is_ok() {
                    ok += 1;
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "bare serde_json: {lines} lines ({ok} parsed) in {secs:.2} s, {:.0} lines/s",
        lines as f64 / secs
    );
    Ok(())
}

pub fn scan(files: &[PathBuf], rounds: u32) -> Result<()> {
    let text = read_all(files)?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    anyhow::ensure!(!lines.is_empty(), "no lines to measure");
    let rounds = rounds.max(1);

    // Baseline: bare serde_json into borrowed structs.
    let mut best_bare = Duration::MAX;
    let mut parsed_ok = 0usize;
    for _ in 0..rounds {
        let t = Instant::now();
        let mut ok = 0usize;
        for l in &lines {
            if serde_json::from_str::<Bare>(l).is_ok() {
                ok += 1;
            }
        }
        best_bare = best_bare.min(t.elapsed());
        parsed_ok = ok;
    }

    // Ours: parse, normalize, redact, detect (alerts counted, not written).
    let opts = ParseOptions::default();
    let cfg = DetectConfig::default();
    let mut best_scan = Duration::MAX;
    let mut events = 0u64;
    let mut alerts = 0u64;
    let mut batch_us_per_event: Vec<f64> = vec![];
    for _ in 0..rounds {
        let mut decoder = Decoder::new(&opts, Format::Auto, None);
        let mut pipeline = Pipeline::new(Engine::new(&cfg)?, Counting(0));
        let mut lat = Vec::with_capacity(lines.len() / BATCH + 1);
        let t = Instant::now();
        for (b, chunk) in lines.chunks(BATCH).enumerate() {
            let bt = Instant::now();
            for (i, l) in chunk.iter().enumerate() {
                decoder.record(l, "bench", (b * BATCH + i + 1) as u64, &mut |ev| {
                    pipeline.event(&ev)
                })?;
            }
            lat.push(bt.elapsed().as_secs_f64() * 1e6 / chunk.len() as f64);
        }
        decoder.finish(&mut |ev| pipeline.event(&ev))?;
        pipeline.finish()?;
        let el = t.elapsed();
        if el < best_scan {
            best_scan = el;
            batch_us_per_event = lat;
        }
        events = decoder.stats.events;
        alerts = pipeline.sink.0;
    }
    batch_us_per_event.sort_by(f64::total_cmp);

    let n = lines.len() as f64;
    let bare_rate = n / best_bare.as_secs_f64();
    let scan_rate = n / best_scan.as_secs_f64();
    println!(
        "input: {} lines, {:.1} MiB, from {} file(s); best of {rounds} rounds, 1 thread",
        lines.len(),
        bytes as f64 / 1048576.0,
        files.len()
    );
    println!(
        "bare serde_json (borrowed structs): {:>10.0} lines/s  ({} parsed)",
        bare_rate, parsed_ok
    );
    println!("secretwatch scan path:              {:>10.0} lines/s  {:>10.0} events/s  ({events} events, {alerts} alerts)", scan_rate, events as f64 / best_scan.as_secs_f64());
    println!(
        "scan / bare:                        {:>10.2}",
        scan_rate / bare_rate
    );
    println!(
        "per-event cost over {}-line batches: p50 {:.2} us, p99 {:.2} us, max {:.2} us",
        BATCH,
        percentile(&batch_us_per_event, 0.5),
        percentile(&batch_us_per_event, 0.99),
        batch_us_per_event.last().copied().unwrap_or(0.0)
    );
    if let Some(kib) = peak_rss_kib() {
        println!(
            "peak RSS: {:.1} MiB (includes the input held in memory: {:.1} MiB)",
            kib as f64 / 1024.0,
            bytes as f64 / 1048576.0
        );
    }
    Ok(())
}
