//! Injected attack stories, each labeled in `labels.jsonl`.

pub mod k8s_attacks;
pub mod mixed;
pub mod plan;
