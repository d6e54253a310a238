//! The eceprobe agent's durable spool.
//!
//! The agent numbers every probe result with a per-agent sequence number (`seq`, from 1),
//! [appends](Spool::append) it here before sending it, [reads](Spool::read_after) what to send
//! from here, and [acks](Spool::ack) it when the collector says "every seq <= N is stored".
//! The spool knows nothing of protobuf or gRPC: a record is a seq and opaque bytes.
//!
//! # On disk
//!
//! The spool owns one directory:
//!
//! - `seg-<first seq, 20 digits>.log`: segment files, oldest first by name. Each starts with
//!   the 8-byte magic `ECESEG01`, then frames: `len: u32 LE | crc: u32 LE | seq: u64 LE |
//!   payload`, where `crc` is CRC-32 (IEEE) over the 8 seq bytes and the payload. A new
//!   segment starts when the next frame would take the current one past
//!   [`SpoolOptions::segment_bytes`].
//! - `ledger`: 44 bytes, `ECELDG01 | acked_seq | drop_floor | seq_high | dropped_total`
//!   (u64 LE each) and a CRC-32 of them. Replaced atomically (write `ledger.tmp`, fsync,
//!   rename, fsync the directory) whenever an ack, a drop or a seq floor changes it.
//! - `spool.lock`: the PID of the process that has the spool open.
//!
//! Anything else in the directory is reported with a warning and left alone.
//!
//! # Guarantees
//!
//! - **Durable once appended.** [`Spool::append`] writes a batch's frames and fsyncs each file
//!   it wrote once before returning. A crash (process or power) can lose only records of a
//!   batch whose `append` had not returned: they form a torn tail of the newest segment,
//!   which the next [`Spool::open`] detects (short frame, bad checksum, absurd length, seq not
//!   increasing), reports with `tracing::warn!` naming the file and offset, and cuts off.
//!   Damage is never fatal.
//! - **Never returned:** a corrupt payload (checksums are verified on open *and* on every
//!   read; a record failing on read is cut away like damage found on open), a record twice,
//!   records out of seq order, a record at or below the acked seq.
//! - **Bounded.** The segment files never take more than [`SpoolOptions::max_bytes`]. When an
//!   append would pass it, the oldest segments are deleted first and
//!   [`Stats::dropped_total`] (persistent) grows by the unacked records they held.
//!   Damage found inside an older segment also counts as dropped (an estimate: at most one
//!   per missing seq). A torn tail of the newest segment does not: it was never stored.
//! - **Seqs never go back.** [`Spool::last_seq`] is the highest seq appended, acked or
//!   reserved with [`Spool::raise_seq_floor`], kept in the ledger once the segments holding
//!   it are deleted. Only a torn tail (never-completed appends) can lower it after a crash.
//! - **Acks persist**, so after a restart acked records are not sent again.
//!
//! After an I/O error during a write the spool refuses further work
//! ([`SpoolError::Poisoned`]): reopening it rescans the disk, which is the truth. Records of
//! the failed batch may or may not be there then; [`Spool::last_seq`] says where to go on.
//!
//! The API is synchronous `std::fs`; a `Spool` is used from one thread at a time (`&mut self`).

mod error;
mod frame;
/// For the fuzz targets in `fuzz/` only: not an API, no stability promised.
#[doc(hidden)]
pub mod fuzzing;
mod ledger;
mod lock;
mod recover;
mod segment;
mod spool;

pub use error::SpoolError;
pub use spool::Spool;

/// The largest payload a record may have, whatever the budget.
pub const MAX_RECORD_BYTES: usize = frame::MAX_PAYLOAD;

/// Bytes a record takes on disk beyond its payload (length, checksum, seq).
pub const RECORD_OVERHEAD: u64 = frame::FRAME_HEADER as u64;

/// Bytes a segment file takes before its first record.
pub const SEGMENT_OVERHEAD: u64 = segment::SEGMENT_HEADER;

/// One record as read back: its seq and the payload given to [`Spool::append`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// What the spool holds, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Records kept and not yet acked.
    pub records: usize,
    /// Bytes of the segment files (acked records still sharing a segment with unacked ones
    /// count until their segment is deleted).
    pub bytes: u64,
    /// The oldest record kept and not acked.
    pub first_seq: Option<u64>,
    /// As [`Spool::last_seq`].
    pub last_seq: u64,
    /// Every seq up to this one is stored by the collector.
    pub acked_seq: u64,
    /// Records dropped, ever, to keep the budget or because older data was damaged.
    pub dropped_total: u64,
    /// Segment files.
    pub segments: usize,
}

/// Size limits of a spool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpoolOptions {
    max_bytes: u64,
    segment_bytes: u64,
}

impl SpoolOptions {
    /// The default budget: 64 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
    /// The smallest budget accepted.
    pub const MIN_MAX_BYTES: u64 = 1024;

    /// A budget of `max_bytes`, in segments of `max_bytes / 16`, at least 64 KiB (and at most
    /// the budget): dropping the oldest segment frees about a sixteenth of the spool.
    pub fn new(max_bytes: u64) -> Self {
        let segment_bytes = (max_bytes / 16).max(64 << 10).min(max_bytes);
        SpoolOptions {
            max_bytes,
            segment_bytes,
        }
    }

    /// Sets the size at which a new segment file starts (a single larger record still gets a
    /// segment of its own). Drops free a segment at a time, so keep it well below the budget.
    pub fn with_segment_bytes(mut self, segment_bytes: u64) -> Self {
        self.segment_bytes = segment_bytes;
        self
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// The largest payload one record may have under these options.
    pub fn max_record_bytes(&self) -> usize {
        let room = self
            .max_bytes
            .saturating_sub(SEGMENT_OVERHEAD + RECORD_OVERHEAD);
        usize::try_from(room)
            .unwrap_or(usize::MAX)
            .min(MAX_RECORD_BYTES)
    }

    fn validate(&self) -> Result<(), SpoolError> {
        if self.max_bytes < Self::MIN_MAX_BYTES {
            return Err(SpoolError::InvalidOptions(format!(
                "max_bytes {} is below the minimum of {} bytes",
                self.max_bytes,
                Self::MIN_MAX_BYTES
            )));
        }
        let smallest = SEGMENT_OVERHEAD + RECORD_OVERHEAD;
        if self.segment_bytes < smallest || self.segment_bytes > self.max_bytes {
            return Err(SpoolError::InvalidOptions(format!(
                "segment_bytes {} must be between {smallest} and max_bytes ({})",
                self.segment_bytes, self.max_bytes
            )));
        }
        Ok(())
    }
}

impl Default for SpoolOptions {
    fn default() -> Self {
        SpoolOptions::new(Self::DEFAULT_MAX_BYTES)
    }
}
