//! `secretwatch-mock-kafka`: librdkafka's own mock cluster (the Kafka protocol, consumer
//! groups and rebalancing, in memory) as a process, for the tests of several service
//! instances in one consumer group: the tansu broker of the other Kafka tests never moves the
//! partitions of a dead member (../shared/notes/kafka-broker.md). A test tool, not for users.
//!
//! Usage: secretwatch-mock-kafka [--brokers N] TOPIC:PARTITIONS...
//! Creates the topics (the mock has no CreateTopics API), prints `bootstrap HOST:PORT,...` and
//! runs until its standard input closes (the test that started it is gone) or it is killed.

use std::io::{Read, Write};

use rdkafka::mocking::MockCluster;

fn main() {
    let mut brokers = 1;
    let mut topics = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--brokers" {
            brokers = args
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| usage("--brokers needs a number"));
            continue;
        }
        let Some((name, parts)) = a.split_once(':') else {
            usage(&format!("{a:?} is not TOPIC:PARTITIONS"));
        };
        let parts: i32 = parts
            .parse()
            .unwrap_or_else(|_| usage(&format!("{a:?}: partitions is not a number")));
        topics.push((name.to_string(), parts));
    }
    let cluster = MockCluster::new(brokers).unwrap_or_else(|e| {
        eprintln!("secretwatch-mock-kafka: cannot start the mock cluster: {e}");
        std::process::exit(1)
    });
    for (name, parts) in &topics {
        if let Err(e) = cluster.create_topic(name, *parts, 1) {
            eprintln!("secretwatch-mock-kafka: cannot create {name}: {e}");
            std::process::exit(1);
        }
    }
    println!("bootstrap {}", cluster.bootstrap_servers());
    let _ = std::io::stdout().flush();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

fn usage(msg: &str) -> ! {
    eprintln!("secretwatch-mock-kafka: {msg}\nusage: secretwatch-mock-kafka [--brokers N] TOPIC:PARTITIONS...");
    std::process::exit(2)
}
