//! The network side of a sink: a [`Transport`] turns one batch of queued notifications into
//! one delivery attempt and reports what the destination answered as a [`TransportResult`].
//!
//! A transport never decides about retries, acks or dead letters: the sender loop
//! (`sender.rs`) hands its answer to [`crate::Delivery`]. A transport must never put a
//! credential into a log line or into the `error`/`body` it returns.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::forward::ForwardedEvent;
use crate::notification::Notification;
use crate::queue::TransportResult;

/// A boxed future, so that transports can be held as `Box<dyn Transport>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the sender groups queued notifications into one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// At most this many notifications per attempt (1: one request per alert).
    pub max_items: usize,
    /// At most about this many bytes of queued JSON per attempt.
    pub max_bytes: u64,
    /// Wait until the oldest pending notification has waited this long before sending
    /// (digests); zero sends as soon as something is queued.
    pub linger: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            max_items: 1,
            max_bytes: 4 << 20,
            linger: Duration::ZERO,
        }
    }
}

/// How long an events lane lets a partial batch wait for more events.
pub const EVENTS_LINGER: Duration = Duration::from_millis(200);

impl Batching {
    /// Large batches for forwarded events, which come in bursts: up to `max_items` events
    /// and about `max_bytes` per attempt, a partial batch waiting [`EVENTS_LINGER`].
    pub fn events(max_items: usize, max_bytes: u64) -> Batching {
        Batching {
            max_items,
            max_bytes,
            linger: EVENTS_LINGER,
        }
    }
}

/// One destination's way of delivering a batch.
pub trait Transport: Send {
    /// Deliver `batch` (in queue order, never empty) as one attempt.
    fn send<'a>(&'a mut self, batch: &'a [Notification]) -> BoxFuture<'a, TransportResult>;

    /// Deliver forwarded access events (an events lane; in queue order, never empty), each
    /// already encoded for this destination. Only the transports of destinations that take
    /// events implement it; [`build_events`] makes no events lane for the others.
    fn send_events<'a>(
        &'a mut self,
        batch: &'a [ForwardedEvent],
    ) -> BoxFuture<'a, TransportResult> {
        let _ = batch;
        Box::pin(std::future::ready(TransportResult::Failed {
            error: format!("{} does not take access events", self.endpoint()),
        }))
    }

    /// How to group notifications; one per attempt unless the destination takes batches.
    fn batching(&self) -> Batching {
        Batching::default()
    }

    /// Where this transport delivers, for logs and `/metrics` (no credentials, no query).
    fn endpoint(&self) -> String;
}

pub mod http;
pub mod stream;

use secretwatch_detect::{Alert, Severity};

use crate::config::{Origin, SinkKind};
use crate::email;
use crate::forward::{EventEncoder, EventFormat, EVENTS_SUFFIX};
use crate::kafka::{self, KafkaRecords, KafkaTransport};
use crate::secret::{Secret, SecretError};

/// Which alerts of a sink one lane takes (a sink with an immediate and a digest lane splits
/// by severity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneFilter {
    All,
    AtLeast(Severity),
    Below(Severity),
    /// At least this severity, or break-glass whatever its severity (an e-mail sink's
    /// immediate lane).
    AtLeastOrBreakGlass(Severity),
    /// Below this severity and not break-glass (an e-mail sink's digest lane): the complement
    /// of [`LaneFilter::AtLeastOrBreakGlass`].
    BelowNotBreakGlass(Severity),
}

impl LaneFilter {
    pub fn takes(&self, alert: &Alert) -> bool {
        match *self {
            LaneFilter::All => true,
            LaneFilter::AtLeast(s) => alert.severity >= s,
            LaneFilter::Below(s) => alert.severity < s,
            LaneFilter::AtLeastOrBreakGlass(s) => alert.severity >= s || alert.break_glass,
            LaneFilter::BelowNotBreakGlass(s) => alert.severity < s && !alert.break_glass,
        }
    }
}

/// What a lane's queue holds.
#[derive(Debug, Clone)]
pub enum LaneRecords {
    /// Alerts, behind the sink's gate (dedup, throttle), as [`Notification`]s.
    Alerts,
    /// Forwarded access events as [`ForwardedEvent`]s, encoded by this encoder when queued.
    Events(EventEncoder),
}

/// One delivery lane of a sink: its own queue and sender.
pub struct LaneSpec {
    /// Appended to the sink name for the lane's directory and metrics (`""`, `-digest` or
    /// `-events`).
    pub suffix: &'static str,
    pub filter: LaneFilter,
    pub records: LaneRecords,
    pub transport: Box<dyn Transport>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{key}: {source}")]
    Secret {
        key: &'static str,
        #[source]
        source: SecretError,
    },
    #[error("{0}")]
    Other(String),
}

/// Default time one attempt may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

fn secret(key: &'static str, src: &crate::secret::SecretSource) -> Result<Secret, BuildError> {
    src.load()
        .map_err(|source| BuildError::Secret { key, source })
}

/// How an HTTP destination is reached: its URL (a credential for Slack) and API, credentials
/// loaded. `None` for the destinations that are not HTTP.
fn http_api(kind: &SinkKind) -> Result<Option<(Secret, http::Api)>, BuildError> {
    use http::{Api, ElasticAuth};
    let api = match kind {
        SinkKind::Webhook(c) => {
            let secret_key = match &c.secret {
                Some(s) => Some(secret("output.secret", s)?),
                None => None,
            };
            let mut headers = Vec::new();
            for (k, v) in &c.headers {
                headers.push((k.clone(), secret("output.headers", v)?));
            }
            let template = c
                .template()
                .map_err(|e| BuildError::Other(format!("output.body_template: {e}")))?;
            (
                Secret::new(c.url.clone()),
                Api::Webhook {
                    secret: secret_key,
                    headers,
                    template,
                },
            )
        }
        SinkKind::Slack(c) => (secret("output.webhook_url", &c.webhook_url)?, Api::Slack),
        SinkKind::Pagerduty(c) => (
            Secret::new(c.url.clone()),
            Api::PagerDuty {
                routing_key: secret("output.routing_key", &c.routing_key)?,
                source: c.source.clone(),
            },
        ),
        SinkKind::Splunk(c) => (
            Secret::new(c.url.clone()),
            Api::Splunk {
                token: secret("output.token", &c.token)?,
                source: c.source.clone(),
                index: c.index.clone(),
                host: c.host.clone(),
            },
        ),
        SinkKind::Elastic(c) => {
            let auth = match (&c.api_key, &c.username, &c.password) {
                (Some(k), _, _) => ElasticAuth::ApiKey(secret("output.api_key", k)?),
                (None, Some(u), Some(p)) => ElasticAuth::Basic {
                    username: u.clone(),
                    password: secret("output.password", p)?,
                },
                _ => ElasticAuth::None,
            };
            (
                Secret::new(c.url.clone()),
                Api::Elastic {
                    index: c.index.clone(),
                    events_index: c.events_index.clone(),
                    auth,
                },
            )
        }
        SinkKind::Ocsf(c) => match &c.url {
            Some(url) => (
                Secret::new(url.clone()),
                Api::Ocsf {
                    token: match &c.token {
                        Some(t) => Some(secret("output.token", t)?),
                        None => None,
                    },
                },
            ),
            None => return Ok(None),
        },
        SinkKind::Email(_) | SinkKind::Syslog(_) | SinkKind::Kafka(_) => return Ok(None),
    };
    Ok(Some(api))
}

fn kafka_transport(
    c: &kafka::KafkaConfig,
    records: KafkaRecords,
) -> Result<KafkaTransport, BuildError> {
    let sasl = match &c.sasl_password {
        Some(s) => Some(secret("output.sasl_password", s)?),
        None => None,
    };
    let key = match &c.ssl_key_password {
        Some(s) => Some(secret("output.ssl_key_password", s)?),
        None => None,
    };
    KafkaTransport::new(c, sasl.as_ref(), key.as_ref(), records)
        .map_err(|e| BuildError::Other(e.to_string()))
}

/// The alert lanes of one configured sink, credentials loaded.
pub fn build(kind: &SinkKind, origin: &Origin) -> Result<Vec<LaneSpec>, BuildError> {
    let one = |transport: Box<dyn Transport>| {
        vec![LaneSpec {
            suffix: "",
            filter: LaneFilter::All,
            records: LaneRecords::Alerts,
            transport,
        }]
    };
    if let Some((url, api)) = http_api(kind)? {
        let t = http::HttpTransport::new(url, api, origin.clone(), DEFAULT_TIMEOUT)
            .map_err(|e| BuildError::Other(e.to_string()))?;
        return Ok(one(Box::new(t)));
    }
    match kind {
        SinkKind::Ocsf(c) => match &c.file {
            Some(path) => Ok(one(Box::new(stream::OcsfFileTransport::new(
                path.clone(),
                origin.clone(),
            )))),
            None => Err(BuildError::Other(
                "output: ocsf needs url or file".to_string(),
            )),
        },
        SinkKind::Kafka(c) => {
            let records = KafkaRecords::Alerts {
                format: c.format,
                origin: origin.clone(),
            };
            Ok(one(Box::new(kafka_transport(c, records)?)))
        }
        SinkKind::Email(c) => {
            let password = match &c.password {
                Some(p) => Some(secret("output.password", p)?),
                None => None,
            };
            let client = email::SmtpClient::new(c, password, DEFAULT_TIMEOUT)
                .map_err(|e| BuildError::Other(format!("output.{e}")))?;
            let every = c.digest_interval();
            if every.is_zero() {
                // No digest: every alert is mailed on its own.
                return Ok(one(Box::new(email::EmailTransport::per_alert(
                    client,
                    origin.clone(),
                ))));
            }
            let urgent = c.immediate_min_severity;
            Ok(vec![
                LaneSpec {
                    suffix: "",
                    filter: LaneFilter::AtLeastOrBreakGlass(urgent),
                    records: LaneRecords::Alerts,
                    transport: Box::new(email::EmailTransport::per_alert(
                        client.clone(),
                        origin.clone(),
                    )),
                },
                LaneSpec {
                    suffix: "-digest",
                    filter: LaneFilter::BelowNotBreakGlass(urgent),
                    records: LaneRecords::Alerts,
                    transport: Box::new(email::EmailTransport::digest(
                        client,
                        origin.clone(),
                        every,
                    )),
                },
            ])
        }
        SinkKind::Syslog(c) => {
            let t = stream::SyslogTransport::new(c.clone(), origin.clone(), DEFAULT_TIMEOUT)
                .map_err(|e| BuildError::Other(format!("output: {e}")))?;
            Ok(one(Box::new(t)))
        }
        SinkKind::Webhook(_)
        | SinkKind::Slack(_)
        | SinkKind::Pagerduty(_)
        | SinkKind::Splunk(_)
        | SinkKind::Elastic(_) => unreachable!("HTTP sinks are built above"),
    }
}

/// The events lane (`<sink>-events`) of a sink with `forward_events = true`, credentials
/// loaded; `None` for a destination that takes alerts only.
pub fn build_events(kind: &SinkKind, origin: &Origin) -> Result<Option<LaneSpec>, BuildError> {
    let format = match kind {
        SinkKind::Splunk(c) => EventFormat::Hec {
            host: c.host.clone().unwrap_or_else(|| origin.host.clone()),
            source: c.source.clone(),
            index: c.index.clone(),
        },
        SinkKind::Elastic(_) => EventFormat::Ecs,
        SinkKind::Ocsf(_) => EventFormat::Ocsf,
        SinkKind::Kafka(c) => kafka::event_format(c.format),
        SinkKind::Syslog(c) => EventFormat::Syslog {
            facility: c.facility,
            hostname: c.hostname.clone(),
        },
        _ => return Ok(None),
    };
    let transport: Box<dyn Transport> = match (kind, http_api(kind)?) {
        (_, Some((url, api))) => Box::new(
            http::HttpTransport::new(url, api, origin.clone(), DEFAULT_TIMEOUT)
                .map_err(|e| BuildError::Other(e.to_string()))?
                .for_events(),
        ),
        (SinkKind::Ocsf(c), None) => match &c.file {
            Some(path) => {
                Box::new(stream::OcsfFileTransport::new(path.clone(), origin.clone()).for_events())
            }
            None => {
                return Err(BuildError::Other(
                    "output: ocsf needs url or file".to_string(),
                ))
            }
        },
        (SinkKind::Kafka(c), None) => Box::new(kafka_transport(c, KafkaRecords::Events)?),
        (SinkKind::Syslog(c), None) => Box::new(
            stream::SyslogTransport::new(c.clone(), origin.clone(), DEFAULT_TIMEOUT)
                .map_err(|e| BuildError::Other(format!("output: {e}")))?
                .for_events(),
        ),
        _ => return Ok(None),
    };
    Ok(Some(LaneSpec {
        suffix: EVENTS_SUFFIX,
        filter: LaneFilter::All,
        records: LaneRecords::Events(EventEncoder::new(format, origin.clone())),
        transport,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::alert;

    fn email(extra: &str) -> SinkKind {
        serde_json::from_str(&format!(
            r#"{{"type":"email","host":"127.0.0.1","from":"sw@example.com","to":["soc@example.com"]{extra}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn an_email_sink_has_an_immediate_and_a_digest_lane() {
        // Outside any runtime, as the binary opens its sinks.
        let lanes = build(&email(""), &Origin::new("h")).unwrap();
        let suffixes: Vec<&str> = lanes.iter().map(|l| l.suffix).collect();
        assert_eq!(suffixes, ["", "-digest"]);
        assert_eq!(
            lanes[0].filter,
            LaneFilter::AtLeastOrBreakGlass(Severity::High)
        );
        assert_eq!(
            lanes[1].filter,
            LaneFilter::BelowNotBreakGlass(Severity::High)
        );
        assert_eq!(lanes[0].transport.batching().max_items, 1);
        assert_eq!(lanes[0].transport.batching().linger, Duration::ZERO);
        let digest = lanes[1].transport.batching();
        assert_eq!(digest.max_items, 500);
        assert_eq!(digest.linger, Duration::from_secs(15 * 60));
        assert_eq!(
            lanes[0].transport.endpoint(),
            "smtp://127.0.0.1:587 (starttls)"
        );

        // Every alert goes to exactly one of the two lanes.
        let mut a = alert();
        for severity in [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            for break_glass in [false, true] {
                a.severity = severity;
                a.break_glass = break_glass;
                let takers: Vec<&str> = lanes
                    .iter()
                    .filter(|l| l.filter.takes(&a))
                    .map(|l| l.suffix)
                    .collect();
                let want = if severity >= Severity::High || break_glass {
                    ""
                } else {
                    "-digest"
                };
                assert_eq!(takers, [want], "{severity} break_glass={break_glass}");
            }
        }

        let lanes = build(
            &email(r#","immediate_min_severity":"medium","digest_seconds":30"#),
            &Origin::new("h"),
        )
        .unwrap();
        assert_eq!(
            lanes[0].filter,
            LaneFilter::AtLeastOrBreakGlass(Severity::Medium)
        );
        assert_eq!(
            lanes[1].transport.batching().linger,
            Duration::from_secs(30)
        );

        // No digest: one lane, one mail per alert.
        let lanes = build(&email(r#","digest_minutes":0"#), &Origin::new("h")).unwrap();
        assert_eq!(lanes.len(), 1);
        assert_eq!((lanes[0].suffix, lanes[0].filter), ("", LaneFilter::All));
        assert_eq!(lanes[0].transport.batching().max_items, 1);
    }

    #[test]
    fn events_lanes_only_for_destinations_that_take_events() {
        let origin = Origin::new("sw-1");
        let kind = |json: &str| -> SinkKind { serde_json::from_str(json).unwrap() };
        let cases = [
            (
                r#"{"type":"splunk","url":"https://s:8088/services/collector/event","token":"t","source":"sw","index":"sec"}"#,
                Some(EventFormat::Hec {
                    host: "sw-1".into(),
                    source: "sw".into(),
                    index: Some("sec".into()),
                }),
                "https://s:8088",
            ),
            (
                r#"{"type":"elastic","url":"https://es:9200"}"#,
                Some(EventFormat::Ecs),
                "https://es:9200/_bulk",
            ),
            (
                r#"{"type":"ocsf","url":"https://lake/ingest"}"#,
                Some(EventFormat::Ocsf),
                "https://lake",
            ),
            (
                r#"{"type":"ocsf","file":"/tmp/ocsf.jsonl"}"#,
                Some(EventFormat::Ocsf),
                "file:///tmp/ocsf.jsonl",
            ),
            (
                r#"{"type":"kafka","brokers":"k:9092","topic":"a","events_topic":"ev","format":"ocsf"}"#,
                Some(EventFormat::Ocsf),
                "kafka://k:9092/ev",
            ),
            (
                r#"{"type":"kafka","brokers":"k:9092","topic":"a","events_topic":"ev"}"#,
                Some(EventFormat::Json),
                "kafka://k:9092/ev",
            ),
            (r#"{"type":"webhook","url":"https://h"}"#, None, ""),
            (
                r#"{"type":"syslog","address":"s:514"}"#,
                Some(EventFormat::Syslog {
                    facility: crate::syslog::Facility::default(),
                    hostname: None,
                }),
                "syslog://s:514",
            ),
        ];
        for (json, format, endpoint) in cases.clone() {
            let lane = build_events(&kind(json), &origin).unwrap();
            match (lane, format) {
                (None, None) => {}
                (Some(l), Some(f)) => {
                    assert_eq!(l.suffix, "-events", "{json}");
                    assert_eq!(l.filter, LaneFilter::All);
                    match &l.records {
                        LaneRecords::Events(enc) => assert_eq!(enc.format(), &f, "{json}"),
                        LaneRecords::Alerts => panic!("{json}: an alert lane"),
                    }
                    assert_eq!(l.transport.endpoint(), endpoint);
                    let b = l.transport.batching();
                    assert!(b.max_items >= 500, "{json}: {b:?}");
                    assert_eq!(b.linger, EVENTS_LINGER);
                }
                (l, f) => panic!("{json}: {:?} vs {f:?}", l.map(|l| l.suffix)),
            }
        }
        // The alert lane of the same sink keeps its own batching.
        let alerts = build(&kind(cases[1].0), &origin).unwrap();
        assert_eq!(alerts.len(), 1);
        assert!(matches!(alerts[0].records, LaneRecords::Alerts));
        assert_eq!(alerts[0].transport.batching().linger, Duration::ZERO);
    }

    #[test]
    fn email_build_errors_name_the_key() {
        let e = build(
            &email(
                r#","username":"sw","password":{"env":"SECRETWATCH_TEST_UNSET_SMTP_PASSWORD_4711"}"#,
            ),
            &Origin::new("h"),
        )
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "output.password: environment variable SECRETWATCH_TEST_UNSET_SMTP_PASSWORD_4711 is not set (or not UTF-8)"
        );
        let e = build(
            &email(r#","ca_file":"/nonexistent/smtp-ca.pem""#),
            &Origin::new("h"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.starts_with("output.ca_file: cannot read /nonexistent/smtp-ca.pem"),
            "{e}"
        );
    }
}
