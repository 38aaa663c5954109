//! Alert delivery: encoders for every destination format, routing, per-sink dedup and
//! throttling, and a durable on-disk queue with a retry state machine.
//!
//! Data flow for one sink: [`Router`] picks the sinks of an alert; each sink's
//! [`Outbox`](queue::Outbox) applies [`Gate`] (dedup by id, throttling per rule and
//! principal with a suppressed count carried by the next message) and pushes a
//! [`Notification`] to its [`DiskQueue`]; the network layer peeks a batch, encodes it with
//! the sink's encoder, sends it, and hands the result to [`Delivery`], which says what to
//! ack, what to dead-letter and when to retry. Nothing here reads the clock or the network:
//! time is passed in.
//!
//! Sinks with `forward_events = true` (Splunk, Elastic, OCSF, Kafka) also get every
//! normalized access event through [`Alerting::forward`]: a separate events lane per sink
//! (`<sink>-events`), with its own bounded queue and no gate ([`forward`]).

pub mod attack;
pub mod config;
pub mod elastic;
pub mod email;
pub mod forward;
mod fsutil;
pub mod gate;
pub mod hub;
pub mod kafka;
pub mod notification;
pub mod ocsf;
pub mod pagerduty;
pub mod queue;
pub mod route;
pub mod secret;
mod sender;
pub mod sink;
pub mod slack;
pub mod splunk;
pub mod syslog;
pub mod text;
pub mod transport;
pub mod webhook;

pub use config::{validate_sinks, Origin, SinkConfig, SinkKind};
pub use email::EmailConfig;
pub use forward::{EventEncoder, EventFormat, Forwarded, ForwardedEvent};
pub use gate::{Gate, GateConfig, Verdict};
pub use hub::{Alerting, EnvironmentFn, HubError, LaneStatus, Submitted};
pub use kafka::KafkaConfig;
pub use notification::{Notification, Suppressed};
pub use queue::{
    DeadLetter, Delivery, DiskQueue, Health, Offer, Outbox, QueueConfig, QueueError, RetryPolicy,
    Step, TransportResult,
};
pub use route::{Glob, Route, RouteEntry, Router, Scope};
pub use secret::{Secret, SecretError, SecretSource};
pub use sink::{AlertSink, JsonLines, SinkError};
pub use transport::{Batching, BoxFuture, LaneRecords, Transport};

#[cfg(test)]
mod test_events;
