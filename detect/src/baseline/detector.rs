//! [`BaselineDetector`]: the six baseline detections over one shared [`BaselineStore`].
//!
//! For every event, in event time: the store notes the time (and forgets idle principals when
//! an hour starts), the principal's profile commits its completed hours, the checks run on a
//! secret access against what was known *before* this event, and only then does the profile
//! learn the event, whatever it touched, so the first access from a new network is reported.
//!
//! Nothing alerts while the store is learning (`learning_days` of event time since its first
//! event). After that:
//! - `unknown-principal-secret-access` (high): a principal first seen after the learning
//!   period touches secrets within a day of its first event; once per principal. People the
//!   config names (`detect.context.teams` members) and service accounts created in the last
//!   day reading their own namespace are not unknown.
//! - `new-source-for-principal` (medium): a principal seen for `learning_days` accesses a secret
//!   from a network or with a user agent it never used (or first used in a non-secret request
//!   this or last hour); once per new term. The cluster's own networks (`cluster_cidrs`) are
//!   one network (pods move between nodes); a cloud session assumed through a hosted CI
//!   service's identity provider (`roaming_oidc_providers`) is judged by its user agent only
//!   (its runners' addresses change with every job); a person's new user agent alone, from a
//!   network they use, is not reported (people change tools), only with a new network.
//! - `new-secrets-for-principal` (medium): a principal with `min_hours_for_volume` active hours
//!   reads its `new_secrets_min`-th never-read secret within an hour (a periodic reader's
//!   token harvesting beyond its set); Helm release Secrets are not counted.
//! - `unusual-hour-for-principal` (low): a principal seen for `learning_days`, active in at
//!   least `unusual_hour_min_slots` hour slots and for `unusual_hour_min_hours_per_slot` times
//!   as many hours (its usual hours repeat), accesses a secret in a UTC hour of the week (of
//!   the day, in its first week) it was never active in, nor in the hour before or after (a
//!   neighbour first seen in the last hour does not count); once per principal and hour.
//! - `secret-read-volume-anomaly` (high): a principal with `min_hours_for_volume` active hours
//!   reads (gets or lists, allowed) at least `volume_min_reads` secrets in an hour, with p < `volume_p_value` under its
//!   own reads per active hour (Poisson, or negative binomial when the variance is more than
//!   1.5 times the mean); once per principal and hour.
//!
//! - `per-secret-read-volume-anomaly` (medium): the same test for one secret among a principal's
//!   two most steadily read ([`Pair`]): its reads in an hour against its own reads per active
//!   hour of the principal, with the principal's spread; for principals that read more than one
//!   secret, once per principal, secret and hour, and not in an hour the principal's own volume
//!   alerted (that alert already tells the story).
//!
//! `skip_kinds` exempts kinds of principal from the first three; the volume tests apply to all.

use std::path::Path;

use chrono::{DateTime, Utc};
use secretwatch_ingest::{AccessEvent, Action, Outcome, SourceSystem};
use statrs::distribution::{DiscreteCDF, NegativeBinomial, Poisson};

use crate::alert::{target_label, Alert, Severity};
use crate::baseline::config::BaselineConfig;
use crate::baseline::profile::{
    flag, hour_of, pair_flag, slot_of, Facts, Pair, Profile, ReadStats,
};
use crate::baseline::store::{BaselineError, BaselineStore};
use crate::baseline::terms::{
    namespace_term, network_label, network_term_parsed, principal_key, secret_term,
    user_agent_label, user_agent_term, TermKind,
};
use crate::detector::{window_start, Detector};

pub const UNKNOWN_PRINCIPAL: &str = "unknown-principal-secret-access";
pub const NEW_SOURCE: &str = "new-source-for-principal";
pub const UNUSUAL_HOUR: &str = "unusual-hour-for-principal";
pub const VOLUME: &str = "secret-read-volume-anomaly";
pub const PAIR_VOLUME: &str = "per-secret-read-volume-anomaly";
pub const NEW_SECRETS: &str = "new-secrets-for-principal";
/// Every rule id the baseline detector reports.
pub const RULES: [&str; 6] = [
    UNKNOWN_PRINCIPAL,
    NEW_SOURCE,
    UNUSUAL_HOUR,
    VOLUME,
    PAIR_VOLUME,
    NEW_SECRETS,
];

/// A Helm release Secret (`sh.helm.release.v1.<release>.v<N>`).
fn is_helm_release(name: Option<&str>) -> bool {
    name.is_some_and(|n| n.starts_with("sh.helm.release.v1."))
}

/// The baseline detections with a fresh store.
/// The state file's name inside a state directory.
pub const STATE_FILE: &str = "baseline.json";

pub fn detector(cfg: &BaselineConfig) -> BaselineDetector {
    BaselineDetector::with_store(cfg, BaselineStore::new())
}

/// Runs the six baseline detections; owns the store they share.
pub struct BaselineDetector {
    cfg: BaselineConfig,
    store: BaselineStore,
    /// Service accounts created in the last day (`create serviceaccounts` seen in the stream):
    /// a deploy pipeline's new workload, expected to read its own namespace's Secrets. Short-lived
    /// and not saved (a restart forgets at most a day of them).
    new_accounts: std::collections::HashMap<String, DateTime<Utc>>,
    /// People the config names (members of `detect.context.teams`): never "unknown", whatever
    /// the store saw (a person's first session in another cloud account is a new principal
    /// name, not a stranger). The other detections judge them as anyone.
    declared: std::collections::HashSet<String>,
    /// The cluster's own networks (`detect.context.cluster_cidrs`): one network as far as
    /// `new-source-for-principal` is concerned. Pods move between nodes and get addresses from
    /// each node's range; a token used from outside them is still new (and
    /// `sa-token-outside-cluster`'s).
    cluster_networks: Vec<ipnet::IpNet>,
}

/// How long a created service account counts as a new workload, and how many are remembered.
const NEW_ACCOUNT_HOURS: i64 = 24;
const NEW_ACCOUNTS_MAX: usize = 10_000;

/// What the checks of one event leave behind in the profile.
#[derive(Default)]
struct Outcomes {
    flags: u8,
    /// `recent` entries reported now (cleared so they are reported once).
    reported_recent: [bool; 2],
    /// The event's secret pair alerted.
    pair_alerted: bool,
}

impl BaselineDetector {
    /// The detections continuing from `store` (e.g. one [`BaselineStore::load`]ed).
    pub fn with_store(cfg: &BaselineConfig, store: BaselineStore) -> BaselineDetector {
        BaselineDetector {
            cfg: cfg.clone(),
            store,
            new_accounts: std::collections::HashMap::new(),
            declared: std::collections::HashSet::new(),
            cluster_networks: Vec::new(),
        }
    }

    /// The cluster's networks: addresses in them are never a new source.
    pub fn set_cluster_networks(&mut self, nets: Vec<ipnet::IpNet>) {
        self.cluster_networks = nets;
    }

    fn in_cluster(&self, addr: Option<std::net::IpAddr>) -> bool {
        addr.is_some_and(|a| self.cluster_networks.iter().any(|n| n.contains(&a)))
    }

    /// Names of people the config declares (team members): not reported as unknown.
    pub fn declare_people<I: IntoIterator<Item = String>>(&mut self, names: I) {
        self.declared.extend(names);
    }

    /// Continue from the state file at `path`, or start empty when there is none.
    pub fn open(cfg: &BaselineConfig, path: &Path) -> Result<BaselineDetector, BaselineError> {
        Ok(BaselineDetector::with_store(
            cfg,
            BaselineStore::load_or_new(path)?,
        ))
    }

    /// Write the store to `path` (atomically).
    pub fn save(&self, path: &Path) -> Result<(), BaselineError> {
        self.store.save(path)
    }

    pub fn store(&self) -> &BaselineStore {
        &self.store
    }

    pub fn into_store(self) -> BaselineStore {
        self.store
    }

    fn facts(&self, ev: &AccessEvent<'_>) -> Facts {
        let t = &ev.target;
        Facts {
            hour: hour_of(ev.time),
            network: ev.source_ips.first().and_then(|ip| {
                let addr = ip.trim().parse().ok();
                (!self.in_cluster(addr)).then(|| {
                    network_term_parsed(ip, addr, self.cfg.ipv4_prefix, self.cfg.ipv6_prefix)
                })
            }),
            user_agent: ev
                .user_agent
                .as_deref()
                .filter(|u| !u.trim().is_empty())
                .map(user_agent_term),
            namespace: t
                .namespace
                .as_deref()
                .map(|ns| namespace_term(&t.store, ns)),
            // Helm's release Secrets are versioned bookkeeping (a new name at every upgrade):
            // neither a secret the principal "knows" nor one it never read.
            secret: if t.is_secret && !is_helm_release(t.name.as_deref()) {
                secret_term(ev)
            } else {
                None
            },
            secret_access: t.is_secret,
            read: t.is_secret
                && matches!(ev.action, Action::Read | Action::List)
                && matches!(ev.outcome, Outcome::Allowed | Outcome::Unknown),
        }
    }

    fn check(
        &self,
        ev: &AccessEvent<'_>,
        p: Option<&Profile>,
        f: &Facts,
        out: &mut Vec<Alert>,
    ) -> Outcomes {
        let mut done = Outcomes::default();
        let skip = self.cfg.skips(ev.principal.kind);
        let unknown = p.is_none_or(|p| {
            p.has(flag::NEW_PRINCIPAL) && !p.has(flag::UNKNOWN_ALERTED) && p.age_hours(f.hour) < 24
        });
        // A service account the stream saw created in the last day, reading its own namespace:
        // a new workload (issue 21 item 9). Elsewhere it is as unknown as any.
        let new_workload = unknown
            && ev.principal.kind == secretwatch_ingest::PrincipalKind::ServiceAccount
            && ev.principal.namespace.is_some()
            && ev.principal.namespace.as_deref() == ev.target.namespace.as_deref()
            && self
                .new_accounts
                .get(ev.principal.name.as_ref())
                .is_some_and(|created| {
                    *created <= ev.time
                        && ev.time - *created < chrono::Duration::hours(NEW_ACCOUNT_HOURS)
                });
        let declared = unknown && self.declared.contains(ev.principal.name.as_ref());
        if unknown && !new_workload && !declared {
            if !skip {
                out.push(self.unknown_principal(ev, p));
                done.flags |= flag::UNKNOWN_ALERTED;
            }
            return done;
        }
        let Some(p) = p else { return done };
        let learned = p.age_hours(f.hour) >= self.cfg.learning_days * 24;
        if !skip && learned {
            if let Some(a) = self.new_source(ev, p, f, &mut done) {
                out.push(a);
            }
            if !(p.has(flag::HOUR_ALERTED) && p.cur_hour == f.hour) {
                if let Some(a) = self.unusual_hour(ev, p, f) {
                    out.push(a);
                    done.flags |= flag::HOUR_ALERTED;
                }
            }
        }
        if !skip && learned && f.read {
            if let Some(a) = self.new_secrets(ev, p, f) {
                out.push(a);
            }
        }
        let volume_alerted = p.has(flag::VOLUME_ALERTED) && p.cur_hour == f.hour;
        if f.read && !volume_alerted {
            if let Some(a) = self.volume(ev, p, f) {
                out.push(a);
                done.flags |= flag::VOLUME_ALERTED;
            } else if let Some(a) = self.pair_volume(ev, p, f) {
                out.push(a);
                done.pair_alerted = true;
            }
        }
        done
    }

    /// Remember a service account created through the API (allowed `create serviceaccounts`).
    fn note_created_account(&mut self, ev: &AccessEvent<'_>) {
        let t = &ev.target;
        if ev.source != SourceSystem::Kubernetes
            || ev.raw_action != "create"
            || ev.outcome != Outcome::Allowed
            || t.resource.as_deref() != Some("serviceaccounts")
            || t.subresource.is_some()
        {
            return;
        }
        let (Some(ns), Some(name)) = (t.namespace.as_deref(), t.name.as_deref()) else {
            return;
        };
        if self.new_accounts.len() >= NEW_ACCOUNTS_MAX {
            return;
        }
        self.new_accounts
            .insert(format!("system:serviceaccount:{ns}:{name}"), ev.time);
    }

    fn unknown_principal(&self, ev: &AccessEvent<'_>, p: Option<&Profile>) -> Alert {
        let since = self
            .store
            .first_event()
            .map(|t| t.format("%Y-%m-%d %H:%MZ").to_string())
            .unwrap_or_default();
        let seen = match p {
            None => format!(
                "was never seen before (history since {since}, {} principals known)",
                self.store.len()
            ),
            Some(p) => format!(
                "was first seen in hour {} UTC, after the learning period (history since {since})",
                fmt_hour(p.first_hour)
            ),
        };
        let reason = format!(
            "{} ({}) {seen}; its first secret access: {} {} ({}) from {}",
            ev.principal.name,
            ev.principal.kind.as_str(),
            ev.raw_action,
            target_label(ev),
            ev.outcome.as_str(),
            ev.source_ips.first().unwrap_or("an unknown address"),
        );
        Alert::from_event(
            UNKNOWN_PRINCIPAL,
            Severity::High,
            "Unknown principal accessed secrets",
            &group(ev, ""),
            window_start(ev.time, 24 * 60),
            ev,
            reason,
            &tags(ev.source),
        )
    }

    fn new_source(
        &self,
        ev: &AccessEvent<'_>,
        p: &Profile,
        f: &Facts,
        done: &mut Outcomes,
    ) -> Option<Alert> {
        let mut what = vec![];
        let mut labels = vec![];
        let (v4, v6) = (self.cfg.ipv4_prefix, self.cfg.ipv6_prefix);
        // Hosted CI runners have no address of their own: only their user agent is judged.
        let network = f.network.filter(|_| !self.roams(ev));
        // A person's tools change (the console's browser, the CLI, an SDK script, helm): a new
        // user agent alone, from a network the person uses, is not news; with a new network
        // it is told with it.
        let network_novel = network.is_some_and(|t| p.is_novel(t));
        let user_agent = f.user_agent.filter(|_| {
            ev.principal.kind != secretwatch_ingest::PrincipalKind::Human || network_novel
        });
        let facets = [
            (network, TermKind::Network, "source network", "networks"),
            (user_agent, TermKind::UserAgent, "user agent", "user agents"),
        ];
        for (i, (term, kind, name, plural)) in facets.into_iter().enumerate() {
            let Some(t) = term.filter(|&t| p.is_novel(t)) else {
                continue;
            };
            let label = match kind {
                TermKind::Network => network_label(ev.source_ips.first()?, v4, v6),
                _ => user_agent_label(ev.user_agent.as_deref()?),
            };
            let recent = p.recent[i] == t;
            done.reported_recent[i] |= recent;
            let when = if recent {
                ", first used minutes earlier in a non-secret request"
            } else {
                ""
            };
            what.push(format!(
                "{name} {label} is new for this principal{when} (it used {} {plural} before{})",
                fmt_count(p.terms.count(kind), p.terms.is_exact()),
                fmt_fp(p.terms.false_positive_rate(kind)),
            ));
            labels.push(label);
        }
        if what.is_empty() {
            return None;
        }
        let reason = format!(
            "{} {} {} ({}): {}; known for {} days",
            ev.principal.name,
            ev.raw_action,
            target_label(ev),
            ev.outcome.as_str(),
            what.join("; "),
            p.age_hours(f.hour) / 24,
        );
        Some(Alert::from_event(
            NEW_SOURCE,
            Severity::Medium,
            "Secret access from a new source for this principal",
            &group(ev, &labels.join("|")),
            window_start(ev.time, 60),
            ev,
            reason,
            &tags(ev.source),
        ))
    }

    /// The principal is a cloud session assumed through a hosted CI service's identity
    /// provider ([`BaselineConfig::roaming_oidc_providers`]).
    fn roams(&self, ev: &AccessEvent<'_>) -> bool {
        ev.principal.groups.iter().any(|g| {
            g.split_once(":oidc-provider/").is_some_and(|(_, host)| {
                self.cfg
                    .roaming_oidc_providers
                    .iter()
                    .any(|p| !p.is_empty() && host.starts_with(p.as_str()))
            })
        })
    }

    fn unusual_hour(&self, ev: &AccessEvent<'_>, p: &Profile, f: &Facts) -> Option<Alert> {
        let by_day = p.age_hours(f.hour) < 7 * 24;
        let active = p.active_slots(by_day);
        let slot = slot_of(f.hour);
        let repeat = f64::from(p.n) / f64::from(active.max(1));
        if active < self.cfg.unusual_hour_min_slots
            || repeat < self.cfg.unusual_hour_min_hours_per_slot
            || p.slot_known(slot, by_day)
        {
            return None;
        }
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let h = slot % 24;
        let (of, total) = if by_day {
            ("hours of the day", 24)
        } else {
            ("hours of the week", 168)
        };
        let day = if by_day {
            String::new()
        } else {
            format!("{} ", DAYS[usize::from(slot / 24)])
        };
        let reason = format!(
            "{} {} {} at {} UTC; in {} days ({} active hours) this principal was active in \
             {active} of {total} {of}, never in or next to {day}{h:02}:00-{:02}:00 UTC",
            ev.principal.name,
            ev.raw_action,
            target_label(ev),
            ev.time.format("%a %H:%M"),
            p.age_hours(f.hour) / 24,
            p.n,
            (h + 1) % 24,
        );
        Some(Alert::from_event(
            UNUSUAL_HOUR,
            Severity::Low,
            "Secret access at an unusual hour for this principal",
            &group(ev, ""),
            window_start(ev.time, 60),
            ev,
            reason,
            &tags(ev.source),
        ))
    }

    /// `new-secrets-for-principal`: an established reader (past its learning, with
    /// `min_hours_for_volume` active hours) reads its `new_secrets_min`-th secret never read
    /// before within one hour. Periodic readers (a sync operator, a nightly plan, a backup)
    /// read the same set again and again; their token used to harvest more is this, even when
    /// its bulk reads are known and the hour's volume is not unusual. Once per hour (the count
    /// crosses the threshold once).
    fn new_secrets(&self, ev: &AccessEvent<'_>, p: &Profile, f: &Facts) -> Option<Alert> {
        let novel = f.secret.is_some_and(|t| !p.terms.contains(t));
        if !novel || self.cfg.new_secrets_min == 0 {
            return None;
        }
        let stats = p.read_stats();
        if stats.hours < self.cfg.min_hours_for_volume {
            return None;
        }
        let before = if p.cur_hour == f.hour {
            u32::from(p.cur_new_secrets)
        } else {
            0
        };
        let count = before + 1;
        if count != self.cfg.new_secrets_min {
            return None;
        }
        let h = f.hour % 24;
        let reason = format!(
            "{} read {count} secrets it never read before within hour {h:02}:00-{:02}:00 UTC, \
             the latest {} from {}; it has read about {} distinct secrets in {} days, {:.1} \
             reads per active hour",
            ev.principal.name,
            (h + 1) % 24,
            target_label(ev),
            ev.source_ips.first().unwrap_or("an unknown address"),
            fmt_count(p.terms.count(TermKind::Secret), p.terms.is_exact()),
            p.age_hours(f.hour) / 24,
            stats.mean,
        );
        Some(Alert::from_event(
            NEW_SECRETS,
            Severity::Medium,
            "Secrets this principal never read before",
            &group(ev, ""),
            window_start(ev.time, 60),
            ev,
            reason,
            &tags(ev.source),
        ))
    }

    fn volume(&self, ev: &AccessEvent<'_>, p: &Profile, f: &Facts) -> Option<Alert> {
        let stats = p.read_stats();
        let count = p.cur_reads.saturating_add(1);
        if stats.hours < self.cfg.min_hours_for_volume || count < self.cfg.volume_min_reads {
            return None;
        }
        let tail = self.unusual(&stats, count)?;
        let new = u32::from(p.cur_new_secrets)
            + u32::from(f.secret.is_some_and(|t| !p.terms.contains(t)));
        let h = f.hour % 24;
        let reason = format!(
            "{} read {count} secrets in hour {h:02}:00-{:02}:00 UTC ({new} never read before by \
             this principal); its hourly p99 is {} ({} mean {:.1}{} over {} active hours), \
             p = {:.1e}",
            ev.principal.name,
            (h + 1) % 24,
            tail.p99,
            tail.model,
            stats.mean,
            tail.variance,
            stats.hours,
            tail.p,
        );
        Some(Alert::from_event(
            VOLUME,
            Severity::High,
            "Unusual volume of secret reads for this principal",
            &group(ev, ""),
            window_start(ev.time, 60),
            ev,
            reason,
            &tags(ev.source),
        ))
    }

    /// The tail of `count` reads in an hour under `stats`, when it is below `volume_p_value`.
    fn unusual(&self, stats: &ReadStats, count: u32) -> Option<Tail> {
        if f64::from(count) <= stats.mean {
            return None;
        }
        Tail::of(stats, count).filter(|t| t.p < self.cfg.volume_p_value)
    }

    fn pair_volume(&self, ev: &AccessEvent<'_>, p: &Profile, f: &Facts) -> Option<Alert> {
        let pair: &Pair = p.pair(f.secret?)?;
        let count = u32::from(pair.cur) + 1;
        // Cheapest checks first: most reads are far below the minimum count.
        if count < self.cfg.volume_min_reads
            || u32::from(pair.hours) < self.cfg.min_hours_for_volume.min(u32::from(u8::MAX))
            || pair.has(pair_flag::ALERTED)
            || p.terms.count(TermKind::Secret) < 2.0
        {
            return None;
        }
        let own = p.read_stats();
        let stats = pair.read_stats(own.variance / own.mean);
        let tail = self.unusual(&stats, count)?;
        let h = f.hour % 24;
        let target = target_label(ev);
        let reason =
            format!(
            "{} read {target} {count} times in hour {h:02}:00-{:02}:00 UTC; its hourly p99 for \
             this secret is {} ({} mean {:.1}{} over its last {} active hours); all its secret \
             reads this hour: {} (mean {:.1} per active hour), p = {:.1e}",
            ev.principal.name,
            (h + 1) % 24,
            tail.p99,
            tail.model,
            stats.mean,
            tail.variance,
            stats.hours.min(u32::from(crate::baseline::profile::PAIR_WINDOW)),
            p.cur_reads + 1,
            own.mean,
            tail.p,
        );
        Some(Alert::from_event(
            PAIR_VOLUME,
            Severity::Medium,
            "Unusual volume of reads of one secret for this principal",
            &group(ev, &target),
            window_start(ev.time, 60),
            ev,
            reason,
            &tags(ev.source),
        ))
    }
}

/// Upper tail of the fitted reads-per-hour distribution.
struct Tail {
    p: f64,
    p99: u64,
    model: &'static str,
    variance: String,
}

impl Tail {
    /// P(X >= count), and the 99th percentile.
    fn of(s: &ReadStats, count: u32) -> Option<Tail> {
        let k = u64::from(count - 1);
        if s.hours >= 2 && s.variance > 1.5 * s.mean {
            let r = s.mean * s.mean / (s.variance - s.mean);
            let nb = NegativeBinomial::new(r, r / (r + s.mean)).ok()?;
            Some(Tail {
                p: nb.sf(k),
                p99: nb.inverse_cdf(0.99),
                model: "negative binomial",
                variance: format!(", variance {:.1}", s.variance),
            })
        } else {
            let pois = Poisson::new(s.mean).ok()?;
            Some(Tail {
                p: pois.sf(k),
                p99: pois.inverse_cdf(0.99),
                model: "Poisson",
                variance: String::new(),
            })
        }
    }
}

/// Source and principal, and a detail when the rule has one.
fn group(ev: &AccessEvent<'_>, detail: &str) -> String {
    format!("{}\u{0}{}\u{0}{detail}", ev.source, ev.principal.name)
}

fn tags(source: SourceSystem) -> [&'static str; 5] {
    let store = match source {
        SourceSystem::Kubernetes => "attack.t1552.007",
        _ => "attack.t1555.006",
    };
    [
        "baseline",
        "attack.initial-access",
        "attack.t1078",
        "attack.credential-access",
        store,
    ]
}

fn fmt_hour(hour: u32) -> String {
    DateTime::<Utc>::from_timestamp(i64::from(hour) * 3600, 0)
        .map(|t| t.format("%Y-%m-%d %H:00").to_string())
        .unwrap_or_default()
}

fn fmt_count(n: f64, exact: bool) -> String {
    if exact {
        format!("{n:.0}")
    } else {
        format!("about {n:.0}")
    }
}

fn fmt_fp(fp: f64) -> String {
    if fp > 0.0 {
        format!(", answered with {:.1}% false positives", fp * 100.0)
    } else {
        String::new()
    }
}

impl Detector for BaselineDetector {
    /// The detector's name; its alerts carry the ids in [`RULES`].
    fn id(&self) -> &'static str {
        "baseline"
    }

    fn save_state(&self, dir: &Path) -> Result<(), crate::engine::EngineError> {
        Ok(self.save(&dir.join(STATE_FILE))?)
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        self.note_created_account(ev);
        self.store.advance(ev.time, self.cfg.idle_days);
        let learned = self.store.learned(ev.time, self.cfg.learning_days);
        let key = principal_key(ev.source, &ev.principal.name);
        let f = self.facts(ev);
        if let Some(p) = self.store.get_mut(key) {
            p.advance(f.hour);
        }
        let p = self.store.get(key);
        let novelty_matters = p.is_some_and(|p| p.age_hours(f.hour) >= self.cfg.learning_days * 24);
        let done = if learned && f.secret_access {
            self.check(ev, p, &f, out)
        } else {
            Outcomes::default()
        };
        let p = self
            .store
            .entry(key, f.hour, learned, self.cfg.max_principals);
        p.observe(&f, novelty_matters);
        p.flags |= done.flags;
        if done.pair_alerted {
            if let Some(pair) = f.secret.and_then(|t| p.pair_mut(t)) {
                pair.flags |= pair_flag::ALERTED;
            }
        }
        for (i, reported) in done.reported_recent.into_iter().enumerate() {
            if reported {
                p.recent[i] = 0;
            }
        }
    }

    fn on_tick(&mut self, now: DateTime<Utc>, _out: &mut Vec<Alert>) {
        self.store.advance(now, self.cfg.idle_days);
        self.new_accounts
            .retain(|_, t| now - *t < chrono::Duration::hours(NEW_ACCOUNT_HOURS));
    }
}

/// `first_seen.*` and `baseline.*` for Sigma rules, from the store as it stood before the
/// event (the Sigma engine runs before the baselines learn it). While the store is learning
/// nothing is first seen.
///
/// | field | type | meaning |
/// |---|---|---|
/// | `first_seen.principal` | bool | the principal was never seen before |
/// | `first_seen.secret` | bool | the principal never touched this secret before |
/// | `first_seen.namespace` | bool | ... nor anything in this namespace |
/// | `first_seen.source_network` | bool | ... from this network (`ipv4_prefix`/`ipv6_prefix`) |
/// | `first_seen.user_agent` | bool | ... with this user agent (product and major version) |
/// | `baseline.learning` | bool | the store is still in its learning period |
/// | `baseline.known_days` | int | days since the principal was first seen (0 when new) |
/// | `baseline.usual_hour` | bool | the principal was active in this hour of the week (or next to it) |
/// | `baseline.reads_this_hour` | int | secret reads by the principal earlier in this UTC hour |
/// | `baseline.reads_per_hour` | float | its mean secret reads per completed active hour |
impl crate::sigma::BaselineFields for BaselineDetector {
    fn field(&self, name: &str, ev: &AccessEvent<'_>) -> Option<rsigma_eval::EventValue<'static>> {
        use rsigma_eval::EventValue as V;
        let learned =
            self.cfg.learning_days == 0 || self.store.learned(ev.time, self.cfg.learning_days);
        let p = self.store.get(principal_key(ev.source, &ev.principal.name));
        let f = self.facts(ev);
        let first = |term: Option<u32>| -> V<'static> {
            V::Bool(
                learned && term.is_some() && p.is_none_or(|p| term.is_some_and(|t| p.is_novel(t))),
            )
        };
        Some(match name {
            "first_seen.principal" => V::Bool(learned && p.is_none()),
            "first_seen.secret" => first(f.secret),
            "first_seen.namespace" => first(f.namespace),
            "first_seen.source_network" => first(f.network),
            "first_seen.user_agent" => first(f.user_agent),
            "baseline.learning" => V::Bool(!learned),
            "baseline.known_days" => V::Int(i64::from(p.map_or(0, |p| p.age_hours(f.hour) / 24))),
            "baseline.usual_hour" => V::Bool(
                p.is_some_and(|p| p.slot_known(slot_of(f.hour), p.age_hours(f.hour) < 7 * 24)),
            ),
            "baseline.reads_this_hour" => V::Int(i64::from(
                p.filter(|p| p.cur_hour == f.hour)
                    .map_or(0, |p| p.cur_reads),
            )),
            "baseline.reads_per_hour" => V::Float(p.map_or(0.0, |p| p.read_stats().mean)),
            _ => return None,
        })
    }
}
