//! Several inputs read in parallel (one thread each) and merged by event time, so detections
//! that span sources (a Vault write and the Kubernetes sync that should follow) see events in
//! the order they happened. Each input is assumed to be in time order, as audit logs are.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};

use anyhow::{anyhow, Result};
use secretwatch_ingest::{
    AccessEvent, DeadLetter, Decoder, Format, IngestStats, Input, ParseOptions,
};

const BATCH: usize = 1024;

struct Stream {
    rx: Receiver<Vec<AccessEvent<'static>>>,
    buf: VecDeque<AccessEvent<'static>>,
    open: bool,
}

impl Stream {
    /// Make sure the buffer has an event unless the input is done.
    fn fill(&mut self) {
        while self.buf.is_empty() && self.open {
            match self.rx.recv() {
                Ok(batch) => self.buf.extend(batch),
                Err(_) => self.open = false,
            }
        }
    }
}

/// Read `inputs` in parallel and call `emit` with their events in time order.
pub fn read_merged(
    inputs: Vec<Input>,
    opts: &ParseOptions,
    format: Format,
    dead_letter: Option<&Path>,
    emit: &mut dyn FnMut(&AccessEvent<'_>),
) -> Result<IngestStats> {
    std::thread::scope(|scope| {
        let mut streams = vec![];
        let mut workers = vec![];
        for mut input in inputs {
            let (tx, rx) = sync_channel::<Vec<AccessEvent<'static>>>(4);
            streams.push(Stream {
                rx,
                buf: VecDeque::new(),
                open: true,
            });
            workers.push(scope.spawn(move || -> Result<IngestStats> {
                let mut decoder = Decoder::new(opts, format, dead_letter.map(DeadLetter::new));
                let mut batch = Vec::with_capacity(BATCH);
                let mut send_ok = true;
                let mut push = |ev: AccessEvent<'static>, batch: &mut Vec<AccessEvent<'static>>| {
                    batch.push(ev);
                    if batch.len() >= BATCH && send_ok {
                        send_ok = tx
                            .send(std::mem::replace(batch, Vec::with_capacity(BATCH)))
                            .is_ok();
                    }
                };
                decoder.read_input(&mut input, &mut |ev| push(ev.into_owned(), &mut batch))?;
                decoder.finish(&mut |ev| push(ev, &mut batch))?;
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
                Ok(decoder.stats)
            }));
        }
        loop {
            for s in streams.iter_mut() {
                s.fill();
            }
            let next = streams
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.buf.front().map(|e| (e.time, i)))
                .min();
            let Some((_, i)) = next else { break };
            if let Some(ev) = streams[i].buf.pop_front() {
                emit(&ev);
            }
        }
        let mut stats = IngestStats::default();
        for w in workers {
            let s = w
                .join()
                .map_err(|_| anyhow!("an input reader thread panicked"))??;
            stats.add(&s);
        }
        Ok(stats)
    })
}

/// Read `inputs` and call `emit` with their events: one input through the borrowing fast path,
/// several in parallel merged by event time.
pub fn read_all(
    inputs: Vec<Input>,
    opts: &ParseOptions,
    format: Format,
    dead_letter: Option<&Path>,
    emit: &mut dyn FnMut(&AccessEvent<'_>),
) -> Result<IngestStats> {
    if inputs.len() != 1 {
        return read_merged(inputs, opts, format, dead_letter, emit);
    }
    let mut input = inputs.into_iter().next().expect("one input");
    let mut decoder = Decoder::new(opts, format, dead_letter.map(DeadLetter::new));
    decoder.read_input(&mut input, &mut |ev| emit(&ev))?;
    decoder.finish(&mut |ev| emit(&ev))?;
    Ok(decoder.stats)
}
