//! Syslog over TCP (RFC 6587 framing) and TLS (RFC 5425), and OCSF appended to a file.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Origin;
use crate::forward::ForwardedEvent;
use crate::notification::Notification;
use crate::queue::TransportResult;
use crate::syslog::{self, SyslogConfig};
use crate::transport::{Batching, BoxFuture, Transport};

trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

/// One long-lived connection, opened on the first attempt and again after any error.
pub struct SyslogTransport {
    cfg: SyslogConfig,
    origin: Origin,
    tls: Option<tokio_native_tls::TlsConnector>,
    conn: Option<Box<dyn Stream>>,
    /// Plain TCP only: kept to notice a connection the receiver has closed before writing.
    plain: bool,
    timeout: Duration,
    /// An events lane: larger batches that wait a little.
    events: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SyslogBuildError {
    #[error("ca_file {path}: {reason}")]
    Ca { path: PathBuf, reason: String },
    #[error("TLS: {0}")]
    Tls(String),
}

impl SyslogTransport {
    pub fn new(
        cfg: SyslogConfig,
        origin: Origin,
        timeout: Duration,
    ) -> Result<SyslogTransport, SyslogBuildError> {
        let tls = if cfg.tls {
            let mut b = native_tls::TlsConnector::builder();
            if let Some(path) = &cfg.ca_file {
                let pem = std::fs::read(path).map_err(|e| SyslogBuildError::Ca {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                let cert =
                    native_tls::Certificate::from_pem(&pem).map_err(|e| SyslogBuildError::Ca {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                b.add_root_certificate(cert);
            }
            let c = b
                .build()
                .map_err(|e| SyslogBuildError::Tls(e.to_string()))?;
            Some(tokio_native_tls::TlsConnector::from(c))
        } else {
            None
        };
        Ok(SyslogTransport {
            plain: !cfg.tls,
            cfg,
            origin,
            tls,
            conn: None,
            timeout,
            events: false,
        })
    }

    /// The same destination as an events lane ([`Transport::send_events`]).
    pub fn for_events(mut self) -> SyslogTransport {
        self.events = true;
        self
    }

    async fn connect(&self) -> Result<Box<dyn Stream>, String> {
        let tcp = TcpStream::connect(&self.cfg.address)
            .await
            .map_err(|e| format!("connect {}: {e}", self.cfg.address))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(tls) => {
                let host = self
                    .cfg
                    .address
                    .rsplit_once(':')
                    .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
                    .unwrap_or(&self.cfg.address);
                let s = tls
                    .connect(host, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {}: {e}", self.cfg.address))?;
                Ok(Box::new(s))
            }
        }
    }

    async fn attempt(&mut self, batch: &[Notification]) -> TransportResult {
        let mut out = Vec::new();
        for n in batch {
            let line = syslog::alert_line(
                n,
                &self.origin,
                self.cfg.facility,
                self.cfg.hostname.as_deref(),
            );
            out.extend_from_slice(&syslog::frame(&line, self.cfg.framing));
        }
        self.write_frames(out).await
    }

    /// Forwarded events: each queued record is its RFC 5424 line (a JSON string).
    async fn attempt_events(&mut self, batch: &[ForwardedEvent]) -> TransportResult {
        let mut out = Vec::new();
        for ev in batch {
            match serde_json::from_str::<String>(ev.doc.get()) {
                Ok(line) => out.extend_from_slice(&syslog::frame(&line, self.cfg.framing)),
                Err(e) => {
                    return TransportResult::Status {
                        status: 422,
                        retry_after: None,
                        body: format!("queued record {} is not a syslog line: {e}", ev.id),
                    }
                }
            }
        }
        self.write_frames(out).await
    }

    async fn write_frames(&mut self, out: Vec<u8>) -> TransportResult {
        if self.conn.is_some() && self.plain && self.peer_closed() {
            self.conn = None;
        }
        let conn = match self.conn.take() {
            Some(c) => c,
            None => match tokio::time::timeout(self.timeout, self.connect()).await {
                Err(_) => return TransportResult::Timeout,
                Ok(Err(error)) => return TransportResult::Failed { error },
                Ok(Ok(c)) => c,
            },
        };
        let mut conn = conn;
        let write = async {
            conn.write_all(&out).await?;
            conn.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Err(_) => TransportResult::Timeout,
            Ok(Err(e)) => TransportResult::Failed {
                error: format!("write to {}: {e}", self.cfg.address),
            },
            Ok(Ok(())) => {
                self.conn = Some(conn);
                TransportResult::Delivered
            }
        }
    }

    /// A plain TCP receiver that closed (restart, idle timeout) would swallow the next write
    /// silently: check for end-of-stream first. A receiver never sends us data.
    fn peer_closed(&mut self) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return true;
        };
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut buf = [0u8; 64];
        let mut rb = tokio::io::ReadBuf::new(&mut buf);
        match std::pin::Pin::new(conn.as_mut()).poll_read(&mut cx, &mut rb) {
            std::task::Poll::Ready(Ok(())) => rb.filled().is_empty(),
            std::task::Poll::Ready(Err(_)) => true,
            std::task::Poll::Pending => false,
        }
    }
}

impl Transport for SyslogTransport {
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
            return Batching::events(500, 4 << 20);
        }
        Batching {
            max_items: 100,
            ..Batching::default()
        }
    }

    fn endpoint(&self) -> String {
        format!(
            "{}://{}",
            if self.cfg.tls { "syslog+tls" } else { "syslog" },
            self.cfg.address
        )
    }
}

/// OCSF Detection Findings appended to a file, one JSON object per line, synced per batch.
///
/// With `forward_events`, the sink's events lane appends API Activity records to the same
/// file. Each batch is one `write` to a file opened with `O_APPEND`, which the kernel places
/// whole at the end, so the two lanes' lines never interleave.
pub struct OcsfFileTransport {
    path: PathBuf,
    origin: Origin,
    events: bool,
}

impl OcsfFileTransport {
    pub fn new(path: PathBuf, origin: Origin) -> OcsfFileTransport {
        OcsfFileTransport {
            path,
            origin,
            events: false,
        }
    }

    /// The same file as an events lane ([`Transport::send_events`]).
    pub fn for_events(mut self) -> OcsfFileTransport {
        self.events = true;
        self
    }

    fn write(&self, batch: &[Notification]) -> std::io::Result<()> {
        let mut out = Vec::new();
        for n in batch {
            serde_json::to_writer(&mut out, &crate::ocsf::detection_finding(n, &self.origin))?;
            out.push(b'\n');
        }
        self.append(&out)
    }

    fn append(&self, out: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(out)?;
        f.sync_data()
    }

    fn result(&self, r: std::io::Result<()>) -> TransportResult {
        match r {
            Ok(()) => TransportResult::Delivered,
            Err(e) => TransportResult::Failed {
                error: format!("{}: {e}", self.path.display()),
            },
        }
    }
}

impl Transport for OcsfFileTransport {
    fn send<'a>(&'a mut self, batch: &'a [Notification]) -> BoxFuture<'a, TransportResult> {
        let result = self.result(self.write(batch));
        Box::pin(std::future::ready(result))
    }

    fn send_events<'a>(
        &'a mut self,
        batch: &'a [ForwardedEvent],
    ) -> BoxFuture<'a, TransportResult> {
        let mut out = Vec::new();
        for e in batch {
            out.extend_from_slice(e.doc.get().as_bytes());
            out.push(b'\n');
        }
        let result = self.result(self.append(&out));
        Box::pin(std::future::ready(result))
    }

    fn batching(&self) -> Batching {
        if self.events {
            return Batching::events(1000, 4 << 20);
        }
        Batching {
            max_items: 500,
            ..Batching::default()
        }
    }

    fn endpoint(&self) -> String {
        format!("file://{}", self.path.display())
    }
}
