//! Benign traffic: control plane, workloads, people and secret rotations.

pub mod people;
pub mod platform;
pub mod rotation;
pub mod workloads;
