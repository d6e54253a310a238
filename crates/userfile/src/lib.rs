//! The text files an administrator points eceprobe at, read with a bound: the agent's
//! (`agent.toml`, `[trust]`'s PEM files, the enrollment bundle of `[run] tls_dir`) and the
//! collector's (`collector.toml`, the policy file, the web token file, its PKI directory). A
//! path mistyped to a log, a disk image or `/dev/zero` is refused with the file's name and
//! the limit, not read into memory until the machine runs out. Files with a smaller natural
//! size have their own, smaller bound (the agent's `secret_file::MAX_FILE_BYTES`, the
//! collector's PostgreSQL password file).

use std::io::Read;
use std::path::{Path, PathBuf};

/// The most a configuration, policy, PEM or bundle file may hold: an agent.toml or a
/// collector.toml is a few KiB, a CA bundle with every public root about 220 KiB.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// Why a user's text file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum UserFileError {
    #[error("cannot read {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} holds more than {} KiB, the most eceprobe reads from such a file: check the path", path.display(), max / 1024)]
    TooLarge { path: PathBuf, max: u64 },
    #[error("{} is not UTF-8 text: save it as UTF-8 (or ASCII)", path.display())]
    NotText { path: PathBuf },
}

/// Reads `path` as UTF-8 text of at most [`MAX_BYTES`].
pub fn read_text(path: &Path) -> Result<String, UserFileError> {
    read_text_within(path, MAX_BYTES)
}

/// Reads `path` as UTF-8 text of at most `max` bytes. Reads no more than `max` + 1 bytes,
/// whatever the file is (a pipe or a device has no length to check first).
pub fn read_text_within(path: &Path, max: u64) -> Result<String, UserFileError> {
    let io = |error| UserFileError::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut raw = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(io)?;
    if raw.len() as u64 > max {
        return Err(UserFileError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    String::from_utf8(raw).map_err(|_| UserFileError::NotText {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_bound_is_refused_with_its_name_and_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "role = \"services\"\n").unwrap();
        assert_eq!(read_text(&path).unwrap(), "role = \"services\"\n");

        let at_bound = vec![b'#'; 4096];
        std::fs::write(&path, &at_bound).unwrap();
        assert_eq!(read_text_within(&path, 4096).unwrap().len(), 4096);
        std::fs::write(&path, [at_bound.as_slice(), b"\n"].concat()).unwrap();
        let err = read_text_within(&path, 4096).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("more than 4 KiB"), "{err}");

        // The real bound: 1 MiB and one byte is refused.
        let big = vec![b'#'; usize::try_from(MAX_BYTES).unwrap() + 1];
        std::fs::write(&path, big).unwrap();
        let err = read_text(&path).unwrap_err().to_string();
        assert!(err.contains("more than 1024 KiB"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_is_read_only_to_the_bound() {
        let err = read_text(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(
            err.starts_with("/dev/zero holds more than 1024 KiB"),
            "{err}"
        );
    }

    #[test]
    fn missing_and_binary_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.toml");
        let err = read_text(&missing).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("cannot read {}", missing.display())),
            "{err}"
        );
        let binary = dir.path().join("bin.toml");
        std::fs::write(&binary, [0x80, 0x81]).unwrap();
        let err = read_text(&binary).unwrap_err().to_string();
        assert!(err.contains("not UTF-8"), "{err}");
    }
}
