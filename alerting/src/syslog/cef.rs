//! CEF:0 for alerts.
//!
//! `CEF:0|secretwatch|secretwatch|<version>|<rule>|<title>|<0-10>|<extension>`. Header fields
//! escape `\` and `|` (a newline cannot be escaped there and becomes a space); extension values
//! escape `\`, `=` and write CR and LF as `\r` and `\n` (pipes are left alone, as CEF says).
//! Extension keys, in this order: `rt` (last event, epoch ms), `start`, `end`, `cnt` (events),
//! `suser`, `src` (first IPv4 source) or `c6a2` (first IPv6, labelled), `dvchost`, `cat`
//! (audit source), `externalId` (alert id), `msg` (reason, at most 1023 characters), then
//! labelled custom strings `cs1` rule, `cs2` tags, `cs3` targets, `cs4` all source IPs, `cs5`
//! the dashboard link, and `cn1` the suppressed count.

use std::net::IpAddr;

use secretwatch_detect::Severity;

use crate::config::Origin;
use crate::notification::Notification;
use crate::text::{epoch_ms, truncate_chars};

/// CEF severity 0-10 (Low 0-3, Medium 4-6, High 7-8, Very-High 9-10).
pub fn cef_severity(s: Severity) -> u8 {
    match s {
        Severity::Info => 1,
        Severity::Low => 3,
        Severity::Medium => 5,
        Severity::High => 8,
        Severity::Critical => 10,
    }
}

pub fn escape_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

pub fn escape_extension(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

const MAX_MSG: usize = 1023;
const MAX_CUSTOM: usize = 4000;

struct Ext(String);

impl Ext {
    fn put(&mut self, key: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(key);
        self.0.push('=');
        self.0.push_str(&escape_extension(value));
    }
    fn custom(&mut self, key: &str, label: &str, value: &str) {
        self.put(&format!("{key}Label"), label);
        self.put(key, &truncate_chars(value, MAX_CUSTOM));
    }
}

/// The CEF record of one alert (no syslog header).
pub fn alert_cef(n: &Notification, origin: &Origin) -> String {
    let a = &n.alert;
    let mut ext = Ext(String::new());
    ext.put("rt", &epoch_ms(a.last_seen).to_string());
    ext.put("start", &epoch_ms(a.first_seen).to_string());
    ext.put("end", &epoch_ms(a.last_seen).to_string());
    ext.put("cnt", &a.event_ids.len().to_string());
    ext.put("suser", &a.principal);
    let first_ip = a.source_ips.iter().find_map(|s| s.parse::<IpAddr>().ok());
    match first_ip {
        Some(IpAddr::V4(ip)) => ext.put("src", &ip.to_string()),
        Some(IpAddr::V6(ip)) => {
            ext.put("c6a2", &ip.to_string());
            ext.put("c6a2Label", "Source IPv6 Address");
        }
        None => {}
    }
    ext.put("dvchost", &origin.host);
    ext.put("cat", a.source.as_str());
    ext.put("externalId", &a.id);
    ext.put("msg", &truncate_chars(&n.reason_with_note(), MAX_MSG));
    ext.custom("cs1", "rule", &a.rule);
    if !a.tags.is_empty() {
        ext.custom("cs2", "tags", &a.tags.join(","));
    }
    if !a.targets.is_empty() {
        ext.custom("cs3", "targets", &a.targets.join(","));
    }
    if !a.source_ips.is_empty() {
        ext.custom("cs4", "sourceIps", &a.source_ips.join(","));
    }
    if let Some(url) = origin.alert_url(&a.id) {
        ext.custom("cs5", "alertUrl", &url);
    }
    if let Some(s) = &n.suppressed {
        ext.put("cn1Label", "suppressedCount");
        ext.put("cn1", &s.count.to_string());
    }
    format!(
        "CEF:0|secretwatch|secretwatch|{}|{}|{}|{}|{}",
        escape_header(&origin.version),
        escape_header(&a.rule),
        escape_header(&a.title),
        cef_severity(a.severity),
        ext.0
    )
}

/// The CEF record of one forwarded access event (no syslog header): signature id
/// `access-<action>`, severity 3 when allowed and 5 otherwise.
pub fn event_cef(ev: &secretwatch_ingest::AccessEvent<'_>, origin: &Origin) -> String {
    let mut ext = Ext(String::new());
    ext.put("rt", &epoch_ms(ev.time).to_string());
    ext.put("suser", &ev.principal.name);
    match ev
        .source_ips
        .iter()
        .last()
        .and_then(|s| s.parse::<IpAddr>().ok())
    {
        Some(IpAddr::V4(ip)) => ext.put("src", &ip.to_string()),
        Some(IpAddr::V6(ip)) => {
            ext.put("c6a2", &ip.to_string());
            ext.put("c6a2Label", "Source IPv6 Address");
        }
        None => {}
    }
    ext.put("dvchost", &origin.host);
    ext.put("cat", ev.source.as_str());
    ext.put("act", ev.action.as_str());
    ext.put("outcome", ev.outcome.as_str());
    ext.put("externalId", &ev.id);
    if let Some(ua) = &ev.user_agent {
        ext.put("requestClientApplication", &truncate_chars(ua, MAX_MSG));
    }
    ext.custom(
        "cs1",
        "target",
        &crate::text::truncate_chars(&secretwatch_detect::alert::target_label(ev), MAX_MSG),
    );
    ext.custom("cs2", "verb", &ev.raw_action);
    ext.custom("cs3", "principalKind", ev.principal.kind.as_str());
    if let Some(code) = ev.status_code {
        ext.put("cn1Label", "status");
        ext.put("cn1", &code.to_string());
    }
    let allowed = ev.outcome == secretwatch_ingest::Outcome::Allowed;
    format!(
        "CEF:0|secretwatch|secretwatch|{}|access-{}|{}|{}|{}",
        escape_header(&origin.version),
        ev.action.as_str(),
        if ev.target.is_secret {
            "Secret access"
        } else {
            "Access"
        },
        if allowed { 3 } else { 5 },
        ext.0
    )
}

#[cfg(test)]
pub(crate) mod parse {
    //! A CEF reader written from the spec, independent of the writer above.

    use std::collections::BTreeMap;

    /// Header fields (unescaped) and extension map (unescaped).
    pub fn cef(line: &str) -> (Vec<String>, BTreeMap<String, String>) {
        let body = line.strip_prefix("CEF:").expect("CEF: prefix");
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut chars = body.chars();
        while fields.len() < 7 {
            match chars.next().expect("7 header fields") {
                '\\' => cur.push(chars.next().expect("escaped char")),
                '|' => fields.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        let ext: String = chars.collect();
        (fields, extension(&ext))
    }

    fn extension(ext: &str) -> BTreeMap<String, String> {
        // Split at " key=" where key is alphanumeric and '=' is not escaped.
        let bytes = ext.as_bytes();
        let mut starts = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let at_start = i == 0 || bytes[i - 1] == b' ';
            if at_start {
                let mut j = i;
                while j < bytes.len() && bytes[j].is_ascii_alphanumeric() {
                    j += 1;
                }
                if j > i && j < bytes.len() && bytes[j] == b'=' {
                    starts.push((i, j));
                }
            }
            i += 1;
        }
        let mut out = BTreeMap::new();
        for (k, &(ks, eq)) in starts.iter().enumerate() {
            let end = starts
                .get(k + 1)
                .map(|&(s, _)| s - 1)
                .unwrap_or(bytes.len());
            let raw = &ext[eq + 1..end];
            let mut v = String::new();
            let mut cs = raw.chars();
            while let Some(c) = cs.next() {
                if c == '\\' {
                    match cs.next() {
                        Some('n') => v.push('\n'),
                        Some('r') => v.push('\r'),
                        Some(o) => v.push(o),
                        None => v.push('\\'),
                    }
                } else {
                    v.push(c);
                }
            }
            out.insert(ext[ks..eq].to_string(), v);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::{notification, suppressed_note};

    #[test]
    fn escaping_rules() {
        assert_eq!(escape_header(r"a|b\c"), r"a\|b\\c");
        assert_eq!(escape_header("two\nlines"), "two lines");
        assert_eq!(escape_extension(r"a=b\c|d"), r"a\=b\\c|d");
        assert_eq!(escape_extension("x\r\ny"), r"x\r\ny");
    }

    #[test]
    fn alert_record_field_by_field() {
        let mut n = notification();
        n.alert.rule = "rule|with\\pipe".into();
        n.suppressed = Some(suppressed_note());
        let origin = Origin::new("sw-1").with_dashboard("https://sw.example");
        let line = alert_cef(&n, &origin);
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        assert!(line.starts_with(
            "CEF:0|secretwatch|secretwatch|0.1.0|rule\\|with\\\\pipe|Bulk secret reads \\| burst|8|rt="
        ));
        let (h, ext) = parse::cef(&line);
        assert_eq!(
            h,
            vec![
                "0",
                "secretwatch",
                "secretwatch",
                "0.1.0",
                "rule|with\\pipe",
                "Bulk secret reads | burst",
                "8"
            ]
        );
        assert_eq!(ext["rt"], "1793610299123");
        assert_eq!(ext["start"], "1793610000000");
        assert_eq!(ext["end"], "1793610299123");
        assert_eq!(ext["cnt"], "2");
        assert_eq!(ext["suser"], "system:serviceaccount:ci:deployer");
        assert_eq!(ext["src"], "10.1.2.3");
        assert!(!ext.contains_key("c6a2"));
        assert_eq!(ext["dvchost"], "sw-1");
        assert_eq!(ext["cat"], "kubernetes");
        assert_eq!(ext["externalId"], n.alert.id);
        // `=`, `\` and the newline of the reason come back intact.
        assert_eq!(ext["msg"], n.reason_with_note());
        assert!(ext["msg"].contains("a=b \\ c\nnext"));
        assert_eq!(ext["cs1Label"], "rule");
        assert_eq!(ext["cs1"], "rule|with\\pipe");
        assert_eq!(
            ext["cs2"],
            "attack.credential-access,attack.t1552.007,attack.collection"
        );
        assert_eq!(ext["cs3Label"], "targets");
        assert_eq!(ext["cs3"], "prod/secrets/db,prod/secrets/api");
        assert_eq!(ext["cs4"], "10.1.2.3,2001:db8::1");
        assert_eq!(
            ext["cs5"],
            format!("https://sw.example/alerts/{}", n.alert.id)
        );
        assert_eq!(ext["cn1Label"], "suppressedCount");
        assert_eq!(ext["cn1"], "12");

        // IPv6 first: c6a2 with its label, no src.
        let mut v6 = notification();
        v6.alert.source_ips = vec!["2001:db8::1".into()];
        let (_, ext) = parse::cef(&alert_cef(&v6, &Origin::new("h")));
        assert_eq!(ext["c6a2"], "2001:db8::1");
        assert_eq!(ext["c6a2Label"], "Source IPv6 Address");
        assert!(!ext.contains_key("src") && !ext.contains_key("cs5") && !ext.contains_key("cn1"));
    }

    #[test]
    fn severities_and_long_messages() {
        assert_eq!(cef_severity(Severity::Info), 1);
        assert_eq!(cef_severity(Severity::Low), 3);
        assert_eq!(cef_severity(Severity::Medium), 5);
        assert_eq!(cef_severity(Severity::Critical), 10);
        let mut n = notification();
        n.alert.reason = "=".repeat(5000);
        let (_, ext) = parse::cef(&alert_cef(&n, &Origin::new("h")));
        assert_eq!(ext["msg"].chars().count(), MAX_MSG);
        assert!(ext["msg"].ends_with('…'));
    }
}
