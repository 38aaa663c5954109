//! Benchmarks of the live service, measured from outside the real `serve` process:
//!
//! - `bench kafka`: events produced to a fresh topic, then consumed by `serve` (consumer group,
//!   detection, alerts into the sinks' queues); events/s from the first message seen to the last
//!   one processed, and the service's peak memory.
//! - `bench latency`: events POSTed to the HTTP ingest at a fixed rate, some of which raise an
//!   alert at once; the time from each such POST to its alert arriving at a webhook sink (a
//!   receiver in this process), as percentiles.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// A `serve` process of this binary, killed when dropped.
struct Service {
    child: Child,
    addr: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    fn start(config: &Path, data: &Path) -> Result<Service> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut err = BufReader::new(child.stderr.take().expect("piped"));
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if err.read_line(&mut line)? == 0 {
                bail!("the service exited before listening");
            }
            if let Some(a) = line
                .trim()
                .strip_prefix("secretwatch: listening on http://")
            {
                break a.to_string();
            }
        };
        std::thread::spawn(move || {
            let mut sink = String::new();
            let _ = err.read_to_string(&mut sink);
        });
        Ok(Service { child, addr })
    }

    fn get(&self, path: &str) -> Result<String> {
        request(&self.addr, "GET", path, "")
    }

    /// A counter or gauge from `/metrics` (0 when absent).
    fn metric(&self, name: &str) -> Result<u64> {
        let m = self.get("/metrics")?;
        Ok(m.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    fn peak_rss_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        s.lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

/// One HTTP/1.1 request on a fresh connection; the body of the answer.
fn request(addr: &str, method: &str, path: &str, body: &str) -> Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if !status.starts_with('2') {
        bail!("{method} {path}: {status} {body}");
    }
    Ok(body.to_string())
}

/// The lines of `files` merged by their timestamp (each file is in time order, as audit logs
/// are), as one shipper of all of them would send them; at most `limit`.
fn read_lines(files: &[PathBuf], limit: usize) -> Result<Vec<String>> {
    let mut all: Vec<(String, String)> = Vec::new();
    for f in files {
        let mut input = secretwatch_ingest::Input::open(f)
            .with_context(|| format!("opening {}", f.display()))?;
        let mut buf = Vec::new();
        let mut last = String::new();
        while all.len() < limit * files.len() && input.read_line(&mut buf)? {
            let line = String::from_utf8_lossy(&buf).trim().to_string();
            if line.is_empty() {
                continue;
            }
            // The record's own time (Kubernetes stageTimestamp, Vault time); lines without one
            // keep their place after the previous line.
            let key = ["\"stageTimestamp\":\"", "\"time\":\""]
                .iter()
                .find_map(|k| {
                    let i = line.find(k)? + k.len();
                    Some(line[i..].chars().take(19).collect::<String>())
                })
                .unwrap_or_else(|| last.clone());
            last = key.clone();
            all.push((key, line));
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(all.into_iter().take(limit).map(|(_, l)| l).collect())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `bench kafka`: produce `events` lines of `files` to a new topic on `brokers`, then time a
/// real `serve` consuming them.
pub fn kafka(
    brokers: &str,
    files: &[PathBuf],
    events: usize,
    config: Option<&Path>,
    scale_out: bool,
) -> Result<()> {
    let lines = read_lines(files, events)?;
    if lines.is_empty() {
        bail!("no lines in the input files");
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let topic = format!("secretwatch-bench-{stamp}");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for r in rt.block_on(admin.create_topics(
        &[NewTopic::new(&topic, 3, TopicReplication::Fixed(1))],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
    ))? {
        r.map_err(|(t, e)| anyhow::anyhow!("creating topic {t}: {e}"))?;
    }
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    // Scale-out needs the records keyed by principal, as a producer would key them.
    let keys: Vec<String> = if scale_out {
        let opts = secretwatch_ingest::ParseOptions::default();
        let mut parser =
            secretwatch_ingest::RecordParser::new(&opts, secretwatch_ingest::Format::Auto);
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                // A Vault request is held until its response (no event of its own): key it by
                // its `auth.display_name` too, as a shipper keying by that field would, so it
                // meets its response in the same shard.
                if secretwatch_ingest::parser::sniff(l) == Some(secretwatch_ingest::Format::Vault) {
                    if let Ok(entry) = secretwatch_ingest::vault::parse_entry(l, &opts) {
                        return entry.event.principal.name.to_string();
                    }
                }
                let mut key = None;
                parser.parse(l, &mut |p| {
                    if let secretwatch_ingest::Parsed::Event(ev) = p {
                        key = Some(ev.principal.name.to_string());
                    }
                });
                key.unwrap_or_else(|| i.to_string())
            })
            .collect()
    } else {
        // Scattered over the partitions, but a Vault request and its response together (keyed
        // by request id, as README "Kafka" recommends for Vault audit logs).
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                l.find("\"request\":{")
                    .and_then(|at| {
                        let rest = &l[at..];
                        let id = rest.find("\"id\":\"")? + 6;
                        let end = rest[id..].find('"')?;
                        Some(format!("vault-{}", &rest[id..id + end]))
                    })
                    .unwrap_or_else(|| i.to_string())
            })
            .collect()
    };
    let t = Instant::now();
    for (i, line) in lines.iter().enumerate() {
        let key = &keys[i];
        let mut rec = BaseRecord::to(&topic).key(&key).payload(line.as_str());
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(300))?;
    let produce_s = t.elapsed().as_secs_f64();
    eprintln!(
        "produced {} events to {topic} in {produce_s:.2} s ({:.0}/s)",
        lines.len(),
        lines.len() as f64 / produce_s
    );

    let dir = tempfile::tempdir()?;
    let base = match config {
        Some(c) => std::fs::read_to_string(c)?,
        None => String::new(),
    };
    let cfg = dir.path().join("secretwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "{base}\n[kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{topic}\"\ntopics = [{{ name = \"{topic}\", format = \"auto\" }}]\nscale_out = {scale_out}\n"
        ),
    )?;
    let started = Instant::now();
    let svc = Service::start(&cfg, &dir.path().join("data"))?;
    let target = lines.len() as u64;
    let mut first: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let consumed = svc.metric("secretwatch_kafka_messages_total")?;
        if consumed > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        let waiting = svc.metric("secretwatch_queue_batches")?;
        // Events held for the event-time merge are not processed yet either.
        let held = svc.metric("secretwatch_kafka_reorder_held")?;
        if consumed >= target && waiting == 0 && held == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("gave up: {consumed} of {target} consumed after 600 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let done = Instant::now();
    let first = first.unwrap_or(started);
    let alerts: u64 = svc
        .get("/metrics")?
        .lines()
        .filter(|l| l.starts_with("secretwatch_alerts_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    let steady = done.duration_since(first).as_secs_f64();
    println!(
        "bench kafka: {} events from {brokers} (topic {topic}, 3 partitions)",
        target
    );
    println!("  consume -> detect -> alerts queued: {:.0} events/s ({steady:.2} s from the first message seen to the last processed)", target as f64 / steady.max(1e-9));
    println!(
        "  including start and group join: {:.0} events/s ({:.2} s)",
        target as f64 / done.duration_since(started).as_secs_f64(),
        done.duration_since(started).as_secs_f64()
    );
    println!(
        "  alerts: {alerts} (events late for the event-time merge: {})",
        svc.metric("secretwatch_kafka_late_events_total")?
    );
    if let Some(kib) = svc.peak_rss_kib() {
        println!("  service peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
    println!(
        "  (the producer side: {:.0} events/s)",
        target as f64 / produce_s
    );
    compare_with_offline(
        &lines,
        &cfg,
        &dir.path().join("data/alerts.jsonl"),
        scale_out,
    )?;
    Ok(())
}

/// The service's alerts against one engine's over the same lines in time order (what `scan`
/// computes), by id: the figure is only worth something if the alerts are right.
fn compare_with_offline(
    lines: &[String],
    cfg: &Path,
    served: &Path,
    scale_out: bool,
) -> Result<()> {
    use std::collections::BTreeMap;
    let cfg = crate::config::Config::load(Some(cfg))?;
    let opts = cfg.parse_options();
    let mut engine = secretwatch_detect::Engine::new(&cfg.detect)?;
    let mut parser = secretwatch_ingest::RecordParser::new(&opts, cfg.format());
    let mut offline = vec![];
    for l in lines {
        parser.parse(l, &mut |p| {
            if let secretwatch_ingest::Parsed::Event(ev) = p {
                engine.on_event(&ev, &mut offline);
            }
        });
    }
    let offline: BTreeMap<String, String> = offline.into_iter().map(|a| (a.id, a.rule)).collect();
    let mut served_ids: BTreeMap<String, String> = BTreeMap::new();
    for line in std::fs::read_to_string(served).unwrap_or_default().lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if let (Some(id), Some(rule)) = (v["id"].as_str(), v["rule"].as_str()) {
            served_ids.insert(id.to_string(), rule.to_string());
        }
    }
    let missing: Vec<&str> = offline
        .iter()
        .filter(|(id, _)| !served_ids.contains_key(*id))
        .map(|(_, r)| r.as_str())
        .collect();
    let extra: Vec<&str> = served_ids
        .iter()
        .filter(|(id, _)| !offline.contains_key(*id))
        .map(|(_, r)| r.as_str())
        .collect();
    println!(
        "  alert ids: {} distinct served, {} from one engine over the same lines in time order; missing {:?}, extra {:?}{}",
        served_ids.len(),
        offline.len(),
        missing,
        extra,
        if scale_out {
            " (rotation detections do not run on scale-out shards)"
        } else {
            ""
        }
    );
    Ok(())
}

/// When each alert's principal arrived at the webhook.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// The webhook side: records when each alert's principal arrived.
fn receiver() -> Result<(String, Arrivals)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?.to_string();
    let seen: Arrivals = Arc::default();
    let s = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let s = s.clone();
            std::thread::spawn(move || {
                let _ = conn.set_nodelay(true);
                let mut w = match conn.try_clone() {
                    Ok(w) => w,
                    Err(_) => return,
                };
                let mut r = BufReader::new(conn);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let now = Instant::now();
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                        if let Some(p) = v["principal"].as_str() {
                            s.lock().expect("lock").entry(p.to_string()).or_insert(now);
                        }
                    }
                    let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
                }
            });
        }
    });
    Ok((addr, seen))
}

fn audit_event(id: &str, user: &str, verb: &str, ns: Option<&str>, name: &str) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut obj = serde_json::json!({"resource": "secrets", "apiVersion": "v1"});
    if let Some(ns) = ns {
        obj["namespace"] = ns.into();
        obj["name"] = name.into();
    }
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": id,
        "stage": "ResponseComplete", "requestURI": "/api/v1/secrets", "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.42.0.7"], "userAgent": "bench/1.0",
        "objectRef": obj, "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": now, "stageTimestamp": now,
    })
    .to_string()
}

/// `bench latency`: `rate` events/s for `seconds` through `POST /ingest/k8s-audit` in
/// requests every 10 ms; one event in `every` lists Secrets cluster-wide as a new identity
/// (an alert at once), the others are 1,000 workloads reading their own namespace's Secrets;
/// the time from each alerting event's POST to its alert at the webhook.
pub fn latency(rate: u32, seconds: u32, every: u32) -> Result<()> {
    let (hook, seen) = receiver()?;
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("secretwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[alerting.sinks]]\nname = \"bench\"\nroute = {{ rules = [\"k8s-secrets-list-cluster-wide\"] }}\noutput = {{ type = \"webhook\", url = \"http://{hook}/hook\" }}\n"
        ),
    )?;
    let svc = Service::start(&cfg, &dir.path().join("data"))?;
    let per_tick = (rate / 100).max(1) as usize;
    let ticks = seconds * 100;
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut n = 0u64;
    let mut refused = 0u64;
    let start = Instant::now();
    for tick in 0..ticks {
        let due = start + Duration::from_millis(u64::from(tick) * 10);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut items = Vec::with_capacity(per_tick);
        let mut triggers = Vec::new();
        for _ in 0..per_tick {
            n += 1;
            if n.is_multiple_of(u64::from(every)) {
                let who = format!("system:serviceaccount:bench:lister-{n}");
                items.push(audit_event(&format!("b{n}"), &who, "list", None, ""));
                triggers.push(who);
            } else {
                // Benign traffic as a cluster makes it: many workloads, each reading the few
                // Secrets of its own namespace.
                let k = n % 1000;
                let who = format!("system:serviceaccount:team-{k}:app");
                let ns = format!("team-{k}");
                let name = format!("app-config-{}", n % 3);
                items.push(audit_event(&format!("b{n}"), &who, "get", Some(&ns), &name));
            }
        }
        let body = format!(
            r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{}]}}"#,
            items.join(",")
        );
        let posted = Instant::now();
        // As the API server's webhook does: retry when told to back off (counted).
        loop {
            match request(&svc.addr, "POST", "/ingest/k8s-audit", &body) {
                Ok(_) => break,
                Err(e) if e.to_string().contains(" 503 ") => {
                    refused += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        }
        for t in triggers {
            sent.insert(t, posted);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().expect("lock").len() < sent.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = seen.lock().expect("lock").clone();
    let mut lat: Vec<f64> = sent
        .iter()
        .filter_map(|(who, t0)| {
            seen.get(who)
                .map(|t1| t1.duration_since(*t0).as_secs_f64() * 1e3)
        })
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "bench latency: {n} events in {elapsed:.1} s ({:.0} events/s offered in requests every 10 ms), {} alerting events",
        n as f64 / elapsed,
        sent.len()
    );
    println!(
        "  event -> alert at the webhook: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} of {} alerts arrived)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        lat.len(),
        sent.len()
    );
    println!("  requests refused with 503 (queue full) and retried: {refused}");
    if let Some(kib) = svc.peak_rss_kib() {
        println!("  service peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
    if lat.len() < sent.len() {
        bail!(
            "{} alerts did not arrive within 10 s",
            sent.len() - lat.len()
        );
    }
    Ok(())
}
