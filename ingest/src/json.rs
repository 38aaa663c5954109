//! Borrowing JSON helpers shared by the parsers.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::Deserialize;

use crate::error::{serde_message, ParseError};

/// A string that borrows from the input when it has no escapes (also inside `Option` and lists,
/// where serde's own `Cow` would always copy).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'a> Str<'a> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_cow(self) -> Cow<'a, str> {
        self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A status code written as a number or, by some shippers, as a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(pub u16);

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Code;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status code (number 100-599 or a numeric string)")
            }
            // The errors name the kind of value, never the value (see `serde_message`).
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Code, E> {
                u16::try_from(v)
                    .ok()
                    .filter(|c| (100..600).contains(c))
                    .map(Code)
                    .ok_or_else(|| E::invalid_value(Unexpected::Other("integer"), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Code, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(Unexpected::Other("integer"), &self)),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Code, E> {
                match v.trim().parse::<u64>() {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::invalid_value(Unexpected::Other("string"), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Turn a serde_json failure into a [`ParseError`] that names the field, re-parsing the
/// record with path tracking (only on the error path, so the fast path stays fast). The
/// message says what was expected, never the value found ([`serde_message`]).
pub fn describe_error<'de, T: Deserialize<'de>>(
    text: &'de str,
    err: serde_json::Error,
    prefix: &str,
) -> ParseError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => ParseError::json(&err),
        Category::Data => {
            let mut de = serde_json::Deserializer::from_str(text);
            match serde_path_to_error::deserialize::<_, T>(&mut de) {
                Err(e) => {
                    let path = e.path().to_string();
                    let inner = serde_message(&e.into_inner().to_string());
                    let field = missing_field(&inner)
                        .map(|f| {
                            join_path(prefix, &join_path(if path == "." { "" } else { &path }, f))
                        })
                        .unwrap_or_else(|| join_path(prefix, if path == "." { "" } else { &path }));
                    let field = if field.is_empty() {
                        "(record)".to_string()
                    } else {
                        field
                    };
                    ParseError::Field {
                        field,
                        message: inner,
                    }
                }
                Ok(_) => ParseError::Field {
                    field: if prefix.is_empty() {
                        "(record)".into()
                    } else {
                        prefix.into()
                    },
                    message: serde_message(&err.to_string()),
                },
            }
        }
    }
}

fn join_path(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}.{b}"),
    }
}

fn missing_field(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("missing field `")?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T<'a> {
        #[serde(borrow)]
        a: Option<Str<'a>>,
        #[serde(borrow, default)]
        list: Vec<Str<'a>>,
        code: Option<Code>,
    }

    #[test]
    fn borrows_inside_option_and_lists() {
        let text = r#"{"a":"plain","list":["x","y\"z"],"code":"201"}"#;
        let t: T = serde_json::from_str(text).unwrap();
        assert!(matches!(t.a.unwrap().0, Cow::Borrowed("plain")));
        assert!(matches!(t.list[0].0, Cow::Borrowed("x")));
        assert!(matches!(&t.list[1].0, Cow::Owned(s) if s == "y\"z"));
        assert_eq!(t.code, Some(Code(201)));
    }

    #[test]
    fn errors_name_the_field() {
        let text = r#"{"a":{"nested":1}}"#;
        let err = serde_json::from_str::<T>(text).err().unwrap();
        let e = describe_error::<T>(text, err, "");
        assert_eq!(e.field_name(), Some("a"), "{e}");
        let text = r#"{"code":"abc"}"#;
        let err = serde_json::from_str::<T>(text).err().unwrap();
        let e = describe_error::<T>(text, err, "items[2]");
        assert_eq!(e.field_name(), Some("items[2].code"), "{e}");
        assert_eq!(
            e.to_string(),
            "field `items[2].code`: invalid value: string, expected an HTTP status code (number 100-599 or a numeric string)"
        );
    }

    #[test]
    fn errors_never_quote_the_value() {
        for (text, field, message) in [
            (
                r#"{"code":"s3cr3t-canary"}"#,
                "code",
                "invalid value: string, expected an HTTP status code",
            ),
            (
                r#"{"code":90417263518}"#,
                "code",
                "invalid value: integer, expected an HTTP status code",
            ),
            (
                r#"{"code":-90417263518}"#,
                "code",
                "invalid value: integer, expected an HTTP status code",
            ),
            (
                r#"{"a":"ok","list":["x",90417263518]}"#,
                "list[1]",
                "invalid type: integer, expected a string",
            ),
            (
                r#"{"a":"ok","list":"s3cr3t-canary"}"#,
                "list",
                "invalid type: string, expected a sequence",
            ),
        ] {
            let err = serde_json::from_str::<T>(text).err().unwrap();
            let e = describe_error::<T>(text, err, "");
            let shown = e.to_string();
            assert_eq!(e.field_name(), Some(field), "{shown}");
            assert!(shown.contains(message), "{shown}");
            assert!(
                !shown.contains("s3cr3t") && !shown.contains("90417263518"),
                "{shown}"
            );
        }
        // Broken JSON: the column, no text of the input.
        let text = r#"{"a":"s3cr3t-canary"#;
        let err = serde_json::from_str::<T>(text).err().unwrap();
        let e = describe_error::<T>(text, err, "");
        assert_eq!(
            e.to_string(),
            "invalid JSON at column 19: EOF while parsing a string"
        );
    }
}
