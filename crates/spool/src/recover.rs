//! Opening a spool directory: every segment is scanned, damage is cut away, dead records
//! (acked or dropped, per the ledger) are forgotten and wholly dead segments deleted.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};

use tracing::{debug, warn};

use crate::error::SpoolError;
use crate::frame::{self, FRAME_HEADER};
use crate::ledger::{Ledger, LEDGER_FILE, LEDGER_TMP};
use crate::lock::LOCK_FILE;
use crate::segment::{self, Segment, SEGMENT_HEADER, SEGMENT_MAGIC};

#[derive(Debug)]
pub(crate) struct Recovered {
    pub segments: VecDeque<Segment>,
    /// Records lost to corruption inside older segments (an estimate, see `lost_estimate`).
    pub lost: u64,
    /// The highest seq found in any valid record, dead or alive.
    pub max_seq: u64,
}

/// Segment files of `dir` (first seq from the name, path), oldest first. Other files are
/// reported and left alone, except a leftover `ledger.tmp`, which is removed.
fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SpoolError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(SpoolError::io("list", dir))? {
        let entry = entry.map_err(SpoolError::io("list", dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        match segment::parse_name(&name) {
            Some(first) if is_file => found.push((first, path)),
            _ if name == LEDGER_FILE || name == LOCK_FILE => {}
            _ if name == LEDGER_TMP => {
                debug!(file = %path.display(), "removing a ledger update that never completed");
                segment::remove(&path).map_err(SpoolError::io("remove", &path))?;
            }
            _ => warn!(file = %path.display(), "ignoring a file that is not part of the spool"),
        }
    }
    found.sort();
    Ok(found)
}

/// How many live records were in `cut_bytes` bytes cut from a segment whose last valid
/// record has seq `last_good`, when the next segment starts at seq `next_first`: at most one
/// per seq in between (seqs are normally contiguous) and one per minimal frame.
fn lost_estimate(cut_bytes: u64, last_good: u64, next_first: u64) -> u64 {
    let seq_gap = next_first.saturating_sub(last_good).saturating_sub(1);
    seq_gap.min(cut_bytes.div_ceil(FRAME_HEADER as u64))
}

pub(crate) fn recover(dir: &Path, ledger: &Ledger) -> Result<Recovered, SpoolError> {
    let found = list(dir)?;
    let dead = ledger.dead_through();
    let mut out = Recovered {
        segments: VecDeque::new(),
        lost: 0,
        max_seq: 0,
    };
    let mut prev = 0u64;
    for (i, (_, path)) in found.iter().enumerate() {
        let next_first = found.get(i + 1).map(|(first, _)| *first);
        let data = fs::read(path).map_err(SpoolError::io("read segment", path))?;
        if data.len() < SEGMENT_MAGIC.len() {
            if !data.is_empty() || next_first.is_some() {
                warn!(file = %path.display(), len = data.len(), "spool segment shorter than its header (creation interrupted); removing it");
            }
            segment::remove(path).map_err(SpoolError::io("remove", path))?;
            continue;
        }
        if &data[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
            let aside = path.with_extension("log.bad");
            warn!(file = %path.display(), renamed = %aside.display(), "spool segment with an unknown header; setting it aside, unread");
            fs::rename(path, &aside).map_err(SpoolError::io("rename aside", path))?;
            continue;
        }
        let scan = frame::scan(&data, SEGMENT_HEADER as usize, prev);
        if let Some(defect) = &scan.defect {
            let cut = data.len() as u64 - scan.end;
            match next_first {
                None => warn!(file = %path.display(), offset = scan.end, cut_bytes = cut, %defect,
                    "torn or corrupt tail in the newest spool segment (a batch whose write never completed); cutting it off"),
                Some(next) => {
                    let last_good = scan.entries.last().map_or(prev, |e| e.seq).max(dead);
                    let lost = lost_estimate(cut, last_good, next);
                    out.lost += lost;
                    warn!(file = %path.display(), offset = scan.end, cut_bytes = cut, lost, %defect,
                        "corrupt record inside an older spool segment; cutting the segment there, the records after it are lost");
                }
            }
            if !scan.entries.is_empty() {
                segment::truncate(path, scan.end)
                    .map_err(SpoolError::io("truncate segment", path))?;
            }
        }
        let Some(last) = scan.entries.last().map(|e| e.seq) else {
            segment::remove(path).map_err(SpoolError::io("remove empty segment", path))?;
            continue;
        };
        prev = last;
        out.max_seq = out.max_seq.max(last);
        let mut entries = scan.entries;
        entries.drain(..entries.partition_point(|e| e.seq <= dead));
        if entries.is_empty() {
            debug!(file = %path.display(), "removing a spool segment whose records were all acked or dropped");
            segment::remove(path).map_err(SpoolError::io("remove delivered segment", path))?;
            continue;
        }
        out.segments.push_back(Segment {
            path: path.clone(),
            size: scan.end,
            entries,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::lost_estimate;

    #[test]
    fn lost_estimate_is_bounded_by_seqs_and_bytes() {
        assert_eq!(lost_estimate(1000, 10, 14), 3);
        assert_eq!(lost_estimate(17, 10, 1000), 2);
        assert_eq!(lost_estimate(1000, 10, 11), 0);
        assert_eq!(lost_estimate(1000, 20, 11), 0);
    }
}
