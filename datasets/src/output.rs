//! Time-sorted JSON-lines writers.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::DatasetError;
use crate::sink::Rec;

/// Writes records in (time, seq) order. Records are absorbed a day at a time; those before the
/// given horizon are final (no later day produces anything earlier) and are written out.
pub struct SortedWriter {
    path: PathBuf,
    out: BufWriter<File>,
    pending: Vec<Rec>,
    lines: u64,
}

impl SortedWriter {
    pub fn create(path: &Path) -> Result<Self, DatasetError> {
        let file = File::create(path).map_err(|e| DatasetError::io(path, e))?;
        Ok(SortedWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, file),
            pending: Vec::new(),
            lines: 0,
        })
    }

    /// Adds records and writes every pending record earlier than `horizon` (all when `None`).
    pub fn absorb(&mut self, mut recs: Vec<Rec>, horizon: Option<i64>) -> Result<(), DatasetError> {
        self.pending.append(&mut recs);
        self.pending.sort_unstable_by_key(|r| (r.t, r.seq));
        let cut = match horizon {
            Some(h) => self.pending.partition_point(|r| r.t < h),
            None => self.pending.len(),
        };
        for r in self.pending.drain(..cut) {
            self.out
                .write_all(r.line.as_bytes())
                .and_then(|()| self.out.write_all(b"\n"))
                .map_err(|e| DatasetError::io(&self.path, e))?;
            self.lines += 1;
        }
        Ok(())
    }

    /// Writes what is left, flushes, and returns the number of lines written.
    pub fn finish(mut self) -> Result<u64, DatasetError> {
        self.absorb(Vec::new(), None)?;
        self.out
            .flush()
            .map_err(|e| DatasetError::io(&self.path, e))?;
        Ok(self.lines)
    }
}

/// Writes a whole file at once.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DatasetError> {
    std::fs::write(path, bytes).map_err(|e| DatasetError::io(path, e))
}
