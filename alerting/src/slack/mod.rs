//! Slack incoming webhook.

mod config;
mod encode;

pub use config::SlackConfig;
pub use encode::{escape, message, MAX_BLOCKS, MAX_FIELD_CHARS, MAX_SECTION_CHARS};
