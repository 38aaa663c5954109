//! Sink configuration: a closed set of destinations, each with its route, throttle, queue and
//! retry settings.
//!
//! ```toml
//! [[alerting.sinks]]
//! name = "soc-pager"
//! break_glass = true
//! route = { min_severity = "high", exclude_rules = ["unusual-hour-*"] }
//! throttle = { max_alerts = 5, window_minutes = 10 }
//! output = { type = "pagerduty", routing_key = { env = "PAGERDUTY_ROUTING_KEY" } }
//!
//! [[alerting.sinks]]
//! name = "splunk"
//! forward_events = true
//! output = { type = "splunk", url = "https://splunk:8088/services/collector/event", token = { file = "/run/secrets/hec" } }
//!
//! [[alerting.sinks]]
//! name = "kafka"
//! forward_events = true
//! output = { type = "kafka", brokers = "kafka-1:9092,kafka-2:9092", topic = "secretwatch.alerts", events_topic = "secretwatch.access" }
//!
//! [[alerting.sinks]]
//! name = "soc-mail"
//! route = { min_severity = "medium" }
//! output = { type = "email", host = "smtp.example.com", username = "secretwatch", password = { env = "SMTP_PASSWORD" }, from = "secretwatch <secretwatch@example.com>", to = ["soc@example.com"] }
//! ```
//!
//! Validation is pure and reports every problem at once with its key; credentials are only
//! read when the sink is built ([`crate::SecretSource::load`]).

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::elastic::ElasticConfig;
use crate::email::EmailConfig;
use crate::gate::GateConfig;
use crate::kafka::KafkaConfig;
use crate::ocsf::OcsfConfig;
use crate::pagerduty::PagerDutyConfig;
use crate::queue::{QueueConfig, RetryPolicy};
use crate::route::Route;
use crate::slack::SlackConfig;
use crate::splunk::SplunkConfig;
use crate::syslog::SyslogConfig;
use crate::webhook::WebhookConfig;

/// Facts about this secretwatch instance that every encoder may print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Host name of this instance (HEC `host`, syslog HOSTNAME, PagerDuty default source).
    pub host: String,
    /// Base URL of the dashboard; alerts link to `{dashboard_url}/alerts/{id}`.
    pub dashboard_url: Option<String>,
    /// secretwatch version (CEF header, OCSF and ECS product version).
    pub version: String,
}

impl Origin {
    pub fn new(host: impl Into<String>) -> Origin {
        Origin {
            host: host.into(),
            dashboard_url: None,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    pub fn with_dashboard(mut self, url: impl Into<String>) -> Origin {
        self.dashboard_url = Some(url.into());
        self
    }

    /// `{dashboard_url}/alerts/{id}`, when a dashboard is configured.
    pub fn alert_url(&self, id: &str) -> Option<String> {
        self.dashboard_url
            .as_deref()
            .map(|base| format!("{}/alerts/{id}", base.trim_end_matches('/')))
    }

    pub fn user_agent(&self) -> String {
        format!("secretwatch/{}", self.version)
    }
}

/// One destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Unique; names the queue directory, metrics and logs (`[a-z0-9_-]`, 1-64 characters).
    pub name: String,
    /// Receives every break-glass alert, whatever its route says.
    #[serde(default)]
    pub break_glass: bool,
    #[serde(default)]
    pub route: Route,
    #[serde(default)]
    pub throttle: GateConfig,
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Also forward every normalized (redacted) access event (Splunk, Elastic, OCSF and Kafka
    /// only), through the sink's own events lane `<name>-events` ([`crate::forward`]).
    #[serde(default)]
    pub forward_events: bool,
    pub output: SinkKind,
}

/// The known destinations.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkKind {
    Webhook(WebhookConfig),
    Slack(SlackConfig),
    Pagerduty(PagerDutyConfig),
    Splunk(SplunkConfig),
    Elastic(ElasticConfig),
    Syslog(SyslogConfig),
    Ocsf(OcsfConfig),
    Email(EmailConfig),
    Kafka(KafkaConfig),
}

impl SinkKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkKind::Webhook(_) => "webhook",
            SinkKind::Slack(_) => "slack",
            SinkKind::Pagerduty(_) => "pagerduty",
            SinkKind::Splunk(_) => "splunk",
            SinkKind::Elastic(_) => "elastic",
            SinkKind::Syslog(_) => "syslog",
            SinkKind::Ocsf(_) => "ocsf",
            SinkKind::Email(_) => "email",
            SinkKind::Kafka(_) => "kafka",
        }
    }

    /// Whether the destination takes forwarded access events.
    pub fn forwards_events(&self) -> bool {
        matches!(
            self,
            SinkKind::Splunk(_)
                | SinkKind::Elastic(_)
                | SinkKind::Ocsf(_)
                | SinkKind::Kafka(_)
                | SinkKind::Syslog(_)
        )
    }
}

/// `http://` or `https://` followed by a host.
pub(crate) fn check_url(url: &str, key: &str, errors: &mut Vec<String>) {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !url.contains(char::is_whitespace) => {}
        _ => errors.push(format!("{key}: {url:?} is not an http(s) URL")),
    }
}

impl SinkConfig {
    /// Problems of this sink, each naming its key under `key` (e.g. `alerting.sinks[0]`).
    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        let valid_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_name {
            errors.push(format!(
                "{key}.name: {:?} must be 1-64 characters of a-z, 0-9, - and _",
                self.name
            ));
        }
        if self.forward_events && !self.output.forwards_events() {
            errors.push(format!(
                "{key}.forward_events: {} sinks take alerts only (splunk, elastic, ocsf, kafka and syslog forward events)",
                self.output.type_name()
            ));
        }
        self.throttle.validate(&format!("{key}.throttle"), errors);
        self.queue.validate(&format!("{key}.queue"), errors);
        self.retry.validate(&format!("{key}.retry"), errors);
        let out = format!("{key}.output");
        match &self.output {
            SinkKind::Webhook(c) => c.validate(&out, errors),
            SinkKind::Slack(_) => {}
            SinkKind::Pagerduty(c) => c.validate(&out, errors),
            SinkKind::Splunk(c) => c.validate(&out, errors),
            SinkKind::Elastic(c) => c.validate(&out, errors),
            SinkKind::Syslog(c) => c.validate(&out, errors),
            SinkKind::Ocsf(c) => c.validate(&out, errors),
            SinkKind::Email(c) => c.validate(&out, errors),
            SinkKind::Kafka(c) => {
                c.validate(&out, errors);
                c.validate_forwarding(self.forward_events, &out, errors);
            }
        }
    }
}

/// Every problem of a list of sinks (each sink, and names unique), keys under `prefix`.
pub fn validate_sinks(sinks: &[SinkConfig], prefix: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    for (i, s) in sinks.iter().enumerate() {
        let key = format!("{prefix}[{i}]");
        s.validate(&key, &mut errors);
        if !names.insert(s.name.as_str()) {
            errors.push(format!("{key}.name: {:?} is used twice", s.name));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretSource;

    fn parse(json: &str) -> Result<SinkConfig, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn closed_enum_parses_each_kind_and_rejects_unknown_keys() {
        let s = parse(
            r#"{"name":"pd","break_glass":true,"route":{"min_severity":"high"},
                "output":{"type":"pagerduty","routing_key":{"env":"PD_KEY"}}}"#,
        )
        .unwrap();
        assert!(s.break_glass);
        match &s.output {
            SinkKind::Pagerduty(c) => {
                assert_eq!(c.routing_key, SecretSource::Env("PD_KEY".into()));
                assert_eq!(c.url, crate::pagerduty::DEFAULT_URL);
            }
            other => panic!("{other:?}"),
        }
        assert!(validate_sinks(&[s], "alerting.sinks").is_empty());

        for (json, want) in [
            (
                r#"{"name":"x","output":{"type":"slack","webhook_url":"u","colour":"red"}}"#,
                "colour",
            ),
            (
                r#"{"name":"x","outptu":{"type":"slack","webhook_url":"u"}}"#,
                "outptu",
            ),
            (
                r#"{"name":"x","output":{"type":"carrier_pigeon"}}"#,
                "carrier_pigeon",
            ),
            (
                r#"{"name":"x","output":{"type":"email","host":"h","to":[]}}"#,
                "from",
            ),
            (
                r#"{"name":"x","route":{"severity":"high"},"output":{"type":"slack","webhook_url":"u"}}"#,
                "severity",
            ),
        ] {
            let e = parse(json).unwrap_err().to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn validation_reports_every_problem_with_its_key() {
        let sinks: Vec<SinkConfig> = serde_json::from_str(
            r#"[
            {"name":"Bad Name","forward_events":true,"output":{"type":"webhook","url":"ftp://x","headers":{"X-Secretwatch-Signature":"v","bad header":"v"}}},
            {"name":"dup","output":{"type":"syslog","address":"siem","tls":true,"framing":"non_transparent"}},
            {"name":"dup","output":{"type":"ocsf"}},
            {"name":"es","queue":{"max_bytes":10},"output":{"type":"elastic","url":"https://es:9200","index":"Alerts","username":"u"}},
            {"name":"mail","forward_events":true,"output":{"type":"email","host":"smtp.example.com","from":"secretwatch","to":["soc@example.com"]}}
        ]"#,
        )
        .unwrap();
        let errors = validate_sinks(&sinks, "alerting.sinks");
        let want = [
            "alerting.sinks[0].name",
            "alerting.sinks[0].forward_events",
            "alerting.sinks[0].output.url",
            "alerting.sinks[0].output.headers: X-Secretwatch-Signature is set by secretwatch",
            "alerting.sinks[0].output.headers: \"bad header\"",
            "alerting.sinks[1].output.address",
            "alerting.sinks[1].output.framing",
            "alerting.sinks[2].output: set exactly one of url and file",
            "alerting.sinks[2].name: \"dup\" is used twice",
            "alerting.sinks[3].queue.max_bytes",
            "alerting.sinks[3].queue.segment_bytes",
            "alerting.sinks[3].output.index",
            "alerting.sinks[3].output: username and password go together",
            "alerting.sinks[4].forward_events: email sinks take alerts only",
            "alerting.sinks[4].output.from: \"secretwatch\" is not a mailbox",
        ];
        for w in want {
            assert!(
                errors.iter().any(|e| e.starts_with(w)),
                "{w} in {errors:#?}"
            );
        }
        assert_eq!(errors.len(), want.len(), "{errors:#?}");
    }

    #[test]
    fn webhook_templates_and_kafka_sinks_are_checked_with_their_keys() {
        let sinks: Vec<SinkConfig> = serde_json::from_str(
            r#"[
            {"name":"t1","output":{"type":"webhook","url":"https://h.example","body_template":"{\"a\":\"{{who}}\"}"}},
            {"name":"t2","output":{"type":"webhook","url":"https://h.example","content_type":"text/plain"}},
            {"name":"t3","output":{"type":"webhook","url":"https://h.example","body_template":"{\"a\": {{title}}}"}},
            {"name":"t4","output":{"type":"webhook","url":"https://h.example","body_template":"{{title}}","content_type":"text plain"}},
            {"name":"ok1","output":{"type":"webhook","url":"https://h.example","body_template":"{\"a\":\"{{ title }}\"}"}},
            {"name":"ok2","output":{"type":"webhook","url":"https://h.example","body_template":"{{title}}\n{{reason}}","content_type":"text/plain"}},
            {"name":"k1","forward_events":true,"output":{"type":"kafka","brokers":"k:9092","topic":"alerts"}},
            {"name":"k2","output":{"type":"kafka","brokers":"k:9092","topic":"alerts","properties":{"sasl.password":"p"}}},
            {"name":"k3","forward_events":true,"output":{"type":"kafka","brokers":"k:9092","topic":"alerts","events_topic":"access","format":"ecs"}}
        ]"#,
        )
        .unwrap();
        let errors = validate_sinks(&sinks, "alerting.sinks");
        let want = [
            "alerting.sinks[0].output.body_template: unknown placeholder {{who}} (known: id, rule,",
            "alerting.sinks[1].output.content_type: only used with body_template",
            "alerting.sinks[2].output.body_template: not JSON once filled in",
            "alerting.sinks[3].output.content_type: \"text plain\" is not a media type",
            "alerting.sinks[6].output.events_topic: required with forward_events",
            "alerting.sinks[7].output.properties.sasl.password: a credential: use alerting.sinks[7].output.sasl_password",
        ];
        for w in want {
            assert!(
                errors.iter().any(|e| e.starts_with(w)),
                "{w} in {errors:#?}"
            );
        }
        assert_eq!(errors.len(), want.len(), "{errors:#?}");
        assert!(sinks[8].output.forwards_events());
        assert_eq!(sinks[8].output.type_name(), "kafka");
    }

    #[test]
    fn origin_links() {
        let o = Origin::new("h").with_dashboard("https://sw.example/");
        assert_eq!(
            o.alert_url("abc").as_deref(),
            Some("https://sw.example/alerts/abc")
        );
        assert_eq!(Origin::new("h").alert_url("abc"), None);
        assert_eq!(
            o.user_agent(),
            format!("secretwatch/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}
