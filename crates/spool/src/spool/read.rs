//! Reading for the sender, verifying every record; a record that fails is cut away.

use tracing::warn;

use super::Spool;
use crate::error::SpoolError;
use crate::frame::{self, Defect};
use crate::ledger::Ledger;
use crate::segment;
use crate::Record;

/// What a read found: the records, or the first one that failed verification.
enum ReadOutcome {
    Done(Vec<Record>),
    Corrupt {
        segment: usize,
        entry: usize,
        defect: Defect,
    },
}

impl Spool {
    /// Unacked records with seq > `after_seq`, oldest first: at most `max_records`, and at
    /// most `max_bytes` of payload, except that one record is returned even if larger.
    /// A record failing verification is cut away (with the rest of its segment, counted as
    /// dropped) and the read goes on without it.
    pub fn read_after(
        &mut self,
        after_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, SpoolError> {
        self.check()?;
        loop {
            match self.try_read(after_seq, max_records, max_bytes)? {
                ReadOutcome::Done(records) => return Ok(records),
                ReadOutcome::Corrupt {
                    segment,
                    entry,
                    defect,
                } => {
                    let cut = self.cut(segment, entry, &defect);
                    self.poison_on_err(cut)?;
                }
            }
        }
    }

    fn try_read(
        &self,
        after: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadOutcome, SpoolError> {
        let mut out: Vec<Record> = Vec::new();
        let mut bytes = 0usize;
        let first = self
            .segments
            .partition_point(|s| s.last_seq().is_some_and(|l| l <= after));
        for (si, seg) in self.segments.iter().enumerate().skip(first) {
            let start = seg.entries.partition_point(|e| e.seq <= after);
            let mut end = start;
            while end < seg.entries.len() && out.len() + (end - start) < max_records {
                let len = seg.entries[end].len as usize;
                if (!out.is_empty() || end > start) && bytes + len > max_bytes {
                    break;
                }
                bytes += len;
                end += 1;
            }
            if end == start {
                break;
            }
            let from = seg.entries[start].offset;
            let to = seg.entries[end - 1].end();
            let buf = segment::read_range(&seg.path, from, to - from)
                .map_err(SpoolError::io("read segment", &seg.path))?;
            for (i, e) in seg.entries[start..end].iter().enumerate() {
                let at = usize::try_from(e.offset - from).unwrap_or(usize::MAX);
                let corrupt = |defect| {
                    Ok(ReadOutcome::Corrupt {
                        segment: si,
                        entry: start + i,
                        defect,
                    })
                };
                match frame::decode(buf.get(at..).unwrap_or(&[])) {
                    Ok(d) if d.seq == e.seq && d.payload.len() == e.len as usize => {
                        out.push(Record {
                            seq: d.seq,
                            payload: d.payload.to_vec(),
                        });
                    }
                    Ok(d) => {
                        return corrupt(Defect::Unexpected {
                            seq: d.seq,
                            expected: e.seq,
                        })
                    }
                    Err(defect) => return corrupt(defect),
                }
            }
            if end < seg.entries.len() {
                break;
            }
        }
        Ok(ReadOutcome::Done(out))
    }

    /// Cuts segment `si` at its live entry `ei` (which failed verification on read), counting
    /// the live records from there as dropped.
    fn cut(&mut self, si: usize, ei: usize, defect: &Defect) -> Result<(), SpoolError> {
        let Some(seg) = self.segments.get_mut(si) else {
            return Ok(());
        };
        let at = seg.entries[ei].offset;
        let lost = (seg.entries.len() - ei) as u64;
        warn!(file = %seg.path.display(), offset = at, lost, %defect,
            "spool record failed verification on read; cutting the segment there");
        segment::truncate(&seg.path, at).map_err(SpoolError::io("truncate segment", &seg.path))?;
        seg.entries.truncate(ei);
        self.bytes -= seg.size - at;
        seg.size = at;
        let empty = seg.entries.is_empty();
        self.persist(Ledger {
            dropped_total: self.ledger.dropped_total.saturating_add(lost),
            ..self.ledger
        })?;
        if empty {
            self.remove_segment(si)?;
        }
        Ok(())
    }
}
