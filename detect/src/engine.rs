//! Runs every detector over the events, in event time.

use chrono::{DateTime, Duration, Utc};
use secretwatch_ingest::AccessEvent;

use crate::alert::Alert;
use crate::builtin::{
    AnonymousSecretAccess, BreakGlass, ClusterWideSecretList, SecretValuesInAuditLog,
};
use crate::config::DetectConfig;
use crate::detector::Detector;

/// How often (in event time) detectors get `on_tick`.
const TICK: i64 = 60;

/// The detectors, and the event-time clock that drives their ticks.
pub struct Engine {
    detectors: Vec<Box<dyn Detector>>,
    watermark: Option<DateTime<Utc>>,
    next_tick: Option<DateTime<Utc>>,
}

impl Engine {
    /// The built-in detections with `cfg`.
    pub fn new(cfg: &DetectConfig) -> Engine {
        Engine::with_detectors(vec![
            Box::new(ClusterWideSecretList::new(cfg)),
            Box::new(BreakGlass::new(cfg)),
            Box::new(AnonymousSecretAccess::new(cfg)),
            Box::new(SecretValuesInAuditLog::new()),
        ])
    }

    pub fn with_detectors(detectors: Vec<Box<dyn Detector>>) -> Engine {
        Engine {
            detectors,
            watermark: None,
            next_tick: None,
        }
    }

    /// Rule ids, in order.
    pub fn rules(&self) -> Vec<&'static str> {
        self.detectors.iter().map(|d| d.id()).collect()
    }

    /// Latest event time seen.
    pub fn watermark(&self) -> Option<DateTime<Utc>> {
        self.watermark
    }

    pub fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        if self.watermark.is_none_or(|w| ev.time > w) {
            self.watermark = Some(ev.time);
            match self.next_tick {
                None => self.next_tick = Some(ev.time + Duration::seconds(TICK)),
                Some(t) if ev.time >= t => {
                    for d in &mut self.detectors {
                        d.on_tick(ev.time, out);
                    }
                    self.next_tick = Some(ev.time + Duration::seconds(TICK));
                }
                Some(_) => {}
            }
        }
        for d in &mut self.detectors {
            d.on_event(ev, out);
        }
    }

    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        for d in &mut self.detectors {
            d.flush(out);
        }
    }
}
