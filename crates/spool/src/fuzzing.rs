//! For the fuzz targets in `fuzz/` only (not an API): the record reader over bytes that a
//! crash, a full disk or another program may have left in a segment file; and what a
//! spool directory's recovery reads (`ledger`, segment files) as files.

use crate::ledger::Ledger;
use crate::{frame, segment};

/// A record as the reader decodes it.
pub struct Record<'a> {
    pub seq: u64,
    pub payload: &'a [u8],
}

/// Decodes the record at the start of `buf`, or says why it is none.
pub fn decode(buf: &[u8]) -> Result<Record<'_>, String> {
    frame::decode(buf)
        .map(|d| Record {
            seq: d.seq,
            payload: d.payload,
        })
        .map_err(|defect| defect.to_string())
}

/// What a scan of a segment's bytes from `start` finds: each record's (seq, offset, payload
/// length), where the valid records end, and why scanning stopped early, if it did.
pub fn scan(buf: &[u8], start: usize, prev: u64) -> (Vec<(u64, u64, u32)>, u64, Option<String>) {
    let s = frame::scan(buf, start, prev);
    let entries = s.entries.iter().map(|e| (e.seq, e.offset, e.len)).collect();
    (entries, s.end, s.defect.map(|d| d.to_string()))
}

/// The bytes of one record as the spool writes it.
pub fn encode(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode(&mut out, seq, payload);
    out
}

/// The `ledger` file's bytes for these numbers, checksum included, as the spool writes it.
pub fn ledger_bytes(acked_seq: u64, drop_floor: u64, seq_high: u64, dropped_total: u64) -> Vec<u8> {
    Ledger {
        acked_seq,
        drop_floor,
        seq_high,
        dropped_total,
    }
    .encode()
    .to_vec()
}

/// The file name of the segment whose first record has `first_seq`.
pub fn segment_name(first_seq: u64) -> String {
    segment::file_name(first_seq)
}

/// The magic a segment file starts with.
pub const SEGMENT_MAGIC: &[u8] = segment::SEGMENT_MAGIC;
