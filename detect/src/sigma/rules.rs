//! Loading rule files: Sigma detection and correlation rules, plus our metadata around them
//! (the alerting rule id, a reason template, and the example events each rule carries).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use rsigma_parser::SigmaCollection;
use serde_json::Value;

use crate::alert::Severity;
use crate::history::{History, NewTerms};
use crate::sigma::examples::{parse_examples, Examples};

/// Why a rule set cannot load. Always names the file, and the rule when there is one.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("cannot read rules {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: rule {rule}: {reason}")]
    Invalid {
        file: String,
        rule: String,
        reason: String,
    },
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
}

/// What we know of one emitting rule beyond Sigma.
#[derive(Debug, Clone)]
pub struct RuleMeta {
    /// Our rule id, the Sigma `name` (e.g. `bulk-secret-reads`).
    pub rule: String,
    pub sigma_id: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub tags: Vec<String>,
    /// Reason template, with `{principal}`, `{count}`... (see `sigma::detector::render`).
    pub reason: Option<String>,
    /// A correlation rule (thresholds over a window) rather than a single-event detection.
    pub correlation: bool,
    /// Whether matches produce alerts (detection rules used only by correlations do not).
    pub emits: bool,
    pub examples: Examples,
    pub file: String,
    /// Repeats within this many minutes are one alert (single-event rules).
    pub window_minutes: Option<u32>,
    /// How the rule is judged over time (`secretwatch.history`); third-party rules: `window`.
    pub history: History,
}

/// A parsed, validated rule set.
#[derive(Debug)]
pub struct RuleSet {
    pub collection: SigmaCollection,
    /// By Sigma id.
    pub meta: HashMap<String, RuleMeta>,
}

fn severity(level: &str) -> Option<Severity> {
    Some(match level {
        "informational" => Severity::Info,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => return None,
    })
}

fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// One YAML source: a file name (for messages) and its text.
pub struct RuleSource {
    pub name: String,
    pub text: String,
    /// Our own rules must carry `name`, `level`, `description`, ATT&CK tags and examples.
    /// Third-party Sigma rules (SigmaHQ) load unchanged without them: the rule id is then the
    /// `name`, else the title in kebab case, and the level defaults to medium.
    pub strict: bool,
}

fn kebab(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Read every `*.yml`/`*.yaml` file under `dir` (sorted).
pub fn read_dir(dir: &Path) -> Result<Vec<RuleSource>, RuleError> {
    let io = |source| RuleError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|source| RuleError::Io {
                path: p.clone(),
                source,
            })?;
            Ok(RuleSource {
                name: p.display().to_string(),
                text,
                strict: false,
            })
        })
        .collect()
}

/// Parse and validate rule sources into one set.
pub fn load(sources: &[RuleSource]) -> Result<RuleSet, RuleError> {
    let mut collection = SigmaCollection::new();
    let mut meta = HashMap::new();
    let mut names = HashSet::new();
    for src in sources {
        let parsed = rsigma_parser::parse_sigma_yaml(&src.text).map_err(|e| RuleError::File {
            file: src.name.clone(),
            reason: e.to_string(),
        })?;
        let parsed = parsed.into_result().map_err(|errs| RuleError::File {
            file: src.name.clone(),
            reason: errs.join("; "),
        })?;
        for m in file_meta(src)? {
            if !names.insert(m.rule.clone()) {
                return Err(RuleError::Invalid {
                    file: src.name.clone(),
                    rule: m.rule,
                    reason: "rule name used twice".into(),
                });
            }
            meta.insert(m.sigma_id.clone(), m);
        }
        // Rules for other products (windows, linux...) can never match audit events.
        let (keep, skip): (Vec<_>, Vec<_>) = parsed.rules.into_iter().partition(|r| {
            r.logsource
                .product
                .as_deref()
                .is_none_or(|p| crate::sigma::detector::PRODUCTS.contains(&p))
        });
        for r in &skip {
            tracing::warn!(file = %src.name, rule = %r.title, product = ?r.logsource.product, "Rule skipped: its product is not an audit source we read.");
            if let Some(id) = &r.id {
                meta.remove(id);
            }
        }
        collection.rules.extend(keep);
        collection.correlations.extend(parsed.correlations);
        collection.filters.extend(parsed.filters);
    }
    Ok(RuleSet { collection, meta })
}

/// Our block beside Sigma's keys (Sigma has no syntax for judging over time):
///
/// ```yaml
/// secretwatch:
///   history: new_terms            # window (default) | always | new_terms
///   new_terms:
///     fields: [principal.group, scope]
///     window_days: 14             # default
/// ```
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretwatchBlock {
    history: Option<String>,
    new_terms: Option<NewTerms>,
}

fn history_of(block: &Value) -> Result<History, String> {
    let b: SecretwatchBlock = serde_json::from_value(block.clone()).map_err(|e| e.to_string())?;
    match (b.history.as_deref(), b.new_terms) {
        (None | Some("window"), None) => Ok(History::Window),
        (Some("always"), None) => Ok(History::Always),
        (None | Some("new_terms"), Some(nt)) => {
            nt.validate()?;
            Ok(History::NewTerms(nt))
        }
        (Some("new_terms"), None) => {
            Err("history new_terms needs a new_terms block with fields".into())
        }
        (Some(h @ ("window" | "always")), Some(_)) => {
            Err(format!("history {h} takes no new_terms block"))
        }
        (Some(other), _) => Err(format!(
            "unknown history {other:?} (expected window, always or new_terms)"
        )),
    }
}

/// Our metadata of every document in one file, validated.
fn file_meta(src: &RuleSource) -> Result<Vec<RuleMeta>, RuleError> {
    let file_err = |reason: String| RuleError::File {
        file: src.name.clone(),
        reason,
    };
    let mut docs = vec![];
    for doc in yaml_serde::Deserializer::from_str(&src.text) {
        let v: yaml_serde::Value =
            serde::Deserialize::deserialize(doc).map_err(|e| file_err(e.to_string()))?;
        let v: Value = serde_json::to_value(&v).map_err(|e| file_err(e.to_string()))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    // Detection rules referenced by a non-generating correlation do not alert on their own.
    let mut quiet_refs: HashSet<String> = HashSet::new();
    for d in &docs {
        if let Some(c) = d.get("correlation") {
            let generate = c.get("generate").and_then(Value::as_bool).unwrap_or(false);
            if !generate {
                for r in c
                    .get("rules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(r) = r.as_str() {
                        quiet_refs.insert(r.to_string());
                    }
                }
            }
        }
    }
    let mut out = vec![];
    for d in &docs {
        if d.get("filter").is_some() || d.get("action").is_some() {
            continue;
        }
        let title = str_of(d, "title").unwrap_or("(untitled)").to_string();
        let name = str_of(d, "name").map(str::to_string);
        let label = name.clone().unwrap_or_else(|| title.clone());
        let invalid = |reason: &str| RuleError::Invalid {
            file: src.name.clone(),
            rule: label.clone(),
            reason: reason.to_string(),
        };
        let sigma_id = str_of(d, "id")
            .ok_or_else(|| invalid("missing `id`"))?
            .to_string();
        let rule = match name {
            Some(n) => n,
            None if !src.strict => kebab(&title),
            None => return Err(invalid("missing `name` (the rule id alerts carry)")),
        };
        let correlation = d.get("correlation").is_some();
        let referenced = quiet_refs.contains(&rule) || quiet_refs.contains(&sigma_id);
        let emits = !referenced;
        let level = str_of(d, "level");
        let sev = match level {
            Some(l) => severity(l).ok_or_else(|| invalid(&format!("unknown level {l:?}")))?,
            None if emits && src.strict => return Err(invalid("missing `level`")),
            None if emits => Severity::Medium,
            None => Severity::Info,
        };
        let description = str_of(d, "description").unwrap_or_default().to_string();
        let tags: Vec<String> = d
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let examples = match d.get("examples") {
            Some(e) => parse_examples(e).map_err(|r| invalid(&format!("examples: {r}")))?,
            None => Examples::default(),
        };
        if emits && src.strict {
            if description.is_empty() {
                return Err(invalid("missing `description`"));
            }
            if !tags.iter().any(|t| t.starts_with("attack.")) {
                return Err(invalid("no ATT&CK tag (`attack.*`)"));
            }
            if examples.fire.is_empty() {
                return Err(invalid("no example that must fire (`examples.fire`)"));
            }
            if examples.quiet.is_empty() {
                return Err(invalid("no example that must not fire (`examples.quiet`)"));
            }
        }
        let window_minutes = d
            .get("window_minutes")
            .and_then(Value::as_u64)
            .map(|m| m.clamp(1, 10_080) as u32);
        let history = match d.get("secretwatch") {
            Some(b) => history_of(b).map_err(|r| invalid(&format!("secretwatch: {r}")))?,
            None => History::Window,
        };
        out.push(RuleMeta {
            history,
            rule,
            sigma_id,
            title,
            description,
            severity: sev,
            tags,
            reason: str_of(d, "reason").map(str::to_string),
            correlation,
            emits,
            examples,
            file: src.name.clone(),
            window_minutes,
        });
    }
    Ok(out)
}
