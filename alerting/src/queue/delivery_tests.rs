use std::collections::BTreeMap;

use super::*;
use crate::queue::disk::{DiskQueue, QueueConfig};

fn entries(seqs: std::ops::Range<u64>) -> Vec<Entry> {
    seqs.map(|seq| Entry {
        seq,
        data: format!("{{\"n\":{seq}}}").into_bytes(),
    })
    .collect()
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        initial_ms: 100,
        max_ms: 10_000,
        max_retry_after_secs: 60,
    }
}

fn status(code: u16) -> TransportResult {
    TransportResult::Status {
        status: code,
        retry_after: None,
        body: format!("body {code}"),
    }
}

fn seqs(batch: &[Entry]) -> Vec<u64> {
    batch.iter().map(|e| e.seq).collect()
}

#[test]
fn success_acks_the_batch() {
    let mut d = Delivery::new(policy(), 1);
    let batch = d.select(entries(0..3));
    assert_eq!(seqs(&batch), vec![0, 1, 2]);
    let step = d.on_result(TransportResult::Delivered);
    assert_eq!(step.ack_through, Some(2));
    assert!(step.dead_letter.is_empty());
    assert_eq!(step.retry_after, None);
    assert_eq!(step.health, Health::Healthy);
    // A result without a batch in flight changes nothing.
    assert_eq!(d.on_result(status(200)).ack_through, None);
}

#[test]
fn retryable_failures_back_off_and_honour_retry_after() {
    let mut d = Delivery::new(policy(), 1);
    d.select(entries(0..2));
    let step = d.on_result(TransportResult::Status {
        status: 429,
        retry_after: Some(Duration::from_secs(30)),
        body: "slow down".into(),
    });
    assert_eq!(step.ack_through, None);
    assert_eq!(step.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(
        step.health,
        Health::Retrying {
            attempts: 1,
            last_error: "HTTP 429: slow down".into()
        }
    );
    // Retry-After is capped.
    d.select(entries(0..2));
    let step = d.on_result(TransportResult::Status {
        status: 503,
        retry_after: Some(Duration::from_secs(86_400)),
        body: String::new(),
    });
    assert_eq!(step.retry_after, Some(Duration::from_secs(60)));
    // Without Retry-After: the backoff (attempt 3: ceiling 400 ms).
    d.select(entries(0..2));
    let step = d.on_result(TransportResult::Timeout);
    let ms = step.retry_after.unwrap().as_millis();
    assert!((200..=400).contains(&ms), "{ms}");
    d.select(entries(0..2));
    let step = d.on_result(TransportResult::Failed {
        error: "connection refused".into(),
    });
    assert!(
        matches!(step.health, Health::Retrying { attempts: 4, ref last_error } if last_error == "connection refused")
    );
    // Recovery resets.
    d.select(entries(0..2));
    let step = d.on_result(status(200));
    assert_eq!(step.ack_through, Some(1));
    assert_eq!(step.health, Health::Healthy);
    d.select(entries(2..3));
    let step = d.on_result(TransportResult::Timeout);
    assert!(
        step.retry_after.unwrap().as_millis() <= 100,
        "backoff restarted"
    );
}

#[test]
fn auth_and_url_errors_block_without_dead_lettering() {
    let mut d = Delivery::new(policy(), 1);
    for code in [401, 403, 404, 410, 302] {
        d.select(entries(0..3));
        let step = d.on_result(status(code));
        assert_eq!(step.ack_through, None, "{code}");
        assert!(step.dead_letter.is_empty());
        assert!(step.retry_after.is_some());
        assert!(matches!(step.health, Health::Blocked { .. }), "{code}");
    }
}

#[test]
fn a_rejected_batch_is_split_to_dead_letter_only_the_bad_record() {
    let mut d = Delivery::new(policy(), 1);
    assert_eq!(d.batch_limit(50), 50);
    d.select(entries(0..3));
    let step = d.on_result(status(400));
    assert_eq!(step.ack_through, None);
    assert!(step.dead_letter.is_empty());
    assert_eq!(step.retry_after, Some(Duration::ZERO));
    assert_eq!(d.batch_limit(50), 1);

    assert_eq!(seqs(&d.select(entries(0..1))), vec![0]);
    assert_eq!(d.on_result(status(200)).ack_through, Some(0));
    assert_eq!(seqs(&d.select(entries(1..2))), vec![1]);
    let step = d.on_result(status(400));
    assert_eq!(
        step.dead_letter,
        vec![Rejected {
            seq: 1,
            status: Some(400),
            response: "body 400".into()
        }]
    );
    assert_eq!(step.ack_through, Some(1));
    assert_eq!(step.retry_after, None);
    assert_eq!(seqs(&d.select(entries(2..3))), vec![2]);
    assert_eq!(d.on_result(status(200)).ack_through, Some(2));
    // Past the rejected batch: whole batches again.
    assert_eq!(d.batch_limit(50), 50);
    assert_eq!(seqs(&d.select(entries(3..6))), vec![3, 4, 5]);
}

#[test]
fn per_item_results_ack_the_prefix_and_resend_only_the_rest() {
    let mut d = Delivery::new(policy(), 1);
    d.select(entries(0..4));
    let item = |status: u16| ItemStatus {
        status,
        error: (status >= 300).then(|| format!("e{status}")),
    };
    let step = d.on_result(TransportResult::PerItem(vec![
        item(201),
        item(429),
        item(409),
        item(400),
    ]));
    assert_eq!(step.ack_through, Some(0));
    assert_eq!(step.dead_letter.len(), 1);
    assert_eq!(step.dead_letter[0].seq, 3);
    assert_eq!(step.dead_letter[0].response, "e400");
    assert!(step.retry_after.is_some());
    // Next round peeks from the cursor (1) but only 1 is sent again.
    assert_eq!(d.batch_limit(10), 12);
    assert_eq!(seqs(&d.select(entries(1..6))), vec![1, 4, 5]);
    let step = d.on_result(TransportResult::PerItem(vec![
        item(201),
        item(201),
        item(201),
    ]));
    assert_eq!(step.ack_through, Some(5));
    assert_eq!(step.health, Health::Healthy);
    // A mismatched answer retries everything.
    d.select(entries(6..8));
    let step = d.on_result(TransportResult::PerItem(vec![item(201)]));
    assert_eq!(step.ack_through, None);
    assert!(step.retry_after.is_some());
}

/// A sink that is down for a while, then recovers, receives every record exactly once; with
/// a kill between a send and its ack, nothing is lost and only that batch comes again.
#[test]
fn down_then_recovering_sink_gets_everything_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = QueueConfig {
        max_bytes: 1 << 20,
        segment_bytes: 4096,
        fsync: false,
    };
    let mut q = DiskQueue::open(dir.path(), cfg.clone()).unwrap();
    for i in 0..50u64 {
        q.push(&serde_json::json!({"id": format!("alert-{i}")}))
            .unwrap();
    }
    let mut received: BTreeMap<String, u32> = BTreeMap::new();
    let mut d = Delivery::new(policy(), 42);
    let mut attempts = 0;
    let mut waited = Duration::ZERO;
    let mut crashed = false;
    while !q.is_empty() {
        let batch = d.select(q.peek(d.batch_limit(8), u64::MAX).unwrap());
        attempts += 1;
        let result = if attempts <= 5 {
            TransportResult::Status {
                status: 503,
                retry_after: None,
                body: "down".into(),
            }
        } else {
            for e in &batch {
                let v: serde_json::Value = e.decode().unwrap();
                *received
                    .entry(v["id"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
            TransportResult::Status {
                status: 200,
                retry_after: None,
                body: "ok".into(),
            }
        };
        if attempts == 8 && !crashed {
            // Killed after the server took the batch, before the ack.
            crashed = true;
            drop(q);
            q = DiskQueue::open(dir.path(), cfg.clone()).unwrap();
            d = Delivery::new(policy(), 42);
            continue;
        }
        let step = d.on_result(result);
        if let Some(s) = step.ack_through {
            q.ack_through(s).unwrap();
        }
        waited += step.retry_after.unwrap_or_default();
    }
    assert_eq!(received.len(), 50, "every alert arrived");
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert_eq!(
        twice.len(),
        8,
        "only the batch in flight at the kill came twice"
    );
    assert!(received.values().all(|n| *n <= 2));
    assert!(waited >= Duration::from_millis(50 + 100 + 200 + 400 + 800));
}
