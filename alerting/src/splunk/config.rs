//! `type = "splunk"`.

use serde::Deserialize;

use crate::secret::SecretSource;

/// ```toml
/// output = { type = "splunk", url = "https://splunk.example:8088/services/collector/event", token = { env = "SPLUNK_HEC_TOKEN" }, index = "security" }
/// ```
/// Sent with `Authorization: Splunk <token>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplunkConfig {
    pub url: String,
    pub token: SecretSource,
    /// Unset: the token's default index.
    #[serde(default)]
    pub index: Option<String>,
    #[serde(default = "default_source")]
    pub source: String,
    /// `host` of each event. Default: this host.
    #[serde(default)]
    pub host: Option<String>,
}

fn default_source() -> String {
    "secretwatch".to_string()
}

impl SplunkConfig {
    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        crate::config::check_url(&self.url, &format!("{key}.url"), errors);
        if self.index.as_deref() == Some("") {
            errors.push(format!(
                "{key}.index: empty (leave it out for the default index)"
            ));
        }
    }
}
