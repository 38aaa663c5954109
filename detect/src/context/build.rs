//! Building the context detections from their config.

use std::sync::Arc;

use thiserror::Error;

use crate::context::config::ContextConfig;
use crate::context::cross_environment::CrossEnvironmentSecretAccess;
use crate::context::cross_namespace::CrossNamespaceSecretRead;
use crate::context::helm_release::HelmReleaseRead;
use crate::context::missing_secret::MissingSecret;
use crate::context::off_hours::OffHoursHumanProdRead;
use crate::context::rotation::RotationSyncGap;
use crate::context::sa_token::SaTokenOutsideCluster;
use crate::context::world::World;
use crate::detector::Detector;

/// The `[detect.context]` section does not validate.
#[derive(Debug, Error)]
#[error("invalid [detect.context] config: {}", .problems.join("; "))]
pub struct ContextError {
    /// Every problem, each naming its key.
    pub problems: Vec<String>,
}

/// The context detections `cfg` has reference data for:
/// - `cross-namespace-secret-read`: always (it needs none; `multi_namespace_readers` allowlists);
/// - `missing-secret`: always (`environments` name where the Secret is and set severity);
/// - `helm-release-read-by-non-deployer`: always;
/// - `cross-environment-secret-access`: when `environments` is set;
/// - `off-hours-human-prod-read`: when `teams` is set;
/// - `sa-token-outside-cluster`: when `cluster_cidrs` is set;
/// - `rotation-sync-gap` (also reporting `rotation-restart-gap`): when `sync` is set.
pub fn detectors(cfg: &ContextConfig) -> Result<Vec<Box<dyn Detector>>, ContextError> {
    let world = Arc::new(World::compile(cfg).map_err(|problems| ContextError { problems })?);
    let mut out: Vec<Box<dyn Detector>> = vec![
        Box::new(CrossNamespaceSecretRead::new(world.clone())),
        Box::new(MissingSecret::new(
            world.clone(),
            cfg.missing_secret_grace_minutes,
            cfg.inventory_max_secrets,
        )),
        Box::new(HelmReleaseRead::new(world.clone())),
    ];
    if !cfg.environments.is_empty() {
        out.push(Box::new(CrossEnvironmentSecretAccess::new(world.clone())));
    }
    if !cfg.teams.is_empty() {
        out.push(Box::new(OffHoursHumanProdRead::new(world.clone())));
    }
    if !cfg.cluster_cidrs.is_empty() {
        out.push(Box::new(SaTokenOutsideCluster::new(world.clone())));
    }
    if !cfg.sync.is_empty() {
        out.push(Box::new(RotationSyncGap::new(world)));
    }
    Ok(out)
}
