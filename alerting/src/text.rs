//! Small text and time helpers shared by the encoders.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// At most `max` characters: longer text is cut on a char boundary and ends with `…`.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// RFC 3339 in UTC with milliseconds: `2026-11-02T09:04:59.123Z`.
pub fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Remove `null` members, and objects and arrays left empty, recursively: documents built with
/// `json!` from optional fields keep only what is known.
pub fn prune(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.values_mut().for_each(prune);
            map.retain(|_, x| !is_empty(x));
        }
        Value::Array(items) => {
            items.iter_mut().for_each(prune);
            items.retain(|x| !x.is_null());
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The strings of `items` that parse as IP addresses (ECS and OCSF `ip` fields reject others).
pub fn valid_ips<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    items
        .into_iter()
        .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_drops_nulls_and_empties() {
        let mut v = serde_json::json!({"a": null, "b": {"c": null}, "d": [], "e": [1, null], "f": false, "g": ""});
        prune(&mut v);
        assert_eq!(v, serde_json::json!({"e": [1], "f": false, "g": ""}));
        assert_eq!(valid_ips(["10.0.0.1", "x", "::1"]), vec!["10.0.0.1", "::1"]);
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcd", 3), "ab…");
        assert_eq!(truncate_chars("ééééé", 4), "ééé…");
        assert_eq!(truncate_chars("ééééé", 4).chars().count(), 4);
        assert_eq!(truncate_chars("x", 0), "");
    }
}
