//! Ingest: inputs and parsers into the normalized [`AccessEvent`], redacted at ingest.
//!
//! Formats ([`Format`], detected per record under `auto`):
//! - Kubernetes audit (`Event` lines, `EventList`) and Vault audit device JSON;
//! - cloud secrets managers ([`cloud`]): AWS Secrets Manager through CloudTrail (single records,
//!   `{"Records": [...]}` files, EventBridge events), Azure Key Vault `AuditEvent` resource logs
//!   (`{"records": [...]}`, also as Event Hubs messages), GCP Secret Manager Cloud Audit Logs;
//! - managed-Kubernetes envelopes ([`managed`]): EKS audit through CloudWatch Logs subscription
//!   payloads, GKE Cloud Audit Logs entries (`k8s.io`), AKS `kube-audit` resource logs with the
//!   event in `properties.log` (string or object).

pub mod cloud;
pub mod deadletter;
pub mod decode;
pub mod error;
pub mod event;
pub mod json;
pub mod k8s;
pub mod kafka;
pub mod managed;
pub mod normalized;
pub mod options;
pub mod parser;
pub mod reader;
pub mod redact;
pub mod reorder;
pub mod strlist;
pub mod tail;
pub mod time;
pub mod vault;

pub use cloud::is_aws_root;
pub use deadletter::DeadLetter;
pub use decode::{lines_are_independent, Decoder, IngestStats};
pub use error::{IngestError, ParseError};
pub use event::{
    AccessEvent, Action, Impersonation, Outcome, Principal, PrincipalKind, Redactions, Repeat,
    Scope, SourceSystem, StrList, Target, VaultIdentity,
};
pub use options::{ParseOptions, Stage, StageSet};
pub use parser::{Format, Parsed, RecordParser};
pub use reader::Input;
