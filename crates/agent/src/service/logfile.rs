//! A size-rotated log file for the Windows service, which has no terminal: `agent.log`
//! grows to `max_bytes`, then becomes `agent.log.1` (`.1` becomes `.2`, and so on) and a
//! new `agent.log` starts; at most `keep` files exist, the oldest is deleted.
//!
//! Platform independent (tested on Linux), used by the Windows service. One `Mutex` guards
//! the file: tracing-subscriber formats an event into a buffer and writes it in one call, so
//! an event never straddles two files and never interleaves with another thread's.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// The rotating log: give it to `tracing_subscriber::fmt().with_writer(..)`.
pub struct RotatingLog {
    state: Mutex<State>,
}

struct State {
    dir: PathBuf,
    name: String,
    max_bytes: u64,
    keep: usize,
    /// Opened on the first write, so creating the writer never touches the disk.
    file: Option<File>,
    /// Bytes in the current file.
    size: u64,
}

impl RotatingLog {
    /// `dir/name`, rotated when the next write would take it past `max_bytes`, keeping
    /// `keep` files in all (the current one included; at least 1). `dir` is created on
    /// the first write if missing.
    pub fn new(dir: impl Into<PathBuf>, name: &str, max_bytes: u64, keep: usize) -> Self {
        RotatingLog {
            state: Mutex::new(State {
                dir: dir.into(),
                name: name.to_owned(),
                max_bytes: max_bytes.max(1),
                keep: keep.max(1),
                file: None,
                size: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves at worst a partial line: keep logging.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn current(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    fn numbered(&self, n: usize) -> PathBuf {
        self.dir.join(format!("{}.{n}", self.name))
    }

    fn open(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            std::fs::create_dir_all(&self.dir)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.current())?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
        }
        match self.file.as_mut() {
            Some(file) => Ok(file),
            None => Err(io::Error::other("log file not open")),
        }
    }

    /// `name.(keep-2)` -> `name.(keep-1)`, ..., `name` -> `name.1`; the oldest is replaced.
    /// The file is closed first: Windows does not rename an open file.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.keep == 1 {
            return remove_if_present(&self.current());
        }
        remove_if_present(&self.numbered(self.keep - 1))?;
        for n in (1..self.keep - 1).rev() {
            rename_if_present(&self.numbered(n), &self.numbered(n + 1))?;
        }
        rename_if_present(&self.current(), &self.numbered(1))
    }

    fn write_record(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.file.is_none() {
            self.open()?;
        }
        let len = buf.len() as u64;
        if self.size > 0 && self.size.saturating_add(len) > self.max_bytes {
            // If the rotation fails (say, another program holds agent.log open), keep
            // appending to the current file and try again on the next write: a log line
            // is worth more than the size limit.
            if let Err(e) = self.rotate() {
                let _ = self.open();
                let _ = writeln!(io::stderr(), "eceprobe-agent: rotating the log: {e}");
            }
        }
        let written = self.open()?.write(buf)?;
        self.size += written as u64;
        Ok(written)
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The end of a log from its last ERROR line (an error's message can span lines), at most
/// `max_lines`; the last `max_lines` lines when there is no error.
pub fn last_error(log: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let from = lines
        .iter()
        .rposition(|l| l.contains(" ERROR "))
        .unwrap_or(0)
        .max(lines.len().saturating_sub(max_lines));
    lines.get(from..).unwrap_or_default().join("\n")
}

/// One event's writer: holds the lock while tracing writes the formatted event.
pub struct LogWriter<'a>(MutexGuard<'a, State>);

impl Write for LogWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_record(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.0.file.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for RotatingLog {
    type Writer = LogWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter(self.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<(String, u64)> {
        let mut out: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn line(log: &RotatingLog, text: &str) {
        let mut w = log.make_writer();
        w.write_all(text.as_bytes()).unwrap();
        w.flush().unwrap();
    }

    #[test]
    fn rotates_at_the_limit_and_keeps_that_many_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("logs"); // created on the first write
        let log = RotatingLog::new(&dir, "agent.log", 100, 3);
        assert!(!dir.exists(), "creating the writer touches no disk");
        for i in 0..12 {
            // 40 bytes each: two fit under 100, the third rotates.
            line(&log, &format!("line {i:02} {}\n", "x".repeat(31)));
        }
        let names = files(&dir);
        assert_eq!(
            names.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["agent.log", "agent.log.1", "agent.log.2"],
            "{names:?}"
        );
        assert!(names.iter().all(|(_, len)| *len <= 100), "{names:?}");
        let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
        // 12 lines, 2 per file: the newest in agent.log, older ones shifted, the rest gone.
        assert!(read("agent.log").starts_with("line 10"));
        assert!(read("agent.log").contains("line 11"));
        assert!(read("agent.log.1").starts_with("line 08"));
        assert!(read("agent.log.2").starts_with("line 06"));
    }

    #[test]
    fn appends_to_an_existing_file_and_counts_its_size() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("agent.log"), "x".repeat(90)).unwrap();
        let log = RotatingLog::new(tmp.path(), "agent.log", 100, 2);
        line(&log, "12345\n"); // 96: still fits
        assert_eq!(files(tmp.path()), [("agent.log".to_string(), 96)]);
        line(&log, "12345\n"); // 102: rotates
        assert_eq!(
            files(tmp.path()),
            [
                ("agent.log".to_string(), 6),
                ("agent.log.1".to_string(), 96)
            ]
        );
    }

    #[test]
    fn a_record_larger_than_the_limit_is_written_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let log = RotatingLog::new(tmp.path(), "agent.log", 10, 1);
        line(&log, &"y".repeat(25));
        line(&log, &"z".repeat(25));
        // keep = 1: no numbered files, the old content is dropped at rotation.
        assert_eq!(files(tmp.path()), [("agent.log".to_string(), 25)]);
        let text = std::fs::read_to_string(tmp.path().join("agent.log")).unwrap();
        assert_eq!(text, "z".repeat(25));
    }

    #[test]
    fn the_tail_starts_at_the_last_error() {
        let log = "a INFO started\nb ERROR first\nc INFO again\nd ERROR the agent stopped: x\n  |\n2 | role\nunknown variant\n";
        assert_eq!(
            last_error(log, 12),
            "d ERROR the agent stopped: x\n  |\n2 | role\nunknown variant"
        );
        assert_eq!(last_error(log, 2), "2 | role\nunknown variant");
        assert_eq!(last_error("x INFO one\ny INFO two\n", 1), "y INFO two");
        assert_eq!(last_error("", 5), "");
    }

    #[test]
    fn tracing_events_land_in_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(RotatingLog::new(tmp.path(), "agent.log", 10 * 1024, 5))
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(spool = "C:\\x", "agent running");
        });
        let text = std::fs::read_to_string(tmp.path().join("agent.log")).unwrap();
        assert!(
            text.contains("WARN") && text.contains("agent running"),
            "{text}"
        );
    }
}
