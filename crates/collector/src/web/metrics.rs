//! `/metrics` and `/metrics/detail`: the collector's state for Prometheus, in the text
//! exposition format ([`super::exposition`]). docs/API.md lists every family and says why
//! the default form holds what it holds.
//!
//! The default form is what a scrape job keeps: per server and check one `up` series, per
//! server one info series (its deployment and role), and everything else counted by
//! deployment, kind or check; at 10,000 servers x 6 checks about 4 MiB. Per-check
//! timings, per-stage durations and the per-agent series are `/metrics/detail`'s
//! ([`super::metrics_detail`]), for a slower job or a look by hand.
//!
//! Everything comes from current state: the servers' checks as the gap tracker's last
//! evaluation read them (it reads the whole latest state every `evaluate_every_s` anyway;
//! before its first, the latest-state table through its covering index, one row per
//! server), the open gaps counted by
//! the database, the agents per deployment, ingest's counters
//! and the sessions registry.

use std::sync::Arc;

use super::exposition::{Exposition, Type};
use super::WebState;
use crate::gaps::owner_name;
use crate::leader::{Leadership, Role};
use crate::notify::WebhookStats;
use crate::store::metrics::ServerChecks;
use crate::store::StoreError;

pub use super::exposition::CONTENT_TYPE;

/// Which form a scrape asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `/metrics`: low cardinality.
    Default,
    /// `/metrics/detail`: the default plus per server and check timings, per stage, per agent.
    Detail,
}

/// Renders the form asked. Reads the store (a few queries on the read pool); fails only
/// when the store does.
pub async fn render(state: &WebState, form: Form) -> Result<String, StoreError> {
    let (servers, gaps, deployments) = tokio::try_join!(
        fleet_checks(state),
        state.store.open_gap_counts(),
        state.store.deployment_counts(),
    )?;
    // About 60 bytes a check's line, 80 a server's.
    let per_server = if form == Form::Detail { 1200 } else { 450 };
    let mut out = Exposition::with_capacity(servers.len() * per_server + 16 * 1024);

    out.family(
        "eceprobe_build_info",
        Type::Gauge,
        "The collector's version; always 1.",
    );
    out.sample(
        "eceprobe_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    endpoint_list_families(&mut out, state);
    server_families(&mut out, &servers);

    let name = "eceprobe_check_duration_seconds";
    out.family(
        name,
        Type::Histogram,
        "How long checks took, every stage and address included, by check (the mailbox left \
         out), over the results stored since the collector started.",
    );
    for (check, buckets) in state.counters.durations().snapshot() {
        out.histogram(name, &[("check", &check)], &buckets);
    }

    let name = "eceprobe_open_gaps";
    out.family(
        name,
        Type::Gauge,
        "Gaps (severity gap) and warnings (severity warning) open now, by kind, the probe's \
         failure kind of a failing check (cause) and the team that closes them (owner).",
    );
    for g in &gaps {
        out.sample(
            name,
            &[
                ("deployment", &g.deployment),
                ("severity", &g.severity),
                ("kind", &g.kind),
                ("cause", &g.cause),
                ("owner", owner_name(&g.kind, &g.cause)),
            ],
            g.count as f64,
        );
    }

    let name = "eceprobe_agents_known";
    out.family(
        name,
        Type::Gauge,
        "Agents (ECE servers) the collector knows and has not retired, by deployment.",
    );
    for d in &deployments {
        out.sample(name, &[("deployment", &d.deployment)], d.servers as f64);
    }
    out.family(
        "eceprobe_agents_connected",
        Type::Gauge,
        "Agents with an open stream to this collector now.",
    );
    out.sample(
        "eceprobe_agents_connected",
        &[],
        state.sessions.connected().len() as f64,
    );
    ingest_families(&mut out, state);
    leader_families(&mut out, state.tracker.leadership());
    webhook_families(&mut out, &state.tracker.notifier().stats());
    if form == Form::Detail {
        super::metrics_detail::render_into(&mut out, state).await?;
    }
    Ok(out.text)
}

/// The fleet's checks as the gap tracker's last evaluation read them, or from the store
/// before its first (a collector just started, a test without a tracker running).
async fn fleet_checks(state: &WebState) -> Result<Arc<Vec<ServerChecks>>, StoreError> {
    match state.tracker.fleet_checks() {
        Some(fleet) => Ok(fleet),
        None => Ok(Arc::new(state.store.server_checks().await?)),
    }
}

/// Per server and check whether the latest result passed, and per server its deployment
/// and role. The two families that grow with the fleet, kept to the labels that identify a
/// series: the deployment and role are joined from `eceprobe_server_info` when wanted
/// (`* on (server) group_left (deployment) eceprobe_server_info`), which costs one series
/// per server instead of two labels on every check's.
fn server_families(out: &mut Exposition, servers: &[ServerChecks]) {
    let name = "eceprobe_check_up";
    out.family(
        name,
        Type::Gauge,
        "1 when the check's latest result passed (with or without warnings), 0 when it failed.",
    );
    for s in servers {
        for (check, up) in &s.checks {
            out.sample(
                name,
                &[("server", &s.agent_id), ("check", check)],
                f64::from(*up),
            );
        }
    }
    let name = "eceprobe_server_info";
    out.family(
        name,
        Type::Gauge,
        "The server's deployment and role (services, application, both, unspecified); always 1.",
    );
    for s in servers {
        out.sample(
            name,
            &[
                ("server", &s.agent_id),
                ("deployment", &s.deployment),
                ("role", &s.role),
            ],
            1.0,
        );
    }
}

/// What ingest counted since the collector started, and when the gaps were last evaluated.
fn ingest_families(out: &mut Exposition, state: &WebState) {
    let counters = &state.counters;
    for (name, help, value) in [
        (
            "eceprobe_ingest_results_total",
            "Results stored since the collector started (resends already stored not counted).",
            counters.results(),
        ),
        (
            "eceprobe_ingest_duplicate_results_total",
            "Results received again and acked without storing them, since the collector started.",
            counters.duplicates(),
        ),
        (
            "eceprobe_ingest_quarantined_results_total",
            "Results set aside (malformed: acked, not stored as results) since the collector started.",
            counters.set_aside(),
        ),
        (
            "eceprobe_ingest_batches_total",
            "Result batches stored and acked since the collector started.",
            counters.batches(),
        ),
    ] {
        out.family(name, Type::Counter, help);
        out.sample(name, &[], value as f64);
    }
    out.family(
        "eceprobe_gap_evaluation_timestamp_seconds",
        Type::Gauge,
        "When the recorded gaps were last brought up to date, Unix seconds (0: not yet).",
    );
    out.sample(
        "eceprobe_gap_evaluation_timestamp_seconds",
        &[],
        ms_to_seconds(state.tracker.last_evaluated_unix_ms()),
    );
}

/// Whether this collector leads the ones sharing its database: alert rules on gaps, audits
/// and webhooks read the leader's series (`and on (instance) eceprobe_collector_leader ==
/// 1`), and "no collector leads" is `max(eceprobe_collector_leader) < 1`.
fn leader_families(out: &mut Exposition, leadership: &Leadership) {
    let (leading, term) = match leadership.role() {
        Role::Leading { term } => (1.0, term),
        Role::Following { term, .. } => (0.0, term),
        Role::Unknown => (0.0, 0),
    };
    let labels = [("collector", leadership.name())];
    let name = "eceprobe_collector_leader";
    out.family(
        name,
        Type::Gauge,
        "1 when this collector leads those sharing its database (it evaluates gaps, prunes, \
         starts scheduled audits and delivers webhooks), 0 when another does or none is known.",
    );
    out.sample(name, &labels, leading);
    let name = "eceprobe_collector_leader_term";
    out.family(
        name,
        Type::Gauge,
        "The leader lease's term as this collector last saw it: raised by one at each change \
         of leader (0: not known).",
    );
    out.sample(name, &labels, term as f64);
}

/// Per webhook (`scheme://host:port`; the path may hold a secret and is never shown): what
/// was delivered, what was given up (dead letters: an alert on this is how an operator
/// learns a receiver's certificate or URL went bad), and what waits.
pub(super) fn webhook_families(out: &mut Exposition, hooks: &[WebhookStats]) {
    if hooks.is_empty() {
        return;
    }
    let name = "eceprobe_webhook_events_total";
    out.family(
        name,
        Type::Counter,
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
        Type::Gauge,
        "Webhook events in the outbox: queued, waiting for a retry or being delivered.",
    );
    for h in hooks {
        out.sample(name, &[("webhook", &h.target)], h.pending as f64);
    }
}

/// The endpoint list in use (its origin as labels) and whether its last load failed.
fn endpoint_list_families(out: &mut Exposition, state: &WebState) {
    let handle = state.tracker.endpoints();
    let list = handle.current();
    let o = list.origin();
    out.family(
        "eceprobe_endpoint_list_loaded",
        Type::Gauge,
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
        Type::Gauge,
        "1 when the last load of the endpoint list failed (the list in use stayed), else 0.",
    );
    let failed = handle.last_error().is_some();
    out.sample("eceprobe_endpoint_list_load_failed", &[], f64::from(failed));
}

pub(super) fn ms_to_seconds(ms: i64) -> f64 {
    ms as f64 / 1e3
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
