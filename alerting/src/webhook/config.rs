//! `type = "webhook"`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::secret::SecretSource;
use crate::webhook::encode::RESERVED_HEADERS;
use crate::webhook::template::{BodyTemplate, TemplateError, DEFAULT_CONTENT_TYPE};

/// ```toml
/// output = { type = "webhook", url = "https://hooks.example/secretwatch", secret = { env = "WEBHOOK_SECRET" }, headers = { "X-Team" = "sec" } }
/// output = { type = "webhook", url = "https://chat.example/hooks/T1", body_template = '{"text": "{{severity}}: {{title}} by {{principal}}"}' }
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
    /// The body with `{{field}}` placeholders ([`crate::webhook::BodyTemplate`]); unset: the
    /// alert as JSON.
    #[serde(default)]
    pub body_template: Option<String>,
    /// Content type of a templated body (default `application/json`, whose values are
    /// escaped for JSON).
    #[serde(default)]
    pub content_type: Option<String>,
}

impl WebhookConfig {
    /// The parsed `body_template`, if set.
    pub fn template(&self) -> Result<Option<BodyTemplate>, TemplateError> {
        self.body_template
            .as_deref()
            .map(|t| {
                BodyTemplate::parse(
                    t,
                    self.content_type.as_deref().unwrap_or(DEFAULT_CONTENT_TYPE),
                )
            })
            .transpose()
    }

    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        crate::config::check_url(&self.url, &format!("{key}.url"), errors);
        if let Err(e) = self.template() {
            errors.push(format!("{key}.body_template: {e}"));
        }
        match &self.content_type {
            Some(_) if self.body_template.is_none() => {
                errors.push(format!("{key}.content_type: only used with body_template"))
            }
            Some(ct) => {
                let valid = ct.contains('/')
                    && ct
                        .bytes()
                        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic());
                if !valid {
                    errors.push(format!("{key}.content_type: {ct:?} is not a media type"));
                }
            }
            None => {}
        }
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
