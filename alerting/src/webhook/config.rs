//! `type = "webhook"`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::secret::SecretSource;
use crate::webhook::encode::RESERVED_HEADERS;

/// ```toml
/// output = { type = "webhook", url = "https://hooks.example/secretwatch", secret = { env = "WEBHOOK_SECRET" }, headers = { "X-Team" = "sec" } }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// HMAC-SHA256 key of `X-Secretwatch-Signature`. Unset: requests are not signed.
    #[serde(default)]
    pub secret: Option<SecretSource>,
    /// Extra headers (e.g. `Authorization`); values are credentials, never printed.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
}

impl WebhookConfig {
    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        crate::config::check_url(&self.url, &format!("{key}.url"), errors);
        for name in self.headers.keys() {
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                errors.push(format!(
                    "{key}.headers: {name:?} is not a valid header name"
                ));
            } else if RESERVED_HEADERS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(name))
            {
                errors.push(format!("{key}.headers: {name} is set by secretwatch"));
            }
        }
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
