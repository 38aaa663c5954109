//! `_bulk` NDJSON bodies and per-item results.
//!
//! Each document is a `create` action with a deterministic `_id` (the alert id; for events,
//! `<source>:<event id>`), so a retried batch cannot index twice: Elasticsearch answers 409
//! for a document that is already there, which counts as delivered. The body is sent with
//! `Content-Type: application/x-ndjson` and ends with a newline, as `_bulk` requires. A 200
//! answer may still carry failed items (`"errors": true`): [`parse_bulk_response`] returns one
//! status per item, in request order, for [`crate::queue::TransportResult::PerItem`].

use secretwatch_ingest::AccessEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Origin;
use crate::elastic::ecs::{alert_document, event_document};
use crate::notification::Notification;

#[derive(Serialize)]
struct Action<'a> {
    create: Meta<'a>,
}

#[derive(Serialize)]
struct Meta<'a> {
    #[serde(rename = "_index")]
    index: &'a str,
    #[serde(rename = "_id")]
    id: &'a str,
}

/// Append one `create` action line and its document line.
pub fn bulk_create(out: &mut Vec<u8>, index: &str, id: &str, doc: &Value) {
    serde_json::to_writer(
        &mut *out,
        &Action {
            create: Meta { index, id },
        },
    )
    .expect("an action serializes");
    out.push(b'\n');
    serde_json::to_writer(&mut *out, doc).expect("a document serializes");
    out.push(b'\n');
}

/// Append one `create` action line and a document already serialized as compact JSON (a
/// forwarded event, encoded when it was queued).
pub fn bulk_create_raw(out: &mut Vec<u8>, index: &str, id: &str, doc: &str) {
    debug_assert!(!doc.contains('\n'), "a _bulk document is one line");
    serde_json::to_writer(
        &mut *out,
        &Action {
            create: Meta { index, id },
        },
    )
    .expect("an action serializes");
    out.push(b'\n');
    out.extend_from_slice(doc.as_bytes());
    out.push(b'\n');
}

/// The `_bulk` body of several alerts.
pub fn alert_bulk<'a>(
    index: &str,
    items: impl IntoIterator<Item = &'a Notification>,
    origin: &Origin,
) -> Vec<u8> {
    let mut out = Vec::new();
    for n in items {
        bulk_create(&mut out, index, &n.alert.id, &alert_document(n, origin));
    }
    out
}

/// `_id` of a forwarded event: the source's own id, qualified by the source.
pub fn event_doc_id(ev: &AccessEvent<'_>) -> String {
    format!("{}:{}", ev.source.as_str(), ev.id)
}

/// The `_bulk` body of several access events.
pub fn event_bulk<'a, 'e: 'a>(
    index: &str,
    items: impl IntoIterator<Item = &'a AccessEvent<'e>>,
    origin: &Origin,
) -> Vec<u8> {
    let mut out = Vec::new();
    for ev in items {
        bulk_create(
            &mut out,
            index,
            &event_doc_id(ev),
            &event_document(ev, origin),
        );
    }
    out
}

/// One item of a `_bulk` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    pub status: u16,
    /// `error.type: error.reason`, when the item failed.
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BulkResponseError {
    #[error("not a _bulk answer: {0}")]
    Json(#[from] serde_json::Error),
    #[error("_bulk answer has {got} items for {sent} documents")]
    Count { got: usize, sent: usize },
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    items: Vec<serde_json::Map<String, Value>>,
}

/// Per-item statuses of a `_bulk` answer to `sent` documents, in request order.
pub fn parse_bulk_response(body: &[u8], sent: usize) -> Result<Vec<BulkItem>, BulkResponseError> {
    let r: Response = serde_json::from_slice(body)?;
    if r.items.len() != sent {
        return Err(BulkResponseError::Count {
            got: r.items.len(),
            sent,
        });
    }
    Ok(r.items
        .iter()
        .map(|item| {
            // One key: the action name (`create`, `index`...).
            let result = item.values().next().cloned().unwrap_or(Value::Null);
            let status = result["status"].as_u64().unwrap_or(0) as u16;
            let error = result.get("error").map(|e| {
                format!(
                    "{}: {}",
                    e["type"].as_str().unwrap_or("error"),
                    e["reason"].as_str().unwrap_or("")
                )
            });
            BulkItem { status, error }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::fixtures::notification;
    use crate::test_events::{access, vault_access};

    #[test]
    fn ndjson_action_then_document_each_line_terminated() {
        let a = notification();
        let mut b = notification();
        b.alert.id = "second".into();
        let body = alert_bulk("secretwatch-alerts", [&a, &b], &Origin::new("h"));
        let text = String::from_utf8(body).unwrap();
        assert!(text.ends_with('\n'), "the final line ends with a newline");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            format!(
                "{{\"create\":{{\"_index\":\"secretwatch-alerts\",\"_id\":\"{}\"}}}}",
                a.alert.id
            )
        );
        let doc: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(doc["event"]["id"], a.alert.id.as_str());
        assert_eq!(doc["event"]["kind"], "alert");
        assert!(doc["@timestamp"].is_string());
        assert_eq!(
            lines[2],
            "{\"create\":{\"_index\":\"secretwatch-alerts\",\"_id\":\"second\"}}"
        );
        // No raw newline inside a document (the reason has one; JSON escapes it).
        assert!(lines[1].contains("\\n"));

        let (k, v) = (access(), vault_access());
        let text = String::from_utf8(event_bulk("ev", [&k, &v], &Origin::new("h"))).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            "{\"create\":{\"_index\":\"ev\",\"_id\":\"kubernetes:audit-1\"}}"
        );
        assert_eq!(
            lines[2],
            "{\"create\":{\"_index\":\"ev\",\"_id\":\"vault:req-7\"}}"
        );
    }

    #[test]
    fn per_item_statuses_in_order() {
        let body = br#"{"took":3,"errors":true,"items":[
            {"create":{"_index":"a","_id":"1","status":201,"result":"created"}},
            {"create":{"_index":"a","_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}},
            {"create":{"_index":"a","_id":"3","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"_index":"a","_id":"4","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [source.ip]"}}}
        ]}"#;
        let items = parse_bulk_response(body, 4).unwrap();
        assert_eq!(
            items.iter().map(|i| i.status).collect::<Vec<_>>(),
            vec![201, 409, 429, 400]
        );
        assert_eq!(items[0].error, None);
        assert_eq!(
            items[3].error.as_deref(),
            Some("mapper_parsing_exception: failed to parse field [source.ip]")
        );
        assert!(matches!(
            parse_bulk_response(body, 5),
            Err(BulkResponseError::Count { got: 4, sent: 5 })
        ));
        assert!(parse_bulk_response(b"<html>", 1).is_err());
    }
}
