//! The ledger: the few numbers that must outlive the records they describe.
//!
//! `ledger` is 44 bytes: `ECELDG01 | acked_seq | drop_floor | seq_high | dropped_total`
//! (each u64 LE) `| crc32` (u32 LE, over everything before it). It is replaced atomically:
//! write `ledger.tmp`, fsync it, rename it over `ledger`, fsync the directory.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use tracing::warn;

use crate::error::SpoolError;
use crate::segment;

pub(crate) const LEDGER_FILE: &str = "ledger";
pub(crate) const LEDGER_TMP: &str = "ledger.tmp";
const MAGIC: &[u8; 8] = b"ECELDG01";
const LEN: usize = 8 + 4 * 8 + 4;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ledger {
    /// The collector has stored every seq up to this one.
    pub acked_seq: u64,
    /// Every seq up to this one was dropped to keep the budget (its segment may still exist
    /// if a crash came between writing this ledger and deleting the segment).
    pub drop_floor: u64,
    /// The highest seq appended or reserved when this ledger was written; never goes down.
    pub seq_high: u64,
    /// Records dropped, ever: budget evictions and corruption found in older segments.
    pub dropped_total: u64,
}

impl Ledger {
    /// Records with a seq up to this one are gone for good (delivered or dropped).
    pub fn dead_through(&self) -> u64 {
        self.acked_seq.max(self.drop_floor)
    }

    pub(crate) fn encode(&self) -> [u8; LEN] {
        let mut out = [0u8; LEN];
        out[..8].copy_from_slice(MAGIC);
        let fields = [
            self.acked_seq,
            self.drop_floor,
            self.seq_high,
            self.dropped_total,
        ];
        for (i, v) in fields.iter().enumerate() {
            out[8 + i * 8..16 + i * 8].copy_from_slice(&v.to_le_bytes());
        }
        let crc = crc32fast::hash(&out[..LEN - 4]);
        out[LEN - 4..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Ledger> {
        if bytes.len() != LEN || &bytes[..8] != MAGIC {
            return None;
        }
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&bytes[LEN - 4..]);
        if crc32fast::hash(&bytes[..LEN - 4]) != u32::from_le_bytes(crc) {
            return None;
        }
        let field = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&bytes[8 + i * 8..16 + i * 8]);
            u64::from_le_bytes(a)
        };
        Some(Ledger {
            acked_seq: field(0),
            drop_floor: field(1),
            seq_high: field(2),
            dropped_total: field(3),
        })
    }

    /// Reads the ledger of `dir`: all zeros when there is none yet. A damaged one is reported
    /// and replaced by zeros: acked records are then sent again (the collector ignores
    /// duplicates) and the seq floor comes from the segments and the collector's Welcome.
    pub fn load(dir: &Path) -> Result<Ledger, SpoolError> {
        let path = dir.join(LEDGER_FILE);
        match fs::read(&path) {
            Ok(bytes) => Ok(Ledger::decode(&bytes).unwrap_or_else(|| {
                warn!(file = %path.display(), len = bytes.len(),
                    "spool ledger is damaged (bad size, magic or checksum); starting from zero: acked records will be sent again");
                Ledger::default()
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Ledger::default()),
            Err(e) => Err(SpoolError::io("read ledger", &path)(e)),
        }
    }

    /// Replaces the ledger of `dir` atomically and durably.
    pub fn store(&self, dir: &Path) -> Result<(), SpoolError> {
        let tmp = dir.join(LEDGER_TMP);
        let path = dir.join(LEDGER_FILE);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(SpoolError::io("create", &tmp))?;
        file.write_all(&self.encode())
            .map_err(SpoolError::io("write", &tmp))?;
        file.sync_all().map_err(SpoolError::io("fsync", &tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(SpoolError::io("rename ledger.tmp over", &path))?;
        segment::sync_dir(dir).map_err(SpoolError::io("fsync directory", dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Ledger::load(dir.path()).unwrap(), Ledger::default());
        let l = Ledger {
            acked_seq: 1,
            drop_floor: 2,
            seq_high: u64::MAX,
            dropped_total: 4,
        };
        l.store(dir.path()).unwrap();
        assert_eq!(Ledger::load(dir.path()).unwrap(), l);
        assert!(!dir.path().join(LEDGER_TMP).exists());

        let mut bytes = fs::read(dir.path().join(LEDGER_FILE)).unwrap();
        bytes[10] ^= 0xff;
        fs::write(dir.path().join(LEDGER_FILE), &bytes).unwrap();
        assert_eq!(Ledger::load(dir.path()).unwrap(), Ledger::default());
    }
}
