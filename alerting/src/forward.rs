//! Forwarding normalized access events (`forward_events = true`) to the sinks that take them:
//! Splunk (HEC events, `sourcetype` `secretwatch:access`), Elasticsearch (ECS documents in
//! `events_index`), OCSF (API Activity 6003) and Kafka (the event JSON, or ECS or OCSF as the
//! sink's `format` says, in `events_topic`).
//!
//! The events arrive already redacted by ingest. Each is encoded for its sink once, when it is
//! forwarded, and queued as a [`ForwardedEvent`] line in the sink's events lane
//! (`<sink>-events`): its own bounded on-disk queue, without the dedup and throttle gate of
//! alerts (an access is not an alert: every one goes). The sender then only concatenates
//! ready documents into a request, a `_bulk` body or Kafka messages.
//!
//! A full events queue never blocks the caller and never drops silently: the events that do
//! not fit are counted (`dropped` in [`crate::LaneStatus`]) and an error is logged at most once
//! a minute per lane with the count since the last one. Alerts are never in these lanes, so a
//! flood of events cannot push an alert out.

use std::time::Duration;

use secretwatch_ingest::{AccessEvent, SourceSystem};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::config::Origin;
use crate::{elastic, ocsf, splunk};

/// Lane name suffix of a sink's forwarded events.
pub const EVENTS_SUFFIX: &str = "-events";

/// At most one "events dropped" error per lane in this time.
pub const DROP_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// One forwarded access event as queued for one sink, already in the sink's format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForwardedEvent {
    /// `<source>:<event id>`: unique across sources; the Elasticsearch `_id` and Kafka key.
    pub id: String,
    pub source: SourceSystem,
    /// The document (compact JSON): a HEC envelope, an ECS document, an OCSF API Activity or
    /// the event itself.
    pub doc: Box<RawValue>,
}

/// The format of one sink's forwarded events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFormat {
    /// A Splunk HEC envelope.
    Hec {
        host: String,
        source: String,
        index: Option<String>,
    },
    /// An Elastic Common Schema document.
    Ecs,
    /// An OCSF 1.5.0 API Activity (class 6003).
    Ocsf,
    /// The normalized event as JSON, as secretwatch keeps it.
    Json,
    /// An RFC 5424 message with a CEF payload (kept as a JSON string in the queue).
    Syslog {
        facility: crate::syslog::Facility,
        hostname: Option<String>,
    },
}

/// Turns access events into queue records for one events lane.
#[derive(Debug, Clone)]
pub struct EventEncoder {
    format: EventFormat,
    origin: Origin,
}

impl EventEncoder {
    pub fn new(format: EventFormat, origin: Origin) -> EventEncoder {
        EventEncoder { format, origin }
    }

    pub fn format(&self) -> &EventFormat {
        &self.format
    }

    /// The record of one event.
    pub fn encode(&self, ev: &AccessEvent<'_>) -> ForwardedEvent {
        let text = match &self.format {
            EventFormat::Hec {
                host,
                source,
                index,
            } => {
                let meta = splunk::HecMeta {
                    host,
                    source,
                    index: index.as_deref(),
                };
                String::from_utf8(splunk::access_event(ev, &meta)).expect("JSON is UTF-8")
            }
            EventFormat::Ecs => elastic::event_document(ev, &self.origin).to_string(),
            EventFormat::Ocsf => ocsf::api_activity(ev, &self.origin).to_string(),
            EventFormat::Json => serde_json::to_string(ev).expect("an access event serializes"),
            EventFormat::Syslog { facility, hostname } => serde_json::to_string(
                &crate::syslog::event_line(ev, &self.origin, *facility, hostname.as_deref()),
            )
            .expect("a string serializes"),
        };
        ForwardedEvent {
            id: elastic::event_doc_id(ev),
            source: ev.source,
            doc: RawValue::from_string(text).expect("an encoder writes valid JSON"),
        }
    }

    /// The queue line of one event (compact JSON, no newline).
    pub fn line(&self, ev: &AccessEvent<'_>) -> Vec<u8> {
        serde_json::to_vec(&self.encode(ev)).expect("a record serializes")
    }
}

/// What [`crate::Alerting::forward`] did with one batch of events, over every events lane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// Events queued (one per event and lane).
    pub queued: usize,
    /// Events a lane could not queue (full queue or disk error): counted and logged, not kept.
    pub dropped: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Entry;
    use crate::test_events::{access, vault_access};

    fn decode(line: Vec<u8>) -> ForwardedEvent {
        Entry { seq: 0, data: line }.decode().unwrap()
    }

    #[test]
    fn each_format_is_the_existing_encoder_output() {
        let origin = Origin::new("sw-1");
        let ev = access();
        let hec = EventEncoder::new(
            EventFormat::Hec {
                host: "sw-1".into(),
                source: "secretwatch".into(),
                index: Some("security".into()),
            },
            origin.clone(),
        );
        let r = decode(hec.line(&ev));
        assert_eq!(r.id, "kubernetes:audit-1");
        assert_eq!(r.source, SourceSystem::Kubernetes);
        let meta = splunk::HecMeta {
            host: "sw-1",
            source: "secretwatch",
            index: Some("security"),
        };
        assert_eq!(r.doc.get().as_bytes(), splunk::access_event(&ev, &meta));

        let ecs = EventEncoder::new(EventFormat::Ecs, origin.clone());
        let r = decode(ecs.line(&ev));
        let doc: serde_json::Value = serde_json::from_str(r.doc.get()).unwrap();
        assert_eq!(doc, elastic::event_document(&ev, &origin));

        let v = vault_access();
        let o = EventEncoder::new(EventFormat::Ocsf, origin.clone());
        let r = decode(o.line(&v));
        assert_eq!(r.id, "vault:req-7");
        let doc: serde_json::Value = serde_json::from_str(r.doc.get()).unwrap();
        assert_eq!(doc, ocsf::api_activity(&v, &origin));

        let j = EventEncoder::new(EventFormat::Json, origin);
        let r = decode(j.line(&ev));
        let doc: serde_json::Value = serde_json::from_str(r.doc.get()).unwrap();
        assert_eq!(doc, serde_json::to_value(&ev).unwrap());
        assert_eq!(doc["raw"], r#"{"kind":"Event","token":"[REDACTED]"}"#);
        // One line per record: nothing in a document breaks the queue's framing.
        assert!(!j.line(&ev).contains(&b'\n'));
    }
}
