//! Small pieces the context detections share: once-per-group-per-window bookkeeping and the
//! words of alert reasons.

use secretwatch_ingest::{AccessEvent, Action, Outcome, SourceSystem};

/// Remembers which groups already alerted in their current window (bounded by pruning).
/// Once per group per window (shared with the built-in and Sigma detections).
pub use crate::builtin::WindowedGroups as Groups;

pub fn went_through(ev: &AccessEvent<'_>) -> bool {
    matches!(ev.outcome, Outcome::Allowed | Outcome::Unknown)
}

/// Part of group keys: a refused attempt does not hide a later successful access.
pub fn outcome_class(ev: &AccessEvent<'_>) -> &'static str {
    if went_through(ev) {
        "through"
    } else {
        "refused"
    }
}

/// "read", "listed", "watched", "tried to read"...
pub fn verb(ev: &AccessEvent<'_>) -> String {
    let (done, base) = match ev.action {
        Action::Read => ("read", "read"),
        Action::List if ev.raw_action == "watch" => ("watched", "watch"),
        Action::List => ("listed", "list"),
        Action::Write => ("wrote", "write"),
        Action::Create => ("created", "create"),
        Action::Delete => ("deleted", "delete"),
        Action::Rotate => ("rotated", "rotate"),
        _ => return format!("did {} on", ev.raw_action),
    };
    if went_through(ev) {
        done.to_string()
    } else {
        format!("tried to {base}")
    }
}

/// "Secret staging/db", "Secrets in staging", "Secrets in all namespaces",
/// "Vault secret secret/data/prod/db".
pub fn object(ev: &AccessEvent<'_>) -> String {
    let t = &ev.target;
    match ev.source {
        SourceSystem::Kubernetes => {
            let resource = t.resource.as_deref().unwrap_or("-");
            let what = match (resource, t.subresource.as_deref()) {
                ("secrets", None) => "Secret".to_string(),
                (r, Some(s)) => format!("{r}/{s}"),
                (r, None) => r.to_string(),
            };
            match (t.namespace.as_deref(), t.name.as_deref()) {
                (Some(ns), Some(name)) => format!("{what} {ns}/{name}"),
                (Some(ns), None) => format!("{what}s in {ns}"),
                (None, Some(name)) => format!("{what} {name}"),
                (None, None) => format!("{what}s in all namespaces"),
            }
        }
        _ => format!(
            "{} secret {}",
            source_title(ev.source),
            t.name.as_deref().unwrap_or("-")
        ),
    }
}

fn source_title(s: SourceSystem) -> &'static str {
    match s {
        SourceSystem::Kubernetes => "Kubernetes",
        SourceSystem::Vault => "Vault",
        SourceSystem::Aws => "AWS",
        SourceSystem::Azure => "Azure",
        SourceSystem::Gcp => "GCP",
    }
}

/// The last source IP: the address the server saw (earlier `sourceIPs` are client-set headers).
pub fn remote_ip<'e>(ev: &'e AccessEvent<'_>) -> Option<&'e str> {
    ev.source_ips.iter().last()
}

/// ATT&CK tags of reading a credential from a source: Kubernetes Container API (T1552.007) or a
/// secrets store (T1555.006 Cloud Secrets Management Stores).
pub fn credential_tags(source: SourceSystem) -> &'static str {
    match source {
        SourceSystem::Kubernetes => "attack.t1552.007",
        _ => "attack.t1555.006",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn groups_once_per_window_and_prune() {
        let t = Utc.with_ymd_and_hms(2026, 11, 3, 10, 0, 0).unwrap();
        let mut g = Groups::default();
        assert!(g.first_in_window("a", t));
        assert!(!g.first_in_window("a", t));
        assert!(g.first_in_window("b", t));
        let next = t + Duration::hours(1);
        assert!(g.first_in_window("a", next));
        // A late event of an older window does not reopen it.
        assert!(!g.first_in_window("a", t));
        g.prune(t + Duration::hours(5), 60);
        assert_eq!(g.len(), 0);
    }
}
