//! Errors of the dataset generator.

use std::path::PathBuf;

/// Everything that can go wrong while generating a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Creating the output directory or writing one of the files failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An option is out of range.
    #[error("invalid option `{option}`: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.into(),
            source,
        }
    }
}
