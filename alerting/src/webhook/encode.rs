//! Body and signature of the generic webhook.
//!
//! Body: the alert's fields (as `scan` prints them) plus `"kind": "secretwatch.alert"`,
//! `"version": 1`, `"suppressed"` when the throttle held alerts back, and `"url"` (the alert
//! in the dashboard) when a dashboard URL is configured. Keys are sorted; the same
//! notification always gives the same bytes.
//!
//! Signature (decision): the signed payload includes a timestamp, so a captured request cannot
//! be replayed later. The sender sets
//!
//! ```text
//! X-Secretwatch-Timestamp: <unix seconds at send time>
//! X-Secretwatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
//! ```
//!
//! and a receiver recomputes the HMAC over the raw body bytes, compares in constant time and
//! rejects timestamps older than its tolerance (5 minutes is usual), as [`verify`] does. Each
//! retry is signed again with its own timestamp; the body does not change, and
//! `X-Secretwatch-Alert-Id` lets the receiver drop a redelivery.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::config::Origin;
use crate::notification::Notification;
use crate::secret::Secret;
use crate::webhook::template::BodyTemplate;

pub const KIND: &str = "secretwatch.alert";
/// Version of the body layout.
pub const VERSION: u32 = 1;
pub const SIGNATURE_HEADER: &str = "X-Secretwatch-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Secretwatch-Timestamp";
pub const ALERT_ID_HEADER: &str = "X-Secretwatch-Alert-Id";
/// Headers the config may not override.
pub(crate) const RESERVED_HEADERS: [&str; 6] = [
    "Content-Type",
    "Content-Length",
    "Host",
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ALERT_ID_HEADER,
];

type HmacSha256 = Hmac<Sha256>;

/// The JSON body.
pub fn body(n: &Notification, origin: &Origin) -> Vec<u8> {
    let mut v = serde_json::to_value(&n.alert).expect("an alert serializes");
    let obj = v.as_object_mut().expect("an alert is a JSON object");
    obj.insert("kind".into(), Value::from(KIND));
    obj.insert("version".into(), Value::from(VERSION));
    if let Some(url) = origin.alert_url(&n.alert.id) {
        obj.insert("url".into(), Value::from(url));
    }
    if let Some(s) = &n.suppressed {
        let mut note = serde_json::to_value(s).expect("a note serializes");
        note["message"] = Value::from(s.summary());
        obj.insert("suppressed".into(), note);
    }
    serde_json::to_vec(&v).expect("JSON values serialize")
}

/// `sha256=<hex>` over `"<timestamp>." + body`.
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let mut mac = mac(secret, timestamp);
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn mac(secret: &Secret, timestamp: i64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes keys of any size");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac
}

/// Why a receiver rejects a request.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("bad timestamp header")]
    BadTimestamp,
    #[error("timestamp outside the tolerance ({skew} s away)")]
    Stale { skew: i64 },
    #[error("signature header is not sha256=<64 hex>")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
}

/// What a receiver does: check freshness, then the HMAC in constant time.
pub fn verify(
    secret: &Secret,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let skew = now - ts;
    if skew.abs() > tolerance_secs {
        return Err(VerifyError::Stale { skew });
    }
    let hex = signature_header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(VerifyError::Malformed)?;
    let tag = decode_hex(hex).ok_or(VerifyError::Malformed)?;
    let mut mac = mac(secret, ts);
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| VerifyError::Mismatch)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// One request, ready for the transport.
pub struct WebhookRequest {
    pub body: Vec<u8>,
    /// In order: content type, user agent, alert id, timestamp and signature (when signing),
    /// then the configured extra headers.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for WebhookRequest {
    /// Header names only: configured values may be credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRequest")
            .field("body_bytes", &self.body.len())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Body and headers of one delivery attempt at `timestamp` (unix seconds, send time).
pub fn request(
    n: &Notification,
    origin: &Origin,
    secret: Option<&Secret>,
    extra_headers: &[(String, Secret)],
    timestamp: i64,
) -> WebhookRequest {
    request_with(n, origin, None, secret, extra_headers, timestamp)
}

/// Like [`request`], with the body rendered from `template` when there is one; the signature
/// covers the body as sent.
pub fn request_with(
    n: &Notification,
    origin: &Origin,
    template: Option<&BodyTemplate>,
    secret: Option<&Secret>,
    extra_headers: &[(String, Secret)],
    timestamp: i64,
) -> WebhookRequest {
    let (body, content_type) = match template {
        Some(t) => (t.render(n, origin), t.content_type().to_string()),
        None => (body(n, origin), "application/json".to_string()),
    };
    let mut headers = vec![
        ("Content-Type".to_string(), content_type),
        ("User-Agent".to_string(), origin.user_agent()),
        (ALERT_ID_HEADER.to_string(), n.alert.id.clone()),
    ];
    if let Some(secret) = secret {
        headers.push((TIMESTAMP_HEADER.to_string(), timestamp.to_string()));
        headers.push((SIGNATURE_HEADER.to_string(), sign(secret, timestamp, &body)));
    }
    for (k, v) in extra_headers {
        headers.push((k.clone(), v.expose().to_string()));
    }
    WebhookRequest { body, headers }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::{notification, suppressed_note};

    fn origin() -> Origin {
        Origin::new("sw-1").with_dashboard("https://sw.example/")
    }

    #[test]
    fn body_is_the_alert_plus_kind_version_url_and_note() {
        let mut n = notification();
        let v: Value = serde_json::from_slice(&body(&n, &origin())).unwrap();
        assert_eq!(v["kind"], "secretwatch.alert");
        assert_eq!(v["version"], 1);
        assert_eq!(v["id"], n.alert.id.as_str());
        assert_eq!(v["rule"], "bulk-secret-reads");
        assert_eq!(v["severity"], "high");
        assert_eq!(v["title"], "Bulk secret reads | burst");
        assert_eq!(v["principal"], "system:serviceaccount:ci:deployer");
        assert_eq!(v["source"], "kubernetes");
        assert_eq!(v["event_ids"], serde_json::json!(["e-1", "e-2"]));
        assert_eq!(v["first_seen"], "2026-11-02T09:00:00Z");
        assert_eq!(v["last_seen"], "2026-11-02T09:04:59.123Z");
        // JSON escaping of the reason: quotes, backslash, newline survive a round trip.
        assert_eq!(v["reason"], n.alert.reason.as_str());
        assert_eq!(
            v["targets"],
            serde_json::json!(["prod/secrets/db", "prod/secrets/api"])
        );
        assert_eq!(v["break_glass"], false);
        assert_eq!(
            v["url"],
            format!("https://sw.example/alerts/{}", n.alert.id).as_str()
        );
        assert!(v.get("suppressed").is_none());
        // Without a dashboard there is no url.
        let plain: Value = serde_json::from_slice(&body(&n, &Origin::new("h"))).unwrap();
        assert!(plain.get("url").is_none());

        n.suppressed = Some(suppressed_note());
        let v: Value = serde_json::from_slice(&body(&n, &origin())).unwrap();
        assert_eq!(v["suppressed"]["count"], 12);
        assert_eq!(v["suppressed"]["since"], "2026-11-02T08:00:00Z");
        assert_eq!(
            v["suppressed"]["message"],
            "12 similar alerts suppressed since 2026-11-02T08:00:00Z"
        );
        // Deterministic bytes.
        assert_eq!(body(&n, &origin()), body(&n, &origin()));
    }

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        // An independent HMAC over the exact signed payload "<timestamp>." + body.
        let secret = Secret::new("Jefe");
        let mut m = HmacSha256::new_from_slice(b"Jefe").unwrap();
        m.update(b"1793610000.{\"a\":1}");
        let want: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            sign(&secret, 1_793_610_000, b"{\"a\":1}"),
            format!("sha256={want}")
        );
        // And the HMAC itself matches RFC 4231 (so the primitive is the right one).
        let mut m = HmacSha256::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        let tag: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            tag,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn request_headers_and_receiver_verification() {
        let n = notification();
        let secret = Secret::new("whsec-test");
        let extra = vec![("Authorization".to_string(), Secret::new("Bearer xyz"))];
        let r = request(&n, &origin(), Some(&secret), &extra, 1_793_610_000);
        let h = |name: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(h("Content-Type"), Some("application/json"));
        assert_eq!(h(ALERT_ID_HEADER), Some(n.alert.id.as_str()));
        assert_eq!(h(TIMESTAMP_HEADER), Some("1793610000"));
        assert_eq!(h("Authorization"), Some("Bearer xyz"));
        let sig = h(SIGNATURE_HEADER).unwrap();
        assert!(sig.starts_with("sha256=") && sig.len() == 71, "{sig}");
        assert_eq!(sig, sign(&secret, 1_793_610_000, &r.body));
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("xyz") && !shown.contains(&sig[7..]),
            "{shown}"
        );

        let ok = verify(&secret, "1793610000", sig, &r.body, 1_793_610_100, 300);
        assert_eq!(ok, Ok(()));
        let mut tampered = r.body.clone();
        tampered[5] ^= 1;
        assert_eq!(
            verify(&secret, "1793610000", sig, &tampered, 1_793_610_000, 300),
            Err(VerifyError::Mismatch)
        );
        // A replay with a new timestamp but the old signature fails.
        assert_eq!(
            verify(&secret, "1793619999", sig, &r.body, 1_793_620_000, 300),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&secret, "1793610000", sig, &r.body, 1_793_611_000, 300),
            Err(VerifyError::Stale { skew: 1000 })
        );
        assert_eq!(
            verify(
                &Secret::new("other"),
                "1793610000",
                sig,
                &r.body,
                1_793_610_000,
                300
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&secret, "x", sig, &r.body, 0, 300),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            verify(
                &secret,
                "1793610000",
                "sha1=00",
                &r.body,
                1_793_610_000,
                300
            ),
            Err(VerifyError::Malformed)
        );

        // Unsigned: no timestamp or signature header.
        let r = request(&n, &origin(), None, &[], 1);
        assert!(r
            .headers
            .iter()
            .all(|(k, _)| k != SIGNATURE_HEADER && k != TIMESTAMP_HEADER));
    }
}
