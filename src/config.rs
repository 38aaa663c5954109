//! The one TOML config file, with `SECRETWATCH_<SECTION>__<KEY>` environment overrides,
//! validated at start with errors that name the key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use secretwatch_alerting::{validate_sinks, SecretSource, SinkConfig};
use secretwatch_detect::DetectConfig;
use secretwatch_ingest::{Format, ParseOptions, Stage, StageSet};
use serde::Deserialize;

/// Prefix of environment overrides: `SECRETWATCH_INGEST__CLUSTER=prod-eu1`.
pub const ENV_PREFIX: &str = "SECRETWATCH_";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub detect: DetectConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub serve: ServeConfig,
    #[serde(default)]
    pub alerting: AlertingConfig,
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub report: crate::report::ReportConfig,
}

/// The Kafka source of `serve`: a consumer group over topics of audit records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port,host:port`; empty means no Kafka source.
    #[serde(default)]
    pub brokers: String,
    /// Consumer group; every instance with the same group shares the partitions.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Topics and the format of their messages.
    #[serde(default)]
    pub topics: Vec<KafkaTopic>,
    /// Where a group without committed offsets starts: `earliest` or `latest`.
    #[serde(default = "default_start_from")]
    pub start_from: String,
    /// Most events per batch handed to detection.
    #[serde(default = "default_kafka_batch")]
    pub batch_max: usize,
    /// Longest a partial batch waits for more messages (milliseconds).
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
    /// Offsets are committed with a state checkpoint at least this often (seconds): a restart
    /// re-reads at most this much, and its alerts come again with the same ids.
    #[serde(default = "default_commit_seconds")]
    pub commit_seconds: u64,
    /// Group session timeout (milliseconds).
    #[serde(default = "default_session_ms")]
    pub session_timeout_ms: u64,
    /// `sasl.password` (SASL PLAIN / SCRAM), from the environment or a file.
    #[serde(default)]
    pub sasl_password: Option<SecretSource>,
    /// `ssl.key.password`, from the environment or a file.
    #[serde(default)]
    pub ssl_key_password: Option<SecretSource>,
    /// Several instances share the work (scale-out): detection state is kept per partition
    /// and written to `changelog_topic`, so a partition that moves to another instance takes
    /// its baselines and windows with it. The input topics must be keyed by principal and
    /// have equal partition counts.
    #[serde(default)]
    pub scale_out: bool,
    /// Compacted topic of the per-partition state (default `<group_id>-changelog`); created
    /// when missing.
    #[serde(default)]
    pub changelog_topic: Option<String>,
    /// Topic of the events of `repartition` topics, keyed by principal (default
    /// `<group_id>-events`); created when missing, with the partitions of the other inputs.
    #[serde(default)]
    pub repartition_topic: Option<String>,
    /// Partitions are merged by event time before detection: a partition quiet for this long
    /// (milliseconds) no longer holds the others back.
    #[serde(default = "default_reorder_idle")]
    pub reorder_idle_ms: u64,
    /// Most events held for that merge; beyond it the oldest go on at once.
    #[serde(default = "default_reorder_max")]
    pub reorder_max_events: usize,
    /// Any other librdkafka property: `security.protocol`, `sasl.mechanism`, `sasl.username`,
    /// `ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`, `client.id`...
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaTopic {
    pub name: String,
    /// `auto`, or one of `Format::NAMES` (`k8s-audit`, `vault`, `cloudtrail`, `azure-keyvault`,
    /// `gcp-audit`, `cloudwatch-logs`, `k8s-events`).
    #[serde(default = "default_format")]
    pub format: String,
    /// Scale-out: the topic is not keyed by principal (a shipper's random or round-robin
    /// partitioning). Its records are parsed by a separate consumer group and produced again,
    /// normalized and keyed by principal, to `kafka.repartition_topic`, which detection reads.
    #[serde(default)]
    pub repartition: bool,
}

fn default_group() -> String {
    "secretwatch".into()
}
fn default_start_from() -> String {
    "earliest".into()
}
fn default_kafka_batch() -> usize {
    4096
}
fn default_linger_ms() -> u64 {
    20
}
fn default_commit_seconds() -> u64 {
    10
}
fn default_reorder_idle() -> u64 {
    200
}
fn default_reorder_max() -> usize {
    200_000
}
fn default_session_ms() -> u64 {
    45_000
}

impl Default for KafkaConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

impl KafkaConfig {
    pub fn enabled(&self) -> bool {
        !self.brokers.trim().is_empty()
    }

    pub fn repartitioned(&self) -> String {
        self.repartition_topic
            .clone()
            .unwrap_or_else(|| format!("{}-events", self.group_id))
    }

    /// The topics detection reads: the keyed ones, and the repartition topic when any is not.
    pub fn detection_topics(&self) -> Vec<(String, String)> {
        let mut t: Vec<(String, String)> = self
            .topics
            .iter()
            .filter(|t| !(self.scale_out && t.repartition))
            .map(|t| (t.name.clone(), t.format.clone()))
            .collect();
        if self.scale_out && self.topics.iter().any(|t| t.repartition) {
            t.push((self.repartitioned(), "event".into()));
        }
        t
    }

    pub fn changelog(&self) -> String {
        self.changelog_topic
            .clone()
            .unwrap_or_else(|| format!("{}-changelog", self.group_id))
    }

    fn validate(&self, errs: &mut Vec<String>) {
        if !self.enabled() {
            if !self.topics.is_empty() {
                errs.push("kafka.brokers: topics are set but no brokers".into());
            }
            return;
        }
        if self.scale_out {
            if let Some(s) = self.properties.get("partition.assignment.strategy") {
                if s != "range" {
                    errs.push(format!("kafka.properties.partition.assignment.strategy: scale-out needs \"range\" (the same partition number of every topic to one instance), not {s:?}"));
                }
            }
            if self
                .changelog_topic
                .as_deref()
                .is_some_and(|t| t.trim().is_empty())
            {
                errs.push("kafka.changelog_topic: must not be empty".into());
            }
        }
        if self.reorder_max_events == 0 {
            errs.push("kafka.reorder_max_events: must be at least 1".into());
        }
        if self.reorder_idle_ms > 600_000 {
            errs.push("kafka.reorder_idle_ms: at most 600000 (10 minutes)".into());
        }
        if self.topics.is_empty() {
            errs.push("kafka.topics: name at least one topic".into());
        }
        for (i, t) in self.topics.iter().enumerate() {
            let valid = !t.name.is_empty()
                && t.name.len() <= 249
                && t.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !valid {
                errs.push(format!(
                    "kafka.topics[{i}].name: {:?} is not a Kafka topic name",
                    t.name
                ));
            }
            if let Err(e) = t.format.parse::<Format>() {
                errs.push(format!("kafka.topics[{i}].format: {e}"));
            }
        }
        if self.group_id.trim().is_empty() {
            errs.push("kafka.group_id: must not be empty".into());
        }
        if !["earliest", "latest"].contains(&self.start_from.as_str()) {
            errs.push(format!(
                "kafka.start_from: {:?} (expected earliest or latest)",
                self.start_from
            ));
        }
        if self.batch_max == 0 {
            errs.push("kafka.batch_max: must be at least 1".into());
        }
        if self.commit_seconds == 0 {
            errs.push("kafka.commit_seconds: must be at least 1".into());
        }
        for k in self.properties.keys() {
            let reserved = secretwatch_ingest::kafka::OWN_PROPERTIES.contains(&k.as_str())
                || k == "bootstrap.servers";
            if reserved {
                errs.push(format!(
                    "kafka.properties.{k}: set by secretwatch (use kafka.brokers / kafka.group_id)"
                ));
            }
            if k == "sasl.password" || k == "ssl.key.password" {
                errs.push(format!(
                    "kafka.properties.{k}: a credential: use kafka.{} = {{ env = \"VAR\" }} or {{ file = \"PATH\" }}",
                    k.replace('.', "_")
                ));
            }
        }
    }
}

/// Where alerts go besides `alerts.jsonl`: the sinks, each with its own durable queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Host name printed in alerts (HEC `host`, syslog HOSTNAME, PagerDuty source). Default:
    /// this machine's host name.
    #[serde(default)]
    pub host: Option<String>,
    /// Base URL of the dashboard; alerts link to `{dashboard_url}/alerts/{id}`.
    #[serde(default)]
    pub dashboard_url: Option<String>,
    /// At shutdown, wait this long for the sinks to empty their queues (what is left stays
    /// queued on disk for the next start).
    #[serde(default = "default_drain")]
    pub shutdown_drain_seconds: u64,
    /// The destinations: `[[alerting.sinks]]` (see `secretwatch.example.toml`).
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
}

fn default_drain() -> u64 {
    5
}

impl Default for AlertingConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// `secretwatch serve`: the live service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address of the HTTP server (ingest, health, metrics).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Alerts (`alerts.jsonl`), learned state (`state/`) and the dead-letter file live here.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Bearer token required on `POST /ingest/*`; unset means no authentication (loopback use).
    /// Give it through the environment (`SECRETWATCH_SERVE__INGEST_TOKEN`) or as
    /// `{ env = "VAR" }` / `{ file = "/run/secrets/token" }`, not as a literal in the file.
    #[serde(default)]
    pub ingest_token: Option<SecretSource>,
    /// Largest request body accepted.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Batches of events waiting for detection; when full, ingest answers 503 with Retry-After.
    #[serde(default = "default_queue")]
    pub queue_batches: usize,
    /// Address to accept Vault's `socket` audit device on (newline-delimited JSON over TCP).
    #[serde(default)]
    pub vault_socket: Option<String>,
    /// Save the learned state at least this often (seconds), not only at shutdown, so a crash
    /// loses at most this much learning.
    #[serde(default = "default_checkpoint")]
    pub checkpoint_seconds: u64,
    /// Files to follow as they grow: `[[serve.tail]] path = "/var/log/kubernetes/audit/audit*.log"`.
    #[serde(default)]
    pub tail: Vec<TailConfig>,
    /// How often followed files are checked for new lines and new files (milliseconds).
    #[serde(default = "default_tail_poll")]
    pub tail_poll_ms: u64,
    /// Events kept in memory for the dashboard and the alert API (alert details, timelines,
    /// principal pages, the overview); the oldest go first.
    #[serde(default = "default_recent_events")]
    pub recent_events: usize,
    /// Days of events kept in the Parquet store (`data/store/events/day=...`); 0 keeps all.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    /// Longest a SQL query (`POST /api/query`) may run (seconds).
    #[serde(default = "default_query_seconds")]
    pub query_seconds: u64,
    /// Memory a SQL query may use (MiB); beyond it the query fails with a clear error.
    #[serde(default = "default_query_memory")]
    pub query_memory_mb: usize,
    /// Rows a SQL query answers at most (the answer says when it was cut).
    #[serde(default = "default_query_rows")]
    pub query_max_rows: usize,
    /// Tokens of the analyst API and dashboard, each with a name (recorded with every triage)
    /// and a role: viewer (read), analyst (also triage), admin. None: the API is open (keep
    /// the listener on loopback).
    #[serde(default)]
    pub api_tokens: Vec<ApiToken>,
    /// Serve HTTPS: PEM certificate chain (with `tls_key_file`).
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM PKCS#8 private key of `tls_cert_file`.
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
}

/// One followed file or glob (`*`, `?` in the file name).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailConfig {
    pub path: PathBuf,
    /// `auto`, or one of `Format::NAMES` (`k8s-audit`, `vault`, `cloudtrail`, `azure-keyvault`,
    /// `gcp-audit`, `cloudwatch-logs`, `k8s-events`).
    #[serde(default = "default_format")]
    pub format: String,
    /// Files found at the very first start with no saved offset: read from the `beginning`
    /// or only new lines from the `end`.
    #[serde(default = "default_start_at")]
    pub start_at: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    pub name: String,
    /// A string, `{ env = "VAR" }` or `{ file = "PATH" }`.
    pub token: SecretSource,
    /// `viewer`, `analyst` or `admin`.
    pub role: String,
}

fn default_retention() -> u32 {
    90
}
fn default_query_seconds() -> u64 {
    30
}
fn default_query_memory() -> usize {
    512
}
fn default_query_rows() -> usize {
    10_000
}

fn default_recent_events() -> usize {
    500_000
}

fn default_tail_poll() -> u64 {
    250
}
fn default_start_at() -> String {
    "beginning".into()
}

fn default_checkpoint() -> u64 {
    300
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_max_body() -> usize {
    16 * 1024 * 1024
}
fn default_queue() -> usize {
    256
}

impl Default for ServeConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// `auto` (per record), or one of `Format::NAMES` (`k8s-audit`, `vault`, `cloudtrail`,
    /// `azure-keyvault`, `gcp-audit`, `cloudwatch-logs`, `k8s-events`).
    #[serde(default = "default_format")]
    pub format: String,
    /// Name of the Kubernetes cluster the audit events come from.
    #[serde(default = "default_cluster")]
    pub cluster: String,
    /// Name of the Vault the audit entries come from.
    #[serde(default = "default_vault")]
    pub vault: String,
    /// Kubernetes audit stages that count as one access.
    #[serde(default = "default_final_stages")]
    pub final_stages: Vec<String>,
    /// Size bound of the redacted raw copy kept with each event.
    #[serde(default = "default_raw_max_bytes")]
    pub raw_max_bytes: usize,
    /// Longest record accepted; longer ones go to the dead-letter file.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    /// Vault requests held while waiting for their response.
    #[serde(default = "default_vault_max_pending")]
    pub vault_max_pending: usize,
    /// Where records that cannot be parsed are written (created on first bad record).
    #[serde(default = "default_dead_letter")]
    pub dead_letter: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter directive.
    #[serde(default = "default_log_level")]
    pub level: String,
}

fn default_format() -> String {
    "auto".into()
}
fn default_cluster() -> String {
    "kubernetes".into()
}
fn default_vault() -> String {
    "vault".into()
}
fn default_final_stages() -> Vec<String> {
    vec!["ResponseComplete".into(), "Panic".into()]
}
fn default_raw_max_bytes() -> usize {
    16 * 1024
}
fn default_max_record_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_vault_max_pending() -> usize {
    10_000
}
fn default_dead_letter() -> PathBuf {
    PathBuf::from("secretwatch-dead-letter.jsonl")
}
fn default_log_level() -> String {
    "warn".into()
}

impl Default for IngestConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults deserialize")
    }
}

/// The documented defaults, as TOML (printed by `secretwatch config defaults`).
pub const DEFAULT_TOML: &str = include_str!("../secretwatch.example.toml");

impl Config {
    /// Read `path` (or nothing), apply environment overrides, validate.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        // Only `SECRETWATCH_<SECTION>__<KEY>`: other SECRETWATCH_* variables (Kubernetes service
        // links such as SECRETWATCH_PORT for a Service named secretwatch) are not ours.
        let vars: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
            .collect();
        Self::load_with_env(path, &vars)
    }

    pub fn load_with_env(path: Option<&Path>, env: &[(String, String)]) -> Result<Config> {
        let (text, name) = match path {
            Some(p) => (
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config {}", p.display()))?,
                p.display().to_string(),
            ),
            None => (String::new(), "<defaults>".to_string()),
        };
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            anyhow::anyhow!("config {name}: {}", one_line(&e.to_string()))
        })?;
        for (k, v) in env {
            apply_env(&mut table, k, v)?;
        }
        let cfg: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                anyhow::anyhow!("config {name}: {}", one_line(&e.to_string()))
            })?;
        let errs = cfg.validate();
        if !errs.is_empty() {
            bail!("config {name}: {}", errs.join("; "));
        }
        Ok(cfg)
    }

    /// Every problem at once, each naming its key.
    pub fn validate(&self) -> Vec<String> {
        let mut errs = vec![];
        if let Err(e) = self.ingest.format.parse::<Format>() {
            errs.push(format!("ingest.format: {e}"));
        }
        if self.ingest.final_stages.is_empty() {
            errs.push("ingest.final_stages: must name at least one stage".into());
        }
        for (i, s) in self.ingest.final_stages.iter().enumerate() {
            if Stage::parse(s).is_none() {
                errs.push(format!(
                    "ingest.final_stages[{i}]: unknown stage {s:?} (expected RequestReceived, ResponseStarted, ResponseComplete or Panic)"
                ));
            }
        }
        if self.ingest.cluster.trim().is_empty() {
            errs.push("ingest.cluster: must not be empty".into());
        }
        if self.ingest.vault.trim().is_empty() {
            errs.push("ingest.vault: must not be empty".into());
        }
        if !(512..=1 << 24).contains(&self.ingest.raw_max_bytes) {
            errs.push("ingest.raw_max_bytes: must be between 512 and 16777216".into());
        }
        if !(1024..=1 << 30).contains(&self.ingest.max_record_bytes) {
            errs.push("ingest.max_record_bytes: must be between 1024 and 1073741824".into());
        }
        if self.ingest.vault_max_pending == 0 {
            errs.push("ingest.vault_max_pending: must be at least 1".into());
        }
        if self.serve.listen.parse::<std::net::SocketAddr>().is_err() {
            errs.push(format!(
                "serve.listen: {:?} is not an address:port",
                self.serve.listen
            ));
        }
        if let Some(SecretSource::Literal(t)) = &self.serve.ingest_token {
            if t.expose().len() < 16 {
                errs.push("serve.ingest_token: shorter than 16 characters".into());
            }
        }
        if let Some(a) = &self.serve.vault_socket {
            if a.parse::<std::net::SocketAddr>().is_err() {
                errs.push(format!("serve.vault_socket: {a:?} is not an address:port"));
            }
        }
        if self.serve.max_body_bytes < 1024 {
            errs.push("serve.max_body_bytes: must be at least 1024".into());
        }
        if self.serve.checkpoint_seconds == 0 {
            errs.push("serve.checkpoint_seconds: must be at least 1".into());
        }
        for (i, t) in self.serve.tail.iter().enumerate() {
            if let Err(e) = t.format.parse::<Format>() {
                errs.push(format!("serve.tail[{i}].format: {e}"));
            }
            if !["beginning", "end"].contains(&t.start_at.as_str()) {
                errs.push(format!(
                    "serve.tail[{i}].start_at: {:?} (expected beginning or end)",
                    t.start_at
                ));
            }
            let dir_glob = t
                .path
                .parent()
                .is_some_and(|d| d.to_string_lossy().contains(['*', '?']));
            if dir_glob || t.path.as_os_str().is_empty() {
                errs.push(format!(
                    "serve.tail[{i}].path: {:?}: wildcards only in the file name",
                    t.path
                ));
            }
        }
        if self.serve.tls_cert_file.is_some() != self.serve.tls_key_file.is_some() {
            errs.push(
                "serve.tls_cert_file: set together with serve.tls_key_file (or neither)".into(),
            );
        }
        for (i, t) in self.serve.api_tokens.iter().enumerate() {
            if crate::serve::Role::parse(&t.role).is_none() {
                errs.push(format!(
                    "serve.api_tokens[{i}].role: {:?} (expected viewer, analyst or admin)",
                    t.role
                ));
            }
            if t.name.trim().is_empty() {
                errs.push(format!("serve.api_tokens[{i}].name: must not be empty"));
            }
        }
        if self.serve.query_seconds == 0 {
            errs.push("serve.query_seconds: must be at least 1".into());
        }
        if self.serve.query_memory_mb < 16 {
            errs.push("serve.query_memory_mb: must be at least 16".into());
        }
        if self.serve.query_max_rows == 0 {
            errs.push("serve.query_max_rows: must be at least 1".into());
        }
        if self.serve.recent_events == 0 {
            errs.push("serve.recent_events: must be at least 1".into());
        }
        if self.serve.tail_poll_ms == 0 {
            errs.push("serve.tail_poll_ms: must be at least 1".into());
        }
        if self.serve.queue_batches == 0 {
            errs.push("serve.queue_batches: must be at least 1".into());
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            errs.push(format!(
                "log.level: {:?} is not a level or filter",
                self.log.level
            ));
        }
        errs.extend(self.detect.validate());
        errs.extend(validate_sinks(&self.alerting.sinks, "alerting.sinks"));
        self.kafka.validate(&mut errs);
        let email_sinks: Vec<&str> = self
            .alerting
            .sinks
            .iter()
            .filter(|s| matches!(s.output, secretwatch_alerting::SinkKind::Email(_)))
            .map(|s| s.name.as_str())
            .collect();
        self.report.validate(&email_sinks, &mut errs);
        if let Some(u) = &self.alerting.dashboard_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                errs.push(format!(
                    "alerting.dashboard_url: {u:?} is not an http(s) URL"
                ));
            }
        }
        errs
    }

    /// The API tokens, loaded, with their roles.
    pub fn api_tokens(
        &self,
    ) -> Result<Vec<(String, secretwatch_alerting::Secret, crate::serve::Role)>> {
        let mut out = Vec::new();
        for (i, t) in self.serve.api_tokens.iter().enumerate() {
            let secret = t
                .token
                .load()
                .map_err(|e| anyhow::anyhow!("serve.api_tokens[{i}].token: {e}"))?;
            if secret.expose().len() < 16 {
                bail!("serve.api_tokens[{i}].token: shorter than 16 characters");
            }
            let role = crate::serve::Role::parse(&t.role)
                .ok_or_else(|| anyhow::anyhow!("serve.api_tokens[{i}].role: unknown"))?;
            out.push((t.name.clone(), secret, role));
        }
        Ok(out)
    }

    /// The ingest token, loaded from where the config says (checked for length here when it
    /// comes from the environment or a file).
    pub fn ingest_token(&self) -> Result<Option<secretwatch_alerting::Secret>> {
        let Some(src) = &self.serve.ingest_token else {
            return Ok(None);
        };
        let t = src
            .load()
            .map_err(|e| anyhow::anyhow!("serve.ingest_token: {e}"))?;
        if t.expose().len() < 16 {
            bail!("serve.ingest_token: shorter than 16 characters");
        }
        Ok(Some(t))
    }

    pub fn parse_options(&self) -> ParseOptions {
        let stages: Vec<Stage> = self
            .ingest
            .final_stages
            .iter()
            .filter_map(|s| Stage::parse(s))
            .collect();
        ParseOptions {
            cluster: self.ingest.cluster.clone(),
            vault: self.ingest.vault.clone(),
            final_stages: StageSet::of(&stages),
            raw_max_bytes: self.ingest.raw_max_bytes,
            max_record_bytes: self.ingest.max_record_bytes,
            vault_max_pending: self.ingest.vault_max_pending,
        }
    }

    pub fn format(&self) -> Format {
        self.ingest.format.parse().unwrap_or_default()
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `SECRETWATCH_INGEST__RAW_MAX_BYTES=4096` sets `ingest.raw_max_bytes`. Values parse as TOML
/// (numbers, booleans, arrays) and fall back to strings.
fn apply_env(table: &mut toml::Table, key: &str, value: &str) -> Result<()> {
    let path: Vec<String> = key[ENV_PREFIX.len()..]
        .split("__")
        .map(|p| p.to_ascii_lowercase())
        .collect();
    if path.len() < 2 || path.iter().any(String::is_empty) {
        bail!("environment variable {key}: expected {ENV_PREFIX}<SECTION>__<KEY>");
    }
    let parsed: toml::Value = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let mut cur = table;
    for part in &path[..path.len() - 1] {
        let entry = cur
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => bail!("environment variable {key}: {part} is not a section"),
        };
    }
    cur.insert(path[path.len() - 1].clone(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_example_agree() {
        let from_example: Config = toml::from_str(DEFAULT_TOML).unwrap();
        let defaults = Config::load_with_env(None, &[]).unwrap();
        assert_eq!(format!("{from_example:?}"), format!("{defaults:?}"));
    }

    /// The sink examples commented out in the example config are valid as written.
    #[test]
    fn example_sinks_parse_and_validate() {
        let start = DEFAULT_TOML
            .find("# [[alerting.sinks]]")
            .expect("the example shows sinks");
        let end = DEFAULT_TOML.find("\n[kafka]").expect("kafka section");
        let mut text = DEFAULT_TOML[..start].replace("\nsinks = []\n", "\n");
        for line in DEFAULT_TOML[start..end].lines() {
            text.push_str(line.strip_prefix('#').unwrap_or(line).trim_start());
            text.push('\n');
        }
        let cfg: Config = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(cfg.alerting.sinks.len(), 9);
        assert_eq!(cfg.validate(), Vec::<String>::new());
    }

    #[test]
    fn kafka_settings_are_checked_with_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[kafka]\nbrokers = \"localhost:9092\"\nstart_from = \"middle\"\ntopics = [{ name = \"bad topic\", format = \"syslog\" }]\n[kafka.properties]\n\"sasl.password\" = \"x\"\n\"enable.auto.commit\" = \"true\"\n",
        )
        .unwrap();
        let err = Config::load_with_env(Some(&p), &[])
            .unwrap_err()
            .to_string();
        for key in [
            "kafka.start_from",
            "kafka.topics[0].name",
            "kafka.topics[0].format",
            "kafka.properties.sasl.password",
            "kafka.properties.enable.auto.commit",
        ] {
            assert!(err.contains(key), "{key} missing from {err}");
        }
        assert!(
            !err.contains("\"x\""),
            "a credential is never echoed: {err}"
        );
    }

    #[test]
    fn secrets_never_print() {
        let env = vec![(
            "SECRETWATCH_SERVE__INGEST_TOKEN".to_string(),
            "tok-0123456789abcdef-canary".to_string(),
        )];
        let cfg = Config::load_with_env(None, &env).unwrap();
        let token = cfg.ingest_token().unwrap().unwrap();
        let shown = format!("{cfg:?} {token}");
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("[redacted]"));
        assert_eq!(token.expose(), "tok-0123456789abcdef-canary");
    }

    #[test]
    fn env_overrides_and_errors_name_keys() {
        let env = vec![
            (
                "SECRETWATCH_INGEST__CLUSTER".to_string(),
                "prod-eu1".to_string(),
            ),
            (
                "SECRETWATCH_INGEST__RAW_MAX_BYTES".to_string(),
                "4096".to_string(),
            ),
        ];
        let cfg = Config::load_with_env(None, &env).unwrap();
        assert_eq!(cfg.ingest.cluster, "prod-eu1");
        assert_eq!(cfg.ingest.raw_max_bytes, 4096);

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[ingest]\nformat = \"syslog\"\nfinal_stages = [\"Done\"]\nraw_max_bytes = 1\n",
        )
        .unwrap();
        let err = Config::load_with_env(Some(&p), &[])
            .unwrap_err()
            .to_string();
        for key in [
            "ingest.format",
            "ingest.final_stages[0]",
            "ingest.raw_max_bytes",
        ] {
            assert!(err.contains(key), "{key} missing from {err}");
        }
        std::fs::write(&p, "[ingest]\nclustr = \"x\"\n").unwrap();
        let err = Config::load_with_env(Some(&p), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("clustr"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}
