//! HashiCorp Vault audit device entries (JSON lines, `type` request/response).

mod pair;
mod parser;

pub use pair::VaultPairer;
pub use parser::{parse_entry, EntryType, VaultEntry};
