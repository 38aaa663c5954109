//! A readable Slack message: `text` (the notification fallback) plus Block Kit sections.
//!
//! Every user-controlled string is escaped for mrkdwn (`&`, `<`, `>`), so a principal named
//! `<!channel>` cannot ping a channel or forge a link. Limits from Slack: a section's text at
//! most 3000 characters, a field 2000, at most 10 fields and 50 blocks; longer content is cut
//! with `…` and lists say how many items were left out.

use secretwatch_detect::Severity;
use serde_json::{json, Value};

use crate::config::Origin;
use crate::notification::Notification;
use crate::text::rfc3339_ms;

pub const MAX_SECTION_CHARS: usize = 3000;
pub const MAX_FIELD_CHARS: usize = 2000;
pub const MAX_BLOCKS: usize = 50;

/// mrkdwn escaping of untrusted text.
pub fn escape(s: &str) -> String {
    clip(s, usize::MAX)
}

/// Escape `s` and keep the result within `max` characters (an escape is never cut in half).
fn clip(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0usize;
    let total: usize = s.chars().map(escaped_len).sum();
    let budget = if total <= max {
        max
    } else {
        max.saturating_sub(1)
    };
    for c in s.chars() {
        let n = escaped_len(c);
        if used + n > budget {
            out.push('…');
            return out;
        }
        used += n;
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn escaped_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        _ => 1,
    }
}

fn severity_label(s: Severity) -> (&'static str, &'static str) {
    match s {
        Severity::Critical => (":rotating_light:", "CRITICAL"),
        Severity::High => (":red_circle:", "HIGH"),
        Severity::Medium => (":large_orange_circle:", "MEDIUM"),
        Severity::Low => (":large_yellow_circle:", "LOW"),
        Severity::Info => (":information_source:", "INFO"),
    }
}

fn section(text: String) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// `heading` then one bullet per item, within the section limit, ending with how many were
/// left out.
fn bullet_list(heading: &str, items: &[String]) -> String {
    let mut out = format!("{heading} ({})", items.len());
    for (i, item) in items.iter().enumerate() {
        let line = format!("\n• {}", clip(item, 300));
        let rest = items.len() - i;
        // Room for the "… and N more" line.
        let tail = format!("\n… and {rest} more");
        if out.chars().count() + line.chars().count() + tail.chars().count() > MAX_SECTION_CHARS {
            out.push_str(&tail);
            return out;
        }
        out.push_str(&line);
    }
    out
}

/// The JSON body to POST to the incoming webhook.
pub fn message(n: &Notification, origin: &Origin) -> Value {
    let a = &n.alert;
    let (emoji, sev) = severity_label(a.severity);
    let bg = if a.break_glass { " · BREAK-GLASS" } else { "" };

    let fallback = format!(
        "{emoji} [{sev}{bg}] {}: {}: {}",
        a.title, a.principal, a.reason
    );
    let mut blocks = vec![section(format!(
        "{emoji} *{sev}{bg}* · {}\n*{}*",
        clip(&a.rule, 200),
        clip(&a.title, 2000)
    ))];

    let mut fields = vec![
        format!("*Principal*\n{}", clip(&a.principal, MAX_FIELD_CHARS - 20)),
        format!("*Source*\n{}", a.source),
        format!("*First seen*\n{}", rfc3339_ms(a.first_seen)),
        format!("*Last seen*\n{}", rfc3339_ms(a.last_seen)),
        format!("*Events*\n{}", a.event_ids.len()),
    ];
    if !a.source_ips.is_empty() {
        fields.push(format!(
            "*Source IPs*\n{}",
            clip(&a.source_ips.join(", "), MAX_FIELD_CHARS - 20)
        ));
    }
    blocks.push(json!({
        "type": "section",
        "fields": fields
            .into_iter()
            .map(|t| json!({"type": "mrkdwn", "text": t}))
            .collect::<Vec<_>>(),
    }));
    blocks.push(section(format!(
        "*Reason*\n{}",
        clip(&a.reason, MAX_SECTION_CHARS - 12)
    )));
    if !a.targets.is_empty() {
        blocks.push(section(bullet_list("*Targets*", &a.targets)));
    }
    if let Some(s) = &n.suppressed {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!(":mute: {}", s.summary())}],
        }));
    }
    if let Some(url) = origin.alert_url(&a.id) {
        blocks.push(section(format!("<{url}|Open this alert in secretwatch>")));
    }
    let mut context = format!("id `{}`", clip(&a.id, 100));
    if !a.tags.is_empty() {
        context.push_str(" · ");
        context.push_str(&clip(&a.tags.join(", "), 1500));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": context}],
    }));

    let mut text = clip(&fallback, MAX_SECTION_CHARS);
    if let Some(s) = &n.suppressed {
        let note = format!(" ({})", s.summary());
        if text.chars().count() + note.chars().count() <= MAX_SECTION_CHARS {
            text.push_str(&note);
        }
    }
    debug_assert!(blocks.len() <= MAX_BLOCKS);
    json!({"text": text, "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::{notification, suppressed_note};

    fn texts(v: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for b in v["blocks"].as_array().unwrap() {
            if let Some(t) = b["text"]["text"].as_str() {
                out.push(t.to_string());
            }
            for f in b["fields"].as_array().into_iter().flatten() {
                out.push(f["text"].as_str().unwrap().to_string());
            }
            for e in b["elements"].as_array().into_iter().flatten() {
                out.push(e["text"].as_str().unwrap().to_string());
            }
        }
        out
    }

    #[test]
    fn readable_message_with_every_part() {
        let mut n = notification();
        n.suppressed = Some(suppressed_note());
        let origin = Origin::new("h").with_dashboard("https://sw.example");
        let v = message(&n, &origin);
        let text = v["text"].as_str().unwrap();
        assert!(text.starts_with(
            ":red_circle: [HIGH] Bulk secret reads | burst: system:serviceaccount:ci:deployer: read 20"
        ));
        // Mentions and links are neutralized, & is escaped.
        assert!(text.contains("&lt;!here&gt; &amp; \"q\""), "{text}");
        assert!(!text.contains("<!here>"));
        assert!(text.ends_with("(12 similar alerts suppressed since 2026-11-02T08:00:00Z)"));

        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "section");
        assert_eq!(
            blocks[0]["text"]["text"],
            ":red_circle: *HIGH* · bulk-secret-reads\n*Bulk secret reads | burst*"
        );
        let all = texts(&v);
        assert!(all.contains(&"*Principal*\nsystem:serviceaccount:ci:deployer".to_string()));
        assert!(all.contains(&"*Source*\nkubernetes".to_string()));
        assert!(all.contains(&"*First seen*\n2026-11-02T09:00:00.000Z".to_string()));
        assert!(all.contains(&"*Events*\n2".to_string()));
        assert!(all.contains(&"*Source IPs*\n10.1.2.3, 2001:db8::1".to_string()));
        assert!(all
            .iter()
            .any(|t| t.starts_with("*Reason*\nread 20 distinct") && t.contains("&lt;!here&gt;")));
        assert!(all.contains(&"*Targets* (2)\n• prod/secrets/db\n• prod/secrets/api".to_string()));
        assert!(all.contains(
            &":mute: 12 similar alerts suppressed since 2026-11-02T08:00:00Z".to_string()
        ));
        assert!(all.contains(&format!(
            "<https://sw.example/alerts/{}|Open this alert in secretwatch>",
            n.alert.id
        )));
        assert!(all
            .iter()
            .any(|t| t.starts_with(&format!("id `{}`", n.alert.id))
                && t.contains("attack.t1552.007")));

        // No dashboard: no link block.
        let v = message(&n, &Origin::new("h"));
        assert!(!texts(&v).iter().any(|t| t.contains("Open this alert")));
    }

    #[test]
    fn limits_hold_for_huge_alerts() {
        let mut n = notification();
        n.alert.reason = "<&>".repeat(5000);
        n.alert.title = "t".repeat(5000);
        n.alert.principal = "p&".repeat(3000);
        n.alert.targets = (0..10_000).map(|i| format!("ns/secrets/s-{i}")).collect();
        n.alert.source_ips = (0..2000)
            .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
            .collect();
        n.alert.break_glass = true;
        n.alert.severity = Severity::Critical;
        let v = message(&n, &Origin::new("h"));
        assert!(v["text"].as_str().unwrap().chars().count() <= MAX_SECTION_CHARS);
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS);
        for b in blocks {
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= MAX_SECTION_CHARS, "{}", t.len());
                // No escape cut in half.
                assert!(!t.contains("&am…") && !t.contains("&l…"));
            }
            for f in b["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= MAX_FIELD_CHARS);
            }
            assert!(b["fields"].as_array().is_none_or(|f| f.len() <= 10));
        }
        let all = texts(&v);
        assert!(all[0].starts_with(":rotating_light: *CRITICAL · BREAK-GLASS*"));
        let targets = all.iter().find(|t| t.starts_with("*Targets*")).unwrap();
        assert!(targets.starts_with("*Targets* (10000)\n• ns/secrets/s-0\n"));
        assert!(targets.contains("more"), "says how many were left out");
        let reason = all.iter().find(|t| t.starts_with("*Reason*")).unwrap();
        assert!(reason.ends_with('…'));
    }

    #[test]
    fn clip_never_splits_an_escape() {
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("a&b", 5), "a…");
        assert_eq!(clip("a&", 6), "a&amp;");
    }
}
