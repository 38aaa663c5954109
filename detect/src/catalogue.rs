//! The shipped catalogue of well-known controllers (`detect/catalogue/controllers.yml`): who
//! they are (username patterns, any namespace) and what they normally do with Secrets, each
//! entry citing its source (the project's Helm chart RBAC or install manifest).
//!
//! What an entry allows joins the config's lists, so day-one config needs none of them:
//! `cluster_wide` -> `known_controllers` (cluster-wide list/watch of Secrets),
//! `cross_namespace` -> `multi_namespace_readers`, `bulk` -> `bulk_readers`. Everything else
//! the identity does still meets every detection (a token of it used from outside the
//! cluster, a new network, a burst beyond its baseline).
//!
//! Patterns: `*` matches any run of characters except `:`; nothing else is special.

use serde::Deserialize;

/// The catalogue as shipped (built into the binary).
pub const SHIPPED: &str = include_str!("../catalogue/controllers.yml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub version: u32,
    pub controllers: Vec<Controller>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    pub id: String,
    pub name: String,
    pub project: String,
    /// Where the facts come from (repository, path, role).
    pub source: String,
    pub users: Vec<String>,
    pub secrets: SecretUse,
    #[serde(default)]
    pub also: Vec<serde_json::Value>,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretUse {
    pub verbs: Vec<String>,
    pub cluster_wide: bool,
    pub cross_namespace: bool,
    pub bulk: bool,
    #[serde(default)]
    pub types: Vec<String>,
}

/// Why the catalogue cannot load.
#[derive(Debug, thiserror::Error)]
#[error("controller catalogue: {0}")]
pub struct CatalogueError(String);

impl Catalogue {
    pub fn parse(text: &str) -> Result<Catalogue, CatalogueError> {
        let c: Catalogue = yaml_serde::from_str(text).map_err(|e| CatalogueError(e.to_string()))?;
        let mut ids = std::collections::HashSet::new();
        for e in &c.controllers {
            if !ids.insert(e.id.as_str()) {
                return Err(CatalogueError(format!("id {} used twice", e.id)));
            }
            if e.users.is_empty() || e.users.iter().any(|u| u.trim().is_empty()) {
                return Err(CatalogueError(format!("{}: users must not be empty", e.id)));
            }
            if e.source.trim().is_empty() {
                return Err(CatalogueError(format!("{}: no source", e.id)));
            }
        }
        Ok(c)
    }

    /// The shipped catalogue, parsed once per process (a unit test checks that it parses).
    pub fn shipped() -> &'static Catalogue {
        static SHIPPED_CATALOGUE: std::sync::LazyLock<Catalogue> = std::sync::LazyLock::new(|| {
            Catalogue::parse(SHIPPED).unwrap_or(Catalogue {
                version: 0,
                controllers: vec![],
            })
        });
        &SHIPPED_CATALOGUE
    }

    /// The entry a username belongs to, if any.
    pub fn find(&self, username: &str) -> Option<&Controller> {
        self.controllers
            .iter()
            .find(|c| c.users.iter().any(|p| matches(p, username)))
    }

    /// Username patterns of entries with a property, for the config's lists.
    pub fn users_where(&self, pred: impl Fn(&SecretUse) -> bool) -> Vec<String> {
        self.controllers
            .iter()
            .filter(|c| pred(&c.secrets))
            .flat_map(|c| c.users.iter().cloned())
            .collect()
    }
}

/// Whether `name` matches `pattern` (`*`: any run of characters but `:`).
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    // Iterative wildcard match with backtracking to the last star.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            // The star takes one more character, never a ':'.
            if n[sn] == b':' {
                return false;
            }
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests;
