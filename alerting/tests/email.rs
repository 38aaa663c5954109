//! E-mail delivery through the real hub to a real SMTP server on loopback
//! (`scripts/smtp-receiver.py`, aiosmtpd): one mail per urgent alert, one digest for the rest,
//! STARTTLS and implicit TLS with AUTH through a private CA, a wrong password, a relay that is
//! down and comes back, and refused recipients (permanent and temporary).
//!
//! Needs the Python environment of `scripts/setup.sh`; without it every test here fails
//! saying so.

mod support;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secretwatch_alerting::SinkConfig;
use secretwatch_detect::Severity;
use serde_json::{json, Value};
use support::smtp::{test_ca, Received, ReceiverOptions, SmtpReceiver};
use support::{alert, eventually, free_addr, lane, open, sink};

const ALERT_ID: &str = "X-Secretwatch-Alert-Id";

/// An e-mail sink `name` to 127.0.0.1:`port`, plain SMTP unless `output` says otherwise.
fn mail_sink(name: &str, port: u16, output: Value) -> SinkConfig {
    let mut out = json!({
        "type": "email", "host": "127.0.0.1", "port": port, "tls": "none",
        "from": "secretwatch <sw@example.com>",
        "to": ["SOC <soc@example.com>", "oncall@example.org"],
    });
    for (k, v) in output.as_object().unwrap() {
        out[k] = v.clone();
    }
    sink(json!({
        "name": name,
        "retry": { "initial_ms": 20, "max_ms": 200, "max_retry_after_secs": 1 },
        "output": out,
    }))
}

fn by_alert_id<'a>(msgs: &'a [Received], id: &str) -> &'a Received {
    msgs.iter()
        .find(|m| m.mail.header(ALERT_ID) == Some(id))
        .unwrap_or_else(|| panic!("no mail for alert {id}"))
}

/// (text, html) bodies of a multipart/alternative mail, CRLF as LF.
fn bodies(m: &Received) -> (String, String) {
    assert_eq!(m.mail.mime_type(), "multipart/alternative");
    let parts = m.mail.parts();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].mime_type(), "text/plain");
    assert_eq!(parts[1].mime_type(), "text/html");
    (
        parts[0].text().replace("\r\n", "\n"),
        parts[1].text().replace("\r\n", "\n"),
    )
}

fn dead_letters(dir: &Path, lane: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(lane).join("dead-letter.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_alert_is_mailed_at_once_with_its_headers_and_both_parts() {
    let inbox = tempfile::tempdir().unwrap();
    let rx = SmtpReceiver::start(inbox.path(), &ReceiverOptions::default());
    let dir = tempfile::tempdir().unwrap();
    // The default digest (15 minutes): only urgent and break-glass alerts are mailed now.
    let hub = open(&[mail_sink("mail", rx.port(), json!({}))], dir.path());
    let high = alert(1, Severity::High);
    let mut glass = alert(2, Severity::Low);
    glass.break_glass = true;
    let low = alert(3, Severity::Low);
    for a in [&high, &glass, &low] {
        assert_eq!(hub.submit(a, a.last_seen).queued, 1, "one lane each");
    }
    assert!(
        eventually(15, || rx.count() == 2).await,
        "{:?} {}",
        hub.status(),
        rx.stderr()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let msgs = rx.messages();
    assert_eq!(msgs.len(), 2, "the low alert waits for the digest");

    let m = by_alert_id(&msgs, &high.id);
    assert_eq!(m.mail_from, "sw@example.com");
    assert_eq!(m.rcpt_tos, ["soc@example.com", "oncall@example.org"]);
    assert!(!m.tls);
    assert_eq!(m.auth_user, None);
    let h = &m.mail;
    assert_eq!(h.header("From"), Some("secretwatch <sw@example.com>"));
    assert_eq!(
        h.header("To"),
        Some("SOC <soc@example.com>, oncall@example.org")
    );
    assert_eq!(
        h.decoded("Subject").unwrap(),
        "[secretwatch] [HIGH] Bulk secret reads by system:serviceaccount:ci:deployer-1"
    );
    assert_eq!(
        h.header("Message-ID").unwrap(),
        format!("<{}.alert@example.com>", high.id)
    );
    let date: DateTime<Utc> = DateTime::parse_from_rfc2822(h.header("Date").unwrap())
        .unwrap()
        .into();
    assert!((Utc::now() - date).num_seconds().abs() < 60, "{date}");
    assert_eq!(h.header("X-Secretwatch-Severity"), Some("high"));
    assert_eq!(h.count(ALERT_ID), 1);
    let (text, html) = bodies(m);
    let link = format!("https://sw.example/alerts/{}", high.id);
    for want in [
        "HIGH alert: Bulk secret reads\n",
        "\nPrincipal:   system:serviceaccount:ci:deployer-1\n",
        "\nReason:\n  read 21 distinct secrets in 5 min; a=b | c\n  next\n",
        "\nTargets (1):\n  - prod/secrets/db\n",
        &format!("\nOpen in secretwatch: {link}\n"),
        &format!("\nAlert id: {}\n", high.id),
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    assert!(html.contains(&format!(
        "<a href=\"{link}\">Open this alert in secretwatch</a>"
    )));
    assert!(html.contains("<code>system:serviceaccount:ci:deployer-1</code>"));

    let g = by_alert_id(&msgs, &glass.id);
    assert_eq!(
        g.mail.decoded("Subject").unwrap(),
        "[secretwatch] [LOW, BREAK-GLASS] Bulk secret reads by system:serviceaccount:ci:deployer-2"
    );

    let now = lane(&hub, "mail");
    assert_eq!(
        (now.delivered, now.pending, now.state),
        (2, 0, "healthy"),
        "{now:?}"
    );
    assert_eq!(now.kind, "email");
    assert_eq!(
        now.endpoint,
        format!("smtp://127.0.0.1:{} (none)", rx.port())
    );
    let digest = lane(&hub, "mail-digest");
    assert_eq!((digest.queued, digest.pending, digest.delivered), (1, 1, 0));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn less_severe_alerts_arrive_as_one_digest() {
    let inbox = tempfile::tempdir().unwrap();
    let rx = SmtpReceiver::start(inbox.path(), &ReceiverOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let hub = open(
        &[mail_sink("mail", rx.port(), json!({ "digest_seconds": 1 }))],
        dir.path(),
    );
    let alerts = [
        alert(10, Severity::Low),
        alert(11, Severity::Medium),
        alert(12, Severity::Low),
        alert(13, Severity::Low),
    ];
    for a in &alerts {
        assert_eq!(hub.submit(a, a.last_seen).queued, 1);
    }
    assert!(
        eventually(15, || rx.count() >= 1).await,
        "{:?} {}",
        hub.status(),
        rx.stderr()
    );
    // Longer than the digest interval again: still the one mail.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let msgs = rx.messages();
    assert_eq!(msgs.len(), 1, "one digest for the four alerts");
    let m = &msgs[0];
    assert_eq!(
        m.mail.decoded("Subject").unwrap(),
        "[secretwatch] 4 alerts: 1 medium, 3 low"
    );
    assert_eq!(m.mail.count(ALERT_ID), 0);
    assert!(m
        .mail
        .header("Message-ID")
        .unwrap()
        .ends_with(".digest@example.com>"));
    assert_eq!(m.rcpt_tos, ["soc@example.com", "oncall@example.org"]);
    let (text, html) = bodies(m);
    assert!(text.starts_with("4 alerts (1 medium, 3 low), most severe first.\n"));
    assert!(text.contains(
        "\n1. [MEDIUM] Bulk secret reads\n   Principal: system:serviceaccount:ci:deployer-11\n"
    ));
    // Most severe first, then by time.
    let order = [&alerts[1], &alerts[0], &alerts[2], &alerts[3]];
    let rows: Vec<usize> = order
        .iter()
        .map(|a| {
            html.find(&format!("<tr data-alert-id=\"{}\">", a.id))
                .unwrap_or_else(|| panic!("row of {} in\n{html}", a.id))
        })
        .collect();
    assert!(rows.windows(2).all(|w| w[0] < w[1]), "{rows:?}");
    for a in &alerts {
        assert!(text.contains(&format!("   Alert id:  {}\n", a.id)));
        assert!(html.contains(&format!("https://sw.example/alerts/{}", a.id)));
    }
    let d = lane(&hub, "mail-digest");
    assert_eq!(
        (d.delivered, d.pending, d.state),
        (4, 0, "healthy"),
        "{d:?}"
    );
    assert_eq!(lane(&hub, "mail").queued, 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_implicit_tls_with_auth_through_a_private_ca() {
    let certs = tempfile::tempdir().unwrap();
    let ca = test_ca(certs.path());
    let auth = Some(("secretwatch".to_string(), "s3cret-smtp-pw".to_string()));
    let tls = Some((ca.cert.clone(), ca.key.clone()));
    let (in1, in2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let starttls = SmtpReceiver::start(
        in1.path(),
        &ReceiverOptions {
            tls: tls.clone(),
            require_starttls: true,
            auth: auth.clone(),
            ..ReceiverOptions::default()
        },
    );
    let implicit = SmtpReceiver::start(
        in2.path(),
        &ReceiverOptions {
            tls,
            implicit_tls: true,
            auth,
            ..ReceiverOptions::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("smtp-password");
    std::fs::write(&pw_file, "s3cret-smtp-pw\n").unwrap();
    let creds = |tls: &str| {
        json!({ "tls": tls, "username": "secretwatch", "password": { "file": pw_file },
                "ca_file": ca.ca_pem })
    };
    let sinks = [
        mail_sink("via-starttls", starttls.port(), creds("starttls")),
        mail_sink("via-tls", implicit.port(), creds("tls")),
        // The same relay without our CA: its certificate is not trusted.
        mail_sink(
            "untrusted",
            starttls.port(),
            json!({ "tls": "starttls", "username": "secretwatch", "password": { "file": pw_file } }),
        ),
    ];
    let hub = open(&sinks, dir.path());
    let a = alert(20, Severity::Critical);
    assert_eq!(hub.submit(&a, a.last_seen).queued, 3);
    assert!(
        eventually(15, || starttls.count() == 1 && implicit.count() == 1).await,
        "{:?}\n{}\n{}",
        hub.status(),
        starttls.stderr(),
        implicit.stderr()
    );
    for rx in [&starttls, &implicit] {
        let msgs = rx.messages();
        let m = by_alert_id(&msgs, &a.id);
        assert!(m.tls, "the mail went over TLS");
        assert_eq!(m.auth_user.as_deref(), Some("secretwatch"));
        assert_eq!(
            m.mail.decoded("Subject").unwrap(),
            "[secretwatch] [CRITICAL] Bulk secret reads by system:serviceaccount:ci:deployer-20"
        );
    }
    assert_eq!(
        lane(&hub, "via-starttls").endpoint,
        format!("smtp://127.0.0.1:{} (starttls)", starttls.port())
    );
    assert_eq!(lane(&hub, "via-tls").delivered, 1);
    assert!(
        eventually(10, || lane(&hub, "untrusted").failed_attempts >= 2).await,
        "{:?}",
        hub.status()
    );
    let u = lane(&hub, "untrusted");
    assert_eq!(
        (u.delivered, u.pending, u.state),
        (0, 1, "retrying"),
        "{u:?}"
    );
    let err = u.last_error.unwrap();
    assert!(err.contains("certificate"), "{err}");
    // Only the two trusted sinks delivered: one mail each.
    assert_eq!(starttls.count(), 1);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_blocks_the_lane_and_keeps_the_alert() {
    let certs = tempfile::tempdir().unwrap();
    let ca = test_ca(certs.path());
    let inbox = tempfile::tempdir().unwrap();
    let rx = SmtpReceiver::start(
        inbox.path(),
        &ReceiverOptions {
            tls: Some((ca.cert.clone(), ca.key.clone())),
            auth: Some(("secretwatch".into(), "right-password".into())),
            ..ReceiverOptions::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = |password: &str| {
        mail_sink(
            "mail",
            rx.port(),
            json!({ "tls": "starttls", "username": "secretwatch", "password": password,
                    "ca_file": ca.ca_pem }),
        )
    };
    let a = alert(30, Severity::High);
    {
        let hub = open(&[cfg("wrong-password-4711")], dir.path());
        assert_eq!(hub.submit(&a, a.last_seen).queued, 1);
        assert!(
            eventually(10, || lane(&hub, "mail").state == "blocked").await,
            "{:?}",
            hub.status()
        );
        let st = lane(&hub, "mail");
        assert_eq!(
            (st.pending, st.dead_lettered, st.delivered),
            (1, 0, 0),
            "{st:?}"
        );
        let err = st.last_error.as_deref().unwrap();
        assert!(err.contains("SMTP 535 5.7.8"), "{err}");
        assert!(err.contains("output.password"), "says what to check: {err}");
        let shown = format!("{:?}", hub.status());
        assert!(!shown.contains("wrong-password-4711"), "{shown}");
        assert_eq!(rx.count(), 0);
        hub.stop().await;
    }
    // Fixed and restarted: the kept alert is delivered, once.
    let hub = open(&[cfg("right-password")], dir.path());
    assert_eq!(
        hub.drain(Duration::from_secs(15)).await,
        0,
        "{:?}",
        hub.status()
    );
    let msgs = rx.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].mail.header(ALERT_ID), Some(a.id.as_str()));
    assert_eq!(msgs[0].auth_user.as_deref(), Some("secretwatch"));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_down_then_up_gets_every_alert_exactly_once() {
    let addr = free_addr().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = open(&[mail_sink("mail", addr.port(), json!({}))], dir.path());
    let alerts: Vec<_> = (40..52).map(|i| alert(i, Severity::High)).collect();
    for a in &alerts {
        assert_eq!(hub.submit(a, a.last_seen).queued, 1);
    }
    for a in &alerts[..3] {
        assert_eq!(hub.submit(a, a.last_seen).duplicates, 1);
    }
    assert!(
        eventually(10, || lane(&hub, "mail").failed_attempts >= 2).await,
        "{:?}",
        hub.status()
    );
    let st = lane(&hub, "mail");
    assert_eq!((st.state, st.pending), ("retrying", 12), "{st:?}");
    assert!(
        st.last_error.as_deref().unwrap().starts_with("SMTP: "),
        "{st:?}"
    );

    let inbox = tempfile::tempdir().unwrap();
    let rx = SmtpReceiver::start(
        inbox.path(),
        &ReceiverOptions {
            port: addr.port(),
            ..ReceiverOptions::default()
        },
    );
    assert_eq!(
        hub.drain(Duration::from_secs(30)).await,
        0,
        "{:?}",
        hub.status()
    );
    let mut ids: Vec<String> = rx
        .messages()
        .iter()
        .map(|m| m.mail.header(ALERT_ID).unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 12, "{ids:?}");
    ids.sort();
    ids.dedup();
    let mut want: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    want.sort();
    assert_eq!(ids, want, "every alert once");
    let st = lane(&hub, "mail");
    assert_eq!((st.delivered, st.state), (12, "healthy"));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_recipient_is_dead_lettered_with_the_smtp_answer() {
    let inbox = tempfile::tempdir().unwrap();
    let rx = SmtpReceiver::start(
        inbox.path(),
        &ReceiverOptions {
            rcpt_reply: Some(
                "550 5.1.1 <soc@example.com>: Recipient address rejected: User unknown".into(),
            ),
            ..ReceiverOptions::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let hub = open(
        &[mail_sink("mail", rx.port(), json!({ "digest_seconds": 1 }))],
        dir.path(),
    );
    let high = alert(60, Severity::High);
    let lows = [alert(61, Severity::Low), alert(62, Severity::Medium)];
    for a in std::iter::once(&high).chain(&lows) {
        assert_eq!(hub.submit(a, a.last_seen).queued, 1);
    }
    assert_eq!(
        hub.drain(Duration::from_secs(20)).await,
        0,
        "{:?}",
        hub.status()
    );
    assert_eq!(rx.count(), 0);

    let now = lane(&hub, "mail");
    assert_eq!(
        (now.dead_lettered, now.delivered, now.state),
        (1, 0, "healthy")
    );
    let dl = dead_letters(dir.path(), "mail");
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0]["status"], 422);
    assert_eq!(
        dl[0]["response"],
        "SMTP 550 5.1.1 <soc@example.com>: Recipient address rejected: User unknown"
    );
    assert_eq!(dl[0]["item"]["alert"]["id"], high.id.as_str());

    // The refused digest is split to find the refused alert: here every one of them.
    let digest = lane(&hub, "mail-digest");
    assert_eq!(
        (digest.dead_lettered, digest.delivered),
        (2, 0),
        "{digest:?}"
    );
    let mut ids: Vec<String> = dead_letters(dir.path(), "mail-digest")
        .iter()
        .map(|r| {
            assert!(r["response"]
                .as_str()
                .unwrap()
                .starts_with("SMTP 550 5.1.1"));
            r["item"]["alert"]["id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    let mut want: Vec<String> = lows.iter().map(|a| a.id.clone()).collect();
    want.sort();
    assert_eq!(ids, want);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_refusal_is_retried_until_the_relay_takes_it() {
    let inbox = tempfile::tempdir().unwrap();
    let busy = SmtpReceiver::start(
        inbox.path(),
        &ReceiverOptions {
            rcpt_reply: Some("451 4.7.1 Greylisted, try again later".into()),
            ..ReceiverOptions::default()
        },
    );
    let port = busy.port();
    let dir = tempfile::tempdir().unwrap();
    let hub = open(&[mail_sink("mail", port, json!({}))], dir.path());
    let a = alert(70, Severity::Critical);
    hub.submit(&a, a.last_seen);
    assert!(
        eventually(10, || lane(&hub, "mail").failed_attempts >= 2).await,
        "{:?}",
        hub.status()
    );
    let st = lane(&hub, "mail");
    assert_eq!(
        (st.state, st.pending, st.dead_lettered),
        ("retrying", 1, 0),
        "{st:?}"
    );
    assert!(
        st.last_error
            .as_deref()
            .unwrap()
            .contains("SMTP 451 4.7.1 Greylisted"),
        "{st:?}"
    );
    assert_eq!(busy.count(), 0);
    busy.stop();

    let rx = SmtpReceiver::start(
        inbox.path(),
        &ReceiverOptions {
            port,
            ..ReceiverOptions::default()
        },
    );
    assert_eq!(
        hub.drain(Duration::from_secs(20)).await,
        0,
        "{:?}",
        hub.status()
    );
    let msgs = rx.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].mail.header(ALERT_ID), Some(a.id.as_str()));
    assert_eq!(lane(&hub, "mail").state, "healthy");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mails_of_alerts_on_canary_events_carry_no_secret_value() {
    use support::events::{assert_no_canary, canary_events};
    let inbox = tempfile::tempdir().unwrap();
    let rx = SmtpReceiver::start(inbox.path(), &ReceiverOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let hub = open(&[mail_sink("mail", rx.port(), json!({}))], dir.path());
    // Alerts built from events parsed out of records that carried secret values.
    let events = canary_events(6);
    for (i, ev) in events.iter().enumerate() {
        let a = secretwatch_detect::Alert::from_event(
            "bulk-secret-reads",
            Severity::High,
            "Bulk secret reads",
            &format!("canary-{i}"),
            ev.time,
            ev,
            format!(
                "read {} via {:?}",
                secretwatch_detect::alert::target_label(ev),
                ev.request_uri
            ),
            &["attack.credential-access"],
        );
        hub.submit(&a, a.last_seen);
    }
    assert!(
        eventually(15, || rx.count() == events.len()).await,
        "{:?} {}",
        hub.status(),
        rx.stderr()
    );
    for m in rx.messages() {
        // Raw (headers, possibly encoded bodies) and decoded (both parts, subject).
        assert_no_canary("mail", &m.raw);
        let (text, html) = bodies(&m);
        assert!(text.contains("Bulk secret reads"), "{text}");
        assert_no_canary("mail text", text.as_bytes());
        assert_no_canary("mail html", html.as_bytes());
        assert_no_canary(
            "subject",
            m.mail.decoded("Subject").unwrap_or_default().as_bytes(),
        );
    }
    hub.stop().await;
}
