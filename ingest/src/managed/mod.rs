//! Managed-Kubernetes audit envelopes: EKS through CloudWatch Logs subscription payloads, GKE
//! through Cloud Audit Logs entries, AKS through Azure resource-log records. Where the envelope
//! carries the `audit.k8s.io` event itself (EKS, AKS) the Kubernetes parser reads it, and the
//! event's `raw` is that inner event; GKE entries are mapped field by field.
//!
//! The store of these events is the cluster the envelope names (EKS log group, GKE
//! `resource.labels.cluster_name`, AKS resource id), or `ingest.cluster` when it names none.

pub mod aks;
pub mod cloudwatch;
pub mod gke;

use std::borrow::Cow;

use crate::error::ParseError;
use crate::event::AccessEvent;
use crate::k8s::{self, K8sRecord};
use crate::options::ParseOptions;
use crate::parser::{prefix_error, Parsed};

/// Parse a Kubernetes audit event that an envelope holds as text (a JSON-escaped string, so
/// the event owns its strings), naming errors under `prefix`, with the envelope's cluster.
pub(crate) fn inner_k8s_event(
    text: &str,
    opts: &ParseOptions,
    prefix: &str,
    cluster: Option<&str>,
    out: &mut dyn FnMut(Parsed<'static>),
) {
    let at = |mut ev: AccessEvent<'_>| {
        if let Some(c) = cluster {
            ev.target.store = Cow::Owned(c.to_string());
        }
        Parsed::Event(ev.into_owned())
    };
    match k8s::parse_event(text, opts) {
        Ok(K8sRecord::Event(ev)) => out(at(*ev)),
        Ok(K8sRecord::Reported(evs)) => evs.into_iter().for_each(|e| out(at(e))),
        Ok(K8sRecord::SkippedStage) => out(Parsed::Skipped),
        Err(e) => out(Parsed::Error(prefix_error(e, prefix))),
    }
}

/// Like [`inner_k8s_event`] for an event the envelope holds as an object (borrowed).
pub(crate) fn inner_k8s_object<'a>(
    text: &'a str,
    opts: &'a ParseOptions,
    prefix: &str,
    cluster: Option<String>,
    out: &mut dyn FnMut(Parsed<'a>),
) {
    let at = |mut ev: AccessEvent<'a>| {
        if let Some(c) = &cluster {
            ev.target.store = Cow::Owned(c.clone());
        }
        Parsed::Event(ev)
    };
    match k8s::parse_event(text, opts) {
        Ok(K8sRecord::Event(ev)) => out(at(*ev)),
        Ok(K8sRecord::Reported(evs)) => evs.into_iter().for_each(|e| out(at(e))),
        Ok(K8sRecord::SkippedStage) => out(Parsed::Skipped),
        Err(e) => out(Parsed::Error(prefix_error(e, prefix))),
    }
}

/// A field of an envelope that is neither an object nor a string.
pub(crate) fn not_an_event(prefix: &str, field: &str) -> ParseError {
    ParseError::field(
        crate::parser::join(prefix, field),
        "expected a Kubernetes audit event (an object, or a JSON string of one)",
    )
}
