//! Windows only: the event log's three calls (`RegisterEventSourceW`, `ReportEventW`,
//! `DeregisterEventSource`). One of the foreign-call shims allowed `unsafe` (`.ci/run`
//! lists them); everything else about the event log is in `eventlog.rs`.
//!
//! Each event is one string, inserted as `%1` into the message of its id in the agent's
//! message table (`windows/messages.mc`, linked into the exe by build.rs), which is how
//! Event Viewer shows the text without "The description for Event ID ... cannot be found".

#![allow(unsafe_code)]

use std::io;

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, RegisterEventSourceW, ReportEventW, EVENTLOG_ERROR_TYPE,
    EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
};

#[derive(Debug, Clone, Copy)]
pub enum EntryType {
    Error,
    Warning,
    Information,
}

/// An open event source of the local Application log.
pub struct Source(HANDLE);

// SAFETY: an event log handle is not tied to the thread that opened it; ReportEventW may be
// called on it from any thread, concurrently (the API serialises writes itself).
unsafe impl Send for Source {}
// SAFETY: as above; `&Source` only ever calls ReportEventW.
unsafe impl Sync for Source {}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16()
        .map(|u| if u == 0 { u16::from(b' ') } else { u })
        .chain(Some(0))
        .collect()
}

impl Source {
    /// Opens the source `name` on this machine. It works (Windows maps an unregistered
    /// name to the Application log) even before `service install` wrote the source's key;
    /// the key is what lets Event Viewer find the message table.
    pub fn register(name: &str) -> io::Result<Source> {
        let name = wide(name);
        // SAFETY: a null server name means this machine; `name` is a NUL-terminated UTF-16
        // string that outlives the call.
        let handle = unsafe { RegisterEventSourceW(std::ptr::null(), name.as_ptr()) };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Source(handle))
    }

    /// Writes one event: `text` as the event's only string (NULs become spaces).
    pub fn report(&self, entry_type: EntryType, id: u32, text: &str) -> io::Result<()> {
        let entry_type = match entry_type {
            EntryType::Error => EVENTLOG_ERROR_TYPE,
            EntryType::Warning => EVENTLOG_WARNING_TYPE,
            EntryType::Information => EVENTLOG_INFORMATION_TYPE,
        };
        let text = wide(text);
        let strings = [text.as_ptr()];
        // SAFETY: the handle is open (closed only in Drop); `strings` holds one pointer to a
        // NUL-terminated UTF-16 string, both outliving the call; no user SID, no raw data.
        let ok = unsafe {
            ReportEventW(
                self.0,
                entry_type,
                0,
                id,
                std::ptr::null_mut(),
                1,
                0,
                strings.as_ptr(),
                std::ptr::null(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        // SAFETY: the handle came from RegisterEventSourceW and is closed once, here.
        unsafe {
            DeregisterEventSource(self.0);
        }
    }
}
