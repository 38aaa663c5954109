//! How Sigma rules see an [`AccessEvent`]: native source field names (as SigmaHQ's Kubernetes
//! rules use them), our normalized names, and virtual fields. Anything else is looked up in the
//! redacted raw record, parsed lazily once per event and only when a rule asks.

use std::borrow::Cow;
use std::cell::OnceCell;

use rsigma_eval::{Event, EventValue};
use secretwatch_ingest::k8s::request::parse_query;
use secretwatch_ingest::{AccessEvent, SourceSystem, StrList};
use serde_json::Value;

/// What rules can ask of learned state (`first_seen.*`, `baseline.*` fields): answered from
/// the state as it stood before the event.
pub trait BaselineFields {
    fn field(&self, name: &str, ev: &AccessEvent<'_>) -> Option<EventValue<'static>>;
}

/// Field name prefixes answered by [`BaselineFields`]; rules using them are stateful.
pub const STATE_FIELD_PREFIXES: [&str; 2] = ["first_seen.", "baseline."];

/// A borrowed view of one event for the Sigma engine.
pub struct SigmaView<'e, 'a> {
    ev: &'e AccessEvent<'a>,
    baseline: Option<&'e dyn BaselineFields>,
    raw: OnceCell<Option<Value>>,
    /// Whether the raw record has a request / response body (searched once per event).
    bodies: OnceCell<(bool, bool)>,
}

impl<'e, 'a> SigmaView<'e, 'a> {
    pub fn new(ev: &'e AccessEvent<'a>) -> Self {
        SigmaView {
            ev,
            baseline: None,
            raw: OnceCell::new(),
            bodies: OnceCell::new(),
        }
    }

    /// A view that also answers `first_seen.*` and `baseline.*` from `baseline`.
    pub fn with_baseline(ev: &'e AccessEvent<'a>, baseline: &'e dyn BaselineFields) -> Self {
        SigmaView {
            baseline: Some(baseline),
            ..SigmaView::new(ev)
        }
    }

    fn raw(&self) -> Option<&Value> {
        self.raw
            .get_or_init(|| serde_json::from_str(&self.ev.raw).ok())
            .as_ref()
    }
}

/// Matches of a raw path as one value: none, the one, or every match flattened (through arrays:
/// `rules.resources` of all rules).
fn flatten(found: Vec<&Value>) -> Option<EventValue<'_>> {
    match found.len() {
        0 => None,
        1 => Some(EventValue::from(found[0])),
        _ => Some(EventValue::Array(
            found
                .into_iter()
                .flat_map(|v| match v {
                    Value::Array(items) => items.iter().map(EventValue::from).collect::<Vec<_>>(),
                    other => vec![EventValue::from(other)],
                })
                .collect(),
        )),
    }
}

fn cow_static(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}

fn s(v: &str) -> EventValue<'_> {
    EventValue::Str(Cow::Borrowed(v))
}

fn opt<'x>(v: &'x Option<Cow<'_, str>>) -> Option<EventValue<'x>> {
    v.as_deref().map(s)
}

fn list<'x>(l: &'x StrList<'_>) -> EventValue<'x> {
    EventValue::Array(l.iter().map(s).collect())
}

/// Top-level keys a rule can name (lets the engine skip rules whose fields this event lacks).
const KUBERNETES_KEYS: &[&str] = &[
    "verb",
    "objectRef",
    "user",
    "impersonatedUser",
    "responseStatus",
    "sourceIPs",
    "userAgent",
    "requestURI",
    "request",
    "stage",
    "annotations",
    "level",
    "source",
    "product",
    "service",
    "action",
    "outcome",
    "status_code",
    "principal",
    "target",
    "source_ip",
    "reason",
    "redactions",
    "event",
];
const VAULT_KEYS: &[&str] = &[
    "type",
    "auth",
    "request",
    "response",
    "error",
    "source",
    "product",
    "service",
    "action",
    "outcome",
    "status_code",
    "principal",
    "target",
    "source_ip",
    "reason",
    "redactions",
    "vault",
    "event",
];

impl Event for SigmaView<'_, '_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if STATE_FIELD_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return self.baseline?.field(path, self.ev);
        }
        let e = self.ev;
        let p = &e.principal;
        let t = &e.target;
        let k8s = e.source == SourceSystem::Kubernetes;
        let vault_src = e.source == SourceSystem::Vault;
        let cloud = !k8s && !vault_src;
        let vault = p.vault.as_deref();
        let v = match path {
            // Logsource routing.
            "product" => s(e.source.as_str()),
            "service" => s("audit"),
            // Normalized fields (all sources).
            "source" => s(e.source.as_str()),
            "event.id" | "id" => s(&e.id),
            "action" => s(e.action.as_str()),
            "raw_action" => s(&e.raw_action),
            "outcome" => s(e.outcome.as_str()),
            "status_code" => EventValue::Int(i64::from(e.status_code?)),
            "reason" => opt(&e.reason)?,
            "source_ips" => list(&e.source_ips),
            // The address the server saw: the last of Kubernetes sourceIPs (earlier ones are client-set).
            "source_ip" => s(last(&e.source_ips)?),
            "user_agent" => opt(&e.user_agent)?,
            "request_uri" => opt(&e.request_uri)?,
            "principal.name" => s(&p.name),
            "principal.kind" => s(p.kind.as_str()),
            "principal.namespace" => opt(&p.namespace)?,
            "principal.groups" => list(&p.groups),
            "principal.effective" => s(e.effective_principal()),
            // The Kubernetes service account behind the identity: the principal itself, or the
            // one a Vault Kubernetes-auth token was issued to.
            "principal.service_account" => match (vault, p.kind) {
                (Some(v), _) => opt(&v.service_account)?,
                (None, secretwatch_ingest::PrincipalKind::ServiceAccount) if k8s => s(&p.name),
                _ => return None,
            },
            // Identities that change name, grouped (nodes by pool, role sessions by role).
            "principal.group" => EventValue::Str(crate::history::group::group_of(&p.name)),
            "principal.acting_as" => s(&p.acting_as.as_deref()?.name),
            "principal.acting_as_groups" => list(&p.acting_as.as_deref()?.groups),
            "target.store" => s(&t.store),
            "target.namespace" => opt(&t.namespace)?,
            "target.name" => opt(&t.name)?,
            "target.resource" => opt(&t.resource)?,
            "target.subresource" => opt(&t.subresource)?,
            "target.group" => opt(&t.group)?,
            "target.is_secret" => EventValue::Bool(t.is_secret),
            "scope" => s(e.scope.as_str()),
            "redactions" => EventValue::Array(e.redactions.names().map(s).collect()),
            "vault.root" => EventValue::Bool(vault.is_some_and(|v| v.root)),
            "vault.policies" => list(&vault?.policies),
            "vault.role" => opt(&vault?.role)?,
            "vault.entity_id" => opt(&vault?.entity_id)?,
            "vault.token_type" => opt(&vault?.token_type)?,
            // Native Kubernetes audit names (SigmaHQ rules use these verbatim).
            "verb" if k8s => s(&e.raw_action),
            "objectRef.resource" if k8s => opt(&t.resource)?,
            "objectRef.subresource" if k8s => opt(&t.subresource)?,
            "objectRef.namespace" if k8s => opt(&t.namespace)?,
            "objectRef.name" if k8s => opt(&t.name)?,
            "objectRef.apiGroup" | "apiGroup" if k8s => opt(&t.group)?,
            "user.username" if k8s => s(&p.name),
            "user.groups" if k8s => list(&p.groups),
            "impersonatedUser.username" if k8s => s(&p.acting_as.as_deref()?.name),
            "impersonatedUser.groups" if k8s => list(&p.acting_as.as_deref()?.groups),
            "responseStatus.code" if k8s => EventValue::Int(i64::from(e.status_code?)),
            "sourceIPs" if k8s => list(&e.source_ips),
            "userAgent" if k8s => opt(&e.user_agent)?,
            "requestURI" if k8s => opt(&e.request_uri)?,
            // The request's query, decoded (`fieldSelector=metadata.name%3Dx` is `metadata.name=x`).
            "request.field_selector"
            | "request.label_selector"
            | "request.watch"
            | "request.limit"
            | "request.resource_version"
            | "request.continue"
                if k8s =>
            {
                let q = parse_query(e.request_uri.as_deref()?);
                match path {
                    "request.field_selector" => EventValue::Str(cow_static(q.field_selector?)),
                    "request.label_selector" => EventValue::Str(cow_static(q.label_selector?)),
                    "request.watch" => EventValue::Bool(q.watch || e.raw_action == "watch"),
                    "request.limit" => EventValue::Int(i64::try_from(q.limit?).ok()?),
                    "request.resource_version" => EventValue::Str(cow_static(q.resource_version?)),
                    _ => EventValue::Bool(q.continued),
                }
            }
            // The command of an exec or attach: the URI's `command=` values, the body's
            // `PodExecOptions.command` (Request level), or a GKE entry's request.
            "request.command" if k8s => EventValue::Array(
                self.command()?
                    .into_iter()
                    .map(|c| EventValue::Str(Cow::Owned(c)))
                    .collect(),
            ),
            "request.command_line" if k8s => EventValue::Str(Cow::Owned(self.command()?.join(" "))),
            // The control plane acting on its own: a node, a system component or a kube-system
            // service account, on a kube-system or cluster-scoped object.
            "principal.system_scope" if k8s => {
                use secretwatch_ingest::PrincipalKind as K;
                let system = matches!(p.kind, K::Node | K::SystemComponent)
                    || (p.kind == K::ServiceAccount
                        && p.namespace.as_deref() == Some("kube-system"));
                let own = matches!(t.namespace.as_deref(), None | Some("kube-system"));
                EventValue::Bool(system && own)
            }
            // Native Vault audit names.
            "auth.display_name" if vault_src => opt(&vault?.display_name)?,
            "auth.policies" if vault_src => list(&vault?.policies),
            "auth.entity_id" if vault_src => opt(&vault?.entity_id)?,
            "auth.token_type" if vault_src => opt(&vault?.token_type)?,
            "auth.metadata.role" if vault_src => opt(&vault?.role)?,
            "request.operation" if vault_src => s(&e.raw_action),
            "request.path" if vault_src => opt(&t.name)?,
            "request.mount_type" if vault_src => opt(&t.resource)?,
            "request.mount_point" if vault_src => opt(&t.group)?,
            "request.remote_address" if vault_src => s(e.source_ips.first()?),
            "error" if vault_src => opt(&e.reason)?,
            // Anything else: the redacted raw record, parsed only when it can hold the field.
            // Cloud records keep their vendor's names (`eventName`, `protoPayload.methodName`,
            // `operationName`), as SigmaHQ's cloud rules use them.
            _ => {
                let head = path.split('.').next().unwrap_or(path);
                if cloud {
                    if !has_key(&e.raw, head) {
                        return None;
                    }
                    let mut found = vec![];
                    collect(self.raw()?, path, &mut found);
                    return flatten(found);
                }
                // Top-level keys this record kind never has (the other source's names) are absent;
                // for the rest, parse only when the key is in the text.
                let keys = if k8s { KUBERNETES_KEYS } else { VAULT_KEYS };
                let body = head == "requestObject" || head == "responseObject";
                // A GKE entry holds the bodies as protoPayload.request / .response.
                if k8s && body && !has_key(&e.raw, head) && has_key(&e.raw, "protoPayload") {
                    let inner = if head == "requestObject" {
                        "request"
                    } else {
                        "response"
                    };
                    let mapped = format!("protoPayload.{inner}{}", &path[head.len()..]);
                    let mut found = vec![];
                    collect(self.raw()?, &mapped, &mut found);
                    return flatten(found);
                }
                if (!keys.contains(&head) && !body) || !has_key(&e.raw, head) {
                    return None;
                }
                let mut found = vec![];
                collect(self.raw()?, path, &mut found);
                return flatten(found);
            }
        };
        Some(v)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        let mut hit = false;
        self.visit_string_values(&mut |v| hit = hit || pred(v));
        hit
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = vec![];
        self.visit_string_values(&mut |v| out.push(Cow::Owned(v.to_string())));
        out
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        let e = self.ev;
        visit(&e.id);
        visit(&e.raw_action);
        visit(&e.principal.name);
        e.principal.groups.iter().for_each(&mut *visit);
        e.source_ips.iter().for_each(&mut *visit);
        for v in [
            &e.user_agent,
            &e.request_uri,
            &e.reason,
            &e.target.namespace,
            &e.target.name,
            &e.target.resource,
        ]
        .into_iter()
        .flatten()
        {
            visit(v);
        }
    }

    fn to_json(&self) -> Value {
        // The correlation engine keeps event references by this id.
        serde_json::json!({ "id": &*self.ev.id })
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        if is_cloud(self.ev.source) {
            // Any key of the vendor's record may be asked for: no list to skip rules by.
            return None;
        }
        let keys = if self.ev.source == SourceSystem::Kubernetes {
            KUBERNETES_KEYS
        } else {
            VAULT_KEYS
        };
        let mut out: Vec<Cow<'_, str>> = keys.iter().map(|k| Cow::Borrowed(*k)).collect();
        self.visit_body_keys(&mut |k| out.push(Cow::Borrowed(k)));
        Some(out)
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        if is_cloud(self.ev.source) {
            return false;
        }
        let keys = if self.ev.source == SourceSystem::Kubernetes {
            KUBERNETES_KEYS
        } else {
            VAULT_KEYS
        };
        keys.iter().for_each(|k| visit(k));
        self.visit_body_keys(visit);
        true
    }
}

impl SigmaView<'_, '_> {
    /// The exec/attach command, from wherever the record has it.
    fn command(&self) -> Option<Vec<String>> {
        let e = self.ev;
        if let Some(uri) = e.request_uri.as_deref() {
            let q = parse_query(uri);
            if !q.command.is_empty() {
                return Some(q.command.into_iter().map(Cow::into_owned).collect());
            }
        }
        if !has_key(&e.raw, "command") {
            return None;
        }
        let raw = self.raw()?;
        let mut found = vec![];
        collect(raw, "requestObject.command", &mut found);
        if found.is_empty() {
            collect(raw, "protoPayload.request.command", &mut found);
        }
        let words: Vec<String> = found
            .into_iter()
            .flat_map(|v| match v {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => vec![],
            })
            .collect();
        (!words.is_empty()).then_some(words)
    }

    /// Request/response bodies are keys only when the record has them (most are Metadata level):
    /// rules about bodies are then not even tried.
    fn visit_body_keys(&self, visit: &mut dyn FnMut(&'static str)) {
        let (request, response) = *self.bodies.get_or_init(|| {
            let raw = self.ev.raw.as_bytes();
            // Bodies come after the metadata; most records have none.
            let find = |k: &str| memchr::memmem::find(raw, k.as_bytes()).is_some();
            let gke = find("\"protoPayload\"");
            (
                find("\"requestObject\"") || (gke && find("\"request\"")),
                find("\"responseObject\"") || (gke && find("\"response\"")),
            )
        });
        if request {
            visit("requestObject");
        }
        if response {
            visit("responseObject");
        }
    }
}

/// Whether `"key"` occurs in the JSON text.
fn is_cloud(s: SourceSystem) -> bool {
    matches!(
        s,
        SourceSystem::Aws | SourceSystem::Azure | SourceSystem::Gcp
    )
}

fn has_key(text: &str, key: &str) -> bool {
    let mut from = 0;
    while let Some(i) = text[from..].find(key) {
        let at = from + i;
        let before = at.checked_sub(1).map(|b| text.as_bytes()[b]);
        let after = text.as_bytes().get(at + key.len()).copied();
        if before == Some(b'"') && after == Some(b'"') {
            return true;
        }
        from = at + key.len();
    }
    false
}

fn last<'x>(l: &'x StrList<'_>) -> Option<&'x str> {
    l.iter().last()
}

/// Dotted path into JSON: a literal dotted key wins over nesting; arrays are searched element by
/// element and every match is kept.
fn collect<'v>(root: &'v Value, path: &str, out: &mut Vec<&'v Value>) {
    if let Some(v) = root.get(path) {
        out.push(v);
        return;
    }
    if let Value::Array(items) = root {
        for i in items {
            collect(i, path, out);
        }
        return;
    }
    let Some((head, rest)) = path.split_once('.') else {
        return;
    };
    if let Some(next) = root.get(head) {
        collect(next, rest, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secretwatch_ingest::{Format, ParseOptions, Parsed, RecordParser};

    #[test]
    fn native_normalized_and_raw_fields() {
        let opts = ParseOptions::default();
        let mut parser = RecordParser::new(&opts, Format::Auto);
        let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a","stage":"ResponseComplete","requestURI":"/apis/rbac.authorization.k8s.io/v1/clusterroles","verb":"create","user":{"username":"oidc:eve","groups":["devs"]},"sourceIPs":["1.2.3.4","10.0.0.9"],"objectRef":{"resource":"clusterroles","apiGroup":"rbac.authorization.k8s.io","apiVersion":"v1","name":"r"},"requestObject":{"kind":"ClusterRole","rules":[{"verbs":["get","list"],"resources":["secrets"]}]},"responseStatus":{"metadata":{},"code":201},"stageTimestamp":"2026-11-03T10:00:00Z"}"#;
        let mut seen = false;
        parser.parse(line, &mut |p| {
            let Parsed::Event(ev) = p else {
                panic!("{p:?}")
            };
            let v = SigmaView::new(&ev);
            assert_eq!(v.get_field("verb"), Some(s("create")));
            assert_eq!(
                v.get_field("objectRef.apiGroup"),
                Some(s("rbac.authorization.k8s.io"))
            );
            assert_eq!(
                v.get_field("responseStatus.code"),
                Some(EventValue::Int(201))
            );
            assert_eq!(v.get_field("principal.kind"), Some(s("human")));
            assert_eq!(v.get_field("source_ip"), Some(s("10.0.0.9")));
            assert_eq!(v.get_field("product"), Some(s("kubernetes")));
            assert_eq!(
                v.get_field("requestObject.rules.resources"),
                Some(EventValue::Array(vec![s("secrets")]))
            );
            assert_eq!(
                v.get_field("request.path"),
                None,
                "Vault names do not apply to Kubernetes events"
            );
            seen = true;
        });
        assert!(seen);
    }
}
