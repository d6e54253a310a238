//! The overview: deployments with their counts, then one page of servers by checks.
//!
//! Per request: one indexed page of agents, the latest states and open gaps of those agents
//! only (bounded by the page size), two GROUP BYs over small indexes for the counts, and the
//! latency warnings of the page's servers (their figures and those of at most 51 peers per
//! deployment and role on the page, [`crate::latency`]): never the whole fleet.

use eceprobe_proto::now_ms;
use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::cells::{cells, mailboxes_cell, Cell, MailboxesCell, COLUMNS};
use super::server::mark_latency;
use super::PageInfo;
use crate::latency::{latency_warnings, LatencyWarning};
use crate::leader::Role;
use crate::web::error::WebError;
use crate::web::params::Paging;
use crate::web::WebState;

#[derive(Debug, Clone, Serialize)]
pub struct DeploymentRow {
    pub deployment: String,
    pub servers: u64,
    pub open_gaps: u64,
    pub open_warnings: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerRow {
    pub agent_id: String,
    pub hostname: String,
    pub deployment: String,
    pub role: String,
    pub agent_version: String,
    /// A mix of versions that matters, in words (as on the server page); empty when the
    /// agent and this collector go together.
    pub version_notes: Vec<String>,
    pub last_seen_unix_ms: i64,
    /// Its stream to the collector is open now.
    pub connected: bool,
    /// Open gaps (severity gap) recorded for it.
    pub open_gaps: u64,
    /// One per check of the catalog, in the order of `checks`.
    pub cells: Vec<Cell>,
    /// The column after the catalog's: the worst state over the server's mailboxes (their
    /// OAuth checks, `oauth-*/<mailbox>`).
    pub mailboxes: MailboxesCell,
    /// `slower_than_peers` and `latency_regression` on its checks, computed now (not
    /// gaps, not counted in `open_warnings`); the cells of those checks are amber.
    pub latency_warnings: Vec<LatencyWarning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// When the recorded gaps were last brought up to date (0: not yet).
    pub evaluated_unix_ms: i64,
    pub generated_unix_ms: i64,
    /// The collector serving this page, and the one leading (evaluating the gaps shown):
    /// None while not known.
    pub collector: String,
    pub leader: Option<String>,
    /// The columns: every check of the catalog (then the servers' `mailboxes` cell).
    pub checks: Vec<&'static str>,
    pub deployments: Vec<DeploymentRow>,
    /// Open gaps and warnings in every deployment.
    pub open_gaps: u64,
    pub open_warnings: u64,
    /// Latency warnings on this page's servers.
    pub latency_warnings: u64,
    /// The deployment filter in force, if any.
    pub deployment: Option<String>,
    pub pagination: PageInfo,
    pub servers: Vec<ServerRow>,
}

pub async fn build(
    state: &WebState,
    deployment: Option<String>,
    paging: Paging,
) -> Result<Overview, WebError> {
    // Read first: what follows is at least this fresh.
    let evaluated_unix_ms = state.tracker.last_evaluated_unix_ms();
    let store = &state.store;
    let (agents, total) = store
        .agents_page(deployment.as_deref(), paging.offset(), paging.per_page)
        .await?;
    let ids: Vec<String> = agents.iter().map(|a| a.record.agent_id.clone()).collect();
    let states = store.latest_states_of(&ids).await?;
    let open = store.open_gaps_of(&ids).await?;
    let counts = store.deployment_counts().await?;
    let now = now_ms();
    let awake = state.tracker.awake();
    let policy = state.tracker.policy();
    let endpoints = state.tracker.endpoints().current();
    let matrix = cells(&policy, &agents, &states, now, &awake, &endpoints);
    let latency = latency_warnings(store, &policy.latency, &ids).await?;
    let connected: BTreeSet<String> = state.sessions.connected().await?.into_iter().collect();
    let newer = crate::newer::reporting_newer(&states);
    let mut gaps_of: HashMap<&str, u64> = HashMap::new();
    for g in open.iter().filter(|g| g.severity == "gap") {
        *gaps_of.entry(g.agent_id.as_str()).or_default() += 1;
    }
    let servers = agents
        .iter()
        .zip(matrix)
        .map(|(a, mut cells)| {
            let r = &a.record;
            let mine: Vec<LatencyWarning> = latency
                .iter()
                .filter(|w| w.agent_id == r.agent_id)
                .cloned()
                .collect();
            mark_latency(&mut cells.catalog, &mine);
            mark_latency(&mut cells.oauth, &mine);
            let mailboxes = mailboxes_cell(&cells.oauth);
            ServerRow {
                agent_id: r.agent_id.clone(),
                hostname: r.hostname.clone(),
                deployment: r.deployment.clone(),
                role: r.role.clone(),
                agent_version: r.agent_version.clone(),
                version_notes: crate::newer::version_notes(
                    &r.agent_version,
                    newer.contains(r.agent_id.as_str()),
                ),
                last_seen_unix_ms: r.seen_unix_ms,
                connected: connected.contains(&r.agent_id),
                open_gaps: gaps_of.get(r.agent_id.as_str()).copied().unwrap_or(0),
                cells: cells.catalog,
                mailboxes,
                latency_warnings: mine,
            }
        })
        .collect();
    let leadership = state.tracker.leadership();
    let leader = match leadership.role() {
        Role::Leading { .. } => Some(leadership.name().to_owned()),
        Role::Following { leader, .. } => Some(leader),
        Role::Unknown => None,
    };
    Ok(Overview {
        evaluated_unix_ms,
        generated_unix_ms: now,
        collector: leadership.name().to_owned(),
        leader,
        checks: COLUMNS.iter().map(|c| c.as_str()).collect(),
        open_gaps: counts.iter().map(|d| d.open_gaps).sum(),
        open_warnings: counts.iter().map(|d| d.open_warnings).sum(),
        latency_warnings: latency.len() as u64,
        deployments: counts
            .into_iter()
            .map(|d| DeploymentRow {
                deployment: d.deployment,
                servers: d.servers,
                open_gaps: d.open_gaps,
                open_warnings: d.open_warnings,
            })
            .collect(),
        deployment,
        pagination: PageInfo::new(paging, total),
        servers,
    })
}
