//! Elasticsearch `_bulk` with Elastic Common Schema documents.

mod bulk;
mod config;
mod ecs;

pub use bulk::{
    alert_bulk, bulk_create, bulk_create_raw, event_bulk, event_doc_id, parse_bulk_response,
    BulkItem, BulkResponseError,
};
pub use config::ElasticConfig;
pub use ecs::{alert_document, event_document, risk_score, severity_number, ECS_VERSION};
