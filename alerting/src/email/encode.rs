//! The mails: one per alert ([`alert_mail`]) and one digest per batch ([`digest_mail`]), each
//! `multipart/alternative` with a plain-text and an HTML body.
//!
//! Every user-controlled string (principal, title, reason, targets...) is escaped in HTML and
//! kept on one line where the text says it is one line (control characters, Unicode line
//! separators and bidi overrides become spaces), so a principal named `<script>` or one with a
//! CRLF in it cannot add markup, forge text lines or add a header: lettre encodes what is left
//! of a header value (RFC 2047) and folds it. Lists and long texts are cut, saying so.
//!
//! Headers: `Message-ID` is derived from the alert id (single mails) or the ids of the batch
//! (digests), so a mail sent again after an unanswered attempt carries the same id and mail
//! clients show it once; `Date` is the send time; `X-Secretwatch-Alert-Id` names the alert of
//! a single mail; `X-Secretwatch-Severity` and `Auto-Submitted: auto-generated` (RFC 3834, no
//! vacation replies) are on both.

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use secretwatch_detect::{Alert, Severity};
use sha2::{Digest, Sha256};

use crate::attack;
use crate::config::Origin;
use crate::notification::Notification;
use crate::text::{rfc3339_ms, truncate_chars};

pub const ALERT_ID_HEADER: &str = "X-Secretwatch-Alert-Id";
pub const SEVERITY_HEADER: &str = "X-Secretwatch-Severity";

/// Longest title and principal in a subject.
pub const SUBJECT_TITLE_CHARS: usize = 120;
pub const SUBJECT_PRINCIPAL_CHARS: usize = 100;
/// Longest reason in a single mail, and per alert in a digest.
pub const REASON_CHARS: usize = 8000;
pub const DIGEST_REASON_CHARS: usize = 300;
/// Most targets and source IPs listed in a single mail.
pub const MAX_LISTED: usize = 100;

/// Sender, recipients and subject prefix of one e-mail sink.
#[derive(Debug, Clone)]
pub struct Addressing {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub subject_prefix: String,
}

/// Why a mail could not be built (lettre refused a header); never carries a credential.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the mail: {0}")]
pub struct EncodeError(String);

// ---------------------------------------------------------------------------------------------
// Text helpers

/// Bidi embeddings, overrides and isolates: they can make a name display as another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// One line: control characters, line separators and bidi controls become spaces.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || is_bidi_control(c) {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Text that keeps its line breaks (as `\n`); other control characters become spaces.
fn multi_line(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    s.chars()
        .map(|c| {
            if c == '\n' {
                c
            } else if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || is_bidi_control(c) {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// HTML text and attribute escaping.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn label(s: Severity) -> String {
    s.as_str().to_ascii_uppercase()
}

fn colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#7b0a1e",
        Severity::High => "#c0392b",
        Severity::Medium => "#c25e00",
        Severity::Low => "#8a6d00",
        Severity::Info => "#1f618d",
    }
}

fn window(a: &Alert) -> String {
    format!(
        "{} to {}",
        rfc3339_ms(a.first_seen),
        rfc3339_ms(a.last_seen)
    )
}

/// `a, b, c (+N more)` of at most `max` items, each on one line.
fn joined(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .map(|i| one_line(i))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        s.push_str(&format!(" (+{} more)", items.len() - max));
    }
    s
}

/// ATT&CK references of the tags, as `(text, url)`: tactics, then techniques.
fn attack_refs(tags: &[String]) -> Vec<(String, String)> {
    let tags = || tags.iter().map(String::as_str);
    let mut out: Vec<(String, String)> = attack::tactics(tags())
        .into_iter()
        .map(|t| (format!("{} ({})", t.name, t.id), t.url()))
        .collect();
    for t in attack::techniques(tags()) {
        let (id, text) = match &t.sub {
            Some((sub, sub_name)) => {
                let name = match (t.name, sub_name) {
                    (Some(p), Some(s)) => format!(" {p}: {s}"),
                    (Some(p), None) => format!(" {p}"),
                    (None, Some(s)) => format!(" {s}"),
                    (None, None) => String::new(),
                };
                (sub.clone(), format!("{sub}{name}"))
            }
            None => (
                t.id.clone(),
                match t.name {
                    Some(n) => format!("{} {n}", t.id),
                    None => t.id.clone(),
                },
            ),
        };
        out.push((text, attack::technique_url(&id)));
    }
    out
}

/// The part of a Message-ID left of `@`: kept when it is a plain token, hashed otherwise.
fn id_token(id: &str) -> String {
    let plain = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        id.to_string()
    } else {
        hex(&Sha256::digest(id.as_bytes())[..16])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The right side of a Message-ID: the sender's domain (it is ours to name ids in).
fn id_domain(from: &Mailbox) -> String {
    let d = from.email.domain();
    if d.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        && !d.is_empty()
    {
        d.to_string()
    } else {
        "secretwatch.invalid".to_string()
    }
}

fn raw_header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), one_line(value))
}

fn message(
    addr: &Addressing,
    subject: String,
    message_id: String,
    now: DateTime<Utc>,
    extra: Vec<HeaderValue>,
    text: String,
    html: String,
) -> Result<Message, EncodeError> {
    let mut b = Message::builder()
        .from(addr.from.clone())
        .subject(subject)
        .message_id(Some(message_id))
        .date(SystemTime::from(now))
        .raw_header(raw_header("Auto-Submitted", "auto-generated"));
    for to in &addr.to {
        b = b.to(to.clone());
    }
    for h in extra {
        b = b.raw_header(h);
    }
    b.multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| EncodeError(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// One alert

/// `[secretwatch] [HIGH] Bulk secret reads by system:serviceaccount:ci:deployer`.
pub fn alert_subject(n: &Notification, prefix: &str) -> String {
    let a = &n.alert;
    let bg = if a.break_glass { ", BREAK-GLASS" } else { "" };
    let mut s = one_line(prefix.trim());
    if !s.is_empty() {
        s.push(' ');
    }
    s.push_str(&format!(
        "[{}{bg}] {} by {}",
        label(a.severity),
        truncate_chars(&one_line(&a.title), SUBJECT_TITLE_CHARS),
        truncate_chars(&one_line(&a.principal), SUBJECT_PRINCIPAL_CHARS)
    ));
    s
}

/// The plain-text body of a single-alert mail.
pub fn alert_text(n: &Notification, origin: &Origin) -> String {
    let a = &n.alert;
    let bg = if a.break_glass { " (BREAK-GLASS)" } else { "" };
    let mut t = format!(
        "{} alert{bg}: {}\n\n",
        label(a.severity),
        one_line(&a.title)
    );
    let mut field = |name: &str, value: String| {
        t.push_str(&format!("{name:<12} {value}\n"));
    };
    field("Principal:", one_line(&a.principal));
    field("Rule:", one_line(&a.rule));
    field("Source:", a.source.to_string());
    field("Window:", window(a));
    field("Events:", a.event_ids.len().to_string());
    if !a.source_ips.is_empty() {
        field("Source IPs:", joined(&a.source_ips, MAX_LISTED));
    }
    let refs = attack_refs(&a.tags);
    if !refs.is_empty() {
        let texts: Vec<&str> = refs.iter().map(|(t, _)| t.as_str()).collect();
        field("ATT&CK:", texts.join("; "));
    }
    if !a.tags.is_empty() {
        field("Tags:", joined(&a.tags, MAX_LISTED));
    }
    t.push_str("\nReason:\n");
    for line in multi_line(&truncate_chars(&a.reason, REASON_CHARS)).lines() {
        t.push_str(&format!("  {line}\n"));
    }
    if !a.targets.is_empty() {
        t.push_str(&format!("\nTargets ({}):\n", a.targets.len()));
        for target in a.targets.iter().take(MAX_LISTED) {
            t.push_str(&format!("  - {}\n", one_line(target)));
        }
        if a.targets.len() > MAX_LISTED {
            t.push_str(&format!(
                "  ... and {} more\n",
                a.targets.len() - MAX_LISTED
            ));
        }
    }
    if let Some(s) = &n.suppressed {
        t.push_str(&format!(
            "\nNote: {} (last at {}).\n",
            s.summary(),
            s.until.to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
    }
    if let Some(url) = origin.alert_url(&a.id) {
        t.push_str(&format!("\nOpen in secretwatch: {url}\n"));
    }
    t.push_str(&format!("\nAlert id: {}\n", one_line(&a.id)));
    t.push_str(&footer_text(origin));
    t
}

fn footer_text(origin: &Origin) -> String {
    format!(
        "-- \nsecretwatch {} on {}\n",
        one_line(&origin.version),
        one_line(&origin.host)
    )
}

fn footer_html(origin: &Origin) -> String {
    format!(
        "<p style=\"color:#666;font-size:12px\">secretwatch {} on {}</p>\n",
        html_escape(&one_line(&origin.version)),
        html_escape(&one_line(&origin.host))
    )
}

fn html_head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#222\">\n",
        html_escape(title)
    )
}

fn html_row(name: &str, value_html: &str) -> String {
    format!(
        "<tr><th style=\"text-align:left;vertical-align:top;padding:2px 12px 2px 0\">{name}</th>\
         <td style=\"padding:2px 0\">{value_html}</td></tr>\n"
    )
}

fn badge(s: Severity, break_glass: bool) -> String {
    let bg = if break_glass { " · BREAK-GLASS" } else { "" };
    format!(
        "<span style=\"background:{};color:#fff;padding:2px 6px;border-radius:3px;font-weight:bold\">{}{bg}</span>",
        colour(s),
        label(s)
    )
}

/// The HTML body of a single-alert mail.
pub fn alert_html(n: &Notification, origin: &Origin, subject: &str) -> String {
    let a = &n.alert;
    let esc = |s: &str| html_escape(&one_line(s));
    let mut h = html_head(subject);
    h.push_str(&format!(
        "<p>{} <code>{}</code></p>\n<h2 style=\"margin:8px 0\">{}</h2>\n",
        badge(a.severity, a.break_glass),
        esc(&a.rule),
        esc(&a.title)
    ));
    h.push_str("<table style=\"border-collapse:collapse\">\n");
    h.push_str(&html_row(
        "Principal",
        &format!("<code>{}</code>", esc(&a.principal)),
    ));
    h.push_str(&html_row("Source", &esc(&a.source.to_string())));
    h.push_str(&html_row("Window", &esc(&window(a))));
    h.push_str(&html_row("Events", &a.event_ids.len().to_string()));
    if !a.source_ips.is_empty() {
        h.push_str(&html_row(
            "Source IPs",
            &html_escape(&joined(&a.source_ips, MAX_LISTED)),
        ));
    }
    let refs = attack_refs(&a.tags);
    if !refs.is_empty() {
        let links: Vec<String> = refs
            .iter()
            .map(|(t, u)| format!("<a href=\"{}\">{}</a>", html_escape(u), html_escape(t)))
            .collect();
        h.push_str(&html_row("ATT&amp;CK", &links.join("<br>")));
    }
    if !a.tags.is_empty() {
        h.push_str(&html_row(
            "Tags",
            &html_escape(&joined(&a.tags, MAX_LISTED)),
        ));
    }
    h.push_str("</table>\n<h3>Reason</h3>\n");
    h.push_str(&format!(
        "<p style=\"white-space:pre-wrap\">{}</p>\n",
        html_escape(&multi_line(&truncate_chars(&a.reason, REASON_CHARS)))
    ));
    if !a.targets.is_empty() {
        h.push_str(&format!("<h3>Targets ({})</h3>\n<ul>\n", a.targets.len()));
        for target in a.targets.iter().take(MAX_LISTED) {
            h.push_str(&format!("<li><code>{}</code></li>\n", esc(target)));
        }
        if a.targets.len() > MAX_LISTED {
            h.push_str(&format!(
                "<li>… and {} more</li>\n",
                a.targets.len() - MAX_LISTED
            ));
        }
        h.push_str("</ul>\n");
    }
    if let Some(s) = &n.suppressed {
        h.push_str(&format!(
            "<p><em>{} (last at {}).</em></p>\n",
            html_escape(&s.summary()),
            s.until.to_rfc3339_opts(SecondsFormat::Secs, true)
        ));
    }
    if let Some(url) = origin.alert_url(&a.id) {
        h.push_str(&format!(
            "<p><a href=\"{}\">Open this alert in secretwatch</a></p>\n",
            html_escape(&url)
        ));
    }
    h.push_str(&format!(
        "<p style=\"color:#666;font-size:12px\">Alert id <code>{}</code></p>\n",
        esc(&a.id)
    ));
    h.push_str(&footer_html(origin));
    h.push_str("</body></html>\n");
    h
}

/// The mail for one alert (`now`: the send time, for `Date`).
pub fn alert_mail(
    n: &Notification,
    addr: &Addressing,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<Message, EncodeError> {
    let a = &n.alert;
    let subject = alert_subject(n, &addr.subject_prefix);
    let message_id = format!("<{}.alert@{}>", id_token(&a.id), id_domain(&addr.from));
    let html = alert_html(n, origin, &subject);
    message(
        addr,
        subject,
        message_id,
        now,
        vec![
            raw_header(ALERT_ID_HEADER, &a.id),
            raw_header(SEVERITY_HEADER, a.severity.as_str()),
        ],
        alert_text(n, origin),
        html,
    )
}

// ---------------------------------------------------------------------------------------------
// Digest

/// The batch, most severe first, then by time (stable for equal keys).
pub fn digest_order(batch: &[Notification]) -> Vec<&Notification> {
    let mut v: Vec<&Notification> = batch.iter().collect();
    v.sort_by(|x, y| {
        y.alert
            .severity
            .cmp(&x.alert.severity)
            .then(x.alert.last_seen.cmp(&y.alert.last_seen))
    });
    v
}

/// `1 high, 2 low`, most severe first.
fn severity_counts(batch: &[Notification]) -> String {
    let all = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];
    all.iter()
        .filter_map(|s| {
            let n = batch.iter().filter(|x| x.alert.severity == *s).count();
            (n > 0).then(|| format!("{n} {}", s.as_str()))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn alerts_word(n: usize) -> &'static str {
    if n == 1 {
        "alert"
    } else {
        "alerts"
    }
}

/// `[secretwatch] 3 alerts: 1 medium, 2 low`.
pub fn digest_subject(batch: &[Notification], prefix: &str) -> String {
    let mut s = one_line(prefix.trim());
    if !s.is_empty() {
        s.push(' ');
    }
    s.push_str(&format!(
        "{} {}: {}",
        batch.len(),
        alerts_word(batch.len()),
        severity_counts(batch)
    ));
    s
}

/// The plain-text body of a digest.
pub fn digest_text(batch: &[Notification], origin: &Origin) -> String {
    let mut t = format!(
        "{} {} ({}), most severe first.\n",
        batch.len(),
        alerts_word(batch.len()),
        severity_counts(batch)
    );
    for (i, n) in digest_order(batch).into_iter().enumerate() {
        let a = &n.alert;
        let bg = if a.break_glass { ", BREAK-GLASS" } else { "" };
        t.push_str(&format!(
            "\n{}. [{}{bg}] {}\n",
            i + 1,
            label(a.severity),
            one_line(&a.title)
        ));
        t.push_str(&format!("   Principal: {}\n", one_line(&a.principal)));
        t.push_str(&format!("   Rule:      {}\n", one_line(&a.rule)));
        t.push_str(&format!("   Window:    {}\n", window(a)));
        t.push_str(&format!(
            "   Reason:    {}\n",
            truncate_chars(&one_line(&a.reason), DIGEST_REASON_CHARS)
        ));
        if !a.targets.is_empty() {
            t.push_str(&format!("   Targets:   {}\n", joined(&a.targets, 5)));
        }
        if !a.source_ips.is_empty() {
            t.push_str(&format!("   IPs:       {}\n", joined(&a.source_ips, 5)));
        }
        if let Some(s) = &n.suppressed {
            t.push_str(&format!("   Note:      {}\n", s.summary()));
        }
        if let Some(url) = origin.alert_url(&a.id) {
            t.push_str(&format!("   Open:      {url}\n"));
        }
        t.push_str(&format!("   Alert id:  {}\n", one_line(&a.id)));
    }
    t.push('\n');
    t.push_str(&footer_text(origin));
    t
}

/// The HTML body of a digest: one table row per alert.
pub fn digest_html(batch: &[Notification], origin: &Origin, subject: &str) -> String {
    let esc = |s: &str| html_escape(&one_line(s));
    let mut h = html_head(subject);
    h.push_str(&format!(
        "<p>{} {} ({}), most severe first.</p>\n",
        batch.len(),
        alerts_word(batch.len()),
        html_escape(&severity_counts(batch))
    ));
    let cell =
        "style=\"text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid #ddd\"";
    h.push_str("<table style=\"border-collapse:collapse\">\n<tr>");
    for col in ["Severity", "Last seen", "Alert", "Principal", "Reason"] {
        h.push_str(&format!("<th {cell}>{col}</th>"));
    }
    h.push_str("</tr>\n");
    for n in digest_order(batch) {
        let a = &n.alert;
        let title = match origin.alert_url(&a.id) {
            Some(url) => format!("<a href=\"{}\">{}</a>", html_escape(&url), esc(&a.title)),
            None => esc(&a.title),
        };
        let mut reason = html_escape(&truncate_chars(&one_line(&a.reason), DIGEST_REASON_CHARS));
        if let Some(s) = &n.suppressed {
            reason.push_str(&format!("<br><em>{}</em>", html_escape(&s.summary())));
        }
        h.push_str(&format!(
            "<tr data-alert-id=\"{}\"><td {cell}>{}</td><td {cell}>{}</td>\
             <td {cell}>{title}<br><code>{}</code></td><td {cell}><code>{}</code></td>\
             <td {cell}>{reason}</td></tr>\n",
            esc(&a.id),
            badge(a.severity, a.break_glass),
            rfc3339_ms(a.last_seen),
            esc(&a.rule),
            esc(&a.principal),
        ));
    }
    h.push_str("</table>\n");
    h.push_str(&footer_html(origin));
    h.push_str("</body></html>\n");
    h
}

/// The digest mail of a batch (never empty).
pub fn digest_mail(
    batch: &[Notification],
    addr: &Addressing,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Result<Message, EncodeError> {
    let mut ids: Vec<&str> = batch.iter().map(|n| n.alert.id.as_str()).collect();
    ids.sort_unstable();
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update([0]);
    }
    let message_id = format!(
        "<{}.digest@{}>",
        hex(&h.finalize()[..16]),
        id_domain(&addr.from)
    );
    let top = batch
        .iter()
        .map(|n| n.alert.severity)
        .max()
        .unwrap_or(Severity::Info);
    let subject = digest_subject(batch, &addr.subject_prefix);
    let html = digest_html(batch, origin, &subject);
    message(
        addr,
        subject,
        message_id,
        now,
        vec![raw_header(SEVERITY_HEADER, top.as_str())],
        digest_text(batch, origin),
        html,
    )
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;

// ---------------------------------------------------------------------------------------------
// Reports

/// A file attached to a report mail.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub filename: String,
    /// e.g. `text/html; charset=utf-8`.
    pub content_type: String,
    pub body: Vec<u8>,
}

/// A scheduled report: a plain-text summary and the report files attached. `name` and `end`
/// make the Message-ID, so a resent report is recognisably the same one.
pub fn report_mail(
    addr: &Addressing,
    subject: &str,
    text: String,
    attachments: &[Attachment],
    name: &str,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Message, EncodeError> {
    use lettre::message::{header::ContentType, Attachment as Part, SinglePart};
    let mut s = one_line(addr.subject_prefix.trim());
    if !s.is_empty() {
        s.push(' ');
    }
    s.push_str(&one_line(subject));
    let message_id = format!(
        "<{}.{}.report@{}>",
        id_token(name),
        end.timestamp(),
        id_domain(&addr.from)
    );
    let mut b = Message::builder()
        .from(addr.from.clone())
        .subject(s)
        .message_id(Some(message_id))
        .date(SystemTime::from(now))
        .raw_header(raw_header("Auto-Submitted", "auto-generated"));
    for to in &addr.to {
        b = b.to(to.clone());
    }
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(text));
    for a in attachments {
        let ct = ContentType::parse(&a.content_type).map_err(|e| EncodeError(e.to_string()))?;
        parts = parts.singlepart(Part::new(a.filename.clone()).body(a.body.clone(), ct));
    }
    b.multipart(parts).map_err(|e| EncodeError(e.to_string()))
}
