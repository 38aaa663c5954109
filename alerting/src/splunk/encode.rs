//! HEC event envelopes: `{"time","host","source","sourcetype","index","event","fields"}`.
//!
//! `time` is epoch seconds with milliseconds as a JSON number (the alert's last event time, or
//! the access time). `fields` are indexed fields (strings or string arrays) for fast search:
//! `alert_id`, `rule`, `severity`, `tags` for alerts; `event_id`, `source_system`, `action`,
//! `outcome` for events. A batch is the envelopes concatenated, one per line (HEC takes
//! concatenated objects, not a JSON array). Splunk does not dedupe: search by `alert_id`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use secretwatch_ingest::AccessEvent;
use serde::Serialize;
use serde_json::Value;

use crate::notification::Notification;

pub const ALERT_SOURCETYPE: &str = "secretwatch:alert";
pub const EVENT_SOURCETYPE: &str = "secretwatch:access";

/// Envelope metadata shared by every event of a sink.
#[derive(Debug, Clone)]
pub struct HecMeta<'a> {
    pub host: &'a str,
    pub source: &'a str,
    pub index: Option<&'a str>,
}

#[derive(Serialize)]
struct Envelope<'a, E: Serialize> {
    time: f64,
    host: &'a str,
    source: &'a str,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    event: E,
    fields: BTreeMap<&'static str, Value>,
}

/// Epoch seconds with millisecond fraction.
pub fn epoch_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// One alert envelope (no trailing newline). `event` is the alert as `scan` prints it, plus
/// `suppressed` (with its `message`) when the throttle held alerts back.
pub fn alert_event(n: &Notification, meta: &HecMeta<'_>) -> Vec<u8> {
    let a = &n.alert;
    let mut event = serde_json::to_value(a).expect("an alert serializes");
    if let Some(s) = &n.suppressed {
        let mut note = serde_json::to_value(s).expect("a note serializes");
        note["message"] = Value::from(s.summary());
        event["suppressed"] = note;
    }
    let mut fields = BTreeMap::new();
    fields.insert("alert_id", Value::from(a.id.as_str()));
    fields.insert("rule", Value::from(a.rule.as_str()));
    fields.insert("severity", Value::from(a.severity.as_str()));
    if !a.tags.is_empty() {
        fields.insert("tags", Value::from(a.tags.clone()));
    }
    let env = Envelope {
        time: epoch_seconds(a.last_seen),
        host: meta.host,
        source: meta.source,
        sourcetype: ALERT_SOURCETYPE,
        index: meta.index,
        event,
        fields,
    };
    serde_json::to_vec(&env).expect("an envelope serializes")
}

/// One normalized (already redacted) access event.
pub fn access_event(ev: &AccessEvent<'_>, meta: &HecMeta<'_>) -> Vec<u8> {
    let mut fields = BTreeMap::new();
    fields.insert("event_id", Value::from(ev.id.as_ref()));
    fields.insert("source_system", Value::from(ev.source.as_str()));
    fields.insert("action", Value::from(ev.action.as_str()));
    fields.insert("outcome", Value::from(ev.outcome.as_str()));
    let env = Envelope {
        time: epoch_seconds(ev.time),
        host: meta.host,
        source: meta.source,
        sourcetype: EVENT_SOURCETYPE,
        index: meta.index,
        event: ev,
        fields,
    };
    serde_json::to_vec(&env).expect("an envelope serializes")
}

/// The request body of several envelopes: one per line.
pub fn batch<I: IntoIterator<Item = Vec<u8>>>(envelopes: I) -> Vec<u8> {
    let mut out = Vec::new();
    for e in envelopes {
        out.extend_from_slice(&e);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::{notification, suppressed_note};
    use crate::test_events::access;

    fn meta() -> HecMeta<'static> {
        HecMeta {
            host: "sw-1",
            source: "secretwatch",
            index: Some("security"),
        }
    }

    #[test]
    fn alert_envelope_field_by_field() {
        let mut n = notification();
        n.suppressed = Some(suppressed_note());
        let raw = alert_event(&n, &meta());
        let text = String::from_utf8(raw.clone()).unwrap();
        // Epoch seconds with milliseconds, as a number.
        assert!(text.starts_with("{\"time\":1793610299.123,"), "{text}");
        let v: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["host"], "sw-1");
        assert_eq!(v["source"], "secretwatch");
        assert_eq!(v["sourcetype"], "secretwatch:alert");
        assert_eq!(v["index"], "security");
        assert_eq!(v["event"]["id"], n.alert.id.as_str());
        assert_eq!(v["event"]["reason"], n.alert.reason.as_str());
        assert_eq!(v["event"]["suppressed"]["count"], 12);
        assert_eq!(v["fields"]["alert_id"], n.alert.id.as_str());
        assert_eq!(v["fields"]["rule"], "bulk-secret-reads");
        assert_eq!(v["fields"]["severity"], "high");
        assert_eq!(v["fields"]["tags"][1], "attack.t1552.007");
        // Fields are flat: strings or arrays of strings.
        for (_, f) in v["fields"].as_object().unwrap() {
            assert!(f.is_string() || f.as_array().unwrap().iter().all(Value::is_string));
        }
        let no_index = alert_event(
            &n,
            &HecMeta {
                index: None,
                ..meta()
            },
        );
        let v: Value = serde_json::from_slice(&no_index).unwrap();
        assert!(v.get("index").is_none());
    }

    #[test]
    fn access_envelope_and_batch() {
        let ev = access();
        let raw = access_event(&ev, &meta());
        let v: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["sourcetype"], "secretwatch:access");
        assert_eq!(v["time"].as_f64().unwrap(), 1_793_610_000.5);
        assert_eq!(v["event"]["id"], "audit-1");
        assert_eq!(v["event"]["principal"]["name"], "alice");
        assert_eq!(v["event"]["redactions"], serde_json::json!(["token"]));
        assert_eq!(v["fields"]["event_id"], "audit-1");
        assert_eq!(v["fields"]["source_system"], "kubernetes");
        assert_eq!(v["fields"]["action"], "read");
        assert_eq!(v["fields"]["outcome"], "allowed");

        let body = batch([raw.clone(), raw.clone()]);
        let text = String::from_utf8(body).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.ends_with("}\n"));
        assert!(!text.starts_with('['), "concatenated objects, not an array");
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
    }
}
