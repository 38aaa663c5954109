//! Deterministic generator of a realistic Kubernetes-audit, Vault-audit and CloudTrail dataset for one
//! cluster and its cloud accounts,
//! with injected, labeled attack stories.
//!
//! [`generate`] writes into [`GenerateOptions::out`]:
//! - `k8s-audit.jsonl`: `audit.k8s.io/v1` `Event` objects, one per line, sorted by `stageTimestamp`;
//! - `vault-audit.jsonl`: Vault file audit device entries (`request` then `response`), sorted by `time`;
//! - `cloudtrail.jsonl`: AWS CloudTrail records (Secrets Manager, Parameter Store), one per line,
//!   sorted by `eventTime`;
//! - `labels.jsonl`: one line per injected story instance, with the ids of its events;
//! - `manifest.json`: options, counts, stories, and the simulated world (namespaces, environments,
//!   CIDRs, teams and time zones, break-glass identities, sync mappings) for detection config.
//!
//! Same seed and options give byte-identical files.

mod aws;
mod benign;
mod error;
mod generate;
mod k8s;
mod kube_events;
mod labels;
mod manifest;
mod options;
mod output;
mod principal;
mod rng;
mod salt;
mod schedule;
mod sink;
mod stories;
mod timefmt;
mod vault;
mod vault_ident;
mod world;

pub use error::DatasetError;
pub use generate::{generate, CLOUDTRAIL_FILE, K8S_FILE, LABELS_FILE, MANIFEST_FILE, VAULT_FILE};
pub use options::{GenerateOptions, GenerateSummary};
pub use stories::plan::DETECTIONS;
