//! One entry point for every supported format, with per-record auto-detection.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use memchr::memmem;
use serde_json::value::RawValue;

use crate::cloud;
use crate::error::ParseError;
use crate::event::AccessEvent;
use crate::k8s::{self, K8sRecord};
use crate::managed;
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
    /// AWS CloudTrail records (Secrets Manager): one record, `{"Records": [...]}`, EventBridge.
    CloudTrail,
    /// Azure resource logs (`records`): Key Vault `AuditEvent`, AKS `kube-audit(-admin)`.
    AzureKeyVault,
    /// GCP Cloud Audit Logs entries: Secret Manager, GKE (`k8s.io`).
    GcpAudit,
    /// CloudWatch Logs subscription payloads (EKS audit, CloudTrail via CloudWatch).
    CloudWatchLogs,
    /// Normalized events as `AccessEvent` serializes them (the service's repartition topic).
    Event,
    /// Kubernetes `Event` objects (`kubectl get events -o json`, `--watch`,
    /// kubernetes-event-exporter): the kubelet's reports of missing Secrets.
    K8sEvents,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &[
        "auto",
        "k8s-audit",
        "vault",
        "cloudtrail",
        "azure-keyvault",
        "gcp-audit",
        "cloudwatch-logs",
        "event",
        "k8s-events",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::K8sAudit => "k8s-audit",
            Format::Vault => "vault",
            Format::CloudTrail => "cloudtrail",
            Format::AzureKeyVault => "azure-keyvault",
            Format::GcpAudit => "gcp-audit",
            Format::CloudWatchLogs => "cloudwatch-logs",
            Format::Event => "event",
            Format::K8sEvents => "k8s-events",
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
            "cloudtrail" | "aws-cloudtrail" => Ok(Format::CloudTrail),
            "azure-keyvault" | "azure" | "aks-audit" => Ok(Format::AzureKeyVault),
            "gcp-audit" | "gcp" | "gke-audit" => Ok(Format::GcpAudit),
            "cloudwatch-logs" | "eks-audit" => Ok(Format::CloudWatchLogs),
            "event" | "secretwatch-event" => Ok(Format::Event),
            "k8s-events" | "kube-events" | "event-exporter" => Ok(Format::K8sEvents),
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
    // Envelopes and cloud records.
    properties: memmem::Finder<'static>,
    records: memmem::Finder<'static>,
    records_aws: memmem::Finder<'static>,
    log_events: memmem::Finder<'static>,
    event_source: memmem::Finder<'static>,
    detail_type: memmem::Finder<'static>,
    proto_payload: memmem::Finder<'static>,
    resource: memmem::Finder<'static>,
    user_identity: memmem::Finder<'static>,
    category: memmem::Finder<'static>,
    involved_object: memmem::Finder<'static>,
    regarding: memmem::Finder<'static>,
}

static FINDERS: LazyLock<Finders> = LazyLock::new(|| Finders {
    audit_id: memmem::Finder::new(b"\"auditID\""),
    event_list: memmem::Finder::new(b"EventList"),
    items: memmem::Finder::new(b"\"items\""),
    type_key: memmem::Finder::new(b"\"type\""),
    request_key: memmem::Finder::new(b"\"request\""),
    properties: memmem::Finder::new(b"\"properties\""),
    records: memmem::Finder::new(b"\"records\""),
    records_aws: memmem::Finder::new(b"\"Records\""),
    log_events: memmem::Finder::new(b"\"logEvents\""),
    event_source: memmem::Finder::new(b"\"eventSource\""),
    detail_type: memmem::Finder::new(b"\"detail-type\""),
    proto_payload: memmem::Finder::new(b"\"protoPayload\""),
    resource: memmem::Finder::new(b"\"resource\""),
    user_identity: memmem::Finder::new(b"\"userIdentity\""),
    category: memmem::Finder::new(b"\"category\""),
    involved_object: memmem::Finder::new(b"\"involvedObject\""),
    regarding: memmem::Finder::new(b"\"regarding\""),
});

/// Which format a record is in, from its keys.
///
/// Kubernetes and Vault come first and cost what they did: an envelope is told apart only by
/// the few bytes before the key that matched (an envelope's own keys precede the event it
/// wraps, while a Kubernetes event names `auditID` and a Vault entry `type` near its start).
/// Keys inside a JSON-escaped string (`\"auditID\"`) never match.
pub fn sniff(text: &str) -> Option<Format> {
    let b = text.as_bytes();
    let f = &*FINDERS;
    if let Some(at) = f.audit_id.find(b) {
        let head = &b[..at];
        if f.properties.find(head).is_some() || f.records.find(head).is_some() {
            return Some(Format::AzureKeyVault);
        }
        if f.log_events.find(head).is_some() {
            return Some(Format::CloudWatchLogs);
        }
        return Some(Format::K8sAudit);
    }
    if f.event_list.find(b).is_some() && f.involved_object.find(b).is_none() {
        return Some(Format::K8sAudit);
    }
    // A Kubernetes Event object (core/v1 `involvedObject`, events.k8s.io/v1 `regarding`), not
    // wrapped in a cloud envelope.
    if let Some(at) = f.involved_object.find(b).or_else(|| f.regarding.find(b)) {
        let head = &b[..at];
        let cloud = [&f.proto_payload, &f.records, &f.log_events, &f.properties]
            .iter()
            .any(|k| k.find(head).is_some());
        if !cloud {
            return Some(Format::K8sEvents);
        }
    }
    if let Some(at) = f.type_key.find(b) {
        if f.request_key.find(b).is_some() {
            let head = &b[..at];
            let cloud = [&f.proto_payload, &f.resource, &f.user_identity, &f.records]
                .iter()
                .any(|k| k.find(head).is_some());
            if !cloud {
                return Some(Format::Vault);
            }
        }
    }
    if f.log_events.find(b).is_some() {
        return Some(Format::CloudWatchLogs);
    }
    if f.event_source.find(b).is_some()
        || f.records_aws.find(b).is_some()
        || f.detail_type.find(b).is_some()
    {
        return Some(Format::CloudTrail);
    }
    if f.proto_payload.find(b).is_some() {
        return Some(Format::GcpAudit);
    }
    if f.category.find(b).is_some() || f.records.find(b).is_some() {
        return Some(Format::AzureKeyVault);
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
                        "JSON object without the keys of a Kubernetes audit event (auditID), EventList, Vault audit entry (type, request), CloudTrail record (eventSource, Records), Azure resource log (category, records), Cloud Audit Log entry (protoPayload) or CloudWatch Logs payload (logEvents)"
                    } else {
                        "not a JSON object"
                    };
                    out(Parsed::Error(
                        match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                            Err(e)
                                if what == "not a JSON object" || e.is_syntax() || e.is_eof() =>
                            {
                                ParseError::json(&e)
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
                let res = k8s::parse_event_list(text, self.opts, &mut |r| k8s_parsed(r, out));
                if let Err(e) = res {
                    out(Parsed::Error(e));
                }
            }
            Format::K8sAudit => k8s_parsed(k8s::parse_event(text, self.opts), out),
            Format::Vault => match vault::parse_entry(text, self.opts) {
                Ok(entry) if entry.self_test => out(Parsed::Skipped),
                Ok(entry) => {
                    let is_request = entry.entry_type == vault::EntryType::Request;
                    self.vault.push(entry, &mut |ev| out(Parsed::Event(ev)));
                    if is_request {
                        out(Parsed::Skipped);
                    }
                }
                Err(e) => out(Parsed::Error(e)),
            },
            Format::CloudTrail => cloud::cloudtrail::parse(text, self.opts, out),
            Format::AzureKeyVault => cloud::azure::parse(text, self.opts, out),
            Format::GcpAudit => cloud::gcp::parse(text, self.opts, out),
            Format::CloudWatchLogs => managed::cloudwatch::parse(text, self.opts, out),
            Format::K8sEvents => k8s::events::parse(text, self.opts, out),
            Format::Event => out(
                match crate::normalized::parse_event(text, self.opts.raw_max_bytes) {
                    Ok(ev) => Parsed::Event(ev),
                    Err(e) => Parsed::Error(e),
                },
            ),
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
            Err(e) => out(Parsed::Error(ParseError::json(&e))),
        }
    }

    /// Vault requests counted without their response while the stream went on.
    pub fn vault_unanswered(&self) -> u64 {
        self.vault.unanswered()
    }

    /// End of input: emit Vault requests that never got a response.
    pub fn finish<'a>(&mut self, out: &mut dyn FnMut(Parsed<'a>))
    where
        'o: 'a,
    {
        self.vault.flush(&mut |ev| out(Parsed::Event(ev)));
    }
}

fn k8s_parsed<'a>(r: Result<K8sRecord<'a>, ParseError>, out: &mut dyn FnMut(Parsed<'a>)) {
    match r {
        Ok(K8sRecord::Event(e)) => out(Parsed::Event(*e)),
        Ok(K8sRecord::Reported(evs)) => evs.into_iter().for_each(|e| out(Parsed::Event(e))),
        Ok(K8sRecord::SkippedStage) => out(Parsed::Skipped),
        Err(e) => out(Parsed::Error(e)),
    }
}

/// Name a field error's field under `prefix` (`items[3]`, `logEvents[0].message`).
pub(crate) fn prefix_error(e: ParseError, prefix: &str) -> ParseError {
    match e {
        ParseError::Field { field, message } => ParseError::Field {
            field: join(prefix, &field),
            message,
        },
        other => other,
    }
}

/// `a.b`, or whichever of the two is not empty.
pub(crate) fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}.{b}"),
    }
}

impl Parsed<'_> {
    /// The same result owning its strings (events from a record that was decoded into a
    /// temporary string, e.g. an envelope's JSON-escaped message).
    pub fn into_owned(self) -> Parsed<'static> {
        match self {
            Parsed::Event(ev) => Parsed::Event(ev.into_owned()),
            Parsed::Skipped => Parsed::Skipped,
            Parsed::Error(e) => Parsed::Error(e),
        }
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
        // Kubernetes Event objects, alone, listed, watched; an audit event about one is audit.
        assert_eq!(
            sniff(r#"{"kind":"Event","involvedObject":{"kind":"Pod"},"reason":"FailedMount"}"#),
            Some(Format::K8sEvents)
        );
        assert_eq!(
            sniff(r#"{"kind":"List","items":[{"kind":"Event","regarding":{}}]}"#),
            Some(Format::K8sEvents)
        );
        assert_eq!(
            sniff(r#"{"type":"ADDED","object":{"kind":"Event","involvedObject":{}}}"#),
            Some(Format::K8sEvents)
        );
        assert_eq!(
            sniff(r#"{"auditID":"a","verb":"create","requestObject":{"involvedObject":{}}}"#),
            Some(Format::K8sAudit)
        );
        // Cloud records and envelopes, including the shapes that hold the Kubernetes and Vault
        // keys further in.
        assert_eq!(
            sniff(
                r#"{"eventSource":"secretsmanager.amazonaws.com","userIdentity":{"type":"Root"}}"#
            ),
            Some(Format::CloudTrail)
        );
        assert_eq!(sniff(r#"{"Records":[]}"#), Some(Format::CloudTrail));
        assert_eq!(
            sniff(
                r#"{"protoPayload":{"request":{"@type":"x"},"x":{"type":"y"}},"resource":{"type":"audited_resource"}}"#
            ),
            Some(Format::GcpAudit)
        );
        assert_eq!(
            sniff(r#"{"resource":{"type":"k8s_cluster"},"protoPayload":{"request":{}}}"#),
            Some(Format::GcpAudit)
        );
        assert_eq!(
            sniff(
                r#"{"category":"kube-audit","properties":{"log":{"kind":"Event","auditID":"a"}}}"#
            ),
            Some(Format::AzureKeyVault)
        );
        assert_eq!(
            sniff(r#"{"category":"kube-audit","properties":{"log":"{\"auditID\":\"a\"}"}}"#),
            Some(Format::AzureKeyVault)
        );
        assert_eq!(
            sniff(r#"{"records":[{"category":"AuditEvent"}]}"#),
            Some(Format::AzureKeyVault)
        );
        assert_eq!(
            sniff(
                r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"{\"auditID\":\"a\"}"}]}"#
            ),
            Some(Format::CloudWatchLogs)
        );
        // A Kubernetes event whose body names `properties` after its auditID stays one.
        assert_eq!(
            sniff(r#"{"kind":"Event","auditID":"a","requestObject":{"spec":{"properties":{}}}}"#),
            Some(Format::K8sAudit)
        );
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
