//! Deterministic generator of a realistic Kubernetes-audit and Vault-audit dataset for one cluster,
//! with injected, labeled attack stories.
//!
//! [`generate`] writes into [`GenerateOptions::out`]:
//! - `k8s-audit.jsonl`: `audit.k8s.io/v1` `Event` objects, one per line, sorted by `stageTimestamp`;
//! - `vault-audit.jsonl`: Vault file audit device entries (`request` then `response`), sorted by `time`;
//! - `labels.jsonl`: one line per injected story instance, with the ids of its events;
//! - `manifest.json`: options, counts, stories, and the simulated world (namespaces, environments,
//!   CIDRs, teams and time zones, break-glass identities, sync mappings) for detection config.
//!
//! Same seed and options give byte-identical files.

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
pub use generate::{generate, K8S_FILE, LABELS_FILE, MANIFEST_FILE, VAULT_FILE};
pub use options::{GenerateOptions, GenerateSummary};
pub use stories::plan::DETECTIONS;
