//! A real Kafka-protocol broker for tests: tansu (installed by scripts/setup-kafka.sh), started
//! on a free loopback port in its own directory with SQLite storage (the memory engine loses
//! and repeats messages on group resumes: ../shared/notes/kafka-broker.md), stopped on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

pub struct Broker {
    child: Child,
    pub bootstrap: String,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tansu() -> PathBuf {
    super::installed_tool(
        "SECRETWATCH_TANSU",
        "tansu-0.6.0/bin/tansu",
        "scripts/setup-kafka.sh",
    )
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tansu");
        // Drain its output so it never blocks; readiness is the port accepting connections.
        for out in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            std::thread::spawn(move || for _ in BufReader::new(out).lines() {});
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start listening");
            if let Ok(Some(status)) = child.try_wait() {
                panic!("tansu exited at start: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let res = rt
            .block_on(admin.create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            ))
            .expect("create_topics");
        for r in res {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
        }
    }

    /// Produce `messages` (key, payload) and wait until all are acknowledged.
    pub fn produce(&self, topic: &str, messages: &[(String, String)]) {
        let keyed: Vec<(String, String, Option<i32>)> = messages
            .iter()
            .map(|(k, v)| (k.clone(), v.clone(), None))
            .collect();
        produce(&self.bootstrap, topic, &keyed);
    }
}

/// Produce (key, payload, partition) records and wait until all are acknowledged.
pub fn produce(bootstrap: &str, topic: &str, messages: &[(String, String, Option<i32>)]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (k, v, p) in messages {
        let mut rec = BaseRecord::to(topic).key(k.as_str()).payload(v.as_str());
        if let Some(p) = p {
            rec = rec.partition(*p);
        }
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("every message acknowledged by the broker");
}

/// librdkafka's mock cluster in its own process (`secretwatch-mock-kafka`): consumer groups
/// whose partitions move when a member dies, which tansu 0.6.0 does not do. Topics are made at
/// start (the mock has no CreateTopics API).
pub struct MockBroker {
    child: Child,
    pub bootstrap: String,
}

impl Drop for MockBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MockBroker {
    pub fn start(topics: &[(&str, i32)]) -> MockBroker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_secretwatch-mock-kafka"))
            .args(topics.iter().map(|(t, n)| format!("{t}:{n}")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start secretwatch-mock-kafka");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let bootstrap = line
            .trim()
            .strip_prefix("bootstrap ")
            .unwrap_or_else(|| panic!("the mock cluster did not start: {line:?}"))
            .to_string();
        MockBroker { child, bootstrap }
    }

    /// Next offset to read per partition (the high watermarks) and the group's committed ones.
    pub fn offsets(&self, topic: &str, partitions: i32, group: &str) -> (Vec<i64>, Vec<i64>) {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        let mut high = Vec::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
            high.push(
                c.fetch_watermarks(topic, p, Duration::from_secs(10))
                    .map(|(_, h)| h)
                    .unwrap_or(-1),
            );
        }
        let committed = c
            .committed_offsets(tpl, Duration::from_secs(10))
            .map(|t| {
                (0..partitions)
                    .map(|p| match t.find_partition(topic, p).map(|e| e.offset()) {
                        Some(rdkafka::Offset::Offset(o)) => o,
                        _ => -1,
                    })
                    .collect()
            })
            .unwrap_or_default();
        (high, committed)
    }
}
