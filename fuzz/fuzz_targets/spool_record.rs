//! The spool's record reader (spool/src/frame.rs) over a segment's bytes as a crash, a full
//! disk or another program may leave them: the scan stops at the first defect, and what it
//! accepts is exactly what the writer would have written.
#![no_main]

use eceprobe_spool::fuzzing::{decode, encode, scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [prev, buf @ ..] = data else { return };
    let prev = u64::from(*prev % 4);
    let (entries, end, defect) = scan(buf, 0, prev);
    assert!(end <= buf.len() as u64);
    assert_eq!(defect.is_none(), end == buf.len() as u64);
    let mut at = 0u64;
    let mut last = prev;
    for (seq, offset, len) in entries {
        assert_eq!(offset, at);
        assert!(seq > last);
        let frame = &buf[offset as usize..];
        let record = decode(frame).expect("a scanned record decodes");
        assert_eq!((record.seq, record.payload.len()), (seq, len as usize));
        let written = encode(seq, record.payload);
        assert_eq!(&frame[..written.len()], &written[..]);
        at += written.len() as u64;
        last = seq;
    }
    assert_eq!(at, end);
});
