//! `helm-release-read-by-non-deployer`: Helm 3 keeps each release revision in a Secret
//! `sh.helm.release.v1.<release>.v<N>` (type `helm.sh/release.v1`, labels `owner=helm`,
//! `name=<release>`), holding the whole release, chart values included: the passwords and keys
//! a chart was installed with. `helm upgrade`/`status`/`rollback` list them with
//! `labelSelector=name=<release>,owner=helm` and read the latest (helm `pkg/storage/driver/
//! secrets.go`); `helm list -A` lists every release of the cluster.
//!
//! The identity that deploys a release reading its release Secrets is the deploy tool's own
//! bookkeeping and stays quiet. Reading the release Secrets of a release someone else deployed
//! (a person's `helm get values`, a workload's token) reads that release's values: it alerts
//! once per identity and release (or once per identity for a list of every release) in the
//! alert window. A release whose deployment secretwatch never saw (no write of its Secrets) is
//! not judged.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use secretwatch_ingest::k8s::request::parse_query;
use secretwatch_ingest::{AccessEvent, Outcome, SourceSystem};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Severity};
use crate::context::common::Groups;
use crate::context::world::World;
use crate::detector::{window_start, Detector};
use crate::history::group::group_of;

pub const RULE: &str = "helm-release-read-by-non-deployer";

/// Writers kept per release (the deploy pipeline, perhaps a person who rolled back).
const WRITERS_MAX: usize = 4;
/// Releases kept.
const RELEASES_MAX: usize = 50_000;

/// The release a Secret name belongs to: `sh.helm.release.v1.<release>.v<N>`.
pub fn release_of_name(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("sh.helm.release.v1.")?;
    let (release, version) = rest.rsplit_once(".v")?;
    (!release.is_empty() && !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()))
        .then_some(release)
}

/// What a list's label selector asks of Helm's release Secrets: `Some(Some(release))` for
/// `name=<release>,owner=helm`, `Some(None)` for every release (`owner=helm`), `None` when the
/// list is not Helm's.
fn helm_selection(selector: &str) -> Option<Option<String>> {
    let mut helm = false;
    let mut release = None;
    for term in selector.split(',') {
        match term.split_once('=') {
            Some(("owner", "helm")) => helm = true,
            Some(("name", r)) => release = Some(r.to_string()),
            _ => {}
        }
    }
    helm.then_some(release)
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Release {
    store: String,
    namespace: String,
    /// Principal groups that wrote its Secrets.
    writers: Vec<String>,
    last: Option<DateTime<Utc>>,
}

pub struct HelmReleaseRead {
    world: Arc<World>,
    releases: HashMap<String, Release>,
    groups: Groups,
}

fn key(store: &str, ns: &str, release: &str) -> String {
    format!("{store}\u{0}{ns}\u{0}{release}")
}

impl HelmReleaseRead {
    pub fn new(world: Arc<World>) -> Self {
        HelmReleaseRead {
            world,
            releases: HashMap::new(),
            groups: Groups::default(),
        }
    }

    fn alert(&mut self, ev: &AccessEvent<'_>, group: &str, what: String, out: &mut Vec<Alert>) {
        let ws = window_start(ev.time, self.world.window);
        if !self.groups.first_in_window(group, ws) {
            return;
        }
        let prod = ev
            .target
            .namespace
            .as_deref()
            .and_then(|ns| self.world.namespace_env(ns))
            .is_some_and(|e| self.world.is_production(e));
        let reason = format!(
            "{} ({}) {what} from {}: Helm release Secrets hold the chart values a release was installed with",
            ev.principal.name,
            ev.principal.kind.as_str(),
            ev.source_ips.iter().last().unwrap_or("an unknown address"),
        );
        out.push(Alert::from_event(
            RULE,
            if prod {
                Severity::High
            } else {
                Severity::Medium
            },
            "Helm release values read by an identity that did not deploy the release",
            group,
            ws,
            ev,
            reason,
            &["attack.credential-access", "attack.t1552.007"],
        ));
    }
}

impl Detector for HelmReleaseRead {
    fn id(&self) -> &'static str {
        RULE
    }

    fn export_state(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "releases": self.releases, "groups": self.groups.export() }))
    }

    fn import_state(&mut self, mut state: serde_json::Value) -> Result<(), String> {
        if let Some(r) = state.get_mut("releases").map(serde_json::Value::take) {
            self.releases = serde_json::from_value(r).map_err(|e| format!("releases: {e}"))?;
        }
        match state.get_mut("groups").map(serde_json::Value::take) {
            None | Some(serde_json::Value::Null) => Ok(()),
            Some(g) => self.groups.import(g),
        }
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        let t = &ev.target;
        if ev.source != SourceSystem::Kubernetes
            || t.resource.as_deref() != Some("secrets")
            || t.subresource.is_some()
            || ev.outcome != Outcome::Allowed
        {
            return;
        }
        let who = group_of(ev.effective_principal()).into_owned();
        let store: &str = &t.store;
        let ns = t.namespace.as_deref();
        let verb = ev.raw_action.as_ref();
        // Writes: the deployer of that release.
        if matches!(verb, "create" | "update" | "patch" | "delete") {
            if let (Some(ns), Some(release)) = (ns, t.name.as_deref().and_then(release_of_name)) {
                let k = key(store, ns, release);
                if !self.releases.contains_key(&k) && self.releases.len() >= RELEASES_MAX {
                    return;
                }
                let r = self.releases.entry(k).or_insert_with(|| Release {
                    store: store.to_string(),
                    namespace: ns.to_string(),
                    ..Release::default()
                });
                if !r.writers.contains(&who) && r.writers.len() < WRITERS_MAX {
                    r.writers.push(who);
                }
                r.last = Some(ev.time);
            }
            return;
        }
        // Reads: one release by name, or a Helm list of one release or of them all.
        let (release, everything): (Option<String>, bool) = match verb {
            "get" => match t.name.as_deref().and_then(release_of_name) {
                Some(r) => (Some(r.to_string()), false),
                None => return,
            },
            "list" | "watch" => {
                let q = parse_query(ev.request_uri.as_deref().unwrap_or(""));
                match q.label_selector.as_deref().and_then(helm_selection) {
                    Some(Some(r)) => (Some(r), false),
                    Some(None) => (None, true),
                    None => return,
                }
            }
            _ => return,
        };
        match (release, ns) {
            (Some(release), Some(ns)) => {
                let Some(r) = self.releases.get(&key(store, ns, &release)) else {
                    return;
                };
                if r.writers.is_empty() || r.writers.contains(&who) {
                    return;
                }
                let by = r.writers.join(", ");
                let group = format!("{who}\u{0}{store}\u{0}{ns}\u{0}{release}");
                let what = format!(
                    "read the stored values of Helm release {ns}/{release}, deployed by {by}"
                );
                self.alert(ev, &group, what, out);
            }
            _ if everything => {
                // Every release in the namespace (or cluster) the list reaches.
                let others = self
                    .releases
                    .values()
                    .filter(|r| {
                        r.store == store
                            && ns.is_none_or(|ns| r.namespace == ns)
                            && !r.writers.is_empty()
                            && !r.writers.contains(&who)
                    })
                    .count();
                if others == 0 {
                    return;
                }
                let scope = ns.map_or("every namespace".to_string(), |n| format!("namespace {n}"));
                let group = format!("{who}\u{0}{store}\u{0}{}\u{0}*", ns.unwrap_or("*"));
                let what = format!(
                    "listed every Helm release Secret of {scope}: {others} release(s) it did not deploy"
                );
                self.alert(ev, &group, what, out);
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        self.groups.prune(now, self.world.window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_and_selectors() {
        assert_eq!(
            release_of_name("sh.helm.release.v1.payments-api.v12"),
            Some("payments-api")
        );
        assert_eq!(release_of_name("sh.helm.release.v1.a.b.v3"), Some("a.b"));
        assert_eq!(release_of_name("sh.helm.release.v1.x.vnext"), None);
        assert_eq!(release_of_name("payments-db"), None);
        assert_eq!(
            helm_selection("name=web,owner=helm"),
            Some(Some("web".into()))
        );
        assert_eq!(helm_selection("owner=helm"), Some(None));
        assert_eq!(helm_selection("app=web"), None);
    }
}

#[cfg(test)]
mod scenario_tests {
    use crate::context::tests::{of, run, world};
    use crate::context::HELM_RELEASE_READ;
    use crate::Severity;

    /// A Kubernetes request on Secrets with its own request URI.
    fn req(
        id: &str,
        user: &str,
        verb: &str,
        ns: &str,
        name: Option<&str>,
        query: &str,
        t: &str,
    ) -> String {
        let name_json = name
            .map(|n| format!(r#","name":"{n}""#))
            .unwrap_or_default();
        let path = match name {
            Some(n) => format!("/api/v1/namespaces/{ns}/secrets/{n}"),
            None => format!("/api/v1/namespaces/{ns}/secrets"),
        };
        let uri = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        let code = if verb == "create" { 201 } else { 200 };
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"{uri}","verb":"{verb}","user":{{"username":"{user}","groups":["system:authenticated"]}},"sourceIPs":["10.42.3.3"],"userAgent":"Helm/3.16.2","objectRef":{{"resource":"secrets","namespace":"{ns}"{name_json},"apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":{code}}},"requestReceivedTimestamp":"{t}","stageTimestamp":"{t}"}}"#
        )
    }

    const CI: &str = "system:serviceaccount:ci:deployer";
    const SEL: &str = "labelSelector=name%3Dpayments%2Cowner%3Dhelm";

    #[test]
    fn the_deployer_reads_its_releases_and_others_reading_them_alert() {
        let lines = vec![
            // A first install: nothing known yet, then the deployer's own bookkeeping.
            req("a1", CI, "list", "prod", None, SEL, "2026-12-02T09:00:00Z"),
            req(
                "a2",
                CI,
                "create",
                "prod",
                Some("sh.helm.release.v1.payments.v1"),
                "",
                "2026-12-02T09:00:01Z",
            ),
            req("a3", CI, "list", "prod", None, SEL, "2026-12-03T09:00:00Z"),
            req(
                "a4",
                CI,
                "get",
                "prod",
                Some("sh.helm.release.v1.payments.v1"),
                "",
                "2026-12-03T09:00:01Z",
            ),
            req(
                "a5",
                CI,
                "create",
                "prod",
                Some("sh.helm.release.v1.payments.v2"),
                "",
                "2026-12-03T09:00:02Z",
            ),
            // A person reads the release's values (helm get values payments).
            req(
                "b1",
                "oidc:mallory@example.com",
                "list",
                "prod",
                None,
                SEL,
                "2026-12-03T22:00:00Z",
            ),
            req(
                "b2",
                "oidc:mallory@example.com",
                "get",
                "prod",
                Some("sh.helm.release.v1.payments.v2"),
                "",
                "2026-12-03T22:00:01Z",
            ),
            // helm list -A by a person: every release of the cluster.
            req(
                "c1",
                "oidc:bob@example.com",
                "list",
                "",
                None,
                "labelSelector=owner%3Dhelm",
                "2026-12-03T23:00:00Z",
            ),
            // Ordinary Secrets are not this detection's.
            req(
                "d1",
                "oidc:bob@example.com",
                "get",
                "prod",
                Some("payments-db"),
                "",
                "2026-12-03T23:01:00Z",
            ),
        ];
        let alerts = run(&world(), &lines);
        let got = of(&alerts, HELM_RELEASE_READ);
        assert_eq!(got.len(), 2, "{got:#?}");
        assert_eq!(got[0].principal, "oidc:mallory@example.com");
        assert_eq!(got[0].severity, Severity::High);
        assert!(
            got[0].reason.contains(
                "Helm release prod/payments, deployed by system:serviceaccount:ci:deployer"
            ),
            "{}",
            got[0].reason
        );
        assert_eq!(got[1].principal, "oidc:bob@example.com");
        assert!(
            got[1]
                .reason
                .contains("listed every Helm release Secret of every namespace: 1 release(s)"),
            "{}",
            got[1].reason
        );
    }
}
