//! Kafka messages of alerts and of forwarded access events.
//!
//! Alerts: key = the alert id (so that every copy of one alert lands in the same partition and
//! a compacted topic keeps one), headers `secretwatch-alert-id`, `secretwatch-rule`,
//! `secretwatch-severity` (consumers can route without parsing the body), body as the sink's
//! `format` says: the webhook's alert JSON (`json`), the ECS alert document (`ecs`) or the
//! OCSF Detection Finding (`ocsf`).
//!
//! Forwarded events: key = `<source>:<event id>`, headers `secretwatch-event-id` (the same)
//! and `secretwatch-source`, body the document the events lane queued.
//!
//! The message timestamp is left to the producer (send time): alert and access times are in
//! the body, and an old event time would make the broker's time-based retention delete a
//! replayed alert early.

use crate::config::Origin;
use crate::forward::{EventFormat, ForwardedEvent};
use crate::kafka::config::KafkaFormat;
use crate::notification::Notification;
use crate::{elastic, ocsf, webhook};

pub const ALERT_ID_HEADER: &str = "secretwatch-alert-id";
pub const RULE_HEADER: &str = "secretwatch-rule";
pub const SEVERITY_HEADER: &str = "secretwatch-severity";
pub const EVENT_ID_HEADER: &str = "secretwatch-event-id";
pub const SOURCE_HEADER: &str = "secretwatch-source";

/// One message, ready for the producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaMessage {
    pub key: String,
    pub headers: Vec<(&'static str, String)>,
    pub payload: Vec<u8>,
}

/// The message of one alert.
pub fn alert_message(n: &Notification, format: KafkaFormat, origin: &Origin) -> KafkaMessage {
    let a = &n.alert;
    let payload = match format {
        KafkaFormat::Json => webhook::body(n, origin),
        KafkaFormat::Ecs => elastic::alert_document(n, origin).to_string().into_bytes(),
        KafkaFormat::Ocsf => ocsf::detection_finding(n, origin).to_string().into_bytes(),
    };
    KafkaMessage {
        key: a.id.clone(),
        headers: vec![
            (ALERT_ID_HEADER, a.id.clone()),
            (RULE_HEADER, a.rule.clone()),
            (SEVERITY_HEADER, a.severity.as_str().to_string()),
        ],
        payload,
    }
}

/// The format of a Kafka sink's forwarded events.
pub fn event_format(format: KafkaFormat) -> EventFormat {
    match format {
        KafkaFormat::Json => EventFormat::Json,
        KafkaFormat::Ecs => EventFormat::Ecs,
        KafkaFormat::Ocsf => EventFormat::Ocsf,
    }
}

/// The message of one queued forwarded event.
pub fn event_message(ev: &ForwardedEvent) -> KafkaMessage {
    KafkaMessage {
        key: ev.id.clone(),
        headers: vec![
            (EVENT_ID_HEADER, ev.id.clone()),
            (SOURCE_HEADER, ev.source.as_str().to_string()),
        ],
        payload: ev.doc.get().as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::EventEncoder;
    use crate::notification::fixtures::{notification, suppressed_note};
    use crate::test_events::access;
    use serde_json::Value;

    #[test]
    fn alert_messages_in_each_format() {
        let mut n = notification();
        n.suppressed = Some(suppressed_note());
        let origin = Origin::new("sw-1").with_dashboard("https://sw.example");
        let m = alert_message(&n, KafkaFormat::Json, &origin);
        assert_eq!(m.key, n.alert.id);
        assert_eq!(
            m.headers,
            vec![
                (ALERT_ID_HEADER, n.alert.id.clone()),
                (RULE_HEADER, "bulk-secret-reads".to_string()),
                (SEVERITY_HEADER, "high".to_string()),
            ]
        );
        assert_eq!(m.payload, webhook::body(&n, &origin));
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["kind"], "secretwatch.alert");
        assert_eq!(v["reason"], n.alert.reason.as_str());
        assert_eq!(v["suppressed"]["count"], 12);

        let m = alert_message(&n, KafkaFormat::Ecs, &origin);
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v, elastic::alert_document(&n, &origin));
        assert_eq!(m.key, n.alert.id);

        let m = alert_message(&n, KafkaFormat::Ocsf, &origin);
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["finding_info"]["uid"], n.alert.id.as_str());
    }

    #[test]
    fn event_messages_carry_the_queued_document() {
        let enc = EventEncoder::new(event_format(KafkaFormat::Json), Origin::new("h"));
        let fe = enc.encode(&access());
        let m = event_message(&fe);
        assert_eq!(m.key, "kubernetes:audit-1");
        assert_eq!(
            m.headers,
            vec![
                (EVENT_ID_HEADER, "kubernetes:audit-1".to_string()),
                (SOURCE_HEADER, "kubernetes".to_string()),
            ]
        );
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["id"], "audit-1");
        assert_eq!(v["principal"]["name"], "alice");
        assert_eq!(event_format(KafkaFormat::Ocsf), EventFormat::Ocsf);
        assert_eq!(event_format(KafkaFormat::Ecs), EventFormat::Ecs);
    }
}
