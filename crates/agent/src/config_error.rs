//! The error of `agent.toml` and its flags, shared by the configuration's modules (`config`,
//! `mailbox`, `java_config`, `run_config`, `slow_config`, `trace_config`): each says which
//! key is wrong and how to fix it.

use std::path::PathBuf;

/// A configuration error: which key, what is wrong, how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// agent.toml itself cannot be read (missing, too large, not text).
    #[error(transparent)]
    Read(#[from] crate::user_file::UserFileError),
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

/// An `Invalid` error: `key` as written in `agent.toml` (e.g. `mailbox[a@b].client_id`).
pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}
