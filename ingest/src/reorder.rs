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

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::event::AccessEvent;
use crate::kafka::KafkaBatch;

type Part = (Arc<str>, i32);

struct PartState {
    key: Part,
    /// Latest event time seen.
    max_time: Option<DateTime<Utc>>,
    /// Last message (wall clock).
    active: Instant,
    /// Next offset to read: safe when nothing of this partition is held (unknown until its
    /// first message).
    consumed: Option<i64>,
    /// What was last handed over as safe.
    published: Option<i64>,
    /// Offsets of the held events (how many at each).
    held_offsets: BTreeMap<i64, u32>,
}

impl PartState {
    fn new(key: Part, now: Instant) -> PartState {
        PartState {
            key,
            max_time: None,
            active: now,
            consumed: None,
            published: None,
            held_offsets: BTreeMap::new(),
        }
    }
}

/// Where a held event sits: the heap orders these small keys (event time, then arrival) and
/// the events stay put in a slab, so the heap's sifting moves 32 bytes, not whole events.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    time: DateTime<Utc>,
    seq: u64,
    slot: u32,
}

struct Held {
    event: AccessEvent<'static>,
    part: u32,
    offset: i64,
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
    heap: BinaryHeap<Reverse<Key>>,
    /// The held events, by [`Key::slot`]; `free` lists the empty slots.
    slab: Vec<Option<Held>>,
    free: Vec<u32>,
    /// Partitions by index; a revoked partition's entry is `None` until reused.
    parts: Vec<Option<PartState>>,
    index: HashMap<Part, u32>,
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
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            parts: Vec::new(),
            index: HashMap::new(),
            idle,
            max_held: max_held.max(1),
            seq: 0,
            released_up_to: None,
        }
    }

    pub fn held(&self) -> usize {
        self.heap.len()
    }

    /// The index of a partition, made when new (then, a partition that holds nothing back
    /// until it sends or stays quiet for `idle`).
    fn part(&mut self, key: Part, now: Instant) -> u32 {
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let st = PartState::new(key.clone(), now);
        let i = match self.parts.iter().position(Option::is_none) {
            Some(i) => {
                self.parts[i] = Some(st);
                i as u32
            }
            None => {
                self.parts.push(Some(st));
                (self.parts.len() - 1) as u32
            }
        };
        self.index.insert(key, i);
        i
    }

    fn state(&mut self, i: u32) -> &mut PartState {
        self.parts[i as usize]
            .as_mut()
            .expect("an indexed partition has a state")
    }

    /// Take a batch from the consumer.
    pub fn push(&mut self, b: KafkaBatch, now: Instant) {
        // A new partition holds the others back until it sends or stays quiet for `idle`.
        for (t, p) in b.assigned {
            let key = (Arc::from(t.as_str()), p);
            if let Some(&i) = self.index.get(&key) {
                // Assigned again: what it holds stays held (and its offsets unsafe).
                let st = self.state(i);
                let held_offsets = std::mem::take(&mut st.held_offsets);
                *st = PartState {
                    held_offsets,
                    ..PartState::new(key, now)
                };
            } else {
                self.part(key, now);
            }
        }
        for (t, p, next) in b.offsets {
            let i = self.part((t, p), now);
            let st = self.state(i);
            st.active = now;
            st.consumed = Some(st.consumed.map_or(next, |c| c.max(next)));
        }
        // Consecutive events mostly come from one partition: look it up once per run.
        let mut last: Option<(*const u8, i32, u32)> = None;
        for (ev, (topic, p, offset)) in b.events.into_iter().zip(b.origins) {
            let i = match last {
                Some((ptr, lp, i)) if ptr == Arc::as_ptr(&topic).cast::<u8>() && lp == p => i,
                _ => {
                    let ptr = Arc::as_ptr(&topic).cast::<u8>();
                    let i = self.part((topic, p), now);
                    last = Some((ptr, p, i));
                    i
                }
            };
            let time = ev.time;
            let st = self.state(i);
            st.max_time = Some(st.max_time.map_or(time, |m| m.max(time)));
            *st.held_offsets.entry(offset).or_default() += 1;
            self.seq += 1;
            let held = Held {
                event: ev,
                part: i,
                offset,
            };
            let slot = match self.free.pop() {
                Some(s) => {
                    self.slab[s as usize] = Some(held);
                    s
                }
                None => {
                    self.slab.push(Some(held));
                    (self.slab.len() - 1) as u32
                }
            };
            self.heap.push(Reverse(Key {
                time,
                seq: self.seq,
                slot,
            }));
        }
    }

    /// The caller did not read for a while (it was blocked handing events on): that time does
    /// not make partitions quiet.
    pub fn touch_all(&mut self, now: Instant) {
        for st in self.parts.iter_mut().flatten() {
            st.active = st.active.max(now);
        }
    }

    /// Forget what is held from partitions taken away (their next owner reads them again).
    pub fn drop_partitions(&mut self, gone: &[(String, i32)]) {
        let mut dropped = vec![];
        for (t, p) in gone {
            if let Some(i) = self.index.remove(&(Arc::from(t.as_str()), *p)) {
                self.parts[i as usize] = None;
                dropped.push(i);
            }
        }
        if dropped.is_empty() {
            return;
        }
        let (slab, free) = (&mut self.slab, &mut self.free);
        self.heap.retain(|Reverse(k)| {
            let keep = slab[k.slot as usize]
                .as_ref()
                .is_some_and(|h| !dropped.contains(&h.part));
            if !keep {
                slab[k.slot as usize] = None;
                free.push(k.slot);
            }
            keep
        });
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
        let holding = |s: &PartState| {
            let state = behind(&s.key.0, s.key.1);
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
            .flatten()
            .filter(|s| holding(s))
            .map(|s| s.max_time.unwrap_or(DateTime::<Utc>::MIN_UTC))
            .min();
        match watermark {
            // No partition is sending: nothing to wait for.
            None => self.release_until(None),
            Some(w) => self.release_until(Some(w)),
        }
    }

    fn release_until(&mut self, watermark: Option<DateTime<Utc>>) -> Released {
        let mut out = Released::default();
        loop {
            let due = match (self.heap.peek(), watermark) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(Reverse(k)), Some(w)) => k.time <= w || self.heap.len() > self.max_held,
            };
            if !due {
                break;
            }
            let Some(Reverse(k)) = self.heap.pop() else {
                break;
            };
            let Some(h) = self.slab[k.slot as usize].take() else {
                continue;
            };
            self.free.push(k.slot);
            match self.released_up_to {
                Some(r) if k.time < r => out.late += 1,
                _ => self.released_up_to = Some(k.time),
            }
            let st = self.parts[h.part as usize]
                .as_mut()
                .expect("a held event's partition is known");
            if let Some(n) = st.held_offsets.get_mut(&h.offset) {
                *n -= 1;
                if *n == 0 {
                    st.held_offsets.remove(&h.offset);
                }
            }
            out.origins.push((st.key.0.clone(), st.key.1, h.offset));
            out.events.push(h.event);
        }
        // Safe offsets: the oldest held message of a partition, else all it has consumed.
        for st in self.parts.iter_mut().flatten() {
            let oldest = st.held_offsets.keys().next().copied();
            let Some(safe) = oldest.or(st.consumed) else {
                continue;
            };
            if st.published.is_none_or(|old| safe > old) {
                st.published = Some(safe);
                out.offsets.push((st.key.0.clone(), st.key.1, safe));
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

    #[test]
    fn many_events_come_out_in_time_order_with_their_origins_and_slots_are_reused() {
        let t0 = Instant::now();
        let mut r = Reorder::new(Duration::from_secs(60), 100_000);
        // Three partitions, each in time order, interleaved in batches of 7.
        let mut next = [0u32; 3];
        let mut released = vec![];
        for round in 0..40 {
            for part in 0..3i32 {
                let items: Vec<(String, u32, i64)> = (0..7)
                    .map(|_| {
                        let n = next[part as usize];
                        next[part as usize] += 1;
                        // At different paces, within the minute `ev` writes.
                        let secs = n * (1 + part as u32) / 15;
                        (format!("p{part}-{n}"), secs, i64::from(n))
                    })
                    .collect();
                let refs: Vec<(&str, u32, i64)> =
                    items.iter().map(|(a, b, c)| (a.as_str(), *b, *c)).collect();
                r.push(batch(part, &refs), t0);
            }
            let out = r.release(t0, &none);
            if round == 20 {
                assert!(
                    r.held() < 3 * 7 * 21,
                    "events are released as the watermark moves"
                );
            }
            released.push(out);
        }
        released.push(r.release_all());
        let mut times = vec![];
        for out in &released {
            for (e, (t, p, o)) in out.events.iter().zip(&out.origins) {
                assert_eq!(&**t, "audit");
                assert_eq!(e.id, format!("p{p}-{o}"), "origin of each event");
                times.push(e.time);
            }
        }
        assert_eq!(times.len(), 3 * 7 * 40);
        assert_eq!(released.iter().map(|o| o.late).sum::<u64>(), 0);
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "in event-time order"
        );
        assert!(r.slab.len() <= 3 * 7 * 40 && r.free.len() == r.slab.len());
    }
}
