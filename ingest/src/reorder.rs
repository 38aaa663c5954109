//! Event time across Kafka partitions: a consumer reads its partitions in turns (a fetch of
//! one, then another), so event time jumps back and forth between them, which windows and
//! baselines must not see. Events are held and released in event-time order up to the
//! watermark: the earliest of the latest event times of the partitions that are sending
//! (a partition quiet for `idle` on the wall clock no longer holds the others back). Within a
//! partition events are taken to be roughly in order; one older than what was released is
//! released at once and counted as late.
//!
//! Offsets stay at least once: a partition's safe offset is that of its oldest held message,
//! so a commit never passes an event that detection has not seen.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::event::AccessEvent;
use crate::kafka::KafkaBatch;

type Part = (Arc<str>, i32);

struct PartState {
    /// Latest event time seen.
    max_time: Option<DateTime<Utc>>,
    /// Last message (wall clock).
    active: Instant,
    /// Next offset to read: safe when nothing of this partition is held (unknown until its
    /// first message).
    consumed: Option<i64>,
    /// What was last handed over as safe.
    published: Option<i64>,
}

struct Held {
    time: DateTime<Utc>,
    seq: u64,
    event: AccessEvent<'static>,
    origin: (Arc<str>, i32, i64),
}

// Ordered by event time, then arrival.
impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.seq) == (o.time, o.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.time, self.seq).cmp(&(o.time, o.seq))
    }
}

/// What may go to detection now, in event-time order.
#[derive(Default)]
pub struct Released {
    pub events: Vec<AccessEvent<'static>>,
    pub origins: Vec<(Arc<str>, i32, i64)>,
    /// Safe next offsets of the partitions whose safe offset moved.
    pub offsets: Vec<(Arc<str>, i32, i64)>,
    /// Events released older than an event released before them.
    pub late: u64,
}

pub struct Reorder {
    /// Oldest first.
    held: BinaryHeap<Reverse<Held>>,
    /// Offsets of the held events per partition (how many at each).
    held_offsets: HashMap<Part, BTreeMap<i64, u32>>,
    parts: HashMap<Part, PartState>,
    idle: Duration,
    max_held: usize,
    seq: u64,
    released_up_to: Option<DateTime<Utc>>,
}

impl Reorder {
    /// `idle`: how long a quiet partition holds the others back; `max_held`: the most events
    /// held (beyond it the oldest go at once).
    pub fn new(idle: Duration, max_held: usize) -> Reorder {
        Reorder {
            held: BinaryHeap::new(),
            held_offsets: HashMap::new(),
            parts: HashMap::new(),
            idle,
            max_held: max_held.max(1),
            seq: 0,
            released_up_to: None,
        }
    }

    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Take a batch from the consumer.
    pub fn push(&mut self, b: KafkaBatch, now: Instant) {
        // A new partition holds the others back until it sends or stays quiet for `idle`.
        for (t, p) in b.assigned {
            self.parts.insert(
                (Arc::from(t.as_str()), p),
                PartState {
                    max_time: None,
                    active: now,
                    consumed: None,
                    published: None,
                },
            );
        }
        for (t, p, next) in b.offsets {
            let st = self.parts.entry((t, p)).or_insert(PartState {
                max_time: None,
                active: now,
                consumed: None,
                published: None,
            });
            st.active = now;
            st.consumed = Some(st.consumed.map_or(next, |c| c.max(next)));
        }
        for (ev, origin) in b.events.into_iter().zip(b.origins) {
            if let Some(st) = self.parts.get_mut(&(origin.0.clone(), origin.1)) {
                st.max_time = Some(st.max_time.map_or(ev.time, |m| m.max(ev.time)));
            }
            self.seq += 1;
            *self
                .held_offsets
                .entry((origin.0.clone(), origin.1))
                .or_default()
                .entry(origin.2)
                .or_default() += 1;
            self.held.push(Reverse(Held {
                time: ev.time,
                seq: self.seq,
                event: ev,
                origin,
            }));
        }
    }

    /// The caller did not read for a while (it was blocked handing events on): that time does
    /// not make partitions quiet.
    pub fn touch_all(&mut self, now: Instant) {
        for st in self.parts.values_mut() {
            st.active = st.active.max(now);
        }
    }

    /// Forget what is held from partitions taken away (their next owner reads them again).
    pub fn drop_partitions(&mut self, gone: &[(String, i32)]) {
        let is_gone = |t: &str, p: i32| gone.iter().any(|(gt, gp)| gt == t && *gp == p);
        self.held
            .retain(|Reverse(h)| !is_gone(&h.origin.0, h.origin.1));
        self.held_offsets.retain(|(t, p), _| !is_gone(t, *p));
        self.parts.retain(|(t, p), _| !is_gone(t, *p));
    }

    /// Everything held, whatever the watermark (the end of the stream).
    pub fn release_all(&mut self) -> Released {
        self.release_until(None)
    }

    /// What the watermark lets through now. `behind`: whether the broker holds messages of a
    /// partition not yet received (`None`: not known yet). A partition holds the others back
    /// while it sends, while it is behind, and, until it first sends, until it is known not to be
    /// behind.
    pub fn release(
        &mut self,
        now: Instant,
        behind: &dyn Fn(&str, i32) -> Option<bool>,
    ) -> Released {
        let holding = |(t, p): &Part, s: &PartState| {
            let state = behind(t, *p);
            if s.consumed.is_none() {
                state != Some(false)
            } else {
                now.duration_since(s.active) < self.idle || state == Some(true)
            }
        };
        // A holding partition that has sent no event yet holds everything back.
        let watermark = self
            .parts
            .iter()
            .filter(|(k, s)| holding(k, s))
            .map(|(_, s)| s.max_time.unwrap_or(DateTime::<Utc>::MIN_UTC))
            .min();
        // No partition is sending: nothing to wait for.
        let all_quiet = !self.parts.iter().any(|(k, s)| holding(k, s));
        if all_quiet {
            return self.release_until(None);
        }
        match watermark {
            Some(w) => self.release_until(Some(w)),
            None => self.release_until(Some(DateTime::<Utc>::MIN_UTC)),
        }
    }

    fn release_until(&mut self, watermark: Option<DateTime<Utc>>) -> Released {
        let mut out = Released::default();
        loop {
            let due = match (self.held.peek(), watermark) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(Reverse(h)), Some(w)) => h.time <= w || self.held.len() > self.max_held,
            };
            if !due {
                break;
            }
            let Some(Reverse(h)) = self.held.pop() else {
                break;
            };
            match self.released_up_to {
                Some(r) if h.time < r => out.late += 1,
                _ => self.released_up_to = Some(h.time),
            }
            let key = (h.origin.0.clone(), h.origin.1);
            if let Some(offs) = self.held_offsets.get_mut(&key) {
                if let Some(n) = offs.get_mut(&h.origin.2) {
                    *n -= 1;
                    if *n == 0 {
                        offs.remove(&h.origin.2);
                    }
                }
            }
            out.events.push(h.event);
            out.origins.push(h.origin);
        }
        // Safe offsets: the oldest held message of a partition, else all it has consumed.
        for (k, st) in self.parts.iter_mut() {
            let oldest = self
                .held_offsets
                .get(k)
                .and_then(|m| m.keys().next().copied());
            let Some(safe) = oldest.or(st.consumed) else {
                continue;
            };
            if st.published.is_none_or(|old| safe > old) {
                st.published = Some(safe);
                out.offsets.push((k.0.clone(), k.1, safe));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, ParseOptions, Parsed, RecordParser};

    fn ev(id: &str, secs: u32) -> AccessEvent<'static> {
        let line = format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"{id}","stage":"ResponseComplete","verb":"get","user":{{"username":"u"}},"objectRef":{{"resource":"secrets","namespace":"prod","name":"s"}},"responseStatus":{{"code":200}},"stageTimestamp":"2026-11-03T10:00:{secs:02}Z"}}"#
        );
        let opts = ParseOptions::default();
        let mut p = RecordParser::new(&opts, Format::K8sAudit);
        let mut out = None;
        p.parse(&line, &mut |r| {
            if let Parsed::Event(e) = r {
                out = Some(e.into_owned())
            }
        });
        out.unwrap()
    }

    fn batch(part: i32, items: &[(&str, u32, i64)]) -> KafkaBatch {
        let t: Arc<str> = Arc::from("audit");
        KafkaBatch {
            events: items.iter().map(|(id, s, _)| ev(id, *s)).collect(),
            origins: items
                .iter()
                .map(|(_, _, o)| (t.clone(), part, *o))
                .collect(),
            offsets: vec![(
                t.clone(),
                part,
                items.iter().map(|i| i.2).max().unwrap() + 1,
            )],
            messages: items.len() as u64,
            bad: 0,
            events_by_source: Default::default(),
            revoked: Vec::new(),
            assigned: Vec::new(),
        }
    }

    fn none(_: &str, _: i32) -> Option<bool> {
        Some(false)
    }

    fn ids(r: &Released) -> Vec<&str> {
        r.events.iter().map(|e| e.id.as_ref()).collect()
    }

    #[test]
    fn partitions_merge_by_event_time_and_offsets_stay_behind_what_is_held() {
        let t0 = Instant::now();
        let mut r = Reorder::new(Duration::from_millis(500), 1000);
        // Partition 0 is fetched ahead of partition 1.
        r.push(batch(0, &[("a1", 1, 10), ("a2", 5, 11), ("a3", 9, 12)]), t0);
        r.push(batch(1, &[("b1", 2, 20), ("b2", 4, 21)]), t0);
        let first = r.release(t0, &none);
        // Up to the slower partition's latest time (4 s): a1, b1, b2.
        assert_eq!(ids(&first), ["a1", "b1", "b2"]);
        // Partition 0 holds offsets 11 and 12: its safe offset is 11; partition 1 is done (22).
        let mut offs = first.offsets.clone();
        offs.sort_by_key(|o| o.1);
        assert_eq!(
            offs.iter().map(|o| (o.1, o.2)).collect::<Vec<_>>(),
            [(0, 11), (1, 22)]
        );
        // More of partition 1 lets partition 0's events through, in order.
        r.push(batch(1, &[("b3", 7, 22), ("b4", 12, 23)]), t0);
        assert_eq!(ids(&r.release(t0, &none)), ["a2", "b3", "a3"]);
        // Partition 0 goes quiet: after the idle time b4 is not held back by it.
        assert_eq!(r.held(), 1);
        let later = t0 + Duration::from_millis(600);
        let last = r.release(later, &none);
        assert_eq!(ids(&last), ["b4"]);
        assert_eq!(last.late, 0);
        // A partition that restarts behind what was released: its events go at once, late.
        r.push(batch(0, &[("a4", 3, 13)]), later);
        let late = r.release(later + Duration::from_millis(600), &none);
        assert_eq!((ids(&late), late.late), (vec!["a4"], 1));
    }

    #[test]
    fn an_assigned_partition_without_events_yet_holds_the_others_back() {
        let t0 = Instant::now();
        let mut r = Reorder::new(Duration::from_millis(500), 1000);
        let mut first = batch(0, &[("a1", 1, 10), ("a2", 5, 11)]);
        first.assigned = vec![("audit".into(), 0), ("audit".into(), 1)];
        r.push(first, t0);
        // Partition 1 has sent nothing yet and its state is not known: it may hold anything
        // older, however long that takes; once known to be caught up, it holds nothing.
        let unknown = |_: &str, p: i32| if p == 1 { None } else { Some(false) };
        assert!(r
            .release(t0 + Duration::from_secs(5), &unknown)
            .events
            .is_empty());
        r.push(batch(1, &[("b1", 3, 20)]), t0 + Duration::from_millis(100));
        assert_eq!(
            ids(&r.release(t0 + Duration::from_millis(100), &none)),
            ["a1", "b1"]
        );
    }

    #[test]
    fn a_partition_behind_on_the_broker_holds_the_others_back_while_quiet() {
        let t0 = Instant::now();
        let mut r = Reorder::new(Duration::from_millis(200), 1000);
        r.push(batch(0, &[("a1", 1, 10), ("a2", 5, 11)]), t0);
        r.push(batch(1, &[("b1", 2, 20)]), t0);
        let later = t0 + Duration::from_secs(2);
        // Both quiet for long, but partition 1 still has messages on the broker: wait for it.
        let p1_behind = |_: &str, p: i32| Some(p == 1);
        assert_eq!(ids(&r.release(later, &p1_behind)), ["a1", "b1"]);
        assert_eq!(r.held(), 1);
        assert_eq!(ids(&r.release(later, &none)), ["a2"]);
    }

    #[test]
    fn held_events_are_bounded_and_revoked_partitions_dropped() {
        let t0 = Instant::now();
        let mut r = Reorder::new(Duration::from_secs(60), 2);
        r.push(
            batch(0, &[("a1", 1, 1), ("a2", 2, 2), ("a3", 3, 3), ("a4", 4, 4)]),
            t0,
        );
        r.push(batch(1, &[("b1", 0, 1)]), t0);
        // Watermark 0 s: only b1 may go, but at most two are held: a1 and a2 go too.
        assert_eq!(ids(&r.release(t0, &none)), ["b1", "a1", "a2"]);
        r.drop_partitions(&[("audit".into(), 0)]);
        assert_eq!(r.held(), 0);
        assert!(r.release_all().events.is_empty());
    }
}
