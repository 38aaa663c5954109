//! OCSF: Detection Finding (2004) for alerts, API Activity (6003) for forwarded events.

mod activity;
mod config;
mod finding;

pub use activity::{api_activity, API_ACTIVITY_CLASS_UID};
pub use config::OcsfConfig;
pub use finding::{detection_finding, severity_id, DETECTION_FINDING_CLASS_UID, OCSF_VERSION};
