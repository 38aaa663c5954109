//! `secretwatch report`: one report from a data directory.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::schedule::{build, ReportCounters, ScheduleContext};
use super::{render, Format};
use crate::config::Config;
use crate::serve::sql::{EventStore, Limits};
use crate::serve::store::Store;

/// `2026-11-03` (midnight UTC) or RFC 3339.
pub fn parse_time(s: &str, what: &str) -> Result<DateTime<Utc>> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| anyhow!("--{what} {s:?}: not YYYY-MM-DD or RFC 3339 ({e})"))
}

/// The limits of report queries: the service's memory limit, more time and rows than a query.
pub fn limits(cfg: &Config) -> Limits {
    Limits {
        time: std::time::Duration::from_secs(cfg.serve.query_seconds.max(600)),
        memory_bytes: cfg.serve.query_memory_mb.saturating_mul(1 << 20),
        max_rows: 1_000_000,
    }
}

pub fn run(
    cfg: Config,
    from: Option<&str>,
    to: Option<&str>,
    format: &str,
    out: Option<&Path>,
) -> Result<()> {
    let format: Format = format.parse().map_err(|e: String| anyhow!(e))?;
    let now = Utc::now();
    let to = to.map(|t| parse_time(t, "to")).transpose()?.unwrap_or(now);
    let from = from
        .map(|t| parse_time(t, "from"))
        .transpose()?
        .unwrap_or(to - Duration::days(7));
    if from >= to {
        bail!("--from {from} is not before --to {to}");
    }
    let data = cfg.serve.data_dir.clone();
    if !data.join("store").join("events").is_dir() {
        bail!(
            "no event store under {} (serve.data_dir or --data-dir: the data directory of `secretwatch serve`)",
            data.display()
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ctx = ScheduleContext {
        limits: limits(&cfg),
        events: Arc::new(EventStore::open(&data, 0)?),
        store: Arc::new(Store::open(&data, 1)),
        data,
        config: Arc::new(cfg),
        counters: Arc::new(ReportCounters::default()),
    };
    let report = rt.block_on(build(&ctx, from, to, now))?;
    let body = render(&report, &ctx.config.report, format);
    match out {
        Some(p) => std::fs::write(p, body).with_context(|| format!("writing {}", p.display()))?,
        None => std::io::stdout().lock().write_all(body.as_bytes())?,
    }
    Ok(())
}
