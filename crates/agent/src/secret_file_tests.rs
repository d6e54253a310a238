//! Secret files: what is refused and why, what editors write, atomic protected writes.
#![allow(clippy::unwrap_used)]

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
    std::fs::write(&binary, [0x80, 0x81, 0x00]).unwrap();
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
    std::fs::write(&path, format!("{PROTECTED_PREFIX}not-base64-at-all!\n")).unwrap();
    let err = read(&path).unwrap_err();
    assert!(
        matches!(err, SecretFileError::Undecryptable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("damaged"), "{err}");
}

#[cfg(unix)]
#[test]
fn what_windows_editors_write_is_read_or_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rt.txt");
    let write = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        chmod(&path, 0o600);
    };
    // Notepad's UTF-8 with a byte-order mark, and CRLF: the token alone.
    write(b"\xef\xbb\xbf0.AX-token\r\n");
    assert_eq!(read(&path).unwrap().expose(), "0.AX-token");
    // PowerShell 5's `>`: UTF-16 with its mark.
    write(b"\xff\xfe0\x00.\x00A\x00X\x00");
    let err = read(&path).unwrap_err();
    assert!(matches!(err, SecretFileError::Utf16 { .. }), "{err}");
    assert!(
        err.to_string().contains("Set-Content -Encoding ascii"),
        "{err}"
    );
    // Two lines, or a label before the secret: not a secret.
    for bytes in [&b"0.AX-token\nsecond line\n"[..], b"token: 0.AX-token"] {
        write(bytes);
        let err = read(&path).unwrap_err();
        assert!(matches!(err, SecretFileError::NotOneLine { .. }), "{err}");
        assert!(!err.to_string().contains("0.AX"), "{err}");
        assert!(protect(&path).is_err(), "protect refuses it too");
    }
}

#[cfg(unix)]
#[test]
fn a_directory_or_a_huge_file_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let err = read(dir.path()).unwrap_err();
    assert!(matches!(err, SecretFileError::NotAFile { .. }), "{err}");
    let big = dir.path().join("app.log");
    std::fs::write(&big, vec![b'x'; MAX_FILE_BYTES as usize + 1]).unwrap();
    chmod(&big, 0o600);
    let err = read(&big).unwrap_err();
    assert!(matches!(err, SecretFileError::TooLarge { .. }), "{err}");
    assert!(err.hint().contains("Check the path"), "{}", err.hint());
}

/// Found by `agent_secret_file` (its input: two byte-order marks, then the secret): the
/// second mark was kept as part of the secret, and the secret written back (a rotated
/// token) read back without it.
#[test]
fn byte_order_marks_are_never_part_of_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rt.txt");
    std::fs::write(&path, "\u{feff}\u{feff}0.AX-token\r\n").unwrap();
    #[cfg(unix)]
    chmod(&path, 0o600);
    let secret = read(&path).unwrap();
    assert_eq!(secret.expose(), "0.AX-token");
    write_atomic(&path, &secret).unwrap();
    assert_eq!(read(&path).unwrap().expose(), "0.AX-token");
    // One inside is refused, as a space would be.
    std::fs::write(&path, "0.AX\u{feff}-token\n").unwrap();
    #[cfg(unix)]
    chmod(&path, 0o600);
    assert!(matches!(
        read(&path),
        Err(SecretFileError::NotOneLine { .. })
    ));
}
