//! An event's text for the event log: its message, then each field on a line of its own
//! (`name: value`, the name in words), a note from the limits, a footer; capped in length.
//!
//! Values are what the code logged: `%value` (Display, the agent's convention for anything
//! a person reads) arrives as its Display text; `?value` would arrive as Debug, which the
//! agent keeps for DEBUG-level lines, never at WARN or above.

use std::fmt;

use tracing::field::{Field, Visit};

/// At most this many characters per event (Event Viewer takes 31,839 per string; a longer
/// event is a log line's job). The note and the footer are kept; the body is cut.
pub const MAX_CHARS: usize = 4000;

const CUT: &str = " [...] (cut: the whole event is in the service log)";

/// An event's fields as the layer reads them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fields {
    pub message: String,
    /// The marker `eventlog = <id>`, if the event carries it.
    pub eventlog: Option<u32>,
    /// The other fields, in the order logged.
    pub fields: Vec<(String, String)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = value,
            name => self.fields.push((name.to_owned(), value)),
        }
    }

    fn marker(&mut self, field: &Field, id: Option<u32>) -> bool {
        if field.name() == "eventlog" {
            self.eventlog = id;
            return true;
        }
        false
    }
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if !self.marker(field, u32::try_from(value).ok()) {
            self.push(field, value.to_string());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !self.marker(field, u32::try_from(value).ok()) {
            self.push(field, value.to_string());
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, if value { "yes" } else { "no" }.to_owned());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_owned());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The error's own words and its causes', as the console prints `{:#}`.
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.push(field, text);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.marker(field, None) {
            self.push(field, format!("{value:?}"));
        }
    }
}

/// A field's name in words: `interval_s` -> "interval (seconds)", `first_seq` -> "first seq".
pub fn field_name(name: &str) -> String {
    let (stem, unit) = if let Some(stem) = name.strip_suffix("_ms") {
        (stem, " (ms)")
    } else if let Some(stem) = name.strip_suffix("_s") {
        (stem, " (seconds)")
    } else {
        (name, "")
    };
    format!("{}{unit}", stem.replace('_', " "))
}

/// Control characters other than line breaks and tabs become spaces; `%%` becomes `% %`
/// (Event Viewer reads `%%n` in an inserted string as a parameter message to look up).
fn clean(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            '\r' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    text.replace("%%", "% %")
}

/// The event's text: the message, `name: value` lines, then the note and the footer
/// after a blank line; at most [`MAX_CHARS`] characters.
pub fn text(
    message: &str,
    fields: &[(String, String)],
    note: Option<&str>,
    footer: Option<&str>,
) -> String {
    let mut body = clean(message.trim_end());
    for (name, value) in fields {
        body.push('\n');
        body.push_str(&field_name(name));
        body.push_str(": ");
        body.push_str(&clean(value));
    }
    let tail: Vec<String> = [note, footer].into_iter().flatten().map(clean).collect();
    let tail = if tail.is_empty() {
        String::new()
    } else {
        format!("\n\n{}", tail.join("\n"))
    };
    let room = MAX_CHARS.saturating_sub(tail.chars().count());
    if body.chars().count() > room {
        let keep = room.saturating_sub(CUT.chars().count());
        body = body.chars().take(keep).collect();
        body.push_str(CUT);
    }
    let mut text = body;
    text.push_str(&tail);
    text.chars().take(MAX_CHARS).collect()
}
