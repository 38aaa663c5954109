//! `pod-token-used-off-cluster`: a pod-bound service-account token used from a network none of
//! the cluster's nodes and pods use: the token was copied out of its pod (issue 21 item 7).
//!
//! A token the API server bound to a pod carries the pod's node in `user.extra`
//! (`authentication.kubernetes.io/node-name`, Kubernetes `pkg/serviceaccount/claims.go`), so
//! it is known to live in a pod, unlike a legacy Secret-based token that a CI system may hold.
//! Where it may be used from is learned, not configured, so this works with
//! `detect.context.cluster_cidrs` unset (when it is set, `sa-token-outside-cluster` judges the
//! same requests against the configured networks and this detection stays out of its way):
//!
//! - every kubelet request (`system:node:<name>`) teaches its address's network: nodes come
//!   and go with autoscaling, and register before their pods run;
//! - pod-bound tokens' requests teach theirs during the learning period
//!   (`detect.history_learning_days` of event time since the first event this detection saw,
//!   at least one day: pods' ranges are not the kubelets');
//! - after it, a private network that tokens bound to two different nodes use is a pod range
//!   (a new node pool's secondary range): it is learned, once it alerted for the first node's
//!   token. A token copied out is used from one place, under its one node's name; a public
//!   network is never learned this way (two stolen tokens used from one laptop stay news).
//!
//! Networks are /16 for private IPv4 (RFC 1918 and the shared 100.64.0.0/10: pod ranges of
//! a node, or a VPC subnet's secondary addresses with the AWS VPC CNI, spread over many /24s),
//! /24 for public IPv4 (the NAT gateway an API server behind a public endpoint sees), /48 for
//! IPv6. The address is the remote address the API server saw (the last of `sourceIPs`).
//! Bounded: at most 4,096 networks are kept; once full, nothing more is learned.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use secretwatch_ingest::{AccessEvent, PrincipalKind, SourceSystem};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Severity};
use crate::builtin::groups::WindowedGroups;
use crate::config::DetectConfig;
use crate::context::common::remote_ip;
use crate::detector::{window_start, Detector};

pub const RULE: &str = "pod-token-used-off-cluster";
const MAX_NETWORKS: usize = 4096;

/// Private, shared (100.64.0.0/10) or unique-local: where a cluster's pod ranges live.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// The network an address is judged by (see the module docs).
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            let shared = o[0] == 100 && (64..128).contains(&o[1]);
            if v4.is_private() || shared {
                format!("{}.{}.0.0/16", o[0], o[1])
            } else {
                format!("{}.{}.{}.0/24", o[0], o[1], o[2])
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    networks: HashSet<String>,
    first: Option<DateTime<Utc>>,
    groups: WindowedGroups,
    /// Unknown networks used after learning, with the node of the token that used them.
    #[serde(default)]
    pending: HashMap<String, String>,
}

pub struct PodTokenOffCluster {
    state: State,
    learning: Duration,
    window: u32,
    /// `cluster_cidrs` is set: `sa-token-outside-cluster` judges these requests.
    configured: bool,
}

impl PodTokenOffCluster {
    pub fn new(cfg: &DetectConfig) -> Self {
        PodTokenOffCluster {
            state: State::default(),
            learning: Duration::days(i64::from(cfg.history_learning_days.max(1))),
            window: cfg.alert_window_minutes,
            configured: !cfg.context.cluster_cidrs.is_empty(),
        }
    }

    fn learn(&mut self, net: String) {
        if self.state.networks.len() < MAX_NETWORKS {
            self.state.networks.insert(net);
        }
    }
}

impl Detector for PodTokenOffCluster {
    fn id(&self) -> &'static str {
        RULE
    }
    fn export_state(&self) -> Option<serde_json::Value> {
        serde_json::to_value(&self.state).ok()
    }
    fn import_state(&mut self, state: serde_json::Value) -> Result<(), String> {
        self.state = serde_json::from_value(state).map_err(|e| e.to_string())?;
        Ok(())
    }

    fn on_event(&mut self, ev: &AccessEvent<'_>, out: &mut Vec<Alert>) {
        if self.configured || ev.source != SourceSystem::Kubernetes {
            return;
        }
        let p = &ev.principal;
        let node_request = p.kind == PrincipalKind::Node;
        let bound = p.kind == PrincipalKind::ServiceAccount && p.node.is_some();
        if !node_request && !bound {
            return;
        }
        let Some(ip) = remote_ip(ev).and_then(|s| s.trim().parse::<IpAddr>().ok()) else {
            return;
        };
        let first = *self.state.first.get_or_insert(ev.time);
        let net = network_of(ip);
        if node_request || ev.time - first < self.learning {
            self.learn(net);
            return;
        }
        if self.state.networks.contains(&net) {
            return;
        }
        let node = p.node.as_deref().unwrap_or("?");
        match self.state.pending.get(&net) {
            Some(first_node) if first_node != node && is_internal(ip) => {
                self.state.pending.remove(&net);
                self.learn(net);
                return;
            }
            Some(_) => {}
            None if self.state.pending.len() < MAX_NETWORKS => {
                self.state.pending.insert(net.clone(), node.to_string());
            }
            None => {}
        }
        let ws = window_start(ev.time, self.window);
        let group = format!("{}\u{0}{net}", p.name);
        if !self.state.groups.first_in_window(&group, ws) {
            return;
        }
        self.state.groups.prune(ev.time, self.window);
        let reason = format!(
            "{} used a token bound to a pod on node {node} from {ip} ({net}), a network none of the cluster's {} known networks of nodes and pods: the token was copied out of its pod; {} {} ({})",
            p.name,
            self.state.networks.len(),
            ev.raw_action,
            crate::alert::target_label(ev),
            ev.outcome.as_str(),
        );
        let severity = if ev.target.is_secret {
            Severity::Critical
        } else {
            Severity::High
        };
        out.push(Alert::from_event(
            RULE,
            severity,
            "Pod-bound service-account token used outside the cluster",
            &group,
            ws,
            ev,
            reason,
            &[
                "attack.credential-access",
                "attack.t1528",
                "attack.t1550.001",
            ],
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Kubernetes `get` of a Secret (or a node's `get` of a pod) at minute `m` from `ip`.
    fn send(
        d: &mut PodTokenOffCluster,
        user: &str,
        node: Option<&str>,
        ip: &str,
        m: i64,
    ) -> Vec<Alert> {
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 2, 0, 0, 0).unwrap()
            + Duration::minutes(m);
        let time = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let extra = node
            .map(|n| format!(r#","extra":{{"authentication.kubernetes.io/node-name":["{n}"]}}"#))
            .unwrap_or_default();
        let line = format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a{m}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/secrets/db","verb":"get","user":{{"username":"{user}","groups":["system:authenticated"]{extra}}},"sourceIPs":["{ip}"],"userAgent":"app/1","objectRef":{{"resource":"secrets","namespace":"prod","name":"db","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"{time}","stageTimestamp":"{time}"}}"#
        );
        crate::test_support::feed_line(d, &line)
    }

    const SA: &str = "system:serviceaccount:prod:payments";
    const DAY: i64 = 24 * 60;

    fn detector(cluster_cidrs: &[&str]) -> PodTokenOffCluster {
        let mut cfg = DetectConfig {
            history_learning_days: 1,
            ..Default::default()
        };
        cfg.context.cluster_cidrs = cluster_cidrs.iter().map(|c| c.parse().unwrap()).collect();
        PodTokenOffCluster::new(&cfg)
    }

    #[test]
    fn a_pod_token_from_outside_every_learned_network_alerts() {
        let mut d = detector(&[]);
        // The first day: nodes and their pods (VPC CNI addresses spread over a /16).
        for (i, ip) in ["10.0.3.17", "10.0.77.4", "10.0.140.9"].iter().enumerate() {
            assert!(send(&mut d, SA, Some("node-1"), ip, i as i64 * 60).is_empty());
        }
        assert!(send(&mut d, "system:node:node-1", None, "172.16.0.11", 90).is_empty());
        // Later: a new pod address in the same range, a new node's pods after its kubelet
        // registered, and a token without pod binding (legacy, a CI system's) from anywhere.
        assert!(send(&mut d, SA, Some("node-1"), "10.0.201.3", DAY + 10).is_empty());
        assert!(send(&mut d, "system:node:node-9", None, "10.8.0.4", DAY + 20).is_empty());
        assert!(send(&mut d, SA, Some("node-9"), "10.8.5.6", DAY + 21).is_empty());
        assert!(send(&mut d, SA, None, "198.51.100.7", DAY + 30).is_empty());
        // The pod's token from a laptop: critical (a Secret), once per window and network.
        let a = send(&mut d, SA, Some("node-1"), "203.0.113.50", DAY + 40);
        assert_eq!(a.len(), 1, "{a:#?}");
        assert_eq!(a[0].severity, Severity::Critical);
        assert!(
            a[0].reason
                .contains("bound to a pod on node node-1 from 203.0.113.50 (203.0.113.0/24)"),
            "{}",
            a[0].reason
        );
        assert!(send(&mut d, SA, Some("node-1"), "203.0.113.51", DAY + 41).is_empty());
        // It is not learned: the next window alerts again.
        assert_eq!(
            send(&mut d, SA, Some("node-1"), "203.0.113.50", DAY + 200).len(),
            1
        );
    }

    #[test]
    fn a_range_that_tokens_of_two_nodes_use_is_the_clusters() {
        // No learning configured: a day is still learned.
        let mut d = PodTokenOffCluster::new(&DetectConfig {
            history_learning_days: 0,
            ..Default::default()
        });
        assert!(send(&mut d, "system:node:node-1", None, "10.0.0.11", 0).is_empty());
        assert!(send(&mut d, SA, Some("node-1"), "10.4.0.7", 10).is_empty());
        // A new node pool with a secondary range in another /16: its first pod's token alerts,
        // the second node's teaches the range.
        assert!(send(&mut d, "system:node:pool2-a", None, "10.0.0.40", DAY + 1).is_empty());
        assert_eq!(
            send(&mut d, SA, Some("pool2-a"), "10.5.1.9", DAY + 2).len(),
            1
        );
        assert!(send(&mut d, SA, Some("pool2-b"), "10.5.2.9", DAY + 3).is_empty());
        assert!(send(&mut d, SA, Some("pool2-c"), "10.5.3.9", DAY + 200).is_empty());
        // A copied token keeps its one node's name: used again and again, never learned.
        assert_eq!(
            send(&mut d, SA, Some("node-1"), "203.0.113.5", DAY + 4).len(),
            1
        );
        assert_eq!(
            send(&mut d, SA, Some("node-1"), "203.0.113.5", DAY + 300).len(),
            1
        );
        // Two tokens of two nodes from one public address: never learned either.
        let other = "system:serviceaccount:prod:checkout";
        assert_eq!(
            send(&mut d, other, Some("node-2"), "203.0.113.5", DAY + 301).len(),
            1
        );
        assert_eq!(
            send(&mut d, SA, Some("node-1"), "203.0.113.5", DAY + 600).len(),
            1
        );
    }

    #[test]
    fn configured_cluster_networks_leave_it_to_the_configured_rule() {
        let mut d = detector(&["10.0.0.0/16"]);
        send(&mut d, SA, Some("node-1"), "10.0.3.17", 0);
        assert!(send(&mut d, SA, Some("node-1"), "203.0.113.50", DAY + 40).is_empty());
    }

    #[test]
    fn state_survives_a_restart() {
        let mut d = detector(&[]);
        send(&mut d, SA, Some("node-1"), "10.0.3.17", 0);
        let saved = d.export_state().unwrap();
        let mut again = detector(&[]);
        again.import_state(saved).unwrap();
        assert!(send(&mut again, SA, Some("node-1"), "10.0.99.1", DAY + 5).is_empty());
        assert_eq!(
            send(&mut again, SA, Some("node-1"), "192.0.2.1", DAY + 6).len(),
            1
        );
    }

    #[test]
    fn networks() {
        let n = |s: &str| network_of(s.parse().unwrap());
        assert_eq!(n("10.42.3.7"), "10.42.0.0/16");
        assert_eq!(n("100.64.9.1"), "100.64.0.0/16");
        assert_eq!(n("34.246.17.201"), "34.246.17.0/24");
        assert_eq!(n("2001:db8:1:2::5"), "2001:db8:1::/48");
    }
}
