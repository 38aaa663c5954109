//! What a Kubernetes request asked for, from its request URI: the query parameters that decide
//! how much a `list`/`watch` returns.
//!
//! A `list` or `watch` with `fieldSelector=metadata.name=X` returns the one object X: it is
//! how the kubelet fetches every Secret a pod uses with its default Watch strategy (a
//! reflector per Secret, `pkg/kubelet/util/manager/watch_based_manager.go`, `NewObjectCache`
//! with a `fields.OneTermEqualSelector("metadata.name", name)` list/watch), and the
//! apiserver's `RequestInfoFactory` (`k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`)
//! takes the name from such a selector into `objectRef.name` of the audit event when it
//! parses. Both are honoured here: an audit record of an older apiserver (or a shipper that
//! drops `objectRef.name`) gets its name from the selector.
//!
//! client-go writes the query with `url.Values.Encode`: keys sorted, `=` and `,` of selector
//! values percent-encoded (`labelSelector=name%3Dweb%2Cowner%3Dhelm`); other clients send them
//! raw. Both parse. A selector that does not parse narrows nothing and never fails a record.

use std::borrow::Cow;

pub use crate::event::Scope;

/// The query of a request URI, percent-decoded where needed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestQuery<'a> {
    pub field_selector: Option<Cow<'a, str>>,
    pub label_selector: Option<Cow<'a, str>>,
    /// `watch=true` (or `1`): the old-style watch of a list URL.
    pub watch: bool,
    pub resource_version: Option<Cow<'a, str>>,
    pub limit: Option<u64>,
    /// A `continue` token was sent: a later page of a paginated list.
    pub continued: bool,
    /// `command=` of an exec or attach (`PodExecOptions`), in order: `kubectl cp` from a pod
    /// is `command=tar&command=cf&command=-&command=<path>`.
    pub command: Vec<Cow<'a, str>>,
}

/// Parse the query part of `uri` (nothing when it has none).
pub fn parse_query(uri: &str) -> RequestQuery<'_> {
    let mut q = RequestQuery::default();
    let Some((_, query)) = uri.split_once('?') else {
        return q;
    };
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "fieldSelector" => q.field_selector = Some(decode(v)),
            "labelSelector" => q.label_selector = Some(decode(v)),
            "watch" => q.watch = matches!(v, "true" | "1" | "True" | "TRUE"),
            "resourceVersion" => q.resource_version = Some(decode(v)),
            "limit" => q.limit = v.parse().ok(),
            "continue" => q.continued = !v.is_empty(),
            "command" => q.command.push(decode(v)),
            _ => {}
        }
    }
    q
}

/// Percent-decoding (and `+` as space) without allocating when there is nothing to decode.
/// Invalid escapes are kept as they are; bytes that do not form UTF-8 are replaced.
pub fn decode(v: &str) -> Cow<'_, str> {
    if !v.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(v);
    }
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() && hex(b[i + 1]).is_some() && hex(b[i + 2]).is_some() => {
                out.push(hex(b[i + 1]).unwrap_or(0) << 4 | hex(b[i + 2]).unwrap_or(0));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The one name a field selector selects (`metadata.name=X` or `metadata.name==X`, alone or
/// among other terms), if any. `metadata.name!=X` selects no name.
pub fn selected_name(field_selector: &str) -> Option<&str> {
    let mut found = None;
    for term in field_selector.split(',') {
        let term = term.trim();
        if term.contains("!=") {
            continue;
        }
        if let Some((k, v)) = term.split_once('=') {
            let v = v.strip_prefix('=').unwrap_or(v).trim();
            if k.trim() == "metadata.name" && !v.is_empty() {
                // Two different names in one selector select nothing.
                if found.is_some_and(|f| f != v) {
                    return None;
                }
                found = Some(v);
            }
        }
    }
    found
}

/// Whether a label selector narrows the list: at least one term that requires a value or a key
/// (`k=v`, `k==v`, `k in (...)`, `k`). Terms that only exclude (`k!=v`, `k notin (...)`, `!k`)
/// still return (almost) everything.
pub fn label_selector_narrows(sel: &str) -> bool {
    // Commas inside `in (a,b)` belong to the term: split on commas outside parentheses.
    let mut depth = 0i32;
    let mut start = 0;
    let mut narrows = false;
    let mut check = |term: &str| {
        let t = term.trim();
        if t.is_empty() || t.starts_with('!') || t.contains("!=") || t.contains(" notin ") {
            return;
        }
        // A label key (`[prefix/]name` of alphanumerics, `-`, `_`, `.`); anything else does
        // not parse as a selector and narrows nothing.
        let key = t.split(['=', ' ', '(', '<', '>']).next().unwrap_or("");
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        {
            return;
        }
        narrows = true;
    };
    for (i, c) in sel.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                check(&sel[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    check(&sel[start..]);
    narrows
}

/// Whether a field selector narrows the list (an equality term with a field and a value).
pub fn field_selector_narrows(sel: &str) -> bool {
    sel.split(',').map(str::trim).any(|t| {
        !t.contains("!=")
            && t.split_once('=').is_some_and(|(k, v)| {
                !k.trim().is_empty() && !v.trim_start_matches('=').trim().is_empty()
            })
    })
}

/// Whether a request with `verb` can reach more than one object, so that its query matters
/// (the apiserver names a list with `watch=true` a `watch`).
pub fn may_select(verb: &str) -> bool {
    matches!(verb, "list" | "watch" | "deletecollection")
}

/// The scope of a Kubernetes request with `verb` on an object of `namespace`/`name` (as the
/// audit event's `objectRef` gives them) and `query`. Returns the scope and, for a collection
/// verb selected by name with no `objectRef.name`, the selected name.
pub fn scope_of<'q>(
    verb: &str,
    namespace: Option<&str>,
    name: Option<&str>,
    query: &'q RequestQuery<'_>,
) -> (Scope, Option<&'q str>) {
    let collection = may_select(verb) || query.watch;
    if !collection {
        return (Scope::Object, None);
    }
    let by_name = query.field_selector.as_deref().and_then(selected_name);
    if name.is_some() {
        return (Scope::Object, None);
    }
    if let Some(n) = by_name {
        return (Scope::Object, Some(n));
    }
    let narrowed = query
        .label_selector
        .as_deref()
        .is_some_and(label_selector_narrows)
        || query
            .field_selector
            .as_deref()
            .is_some_and(field_selector_narrows);
    if narrowed {
        (Scope::Selected, None)
    } else if namespace.is_some() {
        (Scope::Namespace, None)
    } else {
        (Scope::Cluster, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_watch_of_one_secret_is_an_object_access() {
        // The kubelet's reflector for one pod Secret, as client-go encodes it.
        let list = "/api/v1/namespaces/prod/secrets?fieldSelector=metadata.name%3Ddb-creds&limit=500&resourceVersion=0";
        let q = parse_query(list);
        assert_eq!(q.field_selector.as_deref(), Some("metadata.name=db-creds"));
        assert_eq!(q.limit, Some(500));
        assert_eq!(q.resource_version.as_deref(), Some("0"));
        assert_eq!(
            scope_of("list", Some("prod"), None, &q),
            (Scope::Object, Some("db-creds"))
        );
        let watch = "/api/v1/namespaces/prod/secrets?allowWatchBookmarks=true&fieldSelector=metadata.name%3Ddb-creds&resourceVersion=1234&timeout=7m27s&timeoutSeconds=447&watch=true";
        let q = parse_query(watch);
        assert!(q.watch);
        assert_eq!(scope_of("watch", Some("prod"), None, &q).0, Scope::Object);
        // When the apiserver already put the name in objectRef, it is kept as it is.
        assert_eq!(
            scope_of("watch", Some("prod"), Some("db-creds"), &q),
            (Scope::Object, None)
        );
    }

    #[test]
    fn selectors_raw_encoded_and_multi_term() {
        for uri in [
            "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name=x",
            "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3D%3Dx",
            "/api/v1/namespaces/a/secrets?fieldSelector=type%3DOpaque%2Cmetadata.name%3Dx",
            "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3dx",
        ] {
            let q = parse_query(uri);
            assert_eq!(
                scope_of("list", Some("a"), None, &q),
                (Scope::Object, Some("x")),
                "{uri}"
            );
        }
        // Helm's release lookup (labelSelector=name=<release>,owner=helm) is a filtered list.
        let helm = "/api/v1/namespaces/web/secrets?labelSelector=name%3Dshop%2Cowner%3Dhelm";
        let q = parse_query(helm);
        assert_eq!(q.label_selector.as_deref(), Some("name=shop,owner=helm"));
        assert_eq!(scope_of("list", Some("web"), None, &q).0, Scope::Selected);
        // A selector that only excludes still returns everything.
        for sel in [
            "app%21%3Dx",
            "%21app",
            "env+notin+%28a%2Cb%29",
            "metadata.name%21%3Dx",
        ] {
            let uri = format!("/api/v1/secrets?labelSelector={sel}&fieldSelector={sel}");
            let q = parse_query(&uri);
            assert_eq!(scope_of("list", None, None, &q).0, Scope::Cluster, "{uri}");
        }
        let q = parse_query("/api/v1/secrets?labelSelector=env+in+%28a%2Cb%29");
        assert_eq!(q.label_selector.as_deref(), Some("env in (a,b)"));
        assert_eq!(scope_of("list", None, None, &q).0, Scope::Selected);
        // Two different names select nothing in particular.
        assert_eq!(selected_name("metadata.name=a,metadata.name=b"), None);
    }

    #[test]
    fn plain_lists_and_broken_queries() {
        let q = parse_query("/api/v1/namespaces/a/secrets");
        assert_eq!(scope_of("list", Some("a"), None, &q).0, Scope::Namespace);
        assert_eq!(scope_of("list", None, None, &q).0, Scope::Cluster);
        assert_eq!(scope_of("get", Some("a"), Some("x"), &q).0, Scope::Object);
        // Nothing here fails: bad escapes, empty values, stray separators, non-ASCII.
        for uri in [
            "/api/v1/secrets?fieldSelector=%zz&labelSelector=%&&=&limit=x&watch",
            "/api/v1/secrets?fieldSelector=metadata.name%3D&continue=",
            "/api/v1/secrets?labelSelector=%E2%82%AC%FF%3D€€",
            "/api/v1/secrets?fieldSelector=metadata.name%3D€x%",
        ] {
            let q = parse_query(uri);
            let _ = scope_of("list", None, None, &q);
        }
        let q = parse_query("/api/v1/secrets?fieldSelector=metadata.name%3D&continue=");
        assert_eq!(scope_of("list", None, None, &q).0, Scope::Cluster);
        assert!(!q.continued);
        assert!(parse_query("/api/v1/secrets?limit=500&continue=eyJ2").continued);
        assert_eq!(decode("a%2"), "a%2");
    }
}
