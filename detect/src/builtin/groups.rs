//! "Once per group per window" bookkeeping with bounded memory.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

/// Remembers which groups already alerted in their current window.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct WindowedGroups {
    seen: HashMap<String, DateTime<Utc>>,
}

impl WindowedGroups {
    /// True the first time `key` is seen in the window starting at `window_start`.
    pub fn first_in_window(&mut self, key: &str, window_start: DateTime<Utc>) -> bool {
        match self.seen.get_mut(key) {
            // The current window, or an event arriving late for an older one: no new alert.
            Some(ws) if *ws >= window_start => false,
            Some(ws) => {
                *ws = window_start;
                true
            }
            None => {
                self.seen.insert(key.to_string(), window_start);
                true
            }
        }
    }

    pub fn export(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }

    pub fn import(&mut self, v: serde_json::Value) -> Result<(), String> {
        *self = serde_json::from_value(v).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Forget groups whose window ended well before `now` (three windows back, so an event a
    /// little out of order does not reopen a window and repeat its alert).
    pub fn prune(&mut self, now: DateTime<Utc>, window_minutes: u32) {
        let horizon = now - Duration::minutes(3 * i64::from(window_minutes));
        self.seen.retain(|_, ws| *ws >= horizon);
    }

    #[cfg(test)]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.seen.len()
    }
}
