//! Per-sink dedup (an alert id is queued once) and throttling per rule and principal that
//! never drops silently: held-back alerts are counted and the next message says so.

mod store;
mod throttle;

pub use store::{GateStore, GateStoreError};
pub use throttle::{Change, Gate, GateConfig, Verdict};
