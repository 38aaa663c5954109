//! The principals' profiles: slots in fixed-size chunks and a small index from key to slot.
//!
//! A hash table of whole profiles (128-byte buckets) kept a quarter to a half of its buckets
//! empty, 169 bytes per principal at 100,000, and every time it grew it held old and new tables
//! at once. Here the buckets hold 12-byte index entries and the profiles sit in chunks of
//! [`CHUNK`] slots (the last chunk is the only one with spare room; a freed slot is reused).

use std::collections::HashMap;
use std::mem::size_of;

use crate::baseline::profile::Profile;

/// Slots per chunk.
const CHUNK: usize = 1024;

#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    index: HashMap<u64, u32>,
    chunks: Vec<Vec<(u64, Profile)>>,
    /// Slots of removed principals, taken before new ones.
    free: Vec<u32>,
}

impl Table {
    pub fn with_capacity(n: usize) -> Table {
        Table {
            index: HashMap::with_capacity(n),
            ..Table::default()
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains_key(&self, key: u64) -> bool {
        self.index.contains_key(&key)
    }

    fn slot(&self, at: u32) -> &(u64, Profile) {
        &self.chunks[at as usize / CHUNK][at as usize % CHUNK]
    }

    fn slot_mut(&mut self, at: u32) -> &mut (u64, Profile) {
        &mut self.chunks[at as usize / CHUNK][at as usize % CHUNK]
    }

    pub fn get(&self, key: u64) -> Option<&Profile> {
        self.index.get(&key).map(|&at| &self.slot(at).1)
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut Profile> {
        let at = *self.index.get(&key)?;
        Some(&mut self.slot_mut(at).1)
    }

    /// The profile of `key`, made by `new` if absent.
    pub fn get_or_insert_with(&mut self, key: u64, new: impl FnOnce() -> Profile) -> &mut Profile {
        let at = match self.index.get(&key) {
            Some(&at) => at,
            None => self.put(key, new()),
        };
        &mut self.slot_mut(at).1
    }

    /// Insert or replace.
    pub fn insert(&mut self, key: u64, p: Profile) {
        match self.index.get(&key) {
            Some(&at) => self.slot_mut(at).1 = p,
            None => {
                self.put(key, p);
            }
        }
    }

    fn put(&mut self, key: u64, p: Profile) -> u32 {
        let at = match self.free.pop() {
            Some(at) => {
                *self.slot_mut(at) = (key, p);
                at
            }
            None => {
                if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                    self.chunks.push(Vec::with_capacity(CHUNK));
                }
                let n = self.chunks.len() - 1;
                let last = &mut self.chunks[n];
                last.push((key, p));
                (n * CHUNK + last.len() - 1) as u32
            }
        };
        self.index.insert(key, at);
        at
    }

    pub fn remove(&mut self, key: u64) -> bool {
        match self.index.remove(&key) {
            Some(at) => {
                self.release(at);
                true
            }
            None => false,
        }
    }

    /// A slot back to the free list, its profile's heap (Bloom filters) given back now.
    fn release(&mut self, at: u32) {
        self.slot_mut(at).1 = Profile::new(0, false);
        self.free.push(at);
    }

    /// Keep the principals `keep` says yes to; returns how many were removed.
    pub fn retain(&mut self, mut keep: impl FnMut(&Profile) -> bool) -> usize {
        let chunks = &self.chunks;
        let mut gone = Vec::new();
        self.index.retain(|_, at| {
            let k = keep(&chunks[*at as usize / CHUNK][*at as usize % CHUNK].1);
            if !k {
                gone.push(*at);
            }
            k
        });
        for &at in &gone {
            self.release(at);
        }
        gone.len()
    }

    /// Every principal, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Profile)> {
        self.index.iter().map(|(&k, &at)| (k, &self.slot(at).1))
    }

    /// Bytes of one principal in the table: its slot and its index entry.
    pub fn entry_bytes() -> usize {
        size_of::<(u64, Profile)>() + size_of::<(u64, u32)>()
    }

    /// Bytes allocated: the index's buckets (entry + 1 control byte, capacity * 8/7 rounded up
    /// to a power of two), every chunk's slots and the free list.
    pub fn allocated_bytes(&self) -> usize {
        let cap = self.index.capacity();
        let buckets = if cap == 0 {
            0
        } else {
            (cap * 8 / 7).next_power_of_two()
        };
        buckets * (size_of::<(u64, u32)>() + 1)
            + self.chunks.iter().map(Vec::capacity).sum::<usize>() * size_of::<(u64, Profile)>()
            + self.free.capacity() * size_of::<u32>()
    }
}

/// The same principals with the same profiles, wherever their slots are.
impl PartialEq for Table {
    fn eq(&self, other: &Table) -> bool {
        self.len() == other.len() && self.iter().all(|(k, p)| other.get(k) == Some(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_lookups_follow_their_keys() {
        let mut t = Table::default();
        for k in 0..3000u64 {
            t.get_or_insert_with(k, || Profile::new(k as u32, false));
        }
        assert_eq!(t.len(), 3000);
        assert_eq!(t.chunks.len(), 3);
        assert!(t.remove(5));
        assert!(!t.remove(5));
        assert_eq!(t.retain(|p| p.first_hour % 2 == 0), 1499);
        // A freed slot holds nothing of its principal (its Bloom filters are given back).
        assert!(t
            .free
            .iter()
            .all(|&at| t.slot(at).1 == Profile::new(0, false)));
        assert_eq!(t.len(), 1500);
        assert!(t.get(5).is_none() && t.get(7).is_none());
        assert_eq!(t.get(6).map(|p| p.first_hour), Some(6));
        // New principals take freed slots: no new chunk.
        for k in 10_000..11_500u64 {
            t.get_or_insert_with(k, || Profile::new(k as u32, false))
                .cur_reads = 7;
        }
        assert_eq!(t.chunks.len(), 3);
        assert_eq!(t.len(), 3000);
        assert!((10_000..11_500)
            .all(|k| t.get(k).map(|p| (p.first_hour, p.cur_reads)) == Some((k as u32, 7))));
        assert!((0..3000)
            .step_by(2)
            .all(|k| t.get(k).map(|p| p.first_hour) == Some(k as u32)));
        // Equal whatever the slots: the same principals inserted in another order.
        let mut u = Table::default();
        for (k, p) in t.iter().collect::<Vec<_>>().into_iter().rev() {
            u.insert(k, p.clone());
        }
        assert_eq!(t, u);
        u.get_mut(6).unwrap().cur_reads += 1;
        assert_ne!(t, u);
    }
}
