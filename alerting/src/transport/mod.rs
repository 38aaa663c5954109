//! The network side of a sink: a [`Transport`] turns one batch of queued notifications into
//! one delivery attempt and reports what the destination answered as a [`TransportResult`].
//!
//! A transport never decides about retries, acks or dead letters: the sender loop
//! ([`crate::sender`]) hands its answer to [`crate::Delivery`]. A transport must never put a
//! credential into a log line or into the `error`/`body` it returns.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::notification::Notification;
use crate::queue::TransportResult;

/// A boxed future, so that transports can be held as `Box<dyn Transport>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How the sender groups queued notifications into one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// At most this many notifications per attempt (1: one request per alert).
    pub max_items: usize,
    /// At most about this many bytes of queued JSON per attempt.
    pub max_bytes: u64,
    /// Wait until the oldest pending notification has waited this long before sending
    /// (digests); zero sends as soon as something is queued.
    pub linger: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            max_items: 1,
            max_bytes: 4 << 20,
            linger: Duration::ZERO,
        }
    }
}

/// One destination's way of delivering a batch.
pub trait Transport: Send {
    /// Deliver `batch` (in queue order, never empty) as one attempt.
    fn send<'a>(&'a mut self, batch: &'a [Notification]) -> BoxFuture<'a, TransportResult>;

    /// How to group notifications; one per attempt unless the destination takes batches.
    fn batching(&self) -> Batching {
        Batching::default()
    }

    /// Where this transport delivers, for logs and `/metrics` (no credentials, no query).
    fn endpoint(&self) -> String;
}

pub mod http;
pub mod stream;

use secretwatch_detect::{Alert, Severity};

use crate::config::{Origin, SinkKind};
use crate::secret::SecretError;

/// Which alerts of a sink one lane takes (a sink with an immediate and a digest lane splits
/// by severity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneFilter {
    All,
    AtLeast(Severity),
    Below(Severity),
}

impl LaneFilter {
    pub fn takes(&self, alert: &Alert) -> bool {
        match *self {
            LaneFilter::All => true,
            LaneFilter::AtLeast(s) => alert.severity >= s,
            LaneFilter::Below(s) => alert.severity < s,
        }
    }
}

/// One delivery lane of a sink: its own queue and sender.
pub struct LaneSpec {
    /// Appended to the sink name for the lane's directory and metrics (`""` or `-digest`).
    pub suffix: &'static str,
    pub filter: LaneFilter,
    pub transport: Box<dyn Transport>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{key}: {source}")]
    Secret {
        key: &'static str,
        #[source]
        source: SecretError,
    },
    #[error("{0}")]
    Other(String),
}

/// Default time one attempt may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

fn secret(
    key: &'static str,
    src: &crate::secret::SecretSource,
) -> Result<crate::secret::Secret, BuildError> {
    src.load()
        .map_err(|source| BuildError::Secret { key, source })
}

/// The lanes of one configured sink, credentials loaded.
pub fn build(kind: &SinkKind, origin: &Origin) -> Result<Vec<LaneSpec>, BuildError> {
    use http::{Api, ElasticAuth, HttpTransport};
    let http = |url: crate::secret::Secret, api: Api| -> Result<Vec<LaneSpec>, BuildError> {
        let t = HttpTransport::new(url, api, origin.clone(), DEFAULT_TIMEOUT)
            .map_err(|e| BuildError::Other(e.to_string()))?;
        Ok(vec![LaneSpec {
            suffix: "",
            filter: LaneFilter::All,
            transport: Box::new(t),
        }])
    };
    use crate::secret::Secret;
    match kind {
        SinkKind::Webhook(c) => {
            let secret_key = match &c.secret {
                Some(s) => Some(secret("output.secret", s)?),
                None => None,
            };
            let mut headers = Vec::new();
            for (k, v) in &c.headers {
                headers.push((k.clone(), secret("output.headers", v)?));
            }
            http(
                Secret::new(c.url.clone()),
                Api::Webhook {
                    secret: secret_key,
                    headers,
                },
            )
        }
        SinkKind::Slack(c) => http(secret("output.webhook_url", &c.webhook_url)?, Api::Slack),
        SinkKind::Pagerduty(c) => http(
            Secret::new(c.url.clone()),
            Api::PagerDuty {
                routing_key: secret("output.routing_key", &c.routing_key)?,
                source: c.source.clone(),
            },
        ),
        SinkKind::Splunk(c) => http(
            Secret::new(c.url.clone()),
            Api::Splunk {
                token: secret("output.token", &c.token)?,
                source: c.source.clone(),
                index: c.index.clone(),
                host: c.host.clone(),
            },
        ),
        SinkKind::Elastic(c) => {
            let auth = match (&c.api_key, &c.username, &c.password) {
                (Some(k), _, _) => ElasticAuth::ApiKey(secret("output.api_key", k)?),
                (None, Some(u), Some(p)) => ElasticAuth::Basic {
                    username: u.clone(),
                    password: secret("output.password", p)?,
                },
                _ => ElasticAuth::None,
            };
            http(
                Secret::new(c.url.clone()),
                Api::Elastic {
                    index: c.index.clone(),
                    auth,
                },
            )
        }
        SinkKind::Ocsf(c) => match (&c.url, &c.file) {
            (Some(url), _) => http(
                Secret::new(url.clone()),
                Api::Ocsf {
                    token: match &c.token {
                        Some(t) => Some(secret("output.token", t)?),
                        None => None,
                    },
                },
            ),
            (None, Some(path)) => Ok(vec![LaneSpec {
                suffix: "",
                filter: LaneFilter::All,
                transport: Box::new(stream::OcsfFileTransport::new(path.clone(), origin.clone())),
            }]),
            (None, None) => Err(BuildError::Other(
                "output: ocsf needs url or file".to_string(),
            )),
        },
        SinkKind::Syslog(c) => {
            let t = stream::SyslogTransport::new(c.clone(), origin.clone(), DEFAULT_TIMEOUT)
                .map_err(|e| BuildError::Other(format!("output: {e}")))?;
            Ok(vec![LaneSpec {
                suffix: "",
                filter: LaneFilter::All,
                transport: Box::new(t),
            }])
        }
    }
}
