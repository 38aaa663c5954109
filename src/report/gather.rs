//! A report's contents: SQL over the event store, and the alerts with their triage history.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::{anyhow, Result};
use chrono::{DateTime, Duration, NaiveDateTime, SecondsFormat, Utc};
use secretwatch_detect::{Alert, DetectConfig};
use serde_json::Value;

use super::*;
use crate::serve::sql::{to_json, EventStore, Limits};
use crate::serve::store::Triage;

/// What a report is made from.
pub struct Inputs<'a> {
    pub events: &'a EventStore,
    pub alerts: Vec<Alert>,
    /// Triage decisions per alert id, oldest first.
    pub triage: HashMap<String, Vec<Triage>>,
    pub detect: &'a DetectConfig,
    pub report: &'a ReportConfig,
    pub limits: Limits,
    /// The clock (the end of coverage checks when `to` is in the future).
    pub now: DateTime<Utc>,
}

/// A time as a SQL literal compared with `time` (a UTC timestamp column).
fn ts(t: DateTime<Utc>) -> String {
    format!("'{}'", t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// A string as a SQL literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_i64().map(|i| i.max(0) as u64))
        .unwrap_or(0)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

fn opt_s(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(x) if x.is_empty() => None,
        v => Some(text(v)),
    }
}

/// A timestamp as Arrow's JSON writer writes it.
fn t(v: &Value) -> Option<DateTime<Utc>> {
    let text = v.as_str()?;
    text.parse::<DateTime<Utc>>().ok().or_else(|| {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|n| n.and_utc())
    })
}

fn state_of(triage: &HashMap<String, Vec<Triage>>, id: &str) -> String {
    triage
        .get(id)
        .and_then(|h| h.last())
        .map(|t| t.state.clone())
        .unwrap_or_else(|| "new".into())
}

struct Sql<'a> {
    events: &'a EventStore,
    limits: Limits,
}

impl Sql<'_> {
    async fn rows(&self, sql: &str) -> Result<Vec<Vec<Value>>> {
        let (schema, batches, truncated) = self
            .events
            .query(sql, &[], &[], &[], self.limits)
            .await
            .map_err(|e| anyhow!("report query failed: {e}\n{sql}"))?;
        if truncated {
            tracing::warn!(
                rows = self.limits.max_rows,
                "A report table was cut at the row limit."
            );
        }
        let mut v = to_json(&schema, &batches, truncated);
        match v["rows"].take() {
            Value::Array(rows) => Ok(rows
                .into_iter()
                .map(|r| match r {
                    Value::Array(cols) => cols,
                    _ => Vec::new(),
                })
                .collect()),
            _ => Ok(Vec::new()),
        }
    }
}

pub async fn gather(inp: Inputs<'_>, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Report> {
    if from >= to {
        return Err(anyhow!(
            "the period is empty: from {from} is not before to {to}"
        ));
    }
    let q = Sql {
        events: inp.events,
        limits: inp.limits,
    };
    let range = format!("time >= {} AND time < {}", ts(from), ts(to));
    let cfg = inp.report;

    // Summary of events.
    let r = q
        .rows(&format!(
            "SELECT count(*), \
               count(CASE WHEN is_secret THEN 1 END), \
               count(CASE WHEN is_secret AND outcome = 'denied' THEN 1 END), \
               count(DISTINCT CASE WHEN is_secret THEN principal END), \
               count(DISTINCT CASE WHEN is_secret AND principal_kind = 'human' THEN principal END), \
               count(DISTINCT CASE WHEN is_secret AND principal_kind = 'service_account' THEN principal END), \
               count(DISTINCT CASE WHEN is_secret AND action <> 'list' THEN source || ':' || target END) \
             FROM events WHERE {range}"
        ))
        .await?;
    let row = r.first().cloned().unwrap_or_default();
    let get = |i: usize| row.get(i).map(u).unwrap_or(0);
    let mut summary = Summary {
        events: get(0),
        secret_accesses: get(1),
        denied: get(2),
        principals: get(3),
        humans: get(4),
        service_accounts: get(5),
        secrets: get(6),
        ..Summary::default()
    };

    // Volume over time.
    let bucket = if to - from > Duration::days(3) {
        "day"
    } else {
        "hour"
    };
    let points = q
        .rows(&format!(
            "SELECT date_trunc('{bucket}', time), source, count(*), count(CASE WHEN is_secret THEN 1 END) \
             FROM events WHERE {range} GROUP BY 1, 2 ORDER BY 1, 2"
        ))
        .await?
        .into_iter()
        .filter_map(|r| {
            Some(VolumePoint {
                at: t(&r[0])?,
                source: text(&r[1]),
                events: u(&r[2]),
                secret_accesses: u(&r[3]),
            })
        })
        .collect();
    let volume = Volume { bucket, points };

    // Who accessed which secrets.
    let access_sql = |extra: &str| {
        format!(
            "SELECT environment, principal, principal_kind, source, target, \
               count(CASE WHEN action = 'read' THEN 1 END), \
               count(CASE WHEN action = 'list' THEN 1 END), \
               count(CASE WHEN action IN ('write', 'create', 'delete', 'rotate') THEN 1 END), \
               count(CASE WHEN outcome = 'denied' THEN 1 END), \
               min(time), max(time) \
             FROM events WHERE is_secret AND {range}{extra} \
             GROUP BY 1, 2, 3, 4, 5 \
             ORDER BY environment NULLS LAST, \
               CASE principal_kind WHEN 'human' THEN 0 WHEN 'token' THEN 1 WHEN 'service_account' THEN 2 ELSE 3 END, \
               principal, source, target"
        )
    };
    let access_rows = |rows: Vec<Vec<Value>>| -> Vec<AccessRow> {
        rows.into_iter()
            .filter_map(|r| {
                Some(AccessRow {
                    environment: opt_s(&r[0]),
                    principal: text(&r[1]),
                    principal_kind: text(&r[2]),
                    source: text(&r[3]),
                    secret: text(&r[4]),
                    reads: u(&r[5]),
                    lists: u(&r[6]),
                    changes: u(&r[7]),
                    denied: u(&r[8]),
                    first: t(&r[9])?,
                    last: t(&r[10])?,
                })
            })
            .collect()
    };
    let access = access_rows(q.rows(&access_sql("")).await?);

    // Human reads of production secrets.
    let production = inp.detect.context.production_environments.clone();
    let human_production_reads = if production.is_empty() {
        Vec::new()
    } else {
        let envs: Vec<String> = production.iter().map(|e| lit(e)).collect();
        access_rows(
            q.rows(&access_sql(&format!(
                " AND principal_kind = 'human' AND action IN ('read', 'list') AND environment IN ({})",
                envs.join(", ")
            )))
            .await?,
        )
    };
    summary.human_production_reads = human_production_reads.len() as u64;

    // Alerts raised in the period (by their last event, when a live stream raises them).
    let in_period: Vec<&Alert> = inp
        .alerts
        .iter()
        .filter(|a| a.last_seen >= from && a.last_seen < to)
        .collect();
    let alerts = alert_section(&in_period, &inp.triage);
    summary.alerts = alerts.total;
    summary.alerts_open = alerts.by_state.get("new").copied().unwrap_or(0);

    // Break-glass sessions.
    let break_glass = sessions(&q, &inp, from, to).await?;
    summary.break_glass_sessions = break_glass.len() as u64;

    // Identities that listed secrets across namespaces.
    let expected: HashSet<&str> = inp
        .detect
        .context
        .multi_namespace_readers
        .iter()
        .chain(inp.detect.known_controllers.iter())
        .map(String::as_str)
        .collect();
    let broad_listers: Vec<BroadRow> = q
        .rows(&format!(
            "SELECT principal, principal_kind, count(*), count(DISTINCT namespace), \
               count(CASE WHEN namespace IS NULL THEN 1 END), min(time), max(time) \
             FROM events WHERE source = 'kubernetes' AND is_secret AND action = 'list' AND {range} \
             GROUP BY 1, 2 \
             HAVING count(DISTINCT namespace) > 1 OR count(CASE WHEN namespace IS NULL THEN 1 END) > 0 \
             ORDER BY 5 DESC, 4 DESC, 1"
        ))
        .await?
        .into_iter()
        .filter_map(|r| {
            let principal = text(&r[0]);
            Some(BroadRow {
                expected: expected.contains(principal.as_str()),
                principal,
                principal_kind: text(&r[1]),
                lists: u(&r[2]),
                namespaces: u(&r[3]),
                cluster_wide: u(&r[4]),
                first: t(&r[5])?,
                last: t(&r[6])?,
            })
        })
        .collect();
    summary.broad_listers = broad_listers.iter().filter(|b| !b.expected).count() as u64;

    // Dormant identities.
    let dormant: Vec<DormantRow> = q
        .rows(&format!(
            "WITH before AS ( \
               SELECT principal, principal_kind, source, count(*) AS n, max(time) AS last_access \
               FROM events WHERE is_secret AND time < {from_t} GROUP BY 1, 2, 3), \
             during AS (SELECT DISTINCT principal, source FROM events WHERE {range}) \
             SELECT b.principal, b.principal_kind, b.source, b.n, b.last_access \
             FROM before b LEFT JOIN during d ON b.principal = d.principal AND b.source = d.source \
             WHERE d.principal IS NULL ORDER BY b.last_access, b.principal",
            from_t = ts(from)
        ))
        .await?
        .into_iter()
        .filter_map(|r| {
            let last_access = t(&r[4])?;
            let days = (to - last_access).num_days();
            Some(DormantRow {
                principal: text(&r[0]),
                principal_kind: text(&r[1]),
                source: text(&r[2]),
                accesses_before: u(&r[3]),
                last_access,
                days_inactive: days,
                inactive: days >= i64::from(cfg.inactive_days),
            })
        })
        .collect();
    summary.dormant_identities = dormant.len() as u64;

    // The store's first event: how far back "no rotation on record" reaches.
    let store_begins = q
        .rows("SELECT min(time) FROM events")
        .await?
        .first()
        .and_then(|r| r.first().and_then(t));

    // Rotation age of the secrets read in the period.
    let mut rotation: Vec<RotationRow> = q
        .rows(&format!(
            "WITH reads AS ( \
               SELECT source, target, count(*) AS n, max(time) AS last_read FROM events \
               WHERE is_secret AND action = 'read' AND outcome = 'allowed' AND {range} GROUP BY 1, 2), \
             changes AS ( \
               SELECT source, target, max(time) AS last_change FROM events \
               WHERE is_secret AND action IN ('write', 'create', 'rotate') AND outcome = 'allowed' \
                 AND time < {to_t} GROUP BY 1, 2) \
             SELECT r.source, r.target, r.n, r.last_read, c.last_change \
             FROM reads r LEFT JOIN changes c ON r.source = c.source AND r.target = c.target \
             ORDER BY r.source, r.target",
            to_t = ts(to)
        ))
        .await?
        .into_iter()
        .filter_map(|r| {
            let secret = text(&r[1]);
            let policy_days = cfg.rotation_age(&secret);
            let last_change = t(&r[4]);
            let age_days = last_change.map(|c| (to - c).num_days());
            let history_days = store_begins.map(|b| (to - b).num_days()).unwrap_or(0);
            let status = match age_days {
                _ if is_dynamic(&text(&r[0]), &secret) => "dynamic",
                Some(a) if a > i64::from(policy_days) => "overdue",
                Some(_) => "ok",
                None if history_days > i64::from(policy_days) => "no change on record",
                None => "unknown",
            };
            Some(RotationRow {
                source: text(&r[0]),
                secret,
                reads: u(&r[2]),
                last_read: t(&r[3])?,
                last_change,
                age_days,
                policy_days,
                status,
            })
        })
        .collect();
    let rank = |s: &str| match s {
        "overdue" => 0,
        "no change on record" => 1,
        "unknown" => 2,
        "ok" => 3,
        _ => 4,
    };
    rotation.sort_by(|a, b| {
        rank(a.status)
            .cmp(&rank(b.status))
            .then(b.age_days.cmp(&a.age_days))
            .then(a.secret.cmp(&b.secret))
    });
    summary.rotation_overdue = rotation
        .iter()
        .filter(|r| matches!(r.status, "overdue" | "no change on record"))
        .count() as u64;

    let sync = sync_rows(&q, &inp, &in_period, from, to).await?;
    summary.sync_gaps = sync
        .iter()
        .filter(|r| r.status != "in sync" && r.status != "no vault change on record")
        .count() as u64;

    let coverage = coverage_rows(&q, cfg, &range, from, to.min(inp.now)).await?;
    summary.coverage_gaps = coverage.iter().map(|c| c.gaps.len() as u64).sum();

    Ok(Report {
        title: cfg.title.clone(),
        generated_at: inp.now,
        from,
        to,
        summary,
        volume,
        access,
        production_environments: production,
        human_production_reads,
        break_glass,
        alerts,
        broad_listers,
        dormant,
        rotation,
        sync,
        coverage,
        store_begins,
    })
}

/// Credentials made per request (Vault dynamic secrets engines, Kubernetes token requests):
/// nothing to rotate.
fn is_dynamic(source: &str, target: &str) -> bool {
    match source {
        "vault" => target
            .split('/')
            .any(|seg| matches!(seg, "creds" | "sts" | "issue" | "sign")),
        "kubernetes" => target.contains("/serviceaccounts/token"),
        _ => false,
    }
}

fn alert_section(alerts: &[&Alert], triage: &HashMap<String, Vec<Triage>>) -> AlertSection {
    let mut out = AlertSection {
        total: alerts.len() as u64,
        ..AlertSection::default()
    };
    let mut groups: BTreeMap<(String, String), (RuleRow, Vec<i64>)> = BTreeMap::new();
    for a in alerts {
        let sev = a.severity.as_str().to_string();
        *out.by_severity.entry(sev.clone()).or_default() += 1;
        let state = state_of(triage, &a.id);
        *out.by_state.entry(state.clone()).or_default() += 1;
        let (row, acks) = groups
            .entry((a.rule.clone(), sev.clone()))
            .or_insert_with(|| {
                (
                    RuleRow {
                        rule: a.rule.clone(),
                        severity: sev,
                        alerts: 0,
                        new: 0,
                        acknowledged: 0,
                        resolved: 0,
                        false_positive: 0,
                        median_ack_seconds: None,
                        max_ack_seconds: None,
                    },
                    Vec::new(),
                )
            });
        row.alerts += 1;
        match state.as_str() {
            "acknowledged" => row.acknowledged += 1,
            "resolved" => row.resolved += 1,
            "false_positive" => row.false_positive += 1,
            _ => row.new += 1,
        }
        if let Some(first) = triage
            .get(&a.id)
            .and_then(|h| h.iter().find(|t| t.state != "new"))
        {
            acks.push((first.at - a.last_seen).num_seconds().max(0));
        }
    }
    for (_, (mut row, mut acks)) in groups {
        acks.sort_unstable();
        row.median_ack_seconds = acks.get(acks.len() / 2).copied();
        row.max_ack_seconds = acks.last().copied();
        out.rules.push(row);
    }
    let sev_rank = |s: &str| match s {
        "critical" => 0,
        "high" => 1,
        "medium" => 2,
        "low" => 3,
        _ => 4,
    };
    out.rules.sort_by(|a, b| {
        sev_rank(&a.severity)
            .cmp(&sev_rank(&b.severity))
            .then(b.alerts.cmp(&a.alerts))
            .then(a.rule.cmp(&b.rule))
    });
    out
}

/// Sessions from the break-glass alerts that touch the period: each `break-glass-session`
/// summary is one, with the `break-glass-use` alerts that opened it; a use alert without a
/// summary yet is a session still open.
async fn sessions(
    q: &Sql<'_>,
    inp: &Inputs<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Session>> {
    use secretwatch_detect::builtin::{BREAK_GLASS as RULE, BREAK_GLASS_SESSION as SESSION_RULE};
    let touching = |a: &&Alert| a.break_glass && a.last_seen >= from && a.first_seen < to;
    let summaries: Vec<&Alert> = inp
        .alerts
        .iter()
        .filter(touching)
        .filter(|a| a.rule == SESSION_RULE)
        .collect();
    let uses: Vec<&Alert> = inp
        .alerts
        .iter()
        .filter(touching)
        .filter(|a| a.rule != SESSION_RULE)
        .collect();
    let mut out: Vec<(Session, Vec<&Alert>)> = Vec::new();
    for s in &summaries {
        out.push((
            Session {
                principal: s.principal.clone(),
                source: s.source.as_str().into(),
                start: s.first_seen,
                end: s.last_seen,
                closed: true,
                why: s.reason.clone(),
                alerts: Vec::new(),
                state: String::new(),
                triaged_by: None,
                note: None,
                events_total: 0,
                events: Vec::new(),
            },
            vec![*s],
        ));
    }
    for a in uses {
        let owner = out.iter_mut().find(|(s, _)| {
            s.closed
                && s.principal == a.principal
                && a.first_seen >= s.start
                && a.first_seen <= s.end
        });
        match owner {
            Some((_, alerts)) => alerts.push(a),
            None => match out
                .iter_mut()
                .find(|(s, _)| !s.closed && s.principal == a.principal)
            {
                Some((s, alerts)) => {
                    s.start = s.start.min(a.first_seen);
                    alerts.push(a);
                }
                None => out.push((
                    Session {
                        principal: a.principal.clone(),
                        source: a.source.as_str().into(),
                        start: a.first_seen,
                        end: to.min(inp.now),
                        closed: false,
                        why: if a.rule == RULE {
                            a.reason.clone()
                        } else {
                            format!("{}: {}", a.rule, a.reason)
                        },
                        alerts: Vec::new(),
                        state: String::new(),
                        triaged_by: None,
                        note: None,
                        events_total: 0,
                        events: Vec::new(),
                    },
                    vec![a],
                )),
            },
        }
    }
    let mut sessions = Vec::new();
    for (mut s, alerts) in out {
        let mut latest: Option<&Triage> = None;
        for a in &alerts {
            s.alerts.push(SessionAlert {
                id: a.id.clone(),
                rule: a.rule.clone(),
                state: state_of(&inp.triage, &a.id),
            });
            if let Some(t) = inp.triage.get(&a.id).and_then(|h| h.last()) {
                if latest.is_none_or(|l| t.at > l.at) {
                    latest = Some(t);
                }
            }
        }
        s.state = latest
            .map(|t| t.state.clone())
            .unwrap_or_else(|| "new".into());
        s.triaged_by = latest.map(|t| t.by.clone());
        s.note = latest.map(|t| t.note.clone()).filter(|n| !n.is_empty());
        let who = format!(
            "principal = {} AND source = {} AND time >= {} AND time <= {}",
            lit(&s.principal),
            lit(&s.source),
            ts(s.start),
            ts(s.end)
        );
        s.events_total = q
            .rows(&format!("SELECT count(*) FROM events WHERE {who}"))
            .await?
            .first()
            .and_then(|r| r.first().map(u))
            .unwrap_or(0);
        s.events = q
            .rows(&format!(
                "SELECT time, action, verb, target, outcome, source_ip, id FROM events WHERE {who} \
                 ORDER BY time LIMIT {}",
                inp.report.max_session_events
            ))
            .await?
            .into_iter()
            .filter_map(|r| {
                Some(SessionEvent {
                    id: text(&r[6]),
                    time: t(&r[0])?,
                    action: text(&r[1]),
                    verb: text(&r[2]),
                    target: text(&r[3]),
                    outcome: text(&r[4]),
                    source_ip: opt_s(&r[5]),
                })
            })
            .collect();
        sessions.push(s);
    }
    sessions.sort_by(|a, b| a.start.cmp(&b.start).then(a.principal.cmp(&b.principal)));
    Ok(sessions)
}

async fn sync_rows(
    q: &Sql<'_>,
    inp: &Inputs<'_>,
    alerts: &[&Alert],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<SyncRow>> {
    let maps = &inp.detect.context.sync;
    if maps.is_empty() {
        return Ok(Vec::new());
    }
    let k8s_label = |m: &secretwatch_detect::context::SyncMapping| {
        format!("{}/secrets/{}", m.namespace, m.secret)
    };
    let targets: Vec<String> = maps
        .iter()
        .flat_map(|m| [lit(&m.vault_path), lit(&k8s_label(m))])
        .collect();
    let latest: HashMap<(String, String), DateTime<Utc>> = q
        .rows(&format!(
            "SELECT source, target, max(time) FROM events \
             WHERE action IN ('write', 'create', 'rotate') AND outcome = 'allowed' AND time < {} \
               AND target IN ({}) GROUP BY 1, 2",
            ts(to),
            targets.join(", ")
        ))
        .await?
        .into_iter()
        .filter_map(|r| Some(((text(&r[0]), text(&r[1])), t(&r[2])?)))
        .collect();
    let _ = from;
    Ok(maps
        .iter()
        .map(|m| {
            let secret = k8s_label(m);
            let vault = latest.get(&("vault".into(), m.vault_path.clone())).copied();
            let synced = latest.get(&("kubernetes".into(), secret.clone())).copied();
            let sla = Duration::minutes(i64::from(m.sla_minutes));
            let (lag, status) = match (vault, synced) {
                (None, _) => (None, "no vault change on record"),
                (Some(v), Some(k)) if k >= v => (
                    Some((k - v).num_minutes()),
                    if k - v <= sla { "in sync" } else { "gap" },
                ),
                (Some(v), _) => {
                    let waited = to.min(inp.now) - v;
                    (
                        Some(waited.num_minutes()),
                        if waited <= sla {
                            "in sync"
                        } else if synced.is_none() {
                            "never synced"
                        } else {
                            "gap"
                        },
                    )
                }
            };
            let alerts = alerts
                .iter()
                .filter(|a| {
                    a.rule.starts_with("rotation-")
                        && a.targets.iter().any(|t| *t == m.vault_path || *t == secret)
                })
                .count() as u64;
            SyncRow {
                vault_path: m.vault_path.clone(),
                secret,
                last_vault_change: vault,
                last_sync: synced,
                sla_minutes: m.sla_minutes,
                lag_minutes: lag,
                status,
                alerts,
            }
        })
        .collect())
}

async fn coverage_rows(
    q: &Sql<'_>,
    cfg: &ReportConfig,
    range: &str,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<CoverageRow>> {
    // Every source the store has heard of, and those the config expects.
    let mut sources: BTreeMap<String, u32> = q
        .rows("SELECT DISTINCT source FROM events")
        .await?
        .into_iter()
        .map(|r| (text(&r[0]), cfg.max_silence_minutes))
        .collect();
    for (s, m) in &cfg.sources {
        sources.insert(s.clone(), *m);
    }
    let mut minutes: BTreeMap<String, Vec<(DateTime<Utc>, u64)>> = BTreeMap::new();
    for r in q
        .rows(&format!(
            "SELECT source, date_trunc('minute', time), count(*) FROM events WHERE {range} \
             GROUP BY 1, 2 ORDER BY 1, 2"
        ))
        .await?
    {
        if let Some(m) = t(&r[1]) {
            minutes.entry(text(&r[0])).or_default().push((m, u(&r[2])));
        }
    }
    let mut out = Vec::new();
    for (source, allowed) in sources {
        let seen = minutes.remove(&source).unwrap_or_default();
        let limit = Duration::minutes(i64::from(allowed));
        let mut gaps = Vec::new();
        // Silences between heard minutes, and at both ends of the period.
        let mut prev = from;
        for (m, _) in &seen {
            if *m - prev > limit {
                gaps.push(Gap {
                    from: prev,
                    to: *m,
                    minutes: (*m - prev).num_minutes(),
                });
            }
            prev = *m + Duration::minutes(1);
        }
        if until > prev && until - prev > limit {
            gaps.push(Gap {
                from: prev,
                to: until,
                minutes: (until - prev).num_minutes(),
            });
        }
        out.push(CoverageRow {
            events: seen.iter().map(|(_, n)| n).sum(),
            first: seen.first().map(|(m, _)| *m),
            last: seen.last().map(|(m, _)| *m),
            source,
            max_silence_minutes: allowed,
            gaps,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::store::EventRow;
    use secretwatch_detect::Severity;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        id: &str,
        time: &str,
        source: &'static str,
        principal: &str,
        kind: &'static str,
        action: &'static str,
        target: &str,
        ns: Option<&str>,
        env: Option<&str>,
    ) -> EventRow {
        EventRow {
            id: id.into(),
            time: at(time),
            source,
            principal: principal.into(),
            kind,
            action,
            verb: action.into(),
            outcome: "allowed",
            status: Some(200),
            target: target.into(),
            is_secret: true,
            source_ip: Some("10.0.0.1".into()),
            user_agent: None,
            namespace: ns.map(str::to_string),
            environment: env.map(str::to_string),
        }
    }

    fn alert(
        id: &str,
        rule: &str,
        sev: Severity,
        principal: &str,
        first: &str,
        last: &str,
        bg: bool,
    ) -> Alert {
        Alert {
            id: id.into(),
            rule: rule.into(),
            severity: sev,
            title: rule.into(),
            principal: principal.into(),
            source: secretwatch_ingest::SourceSystem::Kubernetes,
            event_ids: vec![],
            first_seen: at(first),
            last_seen: at(last),
            reason: format!("{rule} by {principal}"),
            targets: vec![],
            source_ips: vec![],
            tags: vec![],
            break_glass: bg,
        }
    }

    #[test]
    fn every_section_finds_what_was_planted() {
        let dir = tempfile::tempdir().unwrap();
        let events = EventStore::open(dir.path(), 0).unwrap();
        let k = "kubernetes";
        let v = "vault";
        events.append(&[
            // Before the period: a workload that never comes back, and the last change of a secret.
            row(
                "e1",
                "2026-01-01T08:00:00Z",
                k,
                "system:serviceaccount:old:bot",
                "service_account",
                "read",
                "prod/secrets/db",
                Some("prod"),
                Some("prod"),
            ),
            row(
                "e2",
                "2026-01-01T08:00:00Z",
                k,
                "system:serviceaccount:ops:rotator",
                "service_account",
                "write",
                "prod/secrets/db",
                Some("prod"),
                Some("prod"),
            ),
            row(
                "e3",
                "2026-06-01T00:00:00Z",
                v,
                "approle-app",
                "service_account",
                "write",
                "secret/data/prod/app",
                None,
                Some("prod"),
            ),
        ]);
        // Flushed to Parquet and the rest pending: both are read.
        events.flush().unwrap();
        events.append(&[
            row(
                "e4",
                "2026-06-10T10:00:00Z",
                k,
                "oidc:alice",
                "human",
                "read",
                "prod/secrets/db",
                Some("prod"),
                Some("prod"),
            ),
            row(
                "e5",
                "2026-06-10T10:05:00Z",
                k,
                "system:serviceaccount:ci:bot",
                "service_account",
                "list",
                "*/secrets",
                None,
                None,
            ),
            row(
                "e6",
                "2026-06-10T10:30:00Z",
                k,
                "break-glass-admin",
                "human",
                "read",
                "prod/secrets/db",
                Some("prod"),
                Some("prod"),
            ),
            row(
                "e7",
                "2026-06-10T10:31:00Z",
                k,
                "break-glass-admin",
                "human",
                "write",
                "prod/deployments/app",
                Some("prod"),
                Some("prod"),
            ),
            row(
                "e8",
                "2026-06-10T09:00:00Z",
                v,
                "approle-rotator",
                "service_account",
                "write",
                "secret/data/prod/sync",
                None,
                Some("prod"),
            ),
            row(
                "e9",
                "2026-06-10T12:00:00Z",
                v,
                "approle-app",
                "service_account",
                "read",
                "secret/data/prod/app",
                None,
                Some("prod"),
            ),
            row(
                "e10",
                "2026-06-10T12:00:30Z",
                v,
                "approle-app",
                "service_account",
                "read",
                "database/creds/app",
                None,
                None,
            ),
            row(
                "e11",
                "2026-06-10T23:30:00Z",
                k,
                "system:serviceaccount:dev:web",
                "service_account",
                "read",
                "dev/secrets/web",
                Some("dev"),
                Some("dev"),
            ),
        ]);
        let mut detect = DetectConfig::default();
        detect.context.sync = vec![secretwatch_detect::context::SyncMapping::new(
            "secret/data/prod/sync",
            "prod",
            "sync",
            "system:serviceaccount:external-secrets:external-secrets",
        )];
        let report = ReportConfig::default();
        let alerts = vec![
            alert(
                "a1",
                "bulk-secret-reads",
                Severity::High,
                "x",
                "2026-06-10T10:00:00Z",
                "2026-06-10T10:10:00Z",
                false,
            ),
            alert(
                "a2",
                "bulk-secret-reads",
                Severity::High,
                "y",
                "2026-06-10T11:00:00Z",
                "2026-06-10T11:00:00Z",
                false,
            ),
            alert(
                "a3",
                "break-glass-use",
                Severity::Critical,
                "break-glass-admin",
                "2026-06-10T10:30:00Z",
                "2026-06-10T10:30:00Z",
                true,
            ),
            // Outside the period.
            alert(
                "a4",
                "bulk-secret-reads",
                Severity::High,
                "z",
                "2026-06-12T10:00:00Z",
                "2026-06-12T10:00:00Z",
                false,
            ),
        ];
        let triage_at = |alert: &str, state: &str, t: &str| Triage {
            alert: alert.into(),
            state: state.into(),
            by: "sam".into(),
            note: "checked with the on-call".into(),
            at: at(t),
        };
        let triage = HashMap::from([
            (
                "a1".to_string(),
                vec![
                    triage_at("a1", "acknowledged", "2026-06-10T10:15:00Z"),
                    triage_at("a1", "resolved", "2026-06-10T12:00:00Z"),
                ],
            ),
            (
                "a3".to_string(),
                vec![triage_at("a3", "acknowledged", "2026-06-10T10:40:00Z")],
            ),
        ]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (from, to) = (at("2026-06-10T00:00:00Z"), at("2026-06-11T00:00:00Z"));
        let r = rt
            .block_on(gather(
                Inputs {
                    events: &events,
                    alerts,
                    triage,
                    detect: &detect,
                    report: &report,
                    limits: Limits {
                        time: std::time::Duration::from_secs(60),
                        memory_bytes: 256 << 20,
                        max_rows: 10_000,
                    },
                    now: at("2026-06-20T00:00:00Z"),
                },
                from,
                to,
            ))
            .unwrap();

        assert_eq!(r.summary.events, 8);
        assert_eq!(r.summary.humans, 2);
        assert_eq!(r.volume.bucket, "hour");
        assert_eq!(r.volume.points.iter().map(|p| p.events).sum::<u64>(), 8);
        // Human reads of production secrets: alice and the break-glass account, not the workloads.
        let humans: Vec<&str> = r
            .human_production_reads
            .iter()
            .map(|a| a.principal.as_str())
            .collect();
        assert_eq!(humans, ["break-glass-admin", "oidc:alice"]);
        // Alerts of the period only; time to triage from the last event to the first decision.
        assert_eq!(r.alerts.total, 3);
        let bulk = r
            .alerts
            .rules
            .iter()
            .find(|x| x.rule == "bulk-secret-reads")
            .unwrap();
        assert_eq!((bulk.alerts, bulk.resolved, bulk.new), (2, 1, 1));
        assert_eq!(bulk.max_ack_seconds, Some(300));
        assert_eq!(r.alerts.rules[0].rule, "break-glass-use", "critical first");
        // The break-glass session is still open (no summary yet), with its events and triage.
        assert_eq!(r.break_glass.len(), 1);
        let s = &r.break_glass[0];
        assert!(!s.closed);
        assert_eq!(
            (s.events_total, s.state.as_str(), s.triaged_by.as_deref()),
            (2, "acknowledged", Some("sam"))
        );
        assert_eq!(
            s.events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["e6", "e7"]
        );
        // The cluster-wide lister, not expected.
        assert_eq!(r.broad_listers.len(), 1);
        assert_eq!(
            (
                r.broad_listers[0].principal.as_str(),
                r.broad_listers[0].expected
            ),
            ("system:serviceaccount:ci:bot", false)
        );
        // Dormant: the old workload, inactive for more than 90 days; the rotator wrote, not read.
        let dormant: Vec<(&str, bool)> = r
            .dormant
            .iter()
            .map(|d| (d.principal.as_str(), d.inactive))
            .collect();
        assert_eq!(
            dormant,
            [
                ("system:serviceaccount:old:bot", true),
                ("system:serviceaccount:ops:rotator", true)
            ]
        );
        // Rotation: the secret last written in January is overdue; the one written 9 days ago is
        // fine; dynamic credentials are not judged.
        assert_eq!(r.store_begins, Some(at("2026-01-01T08:00:00Z")));
        let status = |secret: &str| {
            r.rotation
                .iter()
                .find(|x| x.secret == secret)
                .map(|x| x.status)
        };
        assert_eq!(status("prod/secrets/db"), Some("overdue"));
        assert_eq!(status("secret/data/prod/app"), Some("ok"));
        assert_eq!(status("database/creds/app"), Some("dynamic"));
        // Never written, and the store reaches back past the policy age: overdue too.
        assert_eq!(status("dev/secrets/web"), Some("no change on record"));
        assert_eq!(r.summary.rotation_overdue, 2);
        // Sync: changed in Vault, never written to the cluster.
        assert_eq!(r.sync.len(), 1);
        assert_eq!(r.sync[0].status, "never synced");
        assert_eq!(r.summary.sync_gaps, 1);
        // Coverage: Kubernetes silent from midnight to 10:00 and from 10:32 to 23:30; Vault
        // silent before 09:00, between 09:01 and 12:00, and after 12:01.
        let gaps = |src: &str| -> Vec<(String, String)> {
            r.coverage
                .iter()
                .find(|c| c.source == src)
                .unwrap()
                .gaps
                .iter()
                .map(|g| {
                    (
                        g.from.format("%H:%M").to_string(),
                        g.to.format("%H:%M").to_string(),
                    )
                })
                .collect()
        };
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            gaps("kubernetes"),
            pairs(&[("00:00", "10:00"), ("10:32", "23:30")])
        );
        assert_eq!(
            gaps("vault"),
            pairs(&[("00:00", "09:00"), ("09:01", "12:00"), ("12:01", "00:00")])
        );
        // Every format renders every section.
        for f in [Format::Html, Format::Markdown, Format::Csv, Format::Json] {
            let out = crate::report::render(&r, &report, f);
            assert!(out.contains("break-glass-admin"), "{f:?}");
            assert!(out.contains("system:serviceaccount:old:bot"), "{f:?}");
        }
        let html = crate::report::render(&r, &report, Format::Html);
        for s in crate::report::SECTIONS.iter() {
            assert!(
                html.contains(&format!("<section id=\"{}\">", s.key)),
                "{}",
                s.key
            );
            assert!(html.contains(s.controls), "{}", s.key);
        }
    }

    #[test]
    fn an_empty_period_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let events = EventStore::open(dir.path(), 0).unwrap();
        let detect = DetectConfig::default();
        let report = ReportConfig::default();
        let t = at("2026-06-10T00:00:00Z");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(gather(
                Inputs {
                    events: &events,
                    alerts: vec![],
                    triage: HashMap::new(),
                    detect: &detect,
                    report: &report,
                    limits: Limits {
                        time: std::time::Duration::from_secs(5),
                        memory_bytes: 64 << 20,
                        max_rows: 10,
                    },
                    now: t,
                },
                t,
                t,
            ))
            .unwrap_err();
        assert!(e.to_string().contains("period is empty"), "{e}");
    }
}
