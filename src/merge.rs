//! Several inputs read in parallel and merged by event time, so detections that span sources
//! (a Vault write and the Kubernetes sync that should follow) see events in the order they
//! happened. Each input is assumed to be in time order, as audit logs are.
//!
//! An input of independent lines (Kubernetes audit: [`lines_are_independent`]) is cut into
//! chunks of whole lines that several parser threads decode at once, put back in order before
//! the merge. Other inputs (Vault entries pair requests with responses) have one parser thread.
//! With a [`Prematcher`], parser threads also match the stateless Sigma rules, so the detection
//! thread only correlates.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};
use secretwatch_detect::sigma::{Prematch, Prematcher};
use secretwatch_ingest::{
    lines_are_independent, AccessEvent, DeadLetter, Decoder, Format, IngestStats, Input,
    ParseOptions,
};

const BATCH: usize = 1024;
/// Bytes of whole lines per chunk of a split input.
const CHUNK: usize = 1 << 20;

/// Events of one input, in order, with what the parser thread matched of them.
///
/// The events of a chunk of a split input are not copied: they borrow from `bytes`, the chunk
/// the batch owns (and from the parse options, which outlive every batch: batches live only
/// inside [`read_parallel`]'s thread scope). Hence `'static` here, never handed out: events are
/// lent only through [`Stream::front`] and [`Stream::take`], for as long as the batch is
/// borrowed. `events` is declared before `bytes`, so it is dropped first.
#[derive(Default)]
struct Batch {
    events: Vec<AccessEvent<'static>>,
    matched: Vec<Option<Prematch>>,
    bytes: Vec<u8>,
    /// Where the batch's buffers go back when it is done, for the reader and parsers to reuse.
    pool: Option<Pool>,
}

/// A batch's buffers, reused: a fresh 1 MiB chunk buffer per chunk cost the kernel's zeroing
/// of its pages (a sixth of a scan's CPU), and a fresh event vector per batch (a thousand or two
/// events, over a megabyte) cost mimalloc a fresh page run each time (another seventh).
#[derive(Clone, Default)]
struct Pool(Arc<Mutex<Vec<Parts>>>);

/// What a batch hands back: its vectors, emptied, their capacity kept.
#[derive(Default)]
struct Parts {
    events: Vec<AccessEvent<'static>>,
    matched: Vec<Option<Prematch>>,
    bytes: Vec<u8>,
}

impl Pool {
    /// Batches kept at most: what is in flight between the reader, the parsers and the merge.
    const KEEP: usize = 32;

    fn take(&self) -> Parts {
        self.0
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_default()
    }

    fn give(&self, parts: Parts) {
        if let Ok(mut p) = self.0.lock() {
            if p.len() < Pool::KEEP {
                p.push(parts);
            }
        }
    }

    /// An empty batch of `parts` (from this pool), with room for `events`; its buffers come
    /// back here when it is dropped.
    fn batch(&self, parts: Parts, events: usize) -> Batch {
        let mut batch = Batch {
            events: parts.events,
            matched: parts.matched,
            bytes: parts.bytes,
            pool: Some(self.clone()),
        };
        // `matched` grows only with a matcher; its capacity, once grown, comes back too.
        batch.events.reserve(events);
        batch
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // The events borrow from `bytes`: gone before the buffer is handed back.
        self.events.clear();
        self.matched.clear();
        self.bytes.clear();
        if let Some(pool) = self.pool.take() {
            pool.give(Parts {
                events: std::mem::take(&mut self.events),
                matched: std::mem::take(&mut self.matched),
                bytes: std::mem::take(&mut self.bytes),
            });
        }
    }
}

impl Batch {
    fn push(&mut self, ev: AccessEvent<'static>, matcher: Option<&Prematcher>) {
        if let Some(m) = matcher {
            self.matched.push(Some(m.matches(&ev)));
        }
        self.events.push(ev);
    }
}

/// One input's events as the merge takes them: batches numbered in input order.
struct Stream {
    rx: Receiver<(u64, Batch)>,
    /// Batches that came before their turn (from parallel parser threads).
    early: BTreeMap<u64, Batch>,
    next: u64,
    current: Batch,
    /// The next event of `current`.
    pos: usize,
    open: bool,
}

impl Stream {
    fn new(rx: Receiver<(u64, Batch)>) -> Stream {
        Stream {
            rx,
            early: BTreeMap::new(),
            next: 0,
            current: Batch::default(),
            pos: 0,
            open: true,
        }
    }

    /// Make sure an event is at hand unless the input is done.
    fn fill(&mut self) {
        while self.pos >= self.current.events.len() {
            if let Some(b) = self.early.remove(&self.next) {
                self.next += 1;
                self.current = b;
                self.pos = 0;
                continue;
            }
            if !self.open {
                return;
            }
            match self.rx.recv() {
                Ok((seq, b)) => {
                    self.early.insert(seq, b);
                }
                Err(_) => self.open = false,
            }
        }
    }

    fn front(&self) -> Option<&AccessEvent<'_>> {
        self.current.events.get(self.pos)
    }

    /// The next event and what was matched of it, lent to `f`.
    fn take(&mut self, f: &mut dyn FnMut(&AccessEvent<'_>, Option<Prematch>)) {
        let i = self.pos;
        if let Some(ev) = self.current.events.get(i) {
            let m = self.current.matched.get_mut(i).and_then(Option::take);
            f(ev, m);
            self.pos += 1;
        }
    }
}

/// One parser thread for a whole input (sequential formats): batches numbered 0, 1, ...
fn read_sequential(
    mut input: Input,
    opts: &ParseOptions,
    format: Format,
    dead_letter: Option<&Path>,
    matcher: Option<&Prematcher>,
    tx: SyncSender<(u64, Batch)>,
) -> Result<IngestStats> {
    let mut decoder = Decoder::new(opts, format, dead_letter.map(DeadLetter::new));
    let pool = Pool::default();
    let mut batch = pool.batch(pool.take(), BATCH);
    let mut seq = 0u64;
    let mut send_ok = true;
    let mut push = |ev: AccessEvent<'static>, batch: &mut Batch| {
        batch.push(ev, matcher);
        if batch.events.len() >= BATCH && send_ok {
            let next = pool.batch(pool.take(), BATCH);
            send_ok = tx.send((seq, std::mem::replace(batch, next))).is_ok();
            seq += 1;
        }
    };
    decoder.read_input(&mut input, &mut |ev| push(ev.into_owned(), &mut batch))?;
    decoder.finish(&mut |ev| push(ev, &mut batch))?;
    if !batch.events.is_empty() {
        let _ = tx.send((seq, batch));
    }
    Ok(decoder.stats)
}

/// A chunk of whole lines of a split input and the number of its first line.
struct Chunk {
    seq: u64,
    first_line: u64,
    /// `bytes` holds the chunk; the other buffers are for its batch.
    parts: Parts,
}

/// One parser thread of a split input: decodes chunks as they come, each into one batch. When
/// the chunks are done, what its decoder still holds (Vault requests without their response, in
/// a file of mostly Kubernetes lines) is batch number `chunks + index`, sent even when empty so
/// the merge never waits for it.
#[allow(clippy::too_many_arguments)]
fn parse_chunks(
    index: u64,
    chunks: &AtomicU64,
    name: &str,
    opts: &ParseOptions,
    format: Format,
    dead_letter: Option<&Path>,
    matcher: Option<&Prematcher>,
    work: &Mutex<Receiver<Chunk>>,
    pool: &Pool,
    tx: SyncSender<(u64, Batch)>,
) -> Result<IngestStats> {
    let mut decoder = Decoder::new(opts, format, dead_letter.map(DeadLetter::new));
    loop {
        let next = work.lock().map_err(|_| anyhow!("chunk queue"))?.recv();
        let Ok(chunk) = next else { break };
        let mut parts = chunk.parts;
        let bytes = std::mem::take(&mut parts.bytes);
        let mut batch = pool.batch(parts, bytes.len() / 512 + 1);
        decoder.lines(&bytes, name, chunk.first_line, &mut |ev| {
            // SAFETY: the event borrows from `bytes` (moved into this batch below, its heap
            // buffer untouched; on an early return the batch, declared after it, drops its
            // events first) and from `opts` (outlives every batch); see [`Batch`].
            // The one `unsafe` of the project: it saves a copy of every event's strings (a
            // tenth of a scan's CPU, README "Benchmarks").
            #[allow(unsafe_code)]
            let ev = unsafe { std::mem::transmute::<AccessEvent<'_>, AccessEvent<'static>>(ev) };
            batch.push(ev, matcher)
        })?;
        batch.bytes = bytes;
        if tx.send((chunk.seq, batch)).is_err() {
            break;
        }
    }
    let mut rest = Batch::default();
    decoder.finish(&mut |ev| rest.push(ev, matcher))?;
    // The work queue closed: the reader has counted the chunks.
    let _ = tx.send((chunks.load(Ordering::Acquire) + index, rest));
    Ok(decoder.stats)
}

/// Read `inputs` in parallel and call `emit` with their events in time order (and, with a
/// `matcher`, what it matched of each).
fn read_parallel(
    inputs: Vec<Input>,
    opts: &ParseOptions,
    format: Format,
    dead_letter: Option<&Path>,
    matcher: Option<&Prematcher>,
    chunk_bytes: usize,
    emit: &mut dyn FnMut(&AccessEvent<'_>, Option<Prematch>),
) -> Result<IngestStats> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    std::thread::scope(|scope| {
        let mut streams = vec![];
        let mut workers = vec![];
        for mut input in inputs {
            let split = threads > 1
                && input
                    .peek_line()?
                    .is_some_and(|l| lines_are_independent(l, format));
            let (tx, rx) = sync_channel::<(u64, Batch)>(4 * threads);
            streams.push(Stream::new(rx));
            if !split {
                workers.push(
                    scope.spawn(move || {
                        read_sequential(input, opts, format, dead_letter, matcher, tx)
                    }),
                );
                continue;
            }
            let (work_tx, work_rx) = sync_channel::<Chunk>(threads);
            let work = Arc::new(Mutex::new(work_rx));
            let name: Arc<str> = Arc::from(input.name.as_str());
            let chunks = Arc::new(AtomicU64::new(0));
            let pool = Pool::default();
            for index in 0..threads as u64 {
                let (work, tx, name, n) = (work.clone(), tx.clone(), name.clone(), chunks.clone());
                let pool = pool.clone();
                workers.push(scope.spawn(move || {
                    parse_chunks(
                        index,
                        &n,
                        &name,
                        opts,
                        format,
                        dead_letter,
                        matcher,
                        &work,
                        &pool,
                        tx,
                    )
                }));
            }
            drop(tx);
            // The reader: chunks of whole lines, numbered.
            workers.push(scope.spawn(move || -> Result<IngestStats> {
                let (mut seq, mut line) = (0u64, 1u64);
                let mut carry = Vec::new();
                let mut read = || -> Result<()> {
                    loop {
                        let mut parts = pool.take();
                        parts.bytes.reserve(chunk_bytes + 64 * 1024);
                        if !input.read_chunk(&mut parts.bytes, &mut carry, chunk_bytes)? {
                            return Ok(());
                        }
                        let lines = memchr::memchr_iter(b'\n', &parts.bytes).count() as u64;
                        let chunk = Chunk {
                            seq,
                            first_line: line,
                            parts,
                        };
                        if work_tx.send(chunk).is_err() {
                            return Ok(());
                        }
                        seq += 1;
                        line += lines;
                    }
                };
                let res = read();
                chunks.store(seq, Ordering::Release);
                drop(work_tx);
                res.map(|()| IngestStats::default())
            }));
        }
        loop {
            for s in streams.iter_mut() {
                s.fill();
            }
            let next = streams
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.front().map(|e| (e.time, i)))
                .min();
            let Some((_, i)) = next else { break };
            streams[i].take(emit);
        }
        drop(streams);
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
        return read_parallel(
            inputs,
            opts,
            format,
            dead_letter,
            None,
            CHUNK,
            &mut |ev, _| emit(ev),
        );
    }
    let mut input = inputs.into_iter().next().expect("one input");
    let mut decoder = Decoder::new(opts, format, dead_letter.map(DeadLetter::new));
    decoder.read_input(&mut input, &mut |ev| emit(&ev))?;
    decoder.finish(&mut |ev| emit(&ev))?;
    Ok(decoder.stats)
}

/// [`read_all`] for a detection engine: inputs parsed in parallel (split into chunks when their
/// lines are independent) and the stateless rules matched by `matcher` on the parser threads.
pub fn read_all_matched(
    inputs: Vec<Input>,
    opts: &ParseOptions,
    format: Format,
    dead_letter: Option<&Path>,
    matcher: &Prematcher,
    emit: &mut dyn FnMut(&AccessEvent<'_>, Prematch),
) -> Result<IngestStats> {
    read_parallel(
        inputs,
        opts,
        format,
        dead_letter,
        Some(matcher),
        CHUNK,
        &mut |ev, m| match m {
            Some(m) => emit(ev, m),
            None => emit(ev, matcher.matches(ev)),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k8s_line(i: usize) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"ev-{i}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/app/secrets/s{i}","verb":"get","user":{{"username":"system:serviceaccount:app:w{w}"}},"sourceIPs":["10.42.0.9"],"objectRef":{{"resource":"secrets","namespace":"app","name":"s{i}","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"2026-11-03T10:{m:02}:{s:02}Z","stageTimestamp":"2026-11-03T10:{m:02}:{s:02}Z"}}"#,
            w = i % 7,
            m = (i / 60) % 60,
            s = i % 60
        )
    }

    /// A Kubernetes file cut into chunks of a few lines, parsed by several threads: the events
    /// in file order, bad lines dead-lettered with their own line numbers, the counts of one
    /// sequential read.
    #[test]
    fn split_inputs_keep_order_line_numbers_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut bytes = Vec::new();
        for i in 0..400 {
            match i {
                137 => bytes.extend_from_slice(b"{not json"),
                251 => bytes.extend_from_slice(&[0xff, 0xfe, b'{']),
                300 => {}
                _ => bytes.extend_from_slice(k8s_line(i).as_bytes()),
            }
            bytes.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
        }
        bytes.extend_from_slice(k8s_line(400).as_bytes()); // no final newline
        std::fs::write(&path, &bytes).unwrap();
        let opts = ParseOptions::default();
        let read = |chunk: usize, dead: &Path| {
            let mut ids = vec![];
            let stats = read_parallel(
                vec![Input::open(&path).unwrap()],
                &opts,
                Format::Auto,
                Some(dead),
                None,
                chunk,
                &mut |ev, _| ids.push(ev.id.to_string()),
            )
            .unwrap();
            (ids, stats)
        };
        let (whole, whole_stats) = read(1 << 20, &dir.path().join("dead-whole.jsonl"));
        let (split, split_stats) = read(2000, &dir.path().join("dead-split.jsonl"));
        assert_eq!(whole.len(), 398);
        assert_eq!(whole, split);
        let expected: Vec<String> = (0..=400)
            .filter(|i| ![137, 251, 300].contains(i))
            .map(|i| format!("ev-{i}"))
            .collect();
        assert_eq!(split, expected);
        assert_eq!(
            (split_stats.records, split_stats.events, split_stats.bad),
            (whole_stats.records, whole_stats.events, whole_stats.bad)
        );
        assert_eq!(split_stats.bad, 2);
        let dead = std::fs::read_to_string(dir.path().join("dead-split.jsonl")).unwrap();
        let mut lines: Vec<u64> = dead
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["line"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        lines.sort();
        assert_eq!(lines, [138, 252]);
    }
}
