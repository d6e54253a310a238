//! Results a collector refused for good, set aside on this agent.
//!
//! An older collector refuses a whole batch when one result names something it cannot
//! take, and says so with `invalid_argument`: resending the same batch can never succeed,
//! and every later result would wait behind it until the spool overflows. The uplink then
//! resends one result at a time (`uplink.rs`), and the one refused alone is set aside here:
//! logged once with the collector's words, counted, written to a bounded file beside the
//! spool (`<spool dir>.refused`), and acked in the spool so the link moves on. The line holds
//! the seq, the check name and the collector's message, never the result's contents.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The file is cut back to its newer half past this size.
const MAX_FILE_BYTES: usize = 64 * 1024;
/// Characters of the collector's message and of the check name kept.
const MAX_MESSAGE: usize = 512;
const MAX_CHECK: usize = 128;

/// The grpc codes that say a batch can never be taken as sent. Everything else
/// (unavailable, deadline, resource exhausted, internal, ...) is resent after the backoff.
pub fn permanent(code: tonic::Code) -> bool {
    matches!(code, tonic::Code::InvalidArgument)
}

/// The record of refused results. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Refused {
    file: Option<PathBuf>,
    total: Arc<AtomicU64>,
}

/// At most `max` characters, control characters escaped (so a line cannot be forged).
pub fn escaped(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars().take(max) {
        match c.is_control() {
            true => out.extend(c.escape_default()),
            false => out.push(c),
        }
    }
    out
}

impl Refused {
    /// Records beside the spool directory (`<spool dir>.refused`).
    pub fn beside(spool_dir: &Path) -> Refused {
        let mut name = spool_dir.as_os_str().to_owned();
        name.push(".refused");
        Refused {
            file: Some(PathBuf::from(name)),
            total: Arc::default(),
        }
    }

    /// Sets a result aside: logged (once: the uplink never sends it again), counted and
    /// written down. A file that cannot be written is said and does not stop the link.
    pub async fn set_aside(&self, seq: u64, check: &str, message: &str) {
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let check = escaped(check, MAX_CHECK);
        let message = escaped(message, MAX_MESSAGE);
        tracing::error!(
            seq,
            check = %check,
            collector_said = %message,
            refused_total = total,
            "the collector refuses this result for good (an older collector that does not know it?): it is set aside and the agent moves on; upgrade the collector"
        );
        let Some(file) = self.file.clone() else {
            return;
        };
        let line = format!(
            "{} seq={seq} check={check} collector: {message}\n",
            eceprobe_proto::now_ms()
        );
        let written = tokio::task::spawn_blocking(move || append_bounded(&file, &line)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(
                file = %self.file.as_deref().unwrap_or(Path::new("")).display(),
                error = %eceprobe_checks::words::io(&e),
                "cannot write the record of refused results; the result is still set aside"
            ),
            Err(_) => tracing::warn!("the record of refused results was not written"),
        }
    }
}

/// Appends a line; past [`MAX_FILE_BYTES`] keeps only the newer half (whole lines).
fn append_bounded(file: &Path, line: &str) -> std::io::Result<()> {
    let mut text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    text.push_str(line);
    if text.len() > MAX_FILE_BYTES {
        let mut cut = text.len() - MAX_FILE_BYTES / 2;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        let start = text[cut..].find('\n').map_or(text.len(), |i| cut + i + 1);
        text.drain(..start);
    }
    let tmp = file.with_extension("refused.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_stays_bounded_and_keeps_the_newest_lines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spool.refused");
        for i in 0..2_000 {
            append_bounded(&file, &format!("line {i} {}\n", "x".repeat(60))).unwrap();
        }
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.len() <= MAX_FILE_BYTES, "{}", text.len());
        assert!(text.starts_with("line "), "whole lines");
        assert!(text.ends_with(&format!("line 1999 {}\n", "x".repeat(60))));
    }

    #[test]
    fn a_collectors_words_cannot_forge_log_lines() {
        let said = escaped(&format!("bad\nFAKE line 'x' {}", "y".repeat(2000)), 512);
        assert!(said.starts_with("bad\\nFAKE line 'x' yy"), "{said}");
        assert!(!said.contains('\n'));
        assert!(said.chars().count() <= 513);
    }

    #[test]
    fn only_invalid_argument_is_for_good() {
        assert!(permanent(tonic::Code::InvalidArgument));
        for code in [
            tonic::Code::Unavailable,
            tonic::Code::DeadlineExceeded,
            tonic::Code::ResourceExhausted,
            tonic::Code::Internal,
        ] {
            assert!(!permanent(code), "{code:?}");
        }
    }
}
