//! `secretwatch bench state`: detection state at scale. N service accounts each read three
//! secrets of their namespace on two days, through one engine with the shipped rules; prints
//! the event rate, the process's resident memory per principal, and the size of the state a
//! checkpoint writes (what scale-out puts in the changelog topic) per principal.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use secretwatch_detect::{DetectConfig, Engine};
use secretwatch_ingest::{Format, ParseOptions, Parsed, RecordParser};

use crate::bench_query::status_mib;
use crate::serve::changelog::Snapshot;

fn line(i: usize, day: u32, secs: usize, secret: usize) -> String {
    let ns = format!("team-{}", i % 500);
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"s-{i}-{day}-{secret}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/{ns}/secrets/app-{secret}","verb":"get","user":{{"username":"system:serviceaccount:{ns}:app-{i}","groups":["system:serviceaccounts"]}},"sourceIPs":["10.42.{}.{}"],"userAgent":"app/1.0","objectRef":{{"resource":"secrets","namespace":"{ns}","name":"app-{secret}","apiVersion":"v1"}},"responseStatus":{{"code":200}},"stageTimestamp":"2026-11-{day:02}T{:02}:{:02}:{:02}Z"}}"#,
        (i / 250) % 250,
        i % 250,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

pub fn run(principals: usize) -> Result<()> {
    let cfg = DetectConfig::default();
    let opts = ParseOptions::default();
    let mut parser = RecordParser::new(&opts, Format::K8sAudit);
    let mut engine = Engine::new(&cfg)?;
    let before = status_mib("VmRSS:");
    let mut alerts = Vec::new();
    let mut events = 0u64;
    let t = Instant::now();
    for day in [2u32, 3] {
        for i in 0..principals {
            let secs = i * 86_399 / principals.max(1);
            for secret in 0..3 {
                let l = line(i, day, secs, secret);
                parser.parse(&l, &mut |p| {
                    if let Parsed::Event(ev) = p {
                        engine.on_event(&ev, &mut alerts);
                        events += 1;
                    }
                });
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let after = status_mib("VmRSS:");
    let t = Instant::now();
    let snap = Snapshot::of(&engine, BTreeMap::new())?;
    let json: usize = snap.files.values().map(String::len).sum();
    let encoded = snap.encode()?.len();
    let snap_secs = t.elapsed().as_secs_f64();
    let n = principals.max(1) as f64;
    println!(
        "principals {principals}, events {events} in {secs:.2} s ({:.0} events/s), alerts {}",
        events as f64 / secs,
        alerts.len()
    );
    println!(
        "resident memory {before:.1} MiB -> {after:.1} MiB: {:.0} bytes per principal (all detectors, rules, allocator slack)",
        (after - before) * 1024.0 * 1024.0 / n
    );
    for (name, text) in &snap.files {
        println!(
            "  state file {name}: {} bytes ({:.0} per principal)",
            text.len(),
            text.len() as f64 / n
        );
    }
    println!(
        "snapshot {json} bytes of JSON, {encoded} gzip ({:.0} bytes per principal in the changelog), made in {snap_secs:.2} s",
        encoded as f64 / n
    );
    Ok(())
}
