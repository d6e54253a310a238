//! Segment files: naming, the header, and the few file operations the spool needs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::frame::Entry;

/// The first bytes of every segment file.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"ECESEG01";
/// Bytes of the segment header (the magic).
pub(crate) const SEGMENT_HEADER: u64 = SEGMENT_MAGIC.len() as u64;

/// A segment's file name: `seg-` + the seq of its first record, zero-padded to 20 digits
/// (so names sort as numbers do) + `.log`.
pub(crate) fn file_name(first_seq: u64) -> String {
    format!("seg-{first_seq:020}.log")
}

/// The first seq a segment file name carries, or `None` if the name is not a segment's.
pub(crate) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One segment file and the index of its live (unacked, undropped) records.
#[derive(Debug)]
pub(crate) struct Segment {
    pub path: PathBuf,
    /// Bytes of the file (header and every frame, live or not).
    pub size: u64,
    /// Live records, in seq order. A segment without any is deleted.
    pub entries: Vec<Entry>,
}

impl Segment {
    pub fn last_seq(&self) -> Option<u64> {
        self.entries.last().map(|e| e.seq)
    }
}

/// Creates a new segment file; it must not exist.
pub(crate) fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Opens an existing segment for appending at its end.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).open(path)
}

/// Reads up to `len` bytes from `offset`; fewer if the file is shorter than expected.
pub(crate) fn read_range(path: &Path, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(len).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Cuts a file to `len` bytes, durably.
pub(crate) fn truncate(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

/// Removes a file; one already gone is fine.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes created, renamed and removed directory entries durable. Windows cannot open a
/// directory as a file and makes metadata changes durable on its own (NTFS journal).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_numerically() {
        assert_eq!(file_name(42), "seg-00000000000000000042.log");
        assert_eq!(parse_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert!(file_name(9) < file_name(10));
        for bad in [
            "seg-1.log",
            "seg-0000000000000000004x.log",
            "seg-00000000000000000042.log.bad",
            "ledger",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
