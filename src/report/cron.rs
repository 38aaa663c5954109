//! Cron expressions read in a time zone: when a schedule runs next.
//!
//! Five fields (minute hour day-of-month month day-of-week) as in crontab(5), or six with a
//! seconds field first; `*`, lists, ranges, steps (`*/15`, `1-5/2`), month and day names
//! (`jan`, `mon`), 0 or 7 for Sunday, and `@hourly`, `@daily`, `@weekly`, `@monthly`,
//! `@yearly`. As in Vixie cron, when both day fields are restricted a day matching either
//! runs. Local times that do not exist (a DST jump forward) run at the first instant after the
//! jump; local times that happen twice (a DST fall back) run once, at the first.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u64,
    /// Bits 1..=31.
    days: u64,
    /// Bits 1..=12.
    months: u64,
    /// Bits 0..=6, Sunday 0.
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(s: &str, lo: u32, hi: u32, names: &[&str], name_base: u32) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + name_base);
    }
    let v: u32 = s.parse().map_err(|_| {
        format!(
            "{s:?} is not a number{}",
            if names.is_empty() { "" } else { " or a name" }
        )
    })?;
    if v < lo || v > hi {
        return Err(format!("{v} is outside {lo}-{hi}"));
    }
    Ok(v)
}

/// One field as a bit set; whether it was `*`.
fn field(s: &str, lo: u32, hi: u32, names: &[&str], name_base: u32) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => {
                let st: u32 = st
                    .parse()
                    .map_err(|_| format!("step {st:?} is not a number"))?;
                if st == 0 {
                    return Err("a step of 0".into());
                }
                (r, st)
            }
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (
                value(a, lo, hi, names, name_base)?,
                value(b, lo, hi, names, name_base)?,
            );
            if a > b {
                return Err(format!("range {range:?} runs backwards"));
            }
            (a, b)
        } else {
            let a = value(range, lo, hi, names, name_base)?;
            // `5/15` means from 5 to the end, every 15.
            (a, if part.contains('/') { hi } else { a })
        };
        let mut v = a;
        while v <= b {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, s == "*"))
}

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let expr = match expr.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            e => e,
        };
        let f: Vec<&str> = expr.split_whitespace().collect();
        let (sec, rest) = match f.len() {
            5 => ("0", &f[..]),
            6 => (f[0], &f[1..]),
            n => {
                return Err(format!(
                    "{expr:?} has {n} fields: expected 5 (minute hour day month weekday) or 6 (seconds first)"
                ))
            }
        };
        let named = |what: &str, r: Result<(u64, bool), String>| {
            r.map_err(|e| format!("{what} field of {expr:?}: {e}"))
        };
        let (seconds, _) = named("seconds", field(sec, 0, 59, &[], 0))?;
        let (minutes, _) = named("minute", field(rest[0], 0, 59, &[], 0))?;
        let (hours, _) = named("hour", field(rest[1], 0, 23, &[], 0))?;
        let (days, days_any) = named("day-of-month", field(rest[2], 1, 31, &[], 0))?;
        let (months, _) = named("month", field(rest[3], 1, 12, &MONTHS, 1))?;
        let (mut weekdays, weekdays_any) =
            named("day-of-week", field(rest[4], 0, 7, &WEEKDAYS, 0))?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        Ok(Cron {
            seconds,
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted: !days_any,
            weekdays_restricted: !weekdays_any,
        })
    }

    fn day_matches(&self, d: NaiveDate) -> bool {
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().num_days_from_sunday()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first local time strictly after `t` that matches, if any within 5 years.
    fn next_local(&self, t: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut t = t.with_nanosecond(0)? + Duration::seconds(1);
        let limit = t + Duration::days(5 * 366);
        while t < limit {
            if self.months & (1 << t.month()) == 0 {
                let (y, m) = if t.month() == 12 {
                    (t.year() + 1, 1)
                } else {
                    (t.year(), t.month() + 1)
                };
                t = NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t.date().and_hms_opt(t.hour(), 0, 0)? + Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t = t.date().and_hms_opt(t.hour(), t.minute(), 0)? + Duration::minutes(1);
                continue;
            }
            if self.seconds & (1 << t.second()) == 0 {
                t += Duration::seconds(1);
                continue;
            }
            return Some(t);
        }
        None
    }

    /// The next run strictly after `after`, the expression read in `tz`.
    pub fn next_after<Z: TimeZone>(&self, after: DateTime<Utc>, tz: &Z) -> Option<DateTime<Utc>> {
        let mut local = after.with_timezone(tz).naive_local();
        loop {
            let n = self.next_local(local)?;
            let resolved = match tz.from_local_datetime(&n) {
                chrono::LocalResult::Single(t) => Some(t),
                chrono::LocalResult::Ambiguous(a, _) => Some(a),
                // In a DST gap: the first instant after it.
                chrono::LocalResult::None => (1..=180).find_map(|m| {
                    tz.from_local_datetime(&(n + Duration::minutes(m)))
                        .earliest()
                }),
            };
            match resolved.map(|t| t.with_timezone(&Utc)) {
                Some(t) if t > after => return Some(t),
                // The second pass of a repeated hour is not another run.
                _ => local = n,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn parses_fields_names_and_macros() {
        assert!(Cron::parse("0 7 * * mon-fri").is_ok());
        assert!(Cron::parse("*/5 * * * * *").is_ok());
        assert_eq!(
            Cron::parse("@daily").unwrap(),
            Cron::parse("0 0 * * *").unwrap()
        );
        assert_eq!(
            Cron::parse("0 0 * * 7").unwrap(),
            Cron::parse("0 0 * * sun").unwrap()
        );
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "*/0 * * * *",
            "5-1 * * * *",
            "x * * * *",
            "* * * * * * *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad:?} accepted");
        }
        let e = Cron::parse("0 25 * * *").unwrap_err();
        assert!(e.contains("hour field") && e.contains("25"), "{e}");
    }

    #[test]
    fn next_runs_in_utc() {
        let c = Cron::parse("30 2 * * *").unwrap();
        assert_eq!(
            c.next_after(utc("2026-11-29T02:30:00Z"), &Utc),
            Some(utc("2026-11-30T02:30:00Z"))
        );
        assert_eq!(
            c.next_after(utc("2026-11-29T02:29:59Z"), &Utc),
            Some(utc("2026-11-29T02:30:00Z"))
        );
        let every15 = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(
            every15.next_after(utc("2026-11-29T10:07:00Z"), &Utc),
            Some(utc("2026-11-29T10:15:00Z"))
        );
        let secs = Cron::parse("*/5 * * * * *").unwrap();
        assert_eq!(
            secs.next_after(utc("2026-11-29T10:07:03Z"), &Utc),
            Some(utc("2026-11-29T10:07:05Z"))
        );
        // Monday 07:00: 2026-11-29 is a Sunday.
        let monday = Cron::parse("0 7 * * mon").unwrap();
        assert_eq!(
            monday.next_after(utc("2026-11-29T12:00:00Z"), &Utc),
            Some(utc("2026-11-30T07:00:00Z"))
        );
        // Feb 30 never comes.
        assert_eq!(
            Cron::parse("0 0 30 2 *")
                .unwrap()
                .next_after(utc("2026-01-01T00:00:00Z"), &Utc),
            None
        );
        // Both day fields restricted: either matches (the 1st, or any Friday).
        let either = Cron::parse("0 0 1 * fri").unwrap();
        assert_eq!(
            either.next_after(utc("2026-11-29T00:00:00Z"), &Utc),
            Some(utc("2026-12-01T00:00:00Z"))
        );
        assert_eq!(
            either.next_after(utc("2026-12-01T00:00:00Z"), &Utc),
            Some(utc("2026-12-04T00:00:00Z"))
        );
        // Month rollover with a month restriction.
        let jan = Cron::parse("0 9 15 jan *").unwrap();
        assert_eq!(
            jan.next_after(utc("2026-11-29T00:00:00Z"), &Utc),
            Some(utc("2027-01-15T09:00:00Z"))
        );
    }

    #[test]
    fn next_runs_in_a_zone_across_daylight_saving() {
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let c = Cron::parse("0 7 * * *").unwrap();
        // Winter: 07:00 CET is 06:00 UTC; summer: 05:00 UTC.
        assert_eq!(
            c.next_after(utc("2026-11-29T12:00:00Z"), &berlin),
            Some(utc("2026-11-30T06:00:00Z"))
        );
        assert_eq!(
            c.next_after(utc("2026-07-01T12:00:00Z"), &berlin),
            Some(utc("2026-07-02T05:00:00Z"))
        );
        // 2026-03-29 02:30 does not exist in Berlin: it runs at 03:00 CEST (01:00 UTC).
        let gap = Cron::parse("30 2 * * *").unwrap();
        assert_eq!(
            gap.next_after(utc("2026-03-28T12:00:00Z"), &berlin),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        // 2026-10-25 02:30 happens twice: one run, at the first (00:30 UTC), then the next day.
        let first = gap
            .next_after(utc("2026-10-24T12:00:00Z"), &berlin)
            .unwrap();
        assert_eq!(first, utc("2026-10-25T00:30:00Z"));
        assert_eq!(
            gap.next_after(first, &berlin),
            Some(utc("2026-10-26T01:30:00Z"))
        );
    }
}
