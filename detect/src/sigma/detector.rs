//! The Sigma engine as a [`Detector`]: detection rules and correlations over events in event
//! time, results turned into [`Alert`]s with deterministic ids.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use rsigma_eval::{
    CorrelationConfig, CorrelationEngine, CorrelationEventMode, EvaluationResult, ResultBody,
    TimestampFallback,
};
use secretwatch_ingest::AccessEvent;

use crate::alert::{alert_id, target_label, Alert};
use crate::builtin::WindowedGroups;
use crate::detector::{window_start, Detector};
use crate::history::{field_text, History, NewTerms};
use crate::sigma::rules::{RuleError, RuleMeta, RuleSet};
use crate::sigma::view::{BaselineFields, SigmaView, STATE_FIELD_PREFIXES};

/// Named lists from the config, usable in rules as `field: '%name%'`: each entry is a Sigma
/// string, so `*` in an entry is a wildcard (the catalogue's `system:serviceaccount:*:name`).
/// With `field|expand: '%name%'` rsigma expands the list too, but matches each entry exactly.
#[derive(Debug, Clone, Default)]
pub struct ReferenceLists(pub Vec<(String, Vec<String>)>);

/// A value no identity has, standing in for an empty list (an empty expansion would match nothing
/// in some positions and everything in others).
const EMPTY_LIST_SENTINEL: &str = "\u{1}secretwatch-empty-list";

impl ReferenceLists {
    fn pipeline(&self) -> Result<rsigma_eval::Pipeline, String> {
        let vars: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .map(|(k, v)| {
                let vals = if v.is_empty() {
                    vec![EMPTY_LIST_SENTINEL.to_string()]
                } else {
                    v.clone()
                };
                (k.clone(), serde_json::json!(vals))
            })
            .collect();
        // JSON is YAML: no string templating of user values.
        let doc = serde_json::json!({
            "name": "secretwatch-reference-lists",
            "priority": 10,
            "vars": vars,
            "transformations": [{"id": "lists", "type": "value_placeholders"}],
        });
        rsigma_eval::parse_pipeline(&doc.to_string()).map_err(|e| e.to_string())
    }
}

/// The correlation state file's name inside a state directory.
pub const STATE_FILE: &str = "sigma-correlations.json";

/// Products whose rules can match our events; rules of other products are not loaded.
pub const PRODUCTS: [&str; 5] = ["kubernetes", "vault", "aws", "azure", "gcp"];

fn logsource_pipeline() -> Result<rsigma_eval::Pipeline, String> {
    let transformations: Vec<serde_json::Value> = PRODUCTS
        .iter()
        .map(|p| {
            serde_json::json!({
                "id": format!("source_{p}"),
                "type": "add_condition",
                "conditions": {"source": p},
                "rule_conditions": [{"type": "logsource", "product": p}],
            })
        })
        .collect();
    let doc = serde_json::json!({
        "name": "secretwatch-logsource",
        "priority": 5,
        "transformations": transformations,
    });
    rsigma_eval::parse_pipeline(&doc.to_string()).map_err(|e| e.to_string())
}

/// The stateless half of Sigma (which detection rules an event matches), shareable with parser
/// threads so that the detection thread only correlates: see [`crate::Engine::prematcher`].
#[derive(Clone)]
pub struct Prematcher {
    engine: Arc<CorrelationEngine>,
}

/// What a [`Prematcher`] found for one event, to hand with it to
/// [`crate::Engine::on_event_prematched`].
pub struct Prematch {
    results: Vec<EvaluationResult>,
    /// The rule set it was matched with (a reload in between makes the engine match again).
    rules: usize,
}

impl Prematcher {
    pub fn matches(&self, ev: &AccessEvent<'_>) -> Prematch {
        Prematch {
            results: self.engine.evaluate(&SigmaView::new(ev)),
            rules: Arc::as_ptr(&self.engine) as usize,
        }
    }
}

/// Runs a [`RuleSet`].
pub struct SigmaDetector {
    engine: CorrelationEngine,
    /// The same rules, matched by parser threads ([`Prematcher`]).
    matcher: Arc<CorrelationEngine>,
    /// Rules that ask for learned state (`first_seen.*`, `baseline.*`): matched here, on the
    /// detection thread, with the baselines at hand; their matches by `matcher` are dropped.
    stateful: Option<(CorrelationEngine, HashSet<String>)>,
    meta: HashMap<String, RuleMeta>,
    groups: WindowedGroups,
    /// Open correlation alerts by group: (start, last match). A burst that keeps matching stays
    /// one alert; a match more than one timespan after the last starts a new one.
    bursts: HashMap<String, (DateTime<Utc>, DateTime<Utc>)>,
    default_window: u32,
    fired: u64,
}

impl SigmaDetector {
    pub fn new(
        rules: &RuleSet,
        lists: &ReferenceLists,
        default_window_minutes: u32,
    ) -> Result<Self, RuleError> {
        let stateful_rules: Vec<_> = rules
            .collection
            .rules
            .iter()
            .filter(|r| {
                let d = serde_json::to_string(&r.detection).unwrap_or_default();
                STATE_FIELD_PREFIXES
                    .iter()
                    .any(|p| d.contains(&format!("\"{p}")))
            })
            .cloned()
            .collect();
        let stateful = if stateful_rules.is_empty() {
            None
        } else {
            let ids = stateful_rules.iter().filter_map(|r| r.id.clone()).collect();
            let mut only = rsigma_parser::SigmaCollection::new();
            only.rules = stateful_rules;
            only.filters = rules.collection.filters.clone();
            Some((Self::compile(&only, lists)?, ids))
        };
        Ok(SigmaDetector {
            engine: Self::compile(&rules.collection, lists)?,
            matcher: Arc::new(Self::compile(&rules.collection, lists)?),
            stateful,
            meta: rules.meta.clone(),
            groups: WindowedGroups::default(),
            bursts: HashMap::new(),
            default_window: default_window_minutes,
            fired: 0,
        })
    }

    fn compile(
        collection: &rsigma_parser::SigmaCollection,
        lists: &ReferenceLists,
    ) -> Result<CorrelationEngine, RuleError> {
        let cfg = CorrelationConfig {
            // Event time only: never fall back to the wall clock.
            timestamp_fallback: TimestampFallback::Skip,
            correlation_event_mode: CorrelationEventMode::Refs,
            max_correlation_events: 50,
            max_group_entries: Some(10_000),
            emit_detections: true,
            ..CorrelationConfig::default()
        };
        let mut engine = CorrelationEngine::new(cfg);
        // Logsource routing at load, not per event: a rule for `product: kubernetes` gets the
        // condition `source: kubernetes` (extracting a logsource per event cost 13% of a scan).
        engine.add_pipeline(logsource_pipeline().map_err(|reason| RuleError::File {
            file: "(logsource pipeline)".into(),
            reason,
        })?);
        let pipeline = lists.pipeline().map_err(|reason| RuleError::File {
            file: "(reference lists from config)".into(),
            reason,
        })?;
        engine.add_pipeline(pipeline);
        engine
            .add_collection(collection)
            .map_err(|e| RuleError::File {
                file: "(rule set)".into(),
                reason: e.to_string(),
            })?;
        Ok(engine)
    }

    pub fn prematcher(&self) -> Prematcher {
        Prematcher {
            engine: self.matcher.clone(),
        }
    }

    /// One event: `pre` what a [`Prematcher`] matched of it (if anything), `baseline` what
    /// stateful rules ask. The same alerts whichever thread matched the stateless rules.
    pub fn on_event_with(
        &mut self,
        ev: &AccessEvent<'_>,
        pre: Option<Prematch>,
        baseline: Option<&dyn BaselineFields>,
        out: &mut Vec<Alert>,
    ) {
        let view = SigmaView::new(ev);
        let ts = ev.time.timestamp();
        let pre = pre
            .filter(|p| p.rules == Arc::as_ptr(&self.matcher) as usize)
            .map(|p| p.results);
        let results = match (&self.stateful, pre) {
            (None, Some(found)) => self.engine.process_with_detections(&view, found, ts),
            (None, None) => self.engine.process_event_at(&view, ts),
            (Some((rules, ids)), found) => {
                let mut found = found.unwrap_or_else(|| self.matcher.evaluate(&view));
                found.retain(|r| r.header.rule_id.as_ref().is_none_or(|id| !ids.contains(id)));
                if let Some(b) = baseline {
                    found.extend(rules.evaluate(&SigmaView::with_baseline(ev, b)));
                }
                self.engine.process_with_detections(&view, found, ts)
            }
        };
        self.emit(&results, ev, out);
    }

    fn emit(&mut self, results: &[EvaluationResult], ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        for r in results {
            self.fired += 1;
            if let Some(a) = self.alert_for(r, ev) {
                out.push(a);
            }
        }
    }

    /// Rule ids that can alert.
    /// Carry the correlation windows of `old` over (a rule reload keeps state; windows of rules
    /// that kept their id continue, others start empty).
    pub fn take_state_from(&mut self, old: &SigmaDetector) -> bool {
        self.bursts = old.bursts.clone();
        self.engine.import_state(old.engine.export_state())
    }

    /// Load correlation windows saved by [`Detector::save_state`] in `dir`, if present.
    pub fn load_state(
        &mut self,
        dir: &std::path::Path,
    ) -> Result<bool, crate::engine::EngineError> {
        let path = dir.join(STATE_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => {
                return Err(crate::engine::EngineError::State {
                    path,
                    reason: e.to_string(),
                })
            }
        };
        let snap = serde_json::from_str(&text).map_err(|e| crate::engine::EngineError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(self.engine.import_state(snap))
    }

    /// The `new_terms` judgements of the loaded rules, by rule id.
    pub fn new_terms(&self) -> HashMap<String, NewTerms> {
        self.meta
            .values()
            .filter_map(|m| match &m.history {
                History::NewTerms(nt) if m.emits => Some((m.rule.clone(), nt.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn rule_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .meta
            .values()
            .filter(|m| m.emits)
            .map(|m| m.rule.clone())
            .collect();
        v.sort();
        v
    }

    pub fn matches(&self) -> u64 {
        self.fired
    }

    fn alert_for(&mut self, r: &EvaluationResult, ev: &AccessEvent<'_>) -> Option<Alert> {
        let id = r.header.rule_id.as_deref()?;
        let meta = self.meta.get(id)?;
        if !meta.emits {
            return None;
        }
        match &r.body {
            ResultBody::Detection(_) => {
                let window = meta.window_minutes.unwrap_or(self.default_window);
                let ws = window_start(ev.time, window);
                let group = match &meta.history {
                    // Judged per combination by the engine's history (crate::history): every
                    // match is a candidate, one alert per combination and window.
                    History::NewTerms(nt) => {
                        let view = SigmaView::new(ev);
                        let mut g = format!("{}\u{0}{}", meta.rule, ev.principal.name);
                        for f in &nt.fields {
                            g.push('\u{0}');
                            g.push_str(&field_text(&view, f));
                        }
                        g
                    }
                    _ => {
                        let g = format!("{}\u{0}{}", meta.rule, ev.principal.name);
                        if !self.groups.first_in_window(&g, ws) {
                            return None;
                        }
                        g
                    }
                };
                let reason = render(meta.reason.as_deref().unwrap_or(DEFAULT_REASON), ev, None);
                let tags: Vec<&str> = meta.tags.iter().map(String::as_str).collect();
                Some(Alert::from_event(
                    &meta.rule,
                    meta.severity,
                    &meta.title,
                    &group,
                    ws,
                    ev,
                    reason,
                    &tags,
                ))
            }
            ResultBody::Correlation(c) => {
                let group_desc: Vec<String> = c
                    .group_key
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let group = format!("{}\u{0}{}", meta.rule, group_desc.join(","));
                let span = chrono::Duration::seconds(c.timespan_secs as i64);
                if let Some((_, last)) = self.bursts.get_mut(&group) {
                    if ev.time - *last <= span {
                        *last = (*last).max(ev.time);
                        return None;
                    }
                }
                self.bursts.insert(group.clone(), (ev.time, ev.time));
                let ws = ev.time;
                let refs = c.event_refs.as_deref().unwrap_or_default();
                let mut event_ids: Vec<String> = refs.iter().filter_map(|r| r.id.clone()).collect();
                if !event_ids.iter().any(|i| *i == *ev.id) {
                    event_ids.push(ev.id.to_string());
                }
                let first = refs
                    .iter()
                    .map(|r| r.timestamp)
                    .min()
                    .and_then(|t| Utc.timestamp_opt(t, 0).single())
                    .unwrap_or(ev.time)
                    .min(ev.time);
                let corr = CorrelationFacts {
                    count: c.aggregated_value,
                    timespan_secs: c.timespan_secs,
                    group: group_desc.join(", "),
                };
                let reason = render(
                    meta.reason.as_deref().unwrap_or(DEFAULT_CORRELATION_REASON),
                    ev,
                    Some(&corr),
                );
                Some(Alert {
                    id: alert_id(&meta.rule, &group, ws),
                    rule: meta.rule.clone(),
                    severity: meta.severity,
                    title: meta.title.clone(),
                    principal: ev.principal.name.to_string(),
                    source: ev.source,
                    event_ids,
                    first_seen: first,
                    last_seen: ev.time,
                    reason,
                    targets: vec![target_label(ev)],
                    source_ips: ev.source_ips.iter().map(str::to_string).collect(),
                    tags: meta.tags.clone(),
                    break_glass: meta.tags.iter().any(|t| t == "break-glass"),
                })
            }
        }
    }
}

const DEFAULT_REASON: &str =
    "{principal} ({principal_kind}) {verb} {target} ({outcome}) from {source_ip}";
const DEFAULT_CORRELATION_REASON: &str =
    "{count} matching events in {timespan} for {group}; the last: {principal} {verb} {target}";

/// Numbers of a correlation result for reason templates.
pub struct CorrelationFacts {
    pub count: f64,
    pub timespan_secs: u64,
    pub group: String,
}

fn human_span(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 && s >= 3600 => format!("{} h", s / 3600),
        s if s % 60 == 0 && s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Fill a reason template: `{principal}`, `{principal_kind}`, `{effective_principal}`, `{verb}`,
/// `{action}`, `{target}`, `{namespace}`, `{name}`, `{outcome}`, `{status}`, `{source_ip}`,
/// `{user_agent}`, `{source}`, `{store}`, `{time}`; for correlations also `{count}`, `{timespan}`, `{group}`.
pub fn render(template: &str, ev: &AccessEvent<'_>, corr: Option<&CorrelationFacts>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = &rest[start + 1..start + end];
        let value: Option<String> = match key {
            "principal" => Some(ev.principal.name.to_string()),
            "principal_kind" => Some(ev.principal.kind.as_str().to_string()),
            "effective_principal" => Some(ev.effective_principal().to_string()),
            "verb" => Some(ev.raw_action.to_string()),
            "action" => Some(ev.action.as_str().to_string()),
            "target" => Some(target_label(ev)),
            "namespace" => Some(ev.target.namespace.as_deref().unwrap_or("*").to_string()),
            "name" => Some(ev.target.name.as_deref().unwrap_or("-").to_string()),
            "outcome" => Some(ev.outcome.as_str().to_string()),
            "status" => Some(
                ev.status_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| ev.outcome.as_str().to_string()),
            ),
            "source_ip" => Some(
                ev.source_ips
                    .iter()
                    .last()
                    .unwrap_or("an unknown address")
                    .to_string(),
            ),
            "user_agent" => Some(ev.user_agent.as_deref().unwrap_or("-").to_string()),
            "source" => Some(ev.source.as_str().to_string()),
            "store" => Some(ev.target.store.to_string()),
            "time" => Some(ev.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "count" => corr.map(|c| format!("{}", c.count.round() as i64)),
            "timespan" => corr.map(|c| human_span(c.timespan_secs)),
            "group" => corr.map(|c| c.group.clone()),
            _ => None,
        };
        match value {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..=start + end]),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

impl Detector for SigmaDetector {
    fn id(&self) -> &'static str {
        "sigma"
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        self.on_event_with(ev, None, None, out);
    }

    fn save_state(&self, dir: &std::path::Path) -> Result<(), crate::engine::EngineError> {
        let path = dir.join(STATE_FILE);
        let err = |reason: String| crate::engine::EngineError::State {
            path: path.clone(),
            reason,
        };
        let text =
            serde_json::to_vec(&self.engine.export_state()).map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| err(e.to_string()))
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        self.engine.evict_expired(now.timestamp());
        // Bursts quiet for a day are over (no timespan here is longer).
        self.bursts
            .retain(|_, (_, last)| now - *last <= chrono::Duration::days(1));
        self.groups.prune(now, self.default_window.max(24 * 60));
    }
}
