//! Which sinks get an alert.
//!
//! A sink's [`Route`] is a conjunction of filters, each empty filter passing everything:
//! minimum severity, rules (globs, include then exclude), tags (any of), sources, namespaces
//! and environments (any of, matched against the alert's [`Scope`]). A sink marked
//! `break_glass = true` receives every break-glass alert whatever its route says.
//!
//! ```toml
//! route = { min_severity = "medium", rules = ["k8s-*", "bulk-secret-reads"], exclude_rules = ["k8s-secrets-list-namespace"], tags = ["attack.credential-access"], environments = ["prod"] }
//! ```

use secretwatch_detect::{Alert, Severity};
use secretwatch_ingest::SourceSystem;
use serde::Deserialize;

/// A pattern with `*` (any run) and `?` (one character); without them, an exact match.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Glob(String);

impl TryFrom<String> for Glob {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() {
            return Err("an empty pattern matches nothing; leave the list out instead".into());
        }
        Ok(Glob(s))
    }
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob(pattern.to_string())
    }

    pub fn matches(&self, text: &str) -> bool {
        let p: Vec<char> = self.0.chars().collect();
        let t: Vec<char> = text.chars().collect();
        // Linear-time wildcard match with one backtrack point.
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }
}

fn any_match(globs: &[Glob], values: &[String]) -> bool {
    globs.iter().any(|g| values.iter().any(|v| g.matches(v)))
}

/// Filters of one sink.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Rule ids to take (empty: all).
    #[serde(default)]
    pub rules: Vec<Glob>,
    /// Rule ids to leave out, after `rules`.
    #[serde(default)]
    pub exclude_rules: Vec<Glob>,
    /// The alert carries at least one matching tag (empty: any alert).
    #[serde(default)]
    pub tags: Vec<Glob>,
    /// Audit sources (`kubernetes`, `vault`...).
    #[serde(default)]
    pub sources: Vec<SourceSystem>,
    /// The alert touched at least one matching namespace. An alert without a known namespace
    /// does not pass a non-empty filter.
    #[serde(default)]
    pub namespaces: Vec<Glob>,
    /// Likewise for environments.
    #[serde(default)]
    pub environments: Vec<Glob>,
}

impl Route {
    pub fn matches(&self, alert: &Alert, scope: &Scope) -> bool {
        if self.min_severity.is_some_and(|min| alert.severity < min) {
            return false;
        }
        if !self.rules.is_empty() && !self.rules.iter().any(|g| g.matches(&alert.rule)) {
            return false;
        }
        if self.exclude_rules.iter().any(|g| g.matches(&alert.rule)) {
            return false;
        }
        if !self.tags.is_empty() && !any_match(&self.tags, &alert.tags) {
            return false;
        }
        if !self.sources.is_empty() && !self.sources.contains(&alert.source) {
            return false;
        }
        if !self.namespaces.is_empty() && !any_match(&self.namespaces, &scope.namespaces) {
            return false;
        }
        if !self.environments.is_empty() && !any_match(&self.environments, &scope.environments) {
            return false;
        }
        true
    }
}

/// Namespaces and environments an alert touched. Alerts do not carry them; the caller derives
/// them from the targets with its view of the world ([`Scope::of`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub namespaces: Vec<String>,
    pub environments: Vec<String>,
}

impl Scope {
    /// From the alert's targets: a Kubernetes target `ns/resource/name` names its namespace
    /// (`*` is cluster-wide: none); `environment` maps (source, namespace or Vault path) to an
    /// environment, e.g. through `[detect.context] environments` and `vault_environments`.
    pub fn of(alert: &Alert, environment: impl Fn(SourceSystem, &str) -> Option<String>) -> Scope {
        let mut scope = Scope::default();
        let push = |list: &mut Vec<String>, v: String| {
            if !list.contains(&v) {
                list.push(v);
            }
        };
        for target in &alert.targets {
            let key = match alert.source {
                SourceSystem::Kubernetes => {
                    let ns = target.split('/').next().unwrap_or("");
                    if ns.is_empty() || ns == "*" {
                        continue;
                    }
                    push(&mut scope.namespaces, ns.to_string());
                    ns
                }
                _ => target.as_str(),
            };
            if let Some(env) = environment(alert.source, key) {
                push(&mut scope.environments, env);
            }
        }
        scope
    }
}

/// One sink's routing entry.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub name: String,
    pub route: Route,
    pub break_glass: bool,
}

/// Routes alerts to sinks (by index, in configuration order).
#[derive(Debug, Clone, Default)]
pub struct Router {
    entries: Vec<RouteEntry>,
}

impl Router {
    pub fn new(entries: Vec<RouteEntry>) -> Router {
        Router { entries }
    }

    pub fn from_configs(sinks: &[crate::config::SinkConfig]) -> Router {
        Router::new(
            sinks
                .iter()
                .map(|s| RouteEntry {
                    name: s.name.clone(),
                    route: s.route.clone(),
                    break_glass: s.break_glass,
                })
                .collect(),
        )
    }

    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }

    /// Indices of the sinks that get `alert`.
    pub fn route(&self, alert: &Alert, scope: &Scope) -> Vec<usize> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| (alert.break_glass && e.break_glass) || e.route.matches(alert, scope))
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::alert;

    fn route(json: &str) -> Route {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn globs() {
        assert!(Glob::new("k8s-*").matches("k8s-secrets-list-namespace"));
        assert!(Glob::new("*-secret-*").matches("bulk-secret-reads"));
        assert!(Glob::new("bulk-secret-reads").matches("bulk-secret-reads"));
        assert!(!Glob::new("bulk-secret-read").matches("bulk-secret-reads"));
        assert!(Glob::new("a?c").matches("abc"));
        assert!(!Glob::new("a?c").matches("ac"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("a*b*c").matches("axxbyyc"));
        assert!(!Glob::new("a*b*c").matches("axxbyy"));
        assert!(Glob::new("attack.t1552*").matches("attack.t1552.007"));
        assert!(serde_json::from_str::<Glob>("\"\"").is_err());
    }

    #[test]
    fn each_filter() {
        let a = alert(); // high, bulk-secret-reads, kubernetes, prod namespace
        let scope = Scope {
            namespaces: vec!["prod".into()],
            environments: vec!["production".into()],
        };
        assert!(Route::default().matches(&a, &scope));
        assert!(route(r#"{"min_severity":"high"}"#).matches(&a, &scope));
        assert!(!route(r#"{"min_severity":"critical"}"#).matches(&a, &scope));
        assert!(route(r#"{"rules":["k8s-*","bulk-*"]}"#).matches(&a, &scope));
        assert!(!route(r#"{"rules":["k8s-*"]}"#).matches(&a, &scope));
        assert!(
            !route(r#"{"rules":["*"],"exclude_rules":["bulk-secret-reads"]}"#).matches(&a, &scope)
        );
        assert!(route(r#"{"tags":["nope","attack.t1552*"]}"#).matches(&a, &scope));
        assert!(!route(r#"{"tags":["break-glass"]}"#).matches(&a, &scope));
        assert!(route(r#"{"sources":["vault","kubernetes"]}"#).matches(&a, &scope));
        assert!(!route(r#"{"sources":["vault"]}"#).matches(&a, &scope));
        assert!(route(r#"{"namespaces":["prod*"]}"#).matches(&a, &scope));
        assert!(!route(r#"{"namespaces":["dev"]}"#).matches(&a, &scope));
        assert!(route(r#"{"environments":["production"]}"#).matches(&a, &scope));
        assert!(!route(r#"{"environments":["production"]}"#).matches(&a, &Scope::default()));
        assert!(serde_json::from_str::<Route>(r#"{"severity":"high"}"#).is_err());
    }

    #[test]
    fn scope_from_targets() {
        let mut a = alert();
        a.targets = vec![
            "prod/secrets/db".into(),
            "*/secrets".into(),
            "prod/secrets/api".into(),
            "dev/secrets/x".into(),
        ];
        let env = |src: SourceSystem, key: &str| {
            assert_eq!(src, SourceSystem::Kubernetes);
            (key == "prod").then(|| "production".to_string())
        };
        let s = Scope::of(&a, env);
        assert_eq!(s.namespaces, vec!["prod", "dev"]);
        assert_eq!(s.environments, vec!["production"]);

        a.source = SourceSystem::Vault;
        a.targets = vec!["secret/data/prod/db".into()];
        let s = Scope::of(&a, |_, path| {
            path.starts_with("secret/data/prod/")
                .then(|| "prod".to_string())
        });
        assert!(s.namespaces.is_empty());
        assert_eq!(s.environments, vec!["prod"]);
    }

    #[test]
    fn break_glass_reaches_break_glass_sinks_whatever_the_route() {
        let strict = route(r#"{"min_severity":"critical","rules":["nothing"]}"#);
        let router = Router::new(vec![
            RouteEntry {
                name: "all".into(),
                route: Route::default(),
                break_glass: false,
            },
            RouteEntry {
                name: "pager".into(),
                route: strict.clone(),
                break_glass: true,
            },
            RouteEntry {
                name: "strict".into(),
                route: strict,
                break_glass: false,
            },
        ]);
        let mut a = alert();
        assert_eq!(router.route(&a, &Scope::default()), vec![0]);
        a.break_glass = true;
        assert_eq!(router.route(&a, &Scope::default()), vec![0, 1]);
        assert_eq!(router.entries()[1].name, "pager");
    }
}
