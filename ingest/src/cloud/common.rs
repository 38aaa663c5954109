//! Small pieces the cloud parsers share: derived ids, the redacted raw copy, field paths.

use std::borrow::Cow;

use serde_json::Value;

use crate::error::ParseError;
use crate::event::Redactions;
use crate::json::Str;
use crate::options::ParseOptions;
use crate::redact;

/// FNV-1a, 64 bit: a stable id for records that carry none.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `prefix-<16 hex>` from the record's text.
pub fn derived_id(prefix: &str, text: &str) -> Cow<'static, str> {
    Cow::Owned(format!("{prefix}-{:016x}", fnv1a(text.trim().as_bytes())))
}

/// The non-empty string, if any.
pub fn cow(s: Option<Str<'_>>) -> Option<Cow<'_, str>> {
    s.map(Str::into_cow).filter(|c| !c.is_empty())
}

/// `prefix.field`, or `field` at the top.
pub fn path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

/// The record parsed again as a value, redacted by `redact`, bounded to `raw_max_bytes`.
/// Cloud records always take this path: they are few next to Kubernetes events, and the keys
/// that can hold a value vary by API.
pub fn redacted_raw(
    text: &str,
    opts: &ParseOptions,
    redact: fn(&mut Value) -> Redactions,
) -> Result<(String, Redactions), ParseError> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| ParseError::json(&e))?;
    let mut flags = redact(&mut v);
    let raw = redact::bound_raw(v, opts.raw_max_bytes, &mut flags);
    Ok((raw, flags))
}

/// The address a request came from, when it is one (AWS writes service host names such as
/// `lambda.amazonaws.com` or `AWS Internal` for calls made by services).
pub fn ip_only(s: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
    s.filter(|ip| ip.trim().parse::<std::net::IpAddr>().is_ok())
}

/// gRPC status code (Cloud Audit Logs `status.code`) to the HTTP status it stands for.
pub fn grpc_to_http(code: i64) -> Option<u16> {
    Some(match code {
        0 => 200,
        1 => 499,
        2 | 13 | 15 => 500,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_ips_and_codes() {
        assert_eq!(derived_id("x", " {} "), derived_id("x", "{}"));
        assert_ne!(derived_id("x", "{}"), derived_id("x", "{ }"));
        assert_eq!(ip_only(Some(Cow::Borrowed("lambda.amazonaws.com"))), None);
        assert_eq!(ip_only(Some(Cow::Borrowed("AWS Internal"))), None);
        assert_eq!(
            ip_only(Some(Cow::Borrowed("2001:db8::1"))).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(grpc_to_http(7), Some(403));
        assert_eq!(grpc_to_http(0), Some(200));
        assert_eq!(grpc_to_http(99), None);
    }
}
