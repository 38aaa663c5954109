//! `secretwatch serve`: the live service. HTTP ingest (the API server's audit webhook and JSON
//! lines) and files at start, one detection thread, alerts appended to `alerts.jsonl` in the
//! data dir, state saved at shutdown (SIGTERM or Ctrl-C).

mod api;
pub(crate) mod changelog;
mod http;
mod kafka;
mod metrics;
mod pipeline;
mod repartition;
pub(crate) mod sql;
pub(crate) mod store;
mod tls;
mod vault_socket;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use secretwatch_alerting::{Alerting, EnvironmentFn, Origin};
use secretwatch_detect::context::World;
use secretwatch_detect::Engine;
use secretwatch_ingest::tail::{self, TailOffsets, TailSpec};
use secretwatch_ingest::{Format, SourceSystem};
use tracing::info;

use crate::config::Config;

pub use api::Role;
pub use http::{app, AppState};
pub use pipeline::Batch;

/// Events per batch when reading files.
const FILE_BATCH: usize = 4096;

pub fn run(cfg: Config, files: Vec<PathBuf>) -> Result<()> {
    let data = cfg.serve.data_dir.clone();
    std::fs::create_dir_all(&data)
        .with_context(|| format!("creating data dir {}", data.display()))?;
    let state_dir = data.join("state");
    let engine = Engine::with_state(&cfg.detect, Some(&state_dir))
        .context("loading detection rules and state")?;
    let files = crate::scan::expand_inputs(&files)?;
    let token = cfg.ingest_token()?;
    let tls = match (&cfg.serve.tls_cert_file, &cfg.serve.tls_key_file) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    // Sinks: queues opened and credentials loaded before anything is accepted, so a missing
    // credential stops the start with its key. Senders run on their own runtime, which outlives
    // the ingest side at shutdown so that queued alerts can still drain.
    let (alerting, transports) = open_alerting(&cfg, &data)?;
    let alerting = Arc::new(alerting);
    let alert_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("alerting")
        .enable_all()
        .build()?;
    {
        let _guard = alert_rt.enter();
        alerting.start(transports);
    }
    let metrics = Arc::new(metrics::Metrics::default());
    let store = Arc::new(store::Store::open(&data, cfg.serve.recent_events));
    let events_store = Arc::new(
        sql::EventStore::open(&data, cfg.serve.retention_days)
            .with_context(|| format!("opening the event store under {}", data.display()))?,
    );
    let report_ctx = Arc::new(crate::report::schedule::ScheduleContext {
        config: Arc::new(cfg.clone()),
        events: events_store.clone(),
        store: store.clone(),
        data: data.clone(),
        limits: crate::report::command::limits(&cfg),
        counters: metrics.reports.clone(),
    });
    let api_state = api::ApiState {
        report: report_ctx.clone(),
        store: store.clone(),
        events: events_store.clone(),
        limits: sql::Limits {
            time: std::time::Duration::from_secs(cfg.serve.query_seconds),
            memory_bytes: cfg.serve.query_memory_mb << 20,
            max_rows: cfg.serve.query_max_rows,
        },
        tokens: Arc::new(cfg.api_tokens()?),
        audit: Arc::new(std::sync::Mutex::new(data.join("api-audit.jsonl"))),
        baselines: Arc::new(api::Baselines::new(
            state_dir.join(secretwatch_detect::baseline::STATE_FILE),
            cfg.detect.baseline.learning_days,
        )),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>(cfg.serve.queue_batches);
    // Scale-out: state per partition in the changelog topic, restored when partitions move.
    if cfg.kafka.enabled() && cfg.kafka.scale_out && !cfg.detect.context.sync.is_empty() {
        tracing::warn!("Scale-out: rotation-sync-gap and rotation-restart-gap do not run on Kafka partitions (a Vault write and the Kubernetes sync that should follow come from two principals, in different partitions); they run on events received over HTTP and files only.");
    }
    let changelog = if cfg.kafka.enabled() && cfg.kafka.scale_out {
        let props = kafka::properties(&cfg.kafka)?;
        if cfg.kafka.topics.iter().any(|t| t.repartition) {
            repartition::ensure_topic(&cfg.kafka, &props)?;
        }
        let topics: Vec<String> = cfg
            .kafka
            .detection_topics()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        Some(Arc::new(changelog::Changelog::open(
            &props,
            &cfg.kafka.group_id,
            &cfg.kafka.changelog(),
            &topics,
        )?))
    } else {
        None
    };
    // Kafka: subscribed before detection starts, so a bad broker setting stops the start.
    let kafka_source = if cfg.kafka.enabled() {
        let hook = changelog.as_ref().map(|c| {
            Arc::new(changelog::Hook {
                changelog: c.clone(),
                tx: tx.downgrade(),
                metrics: metrics.clone(),
            }) as Arc<dyn secretwatch_ingest::kafka::PartitionHook>
        });
        let s = kafka::open(&cfg.kafka, hook)?;
        let _ = metrics.kafka.set(s.stats.clone());
        Some(s)
    } else {
        None
    };
    let committer = kafka_source.as_ref().map(|s| s.committer.clone());
    let detection = {
        let mut checkpoint = std::time::Duration::from_secs(cfg.serve.checkpoint_seconds);
        if cfg.kafka.enabled() {
            // Offsets are committed with the state that covers them.
            checkpoint = checkpoint.min(std::time::Duration::from_secs(cfg.kafka.commit_seconds));
        }
        let out = pipeline::Outputs {
            alerts_path: data.join("alerts.jsonl"),
            state_dir: state_dir.clone(),
            metrics: metrics.clone(),
            checkpoint,
            alerting: alerting.clone(),
            committer,
            detect: cfg.detect.clone(),
            store: store.clone(),
            events: events_store.clone(),
            shards: changelog.map(changelog::Shards::new),
        };
        std::thread::Builder::new()
            .name("detection".into())
            .spawn(move || pipeline::run(engine, rx, out))?
    };
    let opts = Arc::new(cfg.parse_options());
    let state = AppState {
        tx: tx.clone(),
        metrics: metrics.clone(),
        token,
        opts: opts.clone(),
        dead_letter: data.join("dead-letter.jsonl"),
        alerting: alerting.clone(),
    };
    let stop_kafka = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let kafka_thread = match kafka_source {
        Some(source) => {
            let reorder = secretwatch_ingest::reorder::Reorder::new(
                std::time::Duration::from_millis(cfg.kafka.reorder_idle_ms),
                cfg.kafka.reorder_max_events,
            );
            let (opts, dead, tx, metrics, stop) = (
                opts.clone(),
                data.join("dead-letter.jsonl"),
                tx.clone(),
                metrics.clone(),
                stop_kafka.clone(),
            );
            Some(
                std::thread::Builder::new()
                    .name("kafka".into())
                    .spawn(move || {
                        kafka::consume(source, opts, dead, tx, metrics, stop, reorder)
                    })?,
            )
        }
        None => None,
    };
    // Scale-out: topics not keyed by principal are re-keyed through the repartition topic.
    let repartition_thread = match cfg.kafka.enabled() {
        true => {
            match repartition::Repartitioner::open(&cfg.kafka, &kafka::properties(&cfg.kafka)?)? {
                Some(r) => {
                    let reorder = secretwatch_ingest::reorder::Reorder::new(
                        std::time::Duration::from_millis(cfg.kafka.reorder_idle_ms),
                        cfg.kafka.reorder_max_events,
                    );
                    let (opts, dead, metrics, stop) = (
                        opts.clone(),
                        data.join("dead-letter.jsonl"),
                        metrics.clone(),
                        stop_kafka.clone(),
                    );
                    Some(
                        std::thread::Builder::new()
                            .name("repartition".into())
                            .spawn(move || r.run(opts, dead, metrics, stop, reorder))?,
                    )
                }
                None => None,
            }
        }
        false => None,
    };
    let tail_thread = if cfg.serve.tail.is_empty() {
        None
    } else {
        let specs: Vec<TailSpec> = cfg
            .serve
            .tail
            .iter()
            .map(|t| TailSpec {
                pattern: t.path.clone(),
                format: t.format.parse().unwrap_or(Format::Auto),
                start_at_end: t.start_at == "end",
            })
            .collect();
        let saved = TailOffsets::load(&state_dir);
        let (opts, dead, tx, metrics, stop) = (
            opts.clone(),
            data.join("dead-letter.jsonl"),
            tx.clone(),
            metrics.clone(),
            stop_kafka.clone(),
        );
        let poll = std::time::Duration::from_millis(cfg.serve.tail_poll_ms);
        Some(
            std::thread::Builder::new()
                .name("tail".into())
                .spawn(move || {
                    tail::run(&specs, &saved, &opts, Some(&dead), poll, &stop, &mut |b| {
                        metrics.add_events(&b.events_by_source);
                        metrics
                            .bad_records
                            .fetch_add(b.bad, std::sync::atomic::Ordering::Relaxed);
                        metrics
                            .queue_batches
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tx.blocking_send(Batch {
                            tail: b.positions,
                            ..Batch::of(b.events)
                        })
                        .is_ok()
                    });
                })?,
        )
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let served: Result<()> = runtime.block_on(async {
        // Files given on the command line go through the same queue, with backpressure.
        if !files.is_empty() {
            let (tx, opts, format, dead, metrics) = (
                tx.clone(),
                opts.clone(),
                cfg.format(),
                data.join("dead-letter.jsonl"),
                metrics.clone(),
            );
            tokio::task::spawn_blocking(move || {
                read_files(files, &opts, format, &dead, &tx, &metrics)
            });
        }
        if let Some(addr) = &cfg.serve.vault_socket {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for the Vault audit socket on {addr}"))?;
            let bound = l.local_addr()?;
            info!(addr = %bound, "Vault audit socket listening.");
            eprintln!("secretwatch: vault audit socket on {bound}");
            tokio::spawn(vault_socket::accept(
                l,
                tx.clone(),
                opts.clone(),
                data.join("dead-letter.jsonl"),
                metrics.clone(),
            ));
        }
        // Scheduled compliance reports.
        crate::report::schedule::spawn(
            (*report_ctx).clone(),
            &tokio::runtime::Handle::current(),
        );
        // Rules reload on SIGHUP and when a file under detect.rules_dirs changes.
        tokio::spawn(reload_triggers(
            tx.clone(),
            metrics.clone(),
            cfg.detect.rules_dirs.clone(),
        ));
        drop(tx);
        let listener = tokio::net::TcpListener::bind(&cfg.serve.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.serve.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        info!(%addr, scheme, auth = cfg.serve.ingest_token.is_some(), sinks = cfg.alerting.sinks.len(), "Listening.");
        eprintln!("secretwatch: listening on {scheme}://{addr}");
        let router = app(state, cfg.serve.max_body_bytes).merge(api::routes(api_state));
        match tls {
            Some(acceptor) => {
                axum::serve(tls::TlsListener::new(listener, acceptor)?, router)
                    .with_graceful_shutdown(shutdown_signal())
                    .await
            }
            None => {
                axum::serve(listener, router)
                    .with_graceful_shutdown(shutdown_signal())
                    .await
            }
        }
        .context("HTTP server")?;
        info!("HTTP server stopped; draining detection.");
        Ok(())
    });
    // Stop consuming and following; the consumer is kept until detection has saved the state
    // that covers the last offsets, then those are committed.
    stop_kafka.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(t) = tail_thread {
        t.join()
            .map_err(|_| anyhow::anyhow!("the file-following thread panicked"))?;
    }
    if let Some(t) = repartition_thread {
        t.join()
            .map_err(|_| anyhow::anyhow!("the repartition thread panicked"))?;
    }
    let kafka_source = match kafka_thread {
        Some(t) => Some(
            t.join()
                .map_err(|_| anyhow::anyhow!("the Kafka thread panicked"))?,
        ),
        None => None,
    };
    // The router (and its sender) is gone with the runtime: the detection thread drains and stops.
    drop(runtime);
    let detected = detection
        .join()
        .map_err(|_| anyhow::anyhow!("the detection thread panicked"))?;
    if let Some(source) = kafka_source {
        if detected.is_ok() {
            source.close();
            info!("Kafka offsets committed.");
        }
    }
    // Every alert is in a sink queue now: give the sinks a moment to empty them.
    let drain = std::time::Duration::from_secs(cfg.alerting.shutdown_drain_seconds);
    let left = alert_rt.block_on(async {
        let left = alerting.drain(drain).await;
        alerting.stop().await;
        left
    });
    if left > 0 {
        tracing::warn!(
            pending = left,
            "Sinks did not empty their queues before shutdown; the alerts stay queued on disk and are sent at the next start."
        );
    }
    drop(alert_rt);
    served?;
    detected
}

/// Ask the detection thread to reload the rules on SIGHUP or when a rule file changes
/// (checked every 2 s by name, size and modification time); every 2 s also an empty batch, so
/// that checkpoints happen while no events arrive.
async fn reload_triggers(
    tx: tokio::sync::mpsc::Sender<Batch>,
    metrics: Arc<metrics::Metrics>,
    dirs: Vec<PathBuf>,
) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let fingerprint = |dirs: &[PathBuf]| -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
        let mut v = Vec::new();
        for d in dirs {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if let Ok(m) = e.metadata() {
                    v.push((e.path(), m.len(), m.modified().ok()));
                }
            }
        }
        v.sort();
        v
    };
    let mut last = fingerprint(&dirs);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
    loop {
        #[cfg(unix)]
        let hup_fired = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fired = std::future::pending::<()>();
        let why = tokio::select! {
            () = hup_fired => "SIGHUP",
            _ = tick.tick() => {
                // Also a heartbeat: an idle stream still reaches its checkpoint (state saved,
                // events flushed, Kafka offsets committed) without waiting for the next event.
                metrics
                    .queue_batches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if tx.send(Batch::of(Vec::new())).await.is_err() {
                    return;
                }
                let now = fingerprint(&dirs);
                if now == last {
                    continue;
                }
                last = now;
                "a rule file changed"
            }
        };
        info!(trigger = why, "Reloading rules.");
        metrics
            .queue_batches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if tx.send(Batch::reload()).await.is_err() {
            return;
        }
    }
}

/// This machine's host name, for alerts (HEC host, syslog HOSTNAME).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "secretwatch".to_string())
}

/// The configured sinks with their queues under `data/outbox/<sink>/`.
fn open_alerting(
    cfg: &Config,
    data: &std::path::Path,
) -> Result<(Alerting, Vec<Box<dyn secretwatch_alerting::Transport>>)> {
    let mut origin = Origin::new(cfg.alerting.host.clone().unwrap_or_else(host_name));
    if let Some(u) = &cfg.alerting.dashboard_url {
        origin = origin.with_dashboard(u.clone());
    }
    let world = World::compile(&cfg.detect.context)
        .map_err(|e| anyhow::anyhow!("detect.context: {}", e.join("; ")))?;
    let environment: EnvironmentFn = Box::new(move |source, key| match source {
        SourceSystem::Kubernetes => world.namespace_env(key).map(str::to_string),
        SourceSystem::Vault => world.vault_env(key).map(str::to_string),
        _ => None,
    });
    let (hub, transports) = Alerting::open(
        &cfg.alerting.sinks,
        &data.join("outbox"),
        &origin,
        environment,
    )?;
    for s in hub.status() {
        info!(sink = %s.name, kind = s.kind, endpoint = %s.endpoint, pending = s.pending, "Sink ready.");
    }
    Ok((hub, transports))
}

fn read_files(
    files: Vec<PathBuf>,
    opts: &secretwatch_ingest::ParseOptions,
    format: secretwatch_ingest::Format,
    dead: &std::path::Path,
    tx: &tokio::sync::mpsc::Sender<Batch>,
    metrics: &metrics::Metrics,
) {
    let inputs = match files
        .iter()
        .map(|f| secretwatch_ingest::Input::open(f))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "Cannot read input file.");
            return;
        }
    };
    let mut batch = Vec::with_capacity(FILE_BATCH);
    let send = |batch: Vec<_>| {
        metrics
            .queue_batches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tx.blocking_send(Batch::of(batch)).is_ok()
    };
    let res = crate::merge::read_all(inputs, opts, format, Some(dead), &mut |ev| {
        batch.push(ev.clone().into_owned());
        if batch.len() >= FILE_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(FILE_BATCH));
            send(full);
        }
    });
    match res {
        Ok(stats) => {
            metrics.add_events(&stats.events_by_source);
            metrics
                .bad_records
                .fetch_add(stats.bad, std::sync::atomic::Ordering::Relaxed);
            info!(events = stats.events, bad = stats.bad, "Input files read.");
        }
        Err(e) => tracing::error!(error = %e, "Reading input files failed."),
    }
    if !batch.is_empty() {
        send(batch);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    info!("Shutdown signal received.");
}
