//! Baseline detections on events produced by the real Kubernetes audit parser.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, TimeZone, Utc};
use secretwatch_ingest::{Format, ParseOptions, Parsed, RecordParser, SourceSystem};

use crate::baseline::terms::principal_key;
use crate::baseline::{
    detector, BaselineConfig, BaselineDetector, BaselineError, BaselineStore, NEW_SECRETS,
    NEW_SOURCE, PAIR_VOLUME, UNKNOWN_PRINCIPAL, UNUSUAL_HOUR, VOLUME,
};
use crate::detector::Detector;
use crate::{Alert, Severity};

static OPTS: LazyLock<ParseOptions> = LazyLock::new(ParseOptions::default);

/// Monday 2026-11-02 00:00 UTC.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()
}

fn at(days: i64, hours: i64, minutes: i64) -> DateTime<Utc> {
    t0() + Duration::days(days) + Duration::hours(hours) + Duration::minutes(minutes)
}

/// One Kubernetes request.
#[derive(Clone, Copy)]
struct Req<'a> {
    user: &'a str,
    verb: &'a str,
    resource: &'a str,
    ns: &'a str,
    name: Option<&'a str>,
    ip: &'a str,
    ua: &'a str,
}

const SA: Req<'static> = Req {
    user: "system:serviceaccount:prod:payments",
    verb: "get",
    resource: "secrets",
    ns: "prod",
    name: Some("payments-db"),
    ip: "10.42.1.17",
    ua: "payments/v2.3.1",
};

impl<'a> Req<'a> {
    fn user(self, user: &'a str) -> Self {
        Req { user, ..self }
    }
    fn ip(self, ip: &'a str) -> Self {
        Req { ip, ..self }
    }
    fn ua(self, ua: &'a str) -> Self {
        Req { ua, ..self }
    }
    fn name(self, name: &'a str) -> Self {
        Req {
            name: Some(name),
            ..self
        }
    }
    fn pods(self) -> Self {
        Req {
            resource: "pods",
            verb: "list",
            name: None,
            ..self
        }
    }
}

/// Feeds parsed events to a baseline detector and keeps the alerts.
struct Sim {
    det: BaselineDetector,
    alerts: Vec<Alert>,
    n: u64,
}

impl Sim {
    fn new(cfg: &BaselineConfig) -> Sim {
        Sim {
            det: detector(cfg),
            alerts: vec![],
            n: 0,
        }
    }

    /// Sends `r` at `t`; returns the alerts it raised.
    fn send(&mut self, r: Req<'_>, t: DateTime<Utc>) -> Vec<Alert> {
        self.n += 1;
        let name = r
            .name
            .map(|n| format!(r#","name":"{n}""#))
            .unwrap_or_default();
        let uri = match r.name {
            Some(n) => format!("/api/v1/namespaces/{}/{}/{n}", r.ns, r.resource),
            None => format!("/api/v1/namespaces/{}/{}", r.ns, r.resource),
        };
        let time = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let line = format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"ev-{}","stage":"ResponseComplete","requestURI":"{uri}","verb":"{}","user":{{"username":"{}","groups":["system:authenticated"]}},"sourceIPs":["{}"],"userAgent":"{}","objectRef":{{"resource":"{}","namespace":"{}"{name},"apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"{time}","stageTimestamp":"{time}"}}"#,
            self.n, r.verb, r.user, r.ip, r.ua, r.resource, r.ns
        );
        let mut parser = RecordParser::new(&OPTS, Format::Auto);
        let mut out = vec![];
        parser.parse(&line, &mut |p| match p {
            Parsed::Event(e) => self.det.on_event(&e, &mut out),
            Parsed::Skipped => panic!("skipped: {line}"),
            Parsed::Error(e) => panic!("{e}: {line}"),
        });
        self.alerts.extend(out.iter().cloned());
        out
    }

    /// `r` every hour from day `from` to day `to` (exclusive), at minute 7 and 37.
    fn hourly(&mut self, r: Req<'_>, from: i64, to: i64) {
        for h in from * 24..to * 24 {
            self.send(r, at(0, h, 7));
            self.send(r, at(0, h, 37));
        }
    }

    fn of(&self, rule: &str) -> Vec<&Alert> {
        self.alerts.iter().filter(|a| a.rule == rule).collect()
    }
}

fn cfg() -> BaselineConfig {
    BaselineConfig::default()
}

#[test]
fn nothing_alerts_while_the_store_is_learning() {
    let mut s = Sim::new(&cfg());
    s.hourly(SA, 0, 6);
    // A stranger, a new network, a new tool and a burst, all within the first 7 days.
    s.send(SA.user("system:serviceaccount:default:debug"), at(6, 3, 0));
    s.send(SA.ip("203.0.113.9").ua("curl/8.5.0"), at(6, 3, 1));
    for i in 0..100 {
        s.send(SA, at(6, 23, 0) + Duration::seconds(i));
    }
    assert!(s.alerts.is_empty(), "{:#?}", s.alerts);
    assert!(!s.det.store().learned(at(6, 23, 59), 7));
    assert!(s.det.store().learned(at(7, 0, 7), 7));
}

#[test]
fn an_unknown_principal_alerts_once() {
    let mut s = Sim::new(&cfg());
    s.hourly(SA, 0, 8);
    let debug = SA.user("system:serviceaccount:default:debug-pod");
    let first = s.send(debug.pods(), at(8, 16, 50));
    assert!(first.is_empty(), "not a secret access: {first:?}");
    let a = s.send(debug, at(8, 16, 52));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0].rule, UNKNOWN_PRINCIPAL);
    assert_eq!(a[0].severity, Severity::High);
    assert_eq!(a[0].principal, "system:serviceaccount:default:debug-pod");
    assert!(
        a[0].reason
            .contains("was first seen in hour 2026-11-10 16:00"),
        "{}",
        a[0].reason
    );
    assert!(a[0].tags.iter().any(|t| t == "attack.t1552.007"));
    assert!(s.send(debug.name("other"), at(8, 16, 53)).is_empty());
    assert!(s.send(debug.ip("203.0.113.1"), at(9, 18, 0)).is_empty());

    // Never seen at all: the first event is the secret access.
    let stranger = SA.user("mallory@example.com");
    let a = s.send(stranger, at(8, 20, 0));
    assert_eq!(a.len(), 1);
    assert!(
        a[0].reason.contains("was never seen before"),
        "{}",
        a[0].reason
    );
    assert!(a[0]
        .reason
        .contains("get prod/secrets/payments-db (allowed) from 10.42.1.17"));
    // Nodes are skipped by default: they come and go with autoscaling.
    assert!(s
        .send(SA.user("system:node:node-9"), at(8, 20, 1))
        .is_empty());
    // Same replay, same ids.
    let mut again = Sim::new(&cfg());
    again.hourly(SA, 0, 8);
    again.send(debug.pods(), at(8, 16, 50));
    assert_eq!(
        again.send(debug, at(8, 16, 52))[0].id,
        s.of(UNKNOWN_PRINCIPAL)[0].id
    );
}

#[test]
fn a_workload_the_pipeline_just_created_may_read_its_own_namespace() {
    let mut s = Sim::new(&cfg());
    s.hourly(SA, 0, 8);
    let deployer = "system:serviceaccount:ci:deployer";
    let create_sa = |ns: &'static str, name: &'static str| Req {
        user: deployer,
        verb: "create",
        resource: "serviceaccounts",
        ns,
        name: Some(name),
        ip: "10.42.9.9",
        ua: "Helm/3.16.2",
    };
    s.send(create_sa("prod", "billing-worker"), at(8, 10, 0));
    s.send(create_sa("dev", "late-worker"), at(8, 10, 0));
    let worker = SA.user("system:serviceaccount:prod:billing-worker");
    // Its own namespace's Secret, a minute later and an hour later: expected.
    assert!(s
        .send(worker.name("billing-worker-config"), at(8, 10, 1))
        .is_empty());
    assert!(s
        .send(worker.name("billing-worker-config"), at(8, 11, 1))
        .is_empty());
    // Another namespace's Secret: as unknown as any new identity.
    let elsewhere = Req {
        ns: "staging",
        ..worker.name("db")
    };
    let a = s.send(elsewhere, at(8, 11, 30));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0].rule, UNKNOWN_PRINCIPAL);
    // Created more than a day before its first read, or never created in the stream: unknown.
    let late = Req {
        ns: "dev",
        ..SA.user("system:serviceaccount:dev:late-worker").name("x")
    };
    assert_eq!(s.send(late, at(9, 12, 0)).len(), 1);
    let never = SA
        .user("system:serviceaccount:prod:sneaky")
        .name("billing-worker-config");
    assert_eq!(s.send(never, at(8, 12, 0)).len(), 1);
}

#[test]
fn a_new_network_or_tool_alerts_and_known_ones_stay_quiet() {
    let mut s = Sim::new(&cfg());
    s.hourly(SA, 0, 8);
    s.send(SA.pods().ip("10.42.9.3"), at(3, 0, 0));
    // Same /24 as usual: quiet. A network seen in a non-secret request days ago: quiet.
    assert!(s.send(SA.ip("10.42.1.200"), at(8, 9, 0)).is_empty());
    assert!(s.send(SA.ip("10.42.9.4"), at(8, 9, 1)).is_empty());
    let a = s.send(SA.ip("203.0.113.9"), at(8, 9, 2));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(
        (a[0].rule.as_str(), a[0].severity),
        (NEW_SOURCE, Severity::Medium)
    );
    assert!(
        a[0].reason.contains(
            "source network 203.0.113.0/24 is new for this principal (it used 2 networks before)"
        ),
        "{}",
        a[0].reason
    );
    assert!(s.send(SA.ip("203.0.113.10"), at(8, 9, 3)).is_empty());
    // A new tool (curl), while a kubectl upgrade is the same tool.
    let a = s.send(SA.ua("curl/8.5.0"), at(8, 9, 4));
    assert_eq!(a.len(), 1);
    assert!(
        a[0].reason.contains("user agent curl/8 is new"),
        "{}",
        a[0].reason
    );
    assert!(s.send(SA.ua("payments/v2.4.0"), at(8, 9, 5)).is_empty());
    // First used in a harmless request, then for a secret within the hour: still new, once.
    assert!(s
        .send(SA.pods().ip("198.51.100.7"), at(8, 10, 50))
        .is_empty());
    let a = s.send(SA.ip("198.51.100.7"), at(8, 11, 5));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert!(a[0]
        .reason
        .contains("first used minutes earlier in a non-secret request"));
    assert!(s.send(SA.ip("198.51.100.7"), at(8, 11, 6)).is_empty());
    // ... but not hours later.
    s.send(SA.pods().ip("192.0.2.7"), at(8, 12, 0));
    assert!(s.send(SA.ip("192.0.2.8"), at(8, 14, 30)).is_empty());
    // A principal still in its own learning period is not judged.
    s.send(SA.user("new-sa"), at(8, 0, 0));
    s.send(SA.user("new-sa"), at(8, 5, 0));
    assert!(s
        .send(SA.user("new-sa").ip("203.0.113.50"), at(8, 9, 0))
        .is_empty());
    assert_eq!(s.of(NEW_SOURCE).len(), 3);
}

#[test]
fn unusual_hours_alert_with_drift_tolerance() {
    let mut s = Sim::new(&cfg());
    let alice = SA.user("alice@example.com").ua("kubectl/v1.31.2");
    // Three weeks of office hours, 09:00-17:00 UTC on weekdays.
    for day in 0..21 {
        if day % 7 >= 5 {
            continue;
        }
        for h in 9..17 {
            s.send(alice.pods(), at(day, h, 10));
            s.send(alice, at(day, h, 20));
        }
    }
    assert!(s.of(UNUSUAL_HOUR).is_empty(), "{:#?}", s.of(UNUSUAL_HOUR));
    // 17:30 is next to 16:00-17:00: tolerated drift.
    assert!(s.send(alice, at(21, 17, 30)).is_empty());
    // Tuesday 03:10, after a harmless request in the same hour: alerts once for the hour.
    assert!(s.send(alice.pods(), at(22, 3, 5)).is_empty());
    let a = s.send(alice, at(22, 3, 10));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(
        (a[0].rule.as_str(), a[0].severity),
        (UNUSUAL_HOUR, Severity::Low)
    );
    assert!(
        a[0].reason.contains(
            "at Tue 03:10 UTC; in 21 days (121 active hours) this principal was active in 41 \
             of 168 hours of the week, never in or next to Tue 03:00-04:00 UTC"
        ),
        "{}",
        a[0].reason
    );
    assert!(s.send(alice.name("other"), at(22, 3, 40)).is_empty());
    // The next hour is "next to" 03:00 only because of this session: it alerts again.
    assert_eq!(s.send(alice, at(22, 4, 10)).len(), 1);
    // 08:40 is next to 09:00.
    assert!(s.send(alice, at(23, 8, 40)).is_empty());
    assert_eq!(s.of(UNUSUAL_HOUR).len(), 2);

    // After one week, alice's usual hours had not repeated yet: not judged.
    let mut s = Sim::new(&cfg());
    for day in 0..7 {
        for h in 9..17 {
            s.send(alice, at(day, h, 20));
        }
    }
    assert!(s.send(alice, at(8, 3, 10)).is_empty());

    // A principal active in fewer than 8 hour slots is not judged.
    let mut s = Sim::new(&cfg());
    let cron = SA.user("system:serviceaccount:ops:backup");
    for day in 0..14 {
        s.send(cron, at(day, 2, 0));
    }
    assert!(s.send(cron, at(14, 13, 0)).is_empty());
}

/// ~2 reads an hour for 8 days (Poisson-like: 1, 2 or 3).
fn steady(s: &mut Sim, r: Req<'_>) {
    for h in 0..8 * 24 {
        for k in 0..(1 + h % 3) {
            s.send(r, at(0, h, 5 + 10 * k));
        }
    }
}

#[test]
fn volume_far_above_the_principal_history_alerts_once_an_hour() {
    let mut s = Sim::new(&cfg());
    steady(&mut s, SA);
    let quiet = SA.user("system:serviceaccount:prod:orders");
    steady(&mut s, quiet);
    assert!(s.alerts.is_empty(), "{:#?}", s.alerts);
    for i in 0..4 {
        s.send(quiet, at(8, 10, 1) + Duration::seconds(i));
    }
    for i in 0..60 {
        let name = format!("secret-{i}");
        s.send(SA.name(&name), at(8, 10, 1) + Duration::seconds(i));
    }
    let v = s.of(VOLUME);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].principal, SA.user);
    assert_eq!(v[0].severity, Severity::High);
    let r = &v[0].reason;
    assert!(
        r.contains(
            "read 20 secrets in hour 10:00-11:00 UTC (20 never read before by this principal)"
        ),
        "{r}"
    );
    assert!(r.contains("Poisson mean 2.0 over 192 active hours"), "{r}");
    let p: f64 = r.rsplit("p = ").next().unwrap().parse().unwrap();
    assert!(p > 0.0 && p < 1e-6, "{r}");
    // The burst is learned clipped to 3 standard deviations above the mean, so a second
    // burst the next hour is as unusual as the first (and a new window).
    for i in 0..25 {
        s.send(SA, at(8, 11, 1) + Duration::seconds(i));
    }
    let v = s.of(VOLUME);
    assert_eq!(v.len(), 2);
    assert_ne!(v[0].id, v[1].id);
    assert!(
        s.of(PAIR_VOLUME).is_empty(),
        "the principal's own volume alert tells the story of its secret's burst"
    );
    assert!(
        v[1].reason
            .contains("Poisson mean 2.0 over 193 active hours"),
        "{}",
        v[1].reason
    );
}

#[test]
fn bursty_principals_are_judged_by_a_negative_binomial() {
    let mut s = Sim::new(&cfg());
    let ci = SA.user("system:serviceaccount:ci:deployer");
    // Idle, but 30 reads in one hour of every six.
    for h in 0..8 * 24 {
        s.send(ci.pods(), at(0, h, 1));
        if h % 6 == 0 {
            for i in 0..30 {
                s.send(ci, at(0, h, 2) + Duration::seconds(i));
            }
        }
    }
    for i in 0..40 {
        s.send(ci, at(8, 7, 2) + Duration::seconds(i));
    }
    assert!(s.of(VOLUME).is_empty(), "{:#?}", s.of(VOLUME));
    for i in 40..400 {
        s.send(ci, at(8, 7, 2) + Duration::seconds(i));
    }
    let v = s.of(VOLUME);
    assert_eq!(v.len(), 1);
    assert!(
        v[0].reason.contains("negative binomial mean 5.0, variance"),
        "{}",
        v[0].reason
    );
    assert!(
        s.of(PAIR_VOLUME).is_empty(),
        "one secret only: the principal's test covers it"
    );
}

#[test]
fn one_secret_read_far_above_its_own_history_alerts_when_the_total_does_not() {
    let mut s = Sim::new(&cfg());
    let app = SA.user("system:serviceaccount:prod:worker");
    let (db, tls) = (app.name("worker-db"), app.name("worker-tls"));
    // 30 to 50 reads an hour of its database secret, one of its TLS key.
    let busy_hour = |s: &mut Sim, day: i64, h: i64, tls_reads: i64| {
        for k in 0..30 + (h * 7) % 21 {
            s.send(db, at(day, h, 0) + Duration::seconds(k * 60));
        }
        for k in 0..tls_reads {
            s.send(tls, at(day, h, 55) + Duration::seconds(k));
        }
    };
    for h in 0..8 * 24 {
        busy_hour(&mut s, 0, h, 1);
    }
    assert!(s.alerts.is_empty(), "{:#?}", s.alerts);
    // 25 reads of the TLS key: the principal's hour (about 66 reads against a mean of 41) is
    // unremarkable, the key's is not.
    busy_hour(&mut s, 8, 10, 25);
    assert!(s.of(VOLUME).is_empty(), "{:#?}", s.of(VOLUME));
    let v = s.of(PAIR_VOLUME);
    assert_eq!(v.len(), 1, "once per secret and hour: {v:#?}");
    assert_eq!(v[0].severity, Severity::Medium);
    assert_eq!(v[0].principal, app.user);
    let r = &v[0].reason;
    assert!(
        r.contains("read prod/secrets/worker-tls 20 times in hour 10:00-11:00 UTC"),
        "{r}"
    );
    assert!(
        r.contains("Poisson mean 1.0 over its last 64 active hours"),
        "{r}"
    );
    let p: f64 = r.rsplit("p = ").next().unwrap().parse().unwrap();
    assert!(p > 0.0 && p < 1e-6, "{r}");
    // The database secret, read as usual, stays quiet; a second burst the next hour is a new
    // alert (the first was learned clipped).
    busy_hour(&mut s, 8, 11, 25);
    let v = s.of(PAIR_VOLUME);
    assert_eq!(v.len(), 2);
    assert_ne!(v[0].id, v[1].id);
    assert!(v.iter().all(|a| a.reason.contains("worker-tls")));
}

/// Nine days of a few principals, with every kind of alert on days 7 and 8.
fn story(s: &mut Sim, from_day: i64, to_day: i64) {
    let alice = SA.user("alice@example.com").ua("kubectl/v1.31.2");
    for day in from_day..to_day {
        for h in 0..24 {
            match h {
                2 if day >= 7 => {
                    s.send(alice, at(day, 2, 0));
                }
                3 if day >= 7 => {
                    s.send(SA.user(&format!("stranger-{day}")), at(day, 3, 0));
                }
                4 if day >= 7 => {
                    s.send(SA.ip("203.0.113.5"), at(day, 4, 0));
                }
                5 if day >= 7 => {
                    for i in 0..40 {
                        s.send(SA, at(day, 5, 0) + Duration::seconds(i));
                    }
                }
                _ => {}
            }
            s.send(SA, at(day, h, 5));
            if (8..18).contains(&h) {
                s.send(alice, at(day, h, 15));
            }
        }
    }
}

#[test]
fn a_saved_store_continues_like_one_that_never_stopped() {
    let dir = std::env::temp_dir().join(format!("secretwatch-baseline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("baseline.json");
    let c = BaselineConfig {
        unusual_hour_min_hours_per_slot: 1.0,
        ..cfg()
    };

    let mut straight = Sim::new(&c);
    story(&mut straight, 0, 9);

    let mut first = Sim::new(&c);
    story(&mut first, 0, 1);
    first.det.save(&path).unwrap();
    let loaded = BaselineStore::load(&path).unwrap();
    assert_eq!(&loaded, first.det.store());
    let mut resumed = Sim {
        det: BaselineDetector::with_store(&c, loaded),
        alerts: first.alerts,
        n: first.n,
    };
    story(&mut resumed, 1, 8);
    // Save again mid-way (after alerts, with alert flags set), through `open`.
    resumed.det.save(&path).unwrap();
    resumed.det = BaselineDetector::open(&c, &path).unwrap();
    story(&mut resumed, 8, 9);

    let rules: std::collections::BTreeSet<&str> =
        straight.alerts.iter().map(|a| a.rule.as_str()).collect();
    assert_eq!(rules.len(), 4, "{:#?}", straight.alerts);
    assert_eq!(resumed.alerts, straight.alerts);
    assert_eq!(resumed.det.store(), straight.det.store());
    assert!(
        std::fs::read_dir(&dir).unwrap().count() == 1,
        "temporary file left behind"
    );

    // Other versions and damaged files are refused with the reason.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(r#""version":1"#, r#""version":9"#)).unwrap();
    let err = BaselineStore::load(&path).unwrap_err();
    assert!(
        matches!(err, BaselineError::Version { found: 9, .. }),
        "{err}"
    );
    std::fs::write(&path, text.replacen(r#""week":""#, r#""week":"zz"#, 1)).unwrap();
    let err = BaselineStore::load(&path).unwrap_err().to_string();
    assert!(err.contains("week is not 21 bytes of hex"), "{err}");
    std::fs::remove_file(&path).unwrap();
    assert!(BaselineStore::load_or_new(&path).unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn idle_principals_are_forgotten_and_the_store_is_bounded() {
    let c = BaselineConfig {
        max_principals: 64,
        idle_days: 10,
        ..cfg()
    };
    let mut s = Sim::new(&c);
    s.hourly(SA, 0, 1);
    let bob = SA.user("bob@example.com");
    s.send(bob, at(0, 12, 0));
    s.hourly(SA, 1, 12);
    // bob was idle for more than 10 days: unknown again.
    assert_eq!(s.det.store().expired(), 1);
    let a = s.send(bob, at(12, 1, 0));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule, UNKNOWN_PRINCIPAL);
    // 200 principals in a store of 64: the least recently seen go first, in batches.
    let names: Vec<String> = (0..200).map(|i| format!("sa-{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        s.send(
            SA.user(n).pods(),
            at(12, 2, 0) + Duration::minutes(i as i64 * 2),
        );
    }
    let st = s.det.store();
    assert!(st.len() <= 64, "{}", st.len());
    assert_eq!(st.evicted(), 2 + 200 - st.len() as u64);
    let key = |n: &str| principal_key(SourceSystem::Kubernetes, n);
    assert!(st.get(key("sa-199")).is_some());
    assert!(st.get(key("sa-0")).is_none() && st.get(key(SA.user)).is_none());
}

#[test]
fn a_persons_new_tool_alone_is_not_news_but_with_a_new_network_it_is_told() {
    let mut s = Sim::new(&cfg());
    let alice = SA
        .user("oidc:alice@example.com")
        .ua("kubectl/v1.31.2")
        .ip("203.0.113.21");
    s.hourly(alice, 0, 8);
    // helm (or the console, or a script) from her usual network: quiet.
    assert!(s.send(alice.ua("Helm/3.16.2"), at(8, 10, 0)).is_empty());
    // A new network: reported, and the new tool with it.
    let a = s.send(
        alice.ua("python-requests/2.32.3").ip("185.220.101.47"),
        at(8, 10, 5),
    );
    assert_eq!(a.len(), 1, "{a:#?}");
    assert!(
        a[0].reason
            .contains("source network 185.220.101.0/24 is new"),
        "{}",
        a[0].reason
    );
    assert!(
        a[0].reason.contains("user agent python-requests/2 is new"),
        "{}",
        a[0].reason
    );
    // A workload's new tool alone still is (a mounted token used with curl).
    s.hourly(SA, 0, 8);
    assert_eq!(s.send(SA.ua("curl/8.5.0"), at(8, 11, 0)).len(), 1);
}

/// A CloudTrail `GetSecretValue` by a web-identity role session.
fn trail_read(
    det: &mut BaselineDetector,
    n: u64,
    t: DateTime<Utc>,
    provider: &str,
    ip: &str,
    ua: &str,
) -> Vec<Alert> {
    let time = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let line = format!(
        r#"{{"eventVersion":"1.09","userIdentity":{{"type":"AssumedRole","principalId":"AROAEXAMPLE:GitHubActions","arn":"arn:aws:sts::111122223333:assumed-role/deploy/GitHubActions","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::111122223333:role/deploy","accountId":"111122223333","userName":"deploy"}},"webIdFederationData":{{"federatedProvider":"arn:aws:iam::111122223333:oidc-provider/{provider}","attributes":{{}}}},"attributes":{{"creationDate":"{time}","mfaAuthenticated":"false"}}}}}},"eventTime":"{time}","eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","awsRegion":"eu-west-1","sourceIPAddress":"{ip}","userAgent":"{ua}","requestParameters":{{"secretId":"prod/app/db"}},"responseElements":null,"eventID":"ct-{n}","eventType":"AwsApiCall","recipientAccountId":"111122223333"}}"#
    );
    crate::test_support::feed_line(det, &line)
}

#[test]
fn a_hosted_ci_session_is_judged_by_its_tool_not_its_address() {
    const TF: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.9.8";
    for (provider, roams) in [
        ("token.actions.githubusercontent.com", true),
        ("oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", false),
    ] {
        let mut det = detector(&cfg());
        let mut n = 0;
        // Every night from another runner address, as hosted runners are.
        let mut alerts = vec![];
        for day in 0..14 {
            n += 1;
            let ip = format!("20.{}.{}.9", 40 + day, 7 * day);
            alerts.extend(trail_read(&mut det, n, at(day, 2, 0), provider, &ip, TF));
        }
        if roams {
            assert!(alerts.is_empty(), "{provider}: {alerts:#?}");
            // Its token used with another tool still is news.
            let a = trail_read(
                &mut det,
                99,
                at(14, 2, 0),
                provider,
                "20.99.1.9",
                "curl/8.5.0",
            );
            assert_eq!(a.len(), 1, "{a:#?}");
            assert!(
                a[0].reason.contains("user agent curl/8 is new"),
                "{}",
                a[0].reason
            );
            assert!(!a[0].reason.contains("source network"), "{}", a[0].reason);
        } else {
            // A cluster's workload identity from a new network every night: each is reported.
            assert_eq!(alerts.len(), 14 - 7, "{provider}: {alerts:#?}");
        }
    }
}

#[test]
fn people_the_config_names_are_never_unknown() {
    let mut s = Sim::new(&cfg());
    s.det.declare_people(["oidc:zoe@example.com".to_string()]);
    s.hourly(SA, 0, 8);
    // A team member's first secret read after learning: not an unknown principal.
    let zoe = SA
        .user("oidc:zoe@example.com")
        .ip("203.0.113.40")
        .ua("kubectl/v1.31.2");
    assert!(s.send(zoe, at(8, 10, 0)).is_empty());
    // Someone nobody named still is.
    let a = s.send(zoe.user("oidc:mallory@example.com"), at(8, 10, 5));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(a[0].rule, UNKNOWN_PRINCIPAL);
}

#[test]
fn a_pod_moving_between_nodes_is_not_a_new_source() {
    let mut s = Sim::new(&cfg());
    s.det.set_cluster_networks(vec![
        "10.42.0.0/16".parse().unwrap(),
        "10.0.0.0/24".parse().unwrap(),
    ]);
    s.hourly(SA, 0, 8);
    // Rescheduled onto other nodes: addresses from their pod ranges, or a host-network pod.
    assert!(s.send(SA.ip("10.42.5.31"), at(8, 9, 0)).is_empty());
    assert!(s.send(SA.ip("10.0.0.14"), at(8, 9, 1)).is_empty());
    // The same token from outside the cluster still is new.
    let a = s.send(SA.ip("203.0.113.9"), at(8, 9, 2));
    assert_eq!(a.len(), 1, "{a:#?}");
    assert!(
        a[0].reason.contains("source network 203.0.113.0/24 is new"),
        "{}",
        a[0].reason
    );
    // Without the cluster's networks configured, another node's range is a new network.
    let mut plain = Sim::new(&cfg());
    plain.hourly(SA, 0, 8);
    assert_eq!(plain.send(SA.ip("10.42.5.31"), at(8, 9, 0)).len(), 1);
}

#[test]
fn a_periodic_reader_harvesting_secrets_it_never_read_alerts_once_an_hour() {
    let mut s = Sim::new(&cfg());
    // A sync operator re-reading the same twelve Secrets every hour for eight days.
    let names: Vec<String> = (0..12).map(|i| format!("app-{i}")).collect();
    let es = SA.user("system:serviceaccount:external-secrets:external-secrets");
    for h in 0..8 * 24 {
        for (i, n) in names.iter().enumerate() {
            s.send(es.name(n), at(0, h, 3 + i as i64));
        }
    }
    assert!(s.of(NEW_SECRETS).is_empty());
    // A new ExternalSecret of three keys, and Helm bookkeeping of many releases: quiet.
    for n in ["new-app-db", "new-app-api", "new-app-redis"] {
        assert!(s.send(es.name(n), at(8, 1, 0)).is_empty());
    }
    let deployer = SA.user("system:serviceaccount:ci:deployer");
    for h in 0..8 * 24 {
        s.send(deployer.name("sh.helm.release.v1.web.v1"), at(0, h, 1));
    }
    for v in 2..30 {
        let name = format!("sh.helm.release.v1.app{v}.v{v}");
        s.send(deployer.name(&name), at(8, 2, v));
    }
    // (The burst itself is the volume test's to judge.)
    assert!(s.of(NEW_SECRETS).is_empty(), "{:#?}", s.of(NEW_SECRETS));
    // Its token used to read ten Secrets it never read: one alert, on the tenth.
    let mut got = vec![];
    for i in 0..14 {
        let n = format!("prod-secret-{i}");
        got.push(s.send(es.name(&n), at(8, 3, 10 + i)).len());
    }
    assert_eq!(got, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    let a = s.of(NEW_SECRETS);
    assert!(
        a[0].reason.contains("read 10 secrets it never read before"),
        "{}",
        a[0].reason
    );
    assert!(a[0].reason.contains("prod-secret-9"), "{}", a[0].reason);
    // The next hour counts afresh.
    for i in 14..24 {
        s.send(es.name(&format!("prod-secret-{i}")), at(8, 4, i));
    }
    assert_eq!(s.of(NEW_SECRETS).len(), 2);
}
