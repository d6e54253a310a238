//! The bounded line reader (checks/src/lines.rs) over a server's bytes, with small limits
//! taken from the first two bytes: memory and input stay within the bounds, whatever comes.
#![no_main]

use eceprobe_checks::fuzzing::read_lines;
use eceprobe_checks::{FailureKind, LineLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [a, b, stream @ ..] = data else { return };
    let limits = LineLimits {
        max_line: 1 + usize::from(*a),
        max_total: 1 + u64::from(*b) * 8,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    let (lines, (kind, detail), received) = rt.block_on(read_lines(stream, limits));
    // One read never takes more than the room left in a line.
    assert!(received <= limits.max_total + limits.max_line as u64);
    assert!(received <= stream.len() as u64);
    for line in &lines {
        // Lossy decoding may widen a byte to U+FFFD, never add characters.
        assert!(
            line.chars().count() < limits.max_line,
            "{} chars",
            line.len()
        );
        assert!(!line.contains('\n'));
    }
    let consumed: usize = lines.iter().map(|l| l.chars().count()).sum();
    assert!(consumed <= received as usize);
    assert!(
        matches!(
            kind,
            FailureKind::ProtocolClosed
                | FailureKind::ProtocolLineTooLong
                | FailureKind::ProtocolTooMuchData
        ),
        "{kind:?}: {detail}"
    );
    assert!(!detail.is_empty());
});
