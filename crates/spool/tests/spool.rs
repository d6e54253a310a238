//! The spool's behaviour case by case: crashes, damage, the budget, acks, seq rules, locking.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use eceprobe_spool::{Spool, SpoolError, SpoolOptions};

fn small() -> SpoolOptions {
    SpoolOptions::new(4096).with_segment_bytes(512)
}

/// 84 bytes: a frame of 100 with its 16-byte header, 5 to a 512-byte segment (8-byte header).
fn payload(seq: u64) -> Vec<u8> {
    format!("result number {seq:>6} {}", ".".repeat(63)).into_bytes()
}

/// Appends one batch per seq in `seqs`, returning how many records were dropped.
fn append_each(spool: &mut Spool, seqs: impl IntoIterator<Item = u64>) -> u64 {
    seqs.into_iter()
        .map(|s| spool.append(&[(s, payload(s))]).unwrap())
        .sum()
}

fn seqs(spool: &mut Spool) -> Vec<u64> {
    let records = spool.read_after(0, usize::MAX, usize::MAX).unwrap();
    for r in &records {
        assert_eq!(r.payload, payload(r.seq), "payload of seq {}", r.seq);
    }
    records.iter().map(|r| r.seq).collect()
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

#[test]
fn torn_tail_is_cut_and_the_spool_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    append_each(&mut spool, 1..=5);
    drop(spool);

    // A crash in the middle of writing seq 5's frame, then stray bytes of a next one.
    let newest = segment_files(dir.path()).pop().unwrap();
    let len = fs::metadata(&newest).unwrap().len();
    let file = OpenOptions::new().write(true).open(&newest).unwrap();
    file.set_len(len - 7).unwrap();
    drop(file);
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(seqs(&mut spool), vec![1, 2, 3, 4]);
    assert_eq!(spool.last_seq(), 4);
    assert_eq!(
        spool.stats().dropped_total,
        0,
        "a torn tail was never stored: not a drop"
    );

    spool.append(&[(5, payload(5)), (6, payload(6))]).unwrap();
    drop(spool);
    let mut file = OpenOptions::new()
        .append(true)
        .open(segment_files(dir.path()).pop().unwrap())
        .unwrap();
    file.write_all(&[0x55; 40]).unwrap();
    drop(file);
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(seqs(&mut spool), vec![1, 2, 3, 4, 5, 6]);
    append_each(&mut spool, 7..=8);
    drop(spool);
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(seqs(&mut spool), (1..=8).collect::<Vec<_>>());
}

#[test]
fn damage_inside_an_older_segment_cuts_it_and_counts_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    append_each(&mut spool, 1..=20);
    drop(spool);
    let files = segment_files(dir.path());
    assert!(files.len() >= 3, "{files:?}");
    // 100-byte frames after an 8-byte header: damage seq 3's payload in the oldest segment.
    let mut bytes = fs::read(&files[0]).unwrap();
    let per_segment = (bytes.len() - 8) / 100;
    bytes[8 + 2 * 100 + 40] ^= 0xff;
    fs::write(&files[0], &bytes).unwrap();

    let mut spool = Spool::open(dir.path(), small()).unwrap();
    let lost = per_segment as u64 - 2;
    let expected: Vec<u64> = [1, 2]
        .into_iter()
        .chain(per_segment as u64 + 1..=20)
        .collect();
    assert_eq!(seqs(&mut spool), expected);
    assert_eq!(spool.stats().dropped_total, lost);
    assert_eq!(
        fs::metadata(&files[0]).unwrap().len(),
        8 + 2 * 100,
        "cut after seq 2"
    );
    drop(spool);
    let spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(spool.stats().dropped_total, lost, "counted once");
}

/// Found by the fuzz target `spool_recovery`: a well-formed ledger another program wrote with
/// a drop count near u64::MAX overflowed on open (a panic with overflow checks, a count
/// wrapping to a small number without). The count saturates.
#[test]
fn a_drop_count_at_its_maximum_stays_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    append_each(&mut spool, 1..=20);
    drop(spool);
    let files = segment_files(dir.path());
    let mut bytes = fs::read(&files[0]).unwrap();
    bytes[8 + 2 * 100 + 40] ^= 0xff;
    fs::write(&files[0], &bytes).unwrap();
    let ledger = eceprobe_spool::fuzzing::ledger_bytes(0, 0, 20, u64::MAX - 1);
    fs::write(dir.path().join("ledger"), ledger).unwrap();

    // Damage inside an older segment: records lost on open.
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(spool.stats().dropped_total, u64::MAX);
    assert_eq!(seqs(&mut spool)[..2], [1, 2]);
    // The budget's evictions count too.
    assert!(append_each(&mut spool, 21..=80) > 0);
    assert_eq!(spool.stats().dropped_total, u64::MAX);
    drop(spool);
    let spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(spool.stats().dropped_total, u64::MAX);
}

#[test]
fn damage_found_on_read_is_cut_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    append_each(&mut spool, 1..=6);
    // The disk goes bad under an open spool: seq 4's payload, in the oldest segment.
    let file = &segment_files(dir.path())[0];
    let mut bytes = fs::read(file).unwrap();
    bytes[8 + 3 * 100 + 30] ^= 0x01;
    fs::write(file, &bytes).unwrap();
    assert_eq!(seqs(&mut spool), vec![1, 2, 3, 6]);
    assert_eq!(spool.stats().dropped_total, 2);
    spool.append(&[(7, payload(7))]).unwrap();
    assert_eq!(seqs(&mut spool), vec![1, 2, 3, 6, 7]);
    drop(spool);
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(
        (seqs(&mut spool), spool.stats().dropped_total),
        (vec![1, 2, 3, 6, 7], 2)
    );
}

#[test]
fn a_full_spool_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    let dropped = append_each(&mut spool, 1..=100);
    let st = spool.stats();
    assert!(dropped > 0 && st.dropped_total == dropped, "{st:?}");
    assert!(st.bytes <= 4096, "{st:?}");
    let kept = seqs(&mut spool);
    assert_eq!(
        kept,
        (dropped + 1..=100).collect::<Vec<_>>(),
        "the oldest go first"
    );
    assert!(
        kept.len() >= 30,
        "a budget of 4096 bytes keeps most of its 100-byte records: {}",
        kept.len()
    );
    drop(spool);
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(
        spool.stats().dropped_total,
        dropped,
        "dropped_total persists"
    );
    assert_eq!(seqs(&mut spool), kept);
    drop(spool);

    // Reopened with a smaller budget: the oldest go at once.
    let mut spool =
        Spool::open(dir.path(), SpoolOptions::new(2048).with_segment_bytes(512)).unwrap();
    let st = spool.stats();
    assert!(st.bytes <= 2048 && st.dropped_total > dropped, "{st:?}");
    assert_eq!(
        seqs(&mut spool),
        (st.dropped_total + 1..=100).collect::<Vec<_>>()
    );
}

#[test]
fn acks_delete_delivered_segments_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    append_each(&mut spool, 1..=20);
    let before = segment_files(dir.path());
    assert_eq!(before.len(), spool.stats().segments);
    spool.ack(7).unwrap();
    let after = segment_files(dir.path());
    assert!(
        !after.contains(&before[0]) && after.len() == before.len() - 1,
        "{before:?} -> {after:?}"
    );
    assert_eq!(spool.read_after(0, 1, usize::MAX).unwrap()[0].seq, 8);
    spool.ack(3).unwrap(); // an older ack changes nothing
    drop(spool);

    let mut spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(spool.acked_seq(), 7);
    assert_eq!(
        seqs(&mut spool),
        (8..=20).collect::<Vec<_>>(),
        "acked records are not resent"
    );
    spool.ack(20).unwrap();
    assert!(segment_files(dir.path()).is_empty());
    assert_eq!(spool.stats().bytes, 0);
}

#[test]
fn last_seq_survives_emptiness_and_floors() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    append_each(&mut spool, 1..=3);
    spool.ack(3).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!((spool.last_seq(), spool.stats().records), (3, 0));
    assert!(matches!(
        spool.append(&[(3, b"again")]),
        Err(SpoolError::SeqNotIncreasing { seq: 3, last: 3 })
    ));

    // The collector's Welcome says it has up to 1000 (this spool was wiped once).
    spool.raise_seq_floor(1000).unwrap();
    spool.raise_seq_floor(10).unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(spool.last_seq(), 1000);
    let err = spool.append(&[(1000, b"x")]).unwrap_err();
    assert!(err.to_string().contains("must be > 1000"), "{err}");
    spool.append(&[(1001, b"x")]).unwrap();

    // An ack above anything written raises the floor too.
    spool.ack(5000).unwrap();
    assert_eq!(spool.last_seq(), 5000);
}

#[test]
fn oversized_records_and_batches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    append_each(&mut spool, 1..=2);

    let huge = vec![0u8; 4096];
    let err = spool.append(&[(3, huge.as_slice())]).unwrap_err();
    assert!(
        matches!(
            err,
            SpoolError::RecordTooLarge {
                seq: 3,
                len: 4096,
                max: 4072,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("at most 4072 bytes"), "{err}");
    spool.append(&[(3, vec![1u8; 4072])]).unwrap(); // the largest that fits, alone
    assert_eq!(spool.stats().records, 1);
    assert_eq!(spool.stats().dropped_total, 2);

    let batch: Vec<(u64, Vec<u8>)> = (4..=50).map(|s| (s, payload(s))).collect();
    let err = spool.append(&batch).unwrap_err();
    assert!(
        matches!(err, SpoolError::BatchTooLarge { records: 47, .. }),
        "{err}"
    );
    let err = spool.append(&[(5, b"a"), (5, b"b")]).unwrap_err();
    assert!(
        matches!(err, SpoolError::SeqNotIncreasing { seq: 5, last: 5 }),
        "{err}"
    );
    assert_eq!((spool.last_seq(), spool.stats().records), (3, 1));
    assert_eq!(spool.append::<&[u8]>(&[]).unwrap(), 0);
}

#[test]
fn reads_are_bounded_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    append_each(&mut spool, 1..=12);
    let seqs_of = |r: Vec<eceprobe_spool::Record>| r.iter().map(|r| r.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs_of(spool.read_after(3, 4, usize::MAX).unwrap()),
        vec![4, 5, 6, 7]
    );
    assert_eq!(
        seqs_of(spool.read_after(3, 100, 2 * 84).unwrap()),
        vec![4, 5]
    );
    assert_eq!(
        seqs_of(spool.read_after(3, 100, 1).unwrap()),
        vec![4],
        "one record even if over max_bytes"
    );
    assert!(spool.read_after(12, 100, 100).unwrap().is_empty());
    assert!(spool.read_after(0, 0, 100).unwrap().is_empty());
}

#[test]
fn foreign_files_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    append_each(&mut spool, 1..=3);
    drop(spool);
    fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    fs::write(
        dir.path().join("seg-00000000000000000002.log"),
        "not a segment at all",
    )
    .unwrap();
    fs::write(dir.path().join("seg-00000000000000000009.log"), "").unwrap();
    fs::write(dir.path().join("ledger.tmp"), "half").unwrap();

    let mut spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(seqs(&mut spool), vec![1, 2, 3]);
    assert!(dir.path().join("notes.txt").exists(), "left alone");
    assert!(
        dir.path().join("seg-00000000000000000002.log.bad").exists(),
        "set aside"
    );
    assert!(!dir.path().join("seg-00000000000000000009.log").exists());
    assert!(!dir.path().join("ledger.tmp").exists());
    append_each(&mut spool, 4..=5);
    assert_eq!(seqs(&mut spool), vec![1, 2, 3, 4, 5]);

    fs::write(dir.path().join("ledger"), "garbage").unwrap();
    drop(spool);
    let mut spool = Spool::open(dir.path(), small()).unwrap();
    assert_eq!(
        (seqs(&mut spool).len(), spool.last_seq()),
        (5, 5),
        "a damaged ledger resends"
    );
}

#[test]
fn one_spool_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path(), small()).unwrap();
    let err = Spool::open(dir.path(), small()).unwrap_err();
    assert!(
        matches!(err, SpoolError::Locked { pid, .. } if pid == std::process::id()),
        "{err}"
    );
    assert!(err.to_string().contains("is in use by process"), "{err}");
    drop(spool);
    assert!(!dir.path().join("spool.lock").exists());

    // A lock left by a process that is gone is taken over.
    fs::write(dir.path().join("spool.lock"), "4194304999").unwrap();
    drop(Spool::open(dir.path(), small()).unwrap());
}

#[test]
fn options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let err = Spool::open(dir.path(), SpoolOptions::new(100)).unwrap_err();
    assert!(err.to_string().contains("max_bytes 100 is below"), "{err}");
    let err =
        Spool::open(dir.path(), SpoolOptions::new(4096).with_segment_bytes(8192)).unwrap_err();
    assert!(matches!(err, SpoolError::InvalidOptions(_)), "{err}");
    let d = SpoolOptions::default();
    assert_eq!((d.max_bytes(), d.segment_bytes()), (64 << 20, 4 << 20));
    assert_eq!(SpoolOptions::new(512 << 10).segment_bytes(), 64 << 10);
}

#[test]
fn missing_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/spool");
    let mut spool = Spool::open(&nested, small()).unwrap();
    append_each(&mut spool, 1..=1);
    assert_eq!(spool.dir(), nested.as_path());
    assert_eq!(segment_files(&nested).len(), 1);
}
