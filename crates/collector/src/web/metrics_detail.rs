//! What `/metrics/detail` adds to the default form: per server and check the latest
//! result's warning flag, its duration and stage durations and when the check last passed,
//! and per agent when it was last heard from and what its spool dropped or ingest set
//! aside. About 20 lines per server; at 10,000 servers tens of MiB (docs/BENCHMARKS.md),
//! which is why they are not in `/metrics`.

use super::exposition::{Exposition, Type};
use super::metrics::ms_to_seconds;
use super::WebState;
use crate::store::metrics::CheckMetric;
use crate::store::KnownAgent;
use crate::store::StoreError;

/// A per agent family: its name, type, help, and the agent's value.
type AgentFamily = (&'static str, Type, &'static str, fn(&KnownAgent) -> f64);

/// Appends the detail families (after the default ones: each family stays whole).
pub(super) async fn render_into(out: &mut Exposition, state: &WebState) -> Result<(), StoreError> {
    let (checks, agents) = tokio::try_join!(state.store.check_metrics(), state.store.agents())?;
    check_families(out, &checks);

    // Retired agents are not among them (the store leaves them out).
    let families: [AgentFamily; 3] = [
        (
            "eceprobe_agent_last_seen_timestamp_seconds",
            Type::Gauge,
            "When the agent was last heard from (hello, batch or heartbeat), Unix seconds.",
            |a| ms_to_seconds(a.record.seen_unix_ms),
        ),
        (
            "eceprobe_agent_spool_dropped_total",
            Type::Counter,
            "Results the agent's spool dropped unsent (disk budget full), as its last heartbeat said.",
            |a| a.spool_dropped as f64,
        ),
        (
            "eceprobe_agent_results_quarantined_total",
            Type::Counter,
            "Results of the agent set aside because they cannot be stored as sent (the quarantine).",
            |a| a.quarantined as f64,
        ),
    ];
    for (name, kind, help, value) in families {
        out.family(name, kind, help);
        for a in &agents {
            out.sample(name, &[("server", &a.record.agent_id)], value(a));
        }
    }
    Ok(())
}

/// The per server and check families; each is one pass over the checks, since a family's
/// samples must be together.
fn check_families(out: &mut Exposition, checks: &[CheckMetric]) {
    let name = "eceprobe_check_warning";
    out.family(
        name,
        Type::Gauge,
        "1 when the check's latest result passed with warnings (e.g. TLS interception), else 0.",
    );
    for c in checks {
        out.sample(name, &labels(c), f64::from(c.outcome == "warn"));
    }
    let name = "eceprobe_check_last_success_timestamp_seconds";
    out.family(
        name,
        Type::Gauge,
        "When the check last passed (with or without warnings), Unix seconds of its start; 0: \
         not since the store kept it.",
    );
    for c in checks {
        out.sample(name, &labels(c), ms_to_seconds(c.last_success_unix_ms));
    }
    let name = "eceprobe_check_last_duration_seconds";
    out.family(
        name,
        Type::Gauge,
        "How long the check's latest run took, every stage and address included.",
    );
    for c in checks {
        out.sample(name, &labels(c), us_to_seconds(c.duration_us));
    }
    let name = "eceprobe_check_last_stage_duration_seconds";
    out.family(
        name,
        Type::Gauge,
        "How long each stage of the check's latest run took: dns, then the stages (tcp, \
         proxy, starttls, tls, protocol) of the address the result describes.",
    );
    for c in checks {
        for (stage, us) in &c.stage_durations {
            out.sample(
                name,
                &[
                    ("server", c.agent_id.as_str()),
                    ("check", c.check.as_str()),
                    ("stage", stage.as_str()),
                ],
                us_to_seconds(*us),
            );
        }
    }
}

/// A check's labels: which server, which check.
fn labels(c: &CheckMetric) -> [(&str, &str); 2] {
    [("server", c.agent_id.as_str()), ("check", c.check.as_str())]
}

fn us_to_seconds(us: u64) -> f64 {
    us as f64 / 1e6
}
