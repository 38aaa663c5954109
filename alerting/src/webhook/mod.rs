//! Generic webhook: the alert as JSON, signed with HMAC-SHA256.

mod config;
mod encode;

pub use config::WebhookConfig;
pub use encode::{
    body, request, sign, verify, VerifyError, WebhookRequest, ALERT_ID_HEADER, KIND,
    SIGNATURE_HEADER, TIMESTAMP_HEADER, VERSION,
};
