//! `[report]`: what compliance reports judge against, and when they are made and mailed.
//!
//! ```toml
//! [report]
//! rotation_max_age_days = 90
//! rotation_policies = [{ targets = ["secret/data/prod/*", "prod/secrets/*"], max_age_days = 30 }]
//! max_silence_minutes = 60
//! sources = { kubernetes = 15, vault = 60 }   # expected sources and their longest silence
//!
//! [[report.schedules]]
//! name = "weekly-soc2"
//! cron = "0 7 * * mon"          # minute hour day-of-month month day-of-week
//! timezone = "Europe/Berlin"
//! period = "7d"                 # or "24h", "month" (the previous calendar month)
//! formats = ["html", "csv"]
//! email_sink = "security-mail"  # an [[alerting.sinks]] of type email: its relay and sender
//! email_to = ["audit@example.com"]
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use secretwatch_alerting::Glob;
use serde::Deserialize;

use super::cron::Cron;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// First line of every report.
    #[serde(default = "default_title")]
    pub title: String,
    /// A secret read in the period must have been written or rotated within this many days.
    #[serde(default = "default_rotation_days")]
    pub rotation_max_age_days: u32,
    /// Stricter (or looser) ages for some secrets; the first policy whose glob matches wins.
    #[serde(default)]
    pub rotation_policies: Vec<RotationPolicy>,
    /// A source silent for longer than this is a gap in the audit trail.
    #[serde(default = "default_silence")]
    pub max_silence_minutes: u32,
    /// Sources that must be heard from, with their own longest silence in minutes; a listed
    /// source with no events at all is a finding. Sources seen in the store are checked too,
    /// against `max_silence_minutes`.
    #[serde(default)]
    pub sources: BTreeMap<String, u32>,
    /// Identities without secret access for this many days are called inactive (PCI-DSS 8.2.6).
    #[serde(default = "default_inactive")]
    pub inactive_days: u32,
    /// Rows shown per table in HTML and Markdown (CSV and JSON have them all).
    #[serde(default = "default_table_rows")]
    pub max_table_rows: usize,
    /// Events listed per break-glass session.
    #[serde(default = "default_session_events")]
    pub max_session_events: usize,
    #[serde(default)]
    pub schedules: Vec<ScheduleConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationPolicy {
    /// Globs over the secret as reports show it (`prod/secrets/db`, `secret/data/prod/db`).
    pub targets: Vec<Glob>,
    pub max_age_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Names the files written (`data/reports/<name>-<end>.html`) and the logs.
    pub name: String,
    /// Five fields (minute hour day-of-month month day-of-week), or six with seconds first;
    /// `@hourly`, `@daily`, `@weekly`, `@monthly`.
    pub cron: String,
    /// IANA zone the cron expression is read in (default UTC).
    #[serde(default = "default_tz")]
    pub timezone: String,
    /// What each report covers, ending at the scheduled time: `24h`, `7d`, `30d`, `90m`, or
    /// `month` (the previous calendar month in `timezone`).
    #[serde(default = "default_period")]
    pub period: String,
    /// Any of html, md, csv, json (default html).
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    /// Name of an `[[alerting.sinks]]` e-mail sink whose relay and sender are used.
    #[serde(default)]
    pub email_sink: Option<String>,
    /// Recipients; default: the sink's own.
    #[serde(default)]
    pub email_to: Vec<String>,
}

fn default_title() -> String {
    "Secret access report".into()
}
fn default_rotation_days() -> u32 {
    90
}
fn default_silence() -> u32 {
    60
}
fn default_inactive() -> u32 {
    90
}
fn default_table_rows() -> usize {
    500
}
fn default_session_events() -> usize {
    200
}
fn default_tz() -> String {
    "UTC".into()
}
fn default_period() -> String {
    "7d".into()
}
fn default_formats() -> Vec<String> {
    vec!["html".into()]
}

impl Default for ReportConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

pub const FORMATS: [&str; 4] = ["html", "md", "csv", "json"];

/// What a schedule's report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Span(Duration),
    /// The calendar month before the run, in the schedule's zone.
    PreviousMonth,
}

impl Period {
    pub fn parse(s: &str) -> Result<Period, String> {
        let s = s.trim();
        if s == "month" {
            return Ok(Period::PreviousMonth);
        }
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
        let n: i64 = num
            .parse()
            .map_err(|_| format!("{s:?}: expected a number and a unit (90m, 24h, 7d) or month"))?;
        let d = match unit {
            "m" => Duration::minutes(n),
            "h" => Duration::hours(n),
            "d" => Duration::days(n),
            _ => return Err(format!("{s:?}: the unit is m, h or d (or the word month)")),
        };
        if n <= 0 || d > Duration::days(366) {
            return Err(format!("{s:?}: between 1 minute and 366 days"));
        }
        Ok(Period::Span(d))
    }

    /// `[from, to)` of a run at `at` (in `tz` for calendar months).
    pub fn range(self, at: DateTime<Utc>, tz: chrono_tz::Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            Period::Span(d) => (at - d, at),
            Period::PreviousMonth => {
                use chrono::{Datelike, TimeZone};
                let local = at.with_timezone(&tz);
                let (y, m) = (local.year(), local.month());
                let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
                let start = |y: i32, m: u32| {
                    tz.with_ymd_and_hms(y, m, 1, 0, 0, 0)
                        .earliest()
                        .map(|t| t.with_timezone(&Utc))
                        .unwrap_or(at)
                };
                (start(py, pm), start(y, m))
            }
        }
    }
}

impl ReportConfig {
    /// Every problem, each naming its key; `email_sinks`: names of the configured e-mail sinks.
    pub fn validate(&self, email_sinks: &[&str], errs: &mut Vec<String>) {
        if self.rotation_max_age_days == 0 {
            errs.push("report.rotation_max_age_days: must be at least 1".into());
        }
        for (i, p) in self.rotation_policies.iter().enumerate() {
            if p.targets.is_empty() {
                errs.push(format!(
                    "report.rotation_policies[{i}].targets: name at least one"
                ));
            }
            if p.max_age_days == 0 {
                errs.push(format!(
                    "report.rotation_policies[{i}].max_age_days: must be at least 1"
                ));
            }
        }
        if self.max_silence_minutes == 0 {
            errs.push("report.max_silence_minutes: must be at least 1".into());
        }
        for (s, m) in &self.sources {
            if !["kubernetes", "vault", "aws", "azure", "gcp"].contains(&s.as_str()) {
                errs.push(format!(
                    "report.sources.{s}: unknown source (kubernetes, vault, aws, azure, gcp)"
                ));
            }
            if *m == 0 {
                errs.push(format!("report.sources.{s}: must be at least 1 minute"));
            }
        }
        if self.max_table_rows == 0 {
            errs.push("report.max_table_rows: must be at least 1".into());
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            let key = format!("report.schedules[{i}]");
            let name_ok = !s.name.is_empty()
                && s.name.len() <= 64
                && s.name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !name_ok {
                errs.push(format!(
                    "{key}.name: {:?} must be 1-64 of [a-z0-9_-]",
                    s.name
                ));
            }
            if !names.insert(s.name.as_str()) {
                errs.push(format!("{key}.name: {:?} is used twice", s.name));
            }
            if let Err(e) = Cron::parse(&s.cron) {
                errs.push(format!("{key}.cron: {e}"));
            }
            if s.timezone.parse::<chrono_tz::Tz>().is_err() {
                errs.push(format!(
                    "{key}.timezone: {:?} is not an IANA time zone",
                    s.timezone
                ));
            }
            if let Err(e) = Period::parse(&s.period) {
                errs.push(format!("{key}.period: {e}"));
            }
            if s.formats.is_empty() {
                errs.push(format!("{key}.formats: name at least one of {FORMATS:?}"));
            }
            for f in &s.formats {
                if !FORMATS.contains(&f.as_str()) {
                    errs.push(format!("{key}.formats: {f:?} is not one of {FORMATS:?}"));
                }
            }
            match &s.email_sink {
                Some(n) if !email_sinks.contains(&n.as_str()) => errs.push(format!(
                    "{key}.email_sink: no e-mail sink named {n:?} in alerting.sinks"
                )),
                None if !s.email_to.is_empty() => errs.push(format!(
                    "{key}.email_to: set email_sink too (its relay sends the mail)"
                )),
                _ => {}
            }
            for (j, to) in s.email_to.iter().enumerate() {
                if let Err(e) = secretwatch_alerting::email::parse_mailbox(to) {
                    errs.push(format!("{key}.email_to[{j}]: {e}"));
                }
            }
        }
    }

    /// The policy age for a secret, in days.
    pub fn rotation_age(&self, target: &str) -> u32 {
        self.rotation_policies
            .iter()
            .find(|p| p.targets.iter().any(|g| g.matches(target)))
            .map(|p| p.max_age_days)
            .unwrap_or(self.rotation_max_age_days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn periods_parse_and_cover_the_previous_month_in_the_zone() {
        assert_eq!(
            Period::parse("7d").unwrap(),
            Period::Span(Duration::days(7))
        );
        assert_eq!(
            Period::parse("90m").unwrap(),
            Period::Span(Duration::minutes(90))
        );
        assert!(Period::parse("7w").is_err());
        assert!(Period::parse("0d").is_err());
        assert!(Period::parse("").is_err());
        let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        // 2026-03-01 06:00 UTC: the previous month in Berlin is February (UTC+1).
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).unwrap();
        let (from, to) = Period::PreviousMonth.range(at, tz);
        assert_eq!(from, Utc.with_ymd_and_hms(2026, 1, 31, 23, 0, 0).unwrap());
        assert_eq!(to, Utc.with_ymd_and_hms(2026, 2, 28, 23, 0, 0).unwrap());
        let jan = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let (from, _) = Period::PreviousMonth.range(jan, chrono_tz::UTC);
        assert_eq!(from, Utc.with_ymd_and_hms(2025, 12, 1, 0, 0, 0).unwrap());
    }

    #[test]
    fn validation_names_each_bad_key() {
        let cfg: ReportConfig = toml::from_str(
            r#"
            rotation_max_age_days = 0
            sources = { kafka = 5 }
            [[schedules]]
            name = "Weekly"
            cron = "61 * * * *"
            timezone = "Mars/Olympus"
            period = "7w"
            formats = ["pdf"]
            email_sink = "nope"
            "#,
        )
        .unwrap();
        let mut errs = vec![];
        cfg.validate(&["mail"], &mut errs);
        let all = errs.join("\n");
        for key in [
            "report.rotation_max_age_days",
            "report.sources.kafka",
            "report.schedules[0].name",
            "report.schedules[0].cron",
            "report.schedules[0].timezone",
            "report.schedules[0].period",
            "report.schedules[0].formats",
            "report.schedules[0].email_sink",
        ] {
            assert!(all.contains(key), "{key} missing from:\n{all}");
        }
    }

    #[test]
    fn the_first_matching_policy_sets_the_age() {
        let cfg: ReportConfig = toml::from_str(
            r#"rotation_policies = [{ targets = ["secret/data/prod/*"], max_age_days = 30 }]"#,
        )
        .unwrap();
        assert_eq!(cfg.rotation_age("secret/data/prod/db"), 30);
        assert_eq!(cfg.rotation_age("secret/data/dev/db"), 90);
    }
}
