//! HTTP: the audit webhook and JSON-lines ingest, health and metrics.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secretwatch_ingest::{DeadLetter, Decoder, Format, ParseOptions};
use serde_json::json;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::Sender;

use crate::serve::metrics::Metrics;
use crate::serve::pipeline::Batch;
use secretwatch_alerting::{Alerting, Secret};

#[derive(Clone)]
pub struct AppState {
    pub tx: Sender<Batch>,
    pub metrics: Arc<Metrics>,
    pub token: Option<Secret>,
    pub opts: Arc<ParseOptions>,
    pub dead_letter: PathBuf,
    pub alerting: Arc<Alerting>,
}

pub fn app(state: AppState, max_body: usize) -> Router {
    Router::new()
        .route("/ingest/k8s-audit", post(ingest_k8s))
        .route("/ingest/{format}", post(ingest_format))
        .route("/api/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

fn error(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, Json(json!({ "error": reason.into() }))).into_response()
}

/// Constant-time comparison of the presented bearer token.
fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(expected) = &state.token else {
        return true;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (presented.as_bytes(), expected.expose().as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn ingest_k8s(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    ingest(state, headers, Format::K8sAudit, body)
}

async fn ingest_format(
    State(state): State<AppState>,
    Path(format): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match format.parse::<Format>() {
        Ok(f) => ingest(state, headers, f, body),
        Err(e) => error(StatusCode::NOT_FOUND, e),
    }
}

fn ingest(state: AppState, headers: HeaderMap, format: Format, body: Bytes) -> Response {
    let m = &state.metrics;
    m.requests.fetch_add(1, Ordering::Relaxed);
    let reject = |status: StatusCode, reason: String| {
        m.rejected_requests.fetch_add(1, Ordering::Relaxed);
        error(status, reason)
    };
    if !authorized(&state, &headers) {
        return reject(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token".into(),
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return reject(StatusCode::BAD_REQUEST, "body is not UTF-8".into());
    };
    let mut decoder = Decoder::new(
        &state.opts,
        format,
        Some(DeadLetter::new(&state.dead_letter)),
    );
    let mut events = Vec::new();
    let whole = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
    let res = if whole {
        decoder.document(text, "http", &mut |ev| events.push(ev.into_owned()))
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .try_for_each(|(i, l)| {
                decoder.record(l.trim(), "http", i as u64 + 1, &mut |ev| {
                    events.push(ev.into_owned())
                })
            })
    };
    if let Err(e) = res.and_then(|()| decoder.finish(&mut |ev| events.push(ev))) {
        tracing::error!(error = %e, "Dead-letter write failed.");
        return reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot record bad input".into(),
        );
    }
    let stats = &decoder.stats;
    m.bad_records.fetch_add(stats.bad, Ordering::Relaxed);
    if stats.events == 0 && stats.bad > 0 {
        return reject(
            StatusCode::BAD_REQUEST,
            format!("no valid record: {}", stats.first_errors.join("; ")),
        );
    }
    let accepted = events.len();
    if !events.is_empty() {
        match state.tx.try_send(Batch::of(events)) {
            Ok(()) => {
                m.queue_batches.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                m.backpressure.fetch_add(1, Ordering::Relaxed);
                m.rejected_requests.fetch_add(1, Ordering::Relaxed);
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                    Json(json!({"error": "detection queue is full, retry"})),
                )
                    .into_response();
            }
            Err(TrySendError::Closed(_)) => {
                return reject(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into())
            }
        }
        m.add_events(&stats.events_by_source);
    }
    (
        StatusCode::OK,
        Json(json!({
            "accepted": accepted,
            "skipped": stats.skipped,
            "rejected": stats.bad,
            "errors": stats.first_errors,
        })),
    )
        .into_response()
}

async fn health(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let sinks = state.alerting.status();
    // The service is up either way; a sink that cannot deliver makes it "degraded" (its
    // alerts wait in its queue).
    let status = if sinks.iter().all(|s| s.state == "healthy") {
        "ok"
    } else {
        "degraded"
    };
    Json(json!({
        "status": status,
        "sinks": sinks,
        "sources": *m.events.lock().unwrap_or_else(|e| e.into_inner()),
        "events": m.events_total(),
        "alerts": m.alerts_total(),
        "bad_records": m.bad_records.load(Ordering::Relaxed),
        "queue_batches": m.queue_batches.load(Ordering::Relaxed).max(0),
    }))
    .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&state.alerting.status()),
    )
        .into_response()
}
