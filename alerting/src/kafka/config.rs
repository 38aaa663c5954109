//! `type = "kafka"`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::secret::SecretSource;

/// ```toml
/// output = { type = "kafka", brokers = "kafka-1:9093,kafka-2:9093", topic = "secretwatch.alerts",
///            sasl_password = { env = "KAFKA_PASSWORD" },
///            properties = { "security.protocol" = "sasl_ssl", "sasl.mechanism" = "SCRAM-SHA-512",
///                           "sasl.username" = "secretwatch", "ssl.ca.location" = "/etc/kafka/ca.pem" } }
/// ```
///
/// Each alert is one message keyed by the alert id, with the headers `secretwatch-alert-id`,
/// `secretwatch-rule` and `secretwatch-severity`. The producer is idempotent
/// (`enable.idempotence = true`, `acks = all`): a batch counts as delivered when the brokers
/// acknowledged every message of it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port` of one or more brokers, comma-separated (`bootstrap.servers`).
    pub brokers: String,
    /// Topic of the alerts.
    pub topic: String,
    /// Topic of the forwarded access events: required with `forward_events = true`, and
    /// different from `topic` (a consumer of alerts should not wade through every access).
    #[serde(default)]
    pub events_topic: Option<String>,
    /// Message body: `json` (the webhook's alert JSON; forwarded events as secretwatch's event
    /// JSON), `ecs` (Elastic Common Schema documents) or `ocsf` (Detection Finding 2004 for
    /// alerts, API Activity 6003 for events).
    #[serde(default)]
    pub format: KafkaFormat,
    /// `sasl.password` (SASL PLAIN / SCRAM), from the environment or a file.
    #[serde(default)]
    pub sasl_password: Option<SecretSource>,
    /// `ssl.key.password` of an encrypted client key, from the environment or a file.
    #[serde(default)]
    pub ssl_key_password: Option<SecretSource>,
    /// Other librdkafka properties: `security.protocol`, `sasl.mechanism`, `sasl.username`,
    /// `ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`, `compression.type`,
    /// `message.timeout.ms`, `client.id`... Never a credential (those have their own keys).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// The message body of a Kafka sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KafkaFormat {
    #[default]
    Json,
    Ecs,
    Ocsf,
}

impl KafkaFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaFormat::Json => "json",
            KafkaFormat::Ecs => "ecs",
            KafkaFormat::Ocsf => "ocsf",
        }
    }
}

impl fmt::Debug for KafkaConfig {
    /// Property names only, as for every map passed through to librdkafka.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("events_topic", &self.events_topic)
            .field("format", &self.format)
            .field("sasl_password", &self.sasl_password)
            .field("ssl_key_password", &self.ssl_key_password)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Properties secretwatch sets itself, with what to use instead.
const OWN_PROPERTIES: [(&str, &str); 5] = [
    ("bootstrap.servers", "use output.brokers"),
    ("metadata.broker.list", "use output.brokers"),
    ("enable.idempotence", "always true"),
    ("acks", "always all"),
    ("request.required.acks", "always all"),
];

/// Properties that carry a credential, with the key to use instead (`None`: not supported).
fn credential_property(name: &str) -> Option<Option<&'static str>> {
    match name {
        "sasl.password" => Some(Some("sasl_password")),
        "ssl.key.password" => Some(Some("ssl_key_password")),
        "ssl.key.pem" | "ssl.keystore.password" | "sasl.oauthbearer.config" => Some(None),
        n if n.contains("password") || n.contains("secret") => Some(None),
        _ => None,
    }
}

/// Why `name` is not a Kafka topic name (legal: 1-249 of `a-zA-Z0-9._-`, not `.` or `..`).
pub(crate) fn topic_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 249 {
        return Some("must be 1-249 characters");
    }
    if name == "." || name == ".." {
        return Some("is reserved");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Some("may only hold a-z, A-Z, 0-9, '.', '_' and '-'");
    }
    None
}

fn broker_ok(b: &str) -> bool {
    match b.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && !host.contains('/')
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

impl KafkaConfig {
    /// The brokers, trimmed, as librdkafka takes them.
    pub fn bootstrap_servers(&self) -> String {
        self.brokers
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        let brokers: Vec<&str> = self
            .brokers
            .split(',')
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .collect();
        if brokers.is_empty() {
            errors.push(format!(
                "{key}.brokers: list at least one broker as host:port"
            ));
        }
        for b in brokers.iter().filter(|b| !broker_ok(b)) {
            errors.push(format!("{key}.brokers: {b:?} is not host:port"));
        }
        if let Some(p) = topic_problem(&self.topic) {
            errors.push(format!(
                "{key}.topic: {:?} {p} (a Kafka topic name)",
                self.topic
            ));
        }
        if let Some(t) = &self.events_topic {
            if let Some(p) = topic_problem(t) {
                errors.push(format!(
                    "{key}.events_topic: {t:?} {p} (a Kafka topic name)"
                ));
            } else if *t == self.topic {
                errors.push(format!(
                    "{key}.events_topic: {t:?} is the alerts topic; give events their own"
                ));
            }
        }
        for (name, value) in &self.properties {
            let pkey = format!("{key}.properties.{name}");
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !valid_name {
                errors.push(format!("{key}.properties: {name:?} is not a property name"));
                continue;
            }
            if let Some((_, instead)) = OWN_PROPERTIES.iter().find(|(n, _)| *n == name) {
                errors.push(format!("{pkey}: set by secretwatch ({instead})"));
            } else if let Some(instead) = credential_property(name) {
                // Never echo the value.
                errors.push(match instead {
                    Some(k) => format!(
                        "{pkey}: a credential: use {key}.{k} = {{ env = \"VAR\" }} or {{ file = \"PATH\" }}"
                    ),
                    None => format!(
                        "{pkey}: a credential, not accepted in properties (use a file location, sasl_password or ssl_key_password)"
                    ),
                });
            } else if value.contains('\0') {
                errors.push(format!("{pkey}: contains a NUL character"));
            }
        }
        let prop = |name: &str| self.properties.get(name).map(|v| v.trim());
        if self.sasl_password.is_some() {
            if prop("sasl.username").is_none_or(str::is_empty) {
                errors.push(format!(
                    "{key}.sasl_password: set properties.\"sasl.username\" too"
                ));
            }
            let protocol = prop("security.protocol").unwrap_or("plaintext");
            if !["sasl_plaintext", "sasl_ssl"].contains(&protocol.to_ascii_lowercase().as_str()) {
                errors.push(format!(
                    "{key}.sasl_password: properties.\"security.protocol\" is {protocol:?}; SASL needs sasl_ssl (or sasl_plaintext)"
                ));
            }
        }
        if self.ssl_key_password.is_some() && prop("ssl.key.location").is_none() {
            errors.push(format!(
                "{key}.ssl_key_password: set properties.\"ssl.key.location\" too"
            ));
        }
    }

    /// Problems that depend on the sink's `forward_events`.
    pub fn validate_forwarding(&self, forward_events: bool, key: &str, errors: &mut Vec<String>) {
        match (&self.events_topic, forward_events) {
            (None, true) => errors.push(format!(
                "{key}.events_topic: required with forward_events (events go to their own topic)"
            )),
            (Some(_), false) => errors.push(format!(
                "{key}.events_topic: only used with forward_events = true"
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> KafkaConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_and_formats() {
        let c = parse(r#"{"brokers":" k1:9092, k2:9093 ","topic":"secretwatch.alerts"}"#);
        assert_eq!(c.format, KafkaFormat::Json);
        assert_eq!(c.bootstrap_servers(), "k1:9092,k2:9093");
        let mut e = Vec::new();
        c.validate("s.output", &mut e);
        c.validate_forwarding(false, "s.output", &mut e);
        assert!(e.is_empty(), "{e:?}");
        for (f, want) in [
            ("json", KafkaFormat::Json),
            ("ecs", KafkaFormat::Ecs),
            ("ocsf", KafkaFormat::Ocsf),
        ] {
            let c = parse(&format!(
                r#"{{"brokers":"k:1","topic":"t","format":"{f}"}}"#
            ));
            assert_eq!(c.format, want);
            assert_eq!(c.format.as_str(), f);
        }
        let e =
            serde_json::from_str::<KafkaConfig>(r#"{"brokers":"k:1","topic":"t","format":"xml"}"#)
                .unwrap_err()
                .to_string();
        assert!(e.contains("xml"), "{e}");
    }

    #[test]
    fn every_problem_names_its_key_and_no_credential_is_echoed() {
        let c = parse(
            r#"{"brokers":"k1:9092,nohost,k3:0","topic":"bad topic","events_topic":"bad topic",
                "sasl_password":{"env":"P"},"ssl_key_password":"lit",
                "properties":{"sasl.password":"hunter2-canary","bootstrap.servers":"x:1",
                              "enable.idempotence":"false","ssl.keystore.password":"hunter3-canary",
                              "bad key":"v","compression.type":"lz4"}}"#,
        );
        let mut e = Vec::new();
        c.validate("alerting.sinks[0].output", &mut e);
        let want = [
            "alerting.sinks[0].output.brokers: \"nohost\" is not host:port",
            "alerting.sinks[0].output.brokers: \"k3:0\" is not host:port",
            "alerting.sinks[0].output.topic: \"bad topic\" may only hold",
            "alerting.sinks[0].output.events_topic: \"bad topic\" may only hold",
            "alerting.sinks[0].output.properties: \"bad key\" is not a property name",
            "alerting.sinks[0].output.properties.bootstrap.servers: set by secretwatch (use output.brokers)",
            "alerting.sinks[0].output.properties.enable.idempotence: set by secretwatch (always true)",
            "alerting.sinks[0].output.properties.sasl.password: a credential: use alerting.sinks[0].output.sasl_password",
            "alerting.sinks[0].output.properties.ssl.keystore.password: a credential, not accepted",
            "alerting.sinks[0].output.sasl_password: set properties.\"sasl.username\" too",
            "alerting.sinks[0].output.sasl_password: properties.\"security.protocol\" is \"plaintext\"",
            "alerting.sinks[0].output.ssl_key_password: set properties.\"ssl.key.location\" too",
        ];
        for w in want {
            assert!(e.iter().any(|x| x.starts_with(w)), "{w} in {e:#?}");
        }
        assert_eq!(e.len(), want.len(), "{e:#?}");
        let all = format!("{e:?} {c:?}");
        assert!(!all.contains("canary") && !all.contains("lit\""), "{all}");
        assert!(all.contains("compression.type"), "property names are shown");

        let mut e = Vec::new();
        parse(r#"{"brokers":"","topic":"t","events_topic":"t"}"#).validate("k", &mut e);
        assert_eq!(
            e,
            [
                "k.brokers: list at least one broker as host:port",
                "k.events_topic: \"t\" is the alerts topic; give events their own"
            ]
        );
    }

    #[test]
    fn events_topic_goes_with_forward_events() {
        let mut e = Vec::new();
        let c = parse(r#"{"brokers":"k:1","topic":"t"}"#);
        c.validate_forwarding(true, "k", &mut e);
        assert_eq!(
            e,
            ["k.events_topic: required with forward_events (events go to their own topic)"]
        );
        let mut e = Vec::new();
        let c = parse(r#"{"brokers":"k:1","topic":"t","events_topic":"ev"}"#);
        c.validate_forwarding(false, "k", &mut e);
        assert_eq!(e, ["k.events_topic: only used with forward_events = true"]);
        let mut e = Vec::new();
        c.validate_forwarding(true, "k", &mut e);
        assert!(e.is_empty());
    }

    #[test]
    fn sasl_settings_that_fit_pass() {
        let c = parse(
            r#"{"brokers":"k:9093","topic":"t","sasl_password":{"file":"/run/secrets/kafka"},
                "properties":{"security.protocol":"SASL_SSL","sasl.mechanism":"SCRAM-SHA-512","sasl.username":"sw"}}"#,
        );
        let mut e = Vec::new();
        c.validate("k", &mut e);
        assert!(e.is_empty(), "{e:?}");
    }
}
