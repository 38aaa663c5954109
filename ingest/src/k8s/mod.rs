//! Kubernetes audit (`audit.k8s.io/v1`): `Event` lines and `EventList` bodies.

pub mod events;
mod parser;
mod principal;
pub mod request;

pub use parser::{parse_event, parse_event_list, K8sRecord};
pub use principal::classify_username;
