//! The history as JSON, saved with the detectors' state (`detectors.json`, which scale-out
//! snapshots also carry): each combination as `[key, last_day, learned_quietly, identity,
//! window_days]`, its key in hex (a JSON number cannot hold 64 bits exactly).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Seen, TermHistory};

#[derive(Serialize, Deserialize)]
struct Saved {
    first_day: Option<u32>,
    last_prune: u32,
    seen: Vec<(String, u32, u32, u32, u16)>,
    tainted: Vec<(u32, u32)>,
}

impl TermHistory {
    pub fn export(&self) -> Value {
        let mut seen: Vec<_> = self
            .seen
            .iter()
            .map(|(k, s)| {
                (
                    format!("{k:016x}"),
                    s.last_day,
                    s.learned_quietly,
                    s.identity,
                    s.window_days,
                )
            })
            .collect();
        seen.sort_unstable();
        let mut tainted: Vec<_> = self.tainted.iter().copied().collect();
        tainted.sort_unstable();
        serde_json::to_value(Saved {
            first_day: self.first_day,
            last_prune: self.last_prune,
            seen,
            tainted,
        })
        .unwrap_or(Value::Null)
    }

    /// Continue from [`TermHistory::export`]; the rules' judgements stay as loaded.
    pub fn import(&mut self, v: Value) -> Result<(), String> {
        let saved: Saved = serde_json::from_value(v).map_err(|e| e.to_string())?;
        let mut seen = std::collections::HashMap::with_capacity(saved.seen.len());
        for (k, last_day, learned_quietly, identity, window_days) in saved.seen {
            let key = u64::from_str_radix(&k, 16).map_err(|e| format!("seen key {k:?}: {e}"))?;
            seen.insert(
                key,
                Seen {
                    last_day,
                    learned_quietly,
                    identity,
                    window_days,
                },
            );
        }
        self.first_day = saved.first_day;
        self.last_prune = saved.last_prune;
        self.seen = seen;
        self.tainted = saved.tainted.into_iter().collect();
        Ok(())
    }
}
