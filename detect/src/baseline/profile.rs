//! One principal's baseline, in 120 bytes plus (rarely) 256 bytes of Bloom filters.
//!
//! | field | bytes | what |
//! |---|---|---|
//! | `terms` | 48 | networks, user agents, namespaces, secrets seen ([`Terms`]) |
//! | `first_hour`, `cur_hour` | 8 | first and last active hour (hours since the epoch) |
//! | `cur_reads`, `cur_new_secrets` | 6 | secret reads in the current hour, and how many were new |
//! | `n`, `sum`, `sumsq` | 10 | completed active hours and their reads (sum, sum of squares) |
//! | `recent` | 8 | network / user agent first seen in a non-secret event this or last hour |
//! | `week` | 21 | hour-of-week slots of completed active hours (168 bits) |
//! | `fresh_slot`, `flags` | 2 | the slot committed last if it was new; [`flag`] bits |
//! | `pairs` | 16 | the principal's two most steadily read secrets, each with its own hourly reads ([`Pair`]) |
//!
//! Time is kept in whole hours: `cur_hour` doubles as "last seen". An hour's activity is
//! committed to `week` and to the read statistics when the principal's next active hour
//! starts, so the statistics describe completed hours only and a non-secret event cannot make
//! the hour it happens in look usual to a secret access that follows within the hour.
//! An hour that raised a volume alert after one that did not is learned clipped to 3 standard
//! deviations above the mean, so one burst does not make the next look normal.
//!
//! Per principal x secret: [`PAIRS`] slots hold the secrets the principal reads most steadily,
//! each with its reads in the current hour and an exponentially weighted mean of its reads per
//! active hour of the principal (hours without a read of it count as 0), over the last
//! [`PAIR_WINDOW`] active hours. A secret read when no slot is free takes the slot of a secret
//! not read this hour whose mean fell below [`PAIR_RELEASE_MEAN`] (read in fewer than one of two
//! active hours); otherwise it is not tracked. The pair's spread is the principal's own
//! (variance / mean of its hourly reads), so a bursty principal's secrets are judged as bursty.

use chrono::{DateTime, Utc};

use crate::baseline::termset::Terms;

/// Bits of [`Profile::flags`].
pub mod flag {
    /// First seen after the store's learning period ended.
    pub const NEW_PRINCIPAL: u8 = 1;
    /// `unknown-principal-secret-access` was raised for it.
    pub const UNKNOWN_ALERTED: u8 = 1 << 1;
    /// `secret-read-volume-anomaly` was raised in `cur_hour`.
    pub const VOLUME_ALERTED: u8 = 1 << 2;
    /// `unusual-hour-for-principal` was raised in `cur_hour`.
    pub const HOUR_ALERTED: u8 = 1 << 3;
    /// `recent` was noted before `cur_hour` (it is dropped at the next hour).
    pub const RECENT_AGED: u8 = 1 << 4;
    /// The last committed hour raised a volume alert.
    pub const PREV_VOLUME_ALERTED: u8 = 1 << 5;
}

/// Bits of [`Pair::flags`].
pub mod pair_flag {
    /// `per-secret-read-volume-anomaly` was raised for the pair in the current hour.
    pub const ALERTED: u8 = 1;
    /// ... and in the last committed hour.
    pub const PREV_ALERTED: u8 = 1 << 1;
}

/// Secrets tracked per principal.
pub const PAIRS: usize = 2;
/// A pair's mean is an exponentially weighted mean over about this many active hours.
pub const PAIR_WINDOW: u8 = 64;
/// A slot whose secret averages fewer reads per active hour may be given to another secret.
pub const PAIR_RELEASE_MEAN: f32 = 0.5;

/// One secret of a principal with its hourly reads: 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pair {
    /// [`pair_tag`] of the secret's term; 0 for a free slot.
    pub tag: u16,
    /// Reads of it in the principal's current hour.
    pub cur: u16,
    /// Mean reads per completed active hour of the principal since tracked (`f16` bits).
    pub mean: u16,
    /// Completed active hours of the principal since tracked (saturating).
    pub hours: u8,
    /// [`pair_flag`] bits.
    pub flags: u8,
}

/// The 16 bits of a secret term that name it among one principal's tracked secrets (two
/// secrets of one principal share a tag with odds of 1 in 65,535; their reads then add up).
pub fn pair_tag(term: u32) -> u16 {
    match (term ^ (term >> 16)) as u16 {
        0 => 1,
        t => t,
    }
}

impl Pair {
    pub fn mean(&self) -> f32 {
        half::f16::from_bits(self.mean).to_f32()
    }

    fn set_mean(&mut self, m: f32) {
        self.mean = half::f16::from_f32(m).to_bits();
    }

    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// Its reads per active hour, with a prior of one read in one hour, and the variance the
    /// principal's spread (`dispersion` = its variance / mean, at least 1) gives them.
    pub fn read_stats(&self, dispersion: f64) -> ReadStats {
        let h = f64::from(self.hours.min(PAIR_WINDOW));
        let mean = (h * f64::from(self.mean()) + 1.0) / (h + 1.0);
        ReadStats {
            hours: u32::from(self.hours),
            mean,
            variance: mean * dispersion.max(1.0),
        }
    }

    /// Commit the principal's current hour: the clipped count when the pair alerted in it
    /// after an hour that did not (as for the principal's own volume).
    fn commit(&mut self, dispersion: f64) {
        let mut c = f32::from(self.cur);
        let alerted = self.has(pair_flag::ALERTED);
        if alerted && !self.has(pair_flag::PREV_ALERTED) {
            c = c.min(self.read_stats(dispersion).burst_clip());
        }
        self.hours = self.hours.saturating_add(1);
        let m = self.mean();
        self.set_mean(m + (c - m) / f32::from(self.hours.min(PAIR_WINDOW)));
        self.flags = if alerted { pair_flag::PREV_ALERTED } else { 0 };
        self.cur = 0;
    }
}

/// `fresh_slot` when there is none.
pub const NO_SLOT: u8 = u8::MAX;
/// Hour slots in a week.
pub const WEEK_SLOTS: u32 = 168;
/// At this many completed hours the read statistics are halved, so old hours fade out and
/// the sums stay exact in `f32`.
const DECAY_AT: u16 = 1024;

/// Hours since the Unix epoch (0 before it).
pub fn hour_of(t: DateTime<Utc>) -> u32 {
    (t.timestamp().max(0) / 3600).min(i64::from(u32::MAX)) as u32
}

/// UTC hour of the week, Monday 00:00 = 0 (the epoch was a Thursday).
pub fn slot_of(hour: u32) -> u8 {
    let weekday = (hour / 24 + 3) % 7;
    (weekday * 24 + hour % 24) as u8
}

/// What one event contributes to its principal's profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts {
    pub hour: u32,
    pub network: Option<u32>,
    pub user_agent: Option<u32>,
    pub namespace: Option<u32>,
    pub secret: Option<u32>,
    /// The event touches a secret (`target.is_secret`).
    pub secret_access: bool,
    /// The event reads a secret (read or list, not denied): counted by the volume test.
    pub read: bool,
}

/// Reads per completed active hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadStats {
    /// Completed active hours (decayed).
    pub hours: u32,
    /// Mean reads per active hour, with a prior of one read in one hour.
    pub mean: f64,
    /// Sample variance (the mean when there are fewer than two hours).
    pub variance: f64,
}

impl ReadStats {
    /// What an hour that alerted after a quiet one is learned as, at most: mean + 3 standard
    /// deviations (rounded up), so one burst does not teach that bursts are normal.
    pub fn burst_clip(&self) -> f32 {
        (self.mean + 3.0 * self.variance.max(self.mean).sqrt()).ceil() as f32
    }
}

/// One principal's baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub terms: Terms,
    pub first_hour: u32,
    pub cur_hour: u32,
    pub cur_reads: u32,
    pub sum: f32,
    pub sumsq: f32,
    pub recent: [u32; 2],
    pub n: u16,
    pub cur_new_secrets: u16,
    pub week: [u8; 21],
    pub fresh_slot: u8,
    pub flags: u8,
    pub pairs: [Pair; PAIRS],
}

impl Profile {
    pub fn new(hour: u32, new_principal: bool) -> Profile {
        Profile {
            terms: Terms::default(),
            first_hour: hour,
            cur_hour: hour,
            cur_reads: 0,
            sum: 0.0,
            sumsq: 0.0,
            recent: [0; 2],
            n: 0,
            cur_new_secrets: 0,
            week: [0; 21],
            fresh_slot: NO_SLOT,
            flags: if new_principal {
                flag::NEW_PRINCIPAL
            } else {
                0
            },
            pairs: [Pair::default(); PAIRS],
        }
    }

    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// Hours since the first event.
    pub fn age_hours(&self, hour: u32) -> u32 {
        hour.saturating_sub(self.first_hour)
    }

    pub(crate) fn bit(&self, slot: u32) -> bool {
        self.week[(slot / 8) as usize] & (1 << (slot % 8)) != 0
    }

    /// Event time reached `hour`: commit the current hour if it is over. Called before the
    /// checks of an event, so they see every completed hour.
    pub fn advance(&mut self, hour: u32) {
        if hour <= self.cur_hour {
            return;
        }
        let mut c = self.cur_reads as f32;
        let alerted = self.has(flag::VOLUME_ALERTED);
        let s = self.read_stats();
        let dispersion = s.variance / s.mean;
        for pair in self.pairs.iter_mut().filter(|p| p.tag != 0) {
            pair.commit(dispersion);
        }
        if alerted && !self.has(flag::PREV_VOLUME_ALERTED) {
            // A burst that alerted after a quiet hour is learned as at most mean + 3 sd: one
            // burst does not teach the baseline that bursts are normal. Bursts in consecutive
            // hours are learned as they are, so a lasting change stops alerting.
            c = c.min(s.burst_clip());
        }
        self.flags &= !flag::PREV_VOLUME_ALERTED;
        if alerted {
            self.flags |= flag::PREV_VOLUME_ALERTED;
        }
        self.n += 1;
        self.sum += c;
        self.sumsq += c * c;
        if self.n >= DECAY_AT {
            self.n /= 2;
            self.sum /= 2.0;
            self.sumsq /= 2.0;
        }
        let slot = slot_of(self.cur_hour);
        self.fresh_slot = if self.bit(u32::from(slot)) {
            NO_SLOT
        } else {
            slot
        };
        self.week[usize::from(slot / 8)] |= 1 << (slot % 8);
        let keep_recent = hour == self.cur_hour + 1 && !self.has(flag::RECENT_AGED);
        if keep_recent && self.recent != [0; 2] {
            self.flags |= flag::RECENT_AGED;
        } else {
            self.recent = [0; 2];
            self.flags &= !flag::RECENT_AGED;
        }
        self.flags &= !(flag::VOLUME_ALERTED | flag::HOUR_ALERTED);
        self.cur_reads = 0;
        self.cur_new_secrets = 0;
        self.cur_hour = hour;
    }

    /// Learn one event (after its checks). `novelty_matters`: the principal is past its own
    /// learning, so a network or user agent first seen here in a non-secret event is kept in
    /// `recent` for a secret access that may follow.
    pub fn observe(&mut self, f: &Facts, novelty_matters: bool) {
        self.advance(f.hour);
        if f.hour < self.cur_hour {
            // A late event: its hour is complete, commit its slot directly.
            let slot = slot_of(f.hour);
            self.week[usize::from(slot / 8)] |= 1 << (slot % 8);
        }
        for (i, term) in [f.network, f.user_agent].into_iter().enumerate() {
            if let Some(t) = term {
                if self.terms.insert(t) && novelty_matters && !f.secret_access {
                    self.recent[i] = t;
                    self.flags &= !flag::RECENT_AGED;
                }
            }
        }
        if let Some(t) = f.namespace {
            self.terms.insert(t);
        }
        let new_secret = f.secret.is_some_and(|t| self.terms.insert(t));
        if f.read {
            self.cur_reads = self.cur_reads.saturating_add(1);
            if new_secret {
                self.cur_new_secrets = self.cur_new_secrets.saturating_add(1);
            }
            if let Some(t) = f.secret {
                self.count_pair_read(t);
            }
        }
    }

    /// The tracked pair of a secret term, if any.
    pub fn pair(&self, term: u32) -> Option<&Pair> {
        let tag = pair_tag(term);
        self.pairs.iter().find(|p| p.tag == tag)
    }

    pub(crate) fn pair_mut(&mut self, term: u32) -> Option<&mut Pair> {
        let tag = pair_tag(term);
        self.pairs.iter_mut().find(|p| p.tag == tag)
    }

    fn count_pair_read(&mut self, term: u32) {
        if let Some(p) = self.pair_mut(term) {
            p.cur = p.cur.saturating_add(1);
            return;
        }
        let free = self.pairs.iter().position(|p| p.tag == 0).or_else(|| {
            self.pairs
                .iter()
                .enumerate()
                .filter(|(_, p)| p.cur == 0 && p.mean() < PAIR_RELEASE_MEAN)
                .min_by(|a, b| a.1.mean().total_cmp(&b.1.mean()))
                .map(|(i, _)| i)
        });
        if let Some(i) = free {
            self.pairs[i] = Pair {
                tag: pair_tag(term),
                cur: 1,
                ..Pair::default()
            };
        }
    }

    /// True when `term` is new to the principal: never seen, or first seen in a non-secret
    /// event moments ago (`recent`).
    pub fn is_novel(&self, term: u32) -> bool {
        !self.terms.contains(term) || self.recent.contains(&term)
    }

    /// Whether the principal was active in `slot` or an hour next to it (drift tolerance),
    /// by hour of the week, or by hour of the day (`by_day`, for principals younger than a
    /// week). A neighbour committed new in the last hour does not count: it is the same
    /// unusual session.
    pub fn slot_known(&self, slot: u8, by_day: bool) -> bool {
        let slot = u32::from(slot);
        let fresh = u32::from(self.fresh_slot);
        for delta in [0u32, 1, WEEK_SLOTS - 1] {
            let hit = |s: u32| self.bit(s) && (delta == 0 || s != fresh);
            if by_day {
                let h = (slot % 24 + delta) % 24;
                if (0..7).any(|d| hit(d * 24 + h)) {
                    return true;
                }
            } else if hit((slot + delta) % WEEK_SLOTS) {
                return true;
            }
        }
        false
    }

    /// Distinct hour slots with activity: of the week, or of the day (`by_day`).
    pub fn active_slots(&self, by_day: bool) -> u32 {
        if by_day {
            (0..24)
                .filter(|h| (0..7).any(|d| self.bit(d * 24 + h)))
                .count() as u32
        } else {
            self.week.iter().map(|b| b.count_ones()).sum()
        }
    }

    /// Secret reads per completed active hour.
    pub fn read_stats(&self) -> ReadStats {
        let n = f64::from(self.n);
        let sum = f64::from(self.sum);
        let mean = (sum + 1.0) / (n + 1.0);
        let variance = if self.n >= 2 {
            ((f64::from(self.sumsq) - sum * sum / n) / (n - 1.0)).max(0.0)
        } else {
            mean
        };
        ReadStats {
            hours: u32::from(self.n),
            mean,
            variance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn layout_is_within_budget() {
        assert_eq!(std::mem::size_of::<Pair>(), 8);
        assert_eq!(std::mem::size_of::<Profile>(), 120);
    }

    #[test]
    fn slots_are_utc_hours_of_the_week_from_monday() {
        // 2026-11-02 is a Monday.
        let mon = Utc.with_ymd_and_hms(2026, 11, 2, 0, 30, 0).unwrap();
        assert_eq!(slot_of(hour_of(mon)), 0);
        let sun = Utc.with_ymd_and_hms(2026, 11, 8, 23, 0, 0).unwrap();
        assert_eq!(slot_of(hour_of(sun)), 167);
        let tue = Utc.with_ymd_and_hms(2026, 11, 3, 2, 59, 0).unwrap();
        assert_eq!(slot_of(hour_of(tue)), 26);
    }

    #[test]
    fn hours_commit_when_the_next_one_starts() {
        let h0 = hour_of(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap());
        let mut p = Profile::new(h0, false);
        let read = Facts {
            hour: h0,
            read: true,
            secret_access: true,
            ..Facts::default()
        };
        for _ in 0..3 {
            p.observe(&read, true);
        }
        assert_eq!((p.n, p.cur_reads), (0, 3));
        assert!(
            !p.slot_known(9, false),
            "the current hour is not committed yet"
        );
        p.advance(h0 + 2);
        assert_eq!((p.n, p.sum, p.sumsq, p.cur_reads), (1, 3.0, 9.0, 0));
        // 10:00 is next to 09:00, but 09:00 was new in the hour just committed.
        assert!(p.slot_known(9, false) && !p.slot_known(10, false));
        p.advance(h0 + 5);
        assert!(p.slot_known(10, false) && !p.slot_known(13, false));
        assert!(p.slot_known(24 + 9, true) && !p.slot_known(24 + 9, false));
        let s = p.read_stats();
        assert_eq!((s.hours, s.mean), (2, 4.0 / 3.0));
    }

    #[test]
    fn a_fresh_neighbour_gives_no_tolerance() {
        let h0 = hour_of(Utc.with_ymd_and_hms(2026, 11, 2, 3, 10, 0).unwrap());
        let mut p = Profile::new(h0 - 100, false);
        p.advance(h0);
        p.advance(h0 + 1);
        // 03:00 was committed new one hour ago: 04:00 is not "next to a usual hour".
        assert_eq!(p.fresh_slot, 3);
        assert!(!p.slot_known(4, false));
        assert!(p.slot_known(3, false));
    }

    #[test]
    fn recent_novelty_lasts_into_the_next_hour_only() {
        let h0 = 500_000;
        let mut p = Profile::new(h0 - 500, false);
        p.advance(h0);
        let ip = crate::baseline::terms::network_term("203.0.113.9", 24, 64);
        let f = Facts {
            hour: h0,
            network: Some(ip),
            ..Facts::default()
        };
        p.observe(&f, true);
        assert!(p.is_novel(ip));
        p.advance(h0 + 1);
        assert!(p.is_novel(ip));
        p.advance(h0 + 2);
        assert!(!p.is_novel(ip));
    }

    #[test]
    fn pairs_track_steady_secrets_and_release_rare_ones() {
        let h0 = 400_000;
        let secret = |i: u32| (4 << 29) | (i * 7919 + 13);
        let read = |hour, s| Facts {
            hour,
            secret: Some(secret(s)),
            secret_access: true,
            read: true,
            ..Facts::default()
        };
        let mut p = Profile::new(h0, false);
        // Secret 1 three times an hour, secret 2 every fourth hour, secret 3 once.
        for h in 0..40 {
            for _ in 0..3 {
                p.observe(&read(h0 + h, 1), true);
            }
            if h % 4 == 0 {
                p.observe(&read(h0 + h, 2), true);
            }
            if h == 1 {
                p.observe(&read(h0 + h, 3), true);
            }
        }
        p.advance(h0 + 40);
        let one = *p.pair(secret(1)).expect("secret 1 is tracked");
        assert_eq!((one.hours, one.cur), (40, 0));
        assert!((one.mean() - 3.0).abs() < 0.01, "{}", one.mean());
        let two = *p.pair(secret(2)).expect("secret 2 took the free slot");
        assert!((two.mean() - 0.25).abs() < 0.05, "{}", two.mean());
        assert!(p.pair(secret(3)).is_none(), "no slot was free for secret 3");
        // Secret 2 is read in fewer than half the hours: secret 3 may take its slot now.
        p.observe(&read(h0 + 40, 3), true);
        let three = *p.pair(secret(3)).expect("secret 3 replaced secret 2");
        assert_eq!((three.hours, three.cur), (0, 1));
        assert!(p.pair(secret(2)).is_none());
        // A slot read this hour is never given away, however rare its secret.
        p.observe(&read(h0 + 40, 4), true);
        assert!(p.pair(secret(4)).is_none());
        // The spread is the principal's: over-dispersed reads widen the pair's variance.
        let s = one.read_stats(4.0);
        assert_eq!(s.hours, 40);
        assert!((s.variance / s.mean - 4.0).abs() < 1e-9);
    }
}
