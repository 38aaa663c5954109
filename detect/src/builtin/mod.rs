//! Detections that ship in code (the rule engine of issue 3 adds YAML rules beside them).

mod anonymous;
mod break_glass;
mod groups;
mod pod_token;
mod secret_shared;
mod secret_values;

pub use anonymous::AnonymousSecretAccess;
pub use break_glass::{BreakGlass, RULE as BREAK_GLASS, SESSION_RULE as BREAK_GLASS_SESSION};
pub use groups::WindowedGroups;
pub use pod_token::{PodTokenOffCluster, RULE as POD_TOKEN_OFF_CLUSTER};
pub use secret_shared::{SecretSharedOutside, RULE as SECRET_SHARED_OUTSIDE};
pub use secret_values::SecretValuesInAuditLog;
