//! Credentials of sink configs (HEC tokens, PagerDuty routing keys, webhook signing secrets,
//! SMTP passwords): never printed.
//!
//! In the config a credential is written as one of
//!
//! ```toml
//! token = "literal value"                       # discouraged outside tests
//! token = { env = "SECRETWATCH_SPLUNK_TOKEN" }  # read from the environment
//! token = { file = "/run/secrets/splunk-token" } # read from a file (one trailing newline dropped)
//! ```
//!
//! Parsing the config never reads the environment or a file ([`SecretSource`]); building the
//! sink does ([`SecretSource::load`]), so validation stays pure.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

const REDACTED: &str = "[redacted]";

/// A loaded credential. `Debug` and `Display` print `[redacted]`; there is no `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    /// The value, for the one place that must send it (a header, a body field, an HMAC key).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Where a credential comes from, as written in the config.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Literal(Secret),
    /// Name of an environment variable.
    Env(String),
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Literal(_) => write!(f, "Literal({REDACTED})"),
            SecretSource::Env(var) => f.debug_tuple("Env").field(var).finish(),
            SecretSource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Why a credential could not be loaded. Never carries the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {var} is not set (or not UTF-8)")]
    EnvMissing { var: String },
    #[error("cannot read credential file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("credential from {origin} is empty")]
    Empty { origin: String },
}

impl SecretSource {
    /// Load from the process environment or the file system.
    pub fn load(&self) -> Result<Secret, SecretError> {
        self.load_with(|var| std::env::var(var).ok())
    }

    /// Load with an explicit environment lookup (tests, or an env snapshot taken at start).
    pub fn load_with(&self, env: impl Fn(&str) -> Option<String>) -> Result<Secret, SecretError> {
        let (value, origin) = match self {
            SecretSource::Literal(s) => (s.0.clone(), "a literal".to_string()),
            SecretSource::Env(var) => (
                env(var).ok_or_else(|| SecretError::EnvMissing { var: var.clone() })?,
                format!("environment variable {var}"),
            ),
            SecretSource::File(path) => (read_file(path)?, format!("file {}", path.display())),
        };
        if value.is_empty() {
            return Err(SecretError::Empty { origin });
        }
        Ok(Secret(value))
    }
}

fn read_file(path: &Path) -> Result<String, SecretError> {
    let mut s = std::fs::read_to_string(path).map_err(|source| SecretError::File {
        path: path.to_path_buf(),
        source,
    })?;
    // Mounted Kubernetes Secrets and `echo x > file` end with one newline: not part of the value.
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    Ok(s)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSource {
    Literal(String),
    Table(RawTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    env: Option<String>,
    file: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const SHAPE: &str =
            "a credential is a string, { env = \"VARIABLE\" } or { file = \"PATH\" }";
        let raw = RawSource::deserialize(d).map_err(|_| serde::de::Error::custom(SHAPE))?;
        match raw {
            RawSource::Literal(s) => Ok(SecretSource::Literal(Secret(s))),
            RawSource::Table(RawTable {
                env: Some(var),
                file: None,
            }) if !var.is_empty() => Ok(SecretSource::Env(var)),
            RawSource::Table(RawTable {
                env: None,
                file: Some(path),
            }) => Ok(SecretSource::File(path)),
            RawSource::Table(_) => Err(serde::de::Error::custom(SHAPE)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        token: SecretSource,
    }

    fn parse(json: &str) -> Result<SecretSource, serde_json::Error> {
        serde_json::from_str::<Holder>(json).map(|h| h.token)
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:#?}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2-very-secret");
        let src = SecretSource::Literal(s);
        let shown = format!("{src:?} {:?}", Holder { token: src.clone() });
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn three_sources_parse() {
        assert_eq!(
            parse(r#"{"token":"abc"}"#).unwrap(),
            SecretSource::Literal(Secret::new("abc"))
        );
        assert_eq!(
            parse(r#"{"token":{"env":"HEC_TOKEN"}}"#).unwrap(),
            SecretSource::Env("HEC_TOKEN".into())
        );
        assert_eq!(
            parse(r#"{"token":{"file":"/run/secrets/t"}}"#).unwrap(),
            SecretSource::File("/run/secrets/t".into())
        );
        for bad in [
            r#"{"token":{"env":"A","file":"/b"}}"#,
            r#"{"token":{}}"#,
            r#"{"token":{"vault":"x"}}"#,
            r#"{"token":{"env":""}}"#,
            r#"{"token":42}"#,
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("a credential is a string"), "{bad}: {e}");
        }
    }

    #[test]
    fn loads_from_env_lookup_and_file() {
        let env = |v: &str| (v == "PD_KEY").then(|| "r0ut1ngkey".to_string());
        let s = SecretSource::Env("PD_KEY".into()).load_with(env).unwrap();
        assert_eq!(s.expose(), "r0ut1ngkey");
        let e = SecretSource::Env("NOPE".into()).load_with(env).unwrap_err();
        assert!(matches!(e, SecretError::EnvMissing { ref var } if var == "NOPE"));

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "s3cr3t-from-file\r\n").unwrap();
        let s = SecretSource::File(p.clone()).load_with(env).unwrap();
        assert_eq!(s.expose(), "s3cr3t-from-file");
        std::fs::write(&p, "keep  \n\n").unwrap();
        let s = SecretSource::File(p.clone()).load_with(env).unwrap();
        assert_eq!(
            s.expose(),
            "keep  \n",
            "only one trailing newline is dropped"
        );

        std::fs::write(&p, "\n").unwrap();
        let e = SecretSource::File(p.clone()).load_with(env).unwrap_err();
        assert!(matches!(e, SecretError::Empty { .. }));
        let e = SecretSource::File(dir.path().join("missing"))
            .load_with(env)
            .unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }

    #[test]
    fn errors_do_not_carry_the_value() {
        let e = SecretSource::Literal(Secret::new(""))
            .load_with(|_| None)
            .unwrap_err();
        assert_eq!(e.to_string(), "credential from a literal is empty");
    }
}
