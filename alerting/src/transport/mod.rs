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
use crate::email;
use crate::secret::SecretError;

/// Which alerts of a sink one lane takes (a sink with an immediate and a digest lane splits
/// by severity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneFilter {
    All,
    AtLeast(Severity),
    Below(Severity),
    /// At least this severity, or break-glass whatever its severity (an e-mail sink's
    /// immediate lane).
    AtLeastOrBreakGlass(Severity),
    /// Below this severity and not break-glass (an e-mail sink's digest lane): the complement
    /// of [`LaneFilter::AtLeastOrBreakGlass`].
    BelowNotBreakGlass(Severity),
}

impl LaneFilter {
    pub fn takes(&self, alert: &Alert) -> bool {
        match *self {
            LaneFilter::All => true,
            LaneFilter::AtLeast(s) => alert.severity >= s,
            LaneFilter::Below(s) => alert.severity < s,
            LaneFilter::AtLeastOrBreakGlass(s) => alert.severity >= s || alert.break_glass,
            LaneFilter::BelowNotBreakGlass(s) => alert.severity < s && !alert.break_glass,
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
        SinkKind::Email(c) => {
            let password = match &c.password {
                Some(p) => Some(secret("output.password", p)?),
                None => None,
            };
            let client = email::SmtpClient::new(c, password, DEFAULT_TIMEOUT)
                .map_err(|e| BuildError::Other(format!("output.{e}")))?;
            let every = c.digest_interval();
            if every.is_zero() {
                // No digest: every alert is mailed on its own.
                return Ok(vec![LaneSpec {
                    suffix: "",
                    filter: LaneFilter::All,
                    transport: Box::new(email::EmailTransport::per_alert(client, origin.clone())),
                }]);
            }
            let urgent = c.immediate_min_severity;
            Ok(vec![
                LaneSpec {
                    suffix: "",
                    filter: LaneFilter::AtLeastOrBreakGlass(urgent),
                    transport: Box::new(email::EmailTransport::per_alert(
                        client.clone(),
                        origin.clone(),
                    )),
                },
                LaneSpec {
                    suffix: "-digest",
                    filter: LaneFilter::BelowNotBreakGlass(urgent),
                    transport: Box::new(email::EmailTransport::digest(
                        client,
                        origin.clone(),
                        every,
                    )),
                },
            ])
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::alert;

    fn email(extra: &str) -> SinkKind {
        serde_json::from_str(&format!(
            r#"{{"type":"email","host":"127.0.0.1","from":"sw@example.com","to":["soc@example.com"]{extra}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn an_email_sink_has_an_immediate_and_a_digest_lane() {
        // Outside any runtime, as the binary opens its sinks.
        let lanes = build(&email(""), &Origin::new("h")).unwrap();
        let suffixes: Vec<&str> = lanes.iter().map(|l| l.suffix).collect();
        assert_eq!(suffixes, ["", "-digest"]);
        assert_eq!(
            lanes[0].filter,
            LaneFilter::AtLeastOrBreakGlass(Severity::High)
        );
        assert_eq!(
            lanes[1].filter,
            LaneFilter::BelowNotBreakGlass(Severity::High)
        );
        assert_eq!(lanes[0].transport.batching().max_items, 1);
        assert_eq!(lanes[0].transport.batching().linger, Duration::ZERO);
        let digest = lanes[1].transport.batching();
        assert_eq!(digest.max_items, 500);
        assert_eq!(digest.linger, Duration::from_secs(15 * 60));
        assert_eq!(
            lanes[0].transport.endpoint(),
            "smtp://127.0.0.1:587 (starttls)"
        );

        // Every alert goes to exactly one of the two lanes.
        let mut a = alert();
        for severity in [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            for break_glass in [false, true] {
                a.severity = severity;
                a.break_glass = break_glass;
                let takers: Vec<&str> = lanes
                    .iter()
                    .filter(|l| l.filter.takes(&a))
                    .map(|l| l.suffix)
                    .collect();
                let want = if severity >= Severity::High || break_glass {
                    ""
                } else {
                    "-digest"
                };
                assert_eq!(takers, [want], "{severity} break_glass={break_glass}");
            }
        }

        let lanes = build(
            &email(r#","immediate_min_severity":"medium","digest_seconds":30"#),
            &Origin::new("h"),
        )
        .unwrap();
        assert_eq!(
            lanes[0].filter,
            LaneFilter::AtLeastOrBreakGlass(Severity::Medium)
        );
        assert_eq!(
            lanes[1].transport.batching().linger,
            Duration::from_secs(30)
        );

        // No digest: one lane, one mail per alert.
        let lanes = build(&email(r#","digest_minutes":0"#), &Origin::new("h")).unwrap();
        assert_eq!(lanes.len(), 1);
        assert_eq!((lanes[0].suffix, lanes[0].filter), ("", LaneFilter::All));
        assert_eq!(lanes[0].transport.batching().max_items, 1);
    }

    #[test]
    fn email_build_errors_name_the_key() {
        let e = build(
            &email(
                r#","username":"sw","password":{"env":"SECRETWATCH_TEST_UNSET_SMTP_PASSWORD_4711"}"#,
            ),
            &Origin::new("h"),
        )
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "output.password: environment variable SECRETWATCH_TEST_UNSET_SMTP_PASSWORD_4711 is not set (or not UTF-8)"
        );
        let e = build(
            &email(r#","ca_file":"/nonexistent/smtp-ca.pem""#),
            &Origin::new("h"),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.starts_with("output.ca_file: cannot read /nonexistent/smtp-ca.pem"),
            "{e}"
        );
    }
}
