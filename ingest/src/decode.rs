//! Records to events with accounting: counts, dead-letter, warnings with file:line.

use std::collections::BTreeMap;

use serde::Serialize;
use tracing::warn;

use crate::deadletter::DeadLetter;
use crate::error::{IngestError, ParseError};
use crate::event::AccessEvent;
use crate::options::ParseOptions;
use crate::parser::{Format, Parsed, RecordParser};
use crate::reader::Input;

/// Counters of one ingest run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct IngestStats {
    /// Records read (lines, or documents).
    pub records: u64,
    /// Events produced.
    pub events: u64,
    /// Records that count as no access on their own (non-final stages, Vault requests, Kubernetes Events that name no Secret).
    pub skipped: u64,
    /// Records (or list items) that could not be parsed.
    pub bad: u64,
    pub bad_by_kind: BTreeMap<&'static str, u64>,
    /// Events from which ingest removed secret values.
    pub redacted_events: u64,
    pub events_by_source: BTreeMap<&'static str, u64>,
    /// Vault requests counted without their response while the stream went on (see
    /// [`crate::vault::VaultPairer::unanswered`]).
    pub vault_unanswered: u64,
    /// The first few errors, `location: reason` (for answers to a sender).
    #[serde(skip)]
    pub first_errors: Vec<String>,
}

impl IngestStats {
    /// Add another run's counts (inputs read in parallel).
    pub fn add(&mut self, other: &IngestStats) {
        self.records += other.records;
        self.events += other.events;
        self.skipped += other.skipped;
        self.bad += other.bad;
        self.redacted_events += other.redacted_events;
        self.vault_unanswered += other.vault_unanswered;
        for (k, v) in &other.bad_by_kind {
            *self.bad_by_kind.entry(k).or_default() += v;
        }
        for (k, v) in &other.events_by_source {
            *self.events_by_source.entry(k).or_default() += v;
        }
    }
}

/// Warnings printed per run before they are only counted.
const WARN_BUDGET: u32 = 20;

/// Parses records, keeps the counts, and writes bad records to the dead-letter file.
pub struct Decoder<'o> {
    parser: RecordParser<'o>,
    format: Format,
    dead: Option<DeadLetter>,
    pub stats: IngestStats,
    warned: u32,
}

struct Accounting<'d> {
    stats: &'d mut IngestStats,
    dead: &'d mut Option<DeadLetter>,
    warned: &'d mut u32,
    format: Format,
    failure: Option<IngestError>,
}

impl Accounting<'_> {
    fn event(&mut self, ev: &AccessEvent<'_>) {
        self.stats.events += 1;
        *self
            .stats
            .events_by_source
            .entry(ev.source.as_str())
            .or_default() += 1;
        if ev.redactions.removed_secret() {
            self.stats.redacted_events += 1;
        }
    }

    /// The errors of one record, all at once: its dead-letter lines redact the value at every
    /// field at fault (an `EventList` with two bad items must lose both values in each line).
    fn errors(&mut self, errors: &[ParseError], source: &str, line: u64, text: &str) {
        for err in errors {
            self.stats.bad += 1;
            *self.stats.bad_by_kind.entry(err.kind()).or_default() += 1;
            if self.stats.first_errors.len() < 5 {
                self.stats
                    .first_errors
                    .push(format!("{source}:{line}: {err}"));
            }
            if *self.warned < WARN_BUDGET {
                *self.warned += 1;
                warn!(location = %format!("{source}:{line}"), kind = err.kind(), error = %err, "Bad record sent to dead-letter.");
            }
        }
        if let Some(dl) = self.dead.as_mut() {
            if let Err(e) = dl.write(source, line, self.format.as_str(), errors, text) {
                self.failure.get_or_insert(e);
            }
        }
    }
}

impl<'o> Decoder<'o> {
    pub fn new(opts: &'o ParseOptions, format: Format, dead: Option<DeadLetter>) -> Self {
        Decoder {
            parser: RecordParser::new(opts, format),
            format,
            dead,
            stats: IngestStats::default(),
            warned: 0,
        }
    }

    fn split(&mut self) -> (&mut RecordParser<'o>, Accounting<'_>) {
        (
            &mut self.parser,
            Accounting {
                stats: &mut self.stats,
                dead: &mut self.dead,
                warned: &mut self.warned,
                format: self.format,
                failure: None,
            },
        )
    }

    /// One record (a line). Bad records are counted and dead-lettered; only a failure to
    /// write the dead-letter file is an error.
    pub fn record<'a>(
        &mut self,
        text: &'a str,
        source: &str,
        line: u64,
        emit: &mut dyn FnMut(AccessEvent<'a>),
    ) -> Result<(), IngestError>
    where
        'o: 'a,
    {
        self.run(text, source, line, false, emit)
    }

    /// A whole JSON document (one object, or an array of records).
    pub fn document<'a>(
        &mut self,
        text: &'a str,
        source: &str,
        emit: &mut dyn FnMut(AccessEvent<'a>),
    ) -> Result<(), IngestError>
    where
        'o: 'a,
    {
        self.run(text, source, 1, true, emit)
    }

    fn run<'a>(
        &mut self,
        text: &'a str,
        source: &str,
        line: u64,
        document: bool,
        emit: &mut dyn FnMut(AccessEvent<'a>),
    ) -> Result<(), IngestError>
    where
        'o: 'a,
    {
        let (parser, mut acc) = self.split();
        acc.stats.records += 1;
        let mut errors = Vec::new();
        let mut on = |p: Parsed<'a>| match p {
            Parsed::Event(ev) => {
                acc.event(&ev);
                emit(ev);
            }
            Parsed::Skipped => acc.stats.skipped += 1,
            Parsed::Error(e) => errors.push(e),
        };
        if document {
            parser.parse_document(text, &mut on);
        } else {
            parser.parse(text, &mut on);
        }
        acc.errors(&errors, source, line, text);
        acc.stats.vault_unanswered = parser.vault_unanswered();
        match acc.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Bytes that are not UTF-8.
    pub fn bad_bytes(&mut self, bytes: &[u8], source: &str, line: u64) -> Result<(), IngestError> {
        let err = match std::str::from_utf8(bytes) {
            Err(e) => ParseError::Utf8(e.valid_up_to()),
            Ok(_) => return Ok(()),
        };
        let text = String::from_utf8_lossy(bytes);
        let (_, mut acc) = self.split();
        acc.stats.records += 1;
        acc.errors(&[err], source, line, &text);
        match acc.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// End of all input: emit what is still held (Vault requests without responses).
    pub fn finish(
        &mut self,
        emit: &mut dyn FnMut(AccessEvent<'static>),
    ) -> Result<(), IngestError> {
        let (parser, mut acc) = self.split();
        parser.finish(&mut |p| {
            if let Parsed::Event(ev) = p {
                acc.event(&ev);
                emit(ev.into_owned());
            }
        });
        if let Some(dl) = self.dead.as_mut() {
            dl.flush()?;
        }
        Ok(())
    }

    /// Read a whole input: JSON lines, or one JSON document when the input is not line-shaped
    /// (a pretty-printed object or an array).
    pub fn read_input(
        &mut self,
        input: &mut Input,
        emit: &mut dyn for<'a> FnMut(AccessEvent<'a>),
    ) -> Result<(), IngestError> {
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut line_no = 0u64;
        let mut first = true;
        let source = input.name.clone();
        while input.read_line(&mut buf)? {
            line_no += 1;
            let Ok(text) = std::str::from_utf8(&buf) else {
                self.bad_bytes(&buf, &source, line_no)?;
                continue;
            };
            let trimmed = text.trim();
            if trimmed.is_empty() {
                continue;
            }
            if first {
                first = false;
                if starts_document(trimmed) {
                    let mut doc = buf.clone();
                    doc.push(b'\n');
                    input
                        .read_rest(&mut doc, self.parser.options().max_record_bytes as u64 * 64)?;
                    return self.document_or_lines(&doc, &source, emit);
                }
            }
            self.record(trimmed, &source, line_no, &mut |e| emit(e))?;
        }
        Ok(())
    }
}

impl<'o> Decoder<'o> {
    /// A candidate document that does not parse as one is read as lines after all (a JSON-lines
    /// file whose first line is cut short must not cost the rest of the file).
    fn document_or_lines(
        &mut self,
        doc: &[u8],
        source: &str,
        emit: &mut dyn for<'a> FnMut(AccessEvent<'a>),
    ) -> Result<(), IngestError> {
        if let Ok(text) = std::str::from_utf8(doc) {
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                return self.document(text, source, &mut |e| emit(e));
            }
            // Pretty-printed records one after another (`kubectl get ... --watch -o json`,
            // `jq .`): each is a record, numbered by the line it starts on.
            if let Some((records, rest)) = value_stream(text) {
                for (line, record) in records {
                    self.record(record, source, line, &mut |e| emit(e))?;
                }
                if let Some((line, broken)) = rest {
                    self.record(broken, source, line, &mut |e| emit(e))?;
                }
                return Ok(());
            }
        }
        self.lines(doc, source, 1, &mut |e| emit(e))
    }

    /// JSON lines in `bytes`, the first numbered `first_line`: each decoded as a record, blank
    /// lines skipped, lines that are not UTF-8 counted and dead-lettered.
    pub fn lines<'a>(
        &mut self,
        bytes: &'a [u8],
        source: &str,
        first_line: u64,
        emit: &mut dyn FnMut(AccessEvent<'a>),
    ) -> Result<(), IngestError>
    where
        'o: 'a,
    {
        let mut line_no = first_line;
        let mut rest = bytes;
        while !rest.is_empty() {
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let line = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or(&[]);
            match std::str::from_utf8(line) {
                Ok(t) if t.trim().is_empty() => {}
                Ok(t) => self.record(t.trim(), source, line_no, emit)?,
                Err(_) => self.bad_bytes(line, source, line_no)?,
            }
            line_no += 1;
        }
        Ok(())
    }
}

/// Whether an input whose first line is `first_line` can be cut into chunks of lines parsed by
/// separate decoders, in parallel: Kubernetes audit lines (events or `EventList`s) are each whole
/// on their own, while Vault entries pair requests with responses and a document spans lines.
pub fn lines_are_independent(first_line: &[u8], format: Format) -> bool {
    let Ok(text) = std::str::from_utf8(first_line) else {
        return false;
    };
    let text = text.trim();
    if starts_document(text) {
        return false;
    }
    match format {
        Format::K8sAudit => true,
        Format::Auto => crate::parser::sniff(text) == Some(Format::K8sAudit),
        _ => false,
    }
}

/// Records of a stream of pretty JSON objects one after another, each with the line it starts
/// on, and what follows the last whole one when the rest does not parse (a capture cut short, a
/// broken record: one bad record, not every line of the stream). `None` unless at least two
/// objects, or one and a broken rest that starts like another, make up the text.
#[allow(clippy::type_complexity)]
fn value_stream(text: &str) -> Option<(Vec<(u64, &str)>, Option<(u64, &str)>)> {
    let mut out = Vec::new();
    let mut line = 1u64;
    let mut counted = 0usize;
    let line_at = |start: usize, line: &mut u64, counted: &mut usize| {
        *line += memchr::memchr_iter(b'\n', &text.as_bytes()[*counted..start]).count() as u64;
        *counted = start;
        *line
    };
    let mut values =
        serde_json::Deserializer::from_str(text).into_iter::<&serde_json::value::RawValue>();
    let mut rest = None;
    while let Some(v) = values.next() {
        match v {
            Ok(v) => {
                let rec = v.get();
                if !rec.starts_with('{') {
                    return None;
                }
                // The value borrows from `text`: its offset is where it starts.
                let start = rec.as_ptr() as usize - text.as_ptr() as usize;
                out.push((line_at(start, &mut line, &mut counted), rec));
            }
            Err(_) => {
                let from = values.byte_offset();
                let tail = text[from..].trim_start();
                let start = text.len() - tail.len();
                if tail.starts_with('{') {
                    rest = Some((line_at(start, &mut line, &mut counted), tail.trim_end()));
                } else {
                    return None;
                }
                break;
            }
        }
    }
    (out.len() > 1 || (!out.is_empty() && rest.is_some())).then_some((out, rest))
}

/// The first line opens a multi-line JSON document rather than holding a record.
fn starts_document(first_line: &str) -> bool {
    if first_line == "{" || first_line.starts_with('[') {
        return true;
    }
    if first_line.starts_with('{') {
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(first_line) {
            return e.is_eof();
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_documents_and_lines() {
        assert!(starts_document("{"));
        assert!(starts_document("[{\"a\":1}]"));
        assert!(starts_document("{\"items\": ["));
        assert!(!starts_document("{\"a\":1}"));
        assert!(!starts_document("not json"));
    }

    #[test]
    fn pretty_records_one_after_another_are_records() {
        let text = "{\n  \"a\": 1\n}\n{\n  \"b\": [\n 2\n ]\n}\n";
        let (got, rest) = value_stream(text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0, got[1].0), (1, 4));
        assert!(got[1].1.contains("\"b\""));
        assert!(rest.is_none());
        assert!(value_stream("{\"a\":1}").is_none());
        assert!(value_stream("{\"a\":1} [2]").is_none());
        // A capture cut short: the whole records, and the rest as one broken record.
        let (got, rest) = value_stream("{\"a\":1}\n{\"b\":2}\n{\n\"c\":").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(rest, Some((3, "{\n\"c\":")));
        assert!(value_stream("not json {\"a\":1}").is_none());
    }

    #[test]
    fn kubernetes_lines_can_be_split_and_vault_lines_cannot() {
        let k8s = br#"{"kind":"Event","auditID":"a","stage":"ResponseComplete"}"#;
        let vault = br#"{"type":"request","time":"2026-11-03T10:05:00Z","request":{"id":"x"}}"#;
        assert!(lines_are_independent(k8s, Format::Auto));
        assert!(lines_are_independent(k8s, Format::K8sAudit));
        assert!(!lines_are_independent(vault, Format::Auto));
        assert!(!lines_are_independent(vault, Format::Vault));
        assert!(!lines_are_independent(b"[", Format::Auto));
        assert!(!lines_are_independent(b"{", Format::K8sAudit));
        assert!(!lines_are_independent(&[0xff, b'{'], Format::Auto));
    }
}
