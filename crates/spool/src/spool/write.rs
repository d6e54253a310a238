//! Appending a batch: validation, the layout of frames in segments, and dropping the
//! oldest segments when the budget demands it.

use std::io::Write;

use tracing::warn;

use super::Spool;
use crate::error::SpoolError;
use crate::frame::{self, frame_len, Entry};
use crate::ledger::Ledger;
use crate::segment::{self, Segment, SEGMENT_HEADER, SEGMENT_MAGIC};
use crate::MAX_RECORD_BYTES;

impl Spool {
    /// Appends a batch of `(seq, payload)` with seqs strictly increasing and above
    /// [`last_seq`](Self::last_seq), then fsyncs: when this returns `Ok`, the batch survives a
    /// crash. Makes room by dropping the oldest segments if needed and returns how many unacked
    /// records that dropped. Refuses (changing nothing) a bad seq, a record larger than
    /// [`SpoolOptions::max_record_bytes`](crate::SpoolOptions::max_record_bytes) and a batch needing more than the whole budget.
    pub fn append<P: AsRef<[u8]>>(&mut self, batch: &[(u64, P)]) -> Result<u64, SpoolError> {
        self.check()?;
        let Some((batch_last, _)) = batch.last() else {
            return Ok(0);
        };
        self.validate(batch)?;
        let evict = self.plan_evictions(batch);
        let dropped = if evict > 0 {
            self.evict(evict, *batch_last)?
        } else {
            0
        };
        let written = self.write(batch);
        self.poison_on_err(written)?;
        Ok(dropped)
    }

    fn validate<P: AsRef<[u8]>>(&self, batch: &[(u64, P)]) -> Result<(), SpoolError> {
        let max = self.options.max_record_bytes();
        let mut last = self.seq_high;
        for (seq, payload) in batch {
            let len = payload.as_ref().len();
            if *seq <= last {
                return Err(SpoolError::SeqNotIncreasing { seq: *seq, last });
            }
            if len > max {
                return Err(SpoolError::RecordTooLarge {
                    seq: *seq,
                    len,
                    max,
                    budget: self.options.max_bytes(),
                });
            }
            last = *seq;
        }
        let bytes = self.layout_bytes(batch, None);
        if bytes > self.options.max_bytes() {
            return Err(SpoolError::BatchTooLarge {
                records: batch.len(),
                bytes,
                budget: self.options.max_bytes(),
            });
        }
        Ok(())
    }

    /// Bytes `batch` adds on disk when appended after a last segment of `last_size` bytes
    /// (`None`: no segment). `write` lays records out by exactly these rules.
    fn layout_bytes<P: AsRef<[u8]>>(&self, batch: &[(u64, P)], last_size: Option<u64>) -> u64 {
        let mut size = last_size;
        let mut total = 0;
        for (_, payload) in batch {
            let f = frame_len(payload.as_ref().len());
            let (add, now) = match size {
                Some(s) if s + f <= self.options.segment_bytes() => (f, s + f),
                _ => (SEGMENT_HEADER + f, SEGMENT_HEADER + f),
            };
            total += add;
            size = Some(now);
        }
        total
    }

    /// How many of the oldest segments must go for `batch` to fit the budget.
    fn plan_evictions<P: AsRef<[u8]>>(&self, batch: &[(u64, P)]) -> usize {
        let mut bytes = self.bytes;
        let mut need = self.layout_bytes(batch, self.segments.back().map(|s| s.size));
        let mut evict = 0;
        while bytes + need > self.options.max_bytes() && evict < self.segments.len() {
            bytes -= self.segments[evict].size;
            evict += 1;
            if evict == self.segments.len() {
                need = self.layout_bytes(batch, None);
            }
        }
        evict
    }

    /// Drops the oldest segments while the spool is over its budget (opened with a smaller
    /// budget than it was written with).
    pub(super) fn shrink_to_budget(&mut self) -> Result<(), SpoolError> {
        let mut bytes = self.bytes;
        let mut count = 0;
        while bytes > self.options.max_bytes() && count < self.segments.len() {
            bytes -= self.segments[count].size;
            count += 1;
        }
        if count > 0 {
            self.evict(count, self.seq_high)?;
        }
        Ok(())
    }

    /// Drops the `count` oldest segments: the ledger first (drop floor, counter, and a seq
    /// floor covering the coming batch, so no seq can be reused), then the files.
    fn evict(&mut self, count: usize, batch_last: u64) -> Result<u64, SpoolError> {
        let victims = self.segments.range(..count);
        let dropped: u64 = victims.clone().map(|s| s.entries.len() as u64).sum();
        let first = victims
            .clone()
            .find_map(|s| s.entries.first())
            .map(|e| e.seq);
        let floor = victims.filter_map(Segment::last_seq).max().unwrap_or(0);
        let next = Ledger {
            drop_floor: self.ledger.drop_floor.max(floor),
            seq_high: self.ledger.seq_high.max(batch_last),
            dropped_total: self.ledger.dropped_total.saturating_add(dropped),
            ..self.ledger
        };
        self.persist(next)?;
        warn!(dir = %self.dir.display(), dropped, first_seq = ?first, last_seq = floor, budget = self.options.max_bytes(),
            "spool is full: dropped the oldest unsent records to make room");
        if count == self.segments.len() {
            self.active = None;
        }
        let mut removed = Ok(());
        for seg in self.segments.drain(..count) {
            self.bytes -= seg.size;
            if removed.is_ok() {
                removed = segment::remove(&seg.path)
                    .map_err(SpoolError::io("remove dropped segment", &seg.path));
            }
        }
        self.poison_on_err(removed)?;
        Ok(dropped)
    }

    fn write<P: AsRef<[u8]>>(&mut self, batch: &[(u64, P)]) -> Result<(), SpoolError> {
        let mut pending = Vec::new();
        let mut created = false;
        for (seq, payload) in batch {
            let payload = payload.as_ref();
            let f = frame_len(payload.len());
            match self.segments.back() {
                Some(last) if last.size + f <= self.options.segment_bytes() => {
                    if self.active.is_none() {
                        let file = segment::open_append(&last.path)
                            .map_err(SpoolError::io("open segment", &last.path))?;
                        self.active = Some(file);
                    }
                }
                _ => {
                    self.flush(&mut pending)?;
                    let path = self.dir.join(segment::file_name(*seq));
                    self.active = Some(
                        segment::create(&path).map_err(SpoolError::io("create segment", &path))?,
                    );
                    self.segments.push_back(Segment {
                        path,
                        size: SEGMENT_HEADER,
                        entries: Vec::new(),
                    });
                    self.bytes += SEGMENT_HEADER;
                    pending.extend_from_slice(SEGMENT_MAGIC);
                    created = true;
                }
            }
            debug_assert!(payload.len() <= MAX_RECORD_BYTES);
            frame::encode(&mut pending, *seq, payload);
            if let Some(seg) = self.segments.back_mut() {
                seg.entries.push(Entry {
                    seq: *seq,
                    offset: seg.size,
                    len: payload.len() as u32,
                });
                seg.size += f;
            }
            self.bytes += f;
            self.seq_high = *seq;
        }
        self.flush(&mut pending)?;
        if created {
            segment::sync_dir(&self.dir).map_err(SpoolError::io("fsync directory", &self.dir))?;
        }
        Ok(())
    }

    /// Writes `pending` to the active (last) segment and fsyncs it.
    fn flush(&mut self, pending: &mut Vec<u8>) -> Result<(), SpoolError> {
        if pending.is_empty() {
            return Ok(());
        }
        let (Some(file), Some(seg)) = (self.active.as_mut(), self.segments.back()) else {
            return Ok(());
        };
        file.write_all(pending)
            .map_err(SpoolError::io("write segment", &seg.path))?;
        file.sync_data()
            .map_err(SpoolError::io("fsync segment", &seg.path))?;
        pending.clear();
        Ok(())
    }
}
