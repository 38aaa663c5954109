//! The day being generated, and the plan of Vault secret rotations shared by benign traffic and stories.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::options::GenerateOptions;
use crate::rng::{between, sub_rng};
use crate::timefmt::{local, DAY, HOUR, MIN, SEC};
use crate::world::{World, APPS, PROD, SYNCED_KEYS};

/// Everything a generator needs to know about the day it generates.
pub struct DayCtx<'a> {
    pub world: &'a World,
    pub opts: &'a GenerateOptions,
    pub rotations: &'a Rotations,
    pub day: u32,
    /// First instant of the day (ns).
    pub start: i64,
    /// End of the day, exclusive (ns).
    pub end: i64,
}

impl DayCtx<'_> {
    /// Random stream of one component for this day.
    pub fn rng(&self, component: &str) -> ChaCha8Rng {
        sub_rng(self.opts.seed, component, u64::from(self.day))
    }

    /// Mean interval (ns) of a process that runs every `secs` seconds at scale 1.
    pub fn every(&self, secs: f64) -> f64 {
        secs * SEC as f64 / self.opts.scale
    }

    /// Scaled mean count.
    pub fn scaled(&self, count: f64) -> f64 {
        count * self.opts.scale
    }
}

/// One write of a prod secret by the rotator, and when external-secrets syncs it.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub t: i64,
    pub app: usize,
    pub key: usize,
    /// KV version written.
    pub version: u32,
    /// When external-secrets writes the new value into the Kubernetes Secret.
    pub sync_t: i64,
    /// The `rotation-sync-gap` story: the sync comes late, the write is labeled.
    pub story: bool,
}

/// All rotations of the dataset, sorted by time.
#[derive(Debug, Clone, Default)]
pub struct Rotations {
    pub list: Vec<Rotation>,
    base_versions: Vec<u32>,
}

/// Rotations happen on weekdays between these UTC hours.
pub const ROTATION_HOURS: (i64, i64) = (10, 16);

impl Rotations {
    /// Plans the benign rotations (a few a week, one on the first day) plus the story rotation if any.
    pub fn build(
        opts: &GenerateOptions,
        world: &World,
        start: i64,
        story: Option<(i64, usize, usize)>,
    ) -> Self {
        let mut rng = sub_rng(opts.seed, "rotations", 0);
        let base_versions: Vec<u32> = (0..world.sync.len())
            .map(|_| rng.random_range(1..12))
            .collect();
        let mut planned: Vec<(i64, usize, usize, bool)> = Vec::new();
        for day in 0..i64::from(opts.days) {
            let day_start = start + day * DAY;
            let (weekday, _) = local(day_start + 12 * HOUR, 0);
            let n = if day == 0 {
                1
            } else if weekday >= 5 {
                0
            } else {
                match rng.random_range(0..100) {
                    0..30 => 0,
                    30..85 => 1,
                    _ => 2,
                }
            };
            for _ in 0..n {
                let t = day_start
                    + between(&mut rng, ROTATION_HOURS.0 * HOUR, ROTATION_HOURS.1 * HOUR)
                    + rng.random_range(0..SEC);
                let app = rng.random_range(0..APPS.len());
                let key = rng.random_range(0..SYNCED_KEYS.len());
                let clash = story.is_some_and(|(st, sa, sk)| {
                    sa == app && sk == key && (t - st).abs() < 3 * HOUR
                });
                if !clash {
                    planned.push((t, app, key, false));
                }
            }
        }
        if let Some((t, app, key)) = story {
            planned.push((t, app, key, true));
        }
        planned.sort_by_key(|p| (p.0, p.1, p.2));
        let mut versions: Vec<u32> = base_versions.clone();
        let list = planned
            .into_iter()
            .map(|(t, app, key, is_story)| {
                let idx = world.sync_index(PROD, app, key);
                versions[idx] += 1;
                let delay = if is_story {
                    between(&mut rng, 35 * MIN, 50 * MIN)
                } else {
                    between(&mut rng, 40 * SEC, 9 * MIN)
                };
                Rotation {
                    t,
                    app,
                    key,
                    version: versions[idx],
                    sync_t: t + delay,
                    story: is_story,
                }
            })
            .collect();
        Rotations {
            list,
            base_versions,
        }
    }

    /// Rotations whose write falls in `[from, to)`.
    pub fn between(&self, from: i64, to: i64) -> impl Iterator<Item = &Rotation> {
        self.list.iter().filter(move |r| r.t >= from && r.t < to)
    }

    /// KV version of a synced path at time `t`, and when that version was written.
    pub fn version_at(&self, world: &World, sync_idx: usize, t: i64) -> (u32, Option<i64>) {
        let m = &world.sync[sync_idx];
        let mut v = self.base_versions[sync_idx];
        let mut written = None;
        if m.env == PROD {
            for r in self
                .list
                .iter()
                .filter(|r| r.app == m.app && r.key == m.key && r.t <= t)
            {
                v = r.version;
                written = Some(r.t);
            }
        }
        (v, written)
    }

    /// Whether external-secrets must not refresh this path at `t`: between a rotation and its sync.
    pub fn blacked_out(&self, world: &World, sync_idx: usize, t: i64) -> bool {
        let m = &world.sync[sync_idx];
        m.env == PROD
            && self
                .list
                .iter()
                .any(|r| r.app == m.app && r.key == m.key && t >= r.t && t <= r.sync_t + MIN)
    }
}

/// Whether `t` is inside working hours (weekday, 09:00 to 18:00 local) in the zone `tz`.
pub fn in_work_hours(t: i64, tz: &str) -> bool {
    let (weekday, since) = crate::timefmt::local_in(t, tz);
    weekday < 5 && (9 * HOUR..18 * HOUR).contains(&since)
}
