//! Context detections: namespaces, environments, business hours, cluster networks, rotation sync.
//!
//! They judge an access by what the config says about the world ([`ContextConfig`]) rather than
//! by history: a dev workload reading a prod secret, a person reading prod secrets at 03:00 in
//! their own timezone, a service-account token used from outside the cluster, a rotated Vault
//! secret that never reached its Kubernetes Secret.

mod build;
pub(crate) mod common;
pub mod config;
mod cross_environment;
mod cross_namespace;
mod helm_release;
mod hours;
mod missing_secret;
mod off_hours;
mod rotation;
mod sa_token;
mod world;

pub use build::{detectors, ContextError};
pub use config::{ContextConfig, SyncMapping, TeamConfig, VaultEnvironmentRule, KEY_PREFIX};
pub use cross_environment::RULE as CROSS_ENVIRONMENT;
pub use cross_namespace::RULE as CROSS_NAMESPACE;
pub use helm_release::RULE as HELM_RELEASE_READ;
pub use missing_secret::{is_report as is_missing_secret_report, RULE as MISSING_SECRET};
pub use off_hours::RULE as OFF_HOURS;
pub use rotation::{RESTART_RULE as ROTATION_RESTART, RULE as ROTATION_SYNC};
pub use sa_token::RULE as SA_TOKEN;
pub use world::World;

#[cfg(test)]
mod missing_secret_tests;
#[cfg(test)]
mod rotation_tests;
#[cfg(test)]
mod sample_tests;
#[cfg(test)]
mod tests;
