//! Generic webhook: the alert as JSON (or a body template), signed with HMAC-SHA256.

mod config;
mod encode;
mod template;

pub use config::WebhookConfig;
pub use encode::{
    body, request, request_with, sign, verify, VerifyError, WebhookRequest, ALERT_ID_HEADER, KIND,
    SIGNATURE_HEADER, TIMESTAMP_HEADER, VERSION,
};
pub use template::{is_json_type, BodyTemplate, Field, TemplateError, DEFAULT_CONTENT_TYPE};
