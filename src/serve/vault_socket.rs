//! Vault's `socket` audit device: Vault dials us and writes one JSON entry per line.
//! Each connection has its own parser, so requests pair with their responses.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use secretwatch_ingest::{AccessEvent, DeadLetter, Decoder, Format, ParseOptions};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Sender;
use tracing::{info, warn};

use crate::serve::metrics::Metrics;
use crate::serve::pipeline::Batch;

const BATCH: usize = 256;

pub async fn accept(
    listener: TcpListener,
    tx: Sender<Batch>,
    opts: Arc<ParseOptions>,
    dead: PathBuf,
    metrics: Arc<Metrics>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                info!(%peer, "Vault audit socket connected.");
                tokio::spawn(connection(
                    stream,
                    peer.to_string(),
                    tx.clone(),
                    opts.clone(),
                    dead.clone(),
                    metrics.clone(),
                ));
            }
            Err(e) => warn!(error = %e, "Vault audit socket accept failed."),
        }
    }
}

async fn send(tx: &Sender<Batch>, metrics: &Metrics, events: Vec<AccessEvent<'static>>) -> bool {
    if events.is_empty() {
        return true;
    }
    metrics.queue_batches.fetch_add(1, Ordering::Relaxed);
    // Backpressure: Vault's write blocks until we read (pair this device with a file device).
    tx.send(Batch::of(events)).await.is_ok()
}

async fn connection(
    stream: TcpStream,
    peer: String,
    tx: Sender<Batch>,
    opts: Arc<ParseOptions>,
    dead: PathBuf,
    metrics: Arc<Metrics>,
) {
    let source = format!("vault-socket:{peer}");
    let mut decoder = Decoder::new(&opts, Format::Vault, Some(DeadLetter::new(&dead)));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut line_no = 0u64;
    let mut batch: Vec<AccessEvent<'static>> = Vec::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) => break,
            Ok(_) => {
                line_no += 1;
                let text = line.trim();
                if !text.is_empty() {
                    let (before_events, before_bad) = (decoder.stats.events, decoder.stats.bad);
                    if let Err(e) = decoder.record(text, &source, line_no, &mut |ev| {
                        batch.push(ev.into_owned())
                    }) {
                        warn!(error = %e, "Dead-letter write failed.");
                    }
                    metrics
                        .bad_records
                        .fetch_add(decoder.stats.bad - before_bad, Ordering::Relaxed);
                    if decoder.stats.events > before_events {
                        metrics.add_source_events("vault", decoder.stats.events - before_events);
                    }
                }
                // Send when nothing more is buffered, or the batch is full.
                if (batch.len() >= BATCH || reader.buffer().is_empty())
                    && !send(&tx, &metrics, std::mem::take(&mut batch)).await
                {
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, peer = %peer, "Vault audit socket read failed.");
                break;
            }
        }
    }
    let _ = decoder.finish(&mut |ev| batch.push(ev));
    send(&tx, &metrics, batch).await;
    info!(peer = %peer, entries = line_no, "Vault audit socket closed.");
}
