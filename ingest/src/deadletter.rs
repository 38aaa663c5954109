//! The dead-letter file: every record that could not be parsed, with where and why,
//! and its content redacted (the value at each field at fault too).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

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
    /// The lines of each bad record are one `write_all` on an append-mode file, so several
    /// writers (one per input when inputs are read in parallel) never interleave within a line.
    out: Option<File>,
    written: u64,
}

/// Redact the content of a record that failed to parse.
///
/// Besides what [`redact::redact_unknown`] removes, the value at each field at fault goes:
/// it is what could not be read, and a secret sent in the wrong place (a token in
/// `responseStatus.code`, a password as a `time`) is of no shape redaction knows. So does a
/// record that is a bare value (a string or a number rather than an object).
pub fn redact_bad_input(input: &str, fields: &[&str]) -> (String, bool) {
    match serde_json::from_str::<Value>(input) {
        Ok(mut v) => {
            let _ = redact::redact_unknown(&mut v);
            if !(v.is_object() || v.is_array()) {
                v = Value::String(redact::REDACTED.to_string());
            }
            for field in fields {
                redact_field(&mut v, field);
            }
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

/// Replace the value at `path` by [`redact::REDACTED`]: a field as [`ParseError`] names it
/// (`verb`, `items[1].responseStatus.code`, `[2].time`), also through JSON text held in a
/// string (`logEvents[0].message.verb`, `records[0].properties.log.stage`). Keys may hold
/// dots (`annotations.authorization.k8s.io/decision`): every key that fits is tried.
/// Returns whether the path was found.
fn redact_field(v: &mut Value, path: &str) -> bool {
    if path.is_empty() {
        *v = Value::String(redact::REDACTED.to_string());
        return true;
    }
    match v {
        Value::Object(m) => m.iter_mut().any(|(k, child)| {
            let rest = match path.strip_prefix(k.as_str()) {
                Some(r) if !k.is_empty() => r,
                _ => return false,
            };
            let rest = match rest.strip_prefix('.') {
                Some(r) => r,
                None if rest.is_empty() || rest.starts_with('[') => rest,
                None => return false,
            };
            redact_field(child, rest)
        }),
        Value::Array(a) => {
            let Some((index, rest)) = path.strip_prefix('[').and_then(|p| p.split_once(']')) else {
                return false;
            };
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            match index.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(item) => redact_field(item, rest),
                None => false,
            }
        }
        Value::String(s) => {
            let Ok(mut inner) = serde_json::from_str::<Value>(s) else {
                return false;
            };
            let found = redact_field(&mut inner, path);
            if found {
                *s = inner.to_string();
            }
            found
        }
        _ => false,
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

    /// Record one bad record: a line per error (an `EventList` can have several bad items),
    /// each with the input redacted at every field at fault.
    pub fn write(
        &mut self,
        source: &str,
        line: u64,
        format: &str,
        errors: &[ParseError],
        input: &str,
    ) -> Result<(), IngestError> {
        if errors.is_empty() {
            return Ok(());
        }
        let fields: Vec<&str> = errors.iter().filter_map(ParseError::field_name).collect();
        let (content, truncated) = redact_bad_input(input, &fields);
        let path = self.path.clone();
        let io_err = |source| IngestError::DeadLetter {
            path: path.clone(),
            source,
        };
        let location = format!("{source}:{line}");
        let mut lines = Vec::new();
        for err in errors {
            let rec = Record {
                source,
                line,
                location: location.clone(),
                format,
                error_kind: err.kind(),
                field: err.field_name(),
                error: err.to_string(),
                input: content.clone(),
                input_bytes: input.len(),
                input_truncated: truncated,
            };
            serde_json::to_writer(&mut lines, &rec).map_err(|e| io_err(e.into()))?;
            lines.push(b'\n');
        }
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
        out.write_all(&lines).map_err(io_err)?;
        self.written += errors.len() as u64;
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
        dl.write("audit.log", 7, "k8s-audit", &[err], input)
            .unwrap();
        dl.write(
            "audit.log",
            8,
            "auto",
            &[ParseError::Json {
                column: 3,
                message: "eof".into(),
            }],
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

    #[test]
    fn the_value_at_each_field_at_fault_goes() {
        let k8s = r#"{"auditID":"a","verb":{"note":"s3cr3t-1"},"stage":"s3cr3t-2","responseStatus":{"code":"s3cr3t-3"},"annotations":{"authorization.k8s.io/reason":7},"objectRef":{"name":"db"}}"#;
        let (out, truncated) = redact_bad_input(
            k8s,
            &[
                "verb",
                "stage",
                "responseStatus.code",
                "annotations.authorization.k8s.io/reason",
                "user.username",
                "(record)",
            ],
        );
        assert!(!truncated);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["verb"], redact::REDACTED, "{out}");
        assert_eq!(v["stage"], redact::REDACTED, "{out}");
        assert_eq!(v["responseStatus"]["code"], redact::REDACTED, "{out}");
        assert_eq!(
            v["annotations"]["authorization.k8s.io/reason"],
            redact::REDACTED
        );
        // The rest stays for the operator.
        assert_eq!(v["auditID"], "a");
        assert_eq!(v["objectRef"]["name"], "db");

        // Items of lists and documents, and events carried as JSON text.
        let list = r#"{"kind":"EventList","items":[{"verb":"get"},{"verb":90417263518}]}"#;
        let (out, _) = redact_bad_input(list, &["items[1].verb"]);
        assert!(!out.contains("90417263518") && out.contains("get"), "{out}");
        let doc = r#"[{"time":"2026-11-03T10:00:00Z"},{"time":"s3cr3t"}]"#;
        let (out, _) = redact_bad_input(doc, &["[1].time"]);
        assert!(!out.contains("s3cr3t") && out.contains("2026"), "{out}");
        let inner = serde_json::json!({"auditID": "e", "responseStatus": {"code": "s3cr3t"}});
        let envelope = serde_json::json!({"logEvents": [{"message": inner.to_string()}]});
        let (out, _) = redact_bad_input(
            &envelope.to_string(),
            &["logEvents[0].message.responseStatus.code"],
        );
        assert!(!out.contains("s3cr3t") && out.contains("auditID"), "{out}");

        // A record that is a bare value.
        for bare in [r#""s3cr3t""#, "90417263518"] {
            let (out, _) = redact_bad_input(bare, &[]);
            assert_eq!(out, format!("\"{}\"", redact::REDACTED));
        }
    }

    #[test]
    fn one_line_per_error_each_redacted_at_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.jsonl");
        let mut dl = DeadLetter::new(&path);
        let list = r#"{"kind":"EventList","items":[{"stage":"s3cr3t-1"},{"responseStatus":{"code":"s3cr3t-2"}}]}"#;
        let errors = [
            ParseError::field("items[0].stage", "unknown stage"),
            ParseError::field("items[1].responseStatus.code", "invalid value: string"),
        ];
        dl.write("list.json", 1, "auto", &errors, list).unwrap();
        dl.write("list.json", 2, "auto", &[], list).unwrap();
        dl.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert_eq!(dl.written(), 2);
        assert!(!text.contains("s3cr3t"), "{text}");
        let second: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(second["field"], "items[1].responseStatus.code");
    }
}
