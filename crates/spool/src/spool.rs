//! `Spool`: opening, acking, the seq floor, and the state every part shares.
//! Appending and the budget are in `spool/write.rs`, reading in `spool/read.rs`.

mod read;
mod write;

use std::collections::VecDeque;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::error::SpoolError;
use crate::ledger::Ledger;
use crate::lock::DirLock;
use crate::recover;
use crate::segment::{self, Segment};
use crate::{SpoolOptions, Stats};

/// A durable, bounded queue of `(seq, bytes)` records in a directory it owns.
/// See the [crate documentation](crate) for the format and the guarantees.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    options: SpoolOptions,
    /// Oldest first; each holds at least one live record. Appends go to the last one.
    segments: VecDeque<Segment>,
    /// The last segment, opened for appending (lazily).
    active: Option<File>,
    /// As last written to disk.
    ledger: Ledger,
    /// The highest seq appended, acked or reserved: at least `ledger.seq_high`.
    seq_high: u64,
    /// Sum of the segments' sizes.
    bytes: u64,
    poisoned: Option<String>,
    _lock: DirLock,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, recovering from whatever a crash left.
    /// Fails if another spool, in this process or another live one, has `dir` open.
    pub fn open(dir: impl AsRef<Path>, options: SpoolOptions) -> Result<Spool, SpoolError> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(SpoolError::io("create directory", &dir))?;
        let lock = DirLock::acquire(&dir)?;
        let mut ledger = Ledger::load(&dir)?;
        let found = recover::recover(&dir, &ledger)?;
        let seq_high = ledger.seq_high.max(found.max_seq).max(ledger.acked_seq);
        if found.lost > 0 {
            // Saturating: a ledger written by another program may hold any number.
            ledger.dropped_total = ledger.dropped_total.saturating_add(found.lost);
            ledger.seq_high = seq_high;
            ledger.store(&dir)?;
        }
        let mut spool = Spool {
            bytes: found.segments.iter().map(|s| s.size).sum(),
            segments: found.segments,
            dir,
            options,
            active: None,
            ledger,
            seq_high,
            poisoned: None,
            _lock: lock,
        };
        spool.shrink_to_budget()?;
        let stats = spool.stats();
        info!(dir = %spool.dir.display(), records = stats.records, bytes = stats.bytes,
            last_seq = stats.last_seq, acked_seq = stats.acked_seq, dropped_total = stats.dropped_total, "spool opened");
        Ok(spool)
    }

    /// The directory this spool owns.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> SpoolOptions {
        self.options
    }

    /// The highest seq appended, acked or reserved with [`raise_seq_floor`](Self::raise_seq_floor)
    /// (0 for a new spool): the next record must have a higher one.
    pub fn last_seq(&self) -> u64 {
        self.seq_high
    }

    /// Every seq up to this one is stored by the collector.
    pub fn acked_seq(&self) -> u64 {
        self.ledger.acked_seq
    }

    pub fn stats(&self) -> Stats {
        Stats {
            records: self.segments.iter().map(|s| s.entries.len()).sum(),
            bytes: self.bytes,
            first_seq: self
                .segments
                .front()
                .and_then(|s| s.entries.first())
                .map(|e| e.seq),
            last_seq: self.seq_high,
            acked_seq: self.ledger.acked_seq,
            dropped_total: self.ledger.dropped_total,
            segments: self.segments.len(),
        }
    }

    /// Marks every seq up to `up_to_seq` delivered, persistently; deletes the segments that
    /// hold only delivered records. An ack above [`last_seq`](Self::last_seq) raises it too:
    /// the collector already has those seqs, so new records must be numbered above them.
    pub fn ack(&mut self, up_to_seq: u64) -> Result<(), SpoolError> {
        self.check()?;
        if up_to_seq <= self.ledger.acked_seq {
            return Ok(());
        }
        if up_to_seq > self.seq_high {
            warn!(dir = %self.dir.display(), up_to_seq, last_seq = self.seq_high,
                "ack above the last seq this spool wrote; numbering new records above it");
        }
        let next = Ledger {
            acked_seq: up_to_seq,
            seq_high: self.ledger.seq_high.max(up_to_seq),
            ..self.ledger
        };
        self.persist(next)?;
        self.seq_high = self.seq_high.max(up_to_seq);
        let discarded = self.discard_dead();
        self.poison_on_err(discarded)
    }

    /// Makes the next expected seq greater than `seq`, persistently (for a collector that has
    /// stored up to `seq` from an earlier life of this spool). No effect if it already is.
    pub fn raise_seq_floor(&mut self, seq: u64) -> Result<(), SpoolError> {
        self.check()?;
        if seq <= self.seq_high {
            return Ok(());
        }
        self.persist(Ledger {
            seq_high: seq,
            ..self.ledger
        })?;
        self.seq_high = seq;
        Ok(())
    }

    fn check(&self) -> Result<(), SpoolError> {
        match &self.poisoned {
            Some(reason) => Err(SpoolError::Poisoned {
                dir: self.dir.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn poison_on_err(&mut self, result: Result<(), SpoolError>) -> Result<(), SpoolError> {
        if let Err(e) = &result {
            warn!(dir = %self.dir.display(), error = %e, "spool stopped after an I/O failure; it must be reopened");
            self.poisoned = Some(e.to_string());
            self.active = None;
        }
        result
    }

    /// Writes `next` as the ledger, never lowering the persisted seq floor.
    fn persist(&mut self, mut next: Ledger) -> Result<(), SpoolError> {
        next.seq_high = next.seq_high.max(self.seq_high);
        next.store(&self.dir)?;
        self.ledger = next;
        Ok(())
    }

    /// Forgets records up to the ledger's dead seq; deletes segments left without any.
    fn discard_dead(&mut self) -> Result<(), SpoolError> {
        let dead = self.ledger.dead_through();
        while let Some(front) = self.segments.front_mut() {
            front
                .entries
                .drain(..front.entries.partition_point(|e| e.seq <= dead));
            if !front.entries.is_empty() {
                break;
            }
            self.remove_segment(0)?;
        }
        Ok(())
    }

    fn remove_segment(&mut self, index: usize) -> Result<(), SpoolError> {
        if index + 1 == self.segments.len() {
            self.active = None;
        }
        if let Some(seg) = self.segments.remove(index) {
            self.bytes -= seg.size;
            segment::remove(&seg.path).map_err(SpoolError::io("remove segment", &seg.path))?;
        }
        Ok(())
    }
}
