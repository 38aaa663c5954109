//! Following audit log files as they grow: globs, rotation by rename (the API server's log
//! backend, logrotate), truncation (copytruncate), and offsets that survive a restart.
//!
//! Files are known by identity (device and inode), not by name, so a file renamed by rotation
//! keeps its offset and is read to its end before it is let go, while the new file under the old
//! name starts at byte 0. The caller saves [`TailOffsets`] together with the detection state that
//! covers them; at the next start each file resumes from its saved offset (matched by identity,
//! whatever its name is now).

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::deadletter::DeadLetter;
use crate::decode::Decoder;
use crate::event::AccessEvent;
use crate::options::ParseOptions;
use crate::parser::Format;

/// One glob to follow (`*` and `?` in the file-name part only).
#[derive(Debug, Clone)]
pub struct TailSpec {
    pub pattern: PathBuf,
    pub format: Format,
    /// A file found at the first scan with no saved offset starts at its end (only new lines),
    /// instead of its beginning.
    pub start_at_end: bool,
}

/// Where reading stopped in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailPos {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

/// Offsets by path (the path the file had when last read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TailOffsets {
    pub version: u32,
    pub files: BTreeMap<String, TailPos>,
}

impl TailOffsets {
    pub const FILE: &'static str = "tail-offsets.json";

    /// Read `dir/tail-offsets.json`; missing means empty; a damaged file is reported and ignored
    /// (files are then read again from their start: repeats, not losses).
    pub fn load(dir: &Path) -> TailOffsets {
        let p = dir.join(Self::FILE);
        match std::fs::read(&p) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(path = %p.display(), error = %e, "Tail offsets unreadable; files are read from their start.");
                TailOffsets::default()
            }),
            Err(_) => TailOffsets::default(),
        }
    }

    /// Write atomically (temporary file, fsync, rename).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(dir)?;
        let p = dir.join(Self::FILE);
        let tmp = dir.join(format!("{}.tmp", Self::FILE));
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(&TailOffsets {
            version: 1,
            files: self.files.clone(),
        })?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)
    }

    /// Merge positions read later (per path, the newest wins; a path now holding another file
    /// replaces the old entry).
    pub fn update(&mut self, positions: &[(String, TailPos)]) {
        for (path, pos) in positions {
            self.files.insert(path.clone(), *pos);
        }
    }
}

/// Events of one read round, with the positions they bring each file to.
pub struct TailBatch {
    pub events: Vec<AccessEvent<'static>>,
    pub positions: Vec<(String, TailPos)>,
    pub bad: u64,
    pub events_by_source: BTreeMap<&'static str, u64>,
}

struct Open<'o> {
    path: String,
    file: File,
    dev: u64,
    ino: u64,
    offset: u64,
    /// Bytes after the last newline (a line still being written).
    partial: Vec<u8>,
    /// Lines read since `first_line_offset` (for dead-letter locations).
    line: u64,
    source: String,
    decoder: Decoder<'o>,
    /// The name now points elsewhere (rotated) or is gone: read to the end, then let go.
    detached: bool,
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// `*` and `?` wildcard match of a file name.
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = n;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// Regular files matching `pattern`, sorted.
pub fn expand(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            vec![]
        };
    }
    let dir = pattern
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| wildcard(name.as_bytes(), e.file_name().to_string_lossy().as_bytes()))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Bytes read from one file per round, so one busy file cannot starve the others.
const ROUND_BYTES: usize = 4 << 20;

/// Follow `specs` until `stop` is set or `emit` returns false.
pub fn run(
    specs: &[TailSpec],
    saved: &TailOffsets,
    opts: &ParseOptions,
    dead_letter: Option<&Path>,
    poll: Duration,
    stop: &AtomicBool,
    emit: &mut dyn FnMut(TailBatch) -> bool,
) {
    let mut open: Vec<Open<'_>> = Vec::new();
    let mut first_scan = true;
    let mut buf = vec![0u8; 256 * 1024];
    while !stop.load(Ordering::Relaxed) {
        discover(specs, saved, opts, dead_letter, first_scan, &mut open);
        first_scan = false;
        let mut batch = TailBatch {
            events: Vec::new(),
            positions: Vec::new(),
            bad: 0,
            events_by_source: BTreeMap::new(),
        };
        let mut read_any = false;
        for f in open.iter_mut() {
            let n = read_round(f, &mut buf, &mut batch);
            read_any |= n > 0;
            if n > 0 || f.detached {
                batch.positions.push((
                    f.path.clone(),
                    TailPos {
                        dev: f.dev,
                        ino: f.ino,
                        offset: f.offset,
                    },
                ));
            }
        }
        // Rotated or deleted files read to their end are let go.
        open.retain(|f| {
            let keep = !(f.detached && at_end(f));
            if !keep {
                if !f.partial.is_empty() {
                    warn!(path = %f.path, bytes = f.partial.len(), "A rotated file ended without a newline; its last partial line is dropped.");
                }
                info!(path = %f.path, offset = f.offset, "Finished a rotated file.");
            }
            keep
        });
        if (!batch.events.is_empty() || !batch.positions.is_empty()) && !emit(batch) {
            return;
        }
        if !read_any {
            std::thread::sleep(poll);
        }
    }
}

fn at_end(f: &Open<'_>) -> bool {
    f.file
        .metadata()
        .map(|m| m.len() <= f.offset)
        .unwrap_or(true)
}

fn discover<'o>(
    specs: &[TailSpec],
    saved: &TailOffsets,
    opts: &'o ParseOptions,
    dead_letter: Option<&Path>,
    first_scan: bool,
    open: &mut Vec<Open<'o>>,
) {
    let mut seen_paths = HashSet::new();
    for spec in specs {
        for path in expand(&spec.pattern) {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let (dev, ino) = identity(&meta);
            let name = path.to_string_lossy().into_owned();
            seen_paths.insert(name.clone());
            if let Some(f) = open.iter_mut().find(|f| f.dev == dev && f.ino == ino) {
                // The same file under a new name (rotated into the glob's reach).
                f.path = name;
                continue;
            }
            let resumed = saved
                .files
                .values()
                .find(|p| p.dev == dev && p.ino == ino)
                .map(|p| p.offset);
            let offset = match resumed {
                Some(o) if o <= meta.len() => o,
                Some(_) => 0, // truncated since
                None if first_scan && spec.start_at_end => meta.len(),
                None => 0,
            };
            let Ok(mut file) = File::open(&path) else {
                continue;
            };
            if file.seek(SeekFrom::Start(offset)).is_err() {
                continue;
            }
            info!(path = %name, offset, "Following file.");
            let source = if offset == 0 {
                name.clone()
            } else {
                format!("{name}(from byte {offset})")
            };
            open.push(Open {
                path: name,
                file,
                dev,
                ino,
                offset,
                partial: Vec::new(),
                line: 0,
                source,
                decoder: Decoder::new(opts, spec.format, dead_letter.map(DeadLetter::new)),
                detached: false,
            });
        }
    }
    // A name that now points to another file, or is gone: the open one was rotated away.
    for f in open.iter_mut() {
        let same = std::fs::metadata(&f.path)
            .map(|m| identity(&m) == (f.dev, f.ino))
            .unwrap_or(false);
        f.detached = !(same && seen_paths.contains(&f.path));
    }
}

/// Read what was appended to one file, decode complete lines; returns bytes read.
fn read_round(f: &mut Open<'_>, buf: &mut [u8], batch: &mut TailBatch) -> usize {
    // Truncated in place (copytruncate): start again from the beginning.
    if let Ok(m) = f.file.metadata() {
        if m.len() < f.offset {
            info!(path = %f.path, "File truncated; reading it from the start.");
            f.offset = 0;
            f.partial.clear();
            f.line = 0;
            f.source = f.path.clone();
            if f.file.seek(SeekFrom::Start(0)).is_err() {
                return 0;
            }
        }
    }
    let mut total = 0;
    while total < ROUND_BYTES {
        let n = match f.file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                warn!(path = %f.path, error = %e, "Read failed.");
                break;
            }
        };
        total += n;
        f.partial.extend_from_slice(&buf[..n]);
        let Some(last_nl) = memchr::memrchr(b'\n', &f.partial) else {
            continue;
        };
        let complete: Vec<u8> = f.partial.drain(..=last_nl).collect();
        f.offset += complete.len() as u64;
        let (bad0, ev0) = (
            f.decoder.stats.bad,
            f.decoder.stats.events_by_source.clone(),
        );
        for line in complete.split(|b| *b == b'\n') {
            if line.is_empty() {
                continue;
            }
            f.line += 1;
            let res = match std::str::from_utf8(line) {
                Ok(text) if text.trim().is_empty() => Ok(()),
                Ok(text) => f.decoder.record(text.trim(), &f.source, f.line, &mut |ev| {
                    batch.events.push(ev.into_owned())
                }),
                Err(_) => f.decoder.bad_bytes(line, &f.source, f.line),
            };
            if let Err(e) = res {
                warn!(error = %e, "Dead-letter write failed.");
            }
        }
        batch.bad += f.decoder.stats.bad - bad0;
        for (k, v) in &f.decoder.stats.events_by_source {
            let before = ev0.get(k).copied().unwrap_or(0);
            if *v > before {
                *batch.events_by_source.entry(k).or_default() += v - before;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard(b"audit*.log", b"audit.log"));
        assert!(wildcard(
            b"audit*.log",
            b"audit-2026-11-03T10-00-00.000.log"
        ));
        assert!(!wildcard(b"audit*.log", b"audit.log.gz"));
        assert!(wildcard(b"vault?.log", b"vault1.log"));
        assert!(!wildcard(b"vault?.log", b"vault12.log"));
        assert!(wildcard(b"*", b"x"));
    }

    #[test]
    fn offsets_round_trip_and_update() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = TailOffsets::default();
        o.update(&[(
            "/var/log/audit.log".into(),
            TailPos {
                dev: 1,
                ino: 2,
                offset: 300,
            },
        )]);
        o.save(dir.path()).unwrap();
        let back = TailOffsets::load(dir.path());
        assert_eq!(back.files, o.files);
        std::fs::write(dir.path().join(TailOffsets::FILE), b"{damaged").unwrap();
        assert!(TailOffsets::load(dir.path()).files.is_empty());
    }
}
