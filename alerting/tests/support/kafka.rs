//! A real Kafka-protocol broker on loopback for the Kafka sink tests: tansu 0.6.0 (installed
//! by `scripts/setup.sh` through `scripts/setup-kafka.sh`), in its own temporary directory with
//! SQLite storage (see `../shared/notes/kafka-broker.md` for why not the memory engine),
//! killed by its own pid when dropped. Topics are made with rdkafka's admin client; what a sink
//! produced is read back with a plain consumer assigned to every partition from the start.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

/// The tansu binary: `$SECRETWATCH_TANSU`, else where `scripts/setup-kafka.sh` installs it.
/// Missing: the test fails and says how to install it (never a silent pass).
fn tansu() -> PathBuf {
    let p = match std::env::var("SECRETWATCH_TANSU") {
        Ok(p) => PathBuf::from(p),
        Err(_) => {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            PathBuf::from(home).join(".cache/secretwatch/tansu-0.6.0/bin/tansu")
        }
    };
    assert!(
        p.exists(),
        "the Kafka test broker (tansu) is not installed at {}: run scripts/setup.sh",
        p.display()
    );
    p
}

/// A port nothing listens on (bound, then released), for a broker that starts later.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

impl Broker {
    pub fn start() -> Broker {
        Broker::start_on(free_port())
    }

    /// On a given loopback port (a broker that comes up where a sink was failing to connect).
    pub fn start_on(port: u16) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tansu");
        // Read its output so that a full pipe never stalls it.
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || BufReader::new(out).lines().for_each(drop));
        }
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || BufReader::new(err).lines().for_each(drop));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("tansu exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "tansu is not listening on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker {
            child,
            bootstrap: format!("127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// Create `name` with `partitions` partitions (replication factor 1).
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("admin client");
        let results = admin
            .create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("create_topics");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
        }
    }

    /// Every message of `topic` from the beginning, waiting up to `secs` seconds until there
    /// are at least `want`; then a short extra wait shows any surplus (a duplicate).
    pub async fn consume(&self, topic: &str, want: usize, secs: u64) -> Vec<Consumed> {
        let bootstrap = self.bootstrap.clone();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || consume_blocking(&bootstrap, &topic, want, secs))
            .await
            .unwrap()
    }
}

/// One message as the consumer read it.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub payload: Vec<u8>,
}

impl Consumed {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("the payload is JSON")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

fn consume_blocking(bootstrap: &str, topic: &str, want: usize, secs: u64) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "secretwatch-alerting-test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .expect("consumer");
    let meta = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    let partitions = meta
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    assert!(partitions > 0, "topic {topic} has no partitions");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut settle: Option<Instant> = None;
    loop {
        if out.len() >= want {
            // Keep reading a little longer: a duplicate would show up now.
            let until = *settle.get_or_insert_with(|| Instant::now() + Duration::from_secs(2));
            if Instant::now() >= until {
                break;
            }
        } else if Instant::now() >= deadline {
            break;
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(e)) => eprintln!("consumer: {e}"),
            Some(Ok(m)) => {
                let mut headers = BTreeMap::new();
                if let Some(h) = m.headers() {
                    for x in h.iter() {
                        let v = x.value.map(|v| String::from_utf8_lossy(v).into_owned());
                        headers.insert(x.key.to_string(), v.unwrap_or_default());
                    }
                }
                out.push(Consumed {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    headers,
                    payload: m.payload().unwrap_or_default().to_vec(),
                });
            }
        }
    }
    out
}
