//! One record on disk, and the scan that finds where a segment's valid records end.
//!
//! A frame is `len: u32 LE | crc: u32 LE | seq: u64 LE | payload (len bytes)`, where `crc` is
//! CRC-32 (IEEE, the `crc32fast` crate) over the 8 bytes of `seq` followed by the payload.

use std::fmt;

/// Bytes in a frame before its payload: length, checksum, sequence number.
pub(crate) const FRAME_HEADER: usize = 16;

/// The largest payload a frame may carry. A length field above it is "absurd": it can only be
/// a torn or corrupt frame, never a record this spool wrote.
pub(crate) const MAX_PAYLOAD: usize = 64 << 20;

/// Where a record lives in its segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub seq: u64,
    /// Offset of the frame (its length field) from the start of the file.
    pub offset: u64,
    /// Payload length in bytes.
    pub len: u32,
}

impl Entry {
    /// Offset just past this frame.
    pub fn end(&self) -> u64 {
        self.offset + frame_len(self.len as usize)
    }
}

/// On-disk size of the frame of a payload of `payload_len` bytes.
pub(crate) fn frame_len(payload_len: usize) -> u64 {
    (FRAME_HEADER + payload_len) as u64
}

fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends the frame of one record to `out`. The caller has checked `payload.len() <= MAX_PAYLOAD`.
pub(crate) fn encode(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    debug_assert!(payload.len() <= MAX_PAYLOAD);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(seq, payload).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Why the bytes at some offset are not a valid next record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Defect {
    /// Fewer bytes left than the frame needs (a write that did not complete).
    Short { need: u64, have: u64 },
    /// A length field no record of this spool can have.
    AbsurdLength(u32),
    /// The checksum does not match the sequence number and payload.
    BadChecksum,
    /// A sequence number not above the one before it.
    SeqNotIncreasing { seq: u64, prev: u64 },
    /// The frame is valid but is not the record the index expected at this offset.
    Unexpected { seq: u64, expected: u64 },
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::Short { need, have } => {
                write!(
                    f,
                    "short frame: needs {need} bytes, {have} left in the file"
                )
            }
            Defect::AbsurdLength(len) => write!(f, "absurd record length {len}"),
            Defect::BadChecksum => f.write_str("checksum mismatch"),
            Defect::SeqNotIncreasing { seq, prev } => {
                write!(f, "seq {seq} does not follow seq {prev}")
            }
            Defect::Unexpected { seq, expected } => {
                write!(f, "found seq {seq} where seq {expected} was written")
            }
        }
    }
}

/// A record decoded from a buffer, borrowing its payload.
#[derive(Debug)]
pub(crate) struct Decoded<'a> {
    pub seq: u64,
    pub payload: &'a [u8],
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(a)
}

/// Decodes the frame at the start of `buf` (which may hold more after it).
pub(crate) fn decode(buf: &[u8]) -> Result<Decoded<'_>, Defect> {
    let have = buf.len() as u64;
    if buf.len() < FRAME_HEADER {
        return Err(Defect::Short {
            need: FRAME_HEADER as u64,
            have,
        });
    }
    let len = le_u32(&buf[0..4]);
    if len as usize > MAX_PAYLOAD {
        return Err(Defect::AbsurdLength(len));
    }
    let need = frame_len(len as usize);
    if have < need {
        return Err(Defect::Short { need, have });
    }
    let crc = le_u32(&buf[4..8]);
    let seq = le_u64(&buf[8..16]);
    let payload = &buf[FRAME_HEADER..FRAME_HEADER + len as usize];
    if checksum(seq, payload) != crc {
        return Err(Defect::BadChecksum);
    }
    Ok(Decoded { seq, payload })
}

/// The valid records at the start of a segment's bytes.
#[derive(Debug)]
pub(crate) struct Scan {
    pub entries: Vec<Entry>,
    /// Offset just past the last valid record: where the file must be cut when `defect` is set.
    pub end: u64,
    /// Why scanning stopped before the end of the buffer, if it did.
    pub defect: Option<Defect>,
}

/// Scans the frames of `buf` from `start`, each of whose seq must exceed `prev`
/// (the last seq of the segments before this one, or 0).
pub(crate) fn scan(buf: &[u8], start: usize, mut prev: u64) -> Scan {
    let mut entries = Vec::new();
    let mut at = start;
    let mut defect = None;
    while at < buf.len() {
        match decode(&buf[at..]) {
            Ok(d) if d.seq <= prev => {
                defect = Some(Defect::SeqNotIncreasing { seq: d.seq, prev });
                break;
            }
            Ok(d) => {
                let len = d.payload.len();
                entries.push(Entry {
                    seq: d.seq,
                    offset: at as u64,
                    len: len as u32,
                });
                prev = d.seq;
                at += FRAME_HEADER + len;
            }
            Err(e) => {
                defect = Some(e);
                break;
            }
        }
    }
    Scan {
        entries,
        end: at as u64,
        defect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(records: &[(u64, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (seq, payload) in records {
            encode(&mut out, *seq, payload);
        }
        out
    }

    #[test]
    fn round_trip_and_layout() {
        let buf = frames(&[(7, b"hello")]);
        assert_eq!(buf.len(), FRAME_HEADER + 5);
        assert_eq!(&buf[0..4], &5u32.to_le_bytes());
        assert_eq!(&buf[8..16], &7u64.to_le_bytes());
        let d = decode(&buf).unwrap();
        assert_eq!((d.seq, d.payload), (7, &b"hello"[..]));
    }

    #[test]
    fn scan_stops_at_every_kind_of_defect() {
        let good = frames(&[(1, b"a"), (2, b"bb")]);
        let clean = scan(&good, 0, 0);
        assert_eq!(
            (clean.entries.len(), clean.end, clean.defect),
            (2, good.len() as u64, None)
        );

        for cut in 1..good.len() - 17 {
            let s = scan(&good[..good.len() - cut], 0, 0);
            assert_eq!(s.entries.len(), 1, "cut {cut}");
            assert!(matches!(s.defect, Some(Defect::Short { .. })));
        }
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(scan(&flipped, 0, 0).defect, Some(Defect::BadChecksum));

        let mut absurd = good.clone();
        absurd.extend_from_slice(&u32::MAX.to_le_bytes());
        absurd.extend_from_slice(&[0; 12]);
        assert_eq!(
            scan(&absurd, 0, 0).defect,
            Some(Defect::AbsurdLength(u32::MAX))
        );

        let backwards = frames(&[(5, b"x"), (5, b"y")]);
        let s = scan(&backwards, 0, 0);
        assert_eq!(s.defect, Some(Defect::SeqNotIncreasing { seq: 5, prev: 5 }));
        assert_eq!(
            scan(&good, 0, 1).entries.len(),
            0,
            "seq 1 does not follow a previous segment's 1"
        );
    }
}
