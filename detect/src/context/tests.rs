//! The context detections on events produced by the real parsers.

use std::sync::LazyLock;

use secretwatch_ingest::{AccessEvent, Format, ParseOptions, Parsed, RecordParser};

use crate::context::{detectors, ContextConfig, SyncMapping, TeamConfig};
use crate::{Alert, Engine, Severity};

static OPTS: LazyLock<ParseOptions> = LazyLock::new(ParseOptions::default);

pub(super) const ESO: &str = "system:serviceaccount:external-secrets:external-secrets";

/// One Kubernetes audit event (final stage).
pub(super) struct K8s<'a> {
    pub(super) user: &'a str,
    pub(super) verb: &'a str,
    pub(super) resource: &'a str,
    pub(super) ns: Option<&'a str>,
    pub(super) name: Option<&'a str>,
    pub(super) code: u16,
    pub(super) time: &'a str,
    pub(super) ips: &'a [&'a str],
}

impl<'a> K8s<'a> {
    pub(super) fn get(user: &'a str, ns: &'a str, name: &'a str, time: &'a str) -> Self {
        K8s {
            user,
            verb: "get",
            resource: "secrets",
            ns: Some(ns),
            name: Some(name),
            code: 200,
            time,
            ips: &["10.42.1.5"],
        }
    }

    pub(super) fn line(&self) -> String {
        let ns_json = self
            .ns
            .map(|n| format!(r#","namespace":"{n}""#))
            .unwrap_or_default();
        let name_json = self
            .name
            .map(|n| format!(r#","name":"{n}""#))
            .unwrap_or_default();
        let group = if self.resource == "deployments" {
            r#","apiGroup":"apps""#
        } else {
            ""
        };
        let ips: Vec<String> = self.ips.iter().map(|i| format!("\"{i}\"")).collect();
        let (user, verb, resource, code, time) =
            (self.user, self.verb, self.resource, self.code, self.time);
        let id = format!("{user}-{verb}-{}-{time}", self.name.unwrap_or("all"));
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"/x","verb":"{verb}","user":{{"username":"{user}","groups":["system:authenticated"]}},"sourceIPs":[{}],"userAgent":"curl/8.5.0","objectRef":{{"resource":"{resource}"{ns_json}{name_json}{group},"apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":{code}}},"requestReceivedTimestamp":"{time}","stageTimestamp":"{time}"}}"#,
            ips.join(",")
        )
    }
}

/// One Vault response entry. `sa_ns`: Kubernetes-auth metadata (service account namespace).
pub(super) fn vault(
    id: &str,
    display: &str,
    sa_ns: Option<&str>,
    op: &str,
    path: &str,
    time: &str,
    remote: &str,
) -> String {
    let meta = match sa_ns {
        Some(ns) => format!(
            r#","metadata":{{"role":"r","service_account_name":"app","service_account_namespace":"{ns}"}}"#
        ),
        None => String::new(),
    };
    format!(
        r#"{{"time":"{time}","type":"response","auth":{{"client_token":"hmac-sha256:aa","accessor":"hmac-sha256:bb","display_name":"{display}","policies":["default"]{meta},"entity_id":"e-{display}","token_type":"service"}},"request":{{"id":"{id}","operation":"{op}","mount_type":"kv","mount_point":"secret/","namespace":{{"id":"root"}},"path":"{path}","remote_address":"{remote}"}},"response":{{"mount_type":"kv"}}}}"#
    )
}

/// The events of `lines`, parsed.
pub(super) fn parse(lines: &[String]) -> Vec<AccessEvent<'static>> {
    let mut parser = RecordParser::new(&OPTS, Format::Auto);
    let mut evs = vec![];
    for l in lines {
        parser.parse(l, &mut |p| match p {
            Parsed::Event(e) => evs.push(e.into_owned()),
            Parsed::Skipped => {}
            Parsed::Error(e) => panic!("{e}: {l}"),
        });
    }
    evs
}

pub(super) fn run(cfg: &ContextConfig, lines: &[String]) -> Vec<Alert> {
    let mut parser = RecordParser::new(&OPTS, Format::Auto);
    let mut engine = Engine::with_detectors(detectors(cfg).expect("valid config"));
    let mut alerts = vec![];
    for l in lines {
        let mut evs: Vec<AccessEvent<'_>> = vec![];
        parser.parse(l, &mut |p| match p {
            Parsed::Event(e) => evs.push(e),
            Parsed::Skipped => {}
            Parsed::Error(e) => panic!("{e}: {l}"),
        });
        for e in &evs {
            engine.on_event(e, &mut alerts);
        }
    }
    engine.flush(&mut alerts);
    alerts
}

pub(super) fn of<'a>(alerts: &'a [Alert], rule: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.rule == rule).collect()
}

pub(super) fn world() -> ContextConfig {
    let mut cfg = ContextConfig::default();
    for env in ["dev", "staging", "prod"] {
        cfg.environments.insert(env.into(), env.into());
    }
    cfg.multi_namespace_readers = vec![ESO.into(), "kubernetes-external-secrets".into()];
    cfg
}

#[test]
fn config_parses_with_defaults_and_rejects_unknown_keys() {
    let cfg: ContextConfig = serde_json::from_str(
        r#"{"environments":{"prod":"prod"},"cluster_cidrs":["10.42.0.0/16"],
            "teams":[{"name":"sre","timezone":"Europe/Berlin","members":["oidc:alice"]}],
            "sync":[{"vault_path":"secret/data/prod/db","namespace":"prod","secret":"db","sync_identity":"eso"}]}"#,
    )
    .unwrap();
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    assert_eq!(cfg.production_environments, ["prod", "production"]);
    assert_eq!(cfg.vault_environments.len(), 2);
    assert_eq!(cfg.alert_window_minutes, 60);
    assert_eq!(cfg.teams[0].work_days.len(), 5);
    assert_eq!(cfg.teams[0].work_start, "09:00");
    assert_eq!(cfg.sync[0].sla_minutes, 15);
    let empty: ContextConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(
        empty.vault_environments,
        ContextConfig::default().vault_environments
    );
    assert!(serde_json::from_str::<ContextConfig>(r#"{"environment":{}}"#).is_err());
    assert!(serde_json::from_str::<ContextConfig>(
        r#"{"teams":[{"name":"a","timezone":"UTC","hours":"9-5"}]}"#
    )
    .is_err());
    assert!(
        serde_json::from_str::<ContextConfig>(r#"{"cluster_cidrs":["10.0.0.300/8"]}"#).is_err()
    );
    // Only cross-namespace, missing-secret and the Helm release check need no reference data.
    let ids: Vec<_> = detectors(&ContextConfig::default())
        .unwrap()
        .iter()
        .map(|d| d.id())
        .collect();
    assert_eq!(
        ids,
        [
            "cross-namespace-secret-read",
            "missing-secret",
            "helm-release-read-by-non-deployer"
        ]
    );
    assert_eq!(detectors(&cfg).unwrap().len(), 7);
}

#[test]
fn validation_reports_every_problem_with_its_key() {
    let mut cfg = world();
    cfg.alert_window_minutes = 0;
    cfg.environments.insert("qa".into(), " ".into());
    let mut bad = TeamConfig::new("sre", "Europe/Berlim", &["oidc:alice"]);
    bad.work_days = vec!["Mon".into(), "Fri-day".into()];
    bad.holidays = vec!["2026-02-30".into()];
    bad.environments = vec!["prd".into()];
    let dup = TeamConfig::new("sre", "UTC", &["oidc:alice"]);
    cfg.teams = vec![bad, dup];
    cfg.default_team = Some("ops".into());
    let mut s = SyncMapping::new("/secret/data/prod/db", "prod", "", ESO);
    s.sla_minutes = 0;
    cfg.sync = vec![s];
    let errs = cfg.validate();
    let keys: Vec<&str> = errs.iter().map(|e| e.split(':').next().unwrap()).collect();
    for key in [
        "detect.context.alert_window_minutes",
        "detect.context.environments.qa",
        "detect.context.teams[0].timezone",
        "detect.context.teams[0].work_days[1]",
        "detect.context.teams[0].holidays[0]",
        "detect.context.teams[0].environments[0]",
        "detect.context.teams[1].name",
        "detect.context.teams[1].members[0]",
        "detect.context.default_team",
        "detect.context.sync[0].vault_path",
        "detect.context.sync[0].secret",
        "detect.context.sync[0].sla_minutes",
    ] {
        assert!(keys.contains(&key), "{key} missing from {errs:#?}");
    }
    assert_eq!(keys.len(), 12, "{errs:#?}");
    let err = detectors(&cfg).err().unwrap();
    assert_eq!(err.problems, errs);
}

#[test]
fn cross_namespace_reads_by_service_accounts() {
    let cfg = world();
    let webapp = "system:serviceaccount:dev:webapp";
    let mut denied = K8s::get(webapp, "prod", "db", "2026-11-03T10:20:00Z");
    denied.code = 403;
    let mut cluster_list = K8s::get(webapp, "dev", "x", "2026-11-03T10:25:00Z");
    (cluster_list.verb, cluster_list.ns, cluster_list.name) = ("list", None, None);
    let lines = vec![
        K8s::get(webapp, "staging", "db-credentials", "2026-11-03T10:00:00Z").line(),
        // Same group, same window: quiet.
        K8s::get(webapp, "staging", "api-keys", "2026-11-03T10:01:00Z").line(),
        // Own namespace: quiet.
        K8s::get(webapp, "dev", "db-credentials", "2026-11-03T10:02:00Z").line(),
        // Allowlisted operator: quiet.
        K8s::get(ESO, "prod", "db-credentials", "2026-11-03T10:03:00Z").line(),
        // A person: not this rule's business.
        K8s::get("oidc:alice", "prod", "db", "2026-11-03T10:04:00Z").line(),
        denied.line(),
        // Allowed after a refused attempt: a new group, alerts.
        K8s::get(webapp, "prod", "db", "2026-11-03T10:21:00Z").line(),
        cluster_list.line(),
        // Next window: alerts again.
        K8s::get(webapp, "staging", "db-credentials", "2026-11-03T11:00:00Z").line(),
    ];
    let alerts = run(&cfg, &lines);
    let got = of(&alerts, "cross-namespace-secret-read");
    assert_eq!(got.len(), 5, "{got:#?}");
    assert_eq!(got[0].severity, Severity::High);
    assert_eq!(
        got[0].reason,
        "system:serviceaccount:dev:webapp (namespace dev, environment dev) read Secret \
         staging/db-credentials (environment staging) from 10.42.1.5; it is not a \
         multi-namespace reader"
    );
    assert_eq!(got[0].targets, ["staging/secrets/db-credentials"]);
    assert!(got[0].tags.contains(&"attack.t1552.007".to_string()));
    assert_eq!(got[1].severity, Severity::Medium);
    assert!(got[1].reason.contains("tried to read Secret prod/db"));
    assert_eq!(
        (got[2].severity, got[2].targets[0].as_str()),
        (Severity::High, "prod/secrets/db")
    );
    assert!(
        got[3].reason.contains("listed Secrets in all namespaces"),
        "{}",
        got[3].reason
    );
    assert_ne!(got[0].id, got[4].id);
}

#[test]
fn cross_environment_by_workloads_in_kubernetes_and_vault() {
    let mut cfg = world();
    cfg.environments
        .insert("payments-prod".into(), "prod".into());
    let mut sre = TeamConfig::new("sre", "UTC", &["oidc:alice", "oidc-alice"]);
    sre.environments = vec!["dev".into(), "staging".into()];
    cfg.teams = vec![sre, TeamConfig::new("dev", "UTC", &["oidc:bob"])];
    let checkout = "system:serviceaccount:dev:checkout";
    let t = "2026-11-03T11:00:00Z";
    let lines = vec![
        K8s::get(checkout, "prod", "checkout-db", t).line(),
        K8s::get(checkout, "staging", "checkout-db", t).line(),
        // Same environment through another namespace: quiet.
        K8s::get("system:serviceaccount:prod:api", "payments-prod", "db", t).line(),
        // Namespace without an environment: quiet.
        K8s::get(checkout, "kube-system", "token", t).line(),
        vault(
            "v1",
            "kubernetes-dev-checkout",
            Some("dev"),
            "read",
            "secret/data/prod/checkout/db",
            t,
            "10.42.3.11",
        ),
        // Same environment: quiet.
        vault(
            "v2",
            "kubernetes-dev-payments",
            Some("dev"),
            "read",
            "secret/data/dev/payments/db",
            t,
            "10.42.3.12",
        ),
        // Not an environment segment: quiet.
        vault(
            "v3",
            "kubernetes-dev-payments",
            Some("dev"),
            "read",
            "secret/data/shared/db",
            t,
            "10.42.3.12",
        ),
        // A person whose team may touch dev and staging only.
        vault(
            "v4",
            "oidc-alice",
            None,
            "read",
            "secret/data/prod/x",
            t,
            "203.0.113.21",
        ),
        K8s::get("oidc:alice", "staging", "db", t).line(),
        // A person whose team lists no environments: skipped.
        K8s::get("oidc:bob", "prod", "db", t).line(),
        // The allowlisted operator.
        vault(
            "v5",
            "kubernetes-external-secrets",
            Some("external-secrets"),
            "read",
            "secret/data/prod/db",
            t,
            "10.42.1.10",
        ),
    ];
    let alerts = run(&cfg, &lines);
    let got = of(&alerts, "cross-environment-secret-access");
    let who: Vec<_> = got
        .iter()
        .map(|a| (a.principal.as_str(), a.severity))
        .collect();
    assert_eq!(
        who,
        [
            (checkout, Severity::High),
            (checkout, Severity::Medium),
            ("kubernetes-dev-checkout", Severity::High),
            ("oidc-alice", Severity::High),
        ]
    );
    assert_eq!(
        got[0].reason,
        "system:serviceaccount:dev:checkout (namespace dev, environment dev) read Secret \
         prod/checkout-db (environment prod, production) from 10.42.1.5"
    );
    assert_eq!(
        got[2].reason,
        "kubernetes-dev-checkout (Kubernetes auth, namespace dev, environment dev) read Vault \
         secret secret/data/prod/checkout/db (environment prod, production) from 10.42.3.11"
    );
    assert!(got[2].tags.contains(&"attack.t1555.006".to_string()));
    assert!(got[3]
        .reason
        .contains("(team sre, environments dev, staging)"));
}

#[test]
fn off_hours_follow_the_team_timezone_and_holidays() {
    let mut cfg = world();
    let mut sre = TeamConfig::new("sre", "Europe/Berlin", &["oidc:alice", "oidc-alice"]);
    sre.holidays = vec!["2026-11-04".into()];
    let devs = TeamConfig::new("dev", "America/New_York", &["oidc:bob"]);
    cfg.teams = vec![sre, devs];
    // Tuesday 2026-11-03 08:30 UTC: 09:30 in Berlin (in hours), 03:30 in New York (off-hours).
    let lines = vec![
        K8s::get("oidc:alice", "prod", "payments-db", "2026-11-03T08:30:00Z").line(),
        K8s::get("oidc:bob", "prod", "payments-db", "2026-11-03T08:30:00Z").line(),
        // Off-hours but not production: quiet.
        K8s::get("oidc:alice", "staging", "db", "2026-11-03T02:00:00Z").line(),
        // In no team, no default team: skipped.
        K8s::get("oidc:mallory", "prod", "db", "2026-11-03T02:00:00Z").line(),
        // Wednesday 2026-11-04 is a Berlin holiday: 10:00 local still fires.
        vault(
            "h1",
            "oidc-alice",
            None,
            "read",
            "secret/data/prod/payments/db",
            "2026-11-04T09:00:00Z",
            "203.0.113.21",
        ),
    ];
    let alerts = run(&cfg, &lines);
    let got = of(&alerts, "off-hours-human-prod-read");
    let who: Vec<_> = got.iter().map(|a| a.principal.as_str()).collect();
    assert_eq!(who, ["oidc:bob", "oidc-alice"], "{got:#?}");
    assert!(got.iter().all(|a| a.severity == Severity::High));
    assert_eq!(
        got[0].reason,
        "oidc:bob (team dev, America/New_York) read prod Secret prod/payments-db at 03:30 Tue \
         2026-11-03 local time (2026-11-03T08:30:00Z), outside Mon-Fri 09:00-18:00, from 10.42.1.5"
    );
    assert!(
        got[1]
            .reason
            .contains("read prod Vault secret secret/data/prod/payments/db at 10:00 Wed"),
        "{}",
        got[1].reason
    );
    assert!(got[1].reason.contains("on team holiday 2026-11-04"));

    // With a default team, people in no team get its hours.
    cfg.default_team = Some("sre".into());
    let alerts = run(&cfg, &lines[3..4]);
    let got = of(&alerts, "off-hours-human-prod-read");
    assert_eq!(got.len(), 1);
    assert!(got[0].reason.contains("(default team sre, Europe/Berlin)"));
}

#[test]
fn service_account_tokens_from_outside_the_cluster() {
    let mut cfg = world();
    cfg.cluster_cidrs = vec![
        "10.42.0.0/16".parse().unwrap(),
        "10.0.0.0/24".parse().unwrap(),
    ];
    let payments = "system:serviceaccount:prod:payments";
    let outside = K8s {
        ips: &["192.0.2.77"],
        ..K8s::get(payments, "prod", "payments-db", "2026-11-03T08:51:00Z")
    };
    let spoofed_inside = K8s {
        // X-Forwarded-For says inside, the remote address (last) is outside.
        ips: &["10.42.1.5", "192.0.2.88"],
        ..K8s::get(payments, "prod", "api-keys", "2026-11-03T08:52:00Z")
    };
    let proxied_outside = K8s {
        // The client claims an outside address; the server saw a pod: quiet.
        ips: &["192.0.2.99", "10.42.1.5"],
        ..K8s::get(payments, "prod", "api-keys", "2026-11-03T08:53:00Z")
    };
    let lines = vec![
        outside.line(),
        // Same principal and address in the window: one alert.
        K8s {
            ips: &["192.0.2.77"],
            ..K8s::get(payments, "prod", "api-keys", "2026-11-03T08:51:30Z")
        }
        .line(),
        K8s::get(payments, "prod", "payments-db", "2026-11-03T08:54:00Z").line(),
        spoofed_inside.line(),
        proxied_outside.line(),
        // A person from outside: not a service account.
        K8s {
            ips: &["203.0.113.21"],
            ..K8s::get("oidc:alice", "prod", "db", "2026-11-03T08:55:00Z")
        }
        .line(),
        vault(
            "sa1",
            "kubernetes-prod-payments",
            Some("prod"),
            "read",
            "secret/data/prod/payments/db",
            "2026-11-03T08:56:00Z",
            "198.51.100.7:41000",
        ),
        vault(
            "sa2",
            "kubernetes-prod-payments",
            Some("prod"),
            "read",
            "secret/data/prod/payments/db",
            "2026-11-03T08:57:00Z",
            "10.42.3.15",
        ),
        // AppRole token: no service-account namespace, skipped.
        vault(
            "sa3",
            "approle-rotator",
            None,
            "update",
            "secret/data/prod/payments/db",
            "2026-11-03T08:58:00Z",
            "192.0.2.5",
        ),
    ];
    let alerts = run(&cfg, &lines);
    let got = of(&alerts, "sa-token-outside-cluster");
    let what: Vec<_> = got
        .iter()
        .map(|a| (a.principal.as_str(), a.event_ids[0].as_str()))
        .collect();
    assert_eq!(
        what,
        [
            (
                payments,
                "system:serviceaccount:prod:payments-get-payments-db-2026-11-03T08:51:00Z"
            ),
            (
                payments,
                "system:serviceaccount:prod:payments-get-api-keys-2026-11-03T08:52:00Z"
            ),
            ("kubernetes-prod-payments", "sa1"),
        ]
    );
    assert!(got.iter().all(|a| a.severity == Severity::Critical));
    assert!(
        got[0].reason.contains(
            "service-account token of system:serviceaccount:prod:payments was used from \
             192.0.2.77, outside the cluster networks (10.42.0.0/16, 10.0.0.0/24): read Secret \
             prod/payments-db (allowed) with user agent curl/8.5.0"
        ),
        "{}",
        got[0].reason
    );
    assert!(
        got[2].reason.contains("from 198.51.100.7"),
        "{}",
        got[2].reason
    );
}
