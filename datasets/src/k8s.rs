//! Kubernetes audit events (`audit.k8s.io/v1` `Event`), one JSON object per line.

use rand::Rng;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::principal::Principal;
use crate::rng::{between, uuid};
use crate::sink::Sink;
use crate::timefmt::{micros, MS};

/// Share of short requests that also log a `RequestReceived` stage event.
pub const REQUEST_RECEIVED_SHARE: f64 = 0.05;

/// An API resource: where it lives in the URL and what `objectRef` says about it.
#[derive(Debug, Clone, Copy)]
pub struct Res {
    pub group: &'static str,
    pub version: &'static str,
    pub resource: &'static str,
    pub namespaced: bool,
}

const fn core(resource: &'static str, namespaced: bool) -> Res {
    Res {
        group: "",
        version: "v1",
        resource,
        namespaced,
    }
}

const fn grouped(
    group: &'static str,
    version: &'static str,
    resource: &'static str,
    namespaced: bool,
) -> Res {
    Res {
        group,
        version,
        resource,
        namespaced,
    }
}

pub const SECRETS: Res = core("secrets", true);
pub const CONFIGMAPS: Res = core("configmaps", true);
pub const PODS: Res = core("pods", true);
pub const EVENTS: Res = core("events", true);
pub const ENDPOINTS: Res = core("endpoints", true);
pub const SERVICEACCOUNTS: Res = core("serviceaccounts", true);
pub const NODES: Res = core("nodes", false);
pub const NAMESPACES: Res = core("namespaces", false);
pub const LEASES: Res = grouped("coordination.k8s.io", "v1", "leases", true);
pub const DEPLOYMENTS: Res = grouped("apps", "v1", "deployments", true);
pub const REPLICASETS: Res = grouped("apps", "v1", "replicasets", true);
pub const ENDPOINTSLICES: Res = grouped("discovery.k8s.io", "v1", "endpointslices", true);
pub const JOBS: Res = grouped("batch", "v1", "jobs", true);
pub const TOKENREVIEWS: Res = grouped("authentication.k8s.io", "v1", "tokenreviews", false);
pub const SUBJECTACCESSREVIEWS: Res =
    grouped("authorization.k8s.io", "v1", "subjectaccessreviews", false);
pub const SELFSUBJECTACCESSREVIEWS: Res = grouped(
    "authorization.k8s.io",
    "v1",
    "selfsubjectaccessreviews",
    false,
);
pub const EXTERNALSECRETS: Res = grouped("external-secrets.io", "v1beta1", "externalsecrets", true);
pub const SECRETSTORES: Res = grouped("external-secrets.io", "v1beta1", "secretstores", true);
pub const CLUSTERSECRETSTORES: Res = grouped(
    "external-secrets.io",
    "v1beta1",
    "clustersecretstores",
    false,
);
pub const CERTIFICATES: Res = grouped("cert-manager.io", "v1", "certificates", true);
pub const CERTIFICATEREQUESTS: Res = grouped("cert-manager.io", "v1", "certificaterequests", true);
pub const CLUSTERISSUERS: Res = grouped("cert-manager.io", "v1", "clusterissuers", false);
pub const ROLES: Res = grouped("rbac.authorization.k8s.io", "v1", "roles", true);
pub const CLUSTERROLES: Res = grouped("rbac.authorization.k8s.io", "v1", "clusterroles", false);
pub const CLUSTERROLEBINDINGS: Res = grouped(
    "rbac.authorization.k8s.io",
    "v1",
    "clusterrolebindings",
    false,
);

/// Audit level of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Metadata,
    Request,
    RequestResponse,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjRef {
    pub resource: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub api_group: &'static str,
    pub api_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<&'static str>,
}

/// One API request, turned into one to three stage events by [`emit`].
#[derive(Debug, Clone)]
pub struct Req<'a> {
    pub who: &'a Principal,
    pub t: i64,
    pub verb: &'static str,
    pub path: String,
    pub query: Option<String>,
    pub obj: Option<ObjRef>,
    pub code: u16,
    pub latency: Option<i64>,
    pub long_running: bool,
    pub ip: Option<&'a str>,
    pub ua: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub impersonated: Option<&'a RawValue>,
    pub level: Level,
    pub request_object: Option<Value>,
    pub response_object: Option<Value>,
    pub received_stage: Option<bool>,
}

/// URL path of a resource collection or object.
pub fn res_path(res: &Res, ns: Option<&str>, name: Option<&str>) -> String {
    let mut p = if res.group.is_empty() {
        format!("/api/{}", res.version)
    } else {
        format!("/apis/{}/{}", res.group, res.version)
    };
    if let Some(ns) = ns.filter(|_| res.namespaced) {
        p.push_str("/namespaces/");
        p.push_str(ns);
    }
    p.push('/');
    p.push_str(res.resource);
    if let Some(name) = name {
        p.push('/');
        p.push_str(name);
    }
    p
}

impl<'a> Req<'a> {
    /// A resource request; `ns` is ignored for cluster-scoped resources, `name` is `None` for lists.
    pub fn on(
        who: &'a Principal,
        t: i64,
        verb: &'static str,
        res: &Res,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Self {
        let ns = ns.filter(|_| res.namespaced);
        Req {
            path: res_path(res, ns, name),
            obj: Some(ObjRef {
                resource: res.resource,
                namespace: ns.map(str::to_string),
                name: name.map(str::to_string),
                api_group: res.group,
                api_version: res.version,
                subresource: None,
            }),
            ..Req::bare(who, t, verb, String::new())
        }
    }

    /// A non-resource request such as `/readyz` (no `objectRef`).
    pub fn non_resource(who: &'a Principal, t: i64, path: &str) -> Self {
        Req::bare(who, t, "get", path.to_string())
    }

    fn bare(who: &'a Principal, t: i64, verb: &'static str, path: String) -> Self {
        Req {
            who,
            t,
            verb,
            path,
            query: None,
            obj: None,
            code: 200,
            latency: None,
            long_running: false,
            ip: None,
            ua: None,
            reason: None,
            impersonated: None,
            level: Level::Metadata,
            request_object: None,
            response_object: None,
            received_stage: None,
        }
    }

    pub fn sub(mut self, sub: &'static str) -> Self {
        self.path.push('/');
        self.path.push_str(sub);
        if let Some(o) = self.obj.as_mut() {
            o.subresource = Some(sub);
        }
        self
    }

    pub fn query(mut self, q: impl Into<String>) -> Self {
        self.query = Some(q.into());
        self
    }

    pub fn code(mut self, code: u16) -> Self {
        self.code = code;
        self
    }

    /// Long-running request (watch, exec, log follow): `ResponseStarted`, then `ResponseComplete` after `duration`.
    pub fn long_running(mut self, duration: i64) -> Self {
        self.long_running = true;
        self.latency = Some(duration);
        self
    }

    pub fn ip(mut self, ip: &'a str) -> Self {
        self.ip = Some(ip);
        self
    }

    pub fn ua(mut self, ua: &'a str) -> Self {
        self.ua = Some(ua);
        self
    }

    pub fn reason(mut self, reason: &'a str) -> Self {
        self.reason = Some(reason);
        self
    }

    pub fn impersonating(mut self, user: &'a RawValue) -> Self {
        self.impersonated = Some(user);
        self
    }

    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    pub fn request_object(mut self, v: Value) -> Self {
        self.request_object = Some(v);
        self
    }

    pub fn response_object(mut self, v: Value) -> Self {
        self.response_object = Some(v);
        self
    }

    #[cfg(test)]
    pub fn received_stage(mut self, on: bool) -> Self {
        self.received_stage = Some(on);
        self
    }

    fn uri(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{}", self.path, q),
            None => self.path.clone(),
        }
    }

    fn default_latency(&self, rng: &mut impl Rng) -> i64 {
        let (lo, hi) = match self.verb {
            "get" => (800_000, 12 * MS),
            "list" => (3 * MS, 60 * MS),
            "deletecollection" => (20 * MS, 200 * MS),
            _ => (3 * MS, 30 * MS),
        };
        between(rng, lo, hi) + rng.random_range(0..1000)
    }
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct Details<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    kind: &'a str,
}

#[derive(Serialize)]
struct Status<'a> {
    metadata: Empty,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details<'a>>,
    code: u16,
}

#[derive(Clone, Copy, Serialize)]
struct Annotations<'a> {
    #[serde(rename = "authorization.k8s.io/decision")]
    decision: &'a str,
    #[serde(rename = "authorization.k8s.io/reason")]
    reason: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventOut<'a> {
    kind: &'static str,
    api_version: &'static str,
    level: &'static str,
    #[serde(rename = "auditID")]
    audit_id: &'a str,
    stage: &'static str,
    #[serde(rename = "requestURI")]
    request_uri: &'a str,
    verb: &'a str,
    user: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    impersonated_user: Option<&'a RawValue>,
    #[serde(rename = "sourceIPs")]
    source_ips: [&'a str; 1],
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_ref: Option<&'a ObjRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_status: Option<&'a Status<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_object: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_object: Option<&'a Value>,
    request_received_timestamp: &'a str,
    stage_timestamp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Annotations<'a>>,
}

fn status_for<'a>(req: &'a Req<'_>, username: &str) -> Status<'a> {
    let obj = req.obj.as_ref();
    let resource = obj.map(|o| o.resource).unwrap_or("");
    let name = obj.and_then(|o| o.name.as_deref());
    let full_resource = match obj.and_then(|o| o.subresource) {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_string(),
    };
    let subject = match name {
        Some(n) => format!("{resource} \"{n}\""),
        None => resource.to_string(),
    };
    match req.code {
        403 => {
            let message = match obj {
                Some(o) => {
                    let scope = match &o.namespace {
                        Some(ns) => format!("in the namespace \"{ns}\""),
                        None => "at the cluster scope".to_string(),
                    };
                    format!(
                        "{subject} is forbidden: User \"{username}\" cannot {} resource \"{full_resource}\" in API group \"{}\" {scope}",
                        req.verb, o.api_group
                    )
                }
                None => format!("forbidden: User \"{username}\" cannot get path \"{}\"", req.path),
            };
            Status {
                metadata: Empty {},
                status: Some("Failure"),
                message: Some(message),
                reason: Some("Forbidden"),
                details: obj.map(|_| Details { name, kind: resource }),
                code: 403,
            }
        }
        404 => Status {
            metadata: Empty {},
            status: Some("Failure"),
            message: Some(format!("{subject} not found")),
            reason: Some("NotFound"),
            details: obj.map(|_| Details { name, kind: resource }),
            code: 404,
        },
        409 => Status {
            metadata: Empty {},
            status: Some("Failure"),
            message: Some(format!(
                "Operation cannot be fulfilled on {subject}: the object has been modified; please apply your changes to the latest version and try again"
            )),
            reason: Some("Conflict"),
            details: obj.map(|_| Details { name, kind: resource }),
            code: 409,
        },
        code => Status {
            metadata: Empty {},
            status: None,
            message: None,
            reason: None,
            details: None,
            code,
        },
    }
}

/// Writes the stage events of one request into the sink and returns its `auditID`.
pub fn emit(sink: &mut Sink, rng: &mut impl Rng, req: Req<'_>) -> String {
    let audit_id = uuid(rng);
    let latency = match req.latency {
        Some(l) => l,
        None => req.default_latency(rng),
    };
    let received_stage = req
        .received_stage
        .unwrap_or_else(|| !req.long_running && rng.random_bool(REQUEST_RECEIVED_SHARE));
    let uri = req.uri();
    let received = micros(req.t);
    let username = match req.impersonated {
        Some(u) => impersonated_name(u),
        None => req.who.username.clone(),
    };
    let status = status_for(&req, &username);
    let allowed = req.code != 403;
    let decision = Annotations {
        decision: if allowed { "allow" } else { "forbid" },
        reason: if allowed {
            req.reason.unwrap_or(&req.who.reason)
        } else {
            ""
        },
    };
    let base = EventOut {
        kind: "Event",
        api_version: "audit.k8s.io/v1",
        level: req.level.as_str(),
        audit_id: &audit_id,
        stage: "RequestReceived",
        request_uri: &uri,
        verb: req.verb,
        user: &req.who.user,
        impersonated_user: req.impersonated,
        source_ips: [req.ip.unwrap_or(&req.who.ip)],
        user_agent: req.ua.unwrap_or(&req.who.ua),
        object_ref: req.obj.as_ref(),
        response_status: None,
        request_object: None,
        response_object: None,
        request_received_timestamp: &received,
        stage_timestamp: &received,
        annotations: None,
    };
    if received_stage {
        sink.push_k8s(req.t, to_line(&base));
    }
    if req.long_running && allowed {
        let started_t = req.t + between(rng, MS, 6 * MS);
        let started = micros(started_t);
        let ev = EventOut {
            stage: "ResponseStarted",
            response_status: Some(&status),
            stage_timestamp: &started,
            annotations: Some(decision),
            ..base
        };
        sink.push_k8s(started_t, to_line(&ev));
    }
    let done_t = req.t + latency.max(1000);
    let done = micros(done_t);
    let ev = EventOut {
        stage: "ResponseComplete",
        response_status: Some(&status),
        request_object: req.request_object.as_ref(),
        response_object: req.response_object.as_ref(),
        stage_timestamp: &done,
        annotations: Some(decision),
        ..base
    };
    sink.push_k8s(done_t, to_line(&ev));
    audit_id
}

fn impersonated_name(user: &RawValue) -> String {
    serde_json::from_str::<Value>(user.get())
        .ok()
        .and_then(|v| {
            v.get("username")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn to_line<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("audit events have only string map keys")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::sub_rng;

    fn principal() -> Principal {
        Principal::new(
            "oidc:alice@example.com",
            None,
            &["oidc:sre", "system:authenticated"],
            "203.0.113.21",
            "kubectl",
            "RBAC: allowed",
        )
    }

    #[test]
    fn secret_get_event_shape() {
        let p = principal();
        let mut sink = Sink::new();
        let mut rng = sub_rng(1, "t", 0);
        let id = emit(
            &mut sink,
            &mut rng,
            Req::on(&p, 1_000_000_000, "get", &SECRETS, Some("prod"), Some("db"))
                .received_stage(true),
        );
        assert_eq!(sink.k8s.len(), 2);
        let rr: Value = serde_json::from_str(&sink.k8s[0].line).unwrap();
        let rc: Value = serde_json::from_str(&sink.k8s[1].line).unwrap();
        assert_eq!(rr["stage"], "RequestReceived");
        assert!(rr.get("annotations").is_none());
        assert_eq!(rc["stage"], "ResponseComplete");
        assert_eq!(rc["auditID"], id.as_str());
        assert_eq!(rc["requestURI"], "/api/v1/namespaces/prod/secrets/db");
        assert_eq!(rc["objectRef"]["name"], "db");
        assert!(rc["objectRef"].get("apiGroup").is_none());
        assert_eq!(
            rc["responseStatus"],
            serde_json::json!({"metadata": {}, "code": 200})
        );
        assert_eq!(rc["annotations"]["authorization.k8s.io/decision"], "allow");
        assert_eq!(
            rc["requestReceivedTimestamp"],
            "1970-01-01T00:00:01.000000Z"
        );
    }

    #[test]
    fn forbidden_and_watch() {
        let p = principal();
        let mut sink = Sink::new();
        let mut rng = sub_rng(1, "t", 0);
        emit(
            &mut sink,
            &mut rng,
            Req::on(&p, 0, "list", &SECRETS, None, None)
                .query("limit=500")
                .code(403)
                .received_stage(false),
        );
        let ev: Value = serde_json::from_str(&sink.k8s[0].line).unwrap();
        assert_eq!(ev["requestURI"], "/api/v1/secrets?limit=500");
        assert_eq!(ev["responseStatus"]["reason"], "Forbidden");
        assert_eq!(
            ev["responseStatus"]["message"],
            "secrets is forbidden: User \"oidc:alice@example.com\" cannot list resource \"secrets\" in API group \"\" at the cluster scope"
        );
        assert_eq!(ev["annotations"]["authorization.k8s.io/decision"], "forbid");
        let mut sink = Sink::new();
        emit(
            &mut sink,
            &mut rng,
            Req::on(&p, 0, "watch", &LEASES, Some("kube-system"), None)
                .long_running(60_000_000_000),
        );
        let stages: Vec<Value> = sink
            .k8s
            .iter()
            .map(|r| serde_json::from_str(&r.line).unwrap())
            .collect();
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0]["stage"], "ResponseStarted");
        assert_eq!(stages[1]["stage"], "ResponseComplete");
        assert_eq!(stages[1]["objectRef"]["apiGroup"], "coordination.k8s.io");
        assert_eq!(
            stages[1]["requestURI"],
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
        );
    }
}
