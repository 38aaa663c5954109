//! Splunk HTTP Event Collector.

mod config;
mod encode;

pub use config::SplunkConfig;
pub use encode::{
    access_event, alert_event, batch, epoch_seconds, HecMeta, ALERT_SOURCETYPE, EVENT_SOURCETYPE,
};
