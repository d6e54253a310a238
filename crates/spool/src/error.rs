//! The spool's errors: each names the path or the value at fault.

use std::io;
use std::path::{Path, PathBuf};

/// Why a spool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file system operation failed.
    #[error("spool: could not {op} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "write segment".
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Another spool (in this process, or a live process) has the directory open.
    #[error("spool directory {} is in use by process {pid} (lock file {})", dir.display(), lock.display())]
    Locked {
        dir: PathBuf,
        pid: u32,
        lock: PathBuf,
    },
    /// The options cannot work.
    #[error("invalid spool options: {0}")]
    InvalidOptions(String),
    /// One record cannot fit in the spool at all.
    #[error("record seq {seq} has {len} bytes: at most {max} bytes fit in this spool (budget {budget} bytes)")]
    RecordTooLarge {
        seq: u64,
        len: usize,
        max: usize,
        budget: u64,
    },
    /// One batch needs more room than the whole budget; append it in smaller batches.
    #[error("a batch of {records} records needs {bytes} bytes on disk, more than the spool budget of {budget} bytes: append it in smaller batches")]
    BatchTooLarge {
        records: usize,
        bytes: u64,
        budget: u64,
    },
    /// Sequence numbers must strictly increase, across restarts too.
    #[error("seq {seq} is not above seq {last}: sequence numbers must strictly increase (next must be > {last})")]
    SeqNotIncreasing { seq: u64, last: u64 },
    /// An earlier write failed half-way; the in-memory state may not match the disk.
    #[error("spool {} stopped after an I/O failure ({reason}): reopen it to recover", dir.display())]
    Poisoned { dir: PathBuf, reason: String },
}

impl SpoolError {
    /// Wraps an `io::Error` with what was being done and to which path.
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SpoolError {
        let path = path.to_path_buf();
        move |source| SpoolError::Io { op, path, source }
    }
}
