//! One entry point for every supported format, with per-record auto-detection.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use memchr::memmem;
use serde_json::value::RawValue;

use crate::error::ParseError;
use crate::event::AccessEvent;
use crate::k8s::{self, K8sRecord};
use crate::options::ParseOptions;
use crate::vault::{self, VaultPairer};

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Detect per record.
    #[default]
    Auto,
    /// Kubernetes audit `Event` / `EventList`.
    K8sAudit,
    /// Vault audit device JSON.
    Vault,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &["auto", "k8s-audit", "vault"];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::K8sAudit => "k8s-audit",
            Format::Vault => "vault",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Format::Auto),
            "k8s-audit" | "k8s" | "kubernetes" => Ok(Format::K8sAudit),
            "vault" => Ok(Format::Vault),
            other => Err(format!(
                "unknown format {other:?} (expected one of: {})",
                Format::NAMES.join(", ")
            )),
        }
    }
}

/// What one record (or one item of a list) became.
// Boxing the event would cost an allocation per event; the value only moves once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Parsed<'a> {
    Event(AccessEvent<'a>),
    /// Counted but not an access on its own (a non-final Kubernetes stage, a Vault request
    /// waiting for its response).
    Skipped,
    Error(ParseError),
}

/// Substring finders, built once (building one per record showed in profiles).
struct Finders {
    audit_id: memmem::Finder<'static>,
    event_list: memmem::Finder<'static>,
    items: memmem::Finder<'static>,
    type_key: memmem::Finder<'static>,
    request_key: memmem::Finder<'static>,
}

static FINDERS: LazyLock<Finders> = LazyLock::new(|| Finders {
    audit_id: memmem::Finder::new(b"\"auditID\""),
    event_list: memmem::Finder::new(b"EventList"),
    items: memmem::Finder::new(b"\"items\""),
    type_key: memmem::Finder::new(b"\"type\""),
    request_key: memmem::Finder::new(b"\"request\""),
});

/// Which format a record is in, from its keys.
pub fn sniff(text: &str) -> Option<Format> {
    let b = text.as_bytes();
    let f = &*FINDERS;
    if f.audit_id.find(b).is_some() || f.event_list.find(b).is_some() {
        return Some(Format::K8sAudit);
    }
    if f.type_key.find(b).is_some() && f.request_key.find(b).is_some() {
        return Some(Format::Vault);
    }
    None
}

fn is_event_list(text: &str) -> bool {
    let b = text.as_bytes();
    let f = &*FINDERS;
    f.event_list.find(b).is_some() && f.items.find(b).is_some()
}

/// Parses records of any supported format into events. Holds the Vault pairing state.
#[derive(Debug)]
pub struct RecordParser<'o> {
    opts: &'o ParseOptions,
    format: Format,
    vault: VaultPairer,
}

impl<'o> RecordParser<'o> {
    pub fn new(opts: &'o ParseOptions, format: Format) -> Self {
        RecordParser {
            opts,
            format,
            vault: VaultPairer::new(opts.vault_max_pending),
        }
    }

    pub fn options(&self) -> &'o ParseOptions {
        self.opts
    }

    /// Parse one record (a JSON object, possibly an `EventList`).
    pub fn parse<'a>(&mut self, text: &'a str, out: &mut dyn FnMut(Parsed<'a>))
    where
        'o: 'a,
    {
        if text.len() > self.opts.max_record_bytes {
            out(Parsed::Error(ParseError::TooLong {
                len: text.len(),
                limit: self.opts.max_record_bytes,
            }));
            return;
        }
        let format = match self.format {
            Format::Auto => match sniff(text) {
                Some(f) => f,
                None => {
                    let what = if text.trim_start().starts_with('{') {
                        "JSON object without the keys of a Kubernetes audit event (auditID), EventList, or Vault audit entry (type, request)"
                    } else {
                        "not a JSON object"
                    };
                    out(Parsed::Error(
                        match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                            Err(e)
                                if what == "not a JSON object" || e.is_syntax() || e.is_eof() =>
                            {
                                ParseError::Json {
                                    column: e.column(),
                                    message: e
                                        .to_string()
                                        .split(" at line ")
                                        .next()
                                        .unwrap_or_default()
                                        .to_string(),
                                }
                            }
                            _ => ParseError::UnknownFormat(what.to_string()),
                        },
                    ));
                    return;
                }
            },
            f => f,
        };
        match format {
            Format::K8sAudit if is_event_list(text) => {
                let res = k8s::parse_event_list(text, self.opts, &mut |r| out(k8s_parsed(r)));
                if let Err(e) = res {
                    out(Parsed::Error(e));
                }
            }
            Format::K8sAudit => out(k8s_parsed(k8s::parse_event(text, self.opts))),
            Format::Vault => match vault::parse_entry(text, self.opts) {
                Ok(entry) => {
                    let is_request = entry.entry_type == vault::EntryType::Request;
                    self.vault.push(entry, &mut |ev| out(Parsed::Event(ev)));
                    if is_request {
                        out(Parsed::Skipped);
                    }
                }
                Err(e) => out(Parsed::Error(e)),
            },
            Format::Auto => unreachable!("resolved above"),
        }
    }

    /// Parse a whole JSON document: one object (pretty-printed is fine) or an array of records.
    pub fn parse_document<'a>(&mut self, text: &'a str, out: &mut dyn FnMut(Parsed<'a>))
    where
        'o: 'a,
    {
        if !text.trim_start().starts_with('[') {
            return self.parse(text, out);
        }
        match serde_json::from_str::<Vec<&'a RawValue>>(text) {
            Ok(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    self.parse(item.get(), &mut |p| {
                        out(match p {
                            Parsed::Error(e) => Parsed::Error(prefix_error(e, &format!("[{i}]"))),
                            other => other,
                        })
                    });
                }
            }
            Err(e) => out(Parsed::Error(ParseError::Json {
                column: e.column(),
                message: e.to_string(),
            })),
        }
    }

    /// End of input: emit Vault requests that never got a response.
    pub fn finish<'a>(&mut self, out: &mut dyn FnMut(Parsed<'a>))
    where
        'o: 'a,
    {
        self.vault.flush(&mut |ev| out(Parsed::Event(ev)));
    }
}

fn k8s_parsed(r: Result<K8sRecord<'_>, ParseError>) -> Parsed<'_> {
    match r {
        Ok(K8sRecord::Event(e)) => Parsed::Event(*e),
        Ok(K8sRecord::SkippedStage) => Parsed::Skipped,
        Err(e) => Parsed::Error(e),
    }
}

fn prefix_error(e: ParseError, prefix: &str) -> ParseError {
    match e {
        ParseError::Field { field, message } => ParseError::Field {
            field: format!("{prefix}.{field}"),
            message,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff(r#"{"auditID":"x"}"#), Some(Format::K8sAudit));
        assert_eq!(
            sniff(r#"{"kind":"EventList","items":[]}"#),
            Some(Format::K8sAudit)
        );
        assert_eq!(
            sniff(r#"{"type":"request","request":{}}"#),
            Some(Format::Vault)
        );
        assert_eq!(sniff(r#"{"hello":1}"#), None);
        assert_eq!("vault".parse::<Format>(), Ok(Format::Vault));
        assert!("syslog".parse::<Format>().is_err());
    }

    #[test]
    fn unknown_and_broken_records_are_errors_not_panics() {
        let opts = ParseOptions::default();
        let mut p = RecordParser::new(&opts, Format::Auto);
        for text in [
            "{\"hello\":1}",
            "not json",
            "{\"auditID\":",
            "[1,2",
            "{\"kind\": 0}",
        ] {
            let mut got = vec![];
            p.parse(text, &mut |r| got.push(format!("{r:?}")));
            assert_eq!(got.len(), 1, "{text}");
            assert!(got[0].starts_with("Error("), "{text}: {got:?}");
        }
    }

    #[test]
    fn documents_as_arrays() {
        let opts = ParseOptions::default();
        let mut p = RecordParser::new(&opts, Format::Auto);
        let doc = r#"[{"time":"2026-11-02T09:00:00Z","type":"response","request":{"id":"a","operation":"read","path":"secret/data/x"}}, {"x": 1}]"#;
        let mut events = 0;
        let mut errors = vec![];
        p.parse_document(doc, &mut |r| match r {
            Parsed::Event(_) => events += 1,
            Parsed::Error(e) => errors.push(e),
            Parsed::Skipped => {}
        });
        assert_eq!(events, 1);
        assert_eq!(errors.len(), 1);
    }
}
