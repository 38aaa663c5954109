//! The analyst API behind the dashboard (`dashboards/web/API.md`) and the dashboard's assets.
//!
//! Auth: `serve.api_tokens` give each token a name and a role (viewer: read; analyst: also
//! triage; admin: everything). With no tokens configured the API is open (keep the listener on
//! loopback) and acts as `dashboard`. Triage actions are appended to `api-audit.jsonl`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use secretwatch_alerting::Secret;
use serde::Deserialize;
use serde_json::json;

use crate::serve::sql::{self, EventStore, Limits, QueryError};
use crate::serve::store::{AlertQuery, Store, STATES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Analyst,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "analyst" => Some(Role::Analyst),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Store>,
    pub events: Arc<EventStore>,
    pub limits: Limits,
    /// (name, token, role); empty: open API.
    pub tokens: Arc<Vec<(String, Secret, Role)>>,
    pub audit: Arc<Mutex<PathBuf>>,
    /// The detection state's baseline file (saved at each checkpoint) and its learning period.
    pub baselines: Arc<Baselines>,
    /// What reports are made from (`GET /api/report`).
    pub report: Arc<crate::report::schedule::ScheduleContext>,
}

/// The last saved baseline store, read again when its file changes.
pub struct Baselines {
    pub path: PathBuf,
    pub learning_days: u32,
    cache: Mutex<
        Option<(
            std::time::SystemTime,
            Arc<secretwatch_detect::baseline::BaselineStore>,
        )>,
    >,
}

impl Baselines {
    pub fn new(path: PathBuf, learning_days: u32) -> Baselines {
        Baselines {
            path,
            learning_days,
            cache: Mutex::new(None),
        }
    }

    pub fn store(&self) -> Option<Arc<secretwatch_detect::baseline::BaselineStore>> {
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok()?;
        let mut c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((t, s)) = c.as_ref() {
            if *t == modified {
                return Some(s.clone());
            }
        }
        let s = Arc::new(secretwatch_detect::baseline::BaselineStore::load(&self.path).ok()?);
        *c = Some((modified, s.clone()));
        Some(s)
    }
}

pub fn source_of(s: &str) -> Option<secretwatch_ingest::SourceSystem> {
    use secretwatch_ingest::SourceSystem as S;
    Some(match s {
        "kubernetes" => S::Kubernetes,
        "vault" => S::Vault,
        "aws" => S::Aws,
        "azure" => S::Azure,
        "gcp" => S::Gcp,
        _ => return None,
    })
}

/// `baselines` rows: what the detector learned of each principal among the events held.
fn baseline_rows(s: &ApiState) -> Vec<serde_json::Value> {
    let Some(store) = s.baselines.store() else {
        return Vec::new();
    };
    s.store
        .principals()
        .into_iter()
        .filter_map(|(src, name, last)| {
            let b = store.summary(source_of(src)?, &name)?;
            Some(json!({
                "source": src,
                "principal": name,
                "first_seen": b.first_seen,
                "last_active": b.last_active,
                "learning": !store.learned(last, s.baselines.learning_days),
                "active_hours_of_week": b.active_hours_of_week.iter().filter(|x| **x).count(),
                "completed_hours": b.completed_hours,
                "hourly_reads_mean": b.hourly_reads_mean,
                "hourly_reads_variance": b.hourly_reads_variance,
                "seen_networks": b.seen_networks,
                "seen_user_agents": b.seen_user_agents,
                "seen_namespaces": b.seen_namespaces,
                "seen_secrets": b.seen_secrets,
            }))
        })
        .collect()
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut r = (status, Json(json!({"error": msg.into()}))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

fn eq_ct(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a call is refused.
enum Denied {
    Unauthorized,
    Forbidden,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Unauthorized => error(StatusCode::UNAUTHORIZED, "missing or unknown API token"),
            Denied::Forbidden => error(StatusCode::FORBIDDEN, "this token's role may not do this"),
        }
    }
}

/// Who is calling, if allowed to do what needs `need`.
fn caller(state: &ApiState, headers: &HeaderMap, need: Role) -> Result<String, Denied> {
    if state.tokens.is_empty() {
        return Ok("dashboard".to_string());
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let found = state
        .tokens
        .iter()
        .find(|(_, t, _)| eq_ct(presented.as_bytes(), t.expose().as_bytes()));
    match found {
        None => Err(Denied::Unauthorized),
        Some((_, _, role)) if *role < need => Err(Denied::Forbidden),
        Some((name, _, _)) => Ok(name.clone()),
    }
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/api/alerts", get(list_alerts))
        .route("/api/alerts/{id}", get(get_alert))
        .route("/api/alerts/{id}/triage", post(triage))
        .route("/api/principals/{name}", get(principal))
        .route("/api/summary", get(summary))
        .route("/api/query", post(query))
        .route("/api/report", get(report))
        .route("/api/openapi.json", get(openapi))
        .with_state(state)
        .merge(assets())
}

#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// A compliance report of `[from, to)` (default: the 7 days before now) in any format.
async fn report(
    State(s): State<ApiState>,
    headers: HeaderMap,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    use crate::report::command::parse_time;
    let who = match caller(&s, &headers, Role::Analyst) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let Ok(Query(q)) = q else {
        return error(StatusCode::BAD_REQUEST, "bad query parameters");
    };
    let format: crate::report::Format = match q.format.as_deref().unwrap_or("html").parse() {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let now = chrono::Utc::now();
    let to = match q.to.as_deref().map(|t| parse_time(t, "to")).transpose() {
        Ok(t) => t.unwrap_or(now),
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let from = match q.from.as_deref().map(|t| parse_time(t, "from")).transpose() {
        Ok(t) => t.unwrap_or(to - chrono::Duration::days(7)),
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if from >= to {
        return error(StatusCode::BAD_REQUEST, "from must be before to");
    }
    audit(
        &s,
        &who,
        "report",
        json!({"from": from, "to": to, "format": format.extension()}),
    );
    match crate::report::schedule::build(&s.report, from, to, now).await {
        Ok(r) => {
            let body = crate::report::render(&r, &s.report.config.report, format);
            let name = format!(
                "{}; filename=\"secretwatch-report-{}-{}.{}\"",
                if format == crate::report::Format::Html {
                    "inline"
                } else {
                    "attachment"
                },
                from.format("%Y%m%dT%H%M%SZ"),
                to.format("%Y%m%dT%H%M%SZ"),
                format.extension()
            );
            let mut resp = ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&name) {
                resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            if format == crate::report::Format::Html {
                resp.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    axum::http::HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                    ),
                );
            }
            resp
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

async fn list_alerts(
    State(s): State<ApiState>,
    headers: HeaderMap,
    q: Result<Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = caller(&s, &headers, Role::Viewer) {
        return r.into_response();
    }
    let Ok(Query(q)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad query parameters (times are RFC 3339, limit and offset numbers)",
        );
    };
    if let Some(st) = &q.state {
        if !STATES.contains(&st.as_str()) {
            return error(StatusCode::BAD_REQUEST, format!("unknown state {st:?}"));
        }
    }
    no_store(Json(s.store.alerts(&q)).into_response())
}

async fn get_alert(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = caller(&s, &headers, Role::Viewer) {
        return r.into_response();
    }
    match s.store.alert(&id) {
        Some(v) => no_store(Json(v).into_response()),
        None => error(StatusCode::NOT_FOUND, format!("no alert {id}")),
    }
}

#[derive(Deserialize)]
struct TriageBody {
    state: String,
    #[serde(default)]
    note: String,
}

async fn triage(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<TriageBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let who = match caller(&s, &headers, Role::Analyst) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let Ok(Json(b)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be {\"state\": ..., \"note\": ...}",
        );
    };
    if !STATES.contains(&b.state.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("state must be one of {}", STATES.join(", ")),
        );
    }
    match s.store.triage(&id, &b.state, &who, &b.note) {
        Ok(Some(alert)) => {
            audit(
                &s,
                &who,
                "triage",
                json!({"alert": id, "state": b.state, "note": b.note}),
            );
            no_store(Json(json!({"alert": alert})).into_response())
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no alert {id}")),
        Err(e) => {
            tracing::error!(error = %e, "Cannot record a triage decision.");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot record the triage decision",
            )
        }
    }
}

/// One line per analyst action: who, what, when.
fn audit(s: &ApiState, who: &str, action: &str, detail: serde_json::Value) {
    let path = s.audit.lock().unwrap_or_else(|e| e.into_inner());
    let line = json!({"at": Utc::now(), "who": who, "action": action, "detail": detail});
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&*path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        tracing::error!(error = %e, "Cannot write the API audit record.");
    }
}

async fn principal(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if let Err(r) = caller(&s, &headers, Role::Viewer) {
        return r.into_response();
    }
    match s.store.principal(&name) {
        Some(mut v) => {
            // The detector's own model, as of the last saved state.
            if let Some(store) = s.baselines.store() {
                let src = v["source"].as_str().and_then(source_of);
                if let Some(b) = src.and_then(|src| store.summary(src, &name)) {
                    v["baseline"]["model"] = serde_json::to_value(&b).unwrap_or_default();
                    v["baseline"]["learning"] =
                        json!(!store.learned(b.last_active, s.baselines.learning_days));
                    v["baseline"]["first_seen"] = json!(b.first_seen);
                }
            }
            no_store(Json(v).into_response())
        }
        None => error(StatusCode::NOT_FOUND, format!("never saw {name}")),
    }
}

#[derive(Deserialize)]
struct Range {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

async fn summary(
    State(s): State<ApiState>,
    headers: HeaderMap,
    q: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = caller(&s, &headers, Role::Viewer) {
        return r.into_response();
    }
    let Ok(Query(r)) = q else {
        return error(StatusCode::BAD_REQUEST, "from and to are RFC 3339 times");
    };
    no_store(Json(s.store.summary(r.from, r.to)).into_response())
}

#[derive(Deserialize)]
struct QueryBody {
    sql: String,
}

/// `POST /api/query`: DataFusion SQL over `events`, `alerts` and `audit`, answered as JSON
/// (default), CSV (`Accept: text/csv`) or Arrow IPC (`application/vnd.apache.arrow.stream`).
async fn query(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: Result<Json<QueryBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let who = match caller(&s, &headers, Role::Analyst) {
        Ok(w) => w,
        Err(r) => return r.into_response(),
    };
    let Ok(Json(q)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body must be {\"sql\": \"SELECT ...\"}",
        );
    };
    audit(&s, &who, "query", json!({"sql": q.sql}));
    let alerts = s.store.all_alerts();
    let audit_rows = read_audit(&s);
    let baselines = baseline_rows(&s);
    let started = std::time::Instant::now();
    let result = s
        .events
        .query(&q.sql, &alerts, &audit_rows, &baselines, s.limits)
        .await;
    let (schema, batches, truncated) = match result {
        Ok(r) => r,
        Err(e @ QueryError::Refused(_)) => return error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e @ QueryError::Timeout(_)) => {
            return error(StatusCode::REQUEST_TIMEOUT, e.to_string())
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    tracing::info!(who = %who, rows = batches.iter().map(|b| b.num_rows()).sum::<usize>(), truncated, ms = started.elapsed().as_millis() as u64, "SQL query answered.");
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let cut = if truncated { "true" } else { "false" };
    let encoded = if accept.contains("text/csv") {
        sql::to_csv(&batches).map(|b| ("text/csv; charset=utf-8", b))
    } else if accept.contains("application/vnd.apache.arrow.stream") {
        sql::to_ipc(&schema, &batches).map(|b| ("application/vnd.apache.arrow.stream", b))
    } else {
        let mut v = sql::to_json(&schema, &batches, truncated);
        v["elapsed_ms"] = json!(started.elapsed().as_millis() as u64);
        Ok((
            "application/json",
            serde_json::to_vec(&v).unwrap_or_default(),
        ))
    };
    match encoded {
        Ok((ctype, bytes)) => no_store(
            (
                [
                    (header::CONTENT_TYPE, ctype),
                    (
                        header::HeaderName::from_static("x-secretwatch-truncated"),
                        cut,
                    ),
                ],
                bytes,
            )
                .into_response(),
        ),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the result: {e}"),
        ),
    }
}

fn read_audit(s: &ApiState) -> Vec<serde_json::Value> {
    let path = s.audit.lock().unwrap_or_else(|e| e.into_inner()).clone();
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The OpenAPI 3.1 document of every route (public, like the health endpoint).
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The dashboard, built into the binary.
const ASSETS: [(&str, &str, &str); 11] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../dashboards/web/index.html"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../dashboards/web/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboards/web/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboards/web/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboards/web/dom.js"),
    ),
    (
        "ui.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboards/web/ui.js"),
    ),
    (
        "charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboards/web/charts.js"),
    ),
    (
        "alerts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboards/web/alerts.js"),
    ),
    (
        "principal.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboards/web/principal.js"),
    ),
    (
        "overview.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboards/web/overview.js"),
    ),
    (
        "query.js",
        "text/javascript; charset=utf-8",
        include_str!("../../dashboards/web/query.js"),
    ),
];

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

fn assets() -> Router {
    let mut r = Router::new();
    for (name, ctype, body) in ASSETS {
        let etag = format!("\"{:016x}\"", fnv(body.as_bytes()));
        let serve = move |headers: HeaderMap| {
            let etag = etag.clone();
            async move {
                let fresh = headers
                    .get(header::IF_NONE_MATCH)
                    .is_some_and(|v| v.as_bytes() == etag.as_bytes());
                let status = if fresh {
                    StatusCode::NOT_MODIFIED
                } else {
                    StatusCode::OK
                };
                let headers = [
                    (header::CONTENT_TYPE, ctype.to_string()),
                    (header::CACHE_CONTROL, "no-cache".to_string()),
                    (header::ETAG, etag),
                    (header::CONTENT_SECURITY_POLICY, CSP.to_string()),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                    (header::REFERRER_POLICY, "no-referrer".to_string()),
                ];
                if fresh {
                    (status, headers, "").into_response()
                } else {
                    (status, headers, body).into_response()
                }
            }
        };
        r = r.route(&format!("/{name}"), get(serve.clone()));
        if name == "index.html" {
            r = r.route("/", get(serve));
        }
    }
    r
}

/// FNV-1a, for ETags of the built-in assets.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
