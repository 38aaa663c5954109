//! `secretwatch scan`: files -> events -> detections -> alerts on stdout, summary on stderr.

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use secretwatch_alerting::{AlertSink, JsonLines};
use secretwatch_detect::sigma::Prematch;
use secretwatch_detect::{Alert, Engine};
use secretwatch_ingest::{AccessEvent, Format, IngestStats, Input, ParseOptions};

use crate::cli::ScanArgs;
use crate::config::Config;

/// Show a progress bar above this much input (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 64 * 1024 * 1024;

/// Expand directories into their files (sorted), and check every file can be opened
/// before reading any, so a typo fails fast and names the file.
pub fn expand_inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    for p in paths {
        if p == Path::new("-") {
            out.push(p.clone());
            continue;
        }
        let meta = std::fs::metadata(p).with_context(|| format!("cannot open {}", p.display()))?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot read directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file())
                .collect();
            files.sort();
            out.extend(files);
        } else {
            std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Events in, alerts out, counted by rule.
pub struct Pipeline<S: AlertSink> {
    pub engine: Engine,
    pub sink: S,
    pub alerts_by_rule: BTreeMap<String, u64>,
    pending: Vec<Alert>,
    failure: Option<anyhow::Error>,
}

impl<S: AlertSink> Pipeline<S> {
    pub fn new(engine: Engine, sink: S) -> Self {
        Pipeline {
            engine,
            sink,
            alerts_by_rule: BTreeMap::new(),
            pending: Vec::new(),
            failure: None,
        }
    }

    pub fn event(&mut self, ev: &AccessEvent<'_>) {
        self.engine.on_event(ev, &mut self.pending);
        self.deliver();
    }

    /// An event whose rules a parser thread matched already.
    pub fn matched(&mut self, ev: &AccessEvent<'_>, m: Prematch) {
        self.engine.on_event_prematched(ev, m, &mut self.pending);
        self.deliver();
    }

    /// Read `inputs` into the engine: parsed (and the stateless rules matched) on parser
    /// threads, merged by event time.
    pub fn read(
        &mut self,
        inputs: Vec<Input>,
        opts: &ParseOptions,
        format: Format,
        dead_letter: Option<&Path>,
    ) -> Result<IngestStats> {
        match self.engine.prematcher() {
            Some(m) => crate::merge::read_all_matched(
                inputs,
                opts,
                format,
                dead_letter,
                &m,
                &mut |ev, pre| self.matched(ev, pre),
            ),
            None => {
                crate::merge::read_all(inputs, opts, format, dead_letter, &mut |ev| self.event(ev))
            }
        }
    }

    fn deliver(&mut self) {
        for a in self.pending.drain(..) {
            *self.alerts_by_rule.entry(a.rule.clone()).or_default() += 1;
            if self.failure.is_none() {
                if let Err(e) = self.sink.deliver(&a) {
                    self.failure = Some(e.into());
                }
            }
        }
    }

    pub fn finish(&mut self) -> Result<()> {
        self.engine.flush(&mut self.pending);
        self.deliver();
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        self.sink.flush()?;
        Ok(())
    }
}

fn progress(total: u64, enabled: bool) -> Option<indicatif::ProgressBar> {
    if !enabled || total < PROGRESS_MIN_BYTES || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(pb)
}

pub fn run(cfg: &Config, args: &ScanArgs) -> Result<()> {
    let files = expand_inputs(&args.files)?;
    let opts = cfg.parse_options();
    let stdout = std::io::stdout().lock();
    let mut pipeline = Pipeline::new(
        Engine::with_state(&cfg.detect, args.state.as_deref())
            .context("loading detection rules and state")?,
        JsonLines::new(BufWriter::with_capacity(1 << 16, stdout)),
    );

    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok().map(|m| m.len()))
        .sum();
    let bar = progress(total, !args.no_progress);
    let started = Instant::now();
    let inputs = files
        .iter()
        .map(|f| Input::open(f))
        .collect::<Result<Vec<_>, _>>()?;
    // Progress: bytes consumed from disk across inputs.
    let counters: Vec<_> = inputs.iter().map(|i| i.consumed.clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = bar.clone().map(|pb| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                pb.set_position(counters.iter().map(|c| c.load(Ordering::Relaxed)).sum());
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    });
    let res = pipeline.read(inputs, &opts, cfg.format(), Some(&cfg.ingest.dead_letter));
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    let stats = res?;
    pipeline.finish()?;
    if let Some(dir) = &args.state {
        pipeline
            .engine
            .save_state(dir)
            .with_context(|| format!("saving state to {}", dir.display()))?;
    }
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    let elapsed = started.elapsed();
    print_summary(
        &files,
        &stats,
        &pipeline.alerts_by_rule,
        &cfg.ingest.dead_letter,
        elapsed,
    );
    Ok(())
}

fn print_summary(
    files: &[PathBuf],
    stats: &IngestStats,
    alerts: &BTreeMap<String, u64>,
    dead_letter: &Path,
    elapsed: Duration,
) {
    let mut err = std::io::stderr().lock();
    let by_source: Vec<String> = stats
        .events_by_source
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        err,
        "scanned {} file(s): {} records, {} events ({}), {} skipped (non-final stages, Vault requests, Kubernetes Events that name no Secret), {} with secret values redacted",
        files.len(),
        stats.records,
        stats.events,
        if by_source.is_empty() { "none".to_string() } else { by_source.join(", ") },
        stats.skipped,
        stats.redacted_events,
    );
    if stats.bad > 0 {
        let kinds: Vec<String> = stats
            .bad_by_kind
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            err,
            "bad records: {} ({}), written to {}",
            stats.bad,
            kinds.join(", "),
            dead_letter.display()
        );
    } else {
        let _ = writeln!(err, "bad records: 0");
    }
    let total: u64 = alerts.values().sum();
    let _ = writeln!(err, "alerts: {total}");
    for (rule, n) in alerts {
        let _ = writeln!(err, "  {rule}: {n}");
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    let _ = writeln!(
        err,
        "elapsed {:.2} s, {:.0} records/s",
        secs,
        stats.records as f64 / secs
    );
}
