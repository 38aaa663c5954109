//! Time arithmetic on nanoseconds since the Unix epoch, and the audit timestamp formats.

use chrono::{DateTime, Datelike, Timelike};

/// Nanoseconds in one second.
pub const SEC: i64 = 1_000_000_000;
/// Nanoseconds in one millisecond.
pub const MS: i64 = 1_000_000;
/// Nanoseconds in one minute.
pub const MIN: i64 = 60 * SEC;
/// Nanoseconds in one hour.
pub const HOUR: i64 = 60 * MIN;
/// Nanoseconds in one day.
pub const DAY: i64 = 24 * HOUR;

struct Civil {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
}

fn civil(t: i64) -> Civil {
    let secs = t.div_euclid(SEC);
    let nanos = t.rem_euclid(SEC) as u32;
    let dt = DateTime::from_timestamp(secs, nanos).unwrap_or_default();
    Civil {
        year: dt.year(),
        month: dt.month(),
        day: dt.day(),
        hour: dt.hour(),
        minute: dt.minute(),
        second: dt.second(),
        nanos,
    }
}

/// Kubernetes `MicroTime`: RFC 3339 with exactly six fractional digits, e.g. `2026-11-02T09:13:45.123456Z`.
pub fn micros(t: i64) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.nanos / 1000
    )
}

/// Go `time.RFC3339Nano` as Vault writes `time`: trailing zeros of the fraction are trimmed.
pub fn nanos(t: i64) -> String {
    let c = civil(t);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    if c.nanos != 0 {
        let frac = format!("{:09}", c.nanos);
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// RFC 3339 to the second, e.g. `2026-11-02T09:00:01Z` (Vault `token_issue_time`).
pub fn seconds(t: i64) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Local weekday (0 = Monday .. 6 = Sunday) and nanoseconds since local midnight, for a fixed offset.
pub fn local(t: i64, offset_minutes: i32) -> (u32, i64) {
    let lt = t + i64::from(offset_minutes) * MIN;
    let days = lt.div_euclid(DAY);
    // 1970-01-01 was a Thursday (weekday 3 when Monday is 0).
    let weekday = (days + 3).rem_euclid(7) as u32;
    (weekday, lt.rem_euclid(DAY))
}

/// Start of the local day (as a UTC instant) that contains `t`, for a fixed offset.
pub fn local_midnight(t: i64, offset_minutes: i32) -> i64 {
    let (_, since) = local(t, offset_minutes);
    t - since
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_793_577_600 * SEC; // 2026-11-02T00:00:00Z, a Monday

    #[test]
    fn formats() {
        let t = T0 + 9 * HOUR + 13 * MIN + 45 * SEC + 123_456_789;
        assert_eq!(micros(t), "2026-11-02T09:13:45.123456Z");
        assert_eq!(nanos(t), "2026-11-02T09:13:45.123456789Z");
        assert_eq!(nanos(T0 + 120 * MS), "2026-11-02T00:00:00.12Z");
        assert_eq!(nanos(T0), "2026-11-02T00:00:00Z");
        assert_eq!(seconds(t), "2026-11-02T09:13:45Z");
    }

    #[test]
    fn local_time() {
        assert_eq!(local(T0, 0), (0, 0));
        // 23:30 UTC Monday is 00:30 Tuesday in Berlin (UTC+1) and 18:30 Monday in New York.
        let t = T0 + 23 * HOUR + 30 * MIN;
        assert_eq!(local(t, 60), (1, 30 * MIN));
        assert_eq!(local(t, -300), (0, 18 * HOUR + 30 * MIN));
        assert_eq!(local_midnight(t, 60), T0 + 23 * HOUR);
    }
}
