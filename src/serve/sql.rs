//! The event store behind `POST /api/query`: every normalized (redacted) event as a row,
//! buffered in memory and flushed to Parquet files partitioned by day
//! (`data/store/events/day=YYYY-MM-DD/*.parquet`) at each state checkpoint, so a crash loses at
//! most what Kafka or file offsets replay; old days are deleted after `retention_days`.
//! Queries run in DataFusion over those files plus the unflushed rows (`events`), the alerts
//! with their triage state (`alerts`) and the analysts' own audit trail (`audit`), read-only,
//! with a time limit, a memory pool and a row cap.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{
    ArrayRef, BooleanBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
    UInt16Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use serde_json::Value;
use tracing::{info, warn};

use crate::serve::store::EventRow;

/// Limits of one query.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub time: Duration,
    pub memory_bytes: usize,
    pub max_rows: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query itself: refused (not read-only), unknown table or column, bad syntax.
    #[error("{0}")]
    Refused(String),
    #[error("the query ran longer than {0} s and was stopped")]
    Timeout(u64),
    #[error("query failed: {0}")]
    Failed(String),
}

pub fn event_schema() -> SchemaRef {
    let utc = Some(Arc::from("UTC"));
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, utc),
            false,
        ),
        Field::new("source", DataType::Utf8, false),
        Field::new("principal", DataType::Utf8, false),
        Field::new("principal_kind", DataType::Utf8, false),
        Field::new("action", DataType::Utf8, false),
        Field::new("verb", DataType::Utf8, false),
        Field::new("outcome", DataType::Utf8, false),
        Field::new("status", DataType::UInt16, true),
        Field::new("target", DataType::Utf8, false),
        Field::new("is_secret", DataType::Boolean, false),
        Field::new("source_ip", DataType::Utf8, true),
        Field::new("user_agent", DataType::Utf8, true),
        // Added after the first release: files without them read as nulls.
        Field::new("namespace", DataType::Utf8, true),
        Field::new("environment", DataType::Utf8, true),
    ]))
}

/// Event rows appended column by column into Arrow builders: the bytes of each row are copied
/// once into contiguous buffers (no allocation per row or per string), and finished into one
/// record batch of [`event_schema`].
struct Columns {
    id: StringBuilder,
    time: TimestampMicrosecondBuilder,
    source: StringBuilder,
    principal: StringBuilder,
    kind: StringBuilder,
    action: StringBuilder,
    verb: StringBuilder,
    outcome: StringBuilder,
    status: UInt16Builder,
    target: StringBuilder,
    secret: BooleanBuilder,
    ip: StringBuilder,
    ua: StringBuilder,
    ns: StringBuilder,
    env: StringBuilder,
}

impl Columns {
    fn new(n: usize) -> Columns {
        let s = |bytes: usize| StringBuilder::with_capacity(n, n * bytes);
        Columns {
            id: s(36),
            time: TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            source: s(10),
            principal: s(40),
            kind: s(10),
            action: s(6),
            verb: s(6),
            outcome: s(8),
            status: UInt16Builder::with_capacity(n),
            target: s(40),
            secret: BooleanBuilder::with_capacity(n),
            ip: s(14),
            ua: s(32),
            ns: s(12),
            env: s(6),
        }
    }

    fn rows(&self) -> usize {
        arrow::array::ArrayBuilder::len(&self.id)
    }

    fn push(&mut self, r: &EventRow) {
        self.id.append_value(&r.id);
        self.time.append_value(r.time.timestamp_micros());
        self.source.append_value(r.source);
        self.principal.append_value(&r.principal);
        self.kind.append_value(r.kind);
        self.action.append_value(r.action);
        self.verb.append_value(&r.verb);
        self.outcome.append_value(r.outcome);
        self.status.append_option(r.status);
        self.target.append_value(&r.target);
        self.secret.append_value(r.is_secret);
        self.ip.append_option(r.source_ip.as_deref());
        self.ua.append_option(r.user_agent.as_deref());
        self.ns.append_option(r.namespace.as_deref());
        self.env.append_option(r.environment.as_deref());
    }

    fn arrays(&mut self, cloned: bool) -> RecordBatch {
        fn f<B: arrow::array::ArrayBuilder>(b: &mut B, cloned: bool) -> ArrayRef {
            if cloned {
                b.finish_cloned()
            } else {
                b.finish()
            }
        }
        let cols: Vec<ArrayRef> = vec![
            f(&mut self.id, cloned),
            f(&mut self.time, cloned),
            f(&mut self.source, cloned),
            f(&mut self.principal, cloned),
            f(&mut self.kind, cloned),
            f(&mut self.action, cloned),
            f(&mut self.verb, cloned),
            f(&mut self.outcome, cloned),
            f(&mut self.status, cloned),
            f(&mut self.target, cloned),
            f(&mut self.secret, cloned),
            f(&mut self.ip, cloned),
            f(&mut self.ua, cloned),
            f(&mut self.ns, cloned),
            f(&mut self.env, cloned),
        ];
        RecordBatch::try_new(event_schema(), cols).expect("columns match the schema")
    }
}

/// Rows not yet flushed, by day (days since the epoch, UTC).
#[derive(Default)]
struct Pending {
    days: std::collections::BTreeMap<i64, Columns>,
}

impl Pending {
    fn rows(&self) -> usize {
        self.days.values().map(Columns::rows).sum()
    }
}

/// A table of strings from JSON objects (alerts, audit records): one Utf8 column per key,
/// arrays joined with ", ", other values as their JSON text.
fn string_table(keys: &[&str], rows: &[Value]) -> RecordBatch {
    let schema = Arc::new(Schema::new(
        keys.iter()
            .map(|k| Field::new(*k, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let cols: Vec<ArrayRef> = keys
        .iter()
        .map(|k| {
            let mut b = StringBuilder::new();
            for r in rows {
                match &r[*k] {
                    Value::Null => b.append_null(),
                    Value::String(s) => b.append_value(s),
                    Value::Array(a) => b.append_value(
                        a.iter()
                            .map(|v| {
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    v => b.append_value(v.to_string()),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        })
        .collect();
    RecordBatch::try_new(schema, cols).expect("columns match the schema")
}

pub struct EventStore {
    dir: PathBuf,
    pending: Mutex<Pending>,
    retention_days: u32,
    seq: std::sync::atomic::AtomicU64,
}

impl EventStore {
    pub fn open(data: &Path, retention_days: u32) -> std::io::Result<EventStore> {
        let dir = data.join("store").join("events");
        std::fs::create_dir_all(&dir)?;
        Ok(EventStore {
            dir,
            pending: Mutex::new(Pending::default()),
            retention_days,
            seq: Default::default(),
        })
    }

    pub fn append(&self, rows: &[EventRow]) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut last: Option<(i64, &mut Columns)> = None;
        for r in rows {
            let day = r.time.timestamp().div_euclid(86_400);
            let cols = match last.take() {
                Some((d, c)) if d == day => c,
                _ => p
                    .days
                    .entry(day)
                    .or_insert_with(|| Columns::new(rows.len().max(1024))),
            };
            cols.push(r);
            last = Some((day, cols));
        }
    }

    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .rows()
    }

    /// Write what is buffered to Parquet, one file per day touched; then apply retention.
    pub fn flush(&self) -> anyhow::Result<usize> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if pending.rows() == 0 {
            return Ok(0);
        }
        let stamp = chrono::Utc::now().timestamp_millis();
        let mut written = 0;
        for (day, mut cols) in pending.days {
            let day = chrono::DateTime::from_timestamp(day * 86_400, 0)
                .unwrap_or_default()
                .format("%Y-%m-%d");
            let dir = self.dir.join(format!("day={day}"));
            std::fs::create_dir_all(&dir)?;
            let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("events-{stamp}-{seq}.parquet");
            let tmp = dir.join(format!(".{name}.tmp"));
            let file = std::fs::File::create(&tmp)?;
            let props = datafusion::parquet::file::properties::WriterProperties::builder()
                .set_compression(datafusion::parquet::basic::Compression::SNAPPY)
                .set_max_row_group_row_count(Some(65_536))
                .build();
            let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(
                file,
                event_schema(),
                Some(props),
            )?;
            let rows = cols.rows();
            w.write(&cols.arrays(false))?;
            w.close()?;
            // Visible to queries only when complete.
            std::fs::rename(&tmp, dir.join(&name))?;
            written += rows;
        }
        self.retain()?;
        Ok(written)
    }

    fn retain(&self) -> std::io::Result<()> {
        if self.retention_days == 0 {
            return Ok(());
        }
        let oldest = (chrono::Utc::now() - chrono::Duration::days(i64::from(self.retention_days)))
            .format("day=%Y-%m-%d")
            .to_string();
        for e in std::fs::read_dir(&self.dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("day=") && name < oldest {
                info!(partition = %name, "Event store: deleting a day past retention.");
                std::fs::remove_dir_all(e.path())?;
            }
        }
        Ok(())
    }

    /// Run one read-only query; the result batches, their schema, and whether rows were cut.
    pub async fn query(
        &self,
        sql: &str,
        alerts: &[Value],
        audit: &[Value],
        baselines: &[Value],
        limits: Limits,
    ) -> Result<(SchemaRef, Vec<RecordBatch>, bool), QueryError> {
        let failed = |e: datafusion::error::DataFusionError| QueryError::Failed(e.to_string());
        // A hard memory limit: operators that would spill fail instead (and a query never
        // writes temporary files).
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(limits.memory_bytes)))
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(failed)?;
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_information_schema(true);
        let ctx = SessionContext::new_with_config_rt(config, runtime);

        // events = the Parquet files + the rows not flushed yet.
        let schema = event_schema();
        let url = ListingTableUrl::parse(self.dir.to_string_lossy()).map_err(failed)?;
        let opts =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let stored = ListingTable::try_new(
            ListingTableConfig::new(url)
                .with_listing_options(opts)
                .with_schema(schema.clone()),
        )
        .map_err(failed)?;
        let recent: Vec<RecordBatch> = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.days.values_mut().map(|c| c.arrays(true)).collect()
        };
        let recent = MemTable::try_new(schema, vec![recent]).map_err(failed)?;
        let events = ctx
            .read_table(Arc::new(stored))
            .map_err(failed)?
            .union(ctx.read_table(Arc::new(recent)).map_err(failed)?)
            .map_err(failed)?;
        ctx.register_table("events", events.into_view())
            .map_err(failed)?;

        let alert_keys = [
            "id",
            "rule",
            "severity",
            "title",
            "principal",
            "source",
            "first_seen",
            "last_seen",
            "reason",
            "targets",
            "source_ips",
            "tags",
            "break_glass",
            "state",
            "event_ids",
        ];
        let a = string_table(&alert_keys, alerts);
        ctx.register_table(
            "alerts",
            Arc::new(MemTable::try_new(a.schema(), vec![vec![a]]).map_err(failed)?),
        )
        .map_err(failed)?;
        let audit_keys = ["at", "who", "action", "detail"];
        let t = string_table(&audit_keys, audit);
        ctx.register_table(
            "audit",
            Arc::new(MemTable::try_new(t.schema(), vec![vec![t]]).map_err(failed)?),
        )
        .map_err(failed)?;

        let baseline_keys = [
            "source",
            "principal",
            "first_seen",
            "last_active",
            "learning",
            "active_hours_of_week",
            "completed_hours",
            "hourly_reads_mean",
            "hourly_reads_variance",
            "seen_networks",
            "seen_user_agents",
            "seen_namespaces",
            "seen_secrets",
        ];
        let b = string_table(&baseline_keys, baselines);
        ctx.register_table(
            "baselines",
            Arc::new(MemTable::try_new(b.schema(), vec![vec![b]]).map_err(failed)?),
        )
        .map_err(failed)?;

        // Read-only: no DDL (CREATE EXTERNAL TABLE would read any file), no DML (COPY TO,
        // INSERT write files), no statements (SET changes limits).
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = ctx
            .sql_with_options(sql, options)
            .await
            .map_err(|e| QueryError::Refused(e.to_string()))?;
        let df = df.limit(0, Some(limits.max_rows + 1)).map_err(failed)?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = tokio::time::timeout(limits.time, df.collect())
            .await
            .map_err(|_| QueryError::Timeout(limits.time.as_secs()))?
            .map_err(failed)?;
        // The row cap.
        let mut out = Vec::new();
        let mut rows = 0;
        let mut truncated = false;
        for b in batches {
            if rows + b.num_rows() > limits.max_rows {
                let keep = limits.max_rows - rows;
                out.push(b.slice(0, keep));
                truncated = true;
                break;
            }
            rows += b.num_rows();
            out.push(b);
        }
        Ok((schema, out, truncated))
    }
}

/// `{"columns": [...], "rows": [[...]], "truncated": bool}`.
pub fn to_json(schema: &SchemaRef, batches: &[RecordBatch], truncated: bool) -> Value {
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut rows = Vec::new();
    for b in batches {
        let mut buf = Vec::new();
        {
            let mut w = arrow::json::writer::ArrayWriter::new(&mut buf);
            if let Err(e) = w.write(b).and_then(|()| w.finish()) {
                warn!(error = %e, "cannot encode a result batch as JSON");
                continue;
            }
        }
        let objs: Vec<serde_json::Map<String, Value>> =
            serde_json::from_slice(&buf).unwrap_or_default();
        for o in objs {
            rows.push(Value::Array(
                columns
                    .iter()
                    .map(|c| o.get(c).cloned().unwrap_or(Value::Null))
                    .collect(),
            ));
        }
    }
    serde_json::json!({"columns": columns, "rows": rows, "truncated": truncated})
}

pub fn to_csv(batches: &[RecordBatch]) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut buf);
        for b in batches {
            w.write(b)?;
        }
    }
    Ok(buf)
}

pub fn to_ipc(
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, arrow::error::ArrowError> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, schema)?;
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    Ok(buf)
}
