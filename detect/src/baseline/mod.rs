//! Per-principal baselines: what each identity normally does (and how often it reads each of
//! its usual secrets), and six detections of what departs from it (see
//! [`detector`](mod@crate::baseline::detector) for the rules, and
//! [`profile`](mod@crate::baseline::profile) for the memory budget of one principal).

pub mod config;
pub mod detector;
pub mod profile;
pub mod store;
mod table;
pub mod terms;
pub mod termset;

pub use config::BaselineConfig;
pub use detector::{
    detector, BaselineDetector, NEW_SECRETS, NEW_SOURCE, PAIR_VOLUME, RULES, STATE_FILE,
    UNKNOWN_PRINCIPAL, UNUSUAL_HOUR, VOLUME,
};
pub use store::{BaselineError, BaselineStore, BaselineSummary, MemoryUsage, STATE_VERSION};

#[cfg(test)]
mod sample_tests;
#[cfg(test)]
mod tests;
