//! `secretwatch bench query`: the event store at scale. Writes N synthetic events (5,000
//! principals over 30 days) through the store's own Parquet writer, then times DataFusion over
//! them: accesses per principal per hour (a full group-by), and a filtered lookup.

use std::time::Instant;

use anyhow::Result;
use chrono::{Duration, TimeZone, Utc};

use crate::serve::sql::{EventStore, Limits};
use crate::serve::store::EventRow;

fn row(i: u64) -> EventRow {
    let start = Utc
        .with_ymd_and_hms(2026, 10, 1, 0, 0, 0)
        .single()
        .expect("a valid time");
    let p = i % 5_000;
    let secs = (i * 2_591) % (30 * 86_400);
    EventRow {
        id: format!("ev-{i}"),
        time: start + Duration::seconds(secs as i64),
        source: if i.is_multiple_of(7) {
            "vault"
        } else {
            "kubernetes"
        },
        principal: format!("system:serviceaccount:team-{}:app-{p}", p % 100),
        kind: "service_account",
        action: if i.is_multiple_of(11) { "list" } else { "read" },
        verb: if i.is_multiple_of(11) {
            "list".into()
        } else {
            "get".into()
        },
        outcome: if i.is_multiple_of(97) {
            "denied"
        } else {
            "allowed"
        },
        status: Some(if i.is_multiple_of(97) { 403 } else { 200 }),
        target: format!("team-{}/secrets/db-{}", p % 100, i % 20),
        is_secret: true,
        source_ip: Some(format!("10.42.{}.{}", p % 250, i % 250)),
        user_agent: Some("app/1.0".into()),
        namespace: Some(format!("team-{}", p % 100)),
        environment: Some(if p.is_multiple_of(3) { "prod" } else { "dev" }.into()),
    }
}

/// A memory field of this process's /proc status (`VmHWM:` peak, `VmRSS:` now), MiB.
pub(crate) fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

pub fn run(events: u64, keep: Option<&std::path::Path>) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = keep.unwrap_or(tmp.path());
    let store = EventStore::open(dir, 0)?;
    let t = Instant::now();
    let chunk = 1_000_000u64;
    let mut i = 0;
    while i < events {
        let n = chunk.min(events - i);
        let rows: Vec<EventRow> = (i..i + n).map(row).collect();
        store.append(&rows);
        store.flush()?;
        i += n;
    }
    let write_s = t.elapsed().as_secs_f64();
    let bytes: u64 = walk(&dir.join("store/events"));
    println!(
        "bench query: wrote {events} events as Parquet in {write_s:.1} s ({:.0} events/s), {:.0} MiB on disk",
        events as f64 / write_s,
        bytes as f64 / (1 << 20) as f64
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let limits = Limits {
        time: std::time::Duration::from_secs(600),
        memory_bytes: 8 << 30,
        max_rows: 10_000,
    };
    for (what, sql) in [
        (
            "accesses per principal per hour (group-by over every event)",
            "SELECT count(*) AS groups, sum(n) AS events FROM (SELECT principal, date_trunc('hour', time) AS hour, count(*) AS n FROM events GROUP BY principal, date_trunc('hour', time))",
        ),
        (
            "one principal's denied reads (filter)",
            "SELECT count(*) FROM events WHERE principal = 'system:serviceaccount:team-7:app-107' AND outcome = 'denied'",
        ),
    ] {
        for round in 0..2 {
            let t = Instant::now();
            let (schema, batches, _) = rt
                .block_on(store.query(sql, &[], &[], &[], limits))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let answer = crate::serve::sql::to_json(&schema, &batches, false);
            println!(
                "  {what}, run {}: {:.2} s -> {}",
                round + 1,
                t.elapsed().as_secs_f64(),
                answer["rows"]
            );
        }
    }
    println!(
        "  peak RSS of this process: {:.0} MiB",
        status_mib("VmHWM:")
    );
    Ok(())
}

fn walk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}
