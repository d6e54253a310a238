//! The Prometheus text exposition format, version 0.0.4 (`text/plain; version=0.0.4`), as a
//! small writer: every family opens with its HELP and TYPE lines and keeps its samples
//! together; label values and HELP text are escaped as the format says.
//!
//! Why not the `prometheus-client` crate (docs/ARCHITECTURE.md, "Dependencies"): it is a
//! registry of long-lived metric objects that the program updates, while /metrics renders
//! the gap evaluation's view of the fleet (60,000 series at 10,000 servers); and it writes
//! OpenMetrics only. This writer is checked by `promtool check metrics` on a real scrape
//! (tests/metrics_promtool.rs).

use std::fmt::Write;

use bytes::Bytes;

use crate::check_durations::{Buckets, BOUNDS_S};

/// The Content-Type a `/metrics` response carries.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The text being built.
pub struct Exposition {
    pub text: String,
}

/// A family's type, as its TYPE line says it.
#[derive(Clone, Copy)]
pub enum Type {
    Gauge,
    Counter,
    Histogram,
}

impl Exposition {
    pub fn with_capacity(bytes: usize) -> Exposition {
        Exposition {
            text: String::with_capacity(bytes),
        }
    }

    /// The text as shared bytes (no copy).
    pub fn into_bytes(self) -> Bytes {
        Bytes::from(self.text)
    }

    /// The HELP and TYPE lines that open a family.
    pub fn family(&mut self, name: &str, kind: Type, help: &str) {
        self.text.push_str("# HELP ");
        self.text.push_str(name);
        self.text.push(' ');
        escape_into(&mut self.text, help, false);
        self.text.push_str("\n# TYPE ");
        self.text.push_str(name);
        self.text.push_str(match kind {
            Type::Gauge => " gauge\n",
            Type::Counter => " counter\n",
            Type::Histogram => " histogram\n",
        });
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(label);
                self.text.push_str("=\"");
                escape_into(&mut self.text, value, true);
                self.text.push('"');
            }
            self.text.push('}');
        }
        self.text.push(' ');
        push_value(&mut self.text, value);
        self.text.push('\n');
    }

    /// A histogram's samples for one label set: cumulative `_bucket`s (`le` last among the
    /// labels), `+Inf`, `_sum` (seconds) and `_count`. The family is opened by the caller.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], b: &Buckets) {
        let bucket = format!("{name}_bucket");
        let mut with_le: Vec<(&str, &str)> = labels.to_vec();
        let mut cumulative = 0;
        let bounds: Vec<String> = BOUNDS_S.iter().map(|s| s.to_string()).collect();
        for (bound, n) in bounds.iter().zip(b.per_bucket) {
            cumulative += n;
            with_le.push(("le", bound));
            self.sample(&bucket, &with_le, cumulative as f64);
            with_le.pop();
        }
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, b.count as f64);
        self.sample(&format!("{name}_sum"), labels, b.sum_us as f64 / 1e6);
        self.sample(&format!("{name}_count"), labels, b.count as f64);
    }
}

/// Escapes as the format says: in label values backslash, double quote and newline; in
/// HELP text backslash and newline only.
pub fn escape_into(out: &mut String, s: &str, label_value: bool) {
    // Most values need nothing: copy them whole.
    if !s
        .bytes()
        .any(|b| b == b'\\' || b == b'\n' || (label_value && b == b'"'))
    {
        out.push_str(s);
        return;
    }
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if label_value => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A sample value as Go's ParseFloat reads it: Rust's shortest round-trip form (never an
/// exponent), and the format's spellings of the special values.
pub fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Writing to a String cannot fail.
        let _ = write!(out, "{v}");
    }
}
