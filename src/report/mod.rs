//! Compliance reports: SOC 2 / PCI-DSS evidence of secret access over a period, gathered with
//! SQL from the event store (the same Parquet files and DataFusion as `POST /api/query`), the
//! alerts and their triage history; rendered as HTML (summary, inline SVG charts, tables, each
//! section naming the controls it supports), Markdown, CSV or JSON. `secretwatch report` makes
//! one from a data directory; `[[report.schedules]]` make them in the service and mail them.

pub mod command;
pub mod config;
pub mod cron;
mod gather;
mod render;
pub mod schedule;
mod svg;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use config::{Period, ReportConfig, ScheduleConfig};
pub use gather::{gather, Inputs};
pub use render::{render, Format};

/// One report: everything it shows, typed (the JSON format is this, serialized).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub title: String,
    pub generated_at: DateTime<Utc>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub summary: Summary,
    pub volume: Volume,
    pub access: Vec<AccessRow>,
    /// Production environments the human-read section looked for.
    pub production_environments: Vec<String>,
    pub human_production_reads: Vec<AccessRow>,
    pub break_glass: Vec<Session>,
    pub alerts: AlertSection,
    pub broad_listers: Vec<BroadRow>,
    pub dormant: Vec<DormantRow>,
    pub rotation: Vec<RotationRow>,
    pub sync: Vec<SyncRow>,
    pub coverage: Vec<CoverageRow>,
    /// The earliest event the store holds (what "no rotation on record" is measured against).
    pub store_begins: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub events: u64,
    pub secret_accesses: u64,
    pub denied: u64,
    pub principals: u64,
    pub humans: u64,
    pub service_accounts: u64,
    pub secrets: u64,
    pub alerts: u64,
    pub alerts_open: u64,
    pub break_glass_sessions: u64,
    pub human_production_reads: u64,
    pub broad_listers: u64,
    pub dormant_identities: u64,
    pub rotation_overdue: u64,
    pub sync_gaps: u64,
    pub coverage_gaps: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Volume {
    /// `hour` or `day`.
    pub bucket: &'static str,
    pub points: Vec<VolumePoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VolumePoint {
    pub at: DateTime<Utc>,
    pub source: String,
    pub events: u64,
    pub secret_accesses: u64,
}

/// Accesses of one identity to one secret.
#[derive(Debug, Clone, Serialize)]
pub struct AccessRow {
    pub environment: Option<String>,
    pub principal: String,
    pub principal_kind: String,
    pub source: String,
    pub secret: String,
    pub reads: u64,
    pub lists: u64,
    pub changes: u64,
    pub denied: u64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// A break-glass session: its alerts, their triage, and what was done in it.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub principal: String,
    pub source: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// False while no session summary was raised yet (the session may still be going on).
    pub closed: bool,
    pub why: String,
    pub alerts: Vec<SessionAlert>,
    /// The latest triage decision over its alerts, `new` when none.
    pub state: String,
    pub triaged_by: Option<String>,
    pub note: Option<String>,
    pub events_total: u64,
    pub events: Vec<SessionEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionAlert {
    pub id: String,
    pub rule: String,
    pub state: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionEvent {
    pub id: String,
    pub time: DateTime<Utc>,
    pub action: String,
    pub verb: String,
    pub target: String,
    pub outcome: String,
    pub source_ip: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertSection {
    pub total: u64,
    pub by_severity: BTreeMap<String, u64>,
    pub by_state: BTreeMap<String, u64>,
    pub rules: Vec<RuleRow>,
}

/// Alerts of one rule and severity, their triage outcome and time to acknowledge.
#[derive(Debug, Clone, Serialize)]
pub struct RuleRow {
    pub rule: String,
    pub severity: String,
    pub alerts: u64,
    pub new: u64,
    pub acknowledged: u64,
    pub resolved: u64,
    pub false_positive: u64,
    /// Seconds from the alert (its last event) to its first triage decision.
    pub median_ack_seconds: Option<i64>,
    pub max_ack_seconds: Option<i64>,
}

/// An identity that listed secrets across namespaces or cluster-wide.
#[derive(Debug, Clone, Serialize)]
pub struct BroadRow {
    pub principal: String,
    pub principal_kind: String,
    pub lists: u64,
    pub namespaces: u64,
    pub cluster_wide: u64,
    /// Listed in detect.context.multi_namespace_readers or detect.known_controllers.
    pub expected: bool,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// An identity with secret access on record before the period and none in it.
#[derive(Debug, Clone, Serialize)]
pub struct DormantRow {
    pub principal: String,
    pub principal_kind: String,
    pub source: String,
    pub accesses_before: u64,
    pub last_access: DateTime<Utc>,
    pub days_inactive: i64,
    pub inactive: bool,
}

/// A secret read in the period, and when it was last written or rotated.
#[derive(Debug, Clone, Serialize)]
pub struct RotationRow {
    pub source: String,
    pub secret: String,
    pub reads: u64,
    pub last_read: DateTime<Utc>,
    pub last_change: Option<DateTime<Utc>>,
    pub age_days: Option<i64>,
    pub policy_days: u32,
    /// `ok`, `overdue`, `no change on record` (the store reaches back past the policy age:
    /// overdue too), `unknown` (the store's history is shorter than the policy), or `dynamic`
    /// (credentials made per request: Vault `creds`/`sts`/`issue`/`sign` paths, Kubernetes
    /// token requests).
    pub status: &'static str,
}

/// A Vault secret synced into a Kubernetes Secret (`detect.context.sync`).
#[derive(Debug, Clone, Serialize)]
pub struct SyncRow {
    pub vault_path: String,
    pub secret: String,
    pub last_vault_change: Option<DateTime<Utc>>,
    pub last_sync: Option<DateTime<Utc>>,
    pub sla_minutes: u32,
    pub lag_minutes: Option<i64>,
    /// `in sync`, `gap` (changed in Vault, not synced within the SLA), `never synced`,
    /// `no vault change on record`.
    pub status: &'static str,
    /// rotation-sync-gap / rotation-restart-gap alerts about it in the period.
    pub alerts: u64,
}

/// One source's events over the period, and its silences longer than allowed.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    pub source: String,
    pub events: u64,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub max_silence_minutes: u32,
    pub gaps: Vec<Gap>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub minutes: i64,
}

/// A section: its title, the controls it supports, and what it shows.
pub struct SectionInfo {
    pub key: &'static str,
    pub title: &'static str,
    pub controls: &'static str,
    pub about: &'static str,
}

pub const SECTIONS: [SectionInfo; 9] = [
    SectionInfo {
        key: "access",
        title: "Who accessed which secrets",
        controls: "SOC 2 CC6.1, CC6.3; PCI-DSS 7.2, 10.2.1",
        about: "Every identity (people and service accounts) that read, listed or changed a secret in the period, per environment, with first and last access and denied attempts.",
    },
    SectionInfo {
        key: "human_production_reads",
        title: "Human reads of production secrets",
        controls: "SOC 2 CC6.1, CC6.3; PCI-DSS 7.2.1, 8.2.2, 10.2.1.1",
        about: "Secrets of production environments read or listed by people rather than workloads.",
    },
    SectionInfo {
        key: "break_glass",
        title: "Break-glass sessions",
        controls: "SOC 2 CC6.1, CC7.2; PCI-DSS 8.2.2, 8.6.1, 10.2.1.2",
        about: "Use of emergency identities (Vault root tokens, configured break-glass accounts, privileged groups, impersonation of privileged users), everything done in each session, and its triage.",
    },
    SectionInfo {
        key: "alerts",
        title: "Alerts and response",
        controls: "SOC 2 CC7.2, CC7.3; PCI-DSS 10.4.1, 10.7.2",
        about: "Alerts raised in the period by rule and severity, their triage outcome, and the time from alert to first triage decision.",
    },
    SectionInfo {
        key: "broad_listers",
        title: "Over-broad identities: secrets listed across namespaces",
        controls: "SOC 2 CC6.1, CC6.3; PCI-DSS 7.2.1, 7.2.2",
        about: "Identities that listed Kubernetes Secrets in more than one namespace or cluster-wide; a list returns every value. Expected ones are those configured as multi-namespace readers or known controllers.",
    },
    SectionInfo {
        key: "dormant",
        title: "Dormant identities: access unused in the period",
        controls: "SOC 2 CC6.2, CC6.3; PCI-DSS 7.2.4, 8.2.6",
        about: "Identities with secret access on record before the period (within the store's retention) and none during it: candidates for removal. Inactive marks those idle longer than the inactivity limit.",
    },
    SectionInfo {
        key: "rotation",
        title: "Secrets not rotated within their policy age",
        controls: "SOC 2 CC6.1; PCI-DSS 3.7.4, 8.3.9, 8.6.3",
        about: "Secrets read in the period and the last write, creation or rotation on record, against the policy age.",
    },
    SectionInfo {
        key: "sync",
        title: "Rotation sync gaps",
        controls: "SOC 2 CC6.1, CC7.2; PCI-DSS 8.6.3",
        about: "Vault secrets synced into Kubernetes Secrets (detect.context.sync): whether the last change in Vault reached the cluster within its SLA.",
    },
    SectionInfo {
        key: "coverage",
        title: "Ingest coverage: gaps in the audit trail",
        controls: "SOC 2 CC7.2; PCI-DSS 10.2, 10.7.2",
        about: "Events per source and every silence longer than allowed: a source that stops sending is itself a finding.",
    },
];

pub fn section(key: &str) -> &'static SectionInfo {
    SECTIONS
        .iter()
        .find(|s| s.key == key)
        .expect("a known section")
}
