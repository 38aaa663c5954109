//! `type = "elastic"`.

use serde::Deserialize;

use crate::secret::SecretSource;

/// ```toml
/// output = { type = "elastic", url = "https://es.example:9200", api_key = { env = "ES_API_KEY" } }
/// ```
/// `api_key` is the base64 `id:key` sent as `Authorization: ApiKey <api_key>`; or
/// `username` with `password` for basic auth.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticConfig {
    /// Base URL; requests go to `{url}/_bulk`.
    pub url: String,
    /// Index or data stream of alerts (`create` actions work for both).
    #[serde(default = "default_index")]
    pub index: String,
    /// Index or data stream of forwarded access events.
    #[serde(default = "default_events_index")]
    pub events_index: String,
    #[serde(default)]
    pub api_key: Option<SecretSource>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretSource>,
}

fn default_index() -> String {
    "secretwatch-alerts".to_string()
}
fn default_events_index() -> String {
    "secretwatch-events".to_string()
}

impl ElasticConfig {
    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        crate::config::check_url(&self.url, &format!("{key}.url"), errors);
        for (name, index) in [("index", &self.index), ("events_index", &self.events_index)] {
            let bad = index.is_empty()
                || index.starts_with(['-', '_', '+'])
                || index
                    .chars()
                    .any(|c| c.is_ascii_uppercase() || " \"*\\<|,>/?#:".contains(c));
            if bad {
                errors.push(format!("{key}.{name}: {index:?} is not a valid index name"));
            }
        }
        if self.api_key.is_some() && (self.username.is_some() || self.password.is_some()) {
            errors.push(format!("{key}: set api_key or username/password, not both"));
        }
        if self.username.is_some() != self.password.is_some() {
            errors.push(format!("{key}: username and password go together"));
        }
    }
}
