//! Redaction at ingest: secret values never leave this module in clear.
//!
//! Secret bodies are redacted by allowlist (only structural fields survive), tokens and
//! credentials by name and by shape (JWTs, Vault tokens). Unparseable text headed for the
//! dead-letter file is scrubbed by [`scrub_text`].

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::event::Redactions;

/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

const HMAC_PREFIX: &str = "hmac-sha256:";

/// Keys whose string values are credentials wherever they appear.
const CREDENTIAL_KEYS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_token",
    "bearer",
    "bearertoken",
    "password",
    "passwd",
    "client_secret",
    "secret_key",
    "secretkey",
    "api_key",
    "apikey",
    "private_key",
    "privatekey",
    "aws_secret_access_key",
    "jwt",
];

/// Substrings of a key or value that mark a credential in a ConfigMap.
const CREDENTIAL_HINTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "private_key",
    "private-key",
    "credential",
    "aws_access_key_id",
    "aws_secret_access_key",
    "-----begin",
];

/// URI query parameters that carry credentials.
const URI_CREDENTIAL_PARAMS: &[&str] = &[
    "access_token",
    "token",
    "id_token",
    "bearer",
    "password",
    "client_secret",
    "api_key",
    "apikey",
    "x-vault-token",
];

fn is_credential_key(k: &str) -> bool {
    CREDENTIAL_KEYS.iter().any(|c| k.eq_ignore_ascii_case(c))
}

/// Keys of cloud records whose values are secret values (AWS `secretString`, Azure `value`):
/// masked in text that cannot be parsed, where the record's shape is unknown.
fn is_cloud_value_key(k: &str) -> bool {
    ["secretString", "secretBinary", "value", "secretValue"]
        .iter()
        .any(|c| k.eq_ignore_ascii_case(c))
}

fn has_credential_hint(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    CREDENTIAL_HINTS.iter().any(|h| lower.contains(h))
}

/// A JSON Web Token (`eyJ...` header, three base64url parts).
pub fn looks_like_jwt(s: &str) -> bool {
    s.len() > 20
        && s.starts_with("eyJ")
        && s.bytes().filter(|&b| b == b'.').count() == 2
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'='))
}

/// A Vault token in clear (`hvs.`, `hvb.`, `hvr.`, legacy `s.`/`b.`/`r.` with 24 chars).
pub fn looks_like_vault_token(s: &str) -> bool {
    let body_ok = |b: &str| {
        b.len() >= 20
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    };
    if let Some(rest) = s
        .strip_prefix("hvs.")
        .or_else(|| s.strip_prefix("hvb."))
        .or_else(|| s.strip_prefix("hvr."))
    {
        return body_ok(rest);
    }
    if let Some(rest) = s
        .strip_prefix("s.")
        .or_else(|| s.strip_prefix("b."))
        .or_else(|| s.strip_prefix("r."))
    {
        return rest.len() == 24 && body_ok(rest);
    }
    false
}

fn is_token_shaped(s: &str) -> bool {
    looks_like_jwt(s)
        || looks_like_vault_token(s)
        || s.len() > 7 && s.as_bytes()[..7].eq_ignore_ascii_case(b"bearer ")
}

fn redact_string(v: &mut Value) -> bool {
    match v {
        Value::String(s) if !s.is_empty() && s != REDACTED => {
            *s = REDACTED.to_string();
            true
        }
        _ => false,
    }
}

/// Replace every string leaf under `v`. Returns whether anything changed.
pub(crate) fn redact_all_strings(v: &mut Value) -> bool {
    match v {
        Value::String(_) => redact_string(v),
        Value::Array(a) => a
            .iter_mut()
            .fold(false, |acc, x| redact_all_strings(x) | acc),
        Value::Object(m) => m
            .values_mut()
            .fold(false, |acc, x| redact_all_strings(x) | acc),
        _ => false,
    }
}

/// Redact a Kubernetes Secret (or SecretList, or a patch of a Secret) by allowlist.
fn redact_secret_object(v: &mut Value) -> bool {
    match v {
        Value::Object(m) => {
            let mut changed = false;
            for (k, child) in m.iter_mut() {
                match k.as_str() {
                    "kind" | "apiVersion" | "type" | "immutable" => {}
                    "metadata" => changed |= redact_secret_metadata(child),
                    "items" => {
                        if let Value::Array(items) = child {
                            for item in items {
                                changed |= redact_secret_object(item);
                            }
                        }
                    }
                    // JSON-patch operations keep op/path, lose values.
                    "op" | "path" | "from" => {}
                    _ => changed |= redact_all_strings(child),
                }
            }
            changed
        }
        // JSON patch: an array of operations.
        Value::Array(ops) => ops
            .iter_mut()
            .fold(false, |acc, x| redact_secret_object(x) | acc),
        Value::String(_) => redact_string(v),
        _ => false,
    }
}

fn redact_secret_metadata(v: &mut Value) -> bool {
    let Value::Object(m) = v else { return false };
    let mut changed = false;
    if let Some(Value::Object(ann)) = m.get_mut("annotations") {
        for (k, val) in ann.iter_mut() {
            // kubectl apply keeps the whole object, data included, in this annotation.
            if k.contains("last-applied-configuration") || has_credential_hint(k) {
                changed |= redact_string(val);
            }
        }
    }
    changed
}

/// Generic pass over a non-Secret body: credential-named keys and token-shaped strings.
pub(crate) fn redact_credentials(v: &mut Value, flags: &mut Redactions) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                let hashed = child.as_str().is_some_and(|s| s.starts_with(HMAC_PREFIX));
                if child.is_string() && !hashed && is_credential_key(k) {
                    if redact_string(child) {
                        flags.insert(Redactions::TOKEN);
                    }
                } else {
                    redact_credentials(child, flags);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_credentials(x, flags)),
        Value::String(s) if is_token_shaped(s) => {
            *s = REDACTED.to_string();
            flags.insert(Redactions::TOKEN);
        }
        // Free text (an Event's message, an error) with a credential among its words.
        Value::String(s) if s.contains(' ') => {
            if let (Cow::Owned(clean), true) = scrub_words(s) {
                *s = clean;
                flags.insert(Redactions::TOKEN);
            }
        }
        _ => {}
    }
}

/// ConfigMap `data`: values under credential-looking keys, or holding credential text.
fn redact_configmap(v: &mut Value, flags: &mut Redactions) {
    let Value::Object(m) = v else { return };
    for key in ["data", "binaryData"] {
        if let Some(Value::Object(data)) = m.get_mut(key) {
            for (k, val) in data.iter_mut() {
                let hit = has_credential_hint(k) || val.as_str().is_some_and(has_credential_hint);
                if hit && redact_string(val) {
                    flags.insert(Redactions::CREDENTIAL_IN_BODY);
                }
            }
        }
    }
    if let Some(Value::Array(items)) = m.get_mut("items") {
        for item in items {
            redact_configmap(item, flags);
        }
    }
}

fn object_kind(v: &Value) -> Option<&str> {
    v.get("kind").and_then(Value::as_str)
}

/// Redact a Kubernetes request or response body. `resource` is `objectRef.resource`.
pub fn redact_k8s_body(body: &mut Value, resource: Option<&str>, flags: &mut Redactions) {
    let kind = object_kind(body);
    let is_secret = resource == Some("secrets") || matches!(kind, Some("Secret" | "SecretList"));
    if is_secret {
        if redact_secret_object(body) {
            flags.insert(Redactions::SECRET_BODY);
        }
        return;
    }
    if resource == Some("configmaps") || matches!(kind, Some("ConfigMap" | "ConfigMapList")) {
        redact_configmap(body, flags);
    }
    // A list of mixed objects (e.g. `kubectl get all` through a Table) may still hold Secrets.
    if let Some(Value::Array(items)) = body.get_mut("items") {
        for item in items.iter_mut() {
            if matches!(object_kind(item), Some("Secret")) && redact_secret_object(item) {
                flags.insert(Redactions::SECRET_BODY);
            }
        }
    }
    redact_credentials(body, flags);
}

/// Redact credentials in a URI query. Returns the new URI when something was removed.
pub fn redact_uri(uri: &str) -> Option<String> {
    let (path, query) = uri.split_once('?')?;
    let mut changed = false;
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if !v.is_empty()
                && URI_CREDENTIAL_PARAMS
                    .iter()
                    .any(|p| k.eq_ignore_ascii_case(p))
            {
                changed = true;
                format!("{k}={REDACTED}")
            } else {
                pair.to_string()
            }
        })
        .collect();
    changed.then(|| format!("{path}?{}", parts.join("&")))
}

/// Redact a whole Kubernetes audit event given as a JSON value.
pub fn redact_k8s_event(ev: &mut Value) -> Redactions {
    let mut flags = Redactions::default();
    let resource = ev
        .pointer("/objectRef/resource")
        .and_then(Value::as_str)
        .map(str::to_owned);
    for key in ["requestObject", "responseObject"] {
        if let Some(body) = ev.get_mut(key) {
            redact_k8s_body(body, resource.as_deref(), &mut flags);
        }
    }
    if let Some(Value::String(uri)) = ev.get_mut("requestURI") {
        if let Some(clean) = redact_uri(uri) {
            *uri = clean;
            flags.insert(Redactions::URI_CREDENTIAL);
        }
    }
    // Annotations and user.extra are free-form: only token shapes.
    for key in ["annotations", "user", "impersonatedUser"] {
        if let Some(v) = ev.get_mut(key) {
            redact_credentials(v, &mut flags);
        }
    }
    flags
}

fn redact_token_at(root: &mut Value, pointer: &str, flags: &mut Redactions) {
    if let Some(v) = root.pointer_mut(pointer) {
        if let Some(s) = v.as_str() {
            if !s.is_empty() && !s.starts_with(HMAC_PREFIX) && redact_string(v) {
                flags.insert(Redactions::TOKEN);
            }
        }
    }
}

/// Strings a Vault audit device writes in clear by design: its HMACs, and time values. Vault's
/// and OpenBao's `audit/hashstructure.go` (`HashStructure`, the copy walker) hash strings but
/// leave `time.Time` values as they are, so a KV v2 write's response carries `created_time` as
/// RFC 3339 text (while the string `deletion_time` is HMAC'd): metadata, not a value.
pub fn vault_leaves_plain(s: &str) -> bool {
    s.starts_with(HMAC_PREFIX) || crate::time::parse_rfc3339(s).is_some()
}

/// Replace string leaves that are not HMACs. Returns whether anything changed.
fn redact_clear_strings(v: &mut Value) -> bool {
    redact_strings_but(v, &|s| s.starts_with(HMAC_PREFIX))
}

/// Replace string leaves that a Vault audit device did not hash ([`vault_leaves_plain`]).
fn redact_vault_clear_strings(v: &mut Value) -> bool {
    redact_strings_but(v, &vault_leaves_plain)
}

fn redact_strings_but(v: &mut Value, keep: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::String(s) => !keep(s) && redact_string(v),
        Value::Array(a) => a
            .iter_mut()
            .fold(false, |acc, x| redact_strings_but(x, keep) | acc),
        Value::Object(m) => m
            .values_mut()
            .fold(false, |acc, x| redact_strings_but(x, keep) | acc),
        _ => false,
    }
}

/// Redact a Vault audit entry given as a JSON value.
pub fn redact_vault_entry(entry: &mut Value) -> Redactions {
    let mut flags = Redactions::default();
    for p in [
        "/auth/client_token",
        "/request/client_token",
        "/response/auth/client_token",
        "/response/wrap_info/token",
        "/request/wrap_info/token",
    ] {
        redact_token_at(entry, p, &mut flags);
    }
    for p in ["/request/data", "/response/data", "/response/secret"] {
        if let Some(v) = entry.pointer_mut(p) {
            if redact_vault_clear_strings(v) {
                flags.insert(Redactions::VAULT_CLEAR_VALUE);
            }
        }
    }
    for p in ["/request/headers", "/response/headers"] {
        if let Some(v) = entry.pointer_mut(p) {
            if redact_clear_strings(v) {
                flags.insert(Redactions::HEADER);
            }
        }
    }
    for p in ["/request/path", "/request/request_uri"] {
        if let Some(Value::String(uri)) = entry.pointer_mut(p) {
            if let Some(clean) = redact_uri(uri) {
                *uri = clean;
                flags.insert(Redactions::URI_CREDENTIAL);
            }
        }
    }
    // Anything else token-shaped (metadata, errors) goes too.
    redact_credentials(entry, &mut flags);
    flags
}

/// Redact any JSON value of unknown shape (used for records that failed to parse).
pub fn redact_unknown(v: &mut Value) -> Redactions {
    let looks_k8s = v.get("auditID").is_some()
        || v.get("requestObject").is_some()
        || v.get("responseObject").is_some();
    let looks_vault = v.get("request").is_some() || v.get("auth").is_some();
    let mut flags = Redactions::default();
    if looks_k8s {
        flags.insert(redact_k8s_event(v));
    }
    if looks_vault {
        flags.insert(redact_vault_entry(v));
    }
    if matches!(object_kind(v), Some("Secret" | "SecretList")) && redact_secret_object(v) {
        flags.insert(Redactions::SECRET_BODY);
    }
    if let Some(Value::Array(items)) = v.get_mut("items") {
        for item in items {
            flags.insert(redact_unknown(item));
        }
    }
    // Cloud records: secret values (`secretString`, `payload`, `value`), headers, then the rest.
    flags.insert(crate::cloud::redact::redact_any_cloud(v));
    // Any `data`/`stringData` map anywhere is treated as secret data.
    redact_data_maps(v, &mut flags);
    redact_credentials(v, &mut flags);
    redact_nested_text(v, &mut flags);
    flags
}

/// String leaves of a record of unknown shape: JSON text (an audit event that an envelope
/// carries as a string: AKS `properties.log`, CloudWatch Logs `logEvents[].message`) is
/// redacted as a record of its own, and credentials in URI queries go wherever they are.
fn redact_nested_text(v: &mut Value, flags: &mut Redactions) {
    match v {
        Value::String(s) => {
            if let Some(clean) = redact_json_text(s, flags) {
                *s = clean;
            } else if let Some(clean) = redact_uri(s) {
                *s = clean;
                flags.insert(Redactions::URI_CREDENTIAL);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_nested_text(x, flags)),
        Value::Object(m) => m.values_mut().for_each(|x| redact_nested_text(x, flags)),
        _ => {}
    }
}

/// `s` redacted as a record when it is JSON text (scrubbed when it is broken JSON text);
/// `None` when it is not JSON text.
fn redact_json_text(s: &str, flags: &mut Redactions) -> Option<String> {
    let t = s.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    Some(match serde_json::from_str::<Value>(t) {
        Ok(mut inner) => {
            flags.insert(redact_unknown(&mut inner));
            inner.to_string()
        }
        Err(_) => scrub_text(t, t.len()),
    })
}

/// A literal of broken JSON text that holds escaped JSON text: unescaped, redacted as a
/// record of its own, escaped again; masked whole when it cannot be unescaped (cut short).
/// `None` when it holds no escaped JSON text.
fn scrub_embedded_literal(lit: &str) -> Option<String> {
    if !lit.contains("\\\"") {
        return None;
    }
    let Ok(inner) = serde_json::from_str::<String>(&format!("\"{lit}\"")) else {
        return Some(REDACTED.to_string());
    };
    let clean = redact_json_text(&inner, &mut Redactions::default())?;
    let quoted = serde_json::to_string(&clean).ok()?;
    Some(quoted[1..quoted.len() - 1].to_string())
}

fn redact_data_maps(v: &mut Value, flags: &mut Redactions) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "data" || k == "stringData") && redact_clear_strings(child) {
                    flags.insert(Redactions::SECRET_BODY);
                } else {
                    redact_data_maps(child, flags);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_data_maps(x, flags)),
        _ => {}
    }
}

/// Bound a redacted raw copy to `max` bytes: drop bodies first, then cut the text.
pub fn bound_raw(mut value: Value, max: usize, flags: &mut Redactions) -> String {
    let text = value.to_string();
    if text.len() <= max {
        return text;
    }
    if let Value::Object(m) = &mut value {
        let mut dropped = false;
        for key in ["requestObject", "responseObject"] {
            if let Some(body) = m.get_mut(key) {
                let n = body.to_string().len();
                let mut note = Map::new();
                note.insert("secretwatch_omitted_bytes".into(), Value::from(n));
                *body = Value::Object(note);
                dropped = true;
            }
        }
        for p in ["/request/data", "/response/data"] {
            if let Some(body) = value.pointer_mut(p) {
                let n = body.to_string().len();
                *body = serde_json::json!({ "secretwatch_omitted_bytes": n });
                dropped = true;
            }
        }
        if dropped {
            flags.insert(Redactions::BODY_OMITTED);
            let text = value.to_string();
            if text.len() <= max {
                return text;
            }
        }
    }
    flags.insert(Redactions::RAW_TRUNCATED);
    let text = value.to_string();
    truncate_at_char(&text, max).to_string()
}

/// Cut `s` to at most `max` bytes at a char boundary.
pub fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Free text that secretwatch keeps as words (a Kubernetes Event's message in an alert's
/// reason): every word that is token-shaped, follows `Bearer`, or is a long opaque string
/// (32+ characters of base64/hex without spaces: keys and passwords pasted into messages)
/// becomes `[REDACTED]`. Returns the text and whether anything went.
pub fn scrub_words(text: &str) -> (Cow<'_, str>, bool) {
    fn trim(w: &str) -> &str {
        w.trim_matches(|c: char| "\\\"'()[],;:".contains(c))
    }
    fn opaque(w: &str) -> bool {
        w.len() >= 32
            && w.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-' | b'.')
            })
            && w.bytes().any(|b| b.is_ascii_digit())
            && w.bytes().any(|b| b.is_ascii_alphabetic())
            // Not a Kubernetes name (lowercase words joined by `-` and `.`).
            && (w.bytes().any(|b| b.is_ascii_uppercase()) || !w.contains(['-', '.']))
    }
    let mut out: Option<String> = None;
    let mut after_bearer = false;
    let mut at = 0; // where `word` starts in `text`
    for word in text.split(' ') {
        let mut core = trim(word);
        // `key=value`: the value is the word to judge.
        if let Some((_, v)) = core.rsplit_once('=').filter(|(_, v)| !v.is_empty()) {
            core = trim(v);
        }
        let secret = !core.is_empty()
            && (after_bearer
                || looks_like_jwt(core)
                || looks_like_vault_token(core)
                || opaque(core));
        after_bearer = core.eq_ignore_ascii_case("bearer");
        if secret || out.is_some() {
            // The text before the first credential is copied once, as it was.
            let o = out.get_or_insert_with(|| text[..at].to_string());
            if secret {
                o.push_str(&word.replacen(core, REDACTED, 1));
            } else {
                o.push_str(word);
            }
            if at + word.len() < text.len() {
                o.push(' ');
            }
        }
        at += word.len() + 1;
    }
    match out {
        Some(o) => (Cow::Owned(o), true),
        None => (Cow::Borrowed(text), false),
    }
}

#[cfg(test)]
#[test]
fn words_that_are_credentials_go_and_names_stay() {
    let (s, hit) = scrub_words("MountVolume.SetUp failed for volume \"sh.helm.release.v1.payments-api-gateway.v12\" : secret \"registry-pull-secret-2026-12-01\" not found");
    assert!(!hit, "{s}");
    let (s, hit) = scrub_words("auth failed: Bearer abc.def token=(eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln) key \"AKIAxxSECRETxx0123456789abcdefGHIJ\"");
    assert!(hit);
    assert_eq!(
        s,
        "auth failed: Bearer [REDACTED] token=([REDACTED]) key \"[REDACTED]\""
    );
}

/// Scrub text that is not valid JSON before it is written anywhere (dead-letter files).
///
/// Works on JSON-ish text: every string literal that follows a `data`/`stringData`
/// key (to the matching brace) or a credential key is masked, and so is every
/// token-shaped or long opaque literal. A literal holding escaped JSON text (an envelope's
/// audit event) is redacted as a record of its own, and credentials in URI queries go.
pub fn scrub_text(text: &str, max: usize) -> String {
    let text = truncate_at_char(text, max);
    if !text.is_ascii() {
        return scrub_non_ascii(text);
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut last_key: Option<(usize, usize)> = None; // byte range of the last key literal
    let mut mask_depth: Option<usize> = None; // brace depth at which masking ends
    let mut depth = 0usize;
    let mut expecting_value = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' => {
                // Find the end of the literal.
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(b.len());
                let lit = &text[start..end];
                // A key is followed by ':'.
                let mut k = j + 1;
                while k < b.len() && b[k].is_ascii_whitespace() {
                    k += 1;
                }
                let is_key = k < b.len() && b[k] == b':';
                let key_says_secret = last_key
                    .map(|(s, e)| {
                        let key = &text[s..e];
                        is_credential_key(key) || is_cloud_value_key(key)
                    })
                    .unwrap_or(false);
                let mask = !is_key
                    && (mask_depth.is_some()
                        || (expecting_value && key_says_secret)
                        || is_token_shaped(lit)
                        || looks_opaque(lit));
                let clean = if mask {
                    Some(REDACTED.to_string())
                } else if is_key {
                    None
                } else {
                    scrub_embedded_literal(lit)
                        .or_else(|| redact_uri(lit))
                        .or_else(|| match scrub_words(lit) {
                            // Free text with a credential among its words.
                            (Cow::Owned(clean), true) => Some(clean),
                            _ => None,
                        })
                };
                out.push('"');
                out.push_str(clean.as_deref().unwrap_or(lit));
                if j < b.len() {
                    out.push('"');
                }
                if is_key {
                    last_key = Some((start, end));
                }
                expecting_value = false;
                i = j + 1;
                continue;
            }
            b':' => expecting_value = true,
            b'{' | b'[' => {
                depth += 1;
                if mask_depth.is_none() && expecting_value {
                    if let Some((s, e)) = last_key {
                        if matches!(
                            &text[s..e],
                            "data"
                                | "stringData"
                                | "requestObject"
                                | "responseObject"
                                | "payload"
                                | "responseElements"
                        ) {
                            mask_depth = Some(depth);
                        }
                    }
                }
                expecting_value = false;
            }
            b'}' | b']' => {
                if mask_depth == Some(depth) {
                    mask_depth = None;
                }
                depth = depth.saturating_sub(1);
                expecting_value = false;
            }
            b',' => expecting_value = false,
            _ => {}
        }
        out.push(c as char);
        i += 1;
    }
    out
}

/// Fallback for non-ASCII text: mask every string literal.
fn scrub_non_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_str = false;
    let mut escaped = false;
    for ch in text.chars() {
        if in_str {
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_str = false;
                out.push_str(REDACTED);
                out.push('"');
            }
            continue;
        }
        if ch == '"' {
            in_str = true;
        }
        out.push(ch);
    }
    out
}

/// Long opaque strings (base64, hex keys) that are neither ids nor timestamps nor paths.
fn looks_opaque(s: &str) -> bool {
    if s.len() < 24 || s.starts_with(HMAC_PREFIX) {
        return false;
    }
    let all_b64 = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-'));
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    let has_upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let is_uuid = s.len() == 36 && s.bytes().filter(|&b| b == b'-').count() == 4;
    all_b64 && !is_uuid && has_digit && has_upper && has_lower && !s.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_body_keeps_structure_loses_values() {
        let mut ev = json!({
            "auditID": "a", "objectRef": {"resource": "secrets", "namespace": "prod", "name": "db"},
            "requestObject": {"kind": "Secret", "apiVersion": "v1", "type": "Opaque",
                "metadata": {"name": "db", "namespace": "prod",
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"pw\":\"Q0FOQVJZ\"}}", "team": "payments"}},
                "data": {"pw": "Q0FOQVJZ"}, "stringData": {"user": "CANARY"}},
            "responseObject": {"kind": "SecretList", "items": [{"metadata": {"name": "x"}, "data": {"k": "djE="}}]}
        });
        let flags = redact_k8s_event(&mut ev);
        assert!(flags.contains(Redactions::SECRET_BODY));
        let text = ev.to_string();
        for leaked in ["Q0FOQVJZ", "CANARY", "djE="] {
            assert!(!text.contains(leaked), "{leaked} in {text}");
        }
        assert_eq!(
            ev.pointer("/requestObject/metadata/name"),
            Some(&json!("db"))
        );
        assert_eq!(
            ev.pointer("/requestObject/metadata/annotations/team"),
            Some(&json!("payments"))
        );
        assert_eq!(ev.pointer("/requestObject/data/pw"), Some(&json!(REDACTED)));
        assert_eq!(
            ev.pointer("/responseObject/items/0/metadata/name"),
            Some(&json!("x"))
        );
    }

    #[test]
    fn secret_patch_values_go() {
        let mut ev = json!({"objectRef": {"resource": "secrets"},
            "requestObject": [{"op": "replace", "path": "/data/pw", "value": "c2VjcmV0"}]});
        redact_k8s_event(&mut ev);
        assert_eq!(ev.pointer("/requestObject/0/value"), Some(&json!(REDACTED)));
        assert_eq!(
            ev.pointer("/requestObject/0/path"),
            Some(&json!("/data/pw"))
        );
    }

    #[test]
    fn tokens_in_token_requests_reviews_and_uris() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let mut ev = json!({"objectRef": {"resource": "serviceaccounts", "subresource": "token"},
            "requestURI": "/api/v1/namespaces/a/pods/p/exec?command=sh&access_token=abc123",
            "responseObject": {"kind": "TokenRequest", "status": {"token": jwt, "expirationTimestamp": "x"}},
            "requestObject": {"kind": "TokenReview", "spec": {"token": "opaque-token-value"}}});
        let flags = redact_k8s_event(&mut ev);
        let text = ev.to_string();
        assert!(
            !text.contains(jwt) && !text.contains("abc123") && !text.contains("opaque-token-value")
        );
        assert!(flags.contains(Redactions::TOKEN) && flags.contains(Redactions::URI_CREDENTIAL));
        assert_eq!(
            ev["requestURI"],
            json!("/api/v1/namespaces/a/pods/p/exec?command=sh&access_token=[REDACTED]")
        );
    }

    #[test]
    fn configmap_credentials() {
        let mut ev = json!({"objectRef": {"resource": "configmaps"},
            "requestObject": {"kind": "ConfigMap", "data": {"db_password": "hunter2", "color": "blue", "creds": "aws_secret_access_key=AKIAXYZ"}}});
        let flags = redact_k8s_event(&mut ev);
        assert!(flags.contains(Redactions::CREDENTIAL_IN_BODY));
        assert_eq!(
            ev.pointer("/requestObject/data/color"),
            Some(&json!("blue"))
        );
        assert!(!ev.to_string().contains("hunter2") && !ev.to_string().contains("AKIAXYZ"));
    }

    #[test]
    fn vault_clear_tokens_and_values() {
        let mut e = json!({"type": "response",
            "auth": {"client_token": "hvs.CAESIJ1234567890abcdefghijkl", "accessor": "hmac-sha256:aa"},
            "request": {"id": "r", "client_token": "hmac-sha256:bb", "data": {"jwt": "eyJx.eyJy.sig"},
                "headers": {"x-vault-token": ["hvs.CAESIJ1234567890abcdefghijkl"]}},
            "response": {"data": {"password": "clear-value", "ttl": 30, "other": "hmac-sha256:cc"},
                "auth": {"client_token": "s.abcdefghijklmnopqrstuvwx"}}});
        let flags = redact_vault_entry(&mut e);
        let t = e.to_string();
        assert!(
            !t.contains("hvs.CAES") && !t.contains("clear-value") && !t.contains("s.abcdefghijkl")
        );
        assert!(t.contains("hmac-sha256:bb") && t.contains("hmac-sha256:cc"));
        assert_eq!(e.pointer("/response/data/ttl"), Some(&json!(30)));
        assert!(flags.contains(Redactions::TOKEN));
        assert!(flags.contains(Redactions::VAULT_CLEAR_VALUE));
        assert!(flags.contains(Redactions::HEADER));
    }

    #[test]
    fn scrub_masks_data_maps_and_tokens_in_broken_json() {
        let broken = r#"{"auditID":"1","requestObject":{"kind":"Secret","data":{"pw":"c2VjcmV0dmFsdWU="}},"requestURI":"/x","note":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc","tok"#;
        let s = scrub_text(broken, 10_000);
        assert!(!s.contains("c2VjcmV0dmFsdWU="), "{s}");
        assert!(!s.contains("eyJhbGciOiJIUzI1NiJ9"), "{s}");
        assert!(s.contains("\"auditID\":\"1\""), "{s}");
        assert!(s.contains("\"/x\""), "{s}");
    }

    #[test]
    fn unknown_records_lose_values_of_embedded_events_and_uri_tokens() {
        let event = json!({"auditID": "e", "objectRef": {"resource": "secrets"},
            "requestURI": "/api/v1/secrets?watch=1&access_token=uri-canary",
            "responseObject": {"kind": "Secret", "data": {"pw": "Y2FuYXJ5LWVtYmVkZGVk"}}})
        .to_string();
        // AKS keeps the event as text in properties.log, CloudWatch Logs in message; Azure
        // records keep tokens in request URIs. A forced format leaves them to the dead letter.
        let mut v = json!({"category": "kube-audit", "properties": {"log": event},
            "logEvents": [{"message": format!("  {event}")}, {"message": "{\"data\": {\"pw\": \"cut"}],
            "records": [{"properties": {"requestUri": "https://kv/secrets/x?api-version=7.4&access_token=az-canary"}}]});
        let flags = redact_unknown(&mut v);
        let t = v.to_string();
        for leaked in ["uri-canary", "Y2FuYXJ5LWVtYmVkZGVk", "az-canary", "cut"] {
            assert!(!t.contains(leaked), "{leaked} in {t}");
        }
        assert!(
            flags.contains(Redactions::SECRET_BODY) && flags.contains(Redactions::URI_CREDENTIAL)
        );
        // Still readable: the embedded event is JSON text with its id.
        let log: Value = serde_json::from_str(v["properties"]["log"].as_str().unwrap()).unwrap();
        assert_eq!(log["auditID"], json!("e"));
        assert_eq!(
            log.pointer("/responseObject/data/pw"),
            Some(&json!(REDACTED))
        );
        assert!(t.contains("api-version=7.4"), "{t}");
    }

    #[test]
    fn scrub_masks_embedded_events_and_uri_tokens_in_broken_json() {
        let event = json!({"auditID": "e", "responseObject": {"kind": "Secret",
            "data": {"pw": "Y2FuYXJ5LWVtYmVkZGVk"}}, "requestURI": "/x?token=uri-canary"})
        .to_string();
        let whole = json!({"properties": {"log": event}, "time": "t"}).to_string();
        // Cut after the embedded event (a complete literal), inside it (cut short), and
        // inside an escape sequence.
        let after = &whole[..whole.find("\"time\"").unwrap() + 3];
        let inside = &whole[..whole.find("uri-canary").unwrap() + 10];
        let escape = &whole[..whole.find("Y2Fu").unwrap() - 1];
        for broken in [after, inside, escape] {
            assert!(broken.contains("uri-canary"), "{broken}");
            let s = scrub_text(broken, 10_000);
            for leaked in ["uri-canary", "Y2FuYXJ5LWVtYmVkZGVk"] {
                assert!(!s.contains(leaked), "{leaked} in {s}");
            }
        }
        let s = scrub_text(after, 10_000);
        assert!(s.contains(r#"\"auditID\":\"e\""#), "{s}");
        assert!(s.contains(r#"\"/x?token=[REDACTED]\""#), "{s}");
        let uri = r#"{"requestUri":"https://kv/secrets/x?api-version=7.4&access_token=az-canary","#;
        let s = scrub_text(uri, 10_000);
        assert!(
            !s.contains("az-canary") && s.contains("api-version=7.4"),
            "{s}"
        );
    }

    #[test]
    fn bound_raw_drops_bodies_then_truncates() {
        let v = json!({"auditID": "x", "requestObject": {"big": "a".repeat(500)}});
        let mut flags = Redactions::default();
        let out = bound_raw(v, 200, &mut flags);
        assert!(out.len() <= 200 && out.contains("secretwatch_omitted_bytes"));
        assert!(
            flags.contains(Redactions::BODY_OMITTED) && !flags.contains(Redactions::RAW_TRUNCATED)
        );
        let v = json!({"auditID": "y".repeat(500)});
        let out = bound_raw(v, 100, &mut flags);
        assert_eq!(out.len(), 100);
        assert!(flags.contains(Redactions::RAW_TRUNCATED));
    }
}
