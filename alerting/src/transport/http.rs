//! HTTP destinations: generic webhook, Slack, PagerDuty Events v2, Splunk HEC, Elasticsearch
//! `_bulk` and OCSF over HTTP. One [`reqwest`] client per lane (connection reuse, TLS through
//! the system's OpenSSL), one POST per attempt.
//!
//! The events lane of a Splunk, Elasticsearch or OCSF sink ([`HttpTransport::for_events`])
//! posts batches of forwarded access events, already encoded when they were queued: HEC
//! envelopes one per line, `_bulk` `create` actions into `events_index`, or a JSON array of
//! OCSF API Activity records; with the same credentials and answers as the alert lane.

use std::time::Duration;

use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};

use crate::config::Origin;
use crate::forward::ForwardedEvent;
use crate::notification::Notification;
use crate::queue::{parse_retry_after, ItemStatus, TransportResult};
use crate::secret::Secret;
use crate::transport::{Batching, BoxFuture, Transport};
use crate::{elastic, ocsf, pagerduty, slack, splunk, webhook};

/// What one HTTP sink sends.
pub enum Api {
    Webhook {
        secret: Option<Secret>,
        headers: Vec<(String, Secret)>,
        /// `body_template`: the body and its content type; `None`: the alert JSON.
        template: Option<webhook::BodyTemplate>,
    },
    Slack,
    PagerDuty {
        routing_key: Secret,
        source: Option<String>,
    },
    Splunk {
        token: Secret,
        source: String,
        index: Option<String>,
        host: Option<String>,
    },
    Elastic {
        index: String,
        /// Index or data stream of forwarded events.
        events_index: String,
        auth: ElasticAuth,
    },
    Ocsf {
        token: Option<Secret>,
    },
}

pub enum ElasticAuth {
    None,
    ApiKey(Secret),
    Basic { username: String, password: Secret },
}

pub struct HttpTransport {
    client: reqwest::Client,
    /// The URL to POST to; for Slack this is itself a credential.
    url: Secret,
    /// Scheme, host and port only, for logs.
    endpoint: String,
    api: Api,
    origin: Origin,
    /// An events lane: larger batches of forwarded events.
    events: bool,
}

/// Build errors (a bad URL, a client that cannot be made).
#[derive(Debug, thiserror::Error)]
pub enum HttpBuildError {
    #[error("{0}")]
    Client(String),
}

/// The scheme and authority of `url`, never its path or query (a Slack URL path is a token).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(p) => format!("{}://{host}:{p}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            }
        }
        Err(_) => "<invalid url>".to_string(),
    }
}

impl HttpTransport {
    pub fn new(
        url: Secret,
        api: Api,
        origin: Origin,
        timeout: Duration,
    ) -> Result<HttpTransport, HttpBuildError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(origin.user_agent())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| HttpBuildError::Client(e.to_string()))?;
        let endpoint = redact_url(url.expose());
        let endpoint = match &api {
            Api::Elastic { .. } => format!("{endpoint}/_bulk"),
            _ => endpoint,
        };
        Ok(HttpTransport {
            client,
            url,
            endpoint,
            api,
            origin,
            events: false,
        })
    }

    /// The same destination as an events lane ([`Transport::send_events`]).
    pub fn for_events(mut self) -> HttpTransport {
        self.events = true;
        self
    }

    fn post_url(&self) -> String {
        match &self.api {
            Api::Elastic { .. } => format!("{}/_bulk", self.url.expose().trim_end_matches('/')),
            _ => self.url.expose().to_string(),
        }
    }

    /// The content type and credential headers of Splunk, Elasticsearch and OCSF requests.
    fn collector_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        match &self.api {
            Api::Splunk { token, .. } => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(
                    "authorization",
                    sensitive(&format!("Splunk {}", token.expose())),
                );
            }
            Api::Elastic { auth, .. } => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-ndjson"),
                );
                match auth {
                    ElasticAuth::None => {}
                    ElasticAuth::ApiKey(k) => {
                        headers.insert(
                            "authorization",
                            sensitive(&format!("ApiKey {}", k.expose())),
                        );
                    }
                    ElasticAuth::Basic { username, password } => {
                        let raw = format!("{username}:{}", password.expose());
                        headers.insert(
                            "authorization",
                            sensitive(&format!("Basic {}", base64(raw.as_bytes()))),
                        );
                    }
                }
            }
            Api::Ocsf { token } => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                if let Some(t) = token {
                    headers.insert(
                        "authorization",
                        sensitive(&format!("Bearer {}", t.expose())),
                    );
                }
            }
            Api::Webhook { .. } | Api::Slack | Api::PagerDuty { .. } => {}
        }
        headers
    }

    /// Body and headers of one attempt.
    fn encode(&self, batch: &[Notification]) -> (Vec<u8>, HeaderMap) {
        let mut headers = self.collector_headers();
        let json = HeaderValue::from_static("application/json");
        let body = match &self.api {
            Api::Webhook {
                secret,
                headers: extra,
                template,
            } => {
                let req = webhook::request_with(
                    &batch[0],
                    &self.origin,
                    template.as_ref(),
                    secret.as_ref(),
                    extra,
                    Utc::now().timestamp(),
                );
                for (k, v) in &req.headers {
                    if let (Ok(k), Ok(v)) = (
                        HeaderName::from_bytes(k.as_bytes()),
                        HeaderValue::from_str(v),
                    ) {
                        let mut v = v;
                        v.set_sensitive(true);
                        headers.insert(k, v);
                    }
                }
                req.body
            }
            Api::Slack => {
                headers.insert(CONTENT_TYPE, json);
                serde_json::to_vec(&slack::message(&batch[0], &self.origin))
                    .expect("a message serializes")
            }
            Api::PagerDuty {
                routing_key,
                source,
            } => {
                headers.insert(CONTENT_TYPE, json);
                pagerduty::body(&batch[0], &self.origin, routing_key, source.as_deref())
            }
            Api::Splunk {
                source,
                index,
                host,
                ..
            } => {
                let meta = splunk::HecMeta {
                    host: host.as_deref().unwrap_or(&self.origin.host),
                    source,
                    index: index.as_deref(),
                };
                splunk::batch(batch.iter().map(|n| splunk::alert_event(n, &meta)))
            }
            Api::Elastic { index, .. } => elastic::alert_bulk(index, batch, &self.origin),
            Api::Ocsf { .. } => {
                let findings: Vec<_> = batch
                    .iter()
                    .map(|n| ocsf::detection_finding(n, &self.origin))
                    .collect();
                serde_json::to_vec(&findings).expect("findings serialize")
            }
        };
        (body, headers)
    }

    /// Body and headers of one attempt of forwarded events; `None` for a destination that
    /// takes no events.
    fn encode_events(&self, batch: &[ForwardedEvent]) -> Option<(Vec<u8>, HeaderMap)> {
        let docs = batch.iter().map(|e| e.doc.get().as_bytes());
        let body = match &self.api {
            // HEC: the queued envelopes, one per line.
            Api::Splunk { .. } => splunk::batch(docs.map(<[u8]>::to_vec)),
            Api::Elastic { events_index, .. } => {
                let mut out = Vec::new();
                for e in batch {
                    elastic::bulk_create_raw(&mut out, events_index, &e.id, e.doc.get());
                }
                out
            }
            Api::Ocsf { .. } => {
                let mut out = Vec::with_capacity(2 + docs.len());
                out.push(b'[');
                for (i, d) in docs.enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(d);
                }
                out.push(b']');
                out
            }
            Api::Webhook { .. } | Api::Slack | Api::PagerDuty { .. } => return None,
        };
        Some((body, self.collector_headers()))
    }

    /// POST one body; `items`: the records it carries (for a `_bulk` answer).
    async fn post(&self, body: Vec<u8>, headers: HeaderMap, items: usize) -> TransportResult {
        let response = self
            .client
            .post(self.post_url())
            .headers(headers)
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return TransportResult::Timeout,
            Err(e) => {
                return TransportResult::Failed {
                    error: describe_error(&e),
                }
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) if e.is_timeout() => return TransportResult::Timeout,
            Err(e) => {
                return TransportResult::Failed {
                    error: describe_error(&e),
                }
            }
        };
        if let (Api::Elastic { .. }, 200) = (&self.api, status) {
            return match elastic::parse_bulk_response(&body, items) {
                Ok(items) => TransportResult::PerItem(
                    items
                        .into_iter()
                        .map(|i| ItemStatus {
                            status: i.status,
                            error: i.error,
                        })
                        .collect(),
                ),
                Err(e) => TransportResult::Failed {
                    error: format!("Elasticsearch answered 200 but {e}"),
                },
            };
        }
        TransportResult::Status {
            status,
            retry_after,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn attempt(&self, batch: &[Notification]) -> TransportResult {
        let (body, headers) = self.encode(batch);
        self.post(body, headers, batch.len()).await
    }

    async fn attempt_events(&self, batch: &[ForwardedEvent]) -> TransportResult {
        match self.encode_events(batch) {
            Some((body, headers)) => self.post(body, headers, batch.len()).await,
            None => TransportResult::Failed {
                error: format!("{} does not take access events", self.endpoint),
            },
        }
    }
}

fn sensitive(v: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    v.set_sensitive(true);
    v
}

/// A transport error without the URL's path and query (a Slack URL is a credential).
fn describe_error(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    if let Some(u) = e.url() {
        msg = msg.replace(u.as_str(), &redact_url(u.as_str()));
    }
    msg
}

/// Standard base64 (RFC 4648) for a Basic credential.
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

impl Transport for HttpTransport {
    fn send<'a>(&'a mut self, batch: &'a [Notification]) -> BoxFuture<'a, TransportResult> {
        Box::pin(self.attempt(batch))
    }

    fn send_events<'a>(
        &'a mut self,
        batch: &'a [ForwardedEvent],
    ) -> BoxFuture<'a, TransportResult> {
        Box::pin(self.attempt_events(batch))
    }

    fn batching(&self) -> Batching {
        if self.events {
            // HEC's default request limit is 1 MB; `_bulk` is best at a few MB.
            return match self.api {
                Api::Splunk { .. } => Batching::events(500, 1 << 20),
                Api::Elastic { .. } => Batching::events(1000, 5 << 20),
                _ => Batching::events(500, 4 << 20),
            };
        }
        let max_items = match self.api {
            Api::Splunk { .. } => 100,
            Api::Elastic { .. } => 500,
            Api::Ocsf { .. } => 100,
            _ => 1,
        };
        Batching {
            max_items,
            ..Batching::default()
        }
    }

    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }
}
