//! Benign traffic: control plane, workloads, people, secret rotations and the AWS accounts.

pub mod aws;
pub mod people;
pub mod platform;
pub mod rotation;
pub mod workloads;
