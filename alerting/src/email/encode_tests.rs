//! Field-by-field checks of the mails, read back from the bytes lettre produces.

use chrono::{DateTime, TimeZone, Utc};
use lettre::message::Mailbox;
use secretwatch_detect::Severity;

use super::*;
use crate::email::test_mime::{base64_decode, decode_words, qp_decode, Part};
use crate::notification::fixtures::{notification, suppressed_note, t};
use crate::notification::Notification;

fn addr() -> Addressing {
    Addressing {
        from: "secretwatch <sw@example.com>".parse().unwrap(),
        to: vec![
            "SOC <soc@example.com>".parse().unwrap(),
            "oncall@example.org".parse::<Mailbox>().unwrap(),
        ],
        subject_prefix: "[secretwatch]".into(),
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 5, 30).unwrap()
}

fn origin() -> Origin {
    Origin::new("sw-host").with_dashboard("https://sw.example/")
}

fn parse(m: &lettre::Message) -> Part {
    Part::parse(&m.formatted())
}

/// (text, html) of a multipart/alternative mail, CRLF turned into LF.
fn bodies(mail: &Part) -> (String, String) {
    assert_eq!(mail.mime_type(), "multipart/alternative");
    let parts = mail.parts();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].mime_type(), "text/plain", "plain text first");
    assert_eq!(parts[1].mime_type(), "text/html", "the richest last");
    for p in &parts {
        assert_eq!(p.param("charset").as_deref(), Some("utf-8"));
    }
    (
        parts[0].text().replace("\r\n", "\n"),
        parts[1].text().replace("\r\n", "\n"),
    )
}

#[test]
fn one_alert_mail_field_by_field() {
    let mut n = notification();
    n.suppressed = Some(suppressed_note());
    let id = n.alert.id.clone();
    let m = alert_mail(&n, &addr(), &origin(), now()).unwrap();
    let env = m.envelope();
    assert_eq!(env.from().unwrap().to_string(), "sw@example.com");
    let rcpt: Vec<String> = env.to().iter().map(|a| a.to_string()).collect();
    assert_eq!(rcpt, ["soc@example.com", "oncall@example.org"]);

    let mail = parse(&m);
    assert_eq!(mail.header("From"), Some("secretwatch <sw@example.com>"));
    assert_eq!(
        mail.header("To"),
        Some("SOC <soc@example.com>, oncall@example.org")
    );
    assert_eq!(
        mail.decoded("Subject").unwrap(),
        "[secretwatch] [HIGH] Bulk secret reads | burst by system:serviceaccount:ci:deployer"
    );
    assert_eq!(
        mail.header("Message-ID").unwrap(),
        format!("<{id}.alert@example.com>")
    );
    let date = DateTime::parse_from_rfc2822(mail.header("Date").unwrap()).unwrap();
    assert_eq!(date, now());
    assert_eq!(mail.header(ALERT_ID_HEADER), Some(id.as_str()));
    assert_eq!(mail.header(SEVERITY_HEADER), Some("high"));
    assert_eq!(mail.header("Auto-Submitted"), Some("auto-generated"));
    assert_eq!(mail.header("MIME-Version"), Some("1.0"));
    for name in [
        "From",
        "To",
        "Subject",
        "Message-ID",
        "Date",
        ALERT_ID_HEADER,
    ] {
        assert_eq!(mail.count(name), 1, "{name}");
    }

    let (text, html) = bodies(&mail);
    let link = format!("https://sw.example/alerts/{id}");
    for want in [
        "HIGH alert: Bulk secret reads | burst\n\n",
        "\nPrincipal:   system:serviceaccount:ci:deployer\n",
        "\nRule:        bulk-secret-reads\n",
        "\nSource:      kubernetes\n",
        "\nWindow:      2026-11-02T09:00:00.000Z to 2026-11-02T09:04:59.123Z\n",
        "\nEvents:      2\n",
        "\nSource IPs:  10.1.2.3, 2001:db8::1\n",
        "\nATT&CK:      Credential Access (TA0006); Collection (TA0009); T1552.007 Unsecured Credentials: Container API\n",
        "\nTags:        attack.credential-access, attack.t1552.007, attack.collection\n",
        "\nReason:\n  read 20 distinct secrets in 5 min; a=b \\ c\n  next <!here> & \"q\"\n",
        "\nTargets (2):\n  - prod/secrets/db\n  - prod/secrets/api\n",
        "\nNote: 12 similar alerts suppressed since 2026-11-02T08:00:00Z (last at 2026-11-02T08:50:00Z).\n",
        &format!("\nOpen in secretwatch: {link}\n"),
        &format!("\nAlert id: {id}\n"),
        "\n-- \nsecretwatch ",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    assert!(text.ends_with(" on sw-host\n"), "{text}");

    for want in [
        "<title>[secretwatch] [HIGH] Bulk secret reads | burst by system:serviceaccount:ci:deployer</title>",
        ">HIGH</span> <code>bulk-secret-reads</code>",
        "<h2 style=\"margin:8px 0\">Bulk secret reads | burst</h2>",
        "<th style=\"text-align:left;vertical-align:top;padding:2px 12px 2px 0\">Principal</th><td style=\"padding:2px 0\"><code>system:serviceaccount:ci:deployer</code></td>",
        ">2026-11-02T09:00:00.000Z to 2026-11-02T09:04:59.123Z<",
        ">10.1.2.3, 2001:db8::1<",
        "<a href=\"https://attack.mitre.org/tactics/TA0006/\">Credential Access (TA0006)</a>",
        "<a href=\"https://attack.mitre.org/techniques/T1552/007/\">T1552.007 Unsecured Credentials: Container API</a>",
        "read 20 distinct secrets in 5 min; a=b \\ c\nnext &lt;!here&gt; &amp; &quot;q&quot;</p>",
        "<h3>Targets (2)</h3>\n<ul>\n<li><code>prod/secrets/db</code></li>\n<li><code>prod/secrets/api</code></li>\n</ul>",
        "<em>12 similar alerts suppressed since 2026-11-02T08:00:00Z (last at 2026-11-02T08:50:00Z).</em>",
        &format!("<a href=\"{link}\">Open this alert in secretwatch</a>"),
        &format!("Alert id <code>{id}</code>"),
    ] {
        assert!(html.contains(want), "{want:?} in\n{html}");
    }
    assert!(!html.contains("<!here>"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</body></html>"));
}

#[test]
fn without_a_dashboard_there_is_no_link() {
    let m = alert_mail(&notification(), &addr(), &Origin::new("h"), now()).unwrap();
    let (text, html) = bodies(&parse(&m));
    assert!(!text.contains("Open in secretwatch"), "{text}");
    assert!(!html.contains("Open this alert"), "{html}");
    assert!(!text.contains("Note:"), "no suppressed note without one");
}

#[test]
fn markup_in_alert_fields_is_escaped_in_html() {
    let mut n = notification();
    n.alert.principal = "<script>alert(1)</script>".into();
    n.alert.title = "x\"><img src=x onerror=alert(2)>".into();
    n.alert.targets = vec!["ns/<b>bold</b>".into()];
    n.alert.rule = "r&d".into();
    let m = alert_mail(&n, &addr(), &origin(), now()).unwrap();
    let mail = parse(&m);
    let (text, html) = bodies(&mail);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    assert!(html.contains("<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"));
    assert!(html.contains("x&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"));
    assert!(html.contains("<code>r&amp;d</code>"));
    // Plain text and the subject are not markup: they carry the name as it is.
    assert!(text.contains("Principal:   <script>alert(1)</script>\n"));
    assert!(mail
        .decoded("Subject")
        .unwrap()
        .ends_with("by <script>alert(1)</script>"));

    let d = digest_mail(std::slice::from_ref(&n), &addr(), &origin(), now()).unwrap();
    let (_, html) = bodies(&parse(&d));
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn crlf_in_alert_fields_cannot_add_headers_or_lines() {
    let mut n = notification();
    n.alert.title = "Reads\r\nBcc: attacker@evil.example\r\n\r\n<html>".into();
    n.alert.principal = "p\nX-Injected: 1\u{2028}Y: 2".into();
    n.alert.id = "abc\r\nBcc: x@evil.example".into();
    let m = alert_mail(&n, &addr(), &origin(), now()).unwrap();
    let raw = m.formatted();
    let mail = Part::parse(&raw);
    let names: Vec<&str> = mail.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect::<Vec<_>>(),
        [
            "from",
            "subject",
            "message-id",
            "date",
            "auto-submitted",
            "to",
            "x-secretwatch-alert-id",
            "x-secretwatch-severity",
            "mime-version",
            "content-type",
        ],
        "{names:?}"
    );
    assert_eq!(mail.count("Bcc"), 0);
    let rcpt: Vec<String> = m.envelope().to().iter().map(|a| a.to_string()).collect();
    assert_eq!(rcpt, ["soc@example.com", "oncall@example.org"]);
    assert_eq!(
        mail.decoded("Subject").unwrap(),
        "[secretwatch] [HIGH] Reads  Bcc: attacker@evil.example    <html> by p X-Injected: 1 Y: 2"
    );
    assert_eq!(
        mail.header(ALERT_ID_HEADER),
        Some("abc  Bcc: x@evil.example")
    );
    let mid = mail.header("Message-ID").unwrap();
    assert!(
        mid.starts_with('<') && mid.ends_with(".alert@example.com>") && !mid.contains(' '),
        "an odd id is hashed: {mid}"
    );
    let (text, _) = bodies(&mail);
    assert!(
        text.contains("\nPrincipal:   p X-Injected: 1 Y: 2\n"),
        "{text}"
    );
    assert!(
        !text.contains("\nX-Injected"),
        "no line starts with the injected text"
    );
}

#[test]
fn non_ascii_subjects_are_encoded_and_break_glass_is_said() {
    let mut n = notification();
    n.alert.principal = "jürgen.müller@corp.example".into();
    n.alert.severity = Severity::Critical;
    n.alert.break_glass = true;
    n.alert.title = "Break-glass token used ".repeat(10);
    let m = alert_mail(&n, &addr(), &origin(), now()).unwrap();
    let mail = parse(&m);
    assert!(mail.header("Subject").unwrap().contains("=?utf-8?b?"));
    let subject = mail.decoded("Subject").unwrap();
    assert!(
        subject.starts_with("[secretwatch] [CRITICAL, BREAK-GLASS] Break-glass token used "),
        "{subject}"
    );
    assert!(subject.contains("…"), "a long title is cut: {subject}");
    assert!(
        subject.ends_with(" by jürgen.müller@corp.example"),
        "{subject}"
    );
    let (text, html) = bodies(&mail);
    assert!(text.starts_with("CRITICAL alert (BREAK-GLASS): "));
    assert!(html.contains(">CRITICAL · BREAK-GLASS</span>"));
    assert_eq!(mail.header(SEVERITY_HEADER), Some("critical"));
    // No prefix: the subject starts with the severity.
    let mut a = addr();
    a.subject_prefix = String::new();
    assert!(alert_subject(&n, &a.subject_prefix).starts_with("[CRITICAL"));
}

fn at(n: &Notification, id: &str, sev: Severity, secs: i64) -> Notification {
    let mut x = n.clone();
    x.alert.id = id.into();
    x.alert.severity = sev;
    x.alert.last_seen = t(9, 0, 0) + chrono::Duration::seconds(secs);
    x.alert.principal = format!("user-{id}");
    x
}

#[test]
fn digest_lists_every_alert_most_severe_first() {
    let base = notification();
    let mut noisy = at(&base, "d4", Severity::Medium, 1);
    noisy.suppressed = Some(suppressed_note());
    let batch = vec![
        at(&base, "a1", Severity::Low, 5),
        at(&base, "b2", Severity::Medium, 9),
        at(&base, "c3", Severity::Info, 0),
        noisy,
    ];
    let m = digest_mail(&batch, &addr(), &origin(), now()).unwrap();
    let mail = parse(&m);
    assert_eq!(
        mail.decoded("Subject").unwrap(),
        "[secretwatch] 4 alerts: 2 medium, 1 low, 1 info"
    );
    assert_eq!(
        mail.count(ALERT_ID_HEADER),
        0,
        "a digest names no single alert"
    );
    assert_eq!(mail.header(SEVERITY_HEADER), Some("medium"));
    assert_eq!(mail.header("Auto-Submitted"), Some("auto-generated"));
    let mid = mail.header("Message-ID").unwrap().to_string();
    assert!(
        mid.ends_with(".digest@example.com>") && mid.len() == 1 + 32 + 20,
        "{mid}"
    );
    DateTime::parse_from_rfc2822(mail.header("Date").unwrap()).unwrap();

    // The same alerts in another order: the same mail id; other alerts: another id.
    let mut shuffled = batch.clone();
    shuffled.reverse();
    let again = parse(&digest_mail(&shuffled, &addr(), &origin(), now()).unwrap());
    assert_eq!(again.header("Message-ID").unwrap(), mid);
    let other = parse(&digest_mail(&batch[..3], &addr(), &origin(), now()).unwrap());
    assert_ne!(other.header("Message-ID").unwrap(), mid);

    let (text, html) = bodies(&mail);
    assert!(text.starts_with("4 alerts (2 medium, 1 low, 1 info), most severe first.\n"));
    // Order: medium (earlier first), medium, low, info.
    let order = ["d4", "b2", "a1", "c3"];
    let pos = |hay: &str, pat: String| hay.find(&pat).unwrap_or_else(|| panic!("{pat}"));
    let text_pos: Vec<usize> = order
        .iter()
        .map(|id| pos(&text, format!("Alert id:  {id}\n")))
        .collect();
    let html_pos: Vec<usize> = order
        .iter()
        .map(|id| pos(&html, format!("<tr data-alert-id=\"{id}\">")))
        .collect();
    assert!(text_pos.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(html_pos.windows(2).all(|w| w[0] < w[1]), "{html}");
    for want in [
        "\n1. [MEDIUM] Bulk secret reads | burst\n   Principal: user-d4\n",
        "\n   Rule:      bulk-secret-reads\n",
        "\n   Reason:    read 20 distinct secrets in 5 min; a=b \\ c next <!here> & \"q\"\n",
        "\n   Targets:   prod/secrets/db, prod/secrets/api\n",
        "\n   Note:      12 similar alerts suppressed since 2026-11-02T08:00:00Z\n",
        "\n   Open:      https://sw.example/alerts/d4\n",
        "\n4. [INFO] ",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    for want in [
        "<th style=\"text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid #ddd\">Severity</th>",
        "<a href=\"https://sw.example/alerts/b2\">Bulk secret reads | burst</a>",
        "<code>user-a1</code>",
        "next &lt;!here&gt; &amp; &quot;q&quot;<br><em>12 similar alerts suppressed",
        ">2026-11-02T09:00:09.000Z<",
    ] {
        assert!(html.contains(want), "{want:?} in\n{html}");
    }

    let one = parse(&digest_mail(&batch[..1], &addr(), &origin(), now()).unwrap());
    assert_eq!(
        one.decoded("Subject").unwrap(),
        "[secretwatch] 1 alert: 1 low"
    );
}

#[test]
fn huge_alerts_are_cut_and_say_so() {
    let mut n = notification();
    n.alert.targets = (0..10_000).map(|i| format!("ns/secrets/s-{i}")).collect();
    n.alert.source_ips = (0..300)
        .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
        .collect();
    n.alert.reason = "x".repeat(20_000);
    let m = alert_mail(&n, &addr(), &origin(), now()).unwrap();
    let (text, html) = bodies(&parse(&m));
    assert!(text.contains("\nTargets (10000):\n  - ns/secrets/s-0\n"));
    assert!(text.contains("  - ns/secrets/s-99\n  ... and 9900 more\n"));
    assert!(!text.contains("s-100\n"));
    assert!(text.contains(" (+200 more)\n"));
    assert!(text.contains(&format!("  {}…\n", "x".repeat(REASON_CHARS - 1))));
    assert!(html.contains("<li>… and 9900 more</li>"));
    assert!(m.formatted().len() < 200_000, "{}", m.formatted().len());
}

#[test]
fn one_line_removes_every_line_breaker() {
    assert_eq!(
        one_line("a\r\nb\u{2028}c\u{85}d\u{202E}e\tf"),
        "a  b c d e f"
    );
    assert_eq!(multi_line("a\r\nb\rc\u{202E}d"), "a\nb\nc d");
    assert_eq!(
        html_escape("<a href='x'>&\"</a>"),
        "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
    );
}

#[test]
fn test_mime_reader_decodes() {
    assert_eq!(base64_decode("aGVsbG8gd29ybGQ="), b"hello world");
    assert_eq!(base64_decode("YQ=="), b"a");
    assert_eq!(qp_decode(b"a=3Db=\r\nc=C3=A9"), "a=bcé".as_bytes());
    assert_eq!(
        decode_words("=?utf-8?b?aMOp?= =?utf-8?b?bGxv?= world"),
        "héllo world"
    );
    assert_eq!(decode_words("plain  text"), "plain  text");
}
