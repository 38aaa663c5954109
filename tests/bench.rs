//! The live benchmarks run end to end and report what they measured (their figures are for the
//! README, not for assertions: tests check behaviour, not speed).

mod common;

use common::kafka::Broker;

#[test]
fn bench_latency_reports_percentiles_with_every_alert_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run(
        dir.path(),
        &[
            "bench",
            "latency",
            "--rate",
            "500",
            "--seconds",
            "1",
            "--every",
            "10",
        ],
        None,
        &[],
    );
    let text = common::stdout(&out);
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    assert!(text.contains("500 events in"), "{text}");
    assert!(text.contains("p99"), "{text}");
    assert!(text.contains("(50 of 50 alerts arrived)"), "{text}");
}

#[test]
fn bench_kafka_consumes_everything_it_produced() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..300)
        .map(|i| {
            if i % 100 == 50 {
                // Three identities list Secrets cluster-wide.
                return common::k8s_line(
                    &format!("bk-{i}"),
                    &format!("system:serviceaccount:rogue-{i}:x"),
                    "list",
                    None,
                    None,
                    200,
                    "2026-11-03T10:00:00Z",
                ) + "\n";
            }
            common::k8s_line(
                &format!("bk-{i}"),
                &format!("system:serviceaccount:team-{}:app", i % 30),
                "get",
                Some(&format!("team-{}", i % 30)),
                Some("db"),
                200,
                "2026-11-03T10:00:00Z",
            ) + "\n"
        })
        .collect();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, lines).unwrap();
    let out = common::run(
        dir.path(),
        &[
            "bench",
            "kafka",
            "--brokers",
            &broker.bootstrap,
            file.to_str().unwrap(),
        ],
        None,
        &[],
    );
    let text = common::stdout(&out);
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    assert!(text.contains("bench kafka: 300 events"), "{text}");
    // Three cluster-wide lists by new identities (each also reading across namespaces): the
    // service's alerts are all counted when the bench stops the clock (the last batch was
    // processed, not just taken off the queue), and the same as one engine's over the lines.
    assert!(text.contains("  alerts: 6 "), "{text}");
    assert!(
        text.contains("alert ids: 6 distinct served, 6 from one engine")
            && text.contains("missing [], extra []"),
        "{text}"
    );
    assert!(text.contains("events/s"), "{text}");
}
