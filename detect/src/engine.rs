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

/// Why the engine cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error(transparent)]
    Context(#[from] crate::context::ContextError),
    #[error(transparent)]
    Baseline(#[from] crate::baseline::BaselineError),
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
            cfg.context.multi_namespace_readers.clone(),
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
    pub fn new(cfg: &DetectConfig) -> Result<Engine, EngineError> {
        Engine::with_state(cfg, None)
    }

    /// Like [`Engine::new`], continuing from the state saved in `state_dir` (if any).
    pub fn with_state(
        cfg: &DetectConfig,
        state_dir: Option<&std::path::Path>,
    ) -> Result<Engine, EngineError> {
        let rules = load_rules(cfg)?;
        Engine::build(cfg, &rules, state_dir)
    }

    /// Write every detector's learned state into `dir`.
    pub fn save_state(&self, dir: &std::path::Path) -> Result<(), EngineError> {
        std::fs::create_dir_all(dir).map_err(|source| crate::baseline::BaselineError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        for d in &self.detectors {
            d.save_state(dir)?;
        }
        Ok(())
    }

    /// The built-in detections and an already loaded rule set.
    pub fn with_rules(cfg: &DetectConfig, rules: &RuleSet) -> Result<Engine, EngineError> {
        Engine::build(cfg, rules, None)
    }

    fn build(
        cfg: &DetectConfig,
        rules: &RuleSet,
        state_dir: Option<&std::path::Path>,
    ) -> Result<Engine, EngineError> {
        let baseline = match state_dir {
            Some(dir) => crate::baseline::BaselineDetector::open(
                &cfg.baseline,
                &dir.join(crate::baseline::STATE_FILE),
            )?,
            None => crate::baseline::detector(&cfg.baseline),
        };
        let sigma = SigmaDetector::new(rules, &reference_lists(cfg), cfg.alert_window_minutes)?;
        let mut detectors: Vec<Box<dyn Detector>> = vec![
            Box::new(sigma),
            Box::new(BreakGlass::new(cfg)),
            Box::new(AnonymousSecretAccess::new(cfg)),
            Box::new(SecretValuesInAuditLog::new()),
        ];
        detectors.extend(crate::context::detectors(&cfg.context)?);
        detectors.push(Box::new(baseline));
        Ok(Engine::with_detectors(detectors))
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
