//! `type = "email"`.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use secretwatch_detect::Severity;
use serde::Deserialize;

use crate::secret::SecretSource;

pub const DEFAULT_SUBJECT_PREFIX: &str = "[secretwatch]";
pub const DEFAULT_DIGEST_MINUTES: u64 = 15;
/// The longest digest interval (a day).
pub const MAX_DIGEST_SECONDS: u64 = 24 * 60 * 60;

/// ```toml
/// output = { type = "email", host = "smtp.example.com", username = "secretwatch",
///            password = { env = "SMTP_PASSWORD" }, from = "secretwatch <secretwatch@example.com>",
///            to = ["soc@example.com"], digest_minutes = 15, immediate_min_severity = "high" }
/// ```
///
/// Alerts at or above `immediate_min_severity`, and every break-glass alert, are mailed one
/// by one as they come; the others are collected into one digest mail every `digest_minutes`
/// (`digest_seconds` instead, for demos and tests; `0`: no digest, every alert mailed alone).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP relay host name or IP address (no scheme, no port).
    pub host: String,
    /// Default by `tls`: 587 (starttls), 465 (tls), 25 (none).
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    /// AUTH (PLAIN or LOGIN, whichever the server offers) with `password`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// `From:` and the envelope sender, e.g. `secretwatch <secretwatch@example.com>`.
    pub from: String,
    /// Recipients (`To:`), at least one.
    pub to: Vec<String>,
    /// Starts every subject.
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
    /// Minutes between digests of the less severe alerts (default 15; 0: no digest).
    #[serde(default)]
    pub digest_minutes: Option<u64>,
    /// The same in seconds, instead of `digest_minutes` (demos and tests).
    #[serde(default)]
    pub digest_seconds: Option<u64>,
    /// Alerts at or above this severity are mailed at once (default `high`).
    #[serde(default = "default_immediate")]
    pub immediate_min_severity: Severity,
    /// PEM of a private CA that signed the relay's certificate (internal relays, tests); the
    /// system's roots are trusted as well.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain TCP upgraded with STARTTLS, which the relay must offer (submission, port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (implicit TLS, "SMTPS", port 465).
    Tls,
    /// No encryption: only for a relay on this host or a trusted network (port 25).
    None,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Starttls => "starttls",
            TlsMode::Tls => "tls",
            TlsMode::None => "none",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        }
    }
}

fn default_subject_prefix() -> String {
    DEFAULT_SUBJECT_PREFIX.to_string()
}

fn default_immediate() -> Severity {
    Severity::High
}

/// A mailbox as lettre parses it (`name <user@domain>` or `user@domain`, nothing else).
pub fn parse_mailbox(s: &str) -> Result<Mailbox, String> {
    s.parse::<Mailbox>()
        .map_err(|e| format!("{s:?} is not a mailbox ({e})"))
}

impl EmailConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.tls.default_port())
    }

    /// How long less severe alerts are collected; zero: they are mailed one by one.
    pub fn digest_interval(&self) -> Duration {
        match (self.digest_seconds, self.digest_minutes) {
            (Some(s), _) => Duration::from_secs(s),
            (None, Some(m)) => Duration::from_secs(m.saturating_mul(60)),
            (None, None) => Duration::from_secs(DEFAULT_DIGEST_MINUTES * 60),
        }
    }

    /// `smtp://host:port (starttls)`, for logs and `/metrics`.
    pub fn endpoint(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("smtp://{host}:{} ({})", self.port(), self.tls.as_str())
    }

    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        let host_ok = !self.host.is_empty()
            && self.host.len() <= 253
            && !self
                .host
                .contains(|c: char| c.is_whitespace() || c.is_control())
            && !self.host.contains(['/', '@'])
            && (self.host.parse::<std::net::Ipv6Addr>().is_ok() || !self.host.contains(':'));
        if !host_ok {
            errors.push(format!(
                "{key}.host: {:?} must be a host name or IP address (no scheme; the port goes in port)",
                self.host
            ));
        }
        if self.port == Some(0) {
            errors.push(format!("{key}.port: must be 1-65535"));
        }
        match (&self.username, &self.password) {
            (Some(_), None) | (None, Some(_)) => {
                errors.push(format!("{key}: username and password go together"))
            }
            (Some(u), Some(_)) => {
                if u.is_empty() || u.contains(char::is_control) {
                    errors.push(format!(
                        "{key}.username: must be non-empty, without control characters"
                    ));
                }
                if self.tls == TlsMode::None {
                    errors.push(format!(
                        "{key}.tls: \"none\" would send the password in clear: use \"starttls\" or \"tls\""
                    ));
                }
            }
            (None, None) => {}
        }
        if let Err(e) = parse_mailbox(&self.from) {
            errors.push(format!("{key}.from: {e}"));
        }
        if self.to.is_empty() {
            errors.push(format!("{key}.to: list at least one recipient"));
        }
        for (i, to) in self.to.iter().enumerate() {
            if let Err(e) = parse_mailbox(to) {
                errors.push(format!("{key}.to[{i}]: {e}"));
            }
        }
        if self.subject_prefix.contains(char::is_control)
            || self.subject_prefix.chars().count() > 64
        {
            errors.push(format!(
                "{key}.subject_prefix: at most 64 characters, without control characters"
            ));
        }
        match (self.digest_minutes, self.digest_seconds) {
            (Some(_), Some(_)) => errors.push(format!(
                "{key}.digest_seconds: set digest_minutes or digest_seconds, not both"
            )),
            (Some(m), None) if m.saturating_mul(60) > MAX_DIGEST_SECONDS => errors.push(format!(
                "{key}.digest_minutes: at most {} (a day)",
                MAX_DIGEST_SECONDS / 60
            )),
            (None, Some(s)) if s > MAX_DIGEST_SECONDS => errors.push(format!(
                "{key}.digest_seconds: at most {MAX_DIGEST_SECONDS} (a day)"
            )),
            _ => {}
        }
        if self.ca_file.is_some() && self.tls == TlsMode::None {
            errors.push(format!(
                "{key}.ca_file: only used with tls = \"starttls\" or \"tls\""
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> EmailConfig {
        serde_json::from_str(json).unwrap()
    }

    fn errors(c: &EmailConfig) -> Vec<String> {
        let mut e = Vec::new();
        c.validate("alerting.sinks[0].output", &mut e);
        e
    }

    #[test]
    fn defaults() {
        let c = parse(
            r#"{"host":"smtp.example.com","from":"sw@example.com","to":["soc@example.com"]}"#,
        );
        assert_eq!(c.tls, TlsMode::Starttls);
        assert_eq!(c.port(), 587);
        assert_eq!(c.subject_prefix, "[secretwatch]");
        assert_eq!(c.digest_interval(), Duration::from_secs(15 * 60));
        assert_eq!(c.immediate_min_severity, Severity::High);
        assert_eq!(c.endpoint(), "smtp://smtp.example.com:587 (starttls)");
        assert!(errors(&c).is_empty(), "{:?}", errors(&c));

        let c = parse(
            r#"{"host":"smtp.example.com","tls":"tls","from":"sw@example.com","to":["a@example.com"]}"#,
        );
        assert_eq!(c.port(), 465);
        let c = parse(
            r#"{"host":"::1","tls":"none","from":"sw@example.com","to":["a@example.com"],"digest_seconds":2}"#,
        );
        assert_eq!(c.port(), 25);
        assert_eq!(c.digest_interval(), Duration::from_secs(2));
        assert_eq!(c.endpoint(), "smtp://[::1]:25 (none)");
        assert!(errors(&c).is_empty(), "{:?}", errors(&c));
        let c = parse(
            r#"{"host":"h","port":2525,"from":"sw@example.com","to":["a@example.com"],"digest_minutes":0,"immediate_min_severity":"critical"}"#,
        );
        assert_eq!(c.port(), 2525);
        assert_eq!(c.digest_interval(), Duration::ZERO);
        assert_eq!(c.immediate_min_severity, Severity::Critical);

        for (bad, want) in [
            (r#"{"host":"h","from":"a@b.c","to":[],"tls":"ssl"}"#, "ssl"),
            (r#"{"host":"h","from":"a@b.c","to":[],"cc":[]}"#, "cc"),
            (
                r#"{"host":"h","from":"a@b.c","to":[],"immediate_min_severity":"urgent"}"#,
                "urgent",
            ),
            (r#"{"host":"h","to":[]}"#, "from"),
        ] {
            let e = serde_json::from_str::<EmailConfig>(bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let c = parse(
            r#"{"host":"smtp://mail.example.com:25","port":0,"tls":"none","username":"sw",
                "password":"pw","from":"not an address","to":["ok@example.com","a@b.c, d@e.f","<x@y"],
                "subject_prefix":"[sw]\r\nBcc: x@y","digest_minutes":5,"digest_seconds":3,
                "ca_file":"/ca.pem"}"#,
        );
        let e = errors(&c);
        let k = "alerting.sinks[0].output";
        let want = [
            format!("{k}.host: \"smtp://mail.example.com:25\""),
            format!("{k}.port: must be 1-65535"),
            format!("{k}.tls: \"none\" would send the password in clear"),
            format!("{k}.from: \"not an address\" is not a mailbox"),
            format!("{k}.to[1]: \"a@b.c, d@e.f\" is not a mailbox"),
            format!("{k}.to[2]: \"<x@y\" is not a mailbox"),
            format!("{k}.subject_prefix"),
            format!("{k}.digest_seconds: set digest_minutes or digest_seconds, not both"),
            format!("{k}.ca_file"),
        ];
        for w in &want {
            assert!(e.iter().any(|x| x.starts_with(w.as_str())), "{w} in {e:#?}");
        }
        assert_eq!(e.len(), want.len(), "{e:#?}");

        let c = parse(
            r#"{"host":"h","username":"sw","from":"sw@example.com","to":[],"digest_minutes":100000}"#,
        );
        let e = errors(&c);
        assert!(
            e.contains(&format!("{k}: username and password go together")),
            "{e:?}"
        );
        assert!(
            e.contains(&format!("{k}.to: list at least one recipient")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|x| x.starts_with(&format!("{k}.digest_minutes: at most 1440"))),
            "{e:?}"
        );
        assert_eq!(e.len(), 3, "{e:?}");
    }

    #[test]
    fn mailboxes_with_and_without_names() {
        let m = parse_mailbox("secretwatch <sw@example.com>").unwrap();
        assert_eq!(m.name.as_deref(), Some("secretwatch"));
        assert_eq!(m.email.to_string(), "sw@example.com");
        assert_eq!(parse_mailbox("soc@example.com").unwrap().name, None);
        for bad in ["", "soc", "soc@", "a@b.c d@e.f", "a@b.c\r\nBcc: x@y.z"] {
            assert!(parse_mailbox(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_password_is_never_printed() {
        let c = parse(
            r#"{"host":"h","username":"sw","password":"hunter2-smtp","from":"sw@example.com","to":["a@example.com"]}"#,
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
