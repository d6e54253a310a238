//! The data directory's restriction to SYSTEM and Administrators, and the checks before it.
//!
//! On Windows `C:\ProgramData` lets Users create folders, so a local user can create
//! `C:\ProgramData\eceprobe` (or a sub-folder) before the first install: own it, add ACEs to
//! it, or make it a junction to a folder of their choosing, where the agent, as SYSTEM,
//! would then keep its key and write agent.toml. So `setup configure`:
//! - refuses a data directory, or anything inside it, that is a link (`is_symlink()` on
//!   the link itself: std counts junctions and other name-surrogate reparse points on
//!   Windows), before it changes anything;
//! - takes ownership of everything and drops every explicit ACE (icacls `/setowner`,
//!   `/reset`, not following links: `/L`), then cuts the directory off from ProgramData's
//!   ACL and grants SYSTEM and Administrators only, inherited by everything inside.

use std::path::{Path, PathBuf};

use super::{io, SetupError};

/// The first link found at the data directory or anything below it (its sub-directories,
/// agent.toml, the key in tls): links are reported, never followed.
pub fn find_link(data_dir: &Path) -> Result<Option<PathBuf>, SetupError> {
    let mut todo = vec![data_dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io("reading", &path)(e)),
        };
        if meta.file_type().is_symlink() {
            return Ok(Some(path));
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(io("reading", &path))? {
                todo.push(entry.map_err(io("reading", &path))?.path());
            }
        }
    }
    Ok(None)
}

/// Refuses a data directory holding a link, in words with the fix.
pub fn refuse_links(data_dir: &Path) -> Result<(), SetupError> {
    match find_link(data_dir)? {
        Some(link) => Err(SetupError::Link {
            link,
            data_dir: data_dir.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// The icacls runs that restrict `dir`, in order (the one place they are written).
/// 1-2: Administrators own everything, and every ACE set by hand is gone (`/reset`: only
///      inherited ones left), on `dir` and all below, links not followed (`/L`), going on
///      past an error (`/C`) so that one file does not stop the rest;
/// 3:   `dir` stops inheriting ProgramData's ACL (where Users may create folders) and
///      grants SYSTEM and Administrators full control, inherited by all inside;
/// 4-5: the same ownership and reset inside once more: anything a user made in `dir`
///      between 2 and 3, while it still inherited ProgramData's ACL, is taken back (after
///      3 no user can make anything there).
pub fn icacls_runs(dir: &Path) -> Vec<Vec<std::ffi::OsString>> {
    let d = dir.as_os_str().to_owned();
    let inside = dir.join("*").into_os_string();
    let with = |target: &std::ffi::OsString, args: &[&str]| {
        let mut run = vec![target.clone()];
        run.extend(args.iter().map(std::ffi::OsString::from));
        run
    };
    let owner = ["/setowner", "*S-1-5-32-544", "/T", "/C", "/L", "/Q"];
    let reset = ["/reset", "/T", "/C", "/L", "/Q"];
    vec![
        with(&d, &owner),
        with(&d, &reset),
        with(
            &d,
            &[
                "/inheritance:r",
                "/grant:r",
                "*S-1-5-18:(OI)(CI)F",
                "*S-1-5-32-544:(OI)(CI)F",
                "/Q",
            ],
        ),
        with(&d, &owner),
        with(&inside, &reset),
    ]
}

/// SYSTEM and Administrators only: well-known SIDs, so it works in any Windows language.
#[cfg(windows)]
pub fn restrict(dir: &Path) -> Result<(), SetupError> {
    let system_root = std::env::var_os("SystemRoot").unwrap_or_else(|| r"C:\Windows".into());
    let icacls = PathBuf::from(system_root)
        .join("System32")
        .join("icacls.exe");
    for args in icacls_runs(dir) {
        let out = std::process::Command::new(&icacls)
            .args(&args)
            .output()
            .map_err(io("running", &icacls))?;
        // With /C icacls goes on past a file it could not change and exits non-zero at the
        // end: the install is refused then, as it must be (something stayed as it was).
        if !out.status.success() {
            let said = format!(
                "{} {}",
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return Err(SetupError::Acl {
                path: dir.to_path_buf(),
                detail: format!("icacls exited with {}: {}", out.status, said.trim()),
            });
        }
    }
    Ok(())
}

/// Elsewhere (tests, Linux): owner only.
#[cfg(not(windows))]
pub fn restrict(dir: &Path) -> Result<(), SetupError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("restricting", dir))
}
