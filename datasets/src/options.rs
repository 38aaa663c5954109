//! Options and summary of one generation run.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};

use crate::error::DatasetError;

/// Longest dataset the generator accepts, in days.
pub const MAX_DAYS: u32 = 366;
/// Largest rate multiplier the generator accepts.
pub const MAX_SCALE: f64 = 20.0;

/// What to generate and where.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Number of days of traffic, starting at `start`.
    pub days: u32,
    /// Seed of every random choice; same seed and options give byte-identical files.
    pub seed: u64,
    /// First instant of the dataset (default 2026-11-02T00:00:00Z, a Monday).
    pub start: DateTime<Utc>,
    /// Output directory (created if missing).
    pub out: PathBuf,
    /// Multiplier of every benign traffic rate (1.0 is roughly 90k Kubernetes events a day).
    pub scale: f64,
    /// Inject the labeled attack stories.
    pub stories: bool,
}

impl GenerateOptions {
    /// Options with the default start (Monday 2026-11-02T00:00:00Z), scale 1.0 and stories on.
    pub fn new(days: u32, seed: u64, out: PathBuf) -> Self {
        GenerateOptions {
            days,
            seed,
            start: default_start(),
            out,
            scale: 1.0,
            stories: true,
        }
    }

    /// Checks every option and reports the first one out of range.
    pub fn validate(&self) -> Result<(), DatasetError> {
        if self.days == 0 || self.days > MAX_DAYS {
            return Err(DatasetError::InvalidOption {
                option: "days",
                reason: format!("must be between 1 and {MAX_DAYS}, got {}", self.days),
            });
        }
        if !self.scale.is_finite() || self.scale <= 0.0 || self.scale > MAX_SCALE {
            return Err(DatasetError::InvalidOption {
                option: "scale",
                reason: format!(
                    "must be a number above 0 and at most {MAX_SCALE}, got {}",
                    self.scale
                ),
            });
        }
        if self.start.timestamp_nanos_opt().is_none() {
            return Err(DatasetError::InvalidOption {
                option: "start",
                reason: "must lie between the years 1678 and 2261".to_string(),
            });
        }
        if self.out.as_os_str().is_empty() {
            return Err(DatasetError::InvalidOption {
                option: "out",
                reason: "must not be empty".to_string(),
            });
        }
        Ok(())
    }
}

fn default_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// What a run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSummary {
    /// Lines written to `k8s-audit.jsonl` (stage events, so a request may count twice).
    pub k8s_events: u64,
    /// Lines written to `vault-audit.jsonl` (request and response entries).
    pub vault_entries: u64,
    /// Lines written to `cloudtrail.jsonl`.
    pub cloudtrail_records: u64,
    /// Lines written to `labels.jsonl`.
    pub stories: u64,
    /// The files written, in the order k8s, vault, labels, manifest, cloudtrail.
    pub files: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let o = GenerateOptions::new(7, 1, PathBuf::from("out"));
        assert_eq!(o.start.to_rfc3339(), "2026-11-02T00:00:00+00:00");
        assert_eq!(o.scale, 1.0);
        assert!(o.stories);
        assert!(o.validate().is_ok());
        let bad = GenerateOptions {
            days: 0,
            ..o.clone()
        };
        assert!(matches!(
            bad.validate(),
            Err(DatasetError::InvalidOption { option: "days", .. })
        ));
        let bad = GenerateOptions {
            scale: f64::NAN,
            ..o
        };
        assert!(matches!(
            bad.validate(),
            Err(DatasetError::InvalidOption {
                option: "scale",
                ..
            })
        ));
    }
}
