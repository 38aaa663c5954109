use std::io::Write;

use super::*;
use crate::notification::fixtures::notification;
use crate::notification::Notification;

fn cfg() -> QueueConfig {
    QueueConfig {
        max_bytes: 64 << 10,
        segment_bytes: 4096,
        fsync: false,
    }
}

fn item(i: u64) -> serde_json::Value {
    serde_json::json!({"i": i, "pad": "x".repeat(100)})
}

fn seqs(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

#[test]
fn push_peek_ack_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = DiskQueue::open(dir.path(), cfg()).unwrap();
    assert!(q.is_empty());
    for i in 0..5 {
        assert_eq!(q.push(&item(i)).unwrap(), i);
    }
    let batch = q.peek(3, u64::MAX).unwrap();
    assert_eq!(seqs(&batch), vec![0, 1, 2]);
    assert_eq!(batch[1].decode::<serde_json::Value>().unwrap()["i"], 1);
    // Peeking does not consume.
    assert_eq!(seqs(&q.peek(10, u64::MAX).unwrap()), vec![0, 1, 2, 3, 4]);
    q.ack_through(1).unwrap();
    assert_eq!(q.acked(), 2);
    assert_eq!(q.pending(), 3);
    assert_eq!(seqs(&q.peek(10, u64::MAX).unwrap()), vec![2, 3, 4]);
    assert_eq!(seqs(&q.peek_from(3, 10, u64::MAX).unwrap()), vec![3, 4]);
    // Byte limit, but the first record always comes.
    assert_eq!(seqs(&q.peek(10, 1).unwrap()), vec![2]);
    assert_eq!(seqs(&q.peek(10, 250).unwrap()), vec![2, 3]);
    // Acking again is a no-op; beyond the end is an error.
    q.ack_through(1).unwrap();
    assert!(matches!(q.ack_through(5), Err(QueueError::BadAck { .. })));
}

#[test]
fn kill_between_push_and_ack_keeps_everything_unacked() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut q = DiskQueue::open(dir.path(), cfg()).unwrap();
        for i in 0..100 {
            q.push(&item(i)).unwrap();
        }
        q.ack_through(41).unwrap();
        // Dropped without any shutdown step, as a SIGKILL would.
    }
    let mut q = DiskQueue::open(dir.path(), cfg()).unwrap();
    assert_eq!(q.acked(), 42);
    assert_eq!(q.next_seq(), 100);
    let all = q.peek(1000, u64::MAX).unwrap();
    assert_eq!(
        seqs(&all),
        (42..100).collect::<Vec<_>>(),
        "acked never redelivered"
    );
    for e in &all {
        assert_eq!(e.decode::<serde_json::Value>().unwrap()["i"], e.seq);
    }
    // New pushes continue the numbering.
    assert_eq!(q.push(&item(100)).unwrap(), 100);
    assert!(q.stats().segments > 1, "several segments of 4 KiB");
}

#[test]
fn torn_last_record_is_cut_off_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = DiskQueue::open(dir.path(), cfg()).unwrap();
    q.push(&item(0)).unwrap();
    q.push(&item(1)).unwrap();
    let path = dir.path().join(segment_name(0));
    drop(q);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(br#"{"i":2,"pad":"xx"#).unwrap();
    drop(f);
    let mut q = DiskQueue::open(dir.path(), cfg()).unwrap();
    assert_eq!(q.stats().recovered_bytes, 16);
    assert_eq!(seqs(&q.peek(10, u64::MAX).unwrap()), vec![0, 1]);
    assert_eq!(q.push(&item(2)).unwrap(), 2);
    let all = q.peek(10, u64::MAX).unwrap();
    assert_eq!(all[2].decode::<serde_json::Value>().unwrap()["i"], 2);
}

#[test]
fn full_queue_refuses_with_a_typed_error_and_frees_on_ack() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = DiskQueue::open(dir.path(), cfg()).unwrap();
    let mut pushed = 0;
    let err = loop {
        match q.push(&item(pushed)) {
            Ok(_) => pushed += 1,
            Err(e) => break e,
        }
    };
    match &err {
        QueueError::Full {
            used, max, pending, ..
        } => {
            assert!(*used <= *max && *max == 64 << 10);
            assert_eq!(*pending, pushed);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("is full"));
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".jsonl"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(on_disk, q.stats().used_bytes);
    assert!(on_disk <= 64 << 10);
    // Nothing was lost: every accepted record is there.
    assert_eq!(q.pending(), pushed);
    // Acking frees whole segments, then pushes are accepted again.
    q.ack_through(pushed / 2).unwrap();
    q.push(&item(pushed)).unwrap();
    // A record larger than the whole queue is TooLarge, not Full.
    let huge = serde_json::json!({"pad": "x".repeat(70 << 10)});
    assert!(matches!(q.push(&huge), Err(QueueError::TooLarge { .. })));
    // push_all is all or nothing.
    let many: Vec<_> = (0..300).map(item).collect();
    let before = q.pending();
    assert!(matches!(q.push_all(&many), Err(QueueError::Full { .. })));
    assert_eq!(q.pending(), before);
    assert_eq!(q.push_all(&many[..2]).unwrap().len(), 2);
}

#[test]
fn fully_acked_segments_are_deleted_even_after_an_interrupted_delete() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = DiskQueue::open(dir.path(), cfg()).unwrap();
    for i in 0..60 {
        q.push(&item(i)).unwrap();
    }
    let first = dir.path().join(segment_name(0));
    let copy = std::fs::read(&first).unwrap();
    let last = q.next_seq() - 1;
    q.ack_through(last).unwrap();
    assert_eq!(q.stats().segments, 0);
    assert_eq!(q.stats().used_bytes, 0);
    drop(q);
    // As if the process died after writing the cursor but before deleting this segment.
    std::fs::write(&first, copy).unwrap();
    let mut q = DiskQueue::open(dir.path(), cfg()).unwrap();
    assert!(!first.exists());
    assert!(q.is_empty());
    assert_eq!(q.next_seq(), 60, "numbering continues from the cursor");
    assert_eq!(q.push(&item(60)).unwrap(), 60);
    assert!(dir.path().join(segment_name(60)).exists());
}

#[test]
fn a_missing_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = DiskQueue::open(dir.path(), cfg()).unwrap();
    for i in 0..60 {
        q.push(&item(i)).unwrap();
    }
    drop(q);
    std::fs::remove_file(dir.path().join(segment_name(0))).unwrap();
    let e = DiskQueue::open(dir.path(), cfg()).unwrap_err();
    assert!(matches!(e, QueueError::Corrupt { .. }), "{e}");
}

#[test]
fn notifications_round_trip_with_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = DiskQueue::open(
        dir.path(),
        QueueConfig {
            fsync: true,
            ..cfg()
        },
    )
    .unwrap();
    let n = notification();
    q.push(&n).unwrap();
    drop(q);
    let q = DiskQueue::open(dir.path(), cfg()).unwrap();
    let e = &q.peek(1, u64::MAX).unwrap()[0];
    assert_eq!(e.decode::<Notification>().unwrap(), n);
    let text = std::fs::read_to_string(dir.path().join(segment_name(0))).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON line per record");
}

#[test]
fn config_validation() {
    let mut errors = Vec::new();
    QueueConfig::default().validate("q", &mut errors);
    assert!(errors.is_empty());
    QueueConfig {
        max_bytes: 1 << 20,
        segment_bytes: 1 << 20,
        fsync: true,
    }
    .validate("q", &mut errors);
    assert_eq!(
        errors,
        vec!["q.segment_bytes: between 4096 and half of max_bytes"]
    );
}

#[test]
fn push_fitting_takes_the_prefix_that_fits_with_one_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut q = DiskQueue::open(dir.path(), cfg()).unwrap();
    let lines: Vec<Vec<u8>> = (0..1000)
        .map(|i| serde_json::to_vec(&item(i)).unwrap())
        .collect();
    let taken = q.push_fitting(&lines).unwrap();
    assert!(taken > 0 && taken < 1000, "{taken}");
    assert_eq!(q.pending(), taken as u64);
    assert!(q.stats().used_bytes <= 64 << 10);
    // In order, nothing skipped: the first `taken` records.
    let got = q.peek(usize::MAX, u64::MAX).unwrap();
    assert_eq!(got.len(), taken);
    assert_eq!(got[taken - 1].data, lines[taken - 1]);
    // Full: nothing more, and no error.
    assert_eq!(q.push_fitting(&lines[taken..]).unwrap(), 0);
    assert_eq!(q.push_fitting(&[]).unwrap(), 0);
    // After an ack (of whole segments) there is room again; the records survive a reopen.
    q.ack_through(99).unwrap();
    assert!(q.push_fitting(&lines[taken..taken + 5]).unwrap() == 5);
    drop(q);
    let q = DiskQueue::open(dir.path(), cfg()).unwrap();
    assert_eq!(q.pending(), taken as u64 - 100 + 5);
}
