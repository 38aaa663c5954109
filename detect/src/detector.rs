//! The seam between the engine and each detection.

use chrono::{DateTime, Utc};
use secretwatch_ingest::AccessEvent;

use crate::alert::Alert;

/// A detection. Synchronous and pure: time comes from the events (event time) and from
/// `on_tick`, never from the clock, so replays are deterministic.
pub trait Detector: Send {
    /// The rule id this detector reports as.
    fn id(&self) -> &'static str;
    /// See one event; push any alerts it completes.
    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>);
    /// Event time advanced to `now`: expire windows and state.
    fn on_tick(&mut self, _now: DateTime<Utc>, _out: &mut Vec<Alert>) {}
    /// End of input.
    fn flush(&mut self, _out: &mut Vec<Alert>) {}
    /// Write this detector's learned state into `dir` (checkpoint), if it keeps any.
    fn save_state(&self, _dir: &std::path::Path) -> Result<(), crate::engine::EngineError> {
        Ok(())
    }
    /// Short-lived state (open sessions, windows that already alerted) as JSON, saved by the
    /// engine with every checkpoint in one file; `None` when there is none.
    fn export_state(&self) -> Option<serde_json::Value> {
        None
    }
    /// Continue from what [`Detector::export_state`] gave.
    fn import_state(&mut self, _state: serde_json::Value) -> Result<(), String> {
        Ok(())
    }
}

/// Start of the fixed window of `minutes` that holds `t`.
pub fn window_start(t: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    let secs = i64::from(minutes.max(1)) * 60;
    let start = t.timestamp().div_euclid(secs) * secs;
    DateTime::from_timestamp(start, 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn windows_floor() {
        let t = Utc.with_ymd_and_hms(2026, 11, 2, 9, 47, 13).unwrap();
        assert_eq!(
            window_start(t, 60),
            Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
        );
        assert_eq!(
            window_start(t, 15),
            Utc.with_ymd_and_hms(2026, 11, 2, 9, 45, 0).unwrap()
        );
        assert_eq!(
            window_start(t, 1440),
            Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()
        );
    }
}
