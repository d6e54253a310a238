//! After a join from a token in agent.toml (`join = "..."`, as the MSI writes it), the
//! token has done its work but would stay in the agent's files: a secret left on disk. The
//! one line holding it is rewritten as a comment that says what happened; every other byte
//! of the file stays as it was (comments, order, line endings). If the file cannot be
//! written, a warning says to remove the line by hand. A line left by a join that stopped
//! short (a crash after agent.pem was written) is rewritten at the next start.

use std::io::Write;
use std::path::{Path, PathBuf};

/// What was done with the token's line.
#[derive(Debug, PartialEq, Eq)]
pub enum Forgotten {
    /// The line is a comment now.
    Rewritten,
    /// No line `join = ...` holding this token (a multi-line value, edited meanwhile).
    NotFound,
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {error}; remove the line `join = ...` from it by hand (the token was used; keeping it there leaves a secret on this server)", path.display())]
pub struct ForgetError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// Whether `line` sets the key `join` and holds `secret` (case-insensitive hex).
fn is_token_line(line: &str, secret: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix("join") else {
        return false;
    };
    rest.trim_start().starts_with('=')
        && line
            .to_ascii_lowercase()
            .contains(&secret.to_ascii_lowercase())
}

/// `text` with the line setting `join` to the token of `secret` replaced by `comment`;
/// None when no such line is found. Line endings (`\n`, `\r\n`) are kept as they were.
pub fn rewrite(text: &str, secret: &str, comment: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut found = false;
    for piece in text.split_inclusive('\n') {
        let body = piece.trim_end_matches('\n').trim_end_matches('\r');
        if !found && is_token_line(body, secret) {
            found = true;
            out.push_str(comment);
            out.push_str(&piece[body.len()..]);
        } else {
            out.push_str(piece);
        }
    }
    found.then_some(out)
}

/// The comment that takes the token's place.
pub fn comment(token_id: &str, tls_dir: &Path, unix_s: i64) -> String {
    format!(
        "# join: used on {} (token id {token_id}); the agent's certificate is in {}",
        eceprobe_checks::words::utc_date(unix_s),
        tls_dir.display()
    )
}

/// Rewrites the token's line of `config` as [`comment`]: written aside, then renamed over
/// the file (with its permissions), so a crash leaves the old file or the new one whole.
pub fn forget(
    config: &Path,
    secret: &str,
    token_id: &str,
    tls_dir: &Path,
) -> Result<Forgotten, ForgetError> {
    let fail = |error| ForgetError {
        path: config.to_path_buf(),
        error,
    };
    let text = std::fs::read_to_string(config).map_err(fail)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    let Some(new) = rewrite(&text, secret, &comment(token_id, tls_dir, now)) else {
        return Ok(Forgotten::NotFound);
    };
    let permissions = std::fs::metadata(config).map_err(fail)?.permissions();
    let mut aside = config.as_os_str().to_owned();
    aside.push(".joined");
    let aside = PathBuf::from(aside);
    // Written and flushed through one handle opened for writing: Windows refuses to flush
    // a handle opened for reading (FlushFileBuffers: access denied).
    let written = std::fs::File::create(&aside)
        .and_then(|mut file| {
            file.write_all(new.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::set_permissions(&aside, permissions))
        .and_then(|()| std::fs::rename(&aside, config));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&aside);
        return Err(fail(error));
    }
    Ok(Forgotten::Rewritten)
}

/// [`forget`], said in the log: done, or a warning in words.
pub fn forget_and_say(config: &Path, secret: &str, token_id: &str, tls_dir: &Path) {
    match forget(config, secret, token_id, tls_dir) {
        Ok(Forgotten::Rewritten) => tracing::info!(
            config = %config.display(),
            token = token_id,
            "the join token's line in the configuration is now a comment (the token is not needed any more)"
        ),
        Ok(Forgotten::NotFound) => tracing::warn!(
            config = %config.display(),
            token = token_id,
            "the join token came from this configuration file but no line `join = \"...\"` holding it was found to rewrite: remove the token from the file by hand"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot rewrite the join token's line"),
    }
}

/// [`forget_and_say`] for the token of `plan`, if it came from a configuration file (off
/// the async runtime: it reads and writes a file).
pub async fn forget_plan(plan: &crate::run_config::JoinPlan) {
    if let Some(config) = &plan.written_in {
        let (secret, id, dir) = (&plan.token.secret, &plan.token.id, &plan.dir);
        let (config, secret, id, dir) = (config.clone(), secret.clone(), id.clone(), dir.clone());
        let _ =
            tokio::task::spawn_blocking(move || forget_and_say(&config, &secret, &id, &dir)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tokens_line_changes_and_line_endings_stay() {
        let text = "# agent\r\n[run]\r\ncollector = \"https://c:7443\"\r\n  join = \"ej1.abc.DEADbeef.sha256:00\"  # from the MSI\r\n# join = \"ej1.other\"\r\ndeployment = \"prod\"";
        let out = rewrite(text, "deadBEEF", "# join: used").unwrap();
        assert_eq!(
            out,
            "# agent\r\n[run]\r\ncollector = \"https://c:7443\"\r\n# join: used\r\n# join = \"ej1.other\"\r\ndeployment = \"prod\""
        );
        assert_eq!(rewrite(text, "cafe", "x"), None);
        assert_eq!(rewrite("joiner = \"deadbeef\"\n", "deadbeef", "x"), None);
        assert!(
            comment("abc", Path::new("/t"), 86_400).contains("used on 1970-01-02 (token id abc)")
        );
    }
}
