//! What the dashboard and the alert API read: every alert (from `alerts.jsonl`, restored at
//! start), its triage history (`triage.jsonl`, appended and fsynced), and a bounded window of
//! recent events (compact rows, newest kept) for alert details, timelines, principal pages and
//! the overview. The SQL store over Parquet (DataFusion) is separate work (issue 6).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use chrono::{DateTime, Datelike, Duration, DurationRound, Timelike, Utc};
use secretwatch_detect::Alert;
use secretwatch_ingest::AccessEvent;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One event, as much of it as the pages show.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub id: String,
    pub time: DateTime<Utc>,
    pub source: &'static str,
    pub principal: String,
    #[serde(skip)]
    pub kind: &'static str,
    pub action: &'static str,
    pub verb: String,
    pub outcome: &'static str,
    pub status: Option<u16>,
    pub target: String,
    #[serde(skip)]
    pub is_secret: bool,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Namespace of the target (Kubernetes).
    pub namespace: Option<String>,
    /// Environment of the target (`detect.context.environments`, Vault path rules).
    pub environment: Option<String>,
}

impl EventRow {
    /// `environment`: the target's environment, as [`secretwatch_detect::context::World`] maps it.
    pub fn of(ev: &AccessEvent<'_>, environment: Option<&str>) -> EventRow {
        EventRow {
            id: ev.id.to_string(),
            time: ev.time,
            source: ev.source.as_str(),
            principal: ev.principal.name.to_string(),
            kind: ev.principal.kind.as_str(),
            action: ev.action.as_str(),
            verb: ev.raw_action.to_string(),
            outcome: ev.outcome.as_str(),
            status: ev.status_code,
            target: secretwatch_detect::alert::target_label(ev),
            is_secret: ev.target.is_secret,
            source_ip: ev.source_ips.iter().last().map(str::to_string),
            user_agent: ev.user_agent.as_deref().map(str::to_string),
            namespace: ev.target.namespace.as_deref().map(str::to_string),
            environment: environment.map(str::to_string),
        }
    }
}

/// One triage decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Triage {
    pub alert: String,
    pub state: String,
    pub by: String,
    pub note: String,
    pub at: DateTime<Utc>,
}

pub const STATES: [&str; 4] = ["new", "acknowledged", "resolved", "false_positive"];

#[derive(Default)]
struct Inner {
    alerts: Vec<Alert>,
    by_id: HashMap<String, usize>,
    triage: HashMap<String, Vec<Triage>>,
    events: VecDeque<EventRow>,
}

pub struct Store {
    inner: RwLock<Inner>,
    capacity: usize,
    triage_path: PathBuf,
}

/// Filters of `GET /api/alerts`.
#[derive(Debug, Default, Deserialize)]
pub struct AlertQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub severity: Option<String>,
    pub rule: Option<String>,
    pub principal: Option<String>,
    pub state: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

fn per_hour<'a>(rows: impl Iterator<Item = &'a EventRow>) -> BTreeMap<DateTime<Utc>, u64> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(hour_of(r.time)).or_default() += 1;
    }
    m
}

fn hours_json(m: &BTreeMap<DateTime<Utc>, u64>) -> Vec<Value> {
    m.iter()
        .map(|(h, c)| json!({"hour": h, "count": c}))
        .collect()
}

impl Store {
    /// Alerts of `alerts.jsonl` and triage of `triage.jsonl` under `data`.
    pub fn open(data: &Path, capacity: usize) -> Store {
        let mut inner = Inner::default();
        if let Ok(text) = std::fs::read_to_string(data.join("alerts.jsonl")) {
            for line in text.lines() {
                if let Ok(a) = serde_json::from_str::<Alert>(line) {
                    inner.put(a);
                }
            }
        }
        let triage_path = data.join("triage.jsonl");
        if let Ok(text) = std::fs::read_to_string(&triage_path) {
            for line in text.lines() {
                if let Ok(t) = serde_json::from_str::<Triage>(line) {
                    inner.triage.entry(t.alert.clone()).or_default().push(t);
                }
            }
        }
        Store {
            inner: RwLock::new(inner),
            capacity,
            triage_path,
        }
    }

    pub fn add(&self, rows: Vec<EventRow>, alerts: &[Alert]) {
        if rows.is_empty() && alerts.is_empty() {
            return;
        }
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for r in rows {
            if g.events.len() >= self.capacity {
                g.events.pop_front();
            }
            g.events.push_back(r);
        }
        for a in alerts {
            g.put(a.clone());
        }
    }

    fn alert_json(inner: &Inner, a: &Alert) -> Value {
        let mut v = serde_json::to_value(a).unwrap_or_default();
        let last = inner.triage.get(&a.id).and_then(|h| h.last());
        v["state"] = Value::from(last.map(|t| t.state.as_str()).unwrap_or("new"));
        v["triage"] = match last {
            Some(t) => json!({"state": t.state, "by": t.by, "note": t.note, "at": t.at}),
            None => Value::Null,
        };
        v
    }

    /// Every alert and the triage history of each, oldest decision first (reports).
    pub fn snapshot(&self) -> (Vec<Alert>, HashMap<String, Vec<Triage>>) {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        (g.alerts.clone(), g.triage.clone())
    }

    /// Every alert with its triage state (the `alerts` table of SQL queries).
    pub fn all_alerts(&self) -> Vec<Value> {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        g.alerts.iter().map(|a| Self::alert_json(&g, a)).collect()
    }

    pub fn alerts(&self, q: &AlertQuery) -> Value {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let state_of = |id: &str| {
            g.triage
                .get(id)
                .and_then(|h| h.last())
                .map(|t| t.state.as_str())
                .unwrap_or("new")
        };
        let mut hits: Vec<&Alert> = g
            .alerts
            .iter()
            .filter(|a| q.from.is_none_or(|f| a.last_seen >= f))
            .filter(|a| q.to.is_none_or(|t| a.first_seen <= t))
            .filter(|a| {
                q.severity
                    .as_deref()
                    .is_none_or(|s| a.severity.as_str() == s)
            })
            .filter(|a| q.rule.as_deref().is_none_or(|r| a.rule == r))
            .filter(|a| q.principal.as_deref().is_none_or(|p| a.principal == p))
            .filter(|a| q.state.as_deref().is_none_or(|s| state_of(&a.id) == s))
            .collect();
        hits.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then_with(|| a.id.cmp(&b.id)));
        let total = hits.len();
        let limit = q.limit.unwrap_or(50).clamp(1, 500);
        let page: Vec<Value> = hits
            .into_iter()
            .skip(q.offset.unwrap_or(0))
            .take(limit)
            .map(|a| Self::alert_json(&g, a))
            .collect();
        json!({"alerts": page, "total": total})
    }

    pub fn alert(&self, id: &str) -> Option<Value> {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let a = &g.alerts[*g.by_id.get(id)?];
        let ids: HashSet<&str> = a.event_ids.iter().map(String::as_str).collect();
        let events: Vec<&EventRow> = g
            .events
            .iter()
            .filter(|r| ids.contains(r.id.as_str()))
            .collect();
        let (lo, hi) = (
            hour_of(a.first_seen) - Duration::hours(12),
            hour_of(a.last_seen) + Duration::hours(13),
        );
        let timeline = per_hour(
            g.events
                .iter()
                .filter(|r| r.principal == a.principal && r.time >= lo && r.time < hi),
        );
        Some(json!({
            "alert": Self::alert_json(&g, a),
            "events": events,
            "timeline": hours_json(&timeline),
            "triage_history": g.triage.get(id).cloned().unwrap_or_default(),
        }))
    }

    /// Record a triage decision (persisted before it is shown); the alert with its new state.
    pub fn triage(
        &self,
        id: &str,
        state: &str,
        by: &str,
        note: &str,
    ) -> std::io::Result<Option<Value>> {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if !g.by_id.contains_key(id) {
            return Ok(None);
        }
        let t = Triage {
            alert: id.to_string(),
            state: state.to_string(),
            by: by.to_string(),
            note: note.chars().take(2000).collect(),
            at: Utc::now(),
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.triage_path)?;
        let mut line = serde_json::to_vec(&t)?;
        line.push(b'\n');
        f.write_all(&line)?;
        f.sync_data()?;
        g.triage.entry(id.to_string()).or_default().push(t);
        let a = &g.alerts[g.by_id[id]];
        Ok(Some(Self::alert_json(&g, a)))
    }

    /// What the principal page shows, from the events held: hours of the week it was active,
    /// its hourly volume over the last 7 days up to its latest event against its own mean for
    /// that hour of the week, and what it touched.
    pub fn principal(&self, name: &str) -> Option<Value> {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let rows: Vec<&EventRow> = g.events.iter().filter(|r| r.principal == name).collect();
        if rows.is_empty() && !g.alerts.iter().any(|a| a.principal == name) {
            return None;
        }
        let secret_rows: Vec<&EventRow> = rows.iter().copied().filter(|r| r.is_secret).collect();
        let hourly = per_hour(secret_rows.iter().copied());
        let mut week = vec![0u64; 168];
        for r in &rows {
            let slot =
                r.time.weekday().num_days_from_monday() as usize * 24 + r.time.hour() as usize;
            week[slot] += 1;
        }
        // Mean per hour-of-week slot over the weeks seen (the expectation for that hour).
        let (first, last) = match (rows.first(), rows.last()) {
            (Some(f), Some(l)) => (f.time, l.time),
            _ => (Utc::now(), Utc::now()),
        };
        let weeks = ((last - first).num_hours() as f64 / 168.0).ceil().max(1.0);
        let mut slot_counts = vec![0u64; 168];
        for (h, c) in &hourly {
            slot_counts[h.weekday().num_days_from_monday() as usize * 24 + h.hour() as usize] += c;
        }
        let span_hours = ((last - first).num_hours() + 1).max(1) as f64;
        let total: u64 = hourly.values().sum();
        let mut counts: Vec<u64> = hourly.values().copied().collect();
        counts.sort_unstable();
        let p99 = counts
            .get(((counts.len() as f64 - 1.0) * 0.99).round().max(0.0) as usize)
            .copied()
            .unwrap_or(0);
        let lo = hour_of(last) - Duration::hours(167);
        let mut volume = Vec::new();
        let mut h = lo;
        while h <= hour_of(last) {
            let slot = h.weekday().num_days_from_monday() as usize * 24 + h.hour() as usize;
            volume.push(json!({
                "hour": h,
                "count": hourly.get(&h).copied().unwrap_or(0),
                "expected": slot_counts[slot] as f64 / weeks,
            }));
            h += Duration::hours(1);
        }
        let distinct = |f: &dyn Fn(&EventRow) -> Option<&str>| {
            rows.iter()
                .filter_map(|r| f(r))
                .collect::<HashSet<_>>()
                .len()
        };
        Some(json!({
            "principal": name,
            "source": rows.first().map(|r| r.source),
            "kind": rows.first().map(|r| r.kind).unwrap_or("unknown"),
            "baseline": {
                "learning": false,
                "first_seen": rows.first().map(|r| r.time),
                "hours_of_week": week,
                "hourly_mean": total as f64 / span_hours,
                "hourly_p99": p99,
                "seen_secrets": distinct(&|r| r.is_secret.then_some(r.target.as_str())),
                "seen_networks": distinct(&|r| r.source_ip.as_deref()),
                "seen_user_agents": distinct(&|r| r.user_agent.as_deref()),
                "from": "events held by the service",
            },
            "volume": volume,
        }))
    }

    /// Distinct (source, principal) pairs among the events held, with their latest event time.
    pub fn principals(&self) -> Vec<(&'static str, String, DateTime<Utc>)> {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut m: HashMap<(&'static str, &str), DateTime<Utc>> = HashMap::new();
        for r in &g.events {
            let e = m.entry((r.source, r.principal.as_str())).or_insert(r.time);
            *e = (*e).max(r.time);
        }
        m.into_iter()
            .map(|((s, p), t)| (s, p.to_string(), t))
            .collect()
    }

    pub fn summary(&self, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Value {
        let g = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let inside = |t: DateTime<Utc>| from.is_none_or(|f| t >= f) && to.is_none_or(|x| t <= x);
        let rows: Vec<&EventRow> = g.events.iter().filter(|r| inside(r.time)).collect();
        let mut by_sev: BTreeMap<&str, u64> = BTreeMap::new();
        for a in &g.alerts {
            if from.is_none_or(|f| a.last_seen >= f) && to.is_none_or(|t| a.first_seen <= t) {
                *by_sev.entry(a.severity.as_str()).or_default() += 1;
            }
        }
        let top = |key: &dyn Fn(&EventRow) -> Option<&str>, label: &str| -> Vec<Value> {
            let mut m: HashMap<&str, u64> = HashMap::new();
            for r in &rows {
                if let Some(k) = key(r) {
                    *m.entry(k).or_default() += 1;
                }
            }
            let mut v: Vec<(&str, u64)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            v.into_iter()
                .take(10)
                .map(|(k, c)| json!({label: k, "count": c}))
                .collect()
        };
        let mut hours = per_hour(rows.iter().copied());
        while hours.len() > 744 {
            hours.pop_first();
        }
        json!({
            "events": rows.len(),
            "alerts_by_severity": by_sev,
            "top_principals": top(&|r| Some(r.principal.as_str()), "principal"),
            "top_secrets": top(&|r| r.is_secret.then_some(r.target.as_str()), "target"),
            "events_per_hour": hours_json(&hours),
        })
    }
}

impl Inner {
    /// A newer version of an alert (same id: a burst that grew) replaces the older one.
    fn put(&mut self, a: Alert) {
        match self.by_id.get(&a.id) {
            Some(&i) => self.alerts[i] = a,
            None => {
                self.by_id.insert(a.id.clone(), self.alerts.len());
                self.alerts.push(a);
            }
        }
    }
}
