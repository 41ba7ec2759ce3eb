//! The crate's error type. Every user-facing failure names what was wrong and
//! what is allowed; the binaries map any error to exit code 2. An error that
//! comes from a parser or the file system keeps it as its
//! [`source`](std::error::Error::source); the message quotes it too, so the
//! one line the binaries print says everything.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a run or a command could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config field (dotted path, e.g. `loss.beta`) has a bad value.
    #[error("config error: `{field}` {msg}")]
    Config {
        /// The dotted path of the field, e.g. `loss.beta`.
        field: String,
        /// What is wrong and what is allowed.
        msg: String,
    },
    /// TOML that does not parse as what it should be: `field` names the
    /// document or table (a file's path, `<config>`, `base`, ...), `msg` what
    /// it is not, and `source` is the parser's error (its text follows `msg`).
    #[error("config error: `{field}` {msg}: {}", .source.to_string().trim_end())]
    Toml {
        /// The document or table that failed to parse.
        field: String,
        /// What it should have been.
        msg: String,
        /// The parser's error.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A file could not be read or written; `source` is the system's error
    /// when there is one (its text follows `msg`).
    #[error("file error: {}: {}", .path.display(), Joined(.msg, .source.as_ref()))]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done to it.
        msg: String,
        /// The system's error, if any.
        #[source]
        source: Option<std::io::Error>,
    },
    /// A CSV file that could not be read (or is not the table it should be).
    #[error("file error: {}: {}", .path.display(), Joined(.msg, Some(.source)))]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// What was expected of it.
        msg: String,
        /// The csv reader's error (with its position).
        #[source]
        source: csv::Error,
    },
    /// Command-line misuse.
    #[error("usage error: {0}")]
    Usage(String),
}

/// `msg: source`, or either alone when the other is absent or empty.
struct Joined<'a, E>(&'a str, Option<&'a E>);

impl<E: fmt::Display> fmt::Display for Joined<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (m, Some(e)) if !m.is_empty() => write!(f, "{m}: {e}"),
            (_, Some(e)) => write!(f, "{e}"),
            (m, None) => f.write_str(m),
        }
    }
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

    /// TOML `field` (a document or table) that is not `msg` ("is not a valid
    /// run config"), with the parser's error.
    pub fn toml(field: impl Into<String>, msg: impl Into<String>, source: toml::de::Error) -> Self {
        Error::Toml {
            field: field.into(),
            msg: msg.into(),
            source: Box::new(source),
        }
    }

    /// A failed file operation on `path`, described by `msg` alone.
    pub fn io(path: impl AsRef<Path>, msg: impl fmt::Display) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            msg: msg.to_string(),
            source: None,
        }
    }

    /// A failed file operation on `path`: what was tried (`msg`, e.g.
    /// "cannot read config"; may be empty) and the system's error.
    pub fn file(path: impl AsRef<Path>, msg: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
            source: Some(source),
        }
    }

    /// A CSV file `path` that could not be read as `msg` says (may be empty).
    pub fn csv(path: impl AsRef<Path>, msg: impl Into<String>, source: csv::Error) -> Self {
        Error::Csv {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
            source,
        }
    }

    /// The same error with the config field (or TOML document) it names
    /// replaced by `f(field)`; other errors unchanged.
    pub fn map_field(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            Error::Config { field, msg } => Error::Config {
                field: f(field),
                msg,
            },
            Error::Toml { field, msg, source } => Error::Toml {
                field: f(field),
                msg,
                source,
            },
            other => other,
        }
    }
}
