//! Runs every detector over the events, in event time.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use secretwatch_ingest::AccessEvent;

use crate::alert::Alert;
use crate::builtin::{
    AnonymousSecretAccess, BreakGlass, SecretSharedOutside, SecretValuesInAuditLog,
};
use crate::config::DetectConfig;
use crate::detector::Detector;
use crate::history::{NewTerms, TermHistory};
use crate::sigma::{self, ReferenceLists, RuleError, RuleSet, SigmaDetector};

/// How often (in event time) detectors get `on_tick`.
const TICK: i64 = 60;

/// The detectors' short-lived state (sessions, windows) and the engine's event time.
pub const DETECTORS_FILE: &str = "detectors.json";

/// The detectors, and the event-time clock that drives their ticks.
pub struct Engine {
    /// The rule engine, kept apart so rules can be reloaded with their state.
    sigma: Option<SigmaDetector>,
    detectors: Vec<Box<dyn Detector>>,
    /// Kept apart so rules can read it (`first_seen.*`, `baseline.*`); runs last.
    baseline: Option<crate::baseline::BaselineDetector>,
    watermark: Option<DateTime<Utc>>,
    next_tick: Option<DateTime<Utc>>,
    /// First-seen history of the `new_terms` rules (Sigma and built-in).
    history: TermHistory,
}

/// Built-in detections judged `new_terms` (rules declare theirs in their `secretwatch` block):
/// a principal reading another namespace's Secrets by design (a sync operator, a backup tool,
/// a CI deployer) alerts for each namespace once per window, not every alert window.
pub fn builtin_new_terms() -> HashMap<String, NewTerms> {
    [(
        "cross-namespace-secret-read",
        NewTerms::new(&["principal.group", "target.namespace"]),
    )]
    .into_iter()
    .map(|(r, nt)| (r.to_string(), nt))
    .collect()
}

fn new_terms_of(sigma: &SigmaDetector) -> HashMap<String, NewTerms> {
    let mut specs = builtin_new_terms();
    specs.extend(sigma.new_terms());
    specs
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
    #[error("state {path}: {reason}")]
    State {
        path: std::path::PathBuf,
        reason: String,
    },
}

/// `cfg` with the shipped controller catalogue's identities added to its lists (when
/// `detect.catalogue` is on): cluster-wide listers to `known_controllers`, cross-namespace
/// readers to `context.multi_namespace_readers`, bulk readers to `bulk_readers`.
pub fn with_catalogue(cfg: &DetectConfig) -> DetectConfig {
    let mut cfg = cfg.clone();
    if cfg.catalogue {
        let c = crate::catalogue::Catalogue::shipped();
        let add = |list: &mut Vec<String>, more: Vec<String>| {
            for m in more {
                if !list.contains(&m) {
                    list.push(m);
                }
            }
        };
        add(
            &mut cfg.known_controllers,
            c.users_where(|s| s.cluster_wide),
        );
        add(
            &mut cfg.context.multi_namespace_readers,
            c.users_where(|s| s.cross_namespace),
        );
        add(&mut cfg.bulk_readers, c.users_where(|s| s.bulk));
    }
    cfg
}

/// The config's lists, as rules see them (`field: '%name%'`, Sigma wildcards apply).
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
        // Every member of `detect.context.teams`: the people the config names.
        ("team_members".into(), cfg.context.team_members().collect()),
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
        for d in self.all() {
            d.save_state(dir)?;
        }
        // Short-lived state of the others (sessions, windows), and where event time stands.
        let mut detectors = serde_json::Map::new();
        for d in self.all() {
            if let Some(v) = d.export_state() {
                detectors.insert(d.id().to_string(), v);
            }
        }
        let state = serde_json::json!({
            "watermark": self.watermark,
            "next_tick": self.next_tick,
            "detectors": detectors,
            "history": self.history.export(),
        });
        let path = dir.join(DETECTORS_FILE);
        let tmp = dir.join(format!(".{DETECTORS_FILE}.tmp"));
        let io = |source| crate::baseline::BaselineError::Io {
            path: path.clone(),
            source,
        };
        std::fs::write(&tmp, state.to_string()).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }

    /// Continue the detectors' short-lived state saved by [`Engine::save_state`] in `dir`.
    fn import_state(&mut self, dir: &std::path::Path) -> Result<(), EngineError> {
        let path = dir.join(DETECTORS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(crate::baseline::BaselineError::Io { path, source }.into());
            }
        };
        let bad = |reason: String| EngineError::State {
            path: path.clone(),
            reason,
        };
        let mut v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        self.watermark = serde_json::from_value(v["watermark"].take()).unwrap_or(None);
        self.next_tick = serde_json::from_value(v["next_tick"].take()).unwrap_or(None);
        match v["history"].take() {
            serde_json::Value::Null => {}
            h => self
                .history
                .import(h)
                .map_err(|e| bad(format!("history: {e}")))?,
        }
        let mut states = match v["detectors"].take() {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        let mut result = Ok(());
        self.each_mut(|d| {
            if let Some(s) = states.remove(d.id()) {
                if let Err(e) = d.import_state(s) {
                    result = Err(bad(format!("{}: {e}", d.id())));
                }
            }
        });
        result
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
        let cfg = &with_catalogue(cfg);
        let mut baseline = match state_dir {
            Some(dir) => crate::baseline::BaselineDetector::open(
                &cfg.baseline,
                &dir.join(crate::baseline::STATE_FILE),
            )?,
            None => crate::baseline::detector(&cfg.baseline),
        };
        baseline.set_cluster_networks(cfg.context.cluster_cidrs.clone());
        baseline.declare_people(cfg.context.team_members());
        let mut sigma = SigmaDetector::new(rules, &reference_lists(cfg), cfg.alert_window_minutes)?;
        if let Some(dir) = state_dir {
            sigma.load_state(dir)?;
        }
        let mut detectors: Vec<Box<dyn Detector>> = vec![
            Box::new(BreakGlass::new(cfg)),
            Box::new(AnonymousSecretAccess::new(cfg)),
            Box::new(SecretValuesInAuditLog::new()),
            Box::new(SecretSharedOutside::new(cfg)),
            Box::new(crate::builtin::PodTokenOffCluster::new(cfg)),
        ];
        detectors.extend(crate::context::detectors(&cfg.context)?);
        let mut engine = Engine::with_detectors(detectors);
        engine.history = TermHistory::new(new_terms_of(&sigma), cfg.history_learning_days);
        engine.sigma = Some(sigma);
        engine.baseline = Some(baseline);
        if let Some(dir) = state_dir {
            engine.import_state(dir)?;
        }
        Ok(engine)
    }

    /// Swap in a new rule set (SIGHUP, rule files changed) without losing state: correlation
    /// windows of rules that kept their id continue, every other detector is untouched.
    pub fn reload_rules(&mut self, cfg: &DetectConfig, rules: &RuleSet) -> Result<(), EngineError> {
        let cfg = &with_catalogue(cfg);
        let mut fresh = SigmaDetector::new(rules, &reference_lists(cfg), cfg.alert_window_minutes)?;
        if let Some(old) = &self.sigma {
            fresh.take_state_from(old);
        }
        self.history.set_specs(new_terms_of(&fresh));
        self.sigma = Some(fresh);
        Ok(())
    }

    fn all(&self) -> impl Iterator<Item = &dyn Detector> {
        self.sigma
            .iter()
            .map(|s| s as &dyn Detector)
            .chain(self.detectors.iter().map(|d| d.as_ref()))
            .chain(self.baseline.iter().map(|b| b as &dyn Detector))
    }

    pub fn with_detectors(detectors: Vec<Box<dyn Detector>>) -> Engine {
        Engine {
            sigma: None,
            detectors,
            baseline: None,
            watermark: None,
            next_tick: None,
            history: TermHistory::new(HashMap::new(), 1),
        }
    }

    /// Rule ids, in order.
    pub fn rules(&self) -> Vec<&'static str> {
        self.all().map(|d| d.id()).collect()
    }

    fn each_mut(&mut self, mut f: impl FnMut(&mut dyn Detector)) {
        if let Some(s) = self.sigma.as_mut() {
            f(s);
        }
        for d in &mut self.detectors {
            f(d.as_mut());
        }
        if let Some(b) = self.baseline.as_mut() {
            f(b);
        }
    }

    /// Latest event time seen.
    pub fn watermark(&self) -> Option<DateTime<Utc>> {
        self.watermark
    }

    /// The stateless part of the rules, for parser threads: events matched there are handed in
    /// with [`Engine::on_event_prematched`] (the same alerts as [`Engine::on_event`]).
    pub fn prematcher(&self) -> Option<sigma::Prematcher> {
        self.sigma.as_ref().map(SigmaDetector::prematcher)
    }

    /// [`Engine::on_event`] for an event whose rules a [`sigma::Prematcher`] of this engine matched.
    pub fn on_event_prematched(
        &mut self,
        ev: &AccessEvent<'_>,
        pre: sigma::Prematch,
        out: &mut Vec<Alert>,
    ) {
        self.event(ev, Some(pre), out);
    }

    pub fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        self.event(ev, None, out);
    }

    fn event(&mut self, ev: &AccessEvent<'_>, pre: Option<sigma::Prematch>, out: &mut Vec<Alert>) {
        self.advance(ev, out);
        self.history.advance(ev.time);
        let from = out.len();
        // Rules first: stateful ones read the baselines as they stood before this event.
        if let Some(s) = self.sigma.as_mut() {
            let baseline = self
                .baseline
                .as_ref()
                .map(|b| b as &dyn crate::sigma::BaselineFields);
            s.on_event_with(ev, pre, baseline, out);
        }
        for d in &mut self.detectors {
            d.on_event(ev, out);
        }
        if let Some(b) = self.baseline.as_mut() {
            b.on_event(ev, out);
        }
        self.history.judge(ev, out, from);
    }

    /// The first-seen history (rules judged `new_terms`, what they learned).
    pub fn history(&self) -> &TermHistory {
        &self.history
    }

    /// Event time moves on with `ev`: detectors get their ticks.
    fn advance(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        if self.watermark.is_none_or(|w| ev.time > w) {
            self.watermark = Some(ev.time);
            match self.next_tick {
                None => self.next_tick = Some(ev.time + Duration::seconds(TICK)),
                Some(t) if ev.time >= t => {
                    self.each_mut(|d| d.on_tick(ev.time, out));
                    self.next_tick = Some(ev.time + Duration::seconds(TICK));
                }
                Some(_) => {}
            }
        }
    }

    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        self.each_mut(|d| d.flush(out));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secretwatch_ingest::{Format, ParseOptions, Parsed, RecordParser};

    fn feed(engine: &mut Engine, lines: &[String]) -> Vec<Alert> {
        let opts = ParseOptions::default();
        let mut parser = RecordParser::new(&opts, Format::Auto);
        let mut out = vec![];
        for l in lines {
            parser.parse(l, &mut |p| {
                if let Parsed::Event(ev) = p {
                    engine.on_event(&ev, &mut out);
                }
            });
        }
        out
    }

    fn denied(i: u32) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"d{i}","stage":"ResponseComplete","verb":"get","user":{{"username":"mallory"}},"objectRef":{{"resource":"secrets","namespace":"prod","name":"s{i}"}},"responseStatus":{{"code":403}},"stageTimestamp":"2026-11-03T10:00:{i:02}Z"}}"#
        )
    }

    /// Half a burst before a reload and half after: the correlation window survives the reload,
    /// and survives a save and restore of the state directory.
    #[test]
    fn rule_reload_and_state_dir_keep_correlation_windows() {
        let cfg = DetectConfig::default();
        let burst = |engine: &mut Engine, from: u32, to: u32| {
            let lines: Vec<String> = (from..to).map(denied).collect();
            feed(engine, &lines)
                .into_iter()
                .filter(|a| a.rule == "denied-secret-burst")
                .count()
        };
        let mut engine = Engine::new(&cfg).unwrap();
        assert_eq!(burst(&mut engine, 0, 12), 0);
        engine
            .reload_rules(&cfg, &load_rules(&cfg).unwrap())
            .unwrap();
        assert_eq!(
            burst(&mut engine, 12, 24),
            1,
            "the reload kept the first 12 denials"
        );

        let dir = tempfile::tempdir().unwrap();
        let mut first = Engine::new(&cfg).unwrap();
        assert_eq!(burst(&mut first, 0, 12), 0);
        first.save_state(dir.path()).unwrap();
        let mut second = Engine::with_state(&cfg, Some(dir.path())).unwrap();
        assert_eq!(
            burst(&mut second, 12, 24),
            1,
            "the state directory kept the first 12 denials"
        );
        let mut fresh = Engine::new(&cfg).unwrap();
        assert_eq!(
            burst(&mut fresh, 12, 24),
            0,
            "without state 12 denials are not a burst"
        );
    }

    fn as_user(user: &str, i: u32, minute: u32) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"{user}-{i}","stage":"ResponseComplete","verb":"get","user":{{"username":"{user}"}},"objectRef":{{"resource":"secrets","namespace":"prod","name":"s{i}"}},"responseStatus":{{"code":200}},"stageTimestamp":"2026-11-03T10:{minute:02}:{i:02}Z"}}"#
        )
    }

    /// Break-glass sessions and "once per window" groups continue across a save and restore
    /// (a restart, or a partition moving to another instance): the session summary counts the
    /// events of both halves, and the anonymous-access window does not alert twice.
    #[test]
    fn sessions_and_alerted_windows_survive_a_save_and_restore() {
        let cfg = DetectConfig {
            break_glass_identities: vec!["break-glass-admin".into()],
            ..DetectConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut first = Engine::new(&cfg).unwrap();
        let a = feed(
            &mut first,
            &[
                as_user("break-glass-admin", 1, 0),
                as_user("break-glass-admin", 2, 0),
                as_user("system:anonymous", 3, 0),
            ],
        );
        assert_eq!(a.iter().filter(|a| a.rule == "break-glass-use").count(), 1);
        assert_eq!(
            a.iter()
                .filter(|a| a.rule == "anonymous-secret-access")
                .count(),
            1
        );
        first.save_state(dir.path()).unwrap();

        let mut second = Engine::with_state(&cfg, Some(dir.path())).unwrap();
        assert_eq!(second.watermark(), first.watermark());
        let mut b = feed(
            &mut second,
            &[
                as_user("break-glass-admin", 4, 1),
                as_user("system:anonymous", 5, 1),
            ],
        );
        second.flush(&mut b);
        assert_eq!(
            b.iter().filter(|a| a.rule == "break-glass-use").count(),
            0,
            "the session was already open"
        );
        assert_eq!(
            b.iter()
                .filter(|a| a.rule == "anonymous-secret-access")
                .count(),
            0
        );
        let summary = b.iter().find(|a| a.rule == "break-glass-session").unwrap();
        assert!(summary.reason.contains(" 3 events"), "{}", summary.reason);
        assert_eq!(summary.first_seen.to_rfc3339(), "2026-11-03T10:00:01+00:00");

        // Without the saved state the same second half opens a new session and alerts again.
        let mut fresh = Engine::new(&cfg).unwrap();
        let c = feed(
            &mut fresh,
            &[
                as_user("break-glass-admin", 4, 1),
                as_user("system:anonymous", 5, 1),
            ],
        );
        assert_eq!(c.iter().filter(|a| a.rule == "break-glass-use").count(), 1);
        assert_eq!(
            c.iter()
                .filter(|a| a.rule == "anonymous-secret-access")
                .count(),
            1
        );

        // A broken state file is refused with its path.
        std::fs::write(dir.path().join(DETECTORS_FILE), "{not json").unwrap();
        let err = Engine::with_state(&cfg, Some(dir.path())).err().unwrap();
        assert!(err.to_string().contains(DETECTORS_FILE), "{err}");
    }
}
