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

/// The key a TOML parse error's line sets, as agent.toml spells it (`role`,
/// `run.collector`): the line's `key =`, under the last table header above it. None when
/// the line sets no key (a table header, a value's continuation), so the error keeps its
/// line and column alone.
pub(crate) fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().take(line).collect();
    let here = lines.get(line.checked_sub(1)?)?.trim();
    let (key, _) = here.split_once('=')?;
    let key = key.trim();
    // Keys are short words; anything else (a join token pasted before an `=`, whose
    // 40-character secret must never be repeated) is not named.
    let bare = |k: &str| {
        !k.is_empty()
            && k.split('.').all(|part| part.len() <= 32)
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'))
    };
    if !bare(key) {
        return None;
    }
    let table = lines[..lines.len() - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| {
            l.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
        });
    Some(match table {
        Some(table) if bare(table) => format!("{table}.{key}"),
        _ => key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::key_at_line;

    #[test]
    fn a_parse_error_names_the_key_of_its_line() {
        let text = "role = \"no-such-role\"\n\n[run]\n# a comment\ncollector = 7\n\n[[mailbox]]\naddress = 1\n";
        assert_eq!(key_at_line(text, 1).as_deref(), Some("role"));
        assert_eq!(key_at_line(text, 5).as_deref(), Some("run.collector"));
        assert_eq!(key_at_line(text, 8).as_deref(), Some("mailbox.address"));
        assert_eq!(key_at_line(text, 3), None, "a table header sets no key");
        assert_eq!(key_at_line(text, 2), None);
        assert_eq!(key_at_line(text, 99), None);
        assert_eq!(key_at_line(text, 0), None);
        let pasted = "ej1.3f9a2c10b7d4.0123456789abcdef0123456789abcdef01234567 = 1\n";
        assert_eq!(
            key_at_line(pasted, 1),
            None,
            "a secret is never named as a key"
        );
    }
}
