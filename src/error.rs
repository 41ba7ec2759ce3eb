//! The crate's error type. Every user-facing failure names what was wrong and
//! what is allowed; the binaries map any error to exit code 2.

use std::fmt;
use std::path::Path;

/// Why a run or a command could not proceed.
#[derive(Debug)]
pub enum Error {
    /// A config field (dotted path, e.g. `loss.beta`) has a bad value.
    Config { field: String, msg: String },
    /// A file could not be read or written.
    Io { path: String, msg: String },
    /// Command-line misuse.
    Usage(String),
}

/// Shorthand for results carrying [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A bad value in config field `field`.
    pub fn config(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            msg: msg.into(),
        }
    }

    /// A failed file operation on `path`.
    pub fn io(path: impl AsRef<Path>, err: impl fmt::Display) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            msg: err.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config { field, msg } => write!(f, "config error: `{field}` {msg}"),
            Error::Io { path, msg } => write!(f, "file error: {path}: {msg}"),
            Error::Usage(msg) => write!(f, "usage error: {msg}"),
        }
    }
}

impl std::error::Error for Error {}
