//! `body_template`: a webhook body of the receiver's own shape, with `{{field}}` placeholders
//! filled from the alert.
//!
//! ```toml
//! output = { type = "webhook", url = "https://chat.example/hooks/T1",
//!            body_template = '{"text": "[{{severity}}] {{title}} by {{principal}}: {{reason}} {{url}}"}' }
//! ```
//!
//! Placeholders (spaces inside the braces are allowed: `{{ title }}`): `id`, `rule`,
//! `severity`, `title`, `principal`, `reason`, `source`, `first_seen`, `last_seen` (RFC 3339,
//! UTC, milliseconds), `url` (the alert in the dashboard; empty without `dashboard_url`),
//! `targets`, `source_ips`, `tags` (joined with `", "`), `suppressed` (the "N similar alerts
//! suppressed since ..." note; empty when there is none). Anything else between `{{` and `}}`
//! is refused when the config is loaded, naming the key.
//!
//! Escaping (decision): the body is sent with `content_type` (default `application/json`).
//! When that is JSON (`application/json` or any `+json` type), every value is escaped as the
//! inside of a JSON string (quotes, backslashes, newlines and control characters), so the
//! template writes the quotes itself: `"who": "{{principal}}"`; and the template, filled in
//! with an alert full of characters to escape, must parse as JSON, or the config is refused.
//! For any other content type (`text/plain`...) values are inserted as they are.
//!
//! The HMAC signature (`X-Secretwatch-Signature`) covers the rendered body, exactly the bytes
//! sent.

use std::fmt;

use chrono::TimeZone;
use secretwatch_detect::{Alert, Severity};

use crate::config::Origin;
use crate::notification::{Notification, Suppressed};
use crate::text::rfc3339_ms;

/// The content type of a templated body unless `content_type` says otherwise.
pub const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// A value a placeholder names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Rule,
    Severity,
    Title,
    Principal,
    Reason,
    Source,
    FirstSeen,
    LastSeen,
    Url,
    Targets,
    SourceIps,
    Tags,
    Suppressed,
}

impl Field {
    pub const ALL: [(Field, &'static str); 14] = [
        (Field::Id, "id"),
        (Field::Rule, "rule"),
        (Field::Severity, "severity"),
        (Field::Title, "title"),
        (Field::Principal, "principal"),
        (Field::Reason, "reason"),
        (Field::Source, "source"),
        (Field::FirstSeen, "first_seen"),
        (Field::LastSeen, "last_seen"),
        (Field::Url, "url"),
        (Field::Targets, "targets"),
        (Field::SourceIps, "source_ips"),
        (Field::Tags, "tags"),
        (Field::Suppressed, "suppressed"),
    ];

    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }

    fn value(self, n: &Notification, origin: &Origin) -> String {
        let a = &n.alert;
        match self {
            Field::Id => a.id.clone(),
            Field::Rule => a.rule.clone(),
            Field::Severity => a.severity.as_str().to_string(),
            Field::Title => a.title.clone(),
            Field::Principal => a.principal.clone(),
            Field::Reason => a.reason.clone(),
            Field::Source => a.source.as_str().to_string(),
            Field::FirstSeen => rfc3339_ms(a.first_seen),
            Field::LastSeen => rfc3339_ms(a.last_seen),
            Field::Url => origin.alert_url(&a.id).unwrap_or_default(),
            Field::Targets => a.targets.join(", "),
            Field::SourceIps => a.source_ips.join(", "),
            Field::Tags => a.tags.join(", "),
            Field::Suppressed => n
                .suppressed
                .as_ref()
                .map(Suppressed::summary)
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
}

/// Why a template is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("empty")]
    Empty,
    #[error("unknown placeholder {{{{{name}}}}} (known: {known})")]
    Unknown { name: String, known: String },
    #[error("\"{{{{\" at byte {at} is not closed by \"}}}}\"")]
    Unclosed { at: usize },
    #[error("not JSON once filled in ({0}); put placeholders inside quotes: \"{{{{title}}}}\"")]
    NotJson(String),
}

/// A parsed `body_template` with its content type.
#[derive(Clone, PartialEq, Eq)]
pub struct BodyTemplate {
    parts: Vec<Part>,
    content_type: String,
    json: bool,
}

impl fmt::Debug for BodyTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyTemplate")
            .field("parts", &self.parts.len())
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// `application/json` or a `+json` type (parameters such as `charset` aside).
pub fn is_json_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// `s` escaped as the inside of a JSON string.
fn json_escape(s: &str, out: &mut String) {
    let quoted = serde_json::to_string(s).expect("a string serializes");
    out.push_str(&quoted[1..quoted.len() - 1]);
}

impl BodyTemplate {
    /// Parse `text`; a JSON content type also checks that the filled-in body is JSON.
    pub fn parse(text: &str, content_type: &str) -> Result<BodyTemplate, TemplateError> {
        if text.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(TemplateError::Unclosed { at: offset + open });
            };
            let name = after[..close].trim();
            let field = Field::parse(name).ok_or_else(|| TemplateError::Unknown {
                name: name.to_string(),
                known: Field::ALL.map(|(_, n)| n).join(", "),
            })?;
            parts.push(Part::Field(field));
            let used = open + 2 + close + 2;
            rest = &rest[used..];
            offset += used;
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        let t = BodyTemplate {
            parts,
            content_type: content_type.to_string(),
            json: is_json_type(content_type),
        };
        if t.json {
            let body = t.render(&sample(), &Origin::new("h").with_dashboard("https://x"));
            serde_json::from_slice::<serde::de::IgnoredAny>(&body)
                .map_err(|e| TemplateError::NotJson(e.to_string()))?;
        }
        Ok(t)
    }

    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// Whether values are escaped for JSON.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// The body for one notification.
    pub fn render(&self, n: &Notification, origin: &Origin) -> Vec<u8> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) if self.json => json_escape(&f.value(n, origin), &mut out),
                Part::Field(f) => out.push_str(&f.value(n, origin)),
            }
        }
        out.into_bytes()
    }
}

/// An alert whose every field needs escaping, to check a JSON template at load.
fn sample() -> Notification {
    let t = chrono::Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    let nasty = "q\"uote \\ back\nnew\tline \u{1}ctl </script> {{id}}";
    Notification {
        alert: Alert {
            id: "sample-id".into(),
            rule: nasty.into(),
            severity: Severity::High,
            title: nasty.into(),
            principal: nasty.into(),
            source: secretwatch_ingest::SourceSystem::Kubernetes,
            event_ids: vec!["e".into()],
            first_seen: t,
            last_seen: t,
            reason: nasty.into(),
            targets: vec![nasty.into(), "b".into()],
            source_ips: vec!["10.0.0.1".into(), nasty.into()],
            tags: vec![nasty.into()],
            break_glass: true,
        },
        suppressed: Some(Suppressed {
            count: 2,
            since: t,
            until: t,
            alert_ids: vec![],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::{notification, suppressed_note};
    use serde_json::Value;

    fn origin() -> Origin {
        Origin::new("sw-1").with_dashboard("https://sw.example/")
    }

    #[test]
    fn every_placeholder_is_filled_and_escaped_for_json() {
        let names: Vec<String> = Field::ALL
            .iter()
            .map(|(_, n)| format!("\"{n}\": \"{{{{ {n} }}}}\""))
            .collect();
        let text = format!("{{{}}}", names.join(", "));
        let t = BodyTemplate::parse(&text, DEFAULT_CONTENT_TYPE).unwrap();
        assert!(t.is_json());
        let mut n = notification();
        n.alert.principal = "eve \"the\" admin\nsecond line\\".into();
        n.suppressed = Some(suppressed_note());
        let v: Value = serde_json::from_slice(&t.render(&n, &origin())).unwrap();
        let a = &n.alert;
        assert_eq!(v["id"], a.id.as_str());
        assert_eq!(v["rule"], "bulk-secret-reads");
        assert_eq!(v["severity"], "high");
        assert_eq!(v["title"], "Bulk secret reads | burst");
        assert_eq!(v["principal"], "eve \"the\" admin\nsecond line\\");
        assert_eq!(v["reason"], a.reason.as_str());
        assert_eq!(v["source"], "kubernetes");
        assert_eq!(v["first_seen"], "2026-11-02T09:00:00.000Z");
        assert_eq!(v["last_seen"], "2026-11-02T09:04:59.123Z");
        assert_eq!(
            v["url"],
            format!("https://sw.example/alerts/{}", a.id).as_str()
        );
        assert_eq!(v["targets"], "prod/secrets/db, prod/secrets/api");
        assert_eq!(v["source_ips"], "10.1.2.3, 2001:db8::1");
        assert_eq!(
            v["tags"],
            "attack.credential-access, attack.t1552.007, attack.collection"
        );
        assert_eq!(
            v["suppressed"],
            "12 similar alerts suppressed since 2026-11-02T08:00:00Z"
        );
        // Without a note or a dashboard: empty strings, still JSON.
        let v: Value =
            serde_json::from_slice(&t.render(&notification(), &Origin::new("h"))).unwrap();
        assert_eq!(v["suppressed"], "");
        assert_eq!(v["url"], "");
    }

    #[test]
    fn text_templates_insert_values_as_they_are() {
        let t = BodyTemplate::parse(
            "ALERT {{severity}} {{principal}}\n{{reason}}",
            "text/plain; charset=utf-8",
        )
        .unwrap();
        assert!(!t.is_json());
        assert_eq!(t.content_type(), "text/plain; charset=utf-8");
        let n = notification();
        let body = String::from_utf8(t.render(&n, &origin())).unwrap();
        assert_eq!(
            body,
            format!(
                "ALERT high system:serviceaccount:ci:deployer\n{}",
                n.alert.reason
            )
        );
        // A value that looks like a placeholder is not expanded again.
        let mut n = notification();
        n.alert.principal = "{{id}}".into();
        let body = String::from_utf8(t.render(&n, &origin())).unwrap();
        assert!(body.contains("high {{id}}\n"), "{body}");
    }

    #[test]
    fn refused_templates_say_why() {
        let e = BodyTemplate::parse(r#"{"a":"{{ nope }}"}"#, DEFAULT_CONTENT_TYPE).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown placeholder {{nope}} (known: id, rule, severity, title, principal, reason, \
             source, first_seen, last_seen, url, targets, source_ips, tags, suppressed)"
        );
        let e = BodyTemplate::parse(r#"{"a":"{{id"}"#, DEFAULT_CONTENT_TYPE).unwrap_err();
        assert_eq!(e, TemplateError::Unclosed { at: 6 });
        assert_eq!(e.to_string(), "\"{{\" at byte 6 is not closed by \"}}\"");
        assert_eq!(
            BodyTemplate::parse("  ", DEFAULT_CONTENT_TYPE),
            Err(TemplateError::Empty)
        );
        // A placeholder outside quotes does not give JSON.
        let e = BodyTemplate::parse(r#"{"who": {{principal}}}"#, "application/json").unwrap_err();
        assert!(matches!(e, TemplateError::NotJson(_)), "{e}");
        assert!(e.to_string().contains("inside quotes"), "{e}");
        // The same in a text body is fine, and a +json type is JSON.
        assert!(BodyTemplate::parse(r#"{"who": {{principal}}}"#, "text/plain").is_ok());
        assert!(is_json_type("application/vnd.example+json; charset=utf-8"));
        assert!(is_json_type("Application/JSON"));
        assert!(!is_json_type("text/plain"));
    }
}
