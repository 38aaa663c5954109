//! Real servers on loopback for the delivery tests: an HTTP server that records every request
//! and answers as a test script says, a TCP syslog listener, an SMTP receiver ([`smtp`]) and a
//! Kafka broker ([`kafka`]); and access events with planted canaries ([`events`]).

#![allow(dead_code)]

pub mod events;
pub mod kafka;
pub mod mime;
pub mod smtp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{TimeZone, Utc};
use secretwatch_detect::{Alert, Severity};
use secretwatch_ingest::SourceSystem;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// `(status, extra headers, body)` for the n-th request (0-based).
pub type Responder =
    Arc<dyn Fn(&Recorded, usize) -> (u16, Vec<(String, String)>, String) + Send + Sync>;

pub struct HttpRecorder {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpRecorder {
    pub async fn start(responder: Responder) -> HttpRecorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        HttpRecorder::serve(listener, responder)
    }

    /// On a given address (a server that comes up where a sink was failing to connect).
    pub async fn start_at(addr: SocketAddr, responder: Responder) -> HttpRecorder {
        let listener = TcpListener::bind(addr).await.unwrap();
        HttpRecorder::serve(listener, responder)
    }

    fn serve(listener: TcpListener, responder: Responder) -> HttpRecorder {
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let reqs = Arc::clone(&requests);
        let handler = move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let reqs = Arc::clone(&reqs);
            let responder = Arc::clone(&responder);
            async move {
                let rec = Recorded {
                    path: uri.path().to_string(),
                    headers: headers
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                        })
                        .collect(),
                    body: body.to_vec(),
                };
                let n = {
                    let mut r = reqs.lock().unwrap();
                    r.push(rec.clone());
                    r.len() - 1
                };
                let (status, extra, body) = responder(&rec, n);
                let mut resp: Response =
                    (StatusCode::from_u16(status).unwrap(), body).into_response();
                for (k, v) in extra {
                    resp.headers_mut().insert(
                        axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        v.parse().unwrap(),
                    );
                }
                resp
            }
        };
        let app = axum::Router::new().fallback(handler);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        HttpRecorder {
            addr,
            requests,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn take(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

pub fn ok() -> Responder {
    Arc::new(|_, _| (200, vec![], "{}".to_string()))
}

/// A loopback port that nothing listens on (bound, then released).
pub async fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// Wait until `cond` holds, up to `secs` seconds.
pub async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

pub fn alert(n: u32, severity: Severity) -> Alert {
    let t =
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap() + chrono::Duration::seconds(n as i64);
    Alert {
        id: secretwatch_detect::alert_id("bulk-secret-reads", &format!("p{n}"), t),
        rule: "bulk-secret-reads".into(),
        severity,
        title: "Bulk secret reads".into(),
        principal: format!("system:serviceaccount:ci:deployer-{n}"),
        source: SourceSystem::Kubernetes,
        event_ids: vec![format!("e-{n}")],
        first_seen: t,
        last_seen: t,
        reason: format!("read {} distinct secrets in 5 min; a=b | c\nnext", 20 + n),
        targets: vec!["prod/secrets/db".into()],
        source_ips: vec!["10.1.2.3".into()],
        tags: vec!["attack.credential-access".into(), "attack.t1552.007".into()],
        break_glass: false,
    }
}

/// A TCP syslog listener: every connection's bytes, split as RFC 6587 octet-counted frames.
pub struct SyslogListener {
    pub addr: SocketAddr,
    pub messages: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
    readers: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl SyslogListener {
    pub async fn start_at(addr: Option<SocketAddr>) -> SyslogListener {
        Self::listen(addr, None).await
    }

    /// The same over TLS (RFC 5425) with `cert`/`key` (PEM, PKCS#8 key).
    pub async fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> SyslogListener {
        let identity = native_tls::Identity::from_pkcs8(
            &std::fs::read(cert).unwrap(),
            &std::fs::read(key).unwrap(),
        )
        .unwrap();
        let acceptor =
            tokio_native_tls::TlsAcceptor::from(native_tls::TlsAcceptor::new(identity).unwrap());
        Self::listen(None, Some(acceptor)).await
    }

    async fn listen(
        addr: Option<SocketAddr>,
        tls: Option<tokio_native_tls::TlsAcceptor>,
    ) -> SyslogListener {
        let listener = TcpListener::bind(addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let messages: Arc<Mutex<Vec<String>>> = Arc::default();
        let msgs = Arc::clone(&messages);
        let readers: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let r = Arc::clone(&readers);
        let task = tokio::spawn(async move {
            loop {
                let (sock, _) = listener.accept().await.unwrap();
                let (tls, msgs) = (tls.clone(), Arc::clone(&msgs));
                let h = tokio::spawn(async move {
                    match tls {
                        None => read_frames(sock, msgs).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(sock).await {
                                read_frames(stream, msgs).await;
                            }
                        }
                    }
                });
                r.lock().unwrap().push(h.abort_handle());
            }
        });
        SyslogListener {
            addr,
            messages,
            task,
            readers,
        }
    }

    pub fn take(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// Stop accepting and close every accepted connection (a receiver restart).
    pub fn stop(self) {
        self.task.abort();
        for r in self.readers.lock().unwrap().iter() {
            r.abort();
        }
    }
}

async fn read_frames(mut sock: impl tokio::io::AsyncRead + Unpin, out: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(sp) = buf.iter().position(|b| *b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..sp])
                .unwrap()
                .parse()
                .expect("octet count");
            if buf.len() < sp + 1 + len {
                break;
            }
            let msg = String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap();
            buf.drain(..sp + 1 + len);
            out.lock().unwrap().push(msg);
        }
    }
}

/// A sink config from JSON, validated as the service validates it.
pub fn sink(v: serde_json::Value) -> secretwatch_alerting::SinkConfig {
    let cfg: secretwatch_alerting::SinkConfig = serde_json::from_value(v).expect("sink config");
    let errors = secretwatch_alerting::validate_sinks(std::slice::from_ref(&cfg), "alerting.sinks");
    assert!(errors.is_empty(), "{errors:?}");
    cfg
}

/// The hub over `sinks` with queues under `dir`, senders started.
pub fn open(
    sinks: &[secretwatch_alerting::SinkConfig],
    dir: &std::path::Path,
) -> secretwatch_alerting::Alerting {
    let origin = secretwatch_alerting::Origin::new("sw-test").with_dashboard("https://sw.example");
    let (hub, transports) =
        secretwatch_alerting::Alerting::open(sinks, dir, &origin, Box::new(|_, _| None))
            .expect("open");
    hub.start(transports);
    hub
}

/// The status of lane `name`.
pub fn lane(hub: &secretwatch_alerting::Alerting, name: &str) -> secretwatch_alerting::LaneStatus {
    hub.status()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no lane {name} in {:?}", hub.status()))
}
