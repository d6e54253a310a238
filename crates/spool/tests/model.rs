//! The spool checked against a tiny in-memory model under random operation sequences,
//! including reopenings and simulated crashes (the newest segment cut at a random offset
//! and/or followed by garbage).
//!
//! `PROPTEST_CASES` overrides the number of cases (default 128).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use eceprobe_spool::{Record, Spool, SpoolError, SpoolOptions, RECORD_OVERHEAD, SEGMENT_OVERHEAD};
use proptest::prelude::*;
use proptest::test_runner::Config;

const MAX_BYTES: u64 = 2048;
const SEGMENT_BYTES: u64 = 256;

fn options() -> SpoolOptions {
    SpoolOptions::new(MAX_BYTES).with_segment_bytes(SEGMENT_BYTES)
}

#[derive(Clone, Debug)]
enum Op {
    /// Records as (extra gap before the seq, payload); `stale` reuses the last seq (refused).
    Append {
        records: Vec<(u64, Vec<u8>)>,
        stale: bool,
    },
    Ack(u16),
    ReadAfter(u16),
    Reopen,
    Crash {
        cut: Option<u16>,
        garbage: Vec<u8>,
    },
    RaiseFloor(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let record = (
        prop_oneof![8 => Just(0u64), 1 => 1..5u64],
        prop::collection::vec(any::<u8>(), 0..120),
    );
    prop_oneof![
        6 => (prop::collection::vec(record, 1..6), prop::bool::weighted(0.05))
            .prop_map(|(records, stale)| Op::Append { records, stale }),
        3 => any::<u16>().prop_map(Op::Ack),
        2 => any::<u16>().prop_map(Op::ReadAfter),
        1 => Just(Op::Reopen),
        1 => (prop::option::of(any::<u16>()), prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(cut, garbage)| Op::Crash { cut, garbage }),
        1 => any::<u8>().prop_map(Op::RaiseFloor),
    ]
}

/// What the spool should hold.
#[derive(Debug, Default)]
struct Model {
    unacked: VecDeque<(u64, Vec<u8>)>,
    acked: u64,
    last: u64,
    dropped: u64,
    /// The last seq when the ledger was last rewritten (by a new ack or a raised floor):
    /// a crash cannot take `last_seq` below this.
    persisted_floor: u64,
}

impl Model {
    fn records_after(&self, after: u64) -> Vec<(u64, Vec<u8>)> {
        self.unacked
            .iter()
            .filter(|(s, _)| *s > after)
            .cloned()
            .collect()
    }
}

fn pairs(records: Vec<Record>) -> Vec<(u64, Vec<u8>)> {
    records.into_iter().map(|r| (r.seq, r.payload)).collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

fn read_all(spool: &mut Spool) -> Vec<(u64, Vec<u8>)> {
    pairs(spool.read_after(0, usize::MAX, usize::MAX).unwrap())
}

/// Everything the model says, plus the byte accounting against the files on disk.
fn check(spool: &mut Spool, model: &Model, dir: &Path) {
    assert_eq!(
        read_all(spool),
        Vec::from_iter(model.unacked.iter().cloned())
    );
    let st = spool.stats();
    assert_eq!(st.records, model.unacked.len());
    assert_eq!(st.first_seq, model.unacked.front().map(|r| r.0));
    assert_eq!((st.last_seq, spool.last_seq()), (model.last, model.last));
    assert_eq!(
        (st.acked_seq, spool.acked_seq()),
        (model.acked, model.acked)
    );
    assert_eq!(st.dropped_total, model.dropped);
    let files = segment_files(dir);
    let on_disk: u64 = files.iter().map(|f| fs::metadata(f).unwrap().len()).sum();
    assert_eq!((st.bytes, st.segments), (on_disk, files.len()));
    assert!(st.bytes <= MAX_BYTES, "{} bytes over the budget", st.bytes);
}

fn apply(mut spool: Spool, model: &mut Model, dir: &Path, op: Op) -> Spool {
    match op {
        Op::Append { records, stale } => {
            let mut seq = if stale { model.last } else { model.last + 1 };
            let mut batch = Vec::new();
            for (i, (gap, payload)) in records.into_iter().enumerate() {
                if !(stale && i == 0) {
                    seq += gap;
                }
                batch.push((seq, payload));
                seq += 1;
            }
            let result = spool.append(&batch);
            if stale {
                assert!(
                    matches!(result, Err(SpoolError::SeqNotIncreasing { .. })),
                    "{result:?}"
                );
                return spool;
            }
            let dropped = result.unwrap();
            let got = read_all(&mut spool);
            assert!(
                got.len() >= batch.len() && got[got.len() - batch.len()..] == batch[..],
                "batch not kept whole"
            );
            let kept = got.len() - batch.len();
            let lost = model.unacked.len() - kept;
            assert!(
                got[..kept].iter().eq(model.unacked.iter().skip(lost)),
                "not a suffix of the older records"
            );
            assert_eq!(dropped, lost as u64);
            // Drops must be needed: with this much room nothing may go.
            let all = model.unacked.iter().chain(batch.iter());
            let frames: u64 = all
                .clone()
                .map(|(_, p)| p.len() as u64 + RECORD_OVERHEAD)
                .sum();
            if frames + SEGMENT_BYTES + SEGMENT_OVERHEAD * all.count() as u64 <= MAX_BYTES {
                assert_eq!(lost, 0, "dropped records with room to spare");
            }
            model.unacked.drain(..lost);
            model.unacked.extend(batch);
            model.dropped += lost as u64;
            model.last = seq - 1;
        }
        Op::Ack(k) => {
            let span = model.last - model.acked + 3;
            let n = (model.acked + u64::from(k) % span).saturating_sub(1);
            spool.ack(n).unwrap();
            if n > model.acked {
                // A new ack rewrites the ledger, which then holds the last seq too.
                model.acked = n;
                model.last = model.last.max(n);
                model.persisted_floor = model.last;
            }
            let acked = model.acked;
            model.unacked.retain(|(s, _)| *s > acked);
        }
        Op::ReadAfter(k) => {
            let after = u64::from(k) % (model.last + 2);
            let want = model.records_after(after);
            assert_eq!(
                pairs(spool.read_after(after, usize::MAX, usize::MAX).unwrap()),
                want
            );
            let (max_records, max_bytes) = (1 + usize::from(k % 5), usize::from(k % 300));
            let part = pairs(spool.read_after(after, max_records, max_bytes).unwrap());
            assert!(part.len() <= max_records && want.starts_with(&part));
            let bytes: usize = part.iter().map(|(_, p)| p.len()).sum();
            assert!(
                bytes <= max_bytes || part.len() == 1,
                "{bytes} bytes over {max_bytes}"
            );
            assert!(
                !part.is_empty() || want.is_empty(),
                "nothing returned while records wait"
            );
        }
        Op::RaiseFloor(k) => {
            let n = (model.last + u64::from(k % 6)).saturating_sub(2);
            spool.raise_seq_floor(n).unwrap();
            if n > model.last {
                model.last = n;
                model.persisted_floor = n;
            }
        }
        Op::Reopen => {
            drop(spool);
            return Spool::open(dir, options()).unwrap();
        }
        Op::Crash { cut, garbage } => {
            drop(spool);
            if let Some(newest) = segment_files(dir).pop() {
                let mut file = OpenOptions::new().append(true).open(&newest).unwrap();
                if let Some(cut) = cut {
                    let len = file.metadata().unwrap().len();
                    file.set_len(len * u64::from(cut) / u64::from(u16::MAX))
                        .unwrap();
                }
                file.write_all(&garbage).unwrap();
            }
            let mut fresh = Spool::open(dir, options()).unwrap();
            let got = read_all(&mut fresh);
            assert!(
                got.iter().eq(model.unacked.iter().take(got.len())),
                "after a crash: not a prefix"
            );
            model.unacked.truncate(got.len());
            let floor = model
                .persisted_floor
                .max(model.acked)
                .max(got.last().map_or(0, |r| r.0));
            let last = fresh.last_seq();
            assert!(
                floor <= last && last <= model.last,
                "last_seq {last} outside {floor}..={}",
                model.last
            );
            model.last = last;
            return fresh;
        }
    }
    spool
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn spool_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), options()).unwrap();
        let mut model = Model::default();
        for op in ops {
            spool = apply(spool, &mut model, dir.path(), op);
            check(&mut spool, &model, dir.path());
        }
    }
}
