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
//! What a scrape states, and how old: the fleet-sized part (`eceprobe_check_up`,
//! `eceprobe_server_info`, `eceprobe_open_gaps`, `eceprobe_agents_known`) is what the gap
//! tracker's last evaluation saw ([`Evaluated`]: it reads the whole latest state every
//! `evaluate_every_s` anyway, and within a second of new results), so those four families
//! agree with each other and are as old as `eceprobe_gap_evaluation_timestamp_seconds`.
//! Their text is rendered once per evaluation (as soon as the dashboard sees it, see
//! [`warm`], or by the first scrape after it) and shared, as bytes, by every scrape until
//! the next: about 4 MiB held at 10,000 servers. The rest is small and live, written per
//! scrape: the build and endpoint list, ingest's counters and histogram, the agents
//! connected, the evaluation's timestamp, the webhooks. Each family lies wholly in one
//! part, so HELP and TYPE open it once. Before the first evaluation a scrape reads the
//! same view from the store and renders it for itself.

use std::sync::Arc;

use bytes::Bytes;

use super::chunks::Chunks;
use super::exposition::{Exposition, Type};
use super::WebState;
use crate::gaps::{owner_name, Evaluated, Tracker};
use crate::leader::{Leadership, Role};
use crate::notify::WebhookStats;
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

/// Renders the form asked: the live parts written now around the evaluation's shared text.
/// Reads the store only before the first evaluation and for the detail's first scrape after
/// each; fails only when the store does.
pub async fn render(state: &WebState, form: Form) -> Result<Chunks, StoreError> {
    let evaluated = match state.tracker.evaluated() {
        Some(e) => e,
        // As of the last evaluation this collector knows of (0: none yet).
        None => {
            Arc::new(Evaluated::read(&state.store, state.tracker.last_evaluated_unix_ms()).await?)
        }
    };
    let mut head = Exposition::with_capacity(2 * 1024);
    head.family(
        "eceprobe_build_info",
        Type::Gauge,
        "The collector's version; always 1.",
    );
    head.sample(
        "eceprobe_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    endpoint_list_families(&mut head, state);
    let fleet = fleet_text(&evaluated).await;

    let mut tail = Exposition::with_capacity(16 * 1024);
    let name = "eceprobe_check_duration_seconds";
    tail.family(
        name,
        Type::Histogram,
        "How long checks took, every stage and address included, by check (the mailbox left \
         out), over the results stored since the collector started.",
    );
    for (check, buckets) in state.counters.durations().snapshot() {
        tail.histogram(name, &[("check", &check)], &buckets);
    }
    tail.family(
        "eceprobe_agents_connected",
        Type::Gauge,
        "Agents with an open stream now: to this collector, or to any collector alive \
         sharing its database (counted every 5 s).",
    );
    tail.sample(
        "eceprobe_agents_connected",
        &[],
        state.sessions.connected_count() as f64,
    );
    ingest_families(&mut tail, state, evaluated.unix_ms);
    leader_families(&mut tail, state.tracker.leadership());
    webhook_families(&mut tail, &state.tracker.notifier().stats().await);
    let mut parts = vec![head.into_bytes(), fleet, tail.into_bytes()];
    if form == Form::Detail {
        // Read at the first detail scrape after the evaluation and shared until the next
        // one: the per check and per agent values are at most one evaluation older than
        // the scrape (docs/API.md).
        let detail = evaluated
            .detail_text
            .get_or_try_init(|| async {
                let mut out = Exposition::with_capacity(evaluated.servers.len() * 1200);
                super::metrics_detail::render_into(&mut out, state).await?;
                Ok::<_, StoreError>(out.into_bytes())
            })
            .await?;
        parts.push(detail.clone());
    }
    Ok(Chunks::new(parts))
}

/// The evaluation's fleet-sized families, rendered by the first caller and shared.
async fn fleet_text(evaluated: &Evaluated) -> Bytes {
    evaluated
        .text
        .get_or_init(|| async { fleet_families(evaluated).into_bytes() })
        .await
        .clone()
}

/// Renders each evaluation's text as soon as the tracker publishes it, so no scrape waits
/// for it (under steady ingest evaluations come every few seconds, faster than scrapes:
/// rendering on the first scrape would make nearly every scrape pay for it). Runs until
/// the tracker is gone; the dashboard's server runs it beside its connections.
pub async fn warm(tracker: Tracker) {
    let mut evaluations = tracker.watch_evaluated();
    drop(tracker);
    loop {
        // The guard is not held across the rendering: the tracker publishes meanwhile.
        let latest = evaluations.borrow_and_update().clone();
        if let Some(evaluated) = latest {
            fleet_text(&evaluated).await;
        }
        if evaluations.changed().await.is_err() {
            return;
        }
    }
}

/// The families that grow with the fleet, and the gap and server counts that must agree
/// with them (the same evaluation). Per server and check whether the latest result passed,
/// and per server its deployment and role, kept to the labels that identify a series: the
/// deployment and role are joined from `eceprobe_server_info` when wanted
/// (`* on (server) group_left (deployment) eceprobe_server_info`), which costs one series
/// per server instead of two labels on every check's.
fn fleet_families(evaluated: &Evaluated) -> Exposition {
    let servers = &evaluated.servers;
    // About 60 bytes a check's line, 80 a server's.
    let mut out = Exposition::with_capacity(servers.len() * 450 + 16 * 1024);
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
    let name = "eceprobe_open_gaps";
    out.family(
        name,
        Type::Gauge,
        "Gaps (severity gap) and warnings (severity warning) open now, by kind, the probe's \
         failure kind of a failing check (cause) and the team that closes them (owner).",
    );
    for g in &evaluated.open_gaps {
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
    for (deployment, servers) in &evaluated.agents_known {
        out.sample(name, &[("deployment", deployment)], *servers as f64);
    }
    out
}

/// What ingest counted since the collector started, and when the gaps were last evaluated:
/// the evaluation the fleet-sized part states (`evaluated_unix_ms`; 0 before the first).
fn ingest_families(out: &mut Exposition, state: &WebState, evaluated_unix_ms: i64) {
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
        ms_to_seconds(evaluated_unix_ms),
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
        "Webhook events by outcome, over every collector sharing the database (counted in its outbox since the webhook's first event): delivered, or dead_lettered (given up after every attempt, refused for good, or the oldest dropped from a full outbox).",
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
        "Webhook events in the outbox shared by the collectors: queued, waiting for a retry or being delivered.",
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
