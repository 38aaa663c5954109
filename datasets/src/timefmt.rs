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

/// UTC offset (minutes) of the IANA zone `tz` at the instant `t`, daylight saving included
/// (chrono-tz's copy of the tz database). An unknown zone is UTC.
pub fn zone_offset(tz: &str, t: i64) -> i32 {
    use chrono::{Offset, TimeZone};
    let Ok(zone) = tz.parse::<chrono_tz::Tz>() else {
        return 0;
    };
    let utc = chrono::DateTime::from_timestamp_nanos(t).naive_utc();
    zone.offset_from_utc_datetime(&utc).fix().local_minus_utc() / 60
}

/// Local weekday and nanoseconds since local midnight in the zone `tz`.
pub fn local_in(t: i64, tz: &str) -> (u32, i64) {
    local(t, zone_offset(tz, t))
}

/// The instants (UTC) of `hh:00` local time in zone `tz` on every local date whose `hh:00`
/// falls in `[from, to)`, with the local weekday (0 = Monday).
pub fn local_hours_in(tz: &str, hh: u32, from: i64, to: i64) -> Vec<(i64, u32)> {
    use chrono::{Datelike, TimeZone};
    let Ok(zone) = tz.parse::<chrono_tz::Tz>() else {
        return vec![];
    };
    let mut out = Vec::new();
    let first = chrono::DateTime::from_timestamp_nanos(from - 2 * DAY)
        .with_timezone(&zone)
        .date_naive();
    let mut date = first;
    while let Some(naive) = date.and_hms_opt(hh, 0, 0) {
        if let Some(at) = zone.from_local_datetime(&naive).earliest() {
            let t = at.timestamp_nanos_opt().unwrap_or(i64::MAX);
            if t >= to {
                break;
            }
            if t >= from {
                out.push((t, date.weekday().num_days_from_monday()));
            }
        }
        match date.succ_opt() {
            Some(next) => date = next,
            None => break,
        }
    }
    out
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
    fn zones_follow_daylight_saving() {
        // Berlin leaves summer time on 2026-10-25 at 01:00 UTC, New York on 2026-11-01 at
        // 06:00 UTC; Singapore has none.
        let oct24 = T0 - 9 * DAY;
        assert_eq!(zone_offset("Europe/Berlin", oct24), 120);
        assert_eq!(zone_offset("Europe/Berlin", T0), 60);
        assert_eq!(zone_offset("America/New_York", T0 - 2 * DAY), -240);
        assert_eq!(zone_offset("America/New_York", T0), -300);
        assert_eq!(zone_offset("Asia/Singapore", oct24), 480);
        // 09:00 in Berlin is 07:00 UTC before the change and 08:00 UTC after.
        let nines = local_hours_in("Europe/Berlin", 9, oct24, oct24 + 3 * DAY);
        assert_eq!(nines.len(), 3);
        assert_eq!(nines[0].0, oct24 + 7 * HOUR);
        assert_eq!(nines[2].0, oct24 + 2 * DAY + 8 * HOUR);
        assert_eq!(nines[0].1, 5); // Saturday 2026-10-24
    }

    #[test]
    fn local_time() {
        assert_eq!(local(T0, 0), (0, 0));
        // 23:30 UTC Monday is 00:30 Tuesday in Berlin (UTC+1) and 18:30 Monday in New York.
        let t = T0 + 23 * HOUR + 30 * MIN;
        assert_eq!(local(t, 60), (1, 30 * MIN));
        assert_eq!(local(t, -300), (0, 18 * HOUR + 30 * MIN));
    }
}
