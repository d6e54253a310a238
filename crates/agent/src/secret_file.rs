//! The files that hold a mailbox's secrets (`refresh_token_file`, `client_secret_file`):
//! read at each run (so a renewed file is picked up), trimmed, straight into a [`Secret`];
//! refused when other users could read them; rotated refresh tokens written back atomically.
//!
//! Unix: a file whose mode lets the group or others read it (`mode & 0o077 != 0`) is refused
//! with the fix (`chmod 600 FILE`). Rotated tokens are written to a temporary file in the
//! same directory created with mode 0600, fsynced, then renamed over the old one.
//!
//! Windows: the files are read as they are. Protecting them with the data-protection API
//! (DPAPI) needs a foreign call, and the workspace forbids `unsafe`; the only safe wrapper
//! found (`windows-dpapi`) is a young single-maintainer crate on `winapi` 0.3 that cannot be
//! built or tested here, so it is not used yet. Until then the ACL of
//! `C:\ProgramData\eceprobe` (SYSTEM and Administrators only, see deploy/windows) is what
//! protects them. Known gap (issue 7).
//!
//! Nothing here logs, and no error quotes a file's content.

use std::io::Write;
use std::path::{Path, PathBuf};

use eceprobe_checks::Secret;

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
                "Run `chmod 600 {}` (on Windows: `icacls FILE /inheritance:r /grant:r SYSTEM:R Administrators:R`).",
                path.display()
            ),
            SecretFileError::Empty { path } | SecretFileError::NotText { path } => format!(
                "Write the secret into {} as one line of text, readable only by the agent's account.",
                path.display()
            ),
        }
    }
}

/// Refuses a file other users may read (Unix); Windows relies on the directory's ACL.
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

/// Reads a secret file: checked for privacy first, then read, trimmed, and the read buffer
/// overwritten.
pub fn read(path: &Path) -> Result<Secret, SecretFileError> {
    let io = |error| SecretFileError::Read {
        path: path.to_path_buf(),
        error,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    check_private(path, &meta)?;
    let raw = std::fs::read(path).map_err(io)?;
    let secret = match std::str::from_utf8(&raw) {
        Ok(text) => {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                Err(SecretFileError::Empty {
                    path: path.to_path_buf(),
                })
            } else {
                Ok(Secret::new(trimmed))
            }
        }
        Err(_) => Err(SecretFileError::NotText {
            path: path.to_path_buf(),
        }),
    };
    let mut raw = raw;
    raw.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&raw);
    secret
}

/// Replaces `path` with `secret` (one line) atomically: a temporary file in the same
/// directory (mode 0600 on Unix), fsynced, renamed over `path`, and the directory fsynced.
/// On an error the temporary file is removed and `path` is untouched. Errors carry no
/// secret.
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
    let result = write_new(&tmp, secret).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    sync_dir(&dir);
    Ok(())
}

fn write_new(tmp: &Path, secret: &Secret) -> std::io::Result<()> {
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
    file.write_all(secret.expose().as_bytes())?;
    file.write_all(b"\n")?;
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
}
