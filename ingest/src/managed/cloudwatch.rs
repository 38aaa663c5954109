//! CloudWatch Logs subscription payloads (`{"messageType": "DATA_MESSAGE", "logGroup": …,
//! "logEvents": [{"id", "timestamp", "message"}]}`): EKS control-plane audit logs (log group
//! `/aws/eks/<cluster>/cluster`), or CloudTrail delivered to a log group. Each `message` is one
//! record, detected by its keys. `CONTROL_MESSAGE` payloads are skipped.
//!
//! Subscriptions deliver the payload gzip-compressed: gzip files and streams are decompressed
//! by the reader; a payload still base64-encoded (a Firehose HTTP endpoint request) must be
//! decoded before it reaches us.

use serde::Deserialize;

use crate::cloud::cloudtrail;
use crate::error::ParseError;
use crate::json::{describe_error, Str};
use crate::managed::inner_k8s_event;
use crate::options::ParseOptions;
use crate::parser::{join, sniff, Format, Parsed};

#[derive(Deserialize)]
struct RawLogEvent<'a> {
    #[serde(borrow)]
    message: Option<Str<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPayload<'a> {
    #[serde(borrow)]
    message_type: Option<Str<'a>>,
    #[serde(borrow)]
    log_group: Option<Str<'a>>,
    #[serde(borrow, default)]
    log_events: Vec<RawLogEvent<'a>>,
}

/// `/aws/eks/<cluster>/cluster` -> the cluster.
pub fn cluster_of(log_group: &str) -> Option<&str> {
    log_group
        .strip_prefix("/aws/eks/")?
        .strip_suffix("/cluster")
        .filter(|c| !c.is_empty() && !c.contains('/'))
}

/// Parse one subscription payload.
pub fn parse<'a>(text: &'a str, opts: &'a ParseOptions, out: &mut dyn FnMut(Parsed<'a>)) {
    let payload: RawPayload<'a> = match serde_json::from_str(text) {
        Ok(p) => p,
        Err(e) => return out(Parsed::Error(describe_error::<RawPayload>(text, e, ""))),
    };
    if payload
        .message_type
        .as_ref()
        .is_some_and(|t| t.as_str() == "CONTROL_MESSAGE")
    {
        return out(Parsed::Skipped);
    }
    let cluster = payload
        .log_group
        .as_ref()
        .and_then(|g| cluster_of(g.as_str()))
        .map(str::to_string);
    if payload.log_events.is_empty() {
        return out(Parsed::Error(ParseError::field(
            "logEvents",
            "missing or empty",
        )));
    }
    for (i, ev) in payload.log_events.into_iter().enumerate() {
        let field = format!("logEvents[{i}].message");
        let Some(msg) = ev.message else {
            out(Parsed::Error(ParseError::field(field, "missing")));
            continue;
        };
        let msg = msg.as_str().trim();
        match sniff(msg) {
            Some(Format::K8sAudit) => {
                inner_k8s_event(msg, opts, &field, cluster.as_deref(), &mut |p| out(p))
            }
            Some(Format::CloudTrail) => {
                cloudtrail::parse_record(msg, opts, &field, &mut |p| out(p.into_owned()))
            }
            _ => out(Parsed::Error(ParseError::field(
                join(&field, ""),
                "not a Kubernetes audit event or a CloudTrail record",
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eks_log_groups() {
        assert_eq!(cluster_of("/aws/eks/prod-eks/cluster"), Some("prod-eks"));
        assert_eq!(cluster_of("/aws/lambda/x"), None);
        assert_eq!(cluster_of("/aws/eks//cluster"), None);
    }
}
