//! First-seen history through the whole engine: real parser, shipped rules, default config
//! but for the learning period.

use chrono::{Duration, TimeZone, Utc};
use secretwatch_ingest::{Format, ParseOptions, Parsed, RecordParser};

use crate::test_support::feed;
use crate::{Alert, DetectConfig, Engine};

fn cfg(learning_days: u32) -> DetectConfig {
    let mut c = DetectConfig::default();
    c.baseline.learning_days = learning_days;
    c.history_learning_days = learning_days;
    c
}

/// A cluster-wide `list` of Secrets by `user` at `hours` after 2026-11-02 00:00 UTC (as a
/// controller's reflector re-lists: no namespace, no selector).
fn list_all(user: &str, hours: i64, n: u32) -> String {
    let t = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::minutes(hours * 60);
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{user}-{n}-{hours}","stage":"ResponseComplete","requestURI":"/api/v1/secrets?limit=500&resourceVersion=0","verb":"list","user":{{"username":"{user}","groups":["system:serviceaccounts","system:authenticated"]}},"sourceIPs":["10.42.3.9"],"userAgent":"controller/v1.2.3","objectRef":{{"resource":"secrets","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"{t}","stageTimestamp":"{t}"}}"#,
        t = t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

fn of(alerts: &[Alert], rule: &str) -> Vec<Alert> {
    alerts.iter().filter(|a| a.rule == rule).cloned().collect()
}

const CONTROLLER: &str = "system:serviceaccount:policy:in-house-operator";
const LATECOMER: &str = "system:serviceaccount:tools:new-backup-agent";

/// Every hour for `days` days from hour `from`.
fn hourly(user: &str, from: i64, days: i64) -> Vec<String> {
    (from..from + days * 24)
        .map(|h| list_all(user, h, 0))
        .collect()
}

#[test]
fn a_controller_seen_while_learning_stays_quiet_a_new_one_alerts_once() {
    // Before: the rule alerted every alert window (60 min) for as long as the behaviour lasted.
    let mut engine = Engine::new(&cfg(3)).unwrap();
    let mut lines = hourly(CONTROLLER, 0, 20);
    lines.extend(hourly(LATECOMER, 5 * 24, 10));
    lines.sort_by_key(|l| l[l.find("stageTimestamp").unwrap()..].to_string());
    let alerts = feed(&mut engine, &lines);
    let wide = of(&alerts, "k8s-secrets-list-cluster-wide");
    // The controller was learned in the first three days; the latecomer alerts once, on day 5,
    // and its reason says why it is new.
    assert_eq!(wide.len(), 1, "{wide:#?}");
    assert_eq!(wide[0].principal, LATECOMER);
    assert!(
        wide[0]
            .reason
            .contains("first time in 14 days for this combination (principal.group="),
        "{}",
        wide[0].reason
    );
    assert!(engine.history().len() >= 2);
}

#[test]
fn a_combination_alerts_again_after_its_window() {
    let mut engine = Engine::new(&cfg(1)).unwrap();
    // Day 0 learning; the latecomer on day 2, then nothing for 20 days, then again.
    let mut lines = vec![list_all(CONTROLLER, 0, 0), list_all(LATECOMER, 48, 0)];
    lines.push(list_all(LATECOMER, 49, 1));
    lines.push(list_all(LATECOMER, 48 + 20 * 24, 2));
    let wide = of(&feed(&mut engine, &lines), "k8s-secrets-list-cluster-wide");
    let times: Vec<i64> = wide
        .iter()
        .map(|a| (a.first_seen - Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()).num_hours())
        .collect();
    assert_eq!(times, vec![48, 48 + 20 * 24], "{wide:#?}");
}

#[test]
fn what_an_identity_did_on_a_day_it_raised_a_high_alert_is_not_learned() {
    let mut c = cfg(3);
    c.context.cluster_cidrs = vec!["10.0.0.0/8".parse().unwrap()];
    let mut engine = Engine::new(&c).unwrap();
    let base = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
    // Day 1 (learning): the latecomer lists every Secret, then its token reads a Secret from an
    // address outside the cluster (sa-token-outside-cluster, critical: not judged by history).
    let t = base + Duration::hours(34);
    let lines = vec![
        list_all(LATECOMER, 24 + 10, 0),
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"out-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/tools/secrets/s","verb":"get","user":{{"username":"{LATECOMER}","groups":["system:serviceaccounts"]}},"sourceIPs":["203.0.113.50"],"objectRef":{{"resource":"secrets","namespace":"tools","name":"s","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"stageTimestamp":"{}"}}"#,
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ),
        // The same day the controller lists too (learned), and the latecomer again (not
        // learned either); both again after learning (day 5).
        list_all(CONTROLLER, 24 + 11, 0),
        list_all(LATECOMER, 24 + 12, 1),
        list_all(CONTROLLER, 5 * 24, 1),
        list_all(LATECOMER, 5 * 24 + 1, 2),
    ];
    let alerts = feed(&mut engine, &lines);
    assert_eq!(
        of(&alerts, "sa-token-outside-cluster").len(),
        1,
        "{alerts:#?}"
    );
    let wide = of(&alerts, "k8s-secrets-list-cluster-wide");
    assert_eq!(wide.len(), 1, "{wide:#?}");
    assert_eq!(wide[0].principal, LATECOMER);
    assert_eq!((wide[0].first_seen - base).num_hours(), 5 * 24 + 1);
}

#[test]
fn history_is_deterministic_and_survives_a_restart() {
    let mut lines = hourly(CONTROLLER, 0, 3);
    lines.extend(hourly(LATECOMER, 4 * 24, 2));
    lines.push(list_all("system:serviceaccount:x:third", 6 * 24, 0));
    let run = |lines: &[String]| feed(&mut Engine::new(&cfg(2)).unwrap(), lines);
    let once = run(&lines);
    assert_eq!(once, run(&lines), "the same input gives the same alerts");
    assert_eq!(of(&once, "k8s-secrets-list-cluster-wide").len(), 2);

    // Stop after day 4's first hours, restart from the state directory: same alerts.
    let cut = lines.len() - 40;
    let dir = tempfile::tempdir().unwrap();
    let mut first = Engine::new(&cfg(2)).unwrap();
    let mut alerts = feed(&mut first, &lines[..cut]);
    first.save_state(dir.path()).unwrap();
    let mut second = Engine::with_state(&cfg(2), Some(dir.path())).unwrap();
    assert_eq!(second.history(), first.history());
    alerts.extend(feed(&mut second, &lines[cut..]));
    assert_eq!(alerts, once);
}

#[test]
fn bounded_and_pruned() {
    let mut h = super::TermHistory::new(
        [(
            "k8s-secrets-list-cluster-wide".to_string(),
            super::NewTerms::new(&["principal.name"]),
        )]
        .into_iter()
        .collect(),
        0,
    )
    .with_max_entries(100);
    let opts = ParseOptions::default();
    let mut parser = RecordParser::new(&opts, Format::K8sAudit);
    for i in 0..1000 {
        let line = list_all(&format!("user-{i}"), i64::from(i / 50), i);
        parser.parse(&line, &mut |p| {
            if let Parsed::Event(ev) = p {
                h.advance(ev.time);
                let mut out = vec![Alert::from_event(
                    "k8s-secrets-list-cluster-wide",
                    crate::Severity::High,
                    "t",
                    "g",
                    ev.time,
                    &ev,
                    String::new(),
                    &[],
                )];
                h.judge(&ev, &mut out, 0);
                assert_eq!(out.len(), 1, "every user is new");
            }
        });
    }
    assert!(h.len() <= 100, "{}", h.len());
    // 20 days later everything has expired.
    let line = list_all("late", 20 * 24 + 40, 0);
    parser.parse(&line, &mut |p| {
        if let Parsed::Event(ev) = p {
            h.advance(ev.time);
        }
    });
    assert!(h.is_empty(), "{}", h.len());
}

#[test]
fn rule_blocks_are_validated() {
    use crate::sigma::{load, RuleSource};
    let rule = |block: &str| {
        format!("title: T\nid: 6f1d2c1e-0000-4000-8000-0000000000aa\nname: my-rule\ndescription: d\nlevel: high\ntags: [attack.t1552]\nlogsource: {{product: kubernetes, service: audit}}\ndetection: {{sel: {{verb: list}}, condition: sel}}\n{block}examples:\n  fire: [{{user: u, verb: list}}]\n  quiet: [{{user: u, verb: get}}]\n")
    };
    let load_one = |text: String| {
        load(&[RuleSource {
            name: "rules/x.yml".into(),
            text,
            strict: true,
        }])
    };
    for (block, problem) in [
        ("secretwatch:\n  history: sometimes\n", "unknown history"),
        (
            "secretwatch:\n  history: new_terms\n",
            "needs a new_terms block",
        ),
        (
            "secretwatch:\n  new_terms: {fields: []}\n",
            "at least one field",
        ),
        (
            "secretwatch:\n  new_terms: {fields: [verb], window_days: 0}\n",
            "window_days",
        ),
        (
            "secretwatch:\n  history: always\n  new_terms: {fields: [verb]}\n",
            "takes no new_terms",
        ),
        ("secretwatch:\n  colour: blue\n", "unknown field"),
    ] {
        let e = load_one(rule(block)).unwrap_err().to_string();
        assert!(
            e.contains("rules/x.yml") && e.contains("my-rule") && e.contains(problem),
            "{block}: {e}"
        );
    }
    let ok = load_one(rule(
        "secretwatch:\n  new_terms: {fields: [principal.group, verb]}\n",
    ))
    .unwrap();
    let meta = ok.meta.values().next().unwrap();
    assert_eq!(
        meta.history,
        super::History::NewTerms(super::NewTerms::new(&["principal.group", "verb"]))
    );
    // Third-party rules without the block keep the window behaviour.
    let plain = load_one(rule("")).unwrap();
    assert_eq!(
        plain.meta.values().next().unwrap().history,
        super::History::Window
    );
}

/// An in-house controller nobody listed (not in the catalogue, not in the config): once its
/// cluster-wide lists are learned they stay quiet, as a catalogued controller's are; its token
/// doing something new still alerts: used from outside the cluster, or reading a namespace's
/// Secret it never read.
#[test]
fn a_learned_unlisted_controller_is_quiet_but_its_token_doing_something_new_alerts() {
    let mut c = cfg(3);
    c.context.cluster_cidrs = vec!["10.0.0.0/8".parse().unwrap()];
    assert!(crate::catalogue::Catalogue::shipped()
        .find(CONTROLLER)
        .is_none());
    let mut lines = hourly(CONTROLLER, 0, 6);
    // Day 6: the same token from an address outside the cluster, then a read in another
    // namespace.
    let t = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::days(6);
    lines.push(list_all(CONTROLLER, 6 * 24 + 1, 7).replace("10.42.3.9", "203.0.113.50"));
    lines.push(format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"x-get","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/payments/secrets/db","verb":"get","user":{{"username":"{CONTROLLER}","groups":["system:serviceaccounts"]}},"sourceIPs":["10.42.3.9"],"objectRef":{{"resource":"secrets","namespace":"payments","name":"db","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"stageTimestamp":"{}"}}"#,
        (t + Duration::hours(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    ));
    let alerts = feed(&mut Engine::new(&c).unwrap(), &lines);
    let rules: Vec<&str> = alerts.iter().map(|a| a.rule.as_str()).collect();
    assert!(
        !rules.contains(&"k8s-secrets-list-cluster-wide"),
        "{alerts:#?}"
    );
    assert!(rules.contains(&"sa-token-outside-cluster"), "{alerts:#?}");
    assert!(
        rules.contains(&"cross-namespace-secret-read"),
        "{alerts:#?}"
    );
}
