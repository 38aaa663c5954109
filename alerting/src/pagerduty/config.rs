//! `type = "pagerduty"`.

use serde::Deserialize;

use crate::secret::SecretSource;

pub const DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// ```toml
/// output = { type = "pagerduty", routing_key = { env = "PAGERDUTY_ROUTING_KEY" } }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    /// The integration (routing) key: sent in the body, never printed.
    pub routing_key: SecretSource,
    #[serde(default = "default_url")]
    pub url: String,
    /// `payload.source`: the affected system (a cluster or Vault name). Default: the host.
    #[serde(default)]
    pub source: Option<String>,
}

fn default_url() -> String {
    DEFAULT_URL.to_string()
}

impl PagerDutyConfig {
    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        crate::config::check_url(&self.url, &format!("{key}.url"), errors);
    }
}
