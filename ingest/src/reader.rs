//! Opening inputs: plain files, gzip (by magic bytes), or `-` for stdin.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::error::IngestError;

/// Counts bytes read from the underlying file (compressed bytes for gzip), for progress.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// An opened input, read line by line.
pub struct Input {
    /// Display name (`-` is shown as `<stdin>`).
    pub name: String,
    pub path: PathBuf,
    /// Size on disk when known.
    pub size: Option<u64>,
    /// Bytes consumed so far from disk.
    pub consumed: Arc<AtomicU64>,
    pub gzip: bool,
    reader: Box<dyn BufRead + Send>,
}

const BUF: usize = 1 << 20;

impl Input {
    /// Open `path` (`-` = stdin). Gzip is detected from the first bytes.
    pub fn open(path: &Path) -> Result<Input, IngestError> {
        let consumed = Arc::new(AtomicU64::new(0));
        let (name, size, raw): (String, Option<u64>, Box<dyn Read + Send>) =
            if path == Path::new("-") {
                ("<stdin>".into(), None, Box::new(io::stdin()))
            } else {
                let f = File::open(path).map_err(|source| IngestError::Open {
                    path: path.to_path_buf(),
                    source,
                })?;
                let meta = f.metadata().map_err(|source| IngestError::Open {
                    path: path.to_path_buf(),
                    source,
                })?;
                if meta.is_dir() {
                    return Err(IngestError::Open {
                        path: path.to_path_buf(),
                        source: io::Error::other("is a directory"),
                    });
                }
                (path.display().to_string(), Some(meta.len()), Box::new(f))
            };
        let counting = Counting {
            inner: raw,
            count: consumed.clone(),
        };
        let mut buffered = BufReader::with_capacity(BUF, counting);
        let head = buffered.fill_buf().map_err(|source| IngestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let gzip = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
        let reader: Box<dyn BufRead + Send> = if gzip {
            Box::new(BufReader::with_capacity(BUF, MultiGzDecoder::new(buffered)))
        } else {
            Box::new(buffered)
        };
        Ok(Input {
            name,
            path: path.to_path_buf(),
            size,
            consumed,
            gzip,
            reader,
        })
    }

    /// Read the next line (without its newline) into `buf`. `Ok(false)` at end of input.
    pub fn read_line(&mut self, buf: &mut Vec<u8>) -> Result<bool, IngestError> {
        buf.clear();
        let n = self
            .reader
            .read_until(b'\n', buf)
            .map_err(|source| IngestError::Read {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(false);
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        Ok(true)
    }

    /// The first line, if the read buffer holds it whole (without reading past it).
    pub fn peek_line(&mut self) -> Result<Option<&[u8]>, IngestError> {
        let buf = self.reader.fill_buf().map_err(|source| IngestError::Read {
            path: self.path.clone(),
            source,
        })?;
        Ok(memchr::memchr(b'\n', buf).map(|end| &buf[..end]))
    }

    /// Read whole lines into `buf` (cleared first; `carry` holds the start of a line cut off by
    /// the previous call and is put first): at least `target` bytes unless the input ends, cut
    /// after the last newline, the rest left in `carry`. Returns false when nothing is left.
    pub fn read_chunk(
        &mut self,
        buf: &mut Vec<u8>,
        carry: &mut Vec<u8>,
        target: usize,
    ) -> Result<bool, IngestError> {
        buf.clear();
        buf.append(carry);
        let mut ended = false;
        if buf.len() < target {
            // Into the spare capacity, not zero-filled first (`read_to_end` tracks what it has
            // written); it stops at `want` bytes or at the end of the input.
            let want = (target - buf.len()).max(64 * 1024);
            buf.reserve(want);
            let n = (&mut self.reader)
                .take(want as u64)
                .read_to_end(buf)
                .map_err(|source| IngestError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            ended = n < want;
        }
        if !ended {
            match memchr::memrchr(b'\n', buf) {
                Some(at) => carry.extend_from_slice(&buf[at + 1..]),
                // One line longer than the chunk: read on to its end.
                None => {
                    self.reader
                        .read_until(b'\n', buf)
                        .map_err(|source| IngestError::Read {
                            path: self.path.clone(),
                            source,
                        })?;
                }
            }
            let keep = buf.len() - carry.len();
            buf.truncate(keep);
        }
        Ok(!buf.is_empty())
    }

    /// Read everything left, up to `limit` bytes (for whole-document inputs).
    pub fn read_rest(&mut self, buf: &mut Vec<u8>, limit: u64) -> Result<(), IngestError> {
        (&mut self.reader)
            .take(limit)
            .read_to_end(buf)
            .map_err(|source| IngestError::Read {
                path: self.path.clone(),
                source,
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn chunks_end_at_line_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines");
        // A line longer than what one read brings, then short ones, the last without newline.
        let long = "x".repeat(200_000);
        let text = format!("{long}\na\nbb\nccc\ndd");
        std::fs::write(&path, &text).unwrap();
        let mut input = Input::open(&path).unwrap();
        let (mut buf, mut carry, mut got) = (Vec::new(), Vec::new(), Vec::new());
        while input.read_chunk(&mut buf, &mut carry, 8).unwrap() {
            got.push(String::from_utf8(buf.clone()).unwrap());
        }
        assert_eq!(got.concat(), text);
        assert_eq!(got[0], format!("{long}\n"), "the long line whole, alone");
        let (last, whole) = got.split_last().unwrap();
        assert!(whole.iter().all(|c| c.ends_with('\n')), "{got:?}");
        assert!(last.ends_with("dd"));
    }

    #[test]
    fn reads_plain_and_gzip_lines() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("a.jsonl");
        std::fs::write(&plain, b"one\r\ntwo\nthree").unwrap();
        let gz = dir.path().join("b.log");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(b"one\ntwo\nthree\n").unwrap();
        enc.finish().unwrap();
        for (p, is_gz) in [(plain, false), (gz, true)] {
            let mut input = Input::open(&p).unwrap();
            assert_eq!(input.gzip, is_gz);
            let mut buf = vec![];
            let mut lines = vec![];
            while input.read_line(&mut buf).unwrap() {
                lines.push(String::from_utf8(buf.clone()).unwrap());
            }
            assert_eq!(lines, ["one", "two", "three"]);
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Input::open(Path::new("/nonexistent/x.log")).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/x.log"), "{err}");
    }
}
