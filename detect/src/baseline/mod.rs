//! Per-principal baselines (in progress).
