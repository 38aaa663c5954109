//! Producing to Kafka with librdkafka (rdkafka's `FutureProducer`).
//!
//! One attempt = one batch: every message is handed to the producer, then the attempt waits
//! for each delivery report. The batch is delivered when the brokers acknowledged every
//! message; the producer is idempotent (`enable.idempotence = true`, `acks = all`), so its own
//! retries inside `message.timeout.ms` (30 s unless set in `properties`) never write a message
//! twice.
//!
//! Before the first attempt and after any failed one, the transport asks the brokers for the
//! topic's metadata, and only produces when they answer: while the cluster is down nothing is
//! handed to the producer, so no message can time out half-sent and come again later.
//!
//! Delivery reports, as [`TransportResult`]s that [`crate::Delivery`] classifies (HTTP-like
//! statuses, as for the other sinks):
//! - every message acknowledged: `Delivered`;
//! - a message that can never be written: 413 (message too large for the broker or the
//!   producer), 400 (invalid topic name), 422 (record refused by a broker policy or as
//!   invalid): dead-lettered alone, the rest of the batch is delivered;
//! - the sink is misconfigured (topic or cluster authorization, SASL authentication: 403;
//!   unknown topic: 404): the lane is `blocked`, everything stays queued and is retried;
//! - anything else (brokers down, timeouts, not enough replicas, a full local queue...):
//!   retried with backoff (`Failed` when no message got through, else per item 503).
//!
//! A fatal producer error (idempotence state lost) drops the producer; the next attempt makes
//! a new one. The client configuration holds the credentials and is never printed; errors
//! carry librdkafka's messages, which never contain them.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::Origin;
use crate::forward::ForwardedEvent;
use crate::kafka::config::{KafkaConfig, KafkaFormat};
use crate::kafka::encode::{alert_message, event_message, KafkaMessage};
use crate::notification::Notification;
use crate::queue::{ItemStatus, TransportResult};
use crate::secret::Secret;
use crate::transport::{Batching, BoxFuture, Transport};

/// Most messages per attempt.
pub const MAX_BATCH: usize = 500;
/// `message.timeout.ms` unless the config sets it.
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Statuses given to delivery reports (see the module documentation).
pub const STATUS_TOO_LARGE: u16 = 413;
pub const STATUS_INVALID_TOPIC: u16 = 400;
pub const STATUS_INVALID_RECORD: u16 = 422;
pub const STATUS_NOT_AUTHORIZED: u16 = 403;
pub const STATUS_UNKNOWN_TOPIC: u16 = 404;
pub const STATUS_RETRY: u16 = 503;

/// What a lane produces.
#[derive(Debug, Clone)]
pub enum KafkaRecords {
    Alerts {
        format: KafkaFormat,
        origin: Origin,
    },
    /// Forwarded events, already encoded by the lane's [`crate::forward::EventEncoder`].
    Events,
}

/// Why the producer could not be made; names the key, never a credential.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct KafkaBuildError {
    pub key: String,
    pub reason: String,
}

pub struct KafkaTransport {
    /// The client configuration, credentials included: never printed.
    client: ClientConfig,
    producer: Option<FutureProducer>,
    topic: String,
    records: KafkaRecords,
    endpoint: String,
    message_timeout: Duration,
    /// Ask the brokers for the topic before producing (first attempt, after a failure).
    probe: bool,
}

/// The librdkafka configuration of a sink, credentials included.
fn client_config(
    cfg: &KafkaConfig,
    sasl_password: Option<&Secret>,
    ssl_key_password: Option<&Secret>,
) -> (ClientConfig, Duration) {
    let mut c = ClientConfig::new();
    c.set("client.id", "secretwatch");
    c.set(
        "message.timeout.ms",
        DEFAULT_MESSAGE_TIMEOUT.as_millis().to_string(),
    );
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c.set("bootstrap.servers", cfg.bootstrap_servers());
    c.set("enable.idempotence", "true");
    c.set("acks", "all");
    if let Some(p) = sasl_password {
        c.set("sasl.password", p.expose());
    }
    if let Some(p) = ssl_key_password {
        c.set("ssl.key.password", p.expose());
    }
    let timeout = ["message.timeout.ms", "delivery.timeout.ms"]
        .iter()
        .find_map(|k| cfg.properties.get(*k))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_MESSAGE_TIMEOUT, Duration::from_millis);
    (c, timeout)
}

/// A configuration error without the offending value (it may be a credential).
fn describe_create_error(e: &KafkaError) -> KafkaBuildError {
    match e {
        KafkaError::ClientConfig(_, desc, key, _) => KafkaBuildError {
            key: match key.as_str() {
                "bootstrap.servers" => "output.brokers".to_string(),
                k => format!("output.properties.{k}"),
            },
            reason: desc.clone(),
        },
        other => KafkaBuildError {
            key: "output.properties".to_string(),
            reason: other.to_string(),
        },
    }
}

impl KafkaTransport {
    /// Check the settings by making the producer now (no connection is awaited).
    pub fn new(
        cfg: &KafkaConfig,
        sasl_password: Option<&Secret>,
        ssl_key_password: Option<&Secret>,
        records: KafkaRecords,
    ) -> Result<KafkaTransport, KafkaBuildError> {
        let topic = match records {
            KafkaRecords::Alerts { .. } => cfg.topic.clone(),
            KafkaRecords::Events => cfg.events_topic.clone().ok_or_else(|| KafkaBuildError {
                key: "output.events_topic".into(),
                reason: "required with forward_events".into(),
            })?,
        };
        let (client, message_timeout) = client_config(cfg, sasl_password, ssl_key_password);
        let producer: FutureProducer = client.create().map_err(|e| describe_create_error(&e))?;
        Ok(KafkaTransport {
            client,
            producer: Some(producer),
            endpoint: format!("kafka://{}/{topic}", cfg.bootstrap_servers()),
            topic,
            records,
            message_timeout,
            probe: true,
        })
    }

    fn producer(&mut self) -> Result<FutureProducer, String> {
        if let Some(p) = &self.producer {
            return Ok(p.clone());
        }
        let p: FutureProducer = self
            .client
            .create()
            .map_err(|e| describe_create_error(&e).to_string())?;
        self.producer = Some(p.clone());
        Ok(p)
    }

    /// The topic's metadata from the brokers: `None` when producing may go ahead.
    async fn check_topic(&self, producer: &FutureProducer) -> Option<TransportResult> {
        let p = producer.clone();
        let topic = self.topic.clone();
        let wait = self.message_timeout.min(Duration::from_secs(10));
        let meta = tokio::task::spawn_blocking(move || {
            p.client()
                .fetch_metadata(Some(&topic), wait)
                .map(|m| {
                    m.topics()
                        .iter()
                        .find(|t| t.name() == topic)
                        .map(|t| (t.error().map(RDKafkaErrorCode::from), t.partitions().len()))
                })
                .map_err(|e| e.to_string())
        })
        .await;
        let meta = match meta {
            Ok(m) => m,
            Err(e) => {
                return Some(TransportResult::Failed {
                    error: format!("metadata request: {e}"),
                })
            }
        };
        match meta {
            Err(e) => Some(TransportResult::Failed {
                error: format!("brokers {}: {e}", self.endpoint),
            }),
            Ok(Some((None, n))) if n > 0 => None,
            Ok(Some((Some(code), _))) => {
                let (status, _) = classify_code(code);
                let body = format!("topic {}: {code}", self.topic);
                Some(if status == STATUS_RETRY {
                    TransportResult::Failed { error: body }
                } else {
                    TransportResult::Status {
                        status,
                        retry_after: None,
                        body,
                    }
                })
            }
            Ok(_) => Some(TransportResult::Status {
                status: STATUS_UNKNOWN_TOPIC,
                retry_after: None,
                body: format!("topic {} does not exist", self.topic),
            }),
        }
    }

    async fn attempt(&mut self, messages: Vec<KafkaMessage>) -> TransportResult {
        let producer = match self.producer() {
            Ok(p) => p,
            Err(error) => return TransportResult::Failed { error },
        };
        if self.probe {
            if let Some(failed) = self.check_topic(&producer).await {
                return failed;
            }
            self.probe = false;
        }
        let result = produce(&producer, &self.topic, &messages, self.message_timeout).await;
        if !matches!(result, TransportResult::Delivered) {
            self.probe = true;
        }
        if let Some((code, reason)) = producer.client().fatal_error() {
            tracing::error!(endpoint = %self.endpoint, error = %code, reason = %reason, "Kafka producer failed for good: making a new one");
            self.producer = None;
        }
        result
    }
}

/// Status of one failed delivery, and whether it is about the producer itself.
fn classify_code(code: RDKafkaErrorCode) -> (u16, bool) {
    use RDKafkaErrorCode as C;
    match code {
        C::MessageSizeTooLarge | C::InvalidMessageSize => (STATUS_TOO_LARGE, false),
        C::InvalidTopic => (STATUS_INVALID_TOPIC, false),
        C::InvalidRecord | C::PolicyViolation | C::UnsupportedForMessageFormat => {
            (STATUS_INVALID_RECORD, false)
        }
        C::TopicAuthorizationFailed
        | C::ClusterAuthorizationFailed
        | C::SaslAuthenticationFailed
        | C::Authentication => (STATUS_NOT_AUTHORIZED, false),
        C::UnknownTopicOrPartition | C::UnknownTopic | C::UnknownPartition => {
            (STATUS_UNKNOWN_TOPIC, false)
        }
        C::Fatal => (STATUS_RETRY, true),
        _ => (STATUS_RETRY, false),
    }
}

fn item_error(e: &KafkaError) -> ItemStatus {
    let status = e
        .rdkafka_error_code()
        .map_or(STATUS_RETRY, |c| classify_code(c).0);
    ItemStatus {
        status,
        error: Some(e.to_string()),
    }
}

/// Hand every message to the producer, then wait for every delivery report.
async fn produce(
    producer: &FutureProducer,
    topic: &str,
    messages: &[KafkaMessage],
    message_timeout: Duration,
) -> TransportResult {
    let mut pending: Vec<Option<DeliveryFuture>> = Vec::with_capacity(messages.len());
    let mut items: Vec<Option<ItemStatus>> = Vec::with_capacity(messages.len());
    for m in messages {
        let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
        for (k, v) in &m.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v.as_str()),
            });
        }
        let record = FutureRecord::to(topic)
            .key(m.key.as_str())
            .payload(m.payload.as_slice())
            .headers(headers);
        match producer.send_result(record) {
            Ok(f) => {
                pending.push(Some(f));
                items.push(None);
            }
            Err((e, _)) => {
                pending.push(None);
                items.push(Some(item_error(&e)));
            }
        }
    }
    // librdkafka reports every message within message.timeout.ms; the guard only keeps a
    // lane from hanging if a report never comes.
    let reports = async {
        for (slot, f) in items.iter_mut().zip(pending) {
            let Some(f) = f else { continue };
            *slot = Some(match f.await {
                Ok(Ok(_)) => ItemStatus {
                    status: 200,
                    error: None,
                },
                Ok(Err((e, _))) => item_error(&e),
                Err(_) => ItemStatus {
                    status: STATUS_RETRY,
                    error: Some("the producer went away before reporting".to_string()),
                },
            });
        }
    };
    if tokio::time::timeout(message_timeout + Duration::from_secs(30), reports)
        .await
        .is_err()
    {
        return TransportResult::Timeout;
    }
    let items: Vec<ItemStatus> = items
        .into_iter()
        .map(|i| i.expect("every message has a report"))
        .collect();
    if items.iter().all(|i| i.status == 200) {
        return TransportResult::Delivered;
    }
    if items.iter().all(|i| i.status == STATUS_RETRY) {
        let error = items[0].error.clone().unwrap_or_default();
        return TransportResult::Failed {
            error: format!(
                "{} of {} messages not delivered: {error}",
                items.len(),
                items.len()
            ),
        };
    }
    TransportResult::PerItem(items)
}

impl Transport for KafkaTransport {
    fn send<'a>(&'a mut self, batch: &'a [Notification]) -> BoxFuture<'a, TransportResult> {
        let messages: Vec<KafkaMessage> = match &self.records {
            KafkaRecords::Alerts { format, origin } => batch
                .iter()
                .map(|n| alert_message(n, *format, origin))
                .collect(),
            KafkaRecords::Events => {
                return Box::pin(std::future::ready(TransportResult::Failed {
                    error: "an events lane was given alerts".to_string(),
                }))
            }
        };
        Box::pin(self.attempt(messages))
    }

    fn send_events<'a>(
        &'a mut self,
        batch: &'a [ForwardedEvent],
    ) -> BoxFuture<'a, TransportResult> {
        let messages = batch.iter().map(event_message).collect();
        Box::pin(self.attempt(messages))
    }

    fn batching(&self) -> Batching {
        match self.records {
            KafkaRecords::Alerts { .. } => Batching {
                max_items: MAX_BATCH,
                ..Batching::default()
            },
            KafkaRecords::Events => Batching::events(MAX_BATCH, 4 << 20),
        }
    }

    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> KafkaConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn client_config_forces_idempotence_and_takes_credentials_from_their_keys() {
        let c = cfg(
            r#"{"brokers":"k1:9092, k2:9092","topic":"t","properties":{"message.timeout.ms":"2500","compression.type":"lz4","security.protocol":"sasl_ssl"}}"#,
        );
        let pw = Secret::new("kafka-pw");
        let (cc, timeout) = client_config(&c, Some(&pw), None);
        assert_eq!(cc.get("bootstrap.servers"), Some("k1:9092,k2:9092"));
        assert_eq!(cc.get("enable.idempotence"), Some("true"));
        assert_eq!(cc.get("acks"), Some("all"));
        assert_eq!(cc.get("compression.type"), Some("lz4"));
        assert_eq!(cc.get("sasl.password"), Some("kafka-pw"));
        assert_eq!(cc.get("ssl.key.password"), None);
        assert_eq!(cc.get("client.id"), Some("secretwatch"));
        assert_eq!(timeout, Duration::from_millis(2500));
        let (cc, timeout) = client_config(&cfg(r#"{"brokers":"k:1","topic":"t"}"#), None, None);
        assert_eq!(cc.get("message.timeout.ms"), Some("30000"));
        assert_eq!(timeout, DEFAULT_MESSAGE_TIMEOUT);
    }

    #[test]
    fn statuses_of_delivery_errors() {
        use RDKafkaErrorCode as C;
        assert_eq!(classify_code(C::MessageSizeTooLarge), (413, false));
        assert_eq!(classify_code(C::InvalidTopic), (400, false));
        assert_eq!(classify_code(C::PolicyViolation), (422, false));
        assert_eq!(classify_code(C::TopicAuthorizationFailed), (403, false));
        assert_eq!(classify_code(C::SaslAuthenticationFailed), (403, false));
        assert_eq!(classify_code(C::UnknownTopicOrPartition), (404, false));
        assert_eq!(classify_code(C::MessageTimedOut), (503, false));
        assert_eq!(classify_code(C::AllBrokersDown), (503, false));
        assert_eq!(classify_code(C::NotEnoughReplicas), (503, false));
        assert_eq!(classify_code(C::Fatal), (503, true));
        // And what Delivery makes of them.
        use crate::queue::{classify_status, Class};
        assert_eq!(classify_status(STATUS_TOO_LARGE), Class::Reject);
        assert_eq!(classify_status(STATUS_INVALID_TOPIC), Class::Reject);
        assert_eq!(classify_status(STATUS_INVALID_RECORD), Class::Reject);
        assert_eq!(classify_status(STATUS_NOT_AUTHORIZED), Class::Blocked);
        assert_eq!(classify_status(STATUS_UNKNOWN_TOPIC), Class::Blocked);
        assert_eq!(classify_status(STATUS_RETRY), Class::Retry);
    }

    #[test]
    fn a_bad_property_fails_the_build_with_its_key_and_without_its_value() {
        let c = cfg(
            r#"{"brokers":"k:1","topic":"t","properties":{"no.such.property":"value-canary"}}"#,
        );
        let records = KafkaRecords::Alerts {
            format: KafkaFormat::Json,
            origin: Origin::new("h"),
        };
        let e = KafkaTransport::new(&c, None, None, records)
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("output.properties.no.such.property: "), "{e}");
        assert!(!e.contains("value-canary"), "{e}");
        let t = KafkaTransport::new(&c_ok(), None, None, KafkaRecords::Events);
        assert_eq!(t.err().unwrap().key, "output.events_topic");
        let t = KafkaTransport::new(
            &cfg(r#"{"brokers":"k:1","topic":"t","events_topic":"ev"}"#),
            None,
            None,
            KafkaRecords::Events,
        )
        .unwrap();
        assert_eq!(t.endpoint(), "kafka://k:1/ev");
        assert_eq!(t.batching().max_items, MAX_BATCH);
    }

    fn c_ok() -> KafkaConfig {
        cfg(r#"{"brokers":"k:1","topic":"t"}"#)
    }
}
