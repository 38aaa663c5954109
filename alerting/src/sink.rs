//! The synchronous sink seam: `scan`, `eval` and `serve` write alerts through it.

use std::io::Write;

use secretwatch_detect::Alert;

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink {sink}: {source}")]
    Io {
        sink: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("sink {sink}: cannot encode alert {id}: {message}")]
    Encode {
        sink: &'static str,
        id: String,
        message: String,
    },
}

/// A destination for alerts.
pub trait AlertSink {
    fn name(&self) -> &'static str;
    /// Deliver one alert; `Ok` means the sink has it.
    fn deliver(&mut self, alert: &Alert) -> Result<(), SinkError>;
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// Alerts as JSON lines on any writer (stdout for `scan`, a file).
pub struct JsonLines<W: Write> {
    out: W,
    delivered: u64,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines { out, delivered: 0 }
    }
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> AlertSink for JsonLines<W> {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn deliver(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let io = |source| SinkError::Io {
            sink: "jsonl",
            source,
        };
        serde_json::to_writer(&mut self.out, alert).map_err(|e| SinkError::Encode {
            sink: "jsonl",
            id: alert.id.clone(),
            message: e.to_string(),
        })?;
        self.out.write_all(b"\n").map_err(io)?;
        self.delivered += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|source| SinkError::Io {
            sink: "jsonl",
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use secretwatch_detect::Severity;
    use secretwatch_ingest::SourceSystem;

    #[test]
    fn writes_one_json_object_per_alert() {
        let t = chrono::Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let a = Alert {
            id: secretwatch_detect::alert_id("r", "g", t),
            rule: "r".into(),
            severity: Severity::High,
            title: "T".into(),
            principal: "p".into(),
            source: SourceSystem::Kubernetes,
            event_ids: vec!["e1".into()],
            first_seen: t,
            last_seen: t,
            reason: "why".into(),
            targets: vec![],
            source_ips: vec![],
            tags: vec![],
            break_glass: false,
        };
        let mut sink = JsonLines::new(Vec::new());
        sink.deliver(&a).unwrap();
        sink.deliver(&a).unwrap();
        sink.flush().unwrap();
        assert_eq!(sink.delivered(), 2);
        let text = String::from_utf8(sink.into_inner()).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let back: Alert = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(back, a);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        for key in [
            "id",
            "rule",
            "severity",
            "title",
            "principal",
            "event_ids",
            "first_seen",
            "last_seen",
            "reason",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["severity"], "high");
    }
}
