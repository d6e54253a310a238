//! One spool per directory: an in-process registry plus a lock file holding the owner's PID.
//!
//! The lock file is advisory. A lock left by a process that is gone is taken over. Whether
//! the PID in it is alive is known only on Linux (`/proc/<pid>/exe` must be this program);
//! elsewhere a lock of another PID is reported and taken over, since a refusal that outlives
//! a crash would stop the agent for good.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process;
use std::sync::{Mutex, PoisonError};

use tracing::warn;

use crate::error::SpoolError;
use crate::segment;

pub(crate) const LOCK_FILE: &str = "spool.lock";

/// Directories (canonical paths) with an open spool in this process.
static OPEN_DIRS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

#[derive(Debug)]
pub(crate) struct DirLock {
    key: PathBuf,
    path: PathBuf,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock, SpoolError> {
        let key = fs::canonicalize(dir).map_err(SpoolError::io("resolve", dir))?;
        let path = dir.join(LOCK_FILE);
        let locked = |pid| SpoolError::Locked {
            dir: dir.to_path_buf(),
            pid,
            lock: path.clone(),
        };
        if !OPEN_DIRS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone())
        {
            return Err(locked(process::id()));
        }
        let lock = DirLock {
            key,
            path: path.clone(),
        };
        // On failure `lock` is dropped: it leaves the registry and removes no file it did not create.
        for _ in 0..3 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(process::id().to_string().as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(SpoolError::io("write lock file", &path))?;
                    return Ok(lock);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if pid != process::id() && is_alive(pid) => {
                            lock.forget_file();
                            return Err(locked(pid));
                        }
                        _ => {
                            warn!(file = %path.display(), holder = ?holder, "taking over a stale spool lock");
                            segment::remove(&path)
                                .map_err(SpoolError::io("remove stale lock file", &path))?;
                        }
                    }
                }
                Err(e) => {
                    lock.forget_file();
                    return Err(SpoolError::io("create lock file", &path)(e));
                }
            }
        }
        lock.forget_file();
        Err(locked(0))
    }

    /// Leaves the registry without touching the lock file (which is not ours).
    fn forget_file(mut self) {
        self.path = PathBuf::new();
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            if let Err(e) = segment::remove(&self.path) {
                warn!(file = %self.path.display(), error = %e, "could not remove the spool lock file");
            }
        }
        OPEN_DIRS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

#[cfg(target_os = "linux")]
fn is_alive(pid: u32) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !proc_dir.exists() {
        return false;
    }
    // A PID reused by another program (after a reboot) is not our spool's owner.
    match (
        fs::read_link(proc_dir.join("exe")),
        fs::read_link("/proc/self/exe"),
    ) {
        (Ok(theirs), Ok(ours)) => theirs == ours,
        _ => true,
    }
}

#[cfg(not(target_os = "linux"))]
fn is_alive(_pid: u32) -> bool {
    false
}
