//! Typed errors of ingest.

use std::path::PathBuf;

/// Why one record could not be turned into events. Always names the field when one is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all (or cut short).
    #[error("invalid JSON at column {column}: {message}")]
    Json { column: usize, message: String },
    /// JSON, but a field is missing or has the wrong type or value.
    #[error("field `{field}`: {message}")]
    Field { field: String, message: String },
    /// JSON of no format we know.
    #[error("unrecognized record: {0}")]
    UnknownFormat(String),
    /// Bytes that are not UTF-8.
    #[error("not UTF-8 at byte {0}")]
    Utf8(usize),
    /// Longer than the configured line limit.
    #[error("record of {len} bytes exceeds the limit of {limit} bytes")]
    TooLong { len: usize, limit: usize },
}

impl ParseError {
    /// Input that is not JSON (or cut short), in our wording (see [`serde_message`]).
    pub fn json(err: &serde_json::Error) -> Self {
        ParseError::Json {
            column: err.column(),
            message: serde_message(&err.to_string()),
        }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ParseError::Field {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field at fault, if any.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            ParseError::Field { field, .. } => Some(field),
            _ => None,
        }
    }

    /// A short stable kind for counters and dead-letter records.
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::Json { .. } => "json",
            ParseError::Field { .. } => "field",
            ParseError::UnknownFormat(_) => "unknown_format",
            ParseError::Utf8(_) => "utf8",
            ParseError::TooLong { .. } => "too_long",
        }
    }
}

/// Longest message kept of a serde error (what was expected can be a long list).
const MAX_MESSAGE: usize = 512;

/// What replaces a value that a message would otherwise quote.
const VALUE: &str = "[value]";

/// A serde (serde_json) error message in our wording, with no value of the input in it.
///
/// Serde quotes the value it met: `invalid type: string "s3cr3t", expected u16`,
/// `invalid value: integer `1234`, expected u16`, `unknown variant `x`, expected ...`. Any
/// of them can be a secret (or a PIN) that was sent in the wrong place, and these messages
/// go to logs, the dead-letter file and HTTP answers. What a user needs is kept: the kind of
/// value met and what was expected (`invalid type: string, expected u16`); the field path is
/// the caller's. The position suffix (`at line 1 column 9`) goes too, [`ParseError::Json`]
/// keeps the column. A message of another shape (a custom one) keeps its words but loses
/// whatever it quotes in double quotes.
pub fn serde_message(msg: &str) -> String {
    let msg = strip_position(msg);
    let out = if let Some((head, rest)) = ["invalid type: ", "invalid value: "]
        .into_iter()
        .find_map(|p| Some((p, msg.strip_prefix(p)?)))
    {
        match unexpected(rest) {
            Some((kind, after)) => format!("{head}{kind}{}", mask_quoted(after)),
            None => format!("{head}{}", mask_quoted(rest)),
        }
    } else if let Some(rest) = msg.strip_prefix("unknown variant `") {
        // The variant is the input's, written raw: what follows it is serde's (the last
        // occurrence, in case the value itself holds the same words).
        match ["`, expected ", "`, there are no variants"]
            .into_iter()
            .filter_map(|end| rest.rfind(end))
            .max()
        {
            Some(i) => format!("unknown variant{}", &rest[i + 1..]),
            None => "unknown variant".to_string(),
        }
    } else {
        mask_quoted(msg)
    };
    bound(out, MAX_MESSAGE)
}

/// Drop serde_json's ` at line N column M`.
fn strip_position(msg: &str) -> &str {
    if let Some(i) = msg.rfind(" at line ") {
        let tail = &msg[i + " at line ".len()..];
        let well_formed = tail.split_once(" column ").is_some_and(|(l, c)| {
            [l, c]
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if well_formed {
            return &msg[..i];
        }
    }
    msg
}

/// The kind of an "unexpected" value serde describes (`string "..."`, `integer `5``, `map`)
/// without the value, and the rest of the message.
fn unexpected(rest: &str) -> Option<(&str, &str)> {
    if let Some(s) = rest.strip_prefix("string \"") {
        // Written with `{:?}`: escaped, so the first unescaped quote ends it.
        let end = quoted_end(s)?;
        return Some(("string", &s[end..]));
    }
    if let Some(s) = rest.strip_prefix("character `") {
        let c = s.chars().next()?;
        let after = s[c.len_utf8()..].strip_prefix('`')?;
        return Some(("character", after));
    }
    for kind in ["integer", "floating point", "boolean"] {
        if let Some(s) = rest.strip_prefix(kind).and_then(|s| s.strip_prefix(" `")) {
            let end = s.find('`')?;
            return Some((kind, &s[end + 1..]));
        }
    }
    // Kinds without a value (`map`, `sequence`, `null`, `unit value`...) stay as they are,
    // and so do the bare kinds of our own visitors (`Unexpected::Other("string")`).
    const KINDS: &[&str] = &[
        "string",
        "integer",
        "floating point",
        "boolean",
        "character",
        "null",
        "unit value",
        "Option value",
        "newtype struct",
        "sequence",
        "map",
        "enum",
        "unit variant",
        "newtype variant",
        "tuple variant",
        "struct variant",
        "byte array",
        "number",
    ];
    let i = rest.find(", expected ")?;
    let kind = &rest[..i];
    Some((if KINDS.contains(&kind) { kind } else { VALUE }, &rest[i..]))
}

/// The byte offset just past the closing quote of an escaped string whose opening quote
/// was just before `s`.
fn quoted_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Every double-quoted literal replaced by [`VALUE`] (to the end when one is not closed).
fn mask_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find('"') {
        out.push_str(&rest[..i]);
        out.push_str(VALUE);
        let s = &rest[i + 1..];
        match quoted_end(s) {
            Some(end) => rest = &s[end..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

fn bound(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

/// Errors of reading inputs.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write dead-letter file {path}: {source}")]
    DeadLetter {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message serde_json gives for `text` read as `T`.
    fn message_of<T: serde::de::DeserializeOwned>(text: &str) -> String {
        serde_json::from_str::<T>(text).err().unwrap().to_string()
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    enum Kind {
        Request,
        Response,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rec {
        code: Option<u16>,
        name: Option<String>,
        kind: Option<Kind>,
        letter: Option<char>,
        list: Option<Vec<u8>>,
    }

    #[test]
    fn values_go_kinds_and_expectations_stay() {
        for (text, want) in [
            (
                r#"{"code":"s3cr3t-canary"}"#,
                "invalid type: string, expected u16",
            ),
            (r#"{"code":123456}"#, "invalid value: integer, expected u16"),
            (r#"{"code":-4321}"#, "invalid value: integer, expected u16"),
            (
                r#"{"code":12.75}"#,
                "invalid type: floating point, expected u16",
            ),
            (r#"{"code":true}"#, "invalid type: boolean, expected u16"),
            (
                r#"{"code":{"pw":"s3cr3t"}}"#,
                "invalid type: map, expected u16",
            ),
            (
                r#"{"code":["s3cr3t"]}"#,
                "invalid type: sequence, expected u16",
            ),
            (
                r#"{"name":4321}"#,
                "invalid type: integer, expected a string",
            ),
            (
                r#"{"letter":"s3cr3t"}"#,
                "invalid value: string, expected a character",
            ),
            (
                r#"{"kind":"s3cr3t-canary"}"#,
                "unknown variant, expected `Request` or `Response`",
            ),
            (
                r#"{"list":[1,2,300]}"#,
                "invalid value: integer, expected u8",
            ),
            // Keys are structure, like the field path: they stay.
            (
                r#"{"other":"s3cr3t"}"#,
                "unknown field `other`, expected one of `code`, `name`, `kind`, `letter`, `list`",
            ),
            (r#"{"code":1,"code":2}"#, "duplicate field `code`"),
        ] {
            let msg = message_of::<Rec>(text);
            let clean = serde_message(&msg);
            assert_eq!(clean, want, "{text}: {msg}");
            for value in ["s3cr3t", "123456", "4321", "12.75", "300"] {
                assert!(!clean.contains(value), "{value} in {clean}");
            }
        }
    }

    #[test]
    fn quoted_values_with_quotes_escapes_and_serde_words_inside() {
        for value in [
            r#"a \"quoted\" s3cr3t, expected u16"#,
            r#"s3cr3t` , expected u16 \\"#,
            "s3cr3t at line 1 column 2",
            "sécret-s3cr3t-ünïcode",
        ] {
            let text = format!(r#"{{"code":"{value}"}}"#);
            let clean = serde_message(&message_of::<Rec>(&text));
            assert_eq!(clean, "invalid type: string, expected u16", "{text}");
            let text = format!(r#"{{"kind":"{value}"}}"#);
            let clean = serde_message(&message_of::<Rec>(&text));
            assert_eq!(
                clean, "unknown variant, expected `Request` or `Response`",
                "{text}"
            );
        }
        // A character that is a backtick.
        let msg = "invalid value: character `a`, expected a digit";
        assert_eq!(
            serde_message(msg),
            "invalid value: character, expected a digit"
        );
        let msg = "invalid value: character ```, expected a digit";
        assert_eq!(
            serde_message(msg),
            "invalid value: character, expected a digit"
        );
    }

    #[test]
    fn syntax_errors_keep_their_words_lose_the_position() {
        let msg = message_of::<serde_json::Value>(r#"{"pw": "s3cr3t"#);
        assert_eq!(serde_message(&msg), "EOF while parsing a string");
        let msg = message_of::<serde_json::Value>(r#"{"pw": s3cr3t}"#);
        assert_eq!(serde_message(&msg), "expected value");
        let msg = message_of::<serde_json::Value>(r#"{"a":1} s3cr3t"#);
        assert_eq!(serde_message(&msg), "trailing characters");
    }

    #[test]
    fn custom_messages_lose_what_they_quote() {
        assert_eq!(
            serde_message(r#"bad token "s3cr3t" in "x\"y" at line 1 column 30"#),
            "bad token [value] in [value]"
        );
        assert_eq!(serde_message(r#"cut "s3cr3t"#), "cut [value]");
        assert_eq!(
            serde_message("invalid type: gadget `s3cr3t`, expected u16"),
            "invalid type: [value], expected u16"
        );
        // Only a real position is cut.
        assert_eq!(
            serde_message("missing field `at line 2`"),
            "missing field `at line 2`"
        );
        let long = format!("invalid length 3, expected {}", "x".repeat(2000));
        assert!(serde_message(&long).len() <= MAX_MESSAGE + 3);
    }

    #[test]
    fn json_errors_carry_the_column() {
        let err = serde_json::from_str::<serde_json::Value>(r#"{"pw": "s3cr3t"#)
            .err()
            .unwrap();
        let e = ParseError::json(&err);
        assert_eq!(
            e,
            ParseError::Json {
                column: 14,
                message: "EOF while parsing a string".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "invalid JSON at column 14: EOF while parsing a string"
        );
    }
}
