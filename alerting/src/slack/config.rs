//! `type = "slack"`.

use serde::Deserialize;

use crate::secret::SecretSource;

/// ```toml
/// output = { type = "slack", webhook_url = { env = "SLACK_WEBHOOK_URL" } }
/// ```
/// The incoming-webhook URL is itself the credential (anyone holding it can post).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub webhook_url: SecretSource,
}
