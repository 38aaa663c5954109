//! All principals' profiles: bounded, expiring, saved and loaded as versioned JSON.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

use crate::baseline::profile::{hour_of, Pair, Profile, NO_SLOT, PAIRS};
use crate::baseline::table::Table;
use crate::baseline::termset::Terms;

/// Version of the state file this build writes and reads.
pub const STATE_VERSION: u32 = 1;
const FORMAT: &str = "secretwatch-baseline";

/// Reading or writing a state file.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("baseline state {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("baseline state {path}: not a baseline state file: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "baseline state {path}: format version {found}, this build reads version {STATE_VERSION}"
    )]
    Version { path: PathBuf, found: u32 },
    #[error("baseline state {path}: principal {key:016x}: {what}")]
    Corrupt {
        path: PathBuf,
        key: u64,
        what: &'static str,
    },
}

/// Memory held by a store (see [`BaselineStore::memory`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryUsage {
    pub principals: usize,
    /// A principal's slot (key and inline profile) and its index entry.
    pub entry_bytes: usize,
    /// Bloom filters of principals past their inline terms.
    pub heap_bytes: usize,
    /// The table's allocation: index buckets occupied or not, slots used or not.
    pub table_bytes: usize,
}

impl MemoryUsage {
    /// Entry and heap bytes per principal (the table's spare room not counted).
    pub fn per_principal(&self) -> f64 {
        (self.entry_bytes * self.principals + self.heap_bytes) as f64
            / self.principals.max(1) as f64
    }
    /// Everything, spare room included, per principal.
    pub fn per_principal_with_table(&self) -> f64 {
        (self.table_bytes + self.heap_bytes) as f64 / self.principals.max(1) as f64
    }
}

/// One principal's baseline as the store holds it (counts of large sets are estimates).
#[derive(Debug, Clone, Serialize)]
pub struct BaselineSummary {
    pub first_seen: DateTime<Utc>,
    /// Start of the latest hour with activity.
    pub last_active: DateTime<Utc>,
    /// 168 hours of the week (UTC, Monday 00:00 first): ever active in that hour.
    pub active_hours_of_week: Vec<bool>,
    /// Completed active hours behind the mean.
    pub completed_hours: u32,
    /// Secret reads per active hour (with a prior of one read in one hour).
    pub hourly_reads_mean: f64,
    pub hourly_reads_variance: f64,
    pub seen_networks: u64,
    pub seen_user_agents: u64,
    pub seen_namespaces: u64,
    pub seen_secrets: u64,
}

/// Per-principal baselines, keyed by [`crate::baseline::terms::principal_key`] (names are not
/// kept: alerts take them from the event).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BaselineStore {
    pub(crate) principals: Table,
    /// Event time of the first event: the store's learning period starts here.
    first_event: Option<DateTime<Utc>>,
    /// Latest hour seen (idle expiry runs when it advances).
    watermark_hour: u32,
    evicted: u64,
    expired: u64,
}

impl BaselineStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.principals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.principals.is_empty()
    }

    /// Event time of the store's first event.
    pub fn first_event(&self) -> Option<DateTime<Utc>> {
        self.first_event
    }

    /// Principals forgotten because the store was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Principals forgotten because they were idle.
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Whether the store, seeing an event at `t`, has `learning_days` of history.
    pub fn learned(&self, t: DateTime<Utc>, learning_days: u32) -> bool {
        self.first_event
            .is_some_and(|f| t - f >= Duration::days(i64::from(learning_days)))
    }

    /// What the store has learned of one principal, for people (the dashboard, SQL).
    pub fn summary(
        &self,
        source: secretwatch_ingest::SourceSystem,
        name: &str,
    ) -> Option<BaselineSummary> {
        use crate::baseline::terms::{principal_key, TermKind};
        let p = self.get(principal_key(source, name))?;
        let at = |hour: u32| DateTime::<Utc>::from_timestamp(i64::from(hour) * 3600, 0);
        let stats = p.read_stats();
        Some(BaselineSummary {
            first_seen: at(p.first_hour)?,
            last_active: at(p.cur_hour)?,
            active_hours_of_week: (0..168).map(|s| p.bit(s)).collect(),
            completed_hours: stats.hours,
            hourly_reads_mean: stats.mean,
            hourly_reads_variance: stats.variance,
            seen_networks: p.terms.count(TermKind::Network).round() as u64,
            seen_user_agents: p.terms.count(TermKind::UserAgent).round() as u64,
            seen_namespaces: p.terms.count(TermKind::Namespace).round() as u64,
            seen_secrets: p.terms.count(TermKind::Secret).round() as u64,
        })
    }

    pub(crate) fn get(&self, key: u64) -> Option<&Profile> {
        self.principals.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut Profile> {
        self.principals.get_mut(key)
    }

    /// Note event time `t`; when a new hour starts, forget principals idle for `idle_days`.
    pub(crate) fn advance(&mut self, t: DateTime<Utc>, idle_days: u32) {
        if self.first_event.is_none_or(|f| t < f) {
            self.first_event = Some(t);
        }
        let hour = hour_of(t);
        if hour > self.watermark_hour {
            self.watermark_hour = hour;
            let idle = idle_days.saturating_mul(24);
            let gone = self
                .principals
                .retain(|p| hour.saturating_sub(p.cur_hour) < idle);
            self.expired += gone as u64;
        }
    }

    /// The profile of `key`, created (evicting if the store holds `max` principals) if new.
    pub(crate) fn entry(
        &mut self,
        key: u64,
        hour: u32,
        new_principal: bool,
        max: u32,
    ) -> &mut Profile {
        if !self.principals.contains_key(key) && self.principals.len() >= max as usize {
            self.evict((max as usize / 64).max(1));
        }
        self.principals
            .get_or_insert_with(key, || Profile::new(hour, new_principal))
    }

    /// Forget the `k` least recently seen principals (ties broken by key: deterministic).
    fn evict(&mut self, k: usize) {
        let mut order: Vec<(u32, u64)> = self
            .principals
            .iter()
            .map(|(key, p)| (p.cur_hour, key))
            .collect();
        let k = k.min(order.len());
        if k == 0 {
            return;
        }
        order.select_nth_unstable(k - 1);
        for &(_, key) in &order[..k] {
            self.principals.remove(key);
        }
        self.evicted += k as u64;
    }

    /// Bytes held, from `size_of` of the slots and index entries, the Bloom filters on the
    /// heap, and what the table has allocated.
    pub fn memory(&self) -> MemoryUsage {
        MemoryUsage {
            principals: self.principals.len(),
            entry_bytes: Table::entry_bytes(),
            heap_bytes: self
                .principals
                .iter()
                .map(|(_, p)| p.terms.heap_bytes())
                .sum(),
            table_bytes: self.principals.allocated_bytes(),
        }
    }

    /// Write the store to `path` atomically (a temporary file beside it, then a rename).
    pub fn save(&self, path: &Path) -> Result<(), BaselineError> {
        let io = |source| BaselineError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tmp{}", std::process::id()));
        let tmp = path.with_file_name(name);
        let write = || -> Result<(), BaselineError> {
            let f = File::create(&tmp).map_err(io)?;
            let mut w = BufWriter::new(f);
            serde_json::to_writer(&mut w, &StateOut(self)).map_err(|source| {
                BaselineError::Json {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            w.write_all(b"\n").map_err(io)?;
            let f = w.into_inner().map_err(|e| io(e.into_error()))?;
            f.sync_all().map_err(io)?;
            fs::rename(&tmp, path).map_err(io)
        };
        let res = write();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    /// Read a store written by [`BaselineStore::save`].
    pub fn load(path: &Path) -> Result<BaselineStore, BaselineError> {
        let open = || {
            File::open(path)
                .map(BufReader::new)
                .map_err(|source| BaselineError::Io {
                    path: path.to_path_buf(),
                    source,
                })
        };
        let state: StateIn = match serde_json::from_reader(open()?) {
            Ok(s) => s,
            Err(source) => {
                // Another version may have other fields: name the version if it says one.
                if let Ok(peek) = serde_json::from_reader::<_, Peek>(open()?) {
                    if peek.format == FORMAT && peek.version != STATE_VERSION {
                        return Err(BaselineError::Version {
                            path: path.to_path_buf(),
                            found: peek.version,
                        });
                    }
                }
                return Err(BaselineError::Json {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        if state.format != FORMAT || state.version != STATE_VERSION {
            return Err(BaselineError::Version {
                path: path.to_path_buf(),
                found: state.version,
            });
        }
        let mut principals = Table::with_capacity(state.principals.len());
        for w in state.principals {
            let key = w.k;
            let p = w.into_profile().map_err(|what| BaselineError::Corrupt {
                path: path.to_path_buf(),
                key,
                what,
            })?;
            principals.insert(key, p);
        }
        Ok(BaselineStore {
            principals,
            first_event: state.first_event,
            watermark_hour: state.watermark_hour,
            evicted: state.evicted,
            expired: state.expired,
        })
    }

    /// [`BaselineStore::load`], or an empty store when `path` does not exist.
    pub fn load_or_new(path: &Path) -> Result<BaselineStore, BaselineError> {
        match path.try_exists() {
            Ok(false) => Ok(BaselineStore::new()),
            _ => BaselineStore::load(path),
        }
    }
}

/// Just the header of a state file.
#[derive(Deserialize)]
struct Peek {
    format: String,
    version: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateIn {
    format: String,
    version: u32,
    first_event: Option<DateTime<Utc>>,
    watermark_hour: u32,
    evicted: u64,
    expired: u64,
    principals: Vec<ProfileWire>,
}

struct StateOut<'a>(&'a BaselineStore);

impl Serialize for StateOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            format: &'static str,
            version: u32,
            first_event: Option<DateTime<Utc>>,
            watermark_hour: u32,
            evicted: u64,
            expired: u64,
            principals: Sorted<'a>,
        }
        let st = self.0;
        Out {
            format: FORMAT,
            version: STATE_VERSION,
            first_event: st.first_event,
            watermark_hour: st.watermark_hour,
            evicted: st.evicted,
            expired: st.expired,
            principals: Sorted(&st.principals),
        }
        .serialize(s)
    }
}

/// Principals in key order, so the same store always writes the same bytes.
struct Sorted<'a>(&'a Table);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut all: Vec<(u64, &Profile)> = self.0.iter().collect();
        all.sort_unstable_by_key(|(k, _)| *k);
        let mut seq = s.serialize_seq(Some(all.len()))?;
        for (k, p) in all {
            seq.serialize_element(&ProfileWire::of(k, p))?;
        }
        seq.end()
    }
}

/// A profile on disk: short names, floats as their bits (exact round trip), bitmaps in hex.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileWire {
    k: u64,
    first: u32,
    hour: u32,
    reads: u32,
    n: u16,
    sum: u32,
    sumsq: u32,
    new_secrets: u16,
    #[serde(default, skip_serializing_if = "is_zero2")]
    recent: [u32; 2],
    week: String,
    #[serde(default = "no_slot", skip_serializing_if = "is_no_slot")]
    fresh: u8,
    flags: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    terms: Option<Vec<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bloom: Option<String>,
    /// The tracked secrets: 8 bytes each (tag, current reads, mean as f16, hours, flags; little
    /// endian), in hex; absent when none is tracked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pairs: String,
}

fn is_zero2(r: &[u32; 2]) -> bool {
    *r == [0; 2]
}
fn no_slot() -> u8 {
    NO_SLOT
}
fn is_no_slot(s: &u8) -> bool {
    *s == NO_SLOT
}

fn hex(bytes: impl Iterator<Item = u8>) -> String {
    bytes.map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl ProfileWire {
    fn of(k: u64, p: &Profile) -> ProfileWire {
        ProfileWire {
            k,
            first: p.first_hour,
            hour: p.cur_hour,
            reads: p.cur_reads,
            n: p.n,
            sum: p.sum.to_bits(),
            sumsq: p.sumsq.to_bits(),
            new_secrets: p.cur_new_secrets,
            recent: p.recent,
            week: hex(p.week.iter().copied()),
            fresh: p.fresh_slot,
            flags: p.flags,
            terms: p.terms.inline().map(<[u32]>::to_vec),
            bloom: p
                .terms
                .bloom_words()
                .map(|ws| hex(ws.flat_map(u64::to_le_bytes))),
            pairs: if p.pairs.iter().all(|q| q.tag == 0) {
                String::new()
            } else {
                hex(p.pairs.iter().flat_map(|q| {
                    let [t0, t1] = q.tag.to_le_bytes();
                    let [c0, c1] = q.cur.to_le_bytes();
                    let [m0, m1] = q.mean.to_le_bytes();
                    [t0, t1, c0, c1, m0, m1, q.hours, q.flags]
                }))
            },
        }
    }

    fn into_profile(self) -> Result<Profile, &'static str> {
        let week: [u8; 21] = unhex(&self.week)
            .and_then(|v| v.try_into().ok())
            .ok_or("week is not 21 bytes of hex")?;
        let terms = match (self.terms, self.bloom) {
            (Some(t), None) => Terms::from_inline(&t).ok_or("bad inline terms")?,
            (None, Some(b)) => {
                let bytes = unhex(&b).ok_or("bloom is not hex")?;
                let words: Vec<u64> = bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
                    .collect();
                Terms::from_bloom_words(&words).ok_or("bloom is not 256 bytes")?
            }
            _ => return Err("needs exactly one of terms and bloom"),
        };
        let mut pairs = [Pair::default(); PAIRS];
        if !self.pairs.is_empty() {
            let bytes = unhex(&self.pairs)
                .filter(|b| b.len() == 8 * PAIRS)
                .ok_or("pairs is not 16 bytes of hex")?;
            for (q, b) in pairs.iter_mut().zip(bytes.chunks_exact(8)) {
                *q = Pair {
                    tag: u16::from_le_bytes([b[0], b[1]]),
                    cur: u16::from_le_bytes([b[2], b[3]]),
                    mean: u16::from_le_bytes([b[4], b[5]]),
                    hours: b[6],
                    flags: b[7],
                };
            }
        }
        Ok(Profile {
            terms,
            first_hour: self.first,
            cur_hour: self.hour,
            cur_reads: self.reads,
            sum: f32::from_bits(self.sum),
            sumsq: f32::from_bits(self.sumsq),
            recent: self.recent,
            n: self.n,
            cur_new_secrets: self.new_secrets,
            week,
            fresh_slot: self.fresh,
            flags: self.flags,
            pairs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::profile::Facts;
    use crate::baseline::terms::{namespace_term, network_term, principal_key, user_agent_term};
    use secretwatch_ingest::SourceSystem;

    /// A week of a typical workload: 2 source networks, 1 client, 1 namespace, `secrets`
    /// secrets, active 40 hours, a few reads an hour.
    fn typical(st: &mut BaselineStore, i: u32, secrets: u32) {
        let name = format!("system:serviceaccount:ns-{}:app-{i}", i % 300);
        let key = principal_key(SourceSystem::Kubernetes, &name);
        let nets = [
            network_term(&format!("10.{}.{}.7", i % 200, i % 7), 24, 64),
            network_term(&format!("10.{}.{}.9", i % 200, 100 + i % 7), 24, 64),
        ];
        let ua = user_agent_term(&format!("app-{}/v1.2.3", i % 50));
        let ns = namespace_term("kubernetes", &format!("ns-{}", i % 300));
        let start = 490_000 + i % 24;
        for h in 0..40 {
            let hour = start + h * 4;
            for r in 0..(1 + h % 3) {
                let secret =
                    crate::baseline::terms::mix64(u64::from(i) << 8 | u64::from((h + r) % secrets));
                let f = Facts {
                    hour,
                    network: Some(nets[(h % 2) as usize]),
                    user_agent: Some(ua),
                    namespace: Some(ns),
                    secret: Some((4 << 29) | (secret as u32 & 0x1fff_ffff)),
                    secret_access: true,
                    read: true,
                };
                st.entry(key, hour, false, u32::MAX).observe(&f, true);
            }
        }
    }

    #[test]
    fn bytes_per_principal_are_within_budget() {
        let mut st = BaselineStore::new();
        for i in 0..100_000 {
            typical(&mut st, i, 4);
        }
        let m = st.memory();
        println!(
            "typical: {} principals, entry {} B, heap {} B, {:.1} B/principal; with the \
             table's spare room {:.1} B/principal",
            m.principals,
            m.entry_bytes,
            m.heap_bytes,
            m.per_principal(),
            m.per_principal_with_table()
        );
        assert_eq!(m.principals, 100_000);
        assert_eq!(m.heap_bytes, 0);
        assert!(m.per_principal() < 200.0);
        assert!(m.per_principal_with_table() < 200.0);

        // One in ten reads 50 secrets: those spill to Bloom filters.
        let mut st = BaselineStore::new();
        for i in 0..100_000 {
            typical(&mut st, i, if i % 10 == 0 { 50 } else { 4 });
        }
        let m = st.memory();
        println!(
            "1 in 10 reading 50 secrets: heap {} B, {:.1} B/principal; with spare room {:.1}",
            m.heap_bytes,
            m.per_principal(),
            m.per_principal_with_table()
        );
        assert_eq!(m.heap_bytes, 10_000 * 256);
    }
}
