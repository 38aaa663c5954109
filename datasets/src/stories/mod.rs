//! Injected attack stories, each labeled in `labels.jsonl`.

pub mod cloud;
pub mod k8s_attacks;
pub mod mixed;
pub mod plan;
