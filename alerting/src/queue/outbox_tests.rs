use super::*;
use crate::notification::fixtures::{alert, t};

fn gate_cfg(max: u32) -> GateConfig {
    GateConfig {
        max_alerts: max,
        window_minutes: 10,
        remember_ids: 1000,
    }
}

fn queue_cfg() -> QueueConfig {
    QueueConfig {
        max_bytes: 64 << 10,
        segment_bytes: 8192,
        fsync: false,
    }
}

fn nth(i: u32) -> Alert {
    let mut a = alert();
    a.id = format!("id-{i}");
    a
}

#[test]
fn offer_queues_once_throttles_and_notes() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), gate_cfg(1), queue_cfg()).unwrap();
    assert_eq!(
        o.offer(&nth(1), t(9, 0, 0)).unwrap(),
        Offer::Queued {
            seq: 0,
            suppressed: 0
        }
    );
    assert_eq!(o.offer(&nth(1), t(9, 0, 1)).unwrap(), Offer::Duplicate);
    assert_eq!(
        o.offer(&nth(2), t(9, 0, 2)).unwrap(),
        Offer::Suppressed { held: 1 }
    );
    assert_eq!(
        o.offer(&nth(3), t(9, 0, 3)).unwrap(),
        Offer::Suppressed { held: 2 }
    );
    assert_eq!(
        o.offer(&nth(4), t(9, 20, 0)).unwrap(),
        Offer::Queued {
            seq: 1,
            suppressed: 2
        }
    );
    let queued: Vec<Notification> = o
        .queue()
        .peek(10, u64::MAX)
        .unwrap()
        .iter()
        .map(|e| e.decode().unwrap())
        .collect();
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[1].alert.id, "id-4");
    assert_eq!(queued[1].suppressed.as_ref().unwrap().count, 2);
    assert!(o.dead_letter_path().ends_with("dead-letter.jsonl"));
}

#[test]
fn tick_releases_held_alerts_and_state_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut o = Outbox::open(dir.path(), gate_cfg(1), queue_cfg()).unwrap();
        for i in 0..4 {
            o.offer(&nth(i), t(9, 0, i)).unwrap();
        }
        assert_eq!(o.gate().held(), 3);
        // Killed: no shutdown step.
    }
    let mut o = Outbox::open(dir.path(), gate_cfg(1), queue_cfg()).unwrap();
    assert_eq!(o.gate().held(), 3, "held counts survive");
    assert_eq!(o.offer(&nth(2), t(9, 1, 0)).unwrap(), Offer::Duplicate);
    assert_eq!(o.tick(t(9, 5, 0)).unwrap(), 0);
    assert_eq!(o.tick(t(9, 10, 0)).unwrap(), 1);
    let last: Notification = o.queue().peek(10, u64::MAX).unwrap()[1].decode().unwrap();
    assert_eq!(last.alert.id, "id-3");
    assert_eq!(last.suppressed.unwrap().count, 2);
    assert_eq!(o.gate().held(), 0);
}

#[test]
fn a_kill_between_push_and_gate_log_is_repaired_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut o = Outbox::open(dir.path(), gate_cfg(10), queue_cfg()).unwrap();
        o.offer(&nth(1), t(9, 0, 0)).unwrap();
        // The push of id-2 reached the queue; the process died before the gate logged it.
        o.queue_mut().push(&Notification::new(nth(2))).unwrap();
    }
    let mut o = Outbox::open(dir.path(), gate_cfg(10), queue_cfg()).unwrap();
    assert!(o.gate().knows("id-2"));
    assert_eq!(o.offer(&nth(2), t(9, 0, 5)).unwrap(), Offer::Duplicate);
    assert_eq!(o.queue().pending(), 2);
}

#[test]
fn a_full_queue_is_an_error_and_leaves_the_gate_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), gate_cfg(0), queue_cfg()).unwrap();
    let mut i = 0;
    let err = loop {
        match o.offer(&nth(i), t(9, 0, 0)) {
            Ok(Offer::Queued { .. }) => i += 1,
            Ok(other) => panic!("{other:?}"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, QueueError::Full { .. }), "{err}");
    assert!(
        !o.gate().knows(&format!("id-{i}")),
        "not remembered: may be offered again"
    );
    // Once the sink drains, the same alert is taken.
    let acked = o.queue().acked();
    let upto = acked + o.queue().pending() - 1;
    o.queue_mut().ack_through(upto).unwrap();
    assert!(matches!(
        o.offer(&nth(i), t(9, 0, 1)).unwrap(),
        Offer::Queued { .. }
    ));
}
