//! Scheduled reports in the service: at each cron time, the report of the period that ends
//! then, written to `data/reports/` and mailed through an e-mail sink's relay.
//!
//! A run missed while the service was down (the last one recorded in
//! `data/reports/.<name>.last` is older than the latest scheduled time) is made at start, once,
//! for that latest time. A mail that fails is tried 3 times (after 10 s and 60 s); the files
//! stay on disk either way and the failure is logged and counted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use secretwatch_alerting::email::{report_mail, Attachment, SmtpClient};
use secretwatch_alerting::queue::TransportResult;
use secretwatch_alerting::SinkKind;
use tracing::{error, info, warn};

use super::{cron::Cron, gather, render, Format, Inputs, Period, ScheduleConfig};
use crate::config::Config;
use crate::serve::sql::{EventStore, Limits};
use crate::serve::store::Store;

/// Outcomes, for `/metrics`.
#[derive(Default)]
pub struct ReportCounters {
    pub written: AtomicU64,
    pub failed: AtomicU64,
    pub mailed: AtomicU64,
    pub mail_failed: AtomicU64,
}

/// What every scheduled run reads.
#[derive(Clone)]
pub struct ScheduleContext {
    pub config: Arc<Config>,
    pub events: Arc<EventStore>,
    pub store: Arc<Store>,
    pub data: PathBuf,
    pub limits: Limits,
    pub counters: Arc<ReportCounters>,
}

/// One report of `[from, to)` as of `now`, from the service's stores.
pub async fn build(
    ctx: &ScheduleContext,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<super::Report> {
    let (alerts, triage) = ctx.store.snapshot();
    gather(
        Inputs {
            events: &ctx.events,
            alerts,
            triage,
            detect: &ctx.config.detect,
            report: &ctx.config.report,
            limits: ctx.limits,
            now,
        },
        from,
        to,
    )
    .await
}

/// The e-mail client of a schedule, if it mails.
fn mailer(config: &Config, s: &ScheduleConfig) -> Result<Option<SmtpClient>> {
    let Some(name) = &s.email_sink else {
        return Ok(None);
    };
    let sink = config
        .alerting
        .sinks
        .iter()
        .find(|k| &k.name == name)
        .ok_or_else(|| anyhow!("report.schedules: no sink named {name:?}"))?;
    let SinkKind::Email(mail) = &sink.output else {
        return Err(anyhow!(
            "report.schedules: sink {name:?} is not an e-mail sink"
        ));
    };
    let password = mail
        .password
        .as_ref()
        .map(|p| p.load())
        .transpose()
        .map_err(|e| anyhow!("alerting.sinks {name:?} password: {e}"))?;
    let client = SmtpClient::new(mail, password, std::time::Duration::from_secs(30))
        .map_err(|e| anyhow!("alerting.sinks {name:?}: {e}"))?;
    Ok(Some(
        client
            .with_recipients(&s.email_to)
            .map_err(|e| anyhow!("report email_to: {e}"))?,
    ))
}

fn last_path(data: &Path, name: &str) -> PathBuf {
    data.join("reports").join(format!(".{name}.last"))
}

/// Write `body` to `dir/file` through a temporary name.
fn write_file(dir: &Path, file: &str, body: &[u8]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, body).with_context(|| format!("writing {}", tmp.display()))?;
    let path = dir.join(file);
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(path)
}

/// The plain-text body of a report mail.
fn mail_text(r: &super::Report, files: &[String]) -> String {
    let s = &r.summary;
    format!(
        "{title}\nPeriod {from} to {to} (UTC).\n\n\
         Secret accesses: {acc} by {who} identities ({humans} people), {denied} denied\n\
         Alerts: {alerts} ({open} not triaged)\n\
         Break-glass sessions: {bg}\n\
         Human reads of production secrets: {hpr}\n\
         Unexpected cross-namespace listers: {bl}\n\
         Dormant identities: {dorm}\n\
         Secrets past rotation age: {rot}\n\
         Rotation sync gaps: {sync}\n\
         Gaps in the audit trail: {gaps}\n\n\
         Attached: {files}\n",
        title = r.title,
        from = r.from.format("%Y-%m-%d %H:%M"),
        to = r.to.format("%Y-%m-%d %H:%M"),
        acc = s.secret_accesses,
        who = s.principals,
        humans = s.humans,
        denied = s.denied,
        alerts = s.alerts,
        open = s.alerts_open,
        bg = s.break_glass_sessions,
        hpr = s.human_production_reads,
        bl = s.broad_listers,
        dorm = s.dormant_identities,
        rot = s.rotation_overdue,
        sync = s.sync_gaps,
        gaps = s.coverage_gaps,
        files = files.join(", "),
    )
}

/// One scheduled run for the period ending at `at`: files written, mail sent.
pub async fn run_once(
    ctx: &ScheduleContext,
    s: &ScheduleConfig,
    at: DateTime<Utc>,
) -> Result<Vec<PathBuf>> {
    let tz: chrono_tz::Tz = s.timezone.parse().map_err(|_| anyhow!("bad timezone"))?;
    let period = Period::parse(&s.period).map_err(|e| anyhow!(e))?;
    let (from, to) = period.range(at, tz);
    let report = build(ctx, from, to, Utc::now()).await?;
    let dir = ctx.data.join("reports");
    let stem = format!("{}-{}", s.name, to.format("%Y%m%dT%H%M%SZ"));
    let mut paths = Vec::new();
    let mut attachments = Vec::new();
    for f in &s.formats {
        let format: Format = f.parse().map_err(|e: String| anyhow!(e))?;
        let body = render(&report, &ctx.config.report, format);
        let file = format!("{stem}.{}", format.extension());
        paths.push(write_file(&dir, &file, body.as_bytes())?);
        attachments.push(Attachment {
            filename: file,
            content_type: format.content_type().into(),
            body: body.into_bytes(),
        });
    }
    ctx.counters.written.fetch_add(1, Ordering::Relaxed);
    info!(schedule = %s.name, from = %from, to = %to, files = paths.len(), "Report written.");
    std::fs::write(last_path(&ctx.data, &s.name), at.to_rfc3339())
        .with_context(|| "recording the last run")?;
    if let Some(client) = mailer(&ctx.config, s)? {
        let names: Vec<String> = attachments.iter().map(|a| a.filename.clone()).collect();
        let subject = format!(
            "{}: {} to {}",
            ctx.config.report.title,
            from.format("%Y-%m-%d %H:%M"),
            to.format("%Y-%m-%d %H:%M UTC")
        );
        let mail = report_mail(
            client.addressing(),
            &subject,
            mail_text(&report, &names),
            &attachments,
            &s.name,
            to,
            Utc::now(),
        )?;
        let mut waits = [10u64, 60].into_iter();
        loop {
            match client.send_now(mail.clone()).await {
                TransportResult::Delivered => {
                    ctx.counters.mailed.fetch_add(1, Ordering::Relaxed);
                    info!(schedule = %s.name, "Report mailed.");
                    break;
                }
                other => match waits.next() {
                    Some(w) => {
                        warn!(schedule = %s.name, answer = ?other, retry_in_s = w, "Report mail not delivered; trying again.");
                        tokio::time::sleep(std::time::Duration::from_secs(w)).await;
                    }
                    None => {
                        ctx.counters.mail_failed.fetch_add(1, Ordering::Relaxed);
                        error!(schedule = %s.name, answer = ?other, "Report mail failed; the report stays in data/reports.");
                        break;
                    }
                },
            }
        }
    }
    Ok(paths)
}

/// Run every schedule until the runtime stops.
pub fn spawn(ctx: ScheduleContext, rt: &tokio::runtime::Handle) {
    for s in ctx.config.report.schedules.clone() {
        let ctx = ctx.clone();
        rt.spawn(async move {
            let (Ok(cron), Ok(tz)) = (Cron::parse(&s.cron), s.timezone.parse::<chrono_tz::Tz>()) else {
                error!(schedule = %s.name, "Schedule not started: bad cron or timezone (config check reports which).");
                return;
            };
            // Catch up the latest run missed while the service was down.
            let last = std::fs::read_to_string(last_path(&ctx.data, &s.name))
                .ok()
                .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
                .map(|t| t.with_timezone(&Utc));
            let mut after = Utc::now();
            if let Some(last) = last {
                let mut missed = None;
                let mut t = last;
                while let Some(n) = cron.next_after(t, &tz) {
                    if n > after {
                        break;
                    }
                    missed = Some(n);
                    t = n;
                }
                if let Some(m) = missed {
                    info!(schedule = %s.name, at = %m, "Making the report missed while the service was down.");
                    if let Err(e) = run_once(&ctx, &s, m).await {
                        ctx.counters.failed.fetch_add(1, Ordering::Relaxed);
                        error!(schedule = %s.name, error = %format!("{e:#}"), "Report failed.");
                    }
                }
            }
            info!(schedule = %s.name, cron = %s.cron, timezone = %s.timezone, "Report schedule started.");
            loop {
                let Some(next) = cron.next_after(after, &tz) else {
                    warn!(schedule = %s.name, "The cron expression never matches again; schedule stopped.");
                    return;
                };
                let wait = (next - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                if let Err(e) = run_once(&ctx, &s, next).await {
                    ctx.counters.failed.fetch_add(1, Ordering::Relaxed);
                    error!(schedule = %s.name, error = %format!("{e:#}"), "Report failed.");
                }
                after = next;
            }
        });
    }
}
