//! Fast RFC 3339 timestamps (`2026-11-02T09:13:45.123456Z`), with chrono as the fallback
//! for offsets and other shapes.

use chrono::{DateTime, NaiveDate, Utc};

fn digits(b: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// The error of a time that is not one (without the value: see `error::serde_message`).
pub(crate) const NOT_RFC3339: &str = "not an RFC 3339 time (such as 2026-11-03T10:00:00Z)";

/// Parse an RFC 3339 timestamp into UTC. Returns `None` when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    fast(s.as_bytes()).or_else(|| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

fn fast(b: &[u8]) -> Option<DateTime<Utc>> {
    // YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || !matches!(b[b.len() - 1], b'Z' | b'z') {
        return None;
    }
    let year = digits(&b[0..4])? as i32;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let min = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    let mut nanos = 0u32;
    let rest = &b[19..b.len() - 1];
    if !rest.is_empty() {
        if rest[0] != b'.' || rest.len() < 2 || rest.len() > 10 {
            return None;
        }
        let frac = &rest[1..];
        nanos = digits(frac)? * 10u32.pow(9 - frac.len() as u32);
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let dt = date.and_hms_nano_opt(hour, min, sec, nanos)?;
    Some(dt.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_sources_write() {
        let t = parse_rfc3339("2026-11-02T09:13:45.123456Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-02T09:13:45.123456+00:00");
        let t = parse_rfc3339("2020-12-01T20:29:04.356625452Z").unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 356_625_452);
        let t = parse_rfc3339("2019-11-05T00:40:27Z").unwrap();
        assert_eq!(t.timestamp(), 1_572_914_427);
        // Offsets go through chrono.
        let t = parse_rfc3339("2026-11-02T10:13:45+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-02T09:13:45+00:00");
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "yesterday",
            "2026-13-02T09:13:45Z",
            "2026-11-02T25:00:00Z",
            "2026-11-02T09:13:45.Z",
        ] {
            assert!(parse_rfc3339(s).is_none(), "{s}");
        }
    }
}
