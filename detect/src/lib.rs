//! Detection: [`Detector`]s over [`secretwatch_ingest::AccessEvent`]s, producing [`Alert`]s.

pub mod alert;
pub mod baseline;
pub mod builtin;
pub mod catalogue;
pub mod config;
pub mod context;
pub mod detector;
pub mod engine;
pub mod history;
pub mod inventory;
pub mod sigma;

pub use alert::{alert_id, Alert, Severity};
pub use config::DetectConfig;
pub use detector::Detector;
pub use engine::Engine;

#[cfg(test)]
mod cloud_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
