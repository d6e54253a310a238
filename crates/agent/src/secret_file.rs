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
    #[error("{} is empty: put the secret in it (one line)", path.display())]
    Empty { path: PathBuf },
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
            SecretFileError::Empty { path } | SecretFileError::NotText { path } => format!(
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
    check_private(path, &meta)?;
    let mut raw = std::fs::read(path).map_err(io)?;
    let result = parse(path, &raw);
    wipe(&mut raw);
    result
}

/// The secret in a file's bytes, by its form.
fn parse(path: &Path, raw: &[u8]) -> Result<(Secret, Form), SecretFileError> {
    let not_text = || SecretFileError::NotText {
        path: path.to_path_buf(),
    };
    let text = std::str::from_utf8(raw).map_err(|_| not_text())?.trim();
    if text.is_empty() {
        return Err(SecretFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    match text.strip_prefix(PROTECTED_PREFIX) {
        Some(encoded) => {
            let blob = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| SecretFileError::Undecryptable {
                    path: path.to_path_buf(),
                    error: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })?;
            let mut plain = unprotect(path, &blob)?;
            let secret = match std::str::from_utf8(&plain) {
                Ok(t) if !t.trim().is_empty() => Ok((Secret::new(t.trim()), Form::Dpapi)),
                Ok(_) => Err(SecretFileError::Empty {
                    path: path.to_path_buf(),
                }),
                Err(_) => Err(not_text()),
            };
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
    let io = |error| SecretFileError::Read {
        path: path.to_path_buf(),
        error,
    };
    let mut raw = std::fs::read(path).map_err(io)?;
    let text = std::str::from_utf8(&raw).map(|t| t.trim().starts_with(PROTECTED_PREFIX));
    wipe(&mut raw);
    if let Ok(true) = text {
        // Proves it decrypts here before calling it protected.
        let (_, form) = inspect(path)?;
        return Ok(Protected::Already(form));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            let (_, form) = inspect(path)?;
            return Ok(Protected::Already(form));
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        let (_, form) = inspect(path)?;
        Ok(Protected::Now(form))
    }
    #[cfg(not(unix))]
    {
        let secret = plain_text(path)?;
        write_atomic(path, &secret).map_err(io)?;
        let (_, form) = inspect(path)?;
        Ok(Protected::Now(form))
    }
}

/// A plain-text secret file's secret (Windows `protect`: what is about to be encrypted).
#[cfg(not(unix))]
fn plain_text(path: &Path) -> Result<Secret, SecretFileError> {
    let mut raw = std::fs::read(path).map_err(|error| SecretFileError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let secret = match std::str::from_utf8(&raw).map(str::trim) {
        Ok("") => Err(SecretFileError::Empty {
            path: path.to_path_buf(),
        }),
        Ok(t) => Ok(Secret::new(t)),
        Err(_) => Err(SecretFileError::NotText {
            path: path.to_path_buf(),
        }),
    };
    wipe(&mut raw);
    secret
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
mod tests {
    use super::*;

    #[cfg(unix)]
    fn chmod(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_file_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rt.txt");
        std::fs::write(&path, "  0.AX-secret-value \n").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            chmod(&path, mode);
            let err = read(&path).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, SecretFileError::TooOpen { .. }), "{text}");
            assert!(
                text.contains(&format!("chmod 600 {}", path.display())),
                "{text}"
            );
            assert!(!text.contains("0.AX-secret-value"), "{text}");
            assert!(err.hint().contains("chmod 600"));
        }
        chmod(&path, 0o600);
        assert_eq!(read(&path).unwrap().expose(), "0.AX-secret-value");
        chmod(&path, 0o400);
        assert_eq!(read(&path).unwrap().expose(), "0.AX-secret-value");
    }

    #[test]
    fn missing_empty_and_binary_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none");
        assert!(read(&missing)
            .unwrap_err()
            .to_string()
            .starts_with(&format!("cannot read {}", missing.display())));
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        #[cfg(unix)]
        chmod(&empty, 0o600);
        assert!(matches!(read(&empty), Err(SecretFileError::Empty { .. })));
        let binary = dir.path().join("bin");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        #[cfg(unix)]
        chmod(&binary, 0o600);
        assert!(matches!(
            read(&binary),
            Err(SecretFileError::NotText { .. })
        ));
    }

    #[test]
    fn write_atomic_replaces_the_file_privately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rt.txt");
        std::fs::write(&path, "old").unwrap();
        write_atomic(&path, &Secret::new("new-token")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new-token\n");
        assert_eq!(read(&path).unwrap().expose(), "new-token");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
        let err = write_atomic(&dir.path().join("no/such/dir/rt"), &Secret::new("x"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("x\n"));
    }

    #[cfg(unix)]
    #[test]
    fn protect_makes_a_readable_file_owner_only_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cs.txt");
        std::fs::write(&path, "Cs8Q~secret\n").unwrap();
        chmod(&path, 0o644);
        assert!(matches!(read(&path), Err(SecretFileError::TooOpen { .. })));
        assert_eq!(protect(&path).unwrap(), Protected::Now(Form::Plain));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(protect(&path).unwrap(), Protected::Already(Form::Plain));
        assert_eq!(inspect(&path).unwrap().0.expose(), "Cs8Q~secret");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "Cs8Q~secret\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_windows_protected_file_is_refused_here_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rt.txt");
        std::fs::write(
            &path,
            format!("{PROTECTED_PREFIX}AQAAANCMnd8BFdERjHoAwE/Cl+s=\r\n"),
        )
        .unwrap();
        chmod(&path, 0o600);
        let err = read(&path).unwrap_err();
        assert!(
            matches!(err, SecretFileError::ProtectedElsewhere { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("Windows DPAPI"), "{err}");
        assert!(err.hint().contains("secret protect"), "{}", err.hint());
        // protect() does not pretend it can use it either.
        assert!(protect(&path).is_err());
        std::fs::write(&path, format!("{PROTECTED_PREFIX}not base64 at all!\n")).unwrap();
        let err = read(&path).unwrap_err();
        assert!(
            matches!(err, SecretFileError::Undecryptable { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
