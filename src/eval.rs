//! `secretwatch eval`: precision and recall per detection over a labeled dataset.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;

use anyhow::{Context, Result};
use secretwatch_alerting::{AlertSink, SinkError};
use secretwatch_detect::{Alert, Engine};
use secretwatch_ingest::Input;
use serde::Deserialize;

use crate::config::Config;
use crate::scan::{expand_inputs, Pipeline};

#[derive(Deserialize)]
struct Label {
    detection: String,
    event_ids: Vec<String>,
}

/// Keeps every alert.
struct Collect(Vec<Alert>);

impl AlertSink for Collect {
    fn name(&self) -> &'static str {
        "collect"
    }
    fn deliver(&mut self, alert: &Alert) -> Result<(), SinkError> {
        self.0.push(alert.clone());
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[derive(Default)]
struct Row {
    stories: usize,
    found: usize,
    alerts: usize,
    on_own: usize,
    on_other: usize,
    benign: usize,
}

pub fn run(cfg: &Config, labels: &PathBuf, files: &[PathBuf]) -> Result<()> {
    let text = std::fs::read_to_string(labels)
        .with_context(|| format!("cannot read labels {}", labels.display()))?;
    let labels: Vec<Label> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not a label", labels.display(), i + 1))
        })
        .collect::<Result<_>>()?;

    let files = expand_inputs(files)?;
    let opts = cfg.parse_options();
    let mut pipeline = Pipeline::new(
        Engine::new(&cfg.detect).context("loading detection rules")?,
        Collect(vec![]),
    );
    let inputs = files
        .iter()
        .map(|f| Input::open(f))
        .collect::<Result<Vec<_>, _>>()?;
    let stats = pipeline.read(inputs, &opts, cfg.format(), None)?;
    pipeline.finish()?;
    let alerts = std::mem::take(&mut pipeline.sink.0);
    let events = stats.events;

    let label_ids: Vec<HashSet<&str>> = labels
        .iter()
        .map(|l| l.event_ids.iter().map(String::as_str).collect())
        .collect();
    let hits = |a: &Alert, i: usize| {
        a.event_ids
            .iter()
            .any(|e| label_ids[i].contains(e.as_str()))
    };
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        let row = rows.entry(l.detection.clone()).or_default();
        row.stories += 1;
        if alerts.iter().any(|a| a.rule == l.detection && hits(a, i)) {
            row.found += 1;
        }
    }
    for a in &alerts {
        let own = labels
            .iter()
            .enumerate()
            .any(|(i, l)| l.detection == a.rule && hits(a, i));
        let other = !own && (0..labels.len()).any(|i| hits(a, i));
        let row = rows.entry(a.rule.clone()).or_default();
        row.alerts += 1;
        if own {
            row.on_own += 1;
        } else if other {
            row.on_other += 1;
        } else {
            row.benign += 1;
        }
    }

    println!(
        "{events} events, {} labeled stories, {} alerts",
        labels.len(),
        alerts.len()
    );
    println!();
    println!("| detection | stories | found | recall | alerts | on its stories | on other stories | on benign events | precision |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let pct = |n: usize, d: usize| {
        if d == 0 {
            "-".to_string()
        } else {
            format!("{:.0}%", 100.0 * n as f64 / d as f64)
        }
    };
    let (mut tot_stories, mut tot_found, mut tot_benign) = (0, 0, 0);
    for (det, r) in &rows {
        tot_stories += r.stories;
        tot_found += r.found;
        tot_benign += r.benign;
        println!(
            "| {det} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.stories,
            r.found,
            pct(r.found, r.stories),
            r.alerts,
            r.on_own,
            r.on_other,
            r.benign,
            pct(r.on_own + r.on_other, r.alerts)
        );
    }
    let missing: BTreeSet<&str> = rows
        .iter()
        .filter(|(_, r)| r.stories > r.found)
        .map(|(d, _)| d.as_str())
        .collect();
    println!();
    println!(
        "recall {}/{} stories; {} alerts on benign events ({:.2} per 100,000 events); detections with missed stories: {}",
        tot_found,
        tot_stories,
        tot_benign,
        tot_benign as f64 * 100_000.0 / events.max(1) as f64,
        if missing.is_empty() { "none".to_string() } else { missing.into_iter().collect::<Vec<_>>().join(", ") }
    );
    Ok(())
}
