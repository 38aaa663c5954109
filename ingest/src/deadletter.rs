//! The dead-letter file: every record that could not be parsed, with where and why,
//! and its content redacted.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{IngestError, ParseError};
use crate::redact;

/// Content kept of a bad record, at most.
const MAX_INPUT: usize = 16 * 1024;

#[derive(Serialize)]
struct Record<'a> {
    source: &'a str,
    line: u64,
    location: String,
    format: &'a str,
    error_kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    error: String,
    /// The record, redacted; `input_truncated` when cut.
    input: String,
    input_bytes: usize,
    input_truncated: bool,
}

/// Appends JSON lines to a dead-letter file, created on first use.
pub struct DeadLetter {
    path: PathBuf,
    /// Each record is one `write_all` of a whole line on an append-mode file, so several
    /// writers (one per input when inputs are read in parallel) never interleave within a line.
    out: Option<File>,
    written: u64,
}

/// Redact the content of a record that failed to parse.
pub fn redact_bad_input(input: &str) -> (String, bool) {
    match serde_json::from_str::<serde_json::Value>(input) {
        Ok(mut v) => {
            let _ = redact::redact_unknown(&mut v);
            let mut flags = crate::event::Redactions::default();
            let text = redact::bound_raw(v, MAX_INPUT, &mut flags);
            (
                text,
                flags.contains(crate::event::Redactions::RAW_TRUNCATED),
            )
        }
        Err(_) => (
            redact::scrub_text(input, MAX_INPUT),
            input.len() > MAX_INPUT,
        ),
    }
}

impl DeadLetter {
    pub fn new(path: &Path) -> Self {
        DeadLetter {
            path: path.to_path_buf(),
            out: None,
            written: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Record one bad record.
    pub fn write(
        &mut self,
        source: &str,
        line: u64,
        format: &str,
        err: &ParseError,
        input: &str,
    ) -> Result<(), IngestError> {
        let (content, truncated) = redact_bad_input(input);
        let rec = Record {
            source,
            line,
            location: format!("{source}:{line}"),
            format,
            error_kind: err.kind(),
            field: err.field_name(),
            error: err.to_string(),
            input: content,
            input_bytes: input.len(),
            input_truncated: truncated,
        };
        let path = self.path.clone();
        let io_err = |source| IngestError::DeadLetter {
            path: path.clone(),
            source,
        };
        if self.out.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io_err)?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(io_err)?;
            self.out = Some(f);
        }
        let out = self.out.as_mut().expect("opened above");
        let mut line = serde_json::to_vec(&rec).map_err(|e| io_err(e.into()))?;
        line.push(b'\n');
        out.write_all(&line).map_err(io_err)?;
        self.written += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), IngestError> {
        if let Some(out) = self.out.as_mut() {
            out.flush().map_err(|source| IngestError::DeadLetter {
                path: self.path.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_location_reason_and_redacted_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dl/dead.jsonl");
        let mut dl = DeadLetter::new(&path);
        let err = ParseError::field("verb", "missing field `verb`");
        let input = r#"{"auditID":"1","objectRef":{"resource":"secrets"},"responseObject":{"kind":"Secret","data":{"k":"Q0FOQVJZ"}}}"#;
        dl.write("audit.log", 7, "k8s-audit", &err, input).unwrap();
        dl.write(
            "audit.log",
            8,
            "auto",
            &ParseError::Json {
                column: 3,
                message: "eof".into(),
            },
            r#"{"data":{"k":"Q0FOQVJZQ0FOQVJZ"#,
        )
        .unwrap();
        dl.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("Q0FOQVJZ"), "{text}");
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["location"], "audit.log:7");
        assert_eq!(first["field"], "verb");
        assert_eq!(first["error_kind"], "field");
        assert_eq!(dl.written(), 2);
    }
}
