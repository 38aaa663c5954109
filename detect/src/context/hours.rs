//! Working hours of a team in its own timezone (chrono-tz, so daylight saving time is right).

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

use crate::context::config::TeamConfig;

/// A team with parsed timezone, days, hours and holidays.
#[derive(Debug, Clone)]
pub struct Team {
    pub name: String,
    pub tz: Tz,
    /// Working days, indexed from Monday.
    days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
    holidays: BTreeSet<NaiveDate>,
    /// Environments the members may touch (empty: not checked).
    pub environments: Vec<String>,
}

/// Why a moment is outside a team's working time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffHours {
    Holiday,
    DayOff,
    OutsideHours,
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

impl Team {
    /// Parse one team; errors are `(field, message)`.
    pub fn compile(t: &TeamConfig) -> Result<Team, Vec<(String, String)>> {
        let mut errs: Vec<(String, String)> = vec![];
        let tz = match t.timezone.trim().parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                errs.push((
                    "timezone".into(),
                    format!(
                        "unknown timezone {:?} (an IANA name such as Europe/Berlin)",
                        t.timezone
                    ),
                ));
                None
            }
        };
        let mut days = [false; 7];
        if t.work_days.is_empty() {
            errs.push(("work_days".into(), "empty (no working day)".into()));
        }
        for (i, d) in t.work_days.iter().enumerate() {
            match d.trim().parse::<Weekday>() {
                Ok(w) => days[w.num_days_from_monday() as usize] = true,
                Err(_) => errs.push((
                    format!("work_days[{i}]"),
                    format!("unknown day {d:?} (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"),
                )),
            }
        }
        let start = parse_time(&t.work_start);
        if start.is_none() {
            errs.push((
                "work_start".into(),
                format!("not a time HH:MM: {:?}", t.work_start),
            ));
        }
        let end = parse_time(&t.work_end);
        if end.is_none() {
            errs.push((
                "work_end".into(),
                format!("not a time HH:MM: {:?}", t.work_end),
            ));
        }
        if let (Some(s), Some(e)) = (start, end) {
            if e <= s {
                errs.push((
                    "work_end".into(),
                    format!(
                        "must be after work_start {} (shifts past midnight are not supported)",
                        t.work_start
                    ),
                ));
            }
        }
        let mut holidays = BTreeSet::new();
        for (i, h) in t.holidays.iter().enumerate() {
            match NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d") {
                Ok(d) => {
                    holidays.insert(d);
                }
                Err(_) => errs.push((
                    format!("holidays[{i}]"),
                    format!("not a date YYYY-MM-DD: {h:?}"),
                )),
            }
        }
        match (tz, start, end, errs.is_empty()) {
            (Some(tz), Some(start), Some(end), true) => Ok(Team {
                name: t.name.clone(),
                tz,
                days,
                start,
                end,
                holidays,
                environments: t.environments.clone(),
            }),
            _ => Err(errs),
        }
    }

    /// Local time of `t`, and why it is off-hours (None: within working time).
    pub fn check(&self, t: DateTime<Utc>) -> (DateTime<Tz>, Option<OffHours>) {
        let local = t.with_timezone(&self.tz);
        let why = if self.holidays.contains(&local.date_naive()) {
            Some(OffHours::Holiday)
        } else if !self.days[local.weekday().num_days_from_monday() as usize] {
            Some(OffHours::DayOff)
        } else {
            let time = local.time();
            (time < self.start || time >= self.end).then_some(OffHours::OutsideHours)
        };
        (local, why)
    }

    /// `Mon-Fri 09:00-18:00`.
    pub fn hours_label(&self) -> String {
        let mut parts = vec![];
        let mut i = 0;
        while i < 7 {
            if !self.days[i] {
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < 7 && self.days[j + 1] {
                j += 1;
            }
            parts.push(match j - i {
                0 => DAY_NAMES[i].to_string(),
                1 => format!("{},{}", DAY_NAMES[i], DAY_NAMES[j]),
                _ => format!("{}-{}", DAY_NAMES[i], DAY_NAMES[j]),
            });
            i = j + 1;
        }
        format!(
            "{} {}-{}",
            parts.join(","),
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn team(tz: &str, days: &[&str]) -> Team {
        let mut cfg = TeamConfig::new("t", tz, &[]);
        cfg.work_days = days.iter().map(|d| d.to_string()).collect();
        cfg.holidays = vec!["2026-12-25".into()];
        Team::compile(&cfg).unwrap()
    }

    #[test]
    fn labels_group_consecutive_days() {
        let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri"];
        assert_eq!(team("UTC", &weekdays).hours_label(), "Mon-Fri 09:00-18:00");
        assert_eq!(
            team("UTC", &["Mon", "Wed", "Thu", "Sun"]).hours_label(),
            "Mon,Wed,Thu,Sun 09:00-18:00"
        );
    }

    #[test]
    fn daylight_saving_time_moves_the_working_day() {
        let berlin = team("Europe/Berlin", &["Mon", "Tue", "Wed", "Thu", "Fri"]);
        // Monday 2026-03-23, 07:30 UTC = 08:30 CET: before work.
        let before = Utc.with_ymd_and_hms(2026, 3, 23, 7, 30, 0).unwrap();
        assert_eq!(berlin.check(before).1, Some(OffHours::OutsideHours));
        // Monday 2026-03-30 (after the switch on the 29th), 07:30 UTC = 09:30 CEST: at work.
        let after = Utc.with_ymd_and_hms(2026, 3, 30, 7, 30, 0).unwrap();
        let (local, why) = berlin.check(after);
        assert_eq!(why, None);
        assert_eq!(local.format("%H:%M").to_string(), "09:30");
        // Holiday in local time: 2026-12-24 23:30 UTC is already the 25th in Berlin.
        let xmas = Utc.with_ymd_and_hms(2026, 12, 24, 23, 30, 0).unwrap();
        assert_eq!(berlin.check(xmas).1, Some(OffHours::Holiday));
        // End of day is outside hours.
        let six = Utc.with_ymd_and_hms(2026, 11, 3, 17, 0, 0).unwrap();
        assert_eq!(berlin.check(six).1, Some(OffHours::OutsideHours));
        let sat = Utc.with_ymd_and_hms(2026, 11, 7, 10, 0, 0).unwrap();
        assert_eq!(berlin.check(sat).1, Some(OffHours::DayOff));
    }

    #[test]
    fn bad_fields_are_all_reported() {
        let mut cfg = TeamConfig::new("t", "Mars/Olympus", &[]);
        cfg.work_days = vec!["Mon".into(), "Funday".into()];
        cfg.work_start = "9am".into();
        cfg.work_end = "25:00".into();
        cfg.holidays = vec!["2026-13-01".into()];
        let errs = Team::compile(&cfg).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "timezone",
                "work_days[1]",
                "work_start",
                "work_end",
                "holidays[0]"
            ]
        );
        let mut late = TeamConfig::new("t", "UTC", &[]);
        late.work_start = "18:00".into();
        late.work_end = "09:00".into();
        assert_eq!(Team::compile(&late).unwrap_err()[0].0, "work_end");
    }
}
