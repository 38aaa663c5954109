//! A durable FIFO of JSON lines with a separate ack cursor.
//!
//! Directory layout:
//! - `<first seq, 20 digits>.jsonl`: segments, append-only, one record per line; the record
//!   with sequence number `s` is line `s - first` of the segment whose name is `first`.
//! - `cursor.json`: `{"acked": N}`: every record with seq < N is acknowledged. Replaced
//!   atomically (temporary file, fsync, rename, fsync of the directory).
//!
//! Crash safety (process kill at any point; also power loss when `fsync = true`):
//! - `push` returns only after the whole line (record + `\n`) was written with one `write`
//!   (and `fdatasync`ed). A kill in the middle leaves a last line without `\n`: open cuts it
//!   off; that push never returned, so nothing acknowledged is lost.
//! - `ack_through` makes the new cursor durable first and deletes fully acknowledged
//!   segments after. A kill in between leaves segments below the cursor, which open deletes.
//!   A kill before the rename keeps the old cursor: those records are delivered again
//!   (at-least-once; receivers dedupe by alert id), never lost.
//! - Sequence numbers continue across restarts: from the segments, or from the cursor when
//!   every segment was deleted.
//!
//! Bounded: the segment files never exceed `max_bytes` in total; a push that would pass it is
//! refused with [`QueueError::Full`], which the caller must surface (metric, loud log,
//! backpressure): nothing is dropped here.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::fsutil::{sync_dir, write_atomic};
use crate::gate::GateStoreError;

const CURSOR: &str = "cursor.json";

/// `queue = { max_bytes = 268435456, segment_bytes = 4194304, fsync = true }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Bound of the queue on disk (all segment files).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// A new segment starts when the current one would pass this size.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// fsync each push and ack (survives power loss, not only a process kill).
    #[serde(default = "default_fsync")]
    pub fsync: bool,
}

fn default_max_bytes() -> u64 {
    256 << 20
}
fn default_segment_bytes() -> u64 {
    4 << 20
}
fn default_fsync() -> bool {
    true
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_bytes: default_max_bytes(),
            segment_bytes: default_segment_bytes(),
            fsync: default_fsync(),
        }
    }
}

impl QueueConfig {
    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        if self.max_bytes < 64 << 10 {
            errors.push(format!("{key}.max_bytes: at least 65536"));
        }
        if self.segment_bytes < 4096 || self.segment_bytes > self.max_bytes / 2 {
            errors.push(format!(
                "{key}.segment_bytes: between 4096 and half of max_bytes"
            ));
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The bound is reached: the record was not queued. Surface it; retry after acks.
    #[error("queue {dir} is full: {used} of {max} bytes used by {pending} records")]
    Full {
        dir: PathBuf,
        used: u64,
        max: u64,
        pending: u64,
    },
    #[error("record of {bytes} bytes cannot fit a queue of {max} bytes")]
    TooLarge { bytes: u64, max: u64 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("ack through {seq} outside the queue ({acked}..{next})")]
    BadAck { seq: u64, acked: u64, next: u64 },
    #[error(transparent)]
    Gate(#[from] GateStoreError),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One queued record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    /// The JSON text, without the newline.
    pub data: Vec<u8>,
}

impl Entry {
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.data)
    }
}

#[derive(Debug)]
struct Segment {
    first: u64,
    path: PathBuf,
    /// Start offset of each record.
    offsets: Vec<u64>,
    len: u64,
}

impl Segment {
    fn end(&self) -> u64 {
        self.first + self.offsets.len() as u64
    }
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    acked: u64,
}

/// Counters for metrics and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    pub pending: u64,
    pub used_bytes: u64,
    pub max_bytes: u64,
    pub segments: usize,
    /// Bytes of a torn last record cut off at open.
    pub recovered_bytes: u64,
}

/// The queue of one sink.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    cfg: QueueConfig,
    segments: VecDeque<Segment>,
    writer: Option<File>,
    acked: u64,
    next: u64,
    used: u64,
    recovered: u64,
}

fn segment_name(first: u64) -> String {
    format!("{first:020}.jsonl")
}

/// Record offsets of a segment file; a last line without `\n` is cut off the file.
fn scan(path: &Path) -> Result<(Vec<u64>, u64, u64), QueueError> {
    let f = File::open(path).map_err(io_err(path))?;
    let mut r = BufReader::new(f);
    let (mut offsets, mut pos, mut buf) = (Vec::new(), 0u64, Vec::new());
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(io_err(path))? as u64;
        if n == 0 {
            return Ok((offsets, pos, 0));
        }
        if !buf.ends_with(b"\n") {
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io_err(path))?;
            f.set_len(pos).map_err(io_err(path))?;
            return Ok((offsets, pos, n));
        }
        offsets.push(pos);
        pos += n;
    }
}

impl DiskQueue {
    /// Open (or create) the queue in `dir`, recovering from a kill at any point.
    pub fn open(dir: &Path, cfg: QueueConfig) -> Result<DiskQueue, QueueError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let cursor_path = dir.join(CURSOR);
        let cursor = match std::fs::read(&cursor_path) {
            Ok(b) => {
                serde_json::from_slice::<Cursor>(&b)
                    .map_err(|e| QueueError::Corrupt {
                        path: cursor_path.clone(),
                        message: e.to_string(),
                    })?
                    .acked
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err(&cursor_path)(e)),
        };
        let mut firsts = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(first) = name
                .strip_suffix(".jsonl")
                .and_then(|s| s.parse::<u64>().ok())
            {
                firsts.push(first);
            } else if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        firsts.sort_unstable();
        let mut q = DiskQueue {
            dir: dir.to_path_buf(),
            cfg,
            segments: VecDeque::new(),
            writer: None,
            acked: cursor,
            next: cursor,
            used: 0,
            recovered: 0,
        };
        for first in firsts {
            let path = dir.join(segment_name(first));
            let (offsets, len, cut) = scan(&path)?;
            q.recovered += cut;
            let seg = Segment {
                first,
                path,
                offsets,
                len,
            };
            if seg.end() <= cursor {
                // Fully acknowledged; its deletion was interrupted.
                std::fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
                continue;
            }
            if let Some(prev) = q.segments.back() {
                if prev.end() != first {
                    return Err(QueueError::Corrupt {
                        path: seg.path,
                        message: format!("expected a segment starting at {}", prev.end()),
                    });
                }
            }
            q.used += seg.len;
            q.next = seg.end();
            q.segments.push_back(seg);
        }
        if let Some(first) = q.segments.front().map(|s| s.first) {
            if first > q.acked {
                return Err(QueueError::Corrupt {
                    path: dir.to_path_buf(),
                    message: format!(
                        "records {}..{first} are missing (acknowledged up to {})",
                        q.acked, q.acked
                    ),
                });
            }
        }
        Ok(q)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sequence number of the oldest unacknowledged record (= the next one when empty).
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Sequence number the next push gets.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    pub fn pending(&self) -> u64 {
        self.next - self.acked
    }

    pub fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    pub fn stats(&self) -> QueueStats {
        QueueStats {
            pending: self.pending(),
            used_bytes: self.used,
            max_bytes: self.cfg.max_bytes,
            segments: self.segments.len(),
            recovered_bytes: self.recovered,
        }
    }

    /// Append one record (serialized as compact JSON: no raw newline). Returns its seq.
    pub fn push<T: Serialize>(&mut self, item: &T) -> Result<u64, QueueError> {
        let data = serde_json::to_vec(item).expect("queued items serialize");
        self.push_raw(&data)
    }

    /// Append records in order with one fsync; all or none are accepted for the bound.
    pub fn push_all<T: Serialize>(&mut self, items: &[T]) -> Result<Vec<u64>, QueueError> {
        let lines: Vec<Vec<u8>> = items
            .iter()
            .map(|i| serde_json::to_vec(i).expect("queued items serialize"))
            .collect();
        let total: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
        self.check_room(total)?;
        let mut seqs = Vec::with_capacity(lines.len());
        for l in &lines {
            seqs.push(self.write_line(l)?);
        }
        self.sync()?;
        Ok(seqs)
    }

    /// Append the longest prefix of `lines` (JSON texts without newlines) that fits the bound,
    /// with one fsync; returns how many were queued. For records that may be refused in part
    /// (forwarded events): the caller counts the rest.
    pub fn push_fitting(&mut self, lines: &[Vec<u8>]) -> Result<usize, QueueError> {
        let mut room = self.cfg.max_bytes.saturating_sub(self.used);
        let mut take = 0;
        for l in lines {
            assert!(!l.contains(&b'\n'), "queue records are single lines");
            let bytes = l.len() as u64 + 1;
            if bytes > room {
                break;
            }
            room -= bytes;
            take += 1;
        }
        for l in &lines[..take] {
            self.write_line(l)?;
        }
        if take > 0 {
            self.sync()?;
        }
        Ok(take)
    }

    /// Append one JSON text (must not contain a newline).
    pub fn push_raw(&mut self, data: &[u8]) -> Result<u64, QueueError> {
        assert!(!data.contains(&b'\n'), "queue records are single lines");
        self.check_room(data.len() as u64 + 1)?;
        let seq = self.write_line(data)?;
        self.sync()?;
        Ok(seq)
    }

    fn check_room(&self, bytes: u64) -> Result<(), QueueError> {
        if bytes > self.cfg.max_bytes {
            return Err(QueueError::TooLarge {
                bytes,
                max: self.cfg.max_bytes,
            });
        }
        if self.used + bytes > self.cfg.max_bytes {
            return Err(QueueError::Full {
                dir: self.dir.clone(),
                used: self.used,
                max: self.cfg.max_bytes,
                pending: self.pending(),
            });
        }
        Ok(())
    }

    fn write_line(&mut self, data: &[u8]) -> Result<u64, QueueError> {
        let bytes = data.len() as u64 + 1;
        let rotate = match self.segments.back() {
            None => true,
            Some(s) => s.len > 0 && s.len + bytes > self.cfg.segment_bytes,
        };
        if rotate || self.writer.is_none() {
            let path = match self.segments.back() {
                Some(s) if !rotate => s.path.clone(),
                _ => self.dir.join(segment_name(self.next)),
            };
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            if rotate {
                if self.cfg.fsync {
                    sync_dir(&self.dir).map_err(io_err(&self.dir))?;
                }
                self.segments.push_back(Segment {
                    first: self.next,
                    path,
                    offsets: Vec::new(),
                    len: 0,
                });
            }
            self.writer = Some(f);
        }
        let seg = self.segments.back_mut().expect("a segment to write to");
        let mut line = Vec::with_capacity(data.len() + 1);
        line.extend_from_slice(data);
        line.push(b'\n');
        let w = self.writer.as_mut().expect("an open segment");
        w.write_all(&line).map_err(io_err(&seg.path))?;
        seg.offsets.push(seg.len);
        seg.len += bytes;
        self.used += bytes;
        let seq = self.next;
        self.next += 1;
        Ok(seq)
    }

    fn sync(&mut self) -> Result<(), QueueError> {
        if self.cfg.fsync {
            if let (Some(w), Some(seg)) = (self.writer.as_mut(), self.segments.back()) {
                w.sync_data().map_err(io_err(&seg.path))?;
            }
        }
        Ok(())
    }

    /// The oldest unacknowledged records: at most `max_items`, and within `max_bytes` except
    /// that the first is always returned.
    pub fn peek(&self, max_items: usize, max_bytes: u64) -> Result<Vec<Entry>, QueueError> {
        self.peek_from(self.acked, max_items, max_bytes)
    }

    /// Like [`DiskQueue::peek`] from sequence number `from` (at least the ack cursor).
    pub fn peek_from(
        &self,
        from: u64,
        max_items: usize,
        max_bytes: u64,
    ) -> Result<Vec<Entry>, QueueError> {
        let mut out = Vec::new();
        let mut bytes = 0u64;
        let mut seq = from.max(self.acked);
        for seg in &self.segments {
            if seq >= seg.end() {
                continue;
            }
            if out.len() >= max_items {
                break;
            }
            let mut f = File::open(&seg.path).map_err(io_err(&seg.path))?;
            let start = seg.offsets[(seq - seg.first) as usize];
            f.seek(SeekFrom::Start(start)).map_err(io_err(&seg.path))?;
            let mut r = BufReader::new(f.take(seg.len - start));
            while seq < seg.end() && out.len() < max_items {
                let mut line = Vec::new();
                r.read_until(b'\n', &mut line).map_err(io_err(&seg.path))?;
                if line.pop() != Some(b'\n') {
                    return Err(QueueError::Corrupt {
                        path: seg.path.clone(),
                        message: format!("record {seq} is cut short"),
                    });
                }
                if !out.is_empty() && bytes + line.len() as u64 > max_bytes {
                    return Ok(out);
                }
                bytes += line.len() as u64;
                out.push(Entry { seq, data: line });
                seq += 1;
            }
        }
        Ok(out)
    }

    /// Acknowledge every record with seq <= `seq`: durable cursor first, then delete the
    /// segments that hold only acknowledged records.
    pub fn ack_through(&mut self, seq: u64) -> Result<(), QueueError> {
        if seq >= self.next || seq.saturating_add(1) < self.acked {
            return Err(QueueError::BadAck {
                seq,
                acked: self.acked,
                next: self.next,
            });
        }
        if seq < self.acked {
            return Ok(());
        }
        self.acked = seq + 1;
        let cursor = serde_json::to_vec(&Cursor { acked: self.acked }).expect("cursor");
        write_atomic(&self.dir, CURSOR, &cursor, self.cfg.fsync).map_err(io_err(&self.dir))?;
        while let Some(front) = self.segments.front() {
            if front.end() > self.acked {
                break;
            }
            let seg = self.segments.pop_front().expect("front exists");
            if self.segments.is_empty() {
                self.writer = None;
            }
            std::fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
            self.used -= seg.len;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "disk_tests.rs"]
mod tests;
