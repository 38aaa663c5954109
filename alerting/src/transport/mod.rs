//! The network side of a sink: a [`Transport`] turns one batch of queued notifications into
//! one delivery attempt and reports what the destination answered as a [`TransportResult`].
//!
//! A transport never decides about retries, acks or dead letters: the sender loop
//! ([`crate::sender`]) hands its answer to [`crate::Delivery`]. A transport must never put a
//! credential into a log line or into the `error`/`body` it returns.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

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

/// One destination's way of delivering a batch.
pub trait Transport: Send {
    /// Deliver `batch` (in queue order, never empty) as one attempt.
    fn send<'a>(&'a mut self, batch: &'a [Notification]) -> BoxFuture<'a, TransportResult>;

    /// How to group notifications; one per attempt unless the destination takes batches.
    fn batching(&self) -> Batching {
        Batching::default()
    }

    /// Where this transport delivers, for logs and `/metrics` (no credentials, no query).
    fn endpoint(&self) -> String;
}
