//! A mailbox's secret file (agent/src/secret_file.rs): `read` (privacy, size, UTF-16, BOM,
//! one line, the DPAPI form, which Unix refuses), `protect` (`eceprobe-agent secret
//! protect`), and `write_atomic` (a rotated refresh token) read back. The input is a flags
//! byte, then the file's bytes; each 0x01 byte becomes a refresh-token-like canary. Read as
//! the trimmed line exactly, or refused with a message and a fix naming the file, never
//! quoting what it holds.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use eceprobe_agent::secret_file::{self, Form, Protected, SecretFileError, MAX_FILE_BYTES};
use libfuzzer_sys::fuzz_target;

const CANARY: &str = "0.AWcanaryR3fr3shT0kenZ9";

/// The file's modes the flags pick from: private ones read, the others refused.
const MODES: [u32; 8] = [0o600, 0o400, 0o640, 0o644, 0o604, 0o660, 0o000, 0o700];

fn home() -> &'static PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        base.join(format!("eceprobe-fuzz-agent-secret-{}", std::process::id()))
    })
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map_or(0, |m| m.permissions().mode() & 0o777)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .expect("chmod in the target's own folder");
}

/// A refusal names the file in its message and its fix, and shows none of its content.
fn check_error(e: &SecretFileError, path: &Path) {
    let shown = path.display().to_string();
    let (text, hint) = (e.to_string(), e.hint());
    assert!(text.contains(&shown), "{text}");
    assert!(hint.contains(&shown), "{hint}");
    assert!(text.len() < 1024 && hint.len() < 1024, "{text} / {hint}");
    assert!(
        !text.contains(CANARY) && !hint.contains(CANARY),
        "{text} / {hint}"
    );
}

/// What the agent must read from `bytes`, when anything: the one line, trimmed, without a
/// UTF-8 byte-order mark (each leading one), none left inside.
fn expected(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.trim_start_matches('\u{feff}').trim();
    let one_line = !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\u{feff}');
    (one_line && !text.starts_with(secret_file::PROTECTED_PREFIX)).then_some(text)
}

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else { return };
    let mut bytes = Vec::with_capacity(rest.len());
    for &b in rest {
        match b {
            1 => bytes.extend_from_slice(CANARY.as_bytes()),
            b => bytes.push(b),
        }
    }
    // Bit 3: padded past the bound (a log file named by mistake).
    if flags & 8 != 0 {
        bytes.resize(
            usize::try_from(MAX_FILE_BYTES).unwrap_or(usize::MAX) + 1,
            b'A',
        );
    }
    let home = home();
    let _ = std::fs::remove_dir_all(home);
    std::fs::create_dir_all(home).expect("the fuzz target's own folder");
    let path = home.join("support.refresh");
    // Bit 5: a folder where the file should be.
    if flags & 32 != 0 {
        std::fs::create_dir_all(&path).expect("a folder in the target's own");
    } else {
        std::fs::write(&path, &bytes).expect("the target's own folder");
    }
    let mode = MODES[usize::from(flags & 7)];
    #[cfg(unix)]
    set_mode(&path, mode);

    // Private: only its owner may read it (0o000 is unreadable but for root).
    let mut private = mode & 0o077 == 0 && mode & 0o400 != 0;
    // Bit 4: `eceprobe-agent secret protect` first.
    if flags & 16 != 0 {
        match secret_file::protect(&path) {
            Ok(Protected::Now(form) | Protected::Already(form)) => {
                assert_eq!(form, Form::Plain);
                #[cfg(unix)]
                assert_eq!(mode_of(&path) & 0o077, 0, "protected yet open");
                private = true;
            }
            Err(e) => check_error(&e, &path),
        }
    }
    let want = (flags & 40 == 0).then(|| expected(&bytes)).flatten();
    match secret_file::read(&path) {
        Ok(secret) => {
            assert_eq!(
                Some(secret.expose()),
                want,
                "read what the file does not say"
            );
            #[cfg(unix)]
            assert_eq!(mode_of(&path) & 0o077, 0, "read from an open file");
            // A rotated token written back reads as itself, privately.
            secret_file::write_atomic(&path, &secret).expect("write in the target's own folder");
            let again = secret_file::read(&path).expect("the file just written");
            assert_eq!(again.expose(), secret.expose());
            #[cfg(unix)]
            assert_eq!(mode_of(&path), 0o600);
        }
        Err(e) => {
            check_error(&e, &path);
            // A private, small, one-line file is read: only what is wrong with it refuses.
            if cfg!(unix) && want.is_some() && private {
                panic!("refused a readable secret: {e}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(home);
});
