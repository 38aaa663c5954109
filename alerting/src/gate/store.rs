//! The gate's state on disk: a snapshot plus an append-only log of [`Change`]s since it.
//!
//! Files in the gate directory:
//! - `gate.snapshot.json`: `{"version":1,"generation":G,"ids":[...],"keys":[...]}`, replaced
//!   atomically (write a temporary file, fsync, rename, fsync the directory);
//! - `gate-<G>.log`: one JSON [`Change`] per line, appended after each decision.
//!
//! Open = load the snapshot of generation G, replay `gate-<G>.log` (a torn last line, from a
//! kill in the middle of a write, is cut off), delete logs of other generations. Compaction
//! writes the snapshot of generation G+1 first and starts `gate-<G+1>.log`: a crash before
//! the rename leaves generation G and its complete log; after it, the new snapshot already
//! holds everything, so no change is ever applied twice.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;
use crate::gate::throttle::{Change, Gate, GateConfig, KeyState};

const SNAPSHOT: &str = "gate.snapshot.json";
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum GateStoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GateStoreError + '_ {
    move |source| GateStoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    generation: u64,
    ids: Vec<String>,
    keys: Vec<SnapKey>,
}

#[derive(Serialize, Deserialize)]
struct SnapKey {
    rule: String,
    principal: String,
    #[serde(flatten)]
    state: KeyState,
}

/// The gate's files.
pub struct GateStore {
    dir: PathBuf,
    generation: u64,
    log: File,
    lines: usize,
    compact_after: usize,
    fsync: bool,
}

fn log_name(generation: u64) -> String {
    format!("gate-{generation:020}.log")
}

impl GateStore {
    /// Open (or create) the store in `dir` and rebuild the gate.
    pub fn open(
        dir: &Path,
        cfg: GateConfig,
        fsync: bool,
    ) -> Result<(GateStore, Gate), GateStoreError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let snap_path = dir.join(SNAPSHOT);
        let (generation, mut gate) = match std::fs::read(&snap_path) {
            Ok(bytes) => {
                let s: Snapshot =
                    serde_json::from_slice(&bytes).map_err(|e| GateStoreError::Corrupt {
                        path: snap_path.clone(),
                        line: e.line(),
                        message: e.to_string(),
                    })?;
                if s.version != VERSION {
                    return Err(GateStoreError::Corrupt {
                        path: snap_path,
                        line: 1,
                        message: format!("unknown version {}", s.version),
                    });
                }
                let keys = s
                    .keys
                    .into_iter()
                    .map(|k| ((k.rule, k.principal), k.state))
                    .collect();
                (s.generation, Gate::import(cfg.clone(), s.ids, keys))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, Gate::new(cfg.clone())),
            Err(e) => return Err(io(&snap_path)(e)),
        };
        let log_path = dir.join(log_name(generation));
        let lines = replay(&log_path, &mut gate)?;
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("gate-") && name.ends_with(".log") && name != log_name(generation) {
                std::fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
            }
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io(&log_path))?;
        let store = GateStore {
            dir: dir.to_path_buf(),
            generation,
            log,
            lines,
            compact_after: cfg.remember_ids.max(1024),
            fsync,
        };
        Ok((store, gate))
    }

    /// Log one change already applied to `gate`; compacts when the log is long.
    pub fn record(&mut self, change: &Change, gate: &Gate) -> Result<(), GateStoreError> {
        let path = self.dir.join(log_name(self.generation));
        let mut line = serde_json::to_vec(change).expect("a change serializes");
        line.push(b'\n');
        self.log.write_all(&line).map_err(io(&path))?;
        if self.fsync {
            self.log.sync_data().map_err(io(&path))?;
        }
        self.lines += 1;
        if self.lines >= self.compact_after {
            self.compact(gate)?;
        }
        Ok(())
    }

    /// Write a snapshot of `gate` and start an empty log.
    pub fn compact(&mut self, gate: &Gate) -> Result<(), GateStoreError> {
        let next = self.generation + 1;
        let (ids, keys) = gate.export();
        let snap = Snapshot {
            version: VERSION,
            generation: next,
            ids,
            keys: keys
                .into_iter()
                .map(|((rule, principal), state)| SnapKey {
                    rule,
                    principal,
                    state,
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&snap).expect("a snapshot serializes");
        write_atomic(&self.dir, SNAPSHOT, &bytes, self.fsync).map_err(io(&self.dir))?;
        let new_path = self.dir.join(log_name(next));
        self.log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&new_path)
            .map_err(io(&new_path))?;
        let old = self.dir.join(log_name(self.generation));
        std::fs::remove_file(&old).map_err(io(&old))?;
        self.generation = next;
        self.lines = 0;
        Ok(())
    }
}

/// Apply every complete line of the log; cut a torn last line off the file.
fn replay(path: &Path, gate: &mut Gate) -> Result<usize, GateStoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(path)(e)),
    };
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let (mut offset, mut lines) = (0u64, 0usize);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        if !buf.ends_with(b"\n") {
            // Torn final write (a kill mid-write): never acknowledged to the caller.
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io(path))?;
            f.set_len(offset).map_err(io(path))?;
            break;
        }
        let change: Change = serde_json::from_slice(&buf).map_err(|e| GateStoreError::Corrupt {
            path: path.to_path_buf(),
            line: lines + 1,
            message: e.to_string(),
        })?;
        gate.apply(&change);
        offset += n as u64;
        lines += 1;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Verdict;
    use crate::notification::fixtures::{alert, t};

    fn cfg() -> GateConfig {
        GateConfig {
            max_alerts: 1,
            window_minutes: 10,
            remember_ids: 100,
        }
    }

    fn offer(store: &mut GateStore, gate: &mut Gate, i: u32) -> Verdict {
        let mut a = alert();
        a.id = format!("id-{i}");
        let (v, c) = gate.evaluate(&a, t(9, 0, i));
        if let Some(c) = c {
            gate.apply(&c);
            store.record(&c, gate).unwrap();
        }
        v
    }

    #[test]
    fn state_survives_reopen_torn_lines_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut gate) = GateStore::open(dir.path(), cfg(), false).unwrap();
        for i in 0..4 {
            offer(&mut store, &mut gate, i);
        }
        assert_eq!(gate.held(), 3);
        let before = gate.export();
        drop(store);
        // A torn write at the end of the log.
        let log = dir.path().join(log_name(0));
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(br#"{"op":"remember","id":"x"#).unwrap();
        drop(f);
        let (mut store, mut gate) = GateStore::open(dir.path(), cfg(), false).unwrap();
        assert_eq!(gate.export(), before);
        assert!(!gate.knows("x"));
        assert!(
            std::fs::read(&log).unwrap().ends_with(b"\n"),
            "torn line cut off"
        );
        assert_eq!(offer(&mut store, &mut gate, 1), Verdict::Duplicate);

        // Compaction: same state from the snapshot alone, old log gone.
        store.compact(&gate).unwrap();
        assert!(!log.exists());
        assert!(dir.path().join(log_name(1)).exists());
        offer(&mut store, &mut gate, 9);
        let state = gate.export();
        drop(store);
        let (_, gate) = GateStore::open(dir.path(), cfg(), true).unwrap();
        assert_eq!(gate.export(), state);
        assert_eq!(gate.held(), 4);
    }

    #[test]
    fn a_crash_during_compaction_applies_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut gate) = GateStore::open(dir.path(), cfg(), false).unwrap();
        for i in 0..3 {
            offer(&mut store, &mut gate, i);
        }
        let state = gate.export();
        store.compact(&gate).unwrap();
        drop(store);
        // As if the old log's deletion had not happened.
        std::fs::write(
            dir.path().join(log_name(0)),
            b"{\"op\":\"remember\",\"id\":\"z\"}\n",
        )
        .unwrap();
        let (_, gate) = GateStore::open(dir.path(), cfg(), false).unwrap();
        assert_eq!(gate.export(), state);
        assert!(!dir.path().join(log_name(0)).exists());
    }

    #[test]
    fn a_corrupt_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(log_name(0)),
            b"garbage\n{\"op\":\"remember\",\"id\":\"z\"}\n",
        )
        .unwrap();
        let e = GateStore::open(dir.path(), cfg(), false).err().unwrap();
        assert!(matches!(e, GateStoreError::Corrupt { line: 1, .. }), "{e}");
    }
}
