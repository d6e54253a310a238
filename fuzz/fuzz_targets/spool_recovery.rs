//! Opening a spool directory (spool/src/recover.rs, ledger.rs, spool.rs) as a crash, a full
//! disk or another program may leave it: a ledger (damaged, or well-formed with any
//! numbers) and up to three segment files with any names and bytes. Damage is never fatal:
//! the spool opens, never returns a record twice, out of order or at or below the acked
//! seq, takes a new record above its last seq, and after reopening has lost neither the
//! ack nor the seq floor.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use eceprobe_spool::fuzzing::{ledger_bytes, segment_name, SEGMENT_MAGIC};
use eceprobe_spool::{Spool, SpoolOptions};
use libfuzzer_sys::fuzz_target;

/// This process's spool folder, on tmpfs where there is one (the spool fsyncs).
fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        base.join(format!("eceprobe-fuzz-spool-{}", std::process::id()))
    })
}

/// Takes from the input, zeros past its end.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn take(&mut self, n: usize) -> Vec<u8> {
        let n_here = n.min(self.0.len());
        let mut out = self.0[..n_here].to_vec();
        self.0 = &self.0[n_here..];
        out.resize(n, 0);
        out
    }
    fn u64(&mut self) -> u64 {
        let b = self.take(8);
        u64::from_le_bytes(b.try_into().expect("8 bytes"))
    }
    fn u16(&mut self) -> u16 {
        let b = self.take(2);
        u16::from_le_bytes([b[0], b[1]])
    }
}

fn check_reads(spool: &mut Spool) -> Vec<u64> {
    let records = spool
        .read_after(0, 100_000, 1 << 20)
        .expect("a read of a spool on tmpfs");
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    for w in seqs.windows(2) {
        assert!(w[0] < w[1], "records out of order: {seqs:?}");
    }
    if let Some(first) = seqs.first() {
        assert!(
            *first > spool.acked_seq(),
            "acked record returned: {seqs:?}"
        );
    }
    if let Some(last) = seqs.last() {
        assert!(*last <= spool.last_seq());
    }
    seqs
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let flags = input.take(1)[0];
    let dir = dir();
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("the fuzz target's own folder");
    if flags & 1 != 0 {
        let bytes = if flags & 2 != 0 {
            ledger_bytes(input.u64(), input.u64(), input.u64(), input.u64())
        } else {
            input.take(44)
        };
        std::fs::write(dir.join("ledger"), bytes).expect("write the ledger");
    }
    let ack = input.u64();
    for _ in 0..(flags >> 2) & 3 {
        let first = u64::from(input.take(1)[0]);
        let len = usize::from(input.u16() % 4096);
        let mut bytes = Vec::new();
        if flags & 16 != 0 {
            bytes.extend_from_slice(SEGMENT_MAGIC);
        }
        bytes.extend(input.take(len.min(input.0.len())));
        std::fs::write(dir.join(segment_name(first)), bytes).expect("write a segment");
    }

    let options = SpoolOptions::new(4096);
    let (last, acked) = {
        let mut spool = Spool::open(dir, options).expect("damage is never fatal");
        check_reads(&mut spool);
        let before = spool.last_seq();
        match before.checked_add(1) {
            Some(next) => {
                spool
                    .append(&[(next, b"a result".as_slice())])
                    .expect("an append above the last seq");
                assert_eq!(spool.last_seq(), next);
                let seqs = check_reads(&mut spool);
                assert_eq!(
                    seqs.last(),
                    Some(&next),
                    "the new record is not the last one"
                );
            }
            None => assert!(spool.append(&[(before, b"x".as_slice())]).is_err()),
        }
        let acked_before = spool.acked_seq();
        spool.ack(ack).expect("an ack");
        assert_eq!(spool.acked_seq(), acked_before.max(ack));
        check_reads(&mut spool);
        (spool.last_seq(), spool.acked_seq())
    };
    let mut spool = Spool::open(dir, options).expect("reopening what this spool wrote");
    assert!(
        spool.last_seq() >= last,
        "seq went back from {last} to {}",
        spool.last_seq()
    );
    assert_eq!(spool.acked_seq(), acked);
    check_reads(&mut spool);
    drop(spool);
    let _ = std::fs::remove_dir_all(dir);
});
