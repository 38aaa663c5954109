//! Runs every detector over the events, in event time.

use chrono::{DateTime, Duration, Utc};
use secretwatch_ingest::AccessEvent;

use crate::alert::Alert;
use crate::builtin::{AnonymousSecretAccess, BreakGlass, SecretValuesInAuditLog};
use crate::config::DetectConfig;
use crate::detector::Detector;
use crate::sigma::{self, ReferenceLists, RuleError, RuleSet, SigmaDetector};

/// How often (in event time) detectors get `on_tick`.
const TICK: i64 = 60;

/// The detectors, and the event-time clock that drives their ticks.
pub struct Engine {
    detectors: Vec<Box<dyn Detector>>,
    watermark: Option<DateTime<Utc>>,
    next_tick: Option<DateTime<Utc>>,
}

/// The config's lists, as rules see them (`field|expand: '%name%'`).
pub fn reference_lists(cfg: &DetectConfig) -> ReferenceLists {
    ReferenceLists(vec![
        ("known_controllers".into(), cfg.known_controllers.clone()),
        (
            "break_glass_identities".into(),
            cfg.break_glass_identities.clone(),
        ),
        ("privileged_groups".into(), cfg.privileged_groups.clone()),
        ("privileged_users".into(), cfg.privileged_users.clone()),
        (
            "production_namespaces".into(),
            cfg.production_namespaces.clone(),
        ),
        (
            "multi_namespace_readers".into(),
            cfg.multi_namespace_readers.clone(),
        ),
        ("bulk_readers".into(), cfg.bulk_readers.clone()),
    ])
}

/// The rule set `cfg` asks for: the shipped rules and/or the files in `rules_dirs`.
pub fn load_rules(cfg: &DetectConfig) -> Result<RuleSet, RuleError> {
    let mut sources = if cfg.builtin_rules {
        sigma::builtin_sources()
    } else {
        vec![]
    };
    for dir in &cfg.rules_dirs {
        sources.extend(sigma::read_dir(dir)?);
    }
    sigma::load(&sources)
}

impl Engine {
    /// The built-in detections and the rules with `cfg`. Fails when a rule is invalid.
    pub fn new(cfg: &DetectConfig) -> Result<Engine, RuleError> {
        let rules = load_rules(cfg)?;
        Engine::with_rules(cfg, &rules)
    }

    /// The built-in detections and an already loaded rule set.
    pub fn with_rules(cfg: &DetectConfig, rules: &RuleSet) -> Result<Engine, RuleError> {
        let sigma = SigmaDetector::new(rules, &reference_lists(cfg), cfg.alert_window_minutes)?;
        Ok(Engine::with_detectors(vec![
            Box::new(sigma),
            Box::new(BreakGlass::new(cfg)),
            Box::new(AnonymousSecretAccess::new(cfg)),
            Box::new(SecretValuesInAuditLog::new()),
        ]))
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
