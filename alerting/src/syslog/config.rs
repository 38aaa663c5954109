//! `type = "syslog"`.

use serde::Deserialize;

/// ```toml
/// output = { type = "syslog", address = "siem.example:6514", tls = true, facility = "authpriv" }
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `host:port` of a TCP listener (514 plain, 6514 TLS).
    pub address: String,
    #[serde(default)]
    pub tls: bool,
    #[serde(default)]
    pub framing: Framing,
    #[serde(default)]
    pub facility: Facility,
    /// HOSTNAME of each message. Default: this host.
    #[serde(default)]
    pub hostname: Option<String>,
    /// PEM of a private CA that signed the receiver's certificate (with `tls`); the system's
    /// roots are always trusted as well.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

impl SyslogConfig {
    pub fn validate(&self, key: &str, errors: &mut Vec<String>) {
        let ok = self
            .address
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok {
            errors.push(format!(
                "{key}.address: {:?} is not host:port",
                self.address
            ));
        }
        if self.ca_file.is_some() && !self.tls {
            errors.push(format!("{key}.ca_file: only used with tls = true"));
        }
        if self.tls && self.framing == Framing::NonTransparent {
            errors.push(format!(
                "{key}.framing: TLS transport (RFC 5425) requires octet_counting"
            ));
        }
    }
}

/// RFC 6587 framing on a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// `MSG-LEN SP SYSLOG-MSG`: safe for any content; mandatory over TLS (RFC 5425).
    #[default]
    OctetCounting,
    /// One message per line (`LF`): what many CEF forwarders (rsyslog, AMA) expect on 514.
    NonTransparent,
}

/// Syslog facility (0-23), by name (`auth`, `authpriv`, `local4`...) or number. Default
/// `authpriv` (10): security and authorization messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "FacilityRepr")]
pub struct Facility(u8);

impl Default for Facility {
    fn default() -> Self {
        Facility(10)
    }
}

impl Facility {
    pub fn code(self) -> u8 {
        self.0
    }
    pub fn new(code: u8) -> Option<Facility> {
        (code <= 23).then_some(Facility(code))
    }
}

const NAMES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

#[derive(Deserialize)]
#[serde(untagged)]
enum FacilityRepr {
    Code(u8),
    Name(String),
}

impl TryFrom<FacilityRepr> for Facility {
    type Error = String;
    fn try_from(r: FacilityRepr) -> Result<Self, String> {
        let bad = || {
            "a facility is 0-23 or a name (auth, authpriv, daemon, local0..local7...)".to_string()
        };
        match r {
            FacilityRepr::Code(c) => Facility::new(c).ok_or_else(bad),
            FacilityRepr::Name(n) => NAMES
                .iter()
                .position(|x| x.eq_ignore_ascii_case(&n))
                .map(|i| Facility(i as u8))
                .ok_or_else(bad),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facility_by_name_or_number() {
        #[derive(Deserialize)]
        struct H {
            f: Facility,
        }
        let f = |s: &str| serde_json::from_str::<H>(s).map(|h| h.f.code());
        assert_eq!(f(r#"{"f":"authpriv"}"#).unwrap(), 10);
        assert_eq!(f(r#"{"f":"LOCAL4"}"#).unwrap(), 20);
        assert_eq!(f(r#"{"f":4}"#).unwrap(), 4);
        assert!(f(r#"{"f":24}"#).is_err());
        assert!(f(r#"{"f":"nope"}"#).is_err());
        assert_eq!(Facility::default().code(), 10);
    }
}
