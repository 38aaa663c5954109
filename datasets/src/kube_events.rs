//! The Events kubelets write about their pods, as the audit log shows them when the policy logs
//! `events` at `Request` level (the README's audit policy; the body is the Event).
//!
//! Shapes from the kubelet and client-go sources: the kubelet records core/v1 Events through
//! `record.NewRecorder(..., v1.EventSource{Component: "kubelet", Host: nodeName})`
//! (`cmd/kubelet/app/server.go`); the first occurrence is a POST of the whole Event named
//! `<pod>.<hex of UnixNano>` (client-go `tools/record/event.go` `makeEvent`,
//! `util.GenerateEventName`), a repeat with the same source, object, reason and message is a
//! PATCH of `count`, `lastTimestamp` and `message` (`tools/record/events_cache.go`). Reasons
//! and messages are the kubelet's own (`pkg/kubelet/events/event.go`, `kubelet_pods.go`,
//! `kuberuntime_container.go`, the volume operation executor).

use rand::Rng;
use serde_json::{json, Value};

use crate::k8s::{emit, res_path, Level, Req, EVENTS};
use crate::labels::StoryRec;
use crate::sink::Sink;
use crate::timefmt::seconds;
use crate::world::{Node, Pod};

/// One Event of a kubelet about one pod.
pub struct KubeletEvent<'a> {
    pub node: &'a Node,
    pub pod: &'a Pod,
    pub reason: &'static str,
    pub message: String,
    pub warning: bool,
    /// The container the Event is about (`spec.containers{name}`), if any.
    pub container: Option<String>,
}

impl KubeletEvent<'_> {
    fn name(&self, first: i64) -> String {
        format!("{}.{:x}", self.pod.name, first)
    }

    fn body(&self, first: i64, last: i64, count: u32) -> Value {
        let mut involved = json!({
            "kind": "Pod",
            "namespace": self.pod.namespace,
            "name": self.pod.name,
            "uid": format!("{}-uid", self.pod.name),
            "apiVersion": "v1",
        });
        if let Some(c) = &self.container {
            involved["fieldPath"] = json!(format!("spec.containers{{{c}}}"));
        }
        json!({
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {
                "name": self.name(first),
                "namespace": self.pod.namespace,
                "creationTimestamp": null,
            },
            "involvedObject": involved,
            "reason": self.reason,
            "message": self.message,
            "source": {"component": "kubelet", "host": self.node.name},
            "firstTimestamp": seconds(first),
            "lastTimestamp": seconds(last),
            "count": count,
            "type": if self.warning { "Warning" } else { "Normal" },
            "eventTime": null,
            "reportingComponent": "kubelet",
            "reportingInstance": self.node.name,
        })
    }

    /// The POST of the first occurrence and a PATCH per repeat at `times` (the first is the
    /// create); returns the audit ids.
    pub fn write(
        &self,
        sink: &mut Sink,
        rng: &mut impl Rng,
        times: &[i64],
        mut story: Option<&mut StoryRec>,
    ) -> Vec<String> {
        let Some(&first) = times.first() else {
            return vec![];
        };
        let name = self.name(first);
        let ns = Some(self.pod.namespace.as_str());
        let mut ids = vec![];
        for (i, &t) in times.iter().enumerate() {
            let mut req = if i == 0 {
                let mut r = Req::on(&self.node.principal, t, "create", &EVENTS, ns, Some(&name))
                    .code(201)
                    .request_object(self.body(first, t, 1));
                // A POST goes to the collection; the name comes from the body.
                r.path = res_path(&EVENTS, ns, None);
                r
            } else {
                Req::on(&self.node.principal, t, "patch", &EVENTS, ns, Some(&name)).request_object(
                    json!({
                        "count": i + 1,
                        "lastTimestamp": seconds(t),
                        "message": self.message,
                    }),
                )
            };
            req = req.level(Level::Request).ip(&self.node.ip);
            let id = match story.as_deref_mut() {
                Some(s) => s.k8s(sink, rng, req),
                None => emit(sink, rng, req),
            };
            ids.push(id);
        }
        ids
    }
}

/// The kubelet's routine Events of a pod's life (pulls, starts, probes, kills), by weight.
pub const ROUTINE: [(&str, &str, bool, u32); 6] = [
    (
        "Pulled",
        "Container image \"{image}\" already present on machine",
        false,
        40,
    ),
    ("Created", "Created container: {container}", false, 20),
    ("Started", "Started container {container}", false, 20),
    (
        "Unhealthy",
        "Readiness probe failed: Get \"http://{ip}:8080/healthz\": dial tcp {ip}:8080: connect: connection refused",
        true,
        12,
    ),
    (
        "Killing",
        "Stopping container {container}",
        false,
        6,
    ),
    (
        "BackOff",
        "Back-off restarting failed container {container} in pod {pod}",
        true,
        2,
    ),
];
