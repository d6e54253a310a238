//! The Windows Application event log: a `tracing` layer that writes the events an
//! administrator looks for in Event Viewer, beside the file log (which keeps everything).
//!
//! What goes there (`select`), the one rule to keep in mind when logging:
//! - every ERROR and WARN event of the agent's own code (target `eceprobe_agent*`), as an
//!   error or a warning. The libraries' events (the spool's, the probes', tonic's) stay in
//!   the file log: their words are written for it, and the agent says what they mean for
//!   the service where it handles them (the spool's drop, say, as [`SPOOL_OVERFLOW`]);
//! - an INFO event only when it carries the field `eventlog = <id>` with an id of [`KINDS`]
//!   (`tracing::info!(eventlog = eventlog::SERVICE_STARTED, ...)`): the marker, defined here
//!   and nowhere else. ERROR and WARN events may carry it too, to get their own id. The
//!   file log shows it as `eventlog=1000`: the id to look for in Event Viewer.
//!
//! The text is the message, then each field on a line of its own in words (`words.rs`),
//! capped at [`words::MAX_CHARS`]. A failure loop cannot flood the log (`limit.rs`): the same
//! message is written at most once per 10 minutes, and at most 20 events at once, then one
//! a minute; what was held back is counted in the next event written. The kinds marked
//! `always` (one per process: start, stop, enrollment, the error that stopped the service)
//! pass regardless.
//!
//! Platform-neutral and unit-tested on Linux; the Windows calls are in `win32.rs` (a
//! foreign-call shim) and the event source's registry key is written by `service install`.
//! [`layer`] is the one call that adds it to a subscriber (the service's, and any command
//! that should report there).

mod limit;
#[cfg(windows)]
mod win32;
pub mod words;

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

pub use limit::{Limiter, Limits, Verdict, LIMITS};

/// The agent's events (its library's and its binary's: both crates are `eceprobe_agent`).
const OWN_TARGET: &str = "eceprobe_agent";

/// The event source's name in the Application log (Event Viewer's "Source" column,
/// `Get-WinEvent -ProviderName`), the same as the service's.
pub const SOURCE: &str = "eceprobe-agent";

/// The service started (information).
pub const SERVICE_STARTED: u32 = 1000;
/// The service stopped when asked (information).
pub const SERVICE_STOPPED: u32 = 1001;
/// This server joined with a token and holds its certificate now (information).
pub const ENROLLED: u32 = 1002;
/// The configuration is wrong: the key and the fix (error); the service stops.
pub const CONFIGURATION_ERROR: u32 = 1100;
/// The service stopped on an error other than the configuration (error).
pub const SERVICE_FAILED: u32 = 1101;
/// The spool was full and dropped the oldest unsent results (warning).
pub const SPOOL_OVERFLOW: u32 = 1200;
/// Any other error of the agent.
pub const OTHER_ERROR: u32 = 1900;
/// Any other warning of the agent.
pub const OTHER_WARNING: u32 = 1901;

/// One event id: what it means, and whether the rate limit applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub id: u32,
    pub name: &'static str,
    /// Written whatever the limits say: events that happen once per process.
    pub always: bool,
}

/// Every id the agent writes; `windows/messages.mc` has a message for each (a test checks).
pub const KINDS: &[Kind] = &[
    Kind {
        id: SERVICE_STARTED,
        name: "service started",
        always: true,
    },
    Kind {
        id: SERVICE_STOPPED,
        name: "service stopped",
        always: true,
    },
    Kind {
        id: ENROLLED,
        name: "enrolled with a join token",
        always: true,
    },
    Kind {
        id: CONFIGURATION_ERROR,
        name: "configuration error",
        always: true,
    },
    Kind {
        id: SERVICE_FAILED,
        name: "the service stopped on an error",
        always: true,
    },
    Kind {
        id: SPOOL_OVERFLOW,
        name: "spool full, oldest results dropped",
        always: false,
    },
    Kind {
        id: OTHER_ERROR,
        name: "error",
        always: false,
    },
    Kind {
        id: OTHER_WARNING,
        name: "warning",
        always: false,
    },
];

pub fn kind(id: u32) -> Option<Kind> {
    KINDS.iter().copied().find(|k| k.id == id)
}

/// The three entry types the source registers (TypesSupported = 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    Error,
    Warning,
    Information,
}

/// An event chosen for the log, before the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub entry_type: EntryType,
    pub kind: Kind,
    /// The message alone: what "the same event" means to the repeat limit.
    pub message: String,
    pub fields: Vec<(String, String)>,
}

/// Whether an event goes to the event log, and as what (see the module doc).
pub fn select(target: &str, level: Level, fields: words::Fields) -> Option<Entry> {
    let marked = fields.eventlog.and_then(kind);
    let (entry_type, fallback) = match level {
        Level::ERROR => (EntryType::Error, OTHER_ERROR),
        Level::WARN => (EntryType::Warning, OTHER_WARNING),
        Level::INFO if marked.is_some() => (EntryType::Information, 0),
        _ => return None,
    };
    if marked.is_none() && !target.starts_with(OWN_TARGET) {
        return None;
    }
    let kind = marked.or_else(|| kind(fallback))?;
    Some(Entry {
        entry_type,
        kind,
        message: fields.message,
        fields: fields.fields,
    })
}

/// Where entries are written: the Windows event log, or a test's list.
pub trait Sink: Send + Sync + 'static {
    fn write(&self, entry_type: EntryType, id: u32, text: &str);
}

/// The layer: selects, words, bounds, and hands each entry to its sink.
pub struct EventLogLayer<K: Sink> {
    sink: K,
    limiter: Mutex<Limiter>,
    /// A last line for every event, e.g. where the file log is.
    footer: Option<String>,
}

impl<K: Sink> EventLogLayer<K> {
    pub fn new(sink: K, limits: Limits, footer: Option<String>) -> Self {
        EventLogLayer {
            sink,
            limiter: Mutex::new(Limiter::new(limits)),
            footer,
        }
    }

    /// The event's text, or None when it does not go (not selected, or held back).
    pub fn admit(
        &self,
        target: &str,
        level: Level,
        fields: words::Fields,
        now: Instant,
    ) -> Option<(EntryType, u32, String)> {
        let entry = select(target, level, fields)?;
        let verdict = self
            .limiter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(&entry.message, entry.kind.always, now);
        let Verdict::Write { note } = verdict else {
            return None;
        };
        let text = words::text(
            &entry.message,
            &entry.fields,
            note.as_deref(),
            self.footer.as_deref(),
        );
        Some((entry.entry_type, entry.kind.id, text))
    }
}

impl<S: Subscriber, K: Sink> Layer<S> for EventLogLayer<K> {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = words::Fields::default();
        event.record(&mut fields);
        // No tracing call in here: it would come back to this layer. A write that fails
        // is dropped; the file log has every event anyway.
        if let Some((entry_type, id, text)) =
            self.admit(meta.target(), *meta.level(), fields, Instant::now())
        {
            self.sink.write(entry_type, id, &text);
        }
    }
}

/// Only INFO and above reach the layer, so the many DEBUG and TRACE events of the
/// libraries are not even built for it.
fn info_and_above(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO
}

/// The event log layer for a subscriber (the one call to make; `footer`: a last line for
/// every event, e.g. where the service log is). None where there is no event log (not
/// Windows) or the source cannot be opened; the caller's other logging goes on either way.
pub fn layer<S>(footer: Option<String>) -> Option<Box<dyn Layer<S> + Send + Sync>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let sink = open_sink()?;
    let filter = tracing_subscriber::filter::filter_fn(info_and_above);
    Some(Box::new(
        EventLogLayer::new(sink, LIMITS, footer).with_filter(filter),
    ))
}

#[cfg(windows)]
fn open_sink() -> Option<WindowsSink> {
    match win32::Source::register(SOURCE) {
        Ok(source) => Some(WindowsSink(source)),
        Err(e) => {
            // Logging is not set up yet, and a service has no console: say it on stderr
            // for a command, and let the file log go on.
            eprintln!("eceprobe-agent: cannot open the Application event log as '{SOURCE}': {e}; events go to the file log only");
            None
        }
    }
}

#[cfg(not(windows))]
fn open_sink() -> Option<NoEventLog> {
    None
}

/// Elsewhere there is no event log: `layer` gives None.
#[cfg(not(windows))]
struct NoEventLog;

#[cfg(not(windows))]
impl Sink for NoEventLog {
    fn write(&self, _: EntryType, _: u32, _: &str) {}
}

#[cfg(windows)]
struct WindowsSink(win32::Source);

#[cfg(windows)]
impl Sink for WindowsSink {
    fn write(&self, entry_type: EntryType, id: u32, text: &str) {
        let entry_type = match entry_type {
            EntryType::Error => win32::EntryType::Error,
            EntryType::Warning => win32::EntryType::Warning,
            EntryType::Information => win32::EntryType::Information,
        };
        // Event Viewer breaks lines on CR LF.
        let _ = self.0.report(entry_type, id, &text.replace('\n', "\r\n"));
    }
}

/// Whether an error that stopped the agent is its configuration's (a `ConfigError` in its
/// chain): the service reports it as [`CONFIGURATION_ERROR`].
pub fn is_configuration_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<crate::config_error::ConfigError>()
            .is_some()
    })
}

#[cfg(test)]
#[path = "eventlog/tests.rs"]
pub(crate) mod tests;
