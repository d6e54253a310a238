//! The files that hold a mailbox's secrets (`refresh_token_file`, `client_secret_file`):
//! read at each run (so a renewed file is picked up), trimmed, straight into a [`Secret`];
//! refused when not protected; rotated refresh tokens written back atomically, protected.
//!
//! Unix: the secret is one line of text, and a file whose mode lets the group or others read
//! it (`mode & 0o077 != 0`) is refused with the fix (`chmod 600 FILE`, which
//! `eceprobe-agent secret protect FILE` also does).
//!
//! Windows: the file holds one line, `eceprobe-dpapi:v1:` and the base64 of the secret
//! encrypted with the data-protection API for this machine ([`crate::dpapi`]); a plain-text
//! file is refused with the fix (`eceprobe-agent secret protect FILE` encrypts it in place).
//! The folder's ACL (SYSTEM and Administrators, see deploy/windows) says who may read it.
//! On Unix a protected file is refused: only the Windows machine that wrote it can read it.
//!
//! Rotated tokens are written to a temporary file in the same directory (mode 0600 on Unix,
//! encrypted on Windows), fsynced, then renamed over the old one.
//!
//! Nothing here logs, and no error quotes a file's content.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use eceprobe_checks::Secret;

/// What starts a DPAPI-protected secret file; the base64 of the blob follows.
pub const PROTECTED_PREFIX: &str = "eceprobe-dpapi:v1:";

/// The largest secret file read: a refresh token is about 2 KB, its DPAPI form about 3 KB;
/// anything far bigger is a wrong path, and is not read into memory each cycle.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// How a readable secret file holds its secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// One line of text, protected by the file's mode (Unix).
    Plain,
    /// Encrypted for this machine with Windows DPAPI.
    Dpapi,
}

/// Why a secret file cannot be used. Every message names the file and the fix; none quotes
/// its content.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{} can be read by other users (mode {mode:03o}): the agent refuses to use it; run `chmod 600 {}` (owned by the account the agent runs as)",
        path.display(),
        path.display()
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("cannot write {}: {error}", path.display())]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is not a regular file: point the [[mailbox]] at the file that holds the secret", path.display())]
    NotAFile { path: PathBuf },
    #[error("{} is {len} bytes, more than a secret file holds ({MAX_FILE_BYTES} at most): check the path", path.display())]
    TooLarge { path: PathBuf, len: u64 },
    #[error("{} is empty: put the secret in it (one line)", path.display())]
    Empty { path: PathBuf },
    #[error(
        "{} is UTF-16 text (what PowerShell 5's `>` and Out-File write): save it as UTF-8 or ASCII, e.g. with `Set-Content -Encoding ascii`",
        path.display()
    )]
    Utf16 { path: PathBuf },
    #[error(
        "{} holds more than the secret (spaces or several lines): put only the secret in it, on one line",
        path.display()
    )]
    NotOneLine { path: PathBuf },
    #[error("{} is not UTF-8 text: put the secret in it as one line of text", path.display())]
    NotText { path: PathBuf },
    #[error(
        "{} holds its secret in plain text: on Windows the agent reads only secret files protected with DPAPI; run `eceprobe-agent secret protect {}`",
        path.display(),
        path.display()
    )]
    Unprotected { path: PathBuf },
    #[error(
        "{} is protected with Windows DPAPI, which only the Windows machine that protected it can read",
        path.display()
    )]
    ProtectedElsewhere { path: PathBuf },
    #[error(
        "{} cannot be decrypted here ({error}): it was protected on another machine, or it is damaged",
        path.display()
    )]
    Undecryptable {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl SecretFileError {
    /// What to do, for the report's hint.
    pub fn hint(&self) -> String {
        match self {
            SecretFileError::Read { path, .. } => format!(
                "Make {} readable by the account the agent runs as (and by no one else), or fix the path in agent.toml's [[mailbox]].",
                path.display()
            ),
            SecretFileError::TooOpen { path, .. } => format!(
                "Run `chmod 600 {}` (or `eceprobe-agent secret protect {}`).",
                path.display(),
                path.display()
            ),
            SecretFileError::Write { path, .. } => format!(
                "Make the folder of {} writable by the account running this command.",
                path.display()
            ),
            SecretFileError::NotAFile { path } | SecretFileError::TooLarge { path, .. } => format!(
                "Check the path {} in agent.toml's [[mailbox]]: it must be the small file holding the secret.",
                path.display()
            ),
            SecretFileError::Empty { path }
            | SecretFileError::NotText { path }
            | SecretFileError::Utf16 { path }
            | SecretFileError::NotOneLine { path } => format!(
                "Write the secret into {} as one line of text, then run `eceprobe-agent secret protect {}`.",
                path.display(),
                path.display()
            ),
            SecretFileError::Unprotected { path } => format!(
                "Run `eceprobe-agent secret protect {}` on this server: it encrypts the file for this machine (DPAPI) in place.",
                path.display()
            ),
            SecretFileError::ProtectedElsewhere { path }
            | SecretFileError::Undecryptable { path, .. } => format!(
                "Write the secret into {} again as one line of text on the server that runs the agent, then run `eceprobe-agent secret protect {}` there (`eceprobe-agent token` writes a refresh token protected already).",
                path.display(),
                path.display()
            ),
        }
    }
}

/// Refuses a file other users may read (Unix); Windows relies on DPAPI and the folder's ACL.
#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), SecretFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), SecretFileError> {
    Ok(())
}

/// Reads a secret file: checked for privacy first, then read, decrypted where protected,
/// trimmed, and every intermediate buffer overwritten.
pub fn read(path: &Path) -> Result<Secret, SecretFileError> {
    inspect(path).map(|(secret, _)| secret)
}

/// [`read`], also saying how the file holds the secret (for `eceprobe-agent secret check`).
pub fn inspect(path: &Path) -> Result<(Secret, Form), SecretFileError> {
    let io = |error| SecretFileError::Read {
        path: path.to_path_buf(),
        error,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    check_regular(path, &meta)?;
    check_private(path, &meta)?;
    let mut raw = read_bounded(path)?;
    let result = parse(path, &raw);
    wipe(&mut raw);
    result
}

/// A regular file's bytes, at most [`MAX_FILE_BYTES`] (a FIFO or a mistyped path to a log
/// is refused, not read).
fn read_bounded(path: &Path) -> Result<Vec<u8>, SecretFileError> {
    use std::io::Read;
    let io = |error| SecretFileError::Read {
        path: path.to_path_buf(),
        error,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    check_regular(path, &meta)?;
    let file = std::fs::File::open(path).map_err(io)?;
    let mut raw = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    let read = file.take(MAX_FILE_BYTES + 1).read_to_end(&mut raw);
    if let Err(error) = read {
        wipe(&mut raw);
        return Err(io(error));
    }
    if raw.len() as u64 > MAX_FILE_BYTES {
        let len = raw.len() as u64;
        wipe(&mut raw);
        return Err(SecretFileError::TooLarge {
            path: path.to_path_buf(),
            len,
        });
    }
    Ok(raw)
}

/// A regular file of at most [`MAX_FILE_BYTES`].
fn check_regular(path: &Path, meta: &std::fs::Metadata) -> Result<(), SecretFileError> {
    if !meta.is_file() {
        return Err(SecretFileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(SecretFileError::TooLarge {
            path: path.to_path_buf(),
            len: meta.len(),
        });
    }
    Ok(())
}

/// The one line of a secret file's bytes: UTF-8 (leading byte-order marks, which Notepad
/// and PowerShell 5 write, dropped), trimmed, non-empty, with no space, line break or
/// byte-order mark inside (no token or client secret has one).
fn secret_line<'a>(path: &Path, raw: &'a [u8]) -> Result<&'a str, SecretFileError> {
    let path = || path.to_path_buf();
    if raw.starts_with(&[0xff, 0xfe]) || raw.starts_with(&[0xfe, 0xff]) {
        return Err(SecretFileError::Utf16 { path: path() });
    }
    let text = std::str::from_utf8(raw).map_err(|_| SecretFileError::NotText { path: path() })?;
    // Every leading mark: a file saved again by such an editor may carry two. A mark left
    // inside is no part of any token or secret (it would not survive being written back:
    // `agent_secret_file` found a secret "\u{feff}1" read back as "1").
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(SecretFileError::Empty { path: path() });
    }
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\u{feff}')
    {
        return Err(SecretFileError::NotOneLine { path: path() });
    }
    Ok(text)
}

/// The secret in a file's bytes, by its form.
fn parse(path: &Path, raw: &[u8]) -> Result<(Secret, Form), SecretFileError> {
    let text = secret_line(path, raw)?;
    match text.strip_prefix(PROTECTED_PREFIX) {
        Some(encoded) => {
            let blob = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| SecretFileError::Undecryptable {
                    path: path.to_path_buf(),
                    error: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })?;
            let mut plain = unprotect(path, &blob)?;
            let secret = secret_line(path, &plain).map(|t| (Secret::new(t), Form::Dpapi));
            wipe(&mut plain);
            secret
        }
        None if cfg!(windows) => Err(SecretFileError::Unprotected {
            path: path.to_path_buf(),
        }),
        None => Ok((Secret::new(text), Form::Plain)),
    }
}

#[cfg(windows)]
fn unprotect(path: &Path, blob: &[u8]) -> Result<Vec<u8>, SecretFileError> {
    crate::dpapi::unprotect(blob).map_err(|error| SecretFileError::Undecryptable {
        path: path.to_path_buf(),
        error,
    })
}

#[cfg(not(windows))]
fn unprotect(path: &Path, _blob: &[u8]) -> Result<Vec<u8>, SecretFileError> {
    Err(SecretFileError::ProtectedElsewhere {
        path: path.to_path_buf(),
    })
}

fn wipe(buf: &mut [u8]) {
    buf.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&buf);
}

/// What `eceprobe-agent secret protect` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protected {
    /// Encrypted for this machine (Windows) or made owner-only (Unix) just now.
    Now(Form),
    /// It was protected already; nothing changed.
    Already(Form),
}

/// Makes a secret file one the agent accepts: on Windows encrypts it for this machine in
/// place; on Unix sets its mode to 0600. The secret is checked readable first.
pub fn protect(path: &Path) -> Result<Protected, SecretFileError> {
    let mut raw = read_bounded(path)?;
    // What the file holds now: the protected form, or a plain secret (checked as the agent
    // would read it, so a file with two lines is not encrypted as one secret).
    let plain = secret_line(path, &raw).map(|t| match t.starts_with(PROTECTED_PREFIX) {
        true => None,
        false => Some(Secret::new(t)),
    });
    wipe(&mut raw);
    let Some(secret) = plain? else {
        // Proves it decrypts here before calling it protected.
        let (_, form) = inspect(path)?;
        return Ok(Protected::Already(form));
    };
    make_private(path, &secret)
}

/// Unix: the mode says who may read the secret.
#[cfg(unix)]
fn make_private(path: &Path, _secret: &Secret) -> Result<Protected, SecretFileError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |error| SecretFileError::Write {
        path: path.to_path_buf(),
        error,
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    let now = mode & 0o077 != 0;
    if now {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    let (_, form) = inspect(path)?;
    Ok(match now {
        true => Protected::Now(form),
        false => Protected::Already(form),
    })
}

/// Windows: the secret is encrypted for this machine, in place.
#[cfg(not(unix))]
fn make_private(path: &Path, secret: &Secret) -> Result<Protected, SecretFileError> {
    write_atomic(path, secret).map_err(|error| SecretFileError::Write {
        path: path.to_path_buf(),
        error,
    })?;
    let (_, form) = inspect(path)?;
    Ok(Protected::Now(form))
}

/// Replaces `path` with `secret` (one line; encrypted for this machine on Windows)
/// atomically: a temporary file in the same directory (mode 0600 on Unix), fsynced, renamed
/// over `path`, and the directory fsynced. On an error the temporary file is removed and
/// `path` is untouched. Errors carry no secret.
pub fn write_atomic(path: &Path, secret: &Secret) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secret".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut line = file_line(secret)?;
    let result = write_new(&tmp, &line).and_then(|()| std::fs::rename(&tmp, path));
    wipe(&mut line);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    sync_dir(&dir);
    Ok(())
}

/// The file's content for `secret`: the line itself (Unix) or its DPAPI form (Windows).
#[cfg(not(windows))]
fn file_line(secret: &Secret) -> std::io::Result<Vec<u8>> {
    let mut line = secret.expose().as_bytes().to_vec();
    line.push(b'\n');
    Ok(line)
}

#[cfg(windows)]
fn file_line(secret: &Secret) -> std::io::Result<Vec<u8>> {
    let blob = crate::dpapi::protect_machine(secret.expose().as_bytes())?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(blob);
    Ok(format!("{PROTECTED_PREFIX}{encoded}\r\n").into_bytes())
}

fn write_new(tmp: &Path, content: &[u8]) -> std::io::Result<()> {
    // A leftover from a crash would make create_new fail: it is ours, remove it.
    let _ = std::fs::remove_file(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(tmp)?;
    file.write_all(content)?;
    file.sync_all()
}

/// Best effort: makes the rename durable (Unix; Windows has no directory handles for this).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
#[path = "secret_file_tests.rs"]
mod tests;
