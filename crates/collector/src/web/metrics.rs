//! `/metrics`: the collector's state in the Prometheus text exposition format, version
//! 0.0.4 (`text/plain; version=0.0.4`). Every family has its HELP and TYPE lines and its
//! samples together; label values are escaped as the format says (backslash, double
//! quote, newline).
//!
//! Everything comes from current state: the latest-state table (one row per server and
//! check, stage durations from a column, never a detail blob), the open gaps (counted by
//! the database), the agents table, ingest's counters and the sessions registry. A scrape costs
//! one pass over `latest` whatever the history holds.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::WebState;
use crate::notify::WebhookStats;
use crate::store::metrics::CheckMetric;
use crate::store::StoreError;

/// The Content-Type a `/metrics` response carries.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every metric. Reads the store (three queries on the read pool); fails only
/// when the store does.
pub async fn render(state: &WebState) -> Result<String, StoreError> {
    let (checks, gaps, agents) = tokio::try_join!(
        state.store.check_metrics(),
        state.store.open_gap_counts(),
        state.store.agents(),
    )?;
    // About 100 bytes a sample line, about four lines a check.
    let mut out = Exposition::with_capacity(checks.len() * 400 + agents.len() * 200 + 4096);

    out.family(
        "eceprobe_build_info",
        "gauge",
        "The collector's version; always 1.",
    );
    out.sample(
        "eceprobe_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );

    endpoint_list_families(&mut out, state);
    check_families(&mut out, &checks);

    out.family(
        "eceprobe_open_gaps",
        "gauge",
        "Gaps (severity gap) and warnings (severity warning) open now.",
    );
    for g in &gaps {
        out.sample(
            "eceprobe_open_gaps",
            &[
                ("deployment", &g.deployment),
                ("severity", &g.severity),
                ("kind", &g.kind),
            ],
            g.count as f64,
        );
    }

    let mut per_deployment: BTreeMap<&str, u64> = BTreeMap::new();
    for a in &agents {
        *per_deployment.entry(&a.record.deployment).or_default() += 1;
    }
    out.family(
        "eceprobe_agents_known",
        "gauge",
        "Agents (ECE servers) the collector has ever heard from.",
    );
    for (deployment, n) in &per_deployment {
        out.sample(
            "eceprobe_agents_known",
            &[("deployment", deployment)],
            *n as f64,
        );
    }
    out.family(
        "eceprobe_agents_connected",
        "gauge",
        "Agents with an open stream to this collector now.",
    );
    out.sample(
        "eceprobe_agents_connected",
        &[],
        state.sessions.connected().len() as f64,
    );
    out.family(
        "eceprobe_agent_last_seen_timestamp_seconds",
        "gauge",
        "When the agent was last heard from (hello, batch or heartbeat), Unix seconds.",
    );
    for a in &agents {
        out.sample(
            "eceprobe_agent_last_seen_timestamp_seconds",
            &[
                ("deployment", &a.record.deployment),
                ("server", &a.record.agent_id),
            ],
            ms_to_seconds(a.record.seen_unix_ms),
        );
    }
    out.family(
        "eceprobe_agent_spool_dropped_total",
        "counter",
        "Results the agent's spool dropped unsent (disk budget full), as its last heartbeat said.",
    );
    for a in &agents {
        out.sample(
            "eceprobe_agent_spool_dropped_total",
            &[
                ("deployment", &a.record.deployment),
                ("server", &a.record.agent_id),
            ],
            a.spool_dropped as f64,
        );
    }

    out.family(
        "eceprobe_agent_results_quarantined_total",
        "counter",
        "Results of the agent set aside because they cannot be stored as sent (the quarantine).",
    );
    for a in &agents {
        out.sample(
            "eceprobe_agent_results_quarantined_total",
            &[
                ("deployment", &a.record.deployment),
                ("server", &a.record.agent_id),
            ],
            a.quarantined as f64,
        );
    }

    let counters = &state.counters;
    out.family(
        "eceprobe_ingest_results_total",
        "counter",
        "Results stored since the collector started (resends already stored not counted).",
    );
    out.sample(
        "eceprobe_ingest_results_total",
        &[],
        counters.results() as f64,
    );
    out.family(
        "eceprobe_ingest_duplicate_results_total",
        "counter",
        "Results received again and acked without storing them, since the collector started.",
    );
    out.sample(
        "eceprobe_ingest_duplicate_results_total",
        &[],
        counters.duplicates() as f64,
    );
    out.family(
        "eceprobe_ingest_quarantined_results_total",
        "counter",
        "Results set aside (malformed: acked, not stored as results) since the collector started.",
    );
    out.sample(
        "eceprobe_ingest_quarantined_results_total",
        &[],
        counters.set_aside() as f64,
    );
    out.family(
        "eceprobe_ingest_batches_total",
        "counter",
        "Result batches stored and acked since the collector started.",
    );
    out.sample(
        "eceprobe_ingest_batches_total",
        &[],
        counters.batches() as f64,
    );
    out.family(
        "eceprobe_gap_evaluation_timestamp_seconds",
        "gauge",
        "When the recorded gaps were last brought up to date, Unix seconds (0: not yet).",
    );
    out.sample(
        "eceprobe_gap_evaluation_timestamp_seconds",
        &[],
        ms_to_seconds(state.tracker.last_evaluated_unix_ms()),
    );
    webhook_families(&mut out, &state.tracker.notifier().stats());
    Ok(out.text)
}

/// Per webhook (`scheme://host:port`; the path may hold a secret and is never shown): what
/// was delivered, what was given up (dead letters: an alert on this is how an operator
/// learns a receiver's certificate or URL went bad), and what waits.
fn webhook_families(out: &mut Exposition, hooks: &[WebhookStats]) {
    if hooks.is_empty() {
        return;
    }
    let name = "eceprobe_webhook_events_total";
    out.family(
        name,
        "counter",
        "Webhook events since the collector started, by outcome: delivered, or dead_lettered (given up after every attempt, refused for good, or the oldest dropped from a full outbox).",
    );
    for h in hooks {
        for (outcome, n) in [
            ("delivered", h.delivered),
            ("dead_lettered", h.dead_letters),
        ] {
            out.sample(
                name,
                &[("webhook", &h.target), ("outcome", outcome)],
                n as f64,
            );
        }
    }
    let name = "eceprobe_webhook_pending_events";
    out.family(
        name,
        "gauge",
        "Webhook events in the outbox: queued, waiting for a retry or being delivered.",
    );
    for h in hooks {
        out.sample(name, &[("webhook", &h.target)], h.pending as f64);
    }
}

/// The per server and check families; each is one pass over the checks, since a family's
/// samples must be together.
/// The endpoint list in use (its origin as labels) and whether its last load failed.
fn endpoint_list_families(out: &mut Exposition, state: &WebState) {
    let handle = state.tracker.endpoints();
    let list = handle.current();
    let o = list.origin();
    out.family(
        "eceprobe_endpoint_list_loaded",
        "gauge",
        "Microsoft's endpoint list in use (source, version, date); always 1.",
    );
    out.sample(
        "eceprobe_endpoint_list_loaded",
        &[
            ("source", &o.source),
            ("version", &o.version),
            ("date", &o.date),
        ],
        1.0,
    );
    out.family(
        "eceprobe_endpoint_list_load_failed",
        "gauge",
        "1 when the last load of the endpoint list failed (the list in use stayed), else 0.",
    );
    let failed = handle.last_error().is_some();
    out.sample(
        "eceprobe_endpoint_list_load_failed",
        &[],
        if failed { 1.0 } else { 0.0 },
    );
}

fn check_families(out: &mut Exposition, checks: &[CheckMetric]) {
    out.family(
        "eceprobe_check_success",
        "gauge",
        "1 when the check's latest result passed (with or without warnings), 0 when it failed.",
    );
    for c in checks {
        let success = matches!(c.outcome.as_str(), "pass" | "warn");
        out.sample("eceprobe_check_success", &labels(c), f64::from(success));
    }
    out.family(
        "eceprobe_check_warning",
        "gauge",
        "1 when the check's latest result passed with warnings (e.g. TLS interception), else 0.",
    );
    for c in checks {
        let warned = c.outcome == "warn";
        out.sample("eceprobe_check_warning", &labels(c), f64::from(warned));
    }
    out.family(
        "eceprobe_check_duration_seconds",
        "gauge",
        "How long the check's latest run took, every stage and address included.",
    );
    for c in checks {
        out.sample(
            "eceprobe_check_duration_seconds",
            &labels(c),
            us_to_seconds(c.duration_us),
        );
    }
    out.family(
        "eceprobe_check_stage_duration_seconds",
        "gauge",
        "How long each stage of the check's latest run took: dns, then the stages (tcp, \
         proxy, starttls, tls, protocol) of the address the result describes.",
    );
    for c in checks {
        for (stage, us) in &c.stage_durations {
            out.sample(
                "eceprobe_check_stage_duration_seconds",
                &[
                    ("deployment", c.deployment.as_str()),
                    ("server", c.agent_id.as_str()),
                    ("check", c.check.as_str()),
                    ("stage", stage.as_str()),
                ],
                us_to_seconds(*us),
            );
        }
    }
}

/// A check's labels: where the server is, what it does, which check.
fn labels(c: &CheckMetric) -> [(&str, &str); 4] {
    [
        ("deployment", c.deployment.as_str()),
        ("server", c.agent_id.as_str()),
        ("role", c.role.as_str()),
        ("check", c.check.as_str()),
    ]
}

fn us_to_seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

fn ms_to_seconds(ms: i64) -> f64 {
    ms as f64 / 1e3
}

/// The text being built.
struct Exposition {
    text: String,
}

impl Exposition {
    fn with_capacity(bytes: usize) -> Exposition {
        Exposition {
            text: String::with_capacity(bytes),
        }
    }

    /// The HELP and TYPE lines that open a family.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.text.push_str("# HELP ");
        self.text.push_str(name);
        self.text.push(' ');
        escape_into(&mut self.text, help, false);
        self.text.push_str("\n# TYPE ");
        self.text.push_str(name);
        self.text.push(' ');
        self.text.push_str(kind);
        self.text.push('\n');
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
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
}

/// Escapes as the format says: in label values backslash, double quote and newline; in
/// HELP text backslash and newline only.
fn escape_into(out: &mut String, s: &str, label_value: bool) {
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
fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Writing to a String cannot fail.
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
