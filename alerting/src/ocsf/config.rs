//! `type = "ocsf"`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::secret::SecretSource;

/// Either over HTTP (a JSON array of findings per request) or appended to a file (one JSON
/// object per line):
///
/// ```toml
/// output = { type = "ocsf", url = "https://lake.example/ingest", token = { env = "OCSF_TOKEN" } }
/// output = { type = "ocsf", file = "/var/lib/secretwatch/ocsf.jsonl" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OcsfConfig {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Sent as `Authorization: Bearer <token>` over HTTP.
    #[serde(default)]
    pub token: Option<SecretSource>,
}

impl OcsfConfig {
    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        match (&self.url, &self.file) {
            (Some(url), None) => crate::config::check_url(url, &format!("{key}.url"), errors),
            (None, Some(_)) if self.token.is_some() => {
                errors.push(format!("{key}.token: only used with url"));
            }
            (None, Some(_)) => {}
            _ => errors.push(format!("{key}: set exactly one of url and file")),
        }
    }
}
