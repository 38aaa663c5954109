//! Records no sink will ever accept, kept with the answer that refused them.
//!
//! One JSON line per record: `{"time","sink","seq","status","response","item"}`, `item` being
//! the queued record itself (the redacted alert), `response` the server's answer cut to 4 KiB.
//! Appended and flushed before the record is acked, so a kill in between at worst writes the
//! record twice, never loses it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::queue::delivery::Rejected;
use crate::queue::disk::{io_err, Entry, QueueError};

#[derive(Debug, Serialize)]
pub struct DeadLetterRecord<'a> {
    pub time: DateTime<Utc>,
    pub sink: &'a str,
    pub seq: u64,
    pub status: Option<u16>,
    pub response: &'a str,
    pub item: &'a RawValue,
}

/// An append-only dead-letter file.
pub struct DeadLetter {
    path: PathBuf,
    file: File,
    written: u64,
}

impl DeadLetter {
    pub fn open(path: &Path) -> Result<DeadLetter, QueueError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        Ok(DeadLetter {
            path: path.to_path_buf(),
            file,
            written: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records written since open (a metric).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Append the rejected `entry` (at `now`, the wall time of the decision) and sync it.
    pub fn append(
        &mut self,
        sink: &str,
        entry: &Entry,
        rejected: &Rejected,
        now: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        let text = String::from_utf8_lossy(&entry.data);
        let fallback;
        let item: &RawValue = match serde_json::from_str::<&RawValue>(&text) {
            Ok(raw) => raw,
            Err(_) => {
                fallback = serde_json::value::to_raw_value(&text).expect("a string serializes");
                &fallback
            }
        };
        let rec = DeadLetterRecord {
            time: now,
            sink,
            seq: entry.seq,
            status: rejected.status,
            response: &rejected.response,
            item,
        };
        let mut line = serde_json::to_vec(&rec).expect("a record serializes");
        line.push(b'\n');
        self.file.write_all(&line).map_err(io_err(&self.path))?;
        self.file.sync_data().map_err(io_err(&self.path))?;
        self.written += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::{notification, t};

    #[test]
    fn records_carry_the_item_and_the_response() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sink/dead-letter.jsonl");
        let mut dl = DeadLetter::open(&path).unwrap();
        let n = notification();
        let entry = Entry {
            seq: 7,
            data: serde_json::to_vec(&n).unwrap(),
        };
        let rej = Rejected {
            seq: 7,
            status: Some(400),
            response: "invalid_payload".into(),
        };
        dl.append("slack", &entry, &rej, t(10, 0, 0)).unwrap();
        let bad = Entry {
            seq: 8,
            data: b"not json".to_vec(),
        };
        dl.append(
            "slack",
            &bad,
            &Rejected {
                seq: 8,
                status: None,
                response: String::new(),
            },
            t(10, 0, 1),
        )
        .unwrap();
        assert_eq!(dl.written(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["sink"], "slack");
        assert_eq!(lines[0]["seq"], 7);
        assert_eq!(lines[0]["status"], 400);
        assert_eq!(lines[0]["response"], "invalid_payload");
        assert_eq!(lines[0]["time"], "2026-11-02T10:00:00Z");
        assert_eq!(lines[0]["item"]["alert"]["id"], n.alert.id.as_str());
        assert_eq!(lines[1]["item"], "not json");
        assert!(lines[1]["status"].is_null());
    }
}
