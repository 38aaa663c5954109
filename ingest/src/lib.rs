//! Ingest: inputs and parsers into the normalized [`AccessEvent`], redacted at ingest.
//!
//! Formats: Kubernetes audit (`Event` lines, `EventList`), Vault audit device JSON.

pub mod deadletter;
pub mod decode;
pub mod error;
pub mod event;
pub mod json;
pub mod k8s;
pub mod kafka;
pub mod options;
pub mod parser;
pub mod reader;
pub mod redact;
pub mod strlist;
pub mod tail;
pub mod time;
pub mod vault;

pub use deadletter::DeadLetter;
pub use decode::{Decoder, IngestStats};
pub use error::{IngestError, ParseError};
pub use event::{
    AccessEvent, Action, Impersonation, Outcome, Principal, PrincipalKind, Redactions,
    SourceSystem, StrList, Target, VaultIdentity,
};
pub use options::{ParseOptions, Stage, StageSet};
pub use parser::{Format, Parsed, RecordParser};
pub use reader::Input;
