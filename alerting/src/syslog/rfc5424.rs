//! RFC 5424 messages and RFC 6587 framing.
//!
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`: PRI = facility * 8 + severity,
//! TIMESTAMP the alert's last event time (RFC 3339, UTC, milliseconds), APP-NAME `secretwatch`,
//! PROCID `-` (nil) unless given, MSGID the rule id, no structured data, MSG the CEF record
//! without a BOM (CEF receivers read plain text). Header fields are printable US-ASCII within
//! their RFC lengths (others become `_`; empty becomes `-`).

use chrono::{DateTime, SecondsFormat, Utc};
use secretwatch_detect::Severity;

use crate::config::Origin;
use crate::notification::Notification;
use crate::syslog::cef::alert_cef;
use crate::syslog::config::{Facility, Framing};

pub const APP_NAME: &str = "secretwatch";

/// RFC 5424 severity: critical 2, high 3 (error), medium 4 (warning), low 5 (notice),
/// info 6 (informational).
pub fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info => 6,
    }
}

/// The header of one message.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    pub facility: Facility,
    pub severity: u8,
    pub timestamp: DateTime<Utc>,
    pub hostname: &'a str,
    pub app_name: &'a str,
    pub procid: Option<&'a str>,
    pub msgid: &'a str,
}

/// PRINTUSASCII (33-126), at most `max` characters, `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let out: String = s
        .chars()
        .take(max)
        .map(|c| if ('!'..='~').contains(&c) { c } else { '_' })
        .collect();
    if out.is_empty() {
        "-".to_string()
    } else {
        out
    }
}

impl Header<'_> {
    /// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID -`.
    pub fn render(&self) -> String {
        format!(
            "<{}>1 {} {} {} {} {} -",
            u16::from(self.facility.code()) * 8 + u16::from(self.severity.min(7)),
            self.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
            header_field(self.hostname, 255),
            header_field(self.app_name, 48),
            header_field(self.procid.unwrap_or("-"), 128),
            header_field(self.msgid, 32),
        )
    }
}

/// The RFC 5424 message of one alert with its CEF payload (no framing).
pub fn alert_line(
    n: &Notification,
    origin: &Origin,
    facility: Facility,
    hostname: Option<&str>,
) -> String {
    let a = &n.alert;
    let header = Header {
        facility,
        severity: syslog_severity(a.severity),
        timestamp: a.last_seen,
        hostname: hostname.unwrap_or(&origin.host),
        app_name: APP_NAME,
        procid: None,
        msgid: &a.rule,
    };
    format!("{} {}", header.render(), alert_cef(n, origin))
}

/// The RFC 5424 message of one forwarded access event (MSGID `access`, severity
/// informational when allowed, notice otherwise) with its CEF payload (no framing).
pub fn event_line(
    ev: &secretwatch_ingest::AccessEvent<'_>,
    origin: &Origin,
    facility: Facility,
    hostname: Option<&str>,
) -> String {
    let allowed = ev.outcome == secretwatch_ingest::Outcome::Allowed;
    let header = Header {
        facility,
        severity: if allowed { 6 } else { 5 },
        timestamp: ev.time,
        hostname: hostname.unwrap_or(&origin.host),
        app_name: APP_NAME,
        procid: None,
        msgid: "access",
    };
    format!(
        "{} {}",
        header.render(),
        crate::syslog::cef::event_cef(ev, origin)
    )
}

/// Bytes to write on the stream for one message.
///
/// Octet counting (RFC 6587 3.4.1): `MSG-LEN SP SYSLOG-MSG`, MSG-LEN the byte length in
/// decimal. Non-transparent (3.4.2): the message then LF; a CR or LF inside the message (none
/// in our CEF records) is replaced by a space so it cannot split the frame.
pub fn frame(msg: &str, framing: Framing) -> Vec<u8> {
    match framing {
        Framing::OctetCounting => format!("{} {}", msg.len(), msg).into_bytes(),
        Framing::NonTransparent => {
            let mut out: Vec<u8> = msg
                .bytes()
                .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b })
                .collect();
            out.push(b'\n');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::notification;
    use crate::syslog::cef::parse;

    /// An RFC 5424 reader for the tests: (pri, version, timestamp, host, app, procid, msgid,
    /// sd, msg).
    fn parse5424(line: &str) -> Vec<String> {
        let rest = line.strip_prefix('<').unwrap();
        let (pri, rest) = rest.split_once('>').unwrap();
        let mut parts: Vec<String> = vec![pri.to_string()];
        let mut it = rest.splitn(8, ' ');
        for _ in 0..7 {
            parts.push(it.next().unwrap().to_string());
        }
        parts.push(it.next().unwrap_or("").to_string());
        parts
    }

    #[test]
    fn rfc5424_header_fields() {
        let n = notification();
        let origin = Origin::new("sw-1.example");
        let line = alert_line(&n, &origin, Facility::default(), None);
        let p = parse5424(&line);
        // authpriv (10) * 8 + error (3).
        assert_eq!(p[0], "83");
        assert_eq!(p[1], "1");
        assert_eq!(p[2], "2026-11-02T09:04:59.123Z");
        assert_eq!(p[3], "sw-1.example");
        assert_eq!(p[4], "secretwatch");
        assert_eq!(p[5], "-");
        assert_eq!(p[6], "bulk-secret-reads");
        assert_eq!(p[7], "-");
        assert!(p[8].starts_with("CEF:0|secretwatch|"));
        let (h, ext) = parse::cef(&p[8]);
        assert_eq!(h[4], "bulk-secret-reads");
        assert_eq!(ext["externalId"], n.alert.id);

        let mut crit = notification();
        crit.alert.severity = Severity::Critical;
        crit.alert.rule = "a rule with spaces and a very long name over 32 chars".into();
        let line = alert_line(&crit, &origin, Facility::new(20).unwrap(), Some("  "));
        let p = parse5424(&line);
        assert_eq!(p[0], (20 * 8 + 2).to_string());
        assert_eq!(p[3], "__", "non-printable hostname characters replaced");
        assert_eq!(p[6].len(), 32);
        assert!(!p[6].contains(' '));
        assert_eq!(syslog_severity(Severity::Info), 6);
        assert_eq!(syslog_severity(Severity::Low), 5);
        assert_eq!(syslog_severity(Severity::Medium), 4);
    }

    #[test]
    fn framing() {
        let msg = "<83>1 2026-11-02T09:04:59.123Z h secretwatch - r - CEF:0|é";
        let f = frame(msg, Framing::OctetCounting);
        let text = String::from_utf8(f).unwrap();
        let (len, rest) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), rest.len(), "length in bytes");
        assert_eq!(rest, msg);
        assert_eq!(len, (msg.len()).to_string());
        let f = frame("a\nb", Framing::NonTransparent);
        assert_eq!(f, b"a b\n");
        // Two framed messages read back from one stream.
        let mut stream = frame("first", Framing::OctetCounting);
        stream.extend(frame("second msg", Framing::OctetCounting));
        let mut out = Vec::new();
        let mut s = std::str::from_utf8(&stream).unwrap();
        while !s.is_empty() {
            let (len, rest) = s.split_once(' ').unwrap();
            let len: usize = len.parse().unwrap();
            out.push(&rest[..len]);
            s = &rest[len..];
        }
        assert_eq!(out, vec!["first", "second msg"]);
    }
}
