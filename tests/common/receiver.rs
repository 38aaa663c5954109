//! A real HTTP/1.1 server on loopback that records every request it is sent (method, path,
//! headers, body) and answers with a chosen status: the other side of webhook-style sinks.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

pub struct Receiver {
    pub addr: String,
    requests: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
}

impl Receiver {
    /// Listen on `addr` (`127.0.0.1:0` for any port).
    pub fn start(addr: &str) -> Receiver {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (r, s, d) = (requests.clone(), status.clone(), delay_ms.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (r, s, d) = (r.clone(), s.clone(), d.clone());
                std::thread::spawn(move || serve(conn, &r, &s, &d));
            }
        });
        Receiver {
            addr,
            requests,
            status,
            delay_ms,
        }
    }

    /// Answer each request only after this long (a slow destination).
    pub fn set_delay(&self, d: std::time::Duration) {
        self.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, out: &Mutex<Vec<Request>>, status: &AtomicU16, delay: &AtomicU64) {
    let _ = conn.set_nodelay(true);
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let pause = delay.load(Ordering::SeqCst);
        if pause > 0 {
            std::thread::sleep(std::time::Duration::from_millis(pause));
        }
        let code = status.load(Ordering::SeqCst);
        if (200..300).contains(&code) {
            out.lock().unwrap().push(Request {
                method,
                path,
                headers,
                body,
            });
        }
        let answer = if (200..300).contains(&code) {
            "{}"
        } else {
            "{\"error\":\"refused by the test receiver\"}"
        };
        // One write (no Nagle/delayed-ACK stall between header and body).
        let response = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        let _ = w.write_all(response.as_bytes());
        let _ = w.flush();
    }
}
