//! Sending the mails through an SMTP relay with lettre (`AsyncSmtpTransport` on tokio, TLS
//! through the system's OpenSSL), and what the relay's answers mean for delivery.
//!
//! An e-mail sink has two lanes that share one [`SmtpClient`] (one connection pool): the
//! per-alert lane sends one mail per notification, the digest lane one mail per batch.
//!
//! Outcomes, as [`TransportResult`]s that [`crate::Delivery`] classifies:
//! - accepted (2xx after the message): `Delivered`;
//! - connection refused or reset, TLS failure, a garbled answer: `Failed` (retry);
//!   no answer in time: `Timeout` (retry);
//! - a 4xx reply (greylisting, a full mailbox, a busy relay): `Failed` (retry);
//! - the relay refuses *us* (530/534/535/538 authentication and encryption replies, 500-504
//!   command errors, enhanced codes 5.7.8/5.7.9/5.7.11/5.7.13/5.7.14 and 5.1.7/5.1.8 about the
//!   sender), or lettre cannot even start (no common AUTH mechanism, no STARTTLS offered):
//!   HTTP-like status 401, so the lane is `blocked`, alerts stay queued and are retried until
//!   an operator fixes the config;
//! - any other 5xx reply (e.g. `550 5.1.1` unknown recipient, `554` message refused): status
//!   422 with the reply text, so the mail's alerts are dead-lettered (a digest is first split
//!   to find the one the relay refuses).
//!
//! lettre sends every recipient of a mail in one transaction: one refused recipient refuses
//! the whole mail. Its errors never contain the credentials; neither do ours.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncTransport, Message, Tokio1Executor};

use crate::config::Origin;
use crate::email::config::{parse_mailbox, EmailConfig, TlsMode};
use crate::email::encode::{alert_mail, digest_mail, Addressing};
use crate::notification::Notification;
use crate::queue::{ItemStatus, TransportResult};
use crate::secret::Secret;
use crate::transport::{Batching, BoxFuture, Transport};

/// Most alerts in one digest mail.
pub const DIGEST_MAX_ITEMS: usize = 500;

/// Status given to a reply that means the relay refuses this sink's settings (blocked).
pub const STATUS_REFUSES_US: u16 = 401;
/// Status given to a permanent refusal of one mail (dead-lettered).
pub const STATUS_MAIL_REFUSED: u16 = 422;

/// Why the SMTP client could not be made; names the key, never a credential.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct EmailBuildError {
    pub key: &'static str,
    pub reason: String,
}

/// The relay connection settings and addressing of one sink, shared by its lanes.
///
/// The lettre transport (and its connection pool) is made on first use, on the sender's
/// runtime: its pool spawns a cleanup task there, and [`crate::Alerting::open`] may run
/// outside any runtime. Settings are checked and the CA file read when the client is made.
#[derive(Clone)]
pub struct SmtpClient {
    builder: AsyncSmtpTransportBuilder,
    smtp: Arc<OnceLock<AsyncSmtpTransport<Tokio1Executor>>>,
    addressing: Addressing,
    endpoint: String,
    /// Longest time one mail may take, all commands included.
    deadline: Duration,
}

impl SmtpClient {
    /// `timeout`: the longest wait for the relay's answer to one command.
    pub fn new(
        cfg: &EmailConfig,
        password: Option<Secret>,
        timeout: Duration,
    ) -> Result<SmtpClient, EmailBuildError> {
        let err = |key, reason: String| EmailBuildError { key, reason };
        let from = parse_mailbox(&cfg.from).map_err(|e| err("from", e))?;
        let to = cfg
            .to
            .iter()
            .map(|t| parse_mailbox(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err("to", e))?;
        if to.is_empty() {
            return Err(err("to", "list at least one recipient".into()));
        }
        let tls = match cfg.tls {
            TlsMode::None => Tls::None,
            mode => {
                let mut b = TlsParameters::builder(cfg.host.clone());
                if let Some(path) = &cfg.ca_file {
                    let shown = path.display();
                    let pem = std::fs::read(path)
                        .map_err(|e| err("ca_file", format!("cannot read {shown}: {e}")))?;
                    let cert = Certificate::from_pem(&pem).map_err(|e| {
                        err("ca_file", format!("{shown} is not a PEM certificate: {e}"))
                    })?;
                    b = b.add_root_certificate(cert);
                }
                let params = b
                    .build_native()
                    .map_err(|e| err("tls", format!("cannot set up TLS: {e}")))?;
                match mode {
                    TlsMode::Tls => Tls::Wrapper(params),
                    _ => Tls::Required(params),
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port())
            .tls(tls)
            .timeout(Some(timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(2)
                    .idle_timeout(Duration::from_secs(60)),
            );
        match (&cfg.username, password) {
            (Some(user), Some(pw)) => {
                builder = builder.credentials(Credentials::new(user.clone(), pw.expose().into()));
            }
            (None, None) => {}
            _ => return Err(err("password", "username and password go together".into())),
        }
        Ok(SmtpClient {
            builder,
            smtp: Arc::new(OnceLock::new()),
            addressing: Addressing {
                from,
                to,
                subject_prefix: cfg.subject_prefix.clone(),
            },
            endpoint: cfg.endpoint(),
            deadline: timeout * 6,
        })
    }

    /// Sender and recipients of this sink.
    pub fn addressing(&self) -> &Addressing {
        &self.addressing
    }

    /// The same relay and sender, other recipients (scheduled reports).
    pub fn with_recipients(&self, to: &[String]) -> Result<SmtpClient, EmailBuildError> {
        let to = to
            .iter()
            .map(|t| parse_mailbox(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| EmailBuildError { key: "to", reason })?;
        let mut c = self.clone();
        if !to.is_empty() {
            c.addressing.to = to;
        }
        Ok(c)
    }

    /// Send one mail now (no queue): delivered, or the relay's answer.
    pub async fn send_now(&self, mail: Message) -> TransportResult {
        self.send(mail).await
    }

    fn smtp(&self) -> &AsyncSmtpTransport<Tokio1Executor> {
        self.smtp.get_or_init(|| self.builder.clone().build())
    }

    async fn send(&self, mail: Message) -> TransportResult {
        match tokio::time::timeout(self.deadline, self.smtp().send(mail)).await {
            Err(_) => TransportResult::Timeout,
            Ok(Ok(_)) => TransportResult::Delivered,
            Ok(Err(e)) => outcome(&e),
        }
    }
}

/// The relay's answer to one failed mail, for [`crate::Delivery`].
pub fn outcome(e: &lettre::transport::smtp::Error) -> TransportResult {
    if e.is_timeout() {
        return TransportResult::Timeout;
    }
    if let Some(code) = e.status() {
        let code: u16 = code.to_string().parse().unwrap_or(0);
        let text = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_default();
        return reply_outcome(code, &text);
    }
    let error = chain(e);
    if e.is_client() {
        // lettre stopped before sending: no AUTH mechanism in common, no STARTTLS offered,
        // non-ASCII addresses without SMTPUTF8. The settings must change.
        return TransportResult::Status {
            status: STATUS_REFUSES_US,
            retry_after: None,
            body: format!("SMTP: {error}"),
        };
    }
    TransportResult::Failed {
        error: format!("SMTP: {error}"),
    }
}

/// A negative SMTP reply (`code` and its text) as a delivery outcome.
pub fn reply_outcome(code: u16, text: &str) -> TransportResult {
    let reply = format!("SMTP {code} {}", text.trim());
    if refuses_us(code, text) {
        TransportResult::Status {
            status: STATUS_REFUSES_US,
            retry_after: None,
            body: format!(
                "{reply} (the relay refuses this sink: check output.username, output.password, output.from and output.tls)"
            ),
        }
    } else if (500..600).contains(&code) {
        TransportResult::Status {
            status: STATUS_MAIL_REFUSED,
            retry_after: None,
            body: reply,
        }
    } else {
        TransportResult::Failed { error: reply }
    }
}

/// Replies about the sink's credentials, sender or encryption rather than one mail.
fn refuses_us(code: u16, text: &str) -> bool {
    const ENHANCED: [&str; 7] = [
        "5.7.8", "5.7.9", "5.7.11", "5.7.13", "5.7.14", "5.1.7", "5.1.8",
    ];
    let enhanced = text.split_whitespace().next().unwrap_or("");
    matches!(code, 500..=504 | 530 | 534 | 535 | 538) || ENHANCED.contains(&enhanced)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

/// One lane of an e-mail sink.
pub struct EmailTransport {
    client: SmtpClient,
    origin: Origin,
    /// `Some(linger)`: one digest mail per batch.
    digest: Option<Duration>,
}

impl EmailTransport {
    /// One mail per alert, as soon as it is queued.
    pub fn per_alert(client: SmtpClient, origin: Origin) -> EmailTransport {
        EmailTransport {
            client,
            origin,
            digest: None,
        }
    }

    /// One digest mail of what was queued within `every`.
    pub fn digest(client: SmtpClient, origin: Origin, every: Duration) -> EmailTransport {
        EmailTransport {
            client,
            origin,
            digest: Some(every),
        }
    }

    async fn attempt(&self, batch: &[Notification]) -> TransportResult {
        let now = Utc::now();
        let addr = &self.client.addressing;
        if self.digest.is_some() {
            return match digest_mail(batch, addr, &self.origin, now) {
                Ok(m) => self.client.send(m).await,
                Err(e) => refused_mail(e.to_string()),
            };
        }
        if let [n] = batch {
            return match alert_mail(n, addr, &self.origin, now) {
                Ok(m) => self.client.send(m).await,
                Err(e) => refused_mail(e.to_string()),
            };
        }
        // The sender hands this lane one notification at a time; should it hand more, each
        // gets its own mail and its own answer.
        let mut items = Vec::with_capacity(batch.len());
        for n in batch {
            let r = match alert_mail(n, addr, &self.origin, now) {
                Ok(m) => self.client.send(m).await,
                Err(e) => refused_mail(e.to_string()),
            };
            items.push(item_status(r));
        }
        TransportResult::PerItem(items)
    }
}

fn refused_mail(body: String) -> TransportResult {
    TransportResult::Status {
        status: STATUS_MAIL_REFUSED,
        retry_after: None,
        body,
    }
}

fn item_status(r: TransportResult) -> ItemStatus {
    match r {
        TransportResult::Delivered => ItemStatus {
            status: 200,
            error: None,
        },
        TransportResult::Status { status, body, .. } => ItemStatus {
            status,
            error: Some(body),
        },
        TransportResult::Failed { error } => ItemStatus {
            status: 503,
            error: Some(error),
        },
        TransportResult::Timeout => ItemStatus {
            status: 504,
            error: Some("timeout".into()),
        },
        TransportResult::PerItem(_) => ItemStatus {
            status: 500,
            error: Some("nested per-item result".into()),
        },
    }
}

impl Transport for EmailTransport {
    fn send<'a>(&'a mut self, batch: &'a [Notification]) -> BoxFuture<'a, TransportResult> {
        Box::pin(self.attempt(batch))
    }

    fn batching(&self) -> Batching {
        match self.digest {
            None => Batching::default(),
            Some(linger) => Batching {
                max_items: DIGEST_MAX_ITEMS,
                linger,
                ..Batching::default()
            },
        }
    }

    fn endpoint(&self) -> String {
        self.client.endpoint.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{classify_status, Class};

    fn class(r: &TransportResult) -> &'static str {
        match r {
            TransportResult::Status { status, .. } => match classify_status(*status) {
                Class::Success => "delivered",
                Class::Retry => "retry",
                Class::Blocked => "blocked",
                Class::Reject => "dead-letter",
            },
            TransportResult::Failed { .. } | TransportResult::Timeout => "retry",
            TransportResult::Delivered => "delivered",
            TransportResult::PerItem(_) => "per-item",
        }
    }

    #[test]
    fn smtp_replies_map_to_delivery_classes() {
        for (code, text, want) in [
            (421, "4.3.2 Service shutting down", "retry"),
            (450, "4.2.1 Mailbox busy", "retry"),
            (451, "4.7.1 Greylisted, try again later", "retry"),
            (452, "4.3.1 Insufficient system storage", "retry"),
            (535, "5.7.8 Authentication credentials invalid", "blocked"),
            (530, "5.7.0 Authentication required", "blocked"),
            (538, "5.7.11 Encryption required", "blocked"),
            (504, "5.5.4 Unrecognized authentication type", "blocked"),
            (553, "5.1.7 Bad sender address syntax", "blocked"),
            (550, "5.7.13 User account disabled", "blocked"),
            (
                550,
                "5.1.1 <soc@example.com>: Recipient address rejected",
                "dead-letter",
            ),
            (552, "5.3.4 Message too big", "dead-letter"),
            (554, "5.7.1 Message rejected as spam", "dead-letter"),
        ] {
            let r = reply_outcome(code, text);
            assert_eq!(class(&r), want, "{code} {text}: {r:?}");
            let shown = match &r {
                TransportResult::Status { body, .. } => body.clone(),
                TransportResult::Failed { error } => error.clone(),
                other => panic!("{other:?}"),
            };
            assert!(
                shown.starts_with(&format!("SMTP {code} {text}")),
                "the reply is kept: {shown}"
            );
        }
        match reply_outcome(550, "5.1.1 <soc@example.com>: Recipient address rejected") {
            TransportResult::Status { status, body, .. } => {
                assert_eq!(status, STATUS_MAIL_REFUSED);
                assert_eq!(
                    body,
                    "SMTP 550 5.1.1 <soc@example.com>: Recipient address rejected"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn per_item_statuses_keep_their_class() {
        assert_eq!(item_status(TransportResult::Delivered).status, 200);
        let s = item_status(reply_outcome(550, "5.1.1 no such user"));
        assert_eq!(classify_status(s.status), Class::Reject);
        let s = item_status(reply_outcome(451, "4.7.1 later"));
        assert_eq!(classify_status(s.status), Class::Retry);
        let s = item_status(reply_outcome(535, "5.7.8 bad credentials"));
        assert_eq!(classify_status(s.status), Class::Blocked);
        assert_eq!(
            classify_status(item_status(TransportResult::Timeout).status),
            Class::Retry
        );
    }

    fn config(json: &str) -> EmailConfig {
        serde_json::from_str(json).unwrap()
    }

    #[tokio::test]
    async fn lanes_batch_as_configured_and_show_no_credential() {
        let c = config(
            r#"{"host":"127.0.0.1","port":2525,"username":"sw","password":"hunter2-smtp",
                "from":"sw@example.com","to":["soc@example.com"],"digest_seconds":90}"#,
        );
        let client = SmtpClient::new(
            &c,
            Some(Secret::new("hunter2-smtp")),
            Duration::from_secs(5),
        )
        .unwrap();
        let one = EmailTransport::per_alert(client.clone(), Origin::new("h"));
        let digest = EmailTransport::digest(client, Origin::new("h"), c.digest_interval());
        assert_eq!(one.batching(), Batching::default());
        assert_eq!(one.batching().max_items, 1);
        let b = digest.batching();
        assert_eq!((b.max_items, b.linger), (500, Duration::from_secs(90)));
        assert_eq!(one.endpoint(), "smtp://127.0.0.1:2525 (starttls)");
        let shown = format!("{:?} {:?}", one.client.builder, one.client.smtp());
        assert!(!shown.contains("hunter2"), "{shown}");

        let c = config(
            r#"{"host":"h","tls":"tls","from":"sw@example.com","to":["soc@example.com"],"ca_file":"/nonexistent/ca.pem"}"#,
        );
        let e = SmtpClient::new(&c, None, Duration::from_secs(5))
            .err()
            .unwrap();
        assert_eq!(e.key, "ca_file");
        assert!(e.reason.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[tokio::test]
    async fn a_closed_port_is_a_retry_without_the_password() {
        // Bound, then released: nothing listens there.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = config(&format!(
            r#"{{"host":"127.0.0.1","port":{port},"tls":"tls","username":"sw","password":"x",
                "from":"sw@example.com","to":["soc@example.com"]}}"#
        ));
        let client = SmtpClient::new(
            &c,
            Some(Secret::new("hunter2-smtp")),
            Duration::from_secs(5),
        )
        .unwrap();
        let mut t = EmailTransport::per_alert(client, Origin::new("h"));
        let batch = [crate::notification::fixtures::notification()];
        let r = t.send(&batch).await;
        match &r {
            TransportResult::Failed { error } => {
                assert!(error.starts_with("SMTP: "), "{error}");
                assert!(!error.contains("hunter2"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }
}
