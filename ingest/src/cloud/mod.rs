//! Cloud secrets managers: AWS Secrets Manager (CloudTrail), Azure Key Vault (resource logs),
//! GCP Secret Manager (Cloud Audit Logs). Records are redacted at ingest like every other
//! source ([`redact`]).

pub mod azure;
pub mod cloudtrail;
pub(crate) mod common;
pub mod gcp;
pub mod redact;

pub use cloudtrail::is_aws_root;

#[cfg(test)]
mod allowlist_tests;
