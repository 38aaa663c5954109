//! Durable delivery: the on-disk queue of each sink, the retry schedule, the delivery state
//! machine, the dead-letter file, and the outbox that puts the gate in front of the queue.

mod dead_letter;
mod delivery;
mod disk;
mod outbox;
mod retry;

pub use dead_letter::{DeadLetter, DeadLetterRecord};
pub use delivery::{Delivery, Health, ItemStatus, Rejected, Step, TransportResult};
pub use disk::{DiskQueue, Entry, QueueConfig, QueueError, QueueStats};
pub use outbox::{Offer, Outbox};
pub use retry::{classify_status, parse_retry_after, Backoff, Class, RetryPolicy};
