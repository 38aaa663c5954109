//! Kafka: alerts (and forwarded access events) produced to topics by an idempotent producer.

mod config;
mod encode;
mod transport;

pub use config::{KafkaConfig, KafkaFormat};
pub use encode::{
    alert_message, event_format, event_message, KafkaMessage, ALERT_ID_HEADER, EVENT_ID_HEADER,
    RULE_HEADER, SEVERITY_HEADER, SOURCE_HEADER,
};
pub use transport::{
    KafkaBuildError, KafkaRecords, KafkaTransport, DEFAULT_MESSAGE_TIMEOUT, MAX_BATCH,
    STATUS_INVALID_RECORD, STATUS_INVALID_TOPIC, STATUS_NOT_AUTHORIZED, STATUS_RETRY,
    STATUS_TOO_LARGE, STATUS_UNKNOWN_TOPIC,
};
