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
