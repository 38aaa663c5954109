//! PagerDuty Events API v2.

mod config;
mod encode;

pub use config::{PagerDutyConfig, DEFAULT_URL};
pub use encode::{body, severity, MAX_DEDUP_KEY, MAX_SUMMARY};
